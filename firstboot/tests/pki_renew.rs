//! Renewal (spec §15.2), check-expiration (§15.3) and CSR generation for external CAs.

mod pki_support;

use std::path::Path;

use firstboot::kubeconfig::{self, Kubeconfig, KubeconfigFile};
use firstboot::pki::{
    self, Certificate, CsrParams, EncryptionAlgorithm, ExpirationParams, RenewOutcome, RenewParams,
};
use pki_support::*;
use time::{Duration, OffsetDateTime};

const ALG: EncryptionAlgorithm = EncryptionAlgorithm::EcdsaP256;

fn setup(root: &Path, start: OffsetDateTime) {
    let mut p = reference_params(&root.join("pki"), ALG);
    p.start_time = start;
    pki::plan(&p).unwrap().apply().unwrap();
    let mut k = reference_kubeconfig_params(root, ALG);
    k.start_time = start;
    kubeconfig::plan(&k).unwrap().apply().unwrap();
}

fn renew_params(root: &Path, start: OffsetDateTime) -> RenewParams {
    RenewParams {
        cert_dir: root.join("pki"),
        kubeconfig_dir: root.to_path_buf(),
        local_etcd: true,
        encryption_algorithm: ALG,
        cert_validity: Duration::hours(8760),
        start_time: start,
    }
}

fn leaf(root: &Path, f: &str) -> Certificate {
    Certificate::read_chain(&root.join("pki").join(f))
        .unwrap()
        .remove(0)
}

fn kc_cert(path: &Path) -> Certificate {
    let kc = Kubeconfig::load(path).unwrap();
    Certificate::parse_pem_chain(&kc.client_certificate_pem().unwrap(), path)
        .unwrap()
        .remove(0)
}

#[test]
fn renew_all_keeps_subject_and_sans_and_changes_validity() {
    let root = tempfile::tempdir().unwrap();
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(100);
    setup(root.path(), t0);
    let old_api = leaf(root.path(), "apiserver.crt");
    let old_key = std::fs::read(root.path().join("pki/apiserver.key")).unwrap();
    let old_admin = kc_cert(&root.path().join("admin.conf"));
    let ca_before = std::fs::read(root.path().join("pki/ca.crt")).unwrap();
    let kubelet_before = std::fs::read(root.path().join("kubelet.conf")).unwrap();

    let t1 = t0 + Duration::days(100);
    let results = pki::renew(&renew_params(root.path(), t1), &["all".to_string()]).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "admin.conf",
            "apiserver",
            "apiserver-etcd-client",
            "apiserver-kubelet-client",
            "controller-manager.conf",
            "etcd-healthcheck-client",
            "etcd-peer",
            "etcd-server",
            "front-proxy-client",
            "scheduler.conf",
            "super-admin.conf"
        ]
    );
    assert!(
        results.iter().all(|r| r.outcome == RenewOutcome::Renewed),
        "{results:?}"
    );

    let new_api = leaf(root.path(), "apiserver.crt");
    assert_eq!(new_api.subject_raw, old_api.subject_raw);
    assert_eq!(new_api.dns_names, old_api.dns_names);
    assert_eq!(new_api.ips, old_api.ips);
    assert_eq!(new_api.ext_key_usages, old_api.ext_key_usages);
    assert_ne!(new_api.serial, old_api.serial);
    assert_eq!(new_api.not_before, t1 - Duration::minutes(5));
    assert_eq!(new_api.not_after, t1 + Duration::hours(8760));
    assert_ne!(
        std::fs::read(root.path().join("pki/apiserver.key")).unwrap(),
        old_key,
        "new key"
    );
    let out = openssl(&[
        "verify",
        "-CAfile",
        root.path().join("pki/ca.crt").to_str().unwrap(),
        root.path().join("pki/apiserver.crt").to_str().unwrap(),
    ]);
    assert!(out.contains(": OK"));
    let k = openssl(&[
        "pkey",
        "-in",
        root.path().join("pki/apiserver.key").to_str().unwrap(),
        "-pubout",
    ]);
    let c = openssl(&[
        "x509",
        "-in",
        root.path().join("pki/apiserver.crt").to_str().unwrap(),
        "-noout",
        "-pubkey",
    ]);
    assert_eq!(k, c, "renewed key matches renewed cert");
    assert_eq!(mode(&root.path().join("pki/apiserver.key")), 0o600);

    let new_admin = kc_cert(&root.path().join("admin.conf"));
    assert_eq!(
        (
            new_admin.common_name.as_str(),
            new_admin.organizations.clone()
        ),
        (
            "kubernetes-admin",
            vec!["kubeadm:cluster-admins".to_string()]
        )
    );
    assert_eq!(old_admin.common_name, new_admin.common_name);
    assert_eq!(new_admin.not_after, t1 + Duration::hours(8760));
    assert_eq!(new_admin.not_before, t1 - Duration::minutes(5));
    let kc = Kubeconfig::load(&root.path().join("admin.conf")).unwrap();
    assert_eq!(
        kc.current_cluster_ca_pem(Path::new("admin.conf")).unwrap(),
        ca_before
    );
    assert_eq!(mode(&root.path().join("admin.conf")), 0o600);
    // kubelet.conf and the CAs are not renewed.
    assert_eq!(
        std::fs::read(root.path().join("kubelet.conf")).unwrap(),
        kubelet_before
    );
    assert_eq!(
        std::fs::read(root.path().join("pki/ca.crt")).unwrap(),
        ca_before
    );
}

#[test]
fn renew_by_name_unknown_names_and_external_ca() {
    let root = tempfile::tempdir().unwrap();
    setup(root.path(), OffsetDateTime::now_utc());
    let p = renew_params(root.path(), OffsetDateTime::now_utc());
    let before_peer = std::fs::read(root.path().join("pki/etcd/peer.crt")).unwrap();
    let r = pki::renew(&p, &["etcd-server".to_string()]).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].written.len(), 2);
    assert_eq!(
        std::fs::read(root.path().join("pki/etcd/peer.crt")).unwrap(),
        before_peer
    );

    let err = pki::renew(&p, &["kubelet.conf".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kubelet.conf") && err.contains("not a valid certificate"),
        "{err}"
    );
    let err = pki::renew(&p, &["ca".to_string()]).unwrap_err().to_string();
    assert!(err.contains("not a valid certificate"), "{err}");

    // External front-proxy CA: its client is reported, not renewed; the others are renewed.
    std::fs::remove_file(root.path().join("pki/front-proxy-ca.key")).unwrap();
    let fp_before = std::fs::read(root.path().join("pki/front-proxy-client.crt")).unwrap();
    let r = pki::renew(&p, &[]).unwrap();
    let fp = r.iter().find(|x| x.name == "front-proxy-client").unwrap();
    assert_eq!(fp.outcome, RenewOutcome::ExternallyManaged);
    assert!(fp.message.contains("front-proxy-ca"));
    assert_eq!(
        std::fs::read(root.path().join("pki/front-proxy-client.crt")).unwrap(),
        fp_before
    );
    assert_eq!(
        r.iter()
            .filter(|x| x.outcome == RenewOutcome::Renewed)
            .count(),
        10
    );

    // A missing file: reported with `all`, an error naming it when named.
    std::fs::remove_file(root.path().join("super-admin.conf")).unwrap();
    let r = pki::renew(&p, &["all".into()]).unwrap();
    assert_eq!(
        r.iter()
            .find(|x| x.name == "super-admin.conf")
            .unwrap()
            .outcome,
        RenewOutcome::Missing
    );
    let err = pki::renew(&p, &["super-admin.conf".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("super-admin.conf"), "{err}");
}

#[test]
fn check_expiration_rows_table_and_json() {
    let root = tempfile::tempdir().unwrap();
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    setup(root.path(), t0);
    std::fs::remove_file(root.path().join("super-admin.conf")).unwrap();
    std::fs::remove_file(root.path().join("pki/etcd/ca.key")).unwrap();
    let now = t0 + Duration::days(1);
    let info = pki::check_expiration(&ExpirationParams {
        cert_dir: root.path().join("pki"),
        kubeconfig_dir: root.path().to_path_buf(),
        local_etcd: true,
        now,
    })
    .unwrap();
    let names: Vec<&str> = info.certificates.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "admin.conf",
            "apiserver",
            "apiserver-etcd-client",
            "apiserver-kubelet-client",
            "controller-manager.conf",
            "etcd-healthcheck-client",
            "etcd-peer",
            "etcd-server",
            "front-proxy-client",
            "scheduler.conf",
            "super-admin.conf"
        ]
    );
    let api = &info.certificates[1];
    assert_eq!(api.expiration_date, Some(t0 + Duration::hours(8760)));
    assert_eq!(
        api.residual_time,
        (Duration::hours(8760) - Duration::days(1)).whole_seconds()
    );
    assert_eq!(api.ca_name.as_deref(), Some("ca"));
    assert!(!api.externally_managed);
    let etcd = info
        .certificates
        .iter()
        .find(|r| r.name == "etcd-server")
        .unwrap();
    assert!(etcd.externally_managed, "etcd-ca has no key");
    assert_eq!(etcd.ca_name.as_deref(), Some("etcd-ca"));
    let missing = info.certificates.last().unwrap();
    assert!(missing.missing && missing.expiration_date.is_none());
    let cas: Vec<(&str, bool)> = info
        .certificate_authorities
        .iter()
        .map(|r| (r.name.as_str(), r.externally_managed))
        .collect();
    assert_eq!(
        cas,
        [("ca", false), ("etcd-ca", true), ("front-proxy-ca", false)]
    );

    let table = info.to_table(now);
    let lines: Vec<&str> = table.lines().collect();
    // Column widths: longest cell + 3 (tabwriter padding), at least 10. The longest first
    // cell is "!MISSING! super-admin.conf" (26), dates are 22 wide.
    let row =
        |a: &str, b: &str, c: &str, d: &str, e: &str| format!("{a:<29}{b:<25}{c:<16}{d:<24}{e}");
    assert_eq!(
        lines[0],
        row(
            "CERTIFICATE",
            "EXPIRES",
            "RESIDUAL TIME",
            "CERTIFICATE AUTHORITY",
            "EXTERNALLY MANAGED"
        )
    );
    let date = {
        let f = time::macros::format_description!(
            "[month repr:short] [day], [year] [hour]:[minute] UTC"
        );
        (t0 + Duration::hours(8760)).format(&f).unwrap()
    };
    assert_eq!(date.len(), 22);
    assert_eq!(lines[1], row("admin.conf", &date, "364d", "ca", "no      "));
    assert_eq!(
        lines[8],
        row("etcd-server", &date, "364d", "etcd-ca", "yes     ")
    );
    assert_eq!(lines[11], row("!MISSING! super-admin.conf", "", "", "", ""));
    assert_eq!(lines[12], "");
    let ca_row = |a: &str, b: &str, c: &str, d: &str| format!("{a:<24}{b:<25}{c:<16}{d}");
    assert_eq!(
        lines[13],
        ca_row(
            "CERTIFICATE AUTHORITY",
            "EXPIRES",
            "RESIDUAL TIME",
            "EXTERNALLY MANAGED"
        )
    );
    assert!(
        lines[15].starts_with("etcd-ca                 ")
            && lines[15].ends_with("   9y              yes     "),
        "{:?}",
        lines[15]
    );
    assert_eq!(lines.len(), 17);

    let json: serde_json::Value = serde_json::from_str(&info.to_json()).unwrap();
    assert_eq!(json["kind"], "CertificateExpirationInfo");
    assert_eq!(json["apiVersion"], "output.kubeadm.k8s.io/v1alpha3");
    assert_eq!(json["certificates"][1]["name"], "apiserver");
    assert_eq!(json["certificates"][1]["caName"], "ca");
    assert_eq!(json["certificates"][1]["residualTime"], api.residual_time);
    assert_eq!(json["certificates"][10]["missing"], true);
    assert!(json["certificateAuthorities"][0].get("caName").is_none());
}

#[test]
fn check_expiration_reads_kubeadm_made_pki() {
    // The real kubeadm reference certificates and kubeconfigs (keys were not kept: the CAs
    // therefore count as externally managed and their leaves must verify against them).
    let root = tempfile::tempdir().unwrap();
    let src = fixtures().join("etc-kubernetes");
    for f in files_under(&src)
        .iter()
        .filter(|f| f.starts_with("pki/") || f.ends_with(".conf"))
    {
        let to = root.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(f), to).unwrap();
    }
    // Give every leaf a (placeholder) key file so the external-CA validation can load it.
    let dummy = pki::PrivateKey::generate(ALG).unwrap().to_pem().unwrap();
    for f in files_under(&root.path().join("pki"))
        .iter()
        .filter(|f| f.ends_with(".crt") && !f.ends_with("ca.crt"))
    {
        std::fs::write(
            root.path().join("pki").join(f.replace(".crt", ".key")),
            &dummy,
        )
        .unwrap();
    }
    let ref_api = Certificate::read_chain(&src.join("pki/apiserver.crt"))
        .unwrap()
        .remove(0);
    let info = pki::check_expiration(&ExpirationParams {
        cert_dir: root.path().join("pki"),
        kubeconfig_dir: root.path().to_path_buf(),
        local_etcd: true,
        now: ref_api.not_before,
    })
    .unwrap();
    assert!(
        info.certificates
            .iter()
            .all(|r| !r.missing && r.externally_managed),
        "{info:?}"
    );
    let api = info
        .certificates
        .iter()
        .find(|r| r.name == "apiserver")
        .unwrap();
    assert_eq!(api.expiration_date, Some(ref_api.not_after));
    assert_eq!(
        pki::human_duration(ref_api.not_after - ref_api.not_before),
        "365d"
    );
}

#[test]
fn human_duration_like_apimachinery() {
    for (secs, s) in [
        (-2i64, "<invalid>"),
        (-1, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 120, "3h2m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (364 * 86400, "364d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (1094 * 86400, "2y364d"),
        (3650 * 86400, "10y"),
        (3649 * 86400, "9y"),
    ] {
        assert_eq!(pki::human_duration(Duration::seconds(secs)), s, "{secs}s");
    }
}

#[test]
fn generate_csrs_for_external_ca() {
    let root = tempfile::tempdir().unwrap();
    let mut pp = reference_params(&root.path().join("pki"), ALG);
    pp.apiserver_cert_sans = vec!["api.example.com".into()];
    let params = CsrParams {
        pki: pp,
        kubeconfig_dir: root.path().to_path_buf(),
        cluster_name: "kubernetes".into(),
        kubeconfig_files: KubeconfigFile::INIT.to_vec(),
    };
    let report = pki::generate_csrs(&params).unwrap();
    assert_eq!(report.written.len(), 2 * 7 + 2 * 5);
    for base in [
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    ] {
        let csr = root.path().join(format!("pki/{base}.csr"));
        assert_eq!(mode(&csr), 0o600);
        assert_eq!(mode(&root.path().join(format!("pki/{base}.key"))), 0o600);
        let (ok, out, err) =
            openssl_raw(&["req", "-in", csr.to_str().unwrap(), "-verify", "-noout"]);
        assert!(
            ok && format!("{out}{err}").contains("verify OK"),
            "{base}: {out}{err}"
        );
        let k = openssl(&[
            "pkey",
            "-in",
            root.path()
                .join(format!("pki/{base}.key"))
                .to_str()
                .unwrap(),
            "-pubout",
        ]);
        let c = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
        assert_eq!(k, c, "{base}: CSR carries the key's public key");
    }
    let text = openssl(&[
        "req",
        "-in",
        root.path().join("pki/apiserver.csr").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(text.contains("Subject: CN = kube-apiserver"), "{text}");
    assert!(text.contains("DNS:api.example.com, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:vm, IP Address:10.96.0.1, IP Address:192.0.2.2, IP Address:127.0.0.1"), "{text}");
    let text = openssl(&[
        "req",
        "-in",
        root.path().join("admin.conf.csr").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("Subject: O = kubeadm:cluster-admins, CN = kubernetes-admin"),
        "{text}"
    );
    let kc = Kubeconfig::load(&root.path().join("admin.conf")).unwrap();
    assert!(kc.client_key_pem().is_some() && kc.client_certificate_pem().is_none());
    assert_eq!(kc.server(), Some("https://127.0.0.1:6443"));
    assert_eq!(mode(&root.path().join("admin.conf")), 0o600);

    // Re-running keeps the existing certificate CSRs but refuses to overwrite kubeconfigs.
    let err = pki::generate_csrs(&params).unwrap_err().to_string();
    assert!(
        err.contains("admin.conf") && err.contains("exists"),
        "{err}"
    );
    let mut only_certs = params.clone();
    only_certs.kubeconfig_files.clear();
    let before = std::fs::read(root.path().join("pki/apiserver.key")).unwrap();
    let report = pki::generate_csrs(&only_certs).unwrap();
    assert!(report.written.is_empty() && report.reused.len() == 7);
    assert_eq!(
        std::fs::read(root.path().join("pki/apiserver.key")).unwrap(),
        before
    );
}
