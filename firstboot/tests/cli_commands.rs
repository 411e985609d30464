//! The command line: every command has `--help` with an example; `status` as table and JSON;
//! `config print|validate`; `certs` subcommands over the PKI library.

mod runner_support;

use runner_support::{text, Node, BIN};

#[test]
fn every_command_has_help_with_an_example() {
    let commands: &[&[&str]] = &[
        &[],
        &["run"],
        &["init"],
        &["init", "phase"],
        &["join"],
        &["status"],
        &["certs"],
        &["certs", "check-expiration"],
        &["certs", "renew"],
        &["certs", "generate-csr"],
        &["config"],
        &["config", "print"],
        &["config", "validate"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {t}");
        assert!(t.contains("Example"), "{args:?} has no example:\n{t}");
        assert!(t.contains("firstboot "), "{args:?}: {t}");
    }
}

#[test]
fn status_table_and_json() {
    let node = Node::new();
    let out = node.run(&["status"]);
    assert_eq!(out.status.code(), Some(1), "no journal yet: {}", text(&out));
    assert!(text(&out).contains("no status journal"));

    node.run_ok(&["init", "--skip-phases", "kubelet-start"]);
    let table = node.run_ok(&["status"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("mode: init") && lines[0].contains("result: succeeded"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("PHASE") && lines[1].contains("ATTEMPTS"),
        "{table}"
    );
    let certs = lines.iter().find(|l| l.starts_with("certs ")).unwrap();
    let cols: Vec<&str> = certs.split_whitespace().collect();
    assert_eq!(&cols[..3], ["certs", "done", "1"], "{table}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("kubelet-start") && l.contains("skipped")),
        "{table}"
    );
    assert!(table.contains("success sentinel:"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&node.run_ok(&["status", "-o", "json"])).unwrap();
    assert_eq!(json, node.journal());
    assert_eq!(json["phases"][1]["state"], "done");
    assert_eq!(json["phases"][5]["state"], "skipped");
}

#[test]
fn status_shows_failures() {
    let node = Node::new();
    std::fs::create_dir_all(node.path("/etc/kubernetes/manifests")).unwrap();
    // A directory where the etcd data dir's manifest should go makes the etcd phase fail.
    std::fs::create_dir_all(node.path("/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let out = node.run(&["init"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let table = node.run_ok(&["status"]);
    let etcd = table.lines().find(|l| l.starts_with("etcd ")).unwrap();
    assert!(
        etcd.contains("failed") && etcd.contains("etcd.yaml"),
        "{table}"
    );
    assert!(table.contains("failure marker:"), "{table}");
}

#[test]
fn config_print_and_validate() {
    let node = Node::new();
    let printed = node.run_ok(&["config", "print"]);
    assert!(printed.contains("kind: InitConfiguration"));
    assert!(printed.contains("advertiseAddress: 192.0.2.2"));
    assert!(printed.contains("controlPlaneEndpoint: 127.0.0.1:6443"));
    assert!(printed.contains("kind: FirstbootConfiguration"));
    let v = node.run_ok(&["config", "validate"]);
    assert!(v.contains("valid init configuration"), "{v}");
    let bad = Node::with_config(&format!(
        "{}networking:\n  podSubnet: 300.0.0.0/8\n",
        runner_support::CONFIG
    ));
    let out = bad.run(&["config", "validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("networking.podSubnet"),
        "{}",
        text(&out)
    );
}

#[test]
fn certs_check_expiration_renew_and_generate_csr() {
    let node = Node::new();
    node.run_ok(&["init", "--skip-phases", "preflight"]);
    let table = node.run_ok(&["certs", "check-expiration"]);
    assert!(
        table.contains("CERTIFICATE")
            && table.contains("apiserver")
            && table.contains("admin.conf"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&node.run_ok(&["certs", "check-expiration", "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "CertificateExpirationInfo");
    assert!(json["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "apiserver"));

    let before = std::fs::read(node.path("/etc/kubernetes/pki/apiserver.crt")).unwrap();
    let ca = std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).unwrap();
    let out = node.run_ok(&["certs", "renew", "apiserver"]);
    assert!(out.contains("apiserver"), "{out}");
    assert_ne!(
        std::fs::read(node.path("/etc/kubernetes/pki/apiserver.crt")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).unwrap(),
        ca
    );
    let out = node.run(&["certs", "renew", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let ext = Node::new();
    let out = ext.run_ok(&["certs", "generate-csr"]);
    assert!(out.contains("apiserver.csr"), "{out}");
    assert!(ext.path("/etc/kubernetes/pki/apiserver.key").exists());
}

/// kubeadm 1.36's `certs renew` has no `--csr-only`/`--csr-dir` (removed in favour of
/// `certs generate-csr`); with an external CA (no `ca.key`) it reports the certificates that CA
/// signs as "can't be renewed" and leaves them alone.
#[test]
fn certs_renew_with_external_ca_and_without_csr_only() {
    let node = Node::new();
    node.run_ok(&["init", "--skip-phases", "preflight"]);
    let out = node.run(&["certs", "renew", "all", "--csr-only"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--csr-only"), "{}", text(&out));

    std::fs::remove_file(node.path("/etc/kubernetes/pki/ca.key")).unwrap();
    let files = [
        "/etc/kubernetes/pki/apiserver.crt",
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/scheduler.conf",
    ];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(node.path(f)).unwrap())
        .collect();
    let fp_before = std::fs::read(node.path("/etc/kubernetes/pki/front-proxy-client.crt")).unwrap();
    let out = node.run_ok(&["certs", "renew", "all"]);
    for name in [
        "apiserver",
        "apiserver-kubelet-client",
        "admin.conf",
        "scheduler.conf",
    ] {
        assert!(
            out.contains(&format!("Detected external ca, {name} can't be renewed")),
            "{name}:\n{out}"
        );
    }
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&std::fs::read(node.path(f)).unwrap(), b, "{f} changed");
    }
    // Certificates of the CAs that still have their keys are renewed.
    assert!(out.contains("front-proxy-client renewed"), "{out}");
    assert_ne!(
        std::fs::read(node.path("/etc/kubernetes/pki/front-proxy-client.crt")).unwrap(),
        fp_before
    );
    let out = node.run_ok(&["certs", "renew", "admin.conf"]);
    assert!(
        out.contains("Detected external ca, admin.conf can't be renewed"),
        "{out}"
    );
}

#[test]
fn no_config_uses_machine_defaults() {
    // No /etc/kubebake/firstboot.yaml: kubeadm's defaults for this machine. The advertise
    // address comes from <root>/proc/net/route; without a default route the error names the field.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--root", root, "config", "print"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("<defaults>")
            && t.contains("localAPIEndpoint.advertiseAddress")
            && t.contains("proc/net/route"),
        "{t}"
    );

    // With the host's routing table the defaults resolve (when this machine has a default route
    // on an interface with a global address; otherwise the same clear error).
    std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
    std::fs::copy("/proc/net/route", dir.path().join("proc/net/route")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--root", root, "config", "print"])
        .output()
        .unwrap();
    let t = text(&out);
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_lowercase();
    if out.status.code() == Some(0) {
        assert!(t.contains(&format!("name: {hostname}\n")), "{t}");
        assert!(t.contains("kubernetesVersion: v1.36.2"), "{t}");
        assert!(
            t.contains("criSocket: unix:///var/run/containerd/containerd.sock"),
            "{t}"
        );
    } else {
        assert!(t.contains("localAPIEndpoint.advertiseAddress"), "{t}");
    }
}
