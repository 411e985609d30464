//! Plain inputs for the static pod manifests, filled from kubeadm's v1beta4 configuration.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::EnvVar;
use serde::{Deserialize, Serialize};

use super::args::Arg;
use super::images::{component_tags, ComponentTags, TargetVersion, DEFAULT_IMAGE_REPOSITORY};
use super::patches::PatchSet;
use super::ManifestError;

/// Optional host CA directories kubeadm mounts into kube-apiserver and kube-controller-manager
/// when they exist on the host (besides the always-mounted `/etc/ssl/certs`).
pub const OPTIONAL_CA_DIRS: [&str; 5] = [
    "/etc/ca-certificates",
    "/etc/pki/ca-trust",
    "/etc/pki/tls/certs",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
];

/// Which of [`OPTIONAL_CA_DIRS`] exist under `root` (a directory, as the node will see it).
pub fn detect_optional_ca_dirs(root: &Path) -> Vec<String> {
    OPTIONAL_CA_DIRS
        .iter()
        .filter(|d| root.join(d.trim_start_matches('/')).exists())
        .map(|d| d.to_string())
        .collect()
}

/// kubeadm's proxy variables: every `(name, value)` whose lower-cased name ends in `_proxy` and
/// whose value is non-empty, in the given order. Pass `std::env::vars()` for the real environment.
pub fn proxy_env_vars(vars: impl IntoIterator<Item = (String, String)>) -> Vec<EnvVar> {
    vars.into_iter()
        .filter(|(n, v)| n.to_lowercase().ends_with("_proxy") && !v.is_empty())
        .map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect()
}

/// A v1beta4 `extraVolumes` item (`HostPathMount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPathMount {
    /// Volume name; a name equal to a default volume replaces it.
    pub name: String,
    /// Path on the host.
    pub host_path: String,
    /// Path in the container.
    pub mount_path: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// `HostPathType`; unset is written as `type: ""`, like kubeadm.
    #[serde(default)]
    pub path_type: Option<String>,
}

/// Per-component settings (`apiServer`, `controllerManager`, `scheduler`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentParams {
    /// `extraArgs` in the user's order, repeats allowed; a name given here replaces every default
    /// argument of that name (spec §5.2).
    pub extra_args: Vec<Arg>,
    /// `extraVolumes`.
    pub extra_volumes: Vec<HostPathMount>,
    /// `extraEnvs` (merged with the proxy variables, later wins, sorted by name).
    pub extra_envs: Vec<EnvVar>,
}

/// Local (stacked) etcd: `etcd.local`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEtcdParams {
    /// `dataDir` (default `/var/lib/etcd`).
    pub data_dir: String,
    /// `imageRepository` override.
    pub image_repository: Option<String>,
    /// `imageTag` override.
    pub image_tag: Option<String>,
    /// `extraArgs`.
    pub extra_args: Vec<Arg>,
    /// `extraEnvs`.
    pub extra_envs: Vec<EnvVar>,
}

impl Default for LocalEtcdParams {
    fn default() -> Self {
        LocalEtcdParams {
            data_dir: "/var/lib/etcd".into(),
            image_repository: None,
            image_tag: None,
            extra_args: Vec::new(),
            extra_envs: Vec::new(),
        }
    }
}

/// External etcd: `etcd.external`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalEtcdParams {
    /// `endpoints` (joined with `,` into `--etcd-servers`).
    pub endpoints: Vec<String>,
    /// `caFile` (empty = unset).
    pub ca_file: String,
    /// `certFile` (empty = unset).
    pub cert_file: String,
    /// `keyFile` (empty = unset).
    pub key_file: String,
}

/// `etcd`: local or external.
#[derive(Debug, Clone, PartialEq)]
pub enum EtcdParams {
    /// Stacked etcd run as a static pod on this node.
    Local(LocalEtcdParams),
    /// An etcd cluster outside the node.
    External(ExternalEtcdParams),
}

/// An existing etcd member, for a joining member's `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Member name (or its ID in lower-case hex when unnamed).
    pub name: String,
    /// Peer URL (`https://10.0.0.5:2380`).
    pub peer_url: String,
}

/// Whether the local etcd member starts a new cluster or joins one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EtcdMembership {
    /// First member (`init`): `--initial-cluster=<node>=https://<adv>:2380`.
    #[default]
    NewCluster,
    /// Joining member (control-plane `join`): all members as returned by member-add, in order,
    /// and `--initial-cluster-state=existing`.
    Join(Vec<EtcdMember>),
}

/// Everything the four static pods depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlPlaneParams {
    /// `kubernetesVersion` (`v1.36.2`; `ci/...` accepted).
    pub kubernetes_version: String,
    /// Minor version of the kubeadm whose behaviour is reproduced (35, 36 or 37). `None` uses the
    /// target minor clamped to the known range. ≤35 selects the older behaviours recorded in the
    /// spec (whole argument list sorted, `flexvolume-dir` mount, `creationTimestamp: null`).
    pub kubeadm_minor: Option<u64>,
    /// Override for the etcd/CoreDNS/pause tags (a bundle's `componentVersions`).
    pub component_tags: Option<ComponentTags>,
    /// `imageRepository` (default `registry.k8s.io`).
    pub image_repository: String,
    /// `nodeRegistration.imagePullPolicy` (default `IfNotPresent`).
    pub image_pull_policy: String,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort` (default 6443).
    pub bind_port: u16,
    /// Node name (etcd member name).
    pub node_name: String,
    /// `certificatesDir` as seen on the node (default `/etc/kubernetes/pki`).
    pub cert_dir: String,
    /// kubeadm's KubernetesDir as seen on the node (`/etc/kubernetes`); kubeconfig paths.
    pub kubernetes_dir: String,
    /// `networking.serviceSubnet` (default `10.96.0.0/12`).
    pub service_subnet: String,
    /// `networking.podSubnet` (empty = unset).
    pub pod_subnet: String,
    /// `networking.dnsDomain` (default `cluster.local`).
    pub dns_domain: String,
    /// `clusterName` (default `kubernetes`).
    pub cluster_name: String,
    /// External CA mode (`ca.crt` present, `ca.key` absent): empty cluster-signing flags.
    pub external_ca: bool,
    /// `timeouts.controlPlaneComponentHealthCheck` (default 4m): startup probe threshold.
    pub component_health_check_timeout: Duration,
    /// Proxy variables of the environment (see [`proxy_env_vars`]).
    pub proxy_env: Vec<EnvVar>,
    /// Which of [`OPTIONAL_CA_DIRS`] exist on the host (see [`detect_optional_ca_dirs`]).
    pub host_ca_dirs: Vec<String>,
    /// `apiServer`.
    pub api_server: ComponentParams,
    /// `controllerManager`.
    pub controller_manager: ComponentParams,
    /// `scheduler`.
    pub scheduler: ComponentParams,
    /// `etcd`.
    pub etcd: EtcdParams,
    /// User patches (`patches.directory`), applied last to each manifest.
    pub patches: Option<PatchSet>,
}

impl ControlPlaneParams {
    /// kubeadm's defaults for everything but the version, node name and advertise address.
    pub fn new(
        kubernetes_version: impl Into<String>,
        node_name: impl Into<String>,
        advertise_address: IpAddr,
    ) -> Self {
        ControlPlaneParams {
            kubernetes_version: kubernetes_version.into(),
            kubeadm_minor: None,
            component_tags: None,
            image_repository: DEFAULT_IMAGE_REPOSITORY.into(),
            image_pull_policy: "IfNotPresent".into(),
            advertise_address,
            bind_port: 6443,
            node_name: node_name.into(),
            cert_dir: "/etc/kubernetes/pki".into(),
            kubernetes_dir: "/etc/kubernetes".into(),
            service_subnet: "10.96.0.0/12".into(),
            pod_subnet: String::new(),
            dns_domain: "cluster.local".into(),
            cluster_name: "kubernetes".into(),
            external_ca: false,
            component_health_check_timeout: Duration::from_secs(240),
            proxy_env: Vec::new(),
            host_ca_dirs: Vec::new(),
            api_server: ComponentParams::default(),
            controller_manager: ComponentParams::default(),
            scheduler: ComponentParams::default(),
            etcd: EtcdParams::Local(LocalEtcdParams::default()),
            patches: None,
        }
    }

    /// The parsed target version.
    pub fn target_version(&self) -> Result<TargetVersion, ManifestError> {
        TargetVersion::parse(&self.kubernetes_version)
    }

    /// The kubeadm minor whose behaviour is reproduced.
    pub fn effective_kubeadm_minor(&self) -> Result<u64, ManifestError> {
        match self.kubeadm_minor {
            Some(m) => Ok(m),
            None => Ok(self.target_version()?.minor.clamp(35, 37)),
        }
    }

    /// True when reproducing kubeadm ≤ 1.35.
    pub fn legacy(&self) -> Result<bool, ManifestError> {
        Ok(self.effective_kubeadm_minor()? <= 35)
    }

    /// etcd/CoreDNS/pause tags (override or kubeadm's table).
    pub fn component_tags(&self) -> Result<ComponentTags, ManifestError> {
        if let Some(t) = &self.component_tags {
            return Ok(t.clone());
        }
        let km = self.effective_kubeadm_minor()?;
        let target = self.target_version()?.minor;
        component_tags(km, target).ok_or_else(|| ManifestError::Invalid {
            field: "kubeadmMinor".into(),
            message: format!(
                "no built-in image versions for kubeadm 1.{km} (known: 1.35, 1.36, 1.37)"
            ),
        })
    }

    /// Startup probe failure threshold: ceil(controlPlaneComponentHealthCheck / 10 s) (spec §19.9).
    pub fn startup_failure_threshold(&self) -> i32 {
        let secs = self.component_health_check_timeout.as_secs_f64();
        (secs / 10.0).ceil() as i32
    }
}
