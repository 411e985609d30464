//! The `kube-public/cluster-info` ConfigMap (spec §7.4): building it on init, signing it like
//! the bootstrap signer, and the join side's pure validation of token discovery (spec §13.2
//! steps 3–7): JWS check, kubeconfig parsing, CA public-key pinning, second-fetch comparison.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_yaml::Value;

use super::jws::{sign_detached, verify_detached, JwsError};
use super::token::BootstrapToken;
use crate::pki::{ca_cert_hash, Certificate};

/// Name of the ConfigMap.
pub const CLUSTER_INFO_NAME: &str = "cluster-info";
/// Namespace of the ConfigMap.
pub const CLUSTER_INFO_NAMESPACE: &str = "kube-public";
/// Data key holding the kubeconfig.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// Prefix of the signature keys (`jws-kubeconfig-<token id>`).
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// Errors building or signing `cluster-info`.
#[derive(Debug, thiserror::Error)]
pub enum ClusterInfoError {
    /// The server URL cannot be written into the kubeconfig as a plain YAML scalar.
    #[error("invalid control-plane endpoint URL {server:?} for cluster-info: {message}")]
    InvalidServer {
        /// The URL.
        server: String,
        /// What is wrong.
        message: String,
    },
    /// The CA certificate is not a PEM certificate.
    #[error("invalid CA certificate for cluster-info: {0}")]
    InvalidCa(String),
    /// The ConfigMap has no `kubeconfig` to sign.
    #[error("ConfigMap kube-public/cluster-info has no {KUBECONFIG_KEY:?} key")]
    NoKubeconfig,
}

/// Why token discovery refuses a `cluster-info` ConfigMap. Messages follow kubeadm's wording
/// and never include the token secret.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// `data.kubeconfig` is missing or empty.
    #[error("there is no {KUBECONFIG_KEY:?} key in the cluster-info ConfigMap: this API server isn't set up for token bootstrapping, can't connect")]
    NotSetUp,
    /// No `jws-kubeconfig-<id>` key.
    #[error("there is no JWS signed token in the cluster-info ConfigMap for token id {id:?}: this token id is invalid for this cluster or it has expired; use \"kubeadm token create\" on the control-plane node to create a new valid token")]
    NoSignature {
        /// Token id.
        id: String,
    },
    /// The signature does not verify.
    #[error("failed to verify JWS signature of received cluster-info object, can't trust this API server")]
    BadSignature(#[source] JwsError),
    /// The signed kubeconfig cannot be used.
    #[error("invalid kubeconfig in cluster-info: {0}")]
    Kubeconfig(String),
    /// No pins and `unsafeSkipCAVerification` is false.
    #[error("no caCertHashes given: set discovery.bootstrapToken.caCertHashes (sha256:<hex>) or unsafeSkipCAVerification: true")]
    PinsRequired,
    /// A configured pin is not `sha256:<64 hex>`.
    #[error("invalid caCertHashes entry {value:?}: {message}")]
    InvalidPin {
        /// The configured pin (public information).
        value: String,
        /// What is wrong.
        message: String,
    },
    /// No CA certificate of cluster-info matches a configured pin.
    #[error("cluster CA found in cluster-info ConfigMap is invalid: none of the public keys {actual:?} are pinned (expected one of {expected:?})")]
    PinMismatch {
        /// Configured pins (normalised to `sha256:<lowercase hex>`).
        expected: Vec<String>,
        /// Pins of the CA certificates found.
        actual: Vec<String>,
    },
    /// `data.kubeconfig` differs between the insecure and the verified fetch.
    #[error("cluster-info changed between the first (insecure) and the second (CA-verified) fetch: refusing the discovered configuration")]
    Changed,
}

fn is_plain_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/[]%@!$&()*+,;=?".contains(c)
}

/// The `data.kubeconfig` string of `cluster-info` byte for byte as client-go serialises it
/// (spec §7.4): one cluster named `""` with `certificate-authority-data` = base64 of
/// `ca_pem` (the whole `ca.crt` file) and `server`, no contexts or users.
pub fn cluster_info_kubeconfig(ca_pem: &[u8], server: &str) -> Result<String, ClusterInfoError> {
    let bad = |m: &str| ClusterInfoError::InvalidServer {
        server: server.to_string(),
        message: m.to_string(),
    };
    if !server.starts_with("https://") {
        return Err(bad("must start with https://"));
    }
    if !server.chars().all(is_plain_url_char) {
        return Err(bad("contains characters not allowed in a URL"));
    }
    let blocks = pem::parse_many(ca_pem).map_err(|e| ClusterInfoError::InvalidCa(e.to_string()))?;
    if !blocks.iter().any(|b| b.tag() == "CERTIFICATE") {
        return Err(ClusterInfoError::InvalidCa(
            "no CERTIFICATE PEM block".to_string(),
        ));
    }
    Ok(format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n",
        STANDARD.encode(ca_pem)
    ))
}

/// The `kube-public/cluster-info` ConfigMap kubeadm's bootstrap-token phase creates (only the
/// `kubeconfig` key; signatures are added by the controller-manager's bootstrap signer).
pub fn build_cluster_info(ca_pem: &[u8], server: &str) -> Result<ConfigMap, ClusterInfoError> {
    let kubeconfig = cluster_info_kubeconfig(ca_pem, server)?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(CLUSTER_INFO_NAME.to_string()),
            namespace: Some(CLUSTER_INFO_NAMESPACE.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(KUBECONFIG_KEY.to_string(), kubeconfig)])),
        ..Default::default()
    })
}

/// Key of a token's signature in `cluster-info`, `jws-kubeconfig-<id>`.
pub fn jws_key(token_id: &str) -> String {
    format!("{JWS_KEY_PREFIX}{token_id}")
}

/// Whether `cluster-info` already carries a signature for `token_id` (what discovery polls
/// for, spec §13.2 step 2).
pub fn has_signature(cm: &ConfigMap, token_id: &str) -> bool {
    cm.data
        .as_ref()
        .is_some_and(|d| d.contains_key(&jws_key(token_id)))
}

/// Adds or refreshes the `jws-kubeconfig-<id>` signature of one signing token.
pub fn add_signature(cm: &mut ConfigMap, token: &BootstrapToken) -> Result<(), ClusterInfoError> {
    let data = cm.data.get_or_insert_with(BTreeMap::new);
    let payload = data
        .get(KUBECONFIG_KEY)
        .ok_or(ClusterInfoError::NoKubeconfig)?;
    let sig = sign_detached(payload, token);
    data.insert(jws_key(token.id()), sig);
    Ok(())
}

/// Sets the signatures like the bootstrap signer: one `jws-kubeconfig-<id>` per token in
/// `signing_tokens` (the tokens with `usage-bootstrap-signing: "true"`), stale signature keys
/// of other ids removed, other keys untouched.
pub fn set_signatures(
    cm: &mut ConfigMap,
    signing_tokens: &[BootstrapToken],
) -> Result<(), ClusterInfoError> {
    let data = cm.data.get_or_insert_with(BTreeMap::new);
    if !data.contains_key(KUBECONFIG_KEY) {
        return Err(ClusterInfoError::NoKubeconfig);
    }
    data.retain(|k, _| !k.starts_with(JWS_KEY_PREFIX));
    for t in signing_tokens {
        add_signature(cm, t)?;
    }
    Ok(())
}

/// A CA public-key pin `sha256:<64 lowercase hex>` (spec §13.2 step 6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaPin(String);

impl CaPin {
    /// Parses a configured pin: exactly two `:`-separated parts, format `sha256`
    /// (case-insensitive), 32 bytes of hex; stored lower-cased.
    pub fn parse(s: &str) -> Result<Self, DiscoveryError> {
        let bad = |m: &str| DiscoveryError::InvalidPin {
            value: s.to_string(),
            message: m.to_string(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 2 {
            return Err(bad("expected the form sha256:<64 hex digits>"));
        }
        if !parts[0].eq_ignore_ascii_case("sha256") {
            return Err(bad("unsupported hash format; only sha256 is supported"));
        }
        let hex = parts[1].to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("a sha256 pin needs exactly 64 hex digits"));
        }
        Ok(CaPin(format!("sha256:{hex}")))
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What token discovery learned from a validated `cluster-info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredCluster {
    /// `server` of the cluster entry (the control-plane endpoint URL).
    pub server: String,
    /// The CA bundle (PEM) from `certificate-authority-data`.
    pub ca_pem: String,
    /// Name of the cluster entry used: `""` for kubeadm's cluster-info; the join flow re-keys
    /// it to `ClusterConfiguration.clusterName`.
    pub cluster_name: String,
    /// Pins of the CA certificates (`sha256:<hex>`, bundle order), for logging.
    pub ca_pins: Vec<String>,
    /// The exact signed `data.kubeconfig`.
    pub kubeconfig: String,
}

fn kubeconfig_cluster(kubeconfig: &str) -> Result<(String, Value), DiscoveryError> {
    let bad = DiscoveryError::Kubeconfig;
    let doc: Value =
        serde_yaml::from_str(kubeconfig).map_err(|e| bad(format!("not valid YAML: {e}")))?;
    let clusters = doc
        .get("clusters")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let find = |name: &str| {
        clusters
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|c| c.get("cluster"))
            .cloned()
    };
    if let Some(c) = find("") {
        return Ok((String::new(), c));
    }
    let ctx_name = doc
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cluster_name = doc
        .get("contexts")
        .and_then(Value::as_sequence)
        .and_then(|ctxs| {
            ctxs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(ctx_name))
        })
        .and_then(|c| c.get("context")?.get("cluster")?.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            bad("no cluster named \"\" and no cluster for the current context".to_string())
        })?;
    let c = find(&cluster_name).ok_or_else(|| {
        bad(format!(
            "cluster {cluster_name:?} of the current context not found"
        ))
    })?;
    Ok((cluster_name, c))
}

/// Validates a `cluster-info` ConfigMap fetched without TLS verification (spec §13.2 steps
/// 3–6): non-empty `kubeconfig`, a `jws-kubeconfig-<id>` signature for `token` that verifies,
/// a resolvable cluster with a `server` and PEM CA certificates, and — unless
/// `ca_cert_hashes` is empty and `unsafe_skip_ca_verification` is true — a CA certificate
/// whose public-key pin is one of `ca_cert_hashes`. Pins are checked whenever given, as
/// kubeadm does.
pub fn validate_cluster_info(
    cm: &ConfigMap,
    token: &BootstrapToken,
    ca_cert_hashes: &[String],
    unsafe_skip_ca_verification: bool,
) -> Result<DiscoveredCluster, DiscoveryError> {
    let pins = ca_cert_hashes
        .iter()
        .map(|p| CaPin::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    if pins.is_empty() && !unsafe_skip_ca_verification {
        return Err(DiscoveryError::PinsRequired);
    }
    let data = cm.data.as_ref();
    let kubeconfig = data
        .and_then(|d| d.get(KUBECONFIG_KEY))
        .filter(|k| !k.is_empty())
        .ok_or(DiscoveryError::NotSetUp)?;
    let sig = data
        .and_then(|d| d.get(&jws_key(token.id())))
        .ok_or_else(|| DiscoveryError::NoSignature {
            id: token.id().to_string(),
        })?;
    verify_detached(kubeconfig, sig, token).map_err(DiscoveryError::BadSignature)?;

    let (cluster_name, cluster) = kubeconfig_cluster(kubeconfig)?;
    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DiscoveryError::Kubeconfig("the cluster has no server".to_string()))?
        .to_string();
    let ca_b64: String = cluster
        .get("certificate-authority-data")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if ca_b64.is_empty() {
        return Err(DiscoveryError::Kubeconfig(
            "the cluster has no certificate-authority-data".to_string(),
        ));
    }
    let ca = STANDARD.decode(&ca_b64).map_err(|e| {
        DiscoveryError::Kubeconfig(format!("certificate-authority-data is not base64: {e}"))
    })?;
    let certs = Certificate::parse_pem_chain(&ca, Path::new("certificate-authority-data"))
        .map_err(|e| DiscoveryError::Kubeconfig(e.to_string()))?;
    let ca_pem = String::from_utf8(ca).map_err(|_| {
        DiscoveryError::Kubeconfig("certificate-authority-data is not text".to_string())
    })?;
    let ca_pins: Vec<String> = certs.iter().map(ca_cert_hash).collect();
    if !pins.is_empty() && !ca_pins.iter().any(|a| pins.iter().any(|p| p.as_str() == a)) {
        return Err(DiscoveryError::PinMismatch {
            expected: pins.into_iter().map(|p| p.0).collect(),
            actual: ca_pins,
        });
    }
    Ok(DiscoveredCluster {
        server,
        ca_pem,
        cluster_name,
        ca_pins,
        kubeconfig: kubeconfig.clone(),
    })
}

/// Spec §13.2 step 7: the `kubeconfig` of the second, CA-verified fetch must be byte-identical
/// to the first (signatures may differ, e.g. when tokens were added meanwhile).
pub fn ensure_same(first: &ConfigMap, second: &ConfigMap) -> Result<(), DiscoveryError> {
    let k = |cm: &ConfigMap| {
        cm.data
            .as_ref()
            .and_then(|d| d.get(KUBECONFIG_KEY))
            .cloned()
    };
    match (k(first), k(second)) {
        (Some(a), Some(b)) if a == b && !a.is_empty() => Ok(()),
        (_, None) => Err(DiscoveryError::NotSetUp),
        _ => Err(DiscoveryError::Changed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_parsing() {
        let hex = "5cd252fb0ce8932436faf8ccd1040981b89ee4ad6b9fe9e2a2b7e71aacb27cd3";
        assert_eq!(
            CaPin::parse(&format!("SHA256:{}", hex.to_uppercase()))
                .unwrap()
                .as_str(),
            format!("sha256:{hex}")
        );
        for bad in [
            format!("sha256:{}", &hex[..63]),
            format!("sha256:{hex}a"),
            format!("sha1:{hex}"),
            "sha256:aa:bb".to_string(),
            hex.to_string(),
        ] {
            assert!(CaPin::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_must_be_plain_https() {
        let ca = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(cluster_info_kubeconfig(ca, "https://[fd00::1]:6443").is_ok());
        assert!(cluster_info_kubeconfig(ca, "http://x:6443").is_err());
        assert!(cluster_info_kubeconfig(ca, "https://x:6443\nkind: Evil").is_err());
        assert!(cluster_info_kubeconfig(b"not pem", "https://x:6443").is_err());
    }
}
