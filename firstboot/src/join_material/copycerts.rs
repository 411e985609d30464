//! Certificate sharing for control-plane join (spec §9, §19.4): the certificate key, the
//! AES-256-GCM encryption of `kubeadm-certs` values, the list of shared files, building the
//! `kube-system/kubeadm-certs` Secret and extracting it on a joining control-plane node.
//!
//! Neither the certificate key nor certificate or key material appears in `Debug` output or
//! error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;

use crate::pki::{CERT_MODE, KEY_MODE};

/// Name of the Secret.
pub const CERTS_SECRET_NAME: &str = "kubeadm-certs";
/// Namespace of the Secret.
pub const CERTS_SECRET_NAMESPACE: &str = "kube-system";
/// Description of the bootstrap token whose lifetime bounds the Secret's (spec §9).
pub const CERTS_TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
/// Lifetime of that token (2 h).
pub const CERTS_TOKEN_TTL: crate::config::GoDuration =
    crate::config::GoDuration::from_secs(2 * 3600);
/// Length of the AES-GCM nonce prefixed to every value.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag appended to every value.
pub const TAG_LEN: usize = 16;

/// Errors of certificate sharing. They name Secret entries and files, never key material.
#[derive(Debug, thiserror::Error)]
pub enum CopyCertsError {
    /// The certificate key is not 64 hex characters.
    #[error("invalid certificate key ({len} characters): it must be 64 hexadecimal characters (a 32-byte AES key)")]
    InvalidKey {
        /// Length of the rejected string (the string itself is a secret).
        len: usize,
    },
    /// The system random number generator failed.
    #[error("cannot generate random data: the system random number generator failed")]
    Random,
    /// Encryption failed.
    #[error("cannot encrypt data for the kubeadm-certs Secret")]
    Encrypt,
    /// A value could not be decrypted (wrong key, tampered or truncated data).
    #[error("cannot decrypt data: wrong certificate key, or the data is corrupted")]
    Decrypt,
    /// A `kubeadm-certs` entry could not be decrypted.
    #[error("cannot decrypt entry {entry:?} of the kubeadm-certs Secret: wrong certificate key, or the data is corrupted")]
    DecryptEntry {
        /// Secret data key.
        entry: String,
    },
    /// Reading a file to share failed (other than "not found").
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An entry this node needs is not in the Secret.
    #[error("the kubeadm-certs Secret does not include the required certificate or key {entry:?} (for {path})")]
    MissingEntry {
        /// Secret data key.
        entry: String,
        /// Where it would be written.
        path: PathBuf,
    },
    /// A decrypted entry is neither a private key nor a certificate/public key.
    #[error("unknown data found in Secret entry {entry:?}")]
    UnknownData {
        /// Secret data key.
        entry: String,
    },
    /// An entry must be written but its target path is empty (external etcd file not set).
    #[error("entry {entry:?} of the kubeadm-certs Secret has no target path in the configuration")]
    NoTarget {
        /// Secret data key.
        entry: String,
    },
}

/// The 32-byte AES-256 key protecting `kubeadm-certs` (`certificateKey`, 64 hex characters).
/// `Debug` is redacted; [`CertificateKey::expose_hex`] gives the string to print.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateKey([u8; 32]);

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateKey(<redacted>)")
    }
}

impl CertificateKey {
    /// A new random key from the system CSPRNG.
    pub fn generate() -> Result<Self, CopyCertsError> {
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).map_err(|_| CopyCertsError::Random)?;
        Ok(CertificateKey(k))
    }

    /// Parses the hex string (case-insensitive); it must decode to exactly 32 bytes.
    pub fn parse(hex_key: &str) -> Result<Self, CopyCertsError> {
        let bad = || CopyCertsError::InvalidKey { len: hex_key.len() };
        let bytes = hex::decode(hex_key).map_err(|_| bad())?;
        let k: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(CertificateKey(k))
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CertificateKey(bytes)
    }

    /// The key as 64 lowercase hex characters (what `--certificate-key` takes). Never log it.
    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

/// Encrypts with a given nonce: `nonce ‖ ciphertext ‖ tag`. Only for test vectors; real
/// callers use [`encrypt`], which draws a fresh nonce.
pub(crate) fn encrypt_with_nonce(
    key: &CertificateKey,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, CopyCertsError> {
    let ct = key
        .cipher()
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .map_err(|_| CopyCertsError::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Encrypts like kubeadm's `EncryptBytes`: AES-256-GCM, fresh random 12-byte nonce, no
/// associated data; returns `nonce ‖ ciphertext ‖ 16-byte tag`.
pub fn encrypt(key: &CertificateKey, plaintext: &[u8]) -> Result<Vec<u8>, CopyCertsError> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CopyCertsError::Random)?;
    encrypt_with_nonce(key, &nonce, plaintext)
}

/// Decrypts `nonce ‖ ciphertext ‖ tag` (the inverse of [`encrypt`]); fails on a wrong key and
/// on any modification.
pub fn decrypt(key: &CertificateKey, data: &[u8]) -> Result<Vec<u8>, CopyCertsError> {
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(CopyCertsError::Decrypt);
    }
    let (nonce, ct) = data.split_at(NONCE_LEN);
    key.cipher()
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| CopyCertsError::Decrypt)
}

/// Where etcd's shared files come from (the joining node's view decides what it expects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdFiles {
    /// Stacked etcd: `<pki>/etcd/ca.crt` and `<pki>/etcd/ca.key` are shared.
    Local,
    /// External etcd: `etcd.external.caFile/certFile/keyFile` (already joined with the root
    /// directory by the caller; an empty path means "not configured").
    External {
        /// `caFile`.
        ca_file: PathBuf,
        /// `certFile`.
        cert_file: PathBuf,
        /// `keyFile`.
        key_file: PathBuf,
    },
}

/// One shared file: its Secret data key and its path on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// Secret data key (`ca.crt`, `etcd-ca.key`, `external-etcd.crt`, ...).
    pub secret_key: String,
    /// Path of the file (source on upload, target on download).
    pub path: PathBuf,
}

/// The files kubeadm shares (spec §9): `ca.*`, `front-proxy-ca.*`, `sa.*` under `pki_dir`,
/// plus `etcd/ca.*` (local etcd) or the three external etcd files. Secret key = name relative
/// to `pki_dir` with `/` replaced by `-`.
pub fn shared_files(pki_dir: &Path, etcd: &EtcdFiles) -> Vec<SharedFile> {
    let mut names = vec![
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.pub",
        "sa.key",
    ];
    if *etcd == EtcdFiles::Local {
        names.extend(["etcd/ca.crt", "etcd/ca.key"]);
    }
    let mut out: Vec<SharedFile> = names
        .into_iter()
        .map(|n| SharedFile {
            secret_key: n.replace('/', "-"),
            path: pki_dir.join(n),
        })
        .collect();
    if let EtcdFiles::External {
        ca_file,
        cert_file,
        key_file,
    } = etcd
    {
        for (k, p) in [
            ("external-etcd-ca.crt", ca_file),
            ("external-etcd.crt", cert_file),
            ("external-etcd.key", key_file),
        ] {
            out.push(SharedFile {
                secret_key: k.to_string(),
                path: p.clone(),
            });
        }
    }
    out
}

/// Reads the shared files for upload: `Some(content)` per file, `None` for a missing file (or
/// an empty configured path); any other read error aborts, naming the file.
pub fn read_shared_files(
    files: &[SharedFile],
) -> Result<BTreeMap<String, Option<Vec<u8>>>, CopyCertsError> {
    let mut out = BTreeMap::new();
    for f in files {
        let content = if f.path.as_os_str().is_empty() {
            None
        } else {
            match std::fs::read(&f.path) {
                Ok(c) => Some(c),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(CopyCertsError::Io {
                        path: f.path.clone(),
                        source,
                    })
                }
            }
        };
        out.insert(f.secret_key.clone(), content);
    }
    Ok(out)
}

/// The owner reference tying `kubeadm-certs` to its TTL token Secret
/// (`{apiVersion: v1, kind: Secret, name, uid, controller: true, blockOwnerDeletion: true}`).
pub fn owner_reference(token_secret_name: &str, token_secret_uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_string(),
        kind: "Secret".to_string(),
        name: token_secret_name.to_string(),
        uid: token_secret_uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The `kube-system/kubeadm-certs` Secret (no explicit type, i.e. `Opaque` on the server):
/// every entry of `contents` encrypted with `key` (a missing file, `None`, becomes an empty
/// value), owned by the token Secret `token_secret_name`/`token_secret_uid`.
pub fn build_secret(
    contents: &BTreeMap<String, Option<Vec<u8>>>,
    key: &CertificateKey,
    token_secret_name: &str,
    token_secret_uid: &str,
) -> Result<Secret, CopyCertsError> {
    let mut data = BTreeMap::new();
    for (k, v) in contents {
        let enc = match v {
            Some(plain) => encrypt(key, plain)?,
            None => Vec::new(),
        };
        data.insert(k.clone(), ByteString(enc));
    }
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(CERTS_SECRET_NAME.to_string()),
            namespace: Some(CERTS_SECRET_NAMESPACE.to_string()),
            owner_references: Some(vec![owner_reference(token_secret_name, token_secret_uid)]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    })
}

/// A file to write on the joining node (content is secret: `Debug` omits it).
#[derive(Clone, PartialEq, Eq)]
pub struct ExtractedFile {
    /// Secret data key it came from.
    pub secret_key: String,
    /// Target path.
    pub path: PathBuf,
    /// Decrypted content.
    pub data: Vec<u8>,
    /// File mode: 0600 for private keys, 0644 for certificates and public keys.
    pub mode: u32,
}

impl fmt::Debug for ExtractedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtractedFile")
            .field("secret_key", &self.secret_key)
            .field("path", &self.path)
            .field("len", &self.data.len())
            .field("mode", &format_args!("{:04o}", self.mode))
            .finish()
    }
}

const PRIVATE_KEY_TAGS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];
const PUBLIC_TAGS: [&str; 3] = ["CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY"];

/// kubeadm's write rule: a PEM private key → 0600; else PEM certificates or public keys →
/// 0644; anything else is refused.
fn mode_for(entry: &str, data: &[u8]) -> Result<u32, CopyCertsError> {
    let unknown = || CopyCertsError::UnknownData {
        entry: entry.to_string(),
    };
    let blocks = pem::parse_many(data).map_err(|_| unknown())?;
    if blocks
        .iter()
        .any(|b| PRIVATE_KEY_TAGS.contains(&b.tag()) && !b.contents().is_empty())
    {
        return Ok(KEY_MODE);
    }
    let public: Vec<_> = blocks
        .iter()
        .filter(|b| PUBLIC_TAGS.contains(&b.tag()))
        .collect();
    if public.is_empty() {
        return Err(unknown());
    }
    for b in public {
        let ok = if b.tag() == "CERTIFICATE" {
            x509_parser::parse_x509_certificate(b.contents()).is_ok()
        } else {
            !b.contents().is_empty()
        };
        if !ok {
            return Err(unknown());
        }
    }
    Ok(CERT_MODE)
}

/// Decrypts a `kubeadm-certs` Secret for a joining control-plane node (spec §9, download-certs):
/// every non-empty value is decrypted first (any failure aborts, naming the entry); then each
/// file in `expected` (from [`shared_files`] with the joining node's etcd mode) must have an
/// entry; empty entries are skipped; each value gets its mode from its content (private key
/// 0600, certificate or public key 0644, else an error). Nothing is written here.
pub fn extract(
    secret: &Secret,
    key: &CertificateKey,
    expected: &[SharedFile],
) -> Result<Vec<ExtractedFile>, CopyCertsError> {
    let mut plain: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        let p = if v.0.is_empty() {
            Vec::new()
        } else {
            decrypt(key, &v.0).map_err(|_| CopyCertsError::DecryptEntry { entry: k.clone() })?
        };
        plain.insert(k.as_str(), p);
    }
    let mut out = Vec::new();
    for f in expected {
        let data =
            plain
                .remove(f.secret_key.as_str())
                .ok_or_else(|| CopyCertsError::MissingEntry {
                    entry: f.secret_key.clone(),
                    path: f.path.clone(),
                })?;
        if data.is_empty() {
            continue;
        }
        if f.path.as_os_str().is_empty() {
            return Err(CopyCertsError::NoTarget {
                entry: f.secret_key.clone(),
            });
        }
        let mode = mode_for(&f.secret_key, &data)?;
        out.push(ExtractedFile {
            secret_key: f.secret_key.clone(),
            path: f.path.clone(),
            data,
            mode,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const PLAIN: &[u8] = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    const STORED: &str = "6b75626561646d2d63657274fe845f337b72dc091b29c6bf5e1b188d92085a3b53b0a6f6a6c77b777c9515d414da92204b963cda40039d8facd4cb2f522743c902b50799e83697ccd0d06e8ca5791bcfd5e989ce056906";

    #[test]
    fn spec_vector_encrypts_with_fixed_nonce() {
        let key = CertificateKey::parse(KEY_HEX).unwrap();
        let out = encrypt_with_nonce(&key, b"kubeadm-cert", PLAIN).unwrap();
        assert_eq!(hex::encode(&out), STORED);
        assert_eq!(out.len(), PLAIN.len() + NONCE_LEN + TAG_LEN);
    }

    #[test]
    fn key_parsing() {
        assert!(CertificateKey::parse(&KEY_HEX.to_uppercase()).is_ok());
        assert!(CertificateKey::parse(&KEY_HEX[..62]).is_err());
        assert!(CertificateKey::parse(&format!("{KEY_HEX}00")).is_err());
        assert!(CertificateKey::parse(&KEY_HEX.replace('0', "g")).is_err());
        let k = CertificateKey::generate().unwrap();
        assert_eq!(k.expose_hex().len(), 64);
        assert_ne!(k, CertificateKey::generate().unwrap());
        assert!(!format!("{k:?}").contains(&k.expose_hex()));
    }
}
