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

use std::time::Duration;

use crate::etcd_client::{EtcdClient, QuorumProblem};
use crate::fsutil;
use crate::kube::{Cluster, ServiceManager};

/// The local etcd static pod manifest.
pub const ETCD_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";

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

/// What removing this node's etcd member means for the cluster ([`EtcdMembership::check_removal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRemoval {
    /// It is the cluster's only member and this node serves it (the last control plane): like
    /// kubeadm, nothing is removed — the whole cluster goes with the data directory.
    LastMember,
    /// No member has this peer URL (already removed).
    NotAMember,
    /// The member can go; the others keep quorum.
    Safe,
    /// Removing it would leave the cluster without quorum, and why.
    BreaksQuorum(QuorumProblem),
}

/// etcd membership operations reset needs ([`ClientMembership`] over the real etcd client;
/// tests may inject their own).
pub trait EtcdMembership {
    /// What removing the member with `peer_url` would mean.
    fn check_removal(&self, peer_url: &str) -> anyhow::Result<MemberRemoval>;
    /// Removes the member with `peer_url` ("already removed" is not an error).
    fn remove_member(&self, peer_url: &str) -> anyhow::Result<()>;
}

/// [`EtcdMembership`] through an [`EtcdClient`] connected to the node's cluster.
#[derive(Debug)]
pub struct ClientMembership {
    client: EtcdClient,
    local_client_urls: Vec<String>,
}

impl ClientMembership {
    /// Wraps `client`; `local_client_urls` are this node's member's client URLs (its manifest's
    /// `--advertise-client-urls`), used to recognise the last member (spec §5.7).
    pub fn new(client: EtcdClient, local_client_urls: Vec<String>) -> Self {
        ClientMembership {
            client,
            local_client_urls,
        }
    }

    /// Connects to the etcd cluster of the node at `opts.root` with its etcd PKI
    /// (`<certificatesDir>/etcd/ca.crt` + `healthcheck-client`): endpoints are this node's
    /// member (`--advertise-client-urls` of its etcd manifest) plus, when `cluster` answers
    /// within `api_timeout`, the client URLs announced by the etcd Pods (kubeadm's source) —
    /// then synced with the member list. Operations are retried up to `etcd_timeout`.
    pub fn connect(
        opts: &ResetOptions,
        cluster: Option<&Cluster>,
        etcd_timeout: Duration,
        api_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let manifest_path = fsutil::under_root(&opts.root, ETCD_MANIFEST);
        let manifest = std::fs::read_to_string(&manifest_path)
            .map_err(|e| anyhow::anyhow!("{ETCD_MANIFEST}: {e}"))?;
        let local: Vec<String> = manifest_flag(&manifest, "advertise-client-urls")
            .map(|v| v.split(',').map(|u| u.trim().to_string()).collect())
            .unwrap_or_default();
        let mut endpoints = local.clone();
        if let Some(c) = cluster {
            match crate::etcd_client::endpoints_from_cluster(c, api_timeout) {
                Ok(eps) => {
                    for e in eps {
                        if !endpoints.contains(&e) {
                            endpoints.push(e);
                        }
                    }
                }
                Err(e) => println!(
                    "[reset] WARNING: cannot read the etcd endpoints from the cluster ({e:#}); using this node's member only"
                ),
            }
        }
        let pki = fsutil::under_root(&opts.root, &opts.certificates_dir);
        let client = crate::etcd_client::connect_stacked(endpoints, &pki, etcd_timeout)
            .map_err(|e| anyhow::anyhow!("cannot connect to the etcd cluster: {e}"))?;
        Ok(ClientMembership::new(client, local))
    }
}

impl EtcdMembership for ClientMembership {
    fn check_removal(&self, peer_url: &str) -> anyhow::Result<MemberRemoval> {
        let members = self.client.members()?;
        if members.len() == 1
            && self
                .client
                .endpoints()
                .iter()
                .any(|e| self.local_client_urls.contains(e))
        {
            return Ok(MemberRemoval::LastMember);
        }
        let Some(m) = members.iter().find(|m| m.has_peer_url(peer_url)) else {
            return Ok(MemberRemoval::NotAMember);
        };
        Ok(match self.client.removal_blocker(m.id)? {
            Some(p) => MemberRemoval::BreaksQuorum(p),
            None => MemberRemoval::Safe,
        })
    }

    fn remove_member(&self, peer_url: &str) -> anyhow::Result<()> {
        if let Some(m) = self.client.member_by_peer_url(peer_url)? {
            self.client.remove(m.id)?;
        }
        Ok(())
    }
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
    let etcd_manifest = fsutil::under_root(root, ETCD_MANIFEST);
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

/// Removes this node's etcd member first (spec §5.7 "Reset/removal"): the last member is left
/// alone as kubeadm does; a removal that would break quorum, or that fails, stops the reset
/// unless `opts.force` (then a removal that cannot be committed — no quorum now — is skipped
/// with a warning).
fn remove_etcd_member(
    opts: &ResetOptions,
    peer_url: &str,
    etcd: Option<&dyn EtcdMembership>,
) -> anyhow::Result<()> {
    let force_hint = "use --force to reset anyway";
    let Some(c) = etcd else {
        if opts.force {
            println!(
                "[reset] WARNING: not removing the etcd member {peer_url} (no etcd client); remove it from \
                 the cluster with `etcdctl member remove`"
            );
            return Ok(());
        }
        anyhow::bail!(
            "this node runs an etcd member ({peer_url}) and it cannot be removed from the cluster here; \
             remove it with `etcdctl member remove` and re-run with --force"
        );
    };
    let check = match c.check_removal(peer_url) {
        Ok(r) => r,
        Err(e) if opts.force => {
            println!("[reset] WARNING: cannot check the etcd cluster, not removing the etcd member {peer_url}: {e:#}");
            return Ok(());
        }
        Err(e) => {
            return Err(e.context(format!(
                "cannot check the etcd cluster before removing the etcd member {peer_url} ({force_hint})"
            )))
        }
    };
    match check {
        MemberRemoval::LastMember => {
            println!("[reset] This is the only remaining etcd member of the cluster; not removing it");
            return Ok(());
        }
        MemberRemoval::NotAMember => {
            println!("[reset] No etcd member has the peer URL {peer_url}: already removed");
            return Ok(());
        }
        MemberRemoval::BreaksQuorum(p) if !opts.force => anyhow::bail!(
            "removing the etcd member {peer_url} would break the etcd cluster's quorum: {p}; refusing ({force_hint})"
        ),
        MemberRemoval::BreaksQuorum(p @ QuorumProblem::NoQuorumNow(_)) => {
            println!(
                "[reset] WARNING: not removing the etcd member {peer_url}: {p}; remove it with `etcdctl member remove` \
                 once the cluster has quorum again"
            );
            return Ok(());
        }
        MemberRemoval::BreaksQuorum(p) => {
            println!("[reset] WARNING: removing the etcd member {peer_url} although {p} (--force)")
        }
        MemberRemoval::Safe => {}
    }
    println!("[reset] Removing the etcd member {peer_url}");
    if let Err(e) = c.remove_member(peer_url) {
        if !opts.force {
            return Err(e.context(format!(
                "cannot remove the etcd member {peer_url} ({force_hint})"
            )));
        }
        println!("[reset] WARNING: cannot remove the etcd member {peer_url}: {e:#}");
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
            ResetStep::RemoveEtcdMember { peer_url } => remove_etcd_member(opts, peer_url, etcd)?,
            ResetStep::StopKubelet => {
                if let Err(e) = services.stop("kubelet") {
                    println!("[reset] WARNING: cannot stop the kubelet: {e:#}");
                }
            }
            ResetStep::RemoveFile(p) => {
                match std::fs::remove_file(fsutil::under_root(&opts.root, p)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(p, e)),
                }
            }
            ResetStep::CleanDir(p) => match clean_dir(&fsutil::under_root(&opts.root, p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(p, e)),
            },
            ResetStep::RemoveDir(p) => {
                match std::fs::remove_dir_all(fsutil::under_root(&opts.root, p)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(p, e)),
                }
            }
        }
    }
    println!(
        "[reset] Done. Not cleaned: CNI configuration (/etc/cni/net.d), iptables/IPVS rules, $HOME/.kube/config"
    );
    Ok(())
}
