//! kubelet (to be filled).
