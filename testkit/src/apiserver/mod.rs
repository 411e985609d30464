//! An in-memory API server for tests — not a Kubernetes implementation.
//!
//! [`ApiServer`] speaks the Kubernetes REST API over HTTPS for the handful of resources kubeadm-style
//! cluster phases touch (configmaps, secrets, RBAC, nodes, CSRs, add-on workloads, leases, …), so tests
//! can drive real clients (the `kube` crate, `kubectl`) against it with real kubeconfig files. It
//! authenticates client certificates and bootstrap tokens, authorizes with a small RBAC evaluator over
//! the stored Roles/Bindings, and answers errors as `metav1.Status` JSON like the real server.
//!
//! What it deliberately does not do (documented so nobody relies on it):
//! - no watches (`?watch=true` answers 405), no pagination (`limit` is ignored, lists are complete),
//!   no protobuf;
//! - server-side apply merges the applied object into the live one and records the manager in
//!   `managedFields`, but does not detect conflicts between managers nor remove fields a manager
//!   stopped applying;
//! - strategic merge patch knows the list merge keys of the core types kubeadm patches (containers,
//!   volumes, env, ports, volumeMounts, conditions, addresses, ownerReferences, finalizers); every
//!   other list is replaced, as for lists without a patch strategy in the real server (e.g. node taints);
//! - no admission (no defaulting beyond a few fields, no quota), no controllers except an immediate
//!   garbage collection of dependents on delete;
//! - the node authorizer is approximated: users `system:node:<name>` in group `system:nodes` get the
//!   rules of the built-in `system:node` ClusterRole.

mod http;
mod patch;
mod rbac;
mod store;
mod tls;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use serde_json::Value;

pub use tls::{GeneratedTls, TlsMaterial};

/// How to start an [`ApiServer`].
#[derive(Clone, Debug)]
pub struct ApiServerOptions {
    /// Serving certificate and key, and the CA that client certificates are verified against.
    pub tls: TlsMaterial,
    /// Port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// What `GET /version` reports as `gitVersion`, e.g. `v1.36.2`.
    pub git_version: String,
}

/// One request the server answered, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// URL path, e.g. `/api/v1/namespaces/kube-public/configmaps/cluster-info`.
    pub path: String,
    /// Raw query string (without `?`), empty when there was none.
    pub query: String,
    /// Authenticated user name (`system:anonymous` without credentials; empty when authentication failed).
    pub user: String,
    /// HTTP status code of the response.
    pub status: u16,
}

/// A failure injected with [`ApiServer::fail_next`].
#[derive(Clone, Debug)]
struct Failure {
    method: String,
    path_contains: String,
    status: u16,
}

/// Everything the server knows, behind one lock.
struct State {
    /// Stored objects keyed by (group, plural, namespace, name).
    objects: BTreeMap<store::Key, Value>,
    /// Global resourceVersion counter.
    rv: u64,
    requests: Vec<RequestRecord>,
    livez: bool,
    readyz: bool,
    failures: Vec<Failure>,
}

/// State shared between the handle and the server thread.
struct Shared {
    state: Mutex<State>,
    git_version: String,
    port: u16,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cloneable handle on an [`ApiServer`]'s objects (seed, read, remove without going through
/// HTTP), usable from other threads while the server runs.
#[derive(Clone)]
pub struct Store(Arc<Shared>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("port", &self.0.port).finish()
    }
}

impl Store {
    /// See [`ApiServer::get`].
    pub fn get(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let key = store::Key::new(api_version, kind_plural, namespace, name);
        self.0.lock().objects.get(&key).cloned()
    }

    /// See [`ApiServer::list`].
    pub fn list(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let group = store::group_of(api_version);
        self.0
            .lock()
            .objects
            .iter()
            .filter(|(k, _)| {
                k.group == group
                    && k.plural == kind_plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// See [`ApiServer::insert`].
    pub fn insert(&self, obj: Value) -> anyhow::Result<()> {
        let mut st = self.0.lock();
        store::insert(&mut st, obj)
    }

    /// See [`ApiServer::delete`].
    pub fn delete(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let key = store::Key::new(api_version, kind_plural, namespace, name);
        let mut st = self.0.lock();
        store::remove_with_gc(&mut st, &key, true).is_some()
    }
}

/// An in-memory API server for tests — not a Kubernetes implementation. Runs on its own thread and
/// tokio runtime; stops when dropped.
pub struct ApiServer {
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url())
            .finish()
    }
}

impl ApiServer {
    /// Start serving on 127.0.0.1. Also installs aws-lc-rs as the process-wide rustls crypto
    /// provider when none is installed yet, so `kube` clients in the same test process work.
    pub fn start(opts: ApiServerOptions) -> anyhow::Result<ApiServer> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let config = tls::server_config(&opts.tls)?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port.unwrap_or(0)))
            .context("binding the API server port")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            git_version: opts.git_version,
            port,
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let shared2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("apiserver-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for the API server");
                rt.block_on(http::serve(listener, config, shared2, rx));
            })?;
        Ok(ApiServer {
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Base URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.shared.port)
    }

    /// The port served on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// A stored object (with `kind`/`apiVersion`), e.g. `get("v1", "configmaps", Some("kube-public"), "cluster-info")`.
    pub fn get(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.store().get(api_version, kind_plural, namespace, name)
    }

    /// All stored objects of one resource, in one namespace (`Some`) or all (`None`), sorted by namespace and name.
    pub fn list(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        self.store().list(api_version, kind_plural, namespace)
    }

    /// Every stored object (including the built-in namespaces and RBAC defaults), sorted by
    /// group, resource, namespace and name.
    pub fn objects(&self) -> Vec<Value> {
        self.shared.lock().objects.values().cloned().collect()
    }

    /// Seed an object (create or replace), e.g. the Node a kubelet would register. `kind` and
    /// `apiVersion` must name a served resource; uid, resourceVersion and creationTimestamp are
    /// filled in when missing. No authorization, no namespace check.
    pub fn insert(&self, obj: Value) -> anyhow::Result<()> {
        self.store().insert(obj)
    }

    /// Remove an object (dependents are garbage-collected as after an API delete). Returns whether it existed.
    pub fn delete(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        self.store()
            .delete(api_version, kind_plural, namespace, name)
    }

    /// A handle on the stored objects that other threads can keep (e.g. a fake kubelet).
    pub fn store(&self) -> Store {
        Store(self.shared.clone())
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Make `/livez` (and `/healthz`) and `/readyz` answer 200 `ok` (true) or 500 (false).
    pub fn set_healthy(&self, livez: bool, readyz: bool) {
        let mut st = self.shared.lock();
        st.livez = livez;
        st.readyz = readyz;
    }

    /// Answer the next request with this method whose path contains `path_contains` with a
    /// `Status` error of code `status` (e.g. 500, 503, 409), once. Several may be queued.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16) {
        self.shared.lock().failures.push(Failure {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_string(),
            status,
        });
    }

    /// Start on a free port with freshly generated test TLS ([`TlsMaterial::generate`]),
    /// reporting `git_version`; the server and its TLS (admin client certificate, CA).
    pub fn start_generated(git_version: &str) -> anyhow::Result<(ApiServer, GeneratedTls)> {
        let tls = TlsMaterial::generate()?;
        let server = ApiServer::start(ApiServerOptions {
            tls: tls.material.clone(),
            port: None,
            git_version: git_version.into(),
        })?;
        Ok((server, tls))
    }

    /// Write a kubeconfig for this server with the `system:masters` admin client certificate of
    /// `tls` (from [`ApiServer::start_generated`]).
    pub fn write_admin_kubeconfig(&self, path: &Path, tls: &GeneratedTls) -> anyhow::Result<()> {
        self.write_kubeconfig(
            path,
            &tls.admin_cert_pem,
            &tls.admin_key_pem,
            &tls.ca_cert_pem,
        )
    }

    /// Write a kubeconfig for this server authenticating with a client certificate (PEM), trusting `ca_pem`.
    pub fn write_kubeconfig(
        &self,
        path: &Path,
        user_cert_pem: &str,
        user_key_pem: &str,
        ca_pem: &str,
    ) -> anyhow::Result<()> {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(user_cert_pem),
            b64(user_key_pem)
        );
        write_kubeconfig_file(path, &self.url(), ca_pem, &user)
    }

    /// Write a kubeconfig for this server authenticating with a bearer token (e.g. a bootstrap
    /// token `abcdef.0123456789abcdef`), or anonymously when `token` is `None`.
    pub fn write_token_kubeconfig(
        &self,
        path: &Path,
        token: Option<&str>,
        ca_pem: &str,
    ) -> anyhow::Result<()> {
        let user = match token {
            Some(t) => format!("    token: {t}\n"),
            None => "    {}\n".to_string(),
        };
        write_kubeconfig_file(path, &self.url(), ca_pem, &user)
    }
}

fn write_kubeconfig_file(
    path: &Path,
    server: &str,
    ca_pem: &str,
    user: &str,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let user = if user.trim() == "{}" {
        "  user: {}\n".to_string()
    } else {
        format!("  user:\n{user}")
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: test\ncontexts:\n- context:\n    cluster: test\n    user: test\n  name: test\ncurrent-context: test\npreferences: {{}}\nusers:\n- name: test\n{user}"
    );
    std::fs::write(path, text).with_context(|| format!("writing kubeconfig {}", path.display()))
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
