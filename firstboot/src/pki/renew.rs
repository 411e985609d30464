//! Certificate renewal (`certs renew <name>|all`, spec §15.2): new key, same subject, SANs and
//! usages, new validity, signed by the existing CA, replaced atomically; certificates under an
//! externally managed CA are reported instead of renewed.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::certs::{applicable_certs, CaKind};
use super::error::{PkiError, Result};
use super::fsutil::{exists, write_atomic};
use super::key::{EncryptionAlgorithm, PrivateKey};
use super::plan::{read_key, validity_warning};
use super::x509::{create_certificate, verify_chain, CertTemplate, Certificate, Issuer};
use super::{CERT_MODE, DIR_MODE, KEY_MODE};
use crate::kubeconfig::Kubeconfig;

/// Kubeconfig files whose embedded client certificates are renewed (kubelet.conf is not:
/// the kubelet rotates its own certificate).
pub const RENEWABLE_KUBECONFIGS: [&str; 4] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// Inputs of a renewal.
#[derive(Debug, Clone)]
pub struct RenewParams {
    /// `certificatesDir`.
    pub cert_dir: PathBuf,
    /// Directory of the kubeconfig files (default `/etc/kubernetes`).
    pub kubeconfig_dir: PathBuf,
    /// Whether the etcd certificates exist (local etcd).
    pub local_etcd: bool,
    /// Algorithm of the new keys.
    pub encryption_algorithm: EncryptionAlgorithm,
    /// `certificateValidityPeriod`.
    pub cert_validity: time::Duration,
    /// The run's start time (NotBefore = start − 5 min, NotAfter = start + validity).
    pub start_time: OffsetDateTime,
}

/// Result of one renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewOutcome {
    /// Renewed.
    Renewed,
    /// The issuing CA has no key (external CA): not renewed.
    ExternallyManaged,
    /// The file does not exist (only with `all`; a named missing file is an error).
    Missing,
}

/// What happened to one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct RenewResult {
    /// Certificate name (`apiserver`, `admin.conf`, ...).
    pub name: String,
    /// Outcome.
    pub outcome: RenewOutcome,
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Human message, kubeadm style.
    pub message: String,
    /// Warnings (e.g. CA outside its validity period).
    pub warnings: Vec<String>,
}

/// Names accepted by [`renew`], sorted: the applicable leaf certificates and the renewable
/// kubeconfig files.
pub fn renewable_names(local_etcd: bool) -> Vec<String> {
    let mut v: Vec<String> = applicable_certs(local_etcd)
        .filter(|c| c.ca.is_some())
        .map(|c| c.name.to_string())
        .chain(RENEWABLE_KUBECONFIGS.iter().map(|s| s.to_string()))
        .collect();
    v.sort();
    v
}

/// Whether `ca` is externally managed: `<ca>.crt` present, `<ca>.key` absent. Then the
/// certificates it signs must exist with their keys and verify against it (else error, as in
/// kubeadm's `UsingExternalCA`). A missing certificate is not external.
pub fn is_externally_managed(cert_dir: &Path, ca: CaKind, local_etcd: bool) -> Result<bool> {
    let crt = cert_dir.join(format!("{}.crt", ca.base_name()));
    let key = cert_dir.join(format!("{}.key", ca.base_name()));
    if exists(&key) || !exists(&crt) {
        return Ok(false);
    }
    let ca_cert = Certificate::read_chain(&crt)?.remove(0);
    if !ca_cert.is_ca {
        return Err(PkiError::file(&crt, "certificate is not a CA"));
    }
    for leaf in applicable_certs(local_etcd).filter(|c| c.ca == Some(ca)) {
        let lcrt = cert_dir.join(format!("{}.crt", leaf.base_name));
        let lkey = cert_dir.join(format!("{}.key", leaf.base_name));
        let chain = Certificate::read_chain(&lcrt)?;
        read_key(&lkey)?;
        if !verify_chain(&chain, &ca_cert) {
            return Err(PkiError::file(
                &lcrt,
                format!(
                    "certificate is not signed by corresponding CA {}",
                    crt.display()
                ),
            ));
        }
    }
    Ok(true)
}

fn template_from(cert: &Certificate, p: &RenewParams) -> CertTemplate {
    CertTemplate {
        common_name: cert.common_name.clone(),
        organizations: cert.organizations.clone(),
        dns_names: cert.dns_names.clone(),
        ips: cert.ips.clone(),
        usages: cert.ext_key_usages.clone(),
        is_ca: false,
        not_before: p.start_time - time::Duration::minutes(5),
        not_after: p.start_time + p.cert_validity,
    }
}

fn load_ca(
    cert_dir: &Path,
    ca: CaKind,
    now: OffsetDateTime,
    warnings: &mut Vec<String>,
) -> Result<(Certificate, PrivateKey)> {
    let crt = cert_dir.join(format!("{}.crt", ca.base_name()));
    let keyp = cert_dir.join(format!("{}.key", ca.base_name()));
    let cert = Certificate::read_chain(&crt)?.remove(0);
    if !cert.is_ca {
        return Err(PkiError::file(&crt, "certificate is not a CA"));
    }
    warnings.extend(validity_warning(&cert, &crt, now));
    let key = read_key(&keyp)?;
    Ok((cert, key))
}

/// Renews the named certificates (`["all"]` or an empty list: every renewable one). Unknown
/// names are an error; with `all`, missing files are reported as [`RenewOutcome::Missing`].
/// After renewal the control-plane static pods must be restarted by the operator.
pub fn renew(params: &RenewParams, names: &[String]) -> Result<Vec<RenewResult>> {
    let valid = renewable_names(params.local_etcd);
    let all = names.is_empty() || names.iter().any(|n| n == "all");
    let targets: Vec<String> = if all { valid.clone() } else { names.to_vec() };
    for n in &targets {
        if !valid.contains(n) {
            return Err(PkiError::UnknownCertificate(n.clone()));
        }
    }
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for name in targets {
        let is_kubeconfig = name.ends_with(".conf");
        let (ca, path) = if is_kubeconfig {
            (CaKind::Ca, params.kubeconfig_dir.join(&name))
        } else {
            let info = super::certs::cert_info(&name)
                .ok_or_else(|| PkiError::UnknownCertificate(name.clone()))?;
            (
                info.ca.unwrap_or(CaKind::Ca),
                params.cert_dir.join(format!("{}.crt", info.base_name)),
            )
        };
        if !exists(&path) {
            if all {
                out.push(RenewResult {
                    name: name.clone(),
                    outcome: RenewOutcome::Missing,
                    written: Vec::new(),
                    message: format!("{} does not exist, skipping {name}", path.display()),
                    warnings: Vec::new(),
                });
                continue;
            }
            return Err(PkiError::file(&path, "cannot renew: file does not exist"));
        }
        if is_externally_managed(&params.cert_dir, ca, params.local_etcd)? {
            out.push(RenewResult {
                name: name.clone(),
                outcome: RenewOutcome::ExternallyManaged,
                written: Vec::new(),
                message: format!("Detected external {}, {name} can't be renewed", ca.name()),
                warnings: Vec::new(),
            });
            continue;
        }
        let mut warnings = Vec::new();
        let (ca_cert, ca_key) = load_ca(&params.cert_dir, ca, now, &mut warnings)?;
        let new_key = PrivateKey::generate(params.encryption_algorithm)?;
        let written = if is_kubeconfig {
            let mut kc = Kubeconfig::load(&path)?;
            let cert_pem = kc.client_certificate_pem().ok_or_else(|| {
                PkiError::file(
                    &path,
                    "the current user has no embedded client certificate (client-certificate-data)",
                )
            })?;
            kc.current_cluster_ca_pem(&path)?;
            let old = Certificate::parse_pem_chain(&cert_pem, &path)?.remove(0);
            let der = create_certificate(
                &template_from(&old, params),
                new_key.public_key_der(),
                Issuer::Ca {
                    cert: &ca_cert,
                    key: &ca_key,
                },
            )?;
            let new_pem = super::x509::encode_pem("CERTIFICATE", &der);
            kc.set_client_certificate(new_pem.as_bytes(), new_key.to_pem()?.as_bytes());
            kc.set_ca_data(ca_cert.to_pem().as_bytes());
            kc.write(&path)?;
            vec![path.clone()]
        } else {
            let old = Certificate::read_chain(&path)?.remove(0);
            let der = create_certificate(
                &template_from(&old, params),
                new_key.public_key_der(),
                Issuer::Ca {
                    cert: &ca_cert,
                    key: &ca_key,
                },
            )?;
            let keyp = path.with_extension("key");
            write_atomic(&keyp, new_key.to_pem()?.as_bytes(), KEY_MODE, DIR_MODE)?;
            write_atomic(
                &path,
                super::x509::encode_pem("CERTIFICATE", &der).as_bytes(),
                CERT_MODE,
                DIR_MODE,
            )?;
            vec![keyp, path.clone()]
        };
        out.push(RenewResult {
            name: name.clone(),
            outcome: RenewOutcome::Renewed,
            written,
            message: format!("certificate {name} renewed"),
            warnings,
        });
    }
    Ok(out)
}
