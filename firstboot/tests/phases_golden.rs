//! The etcd, control-plane and kubelet-start phases, run through the CLI with the reference
//! configuration, write exactly what kubeadm v1.36.2 wrote (fixtures), with kubeadm's modes.
//! This checks the configuration → library mapping of the phase modules.

mod runner_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use runner_support::{text, Node, BIN};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kubeadm-v1.36.2"
);

fn reference_node() -> Node {
    let cfg = std::fs::read_to_string(format!("{FIXTURES}/kubeadm-config.yaml")).unwrap();
    // The reference auto-detected 192.0.2.2; here it is given explicitly.
    let cfg = cfg.replacen(
        "nodeRegistration:",
        "localAPIEndpoint:\n  advertiseAddress: 192.0.2.2\nnodeRegistration:",
        1,
    );
    assert!(cfg.contains("advertiseAddress: 192.0.2.2"));
    let node = Node::with_config(&cfg);
    // The reference host had these optional CA directories.
    for d in [
        "etc/ca-certificates",
        "usr/share/ca-certificates",
        "usr/local/share/ca-certificates",
    ] {
        std::fs::create_dir_all(node.root().join(d)).unwrap();
    }
    node
}

fn run_clean_env(node: &Node, args: &[&str]) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--root").arg(node.root()).args(args).env_clear();
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn static_pods_and_kubelet_files_match_kubeadm() {
    let node = reference_node();
    run_clean_env(&node, &["init", "phase", "etcd", "local"]);
    run_clean_env(&node, &["init", "phase", "control-plane", "all"]);
    run_clean_env(&node, &["init", "phase", "kubelet-start"]);
    for m in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let got = node.path(&format!("/etc/kubernetes/manifests/{m}.yaml"));
        let want = std::fs::read_to_string(format!("{FIXTURES}/etc-kubernetes/manifests/{m}.yaml"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&got).unwrap(), want, "{m}.yaml");
        assert_eq!(mode(&got), 0o600, "{m}.yaml");
    }
    assert_eq!(mode(&node.path("/etc/kubernetes/manifests")), 0o700);
    assert_eq!(mode(&node.path("/var/lib/etcd")), 0o700);
    for f in ["config.yaml", "instance-config.yaml"] {
        let got = node.path(&format!("/var/lib/kubelet/{f}"));
        let want = std::fs::read_to_string(format!("{FIXTURES}/kubelet/{f}")).unwrap();
        assert_eq!(std::fs::read_to_string(&got).unwrap(), want, "{f}");
        assert_eq!(mode(&got), 0o644);
    }
    assert_eq!(mode(&node.path("/var/lib/kubelet")), 0o700);
    // kubeadm-flags.env carries --hostname-override only when this machine's hostname is not
    // the node name of the reference ("vm").
    let flags = std::fs::read_to_string(node.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_lowercase();
    if hostname == "vm" {
        let want =
            std::fs::read_to_string(format!("{FIXTURES}/kubelet/kubeadm-flags.env")).unwrap();
        assert_eq!(flags, want);
    } else {
        assert_eq!(flags, "KUBELET_KUBEADM_ARGS=\"--hostname-override=vm\"\n");
    }
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn certs_and_kubeconfigs_from_the_reference_config() {
    let node = reference_node();
    run_clean_env(&node, &["init", "phase", "certs"]);
    run_clean_env(&node, &["init", "phase", "kubeconfig"]);
    let pki = node.path("/etc/kubernetes/pki");
    let san = |f: &str| {
        tool(
            "openssl",
            &[
                "x509",
                "-in",
                pki.join(f).to_str().unwrap(),
                "-noout",
                "-ext",
                "subjectAltName",
            ],
        )
    };
    // SAN lists as in the reference's `openssl x509 -text` output (pki-x509-text.txt).
    assert!(san("apiserver.crt").ends_with(
        "DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:vm, IP Address:10.96.0.1, IP Address:192.0.2.2, IP Address:127.0.0.1"
    ));
    assert!(san("etcd/server.crt").ends_with(
        "DNS:localhost, DNS:vm, IP Address:192.0.2.2, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    ));
    for (f, mode_want) in [("ca.key", 0o600), ("ca.crt", 0o644), ("sa.pub", 0o600)] {
        assert_eq!(mode(&pki.join(f)), mode_want, "{f}");
    }
    // Real kubectl reads the kubeconfigs: admin.conf → control-plane endpoint, kubelet.conf →
    // local endpoint.
    for (f, server, user) in [
        ("admin.conf", "https://127.0.0.1:6443", "kubernetes-admin"),
        ("kubelet.conf", "https://192.0.2.2:6443", "system:node:vm"),
        (
            "scheduler.conf",
            "https://192.0.2.2:6443",
            "system:kube-scheduler",
        ),
    ] {
        let p = node.path(&format!("/etc/kubernetes/{f}"));
        assert_eq!(mode(&p), 0o600, "{f}");
        let kc = p.to_str().unwrap();
        assert_eq!(
            tool(
                "kubectl",
                &[
                    "config",
                    "view",
                    "--kubeconfig",
                    kc,
                    "-o",
                    "jsonpath={.clusters[0].cluster.server}"
                ]
            ),
            server
        );
        assert_eq!(
            tool(
                "kubectl",
                &[
                    "config",
                    "view",
                    "--kubeconfig",
                    kc,
                    "-o",
                    "jsonpath={.users[0].name}"
                ]
            ),
            user
        );
    }
}
