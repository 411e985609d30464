//! `certs generate-csr` (external-CA workflow): a private key and a certificate signing
//! request for every certificate and kubeconfig kubeadm would otherwise sign itself.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::certs::cert_specs;
use super::error::{PkiError, Result};
use super::fsutil::{exists, write_atomic};
use super::key::{generate_keys, PrivateKey};
use super::plan::read_key;
use super::x509::{create_csr, encode_pem};
use super::{PkiParams, KEY_MODE};
use crate::kubeconfig::{
    control_plane_endpoint_url, local_endpoint_url, Kubeconfig, KubeconfigFile,
};

/// Mode of `.csr` files.
pub const CSR_MODE: u32 = 0o600;
/// Mode of directories created for CSRs.
pub const CSR_DIR_MODE: u32 = 0o700;

/// Inputs of CSR generation.
#[derive(Debug, Clone)]
pub struct CsrParams {
    /// Certificate parameters (names, SANs, algorithm; `cert_dir` receives `<name>.key`/`.csr`).
    pub pki: PkiParams,
    /// Directory receiving `<file>.conf` (with the client key) and `<file>.conf.csr`.
    pub kubeconfig_dir: PathBuf,
    /// `clusterName`.
    pub cluster_name: String,
    /// Kubeconfig files to create CSRs for.
    pub kubeconfig_files: Vec<KubeconfigFile>,
}

/// What [`generate_csrs`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsrReport {
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Existing CSR/key pairs that were kept.
    pub reused: Vec<PathBuf>,
}

/// Parses the public key out of a PEM CSR.
fn csr_public_key(path: &Path) -> Result<Vec<u8>> {
    let data = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
    let block = pem::parse_many(&data)
        .map_err(|e| PkiError::file(path, format!("not valid PEM: {e}")))?
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE REQUEST" || b.tag() == "NEW CERTIFICATE REQUEST")
        .ok_or_else(|| PkiError::file(path, "no CERTIFICATE REQUEST PEM block found"))?;
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
            .map_err(|e| PkiError::file(path, format!("invalid CSR: {e}")))?;
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}

use x509_parser::prelude::FromDer as _;

/// Writes a key (`.key`, 0600) and CSR (`.csr`, 0600) for every leaf certificate of the
/// cluster and, for each kubeconfig file, the file itself holding only the client key plus
/// `<file>.csr`. Existing matching `.key`/`.csr` pairs are kept; an existing kubeconfig file
/// is an error (as in kubeadm).
pub fn generate_csrs(p: &CsrParams) -> Result<CsrReport> {
    let (specs, _warnings) = cert_specs(&p.pki)?;
    let leaves: Vec<_> = specs.into_iter().filter(|s| s.info.ca.is_some()).collect();
    let mut report = CsrReport::default();

    // Decide what to generate first.
    let mut todo_certs = Vec::new();
    for s in &leaves {
        let key = p.pki.cert_dir.join(format!("{}.key", s.info.base_name));
        let csr = p.pki.cert_dir.join(format!("{}.csr", s.info.base_name));
        if exists(&key) || exists(&csr) {
            let k = read_key(&key)?;
            if csr_public_key(&csr)? != k.public_key_der() {
                return Err(PkiError::file(
                    &csr,
                    format!("CSR does not match the private key {}", key.display()),
                ));
            }
            report.reused.push(csr);
        } else {
            todo_certs.push((s, key, csr));
        }
    }
    for f in &p.kubeconfig_files {
        let path = p.kubeconfig_dir.join(f.file_name());
        if exists(&path) {
            return Err(PkiError::file(&path, "kubeconfig file already exists"));
        }
    }
    let mut keys = generate_keys(
        p.pki.encryption_algorithm,
        todo_certs.len() + p.kubeconfig_files.len(),
    )?
    .into_iter();
    let mut next = || {
        keys.next()
            .ok_or_else(|| PkiError::Crypto("internal error: too few keys".into()))
    };

    for (s, keyp, csrp) in todo_certs {
        let key: PrivateKey = next()?;
        let t = &s.template;
        let csr = create_csr(&t.common_name, &t.organizations, &t.dns_names, &t.ips, &key)?;
        write_atomic(&keyp, key.to_pem()?.as_bytes(), KEY_MODE, super::DIR_MODE)?;
        write_atomic(
            &csrp,
            encode_pem("CERTIFICATE REQUEST", &csr).as_bytes(),
            CSR_MODE,
            CSR_DIR_MODE,
        )?;
        report.written.extend([keyp, csrp]);
    }
    for f in &p.kubeconfig_files {
        let key = next()?;
        let path = p.kubeconfig_dir.join(f.file_name());
        let server = if f.uses_local_endpoint() {
            local_endpoint_url(p.pki.advertise_address, p.pki.bind_port)
        } else {
            control_plane_endpoint_url(
                p.pki.control_plane_endpoint.as_deref(),
                p.pki.advertise_address,
                p.pki.bind_port,
            )?
        };
        let user = f.client_name(&p.pki.node_name);
        let csr = create_csr(&user, &f.organizations(), &[], &[], &key)?;
        let kc = Kubeconfig::with_client_cert(
            &server,
            &p.cluster_name,
            &user,
            b"",
            b"",
            key.to_pem()?.as_bytes(),
        );
        kc.write(&path)?;
        let csrp = p.kubeconfig_dir.join(format!("{}.csr", f.file_name()));
        write_atomic(
            &csrp,
            encode_pem("CERTIFICATE REQUEST", &csr).as_bytes(),
            CSR_MODE,
            CSR_DIR_MODE,
        )?;
        report.written.extend([path, csrp]);
    }
    Ok(report)
}
