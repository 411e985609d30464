//! Join discovery (spec §13.2): find and authenticate the cluster a node joins.
//!
//! Bootstrap-token discovery fetches `kube-public/cluster-info` anonymously without verifying
//! TLS, checks the detached JWS the bootstrap signer added for the token id, pins the CA with
//! `caCertHashes`, fetches it again over TLS verified against that CA and requires the same
//! kubeconfig bytes. File discovery loads a kubeconfig from a path, `file://` or `https://` URL.
//!
//! The pure validation ([`validate_cluster_info`], [`ensure_same`]) is separate from the
//! fetching ([`ClusterInfoSource`]; [`HttpsClusterInfo`] is the real one), so tests can feed
//! recorded objects.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_yaml::Value;

use crate::config::{BootstrapTokenDiscovery, JoinConfiguration};
use crate::kubeconfig::Kubeconfig;
use crate::pki::{spki_hash, Certificate};

/// kubeadm's interval between discovery attempts (`DiscoveryRetryInterval`).
pub const DISCOVERY_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// kubeadm's default `timeouts.discovery`.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(300);
/// Namespace of the cluster-info ConfigMap.
pub const CLUSTER_INFO_NAMESPACE: &str = "kube-public";
/// Name of the cluster-info ConfigMap.
pub const CLUSTER_INFO_NAME: &str = "cluster-info";
/// Key of the kubeconfig in cluster-info.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// Prefix of the JWS keys in cluster-info (`jws-kubeconfig-<token-id>`).
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// Why discovery failed. Messages never contain the token secret.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Bad discovery settings (token syntax, pins, missing fields).
    #[error("discovery configuration: {0}")]
    Config(String),
    /// The API server rejected the request with 401: the token is unknown or expired.
    #[error(
        "the API server at {endpoint} rejected the bootstrap token {token_id}: token expired or invalid \
         (create a new one with `firstboot token create` / `kubeadm token create` on a control-plane node)"
    )]
    TokenRejected {
        /// `host:port`.
        endpoint: String,
        /// Token id (not the secret).
        token_id: String,
    },
    /// cluster-info did not show a signature for the token before the timeout.
    #[error(
        "token id {token_id:?} is invalid for this cluster or it has expired: cluster-info at {endpoint} \
         has no {JWS_KEY_PREFIX}{token_id} signature (waited {waited:?}){last}"
    )]
    NoSignature {
        /// `host:port`.
        endpoint: String,
        /// Token id.
        token_id: String,
        /// How long discovery waited.
        waited: Duration,
        /// The last fetch error, if any (`; last error: ...`).
        last: String,
    },
    /// cluster-info has no kubeconfig.
    #[error("the cluster-info ConfigMap at {0} isn't set up for token bootstrapping (no data.kubeconfig)")]
    NotBootstrappable(String),
    /// The JWS does not verify.
    #[error("failed to verify JWS signature of cluster-info for token id {0:?}: can't trust this API Server")]
    BadSignature(String),
    /// The kubeconfig in cluster-info is unusable.
    #[error("invalid kubeconfig in cluster-info: {0}")]
    BadKubeconfig(String),
    /// No CA certificate matches the configured pins.
    #[error(
        "cluster CA found in cluster-info does not match any configured caCertHashes \
         (its public key pins: {found}; configured: {configured}); refusing to join"
    )]
    PinMismatch {
        /// Pins of the certificates found.
        found: String,
        /// Configured pins.
        configured: String,
    },
    /// The second (TLS-verified) fetch returned different data.
    #[error(
        "cluster-info changed between the insecure and the CA-verified fetch from {0}; refusing to join"
    )]
    Changed(String),
    /// Fetching failed until the timeout.
    #[error("cannot fetch cluster-info from {endpoint} (waited {waited:?}): {message}")]
    Fetch {
        /// `host:port` or URL.
        endpoint: String,
        /// How long it waited.
        waited: Duration,
        /// Last error.
        message: String,
    },
    /// File discovery: the kubeconfig could not be read or used.
    #[error("discovery file {path}: {message}")]
    File {
        /// Path or URL.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A bootstrap token `<id>.<secret>`. `Display`/`Debug` print only the id.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The 6-character id.
    pub id: String,
    /// The 16-character secret.
    pub secret: String,
}

impl Token {
    /// Parses `<id>.<secret>` (`^[a-z0-9]{6}\.[a-z0-9]{16}$`, spec §19.3).
    pub fn parse(s: &str) -> Result<Self, DiscoveryError> {
        let ok = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        match s.split_once('.') {
            Some((id, secret)) if ok(id, 6) && ok(secret, 16) => Ok(Token {
                id: id.into(),
                secret: secret.into(),
            }),
            _ => Err(DiscoveryError::Config(
                "the bootstrap token does not match [a-z0-9]{6}.[a-z0-9]{16}".into(),
            )),
        }
    }

    /// The full `<id>.<secret>` (for kubeconfigs; never log it).
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}.<redacted>)", self.id)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.<redacted>", self.id)
    }
}

/// Parses configured pins (`sha256:<64 hex>`, format case-insensitive) into lower case.
pub fn parse_pins(pins: &[String]) -> Result<Vec<String>, DiscoveryError> {
    pins.iter()
        .map(|p| {
            let parts: Vec<&str> = p.split(':').collect();
            let bad = || {
                DiscoveryError::Config(format!(
                    "caCertHashes entry {p:?} is not sha256:<64 hex digits>"
                ))
            };
            if parts.len() != 2 || !parts[0].eq_ignore_ascii_case("sha256") {
                return Err(bad());
            }
            let v = hex::decode(parts[1]).map_err(|_| bad())?;
            if v.len() != 32 {
                return Err(bad());
            }
            Ok(format!("sha256:{}", hex::encode(v)))
        })
        .collect()
}

/// Verifies a detached JWS (`<b64 header>..<b64 signature>`, spec §7.5) over `content` for
/// `token`, with [`crate::join_material::jws::verify_detached`] (HS256, `kid` = token id,
/// constant-time compare).
pub fn verify_detached_jws(content: &[u8], jws: &str, token: &Token) -> bool {
    let (Ok(text), Ok(t)) = (
        std::str::from_utf8(content),
        crate::join_material::BootstrapToken::from_parts(&token.id, &token.secret),
    ) else {
        return false;
    };
    crate::join_material::jws::verify_detached(text, jws, &t).is_ok()
}

/// The cluster a validated cluster-info describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredCluster {
    /// `server` of the cluster-info kubeconfig (the control-plane endpoint URL).
    pub server: String,
    /// The cluster CA bundle (PEM).
    pub ca_pem: Vec<u8>,
    /// The exact `data.kubeconfig` string (compared with the second fetch).
    pub raw_kubeconfig: String,
}

/// Resolves the cluster of a cluster-info kubeconfig: the unnamed (`""`) cluster if present,
/// else the current context's cluster (spec §13.2 step 4). Returns (server, CA PEM).
pub fn cluster_of(kubeconfig: &str) -> Result<(String, Vec<u8>), DiscoveryError> {
    let bad = |m: &str| DiscoveryError::BadKubeconfig(m.to_string());
    let v: Value = serde_yaml::from_str(kubeconfig).map_err(|e| bad(&e.to_string()))?;
    let clusters = v
        .get("clusters")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let named = |n: &str| {
        clusters
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str).unwrap_or("") == n)
            .cloned()
    };
    let entry = match named("") {
        Some(c) => c,
        None => {
            let ctx = v
                .get("current-context")
                .and_then(Value::as_str)
                .unwrap_or("");
            let cname = v
                .get("contexts")
                .and_then(Value::as_sequence)
                .and_then(|l| {
                    l.iter()
                        .find(|c| c.get("name").and_then(Value::as_str) == Some(ctx))
                })
                .and_then(|c| c.get("context")?.get("cluster")?.as_str().map(String::from))
                .ok_or_else(|| {
                    bad("no cluster (neither an unnamed one nor the current context's)")
                })?;
            named(&cname).ok_or_else(|| bad(&format!("cluster {cname:?} not found")))?
        }
    };
    let c = entry
        .get("cluster")
        .ok_or_else(|| bad("cluster entry has no `cluster`"))?;
    let server = c
        .get("server")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("the cluster has no server"))?
        .to_string();
    let data = c
        .get("certificate-authority-data")
        .and_then(Value::as_str)
        .unwrap_or("");
    let compact: String = data.split_whitespace().collect();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| bad(&format!("certificate-authority-data is not base64: {e}")))?;
    Ok((server, ca))
}

/// Public-key pins of every certificate in a PEM bundle.
pub fn pins_of(ca_pem: &[u8]) -> Result<Vec<String>, DiscoveryError> {
    let certs = Certificate::parse_pem_chain(ca_pem, Path::new("cluster-info"))
        .map_err(|e| DiscoveryError::BadKubeconfig(format!("certificate-authority-data: {e}")))?;
    Ok(certs.iter().map(|c| spki_hash(&c.spki)).collect())
}

/// Validates the `data` of a fetched cluster-info ConfigMap for `token` (spec §13.2 steps
/// 3–6): kubeconfig present, JWS for the token id present and valid, CA pinned (any
/// certificate matching any pin) unless `pins` is empty (`unsafeSkipCAVerification`).
pub fn validate_cluster_info(
    data: &BTreeMap<String, String>,
    token: &Token,
    pins: &[String],
    endpoint: &str,
) -> Result<DiscoveredCluster, DiscoveryError> {
    let kubeconfig = data
        .get(KUBECONFIG_KEY)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| DiscoveryError::NotBootstrappable(endpoint.to_string()))?;
    let jws = data
        .get(&format!("{JWS_KEY_PREFIX}{}", token.id))
        .ok_or_else(|| DiscoveryError::NoSignature {
            endpoint: endpoint.to_string(),
            token_id: token.id.clone(),
            waited: Duration::ZERO,
            last: String::new(),
        })?;
    if !verify_detached_jws(kubeconfig.as_bytes(), jws, token) {
        return Err(DiscoveryError::BadSignature(token.id.clone()));
    }
    let (server, ca_pem) = cluster_of(kubeconfig)?;
    if !pins.is_empty() {
        let found = pins_of(&ca_pem)?;
        if !found.iter().any(|f| pins.contains(f)) {
            return Err(DiscoveryError::PinMismatch {
                found: found.join(", "),
                configured: pins.join(", "),
            });
        }
    }
    Ok(DiscoveredCluster {
        server,
        ca_pem,
        raw_kubeconfig: kubeconfig.clone(),
    })
}

/// Requires the CA-verified fetch to carry byte-identical `data.kubeconfig` (step 7).
pub fn ensure_same(
    first: &DiscoveredCluster,
    second: &BTreeMap<String, String>,
    endpoint: &str,
) -> Result<(), DiscoveryError> {
    match second.get(KUBECONFIG_KEY) {
        Some(k) if *k == first.raw_kubeconfig => Ok(()),
        _ => Err(DiscoveryError::Changed(endpoint.to_string())),
    }
}

/// Outcome of one cluster-info fetch.
#[derive(Debug)]
pub enum FetchError {
    /// HTTP 401: credentials rejected.
    Unauthorized,
    /// Anything else (transport, 403, 5xx); retried.
    Other(String),
}

/// Where cluster-info comes from.
pub trait ClusterInfoSource {
    /// GETs `kube-public/cluster-info` anonymously from `https://<endpoint>`; `ca_pem` `None`
    /// means TLS is not verified (first fetch), `Some` verifies against that CA. `Ok(None)`:
    /// the ConfigMap does not exist (404).
    fn fetch(
        &self,
        endpoint: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Option<BTreeMap<String, String>>, FetchError>;
}

/// The real source: an HTTPS GET with the kube client, anonymous (user
/// `token-bootstrap-client`, no credentials), 10 s timeouts.
#[derive(Debug, Default)]
pub struct HttpsClusterInfo;

impl ClusterInfoSource for HttpsClusterInfo {
    fn fetch(
        &self,
        endpoint: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Option<BTreeMap<String, String>>, FetchError> {
        let other = |e: &dyn fmt::Display| FetchError::Other(e.to_string());
        let url: http::Uri = format!("https://{endpoint}")
            .parse()
            .map_err(|e| other(&e))?;
        let mut config = kube::Config::new(url);
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(10));
        match ca_pem {
            None => config.accept_invalid_certs = true,
            Some(pem) => {
                let ders = pem::parse_many(pem)
                    .map_err(|e| other(&e))?
                    .into_iter()
                    .filter(|b| b.tag() == "CERTIFICATE")
                    .map(|b| b.into_contents())
                    .collect();
                config.root_cert = Some(ders);
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| other(&e))?;
        rt.block_on(async move {
            let client = kube::Client::try_from(config).map_err(|e| other(&e))?;
            let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                kube::Api::namespaced(client, CLUSTER_INFO_NAMESPACE);
            match api.get_opt(CLUSTER_INFO_NAME).await {
                Ok(Some(cm)) => Ok(Some(cm.data.unwrap_or_default())),
                Ok(None) => Ok(None),
                Err(kube::Error::Api(s)) if s.code == 401 => Err(FetchError::Unauthorized),
                Err(e) => Err(other(&e)),
            }
        })
    }
}

/// Settings of one token discovery.
#[derive(Debug, Clone)]
pub struct TokenDiscovery {
    /// `host:port`.
    pub endpoint: String,
    /// The discovery token.
    pub token: Token,
    /// Parsed pins (empty only with `unsafeSkipCAVerification`).
    pub pins: Vec<String>,
    /// `timeouts.discovery`.
    pub timeout: Duration,
    /// Retry interval (kubeadm: 5 s, capped at the timeout).
    pub interval: Duration,
}

impl TokenDiscovery {
    /// From `discovery.bootstrapToken` (validates the token and the pins).
    pub fn from_config(
        bt: &BootstrapTokenDiscovery,
        timeout: Duration,
    ) -> Result<Self, DiscoveryError> {
        if bt.api_server_endpoint.is_empty() {
            return Err(DiscoveryError::Config(
                "discovery.bootstrapToken.apiServerEndpoint is required".into(),
            ));
        }
        let pins = parse_pins(&bt.ca_cert_hashes)?;
        if pins.is_empty() && !bt.unsafe_skip_ca_verification {
            return Err(DiscoveryError::Config(
                "discovery.bootstrapToken.caCertHashes is empty; set it (sha256:<hash> of the cluster CA's \
                 public key) or set unsafeSkipCAVerification: true"
                    .into(),
            ));
        }
        Ok(TokenDiscovery {
            endpoint: bt.api_server_endpoint.clone(),
            token: Token::parse(&bt.token)?,
            pins: if bt.unsafe_skip_ca_verification && bt.ca_cert_hashes.is_empty() {
                Vec::new()
            } else {
                pins
            },
            timeout,
            interval: DISCOVERY_RETRY_INTERVAL.min(timeout),
        })
    }

    /// Runs steps 1–7 of §13.2 against `source`.
    pub fn run(&self, source: &dyn ClusterInfoSource) -> Result<DiscoveredCluster, DiscoveryError> {
        let start = Instant::now();
        let deadline = start + self.timeout;
        let key = format!("{JWS_KEY_PREFIX}{}", self.token.id);
        let mut last: String;
        // Steps 1–2: insecure, anonymous; wait for the signature of this token id.
        let data = loop {
            match source.fetch(&self.endpoint, None) {
                Ok(Some(d)) if d.contains_key(&key) => break d,
                Ok(Some(d)) if d.get(KUBECONFIG_KEY).is_none_or(String::is_empty) => {
                    last = format!("; last answer: {} (no data.kubeconfig)", self.endpoint);
                }
                Ok(Some(_)) => last = String::new(),
                Ok(None) => last = "; last answer: cluster-info not found".into(),
                Err(FetchError::Unauthorized) => {
                    return Err(DiscoveryError::TokenRejected {
                        endpoint: self.endpoint.clone(),
                        token_id: self.token.id.clone(),
                    })
                }
                Err(FetchError::Other(e)) => last = format!("; last error: {e}"),
            }
            if Instant::now() + self.interval > deadline {
                let waited = start.elapsed();
                return Err(if last.starts_with("; last error") {
                    DiscoveryError::Fetch {
                        endpoint: self.endpoint.clone(),
                        waited,
                        message: last.trim_start_matches("; last error: ").to_string(),
                    }
                } else {
                    DiscoveryError::NoSignature {
                        endpoint: self.endpoint.clone(),
                        token_id: self.token.id.clone(),
                        waited,
                        last,
                    }
                });
            }
            std::thread::sleep(self.interval);
        };
        // Steps 3–6.
        let cluster = validate_cluster_info(&data, &self.token, &self.pins, &self.endpoint)?;
        if self.pins.is_empty() {
            tracing::warn!(
                "cluster CA of {} accepted without pinning (unsafeSkipCAVerification)",
                self.endpoint
            );
        }
        // Step 7: again, verified against the CA just trusted.
        let second = loop {
            match source.fetch(&self.endpoint, Some(&cluster.ca_pem)) {
                Ok(Some(d)) => break d,
                Ok(None) => last = "cluster-info not found".into(),
                Err(FetchError::Unauthorized) => {
                    return Err(DiscoveryError::TokenRejected {
                        endpoint: self.endpoint.clone(),
                        token_id: self.token.id.clone(),
                    })
                }
                Err(FetchError::Other(e)) => last = e,
            }
            if Instant::now() + self.interval > deadline {
                return Err(DiscoveryError::Fetch {
                    endpoint: self.endpoint.clone(),
                    waited: start.elapsed(),
                    message: format!("CA-verified fetch: {last}"),
                });
            }
            std::thread::sleep(self.interval);
        };
        ensure_same(&cluster, &second, &self.endpoint)?;
        Ok(cluster)
    }
}

/// The TLS bootstrap kubeconfig (step 8): cluster `kubernetes` with the discovered server and
/// CA, user `tls-bootstrap-token-user` with `token`.
pub fn bootstrap_kubeconfig(cluster: &DiscoveredCluster, token: &Token) -> Kubeconfig {
    Kubeconfig::bootstrap_kubelet(&cluster.server, &cluster.ca_pem, &token.expose())
}

/// The token used for TLS bootstrap: `discovery.tlsBootstrapToken`, else the discovery token.
pub fn tls_bootstrap_token(join: &JoinConfiguration) -> Option<&str> {
    let d = &join.discovery;
    if !d.tls_bootstrap_token.is_empty() {
        return Some(&d.tls_bootstrap_token);
    }
    d.bootstrap_token
        .as_ref()
        .map(|b| b.token.as_str())
        .filter(|t| !t.is_empty())
}

/// File discovery (`discovery.file.kubeConfigPath`): reads a kubeconfig from a path (under
/// `root`), a `file://` URL or an `https://` URL, and returns it with the CA it names.
/// Without credentials, `tls_token` (`tlsBootstrapToken`) is required and a token kubeconfig
/// for the same server and CA is returned instead.
pub fn file_discovery(
    location: &str,
    root: &Path,
    tls_token: Option<&str>,
) -> Result<(Kubeconfig, DiscoveredCluster), DiscoveryError> {
    let err = |m: String| DiscoveryError::File {
        path: location.to_string(),
        message: m,
    };
    let bytes = if location.starts_with("https://") {
        fetch_url(location).map_err(err)?
    } else {
        let p = location.strip_prefix("file://").unwrap_or(location);
        let real = crate::fsutil::under_root(root, p);
        std::fs::read(&real).map_err(|e| err(e.to_string()))?
    };
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let kc = Kubeconfig::from_yaml(text.as_bytes(), Path::new(location))
        .map_err(|e| err(e.to_string()))?;
    let server = kc
        .server()
        .ok_or_else(|| err("the current context names no cluster with a server".into()))?
        .to_string();
    let ca_pem = kc
        .current_cluster_ca_pem(Path::new(location))
        .map_err(|e| err(e.to_string()))?;
    let cluster = DiscoveredCluster {
        server,
        ca_pem,
        raw_kubeconfig: text,
    };
    let has_creds = kc.client_certificate_pem().is_some()
        || kc
            .current_user_name()
            .is_some_and(|_| user_has_token(kc.value()));
    if has_creds {
        return Ok((kc, cluster));
    }
    let token = tls_token.ok_or_else(|| {
        err("the kubeconfig has no credentials and discovery.tlsBootstrapToken is not set".into())
    })?;
    let token = Token::parse(token)?;
    Ok((bootstrap_kubeconfig(&cluster, &token), cluster))
}

fn user_has_token(v: &Value) -> bool {
    v.get("users")
        .and_then(Value::as_sequence)
        .is_some_and(|l| {
            l.iter().any(|u| {
                u.get("user").is_some_and(|u| {
                    u.get("token")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty())
                        || u.get("client-certificate").is_some()
                })
            })
        })
}

fn fetch_url(url: &str) -> Result<Vec<u8>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let base: http::Uri = format!(
        "https://{}",
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    )
    .parse()
    .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let config = kube::Config::new(base);
    rt.block_on(async move {
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let req = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        client
            .request_text(req)
            .await
            .map(String::into_bytes)
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_round_trip_through_join_material() {
        // The spec's §19.1 vectors are checked in join_material's own tests.
        let t = Token {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
        };
        let bt = crate::join_material::BootstrapToken::from_parts(&t.id, &t.secret).unwrap();
        let content = "apiVersion: v1\nkind: Config\n";
        let jws = crate::join_material::jws::sign_detached(content, &bt);
        assert!(verify_detached_jws(content.as_bytes(), &jws, &t));
        assert!(!verify_detached_jws(b"other content", &jws, &t));
        let wrong = Token {
            id: "abcdef".into(),
            secret: "fedcba9876543210".into(),
        };
        assert!(!verify_detached_jws(content.as_bytes(), &jws, &wrong));
    }

    #[test]
    fn pins_parse() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_pins(&[format!("SHA256:{}", h.to_uppercase())]).unwrap(),
            vec![format!("sha256:{h}")]
        );
        assert!(parse_pins(&[format!("sha256:{}", &h[..63])]).is_err());
        assert!(parse_pins(&[format!("sha1:{h}")]).is_err());
        assert!(parse_pins(&["sha256:aa:bb".into()]).is_err());
    }

    #[test]
    fn token_parse_and_redaction() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.to_string(), "abcdef.<redacted>");
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
        assert!(Token::parse("ABCDEF.0123456789abcdef").is_err());
        assert!(Token::parse("abcdef.0123456789abcdef\n").is_err());
    }
}
