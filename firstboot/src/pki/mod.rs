//! pki (to be filled).
