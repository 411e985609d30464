//! `firstboot upgrade node` on a worker, through the binary: no static pods, the kubelet's own
//! credentials (kubelet.conf, `system:node:<name>` in `system:nodes`) to read the cluster's
//! stored configuration, then the kubelet config from the cluster, the version links and a
//! kubelet restart — refused until `upgrade apply` moved the cluster to the target.

mod upgrade_support;

use std::path::Path;
use std::process::Output;

use testkit::kubelet::{ClusterSigner, Credentials};
use upgrade_support::{bundle, Cluster, BIN, FROM, TO};

const WORKER: &str = "w1";

/// A worker node root next to the control plane `c`: the `FROM` bundle staged and active, the
/// kubelet files a join left, and a kubelet.conf with a node client certificate.
fn worker_root(c: &Cluster) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    bake::stage::stage(
        &bundle(FROM),
        &bake::stage::StageOptions {
            root: w.to_path_buf(),
            ..Default::default()
        },
        &offline::progress::Silent,
    )
    .unwrap();
    for f in [
        "/var/lib/kubelet/config.yaml",
        "/var/lib/kubelet/kubeadm-flags.env",
    ] {
        let to = offline::fsutil::under_root(w, f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(c.path(f), &to).unwrap();
    }
    let pki = c.path("/etc/kubernetes/pki");
    let signer = ClusterSigner::from_pki_dir(&pki).unwrap();
    let (cert, key) = signer
        .client_cert(&format!("system:node:{WORKER}"), "system:nodes")
        .unwrap();
    let creds = Credentials {
        server: c.server.url(),
        ca_pem: std::fs::read(pki.join("ca.crt")).unwrap(),
        token: None,
        client_cert: Some((cert.into_bytes(), key.into_bytes())),
    };
    let conf = offline::fsutil::under_root(w, "/etc/kubernetes/kubelet.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, creds.to_kubeconfig_yaml()).unwrap();
    let cfg = offline::fsutil::under_root(w, "/etc/kubebake/firstboot.yaml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n\
             discovery:\n  bootstrapToken:\n    apiServerEndpoint: {}\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n\
             nodeRegistration:\n  name: {WORKER}\n  criSocket: unix:///var/run/containerd/containerd.sock\n",
            c.server.url().trim_start_matches("https://")
        ),
    )
    .unwrap();
    dir
}

fn upgrade_node(w: &Path) -> Output {
    std::process::Command::new(BIN)
        .args(["upgrade", "node", "--root"])
        .arg(w)
        .arg("--bundle")
        .arg(bundle(TO))
        .output()
        .unwrap()
}

#[test]
fn worker_upgrade_node_uses_the_kubelet_credentials_and_touches_no_static_pod() {
    let c = Cluster::start();
    let dir = worker_root(&c);
    let w = dir.path();

    // Before `upgrade apply`: refused, nothing staged.
    let out = upgrade_node(w);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("the cluster is at {FROM}")), "{err}");
    assert!(!offline::fsutil::under_root(w, &format!("/opt/kubebake/versions/{TO}")).exists());

    // What `upgrade apply` on the first control-plane node leaves in the cluster: the new
    // version, and a cluster-wide kubelet setting the worker must pick up.
    c.set_cluster_version(TO);
    c.append_to_kubelet_config("maxPods: 99");

    let seen = c.server.requests().len();
    let out = upgrade_node(w);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout:\n{so}\nstderr:\n{se}");

    // Every request came with the worker's node identity, never an admin one, and read the
    // cluster's stored configuration.
    let requests = c.server.requests();
    let mine = &requests[seen..];
    assert!(
        mine.iter()
            .all(|r| r.user == format!("system:node:{WORKER}") && r.status == 200),
        "{mine:?}"
    );
    for cm in ["kubeadm-config", "kubelet-config"] {
        assert!(
            mine.iter()
                .any(|r| r.path.ends_with(&format!("/configmaps/{cm}"))),
            "{cm} not read: {mine:?}"
        );
    }
    let journal: serde_json::Value = serde_json::from_slice(
        &std::fs::read(offline::fsutil::under_root(
            w,
            "/var/lib/kubebake/firstboot/upgrade.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let steps: Vec<(&str, &str)> = journal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("prepare", "done"),
            ("backup", "done"),
            ("kubelet-config", "done"),
            ("activate", "done"),
            ("kubelet-restart", "done")
        ],
        "{journal:#}"
    );
    let kubelet = std::fs::read_to_string(offline::fsutil::under_root(
        w,
        "/var/lib/kubelet/config.yaml",
    ))
    .unwrap();
    assert!(kubelet.contains("maxPods: 99"), "{kubelet}");
    let link =
        std::fs::read_link(offline::fsutil::under_root(w, "/usr/local/bin/kubelet")).unwrap();
    assert!(link.to_string_lossy().contains(TO), "{}", link.display());
    assert!(
        !offline::fsutil::under_root(w, "/etc/kubernetes/manifests").exists(),
        "a worker gets no static pods"
    );
}
