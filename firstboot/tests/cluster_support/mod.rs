//! Shared helpers for the cluster-phase tests: the kubeadm v1.36.2 reference fixtures, the
//! reference machine's facts, and the objects of a plan.
#![allow(dead_code)]

use firstboot::config::HostFacts;
use firstboot::kube::ObjectItem;
use firstboot::phases::{Plan, PlanItem};
use serde_json::Value;

/// The copied kubeadm v1.36.2 reference output.
pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kubeadm-v1.36.2"
);

/// The reference machine (`vm`, 192.0.2.2).
pub fn facts() -> HostFacts {
    HostFacts {
        hostname: "vm".into(),
        default_address: Ok("192.0.2.2".parse().unwrap()),
        active_staged_version: None,
        staged_versions: None,
        cri_sockets: vec![],
    }
}

/// The object actions of a plan, in order.
pub fn objects(plan: &Plan) -> Vec<&ObjectItem> {
    plan.items
        .iter()
        .filter_map(|i| match i {
            PlanItem::Object(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// Removes the metadata the API server fills in (uid, timestamps, resourceVersion, ...).
pub fn strip_server_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "managedFields",
            "generation",
        ] {
            m.remove(k);
        }
    }
}

/// A reference object (`configmap/kube-system__kubeadm-config.yaml`) as JSON without what the
/// server or its controllers add: server metadata, rollout annotations and `status`.
pub fn reference_object(rel: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/objects/{rel}")).unwrap();
    let mut v: Value = serde_yaml::from_str(&text).unwrap();
    strip_server_fields(&mut v);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deprecated.daemonset.template.generation");
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

// ---- init → join end to end against testkit::apiserver ----

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use firstboot::config::{Mode, NodeConfig};
use firstboot::kube::ServiceManager;
use firstboot::runner::{self, Boundary, RunError, RunRequest};
use testkit::apiserver::{ApiServer, ApiServerOptions, TlsMaterial};
use testkit::kubelet::{ClusterSigner, StandInKubelet};

/// The firstboot binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_firstboot");

/// A certificate key the init configurations upload the shared certificates with (a user who
/// pre-generates one, as Cluster API does).
pub const CERTIFICATE_KEY: &str =
    "6a1f0c9be3d24e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f";

/// firstboot's [`ServiceManager`] over the **test stand-in** kubelet: `restart kubelet` makes
/// it TLS-bootstrap / register the Node (see `testkit::kubelet`).
pub struct StandInServices {
    /// The stand-in kubelet of this node.
    pub kubelet: StandInKubelet,
    calls: Mutex<Vec<String>>,
}

impl StandInServices {
    /// A stand-in kubelet for node `name` under `root`, signing with `signer`.
    pub fn new(root: &Path, name: &str, signer: ClusterSigner) -> Self {
        StandInServices {
            kubelet: StandInKubelet::new(root, name, signer),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Service calls in order (`restart kubelet`, ...).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, action: &str, unit: &str) {
        self.calls.lock().unwrap().push(format!("{action} {unit}"));
    }
}

impl ServiceManager for StandInServices {
    fn enable(&self, unit: &str) -> anyhow::Result<()> {
        self.record("enable", unit);
        Ok(())
    }
    fn restart(&self, unit: &str) -> anyhow::Result<()> {
        self.record("restart", unit);
        if unit == "kubelet" {
            // Like `systemctl restart`: the unit starts even if the kubelet then fails; the
            // stand-in's log keeps the error.
            let _ = self.kubelet.restart();
        }
        Ok(())
    }
    fn stop(&self, unit: &str) -> anyhow::Result<()> {
        self.record("stop", unit);
        if unit == "kubelet" {
            self.kubelet.stop();
        }
        Ok(())
    }
    fn is_active(&self, unit: &str) -> anyhow::Result<bool> {
        Ok(unit == "kubelet" && self.kubelet.is_running())
    }
}

/// A node path under `root`.
pub fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Loads `text` as the configuration of a node under `root` for `mode`.
pub fn load_config(root: &Path, text: &str, mode: Mode) -> NodeConfig {
    std::fs::create_dir_all(under(root, "/etc/kubebake")).unwrap();
    std::fs::write(under(root, "/etc/kubebake/firstboot.yaml"), text).unwrap();
    firstboot::config::load_str("firstboot.yaml", text, &facts(), Some(mode))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the whole workflow of `cfg` under `root` with `services` (in process, like the binary).
pub fn run_node(
    cfg: &NodeConfig,
    root: &Path,
    services: &dyn ServiceManager,
    fault: Option<&runner::FaultHook>,
) -> Result<(), RunError> {
    let req = RunRequest {
        root: root.to_path_buf(),
        dry_run: false,
        skip: cfg.skip_phases(),
        only: None,
        fault,
        kubeconfig: None,
        services: Some(services),
    };
    runner::run(cfg, &facts(), &req)
}

/// `name → state` of every phase in the status journal under `root`.
pub fn journal_states(root: &Path) -> Vec<(String, String)> {
    let raw = std::fs::read(under(root, "/var/lib/kubebake/firstboot/status.json")).unwrap();
    let v: Value = serde_json::from_slice(&raw).unwrap();
    v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The Cluster API success sentinel under `root`.
pub fn sentinel(root: &Path) -> PathBuf {
    under(root, "/run/cluster-api/bootstrap-success.complete")
}

/// The first control-plane node after `firstboot init`, and the in-memory API server serving
/// the PKI its certs phase made (started by the test hook as soon as `certs` is done, so the
/// one init run sees an API server like a real node would once its static pods run).
pub struct InitNode {
    /// The API server (serves `apiserver.crt`, trusts `ca.crt` of this node).
    pub server: ApiServer,
    /// The node root.
    pub root: tempfile::TempDir,
    /// Its services (the stand-in kubelet of `cp1`).
    pub services: StandInServices,
    /// Its configuration.
    pub cfg: NodeConfig,
    /// The API server port (also the controlPlaneEndpoint port).
    pub port: u16,
}

/// The init configuration: node `cp1` at 127.0.0.1:`port` (controlPlaneEndpoint too),
/// ECDSA keys, shared certificates uploaded with [`CERTIFICATE_KEY`], and the health endpoints
/// of kube-controller-manager / kube-scheduler pointed at the API server (nothing else runs
/// them); `etcd` is the ClusterConfiguration's etcd section (empty: stacked).
pub fn init_config(port: u16, etcd: &str) -> String {
    format!(
        "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 127.0.0.1
  bindPort: {port}
certificateKey: {CERTIFICATE_KEY}
nodeRegistration:
  name: cp1
  criSocket: unix:///var/run/containerd/containerd.sock
  ignorePreflightErrors: [all]
timeouts:
  controlPlaneComponentHealthCheck: 20s
  kubernetesAPICall: 10s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.2
controlPlaneEndpoint: 127.0.0.1:{port}
encryptionAlgorithm: ECDSA-P256
controllerManager:
  extraArgs:
  - name: secure-port
    value: \"{port}\"
scheduler:
  extraArgs:
  - name: secure-port
    value: \"{port}\"
{etcd}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The stand-in kubelet serves no healthz.
healthzPort: 0
---
apiVersion: kubebake.io/v1alpha1
kind: FirstbootConfiguration
uploadCerts: true
"
    )
}

/// Runs `firstboot init` for `config_text` (see [`init_config`]) under a new root; panics
/// unless it succeeds.
pub fn init_node(
    config_text: impl Fn(u16) -> String,
    prepare_root: impl FnOnce(&Path),
) -> InitNode {
    let node = try_init_node(config_text, prepare_root, |_| {});
    if let Err(e) = &node.1 {
        panic!(
            "init failed: {e}\nkubelet: {:?}",
            node.0.services.kubelet.log()
        );
    }
    node.0
}

/// Like [`init_node`] but returns the run's result; `prepare_root` runs on the empty root
/// (files the user provides, such as external etcd client certificates), `prepare` on the API
/// server right after it starts (inject failures there).
pub fn try_init_node(
    config_text: impl Fn(u16) -> String,
    prepare_root: impl FnOnce(&Path),
    prepare: impl Fn(&ApiServer) + 'static,
) -> (InitNode, Result<(), RunError>) {
    let root = tempfile::tempdir().unwrap();
    prepare_root(root.path());
    let port = testkit::services::free_port();
    let cfg = load_config(root.path(), &config_text(port), Mode::Init);
    // The fault hook must be 'static: it owns what it needs and shares the server cell.
    let server_cell: Arc<OnceLock<ApiServer>> = Arc::new(OnceLock::new());
    let hook: Box<runner::FaultHook> = {
        let cell = server_cell.clone();
        let pki = under(root.path(), "/etc/kubernetes/pki");
        Box::new(move |b: &Boundary| {
            if *b
                == (Boundary::PhaseDone {
                    phase: "certs".into(),
                })
            {
                cell.get_or_init(|| {
                    let s = ApiServer::start(ApiServerOptions {
                        tls: TlsMaterial::from_pki_dir(&pki).unwrap(),
                        port: Some(port),
                        git_version: "v1.36.2".into(),
                    })
                    .unwrap();
                    prepare(&s);
                    s
                });
            }
        })
    };
    // The init node's kubelet has kubelet.conf from the kubeconfig phase: it never
    // TLS-bootstraps, so its stand-in needs no signer.
    let no_signer = ClusterSigner {
        ca_cert_pem: String::new(),
        ca_key_pem: String::new(),
    };
    let services = StandInServices::new(root.path(), "cp1", no_signer);
    let result = run_node(&cfg, root.path(), &services, Some(hook.as_ref()));
    drop(hook);
    let server = Arc::try_unwrap(server_cell)
        .ok()
        .and_then(OnceLock::into_inner)
        .expect("the certs phase ran, so the API server started");
    (
        InitNode {
            server,
            services,
            cfg,
            root,
            port,
        },
        result,
    )
}

impl InitNode {
    /// The admin kubeconfig of this node.
    pub fn admin_conf(&self) -> PathBuf {
        under(self.root.path(), "/etc/kubernetes/admin.conf")
    }

    /// An admin connection.
    pub fn admin(&self) -> firstboot::kube::Cluster {
        firstboot::kube::Cluster::from_kubeconfig(
            &self.admin_conf(),
            "admin.conf",
            std::time::Duration::from_secs(5),
        )
        .unwrap()
    }

    /// The cluster CA (what the controller-manager signs kubelet certificates with).
    pub fn signer(&self) -> ClusterSigner {
        ClusterSigner::from_pki_dir(&under(self.root.path(), "/etc/kubernetes/pki")).unwrap()
    }

    /// `firstboot token create --print-join-config [ARGS]` on this node (the binary, as a user
    /// would run it); signs cluster-info for the new token as the controller-manager's
    /// bootstrap signer would. Returns the printed documents.
    pub fn join_config(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(BIN)
            .arg("--root")
            .arg(self.root.path())
            .args(["token", "create", "--print-join-config"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        firstboot::phases::bootstrap_token::sign_cluster_info(&self.admin()).unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// Events the API server holds for Node `node`: (reason, message) in creation order.
    pub fn node_events(&self, node: &str) -> Vec<(String, String)> {
        let mut evs: Vec<Value> = self
            .server
            .list("v1", "events", Some("default"))
            .into_iter()
            .filter(|e| {
                e["involvedObject"]["kind"] == "Node" && e["involvedObject"]["name"] == node
            })
            .collect();
        evs.sort_by_key(|e| {
            e["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .parse::<u64>()
                .unwrap_or(0)
        });
        evs.iter()
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or("").to_string(),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The stored Node `name`.
    pub fn node(&self, name: &str) -> Option<Value> {
        self.server.get("v1", "nodes", None, name)
    }
}

/// Adds `nodeRegistration` (node `name`, preflight errors ignored), short `timeouts` and
/// `extra` (YAML lines at the top level) to the JoinConfiguration printed by
/// `token create --print-join-config`; the other documents stay as printed.
pub fn join_config_for(printed: &str, name: &str, extra: &str) -> String {
    let mut docs: Vec<String> = printed.split("\n---\n").map(str::to_string).collect();
    let join = docs
        .iter_mut()
        .find(|d| d.contains("kind: JoinConfiguration"))
        .expect("a JoinConfiguration");
    if !join.ends_with('\n') {
        join.push('\n');
    }
    join.push_str(&format!(
        "nodeRegistration:\n  name: {name}\n  criSocket: unix:///var/run/containerd/containerd.sock\n  ignorePreflightErrors: [all]\ntimeouts:\n  discovery: 10s\n  tlsBootstrap: 10s\n  kubernetesAPICall: 5s\n  controlPlaneComponentHealthCheck: 10s\n{extra}"
    ));
    docs.join("\n---\n")
}
