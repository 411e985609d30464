//! `bake stage` into a directory root, and `--import-images` against a real containerd.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn firstboot_standin(dir: &Path) -> PathBuf {
    let p = dir.join("firstboot-standin");
    std::fs::write(
        &p,
        "#!/bin/sh\n# TEST STAND-IN for the firstboot binary\necho firstboot stand-in\n",
    )
    .unwrap();
    p
}

fn stage(bundle: &Path, root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "stage",
        bundle.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    bake(&args)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// (mtime, inode, size) of every file and link under `root`.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (i64, u64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.path().symlink_metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(
                    e.path(),
                    (
                        md.mtime_nsec() + md.mtime() * 1_000_000_000,
                        md.ino(),
                        md.len(),
                    ),
                );
            }
        }
    }
    out
}

#[test]
fn stage_lays_out_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let fb = firstboot_standin(dir.path());
    let b = versioned_bundle(dir.path(), "v1.36.2", Some(&fb));
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc/containerd")).unwrap();
    std::fs::write(
        root.join("etc/containerd/config.toml"),
        "version = 2\n# the distribution's\n",
    )
    .unwrap();
    let o = stage(&b, &root, &["-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rep["activeVersion"], "v1.36.2");

    let vbin = root.join("opt/kubebake/versions/v1.36.2/bin");
    for b in ["kubeadm", "kubelet", "kubectl", "firstboot"] {
        assert_eq!(mode(&vbin.join(b)), 0o755, "{b}");
        let link = root.join("usr/local/bin").join(b);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from(format!("/opt/kubebake/versions/v1.36.2/bin/{b}"))
        );
    }
    // the staged kubeadm is the mirror's stand-in
    let out = Command::new(vbin.join("kubeadm"))
        .args(["version", "-o", "short"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v1.36.2");
    // images: one OCI archive holding every image
    let archive = root.join("var/lib/kubebake/images/v1.36.2/images.oci.tar");
    let tar = Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(tar.status.success());
    let listing = String::from_utf8_lossy(&tar.stdout);
    assert!(
        listing.lines().any(|l| l == "oci-layout") && listing.lines().any(|l| l == "index.json"),
        "{listing}"
    );
    assert_eq!(
        listing
            .lines()
            .filter(|l| l.starts_with("blobs/sha256/"))
            .count(),
        1 + 7 * 3,
        "{listing}"
    );
    // metadata
    assert!(root
        .join("var/lib/kubebake/bundles/v1.36.2/bundle.yaml")
        .is_file());
    assert!(root
        .join("var/lib/kubebake/bundles/v1.36.2/release-index.yaml")
        .is_file());
    let idx = std::fs::read_to_string(root.join("var/lib/kubebake/release-index.yaml")).unwrap();
    assert!(
        idx.contains("kind: ReleaseIndex") && idx.contains("stable-1.36: v1.36.2"),
        "{idx}"
    );
    // units
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/kubelet.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/kubelet"));
    let dropin = std::fs::read_to_string(
        root.join("usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"),
    )
    .unwrap();
    assert!(dropin.contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"));
    assert!(dropin.contains("--config=/var/lib/kubelet/config.yaml"));
    assert!(dropin.contains("EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env"));
    assert!(dropin.contains("ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS"));
    let fbu =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/kubebake-firstboot.service"))
            .unwrap();
    for want in [
        "Type=oneshot",
        "ExecStart=/usr/local/bin/firstboot run",
        "ConditionPathExists=/etc/kubebake/firstboot.yaml",
        "After=network-online.target containerd.service",
    ] {
        assert!(fbu.contains(want), "{want}");
    }
    for u in ["kubelet.service", "kubebake-firstboot.service"] {
        let l = root
            .join("etc/systemd/system/multi-user.target.wants")
            .join(u);
        assert_eq!(
            std::fs::read_link(l).unwrap(),
            PathBuf::from(format!("/usr/lib/systemd/system/{u}"))
        );
    }
    // containerd config with the bundle's pause image; the distribution's file kept aside
    let cfg = std::fs::read_to_string(root.join("etc/containerd/config.toml")).unwrap();
    assert!(
        cfg.contains("sandbox_image = \"registry.k8s.io/pause:3.10.2\""),
        "{cfg}"
    );
    assert!(cfg.contains("SystemdCgroup = true"));
    assert_eq!(
        std::fs::read_to_string(root.join("etc/containerd/config.toml.kubebake-orig")).unwrap(),
        "version = 2\n# the distribution's\n"
    );
    assert!(std::fs::read_to_string(root.join("etc/crictl.yaml"))
        .unwrap()
        .contains("unix:///run/containerd/containerd.sock"));
    let ml = std::fs::read_to_string(root.join("etc/modules-load.d/kubebake.conf")).unwrap();
    assert!(ml.contains("overlay") && ml.contains("br_netfilter"));
    let sc = std::fs::read_to_string(root.join("etc/sysctl.d/99-kubebake.conf")).unwrap();
    assert!(
        sc.contains("net.ipv4.ip_forward = 1")
            && sc.contains("net.bridge.bridge-nf-call-iptables = 1")
    );

    // staged.json matches the bundle and the disk
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("usr/share/kubebake/staged.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["activeVersion"], "v1.36.2");
    assert_eq!(
        rec["bundles"][0]["sha256"],
        offline::digest::sha256_file(&b).unwrap().0
    );
    assert_eq!(rec["bundles"][0]["signatureVerified"], false);
    let inv: Value = serde_json::from_str(&stdout(&bake(&[
        "bundle",
        "inspect",
        b.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    for img in inv["images"].as_array().unwrap() {
        assert!(
            rec["images"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == img["name"] && r["digest"] == img["digest"]),
            "{img}"
        );
    }
    for f in rec["files"].as_array().unwrap() {
        let p = root.join(f["path"].as_str().unwrap().trim_start_matches('/'));
        assert_eq!(
            offline::digest::sha256_file(&p).unwrap().0,
            f["sha256"].as_str().unwrap(),
            "{p:?}"
        );
    }
    // no staging leftovers
    assert!(!root.join("opt/kubebake/.staging").exists());
    // the image is clean by bake check's rules
    let o = bake(&["check", "--root", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn restaging_the_same_bundle_rewrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = versioned_bundle(dir.path(), "v1.36.2", None);
    let root = dir.path().join("rootfs");
    assert!(stage(&b, &root, &[]).status.success());
    let before = snapshot(&root);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = stage(&b, &root, &["-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        rep["written"].as_array().unwrap().len(),
        0,
        "{}",
        rep["written"]
    );
    assert_eq!(snapshot(&root), before);
}

#[test]
fn second_version_stages_beside_and_activates_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let b1 = versioned_bundle(dir.path(), "v1.36.2", None);
    let b2 = versioned_bundle(dir.path(), "v1.36.3", None);
    let root = dir.path().join("rootfs");
    assert!(stage(&b1, &root, &[]).status.success());
    let o = stage(&b2, &root, &["-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let link = |n: &str| std::fs::read_link(root.join("usr/local/bin").join(n)).unwrap();
    assert_eq!(
        link("kubeadm"),
        PathBuf::from("/opt/kubebake/versions/v1.36.2/bin/kubeadm")
    );
    assert!(root
        .join("opt/kubebake/versions/v1.36.3/bin/kubeadm")
        .is_file());
    assert!(root
        .join("var/lib/kubebake/images/v1.36.3/images.oci.tar")
        .is_file());
    let idx = std::fs::read_to_string(root.join("var/lib/kubebake/release-index.yaml")).unwrap();
    assert!(
        idx.contains("kubernetesVersion: v1.36.2"),
        "active index must stay v1.36.2"
    );
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("usr/share/kubebake/staged.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["activeVersion"], "v1.36.2");
    assert_eq!(rec["bundles"].as_array().unwrap().len(), 2);
    // --activate switches the links and the active index
    let o = stage(&b2, &root, &["--activate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        link("kubelet"),
        PathBuf::from("/opt/kubebake/versions/v1.36.3/bin/kubelet")
    );
    let idx = std::fs::read_to_string(root.join("var/lib/kubebake/release-index.yaml")).unwrap();
    assert!(idx.contains("kubernetesVersion: v1.36.3"));
    assert!(
        root.join("opt/kubebake/versions/v1.36.2/bin/kubelet")
            .is_file(),
        "old version stays for rollback"
    );
    assert!(bake(&["check", "--root", root.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn a_staged_version_activates_without_its_bundle_as_stage_activate_does() {
    let dir = tempfile::tempdir().unwrap();
    let b1 = versioned_bundle(dir.path(), "v1.36.2", None);
    let b2 = versioned_bundle(dir.path(), "v1.36.3", None);
    let staged_beside = |name: &str| {
        let root = dir.path().join(name);
        assert!(stage(&b1, &root, &[]).status.success());
        assert!(stage(&b2, &root, &[]).status.success());
        root
    };
    let read = |root: &Path, p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    // The reference: `bake stage --activate` with the bundle.
    let with_bundle = staged_beside("with-bundle");
    assert!(stage(&b2, &with_bundle, &["--activate"]).status.success());
    let from_staged = staged_beside("from-staged");
    let tampered = staged_beside("tampered");
    std::fs::remove_file(&b2).unwrap();

    let opts = |root: &Path| bake::stage::StageOptions {
        root: root.to_path_buf(),
        ..Default::default()
    };
    let r = bake::stage::activate_staged("v1.36.3", &opts(&from_staged)).unwrap();
    assert_eq!(r.active_version, "v1.36.3");
    for p in [
        "usr/share/kubebake/staged.json",
        "var/lib/kubebake/release-index.yaml",
    ] {
        assert_eq!(read(&from_staged, p), read(&with_bundle, p), "{p}");
    }
    for n in ["kubeadm", "kubelet", "kubectl"] {
        let link = |root: &Path| std::fs::read_link(root.join("usr/local/bin").join(n)).unwrap();
        assert_eq!(link(&from_staged), link(&with_bundle), "{n}");
    }
    assert!(bake(&["check", "--root", from_staged.to_str().unwrap()])
        .status
        .success());

    // A staged binary that changed since: refused, named, nothing switched.
    let kubelet = tampered.join("opt/kubebake/versions/v1.36.3/bin/kubelet");
    std::fs::write(&kubelet, b"#!/bin/sh\necho not the staged kubelet\n").unwrap();
    let before = read(&tampered, "usr/share/kubebake/staged.json");
    let err = bake::stage::activate_staged("v1.36.3", &opts(&tampered))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/opt/kubebake/versions/v1.36.3/bin/kubelet")
            && err.contains("stage the bundle again"),
        "{err}"
    );
    assert_eq!(read(&tampered, "usr/share/kubebake/staged.json"), before);
    assert_eq!(
        std::fs::read_link(tampered.join("usr/local/bin/kubelet")).unwrap(),
        PathBuf::from("/opt/kubebake/versions/v1.36.2/bin/kubelet")
    );
    // A version never staged.
    let err = bake::stage::activate_staged("v1.37.0", &opts(&from_staged))
        .unwrap_err()
        .to_string();
    assert!(err.contains("v1.37.0 is not staged"), "{err}");
}

#[test]
fn tampered_bundle_stages_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = versioned_bundle(dir.path(), "v1.36.2", None);
    let mut e = testkit::tamper::read_entries(&b);
    e.iter_mut().find(|x| x.path == "bin/kubelet").unwrap().data[5] ^= 1;
    testkit::tamper::write_entries(&b, &e);
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let o = stage(&b, &root, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bin/kubelet: sha256 mismatch"),
        "{}",
        stderr(&o)
    );
    let left: Vec<_> = snapshot(&root).into_keys().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!root.join("opt/kubebake/.staging").exists());
}

#[test]
fn signature_is_required_when_a_key_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let b = versioned_bundle(dir.path(), "v1.36.2", None);
    let (pk, sk) = testkit::minisign_keypair(dir.path(), "k");
    let root = dir.path().join("rootfs");
    let o = stage(&b, &root, &["--public-key", pk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!root.join("usr").exists());
    assert!(bake(&[
        "bundle",
        "sign",
        b.to_str().unwrap(),
        "--secret-key",
        sk.to_str().unwrap()
    ])
    .status
    .success());
    let o = stage(&b, &root, &["--public-key", pk.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("usr/share/kubebake/staged.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["bundles"][0]["signatureVerified"], true);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = versioned_bundle(dir.path(), "v1.36.2", None);
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let o = stage(&b, &root, &["--dry-run", "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "/opt/kubebake/versions/v1.36.2/bin/kubeadm" && f["mode"] == "0755"));
    assert!(v["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["path"] == "/usr/local/bin/kubelet"));
    assert!(snapshot(&root).is_empty());
}

#[test]
fn import_images_into_a_real_containerd() {
    let dir = tempfile::tempdir().unwrap();
    let b = versioned_bundle(dir.path(), "v1.36.2", None);
    let root = dir.path().join("rootfs");
    let cd = testkit::services::containerd();
    let addr = cd.address();
    let o = stage(
        &b,
        &root,
        &[
            "--import-images",
            "--containerd-address",
            addr.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rep: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rep["imported"].as_array().unwrap().len(), 7);
    let ls = Command::new(testkit::require_tool("ctr", "containerd"))
        .arg("--address")
        .arg(&addr)
        .args(["-n", "k8s.io", "images", "ls"])
        .output()
        .unwrap();
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    let listing = String::from_utf8_lossy(&ls.stdout).into_owned();
    let inv: Value = serde_json::from_str(&stdout(&bake(&[
        "bundle",
        "inspect",
        b.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    for img in inv["images"].as_array().unwrap() {
        let name = img["name"].as_str().unwrap();
        let line = listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in containerd:\n{listing}"));
        assert!(line.contains(img["digest"].as_str().unwrap()), "{line}");
        assert!(line.contains("io.cri-containerd.pinned=pinned"), "{line}");
    }
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("usr/share/kubebake/staged.json")).unwrap(),
    )
    .unwrap();
    assert!(rec["images"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["imported"] == true));
    // again: nothing is imported twice
    let o = stage(
        &b,
        &root,
        &[
            "--import-images",
            "--containerd-address",
            addr.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rep: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rep["imported"].as_array().unwrap().len(), 0);
}
