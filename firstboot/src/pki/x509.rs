//! X.509 encoding and parsing: Go-compatible certificate and CSR construction (the exact
//! extension set and order Go's `x509.CreateCertificate` produces for kubeadm's templates),
//! certificate parsing, signature (chain) verification and hostname verification.

use std::net::IpAddr;
use std::path::Path;

use aws_lc_rs::signature as sig;
use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;
use yasna::models::ObjectIdentifier;
use yasna::{DERWriter, Tag};

use super::error::{PkiError, Result};
use super::key::{KeyType, PrivateKey};

/// PEM-encodes `der` with `label` exactly like Go's `pem.Encode` (64-column lines, LF).
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// An extended key usage (the ones Go's `x509.ExtKeyUsage` names and kubeadm uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ExtKeyUsage {
    /// anyExtendedKeyUsage.
    Any,
    /// TLS Web Server Authentication.
    ServerAuth,
    /// TLS Web Client Authentication.
    ClientAuth,
    /// Code signing.
    CodeSigning,
    /// E-mail protection.
    EmailProtection,
    /// Time stamping.
    TimeStamping,
    /// OCSP signing.
    OcspSigning,
}

impl ExtKeyUsage {
    const TABLE: [(ExtKeyUsage, &'static [u64]); 7] = [
        (ExtKeyUsage::Any, &[2, 5, 29, 37, 0]),
        (ExtKeyUsage::ServerAuth, &[1, 3, 6, 1, 5, 5, 7, 3, 1]),
        (ExtKeyUsage::ClientAuth, &[1, 3, 6, 1, 5, 5, 7, 3, 2]),
        (ExtKeyUsage::CodeSigning, &[1, 3, 6, 1, 5, 5, 7, 3, 3]),
        (ExtKeyUsage::EmailProtection, &[1, 3, 6, 1, 5, 5, 7, 3, 4]),
        (ExtKeyUsage::TimeStamping, &[1, 3, 6, 1, 5, 5, 7, 3, 8]),
        (ExtKeyUsage::OcspSigning, &[1, 3, 6, 1, 5, 5, 7, 3, 9]),
    ];

    fn oid(self) -> &'static [u64] {
        Self::TABLE
            .iter()
            .find(|(u, _)| *u == self)
            .map(|(_, o)| *o)
            .unwrap_or(&[])
    }

    fn from_oid(oid: &[u64]) -> Option<Self> {
        Self::TABLE.iter().find(|(_, o)| *o == oid).map(|(u, _)| *u)
    }
}

/// KeyUsage bit `digitalSignature` (RFC 5280 bit 0), as a mask of [`Certificate::key_usage`].
pub const KU_DIGITAL_SIGNATURE: u16 = 1 << 0;
/// KeyUsage bit `keyEncipherment` (RFC 5280 bit 2).
pub const KU_KEY_ENCIPHERMENT: u16 = 1 << 2;
/// KeyUsage bit `keyCertSign` (RFC 5280 bit 5).
pub const KU_KEY_CERT_SIGN: u16 = 1 << 5;

/// What goes into a certificate (kubeadm's `CertConfig`): subject, SANs, usages, validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertTemplate {
    /// Subject CN (must be non-empty).
    pub common_name: String,
    /// Subject O values.
    pub organizations: Vec<String>,
    /// SAN DNS names (de-duplicated and sorted when the certificate is built).
    pub dns_names: Vec<String>,
    /// SAN IP addresses (de-duplicated, order kept, when the certificate is built).
    pub ips: Vec<IpAddr>,
    /// Extended key usages (empty for CAs; at least one for leaves).
    pub usages: Vec<ExtKeyUsage>,
    /// Whether this is a CA certificate.
    pub is_ca: bool,
    /// NotBefore.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// NotAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// De-duplicates and sorts DNS names; de-duplicates IPs by their string form, keeping order
/// (kubeadm's `RemoveDuplicateAltNames` + sort). IPv4-mapped IPv6 addresses count as IPv4.
pub fn normalize_alt_names(dns: &[String], ips: &[IpAddr]) -> (Vec<String>, Vec<IpAddr>) {
    let mut d: Vec<String> = dns.to_vec();
    d.sort();
    d.dedup();
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in ips {
        let ip = ip.to_canonical();
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    (d, out)
}

/// The issuer of a certificate being built.
pub enum Issuer<'a> {
    /// Self-signed (a CA signing its own certificate).
    SelfSigned(&'a PrivateKey),
    /// Signed by a CA certificate and its key.
    Ca {
        /// The CA certificate (its subject becomes the issuer, its SKI the AKI).
        cert: &'a Certificate,
        /// The CA's private key.
        key: &'a PrivateKey,
    },
}

fn oid(c: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(c)
}

/// Go's `isPrintable` (with `*` allowed): whether the string can be a PrintableString.
fn is_printable(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&b))
}

fn write_dir_string(w: DERWriter, s: &str) {
    if is_printable(s) {
        w.write_printable_string(s);
    } else {
        w.write_utf8_string(s);
    }
}

/// DER Name as Go's `pkix.Name{CommonName, Organization}.ToRDNSequence()` encodes it:
/// one RDN with all O values, then one RDN with the CN.
pub fn encode_name(common_name: &str, organizations: &[String]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            if !organizations.is_empty() {
                w.next().write_set_of(|w| {
                    for o in organizations {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(&[2, 5, 4, 10]));
                            write_dir_string(w.next(), o);
                        });
                    }
                });
            }
            if !common_name.is_empty() {
                w.next().write_set_of(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&oid(&[2, 5, 4, 3]));
                        write_dir_string(w.next(), common_name);
                    });
                });
            }
        })
    })
}

fn write_time(w: DERWriter, t: OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (y, mo, d, h, mi, s) = (
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    );
    if (1950..2050).contains(&y) {
        let v = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        w.write_tagged_implicit(yasna::tags::TAG_UTCTIME, |w| w.write_bytes(v.as_bytes()));
    } else {
        let v = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
        w.write_tagged_implicit(yasna::tags::TAG_GENERALIZEDTIME, |w| {
            w.write_bytes(v.as_bytes())
        });
    }
}

fn ext(oid_c: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&oid(oid_c));
            if critical {
                w.next().write_bool(true);
            }
            w.next().write_bytes(&value);
        })
    })
}

fn san_ext_value(dns: &[String], ips: &[IpAddr]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for d in dns {
                w.next()
                    .write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(d));
            }
            for ip in ips {
                let bytes = match ip.to_canonical() {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                w.next()
                    .write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&bytes));
            }
        })
    })
}

/// Subject key identifier as Go ≥ 1.24 computes it: the first 160 bits of SHA-256 of the
/// subjectPublicKey BIT STRING contents.
pub fn subject_key_id(spki_der: &[u8]) -> Result<Vec<u8>> {
    let info =
        Spki::parse(spki_der).ok_or_else(|| PkiError::Crypto("invalid public key".into()))?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &info.key_bits);
    Ok(digest.as_ref()[..20].to_vec())
}

/// A random serial number in [1, 2^63−1), as kubeadm draws it.
pub fn random_serial() -> Result<u64> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    loop {
        let mut b = [0u8; 8];
        aws_lc_rs::rand::SecureRandom::fill(&rng, &mut b)
            .map_err(|_| PkiError::Crypto("random number generation failed".into()))?;
        let v = u64::from_be_bytes(b) & (u64::MAX >> 1);
        if (1..(1u64 << 63) - 1).contains(&v) {
            return Ok(v);
        }
    }
}

/// Builds and signs a certificate for `subject_spki` (DER SubjectPublicKeyInfo) with the
/// extensions Go's `x509.CreateCertificate` emits for kubeadm's templates, in Go's order:
/// KeyUsage (critical), ExtKeyUsage, BasicConstraints (critical), SubjectKeyIdentifier (CA
/// only), AuthorityKeyIdentifier (when not self-signed and the issuer has an SKI), SAN.
/// Returns the DER certificate.
pub fn create_certificate(
    tpl: &CertTemplate,
    subject_spki: &[u8],
    issuer: Issuer<'_>,
) -> Result<Vec<u8>> {
    if tpl.common_name.is_empty() {
        return Err(PkiError::input(
            "commonName",
            "",
            "a certificate needs a non-empty CN",
        ));
    }
    if !tpl.is_ca && tpl.usages.is_empty() {
        return Err(PkiError::input(
            "usages",
            tpl.common_name.clone(),
            "a leaf certificate needs at least one extended key usage",
        ));
    }
    let subject = encode_name(&tpl.common_name, &tpl.organizations);
    let (issuer_name, signer, aki) = match &issuer {
        Issuer::SelfSigned(k) => {
            if k.public_key_der() != subject_spki {
                return Err(PkiError::Crypto(
                    "self-signed certificate key mismatch".into(),
                ));
            }
            (subject.clone(), *k, None)
        }
        Issuer::Ca { cert, key } => {
            if key.public_key_der() != cert.spki.as_slice() {
                return Err(PkiError::Crypto(format!(
                    "the private key of CA {:?} does not match its certificate",
                    cert.common_name
                )));
            }
            (cert.subject_raw.clone(), *key, cert.subject_key_id.clone())
        }
    };
    let (dns, ips) = normalize_alt_names(&tpl.dns_names, &tpl.ips);

    let mut exts: Vec<Vec<u8>> = Vec::new();
    let (ku_byte, ku_len) = if tpl.is_ca {
        (0xA4u8, 6usize)
    } else {
        (0xA0u8, 3usize)
    };
    exts.push(ext(
        &[2, 5, 29, 15],
        true,
        yasna::construct_der(|w| w.write_bitvec_bytes(&[ku_byte], ku_len)),
    ));
    if !tpl.usages.is_empty() {
        exts.push(ext(
            &[2, 5, 29, 37],
            false,
            yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    for u in &tpl.usages {
                        w.next().write_oid(&oid(u.oid()));
                    }
                })
            }),
        ));
    }
    exts.push(ext(
        &[2, 5, 29, 19],
        true,
        yasna::construct_der(|w| {
            w.write_sequence(|w| {
                if tpl.is_ca {
                    w.next().write_bool(true);
                }
            })
        }),
    ));
    if tpl.is_ca {
        let ski = subject_key_id(subject_spki)?;
        exts.push(ext(
            &[2, 5, 29, 14],
            false,
            yasna::construct_der(|w| w.write_bytes(&ski)),
        ));
    }
    let self_signed = matches!(issuer, Issuer::SelfSigned(_)) || issuer_name == subject;
    if let (false, Some(aki)) = (self_signed, aki.as_ref()) {
        exts.push(ext(
            &[2, 5, 29, 35],
            false,
            yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(aki));
                })
            }),
        ));
    }
    if !dns.is_empty() || !ips.is_empty() {
        exts.push(ext(&[2, 5, 29, 17], false, san_ext_value(&dns, &ips)));
    }

    let serial = random_serial()?;
    let sig_alg = signer.signature_algorithm_der();
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
            w.next().write_u64(serial);
            w.next().write_der(&sig_alg);
            w.next().write_der(&issuer_name);
            w.next().write_sequence(|w| {
                write_time(w.next(), tpl.not_before);
                write_time(w.next(), tpl.not_after);
            });
            w.next().write_der(&subject);
            w.next().write_der(subject_spki);
            w.next().write_tagged(Tag::context(3), |w| {
                w.write_sequence(|w| {
                    for e in &exts {
                        w.next().write_der(e);
                    }
                })
            });
        })
    });
    let signature = signer.sign(&tbs)?;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_der(&sig_alg);
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        })
    }))
}

/// Builds a PKCS#10 certificate request like Go's `x509.CreateCertificateRequest` for
/// kubeadm's CSR template (subject CN/O, SAN DNS names and IPs in an extensionRequest
/// attribute when present). Returns the DER CSR.
pub fn create_csr(
    common_name: &str,
    organizations: &[String],
    dns: &[String],
    ips: &[IpAddr],
    key: &PrivateKey,
) -> Result<Vec<u8>> {
    let (dns, ips) = normalize_alt_names(dns, ips);
    let subject = encode_name(common_name, organizations);
    let sig_alg = key.signature_algorithm_der();
    let info = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_der(&subject);
            w.next().write_der(key.public_key_der());
            w.next().write_tagged_implicit(Tag::context(0), |w| {
                w.write_set(|w| {
                    if !dns.is_empty() || !ips.is_empty() {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(&[1, 2, 840, 113549, 1, 9, 14]));
                            w.next().write_set(|w| {
                                w.next().write_sequence(|w| {
                                    w.next().write_der(&ext(
                                        &[2, 5, 29, 17],
                                        false,
                                        san_ext_value(&dns, &ips),
                                    ));
                                });
                            });
                        });
                    }
                })
            });
        })
    });
    let signature = key.sign(&info)?;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&info);
            w.next().write_der(&sig_alg);
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        })
    }))
}

/// A parsed SubjectPublicKeyInfo.
#[derive(Debug, Clone)]
pub(crate) struct Spki {
    pub alg: Vec<u64>,
    pub curve: Option<Vec<u64>>,
    pub key_bits: Vec<u8>,
}

impl Spki {
    pub(crate) fn parse(der: &[u8]) -> Option<Spki> {
        yasna::parse_der(der, |r| {
            r.read_sequence(|r| {
                let (alg, param) = r.next().read_sequence(|r| {
                    let alg = r.next().read_oid()?;
                    let param = r.read_optional(|r| r.read_der())?;
                    Ok((alg, param))
                })?;
                let (bits, _) = r.next().read_bitvec_bytes()?;
                Ok((alg, param, bits))
            })
        })
        .ok()
        .map(|(alg, param, key_bits)| Spki {
            alg: alg.components().clone(),
            curve: param
                .and_then(|p| yasna::parse_der(&p, |r| r.read_oid()).ok())
                .map(|o| o.components().clone()),
            key_bits,
        })
    }

    pub(crate) fn key_type(&self) -> Option<KeyType> {
        match self.alg.as_slice() {
            [1, 2, 840, 113549, 1, 1, 1] => {
                let n = yasna::parse_der(&self.key_bits, |r| {
                    r.read_sequence(|r| {
                        let n = r.next().read_biguint_bytes()?;
                        let _e = r.next().read_der()?;
                        Ok(n)
                    })
                })
                .ok()?;
                let first = n.iter().position(|b| *b != 0)?;
                let bits = (n.len() - first) * 8 - n[first].leading_zeros() as usize;
                Some(KeyType::Rsa(bits))
            }
            [1, 2, 840, 10045, 2, 1] => match self.curve.as_deref()? {
                [1, 2, 840, 10045, 3, 1, 7] => Some(KeyType::EcdsaP256),
                [1, 3, 132, 0, 34] => Some(KeyType::EcdsaP384),
                _ => None,
            },
            _ => None,
        }
    }
}

trait ReadBigUint {
    fn read_biguint_bytes(self) -> yasna::ASN1Result<Vec<u8>>;
}

impl ReadBigUint for yasna::BERReader<'_, '_> {
    fn read_biguint_bytes(self) -> yasna::ASN1Result<Vec<u8>> {
        let (bytes, _non_negative) = self.read_bigint_bytes()?;
        Ok(bytes)
    }
}

/// A parsed X.509 certificate (owned copy of the fields kubeadm looks at).
#[derive(Clone)]
pub struct Certificate {
    /// DER encoding.
    pub der: Vec<u8>,
    /// Raw DER of the subject Name.
    pub subject_raw: Vec<u8>,
    /// Raw DER of the issuer Name.
    pub issuer_raw: Vec<u8>,
    /// Subject CN (the last one, like Go).
    pub common_name: String,
    /// Subject O values.
    pub organizations: Vec<String>,
    /// Issuer CN.
    pub issuer_common_name: String,
    /// Serial number (big-endian bytes).
    pub serial: Vec<u8>,
    /// NotBefore.
    pub not_before: OffsetDateTime,
    /// NotAfter.
    pub not_after: OffsetDateTime,
    /// BasicConstraints CA flag.
    pub is_ca: bool,
    /// SAN DNS names, in certificate order.
    pub dns_names: Vec<String>,
    /// SAN IPs, in certificate order.
    pub ips: Vec<IpAddr>,
    /// Extended key usages Go knows, in certificate order (unknown OIDs are dropped).
    pub ext_key_usages: Vec<ExtKeyUsage>,
    /// KeyUsage bits (see `KU_*`), if the extension is present.
    pub key_usage: Option<u16>,
    /// SubjectKeyIdentifier.
    pub subject_key_id: Option<Vec<u8>>,
    /// AuthorityKeyIdentifier key id.
    pub authority_key_id: Option<Vec<u8>>,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    tbs: Vec<u8>,
    sig_alg: Vec<u64>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("common_name", &self.common_name)
            .field("organizations", &self.organizations)
            .field("issuer", &self.issuer_common_name)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("is_ca", &self.is_ca)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> std::result::Result<Self, String> {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let (_, c) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("invalid certificate: {e}"))?;
        let str_of = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
            a.as_str().map(str::to_string).unwrap_or_default()
        };
        let mut out = Certificate {
            der: der.to_vec(),
            subject_raw: c.subject().as_raw().to_vec(),
            issuer_raw: c.issuer().as_raw().to_vec(),
            common_name: c
                .subject()
                .iter_common_name()
                .last()
                .map(str_of)
                .unwrap_or_default(),
            organizations: c.subject().iter_organization().map(str_of).collect(),
            issuer_common_name: c
                .issuer()
                .iter_common_name()
                .last()
                .map(str_of)
                .unwrap_or_default(),
            serial: c.raw_serial().to_vec(),
            not_before: c.validity().not_before.to_datetime(),
            not_after: c.validity().not_after.to_datetime(),
            is_ca: false,
            dns_names: Vec::new(),
            ips: Vec::new(),
            ext_key_usages: Vec::new(),
            key_usage: None,
            subject_key_id: None,
            authority_key_id: None,
            spki: c.public_key().raw.to_vec(),
            tbs: c.tbs_certificate.as_ref().to_vec(),
            sig_alg: c
                .signature_algorithm
                .algorithm
                .iter()
                .map(|i| i.collect())
                .unwrap_or_default(),
            signature: c.signature_value.data.to_vec(),
        };
        for e in c.extensions() {
            match e.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => out.is_ca = bc.ca,
                ParsedExtension::KeyUsage(ku) => out.key_usage = Some(ku.flags),
                ParsedExtension::SubjectKeyIdentifier(k) => out.subject_key_id = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    out.authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for n in &san.general_names {
                        match n {
                            GeneralName::DNSName(d) => out.dns_names.push(d.to_string()),
                            GeneralName::IPAddress(b) => {
                                if let Ok(a) = <[u8; 4]>::try_from(*b) {
                                    out.ips.push(IpAddr::from(a));
                                } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                                    out.ips.push(IpAddr::from(a));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(_) => {
                    let oids =
                        yasna::parse_der(e.value, |r| r.collect_sequence_of(|r| r.read_oid()))
                            .unwrap_or_default();
                    out.ext_key_usages = oids
                        .iter()
                        .filter_map(|o| ExtKeyUsage::from_oid(o.components()))
                        .collect();
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Parses every `CERTIFICATE` PEM block of `data` (a chain: leaf first). Errors name `path`
    /// and fail when there is no certificate.
    pub fn parse_pem_chain(data: &[u8], path: &Path) -> Result<Vec<Certificate>> {
        let blocks = pem::parse_many(data)
            .map_err(|e| PkiError::file(path, format!("not valid PEM: {e}")))?;
        let certs = blocks
            .iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| Certificate::from_der(b.contents()).map_err(|e| PkiError::file(path, e)))
            .collect::<Result<Vec<_>>>()?;
        if certs.is_empty() {
            return Err(PkiError::file(path, "no CERTIFICATE PEM block found"));
        }
        Ok(certs)
    }

    /// Reads and parses a certificate file (first certificate is the leaf).
    pub fn read_chain(path: &Path) -> Result<Vec<Certificate>> {
        let data = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
        Self::parse_pem_chain(&data, path)
    }

    /// PEM `CERTIFICATE` encoding.
    pub fn to_pem(&self) -> String {
        encode_pem("CERTIFICATE", &self.der)
    }

    /// Type and size of the certificate's public key, if RSA or ECDSA P-256/P-384.
    pub fn key_type(&self) -> Option<KeyType> {
        Spki::parse(&self.spki)?.key_type()
    }

    /// Whether this certificate's issuer name equals `issuer`'s subject and its signature
    /// verifies with `issuer`'s public key.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        if self.issuer_raw != issuer.subject_raw {
            return false;
        }
        let Some(spki) = Spki::parse(&issuer.spki) else {
            return false;
        };
        let alg: &'static dyn sig::VerificationAlgorithm = match (
            self.sig_alg.as_slice(),
            spki.alg.as_slice(),
            spki.curve.as_deref(),
        ) {
            ([1, 2, 840, 113549, 1, 1, 11], [1, 2, 840, 113549, 1, 1, 1], _) => {
                &sig::RSA_PKCS1_2048_8192_SHA256
            }
            ([1, 2, 840, 113549, 1, 1, 12], [1, 2, 840, 113549, 1, 1, 1], _) => {
                &sig::RSA_PKCS1_2048_8192_SHA384
            }
            ([1, 2, 840, 113549, 1, 1, 13], [1, 2, 840, 113549, 1, 1, 1], _) => {
                &sig::RSA_PKCS1_2048_8192_SHA512
            }
            ([1, 2, 840, 10045, 4, 3, 2], _, Some([1, 2, 840, 10045, 3, 1, 7])) => {
                &sig::ECDSA_P256_SHA256_ASN1
            }
            ([1, 2, 840, 10045, 4, 3, 3], _, Some([1, 2, 840, 10045, 3, 1, 7])) => {
                &sig::ECDSA_P256_SHA384_ASN1
            }
            ([1, 2, 840, 10045, 4, 3, 2], _, Some([1, 3, 132, 0, 34])) => {
                &sig::ECDSA_P384_SHA256_ASN1
            }
            ([1, 2, 840, 10045, 4, 3, 3], _, Some([1, 3, 132, 0, 34])) => {
                &sig::ECDSA_P384_SHA384_ASN1
            }
            ([1, 3, 101, 112], [1, 3, 101, 112], _) => &sig::ED25519,
            _ => return false,
        };
        sig::UnparsedPublicKey::new(alg, &spki.key_bits)
            .verify(&self.tbs, &self.signature)
            .is_ok()
    }

    /// Go's `VerifyHostname`: an IP (optionally in brackets) matches IP SANs only; a name
    /// matches DNS SANs case-insensitively, with a `*` left-most label matching one label.
    pub fn verify_hostname(&self, host: &str) -> bool {
        let candidate = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = candidate.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            return self.ips.iter().any(|c| c.to_canonical() == ip);
        }
        let name = host.to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        self.dns_names.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            let pattern = pattern.trim_end_matches('.');
            if pattern == name {
                return true;
            }
            let p: Vec<&str> = pattern.split('.').collect();
            let n: Vec<&str> = name.split('.').collect();
            p.len() == n.len() && p.len() > 1 && p[0] == "*" && !n[0].is_empty() && p[1..] == n[1..]
        })
    }
}

/// Verifies that `chain[0]` chains to `ca` through the intermediates `chain[1..]` (each
/// certificate signed by the next, the last signed by `ca`).
pub fn verify_chain(chain: &[Certificate], ca: &Certificate) -> bool {
    if chain.is_empty() {
        return false;
    }
    // Direct signature by the CA (the common case, intermediates possibly appended).
    if chain[0].is_signed_by(ca) {
        return true;
    }
    for i in 0..chain.len() - 1 {
        if !chain[i].is_signed_by(&chain[i + 1]) {
            return false;
        }
        if chain[i + 1].is_signed_by(ca) {
            return true;
        }
    }
    false
}
