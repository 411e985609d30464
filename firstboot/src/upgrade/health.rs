//! kubeadm's pre-upgrade cluster health checks (spec §14.3 item 3, 1.36 values): `CreateJob`
//! (a short Job running the pause image must complete), `ControlPlaneNodesReady` and
//! `StaticPodManifest`. Creates (and leaves to its TTL) one Job in `kube-system`; writes nothing.
//!
//! Each check is a preflight check name usable in `ignorePreflightErrors`; the results are
//! [`PlanItem::Check`] items so they print like the other preflight checks.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, Node, PodSecurityContext, PodSpec, PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};

use crate::config::ClusterConfiguration;
use crate::kube::Cluster;
use crate::manifests::{self, AddonImageParams, ControlPlaneParams};
use crate::phases::preflight::apply_ignore;
use crate::phases::{CheckOutcome, PlanItem};

/// Check name of the test Job.
pub const CREATE_JOB: &str = "CreateJob";
/// Check name of the control-plane Node readiness check.
pub const CONTROL_PLANE_NODES_READY: &str = "ControlPlaneNodesReady";
/// Check name of the static Pod manifest check.
pub const STATIC_POD_MANIFEST: &str = "StaticPodManifest";

/// Namespace of the test Job.
pub const JOB_NAMESPACE: &str = "kube-system";
/// Prefix of the test Job's name and the name of its container.
pub const JOB_PREFIX: &str = "upgrade-health-check";
/// kubeadm's `LabelNodeRoleControlPlane`.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// Where the static Pod manifests live on the node.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// The control-plane components whose manifests must exist (not etcd).
pub const CONTROL_PLANE_COMPONENTS: [&str; 3] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// kubeadm 1.36's timeout of each `CreateJob` wait (≤1.35 used 15 s).
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// kubeadm's poll interval for the `CreateJob` waits.
pub const JOB_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How the health checks run. [`HealthOptions::new`] gives kubeadm 1.36's values; tests
/// shorten the waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthOptions {
    /// `ignorePreflightErrors` (check names or `all`, case-insensitive).
    pub ignore_preflight_errors: Vec<String>,
    /// `<imageRepository>/pause:<PauseVersion>` (see [`pause_image`]).
    pub pause_image: String,
    /// Poll interval of every `CreateJob` wait (1 s).
    pub poll_interval: Duration,
    /// How long the schedulable-Node list, the Job create and the wait for `Complete` are
    /// each retried (60 s).
    pub job_timeout: Duration,
    /// `--dry-run`: create no Job (kubeadm only prints that it would); the read-only checks
    /// still run.
    pub dry_run: bool,
}

impl HealthOptions {
    /// kubeadm 1.36's intervals and timeouts.
    pub fn new(pause_image: impl Into<String>, ignore_preflight_errors: Vec<String>) -> Self {
        HealthOptions {
            ignore_preflight_errors,
            pause_image: pause_image.into(),
            poll_interval: JOB_POLL_INTERVAL,
            job_timeout: JOB_TIMEOUT,
            dry_run: false,
        }
    }

    /// The Job's `ttlSecondsAfterFinished` and `activeDeadlineSeconds`: the wait timeout + 5 s
    /// (65 with kubeadm's 60 s), so the Job outlives every wait.
    pub fn job_deadline_seconds(&self) -> i64 {
        self.job_timeout.as_secs() as i64 + 5
    }
}

/// The pause image kubeadm uses for `cfg` (`<imageRepository>/pause:<PauseVersion>`, spec §1.3),
/// with the constants of kubeadm minor `kubeadm_minor` (default: the target's minor).
pub fn pause_image(
    cfg: &ClusterConfiguration,
    kubeadm_minor: Option<u64>,
) -> anyhow::Result<String> {
    let mut p = ControlPlaneParams::new(
        &cfg.kubernetes_version,
        "",
        std::net::IpAddr::from([0, 0, 0, 0]),
    );
    p.kubeadm_minor = kubeadm_minor;
    if !cfg.image_repository.is_empty() {
        p.image_repository = cfg.image_repository.clone();
    }
    Ok(manifests::images(&p, &AddonImageParams::default())?.pause)
}

/// The test Job named `name` exactly as kubeadm 1.36 builds it (spec §14.3).
pub fn health_check_job(name: &str, opts: &HealthOptions) -> Job {
    let deadline = opts.job_deadline_seconds();
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(JOB_NAMESPACE.to_string()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(deadline as i32),
            active_deadline_seconds: Some(deadline),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    security_context: Some(PodSecurityContext {
                        run_as_user: Some(999),
                        run_as_group: Some(999),
                        run_as_non_root: Some(true),
                        ..Default::default()
                    }),
                    tolerations: Some(vec![Toleration {
                        key: Some(CONTROL_PLANE_LABEL.into()),
                        effect: Some("NoSchedule".into()),
                        ..Default::default()
                    }]),
                    containers: vec![Container {
                        name: JOB_PREFIX.into(),
                        image: Some(opts.pause_image.clone()),
                        args: Some(vec!["-v".into()]),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// `upgrade-health-check-<unix-ms>`.
pub fn job_name(now: SystemTime) -> String {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{JOB_PREFIX}-{ms}")
}

/// Runs the three checks in kubeadm's order (`CreateJob`, `ControlPlaneNodesReady`,
/// `StaticPodManifest`) against `cluster` and the manifests under `root`. Errors of checks
/// listed in `ignorePreflightErrors` come back as [`CheckOutcome::Ignored`]; the caller fails
/// when any [`CheckOutcome::Error`] remains (see [`errors`]).
/// With [`HealthOptions::dry_run`] no Job is created: a [`PlanItem::Note`] says what would be.
pub fn check(cluster: &Cluster, root: &Path, opts: &HealthOptions) -> Vec<PlanItem> {
    let mut items = Vec::new();
    let create = if opts.dry_run {
        items.push(PlanItem::Note(format!(
            "would create the Job with the prefix {JOB_PREFIX:?} in namespace {JOB_NAMESPACE:?} and wait until it completes"
        )));
        CheckOutcome::Ok
    } else {
        create_job(cluster, opts)
    };
    let results = [
        (CREATE_JOB, create),
        (
            CONTROL_PLANE_NODES_READY,
            control_plane_nodes_ready(cluster),
        ),
        (STATIC_POD_MANIFEST, static_pod_manifests(root)),
    ];
    items.extend(results.into_iter().map(|(name, outcome)| PlanItem::Check {
        name: name.to_string(),
        outcome: apply_ignore(name, outcome, &opts.ignore_preflight_errors),
    }));
    items
}

/// The `name: message` of every check in `items` that failed and was not ignored.
pub fn errors(items: &[PlanItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            PlanItem::Check {
                name,
                outcome: CheckOutcome::Error(m),
            } => Some(format!("[{name}]: {m}")),
            _ => None,
        })
        .collect()
}

/// Limits of the `CreateJob` waits as `upgrade apply` passes them (kubeadm 1.36: 1 s, 60 s).
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
            interval: JOB_POLL_INTERVAL,
            timeout: JOB_TIMEOUT,
        }
    }
}

/// One check that failed and was not ignored: kubeadm's check name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// `CreateJob`, `ControlPlaneNodesReady`, `StaticPodManifest`.
    pub check: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.check, self.message)
    }
}

/// [`check`] for `upgrade apply`: the warnings (and ignored errors) to print, or every failure
/// that refuses the upgrade.
pub fn check_all(
    cluster: &Cluster,
    root: &Path,
    pause_image: &str,
    wait: &JobWait,
    ignore_preflight_errors: &[String],
) -> Result<Vec<String>, Vec<CheckFailure>> {
    let mut opts = HealthOptions::new(pause_image, ignore_preflight_errors.to_vec());
    opts.poll_interval = wait.interval;
    opts.job_timeout = wait.timeout;
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    for item in check(cluster, root, &opts) {
        match item {
            PlanItem::Check { name, outcome } => match outcome {
                CheckOutcome::Ok => {}
                CheckOutcome::Warning(m) => warnings.push(format!("[{name}] {m}")),
                CheckOutcome::Ignored(m) => warnings.push(format!("[{name}] (error ignored) {m}")),
                CheckOutcome::Error(message) => failures.push(CheckFailure {
                    check: name,
                    message,
                }),
            },
            PlanItem::Note(n) => warnings.push(n),
            _ => {}
        }
    }
    if failures.is_empty() {
        Ok(warnings)
    } else {
        Err(failures)
    }
}

/// Polls `f` every `interval` until it returns `Ok(Some(_))` or `timeout` passes (the first
/// call is immediate, like `wait.PollUntilContextTimeout(..., immediate=true, ...)`).
/// Returns the last error message on timeout.
fn poll<T>(
    interval: Duration,
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("timed out");
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e,
        }
        if Instant::now() + interval > deadline {
            return Err(last);
        }
        std::thread::sleep(interval);
    }
}

fn create_job(cluster: &Cluster, opts: &HealthOptions) -> CheckOutcome {
    let fields = "spec.unschedulable=false";
    let nodes: Api<Node> = Api::all(cluster.client().clone());
    let lp = ListParams::default().fields(fields).limit(1);
    let listed = poll(opts.poll_interval, opts.job_timeout, || {
        cluster
            .block_on(nodes.list(&lp))
            .map(|l| Some(l.items.len()))
            .map_err(|e| format!("could not list Nodes with field selector {fields:?}: {e}"))
    });
    match listed {
        Err(e) => {
            return CheckOutcome::Error(format!(
                "could not check if there is at least one Node that can schedule a test Pod: {e}"
            ))
        }
        Ok(0) => {
            return CheckOutcome::Warning(format!(
                "the preflight check \"{CREATE_JOB}\" was skipped because there are no schedulable Nodes in the cluster"
            ))
        }
        Ok(_) => {}
    }

    let name = job_name(SystemTime::now());
    let job = health_check_job(&name, opts);
    let jobs: Api<Job> = Api::namespaced(cluster.client().clone(), JOB_NAMESPACE);
    let pp = PostParams::default();
    let timeout = opts.job_timeout;
    tracing::debug!("creating Job {JOB_NAMESPACE}/{name}");
    if let Err(e) = poll(opts.poll_interval, timeout, || {
        match cluster.block_on(jobs.create(&pp, &job)) {
            Ok(_) => Ok(Some(())),
            // The name is this run's own: a create retried after a lost answer finds the Job.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Some(())),
            Err(e) => Err(e.to_string()),
        }
    }) {
        return CheckOutcome::Error(format!(
            "could not create Job {name:?} in the namespace {JOB_NAMESPACE:?}, retried for {timeout:?}: {e}"
        ));
    }

    let waited = poll(opts.poll_interval, timeout, || {
        match cluster.block_on(jobs.get(&name)) {
            Err(e) => Err(format!("could not get Job {name:?}: {e}")),
            Ok(j) => {
                let complete = j
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Complete");
                if complete {
                    Ok(Some(()))
                } else {
                    Err("no condition of type Complete".to_string())
                }
            }
        }
    });
    match waited {
        Ok(()) => {
            tracing::debug!("Job {JOB_NAMESPACE}/{name} completed");
            CheckOutcome::Ok
        }
        Err(e) => CheckOutcome::Error(format!(
            "Job {name:?} in the namespace {JOB_NAMESPACE:?} did not complete in {timeout:?}: {e}"
        )),
    }
}

fn control_plane_nodes_ready(cluster: &Cluster) -> CheckOutcome {
    let selector = format!("{CONTROL_PLANE_LABEL}=");
    let nodes = match cluster.list::<Node>(None, Some(&selector), None) {
        Ok(n) => n,
        Err(e) => {
            return CheckOutcome::Error(format!(
                "could not list nodes labeled with {CONTROL_PLANE_LABEL:?}: {e}"
            ))
        }
    };
    let not_ready: Vec<String> = nodes
        .iter()
        .filter(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
            matches!(ready, Some(c) if c.status != "True")
        })
        .map(|n| n.metadata.name.clone().unwrap_or_default())
        .collect();
    if not_ready.is_empty() {
        CheckOutcome::Ok
    } else {
        CheckOutcome::Error(format!(
            "there are NotReady control-planes in the cluster: [{}]",
            not_ready.join(" ")
        ))
    }
}

fn static_pod_manifests(root: &Path) -> CheckOutcome {
    let missing: Vec<String> = CONTROL_PLANE_COMPONENTS
        .iter()
        .map(|c| format!("{MANIFESTS_DIR}/{c}.yaml"))
        .filter(|p| !crate::fsutil::under_root(root, p).exists())
        .collect();
    if missing.is_empty() {
        CheckOutcome::Ok
    } else {
        CheckOutcome::Error(format!(
            "The control plane seems to be unhealthy. The following manifests are missing: [{}]",
            missing.join(" ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_name_is_unix_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_124_800_123);
        assert_eq!(job_name(t), "upgrade-health-check-1764124800123");
    }

    #[test]
    fn deadlines_follow_the_timeout() {
        let mut o = HealthOptions::new("registry.k8s.io/pause:3.10.2", vec![]);
        assert_eq!(o.job_deadline_seconds(), 65);
        o.job_timeout = Duration::from_secs(2);
        assert_eq!(o.job_deadline_seconds(), 7);
    }

    #[test]
    fn poll_returns_last_error_on_timeout() {
        let mut n = 0;
        let r: Result<(), String> =
            poll(Duration::from_millis(5), Duration::from_millis(30), || {
                n += 1;
                Err(format!("attempt {n}"))
            });
        let e = r.unwrap_err();
        assert!(n >= 2, "polled {n} times");
        assert_eq!(e, format!("attempt {n}"));
    }
}
