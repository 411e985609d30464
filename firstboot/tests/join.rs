//! Join: discovery against the real signed cluster-info a kubeadm v1.36.2 cluster served,
//! download-certs decryption, and `firstboot reset` on a directory root.

mod runner_support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use firstboot::join::discovery::{
    ClusterInfoSource, DiscoveryError, FetchError, Token, TokenDiscovery,
};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kubeadm-v1.36.2/objects"
);

fn yaml(rel: &str) -> serde_yaml::Value {
    let p = Path::new(FIXTURES).join(rel);
    serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// `data` of the real cluster-info ConfigMap.
fn cluster_info() -> BTreeMap<String, String> {
    serde_yaml::from_value(yaml("configmap/kube-public__cluster-info.yaml")["data"].clone())
        .unwrap()
}

/// The real token `<id>.<secret>` from its Secret.
fn token(id: &str) -> String {
    let v = yaml(&format!("secret/kube-system__bootstrap-token-{id}.yaml"));
    let dec = |k: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v["data"][k].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    format!("{}.{}", dec("token-id"), dec("token-secret"))
}

/// The CA pin computed by real openssl from the CA inside cluster-info (§13.2 step 6 shell).
fn openssl_pin() -> String {
    let kc: serde_yaml::Value = serde_yaml::from_str(&cluster_info()["kubeconfig"]).unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(
            kc["clusters"][0]["cluster"]["certificate-authority-data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ca.crt");
    std::fs::write(&f, ca).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | sha256sum",
            f.display()
        ))
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

/// Serves scripted answers: one per fetch, the last one repeated. Records whether each fetch
/// was TLS-verified and against which CA.
struct Scripted {
    answers: Vec<Result<Option<BTreeMap<String, String>>, FetchError>>,
    calls: RefCell<Vec<Option<Vec<u8>>>>,
}

impl Scripted {
    fn new(answers: Vec<Result<Option<BTreeMap<String, String>>, FetchError>>) -> Self {
        Scripted {
            answers,
            calls: RefCell::new(Vec::new()),
        }
    }
}

fn clone_answer(
    a: &Result<Option<BTreeMap<String, String>>, FetchError>,
) -> Result<Option<BTreeMap<String, String>>, FetchError> {
    match a {
        Ok(v) => Ok(v.clone()),
        Err(FetchError::Unauthorized) => Err(FetchError::Unauthorized),
        Err(FetchError::Other(m)) => Err(FetchError::Other(m.clone())),
    }
}

impl ClusterInfoSource for Scripted {
    fn fetch(
        &self,
        endpoint: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Option<BTreeMap<String, String>>, FetchError> {
        assert_eq!(endpoint, "127.0.0.1:6443");
        let n = self.calls.borrow().len();
        self.calls.borrow_mut().push(ca_pem.map(<[u8]>::to_vec));
        clone_answer(&self.answers[n.min(self.answers.len() - 1)])
    }
}

fn discovery(token: &str, pins: Vec<String>) -> TokenDiscovery {
    let bt = firstboot::config::BootstrapTokenDiscovery {
        api_server_endpoint: "127.0.0.1:6443".into(),
        ca_cert_hashes: pins.clone(),
        token: token.into(),
        unsafe_skip_ca_verification: pins.is_empty(),
    };
    let mut d = TokenDiscovery::from_config(&bt, Duration::from_millis(300)).unwrap();
    d.interval = Duration::from_millis(20);
    d
}

#[test]
fn real_cluster_info_is_accepted_with_the_right_pin_for_both_signing_tokens() {
    for id in ["11y76f", "ogfpit"] {
        let src = Scripted::new(vec![Ok(Some(cluster_info()))]);
        let got = discovery(&token(id), vec![openssl_pin()])
            .run(&src)
            .unwrap();
        assert_eq!(got.server, "https://127.0.0.1:6443");
        assert!(got.ca_pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
        // First fetch insecure, second verified against the CA it found.
        let calls = src.calls.borrow();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], None);
        assert_eq!(calls[1].as_deref(), Some(got.ca_pem.as_slice()));
    }
}

#[test]
fn unsafe_skip_accepts_without_pins() {
    let src = Scripted::new(vec![Ok(Some(cluster_info()))]);
    assert!(discovery(&token("11y76f"), vec![]).run(&src).is_ok());
    // Empty pins without unsafeSkipCAVerification is a configuration error.
    let bt = firstboot::config::BootstrapTokenDiscovery {
        api_server_endpoint: "127.0.0.1:6443".into(),
        token: token("11y76f"),
        ..Default::default()
    };
    let e = TokenDiscovery::from_config(&bt, Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("unsafeSkipCAVerification"), "{e}");
}

#[test]
fn wrong_ca_hash_is_refused() {
    let src = Scripted::new(vec![Ok(Some(cluster_info()))]);
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let e = discovery(&token("11y76f"), vec![wrong])
        .run(&src)
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::PinMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&openssl_pin()), "names the CA's pin: {msg}");
    assert!(msg.contains("refusing to join"));
    // Never fetched again over the untrusted CA.
    assert_eq!(src.calls.borrow().len(), 1);
}

#[test]
fn wrong_or_missing_signature_is_refused() {
    // Right id, wrong secret.
    let id = "11y76f";
    let forged = format!("{id}.0000000000000000");
    let src = Scripted::new(vec![Ok(Some(cluster_info()))]);
    let e = discovery(&forged, vec![openssl_pin()])
        .run(&src)
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::BadSignature(_)), "{e}");
    assert!(e.to_string().contains("can't trust this API Server"));
    assert!(!e.to_string().contains("0000000000000000"), "secret leaked");

    // The kubeconfig was altered after signing (a different server).
    let mut data = cluster_info();
    let k = data["kubeconfig"].replace("127.0.0.1:6443", "10.9.9.9:6443");
    data.insert("kubeconfig".into(), k);
    let src = Scripted::new(vec![Ok(Some(data))]);
    let e = discovery(&token(id), vec![openssl_pin()])
        .run(&src)
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::BadSignature(_)), "{e}");

    // The real kubeadm-certs TTL token has no signing usage: cluster-info carries no
    // signature for it, discovery waits and then names the token id.
    let src = Scripted::new(vec![Ok(Some(cluster_info()))]);
    let e = discovery(&token("0s140a"), vec![openssl_pin()])
        .run(&src)
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::NoSignature { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("\"0s140a\" is invalid for this cluster or it has expired"),
        "{msg}"
    );
    assert!(src.calls.borrow().len() > 1, "retried until the timeout");
}

#[test]
fn signature_appearing_later_is_waited_for() {
    let mut unsigned = cluster_info();
    unsigned.retain(|k, _| k == "kubeconfig");
    let src = Scripted::new(vec![
        Err(FetchError::Other("connection refused".into())),
        Ok(None),
        Ok(Some(unsigned)),
        Ok(Some(cluster_info())),
    ]);
    let d = discovery(&token("ogfpit"), vec![openssl_pin()]);
    assert!(d.run(&src).is_ok());
    assert_eq!(src.calls.borrow().len(), 5);
}

#[test]
fn cluster_info_changing_between_fetches_is_refused() {
    let mut changed = cluster_info();
    let k = changed["kubeconfig"].replace("users: null", "users: []");
    changed.insert("kubeconfig".into(), k);
    let src = Scripted::new(vec![Ok(Some(cluster_info())), Ok(Some(changed))]);
    let e = discovery(&token("11y76f"), vec![openssl_pin()])
        .run(&src)
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::Changed(_)), "{e}");
    assert!(e.to_string().contains("refusing to join"));
}

#[test]
fn expired_token_is_refused_with_a_clear_message() {
    // The API server answers 401 for a token it no longer knows.
    let src = Scripted::new(vec![Err(FetchError::Unauthorized)]);
    let t = token("11y76f");
    let e = discovery(&t, vec![openssl_pin()]).run(&src).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("token expired or invalid"), "{msg}");
    assert!(msg.contains("11y76f"), "{msg}");
    assert!(
        !msg.contains(t.split_once('.').unwrap().1),
        "secret leaked: {msg}"
    );

    // A known expiry (the kubeadm-certs TTL token's) is checked before anything else.
    let v = yaml("secret/kube-system__bootstrap-token-0s140a.yaml");
    let exp = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(v["data"]["expiration"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let e =
        firstboot::join::checks::check_token_expiry("0s140a", &exp, std::time::SystemTime::now())
            .unwrap_err()
            .to_string();
    assert!(e.contains(&format!("0s140a expired at {exp}")), "{e}");
}

#[test]
fn token_debug_never_shows_the_secret() {
    let t = Token::parse(&token("11y76f")).unwrap();
    assert!(!format!("{t:?} {t}").contains(&t.secret));
}

// ---- download-certs ----

fn encrypt(key: &[u8; 32], nonce: [u8; 12], plain: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .unwrap();
    let mut out = nonce.to_vec();
    out.extend(buf);
    out
}

#[test]
fn download_certs_decrypts_and_picks_modes() {
    use firstboot::phases::join::control_plane_prepare::{certs_from_secret, CertFile};
    let key_hex = "8f2b".repeat(16);
    let key: [u8; 32] = hex::decode(&key_hex).unwrap().try_into().unwrap();
    let cert = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kubeadm-v1.36.2/etc-kubernetes/pki/ca.crt"
    ))
    .unwrap();
    let sa_pub = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kubeadm-v1.36.2/etc-kubernetes/pki/sa.pub"
    ))
    .unwrap();
    let priv_key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec();
    let mut data = BTreeMap::new();
    let mut n = 0u8;
    let mut put = |k: &str, v: &[u8]| {
        n += 1;
        data.insert(k.to_string(), encrypt(&key, [n; 12], v));
    };
    put("ca.crt", &cert);
    put("ca.key", &priv_key);
    put("sa.pub", &sa_pub);
    put("sa.key", &priv_key);
    data.insert("front-proxy-ca.crt".into(), Vec::new()); // absent at upload: skipped
    data.insert("front-proxy-ca.key".into(), Vec::new());
    let expected: Vec<(String, String)> =
        ["ca.crt", "ca.key", "front-proxy-ca.crt", "sa.pub", "sa.key"]
            .iter()
            .map(|k| (k.to_string(), format!("/etc/kubernetes/pki/{k}")))
            .collect();
    let files = certs_from_secret(&data, &key_hex, &expected).unwrap();
    let modes: Vec<(&str, u32)> = files
        .iter()
        .map(|f: &CertFile| (f.path.as_str(), f.mode))
        .collect();
    assert_eq!(
        modes,
        vec![
            ("/etc/kubernetes/pki/ca.crt", 0o644),
            ("/etc/kubernetes/pki/ca.key", 0o600),
            ("/etc/kubernetes/pki/sa.pub", 0o644),
            ("/etc/kubernetes/pki/sa.key", 0o600),
        ]
    );
    assert_eq!(files[0].content, cert);

    // Wrong key: nothing returned, the error names the Secret and never the key.
    let wrong = "00".repeat(32);
    let e = certs_from_secret(&data, &wrong, &expected)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kubeadm-certs") && e.contains("wrong certificate key"),
        "{e}"
    );
    assert!(!e.contains(&key_hex));

    // An entry this node needs is missing.
    let mut more = expected.clone();
    more.push((
        "etcd-ca.crt".into(),
        "/etc/kubernetes/pki/etcd/ca.crt".into(),
    ));
    let e = certs_from_secret(&data, &key_hex, &more)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"etcd-ca.crt\""), "{e}");

    // Data that is neither a key nor a certificate.
    let mut junk = data.clone();
    junk.insert("ca.crt".into(), encrypt(&key, [99; 12], b"hello"));
    let e = certs_from_secret(&junk, &key_hex, &expected)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown data found in Secret entry"), "{e}");
}

// ---- reset ----

fn write(root: &Path, p: &str, content: &str) {
    let f = root.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, content).unwrap();
}

fn exists(root: &Path, p: &str) -> bool {
    root.join(p.trim_start_matches('/'))
        .symlink_metadata()
        .is_ok()
}

fn populated_node() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for f in [
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/super-admin.conf",
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/controller-manager.conf",
        "/etc/kubernetes/scheduler.conf",
        "/etc/kubernetes/pki/ca.crt",
        "/etc/kubernetes/pki/etcd/ca.key",
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "/etc/kubernetes/tmp/kubeadm-backup/x",
        "/var/lib/kubelet/config.yaml",
        "/var/lib/kubelet/pki/kubelet-client-current.pem",
        "/var/lib/etcd/member/snap/db",
        "/var/lib/kubebake/firstboot/status.json",
        "/run/cluster-api/bootstrap-success.complete",
        // Staged bundle: must survive.
        "/opt/kubebake/versions/v1.36.2/bin/kubelet",
        "/var/lib/kubebake/images/v1.36.2/etcd.tar",
        "/usr/share/kubebake/staged.json",
        "/etc/kubebake/firstboot.yaml",
        // Unrelated.
        "/etc/cni/net.d/10-net.conflist",
    ] {
        write(r, f, "x");
    }
    write(
        r,
        "/etc/kubernetes/manifests/etcd.yaml",
        "spec:\n  containers:\n  - command:\n    - etcd\n    - --data-dir=/var/lib/etcd\n    - --initial-advertise-peer-urls=https://192.0.2.2:2380\n",
    );
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    std::os::unix::fs::symlink(
        "/opt/kubebake/versions/v1.36.2/bin/kubelet",
        r.join("usr/local/bin/kubelet"),
    )
    .unwrap();
    d
}

struct FakeEtcd {
    breaks_quorum: bool,
    removed: RefCell<Vec<String>>,
}

impl firstboot::reset::EtcdMembership for FakeEtcd {
    fn check_removal(&self, _peer_url: &str) -> anyhow::Result<firstboot::reset::MemberRemoval> {
        use firstboot::etcd_client::QuorumProblem;
        use firstboot::reset::MemberRemoval;
        Ok(if self.breaks_quorum {
            MemberRemoval::BreaksQuorum(QuorumProblem::AfterRemoval(
                "after removing cp2 only 1 of the remaining 2 voting members would answer".into(),
            ))
        } else {
            MemberRemoval::Safe
        })
    }
    fn remove_member(&self, peer_url: &str) -> anyhow::Result<()> {
        self.removed.borrow_mut().push(peer_url.into());
        Ok(())
    }
}

#[test]
fn reset_removes_exactly_what_kubeadm_removes_and_keeps_the_staged_bundle() {
    use firstboot::reset::{apply, plan, ResetOptions, ResetStep};
    let d = populated_node();
    let r = d.path();
    let mut opts = ResetOptions::new(r);
    opts.cleanup_tmp_dir = true;
    let p = plan(&opts);
    assert_eq!(
        p.steps[0],
        ResetStep::RemoveEtcdMember {
            peer_url: "https://192.0.2.2:2380".into()
        }
    );
    assert_eq!(p.steps[1], ResetStep::StopKubelet);
    let text = p.to_string();
    assert!(text.contains("keep /opt/kubebake"), "{text}");

    let services = firstboot::kube::NoServices::default();
    let etcd = FakeEtcd {
        breaks_quorum: false,
        removed: RefCell::new(Vec::new()),
    };
    apply(&opts, &p, &services, Some(&etcd)).unwrap();
    assert_eq!(etcd.removed.borrow().as_slice(), ["https://192.0.2.2:2380"]);
    assert_eq!(services.calls(), vec!["stop kubelet"]);

    for gone in [
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/super-admin.conf",
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/controller-manager.conf",
        "/etc/kubernetes/scheduler.conf",
        "/etc/kubernetes/pki/ca.crt",
        "/etc/kubernetes/pki/etcd",
        "/etc/kubernetes/manifests/etcd.yaml",
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "/etc/kubernetes/tmp",
        "/var/lib/kubelet/config.yaml",
        "/var/lib/kubelet/pki",
        "/var/lib/etcd/member",
        "/var/lib/kubebake/firstboot",
        "/run/cluster-api/bootstrap-success.complete",
    ] {
        assert!(!exists(r, gone), "{gone} should be removed");
    }
    for kept in [
        // Directories are emptied, not removed (kubeadm's CleanDir).
        "/etc/kubernetes/manifests",
        "/etc/kubernetes/pki",
        "/var/lib/kubelet",
        "/var/lib/etcd",
        "/opt/kubebake/versions/v1.36.2/bin/kubelet",
        "/var/lib/kubebake/images/v1.36.2/etcd.tar",
        "/usr/share/kubebake/staged.json",
        "/usr/local/bin/kubelet",
        "/etc/kubebake/firstboot.yaml",
        "/etc/cni/net.d/10-net.conflist",
    ] {
        assert!(exists(r, kept), "{kept} should be kept");
    }
    // Re-runnable: a second reset on the clean node succeeds and plans no etcd removal.
    let p2 = plan(&opts);
    assert!(!p2
        .steps
        .iter()
        .any(|s| matches!(s, ResetStep::RemoveEtcdMember { .. })));
    apply(&opts, &p2, &services, None).unwrap();
}

#[test]
fn reset_refuses_to_break_etcd_quorum_without_force() {
    use firstboot::reset::{apply, plan, ResetOptions};
    let d = populated_node();
    let mut opts = ResetOptions::new(d.path());
    let p = plan(&opts);
    let services = firstboot::kube::NoServices::default();
    let etcd = FakeEtcd {
        breaks_quorum: true,
        removed: RefCell::new(Vec::new()),
    };
    let e = apply(&opts, &p, &services, Some(&etcd))
        .unwrap_err()
        .to_string();
    assert!(e.contains("quorum") && e.contains("--force"), "{e}");
    assert!(
        e.contains("only 1 of the remaining 2"),
        "the reason is named: {e}"
    );
    assert!(
        exists(d.path(), "/etc/kubernetes/admin.conf"),
        "nothing removed"
    );
    assert!(etcd.removed.borrow().is_empty());
    // Without an etcd client: refused too.
    let e = apply(&opts, &p, &services, None).unwrap_err().to_string();
    assert!(e.contains("--force"), "{e}");
    // --force goes ahead.
    opts.force = true;
    apply(&opts, &p, &services, Some(&etcd)).unwrap();
    assert!(!exists(d.path(), "/etc/kubernetes/admin.conf"));
    // The removal can still be committed: --force removes the member.
    assert_eq!(etcd.removed.borrow().as_slice(), ["https://192.0.2.2:2380"]);
}

#[test]
fn reset_dry_run_lists_and_removes_nothing() {
    let d = populated_node();
    let out = Command::new(env!("CARGO_BIN_EXE_firstboot"))
        .args(["--root"])
        .arg(d.path())
        .args(["--dry-run", "reset"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("[reset] remove file /etc/kubernetes/admin.conf"),
        "{text}"
    );
    assert!(
        text.contains("[reset] remove the contents of /var/lib/etcd"),
        "{text}"
    );
    assert!(text.contains("[reset] keep /opt/kubebake"), "{text}");
    assert!(
        !text.contains("/etc/kubernetes/tmp"),
        "only with --cleanup-tmp-dir: {text}"
    );
    assert!(exists(d.path(), "/etc/kubernetes/admin.conf"));
    assert!(exists(d.path(), "/var/lib/etcd/member/snap/db"));
}

// ---- the join workflow's plan (dry run; no API server needed) ----

const CP_JOIN: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: cp2
  criSocket: unix:///var/run/containerd/containerd.sock
  ignorePreflightErrors: [all]
discovery:
  bootstrapToken:
    apiServerEndpoint: 127.0.0.1:6443
    token: abcdef.0123456789abcdef
    caCertHashes: [sha256:3b793efefe27a19f93b0fbe6e637e9c41d0dde8a377d6ab1c0f656bf1136dd8a]
controlPlane:
  localAPIEndpoint:
    advertiseAddress: 192.0.2.3
  certificateKey: 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
";

#[test]
fn join_dry_run_plans_the_join_phases_without_secrets() {
    let node = runner_support::Node::with_config(CP_JOIN);
    let out = node.run(&["--dry-run", "join"]);
    let text = runner_support::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for want in [
        "[control-plane-prepare] file /etc/kubernetes/pki/ca.key (mode 0600, generated): from Secret kube-system/kubeadm-certs entry ca.key",
        "[control-plane-prepare] file /etc/kubernetes/pki/etcd/ca.crt (mode 0644, generated)",
        "[control-plane-prepare] file /etc/kubernetes/manifests/kube-apiserver.yaml",
        "[kubelet-start] file /etc/kubernetes/bootstrap-kubelet.conf (mode 0600, generated)",
        "[kubelet-start] file /var/lib/kubelet/config.yaml",
        "[kubelet-wait-bootstrap] remove /etc/kubernetes/bootstrap-kubelet.conf",
        "[control-plane-join] [mark-control-plane] label Node cp2",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Join kubeconfigs: admin, controller-manager, scheduler only.
    assert!(text.contains("admin.conf"), "{text}");
    assert!(!text.contains("super-admin.conf"), "{text}");
    assert!(
        !text.contains("0123456789abcdef"),
        "token secret printed:\n{text}"
    );
    assert!(
        !text.contains("0c0d0e0f10111213"),
        "certificate key printed:\n{text}"
    );
    assert!(
        !node.path("/etc/kubernetes/pki").exists(),
        "dry run wrote files"
    );
}
