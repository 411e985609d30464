//! `upgrade node` on a control-plane node: refused until the cluster's kubeadm-config carries
//! the target (the first control-plane node runs `upgrade apply`), then it upgrades this node's
//! static pods, version links and kubelet — and none of the cluster-wide steps.

mod upgrade_support;

use std::time::Duration;

use firstboot::kube::NoServices;
use firstboot::upgrade::apply::ApplyError;
use firstboot::upgrade::journal::UpgradeState;
use upgrade_support::{image_tag, Cluster, FROM, TO};

#[test]
fn node_upgrade_follows_the_cluster_version() {
    let c = Cluster::start();
    let services = NoServices::default();
    let err = c
        .node_target(Duration::from_secs(20), &services)
        .unwrap_err();
    match err {
        ApplyError::BadInput(m) => {
            assert!(m.contains(&format!("the cluster is at {FROM}")), "{m}");
            assert!(m.contains(&format!("upgrade apply {TO}")), "{m}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(image_tag(&c.manifest("kube-apiserver")), FROM);

    // What `upgrade apply` on the first control-plane node leaves in the cluster.
    c.set_cluster_version(TO);

    let j = c.node_target(Duration::from_secs(20), &services).unwrap();
    assert_eq!(j.state, UpgradeState::Succeeded);
    let names: Vec<&str> = j.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "prepare",
            "backup",
            "control-plane/etcd",
            "control-plane/kube-apiserver",
            "control-plane/kube-controller-manager",
            "control-plane/kube-scheduler",
            "certs/admin-kubeconfigs",
            "kubeconfig",
            "kubelet-config",
            "activate",
            "kubelet-restart"
        ]
    );
    for n in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        assert_eq!(image_tag(&c.manifest(n)), TO, "{n}");
    }
    assert_eq!(
        std::fs::read_link(c.path("/usr/local/bin/kubelet"))
            .unwrap()
            .display()
            .to_string(),
        format!("/opt/kubebake/versions/{TO}/bin/kubelet")
    );
    assert_eq!(services.calls(), ["restart kubelet"]);
    // No cluster-wide health check Job: that is `upgrade apply`'s.
    assert!(c
        .server
        .list("batch/v1", "jobs", Some("kube-system"))
        .is_empty());
}
