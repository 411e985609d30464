//! Joining an existing cluster: discovery (§13.2) and the checks made before the node is
//! changed (join material still valid, version skew). The join phases are in
//! [`crate::phases::join`].

pub mod checks;
pub mod discovery;
