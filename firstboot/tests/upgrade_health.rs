//! Pre-upgrade checks against the in-memory API server: the health checks (spec §14.3 item 3)
//! and reading the installed CoreDNS for the CoreDNS checks (§11.1). The server has no Job
//! controller: the tests play it by marking the Job `Complete` when it appears.

use std::path::Path;
use std::time::{Duration, Instant};

use firstboot::kube::Cluster;
use firstboot::phases::{CheckOutcome, PlanItem};
use firstboot::upgrade::coredns::{self, InstalledCoreDns};
use firstboot::upgrade::health::{self, HealthOptions};
use serde_json::{json, Value};
use testkit::apiserver::ApiServer;

const PAUSE: &str = "registry.example:5000/pause:3.10.2";

struct Env {
    server: ApiServer,
    cluster: Cluster,
    root: tempfile::TempDir,
}

fn start() -> Env {
    let (server, tls) = ApiServer::start_generated("v1.36.2").unwrap();
    let root = tempfile::tempdir().unwrap();
    let admin = root.path().join("admin.conf");
    server.write_admin_kubeconfig(&admin, &tls).unwrap();
    let cluster = Cluster::from_kubeconfig(&admin, "admin.conf", Duration::from_secs(2)).unwrap();
    Env {
        server,
        cluster,
        root,
    }
}

fn node(name: &str, control_plane: bool, ready: &str, unschedulable: bool) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    let mut n = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    });
    if unschedulable {
        n["spec"] = json!({"unschedulable": true});
    }
    n
}

fn write_manifests(root: &Path, components: &[&str]) {
    let dir = root.join("etc/kubernetes/manifests");
    std::fs::create_dir_all(&dir).unwrap();
    for c in components {
        std::fs::write(dir.join(format!("{c}.yaml")), "apiVersion: v1\nkind: Pod\n").unwrap();
    }
}

fn fast(ignore: &[&str]) -> HealthOptions {
    let mut o = HealthOptions::new(PAUSE, ignore.iter().map(|s| s.to_string()).collect());
    o.poll_interval = Duration::from_millis(50);
    o.job_timeout = Duration::from_secs(2);
    o
}

fn outcome<'a>(items: &'a [PlanItem], check: &str) -> &'a CheckOutcome {
    items
        .iter()
        .find_map(|i| match i {
            PlanItem::Check { name, outcome } if name == check => Some(outcome),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no check {check} in {items:?}"))
}

fn jobs(server: &ApiServer) -> Vec<Value> {
    server.list("batch/v1", "jobs", Some("kube-system"))
}

/// Plays the Job controller: marks the first Job that appears `Complete` (or never, when
/// `complete` is false) and returns the Job as created.
fn job_controller(server: &ApiServer, complete: bool, stop: Instant) -> Option<Value> {
    while Instant::now() < stop {
        if let Some(j) = jobs(server).into_iter().next() {
            if complete {
                let mut done = j.clone();
                done["status"] =
                    json!({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1});
                server.insert(done).unwrap();
            }
            return Some(j);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn run_with_controller(env: &Env, opts: &HealthOptions, complete: bool) -> (Vec<PlanItem>, Value) {
    let stop = Instant::now() + Duration::from_secs(10);
    let server = &env.server;
    std::thread::scope(|s| {
        let ctl = s.spawn(move || job_controller(server, complete, stop));
        let items = health::check(&env.cluster, env.root.path(), opts);
        let created = ctl.join().unwrap().expect("no Job was created");
        (items, created)
    })
}

#[test]
fn healthy_cluster_passes_and_job_matches_kubeadm() {
    let env = start();
    env.server.insert(node("cp1", true, "True", false)).unwrap();
    env.server
        .insert(node("w1", false, "False", false))
        .unwrap();
    write_manifests(env.root.path(), &health::CONTROL_PLANE_COMPONENTS);
    let opts = HealthOptions::new(PAUSE, vec![]);
    let (items, job) = run_with_controller(&env, &opts, true);
    for check in ["CreateJob", "ControlPlaneNodesReady", "StaticPodManifest"] {
        assert_eq!(
            outcome(&items, check),
            &CheckOutcome::Ok,
            "{check}: {items:?}"
        );
    }
    let names: Vec<_> = items
        .iter()
        .map(|i| match i {
            PlanItem::Check { name, .. } => name.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(
        names,
        ["CreateJob", "ControlPlaneNodesReady", "StaticPodManifest"]
    );
    assert!(health::errors(&items).is_empty());

    // The Job body, field by field against spec §14.3 (kubeadm 1.36 values).
    let name = job["metadata"]["name"].as_str().unwrap();
    let ms = name.strip_prefix("upgrade-health-check-").unwrap();
    assert!(
        ms.len() >= 13 && ms.chars().all(|c| c.is_ascii_digit()),
        "{name}"
    );
    assert!(job["metadata"].get("generateName").is_none());
    assert_eq!(job["metadata"]["namespace"], "kube-system");
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 0);
    assert_eq!(spec["ttlSecondsAfterFinished"], 65);
    assert_eq!(spec["activeDeadlineSeconds"], 65);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        pod["securityContext"],
        json!({"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": true})
    );
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    );
    assert_eq!(
        pod["containers"],
        json!([{"name": "upgrade-health-check", "image": PAUSE, "args": ["-v"]}])
    );
    // kubeadm 1.36 leaves the finished Job to its TTL; it does not delete it.
    assert_eq!(jobs(&env.server).len(), 1);

    // The schedulable-Node list is kubeadm's: field selector and limit 1.
    let list = env
        .server
        .requests()
        .into_iter()
        .find(|r| {
            r.method == "GET" && r.path == "/api/v1/nodes" && r.query.contains("fieldSelector")
        })
        .expect("no Node list");
    assert!(
        list.query
            .contains("fieldSelector=spec.unschedulable%3Dfalse"),
        "{}",
        list.query
    );
    assert!(list.query.contains("limit=1"), "{}", list.query);
}

#[test]
fn job_that_never_completes_is_named() {
    let env = start();
    env.server.insert(node("cp1", true, "True", false)).unwrap();
    write_manifests(env.root.path(), &health::CONTROL_PLANE_COMPONENTS);
    let (items, job) = run_with_controller(&env, &fast(&[]), false);
    let name = job["metadata"]["name"].as_str().unwrap();
    match outcome(&items, "CreateJob") {
        CheckOutcome::Error(m) => {
            assert!(m.contains(name), "{m}");
            assert!(m.contains("did not complete"), "{m}");
            assert!(m.contains("Complete"), "{m}");
        }
        o => panic!("CreateJob: {o:?}"),
    }
    assert_eq!(health::errors(&items).len(), 1, "{items:?}");
    // The Job's deadlines follow the shortened wait (timeout + 5 s).
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 7);

    let ignored = {
        env.server
            .delete("batch/v1", "jobs", Some("kube-system"), name);
        run_with_controller(&env, &fast(&["createjob"]), false).0
    };
    assert!(
        matches!(outcome(&ignored, "CreateJob"), CheckOutcome::Ignored(m) if m.contains("did not complete")),
        "{ignored:?}"
    );
    assert!(health::errors(&ignored).is_empty());
}

#[test]
fn no_schedulable_node_skips_the_job_with_a_warning() {
    let env = start();
    env.server.insert(node("cp1", true, "True", true)).unwrap();
    write_manifests(env.root.path(), &health::CONTROL_PLANE_COMPONENTS);
    let items = health::check(&env.cluster, env.root.path(), &fast(&[]));
    match outcome(&items, "CreateJob") {
        CheckOutcome::Warning(m) => assert!(m.contains("no schedulable Nodes"), "{m}"),
        o => panic!("CreateJob: {o:?}"),
    }
    assert!(jobs(&env.server).is_empty(), "a Job was created");
    assert!(health::errors(&items).is_empty());
}

#[test]
fn not_ready_control_plane_and_missing_manifest_are_named() {
    let env = start();
    env.server.insert(node("cp1", true, "True", true)).unwrap();
    env.server.insert(node("cp2", true, "False", true)).unwrap();
    env.server
        .insert(node("cp3", true, "Unknown", true))
        .unwrap();
    // A worker that is NotReady does not matter; nor does a node without a Ready condition.
    env.server.insert(node("w1", false, "False", true)).unwrap();
    env.server
        .insert(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "cp4", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true}}))
        .unwrap();
    write_manifests(
        env.root.path(),
        &["kube-apiserver", "kube-scheduler", "etcd"],
    );
    let items = health::check(&env.cluster, env.root.path(), &fast(&[]));
    match outcome(&items, "ControlPlaneNodesReady") {
        CheckOutcome::Error(m) => {
            assert!(m.ends_with("[cp2 cp3]"), "{m}");
        }
        o => panic!("ControlPlaneNodesReady: {o:?}"),
    }
    match outcome(&items, "StaticPodManifest") {
        CheckOutcome::Error(m) => {
            assert!(
                m.ends_with("[/etc/kubernetes/manifests/kube-controller-manager.yaml]"),
                "{m}"
            )
        }
        o => panic!("StaticPodManifest: {o:?}"),
    }
    let errs = health::errors(&items);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("[ControlPlaneNodesReady]: "),
        "{errs:?}"
    );

    // Each is ignorable by name, and `all` ignores both.
    let some = health::check(&env.cluster, env.root.path(), &fast(&["StaticPodManifest"]));
    assert!(matches!(
        outcome(&some, "StaticPodManifest"),
        CheckOutcome::Ignored(_)
    ));
    assert!(matches!(
        outcome(&some, "ControlPlaneNodesReady"),
        CheckOutcome::Error(_)
    ));
    let all = health::check(&env.cluster, env.root.path(), &fast(&["all"]));
    assert!(matches!(
        outcome(&all, "StaticPodManifest"),
        CheckOutcome::Ignored(_)
    ));
    assert!(matches!(
        outcome(&all, "ControlPlaneNodesReady"),
        CheckOutcome::Ignored(_)
    ));
    assert!(health::errors(&all).is_empty());
}

#[test]
fn pause_image_follows_image_repository() {
    let mut cfg = firstboot::config::ClusterConfiguration {
        kubernetes_version: "v1.36.2".into(),
        image_repository: "registry.example:5000".into(),
        ..Default::default()
    };
    assert_eq!(
        health::pause_image(&cfg, Some(36)).unwrap(),
        "registry.example:5000/pause:3.10.2"
    );
    cfg.image_repository = "registry.k8s.io".into();
    assert_eq!(
        health::pause_image(&cfg, Some(35)).unwrap(),
        "registry.k8s.io/pause:3.10.1"
    );
    cfg.kubernetes_version = "not-a-version".into();
    let e = health::pause_image(&cfg, None).unwrap_err().to_string();
    assert!(e.contains("kubernetesVersion"), "{e}");
}

#[test]
fn transient_errors_are_retried_and_dry_run_creates_nothing() {
    let env = start();
    env.server.insert(node("cp1", true, "True", false)).unwrap();
    write_manifests(env.root.path(), &health::CONTROL_PLANE_COMPONENTS);
    env.server.fail_next("GET", "/api/v1/nodes", 503);
    env.server.fail_next("POST", "/jobs", 500);
    env.server.fail_next("POST", "/jobs", 429);
    let (items, _) = run_with_controller(&env, &fast(&[]), true);
    assert_eq!(outcome(&items, "CreateJob"), &CheckOutcome::Ok, "{items:?}");
    let posts: Vec<u16> = env
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/jobs"))
        .map(|r| r.status)
        .collect();
    assert_eq!(posts, [500, 429, 201]);

    let env = start();
    env.server.insert(node("cp1", true, "True", false)).unwrap();
    write_manifests(env.root.path(), &health::CONTROL_PLANE_COMPONENTS);
    let mut opts = fast(&[]);
    opts.dry_run = true;
    let items = health::check(&env.cluster, env.root.path(), &opts);
    assert!(matches!(&items[0], PlanItem::Note(n) if n.contains("upgrade-health-check")));
    assert_eq!(outcome(&items, "CreateJob"), &CheckOutcome::Ok);
    assert!(jobs(&env.server).is_empty());
    assert!(env.server.requests().iter().all(|r| r.method == "GET"));
}

fn coredns_deployment(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {"containers": [{"name": "coredns", "image": image}]}}}})
}

#[test]
fn installed_coredns_is_read_like_kubeadm() {
    let env = start();
    assert_eq!(coredns::installed(&env.cluster).unwrap(), None);

    let corefile = ".:53 {\n    errors\n    forward . 10.0.0.53\n}\n";
    env.server
        .insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile}}))
        .unwrap();
    // ConfigMap without a Deployment: no version (the checks warn about the empty start
    // version; a customised Corefile is kept).
    let info = coredns::installed(&env.cluster).unwrap().unwrap();
    assert_eq!(info.version, "");
    assert!(matches!(
        coredns::check_migration(Some(&info), "v1.14.2"),
        CheckOutcome::Warning(m) if m.contains("start version '' not supported")
    ));

    env.server
        .insert(coredns_deployment(
            "coredns",
            "registry.example:5000/coredns:v1.13.1",
        ))
        .unwrap();
    assert_eq!(
        coredns::installed(&env.cluster).unwrap(),
        Some(InstalledCoreDns {
            corefile: corefile.into(),
            version: "v1.13.1".into()
        })
    );

    env.server
        .insert(coredns_deployment(
            "coredns-extra",
            "registry.k8s.io/coredns/coredns:v1.12.1",
        ))
        .unwrap();
    let e = coredns::installed(&env.cluster).unwrap_err().to_string();
    assert!(
        e.contains("multiple DNS addon deployments found: [coredns coredns-extra]"),
        "{e}"
    );

    env.server.delete(
        "apps/v1",
        "deployments",
        Some("kube-system"),
        "coredns-extra",
    );
    env.server
        .insert(coredns_deployment(
            "coredns",
            "registry.example:5000/coredns",
        ))
        .unwrap();
    let e = coredns::installed(&env.cluster).unwrap_err().to_string();
    assert!(e.contains("unable to find the image tag"), "{e}");
}
