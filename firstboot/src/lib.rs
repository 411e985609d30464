//! firstboot: kubeadm-compatible node bootstrap for kubebake images.
//!
//! Module map:
//! - [`config`]: kubeadm v1beta4 + FirstbootConfiguration parsing, defaulting and validation.
//! - [`pki`]: certificate authorities and certificates (kubeadm's cert list, renewal, CSRs).
//! - [`kubeconfig`]: kubeadm's kubeconfig files.
//! - [`manifests`]: static pod manifests for etcd and the control plane.
//! - [`kubelet`]: the kubelet's node files (config.yaml, kubeadm-flags.env, instance-config.yaml).
//! - [`runner`]: phase order, status journal, lock, resume.
//! - [`phases`]: one module per kubeadm phase; each plans, then applies.
//! - [`cli`]: the `firstboot` command line (clap).
//! - [`fsutil`]: atomic writes and path helpers.
//! - [`etcd_client`]: etcd membership client (learner add/promote, remove, health, snapshot).

pub mod cli;
pub mod config;
pub mod etcd_client;
pub mod fsutil;
pub mod kubeconfig;
pub mod kubelet;
pub mod manifests;
pub mod phases;
pub mod pki;
pub mod runner;
