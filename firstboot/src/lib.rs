//! firstboot: kubeadm-compatible node bootstrap for kubebake images.
//!
//! Module map:
//! - [`config`]: kubeadm v1beta4 + FirstbootConfiguration parsing, defaulting and validation.
//! - [`pki`]: certificate authorities and certificates (kubeadm's cert list, renewal, CSRs).
//! - [`kubeconfig`]: kubeadm's kubeconfig files.
//! - [`runner`]: phase order, status journal, lock, resume.
//! - [`phases`]: one module per kubeadm phase; each plans, then applies.

pub mod config;
pub mod kubeconfig;
pub mod phases;
pub mod pki;
pub mod runner;
