//! `firstboot userdata {init|join|ca}`: rendered user-data passes the real `cloud-init schema`,
//! cloud-init's own `write_files` code puts every file where firstboot reads it (paths, modes,
//! bytes), the certs phase then signs with the shipped CAs, and the CA set's hash is what
//! `openssl` computes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_firstboot");

/// First control-plane node (like the reference: node `vm`, 192.0.2.2), with a pre-created
/// bootstrap token; ECDSA keys keep the test fast.
const INIT: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: abcdef.0123456789abcdef
localAPIEndpoint:
  advertiseAddress: 192.0.2.2
nodeRegistration:
  name: vm
  criSocket: unix:///var/run/containerd/containerd.sock
  ignorePreflightErrors: [all]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.2
controlPlaneEndpoint: 127.0.0.1:6443
encryptionAlgorithm: ECDSA-P256
";

fn cp_join(hash: &str) -> String {
    format!(
        "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 127.0.0.1:6443
    token: abcdef.0123456789abcdef
    caCertHashes: [\"{hash}\"]
controlPlane:
  localAPIEndpoint:
    advertiseAddress: 192.0.2.3
nodeRegistration:
  name: cp2
"
    )
}

fn worker(hash: &str) -> String {
    format!(
        "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 127.0.0.1:6443
    token: abcdef.0123456789abcdef
    caCertHashes: [\"{hash}\"]
nodeRegistration:
  name: worker1
"
    )
}

/// The shared files of a CA set (relative names) with their modes.
const SET: [(&str, u32); 8] = [
    ("ca.crt", 0o644),
    ("ca.key", 0o600),
    ("front-proxy-ca.crt", 0o644),
    ("front-proxy-ca.key", 0o600),
    ("etcd/ca.crt", 0o644),
    ("etcd/ca.key", 0o600),
    ("sa.key", 0o600),
    ("sa.pub", 0o600),
];

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn firstboot(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[track_caller]
fn firstboot_ok(args: &[&str]) -> Output {
    let out = firstboot(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "firstboot {args:?}:\n{}",
        text(&out)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Creates an ECDSA CA set in `dir`; returns its hash as printed.
fn ca_set(dir: &Path) -> String {
    let out = firstboot_ok(&[
        "userdata",
        "ca",
        "--out",
        s(dir),
        "--encryption-algorithm",
        "ECDSA-P256",
    ]);
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Writes `config` to `dir/name` and renders `userdata ROLE` for it; returns the output.
fn render(dir: &Path, name: &str, role: &str, config: &str, ca_dir: Option<&Path>) -> Output {
    let cfg = dir.join(name);
    std::fs::write(&cfg, config).unwrap();
    let mut args = vec!["userdata", role, "--config", s(&cfg)];
    if let Some(ca) = ca_dir {
        args.extend(["--ca-dir", s(ca)]);
    }
    firstboot(&args)
}

#[track_caller]
fn render_ok(dir: &Path, name: &str, role: &str, config: &str, ca_dir: Option<&Path>) -> String {
    let out = render(dir, name, role, config, ca_dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn cloud_init() -> PathBuf {
    testkit::require_tool("cloud-init", "cloud-init")
}

/// The Python that runs cloud-init (its script's `#!` line), to use cloud-init's own modules.
fn cloud_init_python() -> String {
    let script = std::fs::read_to_string(cloud_init()).unwrap();
    let first = script.lines().next().unwrap_or_default();
    first
        .strip_prefix("#!")
        .map(|s| s.split_whitespace().next().unwrap_or("python3").to_string())
        .unwrap_or_else(|| "python3".into())
}

/// `cloud-init schema --config-file FILE`: (success, output).
fn schema(user_data: &str) -> (bool, String) {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("user-data");
    std::fs::write(&f, user_data).unwrap();
    let out = Command::new(cloud_init())
        .args(["schema", "--config-file", s(&f)])
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

/// Writes the user-data's `write_files` under `root` with cloud-init's own `cc_write_files`
/// (its YAML loader, decoding, modes and owners): exactly what cloud-init does on the node.
fn cloud_init_write_files(user_data: &str, root: &Path) {
    const SCRIPT: &str = r##"
import os, sys
from cloudinit import util
from cloudinit.config import cc_write_files
ud = open(sys.argv[1], "rb").read().decode("utf-8")
assert ud.startswith("#cloud-config\n"), "no #cloud-config header"
cfg = util.load_yaml(ud)
files = cfg["write_files"]
for f in files:
    f["path"] = sys.argv[2] + f["path"]
    if os.geteuid() != 0:
        f.pop("owner", None)  # chown to root needs root; owners are checked in the YAML
cc_write_files.write_files("write_files", files, "root:root" if os.geteuid() == 0 else None)
"##;
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("user-data");
    std::fs::write(&f, user_data).unwrap();
    let out = Command::new(cloud_init_python())
        .args(["-c", SCRIPT, s(&f), s(root)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cloud-init write_files: {}",
        text(&out)
    );
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new(testkit::require_tool("openssl", "openssl"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `--discovery-token-ca-cert-hash` of a certificate as kubeadm's docs compute it.
fn openssl_pin(crt: &Path) -> String {
    testkit::require_tool("openssl", "openssl");
    let out = Command::new("sh")
        .args([
            "-c",
            "openssl x509 -pubkey -noout -in \"$1\" | openssl pkey -pubin -outform der | sha256sum",
            "sh",
            s(crt),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

fn parse(user_data: &str) -> serde_yaml::Value {
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    serde_yaml::from_str(user_data).unwrap()
}

/// The `write_files` entries: path → (permissions, owner, decoded content).
fn entries(user_data: &str) -> Vec<(String, String, String, Vec<u8>)> {
    use base64::Engine as _;
    let doc = parse(user_data);
    doc["write_files"]
        .as_sequence()
        .expect("write_files")
        .iter()
        .map(|f| {
            let content = f["content"].as_str().unwrap();
            let data = match f["encoding"].as_str() {
                None => content.as_bytes().to_vec(),
                Some("b64") => base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .unwrap(),
                Some(e) => panic!("unexpected encoding {e}"),
            };
            (
                f["path"].as_str().unwrap().to_string(),
                f["permissions"]
                    .as_str()
                    .expect("permissions is a string")
                    .to_string(),
                f["owner"].as_str().unwrap().to_string(),
                data,
            )
        })
        .collect()
}

#[test]
fn every_rendering_passes_cloud_init_schema() {
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("ca");
    let hash = ca_set(&ca);
    let renders = [
        render_ok(d.path(), "init.yaml", "init", INIT, Some(&ca)),
        render_ok(d.path(), "init-own-ca.yaml", "init", INIT, None),
        render_ok(d.path(), "cp.yaml", "join", &cp_join(&hash), Some(&ca)),
        render_ok(d.path(), "worker.yaml", "join", &worker(&hash), None),
    ];
    for ud in &renders {
        let (ok, out) = schema(ud);
        assert!(ok, "cloud-init schema rejected:\n{out}\n{ud}");
        assert!(out.contains("Valid cloud-config"), "{out}");
        // The unit is enabled and started when the image did not enable it.
        let doc = parse(ud);
        let cmd = doc["runcmd"][0][2].as_str().unwrap();
        assert!(
            cmd.contains("systemctl enable --now --no-block kubebake-firstboot.service"),
            "{cmd}"
        );
    }
    // The check can fail: an entry without a path is rejected.
    let (ok, out) = schema("#cloud-config\nwrite_files:\n- content: x\n");
    assert!(!ok, "{out}");
}

#[test]
fn write_files_are_where_firstboot_reads_them() {
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("ca");
    let hash = ca_set(&ca);
    let cases = [
        ("init", INIT.to_string(), true),
        ("join", cp_join(&hash), true),
        ("join", worker(&hash), false),
    ];
    for (role, config, gets_cas) in cases {
        let ud = render_ok(
            d.path(),
            "node.yaml",
            role,
            &config,
            gets_cas.then_some(ca.as_path()),
        );
        let got = entries(&ud);
        let mut want: Vec<(String, String, Vec<u8>)> = Vec::new();
        if gets_cas {
            for (rel, m) in SET {
                want.push((
                    format!("/etc/kubernetes/pki/{rel}"),
                    format!("{m:04o}"),
                    std::fs::read(ca.join(rel)).unwrap(),
                ));
            }
        }
        // The configuration comes last, byte for byte.
        want.push((
            "/etc/kubebake/firstboot.yaml".into(),
            "0600".into(),
            config.clone().into_bytes(),
        ));
        assert_eq!(got.len(), want.len(), "{ud}");
        for ((path, perm, owner, data), (wpath, wperm, wdata)) in got.iter().zip(&want) {
            assert_eq!(path, wpath);
            assert_eq!(perm, wperm, "{path}");
            assert_eq!(owner, "root:root", "{path}");
            assert!(data == wdata, "{path}: content differs");
        }

        // cloud-init's own write_files gives the same tree.
        let root = tempfile::tempdir().unwrap();
        cloud_init_write_files(&ud, root.path());
        for (path, perm, data) in &want {
            let p = root.path().join(path.trim_start_matches('/'));
            assert_eq!(
                std::fs::read(&p).unwrap(),
                *data,
                "{path} as cloud-init wrote it"
            );
            assert_eq!(format!("{:04o}", mode(&p)), *perm, "{path}");
        }
        // And firstboot reads that configuration as the node kind the command was for.
        let out = firstboot_ok(&["--root", s(root.path()), "config", "validate"]);
        assert!(
            text(&out).contains(&format!("valid {role} configuration")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn init_userdata_then_certs_phase_signs_with_the_shipped_cas() {
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("ca");
    ca_set(&ca);
    let ud = render_ok(d.path(), "init.yaml", "init", INIT, Some(&ca));
    let root = tempfile::tempdir().unwrap();
    cloud_init_write_files(&ud, root.path());
    // What the unit runs on the node reads /etc/kubebake/firstboot.yaml under the root.
    firstboot_ok(&["--root", s(root.path()), "init", "phase", "certs"]);
    let pki = root.path().join("etc/kubernetes/pki");
    for (rel, m) in SET {
        assert_eq!(
            std::fs::read(pki.join(rel)).unwrap(),
            std::fs::read(ca.join(rel)).unwrap(),
            "{rel} was not kept"
        );
        assert_eq!(mode(&pki.join(rel)), m, "{rel}");
    }
    for (ca_rel, leaves) in [
        (
            "ca.crt",
            &["apiserver.crt", "apiserver-kubelet-client.crt"][..],
        ),
        ("front-proxy-ca.crt", &["front-proxy-client.crt"][..]),
        (
            "etcd/ca.crt",
            &[
                "etcd/server.crt",
                "etcd/peer.crt",
                "etcd/healthcheck-client.crt",
                "apiserver-etcd-client.crt",
            ][..],
        ),
    ] {
        for leaf in leaves {
            let out = openssl(&["verify", "-CAfile", s(&ca.join(ca_rel)), s(&pki.join(leaf))]);
            assert!(out.contains(": OK"), "{leaf}: {out}");
        }
    }
}

#[test]
fn bad_config_exits_2_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let bad = INIT.replace("advertiseAddress: 192.0.2.2", "advertiseAddress: not-an-ip");
    let out = render(d.path(), "bad.yaml", "init", &bad, None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("localAPIEndpoint.advertiseAddress") && t.contains("InitConfiguration"),
        "{t}"
    );
    assert!(out.stdout.is_empty(), "no user-data on error");

    // Not YAML at all.
    let out = render(d.path(), "bad2.yaml", "init", "a: [\n", None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // The file for `firstboot run` must be init or join, not both.
    let both = format!("{INIT}---\n{}", worker("sha256:00"));
    let out = render(d.path(), "both.yaml", "init", &both, None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("JoinConfiguration"), "{}", text(&out));
    // No --config.
    let out = firstboot(&["userdata", "init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--config"), "{}", text(&out));
}

#[test]
fn role_and_ca_rules() {
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("ca");
    let hash = ca_set(&ca);
    let expect_2 = |out: Output, needle: &str| {
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains(needle), "wanted {needle:?} in:\n{t}");
        assert!(out.stdout.is_empty(), "{t}");
    };
    // Wrong command for the file.
    expect_2(
        render(d.path(), "i.yaml", "join", INIT, None),
        "JoinConfiguration",
    );
    expect_2(
        render(d.path(), "w.yaml", "init", &worker(&hash), None),
        "InitConfiguration",
    );
    // A worker never gets CA keys.
    expect_2(
        render(d.path(), "w.yaml", "join", &worker(&hash), Some(&ca)),
        "worker",
    );
    // A control-plane join needs the CAs (or a certificate key).
    expect_2(
        render(d.path(), "cp.yaml", "join", &cp_join(&hash), None),
        "--ca-dir",
    );
    let with_key = cp_join(&hash).replace(
        "controlPlane:\n",
        "controlPlane:\n  certificateKey: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    );
    let out = render(d.path(), "cpk.yaml", "join", &with_key, None);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("warning:") && t.contains("upload-certs"), "{t}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("0123456789abcdef0123456789abcdef"),
        "the certificate key is a secret: {t}"
    );
    let paths: Vec<String> = entries(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(paths, ["/etc/kubebake/firstboot.yaml"]);
    // The join's pin must match the shipped CA.
    let other = "sha256:".to_string() + &"0".repeat(64);
    expect_2(
        render(d.path(), "cp2.yaml", "join", &cp_join(&other), Some(&ca)),
        "caCertHashes",
    );
    // An incomplete CA directory is named.
    let partial = d.path().join("partial");
    firstboot_utils_copy(&ca, &partial);
    std::fs::remove_file(partial.join("front-proxy-ca.key")).unwrap();
    expect_2(
        render(d.path(), "i.yaml", "init", INIT, Some(&partial)),
        "front-proxy-ca.key",
    );
}

fn firstboot_utils_copy(from: &Path, to: &Path) {
    for (rel, _) in SET {
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(rel), dst).unwrap();
    }
}

#[test]
fn out_file_is_private_and_matches_stdout() {
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("ca");
    ca_set(&ca);
    let stdout = render_ok(d.path(), "init.yaml", "init", INIT, Some(&ca));
    let out_file = d.path().join("cp1.user-data");
    std::fs::write(&out_file, "old").unwrap();
    std::fs::set_permissions(&out_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = firstboot_ok(&[
        "userdata",
        "init",
        "--config",
        s(&d.path().join("init.yaml")),
        "--ca-dir",
        s(&ca),
        "--out",
        s(&out_file),
    ]);
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(mode(&out_file), 0o600);
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), stdout);
    // No secret reaches the terminal when writing to a file.
    let key = std::fs::read_to_string(ca.join("ca.key")).unwrap();
    let key_line = key.lines().nth(1).unwrap();
    assert!(!text(&out).contains(key_line));
    assert!(!text(&out).contains("0123456789abcdef"));
}

#[test]
fn odd_config_bytes_survive_exactly() {
    let d = tempfile::tempdir().unwrap();
    // CRLF line ends (base64), and text with tabs, trailing blanks and non-ASCII (plain).
    let crlf = INIT.replace('\n', "\r\n");
    let odd = format!("# ünïcode — comment  \n#\ttab\n{INIT}#   \n");
    let no_newline = format!("{INIT}# no trailing newline");
    for (config, encoding) in [(crlf, Some("b64")), (odd, None), (no_newline, Some("b64"))] {
        let ud = render_ok(d.path(), "odd.yaml", "init", &config, None);
        let doc = parse(&ud);
        assert_eq!(doc["write_files"][0]["encoding"].as_str(), encoding, "{ud}");
        let (ok, out) = schema(&ud);
        assert!(ok, "{out}");
        let root = tempfile::tempdir().unwrap();
        cloud_init_write_files(&ud, root.path());
        assert_eq!(
            std::fs::read(root.path().join("etc/kubebake/firstboot.yaml")).unwrap(),
            config.as_bytes()
        );
    }
}

#[test]
fn ca_is_idempotent_and_its_hash_is_openssls() {
    let d = tempfile::tempdir().unwrap();
    let ca = d.path().join("nested/ca");
    // Default: RSA-2048, like kubeadm.
    let first = firstboot_ok(&["userdata", "ca", "--out", s(&ca)]);
    let hash = String::from_utf8(first.stdout).unwrap().trim().to_string();
    assert_eq!(hash, openssl_pin(&ca.join("ca.crt")));
    assert!(
        openssl(&["pkey", "-in", s(&ca.join("ca.key")), "-noout", "-text"])
            .contains("Private-Key: (2048 bit"),
        "RSA-2048 by default"
    );
    assert_eq!(mode(&ca), 0o700);
    assert_eq!(mode(&ca.join("etcd")), 0o700);
    for (rel, m) in SET {
        assert_eq!(mode(&ca.join(rel)), m, "{rel}");
    }
    for (crt, cn) in [
        ("ca.crt", "kubernetes"),
        ("front-proxy-ca.crt", "front-proxy-ca"),
        ("etcd/ca.crt", "etcd-ca"),
    ] {
        let t = openssl(&[
            "x509",
            "-in",
            s(&ca.join(crt)),
            "-noout",
            "-subject",
            "-ext",
            "basicConstraints",
        ]);
        assert!(
            t.contains(&format!("CN = {cn}")) && t.contains("CA:TRUE"),
            "{crt}: {t}"
        );
    }
    let before: Vec<Vec<u8>> = SET
        .iter()
        .map(|(r, _)| std::fs::read(ca.join(r)).unwrap())
        .collect();

    // Again: the set is kept, same hash; JSON for scripts.
    let second = firstboot_ok(&["userdata", "ca", "--out", s(&ca), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(v["caCertHashes"], serde_json::json!([hash]));
    assert_eq!(v["dir"], s(&ca));
    assert_eq!(v["created"], false);
    let after: Vec<Vec<u8>> = SET
        .iter()
        .map(|(r, _)| std::fs::read(ca.join(r)).unwrap())
        .collect();
    assert!(before == after, "the second run changed the set");
    // No temporary directories are left next to it.
    let siblings: Vec<_> = std::fs::read_dir(d.path().join("nested"))
        .unwrap()
        .collect();
    assert_eq!(siblings.len(), 1);
}

#[test]
fn ca_refuses_to_overwrite_what_is_not_a_complete_set() {
    let d = tempfile::tempdir().unwrap();
    // Something else in the directory.
    let other = d.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let out = firstboot(&["userdata", "ca", "--out", s(&other)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);

    // A set missing one file.
    let ca = d.path().join("ca");
    ca_set(&ca);
    std::fs::remove_file(ca.join("sa.pub")).unwrap();
    let out = firstboot(&["userdata", "ca", "--out", s(&ca)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("sa.pub"), "{}", text(&out));
    assert!(!ca.join("sa.pub").exists());

    // A key that does not belong to its certificate.
    let ca2 = d.path().join("ca2");
    ca_set(&ca2);
    std::fs::copy(ca.join("front-proxy-ca.key"), ca2.join("ca.key")).unwrap();
    let out = firstboot(&["userdata", "ca", "--out", s(&ca2)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("ca.key"), "{}", text(&out));

    // An empty directory is fine.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let hash = ca_set(&empty);
    assert_eq!(hash, openssl_pin(&empty.join("ca.crt")));
    assert_eq!(mode(&empty), 0o700);
}

#[test]
fn help_has_examples_and_says_user_data_holds_secrets() {
    for cmd in [
        &["userdata"][..],
        &["userdata", "init"],
        &["userdata", "join"],
        &["userdata", "ca"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = firstboot_ok(&args);
        let t = text(&out);
        assert!(t.contains("Example"), "{args:?}: {t}");
        assert!(t.contains("firstboot userdata "), "{args:?}: {t}");
        assert!(t.to_lowercase().contains("secret"), "{args:?}: {t}");
    }
}
