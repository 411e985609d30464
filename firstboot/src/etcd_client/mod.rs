//! etcd membership client for stacked-etcd control planes: member list/add-as-learner/
//! promote/remove, health, status and snapshots (spec §5.7, §13.1, §13.4).
//!
//! It talks to etcd's JSON gRPC gateway (`POST https://<member>:2379/v3/...`) over HTTPS with a
//! client certificate, the way kubeadm's etcd client does with gRPC: same files
//! ([`EtcdTls::from_pki_dir`]), 2 s per request, retries every 500 ms for up to the
//! `etcdAPICall` timeout (2 min by default), learners added first and promoted once in sync.
//!
//! The API is blocking: the client owns a small single-threaded tokio runtime. Do not call it
//! from inside another tokio runtime (use `spawn_blocking`).
//!
//! ```no_run
//! use firstboot::etcd_client::{self, EtcdClient, EtcdTls};
//! let tls = EtcdTls::from_pki_dir("/etc/kubernetes/pki".as_ref())?;
//! let client = EtcdClient::new(vec!["https://10.0.0.4:2379".into()], tls)?;
//! let (learner, members) = client.add_learner("cp2", "https://10.0.0.5:2380")?;
//! let flag = etcd_client::initial_cluster_arg(&members, "cp2", "https://10.0.0.5:2380");
//! // ... write etcd.yaml with --initial-cluster=<flag> --initial-cluster-state=existing,
//! // start the member, then:
//! client.promote(learner.id)?;
//! # Ok::<(), firstboot::etcd_client::EtcdError>(())
//! ```

mod error;
mod membership;
mod pods;
mod snapshot;
mod types;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use error::{EtcdError, Result};
pub use membership::{
    initial_cluster_arg, join_members, quorum, removal_blocker, would_break_quorum, QuorumProblem,
};
pub use pods::{connect_stacked, endpoints_from_cluster, endpoints_from_pods, ETCD_POD_SELECTOR};
pub use types::{EtcdTls, Header, Member, Status};

use types::{GatewayError, MemberAddResponse, MemberListResponse};

/// Per-request timeout (kubeadm's `etcdTimeout`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long retried operations are retried (kubeadm's default `timeouts.etcdAPICall`).
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between retries (kubeadm's `constants.EtcdAPICallRetryInterval`).
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// Overall limit of one snapshot download.
pub const DEFAULT_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

const MEMBER_LIST: &str = "/v3/cluster/member/list";
const MEMBER_ADD: &str = "/v3/cluster/member/add";
const MEMBER_PROMOTE: &str = "/v3/cluster/member/promote";
const MEMBER_REMOVE: &str = "/v3/cluster/member/remove";
const STATUS: &str = "/v3/maintenance/status";
const KV_PUT: &str = "/v3/kv/put";
const KV_RANGE: &str = "/v3/kv/range";

/// A client for one etcd cluster, reached through a list of client endpoints
/// (`https://host:2379`); requests go to the first endpoint that answers.
pub struct EtcdClient {
    endpoints: Vec<String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    request_timeout: Duration,
    retry_timeout: Duration,
    retry_interval: Duration,
    snapshot_timeout: Duration,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.endpoints)
            .field("request_timeout", &self.request_timeout)
            .field("retry_timeout", &self.retry_timeout)
            .finish_non_exhaustive()
    }
}

/// Check that `url` is `https://host:port` (no path, query or credentials) and return it
/// without a trailing slash.
fn normalize_https_url(url: &str) -> std::result::Result<String, String> {
    let u = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    if u.scheme() != "https" {
        return Err("the scheme must be https".into());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if u.port().is_none() {
        return Err("no port".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials are not allowed".into());
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        return Err("only https://host:port is allowed (no path or query)".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl EtcdClient {
    /// A client for `endpoints` (`https://host:port`) using `tls`. Nothing is contacted yet.
    pub fn new(endpoints: Vec<String>, tls: EtcdTls) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(EtcdError::NoEndpoints);
        }
        let endpoints = endpoints
            .iter()
            .map(|e| {
                normalize_https_url(e).map_err(|message| EtcdError::InvalidEndpoint {
                    endpoint: e.clone(),
                    message,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cas = reqwest::Certificate::from_pem_bundle(&tls.ca_pem)
            .map_err(|e| EtcdError::Tls(format!("etcd CA certificate: {e}")))?;
        if cas.is_empty() {
            return Err(EtcdError::Tls(
                "etcd CA certificate: no PEM certificate found".into(),
            ));
        }
        let mut ident = tls.cert_pem.clone();
        ident.push(b'\n');
        ident.extend_from_slice(&tls.key_pem);
        let identity = reqwest::Identity::from_pem(&ident).map_err(|e| {
            EtcdError::Tls(format!("client certificate and key: {}", error_chain(&e)))
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(EtcdError::Runtime)?;
        let http = {
            let _guard = rt.enter();
            reqwest::Client::builder()
                .tls_certs_only(cas)
                .identity(identity)
                .https_only(true)
                .no_proxy()
                .connect_timeout(DEFAULT_REQUEST_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| EtcdError::Tls(error_chain(&e)))?
        };
        Ok(EtcdClient {
            endpoints,
            http,
            rt,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
        })
    }

    /// Set the per-request timeout (default 2 s).
    pub fn with_request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Set how long operations are retried (`timeouts.etcdAPICall`, default 2 min).
    pub fn with_retry_timeout(mut self, t: Duration) -> Self {
        self.retry_timeout = t;
        self
    }

    /// Set the pause between retries (default 500 ms).
    pub fn with_retry_interval(mut self, t: Duration) -> Self {
        self.retry_interval = t;
        self
    }

    /// Set the overall limit of one snapshot download (default 10 min).
    pub fn with_snapshot_timeout(mut self, t: Duration) -> Self {
        self.snapshot_timeout = t;
        self
    }

    /// The endpoints requests go to, in order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Replace the endpoints with the client URLs of the voting members (what kubeadm's
    /// client `Sync` does; learners are never used as endpoints).
    pub fn sync_endpoints(&mut self) -> Result<()> {
        let members = self.members()?;
        let mut eps = Vec::new();
        for m in members.iter().filter(|m| !m.is_learner) {
            for u in &m.client_urls {
                if let Ok(u) = normalize_https_url(u) {
                    if !eps.contains(&u) {
                        eps.push(u);
                    }
                }
            }
        }
        if eps.is_empty() {
            return Err(EtcdError::NoEndpoints);
        }
        tracing::debug!(endpoints = ?eps, "etcd endpoints synced with the member list");
        self.endpoints = eps;
        Ok(())
    }

    /// All members, voters and learners, in etcd's order. Retried while the cluster is
    /// unreachable or has no leader.
    pub fn members(&self) -> Result<Vec<Member>> {
        self.retry("listing etcd members", || {
            let (_, r): (_, MemberListResponse) = self.call_any(MEMBER_LIST, &json!({}))?;
            Ok(r.members)
        })
    }

    /// The member with peer URL `peer_url` (how kubeadm finds a node's own member on join and
    /// reset), or `None`.
    pub fn member_by_peer_url(&self, peer_url: &str) -> Result<Option<Member>> {
        let peer = normalize_https_url(peer_url).map_err(|message| EtcdError::InvalidPeerUrl {
            url: peer_url.to_string(),
            message,
        })?;
        Ok(self.members()?.into_iter().find(|m| m.has_peer_url(&peer)))
    }

    /// Add the member with peer URL `peer_url` as a learner and return it with the member list
    /// after the addition (what the joining member's `--initial-cluster` is built from, see
    /// [`initial_cluster_arg`]). Idempotent like kubeadm: when a member with this peer URL
    /// already exists (listed first, or "Peer URLs already exists"), that member and the
    /// current list are returned. `name` is the new member's `--name` (etcd only learns it
    /// when the member starts; used for logs).
    pub fn add_learner(&self, name: &str, peer_url: &str) -> Result<(Member, Vec<Member>)> {
        let peer = normalize_https_url(peer_url).map_err(|message| EtcdError::InvalidPeerUrl {
            url: peer_url.to_string(),
            message,
        })?;
        self.retry(&format!("adding etcd learner {name} ({peer})"), || {
            let (_, list): (_, MemberListResponse) = self.call_any(MEMBER_LIST, &json!({}))?;
            if let Some(m) = list.members.iter().find(|m| m.has_peer_url(&peer)) {
                tracing::info!(name, peer = %peer, id = %format!("{:x}", m.id), "etcd member with this peer URL already exists");
                return Ok((m.clone(), list.members));
            }
            let body = json!({"peerURLs": [peer], "isLearner": true});
            match self.call_any::<MemberAddResponse>(MEMBER_ADD, &body) {
                Ok((_, r)) => {
                    tracing::info!(name, peer = %peer, id = %format!("{:x}", r.member.id), "added etcd learner");
                    Ok((r.member, r.members))
                }
                Err(e) if e.api_message().is_some_and(|m| m.contains("already exists")) => {
                    let (_, list): (_, MemberListResponse) =
                        self.call_any(MEMBER_LIST, &json!({}))?;
                    match list.members.iter().find(|m| m.has_peer_url(&peer)) {
                        Some(m) => Ok((m.clone(), list.members)),
                        None => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Promote learner `id` to a voting member. Like kubeadm 1.36, first waits until the
    /// member has started (it has a name in the member list), then retries while etcd answers
    /// "can only promote a learner member which is in sync with leader", up to the retry
    /// timeout. A member that is already a voter is success; an unknown ID is
    /// [`EtcdError::MemberNotFound`].
    pub fn promote(&self, id: u64) -> Result<()> {
        self.retry(&format!("promoting etcd member {id:x}"), || {
            let (_, list): (_, MemberListResponse) = self.call_any(MEMBER_LIST, &json!({}))?;
            let m = list
                .members
                .iter()
                .find(|m| m.id == id)
                .ok_or(EtcdError::MemberNotFound { id })?;
            if !m.is_learner {
                return Ok(());
            }
            if m.name.is_empty() {
                return Err(EtcdError::NotReady {
                    id,
                    message: "the learner has not started yet".into(),
                });
            }
            match self.call_any::<Value>(MEMBER_PROMOTE, &json!({"ID": id.to_string()})) {
                Ok(_) => {
                    tracing::info!(id = %format!("{id:x}"), "promoted etcd learner");
                    Ok(())
                }
                Err(e) => match e.api_message() {
                    Some(msg)
                        if msg.contains("in sync with leader") || msg.contains("not ready") =>
                    {
                        Err(EtcdError::NotReady {
                            id,
                            message: msg.to_string(),
                        })
                    }
                    // ErrMemberNotLearner: promoted meanwhile (e.g. by an earlier try whose answer was lost)
                    Some(msg) if msg.contains("can only promote a learner member") => Ok(()),
                    _ => Err(e),
                },
            }
        })
    }

    /// Remove member `id`. A member that is already gone is success (kubeadm: "member was
    /// already removed" is not an error).
    pub fn remove(&self, id: u64) -> Result<()> {
        self.retry(&format!("removing etcd member {id:x}"), || {
            match self.call_any::<Value>(MEMBER_REMOVE, &json!({"ID": id.to_string()})) {
                Ok(_) => {
                    tracing::info!(id = %format!("{id:x}"), "removed etcd member");
                    Ok(())
                }
                Err(e)
                    if e.api_message()
                        .is_some_and(|m| m.contains("member not found")) =>
                {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Whether removing member `id` would leave the cluster without quorum, judged from the
    /// voting members whose client URLs answer a status request now (see
    /// [`would_break_quorum`]: true when the healthy voters are not a quorum now, when `id`
    /// is the last voter, or when the healthy voters left would be fewer than the new
    /// quorum).
    pub fn remove_would_break_quorum(&self, id: u64) -> Result<bool> {
        Ok(self.removal_blocker(id)?.is_some())
    }

    /// Why removing member `id` would leave the cluster without quorum (see
    /// [`removal_blocker`]), judged from the voting members whose client URLs answer a status
    /// request now; `None` when the removal is safe.
    pub fn removal_blocker(&self, id: u64) -> Result<Option<QuorumProblem>> {
        let members = self.members()?;
        let mut healthy = Vec::new();
        for m in members.iter().filter(|m| !m.is_learner) {
            if m.client_urls.iter().any(|u| self.status(u).is_ok()) {
                healthy.push(m.id);
            }
        }
        let r = removal_blocker(&members, &healthy, id);
        tracing::debug!(id = %format!("{id:x}"), ?healthy, problem = ?r, "etcd quorum check");
        Ok(r)
    }

    /// Every endpoint answers `/health` with `{"health":"true"}`; the error names the first one
    /// that does not.
    pub fn health(&self) -> Result<()> {
        for ep in &self.endpoints {
            self.endpoint_health(ep)?;
        }
        Ok(())
    }

    /// kubeadm's (1.36.1+) cluster health rule: more than half of the endpoints answer a status
    /// request without errors; else [`EtcdError::ClusterUnhealthy`] listing the failures.
    pub fn check_cluster_health(&self) -> Result<()> {
        let mut failures = Vec::new();
        for ep in &self.endpoints {
            match self.status(ep) {
                Ok(s) if s.errors.is_empty() => {}
                Ok(s) => failures.push(format!("etcd endpoint {ep}: {}", s.errors.join(", "))),
                Err(e) => failures.push(e.to_string()),
            }
        }
        let total = self.endpoints.len();
        let healthy = total - failures.len();
        if healthy * 2 > total {
            return Ok(());
        }
        Err(EtcdError::ClusterUnhealthy {
            healthy,
            total,
            failures,
        })
    }

    /// The status of one endpoint (any `https://host:port`, not only the client's endpoints).
    pub fn status(&self, endpoint: &str) -> Result<Status> {
        let ep = normalize_https_url(endpoint).map_err(|message| EtcdError::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            message,
        })?;
        self.call(&ep, STATUS, &json!({}))
    }

    /// Write `value` under `key`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = json!({"key": b64.encode(key), "value": b64.encode(value)});
        self.retry("etcd put", || {
            self.call_any::<Value>(KV_PUT, &body).map(|_| ())
        })
    }

    /// The value under `key` (a linearizable read), or `None`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = json!({"key": b64.encode(key)});
        let (ep, v): (String, Value) = self.retry("etcd get", || self.call_any(KV_RANGE, &body))?;
        let Some(kv) = v
            .get("kvs")
            .and_then(|k| k.as_array())
            .and_then(|a| a.first())
        else {
            return Ok(None);
        };
        let value = kv.get("value").and_then(|v| v.as_str()).unwrap_or("");
        b64.decode(value).map(Some).map_err(|e| EtcdError::Decode {
            endpoint: ep,
            path: KV_RANGE.into(),
            message: format!("value is not base64: {e}"),
        })
    }

    /// Save a snapshot of the keyspace to `to` (0600, written to a temporary file in the same
    /// directory and renamed), from the first endpoint that serves one. The trailing SHA-256
    /// etcd appends to the stream is checked; the file keeps it, like `etcdctl snapshot save`,
    /// so `etcdutl snapshot restore` verifies it again. Returns the file size.
    pub fn snapshot(&self, to: &Path) -> Result<u64> {
        let mut last = None;
        for ep in &self.endpoints {
            match self.rt.block_on(snapshot::save(
                &self.http,
                ep,
                to,
                self.request_timeout,
                self.snapshot_timeout,
            )) {
                Ok(n) => {
                    tracing::info!(endpoint = %ep, bytes = n, path = %to.display(), "saved etcd snapshot");
                    return Ok(n);
                }
                Err(e) if e.is_transient() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(EtcdError::NoEndpoints))
    }

    fn endpoint_health(&self, ep: &str) -> Result<()> {
        let url = format!("{ep}/health");
        let res = self.rt.block_on(async {
            let resp = self
                .http
                .get(&url)
                .timeout(self.request_timeout)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        });
        let (status, body) = res.map_err(|e| transport(ep, &e))?;
        let v: Value = serde_json::from_slice(&body).map_err(|_| EtcdError::Unhealthy {
            endpoint: ep.to_string(),
            message: format!("HTTP {status}: {}", snippet(&body)),
        })?;
        if v.get("health").and_then(|h| h.as_str()) == Some("true") {
            return Ok(());
        }
        let reason = v
            .get("reason")
            .and_then(|r| r.as_str())
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}: {}", snippet(&body)));
        Err(EtcdError::Unhealthy {
            endpoint: ep.to_string(),
            message: reason,
        })
    }

    /// Retry `f` every `retry_interval` while its error is transient, up to `retry_timeout`.
    fn retry<T>(&self, what: &str, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() => {
                    if start.elapsed() + self.retry_interval >= self.retry_timeout {
                        return Err(EtcdError::Timeout {
                            what: what.to_string(),
                            elapsed: start.elapsed(),
                            last: Box::new(e),
                        });
                    }
                    tracing::debug!(error = %e, "{what}: retrying");
                    std::thread::sleep(self.retry_interval);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// POST `body` to `path` on each endpoint in turn until one answers without a transient
    /// error; returns the answering endpoint and the decoded answer.
    fn call_any<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<(String, T)> {
        let mut last = None;
        for ep in &self.endpoints {
            match self.call(ep, path, body) {
                Ok(v) => return Ok((ep.clone(), v)),
                Err(e) if e.is_transient() => {
                    tracing::debug!(endpoint = %ep, error = %e, "etcd endpoint failed, trying the next");
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(EtcdError::NoEndpoints))
    }

    /// POST `body` to `path` on endpoint `ep` and decode the JSON answer.
    fn call<T: DeserializeOwned>(&self, ep: &str, path: &str, body: &Value) -> Result<T> {
        let url = format!("{ep}{path}");
        let res = self.rt.block_on(async {
            let resp = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .timeout(self.request_timeout)
                .send()
                .await?;
            let status = resp.status();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        });
        let (status, bytes) = res.map_err(|e| transport(ep, &e))?;
        if !status.is_success() {
            return Err(api_error(ep, path, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| EtcdError::Decode {
            endpoint: ep.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        })
    }
}

/// The error etcd's gateway sent with a non-2xx status.
pub(crate) fn api_error(
    ep: &str,
    path: &str,
    status: reqwest::StatusCode,
    body: &[u8],
) -> EtcdError {
    let parsed: Option<GatewayError> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|g| g.code);
    let message = parsed
        .as_ref()
        .and_then(GatewayError::text)
        .unwrap_or_else(|| format!("HTTP {status}: {}", snippet(body)));
    // a gateway without its gRPC backend, or a proxy in between: worth trying elsewhere
    let code = code.or(match status.as_u16() {
        502..=504 => Some(14),
        _ => None,
    });
    EtcdError::Api {
        endpoint: ep.to_string(),
        path: path.to_string(),
        code,
        message,
    }
}

/// A transport error, with its causes (the TLS alert or connect error is in the chain).
pub(crate) fn transport(ep: &str, e: &reqwest::Error) -> EtcdError {
    let mut message = error_chain(e);
    if e.is_timeout() && !message.contains("timed out") {
        message.push_str(" (timed out)");
    }
    EtcdError::Transport {
        endpoint: ep.to_string(),
        message,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}

/// The first 200 characters of an answer, for error messages.
fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            normalize_https_url("https://10.0.0.4:2379/").unwrap(),
            "https://10.0.0.4:2379"
        );
        assert_eq!(
            normalize_https_url("https://[fd00::4]:2379").unwrap(),
            "https://[fd00::4]:2379"
        );
        for bad in [
            "http://10.0.0.4:2379",
            "https://10.0.0.4",
            "https://10.0.0.4:2379/v3",
            "10.0.0.4:2379",
            "https://u:p@10.0.0.4:2379",
        ] {
            assert!(normalize_https_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transient_classification() {
        let api = |code: Option<i32>, m: &str| EtcdError::Api {
            endpoint: "e".into(),
            path: "p".into(),
            code,
            message: m.into(),
        };
        assert!(api(Some(14), "x").is_transient());
        assert!(api(Some(2), "etcdserver: no leader").is_transient());
        assert!(!api(Some(5), "etcdserver: member not found").is_transient());
        assert!(!api(
            Some(9),
            "etcdserver: can only promote a learner member which is in sync with leader"
        )
        .is_transient());
        let e = api_error(
            "https://e:1",
            MEMBER_ADD,
            reqwest::StatusCode::BAD_REQUEST,
            br#"{"error":"etcdserver: Peer URLs already exists","code":9}"#,
        );
        assert_eq!(
            e.api_message(),
            Some("etcdserver: Peer URLs already exists")
        );
        let e = api_error(
            "https://e:1",
            MEMBER_ADD,
            reqwest::StatusCode::BAD_GATEWAY,
            b"<html>",
        );
        assert!(e.is_transient());
        assert!(e.to_string().contains("HTTP 502"), "{e}");
    }

    #[test]
    fn new_rejects_bad_input() {
        let tls = EtcdTls {
            ca_pem: b"not pem".to_vec(),
            cert_pem: vec![],
            key_pem: vec![],
        };
        assert!(matches!(
            EtcdClient::new(vec![], tls.clone()),
            Err(EtcdError::NoEndpoints)
        ));
        let e = EtcdClient::new(vec!["http://127.0.0.1:2379".into()], tls.clone()).unwrap_err();
        assert!(e.to_string().contains("http://127.0.0.1:2379"), "{e}");
        let e = EtcdClient::new(vec!["https://127.0.0.1:2379".into()], tls).unwrap_err();
        assert!(matches!(e, EtcdError::Tls(_)), "{e}");
    }
}
