//! Golden comparison with the real kubeadm v1.36.2 outputs (fixtures): for the reference
//! configuration, firstboot's certificates must show the same `openssl x509 -text` (apart
//! from serials, dates, keys, key ids and signatures), the same validity durations, and the
//! same file names and modes; kubeconfigs the same structure.

mod pki_support;

use std::path::Path;
use std::sync::OnceLock;

use firstboot::kubeconfig;
use firstboot::pki::{self, Certificate, EncryptionAlgorithm};
use pki_support::*;

/// One RSA-2048 run of the certs and kubeconfig phases for the reference config, shared by
/// the tests of this file.
fn generated() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // Shared by all tests of this file and never dropped, so it lives under Cargo's
        // per-target temp directory rather than /tmp.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let mut p = reference_params(&dir.path().join("pki"), EncryptionAlgorithm::Rsa2048);
        p.start_time = start_time();
        pki::plan(&p).unwrap().apply().unwrap();
        let mut k = reference_kubeconfig_params(dir.path(), EncryptionAlgorithm::Rsa2048);
        k.start_time = start_time();
        kubeconfig::plan(&k).unwrap().apply().unwrap();
        dir
    })
    .path()
}

/// The start time of the generated run (whole seconds, shared by both phases).
fn start_time() -> time::OffsetDateTime {
    static T: OnceLock<time::OffsetDateTime> = OnceLock::new();
    *T.get_or_init(|| {
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap()
    })
}

/// `openssl x509 -text` without the values that are random or time-based.
fn normalized_text(path: &Path) -> String {
    let text = openssl(&["x509", "-in", path.to_str().unwrap(), "-noout", "-text"]);
    text.lines()
        .filter(|l| {
            let t = l.trim();
            // hex dumps (modulus, EC point, signature, key identifiers)
            !(t.len() >= 2
                && t.split(':').all(|h| {
                    h.is_empty() || (h.len() == 2 && h.chars().all(|c| c.is_ascii_hexdigit()))
                }))
        })
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("Serial Number:") {
                "Serial Number: <random>".to_string()
            } else if t.starts_with("Not Before:") || t.starts_with("Not After :") {
                format!("{}: <time>", &t[..10])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn reference_pki() -> std::path::PathBuf {
    fixtures().join("etc-kubernetes/pki")
}

#[test]
fn certificates_match_reference_openssl_text() {
    let ours = generated().join("pki");
    let refs: Vec<String> = files_under(&reference_pki())
        .into_iter()
        .filter(|f| f.ends_with(".crt"))
        .collect();
    assert_eq!(refs.len(), 10, "reference has 10 certificates");
    for f in &refs {
        let a = normalized_text(&reference_pki().join(f));
        let b = normalized_text(&ours.join(f));
        assert!(
            a.contains("X509v3 Key Usage"),
            "normalization kept the extensions of {f}"
        );
        assert_eq!(a, b, "openssl -text of {f} differs from kubeadm's");
    }
}

#[test]
fn certificates_match_reference_fields() {
    let ours = generated().join("pki");
    for f in files_under(&reference_pki())
        .into_iter()
        .filter(|f| f.ends_with(".crt"))
    {
        let r = &Certificate::read_chain(&reference_pki().join(&f)).unwrap()[0];
        let o = &Certificate::read_chain(&ours.join(&f)).unwrap()[0];
        assert_eq!(o.common_name, r.common_name, "{f} CN");
        assert_eq!(o.organizations, r.organizations, "{f} O");
        assert_eq!(o.subject_raw, r.subject_raw, "{f} subject encoding");
        assert_eq!(o.issuer_raw, r.issuer_raw, "{f} issuer encoding");
        assert_eq!(o.dns_names, r.dns_names, "{f} SAN DNS");
        assert_eq!(o.ips, r.ips, "{f} SAN IP");
        assert_eq!(o.key_usage, r.key_usage, "{f} key usage");
        assert_eq!(o.ext_key_usages, r.ext_key_usages, "{f} ext key usage");
        assert_eq!(o.is_ca, r.is_ca, "{f} CA flag");
        assert_eq!(
            o.subject_key_id.is_some(),
            r.subject_key_id.is_some(),
            "{f} SKI presence"
        );
        assert_eq!(
            o.authority_key_id.is_some(),
            r.authority_key_id.is_some(),
            "{f} AKI presence"
        );
        assert_eq!(
            o.not_after - o.not_before,
            r.not_after - r.not_before,
            "{f} validity duration"
        );
        assert_eq!(o.key_type(), r.key_type(), "{f} key type");
        // The same extensions in the same order (Go's), byte for byte apart from key ids.
        let ext_oids = |c: &Certificate| {
            let (_, x) = x509_parser::parse_x509_certificate(&c.der).unwrap();
            x.extensions()
                .iter()
                .map(|e| (e.oid.to_id_string(), e.critical))
                .collect::<Vec<_>>()
        };
        assert_eq!(ext_oids(o), ext_oids(r), "{f} extension list");
        // The AKI of a leaf is its CA's SKI (also checked by openssl verify elsewhere).
        if let Some(aki) = &o.authority_key_id {
            let ca_file = match o.issuer_common_name.as_str() {
                "kubernetes" => "ca.crt",
                "etcd-ca" => "etcd/ca.crt",
                _ => "front-proxy-ca.crt",
            };
            let ca = &Certificate::read_chain(&ours.join(ca_file)).unwrap()[0];
            assert_eq!(Some(aki), ca.subject_key_id.as_ref(), "{f} AKI");
        }
    }
}

#[test]
fn ski_is_truncated_sha256_like_go_1_26() {
    // The reference front-proxy-ca was made by Go 1.26: its SKI must equal what we compute.
    let r = &Certificate::read_chain(&reference_pki().join("front-proxy-ca.crt")).unwrap()[0];
    assert_eq!(
        r.subject_key_id.as_deref().unwrap(),
        pki_ski(&r.spki).as_slice()
    );
}

fn pki_ski(spki: &[u8]) -> Vec<u8> {
    // Re-derive through a self-issued certificate is not possible without the key; use the
    // public helper through a certificate we build for the same SPKI instead.
    let ca_key = pki::PrivateKey::generate(EncryptionAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca_tpl = pki::CertTemplate {
        common_name: "t".into(),
        organizations: vec![],
        dns_names: vec![],
        ips: vec![],
        usages: vec![],
        is_ca: true,
        not_before: now,
        not_after: now + time::Duration::hours(1),
    };
    let ca = Certificate::from_der(
        &pki::create_certificate(
            &ca_tpl,
            ca_key.public_key_der(),
            pki::Issuer::SelfSigned(&ca_key),
        )
        .unwrap(),
    )
    .unwrap();
    // A CA template with the foreign SPKI, signed by our CA: its SKI is computed from that SPKI.
    let der = pki::create_certificate(
        &ca_tpl,
        spki,
        pki::Issuer::Ca {
            cert: &ca,
            key: &ca_key,
        },
    )
    .unwrap();
    Certificate::from_der(&der).unwrap().subject_key_id.unwrap()
}

/// `(relative path, mode)` under `./pki` from the reference modes listing.
fn reference_modes(prefix: &str) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(fixtures().join("etc-kubernetes.modes.txt")).unwrap();
    let mut v: Vec<(String, u32)> = text
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let path = cols.last()?.strip_prefix(prefix)?;
            if !cols[0].starts_with('-') {
                return None;
            }
            Some((path.to_string(), u32::from_str_radix(cols[1], 8).ok()?))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn pki_file_names_and_modes_match_reference() {
    let ours = generated().join("pki");
    let expected = reference_modes("./pki/");
    assert_eq!(expected.len(), 22);
    let got: Vec<(String, u32)> = files_under(&ours)
        .into_iter()
        .map(|f| (f.clone(), mode(&ours.join(&f))))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(mode(&ours), 0o755);
    assert_eq!(mode(&ours.join("etcd")), 0o755);
}

#[test]
fn kubeconfig_names_modes_and_structure_match_reference() {
    let root = generated();
    let expected: Vec<(String, u32)> = reference_modes("./")
        .into_iter()
        .filter(|(p, _)| p.ends_with(".conf"))
        .collect();
    assert_eq!(expected.len(), 5);
    for (name, m) in &expected {
        let ours = root.join(name);
        assert_eq!(mode(&ours), *m, "{name} mode");
        let redact = |s: String| {
            s.lines()
                .map(|l| match l.split_once("-data: ") {
                    Some((k, _)) => format!("{k}-data: <data>"),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let a =
            redact(std::fs::read_to_string(fixtures().join("etc-kubernetes").join(name)).unwrap());
        let b = redact(std::fs::read_to_string(&ours).unwrap());
        assert_eq!(
            b, a,
            "{name} differs from kubeadm's (apart from key/cert data)"
        );
    }
}

#[test]
fn kubeconfig_client_certs_match_reference() {
    let root = generated();
    let ca = &Certificate::read_chain(&root.join("pki/ca.crt")).unwrap()[0];
    for name in [
        "admin.conf",
        "super-admin.conf",
        "kubelet.conf",
        "controller-manager.conf",
        "scheduler.conf",
    ] {
        let load = |p: &Path| {
            let kc = kubeconfig::Kubeconfig::load(p).unwrap();
            Certificate::parse_pem_chain(&kc.client_certificate_pem().unwrap(), p)
                .unwrap()
                .remove(0)
        };
        let r = load(&fixtures().join("etc-kubernetes").join(name));
        let o = load(&root.join(name));
        assert_eq!(
            (o.common_name.clone(), o.organizations.clone()),
            (r.common_name.clone(), r.organizations.clone()),
            "{name} subject"
        );
        assert_eq!(o.ext_key_usages, r.ext_key_usages, "{name} EKU");
        assert_eq!(o.key_usage, r.key_usage, "{name} KU");
        // NotAfter = start + 8760h. kubeadm ran the kubeconfig phase a few seconds after the
        // certs phase (separate `init phase` runs), so its duration is a little longer.
        assert_eq!(
            o.not_after,
            start_time() + time::Duration::hours(8760),
            "{name} NotAfter"
        );
        let ours = o.not_after - o.not_before;
        let theirs = r.not_after - r.not_before;
        assert_eq!(
            ours,
            time::Duration::hours(8760) + time::Duration::minutes(5),
            "{name} validity"
        );
        assert!(
            theirs >= ours && theirs - ours < time::Duration::minutes(1),
            "{name} validity {theirs} vs {ours}"
        );
        // NotBefore is the CA's NotBefore (spec §4.1).
        assert_eq!(o.not_before, ca.not_before, "{name} NotBefore");
        assert!(
            pki::verify_chain(&[o], ca),
            "{name} client cert signed by ca"
        );
        // The embedded CA is ca.crt.
        let kc = kubeconfig::Kubeconfig::load(&root.join(name)).unwrap();
        assert_eq!(
            kc.current_cluster_ca_pem(&root.join(name)).unwrap(),
            std::fs::read(root.join("pki/ca.crt")).unwrap()
        );
    }
}

#[test]
fn sa_pub_is_pkix_public_key_of_sa_key() {
    let ours = generated().join("pki");
    let pub_pem = std::fs::read_to_string(ours.join("sa.pub")).unwrap();
    assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let derived = openssl(&[
        "pkey",
        "-in",
        ours.join("sa.key").to_str().unwrap(),
        "-pubout",
    ]);
    assert_eq!(pub_pem, derived);
    // Same shape as kubeadm's sa.pub (RSA-2048 PKIX is 451 bytes).
    assert_eq!(
        pub_pem.len(),
        std::fs::read(reference_pki().join("sa.pub")).unwrap().len()
    );
}
