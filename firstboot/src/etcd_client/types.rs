//! Public data types (members, status, TLS material) and the JSON shapes of etcd's gRPC gateway.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::error::{EtcdError, Result};

/// One etcd cluster member, as the member list reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    /// Member ID.
    #[serde(rename = "ID", alias = "id", deserialize_with = "de_u64")]
    pub id: u64,
    /// Member name (`--name`); empty until a newly added member has started.
    #[serde(default)]
    pub name: String,
    /// Peer URLs (`https://10.0.0.5:2380`).
    #[serde(default, rename = "peerURLs", alias = "peerUrls", alias = "peer_urls")]
    pub peer_urls: Vec<String>,
    /// Client URLs (`https://10.0.0.5:2379`); empty until the member has started.
    #[serde(
        default,
        rename = "clientURLs",
        alias = "clientUrls",
        alias = "client_urls"
    )]
    pub client_urls: Vec<String>,
    /// Whether the member is a non-voting learner.
    #[serde(default, rename = "isLearner", alias = "is_learner")]
    pub is_learner: bool,
}

impl Member {
    /// The name kubeadm uses for this member in `--initial-cluster`: its name, or its ID in
    /// lower-case hex when it has none yet.
    pub fn display_name(&self) -> String {
        if self.name.is_empty() {
            format!("{:x}", self.id)
        } else {
            self.name.clone()
        }
    }

    /// Whether `url` is one of this member's peer URLs.
    pub fn has_peer_url(&self, url: &str) -> bool {
        self.peer_urls.iter().any(|u| u == url)
    }
}

/// The status one endpoint reports about itself (`/v3/maintenance/status`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    /// etcd server version (`3.6.8`).
    #[serde(default)]
    pub version: String,
    /// Database size in bytes.
    #[serde(
        default,
        rename = "dbSize",
        alias = "db_size",
        deserialize_with = "de_u64"
    )]
    pub db_size: u64,
    /// Member ID of the current leader (0 when there is none).
    #[serde(default, deserialize_with = "de_u64")]
    pub leader: u64,
    /// Raft index.
    #[serde(
        default,
        rename = "raftIndex",
        alias = "raft_index",
        deserialize_with = "de_u64"
    )]
    pub raft_index: u64,
    /// Raft term.
    #[serde(
        default,
        rename = "raftTerm",
        alias = "raft_term",
        deserialize_with = "de_u64"
    )]
    pub raft_term: u64,
    /// Alarms and errors the member reports (`NOSPACE`, ...).
    #[serde(default)]
    pub errors: Vec<String>,
    /// Whether the answering member is a learner.
    #[serde(default, rename = "isLearner", alias = "is_learner")]
    pub is_learner: bool,
    /// The answering member (from the response header).
    #[serde(default)]
    pub header: Header,
}

/// etcd's response header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// Cluster ID.
    #[serde(default, alias = "clusterId", deserialize_with = "de_u64")]
    pub cluster_id: u64,
    /// ID of the member that answered.
    #[serde(default, alias = "memberId", deserialize_with = "de_u64")]
    pub member_id: u64,
    /// Current revision of the key-value store.
    #[serde(default, deserialize_with = "de_u64")]
    pub revision: u64,
}

/// TLS material of an etcd client: the etcd CA and a client certificate signed by it (PEM).
#[derive(Clone)]
pub struct EtcdTls {
    /// The etcd CA certificate(s) (`etcd/ca.crt`).
    pub ca_pem: Vec<u8>,
    /// The client certificate (`etcd/healthcheck-client.crt` or `apiserver-etcd-client.crt`).
    pub cert_pem: Vec<u8>,
    /// The client's private key.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdTls")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl EtcdTls {
    /// Read the CA, client certificate and key from files.
    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| EtcdError::ReadFile {
                path: p.to_path_buf(),
                source,
            })
        };
        Ok(EtcdTls {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }

    /// The files kubeadm uses under a certificate directory (`<root>/etc/kubernetes/pki`):
    /// CA `etcd/ca.crt`, client `etcd/healthcheck-client.{crt,key}` — what kubeadm's etcd
    /// client presents — or, when that pair is absent, `apiserver-etcd-client.{crt,key}`.
    pub fn from_pki_dir(pki: &Path) -> Result<Self> {
        let ca = pki.join("etcd/ca.crt");
        let hc = pki.join("etcd/healthcheck-client.crt");
        if hc.exists() {
            Self::from_files(&ca, &hc, &pki.join("etcd/healthcheck-client.key"))
        } else {
            Self::from_files(
                &ca,
                &pki.join("apiserver-etcd-client.crt"),
                &pki.join("apiserver-etcd-client.key"),
            )
        }
    }
}

/// `uint64`/`int64` fields: the gateway writes them as JSON strings (proto3 JSON), tolerate
/// numbers too.
pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        U(u64),
        I(i64),
    }
    match N::deserialize(d)? {
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
        N::U(u) => Ok(u),
        N::I(i) => u64::try_from(i).map_err(serde::de::Error::custom),
    }
}

/// `/v3/cluster/member/list` and `/v3/cluster/member/remove` responses.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberListResponse {
    #[serde(default)]
    pub members: Vec<Member>,
}

/// `/v3/cluster/member/add` response.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberAddResponse {
    pub member: Member,
    #[serde(default)]
    pub members: Vec<Member>,
}

/// One message of the `/v3/maintenance/snapshot` stream.
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotChunk {
    #[serde(default, alias = "remainingBytes", deserialize_with = "de_u64")]
    pub remaining_bytes: u64,
    /// Base64 (standard alphabet) of the chunk's bytes.
    #[serde(default)]
    pub blob: String,
}

/// The error body of the gateway: `{"error": "...", "code": 9, "message": "..."}` (v1) or
/// `{"code": 9, "message": "...", "details": []}` (v2).
#[derive(Debug, Deserialize)]
pub(crate) struct GatewayError {
    #[serde(default)]
    pub code: Option<i32>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

impl GatewayError {
    pub(crate) fn text(&self) -> Option<String> {
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            return Some(m.to_string());
        }
        match &self.error {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(serde_json::Value::Object(o)) => o
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_from_gateway_json() {
        let m: MemberListResponse = serde_json::from_str(
            r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","raft_term":"2"},
                "members":[{"ID":"10276657743932975437","name":"cp1","peerURLs":["https://10.0.0.4:2380"],"clientURLs":["https://10.0.0.4:2379"]},
                           {"ID":"1","peerURLs":["https://10.0.0.5:2380"],"isLearner":true}]}"#,
        )
        .unwrap();
        assert_eq!(m.members.len(), 2);
        assert_eq!(m.members[0].id, 10276657743932975437);
        assert_eq!(m.members[0].name, "cp1");
        assert!(!m.members[0].is_learner);
        assert_eq!(m.members[1].display_name(), "1");
        assert!(m.members[1].is_learner);
        assert!(m.members[1].client_urls.is_empty());
    }

    #[test]
    fn gateway_error_text_both_shapes() {
        let v1: GatewayError = serde_json::from_str(
            r#"{"error":"etcdserver: member not found","code":5,"message":"etcdserver: member not found"}"#,
        )
        .unwrap();
        assert_eq!(v1.text().unwrap(), "etcdserver: member not found");
        assert_eq!(v1.code, Some(5));
        let only_error: GatewayError =
            serde_json::from_str(r#"{"error":"etcdserver: no leader"}"#).unwrap();
        assert_eq!(only_error.text().unwrap(), "etcdserver: no leader");
        let stream: GatewayError =
            serde_json::from_str(r#"{"error":{"grpc_code":14,"http_code":503,"message":"boom"}}"#)
                .unwrap();
        assert_eq!(stream.text().unwrap(), "boom");
    }

    #[test]
    fn tls_debug_hides_key() {
        let t = EtcdTls {
            ca_pem: b"ca".to_vec(),
            cert_pem: b"cert".to_vec(),
            key_pem: b"-----BEGIN PRIVATE KEY-----secret".to_vec(),
        };
        let s = format!("{t:?}");
        assert!(!s.contains("secret"), "{s}");
        assert!(s.contains("redacted"), "{s}");
    }
}
