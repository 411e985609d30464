//! runner (to be filled).
