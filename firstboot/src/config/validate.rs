//! kubeadm's validation rules for the defaulted configuration; each failure is a [`Problem`]
//! naming the document, field and value.

use std::net::IpAddr;

use ipnet::IpNet;

use super::error::{redacted, Problem};
use super::types::{
    ApiEndpoint, Arg, BootstrapToken, ClusterConfiguration, InitConfiguration, JoinConfiguration,
    NodeRegistrationOptions,
};
use super::Mode;

/// Encryption algorithms kubeadm 1.36 accepts.
pub const ENCRYPTION_ALGORITHMS: [&str; 5] = [
    "RSA-2048",
    "RSA-3072",
    "RSA-4096",
    "ECDSA-P256",
    "ECDSA-P384",
];

/// kubeadm feature gates that exist in 1.36 (§1.4).
pub const KNOWN_FEATURE_GATES: [&str; 3] = [
    "NodeLocalCRISocket",
    "PublicKeysECDSA",
    "RootlessControlPlane",
];

/// `^[a-z0-9]{6}\.[a-z0-9]{16}$` without a regex (and without Go's `$`-before-newline quirk).
pub fn is_bootstrap_token(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 23
        && b[6] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 6 || c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// `^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`.
pub fn is_bootstrap_group(s: &str) -> bool {
    let Some(tail) = s.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    let b = tail.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b':' || *c == b'-')
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
}

/// RFC 1123 subdomain (lower-case alphanumerics, `-` and `.`, ≤ 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// A parsed `vMAJ.MIN.PATCH[suffix]` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Whether there is a pre-release suffix (`-rc.0`); pre-releases sort before the release.
    pub released: bool,
}

impl Version {
    /// Parses kubeadm's version syntax `^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([-\w.+]*)?$`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut it = s.splitn(3, '.');
        let num = |p: &str| -> Option<u64> {
            if p.is_empty() || (p.len() > 1 && p.starts_with('0')) {
                return None;
            }
            if !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let major = num(it.next()?)?;
        let minor = num(it.next()?)?;
        let rest = it.next()?;
        let split = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let patch = num(&rest[..split])?;
        let suffix = &rest[split..];
        if !suffix
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.+".contains(c))
        {
            return None;
        }
        if !suffix.is_empty() && !suffix.starts_with(['-', '+']) {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
            released: !suffix.starts_with('-'),
        })
    }
}

/// Whether `s` is a version label kubeadm would resolve online (`stable-1`, `latest-1.36`, `ci/latest`).
pub fn is_version_label(s: &str) -> bool {
    let rest = s
        .strip_prefix("release/")
        .or_else(|| s.strip_prefix("ci/"))
        .unwrap_or(s);
    let base = rest
        .strip_prefix("stable")
        .or_else(|| rest.strip_prefix("latest"));
    let Some(tail) = base else { return false };
    if tail.is_empty() {
        return true;
    }
    let Some(t) = tail.strip_prefix('-') else {
        return false;
    };
    let mut parts = t.splitn(2, '.');
    let maj = parts.next().unwrap_or("");
    let ok_major = maj.len() == 1 && (b'1'..=b'9').contains(&maj.as_bytes()[0]);
    match parts.next() {
        None => ok_major,
        Some(min) => {
            ok_major
                && (1..=2).contains(&min.len())
                && min.as_bytes()[0] != b'0'
                && min.bytes().all(|c| c.is_ascii_digit())
        }
    }
}

/// Parses a comma-separated list of CIDRs (at most one per address family).
pub fn parse_cidrs(s: &str) -> Result<Vec<IpNet>, String> {
    let mut out: Vec<IpNet> = Vec::new();
    for part in s.split(',') {
        let net: IpNet = part
            .trim()
            .parse()
            .map_err(|_| format!("{:?} is not a valid CIDR (e.g. 10.96.0.0/12)", part.trim()))?;
        if net.addr() != net.network() {
            return Err(format!(
                "{net} has host bits set; the network address is {}",
                net.trunc()
            ));
        }
        out.push(net);
    }
    if out.len() > 2 {
        return Err("at most two CIDRs (one IPv4, one IPv6) are allowed".to_string());
    }
    if out.len() == 2 && out[0].addr().is_ipv4() == out[1].addr().is_ipv4() {
        return Err("a dual-stack pair needs one IPv4 and one IPv6 CIDR".to_string());
    }
    Ok(out)
}

fn host_bits(net: &IpNet) -> u8 {
    net.max_prefix_len() - net.prefix_len()
}

/// Collects problems while validating.
pub(crate) struct Validator<'a> {
    pub(crate) problems: Vec<Problem>,
    pub(crate) doc: &'a str,
}

impl<'a> Validator<'a> {
    fn bad(
        &mut self,
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.problems
            .push(Problem::field(self.doc, field, value, reason));
    }

    fn with_doc(&mut self, doc: &'a str) -> &mut Self {
        self.doc = doc;
        self
    }
}

/// Validates the documents of a resolved configuration; returns every problem found.
pub(crate) fn validate(
    mode: Mode,
    init: Option<(&str, &InitConfiguration)>,
    cluster: (&str, &ClusterConfiguration),
    join: Option<(&str, &JoinConfiguration)>,
    kubeadm_version: &str,
) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
        doc: cluster.0,
    };
    if let Some((doc, init)) = init {
        v.with_doc(doc);
        validate_init(&mut v, init);
    }
    v.with_doc(cluster.0);
    validate_cluster(&mut v, cluster.1, mode, kubeadm_version);
    if let Some((doc, join)) = join {
        v.with_doc(doc);
        validate_join(&mut v, join);
    }
    v.problems
}

fn validate_init(v: &mut Validator, c: &InitConfiguration) {
    for (i, t) in c.bootstrap_tokens.iter().enumerate() {
        validate_token(v, &format!("bootstrapTokens[{i}]"), t);
    }
    validate_endpoint(v, "localAPIEndpoint", &c.local_api_endpoint);
    validate_node_registration(v, &c.node_registration);
    if !c.certificate_key.is_empty() {
        validate_certificate_key(v, "certificateKey", &c.certificate_key);
    }
    validate_skip_phases(v, "skipPhases", &c.skip_phases, Mode::Init);
}

fn validate_certificate_key(v: &mut Validator, field: &str, key: &str) {
    let ok = key.len() == 64 && key.bytes().all(|c| c.is_ascii_hexdigit());
    if !ok {
        v.bad(
            field,
            redacted(key),
            "must be 64 hexadecimal characters (a 32-byte AES key)",
        );
    }
}

pub(crate) fn validate_skip_phases(v: &mut Validator, field: &str, phases: &[String], mode: Mode) {
    for (i, p) in phases.iter().enumerate() {
        if !crate::runner::catalog::is_known_phase(mode, p) {
            v.bad(
                format!("{field}[{i}]"),
                p,
                format!(
                    "unknown {} phase; known phases: {}",
                    mode.as_str(),
                    crate::runner::catalog::top_level_names(mode).join(", ")
                ),
            );
        }
    }
}

/// `joinMaterial.tokenExpires` / `certificateKeyExpires`: RFC 3339 times when set.
pub(crate) fn validate_join_material(v: &mut Validator, m: &super::firstboot::JoinMaterial) {
    for (field, value) in [
        ("joinMaterial.tokenExpires", &m.token_expires),
        (
            "joinMaterial.certificateKeyExpires",
            &m.certificate_key_expires,
        ),
    ] {
        if !value.is_empty()
            && time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
                .is_err()
        {
            v.bad(
                field,
                value.as_str(),
                "must be an RFC 3339 time such as 2026-11-27T10:00:00Z",
            );
        }
    }
}

fn validate_token(v: &mut Validator, field: &str, t: &BootstrapToken) {
    if !t.token.is_empty() && !is_bootstrap_token(&t.token) {
        v.bad(
            format!("{field}.token"),
            redacted(&t.token),
            "the bootstrap token must have the form [a-z0-9]{6}.[a-z0-9]{16}",
        );
    }
    if t.ttl.is_some() && t.expires.is_some() {
        v.bad(
            format!("{field}.expires"),
            t.expires.clone().unwrap_or_default(),
            "ttl and expires are mutually exclusive",
        );
    }
    if let Some(exp) = &t.expires {
        if time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339).is_err()
        {
            v.bad(format!("{field}.expires"), exp, "must be an RFC 3339 time");
        }
    }
    for (i, u) in t.usages.iter().enumerate() {
        if u != "signing" && u != "authentication" {
            v.bad(
                format!("{field}.usages[{i}]"),
                u,
                "unknown usage; valid usages are signing, authentication",
            );
        }
    }
    for (i, g) in t.groups.iter().enumerate() {
        if !is_bootstrap_group(g) {
            v.bad(
                format!("{field}.groups[{i}]"),
                g,
                "must match system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]",
            );
        }
    }
}

fn validate_endpoint(v: &mut Validator, field: &str, e: &ApiEndpoint) {
    if !e.advertise_address.is_empty() && e.advertise_address.parse::<IpAddr>().is_err() {
        v.bad(
            format!("{field}.advertiseAddress"),
            &e.advertise_address,
            "must be an IP address",
        );
    }
    if !(1..=65535).contains(&e.bind_port) {
        v.bad(
            format!("{field}.bindPort"),
            e.bind_port.to_string(),
            "must be a port number between 1 and 65535",
        );
    }
}

fn validate_args(v: &mut Validator, field: &str, args: &[Arg]) {
    for (i, a) in args.iter().enumerate() {
        if a.name.is_empty() || a.name.starts_with('-') {
            v.bad(
                format!("{field}[{i}].name"),
                &a.name,
                "must be a flag name without leading dashes",
            );
        }
    }
}

fn validate_node_registration(v: &mut Validator, n: &NodeRegistrationOptions) {
    let f = "nodeRegistration";
    if !is_dns1123_subdomain(&n.name) {
        v.bad(
            format!("{f}.name"),
            &n.name,
            "the node name must be a lower-case RFC 1123 subdomain",
        );
    }
    if !n.cri_socket.starts_with("unix://") && !n.cri_socket.starts_with("npipe://") {
        v.bad(
            format!("{f}.criSocket"),
            &n.cri_socket,
            "must be a unix:// URL such as unix:///var/run/containerd/containerd.sock",
        );
    }
    if !["Always", "IfNotPresent", "Never"].contains(&n.image_pull_policy.as_str()) {
        v.bad(
            format!("{f}.imagePullPolicy"),
            &n.image_pull_policy,
            "must be Always, IfNotPresent or Never",
        );
    }
    for (i, t) in n.taints.iter().flatten().enumerate() {
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&t.effect.as_str()) {
            v.bad(
                format!("{f}.taints[{i}].effect"),
                &t.effect,
                "must be NoSchedule, PreferNoSchedule or NoExecute",
            );
        }
        if t.key.is_empty() {
            v.bad(format!("{f}.taints[{i}].key"), &t.key, "must not be empty");
        }
    }
    validate_args(v, &format!("{f}.kubeletExtraArgs"), &n.kubelet_extra_args);
    let all = n
        .ignore_preflight_errors
        .iter()
        .any(|e| e.eq_ignore_ascii_case("all"));
    if all && n.ignore_preflight_errors.len() > 1 {
        v.bad(
            format!("{f}.ignorePreflightErrors"),
            n.ignore_preflight_errors.join(","),
            "'all' cannot be combined with other check names",
        );
    }
}

fn validate_cluster(
    v: &mut Validator,
    c: &ClusterConfiguration,
    mode: Mode,
    kubeadm_version: &str,
) {
    // Networking.
    match parse_cidrs(&c.networking.service_subnet) {
        Err(e) => v.bad("networking.serviceSubnet", &c.networking.service_subnet, e),
        Ok(nets) => {
            for n in nets {
                let hb = host_bits(&n);
                if hb > 20 {
                    v.bad(
                        "networking.serviceSubnet",
                        &c.networking.service_subnet,
                        format!("{n} is too large: at most 20 host bits (e.g. /12 for IPv4, /108 for IPv6) are allowed"),
                    );
                } else if hb < 4 {
                    v.bad(
                        "networking.serviceSubnet",
                        &c.networking.service_subnet,
                        format!("{n} is too small: it must hold at least 10 addresses"),
                    );
                }
            }
        }
    }
    if !c.networking.pod_subnet.is_empty() {
        match parse_cidrs(&c.networking.pod_subnet) {
            Err(e) => v.bad("networking.podSubnet", &c.networking.pod_subnet, e),
            Ok(nets) => {
                for n in nets {
                    if host_bits(&n) < 4 {
                        v.bad(
                            "networking.podSubnet",
                            &c.networking.pod_subnet,
                            format!("{n} is too small: it must hold at least 14 addresses"),
                        );
                    }
                }
            }
        }
    }
    if !is_dns1123_subdomain(&c.networking.dns_domain) {
        v.bad(
            "networking.dnsDomain",
            &c.networking.dns_domain,
            "must be a lower-case RFC 1123 subdomain",
        );
    }
    if !is_dns1123_subdomain(&c.cluster_name) {
        v.bad(
            "clusterName",
            &c.cluster_name,
            "must be a lower-case RFC 1123 subdomain",
        );
    }
    if !c.certificates_dir.starts_with('/') {
        v.bad(
            "certificatesDir",
            &c.certificates_dir,
            "must be an absolute path",
        );
    }
    if !ENCRYPTION_ALGORITHMS.contains(&c.encryption_algorithm.as_str()) {
        v.bad(
            "encryptionAlgorithm",
            &c.encryption_algorithm,
            format!("must be one of {}", ENCRYPTION_ALGORITHMS.join(", ")),
        );
    }
    for (name, value) in &c.feature_gates {
        if !KNOWN_FEATURE_GATES.contains(&name.as_str()) {
            v.bad(
                format!("featureGates.{name}"),
                value.to_string(),
                format!(
                    "{name} is not a valid feature name (known: {})",
                    KNOWN_FEATURE_GATES.join(", ")
                ),
            );
        } else if name == "NodeLocalCRISocket" && !value {
            v.bad(
                "featureGates.NodeLocalCRISocket",
                "false",
                "the feature is GA and locked to true in Kubernetes 1.36",
            );
        }
    }
    if !c.control_plane_endpoint.is_empty() {
        if let Err(e) = split_host_port(&c.control_plane_endpoint) {
            v.bad("controlPlaneEndpoint", &c.control_plane_endpoint, e);
        }
    }
    for (i, san) in c.api_server.cert_sans.iter().enumerate() {
        if !is_valid_san(san) {
            v.bad(
                format!("apiServer.certSANs[{i}]"),
                san,
                "must be an IP address or a (wildcard) DNS name",
            );
        }
    }
    validate_args(v, "apiServer.extraArgs", &c.api_server.extra_args);
    validate_args(
        v,
        "controllerManager.extraArgs",
        &c.controller_manager.extra_args,
    );
    validate_args(v, "scheduler.extraArgs", &c.scheduler.extra_args);
    match (&c.etcd.local, &c.etcd.external) {
        (Some(_), Some(_)) => v.bad(
            "etcd",
            "local and external",
            "etcd.local and etcd.external are mutually exclusive",
        ),
        (Some(local), None) => {
            if !local.data_dir.starts_with('/') {
                v.bad(
                    "etcd.local.dataDir",
                    &local.data_dir,
                    "must be an absolute path",
                );
            }
            validate_args(v, "etcd.local.extraArgs", &local.extra_args);
            for (field, sans) in [
                ("etcd.local.serverCertSANs", &local.server_cert_sans),
                ("etcd.local.peerCertSANs", &local.peer_cert_sans),
            ] {
                for (i, san) in sans.iter().enumerate() {
                    if !is_valid_san(san) {
                        v.bad(
                            format!("{field}[{i}]"),
                            san,
                            "must be an IP address or a (wildcard) DNS name",
                        );
                    }
                }
            }
        }
        (None, Some(ext)) => {
            if ext.endpoints.is_empty() {
                v.bad(
                    "etcd.external.endpoints",
                    "[]",
                    "at least one endpoint is required",
                );
            }
            for (field, list) in [
                ("etcd.external.endpoints", &ext.endpoints),
                ("etcd.external.httpEndpoints", &ext.http_endpoints),
            ] {
                for (i, e) in list.iter().enumerate() {
                    if !(e.starts_with("https://") || e.starts_with("http://"))
                        || e.split("://").nth(1).unwrap_or("").is_empty()
                    {
                        v.bad(format!("{field}[{i}]"), e, "must be an http(s):// URL");
                    }
                }
            }
            if ext.cert_file.is_empty() != ext.key_file.is_empty() {
                v.bad(
                    "etcd.external.certFile",
                    &ext.cert_file,
                    "certFile and keyFile must be set together",
                );
            }
        }
        (None, None) => {}
    }
    match Version::parse(&c.kubernetes_version) {
        None => v.bad(
            "kubernetesVersion",
            &c.kubernetes_version,
            "must be a version such as v1.36.2 (labels such as stable-1 need internet access, which firstboot does not use)",
        ),
        Some(ver) => {
            if let (Mode::Init, Some(kv)) = (mode, Version::parse(kubeadm_version)) {
                let min = Version {
                    major: kv.major,
                    minor: kv.minor.saturating_sub(1),
                    patch: 0,
                    released: true,
                };
                if ver < min {
                    v.bad(
                        "kubernetesVersion",
                        &c.kubernetes_version,
                        format!(
                            "this version of kubeadm only supports deploying clusters with the control plane version >= v{}.{}.0",
                            min.major, min.minor
                        ),
                    );
                }
            }
        }
    }
}

fn validate_join(v: &mut Validator, j: &JoinConfiguration) {
    validate_node_registration(v, &j.node_registration);
    if !j.ca_cert_path.starts_with('/') {
        v.bad("caCertPath", &j.ca_cert_path, "must be an absolute path");
    }
    let d = &j.discovery;
    match (&d.bootstrap_token, &d.file) {
        (None, None) => v.bad(
            "discovery",
            "{}",
            "one of discovery.bootstrapToken and discovery.file must be set",
        ),
        (Some(_), Some(_)) => v.bad(
            "discovery",
            "bootstrapToken and file",
            "discovery.bootstrapToken and discovery.file are mutually exclusive",
        ),
        (Some(bt), None) => {
            if !is_bootstrap_token(&bt.token) {
                v.bad(
                    "discovery.bootstrapToken.token",
                    redacted(&bt.token),
                    "the bootstrap token must have the form [a-z0-9]{6}.[a-z0-9]{16}",
                );
            }
            if bt.api_server_endpoint.is_empty() {
                v.bad(
                    "discovery.bootstrapToken.apiServerEndpoint",
                    "",
                    "required: host:port of the API server",
                );
            } else if let Err(e) = split_host_port(&bt.api_server_endpoint).and_then(|(_, p)| {
                p.map(|_| ())
                    .ok_or_else(|| "a port is required (host:port)".to_string())
            }) {
                v.bad(
                    "discovery.bootstrapToken.apiServerEndpoint",
                    &bt.api_server_endpoint,
                    e,
                );
            }
            if bt.ca_cert_hashes.is_empty() && !bt.unsafe_skip_ca_verification {
                v.bad(
                    "discovery.bootstrapToken.caCertHashes",
                    "[]",
                    "at least one sha256:<hex> CA pin is required unless unsafeSkipCAVerification is true",
                );
            }
            for (i, h) in bt.ca_cert_hashes.iter().enumerate() {
                if let Err(e) = check_ca_pin(h) {
                    v.bad(format!("discovery.bootstrapToken.caCertHashes[{i}]"), h, e);
                }
            }
        }
        (None, Some(f)) => {
            if f.kube_config_path.is_empty() {
                v.bad("discovery.file.kubeConfigPath", "", "must not be empty");
            }
        }
    }
    if !d.tls_bootstrap_token.is_empty() && !is_bootstrap_token(&d.tls_bootstrap_token) {
        v.bad(
            "discovery.tlsBootstrapToken",
            redacted(&d.tls_bootstrap_token),
            "the bootstrap token must have the form [a-z0-9]{6}.[a-z0-9]{16}",
        );
    }
    if let Some(cp) = &j.control_plane {
        validate_endpoint(v, "controlPlane.localAPIEndpoint", &cp.local_api_endpoint);
        if !cp.certificate_key.is_empty() {
            validate_certificate_key(v, "controlPlane.certificateKey", &cp.certificate_key);
        }
    }
    validate_skip_phases(v, "skipPhases", &j.skip_phases, Mode::Join);
}

/// Checks a `sha256:<64 hex>` CA public-key pin (format part case-insensitive).
pub fn check_ca_pin(pin: &str) -> Result<(), String> {
    let parts: Vec<&str> = pin.split(':').collect();
    if parts.len() != 2 {
        return Err("expected the form sha256:<64 hex digits>".to_string());
    }
    if !parts[0].eq_ignore_ascii_case("sha256") {
        return Err(format!(
            "unsupported hash format {:?}; only sha256 is supported",
            parts[0]
        ));
    }
    if parts[1].len() != 64 || !parts[1].bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("a sha256 pin needs exactly 64 hex digits".to_string());
    }
    Ok(())
}

/// Splits `host[:port]` (IPv6 in brackets) and checks both parts.
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or("missing ']' after an IPv6 address")?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after ']'".to_string()),
        };
        (host.to_string(), port)
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address without a port.
        (s.to_string(), None)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("the host part is empty".to_string());
    }
    if host.parse::<IpAddr>().is_err() && !is_dns1123_subdomain(&host) {
        return Err(format!("{host:?} is neither an IP address nor a DNS name"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{p:?} is not a valid port"))?,
        ),
    };
    Ok((host, port))
}

fn is_valid_san(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
        || is_dns1123_subdomain(s)
        || s.strip_prefix("*.").is_some_and(is_dns1123_subdomain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_syntax_matches_spec_vectors() {
        for ok in ["abcdef.0123456789abcdef", "7x9k2m.q4w8e1r5t3y6u0i2"] {
            assert!(is_bootstrap_token(ok), "{ok}");
        }
        for bad in [
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcdef\n",
        ] {
            assert!(!is_bootstrap_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn group_syntax_matches_spec_vectors() {
        assert!(is_bootstrap_group(
            "system:bootstrappers:kubeadm:default-node-token"
        ));
        for bad in [
            "system:bootstrappers:",
            "system:bootstrappers:foo-",
            "system:nodes",
        ] {
            assert!(!is_bootstrap_group(bad), "{bad}");
        }
    }

    #[test]
    fn versions_and_labels() {
        assert!(Version::parse("v1.36.2").is_some());
        assert!(Version::parse("1.36.2").is_some());
        assert!(!Version::parse("v1.36.0-rc.1").unwrap().released);
        assert!(Version::parse("v1.36").is_none());
        assert!(Version::parse("v01.36.0").is_none());
        assert!(Version::parse("v1.35.0-rc.1") < Version::parse("v1.35.0"));
        for l in [
            "stable",
            "stable-1",
            "stable-1.36",
            "stable-1.9",
            "latest-1.37",
            "ci/latest",
        ] {
            assert!(is_version_label(l), "{l}");
        }
        for l in ["stable-1.0", "stable-1.100", "stable-10", "stable-v1.36"] {
            assert!(!is_version_label(l), "{l}");
        }
    }

    #[test]
    fn pins() {
        assert!(check_ca_pin(&format!("SHA256:{}", "AB".repeat(32))).is_ok());
        assert!(check_ca_pin(&format!("sha256:{}", "a".repeat(63))).is_err());
        assert!(check_ca_pin(&format!("sha256:{}", "a".repeat(65))).is_err());
        assert!(check_ca_pin(&format!("sha1:{}", "a".repeat(40))).is_err());
        assert!(check_ca_pin("sha256:aa:bb").is_err());
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("lb.example:6443").unwrap(),
            ("lb.example".to_string(), Some(6443))
        );
        assert_eq!(split_host_port("[::1]:6443").unwrap().1, Some(6443));
        assert_eq!(split_host_port("10.0.0.1").unwrap().1, None);
        assert!(split_host_port("lb:0").is_err());
        assert!(split_host_port("Bad_Host:1").is_err());
    }
}
