//! Shared test support for kubebake: fixture release mirrors with stand-in binaries, fixture
//! container images as OCI layouts, and launchers for the real services tests run against
//! (an HTTP server, a `docker-registry`, etcd). Nothing here is product code.

pub mod apiserver;
pub mod etcd;
pub mod images;
pub mod kubelet;
pub mod mirror;
pub mod services;
pub mod tamper;

use std::path::PathBuf;

/// Path of a workspace binary (`bake`, `firstboot`) built by cargo next to the running test.
pub fn cargo_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built (run `cargo build --workspace` first)",
        p.display()
    );
    p
}

/// Fail with a clear message when a tool a test needs is missing.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = PathBuf::from(dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{tool}` is required by this test: install the Debian package `{package}` (the README's test command does)");
}

/// Write, under `dir`, a release mirror of stand-in binaries for `version`, an OCI layout of the
/// control-plane images (named under registry.k8s.io) and a BundleSpec using both
/// (`releaseMirror` a directory, `imageLayout` the layout). Returns the spec path.
pub fn local_bundle_spec(dir: &std::path::Path, version: &str) -> PathBuf {
    let m = dir.join("mirror");
    let labels = mirror::default_labels(version);
    let l: Vec<(&str, &str)> = labels
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    mirror::write_mirror(
        &m,
        &[version],
        &["kubeadm", "kubelet", "kubectl"],
        "linux",
        "amd64",
        &l,
    );
    let layout = dir.join("layout");
    let imgs: Vec<images::FixtureImage> = images::control_plane_names("registry.k8s.io", version)
        .iter()
        .map(|n| images::FixtureImage::multi(n))
        .collect();
    images::write_layout(&layout, &imgs);
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "apiVersion: kubebake.io/v1alpha1\nkind: BundleSpec\nname: k8s-{version}\nkubernetesVersion: {version}\nreleaseMirror: {}\nimageLayout: {}\n",
            m.display(),
            layout.display()
        ),
    )
    .unwrap();
    spec
}

/// A minisign key pair made by the standard `minisign` tool (unencrypted): (public, secret).
pub fn minisign_keypair(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
    let minisign = require_tool("minisign", "minisign");
    let pk = dir.join(format!("{name}.pub"));
    let sk = dir.join(format!("{name}.key"));
    let o = std::process::Command::new(minisign)
        .args(["-G", "-W", "-f", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "minisign -G: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (pk, sk)
}
