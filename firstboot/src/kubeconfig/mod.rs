//! kubeconfig: kubeadm's kubeconfig files (`admin.conf`, `super-admin.conf`, `kubelet.conf`,
//! `controller-manager.conf`, `scheduler.conf`; spec §4) with client certificates signed by
//! the cluster CA, their existing-file semantics (§4.3), and the token-auth
//! `bootstrap-kubelet.conf` builder used by join.
//!
//! ```no_run
//! use firstboot::kubeconfig::{self, KubeconfigParams};
//! let params = KubeconfigParams::new("/etc/kubernetes", "/etc/kubernetes/pki", "node-1", "192.0.2.2".parse().unwrap());
//! let plan = kubeconfig::plan(&params)?;
//! println!("{plan}");
//! plan.apply()?;
//! # Ok::<(), firstboot::pki::PkiError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::pki::{
    self, create_certificate, generate_keys, parse_host_port, CertTemplate, Certificate,
    EncryptionAlgorithm, ExtKeyUsage, Issuer, PkiError, PrivateKey, Result,
};

mod model;

pub use model::{Kubeconfig, KUBECONFIG_DIR_MODE, KUBECONFIG_MODE};

/// One of kubeadm's certificate-authenticated kubeconfig files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KubeconfigFile {
    /// `admin.conf`: `kubernetes-admin`, O `kubeadm:cluster-admins`, control-plane endpoint.
    #[serde(rename = "admin.conf")]
    Admin,
    /// `super-admin.conf` (init only): `kubernetes-super-admin`, O `system:masters`.
    #[serde(rename = "super-admin.conf")]
    SuperAdmin,
    /// `kubelet.conf` (init only): `system:node:<node>`, O `system:nodes`, local endpoint.
    #[serde(rename = "kubelet.conf")]
    Kubelet,
    /// `controller-manager.conf`: `system:kube-controller-manager`, local endpoint.
    #[serde(rename = "controller-manager.conf")]
    ControllerManager,
    /// `scheduler.conf`: `system:kube-scheduler`, local endpoint.
    #[serde(rename = "scheduler.conf")]
    Scheduler,
}

impl KubeconfigFile {
    /// The files `kubeadm init` writes, in its order.
    pub const INIT: [KubeconfigFile; 5] = [
        KubeconfigFile::Admin,
        KubeconfigFile::SuperAdmin,
        KubeconfigFile::Kubelet,
        KubeconfigFile::ControllerManager,
        KubeconfigFile::Scheduler,
    ];
    /// The files `kubeadm join --control-plane` writes.
    pub const CONTROL_PLANE_JOIN: [KubeconfigFile; 3] = [
        KubeconfigFile::Admin,
        KubeconfigFile::ControllerManager,
        KubeconfigFile::Scheduler,
    ];

    /// File name (`admin.conf`, ...).
    pub fn file_name(self) -> &'static str {
        match self {
            KubeconfigFile::Admin => "admin.conf",
            KubeconfigFile::SuperAdmin => "super-admin.conf",
            KubeconfigFile::Kubelet => "kubelet.conf",
            KubeconfigFile::ControllerManager => "controller-manager.conf",
            KubeconfigFile::Scheduler => "scheduler.conf",
        }
    }

    /// Parses a file name.
    pub fn from_file_name(name: &str) -> Option<Self> {
        Self::INIT.into_iter().find(|f| f.file_name() == name)
    }

    /// User name = client certificate CN.
    pub fn client_name(self, node_name: &str) -> String {
        match self {
            KubeconfigFile::Admin => "kubernetes-admin".into(),
            KubeconfigFile::SuperAdmin => "kubernetes-super-admin".into(),
            KubeconfigFile::Kubelet => format!("system:node:{node_name}"),
            KubeconfigFile::ControllerManager => "system:kube-controller-manager".into(),
            KubeconfigFile::Scheduler => "system:kube-scheduler".into(),
        }
    }

    /// Client certificate O values.
    pub fn organizations(self) -> Vec<String> {
        match self {
            KubeconfigFile::Admin => vec!["kubeadm:cluster-admins".into()],
            KubeconfigFile::SuperAdmin => vec!["system:masters".into()],
            KubeconfigFile::Kubelet => vec!["system:nodes".into()],
            _ => Vec::new(),
        }
    }

    /// Whether the server is the local endpoint (else the control-plane endpoint).
    pub fn uses_local_endpoint(self) -> bool {
        matches!(
            self,
            KubeconfigFile::Kubelet | KubeconfigFile::ControllerManager | KubeconfigFile::Scheduler
        )
    }
}

/// Inputs of the kubeconfig phase. Paths are full paths (the caller joins the root).
#[derive(Debug, Clone)]
pub struct KubeconfigParams {
    /// Directory of the kubeconfig files (default `/etc/kubernetes`).
    pub kubeconfig_dir: PathBuf,
    /// `certificatesDir` (where `ca.crt` and `ca.key` are).
    pub cert_dir: PathBuf,
    /// `clusterName` (default `kubernetes`).
    pub cluster_name: String,
    /// `nodeRegistration.name`.
    pub node_name: String,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort`.
    pub bind_port: u16,
    /// `controlPlaneEndpoint`, if set.
    pub control_plane_endpoint: Option<String>,
    /// `encryptionAlgorithm` of the client keys.
    pub encryption_algorithm: EncryptionAlgorithm,
    /// `certificateValidityPeriod`.
    pub cert_validity: time::Duration,
    /// The run's start time.
    pub start_time: OffsetDateTime,
    /// Which files to produce ([`KubeconfigFile::INIT`] or [`KubeconfigFile::CONTROL_PLANE_JOIN`]).
    pub files: Vec<KubeconfigFile>,
}

impl KubeconfigParams {
    /// Parameters with kubeadm's defaults (all init files, port 6443, cluster `kubernetes`,
    /// RSA-2048, 1 year, start time now).
    pub fn new(
        kubeconfig_dir: impl Into<PathBuf>,
        cert_dir: impl Into<PathBuf>,
        node_name: impl Into<String>,
        advertise_address: IpAddr,
    ) -> Self {
        KubeconfigParams {
            kubeconfig_dir: kubeconfig_dir.into(),
            cert_dir: cert_dir.into(),
            cluster_name: "kubernetes".into(),
            node_name: node_name.into(),
            advertise_address,
            bind_port: 6443,
            control_plane_endpoint: None,
            encryption_algorithm: EncryptionAlgorithm::default(),
            cert_validity: pki::DEFAULT_CERT_VALIDITY,
            start_time: OffsetDateTime::now_utc(),
            files: KubeconfigFile::INIT.to_vec(),
        }
    }

    /// Server URL a file is expected to point at.
    pub fn server_for(&self, file: KubeconfigFile) -> Result<String> {
        if file.uses_local_endpoint() {
            Ok(local_endpoint_url(self.advertise_address, self.bind_port))
        } else {
            control_plane_endpoint_url(
                self.control_plane_endpoint.as_deref(),
                self.advertise_address,
                self.bind_port,
            )
        }
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The local API endpoint `https://<adv>:<port>` (IPv6 bracketed).
pub fn local_endpoint_url(advertise_address: IpAddr, bind_port: u16) -> String {
    format!(
        "https://{}:{bind_port}",
        host_for_url(&advertise_address.to_string())
    )
}

/// The control-plane endpoint URL: `https://<host>:<port>` from `controlPlaneEndpoint` (a
/// missing port is filled with `bind_port`), else the local endpoint.
pub fn control_plane_endpoint_url(
    control_plane_endpoint: Option<&str>,
    advertise_address: IpAddr,
    bind_port: u16,
) -> Result<String> {
    match control_plane_endpoint.filter(|s| !s.is_empty()) {
        None => Ok(local_endpoint_url(advertise_address, bind_port)),
        Some(cpe) => {
            let (host, port) = parse_host_port(cpe).ok_or_else(|| {
                PkiError::input("controlPlaneEndpoint", cpe, "not a valid host[:port]")
            })?;
            Ok(format!(
                "https://{}:{}",
                host_for_url(&host),
                port.unwrap_or(bind_port)
            ))
        }
    }
}

/// What applying does with a kubeconfig file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubeconfigAction {
    /// Generate a client key and certificate and write the file.
    Generate,
    /// The existing file trusts the CA: keep it.
    Reuse,
    /// External CA (no `ca.key`): the user-provided file was validated; nothing is written.
    ValidatedExternal,
}

fn ser_mode<S: Serializer>(m: &u32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{m:04o}"))
}

/// One kubeconfig file of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct KubeconfigItem {
    /// Which file.
    pub file: KubeconfigFile,
    /// Full path.
    pub path: PathBuf,
    /// Mode the file is created with.
    #[serde(serialize_with = "ser_mode")]
    pub mode: u32,
    /// What applying does.
    pub action: KubeconfigAction,
    /// Server URL written (or expected).
    pub server: String,
    /// User / client certificate CN.
    pub client_name: String,
    /// Client certificate O values.
    pub organizations: Vec<String>,
}

/// Plan of the kubeconfig phase (printable for `--dry-run`, serializable to JSON).
#[derive(Debug, Clone, Serialize)]
pub struct KubeconfigPlan {
    /// `ca.crt` used.
    pub ca_cert: PathBuf,
    /// `ca.key` used to sign (absent in external-CA mode).
    pub ca_key: Option<PathBuf>,
    /// Cluster name.
    pub cluster_name: String,
    /// Algorithm of new client keys.
    pub encryption_algorithm: EncryptionAlgorithm,
    /// Client certificate NotAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// One entry per file.
    pub items: Vec<KubeconfigItem>,
    /// Warnings (e.g. an existing file pointing at another server).
    pub warnings: Vec<String>,
}

impl fmt::Display for KubeconfigPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for it in &self.items {
            let action = match it.action {
                KubeconfigAction::Generate => "generate",
                KubeconfigAction::Reuse => "reuse",
                KubeconfigAction::ValidatedExternal => "validated (external CA)",
            };
            writeln!(
                f,
                "[kubeconfig] {:<24} {action}: {:04o} {} (user {}, server {})",
                it.file.file_name(),
                it.mode,
                it.path.display(),
                it.client_name,
                it.server
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        Ok(())
    }
}

/// Checks an existing kubeconfig per spec §4.3: the first CA certificate of its current
/// context's cluster must be one of `ca_bundle`; a different server only warns.
pub fn validate_existing(
    path: &Path,
    ca_bundle: &[Certificate],
    expected_server: &str,
    warnings: &mut Vec<String>,
) -> Result<Kubeconfig> {
    let kc = Kubeconfig::load(path)?;
    let ca_pem = kc.current_cluster_ca_pem(path)?;
    let certs = Certificate::parse_pem_chain(&ca_pem, path)?;
    if !ca_bundle.iter().any(|c| c.der == certs[0].der) {
        return Err(PkiError::file(path, "kubeconfig file exists but does not contain a trusted CA in its current context's cluster"));
    }
    if let Some(server) = kc.server() {
        if server != expected_server {
            warnings.push(format!(
                "[kubeconfig] WARNING: a kubeconfig file {} exists already but has an unexpected API Server URL: expected: {expected_server}, got: {server}",
                path.display()
            ));
        }
    }
    Ok(kc)
}

/// Inspects the kubeconfig directory: existing files are validated against `ca.crt` (and
/// kept), missing ones are generated; in external-CA mode (`ca.key` absent) every file must
/// already exist and is only validated. Reads files, writes nothing.
pub fn plan(params: &KubeconfigParams) -> Result<KubeconfigPlan> {
    let ca_crt = params.cert_dir.join("ca.crt");
    let ca_key = params.cert_dir.join("ca.key");
    let bundle = Certificate::read_chain(&ca_crt)?;
    if !bundle[0].is_ca {
        return Err(PkiError::file(&ca_crt, "certificate is not a CA"));
    }
    let external = !pki::fsutil::exists(&ca_key);
    let mut warnings = Vec::new();
    let mut items = Vec::new();
    for &file in &params.files {
        let path = params.kubeconfig_dir.join(file.file_name());
        let server = params.server_for(file)?;
        let action = if pki::fsutil::exists(&path) {
            validate_existing(&path, &bundle, &server, &mut warnings)?;
            if external {
                KubeconfigAction::ValidatedExternal
            } else {
                KubeconfigAction::Reuse
            }
        } else if external {
            return Err(PkiError::file(
                &path,
                format!("missing: {} has no private key (external CA mode), so kubeconfig files must be provided", ca_crt.display()),
            ));
        } else {
            KubeconfigAction::Generate
        };
        items.push(KubeconfigItem {
            file,
            path,
            mode: KUBECONFIG_MODE,
            action,
            server,
            client_name: file.client_name(&params.node_name),
            organizations: file.organizations(),
        });
    }
    Ok(KubeconfigPlan {
        ca_cert: ca_crt,
        ca_key: (!external).then_some(ca_key),
        cluster_name: params.cluster_name.clone(),
        encryption_algorithm: params.encryption_algorithm,
        not_after: params.start_time + params.cert_validity,
        items,
        warnings,
    })
}

/// A client certificate template for a kubeconfig user (NotBefore = the CA's NotBefore).
pub fn client_cert_template(
    client_name: &str,
    organizations: Vec<String>,
    ca: &Certificate,
    not_after: OffsetDateTime,
) -> CertTemplate {
    CertTemplate {
        common_name: client_name.to_string(),
        organizations,
        dns_names: Vec::new(),
        ips: Vec::new(),
        usages: vec![ExtKeyUsage::ClientAuth],
        is_ca: false,
        not_before: ca.not_before,
        not_after,
    }
}

impl KubeconfigPlan {
    /// Writes every file the plan generates (client keys generated in parallel, certificates
    /// signed by `ca.key`, files written atomically with mode 0600). Returns the paths written.
    pub fn apply(&self) -> Result<Vec<PathBuf>> {
        let todo: Vec<&KubeconfigItem> = self
            .items
            .iter()
            .filter(|i| i.action == KubeconfigAction::Generate)
            .collect();
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        let key_path = self
            .ca_key
            .as_ref()
            .ok_or_else(|| PkiError::file(&self.ca_cert, "no CA key to sign with"))?;
        let ca = Certificate::read_chain(&self.ca_cert)?.remove(0);
        // Like kubeadm, embed the CA certificate itself (first certificate of ca.crt).
        let ca_pem = ca.to_pem().into_bytes();
        let ca_key_pem = std::fs::read(key_path).map_err(|e| PkiError::io(key_path, e))?;
        let ca_key = PrivateKey::from_pem(&ca_key_pem, key_path)?;
        let keys = generate_keys(self.encryption_algorithm, todo.len())?;
        let mut written = Vec::new();
        for (it, key) in todo.into_iter().zip(keys) {
            let tpl = client_cert_template(
                &it.client_name,
                it.organizations.clone(),
                &ca,
                self.not_after,
            );
            let der = create_certificate(
                &tpl,
                key.public_key_der(),
                Issuer::Ca {
                    cert: &ca,
                    key: &ca_key,
                },
            )?;
            let cert_pem = pki::encode_pem("CERTIFICATE", &der);
            let kc = Kubeconfig::with_client_cert(
                &it.server,
                &self.cluster_name,
                &it.client_name,
                &ca_pem,
                cert_pem.as_bytes(),
                key.to_pem()?.as_bytes(),
            );
            kc.write(&it.path)?;
            written.push(it.path.clone());
        }
        Ok(written)
    }
}
