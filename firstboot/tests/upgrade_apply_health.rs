//! Pre-upgrade health checks (spec §14.3) refuse an unhealthy cluster before anything changes:
//! a NotReady control-plane Node, a missing static pod manifest, a health check Job that does not
//! complete (the test plays the Job controller with `testkit::kubelet::JobCompleter`).

mod upgrade_support;

use std::time::Duration;

use firstboot::kube::NoServices;
use firstboot::upgrade::apply::ApplyError;
use firstboot::upgrade::journal::UPGRADE_JOURNAL;
use upgrade_support::{Cluster, NODE, TO};

fn refused(c: &Cluster) -> Vec<(String, String)> {
    let services = NoServices::default();
    match c.apply_target(Duration::from_secs(20), &services) {
        Err(ApplyError::Unhealthy(f)) => {
            assert!(!c.path(UPGRADE_JOURNAL).exists(), "nothing is recorded");
            assert!(
                !c.path(&format!("/opt/kubebake/versions/{TO}")).exists(),
                "nothing is staged"
            );
            f.into_iter()
                .map(|f| (f.check.to_string(), f.message))
                .collect()
        }
        other => panic!("expected a health refusal, got {other:?}"),
    }
}

#[test]
fn unhealthy_clusters_are_refused_before_any_change() {
    let c = Cluster::start();
    let node = |ready: &str| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "nodeInfo": {"kubeletVersion": "v1.35.2"}}
        })
    };

    c.server.insert(node("False")).unwrap();
    let f = refused(&c);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "ControlPlaneNodesReady");
    assert!(f[0].1.contains(NODE), "{f:?}");
    c.server.insert(node("True")).unwrap();

    let sched = c.path("/etc/kubernetes/manifests/kube-scheduler.yaml");
    let aside = c.path("/etc/kubernetes/kube-scheduler.yaml.aside");
    std::fs::rename(&sched, &aside).unwrap();
    let f = refused(&c);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "StaticPodManifest");
    assert!(f[0].1.contains("kube-scheduler.yaml"), "{f:?}");
    std::fs::rename(&aside, &sched).unwrap();
    c.wait_mirror_current("kube-scheduler");

    c.jobs.set_enabled(false);
    let f = refused(&c);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "CreateJob");
    assert!(f[0].1.contains("did not complete"), "{f:?}");
    // The Job has kubeadm's shape.
    let jobs = c.server.list("batch/v1", "jobs", Some("kube-system"));
    let job = jobs
        .iter()
        .find(|j| {
            j["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("upgrade-health-check-")
        })
        .unwrap();
    assert_eq!(job["spec"]["backoffLimit"], 0);
    // The Job outlives the wait: the wait (3 s in this test, kubeadm's 60 s by default) + 5 s.
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 8);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsUser"], 999);
    assert_eq!(
        pod["tolerations"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.k8s.io/pause:3.10.2"
    );
    assert_eq!(pod["containers"][0]["args"][0], "-v");

    // Healthy again: the upgrade goes through.
    c.jobs.set_enabled(true);
    let services = NoServices::default();
    c.apply_target(Duration::from_secs(20), &services).unwrap();
}
