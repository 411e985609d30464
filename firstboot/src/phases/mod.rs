//! phases (to be filled).
