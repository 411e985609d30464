//! `firstboot upgrade apply` / `rollback` through the binary: refusals (older bundle, version
//! skew, bad signature) exit 2 with the reason and leave the node and the cluster untouched;
//! `--dry-run` lists every step and changes nothing; a real apply succeeds and
//! `rollback --dry-run` lists the restore.

mod upgrade_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use firstboot::upgrade::journal::UPGRADE_JOURNAL;
use upgrade_support::{bundle, Cluster, FROM, TO};

/// Every file and link under the root (content hash / link target).
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            // etcd's live data, and the run lock (it records its last holder's pid).
            if rel.starts_with("var/lib/etcd") || rel == "var/lib/kubebake/firstboot/lock" {
                continue;
            }
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                out.insert(rel, std::fs::read_link(&p).unwrap().display().to_string());
            } else if md.is_dir() {
                out.insert(rel.clone(), "dir".into());
                walk(root, &p, out);
            } else {
                out.insert(rel, firstboot::fsutil::sha256_file(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn kubeadm_config_version(c: &Cluster) -> String {
    let cm = c
        .server
        .get("v1", "configmaps", Some("kube-system"), "kubeadm-config")
        .unwrap();
    let cc: serde_yaml::Value =
        serde_yaml::from_str(cm["data"]["ClusterConfiguration"].as_str().unwrap()).unwrap();
    cc["kubernetesVersion"].as_str().unwrap().to_string()
}

#[test]
fn refusals_and_dry_run_change_nothing() {
    let c = Cluster::start();
    let url = c.etcd_url();
    let before = tree(c.root());
    let apply = |version: &str, bundle: &Path, extra: &[&str]| {
        let b = bundle.display().to_string();
        let mut args = vec![
            "upgrade",
            "apply",
            version,
            "--bundle",
            &b,
            "--etcd-endpoint",
            &url,
        ];
        args.extend_from_slice(extra);
        c.firstboot(&args)
    };

    // An older bundle: no silent downgrade.
    let older = bundle("v1.35.1");
    let o = apply("v1.35.1", &older, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("v1.35.1, older than the running {FROM}")),
        "{}",
        text(&o)
    );

    // Two minors ahead of the running version.
    let skew = bundle("v1.37.0");
    let o = apply("v1.37.0", &skew, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("more than one minor version ahead"),
        "{}",
        text(&o)
    );

    // The version asked for is not the bundle's.
    let o = apply("v1.36.3", &bundle(TO), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&format!(
        "carries Kubernetes {TO}, not the requested v1.36.3"
    )));

    // A signature made with another key.
    let keys = tempfile::tempdir().unwrap();
    let (_, signer) = testkit::minisign_keypair(keys.path(), "signer");
    let (trusted, _) = testkit::minisign_keypair(keys.path(), "trusted");
    let signed = keys.path().join("k8s.bundle");
    std::fs::copy(bundle(TO), &signed).unwrap();
    offline::bundle::sign(
        &signed,
        &offline::bundle::SignOptions {
            secret_key: signer,
            password: None,
            out: None,
            trusted_comment: None,
        },
    )
    .unwrap();
    let key = trusted.display().to_string();
    let o = apply(TO, &signed, &["--public-key", &key]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).to_lowercase().contains("signature"),
        "{}",
        text(&o)
    );

    // Dry run: every step is listed, nothing changes.
    let o = apply(TO, &bundle(TO), &["--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    for step in [
        "[prepare]",
        "[backup]",
        "[control-plane/etcd]",
        "[control-plane/kube-apiserver]",
        "[control-plane/kube-controller-manager]",
        "[control-plane/kube-scheduler]",
        "[certs/admin-kubeconfigs]",
        "[upload-config]",
        "[kubeconfig]",
        "[kubelet-config]",
        "[bootstrap-token]",
        "[addon]",
        "[activate]",
        "[kubelet-restart]",
    ] {
        assert!(out.contains(step), "{step} missing from:\n{out}");
    }
    assert!(out.contains("etcd snapshot to /etc/kubernetes/tmp/kubeadm-backup-etcd-"));

    assert_eq!(tree(c.root()), before, "the node root changed");
    assert!(!c.path(UPGRADE_JOURNAL).exists());
    assert_eq!(kubeadm_config_version(&c), FROM);
}

#[test]
fn cli_apply_succeeds_and_rollback_dry_run_lists_the_restore() {
    let c = Cluster::start();
    let url = c.etcd_url();
    let b = bundle(TO).display().to_string();
    let o = c.firstboot(&[
        "upgrade",
        "apply",
        TO,
        "--bundle",
        &b,
        "--etcd-endpoint",
        &url,
        "--timeout",
        "20s",
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["state"], "succeeded");
    assert_eq!(kubeadm_config_version(&c), TO);

    let before = tree(c.root());
    let o = c.firstboot(&["upgrade", "rollback", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("restore /etc/kubernetes/manifests/kube-apiserver.yaml"),
        "{out}"
    );
    assert!(out.contains("stop etcd"), "{out}");
    assert!(
        out.contains(&format!(
            "link /usr/local/bin/kubeadm -> /opt/kubebake/versions/{FROM}/bin/kubeadm"
        )),
        "{out}"
    );
    assert!(out.contains("restart kubelet"), "{out}");
    assert_eq!(
        tree(c.root()),
        before,
        "rollback --dry-run changed the node"
    );
}
