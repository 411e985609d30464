//! Host probes behind kubeadm's `SystemVerification`, `Hostname`, `Firewalld` and
//! `ContainerRuntimeVersion` checks. Every probe reads files under the host root (so a test
//! root can fake the machine); only on the real root (`/`) do `systemctl` and the system
//! resolver get asked as well.

use std::io::Read;
use std::net::ToSocketAddrs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use crate::fsutil::under_root;

/// The oldest kernel kubeadm's system verification accepts (system-validators' kernel spec:
/// 4.19 and newer).
pub const MIN_KERNEL: (u64, u64) = (4, 19);

/// Kernel options kubeadm requires (`y` or `m`), with accepted aliases.
pub const REQUIRED_KERNEL_CONFIGS: &[(&str, &[&str])] = &[
    ("NAMESPACES", &[]),
    ("NET_NS", &[]),
    ("PID_NS", &[]),
    ("IPC_NS", &[]),
    ("UTS_NS", &[]),
    ("CGROUPS", &[]),
    ("CGROUP_CPUACCT", &[]),
    ("CGROUP_DEVICE", &[]),
    ("CGROUP_FREEZER", &[]),
    ("CGROUP_PIDS", &[]),
    ("CGROUP_SCHED", &[]),
    ("CPUSETS", &[]),
    ("MEMCG", &[]),
    ("INET", &[]),
    ("EXT4_FS", &[]),
    ("PROC_FS", &[]),
    ("NETFILTER_XT_TARGET_REDIRECT", &["IP_NF_TARGET_REDIRECT"]),
    ("NETFILTER_XT_MATCH_COMMENT", &[]),
    ("FAIR_GROUP_SCHED", &[]),
];

/// Required cgroup controllers (v1).
pub const CGROUPS_V1_REQUIRED: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
];
/// Optional cgroup controllers (v1).
pub const CGROUPS_V1_OPTIONAL: &[&str] = &["hugetlb", "blkio"];
/// Required cgroup controllers (v2; `devices` is eBPF-based and `freezer` is `cgroup.freeze`,
/// so neither is listed in `cgroup.controllers`).
pub const CGROUPS_V2_REQUIRED: &[&str] = &["cpu", "cpuset", "devices", "freezer", "memory", "pids"];
/// Optional cgroup controllers (v2).
pub const CGROUPS_V2_OPTIONAL: &[&str] = &["hugetlb"];

/// Result of the system verification: errors fail the check, warnings are printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemReport {
    /// Fatal findings.
    pub errors: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// The kernel release (`6.1.0-28-amd64`): `/proc/sys/kernel/osrelease` under `root`, or
/// `uname` on the real root.
pub fn kernel_release(root: &Path) -> Result<String, String> {
    let p = under_root(root, "/proc/sys/kernel/osrelease");
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(_) if root == Path::new("/") => Ok(rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned()),
        Err(e) => Err(format!(
            "failed to get kernel release: {}: {e}",
            p.display()
        )),
    }
}

/// `MAJOR.MINOR` of a kernel release.
fn kernel_major_minor(release: &str) -> Option<(u64, u64)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Where system-validators looks for the kernel configuration.
fn kernel_config_paths(release: &str) -> Vec<String> {
    vec![
        "/proc/config.gz".into(),
        format!("/boot/config-{release}"),
        format!("/usr/src/linux-{release}/.config"),
        "/usr/src/linux/.config".into(),
        format!("/usr/lib/modules/{release}/config"),
        format!("/usr/lib/ostree-boot/config-{release}"),
        format!("/usr/lib/kernel/config-{release}"),
        format!("/usr/src/linux-headers-{release}/.config"),
        format!("/lib/modules/{release}/build/.config"),
    ]
}

/// Reads the first kernel configuration found (`/proc/config.gz` is gunzipped).
fn read_kernel_config(root: &Path, release: &str) -> Option<(String, String)> {
    for node_path in kernel_config_paths(release) {
        let p = under_root(root, &node_path);
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let text = if node_path.ends_with(".gz") {
            let mut s = String::new();
            if flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .is_err()
            {
                continue;
            }
            s
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        return Some((node_path, text));
    }
    None
}

/// Required kernel options that are neither `y` nor `m` in `config`.
pub fn missing_kernel_configs(config: &str) -> Vec<String> {
    let set: std::collections::HashSet<&str> = config
        .lines()
        .filter_map(|l| l.strip_prefix("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .filter(|(_, v)| *v == "y" || *v == "m")
        .map(|(k, _)| k)
        .collect();
    REQUIRED_KERNEL_CONFIGS
        .iter()
        .filter(|(name, aliases)| !set.contains(name) && !aliases.iter().any(|a| set.contains(a)))
        .map(|(name, _)| format!("CONFIG_{name}"))
        .collect()
}

/// The enabled cgroup controllers and whether the host uses cgroup v2
/// (`/sys/fs/cgroup/cgroup.controllers`) or v1 (`/proc/cgroups`).
pub fn cgroup_controllers(root: &Path, release: &str) -> Result<(bool, Vec<String>), String> {
    let v2 = under_root(root, "/sys/fs/cgroup/cgroup.controllers");
    if let Ok(s) = std::fs::read_to_string(&v2) {
        let mut c: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        c.push("devices".into());
        if kernel_major_minor(release).is_some_and(|v| v >= (5, 2)) {
            c.push("freezer".into());
        }
        return Ok((true, c));
    }
    let v1 = under_root(root, "/proc/cgroups");
    let s = std::fs::read_to_string(&v1).map_err(|e| {
        format!(
            "cannot read the cgroup controllers: neither {} nor {} is readable: {e}",
            "/sys/fs/cgroup/cgroup.controllers", "/proc/cgroups"
        )
    })?;
    // "#subsys_name hierarchy num_cgroups enabled"
    Ok((
        false,
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
            })
            .collect(),
    ))
}

/// kubeadm's `SystemVerification` on `root`: kernel version, kernel configuration (where a
/// configuration file is readable) and cgroup controllers.
pub fn system_verification(root: &Path) -> SystemReport {
    let mut r = SystemReport::default();
    let release = match kernel_release(root) {
        Ok(v) => v,
        Err(e) => {
            r.errors.push(e);
            return r;
        }
    };
    match kernel_major_minor(&release) {
        Some(v) if v >= MIN_KERNEL => {}
        _ => r.errors.push(format!(
            "unsupported kernel release: {release} (kubeadm requires {}.{} or newer)",
            MIN_KERNEL.0, MIN_KERNEL.1
        )),
    }
    match read_kernel_config(root, &release) {
        Some((path, text)) => {
            let missing = missing_kernel_configs(&text);
            if !missing.is_empty() {
                r.errors.push(format!(
                    "unexpected kernel config: {} (not set in {path})",
                    missing.join(" ")
                ));
            }
        }
        None => r.warnings.push(format!(
            "kernel configuration not found (looked in {}): required kernel options not verified",
            kernel_config_paths(&release).join(", ")
        )),
    }
    match cgroup_controllers(root, &release) {
        Err(e) => r.errors.push(e),
        Ok((v2, have)) => {
            let (req, opt) = if v2 {
                (CGROUPS_V2_REQUIRED, CGROUPS_V2_OPTIONAL)
            } else {
                r.warnings.push(
                    "cgroups v1 support is in maintenance mode, please migrate to cgroups v2"
                        .into(),
                );
                (CGROUPS_V1_REQUIRED, CGROUPS_V1_OPTIONAL)
            };
            let missing = |list: &[&str]| -> Vec<String> {
                list.iter()
                    .filter(|c| !have.iter().any(|h| h == *c))
                    .map(|c| c.to_string())
                    .collect()
            };
            let m = missing(req);
            if !m.is_empty() {
                r.errors
                    .push(format!("missing required cgroups: {}", m.join(" ")));
            }
            let m = missing(opt);
            if !m.is_empty() {
                r.warnings
                    .push(format!("missing optional cgroups: {}", m.join(" ")));
            }
        }
    }
    r
}

/// Whether `name` is a lowercase RFC 1123 subdomain (what a Node name must be).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// kubeadm's `Hostname` check: warnings for an invalid node name and for a name that does not
/// resolve. Resolution looks in `<root>/etc/hosts` and, on the real root only, asks the
/// system resolver.
pub fn hostname_warnings(root: &Path, node_name: &str) -> Vec<String> {
    let mut w = Vec::new();
    if !is_dns1123_subdomain(node_name) {
        w.push(format!(
            "invalid node name format {node_name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        ));
    }
    let hosts = std::fs::read_to_string(under_root(root, "/etc/hosts")).unwrap_or_default();
    let in_hosts = hosts.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("");
        l.split_whitespace()
            .skip(1)
            .any(|n| n.eq_ignore_ascii_case(node_name))
    });
    if in_hosts {
        return w;
    }
    let err = if root == Path::new("/") {
        match (node_name, 0u16).to_socket_addrs() {
            Ok(a) if a.len() > 0 => return w,
            Ok(_) => "no addresses".to_string(),
            Err(e) => e.to_string(),
        }
    } else {
        format!("not in {}/etc/hosts", root.display())
    };
    w.push(format!(
        "hostname \"{node_name}\" could not be reached: lookup {node_name}: {err}"
    ));
    w
}

/// Directories holding systemd unit files.
const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Whether systemd unit `unit` (`firewalld.service`) exists and is active. On the real root
/// with `systemctl` present: `systemctl is-active` says `active` or `activating`. Otherwise
/// (a test root, no systemctl): a unit file exists and systemd's per-invocation record
/// `/run/systemd/units/invocation:<unit>` (present while the unit runs) exists.
pub fn service_active(root: &Path, unit: &str) -> bool {
    if root == Path::new("/") {
        if let Some(systemctl) = super::find_binary(root, "systemctl") {
            if let Ok(out) = Command::new(systemctl).args(["is-active", unit]).output() {
                let s = String::from_utf8_lossy(&out.stdout);
                return matches!(s.trim(), "active" | "activating");
            }
        }
    }
    let exists = UNIT_DIRS
        .iter()
        .any(|d| under_root(root, d).join(unit).exists());
    exists
        && under_root(root, &format!("/run/systemd/units/invocation:{unit}"))
            .symlink_metadata()
            .is_ok()
}

/// Outcome of the runtime probe behind `ContainerRuntimeVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeProbe {
    /// `crictl version` answered: runtime name and version.
    Version(String),
    /// The socket exists but `crictl` is not installed, so nothing more was asked.
    SocketOnly,
}

/// Checks that the CRI endpoint `cri` (`unix:///run/containerd/containerd.sock`) is a socket
/// under `root` and, when `crictl` is installed, that `crictl version` gets an answer from it.
pub fn runtime_probe(root: &Path, cri: &str) -> Result<RuntimeProbe, String> {
    let sock = cri.trim_start_matches("unix://");
    let p = under_root(root, sock);
    match std::fs::metadata(&p) {
        Err(e) => return Err(format!("container runtime is not reachable: {cri}: {e}")),
        Ok(m) if !m.file_type().is_socket() => {
            return Err(format!(
                "container runtime is not reachable: {cri} is not a socket"
            ))
        }
        Ok(_) => {}
    }
    let Some(crictl) = super::find_binary(root, "crictl") else {
        return Ok(RuntimeProbe::SocketOnly);
    };
    let endpoint = format!("unix://{}", p.display());
    let out = Command::new(&crictl)
        .args([
            "--runtime-endpoint",
            &endpoint,
            "--timeout",
            "5s",
            "version",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", crictl.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "could not query the container runtime's version via crictl ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(k))
            .map(|v| v.trim_start_matches(':').trim().to_string())
    };
    match (field("RuntimeName"), field("RuntimeVersion")) {
        (Some(n), Some(v)) => Ok(RuntimeProbe::Version(format!("{n} {v}"))),
        _ => Err(format!(
            "unexpected output of crictl version: {:?}",
            text.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_and_configs() {
        assert_eq!(kernel_major_minor("6.1.0-28-amd64"), Some((6, 1)));
        assert_eq!(kernel_major_minor("4.19.0"), Some((4, 19)));
        assert!(kernel_major_minor("4.18.0-x").unwrap() < MIN_KERNEL);
        let all: String = REQUIRED_KERNEL_CONFIGS
            .iter()
            .map(|(n, _)| format!("CONFIG_{n}=y\n"))
            .collect();
        assert!(missing_kernel_configs(&all).is_empty());
        let some = all
            .replace("CONFIG_MEMCG=y", "# CONFIG_MEMCG is not set")
            .replace(
                "CONFIG_NETFILTER_XT_TARGET_REDIRECT=y",
                "CONFIG_IP_NF_TARGET_REDIRECT=m",
            );
        assert_eq!(missing_kernel_configs(&some), vec!["CONFIG_MEMCG"]);
    }

    #[test]
    fn node_names() {
        assert!(is_dns1123_subdomain("vm"));
        assert!(is_dns1123_subdomain("node-1.example.com"));
        assert!(!is_dns1123_subdomain("Node_1"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain(""));
    }
}
