//! Existing-file semantics of the certs and kubeconfig phases (spec §3.4, §4.3): reuse,
//! provided CAs, external CA mode, wrong SANs, interrupted runs, errors naming the file.

mod pki_support;

use std::path::Path;

use firstboot::kubeconfig::{self, KubeconfigAction};
use firstboot::pki::{self, Action, CaKind, EncryptionAlgorithm, PkiParams};
use pki_support::*;

const ALG: EncryptionAlgorithm = EncryptionAlgorithm::EcdsaP256;

fn params(dir: &Path) -> PkiParams {
    reference_params(dir, ALG)
}

fn action(plan: &pki::Plan, name: &str) -> Action {
    plan.items
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .action
}

fn verify(dir: &Path, ca: &str, leaf: &str) {
    let out = openssl(&[
        "verify",
        "-CAfile",
        dir.join(format!("{ca}.crt")).to_str().unwrap(),
        dir.join(format!("{leaf}.crt")).to_str().unwrap(),
    ]);
    assert!(out.contains(": OK"), "{out}");
}

#[test]
fn second_run_rewrites_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pki");
    let p = params(&dir);
    let first = pki::plan(&p).unwrap();
    assert!(first.items.iter().all(|i| i.action == Action::Generate));
    let report = first.apply().unwrap();
    assert_eq!(report.written.len(), 22);
    let k = reference_kubeconfig_params(root.path(), ALG);
    assert_eq!(kubeconfig::plan(&k).unwrap().apply().unwrap().len(), 5);
    let before = snapshot(root.path());
    std::thread::sleep(std::time::Duration::from_millis(20));

    let second = pki::plan(&p).unwrap();
    assert!(
        second.items.iter().all(|i| i.action == Action::Reuse),
        "{second}"
    );
    assert!(second.changes().next().is_none());
    let report = second.apply().unwrap();
    assert!(report.written.is_empty());
    let kplan = kubeconfig::plan(&k).unwrap();
    assert!(kplan
        .items
        .iter()
        .all(|i| i.action == KubeconfigAction::Reuse));
    assert!(kplan.apply().unwrap().is_empty());
    assert_eq!(snapshot(root.path()), before, "mtimes and bytes unchanged");
    // No temp files are left behind by the atomic writes.
    assert!(files_under(root.path()).iter().all(|f| !f.contains(".tmp")));
}

#[test]
fn plan_is_printable_and_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let plan = pki::plan(&params(dir.path())).unwrap();
    let text = plan.to_string();
    assert!(
        text.contains("apiserver") && text.contains("0600") && text.contains("generate"),
        "{text}"
    );
    assert!(
        text.contains("\"10.96.0.1\""),
        "serving cert SANs are printed: {text}"
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["items"][0]["name"], "ca");
    assert_eq!(json["items"][0]["files"][0]["mode"], "0644");
    assert_eq!(json["items"][0]["files"][1]["mode"], "0600");
    // Planning writes nothing.
    assert!(files_under(dir.path()).is_empty());
}

#[test]
fn provided_ca_is_used_to_sign() {
    let dir = tempfile::tempdir().unwrap();
    // A CA made by openssl (as a user would put into user-data).
    let key = dir.path().join("in.key");
    let crt = dir.path().join("in.crt");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        key.to_str().unwrap(),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=my-org-ca",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,digitalSignature",
        "-out",
        crt.to_str().unwrap(),
    ]);
    let pkid = dir.path().join("pki");
    let written = pki::install_ca(
        &pkid,
        CaKind::Ca,
        &std::fs::read(&crt).unwrap(),
        &std::fs::read(&key).unwrap(),
    )
    .unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(mode(&pkid.join("ca.key")), 0o600);
    // Installing again is a no-op; a different CA is refused naming the file.
    assert!(pki::install_ca(
        &pkid,
        CaKind::Ca,
        &std::fs::read(&crt).unwrap(),
        &std::fs::read(&key).unwrap()
    )
    .unwrap()
    .is_empty());

    let plan = pki::plan(&params(&pkid)).unwrap();
    assert_eq!(action(&plan, "ca"), Action::Reuse);
    assert_eq!(action(&plan, "apiserver"), Action::Generate);
    plan.apply().unwrap();
    assert_eq!(
        std::fs::read(pkid.join("ca.crt")).unwrap(),
        std::fs::read(&crt).unwrap(),
        "provided CA kept"
    );
    verify(&pkid, "ca", "apiserver");
    verify(&pkid, "ca", "apiserver-kubelet-client");
    let leaf = &pki::Certificate::read_chain(&pkid.join("apiserver.crt")).unwrap()[0];
    assert_eq!(leaf.issuer_common_name, "my-org-ca");

    // Kubeconfigs are signed by it too.
    let k = reference_kubeconfig_params(dir.path(), ALG);
    kubeconfig::plan(&k).unwrap().apply().unwrap();
    let kc = kubeconfig::Kubeconfig::load(&dir.path().join("admin.conf")).unwrap();
    let cert_path = dir.path().join("admin-client.crt");
    std::fs::write(&cert_path, kc.client_certificate_pem().unwrap()).unwrap();
    let out = openssl(&[
        "verify",
        "-CAfile",
        crt.to_str().unwrap(),
        cert_path.to_str().unwrap(),
    ]);
    assert!(out.contains(": OK"), "{out}");

    let other = tempfile::tempdir().unwrap();
    let p2 = params(other.path());
    pki::plan(&p2).unwrap().apply().unwrap();
    let err = pki::install_ca(
        &pkid,
        CaKind::Ca,
        &std::fs::read(other.path().join("ca.crt")).unwrap(),
        &std::fs::read(other.path().join("ca.key")).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ca.key") || err.contains("ca.crt"), "{err}");
    // A key that does not match the certificate is refused.
    let err = pki::install_ca(
        other.path().join("x").as_path(),
        CaKind::Ca,
        &std::fs::read(&crt).unwrap(),
        &std::fs::read(other.path().join("ca.key")).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not match"), "{err}");
}

#[test]
fn external_ca_validates_and_generates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pki");
    let p = params(&dir);
    pki::plan(&p).unwrap().apply().unwrap();
    kubeconfig::plan(&reference_kubeconfig_params(root.path(), ALG))
        .unwrap()
        .apply()
        .unwrap();
    std::fs::remove_file(dir.join("ca.key")).unwrap();
    let before = snapshot(root.path());

    let plan = pki::plan(&p).unwrap();
    assert_eq!(action(&plan, "ca"), Action::External);
    assert_eq!(action(&plan, "apiserver"), Action::Reuse);
    assert_eq!(action(&plan, "front-proxy-ca"), Action::Reuse);
    plan.apply().unwrap();
    let kplan = kubeconfig::plan(&reference_kubeconfig_params(root.path(), ALG)).unwrap();
    assert!(kplan
        .items
        .iter()
        .all(|i| i.action == KubeconfigAction::ValidatedExternal));
    kplan.apply().unwrap();
    assert_eq!(snapshot(root.path()), before);

    // A missing leaf of the external CA is an error naming it.
    std::fs::remove_file(dir.join("apiserver-kubelet-client.crt")).unwrap();
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(
        err.contains("apiserver-kubelet-client.crt") && err.contains("external"),
        "{err}"
    );

    // A leaf signed by another CA is an error naming it.
    let other = tempfile::tempdir().unwrap();
    pki::plan(&params(other.path())).unwrap().apply().unwrap();
    for ext in ["crt", "key"] {
        std::fs::copy(
            other.path().join(format!("apiserver-kubelet-client.{ext}")),
            dir.join(format!("apiserver-kubelet-client.{ext}")),
        )
        .unwrap();
    }
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(
        err.contains("apiserver-kubelet-client.crt")
            && err.contains("not signed by corresponding CA"),
        "{err}"
    );

    // Missing kubeconfig in external mode: error naming it.
    std::fs::remove_file(root.path().join("scheduler.conf")).unwrap();
    let err = kubeconfig::plan(&reference_kubeconfig_params(root.path(), ALG))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scheduler.conf") && err.contains("external"),
        "{err}"
    );
}

#[test]
fn existing_cert_lacking_expected_san_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = params(dir.path());
    p.apiserver_cert_sans = vec!["*.example.com".into()];
    pki::plan(&p).unwrap().apply().unwrap();
    // Covered by the wildcard: fine.
    p.apiserver_cert_sans = vec!["*.example.com".into(), "api.example.com".into()];
    assert_eq!(action(&pki::plan(&p).unwrap(), "apiserver"), Action::Reuse);
    // A new IP is not covered.
    p.apiserver_cert_sans.push("10.1.2.3".into());
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(
        err.contains("apiserver.crt") && err.contains("10.1.2.3"),
        "{err}"
    );
    // A different advertise address affects apiserver and etcd certs.
    let mut p2 = params(dir.path());
    p2.advertise_address = "192.0.2.9".parse().unwrap();
    let err = pki::plan(&p2).unwrap_err().to_string();
    assert!(
        err.contains("apiserver.crt") && err.contains("192.0.2.9"),
        "{err}"
    );
}

#[test]
fn interrupted_run_is_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path());
    pki::plan(&p).unwrap().apply().unwrap();
    // Simulate a crash after the key of some pairs was written but before the certificate.
    for f in [
        "apiserver.crt",
        "etcd/peer.crt",
        "front-proxy-ca.crt",
        "front-proxy-client.crt",
        "sa.pub",
    ] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    let keys_before: Vec<Vec<u8>> = [
        "apiserver.key",
        "etcd/peer.key",
        "front-proxy-ca.key",
        "sa.key",
    ]
    .iter()
    .map(|f| std::fs::read(dir.path().join(f)).unwrap())
    .collect();
    let plan = pki::plan(&p).unwrap();
    assert_eq!(
        action(&plan, "apiserver"),
        Action::CertificateForExistingKey
    );
    assert_eq!(
        action(&plan, "front-proxy-ca"),
        Action::CertificateForExistingKey
    );
    assert_eq!(action(&plan, "sa"), Action::PublicKeyFromExistingKey);
    // The front-proxy-client's certificate is gone too, its key is reused.
    assert_eq!(
        action(&plan, "front-proxy-client"),
        Action::CertificateForExistingKey
    );
    plan.apply().unwrap();
    let keys_after: Vec<Vec<u8>> = [
        "apiserver.key",
        "etcd/peer.key",
        "front-proxy-ca.key",
        "sa.key",
    ]
    .iter()
    .map(|f| std::fs::read(dir.path().join(f)).unwrap())
    .collect();
    assert_eq!(keys_before, keys_after, "existing keys are kept");
    verify(dir.path(), "ca", "apiserver");
    verify(dir.path(), "etcd/ca", "etcd/peer");
    verify(dir.path(), "front-proxy-ca", "front-proxy-client");
    let derived = openssl(&[
        "pkey",
        "-in",
        dir.path().join("sa.key").to_str().unwrap(),
        "-pubout",
    ]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sa.pub")).unwrap(),
        derived
    );
    // And now everything is reused.
    assert!(pki::plan(&p)
        .unwrap()
        .items
        .iter()
        .all(|i| i.action == Action::Reuse));
}

#[test]
fn broken_existing_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path());
    pki::plan(&p).unwrap().apply().unwrap();

    // Certificate without key.
    let key = std::fs::read(dir.path().join("apiserver.key")).unwrap();
    std::fs::remove_file(dir.path().join("apiserver.key")).unwrap();
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(err.contains("apiserver.key"), "{err}");
    std::fs::write(dir.path().join("apiserver.key"), &key).unwrap();

    // Unparseable key.
    std::fs::write(dir.path().join("sa.key"), "garbage").unwrap();
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(err.contains("sa.key"), "{err}");
    std::fs::remove_file(dir.path().join("sa.key")).unwrap();

    // A leaf where a CA is expected.
    let ca = std::fs::read(dir.path().join("etcd/ca.crt")).unwrap();
    std::fs::copy(
        dir.path().join("etcd/server.crt"),
        dir.path().join("etcd/ca.crt"),
    )
    .unwrap();
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(
        err.contains("etcd/ca.crt") && err.contains("not a CA"),
        "{err}"
    );
    std::fs::write(dir.path().join("etcd/ca.crt"), ca).unwrap();

    // A key that does not belong to the certificate.
    std::fs::copy(
        dir.path().join("etcd/peer.key"),
        dir.path().join("etcd/server.key"),
    )
    .unwrap();
    let err = pki::plan(&p).unwrap_err().to_string();
    assert!(
        err.contains("etcd/server.key") && err.contains("does not match"),
        "{err}"
    );
}

#[test]
fn kubeconfig_with_foreign_ca_is_an_error_and_other_server_a_warning() {
    let root = tempfile::tempdir().unwrap();
    pki::plan(&params(&root.path().join("pki")))
        .unwrap()
        .apply()
        .unwrap();
    let mut k = reference_kubeconfig_params(root.path(), ALG);
    kubeconfig::plan(&k).unwrap().apply().unwrap();

    k.control_plane_endpoint = Some("lb.example.com:6443".into());
    let plan = kubeconfig::plan(&k).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("admin.conf") && w.contains("https://lb.example.com:6443")),
        "{:?}",
        plan.warnings
    );
    assert!(plan
        .items
        .iter()
        .all(|i| i.action == KubeconfigAction::Reuse));

    let other = tempfile::tempdir().unwrap();
    pki::plan(&params(&other.path().join("pki")))
        .unwrap()
        .apply()
        .unwrap();
    kubeconfig::plan(&reference_kubeconfig_params(other.path(), ALG))
        .unwrap()
        .apply()
        .unwrap();
    std::fs::copy(
        other.path().join("controller-manager.conf"),
        root.path().join("controller-manager.conf"),
    )
    .unwrap();
    let err = kubeconfig::plan(&k).unwrap_err().to_string();
    assert!(
        err.contains("controller-manager.conf") && err.contains("trusted CA"),
        "{err}"
    );
}

#[test]
fn endpoints_and_ipv6() {
    let v6: std::net::IpAddr = "fd00::10".parse().unwrap();
    assert_eq!(
        kubeconfig::local_endpoint_url(v6, 6443),
        "https://[fd00::10]:6443"
    );
    assert_eq!(
        kubeconfig::control_plane_endpoint_url(None, v6, 6443).unwrap(),
        "https://[fd00::10]:6443"
    );
    assert_eq!(
        kubeconfig::control_plane_endpoint_url(Some("[fd00::1]:443"), v6, 6443).unwrap(),
        "https://[fd00::1]:443"
    );
    assert_eq!(
        kubeconfig::control_plane_endpoint_url(Some("lb.example.com"), v6, 6443).unwrap(),
        "https://lb.example.com:6443"
    );
    assert!(kubeconfig::control_plane_endpoint_url(Some("bad host:1"), v6, 6443).is_err());

    // IPv6 single stack: service VIP from the v6 CIDR, endpoint host as IP SAN.
    let dir = tempfile::tempdir().unwrap();
    let mut p = PkiParams::new(dir.path(), "node-a", v6);
    p.encryption_algorithm = ALG;
    p.service_subnet = "fd00:10:96::/108,10.96.0.0/12".into();
    p.control_plane_endpoint = Some("[fd00::1]:6443".into());
    p.local_etcd = false;
    let plan = pki::plan(&p).unwrap();
    let api = plan.items.iter().find(|i| i.name == "apiserver").unwrap();
    let ips: Vec<String> = api
        .spec
        .as_ref()
        .unwrap()
        .template
        .ips
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ips, ["fd00:10:96::1", "fd00::10", "fd00::1"]);
    let err = {
        p.service_subnet = "not-a-cidr".into();
        pki::plan(&p).unwrap_err().to_string()
    };
    assert!(err.contains("serviceSubnet"), "{err}");
}
