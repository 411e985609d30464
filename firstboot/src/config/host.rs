//! Facts about this machine that kubeadm's dynamic defaults use (hostname, default-route address,
//! staged Kubernetes version, CRI sockets). Detected once; tests construct [`HostFacts`] directly.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Kubernetes version used when no staged bundle is found (the version firstboot's kubeadm
/// behaviour is modelled on).
pub const BUILTIN_KUBERNETES_VERSION: &str = "v1.36.2";

/// Known CRI sockets in kubeadm's detection order (§6.3).
pub const KNOWN_CRI_SOCKETS: [&str; 3] = [
    "unix:///var/run/containerd/containerd.sock",
    "unix:///var/run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
];

/// Directory holding staged bundles, `<dir>/<version>/bin/...` (under the root).
pub const STAGED_VERSIONS_DIR: &str = "/opt/kubebake/versions";
/// Symlink to the active staged kubeadm (under the root).
pub const ACTIVE_KUBEADM_LINK: &str = "/usr/local/bin/kubeadm";

/// What dynamic defaulting needs to know about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// OS hostname (not yet lower-cased).
    pub hostname: String,
    /// Address of the default-route interface, or why it could not be found.
    pub default_address: Result<IpAddr, String>,
    /// Version of the active staged bundle (from the kubeadm symlink), if any.
    pub active_staged_version: Option<String>,
    /// Versions present under `/opt/kubebake/versions/`, if that directory exists.
    pub staged_versions: Option<Vec<String>>,
    /// CRI sockets (URLs from [`KNOWN_CRI_SOCKETS`]) that exist as sockets on this machine.
    pub cri_sockets: Vec<String>,
}

impl HostFacts {
    /// Detects the facts for a node whose filesystem is at `root` (`/` on a real node).
    ///
    /// Files (`/proc/net/route`, sockets, symlinks) are read under `root`; the hostname and
    /// interface addresses come from the running kernel.
    pub fn detect(root: &Path) -> HostFacts {
        let hostname = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        HostFacts {
            hostname,
            default_address: default_route_address(root, &SystemInterfaces),
            active_staged_version: active_staged_version(root),
            staged_versions: staged_versions(root),
            cri_sockets: detect_cri_sockets(root),
        }
    }
}

/// Joins an absolute path onto a root directory (`/etc/x` under `/tmp/r` → `/tmp/r/etc/x`).
pub fn under_root(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The version of the active staged bundle: the `<version>` in the target
/// `/opt/kubebake/versions/<version>/bin/kubeadm` of the `/usr/local/bin/kubeadm` symlink.
pub fn active_staged_version(root: &Path) -> Option<String> {
    let target = std::fs::read_link(under_root(root, ACTIVE_KUBEADM_LINK)).ok()?;
    let target = target.to_string_lossy();
    let rest = target
        .split(&format!("{STAGED_VERSIONS_DIR}/"))
        .nth(1)
        .or_else(|| target.split("versions/").nth(1))?;
    let version = rest.split('/').next()?;
    (!version.is_empty()).then(|| version.to_string())
}

/// The versions staged under `/opt/kubebake/versions/`, sorted; `None` if the directory is absent.
pub fn staged_versions(root: &Path) -> Option<Vec<String>> {
    let rd = std::fs::read_dir(under_root(root, STAGED_VERSIONS_DIR)).ok()?;
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Some(v)
}

/// CRI socket URLs from [`KNOWN_CRI_SOCKETS`] whose path exists as a socket under `root`.
pub fn detect_cri_sockets(root: &Path) -> Vec<String> {
    use std::os::unix::fs::FileTypeExt;
    KNOWN_CRI_SOCKETS
        .iter()
        .filter(|url| {
            let path = url.trim_start_matches("unix://");
            std::fs::metadata(under_root(root, path))
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false)
        })
        .map(|s| s.to_string())
        .collect()
}

/// Source of interface addresses (the system's, or a fake in tests).
pub trait InterfaceAddrs {
    /// Addresses configured on interface `name`.
    fn addrs(&self, name: &str) -> Vec<IpAddr>;
}

/// The running system's interfaces (`getifaddrs`).
pub struct SystemInterfaces;

impl InterfaceAddrs for SystemInterfaces {
    fn addrs(&self, name: &str) -> Vec<IpAddr> {
        if_addrs::get_if_addrs()
            .map(|all| {
                all.into_iter()
                    .filter(|i| i.name == name)
                    .map(|i| i.ip())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The advertise address kubeadm would choose: the first global-unicast IPv4 address of the
/// interface carrying the IPv4 default route with the lowest metric (`<root>/proc/net/route`).
pub fn default_route_address(root: &Path, ifaces: &dyn InterfaceAddrs) -> Result<IpAddr, String> {
    let route_file = under_root(root, "/proc/net/route");
    let text = std::fs::read_to_string(&route_file)
        .map_err(|e| format!("cannot read {}: {e}", route_file.display()))?;
    let mut defaults: Vec<(u32, String)> = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 8 {
            continue;
        }
        let (iface, dest, flags, metric, mask) = (cols[0], cols[1], cols[3], cols[6], cols[7]);
        let up = u32::from_str_radix(flags, 16)
            .map(|f| f & 1 == 1)
            .unwrap_or(false);
        if dest == "00000000" && mask == "00000000" && up {
            defaults.push((metric.parse().unwrap_or(u32::MAX), iface.to_string()));
        }
    }
    defaults.sort();
    if defaults.is_empty() {
        return Err(format!("no default route in {}", route_file.display()));
    }
    for (_, iface) in &defaults {
        let addrs = ifaces.addrs(iface);
        if let Some(ip) = addrs
            .iter()
            .find(|ip| ip.is_ipv4() && is_global_unicast(ip))
        {
            return Ok(*ip);
        }
    }
    Err(format!(
        "no global unicast IPv4 address on the default-route interface(s) {}",
        defaults
            .iter()
            .map(|(_, i)| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Go's `IP.IsGlobalUnicast`: not unspecified, loopback, link-local, multicast or broadcast.
pub fn is_global_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fake(HashMap<&'static str, Vec<IpAddr>>);
    impl InterfaceAddrs for Fake {
        fn addrs(&self, name: &str) -> Vec<IpAddr> {
            self.0.get(name).cloned().unwrap_or_default()
        }
    }

    fn root_with_route(route: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("proc/net")).unwrap();
        std::fs::write(d.path().join("proc/net/route"), route).unwrap();
        d
    }

    const HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn picks_lowest_metric_default_route_interface() {
        let route = format!(
            "{HEADER}eth1\t00000000\t010200C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n\
             eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        );
        let root = root_with_route(&route);
        let fake = Fake(HashMap::from([
            (
                "eth0",
                vec!["fe80::1".parse().unwrap(), "192.0.2.7".parse().unwrap()],
            ),
            ("eth1", vec!["198.51.100.9".parse().unwrap()]),
        ]));
        assert_eq!(
            default_route_address(root.path(), &fake).unwrap(),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn no_default_route_is_an_error() {
        let route = format!("{HEADER}eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
        let root = root_with_route(&route);
        let err = default_route_address(root.path(), &Fake(HashMap::new())).unwrap_err();
        assert!(err.contains("no default route"), "{err}");
    }

    #[test]
    fn staged_version_from_symlink_target() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("usr/local/bin")).unwrap();
        std::fs::create_dir_all(d.path().join("opt/kubebake/versions/v1.35.4/bin")).unwrap();
        std::os::unix::fs::symlink(
            "/opt/kubebake/versions/v1.35.4/bin/kubeadm",
            d.path().join("usr/local/bin/kubeadm"),
        )
        .unwrap();
        assert_eq!(active_staged_version(d.path()).as_deref(), Some("v1.35.4"));
        assert_eq!(staged_versions(d.path()), Some(vec!["v1.35.4".to_string()]));
    }
}
