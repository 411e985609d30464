//! `bake bundle create` against a real HTTP server and a real OCI registry, and from local
//! sources; bad specs.

mod common;

use common::*;
use serde_json::Value;
use testkit::services::{http_server, push_layout, registry};

#[test]
fn create_from_http_mirror_and_registry_then_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let repo = reg.host();
    let extra = format!("{repo}/tools/extra:v1");
    let (layout_dir, digests) = layout(dir.path(), &repo, &[&extra]);
    let mut names: Vec<String> = testkit::images::control_plane_names(&repo, VERSION);
    names.push(extra.clone());
    push_layout(&layout_dir, &names, &repo);
    let m = mirror(dir.path());
    let http = http_server(&m);
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "apiVersion: kubebake.io/v1alpha1\nkind: BundleSpec\nname: k8s-{VERSION}\nkubernetesVersion: {VERSION}\nplatform: linux/amd64\nreleaseMirror: {}\nimageRepository: {repo}\ninsecureRegistries: [\"{repo}\"]\nextraImages: [\"{extra}\"]\n",
            http.url()
        ),
    )
    .unwrap();
    let out = dir.path().join("out/k8s.bundle");
    let o = bake(&[
        "bundle",
        "create",
        "--no-firstboot",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // plain progress lines (not a terminal) name the artifacts
    assert!(stderr(&o).contains("kubeadm: "), "{}", stderr(&o));
    let created: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(created["kubernetesVersion"], VERSION);
    let (sha, size) = offline::digest::sha256_file(&out).unwrap();
    assert_eq!(
        created["sha256"],
        sha.as_str(),
        "reported sha256 is the file's"
    );
    assert_eq!(created["size"], size);

    let o = bake(&["bundle", "inspect", out.to_str().unwrap(), "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inv: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(inv["name"], format!("k8s-{VERSION}"));
    assert_eq!(inv["platform"], "linux/amd64");
    // every image is there with the registry's linux/amd64 manifest digest
    let images = inv["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    for (name, digest) in &digests {
        let got = images
            .iter()
            .find(|i| i["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(got["digest"], digest.as_str(), "{name}");
    }
    let roles: Vec<&str> = images.iter().map(|i| i["role"].as_str().unwrap()).collect();
    for r in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "coredns",
        "pause",
        "etcd",
        "extra",
    ] {
        assert!(roles.contains(&r), "role {r} missing");
    }
    assert!(images
        .iter()
        .any(|i| i["name"] == format!("{repo}/coredns:v1.14.2")));
    // shared layers stored once, only amd64: 1 base layer + 8 × (own layer, config, manifest)
    let arts = inv["artifacts"].as_array().unwrap();
    let blobs = arts
        .iter()
        .filter(|a| a["path"].as_str().unwrap().starts_with("images/blobs/"))
        .count();
    assert_eq!(blobs, 1 + 8 * 3);
    for b in [
        "bin/kubeadm",
        "bin/kubelet",
        "bin/kubectl",
        "release-index.yaml",
        "images/index.json",
        "images/oci-layout",
    ] {
        let a = arts
            .iter()
            .find(|a| a["path"] == b)
            .unwrap_or_else(|| panic!("{b} missing"));
        assert_eq!(a["sha256"].as_str().unwrap().len(), 64);
    }
    let kinds: Vec<(&str, &str)> = arts
        .iter()
        .map(|a| (a["path"].as_str().unwrap(), a["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("bin/kubeadm", "binary")));
    assert!(kinds.contains(&("release-index.yaml", "metadata")));
    // the release index holds the mirror's labels and the per-minor component versions
    let idx = &inv["releaseIndex"];
    assert_eq!(idx["labels"]["stable-1.36"], VERSION);
    assert_eq!(idx["labels"]["stable-1.35"], "v1.35.9");
    assert!(idx["labels"].get("stable-1.37").is_none());
    assert_eq!(idx["components"]["1.36"]["etcd"], "3.6.8-0");
    assert_eq!(idx["components"]["1.36"]["coredns"], "v1.14.2");
    assert_eq!(idx["components"]["1.36"]["pause"], "3.10.2");
    // the table form names the same things
    let o = bake(&["bundle", "inspect", out.to_str().unwrap()]);
    let t = stdout(&o);
    assert!(
        t.contains(&format!("{repo}/kube-apiserver:{VERSION}")) && t.contains("stable-1.36"),
        "{t}"
    );
    // nothing but the bundle in the output directory
    assert_eq!(listing(out.parent().unwrap()), vec!["k8s.bundle"]);
}

#[test]
fn create_from_local_directory_mirror_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let b = local_bundle(dir.path());
    let o = bake(&["bundle", "verify", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("OK"), "{}", stdout(&o));
    // the binaries inside are the mirror's, byte for byte
    let entries = testkit::tamper::read_entries(&b);
    assert_eq!(entries[0].path, "bundle.yaml");
    let kubeadm = entries.iter().find(|e| e.path == "bin/kubeadm").unwrap();
    assert_eq!(
        kubeadm.data,
        std::fs::read(dir.path().join("mirror/v1.36.2/bin/linux/amd64/kubeadm")).unwrap()
    );
}

#[test]
fn label_version_is_resolved_at_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let spec = local_spec(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "kubernetesVersion: v1.36.2",
        "kubernetesVersion: stable-1.36",
    );
    std::fs::write(&spec, text).unwrap();
    let out = dir.path().join("b.bundle");
    let o = create(&spec, &out, &["-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["kubernetesVersion"], VERSION);
}

fn bad_spec(
    dir: &std::path::Path,
    edit: impl Fn(String) -> String,
) -> (std::process::Output, std::path::PathBuf) {
    let spec = local_spec(dir);
    let text = edit(std::fs::read_to_string(&spec).unwrap());
    std::fs::write(&spec, text).unwrap();
    let outdir = dir.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let out = outdir.join("b.bundle");
    (create(&spec, &out, &[]), outdir)
}

fn one_error_line(o: &std::process::Output) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {e}");
    lines[0].to_string()
}

#[test]
fn unknown_field_in_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (o, outdir) = bad_spec(dir.path(), |t| t + "imageRepo: example.com\n");
    assert_eq!(o.status.code(), Some(2));
    let l = one_error_line(&o);
    assert!(
        l.contains("spec.yaml") && l.contains("unknown field `imageRepo`"),
        "{l}"
    );
    assert!(listing(&outdir).is_empty());
}

#[test]
fn missing_version_in_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (o, outdir) = bad_spec(dir.path(), |t| {
        t.replace("kubernetesVersion: v1.36.2\n", "")
    });
    assert_eq!(o.status.code(), Some(2));
    let l = one_error_line(&o);
    assert!(l.contains("spec.yaml: kubernetesVersion: required"), "{l}");
    assert!(listing(&outdir).is_empty());
}

#[test]
fn unreachable_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let port = testkit::services::free_port();
    let (o, outdir) = bad_spec(dir.path(), |t| {
        let m = t
            .lines()
            .find(|l| l.starts_with("releaseMirror:"))
            .unwrap()
            .to_string();
        t.replace(
            &m,
            &format!("releaseMirror: http://127.0.0.1:{port}/release"),
        )
    });
    assert_eq!(o.status.code(), Some(1));
    let l = one_error_line(&o);
    assert!(
        l.contains(&format!(
            "http://127.0.0.1:{port}/release/v1.36.2/bin/linux/amd64/"
        )),
        "{l}"
    );
    assert!(
        l.contains("after 1 attempts") || l.contains("attempts"),
        "{l}"
    );
    assert!(
        listing(&outdir).is_empty(),
        "left behind: {:?}",
        listing(&outdir)
    );
}

#[test]
fn sha256_mismatch_at_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let spec = local_spec(dir.path());
    // the mirror publishes a wrong checksum for kubelet
    let sha = dir
        .path()
        .join("mirror/v1.36.2/bin/linux/amd64/kubelet.sha256");
    std::fs::write(&sha, "0".repeat(64)).unwrap();
    let outdir = dir.path().join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let out = outdir.join("b.bundle");
    let o = create(&spec, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let l = one_error_line(&o);
    assert!(
        l.contains("kubelet")
            && l.contains("sha256 mismatch")
            && l.contains("mirror/v1.36.2/bin/linux/amd64/kubelet"),
        "{l}"
    );
    assert!(
        listing(&outdir).is_empty(),
        "left behind: {:?}",
        listing(&outdir)
    );
}

#[test]
fn extra_file_with_wrong_sha_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cni.tgz"), b"cni plugins").unwrap();
    let (o, outdir) = bad_spec(dir.path(), |t| {
        t + &format!(
            "extraFiles:\n  - {{source: cni.tgz, sha256: {}}}\n",
            "1".repeat(64)
        )
    });
    assert_eq!(o.status.code(), Some(1));
    let l = one_error_line(&o);
    assert!(
        l.contains("extra file cni.tgz") && l.contains("sha256 mismatch"),
        "{l}"
    );
    assert!(listing(&outdir).is_empty());
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [
        vec!["--help"],
        vec!["bundle", "create", "--help"],
        vec!["bundle", "verify", "--help"],
        vec!["bundle", "inspect", "--help"],
        vec!["bundle", "sign", "--help"],
        vec!["bundle", "unpack", "--help"],
    ] {
        let o = bake(&args);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Example:"), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn transient_mirror_failures_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let spec = local_spec(dir.path());
    let flaky = testkit::services::flaky_server(&dir.path().join("mirror"), 2);
    let text = std::fs::read_to_string(&spec).unwrap();
    let m = text
        .lines()
        .find(|l| l.starts_with("releaseMirror:"))
        .unwrap()
        .to_string();
    std::fs::write(
        &spec,
        text.replace(&m, &format!("releaseMirror: {}", flaky.url())),
    )
    .unwrap();
    let out = dir.path().join("b.bundle");
    let o = create(&spec, &out, &["--retries", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hits = flaky.hits.lock().unwrap().clone();
    assert_eq!(
        hits.get("/v1.36.2/bin/linux/amd64/kubelet"),
        Some(&3),
        "{hits:?}"
    );
    // with fewer retries than failures it gives up, naming the artifact and URL
    let flaky2 = testkit::services::flaky_server(&dir.path().join("mirror"), 5);
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace(&flaky.url(), &flaky2.url())).unwrap();
    let out2 = dir.path().join("c.bundle");
    let o = create(&spec, &out2, &["--retries", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("HTTP 503") && e.contains("after 2 attempts") && e.contains(&flaky2.url()),
        "{e}"
    );
    assert!(!out2.exists());
}
