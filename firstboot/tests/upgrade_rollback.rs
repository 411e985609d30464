//! `upgrade rollback` against a real etcd (Debian `etcd-server`, restore with `etcdctl` from
//! `etcd-client`): after an upgrade, data written before it is back, data written after the
//! snapshot (the simulated failed upgrade) is gone, and the manifests, kubelet config, staged
//! record and version links are those from before. The stand-in kubelet stops and starts the real
//! etcd when its manifest leaves and returns, as a kubelet would.

mod upgrade_support;

use std::time::Duration;

use firstboot::kube::NoServices;
use firstboot::upgrade::journal::{UpgradeJournal, UpgradeState};
use firstboot::upgrade::rollback::{self, Step};
use upgrade_support::{image_tag, Cluster, FROM, TO};

#[test]
fn rollback_restores_etcd_data_manifests_and_links() {
    testkit::require_tool("etcdctl", "etcd-client");
    let c = Cluster::start();
    let names = [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ];
    let before: Vec<String> = names.iter().map(|n| c.manifest(n)).collect();
    let kubelet_config_before = std::fs::read(c.path("/var/lib/kubelet/config.yaml")).ok();
    let staged_before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.path("/usr/share/kubebake/staged.json")).unwrap())
            .unwrap();
    let etcd = c.etcd_client();
    etcd.put(b"/registry/before", b"kept").unwrap();

    let services = NoServices::default();
    c.apply_target(Duration::from_secs(20), &services).unwrap();
    assert_eq!(image_tag(&c.manifest("kube-apiserver")), TO);
    // What the upgraded (and, say, broken) cluster writes after the snapshot.
    etcd.put(b"/registry/after", b"lost").unwrap();
    etcd.put(b"/registry/before", b"overwritten").unwrap();

    // The kubelet stand-in stops etcd when its manifest goes and starts it when it is back.
    let shared = c.etcd.clone();
    c.kubelet.on_change(move |pod, manifest| {
        if pod == "etcd" {
            let mut e = shared.lock().unwrap();
            match manifest {
                None => e.stop(),
                Some(_) if !e.is_running() => e.restart(),
                Some(_) => {}
            }
        }
    });

    let mut journal = UpgradeJournal::read(c.root()).unwrap().unwrap();
    let steps = rollback::plan(c.root(), &journal, true).unwrap();
    assert!(matches!(steps[0], Step::RestoreEtcd { .. }), "{steps:?}");
    assert_eq!(steps.last(), Some(&Step::RestartKubelet));
    let o = rollback::Options {
        root: c.root(),
        restore_tool: Some(rollback::find_restore_tool(None).unwrap()),
        etcd_endpoint: c.etcd_url(),
        stop_timeout: Duration::from_secs(20),
        services: &services,
    };
    rollback::run(&o, &mut journal, &steps).unwrap();
    assert_eq!(journal.state, UpgradeState::RolledBack);

    // etcd runs on the restored data (the kubelet stand-in restarts it when it sees the
    // manifest back, on its next poll).
    testkit::wait_until(
        "the kubelet stand-in restarts etcd",
        Duration::from_secs(30),
        || c.etcd.lock().unwrap().is_running(),
    );
    c.etcd.lock().unwrap().wait_healthy(Duration::from_secs(30));
    let etcd = c.etcd_client();
    assert_eq!(
        etcd.get(b"/registry/before").unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(etcd.get(b"/registry/after").unwrap(), None);
    // The data from before the rollback is kept aside.
    let kept = c.etcd_data_kept_aside();
    assert_eq!(kept.len(), 1, "{kept:?}");

    // Node files and links are those from before the upgrade.
    for (n, b) in names.iter().zip(&before) {
        assert_eq!(&c.manifest(n), b, "{n}");
    }
    assert_eq!(
        std::fs::read(c.path("/var/lib/kubelet/config.yaml")).ok(),
        kubelet_config_before
    );
    // The staged record is the one from before the switch: the target stays staged (its files
    // are still on disk) but the active version and its links are the old ones.
    let staged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.path("/usr/share/kubebake/staged.json")).unwrap())
            .unwrap();
    assert_eq!(staged["activeVersion"], FROM);
    assert_eq!(staged["links"], staged_before["links"]);
    assert_eq!(
        std::fs::read_link(c.path("/usr/local/bin/kubeadm"))
            .unwrap()
            .display()
            .to_string(),
        format!("/opt/kubebake/versions/{FROM}/bin/kubeadm")
    );
    assert_eq!(
        services.calls().last().map(String::as_str),
        Some("restart kubelet")
    );
    for n in names {
        c.wait_mirror_current(n);
    }
}
