//! Phase `preflight`: kubeadm's node checks that make sense on a fresh image (§12, §13.1); writes nothing.
//!
//! Implemented, in kubeadm's order and with its names: IsPrivilegedUser, NumCPU, Mem,
//! KubernetesVersion, Firewalld, Port-*, FileAvailable-*, HTTPProxy, HTTPProxyCIDR, CRI (socket
//! reachable), ContainerRuntimeVersion (socket + `crictl version` when crictl is installed; no
//! CRI `RuntimeConfig` call), Swap, FileExisting-{losetup,mount,cp}, SystemVerification,
//! Hostname, KubeletVersion, Service-Kubelet, FileContent--proc-sys-net-*, ExternalEtcdVersion,
//! DirAvailable--var-lib-etcd, ExternalEtcdClientCertificates, ImagePull (against the staged
//! images: an air-gapped node pulls nothing).

pub mod etcd;
pub mod host;
pub mod images;
pub mod proxy;

use std::net::{IpAddr, TcpListener};

use proxy::ProxyEnv;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{CheckOutcome, Context, Phase, Plan, PlanItem};
use crate::config::validate::{parse_cidrs, split_host_port, Version};
use crate::config::Mode;

/// The `preflight` phase.
pub struct Preflight;

/// Directories searched for binaries (under the host root).
pub const BIN_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// kubeadm's name for a file check: `/etc/kubernetes/x.conf` → `-etc-kubernetes-x.conf`.
pub fn path_check_suffix(path: &str) -> String {
    path.replace('/', "-")
}

/// Finds a binary in [`BIN_DIRS`] under `root`.
pub fn find_binary(root: &Path, name: &str) -> Option<PathBuf> {
    BIN_DIRS
        .iter()
        .map(|d| crate::fsutil::under_root(root, d).join(name))
        .find(|p| p.is_file())
}

/// Runs `<bin> <args>` and returns the first `vX.Y.Z` token of its output.
pub fn binary_version(bin: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .find(|t| t.starts_with('v') && Version::parse(t).is_some())
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "cannot find a version in the output of {} {}: {:?}",
                bin.display(),
                args.join(" "),
                text.trim()
            )
        })
}

/// kubeadm's `ignorePreflightErrors`: an error of check `name` becomes
/// [`CheckOutcome::Ignored`] when `ignore` lists the name (case-insensitive) or `all`.
pub fn apply_ignore(name: &str, outcome: CheckOutcome, ignore: &[String]) -> CheckOutcome {
    let ignored = ignore
        .iter()
        .any(|i| i.eq_ignore_ascii_case("all") || i.eq_ignore_ascii_case(name));
    match outcome {
        CheckOutcome::Error(m) if ignored => CheckOutcome::Ignored(m),
        o => o,
    }
}

struct Checks<'a> {
    ctx: &'a Context<'a>,
    ignore: Vec<String>,
    items: Vec<PlanItem>,
}

impl Checks<'_> {
    fn push(&mut self, name: impl Into<String>, outcome: CheckOutcome) {
        let name = name.into();
        let outcome = apply_ignore(&name, outcome, &self.ignore);
        self.items.push(PlanItem::Check { name, outcome });
    }

    fn error_if(&mut self, name: &str, failed: Option<String>) {
        self.push(
            name,
            failed.map(CheckOutcome::Error).unwrap_or(CheckOutcome::Ok),
        );
    }

    fn port(&mut self, port: u16) {
        let res = TcpListener::bind(("0.0.0.0", port))
            .err()
            .map(|e| format!("Port {port} is in use ({e})"));
        self.error_if(&format!("Port-{port}"), res);
    }

    fn file_available(&mut self, node_path: &str) {
        let exists = self.ctx.path(node_path).exists();
        self.error_if(
            &format!("FileAvailable-{}", path_check_suffix(node_path)),
            exists.then(|| format!("{node_path} already exists")),
        );
    }

    fn file_existing_bin(&mut self, name: &str) {
        let found = find_binary(self.ctx.host_root, name).is_some();
        self.error_if(
            &format!("FileExisting-{name}"),
            (!found).then(|| format!("{name} not found in system path")),
        );
    }

    fn file_content_one(&mut self, node_path: &str) {
        let p = self.ctx.host_path(node_path);
        let res = match std::fs::read_to_string(&p) {
            Ok(s) if s.trim() == "1" => None,
            Ok(s) => Some(format!(
                "{node_path} contents are not set to 1 (found {:?})",
                s.trim()
            )),
            Err(e) => Some(format!("cannot read {node_path}: {e}")),
        };
        self.error_if(
            &format!("FileContent-{}", path_check_suffix(node_path)),
            res,
        );
    }
}

impl Phase for Preflight {
    fn name(&self) -> &'static str {
        "preflight"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let cfg = ctx.config;
        let mut c = Checks {
            ctx,
            ignore: cfg
                .node_registration()
                .ignore_preflight_errors
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            items: Vec::new(),
        };
        let euid = rustix::process::geteuid();
        c.error_if(
            "IsPrivilegedUser",
            (!euid.is_root()).then(|| "user is not running as root".to_string()),
        );
        let cp = cfg.is_control_plane();
        let kubeadm_version = kubeadm_version(ctx);
        let kv = Version::parse(&kubeadm_version);
        let target = Version::parse(&cfg.cluster.kubernetes_version);

        if cfg.mode == Mode::Join {
            c.file_available("/etc/kubernetes/kubelet.conf");
            c.file_available("/etc/kubernetes/bootstrap-kubelet.conf");
        }
        if cp {
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            c.error_if(
                "NumCPU",
                (ncpu < 2).then(|| {
                    format!("the number of available CPUs {ncpu} is less than the required 2")
                }),
            );
            let mem = read_mem_mb(&ctx.host_path("/proc/meminfo"));
            c.error_if(
                "Mem",
                match mem {
                    Ok(m) if m < 1700 => Some(format!(
                        "the system RAM ({m} MB) is less than the minimum 1700 MB"
                    )),
                    Ok(_) => None,
                    Err(e) => Some(e),
                },
            );
            if let (Some(k), Some(t)) = (kv, target) {
                if (t.major, t.minor) > (k.major, k.minor) {
                    c.push(
                        "KubernetesVersion",
                        CheckOutcome::Warning(format!(
                            "Kubernetes version is greater than kubeadm version ({}). Please consider to upgrade kubeadm. Kubernetes version: {}. Kubeadm version: {}.{}.x",
                            kubeadm_version, cfg.cluster.kubernetes_version, k.major, k.minor
                        )),
                    );
                } else {
                    c.push("KubernetesVersion", CheckOutcome::Ok);
                }
            }
            let port = cfg
                .local_api_endpoint()
                .map(|e| e.bind_port as u16)
                .unwrap_or(6443);
            c.push(
                "Firewalld",
                if host::service_active(ctx.host_root, "firewalld.service") {
                    CheckOutcome::Warning(format!(
                        "firewalld is active, please ensure ports [{port} 10250] are open or your cluster may not function correctly"
                    ))
                } else {
                    CheckOutcome::Ok
                },
            );
            c.port(port);
            c.port(10259);
            c.port(10257);
            for m in [
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "etcd",
            ] {
                c.file_available(&format!("/etc/kubernetes/manifests/{m}.yaml"));
            }
            let env = ProxyEnv::from_env();
            if let Some(adv) = cfg.advertise_address() {
                http_proxy_check(&mut c, &env, &adv.to_string());
            }
            let net = &cfg.cluster.networking;
            for cidr in [&net.service_subnet, &net.pod_subnet]
                .into_iter()
                .flat_map(|s| s.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                c.push(
                    "HTTPProxyCIDR",
                    match proxy::cidr_proxy(&env, cidr) {
                        Err(e) => CheckOutcome::Error(e),
                        Ok(None) => CheckOutcome::Ok,
                        Ok(Some(p)) => CheckOutcome::Warning(format!(
                            "connection to {cidr:?} uses proxy {p:?}. This may lead to malfunctional cluster setup. Make sure that Pod and Services IP ranges specified correctly as exceptions in proxy configuration"
                        )),
                    },
                );
            }
        } else if let Some(bt) = cfg
            .join
            .as_ref()
            .and_then(|j| j.discovery.bootstrap_token.as_ref())
        {
            if let Ok((host, _)) = split_host_port(&bt.api_server_endpoint) {
                http_proxy_check(&mut c, &ProxyEnv::from_env(), &host);
            }
        }
        // CRI: the runtime socket must accept connections.
        let cri = &cfg.node_registration().cri_socket;
        let sock = cri.trim_start_matches("unix://");
        let res = std::os::unix::net::UnixStream::connect(ctx.host_path(sock))
            .err()
            .map(|e| format!("container runtime is not running: cannot connect to {cri}: {e}"));
        c.error_if("CRI", res);
        c.push(
            "ContainerRuntimeVersion",
            match host::runtime_probe(ctx.host_root, cri) {
                Err(e) => CheckOutcome::Error(e),
                Ok(host::RuntimeProbe::Version(_)) => CheckOutcome::Ok,
                Ok(host::RuntimeProbe::SocketOnly) => CheckOutcome::Warning(format!(
                    "crictl is not installed: only checked that {cri} is a socket; the runtime's version and its support of the CRI RuntimeConfig method were not queried"
                )),
            },
        );
        // Swap: warning only.
        match std::fs::read_to_string(ctx.host_path("/proc/swaps")) {
            Ok(s) if s.lines().skip(1).any(|l| !l.trim().is_empty()) => c.push(
                "Swap",
                CheckOutcome::Warning(
                    "swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory".into(),
                ),
            ),
            _ => c.push("Swap", CheckOutcome::Ok),
        }
        for b in ["losetup", "mount", "cp"] {
            c.file_existing_bin(b);
        }
        let sys = host::system_verification(ctx.host_root);
        c.push(
            "SystemVerification",
            if !sys.errors.is_empty() {
                CheckOutcome::Error(sys.errors.join("; "))
            } else if !sys.warnings.is_empty() {
                CheckOutcome::Warning(sys.warnings.join("; "))
            } else {
                CheckOutcome::Ok
            },
        );
        let hw = host::hostname_warnings(ctx.host_root, cfg.node_name());
        c.push(
            "Hostname",
            if hw.is_empty() {
                CheckOutcome::Ok
            } else {
                CheckOutcome::Warning(hw.join("; "))
            },
        );
        // KubeletVersion.
        let res = match find_binary(ctx.host_root, "kubelet") {
            None => Some("couldn't get kubelet version: kubelet not found in system path".into()),
            Some(bin) => match binary_version(&bin, &["--version"]) {
                Err(e) => Some(format!("couldn't get kubelet version: {e}")),
                Ok(v) => kubelet_skew(&v, kv, target, cfg.mode == Mode::Init),
            },
        };
        c.error_if("KubeletVersion", res);
        let enabled = [
            "/etc/systemd/system/multi-user.target.wants/kubelet.service",
            "/usr/lib/systemd/system/multi-user.target.wants/kubelet.service",
        ]
        .iter()
        .any(|p| ctx.host_path(p).exists());
        c.push(
            "Service-Kubelet",
            if enabled {
                CheckOutcome::Ok
            } else {
                CheckOutcome::Warning(
                    "kubelet service is not enabled, please run 'systemctl enable kubelet.service'"
                        .into(),
                )
            },
        );
        c.port(10250);
        // IP forwarding, per address family in use.
        let (v4, v6) = families(ctx);
        if v4 {
            c.file_content_one("/proc/sys/net/ipv4/ip_forward");
        }
        if v6 {
            c.file_content_one("/proc/sys/net/ipv6/conf/default/forwarding");
        }
        if cfg.mode == Mode::Join && !cp {
            let ca = cfg
                .join
                .as_ref()
                .map(|j| j.ca_cert_path.clone())
                .unwrap_or_default();
            c.file_available(&ca);
        }
        if cp {
            if let Some(local) = &cfg.cluster.etcd.local {
                c.port(2379);
                c.port(2380);
                let dir = ctx.path(&local.data_dir);
                let busy = std::fs::read_dir(&dir)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false);
                c.error_if(
                    &format!("DirAvailable-{}", path_check_suffix(&local.data_dir)),
                    busy.then(|| format!("{} is not empty", local.data_dir)),
                );
            } else if let Some(ext) = &cfg.cluster.etcd.external {
                let errs = etcd::check(ctx.host_root, ext);
                c.error_if(
                    "ExternalEtcdVersion",
                    (!errs.is_empty()).then(|| errs.join("; ")),
                );
                let missing: Vec<&str> = [&ext.ca_file, &ext.cert_file, &ext.key_file]
                    .into_iter()
                    .filter(|f| !f.is_empty() && !ctx.path(f).is_file())
                    .map(|s| s.as_str())
                    .collect();
                c.error_if(
                    "ExternalEtcdClientCertificates",
                    (!missing.is_empty()).then(|| format!("missing files: {}", missing.join(", "))),
                );
            }
        }
        if cp {
            image_pull_check(&mut c, ctx);
        }
        Ok(Plan {
            phase: "preflight".into(),
            items: c.items,
        })
    }

    fn finish(&self, _ctx: &Context, plan: &Plan) -> anyhow::Result<()> {
        let errors: Vec<String> = plan
            .items
            .iter()
            .filter_map(|i| match i {
                PlanItem::Check {
                    name,
                    outcome: CheckOutcome::Error(m),
                } => Some(format!("[ERROR {name}]: {m}")),
                _ => None,
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "some fatal errors occurred: {}; to ignore a check add its name to nodeRegistration.ignorePreflightErrors (or --ignore-preflight-errors)",
                errors.join("; ")
            )
        }
    }
}

/// The kubeadm version whose skew rules apply: `kubeadm version -o short` of the active staged
/// kubeadm if it runs, else the configuration's (symlink or built-in) version.
fn kubeadm_version(ctx: &Context) -> String {
    let link = ctx.host_path(crate::config::host::ACTIVE_KUBEADM_LINK);
    if link.exists() {
        if let Ok(v) = binary_version(&link, &["version", "-o", "short"]) {
            return v;
        }
    }
    ctx.config.kubeadm_version.clone()
}

/// kubeadm's KubeletVersion rules: ≥ kubeadm minor − 3; on init not newer than the control plane.
pub fn kubelet_skew(
    kubelet: &str,
    kubeadm: Option<Version>,
    target: Option<Version>,
    init: bool,
) -> Option<String> {
    let k = Version::parse(kubelet)?;
    if let Some(kv) = kubeadm {
        let min = Version {
            major: kv.major,
            minor: kv.minor.saturating_sub(3),
            patch: 0,
            released: true,
        };
        if k < min {
            return Some(format!(
                "Kubelet version {kubelet} is lower than kubeadm can support. Please upgrade kubelet (minimum v{}.{}.0)",
                min.major, min.minor
            ));
        }
    }
    if init {
        if let Some(t) = target {
            if (k.major, k.minor) > (t.major, t.minor) {
                return Some(format!(
                    "the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: {kubelet} Control plane version: v{}.{}.{}",
                    t.major, t.minor, t.patch
                ));
            }
        }
    }
    None
}

fn read_mem_mb(path: &Path) -> Result<u64, String> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    s.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .ok_or_else(|| format!("no MemTotal in {}", path.display()))
}

fn http_proxy_check(c: &mut Checks, env: &ProxyEnv, host: &str) {
    let (url, port) = proxy::check_url(host);
    c.push(
        "HTTPProxy",
        match env.proxy_for("https", host, port) {
            None => CheckOutcome::Ok,
            Some(p) => CheckOutcome::Warning(format!(
                "Connection to {url:?} uses proxy {p:?}. If that is not intended, adjust your proxy settings"
            )),
        },
    );
}

/// `ImagePull`: every image of `config images list` is on the node (staged by bake).
fn image_pull_check(c: &mut Checks, ctx: &Context) {
    let cfg = ctx.config;
    let list = super::params::control_plane_params(ctx).and_then(|p| {
        crate::manifests::images_list(
            &p,
            &crate::manifests::AddonImageParams {
                dns_disabled: cfg.cluster.dns.disabled,
                dns_image_repository: Some(cfg.cluster.dns.image_repository.clone()),
                dns_image_tag: Some(cfg.cluster.dns.image_tag.clone()),
                proxy_disabled: cfg.cluster.proxy.disabled,
            },
        )
        .map_err(anyhow::Error::from)
    });
    let res = match list {
        Err(e) => Some(format!("cannot compute the required images: {e:#}")),
        Ok(list) => {
            let missing = images::missing_images(
                ctx.host_root,
                &list,
                &cfg.node_registration().image_pull_policy,
            );
            (!missing.is_empty()).then(|| missing.join("; "))
        }
    };
    c.error_if("ImagePull", res);
}

/// Address families in use: service CIDR, pod CIDR and the advertise address (init/CP), or the
/// discovery endpoint when it is an IP literal (worker join).
fn families(ctx: &Context) -> (bool, bool) {
    let cfg = ctx.config;
    let mut v4 = false;
    let mut v6 = false;
    let mut add = |ip: IpAddr| {
        if ip.is_ipv4() {
            v4 = true
        } else {
            v6 = true
        }
    };
    if cfg.is_control_plane() {
        for s in [
            &cfg.cluster.networking.service_subnet,
            &cfg.cluster.networking.pod_subnet,
        ] {
            if let Ok(nets) = parse_cidrs(s) {
                nets.iter().for_each(|n| add(n.addr()));
            }
        }
        if let Some(a) = cfg.advertise_address() {
            add(a);
        }
    } else if let Some(bt) = cfg
        .join
        .as_ref()
        .and_then(|j| j.discovery.bootstrap_token.as_ref())
    {
        if let Ok((host, _)) = split_host_port(&bt.api_server_endpoint) {
            if let Ok(ip) = host.parse::<IpAddr>() {
                add(ip);
            }
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_skew_rules() {
        let k136 = Version::parse("v1.36.2");
        let t135 = Version::parse("v1.35.1");
        assert!(kubelet_skew("v1.33.0", k136, k136, true).is_none());
        assert!(kubelet_skew("v1.32.9", k136, k136, true)
            .unwrap()
            .contains("lower than kubeadm can support"));
        assert!(kubelet_skew("v1.36.2", k136, t135, true)
            .unwrap()
            .contains("higher than the control plane"));
        // On join only the minimum applies.
        assert!(kubelet_skew("v1.36.2", k136, t135, false).is_none());
    }

    #[test]
    fn check_names() {
        assert_eq!(
            path_check_suffix("/etc/kubernetes/manifests/etcd.yaml"),
            "-etc-kubernetes-manifests-etcd.yaml"
        );
    }
}
