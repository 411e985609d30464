//! Shared helpers for the runner and CLI tests: a node root with a config, running the real
//! binary, snapshots and comparisons of node trees.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The firstboot binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_firstboot");

/// A configuration like the reference's (node `vm`, 192.0.2.2, controlPlaneEndpoint
/// 127.0.0.1:6443), with ECDSA keys to keep the tests fast and preflight errors ignored (the
/// test machine is not a node).
pub const CONFIG: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.0.2.2
nodeRegistration:
  name: vm
  criSocket: unix:///var/run/containerd/containerd.sock
  ignorePreflightErrors: [all]
---
apiVersion: kubebake.io/v1alpha1
kind: FirstbootConfiguration
# The node is a directory: nothing runs the control plane, so the cluster phases are skipped
# (they are tested against the in-memory API server elsewhere). FirstbootConfiguration's
# skipPhases also apply when a test passes --skip-phases.
skipPhases: [wait-control-plane, upload-config, upload-certs, mark-control-plane, bootstrap-token, kubelet-finalize, addon, show-join-command]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.2
controlPlaneEndpoint: 127.0.0.1:6443
encryptionAlgorithm: ECDSA-P256
";

/// A temporary node root with `/etc/kubebake/firstboot.yaml`.
pub struct Node {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Node {
    /// A root holding `config` as `/etc/kubebake/firstboot.yaml`.
    pub fn with_config(config: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/kubebake")).unwrap();
        std::fs::write(dir.path().join("etc/kubebake/firstboot.yaml"), config).unwrap();
        Node { dir }
    }

    /// A root with the default test [`CONFIG`].
    pub fn new() -> Node {
        Node::with_config(CONFIG)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A node path under the root.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root().join(p.trim_start_matches('/'))
    }

    /// Runs `firstboot --root ROOT ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--root", self.root().to_str().unwrap()];
        all.extend_from_slice(args);
        Command::new(BIN).args(&all).output().unwrap()
    }

    /// Runs and asserts the exit code; returns stdout + stderr.
    #[track_caller]
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = text(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "firstboot {args:?} failed:\n{text}"
        );
        text
    }

    /// The parsed status journal.
    pub fn journal(&self) -> serde_json::Value {
        let raw = std::fs::read(self.path("/var/lib/kubebake/firstboot/status.json")).unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    /// State of a phase in the journal.
    pub fn phase(&self, name: &str) -> serde_json::Value {
        self.journal()["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no phase {name} in the journal"))
    }
}

/// stdout and stderr of a process.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every entry under `root`: relative path → (mode, content for files, link target for symlinks).
pub fn snapshot(root: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Option<Vec<u8>>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, None));
                walk(root, &p, out);
            } else {
                out.insert(rel, (mode, Some(std::fs::read(&p).unwrap())));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// Runs `openssl ARGS`, asserting success; returns stdout.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The non-random part of a PEM file: certificate fields, or the key algorithm.
fn normalize_pem(path: &Path) -> String {
    let p = path.to_str().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    if name.ends_with(".crt") {
        openssl(&[
            "x509",
            "-in",
            p,
            "-noout",
            "-subject",
            "-issuer",
            "-ext",
            "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints",
        ])
    } else if name.ends_with(".pub") {
        let t = openssl(&["pkey", "-pubin", "-in", p, "-noout", "-text"]);
        t.lines().next().unwrap_or_default().to_string()
    } else {
        let t = openssl(&["pkey", "-in", p, "-noout", "-text"]);
        t.lines().next().unwrap_or_default().to_string()
    }
}

/// A kubeconfig without its random (base64 PEM) data.
fn normalize_kubeconfig(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| match l.split_once("-data: ") {
            Some((k, _)) => format!("{k}-data: <random>"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths that differ between two runs by design (the journal and the lock).
pub fn is_run_state(rel: &str) -> bool {
    rel == "var/lib/kubebake/firstboot/status.json" || rel == "var/lib/kubebake/firstboot/lock"
}

/// Asserts two node roots hold the same files with the same modes and the same content,
/// except for random material (keys, certificate serials and dates, which are compared by their
/// non-random fields) and the run state; also checks every certificate chains to its CA in `b`.
#[track_caller]
pub fn assert_same_nodes(a: &Path, b: &Path) {
    let sa = snapshot(a);
    let sb = snapshot(b);
    let ka: Vec<&String> = sa.keys().filter(|k| !is_run_state(k)).collect();
    let kb: Vec<&String> = sb.keys().filter(|k| !is_run_state(k)).collect();
    assert_eq!(ka, kb, "different file sets");
    for k in ka {
        let (ma, ca) = &sa[k];
        let (mb, cb) = &sb[k];
        assert_eq!(ma, mb, "mode of {k}");
        let (Some(ca), Some(cb)) = (ca, cb) else {
            continue;
        };
        if k.starts_with("etc/kubernetes/pki/") {
            assert_eq!(normalize_pem(&a.join(k)), normalize_pem(&b.join(k)), "{k}");
        } else if k.starts_with("etc/kubernetes/") && k.ends_with(".conf") {
            assert_eq!(
                normalize_kubeconfig(&a.join(k)),
                normalize_kubeconfig(&b.join(k)),
                "{k}"
            );
        } else {
            assert!(ca == cb, "content of {k} differs");
        }
    }
    let pki = b.join("etc/kubernetes/pki");
    for (ca, leaves) in [
        (
            "ca.crt",
            vec!["apiserver.crt", "apiserver-kubelet-client.crt"],
        ),
        ("front-proxy-ca.crt", vec!["front-proxy-client.crt"]),
        (
            "etcd/ca.crt",
            vec![
                "etcd/server.crt",
                "etcd/peer.crt",
                "etcd/healthcheck-client.crt",
                "apiserver-etcd-client.crt",
            ],
        ),
    ] {
        for leaf in leaves {
            openssl(&[
                "verify",
                "-CAfile",
                pki.join(ca).to_str().unwrap(),
                pki.join(leaf).to_str().unwrap(),
            ]);
        }
    }
}
