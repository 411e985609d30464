//! Test stand-ins for the kubelet. This module: a **test stand-in** for the kubelet's TLS
//! bootstrap and registration (plus the kube-controller-manager's CSR approver and
//! signer) — not a kubelet. End-to-end tests plug it in as the node's service manager so that
//! "restart the kubelet" does what matters to kubeadm-style workflows:
//!
//! - with a usable `/etc/kubernetes/kubelet.conf` (init: written by the kubeconfig phase), it
//!   registers the Node with those credentials;
//! - otherwise with `/etc/kubernetes/bootstrap-kubelet.conf` (join), it performs the TLS bootstrap
//!   the way the real kubelet and controller-manager do: authenticates with the bootstrap token,
//!   creates a `CertificateSigningRequest` (signer `kubernetes.io/kube-apiserver-client-kubelet`,
//!   `CN=system:node:<name>`, `O=system:nodes`), which the stand-in controller-manager approves
//!   and signs with the cluster CA (status written back through the API), then writes
//!   `/var/lib/kubelet/pki/kubelet-client-<timestamp>.pem` (certificate + key, 0600), the symlink
//!   `kubelet-client-current.pem` and a `kubelet.conf` pointing at it, and registers the Node as
//!   `system:node:<name>`.
//!
//! It runs no containers, serves no healthz and never retries in the background: a failed start
//! is recorded in [`StandInKubelet::log`] (as a crash-looping kubelet would log it) and the
//! service manager call still succeeds, as `systemctl restart kubelet` does.
//!
//! [`static_pods`]: the kubelet's static pod handling (mirror pods) for upgrade tests.

pub mod static_pods;

pub use static_pods::{fnv32a_hex, manifest_hash, Failure, FakeKubelet, JobCompleter};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};

/// The node paths the stand-in reads and writes.
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// The bootstrap kubeconfig kubeadm's join writes.
pub const BOOTSTRAP_KUBELET_CONF: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
/// The kubelet's client certificate directory.
pub const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";
/// The symlink the kubelet keeps pointing at its current client certificate + key.
pub const KUBELET_CLIENT_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";
/// Signer of kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The ClusterRole whose binding lets the csrapprover auto-approve a bootstrap CSR.
pub const NODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient";

/// The cluster CA the stand-in controller-manager signs kubelet certificates with (the init
/// node's `ca.crt` / `ca.key`).
#[derive(Clone, Debug)]
pub struct ClusterSigner {
    /// CA certificate PEM.
    pub ca_cert_pem: String,
    /// CA private key PEM.
    pub ca_key_pem: String,
}

impl ClusterSigner {
    /// Reads `ca.crt` and `ca.key` from a kubeadm PKI directory.
    pub fn from_pki_dir(dir: &Path) -> anyhow::Result<ClusterSigner> {
        let read = |n: &str| {
            let p = dir.join(n);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        };
        Ok(ClusterSigner {
            ca_cert_pem: read("ca.crt")?,
            ca_key_pem: read("ca.key")?,
        })
    }

    fn issuer(&self) -> anyhow::Result<Issuer<'static, KeyPair>> {
        let key = KeyPair::from_pem(&self.ca_key_pem).context("cluster CA key")?;
        Issuer::from_ca_cert_pem(&self.ca_cert_pem, key).context("cluster CA certificate")
    }

    /// A client certificate `CN=<cn>`, `O=<org>` signed by the cluster CA: (cert PEM, key PEM).
    pub fn client_cert(&self, cn: &str, org: &str) -> anyhow::Result<(String, String)> {
        let key = KeyPair::generate()?;
        let cert = client_params(cn, org)?.signed_by(&key, &self.issuer()?)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn client_params(cn: &str, org: &str) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

/// Server, CA and credentials of a kubeconfig's current context.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `server` URL.
    pub server: String,
    /// Cluster CA PEM.
    pub ca_pem: Vec<u8>,
    /// Bearer token, if the user authenticates with one.
    pub token: Option<String>,
    /// Client certificate PEM and key PEM, if the user authenticates with them.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

fn unb64(s: &str) -> anyhow::Result<Vec<u8>> {
    let compact: String = s.split_whitespace().collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(compact)?)
}

/// Reads the current context of the kubeconfig at node path `node_path` under `root`; file
/// references (`client-certificate`, `client-key`, `certificate-authority`) are node paths
/// resolved under `root`, as the kubelet on that node would read them.
pub fn read_credentials(root: &Path, node_path: &str) -> anyhow::Result<Credentials> {
    let under = |p: &str| root.join(p.trim_start_matches('/'));
    let path = under(node_path);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {node_path}"))?;
    let v: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {node_path}"))?;
    let cur = v
        .get("current-context")
        .and_then(|c| c.as_str())
        .context("no current-context")?;
    let find = |list: &str, name: &str| -> Option<serde_yaml::Value> {
        v.get(list)?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name))
            .cloned()
    };
    let ctx = find("contexts", cur).context("current context not found")?;
    let field = |k: &str| -> anyhow::Result<String> {
        ctx.get("context")
            .and_then(|c| c.get(k))
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .with_context(|| format!("context {cur:?} has no {k}"))
    };
    let cluster = find("clusters", &field("cluster")?)
        .and_then(|c| c.get("cluster").cloned())
        .context("cluster of the current context not found")?;
    let user = find("users", &field("user")?)
        .and_then(|u| u.get("user").cloned())
        .unwrap_or(serde_yaml::Value::Null);
    let data_or_file =
        |m: &serde_yaml::Value, data: &str, file: &str| -> anyhow::Result<Option<Vec<u8>>> {
            if let Some(d) = m.get(data).and_then(|d| d.as_str()) {
                return Ok(Some(unb64(d)?));
            }
            if let Some(f) = m.get(file).and_then(|f| f.as_str()) {
                return Ok(Some(
                    std::fs::read(under(f)).with_context(|| format!("reading {f}"))?,
                ));
            }
            Ok(None)
        };
    let server = cluster
        .get("server")
        .and_then(|s| s.as_str())
        .context("cluster has no server")?
        .to_string();
    let ca_pem = data_or_file(
        &cluster,
        "certificate-authority-data",
        "certificate-authority",
    )?
    .context("cluster has no CA")?;
    let cert = data_or_file(&user, "client-certificate-data", "client-certificate")?;
    let key = data_or_file(&user, "client-key-data", "client-key")?;
    Ok(Credentials {
        server,
        ca_pem,
        token: user
            .get("token")
            .and_then(|t| t.as_str())
            .map(str::to_string),
        client_cert: cert.zip(key),
    })
}

impl Credentials {
    /// A kubeconfig (YAML) with everything embedded.
    pub fn to_kubeconfig_yaml(&self) -> String {
        let mut user = serde_json::Map::new();
        if let Some(t) = &self.token {
            user.insert("token".into(), json!(t));
        }
        if let Some((c, k)) = &self.client_cert {
            user.insert("client-certificate-data".into(), json!(b64(c)));
            user.insert("client-key-data".into(), json!(b64(k)));
        }
        let v = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.server, "certificate-authority-data": b64(&self.ca_pem)}}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        });
        serde_yaml::to_string(&v).expect("kubeconfig yaml")
    }
}

/// Runs `f` with a kube client for `creds` on a fresh single-threaded runtime.
fn with_client<T>(
    creds: &Credentials,
    f: impl FnOnce(
        kube::Client,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<T>>>>,
) -> anyhow::Result<T> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let kc = kube::config::Kubeconfig::from_yaml(&creds.to_kubeconfig_yaml())?;
    rt.block_on(async move {
        let mut cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        cfg.connect_timeout = Some(std::time::Duration::from_secs(5));
        cfg.read_timeout = Some(std::time::Duration::from_secs(10));
        let client = kube::Client::try_from(cfg)?;
        f(client).await
    })
}

/// POSTs `obj` to `path`; returns the created object (`Ok(None)` on 409 AlreadyExists).
async fn post(client: &kube::Client, path: &str, obj: &Value) -> anyhow::Result<Option<Value>> {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(obj)?)?;
    match client.request::<Value>(req).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn put(client: &kube::Client, path: &str, obj: &Value) -> anyhow::Result<Value> {
    let req = http::Request::put(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(obj)?)?;
    Ok(client.request::<Value>(req).await?)
}

/// The stand-in kubelet of one node (see the module documentation).
#[derive(Debug)]
pub struct StandInKubelet {
    root: PathBuf,
    node_name: String,
    signer: ClusterSigner,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    running: bool,
    log: Vec<String>,
}

impl StandInKubelet {
    /// The kubelet of node `node_name` whose files live under `root`; `signer` is what the
    /// stand-in controller-manager signs kubelet client certificates with.
    pub fn new(root: &Path, node_name: &str, signer: ClusterSigner) -> StandInKubelet {
        StandInKubelet {
            root: root.to_path_buf(),
            node_name: node_name.to_string(),
            signer,
            state: Mutex::new(State::default()),
        }
    }

    fn path(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }

    fn note(&self, line: String) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .push(line);
    }

    /// What the stand-in did, one line per event (`started`, `tls-bootstrap ...`, errors).
    pub fn log(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .clone()
    }

    /// Whether the last start succeeded and no stop followed.
    pub fn is_running(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).running
    }

    /// `systemctl stop kubelet`.
    pub fn stop(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).running = false;
        self.note("stopped".into());
    }

    /// `systemctl restart kubelet`: TLS bootstrap when needed, then Node registration. Failures
    /// are logged (see [`StandInKubelet::log`]) and returned.
    pub fn restart(&self) -> anyhow::Result<()> {
        let r = self.start();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.running = r.is_ok();
        st.log.push(match &r {
            Ok(()) => "started".to_string(),
            Err(e) => format!("failed to start: {e:#}"),
        });
        r
    }

    fn start(&self) -> anyhow::Result<()> {
        let creds = if self.path(KUBELET_CONF).exists() {
            let creds = read_credentials(&self.root, KUBELET_CONF)?;
            // The kubelet's certificate store keeps the client certificate it was given in
            // kubelet-client-current.pem (kubeadm's kubelet-finalize then points kubelet.conf at it).
            if let (Some((cert, key)), false) = (
                &creds.client_cert,
                self.path(KUBELET_CLIENT_CURRENT).exists(),
            ) {
                let mut pem = cert.clone();
                pem.extend_from_slice(key);
                self.store_client_pem(&pem)?;
            }
            creds
        } else if self.path(BOOTSTRAP_KUBELET_CONF).exists() {
            self.tls_bootstrap()?
        } else {
            bail!("no {KUBELET_CONF} and no {BOOTSTRAP_KUBELET_CONF}: nothing to connect with");
        };
        if creds.client_cert.is_none() {
            bail!("{KUBELET_CONF} has no client certificate");
        }
        self.register(&creds)
    }

    /// The TLS bootstrap: CSR as the bootstrap-token user, approval and signing by the stand-in
    /// controller-manager, client certificate and kubelet.conf written.
    fn tls_bootstrap(&self) -> anyhow::Result<Credentials> {
        let boot = read_credentials(&self.root, BOOTSTRAP_KUBELET_CONF)?;
        if boot.token.is_none() {
            bail!("{BOOTSTRAP_KUBELET_CONF} has no token");
        }
        let key = KeyPair::generate()?;
        let cn = format!("system:node:{}", self.node_name);
        let params = client_params(&cn, "system:nodes")?;
        let csr_pem = params.serialize_request(&key)?.pem()?;
        let csr = json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "node-csr-"},
            "spec": {
                "request": b64(csr_pem.as_bytes()),
                "signerName": KUBELET_CLIENT_SIGNER,
                "usages": ["digital signature", "client auth"],
            },
        });
        let created = with_client(&boot, |c| {
            Box::pin(async move {
                post(
                    &c,
                    "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                    &csr,
                )
                .await
            })
        })
        .context("creating the CertificateSigningRequest with the bootstrap token")?
        .context("CertificateSigningRequest name collision")?;
        let csr_name = created["metadata"]["name"]
            .as_str()
            .context("CSR without a name")?
            .to_string();
        let requester = created["spec"]["username"]
            .as_str()
            .unwrap_or("")
            .to_string();
        self.note(format!(
            "tls-bootstrap: created CSR {csr_name} as {requester}"
        ));

        // The stand-in controller-manager (its own system:masters identity): csrapprover
        // (bootstrap-token requesters only) and the kubelet-client signer, with the cluster CA.
        if !requester.starts_with("system:bootstrap:") {
            bail!("CSR {csr_name} was not made by a bootstrap token user ({requester:?})");
        }
        let (cm_cert, cm_key) = self
            .signer
            .client_cert("system:kube-controller-manager", "system:masters")?;
        let cm = Credentials {
            server: boot.server.clone(),
            ca_pem: boot.ca_pem.clone(),
            token: None,
            client_cert: Some((cm_cert.into_bytes(), cm_key.into_bytes())),
        };
        // csrapprover's authorization check, approximated: one of the requester's groups must
        // be bound to the `nodeclient` ClusterRole (kubeadm's node-autoapprove-bootstrap).
        let groups: Vec<String> = created["spec"]["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let bindings = with_client(&cm, |c| {
            Box::pin(async move {
                let req =
                    http::Request::get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
                        .body(Vec::new())?;
                Ok(c.request::<Value>(req).await?)
            })
        })
        .context("listing ClusterRoleBindings (stand-in csrapprover)")?;
        let allowed = bindings["items"].as_array().is_some_and(|items| {
            items.iter().any(|b| {
                b["roleRef"]["name"] == NODECLIENT_ROLE
                    && b["subjects"].as_array().is_some_and(|s| {
                        s.iter().any(|s| {
                            s["kind"] == "Group"
                                && groups
                                    .iter()
                                    .any(|g| s["name"].as_str() == Some(g.as_str()))
                        })
                    })
            })
        });
        if !allowed {
            bail!(
                "CSR {csr_name} not approved: no ClusterRoleBinding grants {NODECLIENT_ROLE} to the groups {groups:?}"
            );
        }
        // Approved: the signer issues the certificate.
        let cert = params.signed_by(&key, &self.signer.issuer()?)?;
        let cert_pem = cert.pem();
        let mut approved = created.clone();
        approved["status"] = json!({"conditions": [{
            "type": "Approved", "status": "True", "reason": "AutoApproved",
            "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
        }]});
        let base = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{csr_name}");
        let cert_b64 = b64(cert_pem.as_bytes());
        with_client(&cm, |c| {
            Box::pin(async move {
                let mut a = put(&c, &format!("{base}/approval"), &approved).await?;
                a["status"]["certificate"] = json!(cert_b64);
                put(&c, &format!("{base}/status"), &a).await?;
                Ok(())
            })
        })
        .context("approving and signing the CSR (stand-in controller-manager)")?;
        self.note(format!("tls-bootstrap: CSR {csr_name} approved and signed"));

        // The kubelet writes its certificate + key and a kubelet.conf referencing them.
        let pem = format!("{cert_pem}{}", key.serialize_pem());
        self.store_client_pem(pem.as_bytes())?;
        let conf = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "default-cluster", "cluster": {
                "certificate-authority-data": b64(&boot.ca_pem), "server": boot.server}}],
            "contexts": [{"name": "default-context", "context": {
                "cluster": "default-cluster", "namespace": "default", "user": "default-auth"}}],
            "current-context": "default-context",
            "preferences": {},
            "users": [{"name": "default-auth", "user": {
                "client-certificate": KUBELET_CLIENT_CURRENT,
                "client-key": KUBELET_CLIENT_CURRENT}}],
        });
        write_private(
            &self.path(KUBELET_CONF),
            serde_yaml::to_string(&conf)?.as_bytes(),
        )?;
        self.note(format!(
            "tls-bootstrap: wrote {KUBELET_CLIENT_CURRENT} and {KUBELET_CONF}"
        ));
        read_credentials(&self.root, KUBELET_CONF)
    }

    /// Writes `kubelet-client-<timestamp>.pem` (0600) and points `kubelet-client-current.pem`
    /// at it (a relative symlink, so it resolves under a test root too).
    fn store_client_pem(&self, pem: &[u8]) -> anyhow::Result<()> {
        let stamp = time::OffsetDateTime::now_utc().format(time::macros::format_description!(
            "[year]-[month]-[day]-[hour]-[minute]-[second]"
        ))?;
        let file = format!("kubelet-client-{stamp}.pem");
        let pki = self.path(KUBELET_PKI_DIR);
        std::fs::create_dir_all(&pki)?;
        write_private(&pki.join(&file), pem)?;
        let current = self.path(KUBELET_CLIENT_CURRENT);
        let _ = std::fs::remove_file(&current);
        std::os::unix::fs::symlink(&file, &current)?;
        Ok(())
    }

    /// Registers the Node (409: already registered) as the node's own identity.
    fn register(&self, creds: &Credentials) -> anyhow::Result<()> {
        let name = self.node_name.clone();
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            }},
            "spec": {},
        });
        let created = with_client(creds, |c| {
            Box::pin(async move { post(&c, "/api/v1/nodes", &node).await })
        })
        .context("registering the Node")?;
        self.note(if created.is_some() {
            format!("registered Node {}", self.node_name)
        } else {
            format!("Node {} already registered", self.node_name)
        });
        Ok(())
    }
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
