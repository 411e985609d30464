//! TLS material for the test API server: generated test PKI or a kubeadm PKI directory, and the
//! rustls server configuration (client certificates optional, verified against the client CA).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// PEM material the server serves with and verifies clients against.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    /// Serving certificate (chain) PEM.
    pub cert_pem: String,
    /// Serving private key PEM.
    pub key_pem: String,
    /// CA bundle PEM that client certificates must chain to.
    pub client_ca_pem: String,
}

/// A generated test PKI: the server's [`TlsMaterial`] plus the CA and an admin client certificate.
#[derive(Clone, Debug)]
pub struct GeneratedTls {
    /// What to pass in [`super::ApiServerOptions::tls`].
    pub material: TlsMaterial,
    /// The CA certificate (signs the serving and client certificates; trust this in kubeconfigs).
    pub ca_cert_pem: String,
    /// The CA private key.
    pub ca_key_pem: String,
    /// Client certificate `CN=kubernetes-super-admin, O=system:masters`.
    pub admin_cert_pem: String,
    /// Key of [`GeneratedTls::admin_cert_pem`].
    pub admin_key_pem: String,
}

impl TlsMaterial {
    /// Test CA + serving cert (SANs 127.0.0.1, localhost) + a system:masters admin client cert, generated with rcgen.
    pub fn generate() -> anyhow::Result<GeneratedTls> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("kubernetes", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca_cert_pem = ca_cert.pem();
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let srv_key = KeyPair::generate()?;
        let mut srv = CertificateParams::default();
        srv.distinguished_name = dn("kube-apiserver", None);
        srv.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into()?),
            SanType::DnsName("kubernetes".try_into()?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        srv.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let srv_cert = srv.signed_by(&srv_key, &issuer)?;

        let (admin_cert_pem, admin_key_pem) =
            client_cert_with(&issuer, "kubernetes-super-admin", Some("system:masters"))?;
        Ok(GeneratedTls {
            material: TlsMaterial {
                cert_pem: srv_cert.pem(),
                key_pem: srv_key.serialize_pem(),
                client_ca_pem: ca_cert_pem.clone(),
            },
            ca_cert_pem,
            ca_key_pem,
            admin_cert_pem,
            admin_key_pem,
        })
    }

    /// From files in a kubeadm PKI dir (apiserver.crt/.key served, ca.crt as client CA).
    pub fn from_pki_dir(dir: &Path) -> anyhow::Result<TlsMaterial> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        };
        Ok(TlsMaterial {
            cert_pem: read("apiserver.crt")?,
            key_pem: read("apiserver.key")?,
            client_ca_pem: read("ca.crt")?,
        })
    }
}

impl GeneratedTls {
    /// Issue a client certificate from the test CA: `CN=<user>`, optionally `O=<group>`
    /// (the server maps them to user name and group). Returns (cert PEM, key PEM).
    pub fn client_cert(&self, user: &str, group: Option<&str>) -> anyhow::Result<(String, String)> {
        let key = KeyPair::from_pem(&self.ca_key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert_pem, key)?;
        client_cert_with(&issuer, user, group)
    }
}

fn dn(cn: &str, o: Option<&str>) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    if let Some(o) = o {
        d.push(DnType::OrganizationName, o);
    }
    d.push(DnType::CommonName, cn);
    d
}

fn client_cert_with(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    o: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, o);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// rustls server configuration: serve `cert_pem`/`key_pem`, accept clients without certificates,
/// verify offered certificates against `client_ca_pem`. HTTP/1.1 only.
pub(crate) fn server_config(m: &TlsMaterial) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .context("parsing the serving certificate PEM")?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate in the serving certificate PEM"
    );
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes())
        .context("parsing the serving key PEM")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(m.client_ca_pem.as_bytes()) {
        roots
            .add(c.context("parsing the client CA PEM")?)
            .context("adding the client CA")?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .context("client certificate verifier")?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("serving certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// User name (CN) and groups (O values) of a verified client certificate.
pub(crate) fn cert_identity(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, groups))
}
