//! `bake bundle verify`: tamper and hostile-input cases, and minisign signatures checked both
//! ways with the standard `minisign` tool.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use testkit::tamper::{read_entries, write_entries, RawEntry};

/// Verify must fail, exit non-zero, name `needle` in one line, and leave the directory as it was.
fn assert_rejected(bundle: &Path, needle: &str) {
    let dir = bundle.parent().unwrap();
    let before = listing(dir);
    let o = bake(&["bundle", "verify", bundle.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1), "accepted: {}", stdout(&o));
    let e = stderr(&o);
    assert!(e.contains(needle), "error does not name {needle:?}: {e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert_eq!(listing(dir), before, "verify left files behind");
}

fn tampered(dir: &Path, f: impl FnOnce(&mut Vec<RawEntry>)) -> std::path::PathBuf {
    let good = local_bundle(dir);
    let mut entries = read_entries(&good);
    f(&mut entries);
    let out = dir.join("bad.bundle");
    write_entries(&out, &entries);
    out
}

#[test]
fn rewritten_good_bundle_still_verifies() {
    // guards the helpers below: re-writing a good bundle with hand-made headers keeps it valid
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |_| {});
    let o = bake(&["bundle", "verify", b.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn flipped_byte_in_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        let k = e.iter_mut().find(|x| x.path == "bin/kubelet").unwrap();
        k.data[10] ^= 0x01;
    });
    assert_rejected(&b, "entry bin/kubelet: sha256 mismatch");
}

#[test]
fn flipped_byte_in_the_compressed_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = local_bundle(dir.path());
    let mut bytes = std::fs::read(&good).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let b = dir.path().join("bad.bundle");
    std::fs::write(&b, bytes).unwrap();
    let o = bake(&["bundle", "verify", b.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("bad.bundle: entry "), "{e}");
    assert!(
        e.contains("corrupt") || e.contains("sha256 mismatch") || e.contains("size"),
        "{e}"
    );
}

#[test]
fn truncated_archive() {
    let dir = tempfile::tempdir().unwrap();
    let good = local_bundle(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let b = dir.path().join("bad.bundle");
    std::fs::write(&b, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert_rejected(&b, "archive is truncated or corrupt");
}

#[test]
fn trailing_data_after_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let good = local_bundle(dir.path());
    let mut bytes = std::fs::read(&good).unwrap();
    bytes.extend_from_slice(b"appended payload");
    let b = dir.path().join("bad.bundle");
    std::fs::write(&b, bytes).unwrap();
    assert_rejected(&b, "trailing data");
}

#[test]
fn extra_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        e.push(RawEntry::file("bin/evil", b"#!/bin/sh\n"))
    });
    assert_rejected(&b, "entry bin/evil: not listed in the manifest");
}

#[test]
fn missing_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| e.retain(|x| x.path != "bin/kubectl"));
    assert_rejected(&b, "entry bin/kubectl: listed in the manifest but missing");
}

#[test]
fn duplicate_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        let k = e.iter().find(|x| x.path == "bin/kubeadm").unwrap().clone();
        e.push(k);
    });
    assert_rejected(&b, "entry bin/kubeadm: duplicate entry");
}

#[test]
fn manifest_not_first() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| e.swap(0, 1));
    assert_rejected(&b, "the first entry must be bundle.yaml");
}

#[test]
fn path_traversal() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        e.insert(1, RawEntry::file("bin/../../escape", b"x"))
    });
    assert_rejected(&b, "entry bin/../../escape: path escapes its target");
}

#[test]
fn absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        e.insert(1, RawEntry::file("/etc/cron.d/evil", b"x"))
    });
    assert_rejected(&b, "entry /etc/cron.d/evil: absolute path");
}

#[test]
fn symlink_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        e.insert(
            1,
            RawEntry {
                path: "bin/link".into(),
                kind: b'2',
                link: "/etc/shadow".into(),
                data: vec![],
            },
        )
    });
    assert_rejected(&b, "entry bin/link: a symlink");
}

#[test]
fn hard_link_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        e.insert(
            1,
            RawEntry {
                path: "bin/hard".into(),
                kind: b'1',
                link: "bin/kubeadm".into(),
                data: vec![],
            },
        )
    });
    assert_rejected(&b, "entry bin/hard: a hard link");
}

#[test]
fn device_node_entry() {
    let dir = tempfile::tempdir().unwrap();
    let b = tampered(dir.path(), |e| {
        e.insert(
            1,
            RawEntry {
                path: "dev/mem".into(),
                kind: b'3',
                link: String::new(),
                data: vec![],
            },
        )
    });
    assert_rejected(&b, "entry dev/mem: a device node");
}

#[test]
fn signature_made_by_bake_checks_with_minisign_and_bake() {
    let dir = tempfile::tempdir().unwrap();
    let b = local_bundle(dir.path());
    let (pk, sk) = testkit::minisign_keypair(dir.path(), "k");
    let o = bake(&[
        "bundle",
        "sign",
        b.to_str().unwrap(),
        "--secret-key",
        sk.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("k8s.bundle.minisig").exists());
    // the standard tool accepts it
    let o = Command::new("minisign")
        .arg("-Vm")
        .arg(&b)
        .arg("-p")
        .arg(&pk)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "minisign -V: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // and so does bake
    let o = bake(&[
        "bundle",
        "verify",
        b.to_str().unwrap(),
        "--public-key",
        pk.to_str().unwrap(),
        "-o",
        "json",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["signatureVerified"], true);
}

#[test]
fn signature_made_by_minisign_checks_with_bake() {
    let dir = tempfile::tempdir().unwrap();
    let b = local_bundle(dir.path());
    let (pk, sk) = testkit::minisign_keypair(dir.path(), "k");
    let o = Command::new("minisign")
        .arg("-Sm")
        .arg(&b)
        .arg("-s")
        .arg(&sk)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "minisign -S: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = bake(&[
        "bundle",
        "verify",
        b.to_str().unwrap(),
        "--public-key",
        pk.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("signature verified"));
}

#[test]
fn wrong_key_and_missing_signature_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = local_bundle(dir.path());
    let (_pk, sk) = testkit::minisign_keypair(dir.path(), "k");
    let (other_pk, _) = testkit::minisign_keypair(dir.path(), "other");
    // missing signature
    let o = bake(&[
        "bundle",
        "verify",
        b.to_str().unwrap(),
        "--public-key",
        other_pk.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("k8s.bundle.minisig: missing"),
        "{}",
        stderr(&o)
    );
    // signed with another key
    let o = bake(&[
        "bundle",
        "sign",
        b.to_str().unwrap(),
        "--secret-key",
        sk.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let o = bake(&[
        "bundle",
        "verify",
        b.to_str().unwrap(),
        "--public-key",
        other_pk.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("signature"), "{}", stderr(&o));
}

#[test]
fn bundle_changed_after_signing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = local_bundle(dir.path());
    let (pk, sk) = testkit::minisign_keypair(dir.path(), "k");
    assert!(bake(&[
        "bundle",
        "sign",
        b.to_str().unwrap(),
        "--secret-key",
        sk.to_str().unwrap()
    ])
    .status
    .success());
    // re-pack the same entries: every entry still matches the manifest, only the signature can tell
    let entries = read_entries(&b);
    write_entries(&b, &entries);
    let o = bake(&[
        "bundle",
        "verify",
        b.to_str().unwrap(),
        "--public-key",
        pk.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
}
