//! kubeadm's `join` phases (spec §13): one module per phase, plus what they share —
//! discovery (cached per process), the bootstrap-token connection and the cluster's stored
//! configuration.

pub mod check_etcd;
pub mod control_plane_join;
pub mod control_plane_prepare;
pub mod etcd_join;
pub mod kubelet_start;
pub mod kubelet_wait_bootstrap;
pub mod wait_control_plane;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;

use super::Context;
use crate::config::{ClusterConfiguration, JoinConfiguration, NodeConfig};
use crate::join::discovery::{self, DiscoveredCluster, HttpsClusterInfo, TokenDiscovery};
use crate::kube::Cluster;
use crate::kubeconfig::Kubeconfig;

/// `/etc/kubernetes/bootstrap-kubelet.conf`.
pub const BOOTSTRAP_KUBELET_CONF: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
/// `/etc/kubernetes/kubelet.conf`.
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// `/etc/kubernetes/admin.conf`.
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

/// What discovery produced: the TLS-bootstrap kubeconfig (cluster `kubernetes`, token user)
/// and the cluster it describes.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Token kubeconfig for the TLS bootstrap (and the join's API reads).
    pub kubeconfig: Kubeconfig,
    /// Server and CA.
    pub cluster: DiscoveredCluster,
}

fn cache() -> &'static Mutex<HashMap<String, Discovered>> {
    static C: std::sync::OnceLock<Mutex<HashMap<String, Discovered>>> = std::sync::OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The JoinConfiguration of a join run.
pub fn join_config<'a>(ctx: &Context<'a>) -> anyhow::Result<&'a JoinConfiguration> {
    ctx.config
        .join
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("this is not a join configuration (no JoinConfiguration)"))
}

/// `timeouts.<x>` or kubeadm's default.
pub fn timeout_or(d: Option<crate::config::GoDuration>, default: Duration) -> Duration {
    d.map(|d| d.as_duration()).unwrap_or(default)
}

/// Runs discovery once per process (bootstrap token or file, spec §13.2) and returns the
/// bootstrap kubeconfig.
pub fn discover(ctx: &Context) -> anyhow::Result<Discovered> {
    let join = join_config(ctx)?;
    let key = format!("{}|{:?}", ctx.root.display(), join.discovery);
    if let Some(d) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(d);
    }
    let timeout = timeout_or(
        ctx.config.timeouts().discovery,
        discovery::DEFAULT_DISCOVERY_TIMEOUT,
    );
    let tls_token = discovery::tls_bootstrap_token(join);
    let d = match (&join.discovery.bootstrap_token, &join.discovery.file) {
        (Some(bt), _) => {
            let td = TokenDiscovery::from_config(bt, timeout)?;
            println!(
                "[discovery] Fetching cluster-info from https://{} with token {}",
                td.endpoint, td.token
            );
            let cluster = td.run(&HttpsClusterInfo)?;
            let token = match tls_token {
                Some(t) => discovery::Token::parse(t)?,
                None => td.token.clone(),
            };
            Discovered {
                kubeconfig: discovery::bootstrap_kubeconfig(&cluster, &token),
                cluster,
            }
        }
        (None, Some(f)) => {
            let (kubeconfig, cluster) =
                discovery::file_discovery(&f.kube_config_path, ctx.root, tls_token)?;
            Discovered {
                kubeconfig,
                cluster,
            }
        }
        (None, None) => anyhow::bail!(
            "JoinConfiguration.discovery: set bootstrapToken or file (one of the two is required)"
        ),
    };
    if let Ok(mut c) = cache().lock() {
        c.insert(key, d.clone());
    }
    Ok(d)
}

/// Connects with `kubeconfig` (written to a private temporary file only while connecting).
pub fn connect(
    kubeconfig: &Kubeconfig,
    display: &str,
    cfg: &NodeConfig,
) -> anyhow::Result<Cluster> {
    let dir = tempfile::tempdir()?;
    let path: PathBuf = dir.path().join("kubeconfig");
    // A plain write into the private (0700) temporary directory: not fsutil's atomic write,
    // whose directory sync is deferred to the end of the phase, when this directory is gone.
    std::fs::write(&path, kubeconfig.to_yaml()?)?;
    let retry = cfg.api_call_timeout().unwrap_or(Duration::from_secs(60));
    Ok(Cluster::from_kubeconfig(&path, display, retry)?)
}

/// The connection a join uses before it has admin credentials: `admin.conf` when it exists on
/// a control-plane join (§13.4), else the bootstrap token from discovery.
pub fn bootstrap_cluster(ctx: &Context) -> anyhow::Result<Cluster> {
    let admin = ctx.path(ADMIN_CONF);
    if ctx.config.is_control_plane() && admin.exists() {
        let retry = ctx
            .config
            .api_call_timeout()
            .unwrap_or(Duration::from_secs(60));
        return Ok(Cluster::from_kubeconfig(&admin, ADMIN_CONF, retry)?);
    }
    let d = discover(ctx)?;
    connect(
        &d.kubeconfig,
        "bootstrap token kubeconfig (discovery)",
        ctx.config,
    )
}

/// Checks the join material before a join writes anything: the expiry times the
/// configuration knows, then the cluster's answer (spec §9, §13.2; see
/// [`crate::join::checks::check_with_cluster`]). Dry runs check only the configuration.
pub fn check_join_material(ctx: &Context) -> anyhow::Result<()> {
    let join = join_config(ctx)?;
    let key = join
        .control_plane
        .as_ref()
        .is_some_and(|c| !c.certificate_key.is_empty());
    let now = std::time::SystemTime::now();
    crate::join::checks::check_known_expiry(&ctx.config.firstboot.join_material, key, now)?;
    if ctx.cluster.is_none() {
        return Ok(());
    }
    let cluster = bootstrap_cluster(ctx)?;
    let id = discovery::tls_bootstrap_token(join)
        .and_then(|t| discovery::Token::parse(t).ok())
        .map(|t| t.id);
    crate::join::checks::check_with_cluster(&cluster, id.as_deref(), key, now)
}

/// The YAML document under `key` of ConfigMap `kube-system/<name>` (`kubelet-config` /
/// `kubelet`, `kube-proxy` / `config.conf`), parsed; `None` when the ConfigMap or the key is
/// missing.
pub fn stored_document<T: serde::de::DeserializeOwned>(
    cluster: &Cluster,
    name: &str,
    key: &str,
) -> anyhow::Result<Option<T>> {
    let cm: Option<ConfigMap> = cluster.get(Some("kube-system"), name)?;
    match cm.and_then(|c| c.data).and_then(|d| d.get(key).cloned()) {
        Some(text) => serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("ConfigMap kube-system/{name} key {key}: {e}")),
        None => Ok(None),
    }
}

/// The cluster-wide KubeletConfiguration from `kube-system/kubelet-config`; an error when it
/// is missing.
pub fn stored_kubelet_configuration(cluster: &Cluster) -> anyhow::Result<serde_json::Value> {
    stored_document(cluster, "kubelet-config", "kubelet")?.ok_or_else(|| {
        anyhow::anyhow!("ConfigMap kube-system/kubelet-config not found or has no `kubelet` key")
    })
}

/// Reads `kube-system/kubeadm-config` and parses its ClusterConfiguration.
pub fn cluster_configuration(cluster: &Cluster) -> anyhow::Result<ClusterConfiguration> {
    let cm: ConfigMap = cluster
        .get(Some("kube-system"), "kubeadm-config")?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "ConfigMap kube-system/kubeadm-config not found: the cluster was not set up by kubeadm/firstboot init \
                 (or upload-config did not run)"
            )
        })?;
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("ClusterConfiguration"))
        .ok_or_else(|| {
            anyhow::anyhow!("ConfigMap kube-system/kubeadm-config has no ClusterConfiguration key")
        })?;
    serde_yaml::from_str(text).map_err(|e| {
        anyhow::anyhow!("ConfigMap kube-system/kubeadm-config: invalid ClusterConfiguration: {e}")
    })
}

/// Whether the cluster's stored ClusterConfiguration uses external etcd (then kubeadm skips
/// `check-etcd` and `etcd-join`).
pub fn cluster_uses_external_etcd(cluster: &Cluster) -> anyhow::Result<bool> {
    Ok(cluster_configuration(cluster)?.etcd.external.is_some())
}

/// The join configuration with the cluster's stored ClusterConfiguration (what kubeadm uses on
/// join for certificates, manifests and kubeconfigs).
pub fn with_cluster_configuration(cfg: &NodeConfig, cc: ClusterConfiguration) -> NodeConfig {
    let mut c = cfg.clone();
    c.cluster = cc;
    c
}

/// A context like `ctx` but with another configuration and skip list, the whole phase
/// selected (to reuse an init phase inside a join phase).
pub fn sub_context<'a>(
    ctx: &Context<'a>,
    config: &'a NodeConfig,
    skip: &'a [String],
) -> Context<'a> {
    Context {
        root: ctx.root,
        host_root: ctx.host_root,
        config,
        facts: ctx.facts,
        subphase: None,
        skip,
        start_time: ctx.start_time,
        cluster: ctx.cluster,
        services: ctx.services,
    }
}
