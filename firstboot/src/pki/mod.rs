//! PKI: kubeadm's certificate authorities, certificates and service-account key pair
//! (spec §3), plus renewal (§15.2), expiration reports (§15.3), CSR generation for external
//! CAs and the CA public-key pin (§19.2).
//!
//! Use [`plan`] to inspect the certificate directory and decide, per file, whether it is
//! generated, reused or validated (printable for `--dry-run`), then [`Plan::apply`] to write.
//!
//! ```no_run
//! use firstboot::pki::{self, PkiParams};
//! let params = PkiParams::new("/etc/kubernetes/pki", "node-1", "192.0.2.2".parse().unwrap());
//! let plan = pki::plan(&params)?;
//! println!("{plan}");
//! plan.apply()?;
//! # Ok::<(), firstboot::pki::PkiError>(())
//! ```
//!
//! Deviation from kubeadm, for crash safety: every pair is written key first, certificate
//! second (each file atomically). A private key whose certificate is missing — what an
//! interrupted run leaves behind — is kept and a certificate is issued for it, where kubeadm
//! would stop with an error; a missing `sa.pub` next to a valid `sa.key` is derived from the
//! key. A certificate without its key is still an error for leaves (and means "external CA"
//! for CAs), exactly as in kubeadm.

use std::net::IpAddr;
use std::path::PathBuf;

use time::OffsetDateTime;

mod certs;
mod csr;
mod error;
mod expiration;
pub(crate) mod fsutil;
mod key;
mod pin;
mod plan;
mod renew;
mod x509;

pub use certs::{
    apiserver_virtual_ip, applicable_certs, cert_info, cert_specs, is_dns1123_subdomain,
    parse_host_port, CaKind, CertInfo, CertSpec, CERT_LIST,
};
pub use csr::{generate_csrs, CsrParams, CsrReport};
pub use error::{PkiError, Result};
pub use expiration::{
    check_expiration, human_duration, ExpirationInfo, ExpirationParams, ExpirationRow,
};
pub use fsutil::write_atomic;
pub use key::{generate_keys, EncryptionAlgorithm, KeyType, PrivateKey};
pub use pin::{ca_cert_hash, ca_cert_hash_from_pem, spki_hash};
pub use plan::{install_ca, plan, Action, ApplyReport, ItemKind, Plan, PlanItem, PlannedFile};
pub use renew::{renew, RenewOutcome, RenewParams, RenewResult, RENEWABLE_KUBECONFIGS};
pub use x509::{
    create_certificate, create_csr, encode_pem, normalize_alt_names, verify_chain, CertTemplate,
    Certificate, ExtKeyUsage, Issuer, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, KU_KEY_ENCIPHERMENT,
};

/// File mode of certificates (`*.crt`).
pub const CERT_MODE: u32 = 0o644;
/// File mode of private keys (`*.key`) and of `sa.pub` written on init.
pub const KEY_MODE: u32 = 0o600;
/// Mode of directories created for certificates and keys.
pub const DIR_MODE: u32 = 0o755;
/// Default `caCertificateValidityPeriod` (87600h).
pub const DEFAULT_CA_VALIDITY: time::Duration = time::Duration::hours(87_600);
/// Default `certificateValidityPeriod` (8760h).
pub const DEFAULT_CERT_VALIDITY: time::Duration = time::Duration::hours(8_760);

/// Inputs of the certs phase, filled from kubeadm's InitConfiguration/ClusterConfiguration.
/// Paths are full paths (the caller joins the configurable root).
#[derive(Debug, Clone)]
pub struct PkiParams {
    /// `certificatesDir` under the root (default `/etc/kubernetes/pki`).
    pub cert_dir: PathBuf,
    /// `nodeRegistration.name`.
    pub node_name: String,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort` (default 6443).
    pub bind_port: u16,
    /// `controlPlaneEndpoint` (`host[:port]`), if set.
    pub control_plane_endpoint: Option<String>,
    /// `networking.serviceSubnet` (default `10.96.0.0/12`; may be a comma-separated pair).
    pub service_subnet: String,
    /// `networking.dnsDomain` (default `cluster.local`).
    pub dns_domain: String,
    /// `apiServer.certSANs`.
    pub apiserver_cert_sans: Vec<String>,
    /// `etcd.local.serverCertSANs`.
    pub etcd_server_cert_sans: Vec<String>,
    /// `etcd.local.peerCertSANs`.
    pub etcd_peer_cert_sans: Vec<String>,
    /// Whether etcd is local (stacked); without it only `ca`, `apiserver`,
    /// `apiserver-kubelet-client`, `front-proxy-ca`, `front-proxy-client` (and `sa`) exist.
    pub local_etcd: bool,
    /// `encryptionAlgorithm`.
    pub encryption_algorithm: EncryptionAlgorithm,
    /// `caCertificateValidityPeriod`.
    pub ca_validity: time::Duration,
    /// `certificateValidityPeriod`.
    pub cert_validity: time::Duration,
    /// The run's start time (one value for every certificate).
    pub start_time: OffsetDateTime,
}

impl PkiParams {
    /// Parameters with kubeadm's defaults for everything but the certificate directory, node
    /// name and advertise address (start time: now).
    pub fn new(
        cert_dir: impl Into<PathBuf>,
        node_name: impl Into<String>,
        advertise_address: IpAddr,
    ) -> Self {
        PkiParams {
            cert_dir: cert_dir.into(),
            node_name: node_name.into(),
            advertise_address,
            bind_port: 6443,
            control_plane_endpoint: None,
            service_subnet: "10.96.0.0/12".into(),
            dns_domain: "cluster.local".into(),
            apiserver_cert_sans: Vec::new(),
            etcd_server_cert_sans: Vec::new(),
            etcd_peer_cert_sans: Vec::new(),
            local_etcd: true,
            encryption_algorithm: EncryptionAlgorithm::default(),
            ca_validity: DEFAULT_CA_VALIDITY,
            cert_validity: DEFAULT_CERT_VALIDITY,
            start_time: OffsetDateTime::now_utc(),
        }
    }
}
