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
//! - [`upgrade`]: version getters and `upgrade plan`.
//! - [`cli`]: the `firstboot` command line (clap).
//! - [`join`]: join discovery and pre-join checks.
//! - [`reset`]: `firstboot reset` (undo a bootstrap, keep the staged bundles).
//! - [`fsutil`]: atomic writes and path helpers.
//! - [`userdata`]: cloud-init user-data for nodes and the shared CA set (`firstboot userdata`).
//! - [`join_material`]: bootstrap tokens, cluster-info signing/discovery, kubeadm-certs encryption (pure).
//! - [`etcd_client`]: etcd membership client (learner add/promote, remove, health, snapshot).

pub mod cli;
pub mod config;
pub mod etcd_client;
pub mod fsutil;
pub mod join;
pub mod join_material;
pub mod kube;
pub mod kubeconfig;
pub mod kubelet;
pub mod manifests;
pub mod phases;
pub mod pki;
pub mod reset;
pub mod runner;
pub mod upgrade;
pub mod userdata;
