//! Private keys: generation (RSA-2048/3072/4096, ECDSA P-256/P-384, in parallel), kubeadm's PEM
//! encodings (`RSA PRIVATE KEY` PKCS#1, `EC PRIVATE KEY` SEC1), loading PKCS#1/SEC1/PKCS#8,
//! and signing.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde::Serialize;

use super::error::{PkiError, Result};
use super::x509::encode_pem;

/// `ClusterConfiguration.encryptionAlgorithm`: the key type of every key kubeadm creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum EncryptionAlgorithm {
    /// `RSA-2048` (kubeadm's default, also when the field is empty).
    #[default]
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    /// `RSA-3072`.
    #[serde(rename = "RSA-3072")]
    Rsa3072,
    /// `RSA-4096`.
    #[serde(rename = "RSA-4096")]
    Rsa4096,
    /// `ECDSA-P256`.
    #[serde(rename = "ECDSA-P256")]
    EcdsaP256,
    /// `ECDSA-P384`.
    #[serde(rename = "ECDSA-P384")]
    EcdsaP384,
}

impl EncryptionAlgorithm {
    /// All supported values.
    pub const ALL: [EncryptionAlgorithm; 5] = [
        EncryptionAlgorithm::Rsa2048,
        EncryptionAlgorithm::Rsa3072,
        EncryptionAlgorithm::Rsa4096,
        EncryptionAlgorithm::EcdsaP256,
        EncryptionAlgorithm::EcdsaP384,
    ];

    /// kubeadm's spelling (`RSA-2048`, `ECDSA-P256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EncryptionAlgorithm::Rsa2048 => "RSA-2048",
            EncryptionAlgorithm::Rsa3072 => "RSA-3072",
            EncryptionAlgorithm::Rsa4096 => "RSA-4096",
            EncryptionAlgorithm::EcdsaP256 => "ECDSA-P256",
            EncryptionAlgorithm::EcdsaP384 => "ECDSA-P384",
        }
    }
}

impl fmt::Display for EncryptionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EncryptionAlgorithm {
    type Err = PkiError;

    /// Parses kubeadm's spelling; the empty string means the default `RSA-2048`.
    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Ok(EncryptionAlgorithm::Rsa2048);
        }
        EncryptionAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                PkiError::input(
                    "encryptionAlgorithm",
                    s,
                    "must be one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384",
                )
            })
    }
}

/// The type and size of a key, as found in a key file or certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyType {
    /// RSA with this modulus size in bits.
    Rsa(usize),
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa(bits) => write!(f, "RSA-{bits}"),
            KeyType::EcdsaP256 => f.write_str("ECDSA-P256"),
            KeyType::EcdsaP384 => f.write_str("ECDSA-P384"),
        }
    }
}

enum Inner {
    Rsa(signature::RsaKeyPair),
    Ecdsa(EcdsaKeyPair, KeyType),
}

/// A private key usable to sign certificates and CSRs. `Debug` never prints key material.
pub struct PrivateKey {
    inner: Inner,
    spki: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.key_type())
    }
}

const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];

fn crypto(what: &str) -> impl Fn(aws_lc_rs::error::Unspecified) -> PkiError + '_ {
    move |_| PkiError::Crypto(format!("{what} failed"))
}

impl PrivateKey {
    /// Generates a new key of the given algorithm.
    pub fn generate(alg: EncryptionAlgorithm) -> Result<Self> {
        let inner = match alg {
            EncryptionAlgorithm::Rsa2048
            | EncryptionAlgorithm::Rsa3072
            | EncryptionAlgorithm::Rsa4096 => {
                let size = match alg {
                    EncryptionAlgorithm::Rsa2048 => KeySize::Rsa2048,
                    EncryptionAlgorithm::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                Inner::Rsa(
                    signature::RsaKeyPair::generate(size).map_err(crypto("RSA key generation"))?,
                )
            }
            EncryptionAlgorithm::EcdsaP256 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(crypto("ECDSA key generation"))?,
                KeyType::EcdsaP256,
            ),
            EncryptionAlgorithm::EcdsaP384 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
                    .map_err(crypto("ECDSA key generation"))?,
                KeyType::EcdsaP384,
            ),
        };
        Self::from_inner(inner)
    }

    fn from_inner(inner: Inner) -> Result<Self> {
        let spki: PublicKeyX509Der<'static> = match &inner {
            Inner::Rsa(k) => k.public_key().as_der(),
            Inner::Ecdsa(k, _) => k.public_key().as_der(),
        }
        .map_err(crypto("public key encoding"))?;
        Ok(PrivateKey {
            inner,
            spki: spki.as_ref().to_vec(),
        })
    }

    /// Loads the first private key of a PEM file (`RSA PRIVATE KEY`, `EC PRIVATE KEY` or
    /// `PRIVATE KEY`; other blocks such as `EC PARAMETERS` are skipped). Only RSA and ECDSA
    /// (P-256, P-384) keys are accepted. Errors name `path`.
    pub fn from_pem(data: &[u8], path: &std::path::Path) -> Result<Self> {
        let blocks = pem::parse_many(data)
            .map_err(|e| PkiError::file(path, format!("not valid PEM: {e}")))?;
        let bad = |m: &str| PkiError::file(path, m.to_string());
        for b in &blocks {
            let inner = match b.tag() {
                "RSA PRIVATE KEY" => Inner::Rsa(
                    signature::RsaKeyPair::from_der(b.contents())
                        .map_err(|e| bad(&format!("invalid RSA private key: {e}")))?,
                ),
                "EC PRIVATE KEY" => {
                    let curve = sec1_curve(b.contents()).ok_or_else(|| {
                        bad("EC private key without a supported named curve (P-256, P-384)")
                    })?;
                    let (alg, kt) = ec_alg(&curve).ok_or_else(|| bad("unsupported EC curve"))?;
                    Inner::Ecdsa(
                        EcdsaKeyPair::from_private_key_der(alg, b.contents())
                            .map_err(|e| bad(&format!("invalid EC private key: {e}")))?,
                        kt,
                    )
                }
                "PRIVATE KEY" => {
                    let (alg_oid, param) = pkcs8_algorithm(b.contents())
                        .ok_or_else(|| bad("invalid PKCS#8 private key"))?;
                    if alg_oid == OID_RSA_ENCRYPTION {
                        Inner::Rsa(
                            signature::RsaKeyPair::from_pkcs8(b.contents())
                                .map_err(|e| bad(&format!("invalid RSA private key: {e}")))?,
                        )
                    } else if alg_oid == OID_EC_PUBLIC_KEY {
                        let (alg, kt) = param
                            .as_deref()
                            .and_then(ec_alg)
                            .ok_or_else(|| bad("unsupported EC curve (only P-256 and P-384)"))?;
                        Inner::Ecdsa(
                            EcdsaKeyPair::from_pkcs8(alg, b.contents())
                                .map_err(|e| bad(&format!("invalid EC private key: {e}")))?,
                            kt,
                        )
                    } else {
                        return Err(bad(
                            "unsupported private key type (only RSA and ECDSA keys are accepted)",
                        ));
                    }
                }
                _ => continue,
            };
            return Self::from_inner(inner);
        }
        Err(bad("no private key found (expected a PEM block RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)"))
    }

    /// The key type and size.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            Inner::Rsa(k) => KeyType::Rsa(k.public_modulus_len() * 8),
            Inner::Ecdsa(_, kt) => *kt,
        }
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public key as PEM `PUBLIC KEY` (PKIX), as kubeadm writes `sa.pub`.
    pub fn public_key_pem(&self) -> String {
        encode_pem("PUBLIC KEY", &self.spki)
    }

    /// The private key in kubeadm's PEM encoding: RSA as `RSA PRIVATE KEY` (PKCS#1), ECDSA as
    /// `EC PRIVATE KEY` (SEC1 with the named curve and the public key).
    pub fn to_pem(&self) -> Result<String> {
        match &self.inner {
            Inner::Rsa(k) => {
                let pkcs8 = k.as_der().map_err(crypto("RSA key encoding"))?;
                let pkcs1 = pkcs8_inner_key(pkcs8.as_ref())
                    .ok_or_else(|| PkiError::Crypto("RSA key encoding failed".into()))?;
                Ok(encode_pem("RSA PRIVATE KEY", &pkcs1))
            }
            Inner::Ecdsa(k, _) => {
                let der = k
                    .private_key()
                    .as_der()
                    .map_err(crypto("EC key encoding"))?;
                Ok(encode_pem("EC PRIVATE KEY", der.as_ref()))
            }
        }
    }

    /// DER AlgorithmIdentifier of the signature this key produces (Go's defaults:
    /// sha256WithRSAEncryption for RSA, ecdsa-with-SHA256 for P-256, ecdsa-with-SHA384 for P-384).
    pub(crate) fn signature_algorithm_der(&self) -> Vec<u8> {
        match &self.inner {
            Inner::Rsa(_) => yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&yasna::models::ObjectIdentifier::from_slice(&[
                            1, 2, 840, 113549, 1, 1, 11,
                        ]));
                    w.next().write_null();
                })
            }),
            Inner::Ecdsa(_, kt) => {
                let oid: &[u64] = if *kt == KeyType::EcdsaP384 {
                    &[1, 2, 840, 10045, 4, 3, 3]
                } else {
                    &[1, 2, 840, 10045, 4, 3, 2]
                };
                yasna::construct_der(|w| {
                    w.write_sequence(|w| {
                        w.next()
                            .write_oid(&yasna::models::ObjectIdentifier::from_slice(oid));
                    })
                })
            }
        }
    }

    /// Signs `msg` with the algorithm of [`Self::signature_algorithm_der`].
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(crypto("RSA signing"))?;
                Ok(sig)
            }
            Inner::Ecdsa(k, _) => Ok(k
                .sign(&rng, msg)
                .map_err(crypto("ECDSA signing"))?
                .as_ref()
                .to_vec()),
        }
    }
}

fn ec_alg(curve: &[u64]) -> Option<(&'static signature::EcdsaSigningAlgorithm, KeyType)> {
    if curve == OID_P256 {
        Some((
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            KeyType::EcdsaP256,
        ))
    } else if curve == OID_P384 {
        Some((
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            KeyType::EcdsaP384,
        ))
    } else {
        None
    }
}

/// Named curve OID of a SEC1 `ECPrivateKey` (the optional `[0] parameters` field).
fn sec1_curve(der: &[u8]) -> Option<Vec<u64>> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let _key = r.next().read_bytes()?;
            let curve =
                r.read_optional(|r| r.read_tagged(yasna::Tag::context(0), |r| r.read_oid()))?;
            // Skip the optional public key.
            let _ = r.read_optional(|r| r.read_der())?;
            Ok(curve.map(|o| o.components().clone()))
        })
    })
    .ok()
    .flatten()
}

/// Algorithm OID and (for EC) curve OID of a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_algorithm(der: &[u8]) -> Option<(Vec<u64>, Option<Vec<u64>>)> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let alg = r.next().read_sequence(|r| {
                let oid = r.next().read_oid()?;
                let param = r.read_optional(|r| r.read_der())?;
                Ok((oid, param))
            })?;
            let _key = r.next().read_bytes()?;
            // Attributes / public key (PKCS#8 v2) may follow.
            while r.read_optional(|r| r.read_der())?.is_some() {}
            Ok(alg)
        })
    })
    .ok()
    .map(|(oid, param)| {
        let curve = param.and_then(|p| yasna::parse_der(&p, |r| r.read_oid()).ok());
        (
            oid.components().clone(),
            curve.map(|c| c.components().clone()),
        )
    })
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (for RSA: the PKCS#1 key).
fn pkcs8_inner_key(der: &[u8]) -> Option<Vec<u8>> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let _alg = r.next().read_der()?;
            let key = r.next().read_bytes()?;
            while r.read_optional(|r| r.read_der())?.is_some() {}
            Ok(key)
        })
    })
    .ok()
}

/// Generates `count` keys of `alg` using all available CPUs (key generation dominates the
/// certs phase; RSA key generation in particular is slow and embarrassingly parallel).
pub fn generate_keys(alg: EncryptionAlgorithm, count: usize) -> Result<Vec<PrivateKey>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count);
    if workers <= 1 {
        return (0..count).map(|_| PrivateKey::generate(alg)).collect();
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<PrivateKey>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let k = PrivateKey::generate(alg);
                out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(k);
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|k| k.unwrap_or_else(|| Err(PkiError::Crypto("key generation worker failed".into()))))
        .collect()
}
