//! Configuration: kubeadm `v1beta4` documents plus kubebake's `FirstbootConfiguration`, parsed from
//! one multi-document YAML file, defaulted as kubeadm does (§16) and validated with errors that name
//! the document, field and value.
//!
//! Entry points: [`load`] (file or the embedded defaults for this machine) and [`resolve`]
//! (already-parsed [`Documents`] plus injected [`HostFacts`], for tests).

pub mod duration;
pub mod error;
pub mod firstboot;
pub mod host;
pub mod load;
pub mod types;
pub mod validate;

use std::net::IpAddr;
use std::path::Path;

pub use duration::GoDuration;
pub use error::{ConfigError, Problem};
pub use firstboot::FirstbootConfiguration;
pub use host::{HostFacts, BUILTIN_KUBERNETES_VERSION};
pub use load::{parse_documents, Documents};
pub use types::*;

/// Default configuration file written by cloud-init (under the root).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/kubebake/firstboot.yaml";
/// Label of the control-plane taint and role.
pub const CONTROL_PLANE_TAINT_KEY: &str = "node-role.kubernetes.io/control-plane";
/// Default bootstrap token group.
pub const DEFAULT_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// Which kubeadm workflow the configuration describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// First control-plane node (`kubeadm init`).
    Init,
    /// Any other node (`kubeadm join`).
    Join,
}

impl Mode {
    /// `init` or `join`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Init => "init",
            Mode::Join => "join",
        }
    }
}

/// A fully defaulted and validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// File the configuration came from, or `<defaults>`.
    pub source: String,
    /// Init or join.
    pub mode: Mode,
    /// Defaulted InitConfiguration (init mode).
    pub init: Option<InitConfiguration>,
    /// Defaulted ClusterConfiguration (on join: the local view; the cluster's copy wins later).
    pub cluster: ClusterConfiguration,
    /// Defaulted JoinConfiguration (join mode).
    pub join: Option<JoinConfiguration>,
    /// User KubeletConfiguration document, if given.
    pub kubelet: Option<serde_yaml::Value>,
    /// User KubeProxyConfiguration document, if given.
    pub kube_proxy: Option<serde_yaml::Value>,
    /// Defaulted FirstbootConfiguration.
    pub firstboot: FirstbootConfiguration,
    /// Version whose kubeadm behaviour applies (the active staged kubeadm, or the built-in one).
    pub kubeadm_version: String,
    /// Warnings from parsing and defaulting (unknown fields, ignored documents, ...).
    pub warnings: Vec<String>,
}

impl NodeConfig {
    /// `timeouts.kubernetesAPICall` (kubeadm's default 1m applies when unset).
    pub fn api_call_timeout(&self) -> Option<std::time::Duration> {
        self.timeouts()
            .kubernetes_api_call
            .as_ref()
            .map(|d| d.as_duration())
    }

    /// The node registration options of the active workflow.
    pub fn node_registration(&self) -> &NodeRegistrationOptions {
        match (&self.init, &self.join) {
            (Some(i), _) => &i.node_registration,
            (None, Some(j)) => &j.node_registration,
            (None, None) => unreachable_registration(),
        }
    }

    /// The node name.
    pub fn node_name(&self) -> &str {
        &self.node_registration().name
    }

    /// The local API endpoint (init, or control-plane join); `None` for workers.
    pub fn local_api_endpoint(&self) -> Option<&ApiEndpoint> {
        match (&self.init, &self.join) {
            (Some(i), _) => Some(&i.local_api_endpoint),
            (None, Some(j)) => j.control_plane.as_ref().map(|c| &c.local_api_endpoint),
            (None, None) => None,
        }
    }

    /// The parsed advertise address, if this node runs an API server.
    pub fn advertise_address(&self) -> Option<IpAddr> {
        self.local_api_endpoint()
            .and_then(|e| e.advertise_address.parse().ok())
    }

    /// Whether this node runs the control plane.
    pub fn is_control_plane(&self) -> bool {
        self.init.is_some()
            || self
                .join
                .as_ref()
                .is_some_and(|j| j.control_plane.is_some())
    }

    /// Whether etcd runs on this node (stacked).
    pub fn has_local_etcd(&self) -> bool {
        self.is_control_plane() && self.cluster.etcd.local.is_some()
    }

    /// `skipPhases` of the kubeadm document plus those of the FirstbootConfiguration.
    pub fn skip_phases(&self) -> Vec<String> {
        let kubeadm = match (&self.init, &self.join) {
            (Some(i), _) => i.skip_phases.clone(),
            (None, Some(j)) => j.skip_phases.clone(),
            _ => Vec::new(),
        };
        let mut all = kubeadm;
        all.extend(self.firstboot.skip_phases.iter().cloned());
        all
    }

    /// Timeouts of the active workflow (defaulted).
    pub fn timeouts(&self) -> Timeouts {
        match (&self.init, &self.join) {
            (Some(i), _) => i.timeouts.clone().unwrap_or_default(),
            (None, Some(j)) => j.timeouts.clone().unwrap_or_default(),
            _ => Timeouts::default(),
        }
    }
}

fn unreachable_registration() -> &'static NodeRegistrationOptions {
    static EMPTY: std::sync::OnceLock<NodeRegistrationOptions> = std::sync::OnceLock::new();
    EMPTY.get_or_init(NodeRegistrationOptions::default)
}

/// Reads the configuration for a node at `root`.
///
/// `path` is `--config`; without it `<root>/etc/kubebake/firstboot.yaml` is used if it exists,
/// else kubeadm's defaults for this machine (init). `want` is the workflow the command asks for
/// (`firstboot init`), or `None` to decide from the documents (`firstboot run`).
pub fn load(
    path: Option<&Path>,
    root: &Path,
    facts: &HostFacts,
    want: Option<Mode>,
) -> Result<NodeConfig, ConfigError> {
    let default_path = host::under_root(root, DEFAULT_CONFIG_PATH);
    let chosen = match path {
        Some(p) => Some(p.to_path_buf()),
        None if default_path.exists() => Some(default_path),
        None => None,
    };
    let docs = match chosen {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })?;
            parse_documents(&p.display().to_string(), &text)?
        }
        None => Documents {
            source: "<defaults>".to_string(),
            ..Default::default()
        },
    };
    resolve(docs, facts, want)
}

/// Parses `text` (a whole configuration file) and resolves it; convenience for tests and tools.
pub fn load_str(
    source: &str,
    text: &str,
    facts: &HostFacts,
    want: Option<Mode>,
) -> Result<NodeConfig, ConfigError> {
    resolve(parse_documents(source, text)?, facts, want)
}

/// Decides the mode, applies kubeadm's static and dynamic defaults and validates.
pub fn resolve(
    docs: Documents,
    facts: &HostFacts,
    want: Option<Mode>,
) -> Result<NodeConfig, ConfigError> {
    let mut problems = Vec::new();
    let mut warnings = docs.warnings.clone();
    let has_init = docs.init.is_some() || docs.cluster.is_some();
    let has_join = docs.join.is_some();
    let mode = match (want, has_init, has_join) {
        (Some(Mode::Init), _, true) => {
            warnings.push(format!(
                "{}: ignored by `init`",
                docs.label("JoinConfiguration")
            ));
            Mode::Init
        }
        (Some(m), _, _) => m,
        (None, true, true) => {
            problems.push(Problem::document(
                docs.label("JoinConfiguration"),
                format!(
                    "a file for `firstboot run` holds either InitConfiguration/ClusterConfiguration (first control-plane node) \
                     or JoinConfiguration (other nodes), not both (found {} too)",
                    if docs.init.is_some() {
                        docs.label("InitConfiguration")
                    } else {
                        docs.label("ClusterConfiguration")
                    }
                ),
            ));
            Mode::Init
        }
        (None, _, true) => Mode::Join,
        (None, _, false) => Mode::Init,
    };
    if mode == Mode::Join && !has_join {
        problems.push(Problem::document(
            "",
            "join needs a JoinConfiguration document (kubeadm.k8s.io/v1beta4)",
        ));
    }

    let kubeadm_version = facts
        .active_staged_version
        .clone()
        .unwrap_or_else(|| BUILTIN_KUBERNETES_VERSION.to_string());

    let fb_label = docs.label("FirstbootConfiguration");
    let mut fb = docs.firstboot.clone().unwrap_or_default();
    fb.set_defaults();
    if !fb.kubernetes_version.is_empty() {
        if Version::parse(&fb.kubernetes_version).is_none() {
            problems.push(Problem::field(
                &fb_label,
                "kubernetesVersion",
                &fb.kubernetes_version,
                "must be a version such as v1.36.2",
            ));
        } else {
            fb.kubernetes_version = normalize_version(&fb.kubernetes_version);
            if let Some(staged) = &facts.staged_versions {
                if !staged.contains(&fb.kubernetes_version) {
                    problems.push(Problem::field(
                        &fb_label,
                        "kubernetesVersion",
                        &fb.kubernetes_version,
                        format!(
                            "no such staged version under {}; staged: {}",
                            host::STAGED_VERSIONS_DIR,
                            if staged.is_empty() {
                                "none".to_string()
                            } else {
                                staged.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
    }
    let staged_choice = if !fb.kubernetes_version.is_empty() {
        fb.kubernetes_version.clone()
    } else {
        kubeadm_version.clone()
    };

    // ClusterConfiguration.
    let cluster_label = docs.label("ClusterConfiguration");
    let mut cluster = docs.cluster.clone().unwrap_or_default();
    if mode == Mode::Join && docs.cluster.is_some() {
        warnings.push(format!(
            "{cluster_label}: on join the cluster's kubeadm-config ConfigMap is authoritative; this document is only used for local checks"
        ));
    }
    let bind_port = match mode {
        Mode::Init => docs
            .init
            .as_ref()
            .map(|i| i.local_api_endpoint.bind_port)
            .filter(|p| *p != 0)
            .unwrap_or(6443),
        Mode::Join => docs
            .join
            .as_ref()
            .and_then(|j| j.control_plane.as_ref())
            .map(|c| c.local_api_endpoint.bind_port)
            .filter(|p| *p != 0)
            .unwrap_or(6443),
    };
    default_cluster(
        &mut cluster,
        &cluster_label,
        &staged_choice,
        &fb,
        bind_port,
        &mut warnings,
        &mut problems,
    );
    if let Some(staged) = &facts.staged_versions {
        if Version::parse(&cluster.kubernetes_version).is_some()
            && !staged.contains(&cluster.kubernetes_version)
        {
            warnings.push(format!(
                "{cluster_label}: kubernetesVersion {} is not staged under {} (staged: {}); binaries and images may not match",
                cluster.kubernetes_version,
                host::STAGED_VERSIONS_DIR,
                staged.join(", ")
            ));
        }
    }

    let init_label = docs.label("InitConfiguration");
    let join_label = docs.label("JoinConfiguration");
    let mut init = None;
    let mut join = None;
    match mode {
        Mode::Init => {
            let mut i = docs.init.clone().unwrap_or_default();
            default_init(&mut i, &init_label, facts, &mut warnings, &mut problems);
            init = Some(i);
        }
        Mode::Join => {
            if let Some(mut j) = docs.join.clone() {
                default_join(&mut j, &join_label, facts, &mut warnings, &mut problems);
                join = Some(j);
            }
        }
    }

    if problems.is_empty() {
        problems = validate::validate(
            mode,
            init.as_ref().map(|i| (init_label.as_str(), i)),
            (cluster_label.as_str(), &cluster),
            join.as_ref().map(|j| (join_label.as_str(), j)),
            &kubeadm_version,
        );
        let mut v = validate::Validator {
            problems: Vec::new(),
            doc: &fb_label,
        };
        validate::validate_skip_phases(&mut v, "skipPhases", &fb.skip_phases, mode);
        validate::validate_join_material(&mut v, &fb.join_material);
        problems.extend(v.problems);
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            file: docs.source,
            problems,
        });
    }
    Ok(NodeConfig {
        source: docs.source,
        mode,
        init,
        cluster,
        join,
        kubelet: docs.kubelet,
        kube_proxy: docs.kube_proxy,
        firstboot: fb,
        kubeadm_version,
        warnings,
    })
}

use validate::Version;

/// `1.36.2` → `v1.36.2`.
pub fn normalize_version(v: &str) -> String {
    if v.starts_with('v') {
        v.to_string()
    } else {
        format!("v{v}")
    }
}

fn default_timeouts(t: &mut Option<Timeouts>) {
    let t = t.get_or_insert_with(Timeouts::default);
    let set = |f: &mut Option<GoDuration>, secs: u64| {
        if f.is_none() {
            *f = Some(GoDuration::from_secs(secs));
        }
    };
    set(&mut t.control_plane_component_health_check, 240);
    set(&mut t.kubelet_health_check, 240);
    set(&mut t.kubernetes_api_call, 60);
    set(&mut t.etcd_api_call, 120);
    set(&mut t.tls_bootstrap, 300);
    set(&mut t.discovery, 300);
    set(&mut t.upgrade_manifests, 300);
}

fn default_cluster(
    c: &mut ClusterConfiguration,
    label: &str,
    staged_choice: &str,
    fb: &FirstbootConfiguration,
    bind_port: i32,
    warnings: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) {
    if c.api_version.is_empty() {
        c.api_version = KUBEADM_API_VERSION.to_string();
    }
    if c.kind.is_empty() {
        c.kind = "ClusterConfiguration".to_string();
    }
    if c.kubernetes_version.is_empty() {
        c.kubernetes_version = staged_choice.to_string();
    } else if validate::is_version_label(&c.kubernetes_version) {
        warnings.push(format!(
            "{label}: kubernetesVersion {:?} is a label that kubeadm resolves online; firstboot works offline and uses {staged_choice} (kubeadm's offline fallback)",
            c.kubernetes_version
        ));
        c.kubernetes_version = staged_choice.to_string();
    } else if Version::parse(&c.kubernetes_version).is_some() {
        c.kubernetes_version = normalize_version(&c.kubernetes_version);
        if !fb.kubernetes_version.is_empty() && fb.kubernetes_version != c.kubernetes_version {
            problems.push(Problem::field(
                label,
                "kubernetesVersion",
                &c.kubernetes_version,
                format!(
                    "differs from FirstbootConfiguration.kubernetesVersion {}; set one of them",
                    fb.kubernetes_version
                ),
            ));
        }
    }
    if !c.control_plane_endpoint.is_empty() {
        if let Ok((host, None)) = validate::split_host_port(&c.control_plane_endpoint) {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            c.control_plane_endpoint = format!("{host}:{bind_port}");
        }
    }
    let def = |f: &mut String, v: &str| {
        if f.is_empty() {
            *f = v.to_string();
        }
    };
    def(&mut c.cluster_name, "kubernetes");
    def(&mut c.certificates_dir, "/etc/kubernetes/pki");
    def(&mut c.image_repository, "registry.k8s.io");
    def(&mut c.encryption_algorithm, "RSA-2048");
    if let Some(ecdsa) = c.feature_gates.get("PublicKeysECDSA") {
        c.encryption_algorithm = if *ecdsa { "ECDSA-P256" } else { "RSA-2048" }.to_string();
        warnings.push(format!(
            "{label}: the deprecated PublicKeysECDSA feature gate overrides encryptionAlgorithm ({})",
            c.encryption_algorithm
        ));
    }
    if c.certificate_validity_period.is_none() {
        c.certificate_validity_period = Some(GoDuration::from_secs(8760 * 3600));
    }
    if c.ca_certificate_validity_period.is_none() {
        c.ca_certificate_validity_period = Some(GoDuration::from_secs(87600 * 3600));
    }
    def(&mut c.networking.service_subnet, "10.96.0.0/12");
    def(&mut c.networking.dns_domain, "cluster.local");
    if c.etcd.local.is_none() && c.etcd.external.is_none() {
        c.etcd.local = Some(LocalEtcd::default());
    }
    if let Some(local) = &mut c.etcd.local {
        def(&mut local.data_dir, "/var/lib/etcd");
    }
    if let Some(ext) = &mut c.etcd.external {
        if ext.http_endpoints.is_empty() {
            ext.http_endpoints = ext.endpoints.clone();
        }
    }
}

fn default_node_registration(
    n: &mut NodeRegistrationOptions,
    label: &str,
    facts: &HostFacts,
    control_plane: bool,
    warnings: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) {
    n.name = if n.name.trim().is_empty() {
        facts.hostname.trim().to_lowercase()
    } else {
        n.name.trim().to_lowercase()
    };
    if n.cri_socket.is_empty() {
        match facts.cri_sockets.as_slice() {
            [] => n.cri_socket = host::KNOWN_CRI_SOCKETS[0].to_string(),
            [one] => n.cri_socket = one.clone(),
            many => problems.push(Problem::field(
                label,
                "nodeRegistration.criSocket",
                "",
                format!(
                    "found multiple CRI endpoints on the host ({}); set nodeRegistration.criSocket to choose one",
                    many.join(", ")
                ),
            )),
        }
    } else if n.cri_socket.starts_with('/') {
        warnings.push(format!(
            "{label}: nodeRegistration.criSocket {:?} has no URL scheme; using unix://{} (deprecated form)",
            n.cri_socket, n.cri_socket
        ));
        n.cri_socket = format!("unix://{}", n.cri_socket);
    }
    if n.image_pull_policy.is_empty() {
        n.image_pull_policy = "IfNotPresent".to_string();
    }
    if n.image_pull_serial.is_none() {
        n.image_pull_serial = Some(true);
    }
    if n.taints.is_none() && control_plane {
        n.taints = Some(vec![Taint {
            key: CONTROL_PLANE_TAINT_KEY.to_string(),
            effect: "NoSchedule".to_string(),
            ..Default::default()
        }]);
    }
}

fn default_address(
    e: &mut ApiEndpoint,
    label: &str,
    field: &str,
    facts: &HostFacts,
    problems: &mut Vec<Problem>,
) {
    if e.bind_port == 0 {
        e.bind_port = 6443;
    }
    if e.advertise_address.is_empty() {
        match &facts.default_address {
            Ok(ip) => e.advertise_address = ip.to_string(),
            Err(why) => problems.push(Problem {
                document: label.to_string(),
                field: format!("{field}.advertiseAddress"),
                value: None,
                reason: format!("not set and could not be detected ({why}); set it explicitly"),
            }),
        }
    }
}

fn default_init(
    i: &mut InitConfiguration,
    label: &str,
    facts: &HostFacts,
    warnings: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) {
    if i.api_version.is_empty() {
        i.api_version = KUBEADM_API_VERSION.to_string();
    }
    if i.kind.is_empty() {
        i.kind = "InitConfiguration".to_string();
    }
    if i.bootstrap_tokens.is_empty() {
        // The token value itself is generated by the bootstrap-token phase.
        i.bootstrap_tokens.push(BootstrapToken::default());
    }
    for t in &mut i.bootstrap_tokens {
        if t.ttl.is_none() && t.expires.is_none() {
            t.ttl = Some(GoDuration::from_secs(24 * 3600));
        }
        if t.usages.is_empty() {
            t.usages = vec!["signing".to_string(), "authentication".to_string()];
        }
        if t.groups.is_empty() {
            t.groups = vec![DEFAULT_TOKEN_GROUP.to_string()];
        }
    }
    default_address(
        &mut i.local_api_endpoint,
        label,
        "localAPIEndpoint",
        facts,
        problems,
    );
    default_node_registration(
        &mut i.node_registration,
        label,
        facts,
        true,
        warnings,
        problems,
    );
    default_timeouts(&mut i.timeouts);
}

fn default_join(
    j: &mut JoinConfiguration,
    label: &str,
    facts: &HostFacts,
    warnings: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) {
    if j.ca_cert_path.is_empty() {
        j.ca_cert_path = "/etc/kubernetes/pki/ca.crt".to_string();
    }
    if j.discovery.tls_bootstrap_token.is_empty() {
        if let Some(bt) = &j.discovery.bootstrap_token {
            j.discovery.tls_bootstrap_token = bt.token.clone();
        }
    }
    if let Some(f) = &mut j.discovery.file {
        if let Some(p) = f.kube_config_path.strip_prefix("file://") {
            f.kube_config_path = p.to_string();
        }
    }
    let cp = j.control_plane.is_some();
    if let Some(c) = &mut j.control_plane {
        default_address(
            &mut c.local_api_endpoint,
            label,
            "controlPlane.localAPIEndpoint",
            facts,
            problems,
        );
    }
    default_node_registration(
        &mut j.node_registration,
        label,
        facts,
        cp,
        warnings,
        problems,
    );
    default_timeouts(&mut j.timeouts);
}
