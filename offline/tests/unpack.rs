//! Streaming unpack: a good bundle unpacks with the manifest's content and modes; hostile or
//! damaged bundles leave nothing behind, inside or outside the target.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use offline::bundle::{create, unpack, CreateOptions, VerifyOptions};
use offline::progress::Silent;
use testkit::tamper::{read_entries, write_entries, RawEntry};

fn good_bundle(dir: &Path) -> PathBuf {
    let spec_path = testkit::local_bundle_spec(dir, "v1.36.2");
    let spec = offline::spec::load_spec(&spec_path).unwrap();
    let out = dir.join("t.bundle");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(create(
        &spec,
        &CreateOptions {
            out: out.clone(),
            parallelism: 2,
            retries: 0,
            extra_binaries: vec![],
            compression: 1,
            progress: std::sync::Arc::new(Silent),
        },
    ))
    .unwrap();
    out
}

fn entries_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn good_bundle_unpacks_with_content_and_modes() {
    let dir = tempfile::tempdir().unwrap();
    let b = good_bundle(dir.path());
    let dest = dir.path().join("root/unpacked");
    let r = unpack(&b, &dest, &VerifyOptions::default(), &Silent).unwrap();
    for a in &r.manifest.artifacts {
        let p = dest.join(&a.path);
        let (sha, size) = offline::digest::sha256_file(&p).unwrap();
        assert_eq!(
            (sha.as_str(), size),
            (a.sha256.as_str(), a.size),
            "{}",
            a.path
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o111 != 0,
            a.kind == offline::manifest::ArtifactKind::Binary,
            "{} mode {mode:o}",
            a.path
        );
    }
    assert!(dest.join("bundle.yaml").exists());
    assert_eq!(r.release_index.kubernetes_version, "v1.36.2");
    // no temp directories left next to the target
    assert_eq!(entries_in(dest.parent().unwrap()), vec!["unpacked"]);
    // unpacking onto an existing target is refused
    assert!(unpack(&b, &dest, &VerifyOptions::default(), &Silent).is_err());
}

fn hostile(dir: &Path, f: impl FnOnce(&mut Vec<RawEntry>)) -> PathBuf {
    let b = good_bundle(dir);
    let mut e = read_entries(&b);
    f(&mut e);
    let out = dir.join("hostile.bundle");
    write_entries(&out, &e);
    out
}

fn assert_nothing_written(dir: &Path, b: &Path, needle: &str) {
    let target_parent = dir.join("root");
    std::fs::create_dir_all(&target_parent).unwrap();
    let before_outside = entries_in(dir);
    let err = unpack(
        b,
        &target_parent.join("unpacked"),
        &VerifyOptions::default(),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(needle), "{err}");
    assert!(
        entries_in(&target_parent).is_empty(),
        "left behind: {:?}",
        entries_in(&target_parent)
    );
    assert_eq!(entries_in(dir), before_outside);
}

#[test]
fn traversal_writes_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let b = hostile(dir.path(), |e| {
        e.insert(1, RawEntry::file("../../escaped", b"x"))
    });
    assert_nothing_written(dir.path(), &b, "escapes its target");
    assert!(!dir.path().join("escaped").exists());
}

#[test]
fn symlink_then_write_through_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = hostile(dir.path(), |e| {
        e.insert(
            1,
            RawEntry {
                path: "bin".into(),
                kind: b'2',
                link: "/tmp".into(),
                data: vec![],
            },
        );
    });
    assert_nothing_written(dir.path(), &b, "a symlink");
}

#[test]
fn late_failure_removes_what_was_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    // the last blob is corrupted: everything before it was already written to the temp dir
    let b = hostile(dir.path(), |e| {
        let last = e.last_mut().unwrap();
        last.data[0] ^= 1;
    });
    assert_nothing_written(dir.path(), &b, "sha256 mismatch");
}
