//! Runner behaviour through the real binary: dry-run, lock, journal, sentinel, failure marker,
//! exit codes, skip handling, re-running damaged outputs.

mod runner_support;

use std::time::Duration;

use runner_support::{snapshot, text, Node};

#[test]
fn dry_run_writes_nothing_and_prints_the_plan() {
    let node = Node::new();
    let before = snapshot(node.root());
    let out = node.run(&["--dry-run", "init"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(snapshot(node.root()), before, "dry-run changed the root");
    for line in [
        "[certs] file /etc/kubernetes/pki/ca.key (mode 0600, generated)",
        "[certs] file /etc/kubernetes/pki/ca.crt (mode 0644, generated)",
        "[kubeconfig] file /etc/kubernetes/admin.conf (mode 0600, generated)",
        "[etcd] directory /var/lib/etcd (mode 0700)",
        "[control-plane] file /etc/kubernetes/manifests/kube-apiserver.yaml (mode 0600,",
        "[kubelet-start] file /var/lib/kubelet/config.yaml (mode 0644,",
        "[wait-control-plane] would be skipped",
    ] {
        assert!(t.contains(line), "{line:?} missing from:\n{t}");
    }
    // Also for a single phase, and private key material is never printed.
    let out = node.run(&["--dry-run", "init", "phase", "certs", "sa"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("/etc/kubernetes/pki/sa.key") && !t.contains("ca.key"),
        "{t}"
    );
    assert!(!t.contains("PRIVATE KEY"), "{t}");
    assert_eq!(snapshot(node.root()), before);
}

#[test]
fn dry_run_on_an_initialised_node_keeps_existing_files() {
    let node = Node::new();
    node.run_ok(&["init"]);
    let before = snapshot(node.root());
    let t = node.run_ok(&["--dry-run", "init", "--skip-phases", "preflight"]);
    assert!(t.contains("[certs] keep /etc/kubernetes/pki/ca.crt"), "{t}");
    assert!(
        t.contains("[kubeconfig] keep /etc/kubernetes/admin.conf"),
        "{t}"
    );
    assert_eq!(snapshot(node.root()), before);
}

#[test]
fn second_run_names_the_lock_holder() {
    let node = Node::new();
    let lock_path = node.path("/var/lib/kubebake/firstboot/lock");
    let held = firstboot::runner::lock::acquire(&lock_path, Duration::ZERO).unwrap();
    let out = node.run(&["init"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains(&format!("pid {}", std::process::id())), "{t}");
    assert!(t.contains(lock_path.to_str().unwrap()), "{t}");
    drop(held);
    node.run_ok(&["init"]);
}

#[test]
fn lock_wait_lets_a_second_run_wait_for_the_first() {
    let cfg = runner_support::CONFIG.replace(
        "kind: FirstbootConfiguration\n",
        "kind: FirstbootConfiguration\ntimeouts:\n  lockWait: 20s\n",
    );
    let node = Node::with_config(&cfg);
    let lock_path = node.path("/var/lib/kubebake/firstboot/lock");
    let held = firstboot::runner::lock::acquire(&lock_path, Duration::ZERO).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(held);
    });
    let started = std::time::Instant::now();
    node.run_ok(&["init"]);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "did not wait for the lock"
    );
    releaser.join().unwrap();
}

#[test]
fn concurrent_runs_one_fails_naming_the_holder() {
    let node = Node::new();
    let spawn = || {
        std::process::Command::new(runner_support::BIN)
            .args(["--root", node.root().to_str().unwrap(), "init"])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let codes = [a.status.code(), b.status.code()];
    // Either the runs did not overlap (both succeed; the second finds everything done) or one
    // was refused with the lock error naming the holder's pid.
    if codes.contains(&Some(3)) {
        let loser = if a.status.code() == Some(3) { &a } else { &b };
        let t = text(loser);
        assert!(t.contains("holds the lock") && t.contains("pid "), "{t}");
        assert!(codes.contains(&Some(0)), "{codes:?}");
    } else {
        assert_eq!(codes, [Some(0), Some(0)], "{}\n{}", text(&a), text(&b));
    }
    assert_eq!(node.journal()["result"], "succeeded");
}

#[test]
fn success_writes_sentinel_and_journal() {
    let node = Node::new();
    node.run_ok(&["init"]);
    for p in [
        "/run/cluster-api/bootstrap-success.complete",
        "/var/lib/kubebake/firstboot/bootstrap-success.complete",
    ] {
        assert_eq!(
            std::fs::read_to_string(node.path(p)).unwrap(),
            "success\n",
            "{p}"
        );
    }
    assert!(!node.path("/var/lib/kubebake/firstboot/failed").exists());
    let j = node.journal();
    assert_eq!(j["mode"], "init");
    assert_eq!(j["result"], "succeeded");
    let names: Vec<&str> = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "preflight",
            "certs",
            "kubeconfig",
            "etcd",
            "control-plane",
            "kubelet-start",
            "wait-control-plane",
            "upload-config",
            "upload-certs",
            "mark-control-plane",
            "bootstrap-token",
            "kubelet-finalize",
            "addon",
            "show-join-command",
        ]
    );
    for p in j["phases"].as_array().unwrap().iter().take(6) {
        assert_eq!(p["state"], "done", "{p}");
        assert_eq!(p["attempts"], 1);
        assert!(p["startedAt"].as_str().unwrap().ends_with('Z'));
        assert!(p["endedAt"].is_string());
    }
    for p in j["phases"].as_array().unwrap().iter().skip(6) {
        assert_eq!(p["state"], "skipped", "{p}");
    }
    assert!(j["phases"][1]["outputs"]["/etc/kubernetes/pki/ca.crt"].is_string());
}

#[test]
fn failure_writes_marker_journal_and_exit_code_1() {
    let node = Node::new();
    std::fs::create_dir_all(node.path("/etc/kubernetes/pki")).unwrap();
    std::fs::write(
        node.path("/etc/kubernetes/pki/ca.crt"),
        "not a certificate\n",
    )
    .unwrap();
    std::fs::write(node.path("/etc/kubernetes/pki/ca.key"), "not a key\n").unwrap();
    let out = node.run(&["init"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("phase certs failed"), "{t}");
    let marker: serde_json::Value = serde_json::from_slice(
        &std::fs::read(node.path("/var/lib/kubebake/firstboot/failed")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["phase"], "certs");
    assert!(
        marker["error"].as_str().unwrap().contains("ca.crt"),
        "{marker}"
    );
    let rec = node.phase("certs");
    assert_eq!(rec["state"], "failed");
    assert!(rec["error"].as_str().unwrap().contains("ca.crt"));
    assert_eq!(node.phase("kubeconfig")["state"], "pending");
    assert_eq!(node.journal()["result"], "failed");
    assert!(!node
        .path("/run/cluster-api/bootstrap-success.complete")
        .exists());
    // The user's files are not removed by the failed attempt (they existed before it).
    assert!(node.path("/etc/kubernetes/pki/ca.crt").exists());

    // Fix the input; the re-run redoes certs and clears the failure marker.
    std::fs::remove_file(node.path("/etc/kubernetes/pki/ca.crt")).unwrap();
    std::fs::remove_file(node.path("/etc/kubernetes/pki/ca.key")).unwrap();
    node.run_ok(&["init"]);
    assert_eq!(node.phase("certs")["attempts"], 2);
    assert!(!node.path("/var/lib/kubebake/firstboot/failed").exists());
    assert!(node
        .path("/run/cluster-api/bootstrap-success.complete")
        .exists());
}

#[test]
fn exit_codes_for_bad_input_and_unsupported_phases() {
    let node = Node::with_config("apiVersion: kubeadm.k8s.io/v1beta4\nkind: Nope\n");
    let out = node.run(&["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("firstboot.yaml: document 1 (Nope): field kind"));
    assert!(
        !node.path("/var/lib/kubebake/firstboot").exists(),
        "bad input must not touch the node"
    );

    let node = Node::new();
    let join = Node::with_config("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\n");
    // A worker join runs etcd-join as a no-op (kubeadm does too).
    let out = join.run(&["join", "phase", "etcd-join"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = join.run(&["--dry-run", "join", "phase", "etcd-join"]);
    assert!(
        text(&out).contains("not a control-plane join: nothing to do"),
        "{}",
        text(&out)
    );
    let out = node.run(&["init", "phase", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = node.run(&["init", "--skip-phases", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown init phase \"nope\""));
    let out = node.run(&["init", "--bogus-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = node.run(&["--config", "/nonexistent/file.yaml", "init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("/nonexistent/file.yaml"));
}

#[test]
fn control_plane_join_fails_at_check_etcd_without_a_cluster() {
    // A control-plane join with stacked etcd: check-etcd needs the cluster (admin.conf, the
    // etcd Pods) and fails without it, so the node must not claim success. The other phases
    // that talk to the cluster are skipped (a directory root has no cluster to talk to).
    let cfg = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration:\n  name: cp2\n  ignorePreflightErrors: [all]\ncontrolPlane:\n  localAPIEndpoint:\n    advertiseAddress: 10.0.0.2\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\n---\napiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\nskipPhases: [control-plane-prepare, kubelet-start, kubelet-wait-bootstrap, control-plane-join, wait-control-plane]\n";
    let node = Node::with_config(cfg);
    let out = node.run(&["run"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("check-etcd"), "{t}");
    assert!(t.contains("admin.conf"), "{t}");
    assert_eq!(node.journal()["mode"], "join");
    assert_eq!(node.phase("preflight")["state"], "done");
    assert_eq!(node.phase("check-etcd")["state"], "failed");
    assert!(node.path("/var/lib/kubebake/firstboot/failed").exists());
    assert!(!node
        .path("/run/cluster-api/bootstrap-success.complete")
        .exists());
    assert!(!t.contains("0123456789abcdef"), "token leaked: {t}");
}

#[test]
fn skipped_phases_and_subphases() {
    let node = Node::new();
    node.run_ok(&[
        "init",
        "--skip-phases",
        "preflight,certs/sa,kubeconfig/super-admin",
    ]);
    assert_eq!(node.phase("preflight")["state"], "skipped");
    assert!(!node.path("/etc/kubernetes/pki/sa.key").exists());
    assert!(node.path("/etc/kubernetes/pki/ca.key").exists());
    assert!(!node.path("/etc/kubernetes/super-admin.conf").exists());
    assert!(node.path("/etc/kubernetes/admin.conf").exists());
    // skipPhases from the FirstbootConfiguration apply too.
    let cfg = runner_support::CONFIG.replace("skipPhases: [", "skipPhases: [kubelet-start, ");
    let node = Node::with_config(&cfg);
    node.run_ok(&["init"]);
    assert_eq!(node.phase("kubelet-start")["state"], "skipped");
    assert!(!node.path("/var/lib/kubelet").exists());
}

#[test]
fn damaged_outputs_make_a_done_phase_run_again() {
    let node = Node::new();
    node.run_ok(&["init"]);
    let manifest = node.path("/etc/kubernetes/manifests/kube-scheduler.yaml");
    let good = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, "damaged\n").unwrap();
    let ca = std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).unwrap();
    let t = node.run_ok(&["init"]);
    assert!(t.contains("[certs] already done"), "{t}");
    assert!(!t.contains("[control-plane] already done"), "{t}");
    assert_eq!(std::fs::read(&manifest).unwrap(), good);
    assert_eq!(node.phase("control-plane")["attempts"], 2);
    assert_eq!(
        std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).unwrap(),
        ca
    );
}

#[test]
fn single_phase_and_subphase_runs() {
    let node = Node::new();
    node.run_ok(&["init", "phase", "certs", "ca"]);
    assert!(node.path("/etc/kubernetes/pki/ca.crt").exists());
    assert!(!node.path("/etc/kubernetes/pki/apiserver.crt").exists());
    node.run_ok(&["init", "phase", "certs", "apiserver"]);
    assert!(node.path("/etc/kubernetes/pki/apiserver.crt").exists());
    assert!(!node.path("/etc/kubernetes/pki/front-proxy-ca.crt").exists());
    node.run_ok(&["init", "phase", "control-plane", "scheduler"]);
    assert!(node
        .path("/etc/kubernetes/manifests/kube-scheduler.yaml")
        .exists());
    assert!(!node
        .path("/etc/kubernetes/manifests/kube-apiserver.yaml")
        .exists());
    assert!(!node
        .path("/run/cluster-api/bootstrap-success.complete")
        .exists());
}

#[test]
fn a_changed_configuration_reruns_done_phases() {
    let node = Node::new();
    node.run_ok(&["init"]);
    let ca = std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).unwrap();
    let cfg = format!(
        "{}apiServer:\n  extraArgs:\n  - name: audit-log-maxage\n    value: \"30\"\n",
        runner_support::CONFIG
    );
    std::fs::write(node.path("/etc/kubebake/firstboot.yaml"), cfg).unwrap();
    node.run_ok(&["init"]);
    let manifest =
        std::fs::read_to_string(node.path("/etc/kubernetes/manifests/kube-apiserver.yaml"))
            .unwrap();
    assert!(manifest.contains("- --audit-log-maxage=30\n"), "{manifest}");
    assert_eq!(node.phase("control-plane")["attempts"], 2);
    // Existing valid certificates are reused, as kubeadm does.
    assert_eq!(
        std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).unwrap(),
        ca
    );
    // A third run with the same configuration changes nothing.
    let before = snapshot(node.root());
    let t = node.run_ok(&["init"]);
    assert!(t.contains("[control-plane] already done"), "{t}");
    let after = snapshot(node.root());
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| !runner_support::is_run_state(k) && before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
}
