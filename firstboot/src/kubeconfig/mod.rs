//! kubeconfig (to be filled).
