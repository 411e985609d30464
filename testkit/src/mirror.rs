//! A fixture release mirror in the official layout: `{version}/bin/{os}/{arch}/{name}` with a
//! `.sha256` beside each, and `{label}.txt` files. The binaries are small stand-in shell scripts
//! that answer `--version` like the real ones — test stand-ins, never real Kubernetes binaries.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The stand-in script for `name` at `version`. kubelet stand-ins keep running when started
/// without `--version` and log their arguments to `$KUBEBAKE_STANDIN_LOG` (default
/// `/var/log/kubebake-standin-kubelet.log`), so a VM test can check how systemd started them.
pub fn stand_in_script(name: &str, version: &str) -> String {
    let run = if name == "kubelet" {
        "log=\"${KUBEBAKE_STANDIN_LOG:-/var/log/kubebake-standin-kubelet.log}\"\necho \"$(date -u +%FT%TZ) kubelet $*\" >> \"$log\" 2>/dev/null || true\nwhile :; do sleep 3600; done\n"
    } else {
        "echo \"stand-in $0: $*\" >&2\nexit 0\n"
    };
    format!(
        "#!/bin/sh\n# kubebake TEST STAND-IN for {name} {version}: not the real binary.\ncase \"$1\" in\n  --version) echo \"Kubernetes {version}\"; exit 0 ;;\n  version)\n    if [ \"$2\" = \"-o\" ] && [ \"$3\" = \"short\" ]; then echo \"{version}\"; else echo \"{name} version {version} (kubebake stand-in)\"; fi\n    exit 0 ;;\nesac\n{run}"
    )
}

/// Write a mirror under `dir`: stand-in `binaries` for every version in `versions` for
/// `os/arch`, and the `labels` (`("stable-1.36", "v1.36.2")`).
pub fn write_mirror(
    dir: &Path,
    versions: &[&str],
    binaries: &[&str],
    os: &str,
    arch: &str,
    labels: &[(&str, &str)],
) {
    for v in versions {
        let bin = dir.join(v).join("bin").join(os).join(arch);
        fs::create_dir_all(&bin).unwrap();
        for b in binaries {
            let content = stand_in_script(b, v);
            let p = bin.join(b);
            fs::write(&p, &content).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            fs::write(
                bin.join(format!("{b}.sha256")),
                hex::encode(Sha256::digest(content.as_bytes())),
            )
            .unwrap();
        }
    }
    for (label, v) in labels {
        fs::write(dir.join(format!("{label}.txt")), format!("{v}\n")).unwrap();
    }
}

/// The labels a mirror would publish when `stable` is `stable` and the newest minor is the
/// stable one (every label `index_labels` asks for that exists).
pub fn default_labels(stable: &str) -> Vec<(String, String)> {
    let v = stable.trim_start_matches('v');
    let mut parts = v.split('.');
    let maj = parts.next().unwrap_or("1");
    let min: u64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(36);
    vec![
        ("stable".into(), stable.into()),
        ("latest".into(), stable.into()),
        (format!("stable-{maj}"), stable.into()),
        (format!("latest-{maj}"), stable.into()),
        (format!("stable-{maj}.{min}"), stable.into()),
        (format!("latest-{maj}.{min}"), stable.into()),
        (
            format!("stable-{maj}.{}", min - 1),
            format!("v{maj}.{}.9", min - 1),
        ),
        (
            format!("latest-{maj}.{}", min - 1),
            format!("v{maj}.{}.9", min - 1),
        ),
    ]
}
