//! The thin, typed kube layer every cluster phase uses: a client built from a kubeconfig file,
//! server-side apply with one fixed field manager, create-if-missing, patches, reads, and
//! kubeadm's retry of transient API errors.
//!
//! Phases never talk HTTP themselves: they *plan* [`ObjectItem`]s (typed `k8s-openapi` objects
//! erased to JSON, so `--dry-run` can print them) and the runner executes them here.

pub mod events;
mod object;
mod service;

pub use object::{ObjectAction, ObjectItem};
pub use service::{CommandServices, NoServices, ServiceManager, Systemd};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The field manager of every server-side apply firstboot makes.
pub const FIELD_MANAGER: &str = "kubebake-firstboot";

/// kubeadm's interval between retries of a failed API call (`constants.APICallRetryInterval`).
pub const API_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Errors of the kube layer. Messages name the object and the kubeconfig, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// Node path of the kubeconfig.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An API call failed (after retries, if it was transient).
    #[error("cannot {verb} {what}: {message}")]
    Api {
        /// `apply`, `create`, `get`, ...
        verb: &'static str,
        /// `ConfigMap kube-system/kubeadm-config`.
        what: String,
        /// The server's message or the transport error.
        message: String,
        /// HTTP status code, when the server answered.
        code: Option<u16>,
    },
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}

impl KubeError {
    /// HTTP status code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Api { code, .. } => *code,
            _ => None,
        }
    }
}

/// Result of the kube layer.
pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// A connection to one cluster, with its own runtime so sync phases can call it.
pub struct Cluster {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    kubeconfig: String,
    retry_timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("kubeconfig", &self.kubeconfig)
            .finish()
    }
}

/// `Kind namespace/name` or `Kind name`.
pub fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn api_message(e: &kube::Error) -> (String, Option<u16>) {
    match e {
        kube::Error::Api(s) => (s.message.clone(), Some(s.code)),
        other => (other.to_string(), None),
    }
}

fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

impl Cluster {
    /// Connects with the kubeconfig at `path` (`display` is the node path used in messages).
    /// API calls failing with transient errors are retried for `retry_timeout` (kubeadm's
    /// `timeouts.kubernetesAPICall`).
    pub fn from_kubeconfig(path: &Path, display: &str, retry_timeout: Duration) -> Result<Self> {
        Self::from_kubeconfig_with_timeouts(
            path,
            display,
            retry_timeout,
            Duration::from_secs(10),
            Duration::from_secs(30),
        )
    }

    /// Like [`Cluster::from_kubeconfig`] with explicit connect and read timeouts per request
    /// (for best-effort calls that must never block long, such as phase reporting).
    pub fn from_kubeconfig_with_timeouts(
        path: &Path,
        display: &str,
        retry_timeout: Duration,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KubeError::Runtime(e.to_string()))?;
        let bad = |message: String| KubeError::Kubeconfig {
            path: display.to_string(),
            message,
        };
        let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
        let client = rt.block_on(async {
            let mut config = kube::Config::from_custom_kubeconfig(
                kc,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| bad(e.to_string()))?;
            config.connect_timeout = Some(connect_timeout);
            config.read_timeout = Some(read_timeout);
            kube::Client::try_from(config).map_err(|e| bad(e.to_string()))
        })?;
        Ok(Cluster {
            rt,
            client,
            kubeconfig: display.to_string(),
            retry_timeout,
        })
    }

    /// The kubeconfig this connection was made with (node path).
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// The underlying client, for calls this layer does not wrap.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Runs a future on this connection's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs `call` until it succeeds, fails with a non-transient error, or the retry timeout
    /// passes.
    fn retry<T, F, Fut>(&self, verb: &'static str, what: &str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, kube::Error>>,
    {
        let deadline = Instant::now() + self.retry_timeout;
        loop {
            match self.rt.block_on(call()) {
                Ok(v) => return Ok(v),
                Err(e) if transient(&e) && Instant::now() < deadline => {
                    tracing::debug!("{verb} {what}: {e}; retrying");
                    std::thread::sleep(API_RETRY_INTERVAL);
                }
                Err(e) => {
                    let (message, code) = api_message(&e);
                    return Err(KubeError::Api {
                        verb,
                        what: what.to_string(),
                        message,
                        code,
                    });
                }
            }
        }
    }

    fn dynamic_api(&self, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    fn typed_api<K>(&self, namespace: Option<&str>) -> Api<DynamicObject>
    where
        K: Resource<DynamicType = ()>,
    {
        self.dynamic_api(&ApiResource::erase::<K>(&()), namespace)
    }

    /// Server-side apply of `obj` (force, [`FIELD_MANAGER`]); returns the live object.
    pub fn apply<K>(&self, obj: &K) -> Result<K>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let item = ObjectItem::apply(obj, "");
        let live = self.execute(&item)?;
        from_dynamic(live, &item.describe())
    }

    /// Creates `obj` unless an object of that name exists; returns whether it was created.
    pub fn create_if_missing<K>(&self, obj: &K) -> Result<bool>
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let item = ObjectItem::create_if_missing(obj, "");
        self.create(&item).map(|created| created.is_some())
    }

    /// POSTs `item`'s body; `None` when an object of that name already exists (409).
    fn create(&self, item: &ObjectItem) -> Result<Option<DynamicObject>> {
        let what = item.describe();
        let api = self.dynamic_api(&item.resource, item.namespace.as_deref());
        let obj: DynamicObject =
            serde_json::from_value(item.body.clone()).map_err(|e| KubeError::Api {
                verb: "encode",
                what: what.clone(),
                message: e.to_string(),
                code: None,
            })?;
        let pp = PostParams::default();
        match self.retry("create", &what, || api.create(&pp, &obj)) {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.code() == Some(409) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads an object; `None` when it does not exist.
    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Result<Option<K>>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let ar = ApiResource::erase::<K>(&());
        let what = describe(&ar.kind, namespace, name);
        match self.get_dynamic(&ar, namespace, name)? {
            Some(o) => from_dynamic(o, &what).map(Some),
            None => Ok(None),
        }
    }

    fn get_dynamic(
        &self,
        ar: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<DynamicObject>> {
        let api = self.dynamic_api(ar, namespace);
        let what = describe(&ar.kind, namespace, name);
        self.retry("get", &what, || api.get_opt(name))
    }

    /// Lists objects, optionally filtered by label and field selectors.
    pub fn list<K>(
        &self,
        namespace: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Vec<K>>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let api = self.typed_api::<K>(namespace);
        let mut lp = ListParams::default();
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        if let Some(f) = fields {
            lp = lp.fields(f);
        }
        let what = format!("{} list", K::kind(&()));
        let list = self.retry("list", &what, || api.list(&lp))?;
        list.items
            .into_iter()
            .map(|o| {
                let w = describe(&K::kind(&()), o.namespace().as_deref(), &o.name_any());
                from_dynamic(o, &w)
            })
            .collect()
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete<K>(&self, namespace: Option<&str>, name: &str) -> Result<bool>
    where
        K: Resource<DynamicType = ()>,
    {
        let ar = ApiResource::erase::<K>(&());
        self.delete_dynamic(&ar, namespace, name)
    }

    fn delete_dynamic(
        &self,
        ar: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<bool> {
        let api = self.dynamic_api(ar, namespace);
        let what = describe(&ar.kind, namespace, name);
        let dp = DeleteParams::background();
        match self.retry("delete", &what, || api.delete(name, &dp)) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies a JSON merge patch (`strategic` picks a strategic merge patch instead).
    pub fn patch<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        strategic: bool,
    ) -> Result<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let ar = ApiResource::erase::<K>(&());
        let what = describe(&ar.kind, namespace, name);
        let live = self.patch_dynamic(&ar, namespace, name, patch, strategic)?;
        from_dynamic(live, &what)
    }

    fn patch_dynamic(
        &self,
        ar: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        strategic: bool,
    ) -> Result<DynamicObject> {
        let api = self.dynamic_api(ar, namespace);
        let what = describe(&ar.kind, namespace, name);
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        self.retry("patch", &what, || {
            let p = if strategic {
                Patch::Strategic(patch)
            } else {
                Patch::Merge(patch)
            };
            let api = &api;
            let pp = &pp;
            async move { api.patch(name, pp, &p).await }
        })
    }

    /// Runs one planned object action; returns the live object (for `Delete`, the last state
    /// or an empty object).
    pub fn execute(&self, item: &ObjectItem) -> Result<DynamicObject> {
        let ns = item.namespace.as_deref();
        let what = item.describe();
        let api = self.dynamic_api(&item.resource, ns);
        let obj: DynamicObject = match item.action {
            ObjectAction::Delete => {
                self.delete_dynamic(&item.resource, ns, &item.name)?;
                return Ok(DynamicObject::new(&item.name, &item.resource));
            }
            _ => serde_json::from_value(item.body.clone()).map_err(|e| KubeError::Api {
                verb: "encode",
                what: what.clone(),
                message: e.to_string(),
                code: None,
            })?,
        };
        match item.action {
            ObjectAction::Apply => {
                let pp = PatchParams::apply(FIELD_MANAGER).force();
                self.retry("apply", &what, || {
                    let p = Patch::Apply(&obj);
                    let api = &api;
                    let pp = &pp;
                    let name = &item.name;
                    async move { api.patch(name, pp, &p).await }
                })
            }
            ObjectAction::CreateIfMissing => match self.create(item)? {
                Some(o) => Ok(o),
                None => self
                    .get_dynamic(&item.resource, ns, &item.name)?
                    .ok_or_else(|| KubeError::Api {
                        verb: "create",
                        what: what.clone(),
                        message: "exists (409) but cannot be read back".into(),
                        code: Some(409),
                    }),
            },
            ObjectAction::MergePatch | ObjectAction::StrategicPatch => self.patch_dynamic(
                &item.resource,
                ns,
                &item.name,
                &item.body,
                item.action == ObjectAction::StrategicPatch,
            ),
            ObjectAction::Delete => unreachable!("handled above"),
        }
    }

    /// GETs a non-resource path (`/livez`, `/readyz`); returns status code and body.
    pub fn get_raw(&self, path: &str) -> Result<(u16, String)> {
        let req = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| KubeError::Api {
                verb: "get",
                what: path.to_string(),
                message: e.to_string(),
                code: None,
            })?;
        match self.rt.block_on(self.client.request_text(req)) {
            Ok(body) => Ok((200, body)),
            Err(e) => {
                let (message, code) = api_message(&e);
                match code {
                    Some(c) => Ok((c, message)),
                    None => Err(KubeError::Api {
                        verb: "get",
                        what: path.to_string(),
                        message,
                        code: None,
                    }),
                }
            }
        }
    }

    /// The API server's version (`/version`).
    pub fn server_version(&self) -> Result<k8s_openapi::apimachinery::pkg::version::Info> {
        self.retry("get", "/version", || self.client.apiserver_version())
    }
}

fn from_dynamic<K: DeserializeOwned>(o: DynamicObject, what: &str) -> Result<K> {
    let v = serde_json::to_value(o).and_then(serde_json::from_value);
    v.map_err(|e| KubeError::Api {
        verb: "decode",
        what: what.to_string(),
        message: e.to_string(),
        code: None,
    })
}

/// Where phases get their cluster connection: the admin kubeconfig under the root, or the
/// `--kubeconfig` override; connected on first use.
pub struct ClusterAccess {
    kubeconfig: PathBuf,
    display: String,
    retry_timeout: Duration,
    cell: std::sync::OnceLock<std::result::Result<Cluster, String>>,
}

impl ClusterAccess {
    /// Access through `kubeconfig` (`display` is its node path for messages).
    pub fn new(kubeconfig: PathBuf, display: String, retry_timeout: Duration) -> Self {
        ClusterAccess {
            kubeconfig,
            display,
            retry_timeout,
            cell: std::sync::OnceLock::new(),
        }
    }

    /// The kubeconfig (real path).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The connection, made on first use.
    pub fn get(&self) -> anyhow::Result<&Cluster> {
        self.cell
            .get_or_init(|| {
                Cluster::from_kubeconfig(&self.kubeconfig, &self.display, self.retry_timeout)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}
