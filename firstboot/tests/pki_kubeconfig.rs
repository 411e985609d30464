//! kubeconfig files read by the real `kubectl` (`config view --raw`, `config get-contexts`),
//! the client-go-like serialization and the token-auth `bootstrap-kubelet.conf` builder.

mod pki_support;

use std::path::Path;

use firstboot::kubeconfig::{self, Kubeconfig};
use firstboot::pki::{self, EncryptionAlgorithm};
use pki_support::*;

fn kview(path: &Path) -> serde_yaml::Value {
    let out = kubectl(&[
        "config",
        "view",
        "--raw",
        "-o",
        "yaml",
        "--kubeconfig",
        path.to_str().unwrap(),
    ]);
    serde_yaml::from_str(&out).unwrap()
}

#[test]
fn kubectl_reads_generated_kubeconfigs() {
    let root = tempfile::tempdir().unwrap();
    pki::plan(&reference_params(
        &root.path().join("pki"),
        EncryptionAlgorithm::EcdsaP256,
    ))
    .unwrap()
    .apply()
    .unwrap();
    let mut k = reference_kubeconfig_params(root.path(), EncryptionAlgorithm::EcdsaP256);
    k.cluster_name = "prod-1".into();
    kubeconfig::plan(&k).unwrap().apply().unwrap();
    for (file, user, server) in [
        ("admin.conf", "kubernetes-admin", "https://127.0.0.1:6443"),
        (
            "super-admin.conf",
            "kubernetes-super-admin",
            "https://127.0.0.1:6443",
        ),
        ("kubelet.conf", "system:node:vm", "https://192.0.2.2:6443"),
        (
            "controller-manager.conf",
            "system:kube-controller-manager",
            "https://192.0.2.2:6443",
        ),
        (
            "scheduler.conf",
            "system:kube-scheduler",
            "https://192.0.2.2:6443",
        ),
    ] {
        let path = root.path().join(file);
        let v = kview(&path);
        let ctx = format!("{user}@prod-1");
        assert_eq!(v["current-context"].as_str(), Some(ctx.as_str()), "{file}");
        assert_eq!(v["clusters"][0]["name"].as_str(), Some("prod-1"));
        assert_eq!(
            v["clusters"][0]["cluster"]["server"].as_str(),
            Some(server),
            "{file}"
        );
        assert_eq!(v["users"][0]["name"].as_str(), Some(user));
        // kubectl sees the same embedded data we wrote.
        let ours: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v["users"][0]["user"]["client-certificate-data"],
            ours["users"][0]["user"]["client-certificate-data"]
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            ours["clusters"][0]["cluster"]["certificate-authority-data"]
        );
        let contexts = kubectl(&[
            "config",
            "get-contexts",
            "--kubeconfig",
            path.to_str().unwrap(),
        ]);
        let line = contexts.lines().nth(1).unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols, ["*", ctx.as_str(), "prod-1", user], "{contexts}");
        assert!(
            ours.get("preferences").is_none(),
            "no preferences key (client-go 1.36)"
        );
    }
}

#[test]
fn bootstrap_kubelet_conf_for_join() {
    let dir = tempfile::tempdir().unwrap();
    let ca = std::fs::read(fixtures().join("etc-kubernetes/pki/ca.crt")).unwrap();
    let mut kc =
        Kubeconfig::bootstrap_kubelet("https://10.0.0.1:6443", &ca, "abcdef.0123456789abcdef");
    let path = dir.path().join("bootstrap-kubelet.conf");
    kc.write(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: "),
        "{text}"
    );
    assert!(text.ends_with("users:\n- name: tls-bootstrap-token-user\n  user:\n    token: abcdef.0123456789abcdef\n"), "{text}");
    assert!(
        !format!("{kc:?}").contains("0123456789abcdef"),
        "Debug shows no token"
    );
    let v = kview(&path);
    assert_eq!(
        v["current-context"].as_str(),
        Some("tls-bootstrap-token-user@kubernetes")
    );
    assert_eq!(
        v["users"][0]["user"]["token"].as_str(),
        Some("abcdef.0123456789abcdef")
    );

    // Re-keyed to the cluster's clusterName; the context keeps its name.
    assert!(kc.rename_cluster("prod-1"));
    kc.write(&path).unwrap();
    let v = kview(&path);
    assert_eq!(v["clusters"][0]["name"].as_str(), Some("prod-1"));
    assert_eq!(
        v["contexts"][0]["context"]["cluster"].as_str(),
        Some("prod-1")
    );
    assert_eq!(
        v["current-context"].as_str(),
        Some("tls-bootstrap-token-user@kubernetes")
    );
    assert_eq!(kc.current_cluster_ca_pem(&path).unwrap(), ca);
}

#[test]
fn loaded_kubeconfig_keeps_unknown_fields_and_sorts_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.conf");
    let src = "kind: Config\napiVersion: v1\npreferences: {}\ncurrent-context: a@k\nusers:\n- user:\n    client-key-data: a2V5\n    client-certificate-data: Y2VydA==\n  name: a\ncontexts:\n- name: a@k\n  context: {user: a, cluster: k, namespace: x}\nclusters:\n- name: k\n  cluster:\n    server: https://h:1\n    tls-server-name: h\n    certificate-authority-data: Y2E=\n";
    std::fs::write(&path, src).unwrap();
    let mut kc = Kubeconfig::load(&path).unwrap();
    assert_eq!(kc.client_certificate_pem().unwrap(), b"cert");
    assert!(kc.set_ca_data(b"new-ca"));
    kc.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let expected = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: bmV3LWNh\n    server: https://h:1\n    tls-server-name: h\n  name: k\ncontexts:\n- context:\n    cluster: k\n    namespace: x\n    user: a\n  name: a@k\ncurrent-context: a@k\nkind: Config\npreferences: {}\nusers:\n- name: a\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n";
    assert_eq!(text, expected);
    kview(&path);
}
