//! Builds kubeadm's four static pods as `k8s_openapi` Pods (spec §5.1–§5.6).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, HostPathVolumeSource, Pod, PodSecurityContext,
    PodSpec, PodStatus, Probe, ResourceRequirements, SeccompProfile, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::args::{arguments_to_command, last_arg_value, set_arg, Arg, ArgOrder};
use super::images::{images, AddonImageParams};
use super::params::{
    ComponentParams, ControlPlaneParams, EtcdMembership, EtcdParams, ExternalEtcdParams,
    HostPathMount, LocalEtcdParams, OPTIONAL_CA_DIRS,
};
use super::{Component, ManifestError};

/// Ports and names kubeadm hard-codes (spec §17).
const ETCD_CLIENT_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;
const ETCD_METRICS_PORT: u16 = 2381;
const KCM_PORT: i32 = 10257;
const SCHEDULER_PORT: i32 = 10259;
const CA_CERTS_DIR: &str = "/etc/ssl/certs";
const FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";
const PROBE_PORT: &str = "probe-port";
/// Annotation carrying the API server's advertise endpoint.
pub const APISERVER_ENDPOINT_ANNOTATION: &str =
    "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint";
/// Annotation carrying etcd's client URL (read by control-plane join).
pub const ETCD_CLIENT_URLS_ANNOTATION: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// Go's `filepath.Join(a, b)`: join and clean.
pub(crate) fn path_join(a: &str, b: &str) -> String {
    clean_path(&format!("{a}/{b}"))
}

/// Go's `filepath.Clean` for absolute or relative slash paths.
pub(crate) fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `net.JoinHostPort`.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn loopback_for(adv: &IpAddr) -> &'static str {
    if adv.is_ipv6() {
        "::1"
    } else {
        "127.0.0.1"
    }
}

/// kubeadm's `getProbeAddress`: an unparsable or unspecified address gives an empty host.
fn probe_address(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => addr.to_string(),
        _ => String::new(),
    }
}

fn http_probe(
    host: &str,
    path: &str,
    scheme: &str,
    initial_delay: i32,
    timeout: i32,
    failure: i32,
    period: i32,
) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            host: Some(host.to_string()),
            path: Some(path.to_string()),
            port: IntOrString::String(PROBE_PORT.into()),
            scheme: Some(scheme.to_string()),
            http_headers: None,
        }),
        initial_delay_seconds: (initial_delay != 0).then_some(initial_delay),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(failure),
        period_seconds: Some(period),
        ..Default::default()
    }
}

fn liveness(host: &str, path: &str, scheme: &str) -> Probe {
    http_probe(host, path, scheme, 10, 15, 8, 10)
}

fn readiness(host: &str, path: &str, scheme: &str) -> Probe {
    http_probe(host, path, scheme, 0, 15, 3, 1)
}

fn startup(p: &ControlPlaneParams, host: &str, path: &str, scheme: &str) -> Probe {
    http_probe(
        host,
        path,
        scheme,
        10,
        15,
        p.startup_failure_threshold(),
        10,
    )
}

/// Volumes and their mounts, keyed (and later sorted) by name.
#[derive(Default)]
struct Mounts(BTreeMap<String, (Volume, VolumeMount)>);

impl Mounts {
    fn add(
        &mut self,
        name: &str,
        host_path: &str,
        mount_path: &str,
        read_only: bool,
        path_type: Option<&str>,
    ) {
        let volume = Volume {
            name: name.to_string(),
            host_path: Some(HostPathVolumeSource {
                path: host_path.to_string(),
                type_: path_type.map(str::to_string),
            }),
            ..Default::default()
        };
        let mount = VolumeMount {
            name: name.to_string(),
            mount_path: mount_path.to_string(),
            read_only: read_only.then_some(true),
            ..Default::default()
        };
        self.0.insert(name.to_string(), (volume, mount));
    }

    fn add_extra(&mut self, extra: &[HostPathMount]) {
        for m in extra {
            // kubeadm passes a pointer to the (possibly empty) pathType, so unset is `type: ""`.
            let t = m.path_type.clone().unwrap_or_default();
            self.add(&m.name, &m.host_path, &m.mount_path, m.read_only, Some(&t));
        }
    }

    fn split(self) -> (Vec<Volume>, Vec<VolumeMount>) {
        self.0.into_values().unzip()
    }
}

/// Proxy variables merged with `extra` (later wins by name), sorted by name.
fn merge_env(lists: &[&[EnvVar]]) -> Option<Vec<EnvVar>> {
    let mut m: BTreeMap<String, EnvVar> = BTreeMap::new();
    for l in lists {
        for e in *l {
            m.insert(e.name.clone(), e.clone());
        }
    }
    if m.is_empty() {
        None
    } else {
        Some(m.into_values().collect())
    }
}

fn requests(cpu: &str, memory: Option<&str>) -> ResourceRequirements {
    let mut r = BTreeMap::new();
    r.insert("cpu".to_string(), Quantity(cpu.to_string()));
    if let Some(m) = memory {
        r.insert("memory".to_string(), Quantity(m.to_string()));
    }
    ResourceRequirements {
        requests: Some(r),
        ..Default::default()
    }
}

/// kubeadm's `ComponentPod`.
fn component_pod(
    container: Container,
    volumes: Vec<Volume>,
    annotations: Option<BTreeMap<String, String>>,
) -> Pod {
    let name = container.name.clone();
    Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some("kube-system".into()),
            labels: Some(BTreeMap::from([
                ("component".to_string(), name),
                ("tier".to_string(), "control-plane".to_string()),
            ])),
            annotations,
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![container],
            priority: Some(2_000_001_000),
            priority_class_name: Some("system-node-critical".into()),
            host_network: Some(true),
            volumes: (!volumes.is_empty()).then_some(volumes),
            security_context: Some(PodSecurityContext {
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: Some(PodStatus::default()),
    }
}

struct ContainerParts {
    name: &'static str,
    image: String,
    command: Vec<String>,
    mounts: Vec<VolumeMount>,
    liveness: Probe,
    readiness: Option<Probe>,
    startup: Probe,
    resources: ResourceRequirements,
    env: Option<Vec<EnvVar>>,
    port: i32,
}

fn container(p: &ControlPlaneParams, c: ContainerParts) -> Container {
    Container {
        name: c.name.into(),
        image: Some(c.image),
        image_pull_policy: Some(p.image_pull_policy.clone()),
        command: Some(c.command),
        volume_mounts: (!c.mounts.is_empty()).then_some(c.mounts),
        liveness_probe: Some(c.liveness),
        readiness_probe: c.readiness,
        startup_probe: Some(c.startup),
        resources: Some(c.resources),
        env: c.env,
        ports: Some(vec![ContainerPort {
            name: Some(PROBE_PORT.into()),
            container_port: c.port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn arg_order(p: &ControlPlaneParams) -> Result<ArgOrder, ManifestError> {
    Ok(if p.legacy()? {
        ArgOrder::SortedAll
    } else {
        ArgOrder::UserOrderAfterSortedBase
    })
}

fn check_component_args(component: Component, c: &ComponentParams) -> Result<(), ManifestError> {
    check_args(
        &format!("{}.extraArgs", component.config_field()),
        &c.extra_args,
    )?;
    for (i, v) in c.extra_volumes.iter().enumerate() {
        let field = format!("{}.extraVolumes[{i}]", component.config_field());
        if v.name.is_empty() || v.host_path.is_empty() || v.mount_path.is_empty() {
            return Err(ManifestError::Invalid {
                field,
                message: "name, hostPath and mountPath are required".into(),
            });
        }
    }
    check_envs(
        &format!("{}.extraEnvs", component.config_field()),
        &c.extra_envs,
    )
}

fn check_args(field: &str, args: &[Arg]) -> Result<(), ManifestError> {
    for (i, a) in args.iter().enumerate() {
        if a.name.is_empty() || a.name.starts_with('-') || a.name.contains('=') {
            return Err(ManifestError::Invalid {
                field: format!("{field}[{i}].name"),
                message: format!(
                    "{:?} is not a flag name (no leading dashes, no '=')",
                    a.name
                ),
            });
        }
    }
    Ok(())
}

fn check_envs(field: &str, envs: &[EnvVar]) -> Result<(), ManifestError> {
    for (i, e) in envs.iter().enumerate() {
        if e.name.is_empty() {
            return Err(ManifestError::Invalid {
                field: format!("{field}[{i}].name"),
                message: "must not be empty".into(),
            });
        }
    }
    Ok(())
}

fn add_ca_dirs(p: &ControlPlaneParams, m: &mut Mounts) {
    m.add(
        "ca-certs",
        CA_CERTS_DIR,
        CA_CERTS_DIR,
        true,
        Some("DirectoryOrCreate"),
    );
    for dir in OPTIONAL_CA_DIRS {
        if p.host_ca_dirs.iter().any(|d| d == dir) {
            let name = dir.replace('/', "-")[1..].to_string();
            m.add(&name, dir, dir, true, Some("DirectoryOrCreate"));
        }
    }
}

/// kubeadm's `getEtcdCertVolumes`: directories of the external etcd files not already mounted.
fn external_etcd_cert_dirs(e: &ExternalEtcdParams, cert_dir: &str) -> Vec<String> {
    let mut already: Vec<&str> = OPTIONAL_CA_DIRS.to_vec();
    already.push(CA_CERTS_DIR);
    already.push(cert_dir);
    let mut dirs: Vec<String> = Vec::new();
    for f in [&e.ca_file, &e.cert_file, &e.key_file] {
        let dir = match f.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => clean_path(&f[..i]),
            None => ".".to_string(),
        };
        if dir == "." || already.iter().any(|a| dir.starts_with(a)) {
            continue;
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs.sort();
    let mut out: Vec<String> = Vec::new();
    for d in dirs {
        if out.last().is_some_and(|prev| d.starts_with(prev.as_str())) {
            continue;
        }
        out.push(d);
    }
    out
}

/// Build the kube-apiserver static pod (spec §5.3).
pub fn apiserver_pod(p: &ControlPlaneParams) -> Result<Pod, ManifestError> {
    check_component_args(Component::KubeApiserver, &p.api_server)?;
    let adv = p.advertise_address.to_string();
    let pki = |f: &str| path_join(&p.cert_dir, f);
    let mut base: Vec<Arg> = vec![
        Arg::new("advertise-address", &adv),
        Arg::new("enable-admission-plugins", "NodeRestriction"),
        Arg::new("service-cluster-ip-range", &p.service_subnet),
        Arg::new("service-account-key-file", pki("sa.pub")),
        Arg::new("service-account-signing-key-file", pki("sa.key")),
        Arg::new(
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", p.dns_domain),
        ),
        Arg::new("client-ca-file", pki("ca.crt")),
        Arg::new("tls-cert-file", pki("apiserver.crt")),
        Arg::new("tls-private-key-file", pki("apiserver.key")),
        Arg::new(
            "kubelet-client-certificate",
            pki("apiserver-kubelet-client.crt"),
        ),
        Arg::new("kubelet-client-key", pki("apiserver-kubelet-client.key")),
        Arg::new("enable-bootstrap-token-auth", "true"),
        Arg::new("secure-port", p.bind_port.to_string()),
        Arg::new("allow-privileged", "true"),
        Arg::new(
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname",
        ),
        Arg::new("requestheader-username-headers", "X-Remote-User"),
        Arg::new("requestheader-group-headers", "X-Remote-Group"),
        Arg::new("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        Arg::new("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        Arg::new("requestheader-allowed-names", "front-proxy-client"),
        Arg::new("proxy-client-cert-file", pki("front-proxy-client.crt")),
        Arg::new("proxy-client-key-file", pki("front-proxy-client.key")),
    ];
    let mut m = Mounts::default();
    m.add(
        "k8s-certs",
        &p.cert_dir,
        &p.cert_dir,
        true,
        Some("DirectoryOrCreate"),
    );
    match &p.etcd {
        EtcdParams::Local(l) => {
            let lo = loopback_for(&p.advertise_address);
            base.push(Arg::new(
                "etcd-servers",
                format!("https://{}", join_host_port(lo, ETCD_CLIENT_PORT)),
            ));
            base.push(Arg::new("etcd-cafile", pki("etcd/ca.crt")));
            base.push(Arg::new("etcd-certfile", pki("apiserver-etcd-client.crt")));
            base.push(Arg::new("etcd-keyfile", pki("apiserver-etcd-client.key")));
            if let Some(v) = last_arg_value(&l.extra_args, "advertise-client-urls") {
                set_arg(&mut base, "etcd-servers", v);
            }
        }
        EtcdParams::External(e) => {
            if e.endpoints.is_empty() {
                return Err(ManifestError::Invalid {
                    field: "etcd.external.endpoints".into(),
                    message: "at least one endpoint is required".into(),
                });
            }
            base.push(Arg::new("etcd-servers", e.endpoints.join(",")));
            if !e.ca_file.is_empty() {
                base.push(Arg::new("etcd-cafile", &e.ca_file));
            }
            if !e.cert_file.is_empty() && !e.key_file.is_empty() {
                base.push(Arg::new("etcd-certfile", &e.cert_file));
                base.push(Arg::new("etcd-keyfile", &e.key_file));
            }
            for (i, dir) in external_etcd_cert_dirs(e, &p.cert_dir).iter().enumerate() {
                m.add(
                    &format!("etcd-certs-{i}"),
                    dir,
                    dir,
                    true,
                    Some("DirectoryOrCreate"),
                );
            }
        }
    }
    let extra = &p.api_server.extra_args;
    if last_arg_value(extra, "authorization-config").is_none() {
        // A user `authorization-mode` overrides this default verbatim (spec §5.3).
        set_arg(&mut base, "authorization-mode", "Node,RBAC");
    }
    add_ca_dirs(p, &mut m);
    m.add_extra(&p.api_server.extra_volumes);
    let (volumes, mounts) = m.split();

    let host = probe_address(&adv);
    let mut command = vec!["kube-apiserver".to_string()];
    command.extend(arguments_to_command(&base, extra, arg_order(p)?));
    let image = images(p, &AddonImageParams::default())?.kube_apiserver;
    let c = container(
        p,
        ContainerParts {
            name: "kube-apiserver",
            image,
            command,
            mounts,
            liveness: liveness(&host, "/livez", "HTTPS"),
            readiness: Some(readiness(&host, "/readyz", "HTTPS")),
            startup: startup(p, &host, "/livez", "HTTPS"),
            resources: requests("250m", None),
            env: merge_env(&[&p.proxy_env, &p.api_server.extra_envs]),
            port: i32::from(p.bind_port),
        },
    );
    let annotations = BTreeMap::from([(
        APISERVER_ENDPOINT_ANNOTATION.to_string(),
        join_host_port(&adv, p.bind_port),
    )]);
    Ok(component_pod(c, volumes, Some(annotations)))
}

/// Build the kube-controller-manager static pod (spec §5.4).
pub fn controller_manager_pod(p: &ControlPlaneParams) -> Result<Pod, ManifestError> {
    check_component_args(Component::KubeControllerManager, &p.controller_manager)?;
    let pki = |f: &str| path_join(&p.cert_dir, f);
    let kubeconfig = path_join(&p.kubernetes_dir, "controller-manager.conf");
    let ca = pki("ca.crt");
    let mut base: Vec<Arg> = vec![
        Arg::new("bind-address", "127.0.0.1"),
        Arg::new("leader-elect", "true"),
        Arg::new("kubeconfig", &kubeconfig),
        Arg::new("authentication-kubeconfig", &kubeconfig),
        Arg::new("authorization-kubeconfig", &kubeconfig),
        Arg::new("client-ca-file", &ca),
        Arg::new("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        Arg::new("root-ca-file", &ca),
        Arg::new("service-account-private-key-file", pki("sa.key")),
        Arg::new("cluster-signing-cert-file", &ca),
        Arg::new("cluster-signing-key-file", pki("ca.key")),
        Arg::new("use-service-account-credentials", "true"),
        Arg::new("controllers", "*,bootstrapsigner,tokencleaner"),
    ];
    if p.external_ca {
        set_arg(&mut base, "cluster-signing-key-file", "");
        set_arg(&mut base, "cluster-signing-cert-file", "");
    }
    if !p.pod_subnet.is_empty() {
        set_arg(&mut base, "allocate-node-cidrs", "true");
        set_arg(&mut base, "cluster-cidr", &p.pod_subnet);
        if !p.service_subnet.is_empty() {
            set_arg(&mut base, "service-cluster-ip-range", &p.service_subnet);
        }
    }
    if !p.cluster_name.is_empty() {
        set_arg(&mut base, "cluster-name", &p.cluster_name);
    }
    let extra = &p.controller_manager.extra_args;
    let mut m = Mounts::default();
    m.add(
        "k8s-certs",
        &p.cert_dir,
        &p.cert_dir,
        true,
        Some("DirectoryOrCreate"),
    );
    m.add(
        "kubeconfig",
        &kubeconfig,
        &kubeconfig,
        true,
        Some("FileOrCreate"),
    );
    if p.legacy()? {
        let flex = last_arg_value(extra, "flex-volume-plugin-dir").unwrap_or(FLEXVOLUME_DIR);
        m.add(
            "flexvolume-dir",
            flex,
            flex,
            false,
            Some("DirectoryOrCreate"),
        );
    }
    add_ca_dirs(p, &mut m);
    m.add_extra(&p.controller_manager.extra_volumes);
    let (volumes, mounts) = m.split();

    let host = last_arg_value(extra, "bind-address")
        .map(probe_address)
        .unwrap_or_else(|| "127.0.0.1".into());
    let mut command = vec!["kube-controller-manager".to_string()];
    command.extend(arguments_to_command(&base, extra, arg_order(p)?));
    let image = images(p, &AddonImageParams::default())?.kube_controller_manager;
    let c = container(
        p,
        ContainerParts {
            name: "kube-controller-manager",
            image,
            command,
            mounts,
            liveness: liveness(&host, "/healthz", "HTTPS"),
            readiness: None,
            startup: startup(p, &host, "/healthz", "HTTPS"),
            resources: requests("200m", None),
            env: merge_env(&[&p.proxy_env, &p.controller_manager.extra_envs]),
            port: KCM_PORT,
        },
    );
    Ok(component_pod(c, volumes, None))
}

/// Build the kube-scheduler static pod (spec §5.5).
pub fn scheduler_pod(p: &ControlPlaneParams) -> Result<Pod, ManifestError> {
    check_component_args(Component::KubeScheduler, &p.scheduler)?;
    let kubeconfig = path_join(&p.kubernetes_dir, "scheduler.conf");
    let base: Vec<Arg> = vec![
        Arg::new("bind-address", "127.0.0.1"),
        Arg::new("leader-elect", "true"),
        Arg::new("kubeconfig", &kubeconfig),
        Arg::new("authentication-kubeconfig", &kubeconfig),
        Arg::new("authorization-kubeconfig", &kubeconfig),
    ];
    let extra = &p.scheduler.extra_args;
    let mut m = Mounts::default();
    m.add(
        "kubeconfig",
        &kubeconfig,
        &kubeconfig,
        true,
        Some("FileOrCreate"),
    );
    m.add_extra(&p.scheduler.extra_volumes);
    let (volumes, mounts) = m.split();
    let host = last_arg_value(extra, "bind-address")
        .map(probe_address)
        .unwrap_or_else(|| "127.0.0.1".into());
    // /livez + /readyz since kubeadm 1.32 (kubernetes/kubernetes#126945), so also for 1.35.
    let (live_path, ready) = ("/livez", Some(readiness(&host, "/readyz", "HTTPS")));
    let mut command = vec!["kube-scheduler".to_string()];
    command.extend(arguments_to_command(&base, extra, arg_order(p)?));
    let image = images(p, &AddonImageParams::default())?.kube_scheduler;
    let c = container(
        p,
        ContainerParts {
            name: "kube-scheduler",
            image,
            command,
            mounts,
            liveness: liveness(&host, live_path, "HTTPS"),
            readiness: ready,
            startup: startup(p, &host, live_path, "HTTPS"),
            resources: requests("100m", None),
            env: merge_env(&[&p.proxy_env, &p.scheduler.extra_envs]),
            port: SCHEDULER_PORT,
        },
    );
    Ok(component_pod(c, volumes, None))
}

/// kubeadm's `GetEtcdProbeEndpoint`: (host, port, scheme) from the first `listen-metrics-urls`.
fn etcd_probe_endpoint(l: &LocalEtcdParams, adv: &IpAddr) -> (String, u16, &'static str) {
    let lo = loopback_for(adv).to_string();
    let Some(arg) = last_arg_value(&l.extra_args, "listen-metrics-urls") else {
        return (lo, ETCD_METRICS_PORT, "HTTP");
    };
    let first = arg.split(',').next().unwrap_or("");
    // Go's url.Parse on `scheme://[userinfo@]host[:port][/path]`.
    let Some((scheme_str, rest)) = first.split_once("://") else {
        return (lo, ETCD_METRICS_PORT, "HTTP");
    };
    let scheme = if scheme_str.eq_ignore_ascii_case("https") {
        "HTTPS"
    } else {
        "HTTP"
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port_str) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, after)) => (h.to_string(), after.strip_prefix(':').unwrap_or("")),
            None => return (lo, ETCD_METRICS_PORT, "HTTP"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), ""),
        }
    };
    let host = if host.is_empty() { lo } else { host };
    let port = port_str
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .unwrap_or(ETCD_METRICS_PORT);
    (host, port, scheme)
}

/// `https://<adv>:2379` (bracketed for IPv6): the client URL of a node's stacked etcd member
/// (`--advertise-client-urls`, and the etcd Pod's client-URL annotation).
pub fn etcd_client_url(adv: &IpAddr) -> String {
    format!(
        "https://{}",
        join_host_port(&adv.to_string(), ETCD_CLIENT_PORT)
    )
}

/// `https://<adv>:2380` (bracketed for IPv6): the peer URL of a node's stacked etcd member
/// (`--initial-advertise-peer-urls`; how join and reset find the member).
pub fn etcd_peer_url(adv: &IpAddr) -> String {
    format!(
        "https://{}",
        join_host_port(&adv.to_string(), ETCD_PEER_PORT)
    )
}

/// Build the local etcd static pod (spec §5.6); `membership` selects `--initial-cluster`.
pub fn etcd_pod(p: &ControlPlaneParams, membership: &EtcdMembership) -> Result<Pod, ManifestError> {
    let EtcdParams::Local(l) = &p.etcd else {
        return Err(ManifestError::Invalid {
            field: "etcd".into(),
            message: "the etcd static pod needs etcd.local (external etcd is configured)".into(),
        });
    };
    check_args("etcd.local.extraArgs", &l.extra_args)?;
    check_envs("etcd.local.extraEnvs", &l.extra_envs)?;
    if l.data_dir.is_empty() {
        return Err(ManifestError::Invalid {
            field: "etcd.local.dataDir".into(),
            message: "must not be empty".into(),
        });
    }
    let lo = loopback_for(&p.advertise_address);
    let client_url = etcd_client_url(&p.advertise_address);
    let peer_url = etcd_peer_url(&p.advertise_address);
    let pki = |f: &str| path_join(&p.cert_dir, f);
    let mut base: Vec<Arg> = vec![
        Arg::new("name", &p.node_name),
        Arg::new("feature-gates", "InitialCorruptCheck=true"),
        Arg::new("watch-progress-notify-interval", "5s"),
        Arg::new(
            "listen-client-urls",
            format!(
                "https://{},{}",
                join_host_port(lo, ETCD_CLIENT_PORT),
                client_url
            ),
        ),
        Arg::new("advertise-client-urls", &client_url),
        Arg::new("listen-peer-urls", &peer_url),
        Arg::new("initial-advertise-peer-urls", &peer_url),
        Arg::new("data-dir", &l.data_dir),
        Arg::new("cert-file", pki("etcd/server.crt")),
        Arg::new("key-file", pki("etcd/server.key")),
        Arg::new("trusted-ca-file", pki("etcd/ca.crt")),
        Arg::new("client-cert-auth", "true"),
        Arg::new("peer-cert-file", pki("etcd/peer.crt")),
        Arg::new("peer-key-file", pki("etcd/peer.key")),
        Arg::new("peer-trusted-ca-file", pki("etcd/ca.crt")),
        Arg::new("peer-client-cert-auth", "true"),
        Arg::new("snapshot-count", "10000"),
        Arg::new(
            "listen-metrics-urls",
            format!("http://{}", join_host_port(lo, ETCD_METRICS_PORT)),
        ),
    ];
    match membership {
        EtcdMembership::NewCluster => {
            set_arg(
                &mut base,
                "initial-cluster",
                format!("{}={}", p.node_name, peer_url),
            );
        }
        EtcdMembership::Join(members) => {
            if members.is_empty() {
                return Err(ManifestError::Invalid {
                    field: "etcd members".into(),
                    message: "a joining etcd member needs the member list returned by member-add"
                        .into(),
                });
            }
            let list: Vec<String> = members
                .iter()
                .map(|m| format!("{}={}", m.name, m.peer_url))
                .collect();
            set_arg(&mut base, "initial-cluster", list.join(","));
            set_arg(&mut base, "initial-cluster-state", "existing");
        }
    }
    let mut command = vec!["etcd".to_string()];
    command.extend(arguments_to_command(&base, &l.extra_args, arg_order(p)?));

    let certs_dir = format!("{}/etcd", p.cert_dir);
    let mut m = Mounts::default();
    m.add(
        "etcd-data",
        &l.data_dir,
        &l.data_dir,
        false,
        Some("DirectoryOrCreate"),
    );
    m.add(
        "etcd-certs",
        &certs_dir,
        &certs_dir,
        false,
        Some("DirectoryOrCreate"),
    );
    let (volumes, _) = m.split();
    // etcd's mounts keep kubeadm's fixed order: data, then certs.
    let mounts = vec![
        VolumeMount {
            name: "etcd-data".into(),
            mount_path: l.data_dir.clone(),
            ..Default::default()
        },
        VolumeMount {
            name: "etcd-certs".into(),
            mount_path: certs_dir.clone(),
            ..Default::default()
        },
    ];
    let (host, port, scheme) = etcd_probe_endpoint(l, &p.advertise_address);
    let image = images(p, &AddonImageParams::default())?
        .etcd
        .unwrap_or_default();
    let c = container(
        p,
        ContainerParts {
            name: "etcd",
            image,
            command,
            mounts,
            liveness: liveness(&host, "/livez", scheme),
            readiness: Some(readiness(&host, "/readyz", scheme)),
            startup: startup(p, &host, "/readyz", scheme),
            resources: requests("100m", Some("100Mi")),
            env: merge_env(&[&l.extra_envs]),
            port: i32::from(port),
        },
    );
    let annotations = BTreeMap::from([(ETCD_CLIENT_URLS_ANNOTATION.to_string(), client_url)]);
    Ok(component_pod(c, volumes, Some(annotations)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_helpers() {
        assert_eq!(
            path_join("/etc/kubernetes/pki/", "ca.crt"),
            "/etc/kubernetes/pki/ca.crt"
        );
        assert_eq!(path_join("/a/b", "../c"), "/a/c");
        assert_eq!(join_host_port("fd00::2", 6443), "[fd00::2]:6443");
        assert_eq!(join_host_port("192.0.2.2", 2379), "192.0.2.2:2379");
    }

    #[test]
    fn external_etcd_dirs_skip_mounted_and_nested() {
        let e = ExternalEtcdParams {
            endpoints: vec!["https://e:2379".into()],
            ca_file: "/etc/etcd/pki/ca.crt".into(),
            cert_file: "/etc/etcd/pki/sub/client.crt".into(),
            key_file: "/etc/kubernetes/pki/etcd-client.key".into(),
        };
        assert_eq!(
            external_etcd_cert_dirs(&e, "/etc/kubernetes/pki"),
            vec!["/etc/etcd/pki"]
        );
    }

    #[test]
    fn etcd_probe_from_metrics_url() {
        let mut l = LocalEtcdParams::default();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(
            etcd_probe_endpoint(&l, &v4),
            ("127.0.0.1".into(), 2381, "HTTP")
        );
        assert_eq!(etcd_probe_endpoint(&l, &v6), ("::1".into(), 2381, "HTTP"));
        l.extra_args = vec![Arg::new(
            "listen-metrics-urls",
            "https://[fd00::9]:443,http://x:1",
        )];
        assert_eq!(
            etcd_probe_endpoint(&l, &v4),
            ("fd00::9".into(), 443, "HTTPS")
        );
        l.extra_args = vec![Arg::new("listen-metrics-urls", "http://:9000")];
        assert_eq!(
            etcd_probe_endpoint(&l, &v4),
            ("127.0.0.1".into(), 9000, "HTTP")
        );
    }
}
