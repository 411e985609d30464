//! CA public-key pins (`--discovery-token-ca-cert-hash`, spec §19.2): `sha256:` + hex SHA-256
//! of the certificate's DER SubjectPublicKeyInfo.

use std::path::Path;

use super::error::Result;
use super::x509::Certificate;

/// `sha256:<hex>` of a DER SubjectPublicKeyInfo.
pub fn spki_hash(spki_der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    format!("sha256:{}", hex::encode(d.as_ref()))
}

/// The pin of a certificate (hash of its SubjectPublicKeyInfo, other fields do not matter).
pub fn ca_cert_hash(cert: &Certificate) -> String {
    spki_hash(&cert.spki)
}

/// Pins of every certificate in a PEM bundle (one per CA certificate, file order). `path`
/// is only used in error messages.
pub fn ca_cert_hash_from_pem(pem: &[u8], path: &Path) -> Result<Vec<String>> {
    Ok(Certificate::parse_pem_chain(pem, path)?
        .iter()
        .map(ca_cert_hash)
        .collect())
}
