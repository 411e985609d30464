//! Stacked-etcd control-plane join (`check-etcd`, `etcd-join`) and `firstboot reset` against
//! REAL etcd members (Debian `etcd-server`): member 1 runs on certificates made by
//! `firstboot init phase certs`; the joining node gets its certificates from
//! `firstboot join phase control-plane-prepare certs`; its etcd endpoints come from the etcd
//! Pod annotation in the in-memory API server. The test plays the kubelet: it starts the
//! second member from exactly the command of the etcd manifest etcd-join wrote (node paths put
//! under the test root), so the phase sees it start and promotes it.

mod cluster_support;
mod runner_support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use firstboot::etcd_client::{EtcdClient, EtcdTls, Member};
use firstboot::join_material::copycerts;
use runner_support::{text, BIN};
use serde_json::{json, Value};
use testkit::apiserver::{ApiServer, GeneratedTls};
use testkit::etcd::Etcd;
use testkit::wait_until;

const MANIFEST: &str = "etc/kubernetes/manifests/etcd.yaml";

/// A one-member cluster: member `cp1` (127.0.0.1, random ports) and an API server holding the
/// kubeadm-config ConfigMap and the etcd Pod of `cp1`.
struct Cluster {
    _tmp: tempfile::TempDir,
    root1: PathBuf,
    e1: Etcd,
    api: ApiServer,
    tls: GeneratedTls,
}

/// A node joining as control plane `cp2` on its own loopback address (kubeadm's fixed etcd
/// ports 2379/2380/2381 on it).
struct Joiner {
    root: PathBuf,
    adv: Ipv4Addr,
}

fn run(root: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[track_caller]
fn run_ok(root: &Path, args: &[&str]) -> String {
    let o = run(root, args);
    assert!(o.status.success(), "firstboot {args:?}: {}", text(&o));
    text(&o)
}

fn write(p: &Path, content: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// `<root>/etc/kubernetes/admin.conf` for `api` (a system:masters client certificate).
fn write_admin_conf(api: &ApiServer, tls: &GeneratedTls, root: &Path) {
    let admin = root.join("etc/kubernetes/admin.conf");
    std::fs::create_dir_all(admin.parent().unwrap()).unwrap();
    api.write_admin_kubeconfig(&admin, tls).unwrap();
}

fn etcd_pod(name: &str, client_url: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("etcd-{name}"), "namespace": "kube-system",
            "labels": {"component": "etcd", "tier": "control-plane"},
            "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": client_url},
        },
        "spec": {"nodeName": name, "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.6.8-0"}]},
    })
}

fn start_cluster(joiner_adv: Ipv4Addr) -> Cluster {
    let tmp = tempfile::tempdir().unwrap();
    let root1 = tmp.path().join("cp1");
    write(
        &root1.join("etc/kubebake/firstboot.yaml"),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n\
         nodeRegistration:\n  name: cp1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
         kubernetesVersion: v1.36.2\ncontrolPlaneEndpoint: 127.0.0.1:6443\nencryptionAlgorithm: ECDSA-P256\n",
    );
    run_ok(&root1, &["init", "phase", "certs"]);
    let mut e1 = Etcd::new("cp1", &root1.join("etc/kubernetes/pki"));
    e1.start_new_cluster();

    let (api, tls) = ApiServer::start_generated("v1.36.2").unwrap();
    // The cluster's stored configuration (the kubeadm reference), with ECDSA keys and, so the
    // joining member binds only its own loopback address, its client and metrics listeners
    // set through etcd.local.extraArgs.
    let mut cm = cluster_support::reference_object("configmap/kube-system__kubeadm-config.yaml");
    let mut cc: serde_yaml::Value =
        serde_yaml::from_str(cm["data"]["ClusterConfiguration"].as_str().unwrap()).unwrap();
    cc["encryptionAlgorithm"] = "ECDSA-P256".into();
    cc["etcd"]["local"]["extraArgs"] = serde_yaml::from_str(&format!(
        "[{{name: listen-client-urls, value: 'https://{joiner_adv}:2379'}}, \
          {{name: listen-metrics-urls, value: 'http://{joiner_adv}:2381'}}]"
    ))
    .unwrap();
    cm["data"]["ClusterConfiguration"] = serde_yaml::to_string(&cc).unwrap().into();
    api.insert(cm).unwrap();
    api.insert(etcd_pod("cp1", &e1.client_url())).unwrap();
    Cluster {
        _tmp: tmp,
        root1,
        e1,
        api,
        tls,
    }
}

impl Cluster {
    fn pki1(&self) -> PathBuf {
        self.root1.join("etc/kubernetes/pki")
    }

    /// A client to member 1 only, with its healthcheck-client certificate.
    fn client(&self) -> EtcdClient {
        EtcdClient::new(
            vec![self.e1.client_url()],
            EtcdTls::from_pki_dir(&self.pki1()).unwrap(),
        )
        .unwrap()
        .with_retry_timeout(Duration::from_secs(20))
    }

    /// A control-plane node `cp2` at `adv`: its join configuration, admin.conf for the API
    /// server, the shared CAs copied as download-certs would, and its own certificates made
    /// by `firstboot join phase control-plane-prepare certs`.
    fn joiner(&self, adv: Ipv4Addr) -> Joiner {
        let root = self.root1.parent().unwrap().join("cp2");
        write(
            &root.join("etc/kubebake/firstboot.yaml"),
            &format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration:\n  name: cp2\n\
                 controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: {adv}\ndiscovery:\n  bootstrapToken:\n\
                 \x20   token: abcdef.0123456789abcdef\n    apiServerEndpoint: 127.0.0.1:6443\n    unsafeSkipCAVerification: true\n\
                 timeouts:\n  etcdAPICall: 30s\n  kubernetesAPICall: 10s\n"
            ),
        );
        write_admin_conf(&self.api, &self.tls, &root);
        let pki2 = root.join("etc/kubernetes/pki");
        // The shared certificates, as download-certs writes them.
        let pki1 = self.pki1();
        for f in copycerts::shared_files(&pki1, &copycerts::EtcdFiles::Local) {
            let to = pki2.join(f.path.strip_prefix(&pki1).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f.path, to).unwrap();
        }
        run_ok(&root, &["join", "phase", "control-plane-prepare", "certs"]);
        assert!(pki2.join("etcd/peer.crt").exists());
        assert!(pki2.join("etcd/healthcheck-client.crt").exists());
        Joiner { root, adv }
    }

    /// Voters and learners, sorted by name.
    fn members(&self) -> Vec<Member> {
        let mut m = self.client().members().unwrap();
        m.sort_by(|a, b| a.name.cmp(&b.name));
        m
    }
}

impl Joiner {
    fn peer_url(&self) -> String {
        format!("https://{}:2380", self.adv)
    }

    fn client_url(&self) -> String {
        format!("https://{}:2379", self.adv)
    }

    fn manifest(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// The manifest's etcd container command.
    fn command(&self) -> Vec<String> {
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(self.manifest()).unwrap()).unwrap();
        serde_yaml::from_value(v["spec"]["containers"][0]["command"].clone()).unwrap()
    }

    /// Runs `firstboot join phase <phase>` while acting as the kubelet: as soon as the etcd
    /// manifest appears, does what `on_manifest` says. Returns the phase's output and the
    /// started member.
    fn run_as_kubelet(&self, phase: &str, on_manifest: Kubelet) -> (Output, Option<Etcd>) {
        let mut child = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(["join", "phase", phase])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut member = None;
        while child.try_wait().unwrap().is_none() {
            if member.is_none() && self.manifest().exists() {
                match on_manifest {
                    Kubelet::StartEtcd => {
                        let root = self.root.clone();
                        member = Some(Etcd::start_static_pod(&self.command(), move |v| {
                            if v.starts_with('/') {
                                root.join(v.trim_start_matches('/')).display().to_string()
                            } else {
                                v.to_string()
                            }
                        }));
                    }
                    Kubelet::KillPhase => child.kill().unwrap(),
                    Kubelet::Nothing => {}
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("firstboot join phase {phase} did not finish within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (child.wait_with_output().unwrap(), member)
    }
}

/// What the test's kubelet does when the etcd manifest appears.
#[derive(Clone, Copy)]
enum Kubelet {
    /// Start etcd from the manifest's command.
    StartEtcd,
    /// Kill the phase (a crash after the manifest was written, before promotion).
    KillPhase,
    /// Nothing (the member already runs).
    Nothing,
}

fn flags(cmd: &[String], name: &str) -> Vec<String> {
    let prefix = format!("--{name}=");
    cmd.iter()
        .filter_map(|a| a.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

fn assert_two_voters(c: &Cluster, j: &Joiner) {
    let members = c.members();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().all(|m| !m.is_learner), "{members:?}");
    assert_eq!(members[0].name, "cp1");
    assert_eq!(members[0].peer_urls, [c.e1.peer_url()]);
    assert_eq!(members[1].name, "cp2");
    assert_eq!(members[1].peer_urls, [j.peer_url()]);
    assert_eq!(members[1].client_urls, [j.client_url()]);
}

#[test]
fn control_plane_join_adds_promotes_and_reset_removes_the_member() {
    let adv = testkit::etcd::free_loopback_address(&[2379, 2380, 2381]);
    let c = start_cluster(adv);
    let j = c.joiner(adv);

    // --dry-run prints the plan and contacts nothing.
    let out = run_ok(&j.root, &["--dry-run", "join", "phase", "etcd-join"]);
    assert!(
        out.contains(&format!("add etcd member cp2 ({})", j.peer_url())),
        "{out}"
    );
    assert!(out.contains("/etc/kubernetes/manifests/etcd.yaml"), "{out}");
    assert!(!j.manifest().exists());
    assert_eq!(c.members().len(), 1);

    let out = run_ok(&j.root, &["join", "phase", "check-etcd"]);
    assert!(out.contains("The etcd cluster is healthy"), "{out}");

    let (out, e2) = j.run_as_kubelet("etcd-join", Kubelet::StartEtcd);
    assert!(out.status.success(), "{}", text(&out));
    let mut e2 = e2.expect("the kubelet started the member from the manifest");
    assert_two_voters(&c, &j);

    // The manifest: the existing member plus this node, in etcd's member order, joining an
    // existing cluster; the rest as kubeadm writes it.
    let cmd = j.command();
    let members = c.members();
    let mut expected: Vec<(u64, String)> = vec![
        (members[0].id, format!("cp1={}", c.e1.peer_url())),
        (members[1].id, format!("cp2={}", j.peer_url())),
    ];
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, s)| s).collect();
    assert_eq!(flags(&cmd, "initial-cluster"), [expected.join(",")]);
    assert_eq!(flags(&cmd, "initial-cluster-state"), ["existing"]);
    assert_eq!(flags(&cmd, "name"), ["cp2"]);
    assert_eq!(flags(&cmd, "initial-advertise-peer-urls"), [j.peer_url()]);
    assert_eq!(flags(&cmd, "advertise-client-urls"), [j.client_url()]);
    assert_eq!(flags(&cmd, "data-dir"), ["/var/lib/etcd"]);
    assert_eq!(
        flags(&cmd, "peer-cert-file"),
        ["/etc/kubernetes/pki/etcd/peer.crt"]
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&j.manifest()), 0o600);
    assert_eq!(mode(&j.root.join("var/lib/etcd")), 0o700);

    // Re-run: nothing is added, the manifest is not rewritten.
    let before = (std::fs::read(j.manifest()).unwrap(), mtime(&j.manifest()));
    let ids: Vec<u64> = c.members().iter().map(|m| m.id).collect();
    let (out, none) = j.run_as_kubelet("etcd-join", Kubelet::Nothing);
    assert!(out.status.success(), "{}", text(&out));
    assert!(none.is_none());
    assert!(
        text(&out).contains("already in the cluster"),
        "{}",
        text(&out)
    );
    assert_eq!(
        (std::fs::read(j.manifest()).unwrap(), mtime(&j.manifest())),
        before
    );
    assert_eq!(c.members().iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert_two_voters(&c, &j);

    // Reset of the joined node removes its member; member 1 stays healthy.
    let out = run_ok(&j.root, &["reset"]);
    assert!(out.contains("Removing the etcd member"), "{out}");
    let members = c.members();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].name, "cp1");
    c.client().health().unwrap();
    c.client().put(b"/kubebake/after-reset", b"ok").unwrap();
    wait_until("the removed member stops", Duration::from_secs(20), || {
        !e2.is_running()
    });
    assert!(!j.manifest().exists());
    assert!(!j.root.join("etc/kubernetes/admin.conf").exists());
    assert_eq!(
        std::fs::read_dir(j.root.join("var/lib/etcd"))
            .unwrap()
            .count(),
        0
    );

    // The last member: resetting node 1 (its manifest and PKI in a root of its own, no cluster
    // connection) leaves the only member in place, as kubeadm does, and goes on.
    let last = c.root1.parent().unwrap().join("cp1-reset");
    write(
        &last.join(MANIFEST),
        &format!(
            "spec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls={}\n    - --initial-advertise-peer-urls={}\n",
            c.e1.client_url(),
            c.e1.peer_url()
        ),
    );
    firstboot::fsutil::copy_tree(&c.pki1(), &last.join("etc/kubernetes/pki")).unwrap();
    let out = run_ok(&last, &["reset"]);
    assert!(out.contains("only remaining etcd member"), "{out}");
    assert!(!last.join(MANIFEST).exists());
    assert_eq!(c.members().len(), 1);
    c.client().health().unwrap();
}

#[test]
fn learner_left_by_a_crash_is_promoted_and_reset_guards_quorum() {
    let adv = testkit::etcd::free_loopback_address(&[2379, 2380, 2381]);
    let mut c = start_cluster(adv);
    let j = c.joiner(adv);

    // A first attempt adds the learner, writes the manifest and crashes before promotion
    // (the kubelet has not started the member yet).
    let (out, none) = j.run_as_kubelet("etcd-join", Kubelet::KillPhase);
    assert!(!out.status.success());
    assert!(none.is_none());
    let members = c.members();
    let learner = members.iter().find(|m| m.is_learner).expect("a learner");
    assert_eq!(learner.peer_urls, [j.peer_url()]);
    assert_eq!(learner.name, "", "not started");
    let learner = learner.clone();

    // The re-run does not add it again; the kubelet starts it from the manifest; it is
    // promoted.
    let (out, e2) = j.run_as_kubelet("etcd-join", Kubelet::StartEtcd);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("already in the cluster as a learner"),
        "{}",
        text(&out)
    );
    let _e2 = e2.expect("the member was started from the manifest");
    assert_two_voters(&c, &j);
    assert_eq!(
        c.members().iter().find(|m| m.name == "cp2").unwrap().id,
        learner.id
    );
    assert_eq!(flags(&j.command(), "initial-cluster-state"), ["existing"]);

    // The kubelet's mirror Pod of the new member appears.
    c.api.insert(etcd_pod("cp2", &j.client_url())).unwrap();

    // Member 1 goes down: check-etcd reports the cluster unhealthy, naming it; reset refuses
    // because removing cp2 cannot keep quorum, and says why.
    c.e1.stop();
    let out = run(&j.root, &["join", "phase", "check-etcd"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not healthy"), "{}", text(&out));
    assert!(text(&out).contains(&c.e1.client_url()), "{}", text(&out));

    let out = run(&j.root, &["reset"]);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("would break the etcd cluster's quorum"), "{t}");
    assert!(
        t.contains("no quorum now: 1 of 2 voting members answer"),
        "{t}"
    );
    assert!(
        t.contains(&format!("not answering: cp1 ({})", c.e1.client_url())),
        "{t}"
    );
    assert!(t.contains("--force"), "{t}");
    assert!(j.manifest().exists(), "nothing removed");
    assert!(j.root.join("etc/kubernetes/admin.conf").exists());

    // --force resets anyway; the member cannot be removed without quorum and is left alone.
    let out = run_ok(&j.root, &["reset", "--force"]);
    assert!(
        out.contains("WARNING: not removing the etcd member"),
        "{out}"
    );
    assert!(!j.manifest().exists());
    assert!(!j.root.join("etc/kubernetes/admin.conf").exists());
}

// ---- pure planning (no etcd, no cluster) ----

const JOIN_CONFIG: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: cp2
controlPlane:
  localAPIEndpoint:
    advertiseAddress: 10.0.0.5
discovery:
  bootstrapToken:
    token: abcdef.0123456789abcdef
    apiServerEndpoint: 10.0.0.1:6443
    unsafeSkipCAVerification: true
";

fn plan_with(config: &str, f: impl FnOnce(&firstboot::phases::Context)) {
    plan_with_tweak(config, |_| {}, f)
}

fn plan_with_tweak(
    config: &str,
    tweak: impl FnOnce(&mut firstboot::config::NodeConfig),
    f: impl FnOnce(&firstboot::phases::Context),
) {
    let facts = cluster_support::facts();
    let mut cfg = firstboot::config::load_str("join.yaml", config, &facts, None).unwrap();
    tweak(&mut cfg);
    let root = tempfile::tempdir().unwrap();
    let services = firstboot::kube::NoServices::default();
    let ctx = firstboot::phases::Context {
        root: root.path(),
        host_root: root.path(),
        config: &cfg,
        facts: &facts,
        subphase: None,
        skip: &[],
        start_time: std::time::SystemTime::now(),
        cluster: None,
        services: &services,
    };
    f(&ctx)
}

fn member(id: u64, name: &str, peer: &str, learner: bool) -> Member {
    serde_json::from_value(json!({
        "ID": id.to_string(), "name": name, "peerURLs": [peer], "isLearner": learner,
    }))
    .unwrap()
}

#[test]
fn etcd_join_manifest_plan_lists_the_members_and_joins_the_existing_cluster() {
    use firstboot::phases::join::etcd_join::{local_member, plan_manifest};
    use firstboot::phases::PlanItem;
    plan_with(JOIN_CONFIG, |ctx| {
        let me = local_member(ctx.config).unwrap();
        assert_eq!(me.name, "cp2");
        assert_eq!(me.peer_url, "https://10.0.0.5:2380");
        assert_eq!(me.client_url, "https://10.0.0.5:2379");
        // member-add's answer: the existing voter, another unstarted learner (no name: its
        // hex ID), and this node (not started yet: no name either).
        let members = [
            member(0x11, "cp1", "https://10.0.0.4:2380", false),
            member(0xab, "", "https://10.0.0.6:2380", true),
            member(0x22, "", "https://10.0.0.5:2380", true),
        ];
        let plan = plan_manifest(ctx, &me, &members).unwrap();
        assert_eq!(
            plan.written_paths(),
            [
                "/var/lib/etcd",
                "/etc/kubernetes/manifests",
                "/etc/kubernetes/manifests/etcd.yaml"
            ]
        );
        let Some(PlanItem::File { content, mode, .. }) = plan.items.last() else {
            panic!("{plan:?}");
        };
        assert_eq!(*mode, 0o600);
        let yaml = String::from_utf8(content.clone()).unwrap();
        assert!(
            yaml.contains("- --initial-cluster=cp1=https://10.0.0.4:2380,ab=https://10.0.0.6:2380,cp2=https://10.0.0.5:2380\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("- --initial-cluster-state=existing\n"),
            "{yaml}"
        );
        assert!(yaml.contains("- --name=cp2\n"), "{yaml}");
        assert!(
            yaml.contains(
                "kubeadm.kubernetes.io/etcd.advertise-client-urls: https://10.0.0.5:2379"
            ),
            "{yaml}"
        );
        assert!(matches!(plan.items[0], PlanItem::Dir { mode: 0o700, .. }));
        // The member list must contain this node.
        let e = plan_manifest(ctx, &me, &members[..2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("https://10.0.0.5:2380"), "{e}");
    });
}

#[test]
fn etcd_join_and_check_etcd_plans_for_stacked_external_and_worker() {
    use firstboot::phases::join::{check_etcd::CheckEtcd, etcd_join::EtcdJoin};
    use firstboot::phases::{Phase, PlanItem};
    plan_with(JOIN_CONFIG, |ctx| {
        let plan = EtcdJoin.plan(ctx).unwrap();
        let out = plan.to_string();
        assert!(
            out.contains("add etcd member cp2 (https://10.0.0.5:2380) as a learner"),
            "{out}"
        );
        assert!(out.contains("directory /var/lib/etcd (mode 0700)"), "{out}");
        assert!(
            out.contains("file /etc/kubernetes/manifests/etcd.yaml (mode 0600, generated)"),
            "{out}"
        );
        assert!(out.contains("promote"), "{out}");
        assert_eq!(plan.output_files(), ["/etc/kubernetes/manifests/etcd.yaml"]);
        let out = CheckEtcd.plan(ctx).unwrap().to_string();
        assert!(
            out.contains("/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
            "{out}"
        );
        // dry run: apply contacts nothing and writes nothing
        EtcdJoin.apply(ctx, &plan, &mut |_| {}).unwrap();
        assert!(!ctx.path("/etc/kubernetes/manifests/etcd.yaml").exists());
    });
    // The cluster's configuration says external etcd (a JoinConfiguration file holds no
    // ClusterConfiguration: apply reads it from kubeadm-config, the plan sees the local view).
    let external = |cfg: &mut firstboot::config::NodeConfig| {
        cfg.cluster.etcd.local = None;
        cfg.cluster.etcd.external = Some(serde_yaml::from_str(
            "{endpoints: [https://10.0.0.9:2379], caFile: /etc/etcd/ca.crt, certFile: /etc/etcd/c.crt, keyFile: /etc/etcd/c.key}",
        ).unwrap());
    };
    plan_with_tweak(JOIN_CONFIG, external, |ctx| {
        for plan in [EtcdJoin.plan(ctx).unwrap(), CheckEtcd.plan(ctx).unwrap()] {
            assert_eq!(
                plan.items,
                [PlanItem::Note("external etcd: nothing to do".into())]
            );
        }
    });
    let worker = JOIN_CONFIG.replace(
        "controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 10.0.0.5\n",
        "",
    );
    plan_with(&worker, |ctx| {
        for plan in [EtcdJoin.plan(ctx).unwrap(), CheckEtcd.plan(ctx).unwrap()] {
            assert_eq!(
                plan.items,
                [PlanItem::Note(
                    "not a control-plane join: nothing to do".into()
                )]
            );
        }
    });
}

#[test]
fn external_etcd_in_the_cluster_configuration_means_nothing_to_do() {
    let (api, tls) = ApiServer::start_generated("v1.36.2").unwrap();
    let mut cm = cluster_support::reference_object("configmap/kube-system__kubeadm-config.yaml");
    let cc = cm["data"]["ClusterConfiguration"].as_str().unwrap().replace(
        "etcd:\n  local:\n    dataDir: /var/lib/etcd\n",
        "etcd:\n  external:\n    endpoints: [https://10.0.0.9:2379]\n    caFile: /etc/etcd/ca.crt\n    certFile: /etc/etcd/c.crt\n    keyFile: /etc/etcd/c.key\n",
    );
    assert!(cc.contains("external:"), "{cc}");
    cm["data"]["ClusterConfiguration"] = cc.into();
    api.insert(cm).unwrap();
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("etc/kubebake/firstboot.yaml"),
        JOIN_CONFIG,
    );
    write_admin_conf(&api, &tls, root.path());
    for phase in ["check-etcd", "etcd-join"] {
        let out = run_ok(root.path(), &["join", "phase", phase]);
        assert!(out.contains("external etcd: nothing to do"), "{out}");
    }
    assert!(!root.path().join(MANIFEST).exists());
    assert!(!root.path().join("var/lib/etcd").exists());
    // nothing but the configuration was read: no Pod list, no etcd
    assert!(
        api.requests()
            .iter()
            .all(|r| r.path.ends_with("/configmaps/kubeadm-config")),
        "{:?}",
        api.requests()
    );
}
