//! Step `backup`: before anything changes, copies the static pod manifests, the kubelet
//! configuration, the staged-version record and the active version links into
//! `/etc/kubernetes/tmp/kubeadm-backup-manifests-<timestamp>` (kubeadm's name, spec §14.5) and
//! takes an etcd snapshot into `/etc/kubernetes/tmp/kubeadm-backup-etcd-<timestamp>/snapshot.db`.
//! `backup.json` in the manifests backup lists what was saved, for `upgrade rollback`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::etcd_client::EtcdClient;
use crate::fsutil;

/// Parent of kubeadm's upgrade directories.
pub const TMP_DIR: &str = "/etc/kubernetes/tmp";
/// The record of a backup, inside the manifests backup directory.
pub const BACKUP_RECORD: &str = "backup.json";
/// File name of the etcd snapshot inside the etcd backup directory.
pub const SNAPSHOT_FILE: &str = "snapshot.db";
/// Static pod manifests directory.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// Node-local files saved besides the manifests (kubelet configuration, staged-version record,
/// the active release index).
pub const NODE_FILES: [&str; 4] = [
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    "/usr/share/kubebake/staged.json",
    "/var/lib/kubebake/release-index.yaml",
];
/// The static pods, in upgrade order.
pub const STATIC_PODS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// Timestamp suffix in kubeadm's Go layout `2006-01-02-15-04-05` (UTC here: the process-local
/// offset is not reliably known in a multi-threaded program).
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let layout = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    t.format(layout)
        .expect("a date in the calendar formats with numeric components")
}

/// The two backup directories (node paths) of an upgrade started at `ts`.
pub fn backup_dirs(ts: &str) -> (String, String) {
    (
        format!("{TMP_DIR}/kubeadm-backup-manifests-{ts}"),
        format!("{TMP_DIR}/kubeadm-backup-etcd-{ts}"),
    )
}

/// One saved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedFile {
    /// Where it lives on the node.
    pub node_path: String,
    /// File name inside the backup directory.
    pub saved_as: String,
    /// Its mode.
    pub mode: u32,
}

/// One saved symlink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedLink {
    /// The link (node path).
    pub path: String,
    /// What it pointed at.
    pub target: String,
}

/// What etcd's snapshot restore needs, read from the etcd manifest before the upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdMemberParams {
    /// `--name`.
    pub name: String,
    /// `--initial-advertise-peer-urls`.
    pub peer_urls: String,
    /// `--initial-cluster`.
    pub initial_cluster: String,
    /// `--data-dir` (node path).
    pub data_dir: String,
}

impl EtcdMemberParams {
    /// Reads the flags from an etcd static pod manifest.
    pub fn from_manifest(text: &str) -> anyhow::Result<Self> {
        let pod = crate::manifests::pod_from_yaml(text, "etcd.yaml")?;
        let c = pod
            .spec
            .and_then(|s| s.containers.into_iter().next())
            .ok_or_else(|| anyhow::anyhow!("etcd.yaml: no container"))?;
        let args: Vec<String> = c
            .command
            .unwrap_or_default()
            .into_iter()
            .chain(c.args.unwrap_or_default())
            .collect();
        let flag = |name: &str| -> anyhow::Result<String> {
            let prefix = format!("--{name}=");
            args.iter()
                .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
                .ok_or_else(|| anyhow::anyhow!("etcd.yaml: no --{name} flag"))
        };
        Ok(EtcdMemberParams {
            name: flag("name")?,
            peer_urls: flag("initial-advertise-peer-urls")?,
            initial_cluster: flag("initial-cluster")?,
            data_dir: flag("data-dir")?,
        })
    }
}

/// The record `backup.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// Version running when the backup was taken.
    pub version: String,
    /// Saved files.
    pub files: Vec<SavedFile>,
    /// The active version links.
    pub links: Vec<SavedLink>,
    /// Node path of the etcd snapshot, when local etcd was backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_snapshot: Option<String>,
    /// The local etcd member, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_member: Option<EtcdMemberParams>,
}

impl BackupRecord {
    /// Reads `backup.json` from the backup directory `dir` (node path) under `root`.
    pub fn read(root: &Path, dir: &str) -> anyhow::Result<BackupRecord> {
        let p = fsutil::under_root(root, &format!("{dir}/{BACKUP_RECORD}"));
        let b = std::fs::read(&p).map_err(|e| {
            anyhow::anyhow!("cannot read the backup record {dir}/{BACKUP_RECORD}: {e}")
        })?;
        serde_json::from_slice(&b)
            .map_err(|e| anyhow::anyhow!("backup record {dir}/{BACKUP_RECORD} is not valid: {e}"))
    }

    /// The saved copy of `node_path`, if it was saved.
    pub fn saved(&self, node_path: &str) -> Option<&SavedFile> {
        self.files.iter().find(|f| f.node_path == node_path)
    }
}

/// What the backup will save (pure: reads which files exist, writes nothing).
pub fn plan(root: &Path, version: &str, etcd_dir: Option<&str>) -> anyhow::Result<BackupRecord> {
    let mut files = Vec::new();
    let mut candidates: Vec<(String, String)> = STATIC_PODS
        .iter()
        .map(|c| (format!("{MANIFESTS_DIR}/{c}.yaml"), format!("{c}.yaml")))
        .collect();
    for f in NODE_FILES {
        let saved_as = format!("node{}", f.replace('/', "_"));
        candidates.push((f.to_string(), saved_as));
    }
    for (node_path, saved_as) in candidates {
        let p = fsutil::under_root(root, &node_path);
        if let Some(mode) = fsutil::mode_of(&p).filter(|_| p.is_file()) {
            files.push(SavedFile {
                node_path,
                saved_as,
                mode,
            });
        }
    }
    let mut links = Vec::new();
    let record = fsutil::under_root(root, bake::stage::RECORD_PATH);
    if let Ok(b) = std::fs::read(&record) {
        let r: bake::stage::StagedRecord = serde_json::from_slice(&b).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a staged-image record: {e}",
                bake::stage::RECORD_PATH
            )
        })?;
        for l in r.links {
            if let Ok(t) = std::fs::read_link(fsutil::under_root(root, &l.path)) {
                links.push(SavedLink {
                    path: l.path,
                    target: t.display().to_string(),
                });
            }
        }
    }
    let etcd_manifest = fsutil::under_root(root, &format!("{MANIFESTS_DIR}/etcd.yaml"));
    let (etcd_snapshot, etcd_member) = match etcd_dir {
        Some(d) if etcd_manifest.exists() => {
            let text = std::fs::read_to_string(&etcd_manifest)?;
            (
                Some(format!("{d}/{SNAPSHOT_FILE}")),
                Some(EtcdMemberParams::from_manifest(&text)?),
            )
        }
        _ => (None, None),
    };
    Ok(BackupRecord {
        version: version.to_string(),
        files,
        links,
        etcd_snapshot,
        etcd_member,
    })
}

/// Human-readable lines of what [`take`] does (for `--dry-run`).
pub fn describe(record: &BackupRecord, dir: &str) -> Vec<String> {
    let mut out: Vec<String> = record
        .files
        .iter()
        .map(|f| format!("copy {} to {dir}/{}", f.node_path, f.saved_as))
        .collect();
    out.extend(
        record
            .links
            .iter()
            .map(|l| format!("record link {} -> {}", l.path, l.target)),
    );
    if let Some(s) = &record.etcd_snapshot {
        out.push(format!("etcd snapshot to {s}"));
    }
    out
}

/// Takes the backup: copies the files into `dir` (0700), snapshots etcd through `etcd`, then
/// writes `backup.json` last (a backup without it is incomplete and never used).
pub fn take(
    root: &Path,
    record: &BackupRecord,
    dir: &str,
    etcd: Option<&EtcdClient>,
) -> anyhow::Result<()> {
    let d = fsutil::under_root(root, dir);
    fsutil::ensure_dir(&fsutil::under_root(root, TMP_DIR), 0o700)?;
    fsutil::ensure_dir(&d, 0o700)?;
    for f in &record.files {
        let bytes = std::fs::read(fsutil::under_root(root, &f.node_path))
            .map_err(|e| anyhow::anyhow!("backing up {}: {e}", f.node_path))?;
        fsutil::write_atomic(&d.join(&f.saved_as), &bytes, f.mode, 0o700)?;
    }
    if let Some(snap) = &record.etcd_snapshot {
        let client = etcd.ok_or_else(|| {
            anyhow::anyhow!("an etcd snapshot is planned but there is no etcd client")
        })?;
        let p = fsutil::under_root(root, snap);
        if let Some(parent) = p.parent() {
            fsutil::ensure_dir(parent, 0o700)?;
        }
        client
            .snapshot(&p)
            .map_err(|e| anyhow::anyhow!("etcd snapshot to {snap}: {e}"))?;
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    }
    let json = serde_json::to_vec_pretty(record)?;
    fsutil::write_atomic(&d.join(BACKUP_RECORD), &json, 0o600, 0o700)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_backup_names() {
        let t = time::macros::datetime!(2026-11-26 01:02:03 UTC);
        assert_eq!(timestamp(t), "2026-11-26-01-02-03");
        let (m, e) = backup_dirs("2026-11-26-01-02-03");
        assert_eq!(
            m,
            "/etc/kubernetes/tmp/kubeadm-backup-manifests-2026-11-26-01-02-03"
        );
        assert_eq!(
            e,
            "/etc/kubernetes/tmp/kubeadm-backup-etcd-2026-11-26-01-02-03"
        );
    }

    #[test]
    fn plan_and_take_copy_existing_files_only() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let m = root.join("etc/kubernetes/manifests");
        std::fs::create_dir_all(&m).unwrap();
        fsutil::write_atomic(&m.join("kube-apiserver.yaml"), b"a: 1\n", 0o600, 0o700).unwrap();
        fsutil::write_atomic(
            &root.join("var/lib/kubelet/config.yaml"),
            b"kind: KubeletConfiguration\n",
            0o644,
            0o755,
        )
        .unwrap();
        let rec = plan(root, "v1.35.2", None).unwrap();
        let names: Vec<&str> = rec.files.iter().map(|f| f.node_path.as_str()).collect();
        assert_eq!(
            names,
            [
                "/etc/kubernetes/manifests/kube-apiserver.yaml",
                "/var/lib/kubelet/config.yaml"
            ]
        );
        take(root, &rec, "/etc/kubernetes/tmp/b", None).unwrap();
        let back = BackupRecord::read(root, "/etc/kubernetes/tmp/b").unwrap();
        assert_eq!(back, rec);
        let saved = root.join("etc/kubernetes/tmp/b/kube-apiserver.yaml");
        assert_eq!(std::fs::read(&saved).unwrap(), b"a: 1\n");
        assert_eq!(fsutil::mode_of(&saved), Some(0o600));
        assert_eq!(
            fsutil::mode_of(&root.join("etc/kubernetes/tmp/b")),
            Some(0o700)
        );
    }
}
