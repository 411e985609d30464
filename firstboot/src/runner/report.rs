//! Mirrors phase results onto the Node (best effort): once the API server is reachable and the
//! Node is registered, every phase this run finished — including those that finished before
//! the API was reachable, read back from the journal — becomes a Node Event
//! ([`crate::kube::events::report_phase`]); a failed phase also sets the failed-phase
//! annotation, and a later successful run removes it.
//!
//! Reporting never fails the run and never blocks long: it starts only once the workflow's
//! "API reachable" phase is done (init: `wait-control-plane`; join: `kubelet-wait-bootstrap`),
//! each request has short connect/read timeouts and no retries, and the whole run spends at
//! most [`REPORT_BUDGET`] on it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;

use super::journal::{Journal, PhaseState};
use crate::config::{Mode, NodeConfig};
use crate::fsutil;
use crate::kube::events::{failed_annotation_patch, report_phase, FAILED_PHASE_ANNOTATION};
use crate::kube::Cluster;
use crate::kubeconfig::Kubeconfig;

/// Most time one run spends reporting (connecting and sending events).
pub const REPORT_BUDGET: Duration = Duration::from_secs(15);
/// Connect and read timeout of each reporting request.
pub const REPORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The phase after which the API server is reachable with this node's credentials.
pub fn api_reachable_after(mode: Mode) -> &'static str {
    match mode {
        Mode::Init => "wait-control-plane",
        Mode::Join => "kubelet-wait-bootstrap",
    }
}

/// Kubeconfigs a node can report with, in order of preference: `--kubeconfig`, the admin
/// kubeconfig (control-plane nodes), the kubelet's (every node, after its TLS bootstrap).
pub fn candidate_kubeconfigs(root: &Path, kubeconfig: Option<&Path>) -> Vec<(PathBuf, String)> {
    let mut v = Vec::new();
    if let Some(p) = kubeconfig {
        v.push((p.to_path_buf(), p.display().to_string()));
    }
    for node_path in [super::ADMIN_CONF, "/etc/kubernetes/kubelet.conf"] {
        v.push((fsutil::under_root(root, node_path), node_path.to_string()));
    }
    v
}

/// Connects with the kubeconfig at `path`, whose file references (the kubelet's
/// `kubelet-client-current.pem`) are node paths resolved under `root`.
fn connect(root: &Path, path: &Path, display: &str) -> anyhow::Result<Cluster> {
    let kc = Kubeconfig::load(path)?;
    let server = kc
        .server()
        .ok_or_else(|| anyhow::anyhow!("{display}: no server"))?
        .to_string();
    let ca = kc.current_cluster_ca_pem(path)?;
    let user_file = |key: &str| -> Option<Vec<u8>> {
        let user = kc.current_user_name()?;
        let entry = kc
            .value()
            .get("users")?
            .as_sequence()?
            .iter()
            .find(|u| u.get("name").and_then(|n| n.as_str()) == Some(user.as_str()))?;
        let file = entry.get("user")?.get(key)?.as_str()?;
        std::fs::read(fsutil::under_root(root, file)).ok()
    };
    let cert = kc
        .client_certificate_pem()
        .or_else(|| user_file("client-certificate"));
    let key = kc.client_key_pem().or_else(|| user_file("client-key"));
    let (Some(cert), Some(key)) = (cert, key) else {
        anyhow::bail!("{display}: no client certificate");
    };
    let flat = Kubeconfig::with_client_cert(&server, "kubernetes", "node", &ca, &cert, &key);
    let dir = tempfile::tempdir()?;
    let tmp = dir.path().join("kubeconfig");
    // Plain write into the private (0700) temporary directory (see phases::join::connect).
    std::fs::write(&tmp, flat.to_yaml()?)?;
    Ok(Cluster::from_kubeconfig_with_timeouts(
        &tmp,
        display,
        Duration::ZERO,
        REPORT_REQUEST_TIMEOUT,
        REPORT_REQUEST_TIMEOUT,
    )?)
}

/// Best-effort reporter of one run's phase results.
pub struct NodeReporter {
    root: PathBuf,
    mode: Mode,
    node: String,
    kubeconfig: Option<PathBuf>,
    /// Phases that finished in this run and are not reported yet, in order.
    pending: Vec<String>,
    cluster: Option<Cluster>,
    deadline: Option<Instant>,
}

impl NodeReporter {
    /// A reporter for the node of `cfg` under `root` (`kubeconfig`: `--kubeconfig`).
    pub fn new(cfg: &NodeConfig, root: &Path, kubeconfig: Option<&Path>) -> Self {
        NodeReporter {
            root: root.to_path_buf(),
            mode: cfg.mode,
            node: cfg.node_name().to_string(),
            kubeconfig: kubeconfig.map(Path::to_path_buf),
            pending: Vec::new(),
            cluster: None,
            deadline: None,
        }
    }

    /// Notes that `phase` finished (done or failed) in this run; its result is read from the
    /// journal when it is reported.
    pub fn finished(&mut self, phase: &str) {
        if !self.pending.iter().any(|p| p == phase) {
            self.pending.push(phase.to_string());
        }
    }

    fn budget_left(&mut self) -> bool {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + REPORT_BUDGET);
        Instant::now() < deadline
    }

    /// A connection whose user can see this node's Node object (which must exist).
    fn connection(&mut self) -> Option<&Cluster> {
        if self.cluster.is_none() {
            for (path, shown) in candidate_kubeconfigs(&self.root, self.kubeconfig.as_deref()) {
                if !path.exists() || !self.budget_left() {
                    continue;
                }
                match connect(&self.root, &path, &shown) {
                    Ok(c) => match c.get::<Node>(None, &self.node) {
                        Ok(Some(_)) => {
                            self.cluster = Some(c);
                            break;
                        }
                        Ok(None) => {
                            tracing::debug!("report: Node {} is not registered yet", self.node);
                            return None;
                        }
                        Err(e) => tracing::debug!("report: {shown}: {e}"),
                    },
                    Err(e) => tracing::debug!("report: {shown}: {e:#}"),
                }
            }
        }
        self.cluster.as_ref()
    }

    /// Reports the pending phase results if the API is reachable (see the module docs).
    pub fn flush(&mut self, journal: &Journal) {
        if self.pending.is_empty() || !self.gate_passed(journal) || !self.budget_left() {
            return;
        }
        let node = self.node.clone();
        let pending = std::mem::take(&mut self.pending);
        let Some(cluster) = self.connection() else {
            self.pending = pending;
            return;
        };
        let mut left = Vec::new();
        for phase in pending {
            let Some(rec) = journal.record(&phase) else {
                continue;
            };
            let result = match rec.state {
                PhaseState::Done => Ok(()),
                PhaseState::Failed => Err(rec.error.as_deref().unwrap_or("failed")),
                _ => continue,
            };
            if let Err(e) = report_phase(cluster, &node, &phase, result) {
                tracing::debug!("report: phase {phase}: {e}");
                left.push(phase);
            }
        }
        self.pending = left;
    }

    /// After a successful run: removes a failed-phase annotation left by an earlier run.
    pub fn clear_failure(&mut self, journal: &Journal) {
        if !self.gate_passed(journal) || !self.budget_left() {
            return;
        }
        let node = self.node.clone();
        let Some(cluster) = self.connection() else {
            return;
        };
        let annotated = cluster
            .get::<Node>(None, &node)
            .ok()
            .flatten()
            .and_then(|n| n.metadata.annotations)
            .is_some_and(|a| a.contains_key(FAILED_PHASE_ANNOTATION));
        if annotated {
            if let Err(e) =
                cluster.patch::<Node>(None, &node, &failed_annotation_patch(None), false)
            {
                tracing::debug!("report: clearing {FAILED_PHASE_ANNOTATION}: {e}");
            }
        }
    }

    fn gate_passed(&self, journal: &Journal) -> bool {
        journal
            .record(api_reachable_after(self.mode))
            .is_some_and(|r| r.state == PhaseState::Done)
    }
}
