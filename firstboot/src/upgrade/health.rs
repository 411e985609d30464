//! Step `preflight`: kubeadm's pre-upgrade health checks (spec §14.3) — `ControlPlaneNodesReady`
//! (every control-plane Node with a Ready condition has it True), `StaticPodManifest` (the three
//! control-plane manifests exist under the root) and `CreateJob` (a short Job running the pause
//! image on a control-plane node completes).

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Node;

use crate::config::CONTROL_PLANE_TAINT_KEY;
use crate::kube::Cluster;

/// Limits of the `CreateJob` check (kubeadm 1.36: poll 1 s, 60 s).
#[derive(Debug, Clone, Copy)]
pub struct JobWait {
    /// Poll interval.
    pub interval: Duration,
    /// Limit of each wait (schedulable nodes, create, completion).
    pub timeout: Duration,
}

impl Default for JobWait {
    fn default() -> Self {
        JobWait {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
        }
    }
}

/// One failed check: kubeadm's check name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// `ControlPlaneNodesReady`, `StaticPodManifest`, `CreateJob`.
    pub check: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.check, self.message)
    }
}

/// `ControlPlaneNodesReady`.
pub fn control_plane_nodes_ready(cluster: &Cluster) -> Result<(), CheckFailure> {
    let fail = |message: String| CheckFailure {
        check: "ControlPlaneNodesReady",
        message,
    };
    let nodes: Vec<Node> = cluster
        .list(None, Some(CONTROL_PLANE_TAINT_KEY), None)
        .map_err(|e| fail(format!("cannot list the control-plane Nodes: {e}")))?;
    let not_ready: Vec<String> = nodes
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                .is_some_and(|c| c.status != "True")
        })
        .map(|n| n.metadata.name.clone().unwrap_or_default())
        .collect();
    if not_ready.is_empty() {
        Ok(())
    } else {
        Err(fail(format!(
            "there are NotReady control-planes in the cluster: {}",
            not_ready.join(", ")
        )))
    }
}

/// `StaticPodManifest`.
pub fn static_pod_manifests(root: &Path) -> Result<(), CheckFailure> {
    let missing: Vec<String> = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ]
    .iter()
    .map(|c| format!("{}/{c}.yaml", super::backup::MANIFESTS_DIR))
    .filter(|p| !crate::fsutil::under_root(root, p).is_file())
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CheckFailure {
            check: "StaticPodManifest",
            message: format!("missing static pod manifests: {}", missing.join(", ")),
        })
    }
}

/// The Job of the `CreateJob` check (spec §14.3 values).
pub fn health_check_job(name: &str, image: &str) -> Job {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 65,
            "ttlSecondsAfterFinished": 65,
            "template": {"spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": true},
                "tolerations": [{"key": CONTROL_PLANE_TAINT_KEY, "effect": "NoSchedule"}],
                "containers": [{"name": "upgrade-health-check", "image": image, "args": ["-v"]}]
            }}
        }
    }))
    .expect("a valid Job")
}

fn poll<T>(wait: &JobWait, mut f: impl FnMut() -> anyhow::Result<Option<T>>) -> Result<T, String> {
    let deadline = Instant::now() + wait.timeout;
    let mut last = String::from("no answer");
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(wait.interval);
    }
}

/// `CreateJob`: returns a warning (no schedulable node: skipped) or fails.
pub fn create_job(
    cluster: &Cluster,
    pause_image: &str,
    wait: &JobWait,
) -> Result<Option<String>, CheckFailure> {
    let fail = |message: String| CheckFailure {
        check: "CreateJob",
        message,
    };
    let schedulable = poll(wait, || {
        let n: Vec<Node> = cluster.list(None, None, Some("spec.unschedulable=false"))?;
        Ok((!n.is_empty()).then_some(()))
    });
    if schedulable.is_err() {
        return Ok(Some(
            "no schedulable Nodes: the upgrade health check Job is skipped".into(),
        ));
    }
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let name = format!("upgrade-health-check-{ms}");
    let job = health_check_job(&name, pause_image);
    poll(wait, || {
        Ok(cluster.create_if_missing(&job).map(|_| Some(()))?)
    })
    .map_err(|e| fail(format!("cannot create Job kube-system/{name}: {e}")))?;
    poll(wait, || {
        let j: Option<Job> = cluster.get(Some("kube-system"), &name)?;
        let complete = j
            .and_then(|j| j.status)
            .and_then(|s| s.conditions)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            });
        Ok(complete.then_some(()))
    })
    .map_err(|e| {
        fail(format!(
            "Job kube-system/{name} did not complete within {:?} ({e})",
            wait.timeout
        ))
    })?;
    Ok(None)
}

/// Runs the three checks; every failure is reported, warnings are returned.
pub fn check_all(
    cluster: &Cluster,
    root: &Path,
    pause_image: &str,
    wait: &JobWait,
) -> Result<Vec<String>, Vec<CheckFailure>> {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    if let Err(e) = control_plane_nodes_ready(cluster) {
        failures.push(e);
    }
    if let Err(e) = static_pod_manifests(root) {
        failures.push(e);
    }
    match create_job(cluster, pause_image, wait) {
        Ok(Some(w)) => warnings.push(w),
        Ok(None) => {}
        Err(e) => failures.push(e),
    }
    if failures.is_empty() {
        Ok(warnings)
    } else {
        Err(failures)
    }
}
