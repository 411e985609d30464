//! Init cluster phases wait-control-plane, upload-config, upload-certs, mark-control-plane,
//! kubelet-finalize and show-join-command: what they plan for the reference configuration,
//! compared with the objects a real kubeadm v1.36.2 created (fixtures), and their local effects.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use firstboot::config::{self, HostFacts, Mode, NodeConfig};
use firstboot::kube::{NoServices, ObjectAction};
use firstboot::phases::{self, Context, Phase};
use serde_json::Value;

mod cluster_support;
use cluster_support::{facts, objects, reference_object, strip_server_fields, FIXTURES};

/// The reference configuration (kubeadm-config.yaml) plus `extra` appended to the
/// FirstbootConfiguration / documents.
fn reference_config(extra: &str) -> NodeConfig {
    let text = std::fs::read_to_string(format!("{FIXTURES}/kubeadm-config.yaml")).unwrap();
    config::load_str(
        "kubeadm-config.yaml",
        &format!("{text}{extra}"),
        &facts(),
        Some(Mode::Init),
    )
    .unwrap()
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cfg: NodeConfig,
    facts: HostFacts,
    services: NoServices,
    skip: Vec<String>,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        Env {
            root: dir.path().to_path_buf(),
            _dir: dir,
            cfg: reference_config(extra),
            facts: facts(),
            services: NoServices::default(),
            skip: Vec::new(),
        }
    }
    fn ctx(&self) -> Context<'_> {
        Context {
            root: &self.root,
            host_root: &self.root,
            config: &self.cfg,
            facts: &self.facts,
            subphase: None,
            skip: &self.skip,
            start_time: SystemTime::now(),
            cluster: None,
            services: &self.services,
        }
    }
    fn put(&self, node_path: &str, content: &[u8]) {
        let p = self.root.join(node_path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

#[test]
fn upload_config_objects_match_kubeadm() {
    let env = Env::new("");
    let plan = phases::upload_config::UploadConfig
        .plan(&env.ctx())
        .unwrap();
    let objs = objects(&plan);
    let want = [
        "configmap/kube-system__kubeadm-config.yaml",
        "role/kube-system__kubeadm_nodes-kubeadm-config.yaml",
        "rolebinding/kube-system__kubeadm_nodes-kubeadm-config.yaml",
        "configmap/kube-system__kubelet-config.yaml",
        "role/kube-system__kubeadm_kubelet-config.yaml",
        "rolebinding/kube-system__kubeadm_kubelet-config.yaml",
    ];
    assert_eq!(objs.len(), want.len());
    for (o, w) in objs.iter().zip(want) {
        assert_eq!(o.action, ObjectAction::Apply, "{w}");
        assert_eq!(o.body, reference_object(w), "{w}");
    }
    // Dry-run text names each object and never its content.
    let text = plan.to_string();
    assert!(text.contains("[upload-config] apply ConfigMap kube-system/kubeadm-config"));
    assert!(!text.contains("serviceSubnet"));
}

#[test]
fn upload_config_subphases_and_skipped_addons() {
    let mut env = Env::new("");
    env.skip = vec!["addon/kube-proxy".into()];
    let ctx = Context {
        subphase: Some("kubeadm"),
        ..env.ctx()
    };
    let plan = phases::upload_config::UploadConfig.plan(&ctx).unwrap();
    let objs = objects(&plan);
    assert_eq!(objs.len(), 3);
    let cc = objs[0].body["data"]["ClusterConfiguration"]
        .as_str()
        .unwrap();
    assert!(cc.contains("proxy:\n  disabled: true\n"), "{cc}");
    assert!(cc.contains("dns: {}\n"), "{cc}");

    // A user-supplied KubeletConfiguration is uploaded without the generated-hash annotation.
    let env = Env::new(
        "---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 50\n",
    );
    let ctx = Context {
        subphase: Some("kubelet"),
        ..env.ctx()
    };
    let plan = phases::upload_config::UploadConfig.plan(&ctx).unwrap();
    let cm = &objects(&plan)[0].body;
    assert!(cm["data"]["kubelet"]
        .as_str()
        .unwrap()
        .contains("maxPods: 50\n"));
    assert!(cm["metadata"].get("annotations").is_none(), "{cm}");
}

#[test]
fn component_config_hash_vector() {
    // Spec §19.8.
    let data = std::collections::BTreeMap::from([
        ("b".to_string(), "world".to_string()),
        ("a".to_string(), "hello ".to_string()),
    ]);
    assert_eq!(
        phases::upload_config::component_config_hash(&data, &Default::default()),
        "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
}

#[test]
fn upload_certs_only_when_enabled_and_rbac_matches_kubeadm() {
    let env = Env::new("");
    let plan = phases::upload_certs::UploadCerts.plan(&env.ctx()).unwrap();
    assert!(objects(&plan).is_empty());
    assert!(plan.to_string().contains("Skipping phase"));

    let env = Env::new(
        "---\napiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\nuploadCerts: true\n",
    );
    let plan = phases::upload_certs::UploadCerts.plan(&env.ctx()).unwrap();
    let objs = objects(&plan);
    assert_eq!(objs.len(), 2);
    assert_eq!(
        objs[0].body,
        reference_object("role/kube-system__kubeadm_kubeadm-certs.yaml")
    );
    assert_eq!(
        objs[1].body,
        reference_object("rolebinding/kube-system__kubeadm_kubeadm-certs.yaml")
    );
    let text = plan.to_string();
    assert!(
        text.contains("ca.crt, ca.key, front-proxy-ca.crt, front-proxy-ca.key, sa.pub, sa.key, etcd-ca.crt, etcd-ca.key"),
        "{text}"
    );
    // The reference Secret has exactly these keys.
    let secret = reference_object("secret/kube-system__kubeadm-certs.yaml");
    let mut keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    keys.sort();
    let mut ours: Vec<String> = phases::upload_certs::cert_files(&env.ctx())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    ours.sort();
    assert_eq!(keys, ours.iter().collect::<Vec<_>>());
}

#[test]
fn kubeadm_certs_secret_decrypts_with_the_key_and_keeps_missing_files_empty() {
    use phases::upload_certs::*;
    let key_hex = generate_key().unwrap();
    assert_eq!(key_hex.len(), 64);
    let key = decode_key(&key_hex).unwrap();
    let files = vec![
        ("ca.crt".to_string(), Some(b"CA".to_vec())),
        ("sa.key".to_string(), None),
    ];
    let s = kubeadm_certs_secret(&files, &key, None).unwrap();
    let data = s.data.unwrap();
    assert_eq!(decrypt(&key, &data["ca.crt"].0).unwrap(), b"CA");
    assert_eq!(data["ca.crt"].0.len(), 2 + 28);
    assert!(data["sa.key"].0.is_empty());
    let other = decode_key(&generate_key().unwrap()).unwrap();
    assert!(decrypt(&other, &data["ca.crt"].0).is_err());
    assert_eq!(s.type_.as_deref(), Some("Opaque"));

    let exp = time::macros::datetime!(2026-11-25 18:35:11.5 UTC);
    let t = token_secret("0s140a", "7rtr1uqdya16zw52", exp);
    let mut v = serde_json::to_value(&t).unwrap();
    v["apiVersion"] = "v1".into();
    v["kind"] = "Secret".into();
    assert_eq!(
        v,
        reference_object("secret/kube-system__bootstrap-token-0s140a.yaml")
    );
}

#[test]
fn mark_control_plane_taints() {
    use firstboot::phases::mark_control_plane::*;
    let default = configured_taints(None);
    assert_eq!(default.len(), 1);
    assert_eq!(default[0].key, "node-role.kubernetes.io/control-plane");
    assert_eq!(default[0].effect, "NoSchedule");
    assert!(configured_taints(Some(&[])).is_empty());

    let other = k8s_openapi::api::core::v1::Taint {
        key: "x".into(),
        effect: "NoExecute".into(),
        ..Default::default()
    };
    // Configured first, then existing ones not already present.
    let merged = merged_taints(&default, &[other.clone(), default[0].clone()]);
    assert_eq!(merged, vec![default[0].clone(), other.clone()]);
    let p = mark_patch(&default, &[other]);
    assert_eq!(
        p["metadata"]["labels"],
        serde_json::json!({"node-role.kubernetes.io/control-plane": "",
                           "node.kubernetes.io/exclude-from-external-load-balancers": ""})
    );
    assert_eq!(p["spec"]["taints"].as_array().unwrap().len(), 2);
    // Nothing to change in the taints: the patch leaves them out.
    assert!(mark_patch(&default, &default).get("spec").is_none());

    let env = Env::new("");
    let plan = MarkControlPlane.plan(&env.ctx()).unwrap();
    let o = objects(&plan)[0];
    assert_eq!(o.action, ObjectAction::StrategicPatch);
    assert_eq!(o.describe(), "Node vm");
    assert!(plan
        .to_string()
        .contains("node-role.kubernetes.io/control-plane:NoSchedule"));
}

#[test]
fn wait_control_plane_reads_probe_addresses_from_the_written_files() {
    use firstboot::phases::wait_control_plane::*;
    let env = Env::new("");
    // Nothing written yet: kubeadm's defaults.
    let t = health_targets(&env.ctx());
    assert_eq!(t.kubelet.as_deref(), Some("http://127.0.0.1:10248/healthz"));
    assert_eq!(t.controller_manager, "https://127.0.0.1:10257/healthz");
    assert_eq!(t.scheduler, "https://127.0.0.1:10259/livez");

    for m in ["kube-controller-manager", "kube-scheduler"] {
        let text = std::fs::read_to_string(format!("{FIXTURES}/etc-kubernetes/manifests/{m}.yaml"))
            .unwrap();
        let text = text
            .replace("--bind-address=127.0.0.1", "--bind-address=192.0.2.7")
            .replace(
                "    - --leader-elect=true\n",
                "    - --leader-elect=true\n    - --secure-port=12345\n",
            );
        env.put(
            &format!("/etc/kubernetes/manifests/{m}.yaml"),
            text.as_bytes(),
        );
    }
    env.put(
        "/var/lib/kubelet/config.yaml",
        b"healthzBindAddress: ::1\nhealthzPort: 11111\n",
    );
    let t = health_targets(&env.ctx());
    assert_eq!(t.kubelet.as_deref(), Some("http://[::1]:11111/healthz"));
    assert_eq!(t.controller_manager, "https://192.0.2.7:12345/healthz");
    assert_eq!(t.scheduler, "https://192.0.2.7:12345/livez");
    env.put("/var/lib/kubelet/config.yaml", b"healthzPort: 0\n");
    assert_eq!(health_targets(&env.ctx()).kubelet, None);

    let plan = WaitControlPlane::default().plan(&env.ctx()).unwrap();
    let o = objects(&plan)[0];
    assert_eq!(
        o.body,
        reference_object("clusterrolebinding/kubeadm_cluster-admins.yaml")
    );
    let text = plan.to_string();
    assert!(text.contains("https://192.0.2.2:6443/livez"), "{text}");
    assert!(text.contains("kubelet health check skipped"), "{text}");
}

fn kubectl_view(kubeconfig: &Path, jsonpath: &str) -> String {
    let out = Command::new("kubectl")
        .args(["config", "view", "--raw", "-o"])
        .arg(format!("jsonpath={jsonpath}"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_clear()
        .output()
        .expect("kubectl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kubelet_finalize_switches_to_the_rotated_certificate_and_restarts_the_kubelet() {
    use firstboot::phases::kubelet_finalize::*;
    let env = Env::new("");
    let conf = std::fs::read(format!("{FIXTURES}/etc-kubernetes/kubelet.conf")).unwrap();
    env.put(KUBELET_CONF, &conf);

    // No rotated certificate yet: nothing changes, no restart.
    let plan = KubeletFinalize.plan(&env.ctx()).unwrap();
    KubeletFinalize
        .apply(&env.ctx(), &plan, &mut |_| {})
        .unwrap();
    assert_eq!(
        std::fs::read(env.root.join("etc/kubernetes/kubelet.conf")).unwrap(),
        conf
    );
    assert!(env.services.calls().is_empty());

    env.put("/var/lib/kubelet/pki/kubelet-client-current.pem", b"pem");
    let plan = KubeletFinalize.plan(&env.ctx()).unwrap();
    KubeletFinalize
        .apply(&env.ctx(), &plan, &mut |_| {})
        .unwrap();
    let path = env.root.join("etc/kubernetes/kubelet.conf");
    let pem = "/var/lib/kubelet/pki/kubelet-client-current.pem";
    assert_eq!(
        kubectl_view(&path, "{.users[0].user.client-certificate}"),
        pem
    );
    assert_eq!(kubectl_view(&path, "{.users[0].user.client-key}"), pem);
    assert_eq!(
        kubectl_view(&path, "{.users[0].user.client-certificate-data}"),
        ""
    );
    assert_eq!(
        kubectl_view(&path, "{.clusters[0].cluster.server}"),
        "https://192.0.2.2:6443"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(env.services.calls(), vec!["restart kubelet".to_string()]);

    // cert-dir from kubeletExtraArgs.
    let env = Env::new("");
    let mut cfg = env.cfg.clone();
    cfg.init
        .as_mut()
        .unwrap()
        .node_registration
        .kubelet_extra_args = vec![config::Arg {
        name: "cert-dir".into(),
        value: "/srv/kpki".into(),
    }];
    let ctx = Context {
        config: &cfg,
        ..env.ctx()
    };
    assert_eq!(kubelet_cert_dir(&ctx), "/srv/kpki");
}

fn openssl_pin(ca: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex",
            ca.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", s.trim().rsplit(' ').next().unwrap())
}

#[test]
fn join_commands_use_the_admin_kubeconfig_endpoint_and_ca_pin() {
    use firstboot::phases::show_join_command::*;
    let info = join_info(
        Path::new(&format!("{FIXTURES}/etc-kubernetes/admin.conf")),
        "admin.conf",
    )
    .unwrap();
    assert_eq!(info.endpoint, "127.0.0.1:6443");
    assert_eq!(
        info.ca_cert_hashes,
        vec![openssl_pin(Path::new(&format!(
            "{FIXTURES}/etc-kubernetes/pki/ca.crt"
        )))]
    );
    let worker = join_command(&info, "abcdef.0123456789abcdef", None);
    assert_eq!(
        worker,
        format!(
            "kubeadm join 127.0.0.1:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash {}\n",
            info.ca_cert_hashes[0]
        )
    );
    let cp = join_command(&info, "abcdef.0123456789abcdef", Some(Some("k3y")));
    assert!(
        cp.ends_with(" \\\n\t--control-plane --certificate-key k3y\n"),
        "{cp}"
    );

    let tokens = vec!["abcdef.0123456789abcdef".to_string()];
    let msg = join_message(&info, &tokens, true, true, Some("k3y"));
    assert!(msg.contains("SECRETS"));
    assert!(msg.contains("--control-plane --certificate-key k3y"));
    let msg = join_message(&info, &tokens, true, false, Some("k3y"));
    assert!(!msg.contains("k3y"));
    assert!(msg.contains("--control-plane\n"));
    let msg = join_message(&info, &tokens, false, false, None);
    assert!(!msg.contains("--control-plane"));
    assert_eq!(msg.matches("kubeadm join").count(), 1);
}

#[test]
fn catalog_marks_these_phases_runnable() {
    for name in [
        "wait-control-plane",
        "upload-config",
        "upload-certs",
        "mark-control-plane",
        "kubelet-finalize",
        "show-join-command",
    ] {
        let info = firstboot::runner::catalog::find(Mode::Init, name).unwrap();
        assert!(info.runnable, "{name}");
        let p = phases::for_name(Mode::Init, name).unwrap();
        assert_eq!(p.name(), name);
    }
}

/// Spec §19.4 test vector; tokens have kubeadm's syntax.
#[test]
fn copycerts_test_vector_and_token_syntax() {
    use phases::upload_certs::*;
    let key =
        decode_key("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
    let plain = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let out = encrypt_with_nonce(&key, *b"kubeadm-cert", plain).unwrap();
    assert_eq!(hex::encode(&out), "6b75626561646d2d63657274fe845f337b72dc091b29c6bf5e1b188d92085a3b53b0a6f6a6c77b777c9515d414da92204b963cda40039d8facd4cb2f522743c902b50799e83697ccd0d06e8ca5791bcfd5e989ce056906");
    assert_eq!(decrypt(&key, &out).unwrap(), plain);
    let mut bad = out.clone();
    bad[20] ^= 1;
    assert!(decrypt(&key, &bad).is_err());
    assert!(decode_key("00").is_err());
    assert!(decode_key(&"0A".repeat(32)).is_ok());
    for _ in 0..50 {
        let (id, secret) = generate_token().unwrap();
        assert_eq!((id.len(), secret.len()), (6, 16));
        assert!(format!("{id}{secret}")
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    }
}

// ---------------------------------------------------------------------------------------------
// End to end against testkit's in-memory API server, with a real PKI and kubeconfigs made by
// firstboot's own certs and kubeconfig phases.

mod e2e {
    use super::*;
    use firstboot::kube::{ClusterAccess, ServiceManager};
    use firstboot::phases::wait_control_plane::{HealthTargets, WaitControlPlane};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use testkit::apiserver::{ApiServer, ApiServerOptions, TlsMaterial};

    const KEY: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const TOKEN: &str = "abcdef.0123456789abcdef";

    /// A stand-in kubelet: registers the Node when the kubelet is (re)started.
    struct Kubelet {
        server: Arc<Mutex<Option<Arc<ApiServer>>>>,
        calls: Mutex<Vec<String>>,
    }
    impl ServiceManager for Kubelet {
        fn enable(&self, u: &str) -> anyhow::Result<()> {
            self.calls.lock().unwrap().push(format!("enable {u}"));
            Ok(())
        }
        fn restart(&self, u: &str) -> anyhow::Result<()> {
            self.calls.lock().unwrap().push(format!("restart {u}"));
            if u == "kubelet" {
                if let Some(s) = self.server.lock().unwrap().as_ref() {
                    s.insert(serde_json::json!({
                        "apiVersion": "v1", "kind": "Node",
                        "metadata": {"name": "vm", "labels": {"kubernetes.io/hostname": "vm"}},
                        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}
                    }))?;
                }
            }
            Ok(())
        }
        fn stop(&self, u: &str) -> anyhow::Result<()> {
            self.calls.lock().unwrap().push(format!("stop {u}"));
            Ok(())
        }
        fn is_active(&self, _: &str) -> anyhow::Result<bool> {
            Ok(true)
        }
    }

    /// A tiny HTTP server answering 200 `ok` to everything (kubelet, controller-manager and
    /// scheduler health endpoints).
    fn healthz_server() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    struct Cluster {
        _dir: tempfile::TempDir,
        root: PathBuf,
        cfg: NodeConfig,
        facts: HostFacts,
        server: Arc<ApiServer>,
        kubelet: Kubelet,
        access: ClusterAccess,
        targets: HealthTargets,
    }

    impl Cluster {
        fn start(extra_init: &str, upload_certs: bool) -> Cluster {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            let port = free_port();
            let text = format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
                 localAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n  bindPort: {port}\n\
                 certificateKey: {KEY}\n\
                 bootstrapTokens:\n- token: {TOKEN}\n\
                 timeouts:\n  controlPlaneComponentHealthCheck: 3s\n  kubeletHealthCheck: 3s\n  kubernetesAPICall: 10s\n\
                 nodeRegistration:\n  name: vm\n  criSocket: unix:///var/run/containerd/containerd.sock\n{extra_init}\
                 ---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                 kubernetesVersion: v1.36.2\ncontrolPlaneEndpoint: 127.0.0.1:{port}\n\
                 ---\napiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\nuploadCerts: {upload_certs}\n"
            );
            let cfg = config::load_str("e2e.yaml", &text, &facts(), Some(Mode::Init)).unwrap();
            // Real PKI and kubeconfigs from firstboot's own phases, then serve that PKI.
            let services = NoServices::default();
            let f = facts();
            let ctx = Context {
                root: &root,
                host_root: &root,
                config: &cfg,
                facts: &f,
                subphase: None,
                skip: &[],
                start_time: SystemTime::now(),
                cluster: None,
                services: &services,
            };
            for p in ["certs", "kubeconfig"] {
                let phase = phases::for_name(Mode::Init, p).unwrap();
                let plan = phase.plan(&ctx).unwrap();
                phase.apply(&ctx, &plan, &mut |_| {}).unwrap();
            }
            let tls = TlsMaterial::from_pki_dir(&root.join("etc/kubernetes/pki")).unwrap();
            let server = Arc::new(
                ApiServer::start(ApiServerOptions {
                    tls,
                    port: Some(port),
                    git_version: "v1.36.2".into(),
                })
                .unwrap(),
            );
            let kubelet = Kubelet {
                server: Arc::new(Mutex::new(Some(server.clone()))),
                calls: Mutex::new(Vec::new()),
            };
            let h = healthz_server();
            Cluster {
                access: ClusterAccess::new(
                    root.join("etc/kubernetes/admin.conf"),
                    "/etc/kubernetes/admin.conf".into(),
                    Duration::from_secs(10),
                ),
                _dir: dir,
                root,
                cfg,
                facts: facts(),
                server,
                kubelet,
                targets: HealthTargets {
                    kubelet: Some(format!("{h}/healthz")),
                    controller_manager: format!("{h}/healthz"),
                    scheduler: format!("{h}/livez"),
                },
            }
        }

        fn ctx(&self) -> Context<'_> {
            Context {
                root: &self.root,
                host_root: &self.root,
                config: &self.cfg,
                facts: &self.facts,
                subphase: None,
                skip: &[],
                start_time: SystemTime::now(),
                cluster: Some(&self.access),
                services: &self.kubelet,
            }
        }

        fn run(&self, name: &str) -> anyhow::Result<()> {
            let phase: Box<dyn Phase> = if name == "wait-control-plane" {
                Box::new(WaitControlPlane {
                    targets: Some(self.targets.clone()),
                })
            } else {
                phases::for_name(Mode::Init, name).unwrap()
            };
            let ctx = self.ctx();
            let plan = phase.plan(&ctx)?;
            phase.apply(&ctx, &plan, &mut |_| {})?;
            phase.finish(&ctx, &plan)
        }

        fn get(&self, api_version: &str, plural: &str, ns: Option<&str>, name: &str) -> Value {
            let mut v = self
                .server
                .get(api_version, plural, ns, name)
                .unwrap_or_else(|| panic!("{plural} {ns:?}/{name} was not created"));
            strip_server_fields(&mut v);
            if let Some(m) = v["metadata"].as_object_mut() {
                if m.get("annotations")
                    .is_some_and(|a| a.as_object().is_some_and(|a| a.is_empty()))
                {
                    m.remove("annotations");
                }
            }
            v
        }
    }

    #[test]
    fn init_cluster_phases_create_kubeadms_objects_and_are_idempotent() {
        let c = Cluster::start("", true);
        c.run("kubelet-start").unwrap();
        for _ in 0..2 {
            for p in [
                "wait-control-plane",
                "upload-config",
                "upload-certs",
                "mark-control-plane",
                "kubelet-finalize",
                "show-join-command",
            ] {
                c.run(p).unwrap_or_else(|e| panic!("{p}: {e:#}"));
            }
        }
        // The CRB went through super-admin.conf because admin.conf was forbidden at first.
        let reqs = c.server.requests();
        let crb: Vec<_> = reqs
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/clusterrolebindings"))
            .collect();
        assert!(
            crb.iter()
                .any(|r| r.user == "kubernetes-admin" && r.status == 403),
            "{crb:?}"
        );
        assert!(
            crb.iter()
                .any(|r| r.user == "kubernetes-super-admin" && r.status == 201),
            "{crb:?}"
        );
        assert_eq!(
            c.get(
                "rbac.authorization.k8s.io/v1",
                "clusterrolebindings",
                None,
                "kubeadm:cluster-admins"
            ),
            reference_object("clusterrolebinding/kubeadm_cluster-admins.yaml")
        );
        // The second run found admin.conf allowed: no super-admin call any more.
        assert_eq!(
            crb.iter()
                .filter(|r| r.user == "kubernetes-super-admin")
                .count(),
            1,
            "{crb:?}"
        );

        let rbac = "rbac.authorization.k8s.io/v1";
        for (av, plural, name, file) in [
            (
                "v1",
                "configmaps",
                "kubelet-config",
                "configmap/kube-system__kubelet-config.yaml",
            ),
            (
                rbac,
                "roles",
                "kubeadm:nodes-kubeadm-config",
                "role/kube-system__kubeadm_nodes-kubeadm-config.yaml",
            ),
            (
                rbac,
                "rolebindings",
                "kubeadm:nodes-kubeadm-config",
                "rolebinding/kube-system__kubeadm_nodes-kubeadm-config.yaml",
            ),
            (
                rbac,
                "roles",
                "kubeadm:kubelet-config",
                "role/kube-system__kubeadm_kubelet-config.yaml",
            ),
            (
                rbac,
                "rolebindings",
                "kubeadm:kubelet-config",
                "rolebinding/kube-system__kubeadm_kubelet-config.yaml",
            ),
            (
                rbac,
                "roles",
                "kubeadm:kubeadm-certs",
                "role/kube-system__kubeadm_kubeadm-certs.yaml",
            ),
            (
                rbac,
                "rolebindings",
                "kubeadm:kubeadm-certs",
                "rolebinding/kube-system__kubeadm_kubeadm-certs.yaml",
            ),
        ] {
            assert_eq!(
                c.get(av, plural, Some("kube-system"), name),
                reference_object(file),
                "{file}"
            );
        }
        // kubeadm-config: the same document with this cluster's endpoint.
        let mut want = reference_object("configmap/kube-system__kubeadm-config.yaml");
        let doc = want["data"]["ClusterConfiguration"]
            .as_str()
            .unwrap()
            .replace(
                "controlPlaneEndpoint: 127.0.0.1:6443",
                &format!("controlPlaneEndpoint: 127.0.0.1:{}", c.server.port()),
            );
        want["data"]["ClusterConfiguration"] = doc.into();
        assert_eq!(
            c.get("v1", "configmaps", Some("kube-system"), "kubeadm-config"),
            want
        );

        // kubeadm-certs: owned by a 2h token without usages, decrypts with the key.
        let secret = c.get("v1", "secrets", Some("kube-system"), "kubeadm-certs");
        assert_eq!(secret["type"], "Opaque");
        let owner = &secret["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "Secret");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
        let tok_name = owner["name"].as_str().unwrap();
        let tok = c
            .server
            .get("v1", "secrets", Some("kube-system"), tok_name)
            .unwrap();
        assert_eq!(owner["uid"], tok["metadata"]["uid"]);
        assert_eq!(tok["type"], "bootstrap.kubernetes.io/token");
        let mut tok_keys: Vec<&String> = tok["data"].as_object().unwrap().keys().collect();
        tok_keys.sort();
        assert_eq!(
            tok_keys,
            ["description", "expiration", "token-id", "token-secret"]
        );
        use base64::Engine as _;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
        };
        let exp = String::from_utf8(b64(&tok["data"]["expiration"])).unwrap();
        let exp = time::OffsetDateTime::parse(&exp, &time::format_description::well_known::Rfc3339)
            .unwrap();
        let left = exp - time::OffsetDateTime::now_utc();
        assert!(
            left > time::Duration::minutes(110) && left <= time::Duration::hours(2),
            "{left}"
        );
        let key = phases::upload_certs::decode_key(KEY).unwrap();
        let ca = phases::upload_certs::decrypt(&key, &b64(&secret["data"]["ca.crt"])).unwrap();
        assert_eq!(
            ca,
            std::fs::read(c.root.join("etc/kubernetes/pki/ca.crt")).unwrap()
        );
        let sa = phases::upload_certs::decrypt(&key, &b64(&secret["data"]["sa.key"])).unwrap();
        assert_eq!(
            sa,
            std::fs::read(c.root.join("etc/kubernetes/pki/sa.key")).unwrap()
        );
        assert_eq!(
            c.server
                .list("v1", "secrets", Some("kube-system"))
                .iter()
                .filter(|s| s["metadata"]["name"] == "kubeadm-certs")
                .count(),
            1
        );

        // The node: labels and taints, existing taints kept after the configured one, no duplicates.
        let node = c.get("v1", "nodes", None, "vm");
        let labels = &node["metadata"]["labels"];
        assert_eq!(labels["node-role.kubernetes.io/control-plane"], "");
        assert_eq!(
            labels["node.kubernetes.io/exclude-from-external-load-balancers"],
            ""
        );
        assert_eq!(
            node["spec"]["taints"],
            serde_json::json!([
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
            ])
        );
    }

    #[test]
    fn kubelet_finalize_restarts_the_kubelet_with_the_rotated_certificate() {
        let c = Cluster::start("", false);
        std::fs::create_dir_all(c.root.join("var/lib/kubelet/pki")).unwrap();
        std::fs::write(
            c.root
                .join("var/lib/kubelet/pki/kubelet-client-current.pem"),
            "x",
        )
        .unwrap();
        c.run("kubelet-finalize").unwrap();
        assert_eq!(
            *c.kubelet.calls.lock().unwrap(),
            vec!["restart kubelet".to_string()]
        );
        let conf = std::fs::read_to_string(c.root.join("etc/kubernetes/kubelet.conf")).unwrap();
        assert!(
            conf.contains("client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem"),
            "{conf}"
        );
        assert!(!conf.contains("client-key-data"));
    }

    #[test]
    fn upload_certs_is_skipped_without_the_flag() {
        let c = Cluster::start("", false);
        c.run("upload-certs").unwrap();
        assert!(c
            .server
            .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
            .is_none());
    }

    #[test]
    fn an_unhealthy_api_server_fails_wait_control_plane_naming_it() {
        let c = Cluster::start("", false);
        c.server.set_healthy(false, false);
        let e = format!("{:#}", c.run("wait-control-plane").unwrap_err());
        assert!(e.contains("kube-apiserver check failed"), "{e}");
        assert!(!e.contains("kube-scheduler check failed"), "{e}");
        // An unhealthy scheduler is named too.
        let mut c = c;
        c.server.set_healthy(true, true);
        c.targets.scheduler = "http://127.0.0.1:1/livez".into();
        let e = format!("{:#}", c.run("wait-control-plane").unwrap_err());
        assert!(
            e.contains("kube-scheduler check failed at http://127.0.0.1:1/livez"),
            "{e}"
        );
        assert!(!e.contains("kube-apiserver check failed"), "{e}");
    }

    #[test]
    fn a_live_but_not_ready_api_server_fails_wait_control_plane_on_readyz() {
        let c = Cluster::start("", false);
        c.server.set_healthy(true, false);
        let e = format!("{:#}", c.run("wait-control-plane").unwrap_err());
        assert!(e.contains("kube-apiserver is live but not ready"), "{e}");
        assert!(e.contains("/readyz"), "{e}");
        c.server.set_healthy(true, true);
        c.run("wait-control-plane").unwrap();
    }

    #[test]
    fn mark_control_plane_waits_for_the_node_then_gives_up_naming_it() {
        let c = Cluster::start("", false);
        c.run("wait-control-plane").unwrap();
        // No kubelet ever registers the node: fails after kubernetesAPICall (10s).
        let e = format!("{:#}", c.run("mark-control-plane").unwrap_err());
        assert!(e.contains("vm"), "{e}");
    }
}
