//! `bake check`: every forbidden item is found in a prepared root and `--fix` clears what it
//! should, never the staged artifacts.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn put(root: &Path, p: &str, content: &str) {
    let f = root.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, content).unwrap();
}

fn check_json(root: &Path, fix: bool) -> (i32, Value) {
    let mut args = vec!["check", "--root", root.to_str().unwrap(), "-o", "json"];
    if fix {
        args.push("--fix");
    }
    let o = bake(&args);
    (
        o.status.code().unwrap(),
        serde_json::from_str(&stdout(&o)).unwrap(),
    )
}

#[test]
fn finds_and_fixes_node_state() {
    let dir = tempfile::tempdir().unwrap();
    let b = versioned_bundle(dir.path(), "v1.36.2", None);
    let root = dir.path().join("rootfs");
    assert!(bake(&[
        "stage",
        b.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "-q"
    ])
    .status
    .success());
    let items = [
        ("/etc/kubebake/firstboot.yaml", "kind: JoinConfiguration\n"),
        (
            "/etc/kubebake/extra.yaml",
            "discovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n",
        ),
        (
            "/etc/kubernetes/kubeadm.yaml",
            &format!("certificateKey: \"{}\"\n", "e".repeat(64)),
        ),
        (
            "/etc/kubernetes/pki/ca.key",
            "-----BEGIN RSA PRIVATE KEY-----\n",
        ),
        (
            "/etc/kubernetes/admin.conf",
            "apiVersion: v1\nkind: Config\n",
        ),
        ("/etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
        ("/etc/ssh/ssh_host_ed25519_key", "key\n"),
        ("/var/lib/cloud/instances/i-1/boot-finished", "done\n"),
        ("/var/log/cloud-init.log", "log\n"),
        ("/var/lib/kubebake/firstboot/status.json", "{}\n"),
    ];
    for (p, c) in items {
        put(&root, p, c);
    }
    // a staged artifact changed after staging
    let kubectl = root.join("opt/kubebake/versions/v1.36.2/bin/kubectl");
    std::fs::write(&kubectl, "#!/bin/sh\necho tampered\n").unwrap();

    let (code, v) = check_json(&root, false);
    assert_eq!(code, 1);
    let findings = v["findings"].as_array().unwrap();
    let has = |path: &str, kind: &str| {
        findings
            .iter()
            .any(|f| f["path"] == path && f["kind"] == kind)
    };
    assert!(
        has("/etc/kubebake/firstboot.yaml", "firstboot-state"),
        "{v}"
    );
    assert!(has("/etc/kubebake/extra.yaml", "secret"), "{v}");
    assert!(has("/etc/kubernetes/kubeadm.yaml", "secret"), "{v}");
    assert!(has("/etc/kubernetes/pki/ca.key", "kubernetes-state"), "{v}");
    assert!(has("/etc/kubernetes/admin.conf", "kubernetes-state"), "{v}");
    assert!(has("/etc/machine-id", "machine-id"), "{v}");
    assert!(has("/etc/ssh/ssh_host_ed25519_key", "ssh-host-key"), "{v}");
    assert!(has("/var/lib/cloud/instances", "cloud-init"), "{v}");
    assert!(has("/var/log/cloud-init.log", "cloud-init"), "{v}");
    assert!(
        has("/var/lib/kubebake/firstboot/status.json", "firstboot-state"),
        "{v}"
    );
    assert!(
        has(
            "/opt/kubebake/versions/v1.36.2/bin/kubectl",
            "staged-mismatch"
        ),
        "{v}"
    );
    // secrets never appear in the report
    assert!(
        !v.to_string().contains("0123456789abcdef0123"),
        "secret leaked"
    );

    let (code, v) = check_json(&root, true);
    assert_eq!(code, 1, "the staged mismatch cannot be fixed");
    let remaining = v["remaining"].as_array().unwrap();
    assert_eq!(remaining.len(), 1, "{v}");
    assert_eq!(
        remaining[0]["path"],
        "/opt/kubebake/versions/v1.36.2/bin/kubectl"
    );
    assert!(kubectl.exists(), "--fix never removes staged artifacts");
    assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"");
    for (p, _) in items.iter().filter(|(p, _)| *p != "/etc/machine-id") {
        assert!(
            !root.join(p.trim_start_matches('/')).exists(),
            "{p} still there"
        );
    }
    assert!(root
        .join("opt/kubebake/versions/v1.36.2/bin/kubeadm")
        .exists());
    // restaging repairs the artifact; then the root is clean
    assert!(bake(&[
        "stage",
        b.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "-q"
    ])
    .status
    .success());
    let (code, v) = check_json(&root, false);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["clean"], true);
}
