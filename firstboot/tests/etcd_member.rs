//! The etcd membership client against real etcd members (Debian `etcd-server`) with kubeadm's
//! mTLS layout, certificates made by firstboot's own PKI code: learner add → start → promote,
//! quorum checks, health, removal and a snapshot checked by `etcdutl`/`etcdctl`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use firstboot::etcd_client::{self, EtcdClient, EtcdError, EtcdTls};
use firstboot::pki::{self, EncryptionAlgorithm, PkiParams};
use testkit::etcd::Etcd;
use testkit::wait_until;

/// kubeadm's certificates (etcd CA, server, peer, healthcheck-client, apiserver-etcd-client …)
/// for node `cp1` at 127.0.0.1, under `<dir>/pki`.
fn make_pki(dir: &Path, alg: EncryptionAlgorithm) -> PathBuf {
    let pki_dir = dir.join("pki");
    let mut params = PkiParams::new(&pki_dir, "cp1", "127.0.0.1".parse().unwrap());
    params.encryption_algorithm = alg;
    pki::plan(&params).unwrap().apply().unwrap();
    pki_dir
}

fn client(endpoints: &[String], pki_dir: &Path) -> EtcdClient {
    EtcdClient::new(endpoints.to_vec(), EtcdTls::from_pki_dir(pki_dir).unwrap())
        .unwrap()
        .with_retry_timeout(Duration::from_secs(60))
}

#[test]
fn learner_join_promote_remove_and_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = make_pki(tmp.path(), EncryptionAlgorithm::default());

    let mut e1 = Etcd::new("cp1", &pki_dir);
    e1.start_new_cluster();
    let c = client(&[e1.client_url()], &pki_dir);

    // one member
    let members = c.members().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    let m1 = members[0].clone();
    assert_eq!(m1.name, "cp1");
    assert_eq!(m1.peer_urls, vec![e1.peer_url()]);
    assert_eq!(m1.client_urls, vec![e1.client_url()]);
    assert!(!m1.is_learner);
    c.health().unwrap();
    c.check_cluster_health().unwrap();
    let st = c.status(&e1.client_url()).unwrap();
    assert_eq!(st.leader, m1.id);
    assert_eq!(st.header.member_id, m1.id);
    assert!(!st.version.is_empty());
    // removing the only member would leave no cluster
    assert!(c.remove_would_break_quorum(m1.id).unwrap());

    c.put(b"/kubebake/test", b"before-join").unwrap();
    assert_eq!(
        c.get(b"/kubebake/test").unwrap().as_deref(),
        Some(&b"before-join"[..])
    );
    assert_eq!(c.get(b"/kubebake/absent").unwrap(), None);

    // add a learner
    let mut e2 = Etcd::new("cp2", &pki_dir);
    let (learner, members) = c.add_learner("cp2", &e2.peer_url()).unwrap();
    assert!(learner.is_learner, "{learner:?}");
    assert_eq!(learner.peer_urls, vec![e2.peer_url()]);
    assert_ne!(learner.id, m1.id);
    assert_eq!(members.len(), 2, "{members:?}");
    // idempotent: the same peer URL gives the same member, no second one
    let (again, members_again) = c.add_learner("cp2", &e2.peer_url()).unwrap();
    assert_eq!(again.id, learner.id);
    assert_eq!(members_again.len(), 2);
    assert_eq!(c.members().unwrap().len(), 2);

    let initial_cluster = etcd_client::initial_cluster_arg(&members, "cp2", &e2.peer_url());
    let mut expected = [
        format!("cp1={}", e1.peer_url()),
        format!("cp2={}", e2.peer_url()),
    ];
    // etcd's member order is by ID; the helper keeps etcd's order
    if members[0].id == learner.id {
        expected.reverse();
    }
    assert_eq!(initial_cluster, expected.join(","));

    // learners do not count for quorum: removing the learner is fine, the voter is not
    assert!(!c.remove_would_break_quorum(learner.id).unwrap());
    assert!(c.remove_would_break_quorum(m1.id).unwrap());

    // the learner has not started: promote waits for it, then for it to catch up
    e2.start_joining(&initial_cluster);
    c.promote(learner.id).unwrap();
    c.promote(learner.id).unwrap(); // already a voter: still fine
    let members = c.members().unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| !m.is_learner), "{members:?}");
    let mut names: Vec<_> = members.iter().map(|m| m.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["cp1", "cp2"]);

    // a client syncing its endpoints with the member list now uses both members
    let mut both = client(&[e1.client_url()], &pki_dir);
    both.sync_endpoints().unwrap();
    let mut eps = both.endpoints().to_vec();
    eps.sort();
    let mut want = vec![e1.client_url(), e2.client_url()];
    want.sort();
    assert_eq!(eps, want);
    wait_until("both members healthy", Duration::from_secs(30), || {
        both.health().is_ok()
    });
    both.check_cluster_health().unwrap();

    // the new member has the data, read through it alone, with the apiserver's client cert
    let via_e2 = EtcdClient::new(
        vec![e2.client_url()],
        EtcdTls::from_files(
            &pki_dir.join("etcd/ca.crt"),
            &pki_dir.join("apiserver-etcd-client.crt"),
            &pki_dir.join("apiserver-etcd-client.key"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        via_e2.get(b"/kubebake/test").unwrap().as_deref(),
        Some(&b"before-join"[..])
    );

    // two healthy voters: either may go (one left is its own quorum)
    assert!(!c.remove_would_break_quorum(learner.id).unwrap());
    assert!(!c.remove_would_break_quorum(m1.id).unwrap());

    // second member down: the cluster has no quorum, no removal is safe
    e2.stop();
    assert!(c.remove_would_break_quorum(learner.id).unwrap());
    assert!(c.remove_would_break_quorum(m1.id).unwrap());
    let err = via_e2.health().unwrap_err();
    assert!(
        matches!(&err, EtcdError::Transport { endpoint, .. } if *endpoint == e2.client_url()),
        "{err}"
    );
    assert!(err.to_string().contains(&e2.client_url()), "{err}");
    let err = both.check_cluster_health().unwrap_err();
    assert!(err.to_string().contains(&e2.client_url()), "{err}");

    // back up with the same data directory
    e2.restart();
    wait_until("cluster healthy again", Duration::from_secs(60), || {
        both.health().is_ok()
    });

    // remove the second member, found by its peer URL like kubeadm reset does; a second
    // removal is not an error
    let found = c.member_by_peer_url(&e2.peer_url()).unwrap().unwrap();
    assert_eq!(found.id, learner.id);
    assert_eq!(found.name, "cp2");
    c.remove(found.id).unwrap();
    assert_eq!(c.member_by_peer_url(&e2.peer_url()).unwrap(), None);
    let members = c.members().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].id, m1.id);
    c.remove(learner.id).unwrap();
    wait_until("removed member stops", Duration::from_secs(30), || {
        !e2.is_running()
    });
    c.health().unwrap();
    c.put(b"/kubebake/test", b"after-remove").unwrap();

    // promote of an unknown member
    let err = c.promote(learner.id).unwrap_err();
    assert!(
        matches!(err, EtcdError::MemberNotFound { id } if id == learner.id),
        "{err}"
    );

    // snapshot
    let snap_dir = tmp.path().join("backup");
    std::fs::create_dir(&snap_dir).unwrap();
    let snap = snap_dir.join("etcd-snapshot.db");
    let n = c.snapshot(&snap).unwrap();
    let meta = std::fs::metadata(&snap).unwrap();
    assert_eq!(meta.len(), n);
    assert!(n > 4096, "snapshot of {n} bytes");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&snap_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    check_snapshot_with_etcd_tools(&snap);
}

/// `etcdutl snapshot status` (etcd ≥ 3.5) or `etcdctl snapshot status` (3.4) accepts the file
/// and finds our key's revisions in it.
fn check_snapshot_with_etcd_tools(snap: &Path) {
    let (tool, out) = match which("etcdutl") {
        Some(t) => {
            let o = std::process::Command::new(&t)
                .args(["snapshot", "status", "-w", "json"])
                .arg(snap)
                .output()
                .unwrap();
            (t, o)
        }
        None => {
            let t = testkit::require_tool("etcdctl", "etcd-client");
            let o = std::process::Command::new(&t)
                .env("ETCDCTL_API", "3")
                .args(["snapshot", "status", "-w", "json"])
                .arg(snap)
                .output()
                .unwrap();
            (t, o)
        }
    };
    assert!(
        out.status.success(),
        "{} snapshot status: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    });
    assert!(v["revision"].as_i64().unwrap() >= 2, "{v}");
    assert!(v["totalKey"].as_i64().unwrap() >= 1, "{v}");
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

#[test]
fn wrong_ca_is_a_tls_error_naming_the_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = make_pki(&tmp.path().join("a"), EncryptionAlgorithm::EcdsaP256);
    let other = make_pki(&tmp.path().join("b"), EncryptionAlgorithm::EcdsaP256);
    let mut e = Etcd::new("cp1", &pki_dir);
    e.start_new_cluster();

    // a CA that did not sign the server certificate
    let bad = EtcdClient::new(vec![e.client_url()], EtcdTls::from_pki_dir(&other).unwrap())
        .unwrap()
        .with_retry_timeout(Duration::from_secs(2));
    let err = bad.health().unwrap_err();
    assert!(
        matches!(&err, EtcdError::Transport { endpoint, .. } if *endpoint == e.client_url()),
        "{err}"
    );
    let err = bad.members().unwrap_err();
    assert!(matches!(err, EtcdError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains(&e.client_url()), "{err}");

    // the right CA but a client certificate from another CA: etcd refuses the handshake
    let mut tls = EtcdTls::from_pki_dir(&pki_dir).unwrap();
    let foreign = EtcdTls::from_pki_dir(&other).unwrap();
    tls.cert_pem = foreign.cert_pem;
    tls.key_pem = foreign.key_pem;
    let err = EtcdClient::new(vec![e.client_url()], tls)
        .unwrap()
        .health()
        .unwrap_err();
    assert!(err.to_string().contains(&e.client_url()), "{err}");

    // a second endpoint that is down is skipped for cluster calls
    let dead = format!("https://127.0.0.1:{}", testkit::services::free_port());
    let c = EtcdClient::new(
        vec![dead.clone(), e.client_url()],
        EtcdTls::from_pki_dir(&pki_dir).unwrap(),
    )
    .unwrap();
    assert_eq!(c.members().unwrap().len(), 1);
    let err = c.health().unwrap_err();
    assert!(err.to_string().contains(&dead), "{err}");
    // one of two endpoints answering is not more than half
    assert!(c.check_cluster_health().is_err());

    // a missing file is named
    let err = EtcdTls::from_pki_dir(&tmp.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
