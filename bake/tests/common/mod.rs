//! Fixtures shared by bake's CLI tests (built on `testkit`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::images::{control_plane_names, write_layout, FixtureImage};
use testkit::mirror::{default_labels, write_mirror};

pub const VERSION: &str = "v1.36.2";

/// Run `bake` with `args`.
pub fn bake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bake"))
        .args(args)
        .output()
        .expect("run bake")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A mirror directory with stand-in binaries and labels for VERSION.
pub fn mirror(dir: &Path) -> PathBuf {
    let m = dir.join("mirror");
    let labels = default_labels(VERSION);
    let l: Vec<(&str, &str)> = labels
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_mirror(
        &m,
        &[VERSION],
        &["kubeadm", "kubelet", "kubectl"],
        "linux",
        "amd64",
        &l,
    );
    m
}

/// An OCI layout holding the control-plane images under `repo` plus `extra`.
pub fn layout(dir: &Path, repo: &str, extra: &[&str]) -> (PathBuf, Vec<(String, String)>) {
    let l = dir.join("layout");
    let mut imgs: Vec<FixtureImage> = control_plane_names(repo, VERSION)
        .iter()
        .map(|n| FixtureImage::multi(n))
        .collect();
    imgs.extend(extra.iter().map(|n| FixtureImage::multi(n)));
    let digests = write_layout(&l, &imgs);
    (l, digests)
}

/// A spec using a directory mirror and the local layout (no services needed).
pub fn local_spec(dir: &Path) -> PathBuf {
    testkit::local_bundle_spec(dir, VERSION)
}

/// `bake bundle create --no-firstboot --spec SPEC --out OUT -q EXTRA…`.
pub fn create(spec: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "bundle",
        "create",
        "--no-firstboot",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    bake(&args)
}

/// Build a bundle from the local spec; returns its path.
pub fn local_bundle(dir: &Path) -> PathBuf {
    let spec = local_spec(dir);
    let out = dir.join("k8s.bundle");
    let o = create(&spec, &out, &[]);
    assert!(o.status.success(), "create failed: {}", stderr(&o));
    out
}

/// Names of the files in `dir` (sorted).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A bundle for `version` built from a directory mirror and local layout; `firstboot` (a stand-in
/// file) is carried as bin/firstboot when given.
pub fn versioned_bundle(dir: &Path, version: &str, firstboot: Option<&Path>) -> PathBuf {
    let d = dir.join(version);
    std::fs::create_dir_all(&d).unwrap();
    let spec = testkit::local_bundle_spec(&d, version);
    let out = dir.join(format!("k8s-{version}.bundle"));
    let mut args = vec![
        "bundle".to_string(),
        "create".into(),
        "--spec".into(),
        spec.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "-q".into(),
    ];
    match firstboot {
        Some(f) => {
            args.push("--firstboot".into());
            args.push(f.display().to_string());
        }
        None => args.push("--no-firstboot".into()),
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = bake(&a);
    assert!(o.status.success(), "create failed: {}", stderr(&o));
    out
}
