//! `upgrade rollback`: restores the version before the last upgrade completely — etcd data from
//! the snapshot (etcd's static pod is stopped by moving its manifest away, the snapshot is
//! restored into a fresh data directory with `etcdutl`/`etcdctl snapshot restore`, the data
//! directories are swapped keeping the old one), then the manifests, the kubelet configuration,
//! the staged-version record and the active version links — and restarts the kubelet.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::backup::{BackupRecord, EtcdMemberParams, MANIFESTS_DIR, TMP_DIR};
use super::journal::{UpgradeJournal, UpgradeState};
use crate::fsutil;
use crate::kube::ServiceManager;

/// One thing the rollback does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Stop etcd, restore the snapshot into a fresh data directory and swap it in.
    RestoreEtcd {
        /// Node path of the snapshot.
        snapshot: String,
        /// The member's flags.
        member: EtcdMemberParams,
    },
    /// Put a saved file back.
    RestoreFile {
        /// Node path of the saved copy.
        from: String,
        /// Node path it is restored to.
        to: String,
        /// Mode.
        mode: u32,
    },
    /// Point a link at its old target.
    RestoreLink {
        /// The link.
        path: String,
        /// The old target.
        target: String,
    },
    /// Restart the kubelet.
    RestartKubelet,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::RestoreEtcd { snapshot, member } => write!(
                f,
                "stop etcd (move {MANIFESTS_DIR}/etcd.yaml away), restore {snapshot} into a fresh \
                 data directory for member {} and swap it with {} (the current one is kept)",
                member.name, member.data_dir
            ),
            Step::RestoreFile { from, to, mode } => {
                write!(f, "restore {to} (mode {mode:04o}) from {from}")
            }
            Step::RestoreLink { path, target } => write!(f, "link {path} -> {target}"),
            Step::RestartKubelet => write!(f, "restart kubelet"),
        }
    }
}

/// The rollback of the upgrade recorded in `journal` (pure: reads the backup record only).
pub fn plan(root: &Path, journal: &UpgradeJournal, etcd: bool) -> anyhow::Result<Vec<Step>> {
    let record = BackupRecord::read(root, &journal.backup_dir)?;
    let mut steps = Vec::new();
    if etcd {
        if let Some((snapshot, member)) = etcd_restore_source(root, &record)? {
            steps.push(Step::RestoreEtcd { snapshot, member });
        }
    }
    for f in &record.files {
        steps.push(Step::RestoreFile {
            from: format!("{}/{}", journal.backup_dir, f.saved_as),
            to: f.node_path.clone(),
            mode: f.mode,
        });
    }
    for l in &record.links {
        steps.push(Step::RestoreLink {
            path: l.path.clone(),
            target: l.target.clone(),
        });
    }
    steps.push(Step::RestartKubelet);
    Ok(steps)
}

/// The snapshot (node path) and member to restore etcd from, if the upgrade took one; refused
/// for a member of a multi-member cluster (restoring one member would split it) and when the
/// snapshot is missing.
pub fn etcd_restore_source(
    root: &Path,
    record: &BackupRecord,
) -> anyhow::Result<Option<(String, EtcdMemberParams)>> {
    let (Some(snapshot), Some(member)) = (&record.etcd_snapshot, &record.etcd_member) else {
        return Ok(None);
    };
    if member.initial_cluster.contains(',') {
        anyhow::bail!(
            "etcd member {} belongs to a multi-member cluster ({}): restoring one member from a \
             snapshot would split it; roll back with --etcd=false and restore etcd cluster-wide",
            member.name,
            member.initial_cluster
        );
    }
    if !fsutil::under_root(root, snapshot).is_file() {
        anyhow::bail!("the etcd snapshot {snapshot} is missing");
    }
    Ok(Some((snapshot.clone(), member.clone())))
}

/// How to roll back.
pub struct Options<'a> {
    /// Node root.
    pub root: &'a Path,
    /// `etcdutl` or `etcdctl` for `snapshot restore` (see [`find_restore_tool`]).
    pub restore_tool: Option<PathBuf>,
    /// etcd's client endpoint, probed until etcd has stopped.
    pub etcd_endpoint: String,
    /// How long to wait for etcd to stop.
    pub stop_timeout: Duration,
    /// Restarts the kubelet.
    pub services: &'a dyn ServiceManager,
}

/// The `snapshot restore` tool: `configured` if given, else `etcdutl` then `etcdctl` from `PATH`
/// (Debian's etcd-client ships `etcdctl` 3.4; kubeadm nodes can carry either).
pub fn find_restore_tool(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = configured {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        anyhow::bail!("--etcdctl {}: no such file", p.display());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in ["etcdutl", "etcdctl"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(tool);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    anyhow::bail!(
        "neither etcdutl nor etcdctl is in PATH: install them (Debian: etcd-client) or pass --etcdctl"
    )
}

fn answering(endpoint: &str) -> bool {
    let hostport = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    let Ok(addrs) = hostport.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// Stops etcd (its manifest moved aside into the upgrade's tmp dir, where it stays), restores
/// `snapshot` into a fresh data directory for member `m` and swaps it in, keeping the current
/// data as `<dataDir>.before-rollback-<ts>`.
pub fn restore_etcd(
    o: &Options,
    snapshot: &str,
    m: &EtcdMemberParams,
    ts: &str,
) -> anyhow::Result<()> {
    let root = o.root;
    let tool = find_restore_tool(o.restore_tool.as_deref())?;
    let manifest = fsutil::under_root(root, &format!("{MANIFESTS_DIR}/etcd.yaml"));
    if manifest.exists() {
        let aside =
            fsutil::under_root(root, &format!("{TMP_DIR}/kubebake-rollback-etcd-{ts}.yaml"));
        fsutil::ensure_dir(aside.parent().unwrap_or(root), 0o700)?;
        std::fs::rename(&manifest, &aside)
            .map_err(|e| anyhow::anyhow!("moving {MANIFESTS_DIR}/etcd.yaml away: {e}"))?;
    }
    let deadline = Instant::now() + o.stop_timeout;
    while answering(&o.etcd_endpoint) {
        if Instant::now() >= deadline {
            anyhow::bail!(
                "etcd still answers on {} {:?} after its manifest was moved away (is the kubelet \
                 running?); its manifest is in {TMP_DIR}",
                o.etcd_endpoint,
                o.stop_timeout
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let data = fsutil::under_root(root, &m.data_dir);
    let fresh = PathBuf::from(format!("{}.rollback-{ts}", data.display()));
    let kept = PathBuf::from(format!("{}.before-rollback-{ts}", data.display()));
    let _ = std::fs::remove_dir_all(&fresh);
    let out = Command::new(&tool)
        .env("ETCDCTL_API", "3")
        .arg("snapshot")
        .arg("restore")
        .arg(fsutil::under_root(root, snapshot))
        .arg(format!("--name={}", m.name))
        .arg(format!("--initial-cluster={}", m.initial_cluster))
        .arg(format!("--initial-advertise-peer-urls={}", m.peer_urls))
        .arg(format!("--data-dir={}", fresh.display()))
        .output()
        .map_err(|e| anyhow::anyhow!("running {}: {e}", tool.display()))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&fresh);
        anyhow::bail!(
            "{} snapshot restore {snapshot} failed: {}",
            tool.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::set_permissions(&fresh, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    if data.exists() {
        std::fs::rename(&data, &kept).map_err(|e| {
            anyhow::anyhow!("keeping the current etcd data as {}: {e}", kept.display())
        })?;
    }
    std::fs::rename(&fresh, &data)
        .map_err(|e| anyhow::anyhow!("moving the restored etcd data into {}: {e}", m.data_dir))?;
    Ok(())
}

fn restore_file(root: &Path, from: &str, to: &str, mode: u32) -> anyhow::Result<()> {
    let bytes = std::fs::read(fsutil::under_root(root, from))
        .map_err(|e| anyhow::anyhow!("reading the saved {from}: {e}"))?;
    fsutil::write_atomic(&fsutil::under_root(root, to), &bytes, mode, 0o700)
        .map_err(|e| anyhow::anyhow!("restoring {to}: {e}"))
}

fn restore_link(root: &Path, path: &str, target: &str) -> anyhow::Result<()> {
    let link = fsutil::under_root(root, path);
    let parent = link.parent().unwrap_or(root);
    let tmp = parent.join(format!(
        ".{}.kubebake-tmp",
        link.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, &link).map_err(|e| anyhow::anyhow!("restoring link {path}: {e}"))
}

/// Runs the rollback of `steps` and records it in the journal.
pub fn run(o: &Options, journal: &mut UpgradeJournal, steps: &[Step]) -> anyhow::Result<()> {
    let ts = super::backup::timestamp(time::OffsetDateTime::now_utc());
    for s in steps {
        tracing::info!("[upgrade/rollback] {s}");
        match s {
            Step::RestoreEtcd { snapshot, member } => restore_etcd(o, snapshot, member, &ts)?,
            Step::RestoreFile { from, to, mode } => restore_file(o.root, from, to, *mode)?,
            Step::RestoreLink { path, target } => restore_link(o.root, path, target)?,
            Step::RestartKubelet => o
                .services
                .restart("kubelet")
                .map_err(|e| anyhow::anyhow!("restarting kubelet: {e}"))?,
        }
    }
    journal.state = UpgradeState::RolledBack;
    journal.write(o.root)
}
