//! Planning (inspect existing files, decide generate/reuse/validate; spec §3.4) and applying
//! (key generation in parallel, signing, atomic writes) of the certs phase.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::certs::{cert_specs, CaKind, CertSpec};
use super::error::{PkiError, Result};
use super::fsutil::{exists, read_optional, write_atomic};
use super::key::{generate_keys, EncryptionAlgorithm, PrivateKey};
use super::x509::{create_certificate, verify_chain, Certificate, Issuer};
use super::{PkiParams, CERT_MODE, DIR_MODE, KEY_MODE};

/// What kind of artifact a plan item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A certificate authority (`ca`, `front-proxy-ca`, `etcd-ca`).
    Ca,
    /// A certificate signed by one of the CAs.
    Leaf,
    /// The service-account signing key pair (`sa.key`, `sa.pub`).
    ServiceAccountKey,
}

/// What applying the plan does with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Generate a new key and certificate (or `sa.key` + `sa.pub`).
    Generate,
    /// Keep the existing private key (left by an interrupted run or provided in advance) and
    /// issue the missing certificate for it.
    CertificateForExistingKey,
    /// Keep the existing, validated files.
    Reuse,
    /// CA certificate without key: externally managed; nothing is generated for it and
    /// every certificate it signs was validated instead.
    External,
    /// `sa.key` exists but `sa.pub` does not: write the public key derived from `sa.key`.
    PublicKeyFromExistingKey,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Generate => "generate",
            Action::CertificateForExistingKey => "certificate-for-existing-key",
            Action::Reuse => "reuse",
            Action::External => "external",
            Action::PublicKeyFromExistingKey => "public-key-from-existing-key",
        }
    }
}

fn ser_mode<S: Serializer>(m: &u32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{m:04o}"))
}

/// One file an item consists of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    /// Full path.
    pub path: PathBuf,
    /// Mode the file is created with.
    #[serde(serialize_with = "ser_mode")]
    pub mode: u32,
    /// Whether applying the plan writes this file.
    pub write: bool,
}

/// One CA, certificate or key pair of the certs phase.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    /// kubeadm name (`ca`, `apiserver`, ..., `sa`).
    pub name: String,
    /// What it is.
    pub kind: ItemKind,
    /// What applying does.
    pub action: Action,
    /// Name of the issuing CA (leaves only).
    pub signed_by: Option<String>,
    /// Files (`.crt` before `.key`; `sa.key` before `sa.pub`).
    pub files: Vec<PlannedFile>,
    /// The certificate's subject, SANs, usages and validity (not for `sa`).
    pub spec: Option<CertSpec>,
}

/// The plan of the certs phase: what happens to each file. Print it with `Display` (for
/// `--dry-run`) or serialize it to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The certificate directory.
    pub cert_dir: PathBuf,
    /// Algorithm of newly generated keys.
    pub encryption_algorithm: EncryptionAlgorithm,
    /// Items in kubeadm's order (CAs before their leaves, `sa` last).
    pub items: Vec<PlanItem>,
    /// Warnings (dropped SANs, certificates outside their validity period, ...).
    pub warnings: Vec<String>,
}

/// What [`Plan::apply`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// Files written, in write order.
    pub written: Vec<PathBuf>,
    /// Items reused or validated without writing.
    pub kept: Vec<String>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "[certs] certificate directory {} ({})",
            self.cert_dir.display(),
            self.encryption_algorithm
        )?;
        for it in &self.items {
            let signer = it
                .signed_by
                .as_deref()
                .map(|s| format!(", signed by {s}"))
                .unwrap_or_default();
            writeln!(
                f,
                "[certs] {:<28} {}{}",
                it.name,
                it.action.as_str(),
                signer
            )?;
            for file in &it.files {
                writeln!(
                    f,
                    "          {} {:04o} {}",
                    if file.write { "write" } else { "keep " },
                    file.mode,
                    file.path.display()
                )?;
            }
            if let (Some(spec), true) = (&it.spec, it.action == Action::Generate) {
                let t = &spec.template;
                if !t.is_ca && (!t.dns_names.is_empty() || !t.ips.is_empty()) {
                    let ips: Vec<String> = t.ips.iter().map(|i| i.to_string()).collect();
                    writeln!(
                        f,
                        "          serving certificate is signed for DNS names {:?} and IPs {:?}",
                        t.dns_names, ips
                    )?;
                }
            }
        }
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        Ok(())
    }
}

fn crt_path(dir: &Path, base: &str) -> PathBuf {
    dir.join(format!("{base}.crt"))
}

fn key_path(dir: &Path, base: &str) -> PathBuf {
    dir.join(format!("{base}.key"))
}

pub(crate) fn read_key(path: &Path) -> Result<PrivateKey> {
    let data = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
    PrivateKey::from_pem(&data, path)
}

pub(crate) fn validity_warning(
    cert: &Certificate,
    path: &Path,
    now: OffsetDateTime,
) -> Option<String> {
    if now < cert.not_before {
        Some(format!(
            "[certs] WARNING: {} is not valid yet (NotBefore {})",
            path.display(),
            cert.not_before
        ))
    } else if now > cert.not_after {
        Some(format!(
            "[certs] WARNING: {} has expired (NotAfter {})",
            path.display(),
            cert.not_after
        ))
    } else {
        None
    }
}

/// State of one CA after inspection.
#[derive(Clone)]
struct CaState {
    action: Action,
    cert: Option<Certificate>,
    crt: PathBuf,
}

/// Inspects `params.cert_dir` and decides, for each CA, certificate and the `sa` key pair,
/// whether it is generated, reused or validated (kubeadm's rules of spec §3.4). Reads files
/// but writes nothing. Errors name the offending file.
pub fn plan(params: &PkiParams) -> Result<Plan> {
    let (specs, mut warnings) = cert_specs(params)?;
    let dir = &params.cert_dir;
    let now = OffsetDateTime::now_utc();
    let mut cas: HashMap<CaKind, CaState> = HashMap::new();
    let mut items = Vec::new();

    for spec in specs {
        let crt = crt_path(dir, spec.info.base_name);
        let keyp = key_path(dir, spec.info.base_name);
        let crt_exists = exists(&crt);
        let key_exists = exists(&keyp);
        let (action, crt_write, key_write, signed_by) = match spec.info.ca {
            None => {
                let ca = CaKind::from_name(spec.info.name).unwrap_or(CaKind::Ca);
                let (action, cert) = if crt_exists {
                    let cert = Certificate::read_chain(&crt)?.remove(0);
                    if !cert.is_ca {
                        return Err(PkiError::file(&crt, "certificate is not a CA"));
                    }
                    warnings.extend(validity_warning(&cert, &crt, now));
                    if key_exists {
                        let key = read_key(&keyp)?;
                        if key.public_key_der() != cert.spki.as_slice() {
                            return Err(PkiError::file(
                                &keyp,
                                format!(
                                    "private key does not match the certificate {}",
                                    crt.display()
                                ),
                            ));
                        }
                        (Action::Reuse, Some(cert))
                    } else {
                        (Action::External, Some(cert))
                    }
                } else if key_exists {
                    read_key(&keyp)?;
                    (Action::CertificateForExistingKey, None)
                } else {
                    (Action::Generate, None)
                };
                cas.insert(
                    ca,
                    CaState {
                        action,
                        cert,
                        crt: crt.clone(),
                    },
                );
                let w = matches!(action, Action::Generate | Action::CertificateForExistingKey);
                (action, w, action == Action::Generate, None)
            }
            Some(ca) => {
                let state = cas.get(&ca).cloned().ok_or_else(|| {
                    PkiError::Crypto(format!(
                        "CA {} not planned before {}",
                        ca.name(),
                        spec.info.name
                    ))
                })?;
                let action = plan_leaf(
                    &spec,
                    &state,
                    &crt,
                    &keyp,
                    crt_exists,
                    key_exists,
                    now,
                    &mut warnings,
                )?;
                let w = matches!(action, Action::Generate | Action::CertificateForExistingKey);
                (
                    action,
                    w,
                    action == Action::Generate,
                    Some(ca.name().to_string()),
                )
            }
        };
        items.push(PlanItem {
            name: spec.info.name.to_string(),
            kind: if spec.info.ca.is_none() {
                ItemKind::Ca
            } else {
                ItemKind::Leaf
            },
            action,
            signed_by,
            files: vec![
                PlannedFile {
                    path: crt,
                    mode: CERT_MODE,
                    write: crt_write,
                },
                PlannedFile {
                    path: keyp,
                    mode: KEY_MODE,
                    write: key_write,
                },
            ],
            spec: Some(spec),
        });
    }

    // Service-account key pair.
    let sa_key = dir.join("sa.key");
    let sa_pub = dir.join("sa.pub");
    let sa_action = if exists(&sa_key) {
        read_key(&sa_key)?;
        if exists(&sa_pub) {
            Action::Reuse
        } else {
            Action::PublicKeyFromExistingKey
        }
    } else {
        Action::Generate
    };
    items.push(PlanItem {
        name: "sa".into(),
        kind: ItemKind::ServiceAccountKey,
        action: sa_action,
        signed_by: None,
        files: vec![
            PlannedFile {
                path: sa_key,
                mode: KEY_MODE,
                write: sa_action == Action::Generate,
            },
            PlannedFile {
                path: sa_pub,
                mode: KEY_MODE,
                write: sa_action != Action::Reuse,
            },
        ],
        spec: None,
    });

    Ok(Plan {
        cert_dir: dir.clone(),
        encryption_algorithm: params.encryption_algorithm,
        items,
        warnings,
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_leaf(
    spec: &CertSpec,
    ca: &CaState,
    crt: &Path,
    keyp: &Path,
    crt_exists: bool,
    key_exists: bool,
    now: OffsetDateTime,
    warnings: &mut Vec<String>,
) -> Result<Action> {
    let external = ca.action == Action::External;
    if external && !crt_exists {
        return Err(PkiError::file(
            crt,
            format!(
                "missing: the CA {} has no private key (external CA mode), so this certificate must be provided",
                ca.crt.display()
            ),
        ));
    }
    if !crt_exists && !key_exists {
        return Ok(Action::Generate);
    }
    if !key_exists {
        return Err(PkiError::file(
            keyp,
            format!(
                "missing private key for the existing certificate {}",
                crt.display()
            ),
        ));
    }
    let key = read_key(keyp)?;
    if !crt_exists {
        return Ok(Action::CertificateForExistingKey);
    }
    let chain = Certificate::read_chain(crt)?;
    let Some(ca_cert) = ca.cert.as_ref() else {
        return Err(PkiError::file(
            crt,
            format!("exists but its CA {} does not, so it cannot be signed by the CA that is about to be created", ca.crt.display()),
        ));
    };
    if !verify_chain(&chain, ca_cert) {
        return Err(PkiError::file(
            crt,
            format!(
                "certificate is not signed by corresponding CA {}",
                ca.crt.display()
            ),
        ));
    }
    if key.public_key_der() != chain[0].spki.as_slice() {
        return Err(PkiError::file(
            keyp,
            format!(
                "private key does not match the certificate {}",
                crt.display()
            ),
        ));
    }
    warnings.extend(validity_warning(&chain[0], crt, now));
    if !external {
        let t = &spec.template;
        let expected = t
            .dns_names
            .iter()
            .cloned()
            .chain(t.ips.iter().map(|i| i.to_string()));
        for san in expected {
            if !chain[0].verify_hostname(&san) {
                return Err(PkiError::file(
                    crt,
                    format!(
                        "certificate is invalid for {san}: it lacks this expected SAN (DNS {:?}, IP {:?}); remove the certificate and key to regenerate them",
                        chain[0].dns_names,
                        chain[0].ips.iter().map(|i| i.to_string()).collect::<Vec<_>>()
                    ),
                ));
            }
        }
    }
    Ok(Action::Reuse)
}

impl Plan {
    /// Items that write something.
    pub fn changes(&self) -> impl Iterator<Item = &PlanItem> {
        self.items
            .iter()
            .filter(|i| i.files.iter().any(|f| f.write))
    }

    /// Writes what the plan says: generates all new keys in parallel, issues certificates
    /// (CAs first), and writes every file atomically (key before certificate, `sa.key`
    /// before `sa.pub`). Idempotent: a second plan+apply on the result writes nothing.
    pub fn apply(&self) -> Result<ApplyReport> {
        self.apply_with(&mut |_| {})
    }

    /// [`Plan::apply`], calling `after_item` once each item's files are written (progress, and
    /// crash-granularity for the runner). Keys are still generated in parallel up front.
    pub fn apply_with(&self, after_item: &mut dyn FnMut(&PlanItem)) -> Result<ApplyReport> {
        let n_new = self
            .items
            .iter()
            .filter(|i| i.action == Action::Generate)
            .count();
        let mut new_keys = generate_keys(self.encryption_algorithm, n_new)?.into_iter();
        let mut report = ApplyReport::default();
        let mut signers: HashMap<String, (Certificate, PrivateKey)> = HashMap::new();

        for it in &self.items {
            let path0 = &it.files[0].path;
            let path1 = &it.files[1].path;
            match it.kind {
                ItemKind::ServiceAccountKey => match it.action {
                    Action::Generate => {
                        let key = next_key(&mut new_keys)?;
                        write_atomic(path0, key.to_pem()?.as_bytes(), KEY_MODE, DIR_MODE)?;
                        write_atomic(path1, key.public_key_pem().as_bytes(), KEY_MODE, DIR_MODE)?;
                        report.written.extend([path0.clone(), path1.clone()]);
                    }
                    Action::PublicKeyFromExistingKey => {
                        let key = read_key(path0)?;
                        write_atomic(path1, key.public_key_pem().as_bytes(), KEY_MODE, DIR_MODE)?;
                        report.written.push(path1.clone());
                    }
                    _ => report.kept.push(it.name.clone()),
                },
                ItemKind::Ca | ItemKind::Leaf => {
                    let (crt, keyp) = (path0, path1);
                    let spec = it
                        .spec
                        .as_ref()
                        .ok_or_else(|| PkiError::Crypto(format!("{}: no spec", it.name)))?;
                    let key = match it.action {
                        Action::Generate => {
                            let key = next_key(&mut new_keys)?;
                            write_atomic(keyp, key.to_pem()?.as_bytes(), KEY_MODE, DIR_MODE)?;
                            report.written.push(keyp.clone());
                            Some(key)
                        }
                        Action::CertificateForExistingKey => Some(read_key(keyp)?),
                        _ => None,
                    };
                    if let Some(key) = key {
                        let der = match it.kind {
                            ItemKind::Ca => create_certificate(
                                &spec.template,
                                key.public_key_der(),
                                Issuer::SelfSigned(&key),
                            )?,
                            _ => {
                                let ca_name = it.signed_by.as_deref().unwrap_or("ca");
                                let (ca_cert, ca_key) = signer_for(&mut signers, self, ca_name)?;
                                create_certificate(
                                    &spec.template,
                                    key.public_key_der(),
                                    Issuer::Ca {
                                        cert: ca_cert,
                                        key: ca_key,
                                    },
                                )?
                            }
                        };
                        let cert = Certificate::from_der(&der).map_err(PkiError::Crypto)?;
                        write_atomic(crt, cert.to_pem().as_bytes(), CERT_MODE, DIR_MODE)?;
                        report.written.push(crt.clone());
                        if it.kind == ItemKind::Ca {
                            signers.insert(it.name.clone(), (cert, key));
                        }
                    } else {
                        report.kept.push(it.name.clone());
                    }
                }
            }
            after_item(it);
        }
        Ok(report)
    }
}

fn next_key(keys: &mut impl Iterator<Item = PrivateKey>) -> Result<PrivateKey> {
    keys.next()
        .ok_or_else(|| PkiError::Crypto("internal error: too few generated keys".into()))
}

/// The CA certificate and key to sign with: freshly generated in this run, or loaded from disk.
fn signer_for<'a>(
    signers: &'a mut HashMap<String, (Certificate, PrivateKey)>,
    plan: &Plan,
    ca_name: &str,
) -> Result<(&'a Certificate, &'a PrivateKey)> {
    if !signers.contains_key(ca_name) {
        let ca = plan
            .items
            .iter()
            .find(|i| i.name == ca_name)
            .ok_or_else(|| PkiError::Crypto(format!("CA {ca_name} is not part of the plan")))?;
        let cert = Certificate::read_chain(&ca.files[0].path)?.remove(0);
        let key = read_key(&ca.files[1].path)?;
        signers.insert(ca_name.to_string(), (cert, key));
    }
    let (c, k) = &signers[ca_name];
    Ok((c, k))
}

/// Installs a CA certificate and key provided in advance (e.g. from user-data) into
/// `cert_dir` before the certs phase runs, so that phase reuses them to sign everything.
/// Checks that the certificate is a CA and that the key matches it. Existing identical
/// files are left alone; different existing files are an error naming the file.
pub fn install_ca(
    cert_dir: &Path,
    ca: CaKind,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Vec<PathBuf>> {
    let crt = crt_path(cert_dir, ca.base_name());
    let keyp = key_path(cert_dir, ca.base_name());
    let cert = Certificate::parse_pem_chain(cert_pem, &crt)?.remove(0);
    if !cert.is_ca {
        return Err(PkiError::file(&crt, "provided certificate is not a CA"));
    }
    let key = PrivateKey::from_pem(key_pem, &keyp)?;
    if key.public_key_der() != cert.spki.as_slice() {
        return Err(PkiError::file(
            &keyp,
            "provided private key does not match the provided CA certificate",
        ));
    }
    let mut written = Vec::new();
    for (path, data, mode) in [(&keyp, key_pem, KEY_MODE), (&crt, cert_pem, CERT_MODE)] {
        match read_optional(path)? {
            Some(existing) if existing == data => {}
            Some(_) => {
                return Err(PkiError::file(
                    path,
                    "exists with different content than the provided CA",
                ))
            }
            None => {
                write_atomic(path, data, mode, DIR_MODE)?;
                written.push(path.clone());
            }
        }
    }
    Ok(written)
}
