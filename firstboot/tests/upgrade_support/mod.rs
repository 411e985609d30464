//! A running one-node control plane for the upgrade tests: a node root with kubeadm's PKI,
//! kubeconfigs and v1.35.2 manifests written by the firstboot binary, the v1.35.2 bundle staged
//! and active, `testkit::apiserver` serving with the root's PKI on the configured bind port, a
//! real etcd (Debian `etcd-server`) on the root's `/var/lib/etcd`, and the stand-in kubelet
//! (`testkit::kubelet::FakeKubelet`) keeping mirror pods in step with the manifests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use firstboot::config::{self, HostFacts, NodeConfig};
use firstboot::etcd_client::{EtcdClient, EtcdTls};
use firstboot::kube::{ClusterAccess, NoServices};
use firstboot::upgrade::apply::{self, ApplyError, Env, Kind, Request};
use firstboot::upgrade::health::JobWait;
use firstboot::upgrade::journal::UpgradeJournal;
use firstboot::upgrade::prepare::StageRequest;
use firstboot::upgrade::staticpod::Wait;
use offline::version::KubeVersion;
use testkit::apiserver::{ApiServer, ApiServerOptions, TlsMaterial};
use testkit::etcd::Etcd;
use testkit::kubelet::{FakeKubelet, JobCompleter};

/// The firstboot binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_firstboot");
/// Version the cluster runs before the upgrade.
pub const FROM: &str = "v1.35.2";
/// The upgrade target.
pub const TO: &str = "v1.36.2";
/// The node.
pub const NODE: &str = "cp1";

/// Bundles made once per test process (stand-in binaries and images from testkit).
pub fn bundle(version: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap()).path();
    let out = dir.join(format!("k8s-{version}.bundle"));
    if out.exists() {
        return out;
    }
    let d = dir.join(version);
    std::fs::create_dir_all(&d).unwrap();
    let spec_path = testkit::local_bundle_spec(&d, version);
    // testkit's layout has kubeadm v1.36's add-on and etcd tags; use this version's own set.
    let v = KubeVersion::parse(version).unwrap();
    let comps = offline::version::component_versions(v.minor(), v.minor()).unwrap();
    let imgs: Vec<testkit::images::FixtureImage> =
        offline::bundle::control_plane_images("registry.k8s.io", &v, &comps)
            .iter()
            .map(|(_, n)| testkit::images::FixtureImage::multi(n))
            .collect();
    let layout = d.join("layout-own");
    testkit::images::write_layout(&layout, &imgs);
    let text = std::fs::read_to_string(&spec_path).unwrap().replace(
        &d.join("layout").display().to_string(),
        &layout.display().to_string(),
    );
    std::fs::write(&spec_path, text).unwrap();
    let spec = offline::spec::load_spec(&spec_path).unwrap();
    let opts = offline::bundle::CreateOptions {
        out: out.clone(),
        parallelism: 2,
        retries: 0,
        extra_binaries: vec![],
        compression: 1,
        progress: Arc::new(offline::progress::Silent),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(offline::bundle::create(&spec, &opts))
        .unwrap();
    out
}

/// The one-node cluster.
pub struct Cluster {
    /// The node root.
    pub root: tempfile::TempDir,
    /// The configuration file (outside the node's paths).
    pub config: PathBuf,
    /// The API server.
    pub server: ApiServer,
    /// The real etcd (shared with kubelet hooks).
    pub etcd: Arc<Mutex<Etcd>>,
    /// The stand-in kubelet.
    pub kubelet: FakeKubelet,
    /// The stand-in Job controller (completes the upgrade health check Jobs).
    pub jobs: JobCompleter,
}

fn run(root: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Cluster {
    /// Sets everything up (see the module documentation).
    pub fn start() -> Cluster {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        bake::stage::stage(
            &bundle(FROM),
            &bake::stage::StageOptions {
                root: r.to_path_buf(),
                ..Default::default()
            },
            &offline::progress::Silent,
        )
        .unwrap();
        let port = testkit::services::free_port();
        let config = r.join("cluster.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
                 localAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n  bindPort: {port}\n\
                 nodeRegistration:\n  name: {NODE}\n  criSocket: unix:///var/run/containerd/containerd.sock\n\
                 ---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                 kubernetesVersion: {FROM}\n"
            ),
        )
        .unwrap();
        for phase in [
            "certs",
            "kubeconfig",
            "etcd",
            "control-plane",
            "kubelet-start",
        ] {
            ok(run(r, &config, &["init", "phase", phase]), phase);
        }
        let pki = r.join("etc/kubernetes/pki");
        let server = ApiServer::start(ApiServerOptions {
            tls: TlsMaterial::from_pki_dir(&pki).unwrap(),
            port: Some(port),
            git_version: FROM.into(),
        })
        .unwrap();
        let sa = r.join("etc/kubernetes/super-admin.conf");
        let sa_arg = sa.display().to_string();
        for phase in ["upload-config", "addon"] {
            ok(
                run(
                    r,
                    &config,
                    &["--kubeconfig", &sa_arg, "init", "phase", phase],
                ),
                phase,
            );
        }
        server
            .insert(serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": NODE, "labels": {"node-role.kubernetes.io/control-plane": ""}},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "nodeInfo": {"kubeletVersion": FROM}
                }
            }))
            .unwrap();
        let mut etcd = Etcd::new(NODE, &pki).with_data_dir(&r.join("var/lib/etcd"));
        etcd.start_new_cluster();
        let kubelet = FakeKubelet::start(r, server.store(), NODE);
        let jobs = JobCompleter::start(server.store(), "upgrade-health-check-");
        Cluster {
            root,
            config,
            server,
            etcd: Arc::new(Mutex::new(etcd)),
            kubelet,
            jobs,
        }
    }

    /// The node root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A node path under the root.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p.trim_start_matches('/'))
    }

    /// A manifest's current text.
    pub fn manifest(&self, component: &str) -> String {
        std::fs::read_to_string(self.path(&format!("/etc/kubernetes/manifests/{component}.yaml")))
            .unwrap()
    }

    /// The etcd client endpoint.
    pub fn etcd_url(&self) -> String {
        self.etcd.lock().unwrap().client_url()
    }

    /// An etcd client with the root's healthcheck-client certificate.
    pub fn etcd_client(&self) -> EtcdClient {
        let tls = EtcdTls::from_pki_dir(&self.path("/etc/kubernetes/pki")).unwrap();
        EtcdClient::new(vec![self.etcd_url()], tls)
            .unwrap()
            .with_retry_timeout(Duration::from_secs(20))
    }

    /// Runs the firstboot binary on this node (with the super-admin kubeconfig).
    pub fn firstboot(&self, args: &[&str]) -> Output {
        let sa = self.path("/etc/kubernetes/super-admin.conf");
        let mut a = vec!["--kubeconfig", sa.to_str().unwrap()];
        a.extend_from_slice(args);
        run(self.root(), &self.config, &a)
    }

    /// The admin connection, host facts and the target's configuration (the node's file with
    /// the cluster's stored ClusterConfiguration and component configs, at [`TO`]).
    pub fn target_config(&self) -> (ClusterAccess, HostFacts, NodeConfig) {
        let facts = HostFacts::detect(self.root());
        let local: NodeConfig =
            config::load(Some(&self.config), self.root(), &facts, None).unwrap();
        let sa = self.path("/etc/kubernetes/super-admin.conf");
        let access =
            ClusterAccess::new(sa.clone(), sa.display().to_string(), Duration::from_secs(5));
        let cfg = apply::target_config_from_cluster(
            &local,
            access.get().unwrap(),
            &KubeVersion::parse(TO).unwrap(),
        )
        .unwrap();
        (access, facts, cfg)
    }

    /// Runs `upgrade apply` through the library (`progress` may stop it like a crash).
    pub fn apply(
        &self,
        bundle: &Path,
        wait: Duration,
        services: &NoServices,
        progress: &mut dyn FnMut(&str) -> anyhow::Result<()>,
    ) -> Result<UpgradeJournal, ApplyError> {
        self.upgrade(Kind::Apply, bundle, wait, services, progress)
    }

    /// Runs `upgrade apply` to [`TO`] with its bundle, without a progress hook.
    pub fn apply_target(
        &self,
        wait: Duration,
        services: &NoServices,
    ) -> Result<UpgradeJournal, ApplyError> {
        self.apply(&bundle(TO), wait, services, &mut |_| Ok(()))
    }

    /// Runs `upgrade node` to [`TO`] with its bundle, without a progress hook.
    pub fn node_target(
        &self,
        wait: Duration,
        services: &NoServices,
    ) -> Result<UpgradeJournal, ApplyError> {
        self.upgrade(Kind::Node, &bundle(TO), wait, services, &mut |_| Ok(()))
    }

    /// Sets `kubernetesVersion` in the cluster's stored ClusterConfiguration from [`FROM`] to
    /// `version`: what `upgrade apply` on the first control-plane node leaves behind.
    pub fn set_cluster_version(&self, version: &str) {
        let mut cm = self
            .server
            .get("v1", "configmaps", Some("kube-system"), "kubeadm-config")
            .unwrap();
        let cc = cm["data"]["ClusterConfiguration"]
            .as_str()
            .unwrap()
            .replace(
                &format!("kubernetesVersion: {FROM}"),
                &format!("kubernetesVersion: {version}"),
            );
        cm["data"]["ClusterConfiguration"] = cc.into();
        self.server.insert(cm).unwrap();
    }

    /// Appends `line` to the cluster's stored KubeletConfiguration (a cluster-wide kubelet
    /// setting changed since the nodes were set up).
    pub fn append_to_kubelet_config(&self, line: &str) {
        let mut kcm = self
            .server
            .get("v1", "configmaps", Some("kube-system"), "kubelet-config")
            .unwrap();
        let doc = format!("{}{line}\n", kcm["data"]["kubelet"].as_str().unwrap());
        kcm["data"]["kubelet"] = doc.into();
        self.server.insert(kcm).unwrap();
    }

    /// Node paths of etcd data directories set aside by a restore from the snapshot
    /// (`/var/lib/etcd.before-rollback-<ts>`).
    pub fn etcd_data_kept_aside(&self) -> Vec<String> {
        std::fs::read_dir(self.path("/var/lib"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("etcd.before-rollback-"))
            .map(|n| format!("/var/lib/{n}"))
            .collect()
    }

    /// Runs `upgrade apply` or `upgrade node` through the library.
    pub fn upgrade(
        &self,
        kind: Kind,
        bundle: &Path,
        wait: Duration,
        services: &NoServices,
        progress: &mut dyn FnMut(&str) -> anyhow::Result<()>,
    ) -> Result<UpgradeJournal, ApplyError> {
        let (access, facts, cfg) = self.target_config();
        let cluster = access.get().unwrap();
        let target = KubeVersion::parse(TO).unwrap();
        let req = Request {
            kind,
            root: self.root(),
            target,
            stage: StageRequest::new(self.root(), bundle, None),
            config: &cfg,
            facts: &facts,
            etcd_upgrade: true,
            certificate_renewal: true,
            etcd_endpoints: vec![self.etcd_url()],
            restore_tool: None,
            wait: Wait {
                timeout: wait,
                interval: Duration::from_millis(100),
            },
            job_wait: JobWait {
                interval: Duration::from_millis(100),
                timeout: Duration::from_secs(3),
            },
        };
        let env = Env {
            cluster: &access,
            pods: cluster,
            services,
        };
        apply::apply(&req, &env, progress)
    }

    /// The mirror pod of `component` on this node.
    pub fn mirror_hash(&self, component: &str) -> Option<String> {
        self.server
            .get(
                "v1",
                "pods",
                Some("kube-system"),
                &format!("{component}-{NODE}"),
            )
            .and_then(|p| {
                p["metadata"]["annotations"]["kubernetes.io/config.hash"]
                    .as_str()
                    .map(str::to_string)
            })
    }

    /// Waits until the stand-in kubelet runs the current manifest of `component`.
    pub fn wait_mirror_current(&self, component: &str) {
        let want = testkit::kubelet::manifest_hash(&self.manifest(component));
        for _ in 0..100 {
            if self.mirror_hash(component) == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mirror pod of {component} does not follow its manifest");
    }
}

/// The image tag of a manifest's first container.
pub fn image_tag(manifest: &str) -> String {
    let pod = firstboot::manifests::pod_from_yaml(manifest, "m").unwrap();
    let image = pod.spec.unwrap().containers[0].image.clone().unwrap();
    image.rsplit_once(':').unwrap().1.to_string()
}

/// The error of the step that failed, asserting it is `step`.
#[track_caller]
pub fn step_error(err: &ApplyError, step: &str) -> String {
    match err {
        ApplyError::Step { step: s, error } => {
            assert_eq!(s, step);
            error.clone()
        }
        other => panic!("expected step {step} to fail: {other}"),
    }
}
