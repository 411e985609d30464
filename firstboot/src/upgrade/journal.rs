//! The upgrade journal `/var/lib/kubebake/firstboot/upgrade.json`: the target, the backup
//! directories and every step's state (the runner's [`PhaseRecord`]s), rewritten atomically after
//! every change so an interrupted `upgrade apply` continues where it stopped and
//! `upgrade rollback` knows what to restore.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::runner::journal::{now_rfc3339, PhaseRecord, PhaseState};

/// Node path of the upgrade journal.
pub const UPGRADE_JOURNAL: &str = "/var/lib/kubebake/firstboot/upgrade.json";

/// Where an upgrade stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeState {
    /// Started and not finished (or interrupted): `upgrade apply` continues it.
    Running,
    /// A step failed (the failing component was restored): `upgrade apply` retries it.
    Failed,
    /// Every step done.
    Succeeded,
    /// `upgrade rollback` restored the version before the upgrade.
    RolledBack,
}

/// The journal of one upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeJournal {
    /// Version running before the upgrade.
    pub from_version: String,
    /// Target version.
    pub target_version: String,
    /// The bundle file given to `upgrade apply`.
    pub bundle: String,
    /// State of the upgrade.
    pub state: UpgradeState,
    /// Node path of `kubeadm-backup-manifests-<timestamp>` (manifests, kubelet config, links).
    pub backup_dir: String,
    /// Node path of `kubeadm-backup-etcd-<timestamp>` (etcd snapshot), empty without local etcd.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub etcd_backup_dir: String,
    /// The step that failed last (`control-plane/kube-apiserver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// When the upgrade started.
    pub started_at: String,
    /// Last update.
    pub updated_at: String,
    /// Steps in order.
    pub steps: Vec<PhaseRecord>,
}

impl UpgradeJournal {
    /// A fresh journal with every step pending.
    pub fn new(from: &str, target: &str, bundle: &str, backup_dir: &str, steps: &[String]) -> Self {
        let now = now_rfc3339();
        UpgradeJournal {
            from_version: from.to_string(),
            target_version: target.to_string(),
            bundle: bundle.to_string(),
            state: UpgradeState::Running,
            backup_dir: backup_dir.to_string(),
            etcd_backup_dir: String::new(),
            failed_step: None,
            started_at: now.clone(),
            updated_at: now,
            steps: steps.iter().map(|s| PhaseRecord::pending(s)).collect(),
        }
    }

    /// Reads the journal under `root`; `Ok(None)` when there is none.
    pub fn read(root: &Path) -> anyhow::Result<Option<UpgradeJournal>> {
        let path = fsutil::under_root(root, UPGRADE_JOURNAL);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!("upgrade journal {UPGRADE_JOURNAL} is not valid: {e}")
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the journal under `root` atomically (0600: it names backup locations).
    pub fn write(&mut self, root: &Path) -> anyhow::Result<()> {
        self.updated_at = now_rfc3339();
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        let path = fsutil::under_root(root, UPGRADE_JOURNAL);
        fsutil::write_atomic(&path, &json, 0o600, 0o700)
            .map_err(|e| anyhow::anyhow!("cannot write upgrade journal {UPGRADE_JOURNAL}: {e}"))
    }

    /// The record of `step`, added at the end when missing.
    pub fn step_mut(&mut self, step: &str) -> &mut PhaseRecord {
        if let Some(i) = self.steps.iter().position(|p| p.name == step) {
            &mut self.steps[i]
        } else {
            self.steps.push(PhaseRecord::pending(step));
            self.steps.last_mut().expect("just pushed")
        }
    }

    /// The state of `step` (pending when unknown).
    pub fn step_state(&self, step: &str) -> PhaseState {
        self.steps
            .iter()
            .find(|p| p.name == step)
            .map(|p| p.state)
            .unwrap_or(PhaseState::Pending)
    }

    /// Marks `step` running (one more attempt).
    pub fn start(&mut self, step: &str) {
        let r = self.step_mut(step);
        r.state = PhaseState::Running;
        r.attempts += 1;
        r.started_at = Some(now_rfc3339());
        r.ended_at = None;
        r.error = None;
        self.state = UpgradeState::Running;
    }

    /// Marks `step` done (or skipped with `reason`).
    pub fn finish(&mut self, step: &str, skipped: Option<String>) {
        let r = self.step_mut(step);
        r.state = if skipped.is_some() {
            PhaseState::Skipped
        } else {
            PhaseState::Done
        };
        r.reason = skipped;
        r.ended_at = Some(now_rfc3339());
    }

    /// Marks `step` and the upgrade failed.
    pub fn fail(&mut self, step: &str, error: &str) {
        let r = self.step_mut(step);
        r.state = PhaseState::Failed;
        r.error = Some(error.to_string());
        r.ended_at = Some(now_rfc3339());
        self.state = UpgradeState::Failed;
        self.failed_step = Some(step.to_string());
    }

    /// Whether every step is done or skipped.
    pub fn complete(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.state, PhaseState::Done | PhaseState::Skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_tracks_failures() {
        let d = tempfile::tempdir().unwrap();
        assert!(UpgradeJournal::read(d.path()).unwrap().is_none());
        let steps = vec!["backup".to_string(), "control-plane/etcd".to_string()];
        let mut j = UpgradeJournal::new("v1.35.2", "v1.36.2", "b.tar.gz", "/x", &steps);
        j.start("backup");
        j.finish("backup", None);
        j.start("control-plane/etcd");
        j.fail("control-plane/etcd", "etcd did not come up");
        j.write(d.path()).unwrap();
        let back = UpgradeJournal::read(d.path()).unwrap().unwrap();
        assert_eq!(back.state, UpgradeState::Failed);
        assert_eq!(back.failed_step.as_deref(), Some("control-plane/etcd"));
        assert_eq!(back.step_state("backup"), PhaseState::Done);
        assert_eq!(back.step_state("control-plane/etcd"), PhaseState::Failed);
        assert!(!back.complete());
        let mode = crate::fsutil::mode_of(&d.path().join(UPGRADE_JOURNAL.trim_start_matches('/')));
        assert_eq!(mode, Some(0o600));
    }
}
