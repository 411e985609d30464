//! The status journal `status.json`: per-phase state, times, attempts, errors and the outputs a
//! phase produced (for resume), rewritten atomically after every change.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil;

/// Journal format version.
pub const JOURNAL_VERSION: u32 = 1;

/// State of one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseState {
    /// Not started yet.
    Pending,
    /// Started and not finished (or interrupted).
    Running,
    /// Finished successfully.
    Done,
    /// Finished with an error.
    Failed,
    /// Skipped (by `--skip-phases`, `skipPhases` or configuration).
    Skipped,
}

impl PhaseState {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PhaseState::Pending => "pending",
            PhaseState::Running => "running",
            PhaseState::Done => "done",
            PhaseState::Failed => "failed",
            PhaseState::Skipped => "skipped",
        }
    }
}

/// Overall result of the last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// A run is in progress (or was interrupted).
    Running,
    /// All phases done or skipped.
    Succeeded,
    /// A phase failed.
    Failed,
    /// The last run (a single phase) ended, but not every phase is done yet.
    Incomplete,
    /// The journal says running but no process holds the lock: the run was interrupted.
    Interrupted,
}

/// Record of one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseRecord {
    /// kubeadm phase name.
    pub name: String,
    /// Current state.
    pub state: PhaseState,
    /// Start of the last attempt (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// End of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Number of attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Error of the last failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the phase was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Files the phase produced (node path → SHA-256), checked before skipping a done phase.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// SHA-256 of the resolved configuration the phase was last done with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_digest: String,
    /// Paths the current attempt creates (absent before it started); removed before a redo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
}

impl PhaseRecord {
    /// A pending record.
    pub fn pending(name: &str) -> Self {
        PhaseRecord {
            name: name.to_string(),
            state: PhaseState::Pending,
            started_at: None,
            ended_at: None,
            attempts: 0,
            error: None,
            reason: None,
            outputs: BTreeMap::new(),
            config_digest: String::new(),
            created: Vec::new(),
        }
    }
}

/// The whole journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    /// Format version ([`JOURNAL_VERSION`]).
    pub version: u32,
    /// `init` or `join`.
    pub mode: String,
    /// Configuration source of the last run.
    pub config: String,
    /// SHA-256 of the resolved configuration of the last run; a change invalidates done phases.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_digest: String,
    /// Result of the last run.
    pub result: RunResult,
    /// When the last run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Last update.
    pub updated_at: String,
    /// Phases in order.
    pub phases: Vec<PhaseRecord>,
}

/// Current time as RFC 3339 UTC (second precision).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Journal {
    /// A fresh journal.
    pub fn new(mode: &str, config: &str, phases: &[&str]) -> Self {
        Journal {
            version: JOURNAL_VERSION,
            mode: mode.to_string(),
            config: config.to_string(),
            config_digest: String::new(),
            result: RunResult::Running,
            started_at: None,
            updated_at: now_rfc3339(),
            phases: phases.iter().map(|p| PhaseRecord::pending(p)).collect(),
        }
    }

    /// Reads a journal; `Ok(None)` if the file does not exist.
    pub fn read(path: &Path) -> anyhow::Result<Option<Journal>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!("status journal {} is not valid: {e}", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the journal atomically (0644).
    pub fn write(&mut self, path: &Path) -> anyhow::Result<()> {
        self.updated_at = now_rfc3339();
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        fsutil::write_atomic(path, &json, 0o644, 0o700)
            .map_err(|e| anyhow::anyhow!("cannot write status journal {}: {e}", path.display()))
    }

    /// The record of `name`, added (pending) at the end if missing.
    pub fn record_mut(&mut self, name: &str) -> &mut PhaseRecord {
        if let Some(i) = self.phases.iter().position(|p| p.name == name) {
            &mut self.phases[i]
        } else {
            self.phases.push(PhaseRecord::pending(name));
            self.phases.last_mut().expect("just pushed")
        }
    }

    /// The record of `name`, if any.
    pub fn record(&self, name: &str) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// Human-readable table (`firstboot status`).
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "mode: {}   result: {}   config: {}   updated: {}\n",
            self.mode,
            match self.result {
                RunResult::Running => "running",
                RunResult::Succeeded => "succeeded",
                RunResult::Failed => "failed",
                RunResult::Incomplete => "incomplete",
                RunResult::Interrupted => "interrupted",
            },
            self.config,
            self.updated_at
        );
        let headers = ["PHASE", "STATE", "ATTEMPTS", "STARTED", "ENDED", "ERROR"];
        let rows: Vec<[String; 6]> = self
            .phases
            .iter()
            .map(|p| {
                [
                    p.name.clone(),
                    p.state.as_str().to_string(),
                    p.attempts.to_string(),
                    p.started_at.clone().unwrap_or_else(|| "-".into()),
                    p.ended_at.clone().unwrap_or_else(|| "-".into()),
                    p.error
                        .clone()
                        .or_else(|| p.reason.clone())
                        .unwrap_or_default()
                        .replace('\n', " "),
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.len());
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.len());
            }
        }
        let line = |cells: &[&str]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}   ", w = widths[i]));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&headers));
        for r in &rows {
            let cells: Vec<&str> = r.iter().map(|s| s.as_str()).collect();
            out.push_str(&line(&cells));
        }
        out
    }
}
