//! The kubelet's node files kubeadm writes in `kubelet-start` (spec §6.1–§6.3):
//! `/var/lib/kubelet/config.yaml`, `kubeadm-flags.env` and `instance-config.yaml`.
//!
//! ```
//! use firstboot::kubelet::{self, KubeletConfigParams, KubeletFlagsParams};
//! let cfg = KubeletConfigParams::new("unix:///var/run/containerd/containerd.sock");
//! let flags = KubeletFlagsParams::new("vm", "vm", "unix:///var/run/containerd/containerd.sock");
//! assert_eq!(kubelet::kubeadm_flags_env(&flags), "KUBELET_KUBEADM_ARGS=\"\"\n");
//! let plan = kubelet::plan_kubelet_files(&cfg, &flags, std::path::Path::new("/tmp/r/var/lib/kubelet")).unwrap();
//! assert_eq!(plan.files.len(), 3);
//! ```

pub mod duration;

use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::manifests::args::arguments_to_command;
pub use crate::manifests::args::{Arg, ArgOrder};
use crate::manifests::goyaml;
pub use crate::manifests::patches::{PatchError, PatchSet};
pub use crate::manifests::plan::{Plan, PlannedDir, PlannedFile, WriteError};

/// Mode of the kubelet files.
pub const KUBELET_FILE_MODE: u32 = 0o644;
/// Mode of `/var/lib/kubelet` when kubeadm creates it.
pub const KUBELET_DIR_MODE: u32 = 0o700;
/// `KubeletConfiguration` apiVersion.
pub const KUBELET_CONFIG_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
/// Patch target name of the KubeletConfiguration.
pub const PATCH_TARGET: &str = "kubeletconfiguration";
/// resolv.conf of systemd-resolved.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";
/// kubeadm's fallback cluster DNS address.
pub const DEFAULT_CLUSTER_DNS_IP: &str = "10.96.0.10";

/// Errors building kubelet files.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The user's KubeletConfiguration document is unusable; `field` names the offending key.
    #[error("invalid KubeletConfiguration {field}: {message}")]
    InvalidConfig {
        /// The field (`apiVersion`, `syncFrequency`, …).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A user patch failed.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// Another input is unusable.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The configuration field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Inputs for `config.yaml` (and the cluster-wide `kubelet-config` ConfigMap content).
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletConfigParams {
    /// `certificatesDir` as seen on the node (default `/etc/kubernetes/pki`).
    pub cert_dir: String,
    /// `networking.serviceSubnet` (clusterDNS = its 10th address).
    pub service_subnet: String,
    /// `networking.dnsDomain`.
    pub dns_domain: String,
    /// Static pod directory as seen on the node (`/etc/kubernetes/manifests`).
    pub static_pod_path: String,
    /// `nodeRegistration.criSocket`, written to instance-config.yaml and merged into config.yaml.
    pub cri_socket: String,
    /// The user's `KubeletConfiguration` document (as JSON), replacing kubeadm's generated one;
    /// kubeadm's defaults are applied on top of it where unset.
    pub user_config: Option<Value>,
    /// Whether the `systemd-resolved` unit is active on this host (sets `resolvConf`).
    pub systemd_resolved_active: bool,
    /// User patches (`patches.directory`, target `kubeletconfiguration`), applied to the node's
    /// config.yaml only (not to the cluster-wide ConfigMap), before instance-config.yaml.
    pub patches: Option<PatchSet>,
}

impl KubeletConfigParams {
    /// kubeadm's defaults with the given CRI socket.
    pub fn new(cri_socket: impl Into<String>) -> Self {
        KubeletConfigParams {
            cert_dir: "/etc/kubernetes/pki".into(),
            service_subnet: "10.96.0.0/12".into(),
            dns_domain: "cluster.local".into(),
            static_pod_path: "/etc/kubernetes/manifests".into(),
            cri_socket: cri_socket.into(),
            user_config: None,
            systemd_resolved_active: false,
            patches: None,
        }
    }
}

/// A node taint (`nodeRegistration.taints` item).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    #[serde(default)]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl Taint {
    /// kubeadm's string form: `key=value:Effect`, or `key:Effect` without a value.
    pub fn to_flag_string(&self) -> String {
        if self.value.is_empty() {
            format!("{}:{}", self.key, self.effect)
        } else {
            format!("{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// Inputs for `kubeadm-flags.env` (spec §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletFlagsParams {
    /// The node name chosen from `nodeRegistration.name` (trimmed, lower-cased) or the hostname.
    pub node_name: String,
    /// The OS hostname (trimmed, lower-cased).
    pub hostname: String,
    /// `nodeRegistration.criSocket`.
    pub cri_socket: String,
    /// `nodeRegistration.kubeletExtraArgs`, user order.
    pub kubelet_extra_args: Vec<Arg>,
    /// Taints to register by flag: only for a worker `join` with non-empty taints; empty on init
    /// and control-plane join.
    pub register_taints: Vec<Taint>,
    /// NodeLocalCRISocket gate (GA in 1.36, always true for firstboot); false puts
    /// `--container-runtime-endpoint` in the flags and skips instance-config.yaml.
    pub node_local_cri_socket: bool,
    /// How flags are ordered: kubeadm ≥ 1.36 appends the extra args in user order after the
    /// sorted base ([`ArgOrder::UserOrderAfterSortedBase`], default); ≤ 1.35 sorted everything.
    pub arg_order: ArgOrder,
}

impl KubeletFlagsParams {
    /// Flags for a node named `node_name` on host `hostname` with `cri_socket`.
    pub fn new(
        node_name: impl Into<String>,
        hostname: impl Into<String>,
        cri_socket: impl Into<String>,
    ) -> Self {
        KubeletFlagsParams {
            node_name: node_name.into(),
            hostname: hostname.into(),
            cri_socket: cri_socket.into(),
            kubelet_extra_args: Vec::new(),
            register_taints: Vec::new(),
            node_local_cri_socket: true,
            arg_order: ArgOrder::UserOrderAfterSortedBase,
        }
    }
}

/// kubeadm's `GetDNSIP`: the 10th address of the first service subnet, `None` if it does not
/// fit.
pub fn cluster_dns_ip(service_subnet: &str) -> Option<IpAddr> {
    let first = service_subnet.split(',').next()?.trim();
    let (addr, bits) = first.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    match ip {
        IpAddr::V4(v4) => {
            if bits > 32 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            let net = u32::from(v4) & mask;
            let cand = net.checked_add(10)?;
            (cand & mask == net).then(|| IpAddr::V4(cand.into()))
        }
        IpAddr::V6(v6) => {
            if bits > 128 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            let net = u128::from(v6) & mask;
            let cand = net.checked_add(10)?;
            (cand & mask == net).then(|| IpAddr::V6(cand.into()))
        }
    }
}

/// `metav1.Duration` fields of KubeletConfiguration v1beta1 (paths), re-serialised by Go.
const DURATION_FIELDS: &[&[&str]] = &[
    &["syncFrequency"],
    &["fileCheckFrequency"],
    &["httpCheckFrequency"],
    &["authentication", "webhook", "cacheTTL"],
    &["authorization", "webhook", "cacheAuthorizedTTL"],
    &["authorization", "webhook", "cacheUnauthorizedTTL"],
    &["streamingConnectionIdleTimeout"],
    &["nodeStatusUpdateFrequency"],
    &["nodeStatusReportFrequency"],
    &["imageMinimumGCAge"],
    &["imageMaximumGCAge"],
    &["volumeStatsAggPeriod"],
    &["cpuManagerReconcilePeriod"],
    &["runtimeRequestTimeout"],
    &["cpuCFSQuotaPeriod"],
    &["evictionPressureTransitionPeriod"],
    &["shutdownGracePeriod"],
    &["shutdownGracePeriodCriticalPods"],
    &["containerLogMonitorInterval"],
    &["crashLoopBackOff", "maxContainerRestartPeriod"],
    &["logging", "flushFrequency"],
];

/// Fields of the Go type without `omitempty`, present (as zero values) in every serialisation.
const ZERO_DURATIONS: &[&[&str]] = &[
    &["authentication", "webhook", "cacheTTL"],
    &["authorization", "webhook", "cacheAuthorizedTTL"],
    &["authorization", "webhook", "cacheUnauthorizedTTL"],
    &["cpuManagerReconcilePeriod"],
    &["evictionPressureTransitionPeriod"],
    &["fileCheckFrequency"],
    &["httpCheckFrequency"],
    &["imageMaximumGCAge"],
    &["imageMinimumGCAge"],
    &["nodeStatusReportFrequency"],
    &["nodeStatusUpdateFrequency"],
    &["runtimeRequestTimeout"],
    &["shutdownGracePeriod"],
    &["shutdownGracePeriodCriticalPods"],
    &["streamingConnectionIdleTimeout"],
    &["syncFrequency"],
    &["volumeStatsAggPeriod"],
];

fn obj_at<'a>(
    root: &'a mut Map<String, Value>,
    path: &[&str],
    field: &str,
) -> Result<&'a mut Map<String, Value>, KubeletError> {
    let mut cur = root;
    for (i, k) in path.iter().enumerate() {
        let entry = cur.entry(k.to_string()).or_insert_with(|| json!({}));
        if entry.is_null() {
            *entry = json!({});
        }
        cur = entry
            .as_object_mut()
            .ok_or_else(|| KubeletError::InvalidConfig {
                field: if field.is_empty() {
                    path[..=i].join(".")
                } else {
                    field.into()
                },
                message: "must be a mapping".into(),
            })?;
    }
    Ok(cur)
}

fn is_unset(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Set `path` to `value` when unset; warn (and keep the user's value) when it differs.
fn default_field(
    m: &mut Map<String, Value>,
    path: &[&str],
    value: Value,
) -> Result<(), KubeletError> {
    let (leaf, parents) = path.split_last().expect("non-empty path");
    let parent = obj_at(m, parents, "")?;
    match parent.get(*leaf) {
        v if is_unset(v) => {
            parent.insert(leaf.to_string(), value);
        }
        Some(v) if *v != value => {
            tracing::warn!(
                field = path.join("."),
                "KubeletConfiguration: the value {v} differs from kubeadm's default {value}; keeping it"
            );
        }
        _ => {}
    }
    Ok(())
}

/// The cluster-wide KubeletConfiguration kubeadm generates on init (the `kubelet-config`
/// ConfigMap's `kubelet` value, §6.4): the user's document (or an empty one) with kubeadm's
/// defaults applied (§6.2), Go zero-value fields filled in, durations normalised, and — like
/// kubeadm on init — `resolvConf` set when systemd-resolved is active. `containerRuntimeEndpoint`
/// is `""` here; the node file gets it from instance-config.yaml.
pub fn cluster_kubelet_config(p: &KubeletConfigParams) -> Result<Value, KubeletError> {
    let mut m = match &p.user_config {
        None => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(KubeletError::InvalidConfig {
                field: "(document)".into(),
                message: "must be a mapping".into(),
            })
        }
    };
    match m.get("apiVersion") {
        None => {}
        Some(Value::String(s)) if s == KUBELET_CONFIG_API_VERSION => {}
        Some(v) => {
            return Err(KubeletError::InvalidConfig {
                field: "apiVersion".into(),
                message: format!("{v} is not supported; use {KUBELET_CONFIG_API_VERSION}"),
            })
        }
    }
    match m.get("kind") {
        None => {}
        Some(Value::String(s)) if s == "KubeletConfiguration" => {}
        Some(v) => {
            return Err(KubeletError::InvalidConfig {
                field: "kind".into(),
                message: format!("{v} is not KubeletConfiguration"),
            })
        }
    }
    m.insert("apiVersion".into(), json!(KUBELET_CONFIG_API_VERSION));
    m.insert("kind".into(), json!("KubeletConfiguration"));

    default_field(&mut m, &["staticPodPath"], json!(p.static_pod_path))?;
    let dns = cluster_dns_ip(&p.service_subnet)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| DEFAULT_CLUSTER_DNS_IP.into());
    match m.get("clusterDNS") {
        None | Some(Value::Null) => {
            m.insert("clusterDNS".into(), json!([dns]));
        }
        Some(v) if *v != json!([dns]) => {
            tracing::warn!(
                "KubeletConfiguration: clusterDNS {v} differs from kubeadm's [{dns}]; keeping it"
            );
        }
        _ => {}
    }
    default_field(&mut m, &["clusterDomain"], json!(p.dns_domain))?;
    let ca = crate::manifests::pod::path_join(&p.cert_dir, "ca.crt");
    default_field(
        &mut m,
        &["authentication", "x509", "clientCAFile"],
        json!(ca),
    )?;
    default_field(
        &mut m,
        &["authentication", "anonymous", "enabled"],
        json!(false),
    )?;
    default_field(&mut m, &["authorization", "mode"], json!("Webhook"))?;
    default_field(
        &mut m,
        &["authentication", "webhook", "enabled"],
        json!(true),
    )?;
    default_field(&mut m, &["healthzBindAddress"], json!("127.0.0.1"))?;
    default_field(&mut m, &["healthzPort"], json!(10248))?;
    if let Some(v) = m.get("readOnlyPort").filter(|v| **v != json!(0)) {
        tracing::warn!("KubeletConfiguration: readOnlyPort {v} opens the kubelet's unauthenticated read-only port");
    }
    m.insert("rotateCertificates".into(), json!(true));
    default_field(&mut m, &["cgroupDriver"], json!("systemd"))?;
    if p.systemd_resolved_active {
        default_field(&mut m, &["resolvConf"], json!(SYSTEMD_RESOLV_CONF))?;
    }

    // Go zero values that the typed struct always serialises.
    for path in ZERO_DURATIONS {
        let (leaf, parents) = path.split_last().expect("non-empty path");
        let parent = obj_at(&mut m, parents, "")?;
        parent
            .entry(leaf.to_string())
            .or_insert_with(|| json!("0s"));
    }
    m.entry("containerRuntimeEndpoint")
        .or_insert_with(|| json!(""));
    obj_at(&mut m, &["crashLoopBackOff"], "")?;
    obj_at(&mut m, &["memorySwap"], "")?;
    let logging = obj_at(&mut m, &["logging"], "")?;
    logging.entry("flushFrequency").or_insert_with(|| json!(0));
    logging.entry("verbosity").or_insert_with(|| json!(0));
    for fmt in ["json", "text"] {
        let o = obj_at(logging, &["options", fmt], "logging.options")?;
        o.entry("infoBufferSize").or_insert_with(|| json!("0"));
    }
    // An empty featureGates map is omitted by Go (`omitempty`).
    if m.get("featureGates")
        .is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()) || v.is_null())
    {
        m.remove("featureGates");
    }

    let mut v = Value::Object(m);
    normalise_durations(&mut v)?;
    Ok(v)
}

fn normalise_durations(v: &mut Value) -> Result<(), KubeletError> {
    for path in DURATION_FIELDS {
        let pointer = format!("/{}", path.join("/"));
        let Some(slot) = v.pointer_mut(&pointer) else {
            continue;
        };
        if let Value::String(s) = slot {
            let ns = duration::parse_go_duration(s).ok_or_else(|| KubeletError::InvalidConfig {
                field: path.join("."),
                message: format!("{s:?} is not a duration (e.g. 10s, 5m, 1h30m)"),
            })?;
            *slot = json!(duration::format_go_duration(ns));
        }
    }
    Ok(())
}

/// The node's KubeletConfiguration: the cluster-wide one with instance-config.yaml merged in
/// (`containerRuntimeEndpoint`), as written to `/var/lib/kubelet/config.yaml`.
pub fn node_kubelet_config(p: &KubeletConfigParams) -> Result<Value, KubeletError> {
    let mut v = cluster_kubelet_config(p)?;
    if let Some(set) = p.patches.as_ref().filter(|s| s.has(PATCH_TARGET)) {
        set.apply(PATCH_TARGET, &mut v, false)?;
        if !v.is_object() {
            return Err(KubeletError::InvalidConfig {
                field: "(patched document)".into(),
                message: "patches must leave a mapping".into(),
            });
        }
        normalise_durations(&mut v)?;
    }
    if let Value::Object(m) = &mut v {
        m.insert("containerRuntimeEndpoint".into(), json!(p.cri_socket));
    }
    Ok(v)
}

/// Serialise a KubeletConfiguration as kubeadm does (JSON → YAML, sorted keys).
pub fn kubelet_config_yaml(config: &Value) -> String {
    goyaml::to_string(config)
}

/// `/var/lib/kubelet/config.yaml` content.
pub fn config_yaml(p: &KubeletConfigParams) -> Result<String, KubeletError> {
    Ok(kubelet_config_yaml(&node_kubelet_config(p)?))
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || c == '\u{feff}' => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `/var/lib/kubelet/instance-config.yaml` content: `containerRuntimeEndpoint: "<socket>"`.
pub fn instance_config_yaml(cri_socket: &str) -> String {
    format!("containerRuntimeEndpoint: {}\n", go_quote(cri_socket))
}

/// The kubelet flags kubeadm puts into kubeadm-flags.env, as `--name=value` strings.
pub fn kubelet_flags(f: &KubeletFlagsParams) -> Vec<String> {
    let mut base: Vec<Arg> = Vec::new();
    if !f.node_local_cri_socket {
        base.push(Arg::new("container-runtime-endpoint", &f.cri_socket));
    }
    if !f.register_taints.is_empty() {
        let t: Vec<String> = f
            .register_taints
            .iter()
            .map(Taint::to_flag_string)
            .collect();
        base.push(Arg::new("register-with-taints", t.join(",")));
    }
    let node_name =
        crate::manifests::args::last_arg_value(&f.kubelet_extra_args, "hostname-override")
            .unwrap_or(&f.node_name);
    if node_name != f.hostname {
        base.push(Arg::new("hostname-override", node_name));
    }
    arguments_to_command(&base, &f.kubelet_extra_args, f.arg_order)
}

/// `/var/lib/kubelet/kubeadm-flags.env` content: `KUBELET_KUBEADM_ARGS="<flags>"` + newline.
pub fn kubeadm_flags_env(f: &KubeletFlagsParams) -> String {
    format!(
        "KUBELET_KUBEADM_ARGS={}\n",
        go_quote(&kubelet_flags(f).join(" "))
    )
}

/// Read kubeadm-flags.env back (spec §6.1): trim, require the `KUBELET_KUBEADM_ARGS=` prefix,
/// strip the quotes, split on whitespace; a token without `=` takes the next token as its value.
pub fn parse_kubeadm_flags_env(text: &str) -> Result<Vec<Arg>, KubeletError> {
    let t = text.trim();
    let rest = t
        .strip_prefix("KUBELET_KUBEADM_ARGS=")
        .ok_or_else(|| KubeletError::Invalid {
            field: "kubeadm-flags.env".into(),
            message: "does not start with KUBELET_KUBEADM_ARGS=".into(),
        })?;
    let inner = rest.trim_matches('"');
    let mut out = Vec::new();
    let mut tokens = inner.split_whitespace();
    while let Some(tok) = tokens.next() {
        let tok = tok.trim_start_matches('-');
        match tok.split_once('=') {
            Some((n, v)) => out.push(Arg::new(n, v)),
            None => out.push(Arg::new(tok, tokens.next().unwrap_or(""))),
        }
    }
    Ok(out)
}

/// Plan the kubelet files in `kubelet_dir` (root-joined `/var/lib/kubelet`): kubeadm-flags.env,
/// instance-config.yaml (unless NodeLocalCRISocket is off), config.yaml; modes 0644, dir 0700.
pub fn plan_kubelet_files(
    c: &KubeletConfigParams,
    f: &KubeletFlagsParams,
    kubelet_dir: &Path,
) -> Result<Plan, KubeletError> {
    if c.cri_socket.is_empty() {
        return Err(KubeletError::Invalid {
            field: "nodeRegistration.criSocket".into(),
            message: "must not be empty".into(),
        });
    }
    let mut plan = Plan::default();
    plan.dir(kubelet_dir, KUBELET_DIR_MODE);
    plan.file(
        kubelet_dir.join("kubeadm-flags.env"),
        KUBELET_FILE_MODE,
        kubeadm_flags_env(f),
    );
    if f.node_local_cri_socket {
        plan.file(
            kubelet_dir.join("instance-config.yaml"),
            KUBELET_FILE_MODE,
            instance_config_yaml(&c.cri_socket),
        );
        plan.file(
            kubelet_dir.join("config.yaml"),
            KUBELET_FILE_MODE,
            config_yaml(c)?,
        );
    } else {
        let cluster = kubelet_config_yaml(&cluster_kubelet_config(c)?);
        plan.file(kubelet_dir.join("config.yaml"), KUBELET_FILE_MODE, cluster);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_ip_is_tenth_address() {
        assert_eq!(
            cluster_dns_ip("10.96.0.0/12").unwrap().to_string(),
            "10.96.0.10"
        );
        assert_eq!(
            cluster_dns_ip("10.100.5.7/16").unwrap().to_string(),
            "10.100.0.10"
        );
        assert_eq!(
            cluster_dns_ip("fd00:10::/108,10.96.0.0/12")
                .unwrap()
                .to_string(),
            "fd00:10::a"
        );
        assert_eq!(cluster_dns_ip("10.0.0.0/29"), None);
        assert_eq!(cluster_dns_ip("bogus"), None);
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("x\ty"), r#""x\ty""#);
        assert_eq!(go_quote("ü"), "\"ü\"");
    }

    #[test]
    fn flags_env_parses_back() {
        let text = "KUBELET_KUBEADM_ARGS=\"--a=1 --b 2 --c=\"\n";
        let args = parse_kubeadm_flags_env(text).unwrap();
        assert_eq!(
            args,
            vec![Arg::new("a", "1"), Arg::new("b", "2"), Arg::new("c", "")]
        );
        assert!(parse_kubeadm_flags_env("KUBELET_KUBEADM_ARGS=\"\"\n")
            .unwrap()
            .is_empty());
        assert!(parse_kubeadm_flags_env("OTHER=1").is_err());
    }
}
