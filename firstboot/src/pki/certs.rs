//! kubeadm's certificate list (`GetDefaultCertList`, spec §3.3) and the subject/SAN/usage
//! computation for each certificate from [`PkiParams`].

use std::net::IpAddr;

use serde::Serialize;

use super::error::{PkiError, Result};
use super::x509::{normalize_alt_names, CertTemplate, ExtKeyUsage};
use super::PkiParams;

/// One of kubeadm's three certificate authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CaKind {
    /// `ca` (`ca.crt`, CN `kubernetes`): the cluster CA.
    #[serde(rename = "ca")]
    Ca,
    /// `front-proxy-ca` (`front-proxy-ca.crt`).
    #[serde(rename = "front-proxy-ca")]
    FrontProxyCa,
    /// `etcd-ca` (`etcd/ca.crt`).
    #[serde(rename = "etcd-ca")]
    EtcdCa,
}

impl CaKind {
    /// All CAs, in kubeadm's order.
    pub const ALL: [CaKind; 3] = [CaKind::Ca, CaKind::FrontProxyCa, CaKind::EtcdCa];

    /// kubeadm's name (`ca`, `front-proxy-ca`, `etcd-ca`).
    pub fn name(self) -> &'static str {
        match self {
            CaKind::Ca => "ca",
            CaKind::FrontProxyCa => "front-proxy-ca",
            CaKind::EtcdCa => "etcd-ca",
        }
    }

    /// File base name under the certificate directory (`ca`, `front-proxy-ca`, `etcd/ca`).
    pub fn base_name(self) -> &'static str {
        match self {
            CaKind::Ca => "ca",
            CaKind::FrontProxyCa => "front-proxy-ca",
            CaKind::EtcdCa => "etcd/ca",
        }
    }

    /// Subject CN.
    pub fn common_name(self) -> &'static str {
        match self {
            CaKind::Ca => "kubernetes",
            CaKind::FrontProxyCa => "front-proxy-ca",
            CaKind::EtcdCa => "etcd-ca",
        }
    }

    /// Parses a kubeadm CA name.
    pub fn from_name(name: &str) -> Option<CaKind> {
        CaKind::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Static facts about one entry of kubeadm's certificate list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// kubeadm's name (phase id), e.g. `apiserver`, `etcd-server`.
    pub name: &'static str,
    /// File base name under the certificate directory, e.g. `apiserver`, `etcd/server`.
    pub base_name: &'static str,
    /// Human description (kubeadm's `LongName`).
    pub long_name: &'static str,
    /// `Some(ca)` for a leaf, `None` for a CA itself.
    pub ca: Option<CaKind>,
    /// Whether the entry exists only with local (stacked) etcd.
    pub local_etcd_only: bool,
}

/// kubeadm's certificate list in its order (CAs each followed by their leaves).
pub const CERT_LIST: [CertInfo; 10] = [
    CertInfo {
        name: "ca",
        base_name: "ca",
        long_name:
            "self-signed Kubernetes CA to provision identities for other Kubernetes components",
        ca: None,
        local_etcd_only: false,
    },
    CertInfo {
        name: "apiserver",
        base_name: "apiserver",
        long_name: "certificate for serving the Kubernetes API",
        ca: Some(CaKind::Ca),
        local_etcd_only: false,
    },
    CertInfo {
        name: "apiserver-kubelet-client",
        base_name: "apiserver-kubelet-client",
        long_name: "certificate for the API server to connect to kubelet",
        ca: Some(CaKind::Ca),
        local_etcd_only: false,
    },
    CertInfo {
        name: "front-proxy-ca",
        base_name: "front-proxy-ca",
        long_name: "self-signed CA to provision identities for front proxy",
        ca: None,
        local_etcd_only: false,
    },
    CertInfo {
        name: "front-proxy-client",
        base_name: "front-proxy-client",
        long_name: "certificate for the front proxy client",
        ca: Some(CaKind::FrontProxyCa),
        local_etcd_only: false,
    },
    CertInfo {
        name: "etcd-ca",
        base_name: "etcd/ca",
        long_name: "self-signed CA to provision identities for etcd",
        ca: None,
        local_etcd_only: true,
    },
    CertInfo {
        name: "etcd-server",
        base_name: "etcd/server",
        long_name: "certificate for serving etcd",
        ca: Some(CaKind::EtcdCa),
        local_etcd_only: true,
    },
    CertInfo {
        name: "etcd-peer",
        base_name: "etcd/peer",
        long_name: "certificate for etcd nodes to communicate with each other",
        ca: Some(CaKind::EtcdCa),
        local_etcd_only: true,
    },
    CertInfo {
        name: "etcd-healthcheck-client",
        base_name: "etcd/healthcheck-client",
        long_name: "certificate for liveness probes to healthcheck etcd",
        ca: Some(CaKind::EtcdCa),
        local_etcd_only: true,
    },
    CertInfo {
        name: "apiserver-etcd-client",
        base_name: "apiserver-etcd-client",
        long_name: "certificate the apiserver uses to access etcd",
        ca: Some(CaKind::EtcdCa),
        local_etcd_only: true,
    },
];

/// The entries of [`CERT_LIST`] that apply (without local etcd only the first five).
pub fn applicable_certs(local_etcd: bool) -> impl Iterator<Item = &'static CertInfo> {
    CERT_LIST
        .iter()
        .filter(move |c| local_etcd || !c.local_etcd_only)
}

/// Looks up an entry of [`CERT_LIST`] by kubeadm name.
pub fn cert_info(name: &str) -> Option<&'static CertInfo> {
    CERT_LIST.iter().find(|c| c.name == name)
}

/// One certificate to produce: its static facts and its computed template.
#[derive(Debug, Clone, Serialize)]
pub struct CertSpec {
    /// Static facts (name, files, issuer).
    pub info: CertInfo,
    /// Subject, SANs, usages and validity.
    pub template: CertTemplate,
}

/// Whether `s` is an RFC 1123 subdomain (Kubernetes `IsDNS1123Subdomain`: lower case).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

/// Whether `s` is a wildcard RFC 1123 subdomain (`*.` + subdomain).
pub fn is_wildcard_dns1123_subdomain(s: &str) -> bool {
    s.strip_prefix("*.").is_some_and(is_dns1123_subdomain)
}

/// Splits user SAN strings into IPs and DNS names like kubeadm's `appendSANsToAltNames`:
/// IP if it parses, else DNS if (wildcard) RFC 1123 subdomain, else dropped with a warning.
pub fn classify_sans(
    sans: &[String],
    cert_name: &str,
    dns: &mut Vec<String>,
    ips: &mut Vec<IpAddr>,
    warnings: &mut Vec<String>,
) {
    for s in sans {
        if let Ok(ip) = s.parse::<IpAddr>() {
            ips.push(ip);
        } else if is_dns1123_subdomain(s) || is_wildcard_dns1123_subdomain(s) {
            dns.push(s.clone());
        } else {
            warnings.push(format!(
                "[certificates] WARNING: '{s}' was not added to the '{cert_name}' SAN, because it is not a valid IP or RFC-1123 compliant DNS entry"
            ));
        }
    }
}

/// Splits `host[:port]` / `[ipv6]:port` / bare IPv6 (kubeadm's `ParseHostPort`).
pub fn parse_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h.to_string(), None),
            p => (h.to_string(), Some(p.strip_prefix(':')?.to_string())),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':')?;
        (h.to_string(), Some(p.to_string()))
    } else {
        (s.to_string(), None)
    };
    let port = match port {
        Some(p) => {
            let n: u16 = p.parse().ok()?;
            if n == 0 {
                return None;
            }
            Some(n)
        }
        None => None,
    };
    if host.parse::<IpAddr>().is_ok() || is_dns1123_subdomain(&host) {
        Some((host, port))
    } else {
        None
    }
}

/// Index-1 address of the first CIDR of `serviceSubnet` (the API server's virtual IP).
pub fn apiserver_virtual_ip(service_subnet: &str) -> Result<IpAddr> {
    let first = service_subnet.split(',').next().unwrap_or("").trim();
    let net: ipnet::IpNet = first.parse().map_err(|e| {
        PkiError::input(
            "networking.serviceSubnet",
            service_subnet,
            format!("not a CIDR: {e}"),
        )
    })?;
    let ip = match net.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a).wrapping_add(1)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a).wrapping_add(1)).into()),
    };
    if !net.contains(&ip) {
        return Err(PkiError::input(
            "networking.serviceSubnet",
            service_subnet,
            "too small",
        ));
    }
    Ok(ip)
}

/// Computes every certificate of kubeadm's list for `p` (CAs and leaves, in order) and the
/// warnings about dropped SANs.
pub fn cert_specs(p: &PkiParams) -> Result<(Vec<CertSpec>, Vec<String>)> {
    let mut warnings = Vec::new();
    let ca_nb = p.start_time - time::Duration::minutes(5);
    let ca_na = p.start_time + p.ca_validity;
    let leaf_na = p.start_time + p.cert_validity;
    let mut out = Vec::new();
    for info in applicable_certs(p.local_etcd) {
        let mut t = CertTemplate {
            common_name: String::new(),
            organizations: Vec::new(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            usages: Vec::new(),
            is_ca: info.ca.is_none(),
            not_before: ca_nb,
            not_after: if info.ca.is_none() { ca_na } else { leaf_na },
        };
        match info.name {
            "ca" | "front-proxy-ca" | "etcd-ca" => {
                let ca = CaKind::from_name(info.name).unwrap_or(CaKind::Ca);
                t.common_name = ca.common_name().to_string();
                t.dns_names = vec![t.common_name.clone()];
            }
            "apiserver" => {
                t.common_name = "kube-apiserver".into();
                t.usages = vec![ExtKeyUsage::ServerAuth];
                if !p.node_name.is_empty() {
                    t.dns_names.push(p.node_name.clone());
                }
                t.dns_names.extend(
                    ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
                        .map(String::from),
                );
                if !p.dns_domain.is_empty() {
                    t.dns_names
                        .push(format!("kubernetes.default.svc.{}", p.dns_domain));
                }
                t.ips.push(apiserver_virtual_ip(&p.service_subnet)?);
                t.ips.push(p.advertise_address);
                if let Some(cpe) = p
                    .control_plane_endpoint
                    .as_deref()
                    .filter(|s| !s.is_empty())
                {
                    let (host, _) = parse_host_port(cpe).ok_or_else(|| {
                        PkiError::input("controlPlaneEndpoint", cpe, "not a valid host[:port]")
                    })?;
                    match host.parse::<IpAddr>() {
                        Ok(ip) => t.ips.push(ip),
                        Err(_) => t.dns_names.push(host),
                    }
                }
                let sans: Vec<String> = p
                    .apiserver_cert_sans
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect();
                classify_sans(
                    &sans,
                    info.name,
                    &mut t.dns_names,
                    &mut t.ips,
                    &mut warnings,
                );
            }
            "apiserver-kubelet-client" => {
                t.common_name = "kube-apiserver-kubelet-client".into();
                t.usages = vec![ExtKeyUsage::ClientAuth];
            }
            "front-proxy-client" => {
                t.common_name = "front-proxy-client".into();
                t.usages = vec![ExtKeyUsage::ClientAuth];
            }
            "etcd-server" | "etcd-peer" => {
                t.common_name = p.node_name.clone();
                t.usages = vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth];
                if !p.node_name.is_empty() {
                    t.dns_names.push(p.node_name.clone());
                }
                t.dns_names.push("localhost".into());
                t.ips = vec![
                    p.advertise_address,
                    IpAddr::from([127, 0, 0, 1]),
                    IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                ];
                let sans = if info.name == "etcd-server" {
                    &p.etcd_server_cert_sans
                } else {
                    &p.etcd_peer_cert_sans
                };
                classify_sans(sans, info.name, &mut t.dns_names, &mut t.ips, &mut warnings);
            }
            "etcd-healthcheck-client" => {
                t.common_name = "kube-etcd-healthcheck-client".into();
                t.usages = vec![ExtKeyUsage::ClientAuth];
            }
            "apiserver-etcd-client" => {
                t.common_name = "kube-apiserver-etcd-client".into();
                t.usages = vec![ExtKeyUsage::ClientAuth];
            }
            _ => {}
        }
        if t.common_name.is_empty() {
            return Err(PkiError::input(
                "nodeRegistration.name",
                "",
                format!(
                    "certificate {} needs a non-empty CN (the node name)",
                    info.name
                ),
            ));
        }
        let (d, i) = normalize_alt_names(&t.dns_names, &t.ips);
        t.dns_names = d;
        t.ips = i;
        out.push(CertSpec {
            info: *info,
            template: t,
        });
    }
    Ok((out, warnings))
}
