//! The Packer templates in `packer/`: every template set passes `packer validate` (Packer 1.6.6,
//! HCL2) with the stub variable file CI uses, the qemu source validates alone with `-only`,
//! bad variables make validation fail, and the build still runs the kubebake steps.
//!
//! Packer 1.6.6 prints nothing on a successful validate (later versions print "The
//! configuration is valid."), so success is exit status 0 with no `Error` in the output.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hcl::{Block, Body, Expression};

/// The repository root (this crate lives in `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The stub variable file, relative to the repository root (its paths are, too).
const STUB_VARS: &str = "packer/stub.pkrvars.hcl";
/// Build names of the two sources.
const QEMU: &str = "qemu.kubebake";
const AMAZON: &str = "amazon-ebs.kubebake";

/// The outcome of one `packer validate`.
struct Validate {
    success: bool,
    output: String,
}

impl Validate {
    /// Validation passed: exit 0 and no error reported.
    fn assert_valid(&self, what: &str) {
        assert!(
            self.success && !self.output.contains("Error"),
            "{what}: packer validate failed:\n{}",
            self.output
        );
    }

    /// Validation failed with a message containing `needle`.
    fn assert_invalid(&self, what: &str, needle: &str) {
        assert!(
            !self.success,
            "{what}: packer validate passed but must fail:\n{}",
            self.output
        );
        assert!(
            self.output.contains(needle),
            "{what}: the error does not mention {needle:?}:\n{}",
            self.output
        );
    }
}

/// Runs `packer validate ARGS… DIR` from the repository root (the stub file's paths are relative
/// to it), with colour off and no checkpoint call.
fn validate(args: &[&str], dir: &Path) -> Validate {
    let packer = testkit::require_tool("packer", "packer");
    let out = Command::new(packer)
        .arg("validate")
        .args(args)
        .arg(dir)
        .current_dir(repo_root())
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_NO_COLOR", "1")
        .output()
        .expect("run packer validate");
    Validate {
        success: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Every template set: each directory under `packer/` holding `*.pkr.hcl` files.
fn template_sets() -> Vec<PathBuf> {
    fn walk(dir: &Path, sets: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, sets);
            } else if path.to_string_lossy().ends_with(".pkr.hcl") {
                sets.insert(dir.to_path_buf());
            }
        }
    }
    let mut sets = BTreeSet::new();
    walk(&repo_root().join("packer"), &mut sets);
    assert!(!sets.is_empty(), "no *.pkr.hcl under packer/");
    sets.into_iter().collect()
}

/// The main template set, `packer/`.
fn packer_dir() -> PathBuf {
    repo_root().join("packer")
}

/// A variable file in `dir` holding `text` (paths relative to the repository root).
fn var_file(dir: &Path, text: &str) -> String {
    let path = dir.join("vars.pkrvars.hcl");
    std::fs::write(&path, text).expect("write var file");
    path.to_string_lossy().into_owned()
}

/// The stub's required values, for variable files built in a test.
const STUB_REQUIRED: &str = r#"
bake_binary = "packer/testdata/bake"
bundle      = "packer/testdata/k8s-v1.36.2.bundle"
base_image  = "packer/testdata/base.qcow2"
"#;

#[test]
fn every_template_set_validates_with_the_stub_variables() {
    let stub = format!("-var-file={STUB_VARS}");
    for set in template_sets() {
        validate(&[&stub], &set).assert_valid(&set.display().to_string());
        // Unsigned bundles: no key, no signature uploaded.
        validate(&[&stub, "-var=bundle_public_key="], &set)
            .assert_valid(&format!("{} without a public key", set.display()));
    }
}

#[test]
fn templates_are_packer_fmt_clean() {
    let packer = testkit::require_tool("packer", "packer");
    for set in template_sets() {
        let out = Command::new(&packer)
            .args(["fmt", "-check"])
            .arg(&set)
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("run packer fmt");
        assert!(
            out.status.success(),
            "`packer fmt -check {}` lists files to reformat (run `packer fmt`):\n{}{}",
            set.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn each_source_validates_alone_with_only() {
    let stub = format!("-var-file={STUB_VARS}");
    for only in [QEMU, "qemu.*", AMAZON] {
        validate(&[&stub, &format!("-only={only}")], &packer_dir()).assert_valid(only);
    }
}

#[test]
fn only_qemu_does_not_need_cloud_settings_and_really_selects_qemu() {
    let stub = format!("-var-file={STUB_VARS}");
    // An empty instance type breaks the amazon-ebs source, not a qemu-only validate.
    let no_instance = "-var=aws_instance_type=";
    validate(&[&stub, no_instance], &packer_dir())
        .assert_invalid("amazon-ebs without an instance type", "instance_type");
    validate(
        &[&stub, no_instance, &format!("-only={QEMU}")],
        &packer_dir(),
    )
    .assert_valid("-only=qemu without AWS settings");
    // And -only=qemu does check the qemu source (a selection that matches nothing passes
    // silently in Packer 1.6.6): without a base image it fails, the amazon-ebs source alone not.
    let no_base = "-var=base_image=";
    validate(&[&stub, no_base, &format!("-only={QEMU}")], &packer_dir())
        .assert_invalid("-only=qemu without a base image", "iso_url");
    validate(&[&stub, no_base, &format!("-only={AMAZON}")], &packer_dir())
        .assert_valid("-only=amazon-ebs without a base image");
}

#[test]
fn qemu_source_validates_with_a_real_key_and_direct_kernel_boot() {
    let keygen = testkit::require_tool("ssh-keygen", "openssh-client");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = tmp.path().join("build_ed25519");
    let status = Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kubebake-test", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::write(tmp.path().join(f), "stub").expect("write stub");
    }
    let stub = format!("-var-file={STUB_VARS}");
    let only = format!("-only={QEMU}");
    let key_var = format!("-var=ssh_private_key_file={}", key.display());
    let kernel = format!("-var=kernel={}", tmp.path().join("vmlinuz").display());
    let initrd = format!("-var=initrd={}", tmp.path().join("initrd.img").display());
    validate(&[&stub, &only, &key_var, &kernel, &initrd], &packer_dir())
        .assert_valid("qemu with a key pair and direct kernel boot");

    // The key variable reaches the builder: a file that is no key is rejected.
    let bad = tmp.path().join("not-a-key");
    std::fs::write(&bad, "not a key\n").expect("write");
    let bad_var = format!("-var=ssh_private_key_file={}", bad.display());
    validate(&[&stub, &only, &bad_var], &packer_dir())
        .assert_invalid("qemu with a broken key", "ssh_private_key_file");
}

#[test]
fn invalid_variables_fail_validation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = packer_dir();

    // A required variable missing.
    let vars = var_file(
        tmp.path(),
        "kubernetes_version = \"v1.36.2\"\nbake_binary = \"packer/testdata/bake\"\nbase_image = \"x.qcow2\"\n",
    );
    validate(&[&format!("-var-file={vars}")], &dir)
        .assert_invalid("missing bundle", "Unset variable \"bundle\"");

    // The version check of kubernetes_version.
    let vars = var_file(
        tmp.path(),
        &format!("kubernetes_version = \"1.36.2\"\n{STUB_REQUIRED}"),
    );
    validate(&[&format!("-var-file={vars}")], &dir)
        .assert_invalid("version without v", "must look like v1.36.2");

    // A bundle that does not exist (the file provisioner checks its sources).
    let vars = var_file(
        tmp.path(),
        &format!("kubernetes_version = \"v1.36.2\"\n{STUB_REQUIRED}bundle = \"packer/testdata/missing.bundle\"\n")
            .replace("bundle      = \"packer/testdata/k8s-v1.36.2.bundle\"\n", ""),
    );
    validate(&[&format!("-var-file={vars}")], &dir)
        .assert_invalid("missing bundle file", "missing.bundle");

    // A public key whose signature file is missing.
    let vars = var_file(
        tmp.path(),
        &format!(
            "kubernetes_version = \"v1.36.2\"\n{STUB_REQUIRED}bundle_public_key = \"packer/testdata/kubebake.pub\"\nbundle_signature = \"packer/testdata/none.minisig\"\n"
        ),
    );
    validate(&[&format!("-var-file={vars}")], &dir)
        .assert_invalid("missing signature", "none.minisig");

    // root as build user (it is deleted at the end of the build).
    let vars = var_file(
        tmp.path(),
        &format!("kubernetes_version = \"v1.36.2\"\n{STUB_REQUIRED}ssh_username = \"root\"\n"),
    );
    validate(&[&format!("-var-file={vars}")], &dir).assert_invalid("root build user", "not root");

    // An unknown variable on the command line is an error. (In a variable file Packer 1.6.6
    // only warns, naming it.)
    validate(
        &[&format!("-var-file={STUB_VARS}"), "-var=no_such_variable=1"],
        &dir,
    )
    .assert_invalid("unknown -var", "no_such_variable");
    let vars = var_file(
        tmp.path(),
        &format!("kubernetes_version = \"v1.36.2\"\n{STUB_REQUIRED}no_such_variable = 1\n"),
    );
    let unknown = validate(&[&format!("-var-file={vars}")], &dir);
    assert!(
        unknown.output.contains("no_such_variable"),
        "an unknown variable in a file goes unreported:\n{}",
        unknown.output
    );
}

// --- the template text ------------------------------------------------------------------------

/// All `*.pkr.hcl` of `packer/`, parsed.
fn parsed_templates() -> Vec<(PathBuf, Body)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(packer_dir()).expect("read packer/") {
        let path = entry.expect("entry").path();
        if path.to_string_lossy().ends_with(".pkr.hcl") {
            let text = std::fs::read_to_string(&path).expect("read template");
            let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path, body));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The text of a string or template expression (any other expression as HCL).
fn text(expr: &Expression) -> String {
    match expr {
        Expression::String(s) => s.clone(),
        Expression::TemplateExpr(t) => t.to_string(),
        other => other.to_string(),
    }
}

/// An attribute of a block, as HCL text.
fn attr(block: &Block, key: &str) -> Option<String> {
    block
        .body()
        .attributes()
        .find(|a| a.key() == key)
        .map(|a| text(a.expr()))
}

/// The commands of a provisioner's `inline` list.
fn inline(block: &Block) -> Vec<String> {
    match block
        .body()
        .attributes()
        .find(|a| a.key() == "inline")
        .map(|a| a.expr())
    {
        Some(Expression::Array(items)) => items.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

/// Checks that a `build` block runs the kubebake steps in order: `bake` and the bundle are
/// uploaded, staged with `--import-images` (and `--public-key` when a key is set), checked with
/// `--fix`, and the uploads removed afterwards. Returns what is wrong.
fn check_build(build: &Block) -> Result<(), String> {
    let provisioners: Vec<&Block> = build
        .body()
        .blocks()
        .filter(|b| b.identifier() == "provisioner")
        .collect();
    let kind = |b: &Block| {
        b.labels()
            .first()
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default()
    };

    let uploads: Vec<String> = provisioners
        .iter()
        .filter(|b| kind(b) == "file")
        .flat_map(|b| [attr(b, "source"), attr(b, "sources")])
        .flatten()
        .collect();
    for var in ["var.bake_binary", "var.bundle", "var.bundle_public_key"] {
        if !uploads.iter().any(|u| u.contains(var)) {
            return Err(format!("no file provisioner uploads {var}"));
        }
    }

    // Every shell command, in order.
    let commands: Vec<String> = provisioners
        .iter()
        .filter(|b| kind(b) == "shell")
        .flat_map(|b| inline(b))
        .collect();
    let find = |what: &str, pred: &dyn Fn(&str) -> bool| {
        commands
            .iter()
            .position(|c| pred(c))
            .ok_or_else(|| format!("no shell command {what}"))
    };
    let stage = find("`bake stage … --root / --import-images`", &|c| {
        c.contains("bake stage") && c.contains("--import-images") && c.contains("--root /")
    })?;
    find("staging with `--public-key`", &|c| {
        c.contains("bake stage") && c.contains("--public-key")
    })?;
    let check = find("`bake check --root / --fix`", &|c| {
        c.contains("bake check") && c.contains("--fix") && c.contains("--root /")
    })?;
    let containerd = find("starting containerd", &|c| {
        c.contains("enable --now containerd")
    })?;
    commands
        .iter()
        .rposition(|c| c.contains("rm -rf ${local.upload_dir}"))
        .filter(|&i| i > check)
        .ok_or(
            "no shell command removing the uploads (`rm -rf ${local.upload_dir}`) after bake check",
        )?;

    if !(containerd < stage && stage < check) {
        return Err("steps out of order: start containerd, bake stage, bake check".into());
    }
    // Every shell provisioner that stages or checks fails on the first error.
    let failing = provisioners.iter().filter(|b| kind(b) == "shell").all(|b| {
        let cmds = inline(b);
        cmds.first().is_some_and(|c| c.contains("set -eu"))
            || !cmds.iter().any(|c| c.contains("bake "))
    });
    if !failing {
        return Err("a shell provisioner running bake does not start with `set -eu`".into());
    }
    Ok(())
}

/// The `build` blocks of the parsed templates.
fn builds(templates: &[(PathBuf, Body)]) -> Vec<&Block> {
    templates
        .iter()
        .flat_map(|(_, body)| body.blocks().filter(|b| b.identifier() == "build"))
        .collect()
}

#[test]
fn the_build_runs_the_kubebake_steps_on_both_sources() {
    let templates = parsed_templates();
    let builds = builds(&templates);
    assert!(!builds.is_empty(), "no build block in packer/*.pkr.hcl");
    let mut sources = BTreeSet::new();
    for build in &builds {
        check_build(build).unwrap_or_else(|e| panic!("packer build block: {e}"));
        sources.insert(attr(build, "sources").unwrap_or_default());
    }
    let sources = sources.into_iter().collect::<Vec<_>>().join(" ");
    for source in ["source.qemu.kubebake", "source.amazon-ebs.kubebake"] {
        assert!(sources.contains(source), "{source} is not built: {sources}");
    }
}

#[test]
fn the_step_check_rejects_a_build_without_bake_check() {
    let templates = parsed_templates();
    let (path, _) = templates
        .iter()
        .find(|(_, body)| body.blocks().any(|b| b.identifier() == "build"))
        .expect("a template with a build block");
    let original = std::fs::read_to_string(path).expect("read");
    for (cut, reason) in [
        ("sudo bake check --root / --fix", "bake check"),
        ("--import-images", "import-images"),
        ("sudo rm -rf ${local.upload_dir}", "removing the uploads"),
    ] {
        assert!(
            original.contains(cut),
            "{} no longer contains {cut:?}",
            path.display()
        );
        let mutated = original.replace(cut, "true");
        let body = hcl::parse(&mutated).expect("mutated template parses");
        let err = builds(&[(path.clone(), body)])
            .into_iter()
            .map(check_build)
            .find_map(Result::err)
            .unwrap_or_else(|| panic!("removing {cut:?} went unnoticed"));
        assert!(
            err.contains(reason),
            "removing {cut:?}: unexpected complaint {err:?}"
        );
    }
}

#[test]
fn the_qemu_source_is_isolated_and_seeded_by_nocloud() {
    let templates = parsed_templates();
    let all: String = templates
        .iter()
        .map(|(p, _)| std::fs::read_to_string(p).expect("read"))
        .collect();
    let qemu = templates
        .iter()
        .flat_map(|(_, body)| body.blocks())
        .find(|b| {
            b.identifier() == "source"
                && b.labels()
                    .iter()
                    .map(|l| l.as_str())
                    .eq(["qemu", "kubebake"])
        })
        .expect("source \"qemu\" \"kubebake\"");
    assert_eq!(attr(qemu, "disk_image").as_deref(), Some("true"));
    assert_eq!(attr(qemu, "headless").as_deref(), Some("true"));
    assert_eq!(attr(qemu, "format").as_deref(), Some("qcow2"));
    assert_eq!(attr(qemu, "cd_label").as_deref(), Some("cidata"));
    assert_eq!(
        attr(qemu, "accelerator").as_deref(),
        Some("var.accelerator")
    );
    assert!(
        all.contains("user,id=user.0,restrict=on,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"),
        "the guest network must be restricted and forwarded on loopback only"
    );
    for arg in ["\"-kernel\"", "\"-initrd\"", "\"-append\"", "\"-cpu\""] {
        assert!(all.contains(arg), "qemuargs lost {arg}");
    }

    // The seed's user-data: valid cloud-config creating the default build user.
    let user_data =
        std::fs::read_to_string(packer_dir().join("cidata/user-data")).expect("user-data");
    assert!(
        user_data.starts_with("#cloud-config\n"),
        "user-data lacks the #cloud-config header"
    );
    let doc: serde_yaml::Value = serde_yaml::from_str(&user_data).expect("user-data is YAML");
    assert_eq!(doc["manage_etc_hosts"], serde_yaml::Value::Bool(true));
    let variables = templates
        .iter()
        .flat_map(|(_, body)| body.blocks())
        .find(|b| {
            b.identifier() == "variable"
                && b.labels().first().map(|l| l.as_str()) == Some("ssh_username")
        })
        .expect("variable ssh_username");
    let default_user = attr(variables, "default").expect("ssh_username default");
    assert_eq!(
        doc["users"][0]["name"].as_str(),
        Some(default_user.as_str()),
        "the seed must create the default ssh_username"
    );
    assert!(
        std::fs::metadata(packer_dir().join("cidata/meta-data")).is_ok(),
        "no cidata/meta-data"
    );
}
