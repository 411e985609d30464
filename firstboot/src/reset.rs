//! `firstboot reset` (kubeadm reset, spec §16.7): undoes what init/join did on this node so
//! the image can bootstrap again — removes this node's etcd member (control plane with local
//! etcd), stops the kubelet, empties `/etc/kubernetes/manifests`, the certificates directory,
//! `/var/lib/kubelet` and the local etcd data directory, removes kubeadm's kubeconfig files,
//! firstboot's status directory and the success sentinel — and keeps kubebake's staged
//! bundles (`/opt/kubebake`, `/var/lib/kubebake/images`, `/usr/local/bin` links, the release
//! index, `/usr/share/kubebake`).
//!
//! Planning ([`plan`]) only reads; [`apply`] removes. `--dry-run` prints the plan.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::kube::ServiceManager;

/// kubeconfig files kubeadm reset removes from `/etc/kubernetes`.
pub const KUBECONFIG_FILES: &[&str] = &[
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// What reset keeps on purpose (node paths): the staged bundles an image bootstraps from.
pub const KEPT: &[&str] = &[
    "/opt/kubebake",
    "/var/lib/kubebake/images",
    "/usr/local/bin",
    "/usr/share/kubebake",
    "/etc/kubebake",
];

/// Options of `firstboot reset`.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// Node root.
    pub root: PathBuf,
    /// Go on when removing the etcd member is impossible or would break quorum.
    pub force: bool,
    /// Also remove `/etc/kubernetes/tmp`.
    pub cleanup_tmp_dir: bool,
    /// `certificatesDir` (default `/etc/kubernetes/pki`).
    pub certificates_dir: String,
    /// firstboot's status directory (`FirstbootConfiguration.status.directory`).
    pub status_dir: String,
    /// The success sentinel (`FirstbootConfiguration.status.successSentinel`).
    pub success_sentinel: String,
}

impl ResetOptions {
    /// Defaults for `root`.
    pub fn new(root: &Path) -> Self {
        ResetOptions {
            root: root.to_path_buf(),
            force: false,
            cleanup_tmp_dir: false,
            certificates_dir: "/etc/kubernetes/pki".into(),
            status_dir: crate::config::firstboot::DEFAULT_STATUS_DIR.into(),
            success_sentinel: crate::config::firstboot::DEFAULT_SUCCESS_SENTINEL.into(),
        }
    }
}

/// One step of a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetStep {
    /// Remove this node's member from the etcd cluster (peer URL from the etcd manifest).
    RemoveEtcdMember {
        /// `https://<adv>:2380`.
        peer_url: String,
    },
    /// Stop the kubelet.
    StopKubelet,
    /// Remove a file.
    RemoveFile(String),
    /// Remove a directory's contents, keep the directory.
    CleanDir(String),
    /// Remove a directory with its contents.
    RemoveDir(String),
}

impl fmt::Display for ResetStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetStep::RemoveEtcdMember { peer_url } => {
                write!(f, "[reset] remove the etcd member with peer URL {peer_url}")
            }
            ResetStep::StopKubelet => write!(f, "[reset] stop the kubelet"),
            ResetStep::RemoveFile(p) => write!(f, "[reset] remove file {p}"),
            ResetStep::CleanDir(p) => write!(f, "[reset] remove the contents of {p}"),
            ResetStep::RemoveDir(p) => write!(f, "[reset] remove directory {p}"),
        }
    }
}

/// What a reset does, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetPlan {
    /// Steps in order.
    pub steps: Vec<ResetStep>,
    /// Paths kept on purpose (that exist).
    pub kept: Vec<String>,
}

impl fmt::Display for ResetPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            writeln!(f, "{s}")?;
        }
        for k in &self.kept {
            writeln!(f, "[reset] keep {k} (staged bundle)")?;
        }
        Ok(())
    }
}

/// etcd membership operations reset needs (the etcd client implements it).
pub trait EtcdMembership {
    /// Whether removing the member with `peer_url` would leave the cluster without quorum.
    fn remove_would_break_quorum(&self, peer_url: &str) -> anyhow::Result<bool>;
    /// Removes the member with `peer_url` ("already removed" is not an error); `false` when
    /// it is the only member (nothing to remove from).
    fn remove_member(&self, peer_url: &str) -> anyhow::Result<bool>;
}

/// Reads a `--flag=value` of a static pod manifest's command.
fn manifest_flag(manifest: &str, flag: &str) -> Option<String> {
    let prefix = format!("--{flag}=");
    manifest.lines().find_map(|l| {
        let l = l.trim().trim_start_matches("- ").trim();
        l.strip_prefix(&prefix)
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// Plans the reset of the node at `opts.root`.
pub fn plan(opts: &ResetOptions) -> ResetPlan {
    let root = &opts.root;
    let exists = |p: &str| fsutil::under_root(root, p).symlink_metadata().is_ok();
    let mut steps = Vec::new();
    let etcd_manifest = fsutil::under_root(root, "/etc/kubernetes/manifests/etcd.yaml");
    let etcd = std::fs::read_to_string(&etcd_manifest).ok();
    if let Some(m) = &etcd {
        if let Some(peer) = manifest_flag(m, "initial-advertise-peer-urls") {
            steps.push(ResetStep::RemoveEtcdMember { peer_url: peer });
        }
    }
    steps.push(ResetStep::StopKubelet);
    for f in KUBECONFIG_FILES {
        let p = format!("/etc/kubernetes/{f}");
        if exists(&p) {
            steps.push(ResetStep::RemoveFile(p));
        }
    }
    for d in ["/etc/kubernetes/manifests", opts.certificates_dir.as_str()] {
        if exists(d) {
            steps.push(ResetStep::CleanDir(d.to_string()));
        }
    }
    if opts.cleanup_tmp_dir && exists("/etc/kubernetes/tmp") {
        steps.push(ResetStep::RemoveDir("/etc/kubernetes/tmp".into()));
    }
    if exists("/var/lib/kubelet") {
        steps.push(ResetStep::CleanDir("/var/lib/kubelet".into()));
    }
    if let Some(m) = &etcd {
        let data = manifest_flag(m, "data-dir").unwrap_or_else(|| "/var/lib/etcd".into());
        if exists(&data) {
            steps.push(ResetStep::CleanDir(data));
        }
    }
    if exists(&opts.status_dir) {
        steps.push(ResetStep::RemoveDir(opts.status_dir.clone()));
    }
    if exists(&opts.success_sentinel) {
        steps.push(ResetStep::RemoveFile(opts.success_sentinel.clone()));
    }
    let kept = KEPT
        .iter()
        .filter(|k| exists(k))
        .map(|k| k.to_string())
        .collect();
    ResetPlan { steps, kept }
}

fn clean_dir(p: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let path = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Applies `plan`. `etcd` is the membership client (`None` when unavailable: then a node with a
/// local etcd member is only reset with `force`).
pub fn apply(
    opts: &ResetOptions,
    plan: &ResetPlan,
    services: &dyn ServiceManager,
    etcd: Option<&dyn EtcdMembership>,
) -> anyhow::Result<()> {
    for step in plan.steps.iter() {
        println!("{step}");
        let io = |p: &str, e: std::io::Error| anyhow::anyhow!("cannot reset {p}: {e}");
        match step {
            ResetStep::RemoveEtcdMember { peer_url } => match etcd {
                Some(c) => {
                    if c.remove_would_break_quorum(peer_url)? && !opts.force {
                        anyhow::bail!(
                            "removing the etcd member {peer_url} would break the etcd cluster's quorum; \
                             refusing (use --force to reset anyway)"
                        );
                    }
                    if let Err(e) = c.remove_member(peer_url) {
                        if !opts.force {
                            return Err(e.context(format!(
                                "cannot remove the etcd member {peer_url} (use --force to reset anyway)"
                            )));
                        }
                        println!("[reset] WARNING: cannot remove the etcd member {peer_url}: {e:#}");
                    }
                }
                None if opts.force => println!(
                    "[reset] WARNING: not removing the etcd member {peer_url} (no etcd client); remove it from \
                     the cluster with `etcdctl member remove`"
                ),
                None => anyhow::bail!(
                    "this node runs an etcd member ({peer_url}) and it cannot be removed from the cluster here; \
                     remove it with `etcdctl member remove` and re-run with --force"
                ),
            },
            ResetStep::StopKubelet => {
                if let Err(e) = services.stop("kubelet") {
                    println!("[reset] WARNING: cannot stop the kubelet: {e:#}");
                }
            }
            ResetStep::RemoveFile(p) => match std::fs::remove_file(fsutil::under_root(&opts.root, p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(p, e)),
            },
            ResetStep::CleanDir(p) => match clean_dir(&fsutil::under_root(&opts.root, p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(p, e)),
            },
            ResetStep::RemoveDir(p) => match std::fs::remove_dir_all(fsutil::under_root(&opts.root, p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(p, e)),
            },
        }
    }
    println!(
        "[reset] Done. Not cleaned: CNI configuration (/etc/cni/net.d), iptables/IPVS rules, $HOME/.kube/config"
    );
    Ok(())
}
