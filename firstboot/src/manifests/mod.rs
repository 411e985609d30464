//! manifests (to be filled).
