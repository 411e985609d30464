//! `upgrade apply` against `testkit::apiserver`, a real etcd and the stand-in kubelet: a clean
//! upgrade, a failure injected at each component (that component's old manifest is back, the
//! journal names it, and running apply again finishes the upgrade), and a crash between
//! components that the next apply resumes.

mod upgrade_support;

use std::time::Duration;

use firstboot::kube::NoServices;
use firstboot::runner::journal::PhaseState;
use firstboot::upgrade::apply::ApplyError;
use firstboot::upgrade::backup::BackupRecord;
use firstboot::upgrade::journal::{UpgradeJournal, UpgradeState};
use testkit::kubelet::{manifest_hash, Failure};
use upgrade_support::{bundle, image_tag, step_error, Cluster, FROM, TO};

const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

fn manifests(c: &Cluster) -> Vec<String> {
    COMPONENTS.iter().map(|n| c.manifest(n)).collect()
}

#[test]
fn clean_upgrade_replaces_every_component_and_records_it() {
    let c = Cluster::start();
    let before = manifests(&c);
    let kubelet_before = std::fs::read_to_string(c.path("/var/lib/kubelet/config.yaml")).unwrap();
    // A cluster-wide kubelet setting changed since the node was set up: the upgrade's
    // kubelet-config step brings it to the node.
    c.append_to_kubelet_config("maxPods: 99");
    assert!(!kubelet_before.contains("maxPods: 99"));
    // RBAC a user (or an older kubeadm) removed: the bootstrap-token step puts it back.
    let crb = |c: &Cluster| {
        c.server.get(
            "rbac.authorization.k8s.io/v1",
            "clusterrolebindings",
            None,
            "kubeadm:apiserver-kubelet-client",
        )
    };
    c.server.delete(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        None,
        "kubeadm:apiserver-kubelet-client",
    );
    assert!(crb(&c).is_none());
    let services = NoServices::default();
    let j = c.apply_target(Duration::from_secs(20), &services).unwrap();
    assert_eq!(j.state, UpgradeState::Succeeded);
    assert_eq!(
        crb(&c).unwrap()["roleRef"]["name"],
        "system:kubelet-api-admin"
    );
    assert_eq!(
        (j.from_version.as_str(), j.target_version.as_str()),
        (FROM, TO)
    );
    for s in &j.steps {
        // No controlPlaneEndpoint: kubelet.conf already names this node's API server.
        let want = if s.name == "kubeconfig" {
            PhaseState::Skipped
        } else {
            PhaseState::Done
        };
        assert_eq!(s.state, want, "step {} ({:?})", s.name, s.reason);
    }
    // Every control-plane component runs the target version, as the kubelet sees it.
    for n in &COMPONENTS[1..] {
        assert_eq!(image_tag(&c.manifest(n)), TO, "{n}");
    }
    for n in COMPONENTS {
        assert_eq!(
            c.mirror_hash(n),
            manifest_hash(&c.manifest(n)),
            "mirror pod of {n}"
        );
    }
    assert_ne!(image_tag(&c.manifest("etcd")), image_tag(&before[0]));
    // The backup holds the old manifests, under kubeadm's name, and an etcd snapshot.
    assert!(j
        .backup_dir
        .starts_with("/etc/kubernetes/tmp/kubeadm-backup-manifests-"));
    assert!(j
        .etcd_backup_dir
        .starts_with("/etc/kubernetes/tmp/kubeadm-backup-etcd-"));
    let rec = BackupRecord::read(c.root(), &j.backup_dir).unwrap();
    for (n, old) in COMPONENTS.iter().zip(&before) {
        let saved = std::fs::read_to_string(c.path(&format!("{}/{n}.yaml", j.backup_dir))).unwrap();
        assert_eq!(&saved, old, "backup of {n}");
    }
    let snap = c.path(rec.etcd_snapshot.as_deref().unwrap());
    assert!(std::fs::metadata(&snap).unwrap().len() > 0);
    assert!(rec
        .links
        .iter()
        .any(|l| l.path == "/usr/local/bin/kubeadm" && l.target.contains(FROM)));
    // Cluster objects and the node's active version.
    let cm = c
        .server
        .get("v1", "configmaps", Some("kube-system"), "kubeadm-config")
        .unwrap();
    let cc = cm["data"]["ClusterConfiguration"].as_str().unwrap();
    assert!(cc.contains(&format!("kubernetesVersion: {TO}")), "{cc}");
    let link = std::fs::read_link(c.path("/usr/local/bin/kubeadm")).unwrap();
    assert_eq!(
        link.display().to_string(),
        format!("/opt/kubebake/versions/{TO}/bin/kubeadm")
    );
    assert_eq!(services.calls(), ["restart kubelet"]);
    // kubelet-config: the old file kept under kubeadm's name, the new one from the ConfigMap.
    let kubelet_now = std::fs::read_to_string(c.path("/var/lib/kubelet/config.yaml")).unwrap();
    assert!(kubelet_now.contains("maxPods: 99"), "{kubelet_now}");
    let saved: Vec<_> = std::fs::read_dir(c.path("/etc/kubernetes/tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kubeadm-kubelet-config-")
        })
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(
        std::fs::read_to_string(saved[0].join("config.yaml")).unwrap(),
        kubelet_before
    );
    // Applying the same version again changes nothing and succeeds.
    let after = manifests(&c);
    let again = c.apply_target(Duration::from_secs(20), &services).unwrap();
    assert_eq!(again.state, UpgradeState::Succeeded);
    assert_eq!(manifests(&c), after);
}

#[test]
fn a_component_that_does_not_come_up_is_restored_and_named() {
    for (i, failing) in COMPONENTS.iter().enumerate() {
        let c = Cluster::start();
        let before = manifests(&c);
        let how = if i % 2 == 0 {
            Failure::NeverRuns
        } else {
            Failure::CrashLoop
        };
        c.kubelet.fail(failing, how);
        let services = NoServices::default();
        let err = c
            .apply_target(Duration::from_secs(2), &services)
            .unwrap_err();
        let step = format!("control-plane/{failing}");
        let error = step_error(&err, &step);
        assert!(
            error.contains(&format!("upgrading {failing} failed")),
            "{error}"
        );
        assert!(error.contains("restored"), "{error}");
        if *failing == "etcd" {
            // Spec §14.5 4e: the old member is waited for and its state reported.
            assert!(
                error.contains("the previous etcd serves the cluster again"),
                "{error}"
            );
        }
        // The failing component has its old manifest; those before it are upgraded; those
        // after it were not touched.
        let now = manifests(&c);
        for (k, n) in COMPONENTS.iter().enumerate() {
            if k < i {
                assert_ne!(
                    now[k], before[k],
                    "{n} should be upgraded (failing {failing})"
                );
            } else {
                assert_eq!(
                    now[k], before[k],
                    "{n} should be as before (failing {failing})"
                );
            }
        }
        let j = UpgradeJournal::read(c.root()).unwrap().unwrap();
        assert_eq!(j.state, UpgradeState::Failed);
        assert_eq!(j.failed_step.as_deref(), Some(step.as_str()));
        assert_eq!(j.step_state(&step), PhaseState::Failed);
        assert!(
            services.calls().is_empty(),
            "no kubelet restart after a failure"
        );
        // The kubelet runs the old manifest again, then the upgrade is finished by re-running.
        c.kubelet.heal(failing);
        c.wait_mirror_current(failing);
        let j = c.apply_target(Duration::from_secs(20), &services).unwrap();
        assert_eq!(j.state, UpgradeState::Succeeded, "{failing}");
        assert_eq!(
            j.steps
                .iter()
                .find(|s| s.name == "backup")
                .unwrap()
                .attempts,
            1,
            "the backup is taken once"
        );
        assert_eq!(j.steps.iter().find(|s| s.name == step).unwrap().attempts, 2);
        assert_eq!(image_tag(&c.manifest("kube-scheduler")), TO);
    }
}

#[test]
fn a_crash_between_components_resumes() {
    let c = Cluster::start();
    let services = NoServices::default();
    let err = c
        .apply(
            &bundle(TO),
            Duration::from_secs(20),
            &services,
            &mut |step| {
                if step == "control-plane/kube-apiserver" {
                    anyhow::bail!("simulated crash")
                }
                Ok(())
            },
        )
        .unwrap_err();
    assert!(matches!(err, ApplyError::Interrupted(ref s) if s == "control-plane/kube-apiserver"));
    let j = UpgradeJournal::read(c.root()).unwrap().unwrap();
    assert_eq!(j.state, UpgradeState::Running);
    assert_eq!(
        j.step_state("control-plane/kube-apiserver"),
        PhaseState::Done
    );
    assert_eq!(
        j.step_state("control-plane/kube-controller-manager"),
        PhaseState::Pending
    );
    assert_eq!(image_tag(&c.manifest("kube-apiserver")), TO);
    assert_eq!(image_tag(&c.manifest("kube-controller-manager")), FROM);
    let backup_before = j.backup_dir.clone();
    let j = c.apply_target(Duration::from_secs(20), &services).unwrap();
    assert_eq!(j.state, UpgradeState::Succeeded);
    assert_eq!(
        j.backup_dir, backup_before,
        "the same backup serves the resumed upgrade"
    );
    for s in &j.steps {
        assert_eq!(s.attempts, 1, "step {} ran once", s.name);
    }
    // The backup still holds the manifests from before the upgrade, not half-upgraded ones.
    let saved =
        std::fs::read_to_string(c.path(&format!("{}/kube-apiserver.yaml", j.backup_dir))).unwrap();
    assert_eq!(image_tag(&saved), FROM);
    assert_eq!(image_tag(&c.manifest("kube-scheduler")), TO);
}

#[test]
fn a_crash_inside_a_component_waits_for_it_on_resume() {
    let c = Cluster::start();
    let services = NoServices::default();
    let cm = "kube-controller-manager";
    let step = format!("control-plane/{cm}");
    // The process dies after kube-apiserver; then, as if the next step had written its new
    // manifest and died before the kubelet ran it, the manifest is new and the step "running".
    let _ = c.apply(&bundle(TO), Duration::from_secs(20), &services, &mut |s| {
        if s == "control-plane/kube-apiserver" {
            anyhow::bail!("crash")
        }
        Ok(())
    });
    let (_, facts, cfg) = c.target_config();
    let new = firstboot::upgrade::apply::new_manifests(c.root(), &cfg, &facts, &services).unwrap();
    c.kubelet.fail(cm, Failure::CrashLoop);
    let mut j = UpgradeJournal::read(c.root()).unwrap().unwrap();
    j.start(&step);
    j.step_mut(&step).outputs.insert(
        firstboot::upgrade::apply::MIRROR_HASH_BEFORE.into(),
        c.mirror_hash(cm).unwrap(),
    );
    j.write(c.root()).unwrap();
    let path = c.path(&format!("/etc/kubernetes/manifests/{cm}.yaml"));
    let old = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        &new[&firstboot::manifests::Component::KubeControllerManager],
    )
    .unwrap();

    // Resumed: the equal manifest is not skipped but waited for; it never runs, so the old one
    // is put back and the step fails naming the component.
    let err = c
        .apply_target(Duration::from_secs(2), &services)
        .unwrap_err();
    assert!(
        matches!(&err, ApplyError::Step { step: s, .. } if *s == step),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
    c.kubelet.heal(cm);
    c.wait_mirror_current(cm);
    let j = c.apply_target(Duration::from_secs(20), &services).unwrap();
    assert_eq!(j.state, UpgradeState::Succeeded);
    assert_eq!(image_tag(&c.manifest(cm)), TO);
}

#[test]
fn an_etcd_newer_than_the_target_is_left_alone_and_the_rest_upgraded() {
    let c = Cluster::start();
    // Someone already runs a newer etcd than the target's (spec §14.5 step 4c).
    let etcd_path = c.path("/etc/kubernetes/manifests/etcd.yaml");
    let etcd = std::fs::read_to_string(&etcd_path).unwrap();
    let running = image_tag(&etcd);
    let newer = etcd.replace(&format!(":{running}"), ":3.99.0-0");
    assert_ne!(newer, etcd);
    std::fs::write(&etcd_path, &newer).unwrap();
    c.wait_mirror_current("etcd");

    let services = NoServices::default();
    let step = etcd_step_of_a_clean_apply(&c, &services);
    assert_eq!(step.state, PhaseState::Skipped);
    let reason = step.reason.as_deref().unwrap();
    assert!(
        reason.contains("older than the running 3.99.0-0"),
        "{reason}"
    );
    assert_eq!(std::fs::read_to_string(&etcd_path).unwrap(), newer);
    assert_eq!(image_tag(&c.manifest("kube-apiserver")), TO);
}

#[test]
fn an_unchanged_etcd_is_restarted_with_renewed_certificates_when_the_apiserver_changes() {
    let c = Cluster::start();
    // The node already runs the target's etcd manifest (spec §14.5 4d).
    let (_access, facts, cfg) = c.target_config();
    let services = NoServices::default();
    let target_etcd = firstboot::upgrade::apply::new_manifests(c.root(), &cfg, &facts, &services)
        .unwrap()[&firstboot::manifests::Component::Etcd]
        .clone();
    let etcd_path = c.path("/etc/kubernetes/manifests/etcd.yaml");
    std::fs::write(&etcd_path, &target_etcd).unwrap();
    c.wait_mirror_current("etcd");
    let server_crt = c.path("/etc/kubernetes/pki/etcd/server.crt");
    let cert_before = std::fs::read(&server_crt).unwrap();
    // The kubelet stand-in sees the manifest go and come back.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    c.kubelet.on_change(move |pod, manifest| {
        if pod == "etcd" {
            log.lock().unwrap().push(manifest.is_some());
        }
    });

    let step = etcd_step_of_a_clean_apply(&c, &services);
    assert_eq!(step.state, PhaseState::Done, "{step:?}");
    assert_eq!(std::fs::read_to_string(&etcd_path).unwrap(), target_etcd);
    assert_ne!(
        std::fs::read(&server_crt).unwrap(),
        cert_before,
        "etcd's serving certificate was renewed"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.windows(2).any(|w| w == [false, true]),
        "the etcd manifest left and came back: {seen:?}"
    );
    assert!(c.mirror_hash("etcd").is_some());
}

/// Runs a successful `upgrade apply` to [`TO`] and returns its etcd step.
fn etcd_step_of_a_clean_apply(
    c: &Cluster,
    services: &NoServices,
) -> firstboot::runner::journal::PhaseRecord {
    let j = c.apply_target(Duration::from_secs(20), services).unwrap();
    assert_eq!(j.state, UpgradeState::Succeeded);
    j.steps
        .into_iter()
        .find(|s| s.name == "control-plane/etcd")
        .unwrap()
}

#[test]
fn an_etcd_that_leaves_the_cluster_unavailable_is_put_back_and_named() {
    let c = Cluster::start();
    let etcd_path = c.path("/etc/kubernetes/manifests/etcd.yaml");
    let old = std::fs::read_to_string(&etcd_path).unwrap();
    // The new etcd "runs" (its mirror pod is Running) but the member does not serve; the old
    // manifest brings it back.
    let shared = c.etcd.clone();
    let original = old.clone();
    c.kubelet.on_change(move |pod, manifest| {
        if pod == "etcd" {
            let mut e = shared.lock().unwrap();
            match manifest {
                Some(m) if m != original => e.stop(),
                Some(_) if !e.is_running() => e.restart(),
                _ => {}
            }
        }
    });
    let services = NoServices::default();
    let err = c
        .apply_target(Duration::from_secs(5), &services)
        .unwrap_err();
    let error = step_error(&err, "control-plane/etcd");
    assert!(error.contains("not available after the upgrade"), "{error}");
    assert!(
        error.contains(
            "previous etcd manifest is back and the previous etcd serves the cluster again"
        ),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&etcd_path).unwrap(), old);
    assert_eq!(image_tag(&c.manifest("kube-apiserver")), FROM);
    testkit::wait_until("the old etcd runs again", Duration::from_secs(30), || {
        c.etcd.lock().unwrap().is_running()
    });
    c.etcd.lock().unwrap().wait_healthy(Duration::from_secs(30));
}

#[test]
fn an_old_etcd_that_cannot_run_on_its_data_is_restored_from_the_snapshot() {
    testkit::require_tool("etcdctl", "etcd-client");
    let c = Cluster::start();
    let etcd_path = c.path("/etc/kubernetes/manifests/etcd.yaml");
    let old = std::fs::read_to_string(&etcd_path).unwrap();
    let etcd = c.etcd_client();
    etcd.put(b"/registry/before", b"kept").unwrap();
    // The new etcd never serves and leaves its data in a state the old one cannot start on (a
    // storage migration, say: marked by a file in the data dir); the old one starts on clean
    // data only. Stopping follows the manifest, as a kubelet does.
    let marker = c.path("/var/lib/etcd/member/migrated-by-the-new-etcd");
    let shared = c.etcd.clone();
    let original = old.clone();
    c.kubelet.on_change(move |pod, manifest| {
        if pod == "etcd" {
            let mut e = shared.lock().unwrap();
            match manifest {
                None => e.stop(),
                Some(m) if m != original => {
                    e.stop();
                    std::fs::write(&marker, b"").unwrap();
                }
                Some(_) if !e.is_running() && !marker.exists() => e.restart(),
                _ => {}
            }
        }
    });
    let services = NoServices::default();
    let err = c
        .apply(
            &bundle(TO),
            Duration::from_secs(3),
            &services,
            &mut |step| {
                if step == "backup" {
                    // Written after the snapshot: lost by the restore.
                    etcd.put(b"/registry/after-snapshot", b"lost").unwrap();
                }
                Ok(())
            },
        )
        .unwrap_err();
    let error = step_error(&err, "control-plane/etcd");
    assert!(error.contains("not available after the upgrade"), "{error}");
    assert!(
        error.contains("its data was restored from the snapshot")
            && error.contains("it serves the cluster again"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&etcd_path).unwrap(), old);
    c.etcd.lock().unwrap().wait_healthy(Duration::from_secs(30));
    let etcd = c.etcd_client();
    assert_eq!(
        etcd.get(b"/registry/before").unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(etcd.get(b"/registry/after-snapshot").unwrap(), None);
    // The data the old etcd could not run on is kept beside the restored one.
    let kept = c.etcd_data_kept_aside();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(c
        .path(&format!("{}/member/migrated-by-the-new-etcd", kept[0]))
        .exists());
}
