//! Join material against the spec's test vectors (§19.1–§19.4) and the objects a real kubeadm
//! v1.36.2 cluster created (`tests/fixtures/kubeadm-v1.36.2/objects/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use firstboot::config::{BootstrapToken as TokenConfig, GoDuration};
use firstboot::join_material::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use time::macros::datetime;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kubeadm-v1.36.2"
);

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(FIXTURES).join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn secret(name: &str) -> Secret {
    serde_yaml::from_slice(&fixture(&format!(
        "objects/secret/kube-system__{name}.yaml"
    )))
    .unwrap()
}

fn cluster_info() -> ConfigMap {
    serde_yaml::from_slice(&fixture("objects/configmap/kube-public__cluster-info.yaml")).unwrap()
}

fn ref_token(id: &str) -> BootstrapToken {
    TokenInfo::from_secret(&secret(&format!("bootstrap-token-{id}")))
        .unwrap()
        .token
}

/// Pin of the reference `ca.crt`, computed with
/// `openssl x509 -in ca.crt -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
const REF_CA_PIN: &str = "sha256:60683878914017c882a29a54d4b135e7b83aaf799de9b4bbd8b93a52e4a73cfd";
/// Pin of the reference `front-proxy-ca.crt` (same command): a valid pin of another CA.
const OTHER_PIN: &str = "sha256:4a071b2bbfa523810a5ac0de4102632b7a81b6bf207253066df9cea4dd100943";

fn strip_server_fields(s: &mut Secret) {
    s.metadata.creation_timestamp = None;
    s.metadata.resource_version = None;
    s.metadata.uid = None;
}

// ---------------------------------------------------------------- tokens (§7.1, §7.2, §19.3)

#[test]
fn default_token_secret_matches_kubeadm() {
    // `init phase bootstrap-token` token 11y76f and `token create` token ogfpit, both defaulted.
    for (id, now) in [
        ("11y76f", datetime!(2026-11-25 16:35:11 UTC)),
        ("ogfpit", datetime!(2026-11-25 16:35:20 UTC)),
    ] {
        let mut want = secret(&format!("bootstrap-token-{id}"));
        strip_server_fields(&mut want);
        let token = ref_token(id);
        let got = token_secret(&token, &defaulted(&TokenConfig::default()), now).unwrap();
        assert_eq!(got, want, "token {id}");
    }
}

#[test]
fn upload_certs_ttl_token_secret_matches_kubeadm() {
    let cfg = TokenConfig {
        description: CERTS_TOKEN_DESCRIPTION.to_string(),
        ttl: Some(CERTS_TOKEN_TTL),
        ..Default::default()
    };
    let mut want = secret("bootstrap-token-0s140a");
    strip_server_fields(&mut want);
    let got = token_secret(
        &ref_token("0s140a"),
        &cfg,
        datetime!(2026-11-25 16:35:11 UTC),
    )
    .unwrap();
    assert_eq!(got, want);
}

#[test]
fn token_secret_reads_back_for_token_list() {
    let info = TokenInfo::from_secret(&secret("bootstrap-token-11y76f")).unwrap();
    assert_eq!(info.token.expose(), "11y76f.gufmx1gc18nis10f");
    assert_eq!(info.usages, ["authentication", "signing"]);
    assert_eq!(
        info.groups,
        ["system:bootstrappers:kubeadm:default-node-token"]
    );
    assert_eq!(info.description, "");
    let exp = datetime!(2026-11-26 16:35:11 UTC);
    assert_eq!(info.expires_at(), Some(exp));
    assert!(!info.is_expired(datetime!(2026-11-26 16:35:10 UTC)));
    assert!(info.is_expired(exp));
    assert_eq!(
        info.remaining(datetime!(2026-11-26 15:35:11 UTC)),
        Some(time::Duration::hours(1))
    );
    assert_eq!(
        info.remaining(datetime!(2027-01-01 0:00 UTC)),
        Some(time::Duration::ZERO)
    );

    let proxy = TokenInfo::from_secret(&secret("bootstrap-token-0s140a")).unwrap();
    assert!(proxy.usages.is_empty());
    assert!(proxy.groups.is_empty());
    assert_eq!(proxy.description, CERTS_TOKEN_DESCRIPTION);
    assert_eq!(proxy.expires_at(), Some(datetime!(2026-11-25 18:35:11 UTC)));
}

#[test]
fn token_secret_round_trip_with_expires_ttl_and_description() {
    let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
    let now = datetime!(2030-01-01 0:00 UTC);
    // `expires` wins over `ttl`; an offset is converted to UTC.
    let cfg = TokenConfig {
        description: "for workers".into(),
        expires: Some("2030-02-01T12:00:00+02:00".into()),
        ttl: Some(GoDuration::from_secs(60)),
        usages: vec!["authentication".into()],
        groups: vec![
            "system:bootstrappers:kubeadm:default-node-token".into(),
            "system:bootstrappers:extra".into(),
        ],
        ..Default::default()
    };
    let s = token_secret(&token, &cfg, now).unwrap();
    let data = s.data.as_ref().unwrap();
    assert_eq!(data["expiration"].0, b"2030-02-01T10:00:00Z");
    assert!(!data.contains_key("usage-bootstrap-signing"));
    let info = TokenInfo::from_secret(&s).unwrap();
    assert_eq!(info.token, token);
    assert_eq!(info.expires, Some(datetime!(2030-02-01 10:00 UTC)));
    assert_eq!(info.usages, ["authentication"]);
    assert_eq!(info.groups, cfg.groups);
    assert_eq!(info.description, "for workers");

    // ttl 0: never expires.
    let never = TokenConfig {
        ttl: Some(GoDuration::from_secs(0)),
        ..Default::default()
    };
    let s = token_secret(&token, &defaulted(&never), now).unwrap();
    assert!(!s.data.as_ref().unwrap().contains_key("expiration"));
    let info = TokenInfo::from_secret(&s).unwrap();
    assert_eq!(info.expires_at(), None);
    assert!(!info.is_expired(datetime!(2999-01-01 0:00 UTC)));
}

#[test]
fn token_secret_rejects_bad_usage_group_expires_without_leaking_the_secret() {
    let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
    let now = datetime!(2030-01-01 0:00 UTC);
    let cases = [
        TokenConfig {
            usages: vec!["signing".into(), "admin".into()],
            ..Default::default()
        },
        TokenConfig {
            groups: vec!["system:nodes".into()],
            ..Default::default()
        },
        TokenConfig {
            groups: vec!["system:bootstrappers:foo-".into()],
            ..Default::default()
        },
        TokenConfig {
            expires: Some("tomorrow".into()),
            ..Default::default()
        },
    ];
    for cfg in cases {
        let err = token_secret(&token, &cfg, now).unwrap_err().to_string();
        assert!(err.contains("abcdef"), "{err}");
        assert!(!err.contains("0123456789abcdef"), "{err}");
    }
}

#[test]
fn token_is_redacted_in_display_debug_and_errors() {
    let t = BootstrapToken::parse("7x9k2m.q4w8e1r5t3y6u0i2").unwrap();
    assert_eq!(t.to_string(), "7x9k2m.****************");
    assert!(!format!("{t:?}").contains("q4w8e1r5t3y6u0i2"));
    assert_eq!(t.id(), "7x9k2m");
    assert_eq!(t.expose_secret(), "q4w8e1r5t3y6u0i2");
    assert_eq!(t.secret_name(), "bootstrap-token-7x9k2m");
    let err = BootstrapToken::parse("7x9k2m.Q4w8e1r5t3y6u0i2")
        .unwrap_err()
        .to_string();
    assert!(!err.to_lowercase().contains("q4w8e1r5t3y6u0i2"), "{err}");
    let info = TokenInfo::from_secret(&secret("bootstrap-token-11y76f")).unwrap();
    assert!(!format!("{info:?}").contains("gufmx1gc18nis10f"));
}

#[test]
fn token_secret_reader_rejects_inconsistent_secrets() {
    let base = secret("bootstrap-token-11y76f");

    let mut renamed = base.clone();
    renamed.metadata.name = Some("bootstrap-token-aaaaaa".into());
    let err = TokenInfo::from_secret(&renamed).unwrap_err().to_string();
    assert!(
        err.contains("bootstrap-token-aaaaaa") && err.contains("11y76f"),
        "{err}"
    );

    let mut wrong_type = base.clone();
    wrong_type.type_ = Some("Opaque".into());
    assert!(TokenInfo::from_secret(&wrong_type).is_err());

    let mut bad_secret = base.clone();
    bad_secret.data.as_mut().unwrap().insert(
        "token-secret".into(),
        ByteString(b"GUFMX1GC18NIS10F".to_vec()),
    );
    let err = TokenInfo::from_secret(&bad_secret).unwrap_err().to_string();
    assert!(!err.to_lowercase().contains("gufmx1gc18nis10f"), "{err}");

    let mut bad_exp = base.clone();
    bad_exp
        .data
        .as_mut()
        .unwrap()
        .insert("expiration".into(), ByteString(b"soon".to_vec()));
    assert!(TokenInfo::from_secret(&bad_exp)
        .unwrap_err()
        .to_string()
        .contains("soon"));

    let mut no_secret = base;
    no_secret.data.as_mut().unwrap().remove("token-secret");
    assert!(TokenInfo::from_secret(&no_secret).is_err());
}

// ---------------------------------------------------------------- detached JWS (§7.5, §19.1)

const SPEC_KUBECONFIG: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Zmlyc3Rib290LXRlc3QtY2E=\n    server: https://10.0.0.4:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n";

#[test]
fn spec_jws_vector() {
    assert_eq!(SPEC_KUBECONFIG.len(), 198);
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SPEC_KUBECONFIG)),
        "c968c6c3843599a5a25b35ef93da91ac6531aac6f7bca635a8fb3334a1a1394f"
    );
    let token = BootstrapToken::parse("7x9k2m.q4w8e1r5t3y6u0i2").unwrap();
    let want =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6Ijd4OWsybSJ9..I6JtOnHikYxfmvFHHeL8vbC5qGGQkGcJn-dQ_bN_p5U";
    assert_eq!(sign_detached(SPEC_KUBECONFIG, &token), want);
    verify_detached(SPEC_KUBECONFIG, want, &token).unwrap();
    // Keyed with the full token instead of the secret: must be rejected.
    let wrong =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6Ijd4OWsybSJ9..HkngbIqZAkvujgkwQDhYUh4pABNGWFPh8BZo2OVok_Y";
    assert!(matches!(
        verify_detached(SPEC_KUBECONFIG, wrong, &token),
        Err(JwsError::Signature { .. })
    ));
}

#[test]
fn reference_cluster_info_signatures_verify() {
    let cm = cluster_info();
    let data = cm.data.as_ref().unwrap();
    let kubeconfig = &data["kubeconfig"];
    for id in ["11y76f", "ogfpit"] {
        let token = ref_token(id);
        let sig = &data[&format!("jws-kubeconfig-{id}")];
        verify_detached(kubeconfig, sig, &token).unwrap();
        assert_eq!(&sign_detached(kubeconfig, &token), sig);
    }
    let sig = &data["jws-kubeconfig-11y76f"];
    // Other token (other id): kid mismatch.
    assert!(verify_detached(kubeconfig, sig, &ref_token("ogfpit")).is_err());
    // Same id, wrong secret.
    let forged = BootstrapToken::parse("11y76f.0000000000000000").unwrap();
    let err = verify_detached(kubeconfig, sig, &forged).unwrap_err();
    assert_eq!(
        err,
        JwsError::Signature {
            id: "11y76f".into()
        }
    );
    // Modified kubeconfig (one byte).
    let modified = kubeconfig.replace("127.0.0.1", "127.0.0.2");
    assert!(verify_detached(&modified, sig, &ref_token("11y76f")).is_err());
    let appended = format!("{kubeconfig} ");
    assert!(verify_detached(&appended, sig, &ref_token("11y76f")).is_err());
}

// ---------------------------------------------------------------- cluster-info (§7.4, §13.2)

#[test]
fn built_cluster_info_matches_kubeadm_byte_for_byte() {
    let want = cluster_info();
    let ca = fixture("etc-kubernetes/pki/ca.crt");
    let mut cm = build_cluster_info(&ca, "https://127.0.0.1:6443").unwrap();
    assert_eq!(cm.metadata.name.as_deref(), Some("cluster-info"));
    assert_eq!(cm.metadata.namespace.as_deref(), Some("kube-public"));
    assert_eq!(
        cm.data.as_ref().unwrap()["kubeconfig"],
        want.data.as_ref().unwrap()["kubeconfig"]
    );
    assert!(!has_signature(&cm, "11y76f"));
    // A stale signature of a deleted token is dropped; signing tokens are (re)signed.
    cm.data
        .as_mut()
        .unwrap()
        .insert(jws_key("zzzzzz"), "stale".into());
    set_signatures(&mut cm, &[ref_token("11y76f"), ref_token("ogfpit")]).unwrap();
    assert_eq!(cm.data, want.data);
    assert!(has_signature(&cm, "ogfpit"));
    // add_signature refreshes in place.
    cm.data
        .as_mut()
        .unwrap()
        .insert(jws_key("ogfpit"), "old".into());
    add_signature(&mut cm, &ref_token("ogfpit")).unwrap();
    assert_eq!(cm.data, want.data);
}

#[test]
fn discovery_accepts_reference_cluster_info_with_the_right_pin() {
    let cm = cluster_info();
    let ca = String::from_utf8(fixture("etc-kubernetes/pki/ca.crt")).unwrap();
    for pins in [
        vec![REF_CA_PIN.to_string()],
        vec![REF_CA_PIN.to_uppercase().replace("SHA256", "sha256")],
        vec![OTHER_PIN.to_string(), REF_CA_PIN.to_string()],
    ] {
        let d = validate_cluster_info(&cm, &ref_token("11y76f"), &pins, false).unwrap();
        assert_eq!(d.server, "https://127.0.0.1:6443");
        assert_eq!(d.ca_pem, ca);
        assert_eq!(d.cluster_name, "");
        assert_eq!(d.ca_pins, [REF_CA_PIN]);
        assert_eq!(d.kubeconfig, cm.data.as_ref().unwrap()["kubeconfig"]);
    }
    // Pins are checked even with unsafeSkipCAVerification.
    assert!(validate_cluster_info(&cm, &ref_token("ogfpit"), &[REF_CA_PIN.into()], true).is_ok());
}

#[test]
fn discovery_refuses_a_wrong_pin_naming_both_hashes() {
    let err = validate_cluster_info(
        &cluster_info(),
        &ref_token("11y76f"),
        &[OTHER_PIN.into()],
        false,
    )
    .unwrap_err();
    assert!(matches!(err, DiscoveryError::PinMismatch { .. }));
    let msg = err.to_string();
    assert!(msg.contains(OTHER_PIN) && msg.contains(REF_CA_PIN), "{msg}");
    let err = validate_cluster_info(
        &cluster_info(),
        &ref_token("11y76f"),
        &["sha1:abcd".into()],
        false,
    )
    .unwrap_err();
    assert!(matches!(err, DiscoveryError::InvalidPin { .. }), "{err}");
}

#[test]
fn discovery_refuses_missing_or_bad_signatures() {
    let cm = cluster_info();
    let pins = [REF_CA_PIN.to_string()];
    let unknown = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
    let err = validate_cluster_info(&cm, &unknown, &pins, false).unwrap_err();
    assert!(
        matches!(err, DiscoveryError::NoSignature { ref id } if id == "abcdef"),
        "{err}"
    );
    assert!(!err.to_string().contains("0123456789abcdef"));

    let wrong_secret = BootstrapToken::parse("11y76f.0123456789abcdef").unwrap();
    let err = validate_cluster_info(&cm, &wrong_secret, &pins, false).unwrap_err();
    assert!(matches!(err, DiscoveryError::BadSignature(_)), "{err}");

    // Kubeconfig swapped by a man in the middle (signature left as is).
    let mut mitm = cm.clone();
    let data = mitm.data.as_mut().unwrap();
    let k = data["kubeconfig"].replace("https://127.0.0.1:6443", "https://203.0.113.9:6443");
    data.insert("kubeconfig".into(), k);
    let err = validate_cluster_info(&mitm, &ref_token("11y76f"), &pins, false).unwrap_err();
    assert!(matches!(err, DiscoveryError::BadSignature(_)), "{err}");

    let mut empty = cm;
    empty.data.as_mut().unwrap().remove("kubeconfig");
    let err = validate_cluster_info(&empty, &ref_token("11y76f"), &pins, false).unwrap_err();
    assert!(matches!(err, DiscoveryError::NotSetUp), "{err}");
}

#[test]
fn discovery_unsafe_skip() {
    let cm = cluster_info();
    let d = validate_cluster_info(&cm, &ref_token("11y76f"), &[], true).unwrap();
    assert_eq!(d.server, "https://127.0.0.1:6443");
    assert_eq!(d.ca_pins, [REF_CA_PIN]);
    let err = validate_cluster_info(&cm, &ref_token("11y76f"), &[], false).unwrap_err();
    assert!(matches!(err, DiscoveryError::PinsRequired), "{err}");
    // The signature is required even on the unsafe path.
    let forged = BootstrapToken::parse("11y76f.0123456789abcdef").unwrap();
    assert!(validate_cluster_info(&cm, &forged, &[], true).is_err());
}

#[test]
fn discovery_second_fetch_must_be_identical() {
    let first = cluster_info();
    // New signatures only: fine.
    let mut more_sigs = first.clone();
    more_sigs
        .data
        .as_mut()
        .unwrap()
        .insert(jws_key("abcdef"), "x".into());
    ensure_same(&first, &more_sigs).unwrap();
    ensure_same(&first, &first.clone()).unwrap();
    // Kubeconfig changed (even by a trailing newline): refused.
    let mut changed = first.clone();
    changed
        .data
        .as_mut()
        .unwrap()
        .get_mut("kubeconfig")
        .unwrap()
        .push('\n');
    assert!(matches!(
        ensure_same(&first, &changed),
        Err(DiscoveryError::Changed)
    ));
    let mut gone = first.clone();
    gone.data = None;
    assert!(ensure_same(&first, &gone).is_err());
}

#[test]
fn discovery_resolves_the_current_context_cluster_and_pins_spec_key() {
    // A certificate carrying the §19.2 public key (P-256 generator point) has the spec's pin,
    // whatever its other fields; a named cluster is found through the current context.
    let spki = base64::engine::general_purpose::STANDARD
        .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9Q==")
        .unwrap();
    let signer =
        firstboot::pki::PrivateKey::generate(firstboot::pki::EncryptionAlgorithm::EcdsaP256)
            .unwrap();
    let tpl = firstboot::pki::CertTemplate {
        common_name: "spec-19-2".into(),
        organizations: vec![],
        dns_names: vec![],
        ips: vec![],
        usages: vec![],
        is_ca: true,
        not_before: datetime!(2026-01-01 0:00 UTC),
        not_after: datetime!(2036-01-01 0:00 UTC),
    };
    use firstboot::pki::{create_certificate, Certificate, Issuer};
    let root_der =
        create_certificate(&tpl, signer.public_key_der(), Issuer::SelfSigned(&signer)).unwrap();
    let root = Certificate::from_der(&root_der).unwrap();
    let der = create_certificate(
        &tpl,
        &spki,
        Issuer::Ca {
            cert: &root,
            key: &signer,
        },
    )
    .unwrap();
    let pem = firstboot::pki::encode_pem("CERTIFICATE", &der);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pem);
    let kubeconfig = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {b64}\n    server: https://lb.example:6443\n  name: prod\ncontexts:\n- context:\n    cluster: prod\n    user: \"\"\n  name: ctx\ncurrent-context: ctx\nkind: Config\nusers: null\n"
    );
    let token = BootstrapToken::generate().unwrap();
    let mut cm = ConfigMap {
        data: Some(BTreeMap::from([("kubeconfig".to_string(), kubeconfig)])),
        ..Default::default()
    };
    add_signature(&mut cm, &token).unwrap();
    let pin = "sha256:5cd252fb0ce8932436faf8ccd1040981b89ee4ad6b9fe9e2a2b7e71aacb27cd3";
    let d = validate_cluster_info(&cm, &token, &[pin.into()], false).unwrap();
    assert_eq!(d.cluster_name, "prod");
    assert_eq!(d.server, "https://lb.example:6443");
    assert_eq!(d.ca_pins, [pin]);
    assert_eq!(d.ca_pem, pem);
    // The hash of the bare 65-byte point is the classic mistake: not a match.
    let wrong = "sha256:698bea63".to_string() + &"0".repeat(56);
    assert!(validate_cluster_info(&cm, &token, &[wrong], false).is_err());
}

// ---------------------------------------------------------------- copycerts (§9, §19.4)

const SPEC_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SPEC_PLAIN: &[u8] = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const SPEC_STORED_B64: &str = "a3ViZWFkbS1jZXJ0/oRfM3ty3AkbKca/XhsYjZIIWjtTsKb2psd7d3yVFdQU2pIgS5Y82kADnY+s1MsvUidDyQK1B5noNpfM0NBujKV5G8/V6YnOBWkG";

fn spec_stored() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(SPEC_STORED_B64)
        .unwrap()
}

#[test]
fn spec_copycerts_vector_decrypts() {
    let key = CertificateKey::parse(SPEC_KEY).unwrap();
    assert_eq!(decrypt(&key, &spec_stored()).unwrap(), SPEC_PLAIN);
    // As a Secret value, through extract's decryption path.
    let key_upper = CertificateKey::parse(&SPEC_KEY.to_uppercase()).unwrap();
    assert_eq!(decrypt(&key_upper, &spec_stored()).unwrap(), SPEC_PLAIN);
}

#[test]
fn copycerts_round_trip_uses_fresh_nonces() {
    let key = CertificateKey::generate().unwrap();
    let plain = fixture("etc-kubernetes/pki/ca.crt");
    let a = encrypt(&key, &plain).unwrap();
    let b = encrypt(&key, &plain).unwrap();
    assert_eq!(a.len(), plain.len() + 28);
    assert_ne!(a[..12], b[..12], "nonces must differ");
    assert_eq!(decrypt(&key, &a).unwrap(), plain);
    assert_eq!(decrypt(&key, &b).unwrap(), plain);
    assert_eq!(decrypt(&key, &encrypt(&key, b"").unwrap()).unwrap(), b"");
}

#[test]
fn copycerts_wrong_key_and_tampering_are_rejected_without_printing_the_key() {
    let key = CertificateKey::parse(SPEC_KEY).unwrap();
    let other = CertificateKey::generate().unwrap();
    let err = decrypt(&other, &spec_stored()).unwrap_err().to_string();
    assert!(
        !err.contains(&other.expose_hex()) && !err.contains(SPEC_KEY),
        "{err}"
    );
    let stored = spec_stored();
    for i in [0, 11, 12, 40, stored.len() - 1] {
        let mut t = stored.clone();
        t[i] ^= 1;
        assert!(decrypt(&key, &t).is_err(), "flipped byte {i}");
    }
    assert!(decrypt(&key, &stored[..stored.len() - 1]).is_err());
    assert!(decrypt(&key, &stored[..27]).is_err());
    assert!(decrypt(&key, b"").is_err());
    let err = CertificateKey::parse("secretsecret")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("secretsecret"), "{err}");
}

#[test]
fn shared_file_list_and_secret_keys() {
    let pki = Path::new("/etc/kubernetes/pki");
    let local: Vec<(String, PathBuf)> = shared_files(pki, &EtcdFiles::Local)
        .into_iter()
        .map(|f| (f.secret_key, f.path))
        .collect();
    let want: Vec<(String, PathBuf)> = [
        ("ca.crt", "ca.crt"),
        ("ca.key", "ca.key"),
        ("front-proxy-ca.crt", "front-proxy-ca.crt"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
        ("sa.pub", "sa.pub"),
        ("sa.key", "sa.key"),
        ("etcd-ca.crt", "etcd/ca.crt"),
        ("etcd-ca.key", "etcd/ca.key"),
    ]
    .iter()
    .map(|(k, p)| (k.to_string(), pki.join(p)))
    .collect();
    assert_eq!(local, want);
    // Same key set as the real kubeadm-certs Secret (stacked etcd).
    let real: Vec<String> = secret("kubeadm-certs").data.unwrap().into_keys().collect();
    let mut keys: Vec<String> = local.into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, real);

    let ext = shared_files(
        pki,
        &EtcdFiles::External {
            ca_file: "/etc/etcd/ca.pem".into(),
            cert_file: "/etc/etcd/client.pem".into(),
            key_file: "/etc/etcd/client-key.pem".into(),
        },
    );
    let tail: Vec<(&str, &Path)> = ext[6..]
        .iter()
        .map(|f| (f.secret_key.as_str(), f.path.as_path()))
        .collect();
    assert_eq!(ext.len(), 9);
    assert_eq!(
        tail,
        [
            ("external-etcd-ca.crt", Path::new("/etc/etcd/ca.pem")),
            ("external-etcd.crt", Path::new("/etc/etcd/client.pem")),
            ("external-etcd.key", Path::new("/etc/etcd/client-key.pem")),
        ]
    );
    assert!(!ext.iter().any(|f| f.secret_key.starts_with("etcd-")));
}

/// A PKI dir with the reference certificates and freshly generated private keys.
fn pki_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("etcd")).unwrap();
    for f in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt", "sa.pub"] {
        std::fs::write(p.join(f), fixture(&format!("etc-kubernetes/pki/{f}"))).unwrap();
    }
    let keys =
        firstboot::pki::generate_keys(firstboot::pki::EncryptionAlgorithm::Rsa2048, 1).unwrap();
    let key_pem = keys[0].to_pem().unwrap();
    for f in ["ca.key", "front-proxy-ca.key", "etcd/ca.key", "sa.key"] {
        std::fs::write(p.join(f), &key_pem).unwrap();
    }
    dir
}

#[test]
fn kubeadm_certs_secret_has_kubeadms_shape() {
    let dir = pki_dir();
    let files = shared_files(dir.path(), &EtcdFiles::Local);
    let contents = read_shared_files(&files).unwrap();
    let key = CertificateKey::generate().unwrap();
    let real = secret("kubeadm-certs");
    let owner = &real.metadata.owner_references.as_ref().unwrap()[0];
    let got = build_secret(&contents, &key, &owner.name, &owner.uid).unwrap();
    assert_eq!(got.metadata.name, real.metadata.name);
    assert_eq!(got.metadata.namespace, real.metadata.namespace);
    assert_eq!(
        got.metadata.owner_references,
        real.metadata.owner_references
    );
    assert_eq!(
        got.type_, None,
        "no explicit type (the API server defaults Opaque)"
    );
    let got_data = got.data.unwrap();
    let real_data = real.data.unwrap();
    assert_eq!(
        got_data.keys().collect::<Vec<_>>(),
        real_data.keys().collect::<Vec<_>>()
    );
    // Certificates are the reference files: the encrypted values have the real lengths.
    for k in ["ca.crt", "front-proxy-ca.crt", "etcd-ca.crt", "sa.pub"] {
        assert_eq!(got_data[k].0.len(), real_data[k].0.len(), "{k}");
    }
    // Real values are plaintext (modes list sizes) + 12-byte nonce + 16-byte tag.
    for (k, size) in [
        ("ca.crt", 1107),
        ("ca.key", 1679),
        ("etcd-ca.key", 1675),
        ("sa.key", 1679),
        ("sa.pub", 451),
    ] {
        assert_eq!(real_data[k].0.len(), size + 28, "{k}");
    }
}

#[test]
fn extract_decrypts_with_kubeadm_modes() {
    let dir = pki_dir();
    let files = shared_files(dir.path(), &EtcdFiles::Local);
    let mut contents = read_shared_files(&files).unwrap();
    std::fs::remove_file(dir.path().join("front-proxy-ca.key")).unwrap();
    contents.insert("front-proxy-ca.key".into(), None);
    let key = CertificateKey::generate().unwrap();
    let s = build_secret(&contents, &key, "bootstrap-token-abcdef", "uid-1").unwrap();
    assert!(s.data.as_ref().unwrap()["front-proxy-ca.key"].0.is_empty());

    let target = Path::new("/etc/kubernetes/pki");
    let out = extract(&s, &key, &shared_files(target, &EtcdFiles::Local)).unwrap();
    let got: Vec<(PathBuf, u32)> = out.iter().map(|f| (f.path.clone(), f.mode)).collect();
    let want: Vec<(PathBuf, u32)> = [
        ("ca.crt", 0o644),
        ("ca.key", 0o600),
        ("front-proxy-ca.crt", 0o644),
        ("sa.pub", 0o644),
        ("sa.key", 0o600),
        ("etcd/ca.crt", 0o644),
        ("etcd/ca.key", 0o600),
    ]
    .iter()
    .map(|(p, m)| (target.join(p), *m))
    .collect();
    assert_eq!(got, want, "empty front-proxy-ca.key skipped");
    for f in &out {
        let rel = f.path.strip_prefix(target).unwrap();
        assert_eq!(
            f.data,
            std::fs::read(dir.path().join(rel)).unwrap(),
            "{}",
            f.secret_key
        );
        assert!(
            !format!("{f:?}").contains("BEGIN"),
            "Debug must not print material"
        );
    }
}

#[test]
fn extract_refuses_wrong_key_missing_entries_and_unknown_data() {
    let dir = pki_dir();
    let files = shared_files(dir.path(), &EtcdFiles::Local);
    let contents = read_shared_files(&files).unwrap();
    let key = CertificateKey::generate().unwrap();
    let s = build_secret(&contents, &key, "bootstrap-token-abcdef", "uid-1").unwrap();
    let target = Path::new("/etc/kubernetes/pki");

    let other = CertificateKey::generate().unwrap();
    let err = extract(&s, &other, &shared_files(target, &EtcdFiles::Local)).unwrap_err();
    assert!(matches!(err, CopyCertsError::DecryptEntry { .. }), "{err}");
    assert!(!err.to_string().contains(&other.expose_hex()));

    // One tampered entry aborts everything.
    let mut tampered = s.clone();
    let v = tampered.data.as_mut().unwrap().get_mut("sa.key").unwrap();
    let last = v.0.len() - 1;
    v.0[last] ^= 0x80;
    let err = extract(&tampered, &key, &shared_files(target, &EtcdFiles::Local)).unwrap_err();
    assert!(
        matches!(err, CopyCertsError::DecryptEntry { ref entry } if entry == "sa.key"),
        "{err}"
    );

    // A node configured for external etcd expects entries this Secret lacks.
    let ext = EtcdFiles::External {
        ca_file: "/etc/etcd/ca.pem".into(),
        cert_file: "/etc/etcd/client.pem".into(),
        key_file: "/etc/etcd/client-key.pem".into(),
    };
    let err = extract(&s, &key, &shared_files(target, &ext)).unwrap_err();
    assert!(
        matches!(err, CopyCertsError::MissingEntry { ref entry, .. } if entry == "external-etcd-ca.crt"),
        "{err}"
    );

    // Unknown data.
    let mut junk = contents.clone();
    junk.insert("sa.pub".into(), Some(b"not a pem file".to_vec()));
    let s = build_secret(&junk, &key, "bootstrap-token-abcdef", "uid-1").unwrap();
    let err = extract(&s, &key, &shared_files(target, &EtcdFiles::Local)).unwrap_err();
    assert!(
        matches!(err, CopyCertsError::UnknownData { ref entry } if entry == "sa.pub"),
        "{err}"
    );
}

#[test]
fn external_etcd_files_round_trip() {
    let dir = pki_dir();
    let ext_dir = tempfile::tempdir().unwrap();
    let ca = ext_dir.path().join("ca.pem");
    std::fs::copy(dir.path().join("etcd/ca.crt"), &ca).unwrap();
    let key_pem = std::fs::read(dir.path().join("ca.key")).unwrap();
    std::fs::write(ext_dir.path().join("client-key.pem"), &key_pem).unwrap();
    // certFile missing on the uploading node: uploaded as an empty value.
    let etcd = EtcdFiles::External {
        ca_file: ca,
        cert_file: ext_dir.path().join("client.pem"),
        key_file: ext_dir.path().join("client-key.pem"),
    };
    let contents = read_shared_files(&shared_files(dir.path(), &etcd)).unwrap();
    assert_eq!(contents["external-etcd.crt"], None);
    let key = CertificateKey::generate().unwrap();
    let s = build_secret(&contents, &key, "bootstrap-token-abcdef", "uid-1").unwrap();
    let join_etcd = EtcdFiles::External {
        ca_file: "/j/ca.pem".into(),
        cert_file: "/j/client.pem".into(),
        key_file: "/j/client-key.pem".into(),
    };
    let out = extract(&s, &key, &shared_files(Path::new("/p"), &join_etcd)).unwrap();
    let ext: BTreeMap<&str, (&Path, u32)> = out
        .iter()
        .filter(|f| f.secret_key.starts_with("external-"))
        .map(|f| (f.secret_key.as_str(), (f.path.as_path(), f.mode)))
        .collect();
    assert_eq!(
        ext,
        BTreeMap::from([
            ("external-etcd-ca.crt", (Path::new("/j/ca.pem"), 0o644)),
            ("external-etcd.key", (Path::new("/j/client-key.pem"), 0o600)),
        ])
    );
}

#[test]
fn read_shared_files_reports_unreadable_files() {
    let dir = pki_dir();
    // A directory where a file is expected: a read error other than "not found".
    std::fs::remove_file(dir.path().join("sa.pub")).unwrap();
    std::fs::create_dir(dir.path().join("sa.pub")).unwrap();
    let err = read_shared_files(&shared_files(dir.path(), &EtcdFiles::Local)).unwrap_err();
    assert!(err.to_string().contains("sa.pub"), "{err}");
}
