//! Serde types for kubeadm's `kubeadm.k8s.io/v1beta4` configuration API (the subset a node uses).
//!
//! Field order follows the JSON names alphabetically so serialised output has kubeadm's sorted keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// kubeadm's API group/version for the documents below.
pub const KUBEADM_API_VERSION: &str = "kubeadm.k8s.io/v1beta4";

fn is_false(b: &bool) -> bool {
    !*b
}

/// One `--name=value` argument (`extraArgs`, `kubeletExtraArgs`); repeated names are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Arg {
    /// Flag name without leading dashes.
    pub name: String,
    /// Flag value.
    #[serde(default)]
    pub value: String,
}

/// A container environment variable (`extraEnvs`, core/v1 `EnvVar`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Literal value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `valueFrom` source, kept verbatim.
    #[serde(default, rename = "valueFrom", skip_serializing_if = "Option::is_none")]
    pub value_from: Option<serde_yaml::Value>,
}

/// An extra hostPath volume for a control-plane component (`extraVolumes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HostPathMount {
    /// Path on the host.
    pub host_path: String,
    /// Path in the container.
    pub mount_path: String,
    /// Volume name.
    pub name: String,
    /// hostPath type (`DirectoryOrCreate`, `File`, ...); empty means unset.
    #[serde(default)]
    pub path_type: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// A node taint (core/v1 `Taint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
    /// Taint key.
    pub key: String,
    /// Time the taint was added (only for NoExecute), kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
    /// Taint value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// A bootstrap token in `InitConfiguration.bootstrapTokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BootstrapToken {
    /// Human description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Absolute expiry (RFC 3339); exclusive with `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Extra groups the token authenticates as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `<id>.<secret>`; empty means "generate one" (done by the bootstrap-token phase).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Lifetime (default 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<GoDuration>,
    /// `signing`, `authentication`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usages: Vec<String>,
}

/// Address and port the local API server advertises and binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiEndpoint {
    /// IP address; defaulted from the default-route interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub advertise_address: String,
    /// Port (default 6443).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bind_port: i32,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// `nodeRegistration` of Init and Join configurations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeRegistrationOptions {
    /// CRI socket URL (`unix:///...`); auto-detected when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cri_socket: String,
    /// Preflight check names (case-insensitive) or `all` whose errors are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_preflight_errors: Vec<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_pull_policy: String,
    /// Pull images one at a time (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_serial: Option<bool>,
    /// Extra kubelet flags, applied in order after kubeadm's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubelet_extra_args: Vec<Arg>,
    /// Node name; defaults to the OS hostname (trimmed, lower-cased).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Taints; `None` (null) means "kubeadm's default for the node role", `[]` means none.
    #[serde(default)]
    pub taints: Option<Vec<Taint>>,
}

/// `patches` of Init/Join configurations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Patches {
    /// Directory with `<target>[suffix][+type].{json,yaml}` patch files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub directory: String,
}

/// `timeouts` of Init/Join configurations (§16.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// Control-plane component health wait (4m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_component_health_check: Option<GoDuration>,
    /// Discovery (5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<GoDuration>,
    /// etcd API calls (2m).
    #[serde(
        default,
        rename = "etcdAPICall",
        skip_serializing_if = "Option::is_none"
    )]
    pub etcd_api_call: Option<GoDuration>,
    /// kubelet health wait (4m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_health_check: Option<GoDuration>,
    /// Kubernetes API calls (1m).
    #[serde(
        default,
        rename = "kubernetesAPICall",
        skip_serializing_if = "Option::is_none"
    )]
    pub kubernetes_api_call: Option<GoDuration>,
    /// TLS bootstrap (5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_bootstrap: Option<GoDuration>,
    /// Upgrade manifests (5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_manifests: Option<GoDuration>,
}

/// `kind: InitConfiguration` — node-local settings of the first control-plane node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InitConfiguration {
    /// Always `kubeadm.k8s.io/v1beta4`.
    #[serde(default)]
    pub api_version: String,
    /// Bootstrap tokens to create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_tokens: Vec<BootstrapToken>,
    /// Key for upload-certs (64 hex characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_key: String,
    /// Dry run.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Always `InitConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Local API endpoint.
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    /// Node registration options.
    #[serde(default)]
    pub node_registration: NodeRegistrationOptions,
    /// Patches directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    /// Phases to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    /// Timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

/// `imageRepository`/`imageTag` override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageMeta {
    /// Repository override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_repository: String,
    /// Tag override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_tag: String,
}

/// `etcd.local`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LocalEtcd {
    /// Data directory (default `/var/lib/etcd`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_dir: String,
    /// Extra etcd flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    /// Image repository override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_repository: String,
    /// Image tag override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_tag: String,
    /// Extra SANs for the etcd peer certificate.
    #[serde(
        default,
        rename = "peerCertSANs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub peer_cert_sans: Vec<String>,
    /// Extra SANs for the etcd server certificate.
    #[serde(
        default,
        rename = "serverCertSANs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub server_cert_sans: Vec<String>,
}

/// `etcd.external`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalEtcd {
    /// CA file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    /// Client certificate file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// Client endpoints (URLs).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// HTTP endpoints (default: a copy of `endpoints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_endpoints: Vec<String>,
    /// Client key file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
}

/// `etcd`: exactly one of `local` and `external`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Etcd {
    /// External etcd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalEtcd>,
    /// Local (stacked) etcd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalEtcd>,
}

/// `networking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    /// DNS domain (default `cluster.local`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_domain: String,
    /// Pod CIDR(s), comma-separated for dual-stack.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_subnet: String,
    /// Service CIDR(s) (default `10.96.0.0/12`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_subnet: String,
}

/// Settings shared by controller-manager and scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneComponent {
    /// Extra flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    /// Extra hostPath volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_volumes: Vec<HostPathMount>,
}

/// `apiServer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    /// Extra SANs for the API server certificate.
    #[serde(default, rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// Extra flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    /// Extra hostPath volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_volumes: Vec<HostPathMount>,
}

/// `dns` (CoreDNS add-on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Dns {
    /// Do not install CoreDNS.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Image repository override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_repository: String,
    /// Image tag override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_tag: String,
}

/// `proxy` (kube-proxy add-on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Proxy {
    /// Do not install kube-proxy.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// `kind: ClusterConfiguration` — cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    /// API server settings.
    #[serde(default)]
    pub api_server: ApiServer,
    /// Always `kubeadm.k8s.io/v1beta4`.
    #[serde(default)]
    pub api_version: String,
    /// CA validity (default 87600h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_validity_period: Option<GoDuration>,
    /// Leaf validity (default 8760h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_validity_period: Option<GoDuration>,
    /// PKI directory (default `/etc/kubernetes/pki`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificates_dir: String,
    /// Cluster name (default `kubernetes`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    /// Controller-manager settings.
    #[serde(default)]
    pub controller_manager: ControlPlaneComponent,
    /// `host[:port]` of the shared endpoint (load balancer).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub control_plane_endpoint: String,
    /// CoreDNS settings.
    #[serde(default)]
    pub dns: Dns,
    /// Key algorithm (default `RSA-2048`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encryption_algorithm: String,
    /// etcd settings.
    #[serde(default)]
    pub etcd: Etcd,
    /// kubeadm feature gates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    /// Image repository (default `registry.k8s.io`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_repository: String,
    /// Always `ClusterConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Kubernetes version (`vX.Y.Z` or a label).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kubernetes_version: String,
    /// Networking.
    #[serde(default)]
    pub networking: Networking,
    /// kube-proxy settings.
    #[serde(default)]
    pub proxy: Proxy,
    /// Scheduler settings.
    #[serde(default)]
    pub scheduler: ControlPlaneComponent,
}

/// `discovery.bootstrapToken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapTokenDiscovery {
    /// `host:port` of the API server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_server_endpoint: String,
    /// `sha256:<hex>` pins of the cluster CA's public key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_hashes: Vec<String>,
    /// Token `<id>.<secret>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Accept any CA (no pinning).
    #[serde(
        default,
        rename = "unsafeSkipCAVerification",
        skip_serializing_if = "is_false"
    )]
    pub unsafe_skip_ca_verification: bool,
}

/// `discovery.file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileDiscovery {
    /// Path or URL of a kubeconfig.
    #[serde(default)]
    pub kube_config_path: String,
}

/// `discovery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// Token discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    /// File discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDiscovery>,
    /// Token for TLS bootstrap (default: the discovery token).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_bootstrap_token: String,
}

/// `controlPlane` of a JoinConfiguration (its presence makes a control-plane join).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JoinControlPlane {
    /// Key that decrypts the `kubeadm-certs` Secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_key: String,
    /// Local API endpoint of the joining node.
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
}

/// `kind: JoinConfiguration` — settings of a node joining an existing cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JoinConfiguration {
    /// Always `kubeadm.k8s.io/v1beta4`.
    #[serde(default)]
    pub api_version: String,
    /// Where discovery writes the CA (default `/etc/kubernetes/pki/ca.crt`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_cert_path: String,
    /// Control-plane join settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<JoinControlPlane>,
    /// Discovery.
    #[serde(default)]
    pub discovery: Discovery,
    /// Dry run.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Always `JoinConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Node registration.
    #[serde(default)]
    pub node_registration: NodeRegistrationOptions,
    /// Patches directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    /// Phases to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    /// Timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}
