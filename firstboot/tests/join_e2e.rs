//! init → join end to end against the in-memory `testkit::apiserver` serving the PKI init's
//! certs phase made: a worker join and a control-plane join (external etcd, certificate key)
//! with the join configuration a user gets from `firstboot token create --print-join-config`,
//! a **test stand-in** kubelet (`testkit::kubelet`) doing the TLS bootstrap and registering the
//! Node; phase results mirrored on the Node (Events, failed-phase annotation); expired join
//! material refused before anything is written.

mod cluster_support;
mod runner_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use cluster_support::*;
use firstboot::config::Mode;
use firstboot::kube::events::{FAILED_PHASE_ANNOTATION, REASON_DONE, REASON_FAILED};
use firstboot::runner::catalog::{INIT_PHASES, JOIN_PHASES};
use firstboot::runner::RunError;
use runner_support::openssl;
use serde_json::Value;

fn mode(root: &Path, p: &str) -> u32 {
    std::fs::metadata(under(root, p))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every runnable phase of the workflow has state `done` in the journal under `root`.
#[track_caller]
fn assert_all_done(root: &Path, phases: &[firstboot::runner::catalog::PhaseInfo]) {
    let want: Vec<(String, String)> = phases
        .iter()
        .filter(|p| p.runnable)
        .map(|p| (p.name.to_string(), "done".to_string()))
        .collect();
    assert_eq!(journal_states(root), want);
}

/// A `FirstbootPhaseDone` event exists for every runnable phase.
#[track_caller]
fn assert_done_events(
    events: &[(String, String)],
    phases: &[firstboot::runner::catalog::PhaseInfo],
) {
    for p in phases.iter().filter(|p| p.runnable) {
        let msg = format!("firstboot phase {} done", p.name);
        assert!(
            events.iter().any(|(r, m)| r == REASON_DONE && *m == msg),
            "no {REASON_DONE} event for {}: {events:?}",
            p.name
        );
    }
}

fn annotation(node: &Value) -> Option<&str> {
    node["metadata"]["annotations"][FAILED_PHASE_ANNOTATION].as_str()
}

#[test]
fn worker_joins_with_the_printed_join_config_and_tls_bootstraps() {
    let init = init_node(|p| init_config(p, ""), |_| {});
    let r1 = init.root.path();
    assert_all_done(r1, INIT_PHASES);
    assert!(sentinel(r1).exists());
    // Init's results are on its Node — including the phases that ran before the API server
    // was reachable (preflight, certs, ...), mirrored from the journal.
    assert_done_events(&init.node_events("cp1"), INIT_PHASES);
    let cp1 = init
        .node("cp1")
        .expect("the stand-in kubelet registered cp1");
    assert_eq!(annotation(&cp1), None);
    // kubelet-finalize switched kubelet.conf to the kubelet's rotatable certificate file.
    let kc = std::fs::read_to_string(under(r1, "/etc/kubernetes/kubelet.conf")).unwrap();
    assert!(
        kc.contains("client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{kc}"
    );

    // What a user does: print a join configuration on the control plane, add the node's name.
    let printed = init.join_config(&[]);
    assert!(
        printed.contains("kind: FirstbootConfiguration"),
        "{printed}"
    );
    assert!(printed.contains("tokenExpires:"), "{printed}");
    let text = join_config_for(&printed, "worker1", "");
    let (worker, services) = join_succeeds(&init, &text, "worker1");
    let r2 = worker.path();
    assert!(!under(r2, "/var/lib/kubebake/firstboot/failed").exists());
    // The stand-in kubelet bootstrapped with the token and registered the Node.
    let log = services.kubelet.log().join("\n");
    assert!(log.contains("as system:bootstrap:"), "{log}");
    assert!(log.contains("registered Node worker1"), "{log}");
    let node = init.node("worker1").expect("Node worker1");
    assert_eq!(
        node["metadata"]["labels"]["kubernetes.io/hostname"],
        "worker1"
    );
    assert!(
        node["metadata"]["labels"]
            .get("node-role.kubernetes.io/control-plane")
            .is_none(),
        "a worker is not marked"
    );
    let csrs = init
        .server
        .list("certificates.k8s.io/v1", "certificatesigningrequests", None);
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    assert!(csrs[0]["spec"]["username"]
        .as_str()
        .unwrap()
        .starts_with("system:bootstrap:"));
    assert_eq!(csrs[0]["status"]["conditions"][0]["type"], "Approved");

    // Files as §13.3 says: bootstrap-kubelet.conf removed, kubelet.conf (0600) pointing at the
    // kubelet's client certificate, the cluster CA written (0644) from discovery.
    assert!(!under(r2, "/etc/kubernetes/bootstrap-kubelet.conf").exists());
    assert_eq!(mode(r2, "/etc/kubernetes/kubelet.conf"), 0o600);
    let kc = std::fs::read_to_string(under(r2, "/etc/kubernetes/kubelet.conf")).unwrap();
    assert!(
        kc.contains("client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{kc}"
    );
    assert_eq!(mode(r2, "/etc/kubernetes/pki/ca.crt"), 0o644);
    assert_eq!(
        std::fs::read(under(r2, "/etc/kubernetes/pki/ca.crt")).unwrap(),
        std::fs::read(under(r1, "/etc/kubernetes/pki/ca.crt")).unwrap()
    );
    let ca = under(r2, "/etc/kubernetes/pki/ca.crt");
    let pem = under(r2, "/var/lib/kubelet/pki/kubelet-client-current.pem");
    openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        pem.to_str().unwrap(),
    ]);
    let subject = openssl(&["x509", "-in", pem.to_str().unwrap(), "-noout", "-subject"]);
    assert!(
        subject.contains("O = system:nodes") && subject.contains("CN = system:node:worker1"),
        "{subject}"
    );
    assert!(under(r2, "/var/lib/kubelet/config.yaml").exists());
    assert!(under(r2, "/var/lib/kubelet/kubeadm-flags.env").exists());
    assert!(
        !under(r2, "/etc/kubernetes/admin.conf").exists(),
        "a worker gets no admin credentials"
    );
    // The join's results are on the worker's Node, reported with its own kubelet credentials.
    assert_done_events(&init.node_events("worker1"), JOIN_PHASES);
    assert_eq!(annotation(&init.node("worker1").unwrap()), None);
    assert!(services.calls().contains(&"restart kubelet".to_string()));
}

/// An external etcd: the client certificate files the user provides on the first node.
fn external_etcd(root: &Path) {
    let tls = testkit::apiserver::TlsMaterial::generate().unwrap();
    for (p, c) in [
        ("/etc/etcd/pki/ca.crt", &tls.ca_cert_pem),
        ("/etc/etcd/pki/client.crt", &tls.admin_cert_pem),
        ("/etc/etcd/pki/client.key", &tls.admin_key_pem),
    ] {
        let f = under(root, p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
}

const EXTERNAL_ETCD: &str = "\
etcd:
  external:
    endpoints: [https://127.0.0.1:1]
    caFile: /etc/etcd/pki/ca.crt
    certFile: /etc/etcd/pki/client.crt
    keyFile: /etc/etcd/pki/client.key";

/// The printed control-plane join configuration plus this node's API endpoint.
fn cp_join_config(printed: &str, name: &str, port: u16) -> String {
    let text = join_config_for(printed, name, "");
    assert!(text.contains("controlPlane:\n  certificateKey:"), "{text}");
    text.replacen(
        "controlPlane:\n",
        &format!("controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 127.0.0.1\n    bindPort: {port}\n"),
        1,
    )
}

#[test]
fn control_plane_joins_with_external_etcd_and_the_certificate_key() {
    let init = init_node(|p| init_config(p, EXTERNAL_ETCD), external_etcd);
    let r1 = init.root.path();
    assert_all_done(r1, INIT_PHASES);
    assert!(init
        .server
        .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .is_some());

    let printed = init.join_config(&["--certificate-key", CERTIFICATE_KEY]);
    assert!(printed.contains("certificateKeyExpires:"), "{printed}");
    let text = cp_join_config(&printed, "cp2", init.port);
    // check-etcd / etcd-join are not needed with external etcd: the run completes.
    let (cp, _services) = join_succeeds(&init, &text, "cp2");
    let r3 = cp.path();

    // download-certs: the shared CAs, service-account keys and external etcd client files,
    // byte-identical to the first node's, keys 0600 and certificates (sa.pub too) 0644.
    for (p, m) in [
        ("/etc/kubernetes/pki/ca.crt", 0o644),
        ("/etc/kubernetes/pki/ca.key", 0o600),
        ("/etc/kubernetes/pki/front-proxy-ca.crt", 0o644),
        ("/etc/kubernetes/pki/front-proxy-ca.key", 0o600),
        ("/etc/kubernetes/pki/sa.pub", 0o644),
        ("/etc/kubernetes/pki/sa.key", 0o600),
        ("/etc/etcd/pki/ca.crt", 0o644),
        ("/etc/etcd/pki/client.crt", 0o644),
        ("/etc/etcd/pki/client.key", 0o600),
    ] {
        assert_eq!(
            std::fs::read(under(r3, p)).unwrap(),
            std::fs::read(under(r1, p)).unwrap(),
            "{p}"
        );
        assert_eq!(mode(r3, p), m, "mode of {p}");
    }
    // Its own certificates (signed by the shared CA), kubeconfigs and manifests; no local etcd.
    let ca = under(r3, "/etc/kubernetes/pki/ca.crt");
    for leaf in ["apiserver.crt", "apiserver-kubelet-client.crt"] {
        let l = under(r3, &format!("/etc/kubernetes/pki/{leaf}"));
        openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            l.to_str().unwrap(),
        ]);
        assert_ne!(
            std::fs::read(&l).unwrap(),
            std::fs::read(under(r1, &format!("/etc/kubernetes/pki/{leaf}"))).unwrap()
        );
    }
    assert!(!under(r3, "/etc/kubernetes/pki/etcd").exists());
    for f in ["admin.conf", "controller-manager.conf", "scheduler.conf"] {
        assert_eq!(mode(r3, &format!("/etc/kubernetes/{f}")), 0o600, "{f}");
    }
    assert!(!under(r3, "/etc/kubernetes/super-admin.conf").exists());
    for m in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        assert!(under(r3, &format!("/etc/kubernetes/manifests/{m}.yaml")).exists());
    }
    assert!(!under(r3, "/etc/kubernetes/manifests/etcd.yaml").exists());
    let apiserver =
        std::fs::read_to_string(under(r3, "/etc/kubernetes/manifests/kube-apiserver.yaml"))
            .unwrap();
    assert!(
        apiserver.contains("--etcd-servers=https://127.0.0.1:1"),
        "{apiserver}"
    );
    assert!(!under(r3, "/etc/kubernetes/bootstrap-kubelet.conf").exists());

    // mark-control-plane (§10.1): the same labels and taint as the first control plane.
    let cp2 = init.node("cp2").expect("Node cp2");
    let cp1 = init.node("cp1").unwrap();
    for n in [&cp1, &cp2] {
        let labels = &n["metadata"]["labels"];
        assert_eq!(labels["node-role.kubernetes.io/control-plane"], "");
        assert_eq!(
            labels["node.kubernetes.io/exclude-from-external-load-balancers"],
            ""
        );
        assert_eq!(
            n["spec"]["taints"],
            serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
        );
    }
    assert_done_events(&init.node_events("cp2"), JOIN_PHASES);
}

#[test]
fn a_failed_phase_is_reported_on_the_node_and_cleared_by_a_later_success() {
    // upload-config's apply of kubeadm-config is refused once (not a transient error).
    let (init, res) = try_init_node(
        |p| init_config(p, ""),
        |_| {},
        |s| s.fail_next("PATCH", "/configmaps/kubeadm-config", 422),
    );
    let r1 = init.root.path();
    match res {
        Err(RunError::PhaseFailed { phase, .. }) => assert_eq!(phase, "upload-config"),
        other => panic!("expected upload-config to fail: {other:?}"),
    }
    let events = init.node_events("cp1");
    assert!(
        events
            .iter()
            .any(|(r, m)| r == REASON_FAILED
                && m.starts_with("firstboot phase upload-config failed: ")),
        "{events:?}"
    );
    // The phases before it (also those before the API was reachable) are reported as done.
    for p in ["preflight", "certs", "kubelet-start", "wait-control-plane"] {
        assert!(
            events.contains(&(REASON_DONE.to_string(), format!("firstboot phase {p} done"))),
            "{p}: {events:?}"
        );
    }
    assert_eq!(
        annotation(&init.node("cp1").unwrap()),
        Some("upload-config")
    );
    assert!(!sentinel(r1).exists());

    // The re-run succeeds: the annotation is removed, the phase's success reported.
    let res = run_node(&init.cfg, r1, &init.services, None);
    assert!(res.is_ok(), "{res:?}");
    assert!(sentinel(r1).exists());
    assert_eq!(annotation(&init.node("cp1").unwrap()), None);
    let events = init.node_events("cp1");
    assert!(events.contains(&(
        REASON_DONE.to_string(),
        "firstboot phase upload-config done".to_string()
    )));
    // Phases already done are not reported twice.
    let certs = events
        .iter()
        .filter(|(_, m)| m == "firstboot phase certs done")
        .count();
    assert_eq!(certs, 1, "{events:?}");

    // A stale annotation (e.g. the failed phase was later skipped) is removed by any later
    // successful run, even one that has no phase left to run.
    let mut node = init.node("cp1").unwrap();
    node["metadata"]["annotations"][FAILED_PHASE_ANNOTATION] = "addon".into();
    init.server.insert(node).unwrap();
    let res = run_node(&init.cfg, r1, &init.services, None);
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(annotation(&init.node("cp1").unwrap()), None);
    // Earlier events stay; no failure reported. (The kubeconfig phase may run once more:
    // kubelet-finalize rewrote kubelet.conf, one of its outputs.)
    let after = init.node_events("cp1");
    assert_eq!(&after[..events.len()], &events[..]);
    assert!(
        after[events.len()..].iter().all(|(r, _)| r == REASON_DONE),
        "{after:?}"
    );
}

/// Nothing of the join was written under `root` (only the runner's own status).
#[track_caller]
fn assert_untouched(root: &Path) {
    for p in ["/etc/kubernetes", "/var/lib/kubelet", "/etc/etcd"] {
        assert!(!under(root, p).exists(), "{p} was written");
    }
}

/// Joins node `name` with config `text` into a fresh root: every join phase done, the success
/// sentinel written. The root and the node's stand-in services.
#[track_caller]
fn join_succeeds(init: &InitNode, text: &str, name: &str) -> (tempfile::TempDir, StandInServices) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_config(dir.path(), text, Mode::Join);
    let services = StandInServices::new(dir.path(), name, init.signer());
    let res = run_node(&cfg, dir.path(), &services, None);
    assert!(
        res.is_ok(),
        "{res:?}\nkubelet: {:?}",
        services.kubelet.log()
    );
    assert_all_done(dir.path(), JOIN_PHASES);
    assert!(sentinel(dir.path()).exists());
    (dir, services)
}

fn join_fails(init: &InitNode, text: &str, name: &str) -> (String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_config(dir.path(), text, Mode::Join);
    let services = StandInServices::new(dir.path(), name, init.signer());
    match run_node(&cfg, dir.path(), &services, None) {
        Err(RunError::PhaseFailed { phase, message }) => (phase, message, dir),
        other => panic!("expected the join to fail: {other:?}"),
    }
}

#[test]
fn expired_join_material_fails_before_anything_is_written() {
    let init = init_node(|p| init_config(p, ""), |_| {});
    let port = init.port;
    let past = "2020-01-02T03:04:05Z";

    // 1. The configuration says the token expired.
    let printed = init.join_config(&[]);
    let expired = printed
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("tokenExpires:") {
                format!("  tokenExpires: \"{past}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (phase, msg, dir) = join_fails(&init, &join_config_for(&expired, "w1", ""), "w1");
    assert_eq!(phase, "kubelet-start");
    assert!(msg.contains(&format!("expired at {past}")), "{msg}");
    assert!(msg.contains("joinMaterial.tokenExpires"), "{msg}");
    assert_untouched(dir.path());
    // `--dry-run join` says so too (the configuration's expiry needs no cluster).
    let out = Command::new(BIN)
        .arg("--root")
        .arg(dir.path())
        .args(["--dry-run", "join"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("expired at {past}")), "{text}");
    assert_untouched(dir.path());

    // 2. The configuration says the certificate key expired.
    let printed = init.join_config(&["--certificate-key", CERTIFICATE_KEY]);
    let expired = printed
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("certificateKeyExpires:") {
                format!("  certificateKeyExpires: \"{past}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (phase, msg, dir) = join_fails(&init, &cp_join_config(&expired, "cp2", port), "cp2");
    assert_eq!(phase, "control-plane-prepare");
    assert!(
        msg.contains(&format!(
            "certificate key of this join configuration expired at {past}"
        )),
        "{msg}"
    );
    assert_untouched(dir.path());

    // 3. The cluster says the token expired (the token cleaner has not removed it yet, so
    //    cluster-info still carries its signature): the API server answers 401.
    let printed = init.join_config(&[]);
    let cfg = load_config(
        tempfile::tempdir().unwrap().path(),
        &join_config_for(&printed, "w2", ""),
        Mode::Join,
    );
    let token = cfg
        .join
        .as_ref()
        .unwrap()
        .discovery
        .bootstrap_token
        .as_ref()
        .unwrap()
        .token
        .clone();
    let id = &token[..6];
    let name = format!("bootstrap-token-{id}");
    let mut secret = init
        .server
        .get("v1", "secrets", Some("kube-system"), &name)
        .unwrap();
    use base64::Engine as _;
    secret["data"]["expiration"] = base64::engine::general_purpose::STANDARD
        .encode(past)
        .into();
    init.server.insert(secret).unwrap();
    // The configuration does not know the expiry: only the cluster can tell.
    let unknown = join_config_for(&printed, "w2", "").replace("tokenExpires:", "# tokenExpires:");
    let (phase, msg, dir) = join_fails(&init, &unknown, "w2");
    assert_eq!(phase, "kubelet-start");
    assert!(msg.contains("token expired or invalid"), "{msg}");
    assert!(msg.contains(id), "{msg}");
    assert!(!msg.contains(&token[7..]), "secret leaked: {msg}");
    assert_untouched(dir.path());

    // 4. The cluster says the certificate key expired: its TTL token is gone, and with it
    //    (garbage collection) the kubeadm-certs Secret.
    let printed = init.join_config(&["--certificate-key", CERTIFICATE_KEY]);
    let certs = init
        .server
        .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .unwrap();
    let owner = certs["metadata"]["ownerReferences"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(init
        .server
        .delete("v1", "secrets", Some("kube-system"), &owner));
    assert!(init
        .server
        .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .is_none());
    let text = cp_join_config(&printed, "cp3", port)
        .replace("certificateKeyExpires:", "# certificateKeyExpires:");
    let (phase, msg, dir) = join_fails(&init, &text, "cp3");
    assert_eq!(phase, "control-plane-prepare");
    assert!(msg.contains("the certificate key has expired"), "{msg}");
    assert!(!msg.contains(CERTIFICATE_KEY), "key leaked: {msg}");
    assert_untouched(dir.path());
}

#[test]
fn join_material_expiry_fields_are_validated_and_printed() {
    let facts = facts();
    let bad = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\n---\napiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\njoinMaterial:\n  tokenExpires: tomorrow\n  certificateKeyExpires: 2026-13-01T00:00:00Z\n";
    let e = firstboot::config::load_str("join.yaml", bad, &facts, Some(Mode::Join))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field joinMaterial.tokenExpires: invalid value \"tomorrow\""),
        "{e}"
    );
    assert!(
        e.contains("field joinMaterial.certificateKeyExpires"),
        "{e}"
    );

    // token create --print-join-config records the token's expiry (the Secret's), and with
    // --certificate-key the expiry of the kubeadm-certs Secret's TTL token.
    let init = init_node(|p| init_config(p, ""), |_| {});
    let printed = init.join_config(&["--ttl", "3h", "--certificate-key", CERTIFICATE_KEY]);
    let cfg = firstboot::config::load_str("join.yaml", &printed, &facts, Some(Mode::Join)).unwrap();
    let j = cfg.join.as_ref().unwrap();
    assert_eq!(
        j.control_plane.as_ref().unwrap().certificate_key,
        CERTIFICATE_KEY
    );
    let token = &j.discovery.bootstrap_token.as_ref().unwrap().token;
    let secret_exp = |name: &str| {
        let s = init
            .server
            .get("v1", "secrets", Some("kube-system"), name)
            .unwrap();
        use base64::Engine as _;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(s["data"]["expiration"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let m = &cfg.firstboot.join_material;
    assert_eq!(
        m.token_expires,
        secret_exp(&format!("bootstrap-token-{}", &token[..6]))
    );
    let certs = init
        .server
        .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .unwrap();
    let owner = certs["metadata"]["ownerReferences"][0]["name"]
        .as_str()
        .unwrap();
    assert_eq!(m.certificate_key_expires, secret_exp(owner));
    assert!(
        m.certificate_key_expires < m.token_expires,
        "2h TTL vs 3h token: {m:?}"
    );
}

#[test]
fn join_without_auto_approval_times_out_and_removes_the_bootstrap_kubeconfig() {
    let init = init_node(|p| init_config(p, ""), |_| {});
    // Without kubeadm's auto-approve binding the controller-manager never approves the CSR.
    assert!(init.server.delete(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        None,
        "kubeadm:node-autoapprove-bootstrap"
    ));
    let printed = init.join_config(&[]);
    let text = join_config_for(&printed, "w9", "").replace("tlsBootstrap: 10s", "tlsBootstrap: 2s");
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let cfg = load_config(r, &text, Mode::Join);
    let services = StandInServices::new(r, "w9", init.signer());
    match run_node(&cfg, r, &services, None) {
        Err(RunError::PhaseFailed { phase, message }) => {
            assert_eq!(phase, "kubelet-wait-bootstrap");
            assert!(message.contains("timeouts.tlsBootstrap"), "{message}");
        }
        other => panic!("expected the TLS bootstrap to time out: {other:?}"),
    }
    let log = services.kubelet.log().join("\n");
    assert!(log.contains("not approved"), "{log}");
    // §13.3 step 7: bootstrap-kubelet.conf is deleted also on failure; no kubelet.conf.
    assert!(!under(r, "/etc/kubernetes/bootstrap-kubelet.conf").exists());
    assert!(!under(r, "/etc/kubernetes/kubelet.conf").exists());
    assert!(init.node("w9").is_none());
    assert!(!sentinel(r).exists());
    assert_eq!(
        journal_states(r)
            .into_iter()
            .filter(|(_, s)| s == "done")
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        // check-etcd and etcd-join run as no-ops on a worker, as in kubeadm.
        [
            "preflight",
            "control-plane-prepare",
            "check-etcd",
            "kubelet-start",
            "etcd-join"
        ]
    );
}
