//! The shared CA set of a cluster (kubeadm's "shared certificates" of control-plane nodes):
//! `ca`, `front-proxy-ca` and `etcd/ca` key pairs plus the service-account key pair, with the
//! same file names as under `/etc/kubernetes/pki`. Created once, before any machine exists, so
//! the user-data of every node (and the `caCertHashes` of joins) can be rendered in advance.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::UserDataError;
use crate::pki::{
    self, ca_cert_hash, cert_specs, create_certificate, generate_keys, CaKind, Certificate,
    EncryptionAlgorithm, Issuer, PkiError, PkiParams, PrivateKey, CERT_MODE, KEY_MODE,
};

/// Mode of the CA directory (and its `etcd/` subdirectory) that `userdata ca` creates.
pub const CA_DIR_MODE: u32 = 0o700;

/// One file of a CA set.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    /// Path relative to the CA directory / certificates directory (`ca.crt`, `etcd/ca.key`).
    pub rel: String,
    /// File mode: 0644 for certificates, 0600 for keys and `sa.pub` (as kubeadm writes them).
    pub mode: u32,
    /// The file's bytes (PEM).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for CaFile {
    // Never prints the content: keys are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaFile")
            .field("rel", &self.rel)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// A complete, checked CA set read from a directory.
#[derive(Debug, Clone)]
pub struct CaSet {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// Its files, in kubeadm's order (each CA's certificate before its key, `sa` last).
    pub files: Vec<CaFile>,
    /// `sha256:<hex>` pin of `ca.crt`'s public key (the joins' `caCertHashes` value).
    pub ca_cert_hash: String,
}

/// Whether [`create_ca_set`] wrote a new set or found a complete one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaSetOutcome {
    /// A new set was generated and written.
    Created,
    /// The directory already held a complete, valid set; nothing was written.
    Kept,
}

/// The CAs of a set: all three with stacked (local) etcd, without `etcd/ca` otherwise.
fn cas(local_etcd: bool) -> impl Iterator<Item = CaKind> {
    CaKind::ALL
        .into_iter()
        .filter(move |c| local_etcd || *c != CaKind::EtcdCa)
}

/// Relative file names and modes of a set, in order.
pub fn ca_set_files(local_etcd: bool) -> Vec<(String, u32)> {
    let mut v = Vec::new();
    for ca in cas(local_etcd) {
        v.push((format!("{}.crt", ca.base_name()), CERT_MODE));
        v.push((format!("{}.key", ca.base_name()), KEY_MODE));
    }
    v.push(("sa.key".into(), KEY_MODE));
    v.push(("sa.pub".into(), KEY_MODE));
    v
}

fn ca_dir_error(path: &Path, e: PkiError) -> UserDataError {
    match e {
        PkiError::InvalidFile { path, message } => UserDataError::CaDir { path, message },
        PkiError::Io { path, source } => UserDataError::CaDir {
            path,
            message: source.to_string(),
        },
        other => UserDataError::CaDir {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

fn read_file(dir: &Path, rel: &str) -> Result<(PathBuf, Vec<u8>), UserDataError> {
    let path = dir.join(rel);
    match std::fs::read(&path) {
        Ok(b) => Ok((path, b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(UserDataError::CaDir {
            path,
            message: "missing: a CA directory holds ca, front-proxy-ca and etcd/ca key pairs and sa.key/sa.pub (`firstboot userdata ca --out DIR` creates one)".into(),
        }),
        Err(e) => Err(UserDataError::CaDir {
            path,
            message: e.to_string(),
        }),
    }
}

/// Reads the CA set in `dir` and checks it: every CA certificate is a CA within its validity
/// period and matches its key; `sa.pub` is `sa.key`'s public key. Without local etcd the
/// `etcd/ca` pair is not part of the set (and not read). Errors name the file.
pub fn read_ca_set(dir: &Path, local_etcd: bool) -> Result<CaSet, UserDataError> {
    let now = OffsetDateTime::now_utc();
    let mut files = Vec::new();
    let mut hash = String::new();
    for ca in cas(local_etcd) {
        let (crt_path, crt) = read_file(dir, &format!("{}.crt", ca.base_name()))?;
        let (key_path, key) = read_file(dir, &format!("{}.key", ca.base_name()))?;
        let cert = Certificate::parse_pem_chain(&crt, &crt_path)
            .map_err(|e| ca_dir_error(&crt_path, e))?
            .remove(0);
        let bad = |message: String| UserDataError::CaDir {
            path: crt_path.clone(),
            message,
        };
        if !cert.is_ca {
            return Err(bad("not a CA certificate".into()));
        }
        if cert.not_after <= now {
            return Err(bad(format!("the CA expired on {}", cert.not_after)));
        }
        if cert.not_before > now {
            return Err(bad(format!(
                "the CA is not valid before {}",
                cert.not_before
            )));
        }
        let k = PrivateKey::from_pem(&key, &key_path).map_err(|e| ca_dir_error(&key_path, e))?;
        if k.public_key_der() != cert.spki.as_slice() {
            return Err(UserDataError::CaDir {
                path: key_path,
                message: format!("does not match the certificate {}", crt_path.display()),
            });
        }
        if ca == CaKind::Ca {
            hash = ca_cert_hash(&cert);
        }
        files.push(CaFile {
            rel: format!("{}.crt", ca.base_name()),
            mode: CERT_MODE,
            data: crt,
        });
        files.push(CaFile {
            rel: format!("{}.key", ca.base_name()),
            mode: KEY_MODE,
            data: key,
        });
    }
    let (sa_key_path, sa_key) = read_file(dir, "sa.key")?;
    let (sa_pub_path, sa_pub) = read_file(dir, "sa.pub")?;
    let k =
        PrivateKey::from_pem(&sa_key, &sa_key_path).map_err(|e| ca_dir_error(&sa_key_path, e))?;
    let pub_der = pem::parse(&sa_pub)
        .ok()
        .filter(|p| p.tag() == "PUBLIC KEY")
        .map(|p| p.into_contents())
        .ok_or_else(|| UserDataError::CaDir {
            path: sa_pub_path.clone(),
            message: "not a PEM \"PUBLIC KEY\"".into(),
        })?;
    if pub_der != k.public_key_der() {
        return Err(UserDataError::CaDir {
            path: sa_pub_path,
            message: format!("is not the public key of {}", sa_key_path.display()),
        });
    }
    files.push(CaFile {
        rel: "sa.key".into(),
        mode: KEY_MODE,
        data: sa_key,
    });
    files.push(CaFile {
        rel: "sa.pub".into(),
        mode: KEY_MODE,
        data: sa_pub,
    });
    Ok(CaSet {
        dir: dir.to_path_buf(),
        files,
        ca_cert_hash: hash,
    })
}

/// Generates a new set in memory (all three CAs and `sa`), with kubeadm's CA certificates
/// (same subjects, extensions and validity as the certs phase) and keys of `alg`.
pub fn generate_ca_set(alg: EncryptionAlgorithm) -> Result<Vec<CaFile>, PkiError> {
    // Node name and address do not appear in CA certificates.
    let mut params = PkiParams::new("/", "node", [192, 0, 2, 1].into());
    params.encryption_algorithm = alg;
    params.local_etcd = true;
    let (specs, _) = cert_specs(&params)?;
    let ca_specs: Vec<_> = specs.into_iter().filter(|s| s.info.ca.is_none()).collect();
    let mut keys = generate_keys(alg, ca_specs.len() + 1)?.into_iter();
    let mut files = Vec::new();
    for spec in &ca_specs {
        let key = keys
            .next()
            .ok_or_else(|| PkiError::Crypto("too few generated keys".into()))?;
        let der = create_certificate(
            &spec.template,
            key.public_key_der(),
            Issuer::SelfSigned(&key),
        )?;
        let cert = Certificate::from_der(&der).map_err(PkiError::Crypto)?;
        files.push(CaFile {
            rel: format!("{}.crt", spec.info.base_name),
            mode: CERT_MODE,
            data: cert.to_pem().into_bytes(),
        });
        files.push(CaFile {
            rel: format!("{}.key", spec.info.base_name),
            mode: KEY_MODE,
            data: key.to_pem()?.into_bytes(),
        });
    }
    let sa = keys
        .next()
        .ok_or_else(|| PkiError::Crypto("too few generated keys".into()))?;
    files.push(CaFile {
        rel: "sa.key".into(),
        mode: KEY_MODE,
        data: sa.to_pem()?.into_bytes(),
    });
    files.push(CaFile {
        rel: "sa.pub".into(),
        mode: KEY_MODE,
        data: sa.public_key_pem().into_bytes(),
    });
    Ok(files)
}

/// Creates a CA set in `dir` (mode 0700; keys 0600, certificates 0644), or keeps the complete,
/// valid set already there. The set is written into a temporary sibling directory and renamed
/// into place, so `dir` never holds half a set. A non-empty `dir` that is not a complete,
/// valid set is refused (nothing is overwritten).
pub fn create_ca_set(
    dir: &Path,
    alg: EncryptionAlgorithm,
) -> Result<(CaSet, CaSetOutcome), UserDataError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(UserDataError::Input(format!(
                "{}: exists and is not a directory",
                dir.display()
            )))
        }
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .map_err(|e| UserDataError::io(dir, e))?
                .next()
                .is_none();
            if !empty {
                return match read_ca_set(dir, true) {
                    Ok(set) => Ok((set, CaSetOutcome::Kept)),
                    Err(e) => Err(UserDataError::Input(format!(
                        "refusing to write into {}: it is not empty and not a complete, valid CA set ({e}); remove it or choose another directory",
                        dir.display()
                    ))),
                };
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(UserDataError::io(dir, e)),
    }
    let files = generate_ca_set(alg)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| UserDataError::io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".kubebake-ca-")
        .tempdir_in(&parent)
        .map_err(|e| UserDataError::io(&parent, e))?;
    for f in &files {
        pki::write_atomic(&tmp.path().join(&f.rel), &f.data, f.mode, CA_DIR_MODE)?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(CA_DIR_MODE))
            .map_err(|e| UserDataError::io(tmp.path(), e))?;
    }
    // rename(2) replaces a missing or empty directory atomically.
    std::fs::rename(tmp.path(), dir).map_err(|e| UserDataError::io(dir, e))?;
    let _ = tmp.keep();
    tracing::info!(dir = %dir.display(), algorithm = %alg, "created CA set");
    Ok((read_ca_set(dir, true)?, CaSetOutcome::Created))
}
