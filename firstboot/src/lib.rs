//! firstboot: kubeadm-compatible node bootstrap for kubebake images.
//!
//! Module map:
//! - [`config`]: kubeadm v1beta4 + FirstbootConfiguration parsing, defaulting and validation.
//! - [`pki`]: certificate authorities and certificates (kubeadm's cert list, renewal, CSRs).
//! - [`kubeconfig`]: kubeadm's kubeconfig files.
//! - [`manifests`]: static pod manifests for etcd and the control plane.
//! - [`kubelet`]: the kubelet's node files (config.yaml, kubeadm-flags.env, instance-config.yaml).
//! - [`kube`]: the thin typed kube layer (server-side apply, retries) and the service manager.
//! - [`runner`]: phase order, status journal, lock, resume.
//! - [`phases`]: one module per kubeadm phase; each plans, then applies.
//! - [`cli`]: the `firstboot` command line (clap).
//! - [`join`]: join discovery and pre-join checks.
//! - [`reset`]: `firstboot reset` (undo a bootstrap, keep the staged bundles).
//! - [`fsutil`]: atomic writes and path helpers.

pub mod cli;
pub mod config;
pub mod fsutil;
pub mod join;
pub mod kube;
pub mod kubeconfig;
pub mod kubelet;
pub mod manifests;
pub mod phases;
pub mod pki;
pub mod reset;
pub mod runner;
