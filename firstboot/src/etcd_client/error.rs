//! Errors of the etcd membership client.

use std::path::PathBuf;
use std::time::Duration;

/// Result type of [`crate::etcd_client`].
pub type Result<T, E = EtcdError> = std::result::Result<T, E>;

/// Errors returned by [`crate::etcd_client`].
///
/// Every variant names the endpoint, file or member it is about; none carries key material.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// Reading a certificate or key file failed.
    #[error("{path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The CA, client certificate or client key is unusable.
    #[error("etcd client TLS: {0}")]
    Tls(String),
    /// No endpoint was given (or none is left after syncing with the member list).
    #[error("no etcd endpoints")]
    NoEndpoints,
    /// An endpoint is not an `https://host:port` URL.
    #[error("invalid etcd endpoint {endpoint:?}: {message}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// A peer URL is not an `https://host:port` URL.
    #[error("invalid etcd peer URL {url:?}: {message}")]
    InvalidPeerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The endpoint could not be reached, the TLS handshake failed or the request timed out.
    #[error("etcd endpoint {endpoint}: {message}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        message: String,
    },
    /// etcd answered with an error (`etcdserver: ...`).
    #[error("etcd endpoint {endpoint}: {path}: {message}")]
    Api {
        /// The endpoint that answered.
        endpoint: String,
        /// The request path (`/v3/cluster/member/add`).
        path: String,
        /// The gRPC status code, when etcd sent one.
        code: Option<i32>,
        /// etcd's error message.
        message: String,
    },
    /// etcd's answer could not be decoded.
    #[error("etcd endpoint {endpoint}: {path}: unexpected answer: {message}")]
    Decode {
        /// The endpoint that answered.
        endpoint: String,
        /// The request path.
        path: String,
        /// What is wrong with the answer.
        message: String,
    },
    /// An endpoint answered its health check with "unhealthy".
    #[error("etcd endpoint {endpoint} is unhealthy: {message}")]
    Unhealthy {
        /// The endpoint.
        endpoint: String,
        /// etcd's reason, or the answer it gave.
        message: String,
    },
    /// Not more than half of the endpoints answered a status request without errors.
    #[error("etcd cluster is not healthy: {healthy} of {total} endpoints answered: {}", failures.join("; "))]
    ClusterUnhealthy {
        /// Endpoints that answered without errors.
        healthy: usize,
        /// All endpoints.
        total: usize,
        /// One message per failing endpoint (each names it).
        failures: Vec<String>,
    },
    /// No member with this ID is in the member list.
    #[error("etcd member {id:x} is not a member of the cluster")]
    MemberNotFound {
        /// The member ID.
        id: u64,
    },
    /// The member exists but is not ready for the operation yet (a learner that has not
    /// started); retried until the client's retry timeout.
    #[error("etcd member {id:x}: {message}")]
    NotReady {
        /// The member ID.
        id: u64,
        /// What it is waiting for.
        message: String,
    },
    /// A retried operation did not succeed in time.
    #[error("{what}: gave up after {:.1?}: {last}", elapsed)]
    Timeout {
        /// The operation (`promoting etcd member 8e9e05c52164694d`).
        what: String,
        /// How long it was retried.
        elapsed: Duration,
        /// The last error seen.
        last: Box<EtcdError>,
    },
    /// Writing the snapshot failed or the snapshot stream was damaged.
    #[error("etcd snapshot {path}: {message}")]
    Snapshot {
        /// The snapshot file being written.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The client's internal runtime could not be started.
    #[error("starting the etcd client runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl EtcdError {
    /// The etcd error message for [`EtcdError::Api`], else `None`.
    pub fn api_message(&self) -> Option<&str> {
        match self {
            EtcdError::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Whether trying the same request on another endpoint (or again later) may help:
    /// transport errors, gRPC `Unavailable`/`DeadlineExceeded`, and etcd's "no leader",
    /// "leader changed", "request timed out", "unhealthy cluster" and "not supported for
    /// learner" answers.
    pub fn is_transient(&self) -> bool {
        match self {
            EtcdError::Transport { .. } | EtcdError::NotReady { .. } => true,
            EtcdError::Api { code, message, .. } => {
                matches!(code, Some(4) | Some(14))
                    || [
                        "no leader",
                        "leader changed",
                        "request timed out",
                        "unhealthy cluster",
                        "not supported for learner",
                        "not capable",
                        "too many requests",
                    ]
                    .iter()
                    .any(|m| message.contains(m))
            }
            _ => false,
        }
    }
}
