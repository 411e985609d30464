//! The generated PKI checked with the real `openssl`: chains verify against the right CA,
//! SANs/usages/key types/validity are what kubeadm issues, key files parse, and every
//! encryption algorithm produces the right key type and PEM encoding.

mod pki_support;

use std::path::Path;

use firstboot::pki::{self, Certificate, EncryptionAlgorithm, PrivateKey};
use pki_support::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn ecdsa_pki_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let pkid = dir.path().join("pki");
    let mut p = reference_params(&pkid, EncryptionAlgorithm::EcdsaP256);
    p.apiserver_cert_sans = vec![
        "API.Example.COM".into(),
        "10.0.0.7".into(),
        "*.lb.example.com".into(),
        "bad_name!".into(),
    ];
    p.etcd_server_cert_sans = vec!["etcd.example.com".into(), "fd00::5".into()];
    let plan = pki::plan(&p).unwrap();
    assert!(
        plan.warnings.iter().any(|w| w.contains("bad_name!")),
        "invalid SAN is dropped with a warning: {:?}",
        plan.warnings
    );
    plan.apply().unwrap();

    for (leaf, ca) in [
        ("apiserver", "ca"),
        ("apiserver-kubelet-client", "ca"),
        ("front-proxy-client", "front-proxy-ca"),
        ("etcd/server", "etcd/ca"),
        ("etcd/peer", "etcd/ca"),
        ("etcd/healthcheck-client", "etcd/ca"),
        ("apiserver-etcd-client", "etcd/ca"),
    ] {
        let leaf_p = pkid.join(format!("{leaf}.crt"));
        let out = openssl(&[
            "verify",
            "-CAfile",
            s(&pkid.join(format!("{ca}.crt"))),
            s(&leaf_p),
        ]);
        assert!(out.trim_end().ends_with(": OK"), "{leaf}: {out}");
        // ... and not against a wrong CA.
        let wrong = if ca == "ca" { "front-proxy-ca" } else { "ca" };
        let (ok, _, _) = openssl_raw(&[
            "verify",
            "-CAfile",
            s(&pkid.join(format!("{wrong}.crt"))),
            s(&leaf_p),
        ]);
        assert!(!ok, "{leaf} must not verify against {wrong}");
        // Key parses, is SEC1 EC, and matches the certificate.
        let key_p = pkid.join(format!("{leaf}.key"));
        assert!(std::fs::read_to_string(&key_p)
            .unwrap()
            .starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let from_key = openssl(&["pkey", "-in", s(&key_p), "-pubout"]);
        let from_cert = openssl(&["x509", "-in", s(&leaf_p), "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert, "{leaf} key matches certificate");
    }

    let text = openssl(&[
        "x509",
        "-in",
        s(&pkid.join("apiserver.crt")),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("DNS:*.lb.example.com, DNS:api.example.com, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:vm, IP Address:10.96.0.1, IP Address:192.0.2.2, IP Address:127.0.0.1, IP Address:10.0.0.7"),
        "apiserver SANs (lower-cased, sorted DNS; IPs in kubeadm order): {text}"
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment\n"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication\n"));
    assert!(text.contains("ASN1 OID: prime256v1"));
    assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"));
    let etcd = openssl(&[
        "x509",
        "-in",
        s(&pkid.join("etcd/server.crt")),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(etcd.contains("DNS:etcd.example.com, DNS:localhost, DNS:vm, IP Address:192.0.2.2, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:0:5"), "{etcd}");
    let ca = openssl(&["x509", "-in", s(&pkid.join("ca.crt")), "-noout", "-text"]);
    assert!(ca.contains("Digital Signature, Key Encipherment, Certificate Sign"));
    assert!(ca.contains("CA:TRUE"));
    assert!(
        openssl(&["pkey", "-in", s(&pkid.join("sa.key")), "-noout", "-text"]).contains("256 bit")
    );
}

#[test]
fn validity_periods_follow_start_time_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = reference_params(dir.path(), EncryptionAlgorithm::EcdsaP256);
    p.local_etcd = false;
    p.start_time = time::macros::datetime!(2024-07-08 12:45:04 UTC);
    pki::plan(&p).unwrap().apply().unwrap();
    // Spec §19.6 vector: CA [2024-07-08 12:40:04, 2034-07-06 12:45:04].
    let ca = openssl(&[
        "x509",
        "-in",
        s(&dir.path().join("ca.crt")),
        "-noout",
        "-dates",
    ]);
    assert_eq!(
        ca,
        "notBefore=Jul  8 12:40:04 2024 GMT\nnotAfter=Jul  6 12:45:04 2034 GMT\n"
    );
    let leaf = openssl(&[
        "x509",
        "-in",
        s(&dir.path().join("apiserver.crt")),
        "-noout",
        "-dates",
    ]);
    assert_eq!(
        leaf,
        "notBefore=Jul  8 12:40:04 2024 GMT\nnotAfter=Jul  8 12:45:04 2025 GMT\n"
    );
    // Without local etcd: no etcd files.
    assert!(!dir.path().join("etcd").exists());
    assert!(!dir.path().join("apiserver-etcd-client.crt").exists());

    let dir2 = tempfile::tempdir().unwrap();
    let mut p2 = reference_params(dir2.path(), EncryptionAlgorithm::EcdsaP256);
    p2.local_etcd = false;
    p2.ca_validity = time::Duration::hours(24 * 365 * 30);
    p2.cert_validity = time::Duration::hours(48);
    pki::plan(&p2).unwrap().apply().unwrap();
    let ca = &Certificate::read_chain(&dir2.path().join("ca.crt")).unwrap()[0];
    let leaf = &Certificate::read_chain(&dir2.path().join("front-proxy-client.crt")).unwrap()[0];
    assert_eq!(
        ca.not_after - ca.not_before,
        time::Duration::hours(24 * 365 * 30) + time::Duration::minutes(5)
    );
    assert_eq!(
        leaf.not_after - leaf.not_before,
        time::Duration::hours(48) + time::Duration::minutes(5)
    );
}

#[test]
fn every_algorithm_yields_its_key_type_and_encoding() {
    for (alg, pem_label, openssl_says, sig) in [
        (
            EncryptionAlgorithm::Rsa2048,
            "RSA PRIVATE KEY",
            "Private-Key: (2048 bit",
            "sha256WithRSAEncryption",
        ),
        (
            EncryptionAlgorithm::Rsa3072,
            "RSA PRIVATE KEY",
            "Private-Key: (3072 bit",
            "sha256WithRSAEncryption",
        ),
        (
            EncryptionAlgorithm::Rsa4096,
            "RSA PRIVATE KEY",
            "Private-Key: (4096 bit",
            "sha256WithRSAEncryption",
        ),
        (
            EncryptionAlgorithm::EcdsaP256,
            "EC PRIVATE KEY",
            "Private-Key: (256 bit",
            "ecdsa-with-SHA256",
        ),
        (
            EncryptionAlgorithm::EcdsaP384,
            "EC PRIVATE KEY",
            "Private-Key: (384 bit",
            "ecdsa-with-SHA384",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate(alg).unwrap();
        let pem = key.to_pem().unwrap();
        assert!(
            pem.starts_with(&format!("-----BEGIN {pem_label}-----\n")),
            "{alg}"
        );
        let kp = dir.path().join("k.key");
        std::fs::write(&kp, &pem).unwrap();
        let text = openssl(&["pkey", "-in", s(&kp), "-noout", "-text"]);
        assert!(text.contains(openssl_says), "{alg}: {text}");
        if alg.as_str().starts_with("ECDSA") {
            // SEC1 with the named curve, like Go's MarshalECPrivateKey.
            let asn1 = openssl(&["asn1parse", "-in", s(&kp)]);
            assert!(
                asn1.contains("OBJECT            :prime256v1")
                    || asn1.contains("OBJECT            :secp384r1"),
                "{asn1}"
            );
        }
        // The key round-trips through our loader and signs a CA certificate openssl accepts.
        let loaded = PrivateKey::from_pem(pem.as_bytes(), &kp).unwrap();
        assert_eq!(loaded.public_key_der(), key.public_key_der());
        let now = time::OffsetDateTime::now_utc();
        let tpl = pki::CertTemplate {
            common_name: "kubernetes".into(),
            organizations: vec![],
            dns_names: vec!["kubernetes".into()],
            ips: vec![],
            usages: vec![],
            is_ca: true,
            not_before: now - time::Duration::minutes(5),
            not_after: now + time::Duration::hours(1),
        };
        let der = pki::create_certificate(
            &tpl,
            loaded.public_key_der(),
            pki::Issuer::SelfSigned(&loaded),
        )
        .unwrap();
        let cp = dir.path().join("ca.crt");
        std::fs::write(&cp, pki::encode_pem("CERTIFICATE", &der)).unwrap();
        let out = openssl(&["verify", "-CAfile", s(&cp), s(&cp)]);
        assert!(out.contains(": OK"), "{alg}: {out}");
        let text = openssl(&["x509", "-in", s(&cp), "-noout", "-text"]);
        assert!(
            text.contains(&format!("Signature Algorithm: {sig}")),
            "{alg}: {text}"
        );
    }
}

#[test]
fn loads_pkcs8_and_openssl_generated_keys() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expect) in [
        (
            vec![
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            pki::KeyType::Rsa(2048),
        ),
        (
            vec![
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
            ],
            pki::KeyType::EcdsaP384,
        ),
        (
            vec![
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            pki::KeyType::EcdsaP256,
        ),
    ] {
        let kp = dir.path().join("pkcs8.key");
        let mut a = args.clone();
        a.extend(["-out", s(&kp)]);
        openssl(&a);
        let pem = std::fs::read(&kp).unwrap();
        assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        assert_eq!(PrivateKey::from_pem(&pem, &kp).unwrap().key_type(), expect);
        // Traditional encodings too (PKCS#1 / SEC1, with an EC PARAMETERS block first).
        let trad = dir.path().join("trad.key");
        if expect == pki::KeyType::Rsa(2048) {
            openssl(&["rsa", "-in", s(&kp), "-traditional", "-out", s(&trad)]);
        } else {
            let curve = if expect == pki::KeyType::EcdsaP384 {
                "secp384r1"
            } else {
                "prime256v1"
            };
            let body = openssl(&["ec", "-in", s(&kp)]);
            let params = openssl(&["ecparam", "-name", curve]);
            std::fs::write(&trad, format!("{params}{body}")).unwrap();
        }
        assert_eq!(
            PrivateKey::from_pem(&std::fs::read(&trad).unwrap(), &trad)
                .unwrap()
                .key_type(),
            expect
        );
    }
    // Ed25519 is not accepted, and the error names the file.
    let kp = dir.path().join("ed.key");
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", s(&kp)]);
    let err = PrivateKey::from_pem(&std::fs::read(&kp).unwrap(), &kp)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ed.key") && err.contains("unsupported"),
        "{err}"
    );
}

#[test]
fn encryption_algorithm_parses_kubeadm_spelling() {
    assert_eq!(
        "".parse::<EncryptionAlgorithm>().unwrap(),
        EncryptionAlgorithm::Rsa2048
    );
    assert_eq!(
        "ECDSA-P384".parse::<EncryptionAlgorithm>().unwrap(),
        EncryptionAlgorithm::EcdsaP384
    );
    let err = "RSA-1024"
        .parse::<EncryptionAlgorithm>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encryptionAlgorithm") && err.contains("RSA-1024"),
        "{err}"
    );
}

#[test]
fn ca_cert_hash_matches_spec_vector() {
    // Spec §19.2: the P-256 generator point as public key.
    let spki_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaxfR8uEsQkf4vOblY6RA8ncDfYEt\n6zOg9KE5RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9Q==\n-----END PUBLIC KEY-----\n";
    let spki = pem::parse(spki_pem).unwrap().into_contents();
    assert_eq!(spki.len(), 91);
    let expected = "sha256:5cd252fb0ce8932436faf8ccd1040981b89ee4ad6b9fe9e2a2b7e71aacb27cd3";
    assert_eq!(pki::spki_hash(&spki), expected);
    // Any certificate carrying this public key has the pin: issue one and hash it.
    let ca_key = PrivateKey::generate(EncryptionAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut tpl = pki::CertTemplate {
        common_name: "ca".into(),
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
            &tpl,
            ca_key.public_key_der(),
            pki::Issuer::SelfSigned(&ca_key),
        )
        .unwrap(),
    )
    .unwrap();
    tpl.common_name = "kubernetes".into();
    let cert_der = pki::create_certificate(
        &tpl,
        &spki,
        pki::Issuer::Ca {
            cert: &ca,
            key: &ca_key,
        },
    )
    .unwrap();
    let pem_bundle = format!(
        "{}{}",
        pki::encode_pem("CERTIFICATE", &cert_der),
        ca.to_pem()
    );
    let pins = pki::ca_cert_hash_from_pem(pem_bundle.as_bytes(), Path::new("bundle.crt")).unwrap();
    assert_eq!(pins[0], expected);
    assert_ne!(pins[1], expected);
    // Cross-check the CA's pin with openssl.
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("ca.crt");
    std::fs::write(&cp, ca.to_pem()).unwrap();
    let pubkey = dir.path().join("pub.der");
    let pub_pem = openssl(&["x509", "-in", s(&cp), "-noout", "-pubkey"]);
    std::fs::write(dir.path().join("pub.pem"), pub_pem).unwrap();
    openssl(&[
        "pkey",
        "-pubin",
        "-in",
        s(&dir.path().join("pub.pem")),
        "-outform",
        "DER",
        "-out",
        s(&pubkey),
    ]);
    let dgst = openssl(&["dgst", "-sha256", "-r", s(&pubkey)]);
    assert_eq!(
        pins[1],
        format!("sha256:{}", dgst.split_whitespace().next().unwrap())
    );
}

#[test]
fn ca_cert_hash_of_reference_ca_matches_openssl() {
    // The pin of the real kubeadm ca.crt, as openssl computes it (hash of the DER SPKI).
    let ca = fixtures().join("etc-kubernetes/pki/ca.crt");
    let ours = pki::ca_cert_hash_from_pem(&std::fs::read(&ca).unwrap(), &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pub_pem = openssl(&["x509", "-in", s(&ca), "-noout", "-pubkey"]);
    std::fs::write(dir.path().join("pub.pem"), pub_pem).unwrap();
    let der = dir.path().join("pub.der");
    openssl(&[
        "pkey",
        "-pubin",
        "-in",
        s(&dir.path().join("pub.pem")),
        "-outform",
        "DER",
        "-out",
        s(&der),
    ]);
    let dgst = openssl(&["dgst", "-sha256", "-r", s(&der)]);
    assert_eq!(
        ours,
        vec![format!(
            "sha256:{}",
            dgst.split_whitespace().next().unwrap()
        )]
    );
}
