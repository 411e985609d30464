//! End-to-end tests of the bootstrap-token and addon phases and of `firstboot token` against
//! the in-memory `testkit::apiserver`: the firstboot binary runs the phases/commands, the test
//! checks the stored objects and what the resulting RBAC lets anonymous and bootstrap-token
//! users do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use firstboot::config::{self, HostFacts, Mode};
use firstboot::join_material::{sign_detached, BootstrapToken};
use firstboot::kube::Cluster;
use firstboot::phases::bootstrap_token;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use serde_json::Value;
use testkit::apiserver::ApiServer;

const BIN: &str = env!("CARGO_BIN_EXE_firstboot");
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kubeadm-v1.36.2"
);

struct Env {
    server: ApiServer,
    tls: testkit::apiserver::GeneratedTls,
    root: tempfile::TempDir,
    config: std::path::PathBuf,
}

fn start() -> Env {
    let (server, tls) = ApiServer::start_generated("v1.36.2").unwrap();
    let root = tempfile::tempdir().unwrap();
    let admin = root.path().join("etc/kubernetes/admin.conf");
    std::fs::create_dir_all(admin.parent().unwrap()).unwrap();
    server.write_admin_kubeconfig(&admin, &tls).unwrap();
    let cfg = std::fs::read_to_string(format!("{FIXTURES}/kubeadm-config.yaml"))
        .unwrap()
        .replacen(
            "nodeRegistration:",
            "localAPIEndpoint:\n  advertiseAddress: 192.0.2.2\nnodeRegistration:",
            1,
        );
    let config = root.path().join("cluster.yaml");
    std::fs::write(&config, cfg).unwrap();
    Env {
        server,
        tls,
        root,
        config,
    }
}

impl Env {
    fn admin(&self) -> std::path::PathBuf {
        self.root.path().join("etc/kubernetes/admin.conf")
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .arg("--root")
            .arg(self.root.path())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }
    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn cluster(&self, kubeconfig: &Path) -> Cluster {
        Cluster::from_kubeconfig(kubeconfig, "test", Duration::from_secs(5)).unwrap()
    }
    fn as_token(&self, token: Option<&str>) -> Cluster {
        let p = self.root.path().join(format!(
            "user-{}.conf",
            token.map(|t| &t[..6]).unwrap_or("anon")
        ));
        self.server
            .write_token_kubeconfig(&p, token, &self.tls.ca_cert_pem)
            .unwrap();
        self.cluster(&p)
    }
}

fn normalized(mut v: Value) -> Value {
    let m = v["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "managedFields",
        "generation",
    ] {
        m.remove(k);
    }
    v.as_object_mut().unwrap().remove("status");
    v
}

#[test]
fn phases_create_kubeadm_objects_idempotently_with_working_rbac() {
    let env = start();
    let anon = env.as_token(None);
    // Before the phase anonymous cannot read cluster-info.
    env.server
        .insert(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "probe", "namespace": "kube-public"}, "data": {}
        }))
        .unwrap();
    let before = anon.get::<ConfigMap>(Some("kube-public"), "cluster-info");
    assert!(
        before.is_err(),
        "anonymous must be forbidden before the phase"
    );

    env.run_ok(&["init", "phase", "bootstrap-token"]);
    env.run_ok(&["init", "phase", "addon", "all"]);
    let first: Vec<Value> = env.server.objects().into_iter().map(normalized).collect();

    // Every reference object exists with kubeadm's content (same comparison as the plan tests).
    for (av, plural, ns, name, rel) in [
        (
            "v1",
            "configmaps",
            Some("kube-system"),
            "kube-proxy",
            "configmap/kube-system__kube-proxy.yaml",
        ),
        (
            "v1",
            "configmaps",
            Some("kube-system"),
            "coredns",
            "configmap/kube-system__coredns.yaml",
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "clusterrolebindings",
            None,
            "kubeadm:apiserver-kubelet-client",
            "clusterrolebinding/kubeadm_apiserver-kubelet-client.yaml",
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "roles",
            Some("kube-public"),
            "kubeadm:bootstrap-signer-clusterinfo",
            "role/kube-public__kubeadm_bootstrap-signer-clusterinfo.yaml",
        ),
    ] {
        let got = normalized(
            env.server
                .get(av, plural, ns, name)
                .unwrap_or_else(|| panic!("{name}")),
        );
        let text = std::fs::read_to_string(format!("{FIXTURES}/objects/{rel}")).unwrap();
        let want = normalized(serde_yaml::from_str(&text).unwrap());
        assert_eq!(got["data"], want["data"], "{rel}");
        assert_eq!(got.get("rules"), want.get("rules"), "{rel}");
        assert_eq!(got.get("subjects"), want.get("subjects"), "{rel}");
    }

    // Re-running changes nothing and creates no second token.
    env.run_ok(&["init", "phase", "bootstrap-token"]);
    env.run_ok(&["init", "phase", "addon", "all"]);
    let second: Vec<Value> = env.server.objects().into_iter().map(normalized).collect();
    // Except the token's `expiration`: like kubeadm, a re-run updates the Secret in place with
    // now + TTL (spec §7.2), so it moves forward when the runs fall in different seconds.
    let exp = |objs: &[Value]| -> Vec<String> {
        objs.iter()
            .filter(|o| o["type"] == "bootstrap.kubernetes.io/token")
            .map(|o| {
                use base64::Engine as _;
                let b64 = o["data"]["expiration"].as_str().unwrap();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                String::from_utf8(raw).unwrap()
            })
            .collect()
    };
    let (exp1, exp2) = (exp(&first), exp(&second));
    assert_eq!(exp1.len(), 1);
    assert!(exp2.len() == 1 && exp2[0] >= exp1[0], "{exp1:?} {exp2:?}");
    let strip = |objs: Vec<Value>| -> Vec<Value> {
        objs.into_iter()
            .map(|mut o| {
                if o["type"] == "bootstrap.kubernetes.io/token" {
                    o["data"].as_object_mut().unwrap().remove("expiration");
                }
                o
            })
            .collect()
    };
    let (first, second) = (strip(first), strip(second));
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a, b);
    }
    let tokens = env.server.list("v1", "secrets", Some("kube-system"));
    assert_eq!(
        tokens
            .iter()
            .filter(|s| s["type"] == "bootstrap.kubernetes.io/token")
            .count(),
        1
    );

    // Anonymous can now read cluster-info (and nothing else in kube-public).
    let ci = anon
        .get::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap()
        .unwrap();
    assert!(anon.get::<ConfigMap>(Some("kube-public"), "probe").is_err());

    // Test-support signing stands in for the controller-manager's bootstrapsigner.
    let admin = env.cluster(&env.admin());
    let signed = bootstrap_token::sign_cluster_info(&admin).unwrap();
    assert_eq!(signed.len(), 1);
    let cfg = config::load(
        Some(&env.config),
        env.root.path(),
        &HostFacts::detect(env.root.path()),
        Some(Mode::Init),
    )
    .unwrap();
    let (toks, _) = bootstrap_token::resolve_tokens(env.root.path(), &cfg).unwrap();
    let tok = BootstrapToken::parse(&toks[0].token).unwrap();
    let id = tok.id();
    let ci2 = anon
        .get::<ConfigMap>(Some("kube-public"), "cluster-info")
        .unwrap()
        .unwrap();
    let data = ci2.data.unwrap();
    assert_eq!(
        data[&format!("jws-kubeconfig-{id}")],
        sign_detached(&data["kubeconfig"], &tok)
    );
    assert_eq!(ci.data.unwrap()["kubeconfig"], data["kubeconfig"]);

    // The bootstrap token user gets what the RBAC grants and nothing else.
    env.server
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "vm"}}))
        .unwrap();
    let boot = env.as_token(Some(&toks[0].token));
    assert!(boot.get::<Node>(None, "vm").unwrap().is_some());
    assert!(boot
        .get::<ConfigMap>(Some("kube-system"), "kube-proxy")
        .unwrap()
        .is_some());
    assert!(boot
        .get::<ConfigMap>(Some("kube-system"), "coredns")
        .is_err());
    assert!(boot
        .get::<Secret>(Some("kube-system"), &format!("bootstrap-token-{id}"))
        .is_err());
    assert!(boot.list::<Node>(None, None, None).is_err());
}

#[test]
fn token_commands_round_trip_and_join_config_loads() {
    let env = start();
    let kc = env.admin();
    let kc = kc.to_str().unwrap();
    let tok = env
        .run_ok(&["--kubeconfig", kc, "token", "create", "--description", "ci"])
        .trim()
        .to_string();
    let listed: Value =
        serde_json::from_str(&env.run_ok(&["--kubeconfig", kc, "token", "list", "-o", "json"]))
            .unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["token"] == tok.as_str() && t["description"] == "ci"));
    // The same token again is refused.
    let again = env.run(&["--kubeconfig", kc, "token", "create", &tok]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(!String::from_utf8_lossy(&again.stderr).contains(&tok[7..]));
    // Delete by id.
    env.run_ok(&["--kubeconfig", kc, "token", "delete", &tok[..6]]);
    let listed: Value =
        serde_json::from_str(&env.run_ok(&["--kubeconfig", kc, "token", "list", "-o", "json"]))
            .unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["token"] != tok.as_str()));
    assert!(!env
        .run(&["--kubeconfig", kc, "token", "delete", &tok[..6]])
        .status
        .success());

    // --print-join-config is a JoinConfiguration firstboot itself loads.
    let doc = env.run_ok(&["--kubeconfig", kc, "token", "create", "--print-join-config"]);
    let facts = HostFacts::detect(env.root.path());
    let cfg = config::load_str("join.yaml", &doc, &facts, Some(Mode::Join)).unwrap();
    let bt = cfg.join.unwrap().discovery.bootstrap_token.unwrap();
    assert_eq!(
        bt.api_server_endpoint,
        env.server.url().trim_start_matches("https://")
    );
    let pins =
        firstboot::pki::ca_cert_hash_from_pem(env.tls.ca_cert_pem.as_bytes(), Path::new("ca"))
            .unwrap();
    assert_eq!(bt.ca_cert_hashes, pins);
    let id = &bt.token[..6];
    assert!(env
        .server
        .get(
            "v1",
            "secrets",
            Some("kube-system"),
            &format!("bootstrap-token-{id}")
        )
        .is_some());
}
