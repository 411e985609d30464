//! Behaviour of the static pod manifests beyond the reference config: extraArgs/extraVolumes/
//! extraEnvs, version differences, IPv6, etcd options, external CA and external etcd.

mod manifests_support;

use std::path::Path;
use std::time::Duration;

use firstboot::manifests::{
    self, AddonImageParams, Arg, Component, ComponentTags, ControlPlaneParams, EtcdMember,
    EtcdMembership, EtcdParams, ExternalEtcdParams, HostPathMount, LocalEtcdParams, ManifestError,
};
use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, Probe};
use manifests_support::fixture;

fn params(version: &str) -> ControlPlaneParams {
    let mut p = ControlPlaneParams::new(version, "vm", "192.0.2.2".parse().unwrap());
    p.host_ca_dirs = vec!["/etc/ca-certificates".into()];
    p
}

/// Generate the manifest text and read it back as a Pod (what the kubelet would see).
fn pod(p: &ControlPlaneParams, c: Component) -> Pod {
    pod_with(p, c, &EtcdMembership::NewCluster)
}

fn pod_with(p: &ControlPlaneParams, c: Component, m: &EtcdMembership) -> Pod {
    let yaml = manifests::manifest_yaml(p, c, m).unwrap();
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn container(pod: &Pod) -> &Container {
    &pod.spec.as_ref().unwrap().containers[0]
}

fn command(pod: &Pod) -> Vec<String> {
    container(pod).command.clone().unwrap()
}

fn flags(pod: &Pod) -> Vec<String> {
    command(pod)[1..].to_vec()
}

fn flag<'a>(cmd: &'a [String], name: &str) -> Vec<&'a str> {
    let prefix = format!("--{name}=");
    cmd.iter().filter_map(|f| f.strip_prefix(&prefix)).collect()
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn volume_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .unwrap()
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.clone())
        .collect()
}

/// Sorted by flag name, then value (kubeadm's order), e.g. `--initial-cluster=` before
/// `--initial-cluster-state=`.
fn is_sorted(v: &[String]) -> bool {
    let key = |f: &String| {
        let (n, v) = f.trim_start_matches('-').split_once('=').unwrap_or((f, ""));
        (n.to_string(), v.to_string())
    };
    v.windows(2).all(|w| key(&w[0]) <= key(&w[1]))
}

fn probe_host(p: &Option<Probe>) -> String {
    p.as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap()
        .host
        .clone()
        .unwrap()
}

#[test]
fn extra_args_override_defaults_and_follow_in_user_order() {
    let mut p = params("v1.36.2");
    p.api_server.extra_args = vec![
        Arg::new("service-account-issuer", "https://issuer.example"),
        Arg::new("audit-log-path", "/var/log/audit.log"),
        Arg::new(
            "service-account-issuer",
            "https://kubernetes.default.svc.cluster.local",
        ),
        Arg::new("advertise-address", "198.51.100.7"),
    ];
    let f = flags(&pod(&p, Component::KubeApiserver));
    let n = p.api_server.extra_args.len();
    let (base, tail) = f.split_at(f.len() - n);
    // the user's arguments come last, verbatim and in the user's order (duplicates kept)
    assert_eq!(
        tail,
        [
            "--service-account-issuer=https://issuer.example",
            "--audit-log-path=/var/log/audit.log",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--advertise-address=198.51.100.7",
        ]
    );
    // the defaults stay sorted and lose every overridden name
    assert!(is_sorted(base), "{base:?}");
    assert!(flag(base, "service-account-issuer").is_empty());
    assert!(flag(base, "advertise-address").is_empty());
    assert_eq!(flag(base, "secure-port"), ["6443"]);
    assert_eq!(flag(&f, "service-account-issuer").len(), 2);
}

#[test]
fn kubeadm_1_35_sorts_the_whole_list() {
    let mut p = params("v1.35.4");
    p.kubeadm_minor = Some(35);
    p.scheduler.extra_args = vec![
        Arg::new("v", "2"),
        Arg::new("bind-address", "0.0.0.0"),
        Arg::new("a-flag", "x"),
    ];
    let f = flags(&pod(&p, Component::KubeScheduler));
    assert!(is_sorted(&f), "{f:?}");
    assert_eq!(f.first().unwrap(), "--a-flag=x");
    assert_eq!(flag(&f, "bind-address"), ["0.0.0.0"]);
    // the same config with kubeadm 1.36 keeps the user's order at the end
    p.kubeadm_minor = Some(36);
    let f = flags(&pod(&p, Component::KubeScheduler));
    assert_eq!(
        &f[f.len() - 3..],
        ["--v=2", "--bind-address=0.0.0.0", "--a-flag=x"]
    );
}

#[test]
fn authorization_mode_verbatim_and_authorization_config_drops_default() {
    let mut p = params("v1.36.2");
    p.api_server.extra_args = vec![Arg::new("authorization-mode", "RBAC,Node,Bogus")];
    let f = flags(&pod(&p, Component::KubeApiserver));
    assert_eq!(flag(&f, "authorization-mode"), ["RBAC,Node,Bogus"]);
    p.api_server.extra_args = vec![Arg::new(
        "authorization-config",
        "/etc/kubernetes/authz.yaml",
    )];
    let f = flags(&pod(&p, Component::KubeApiserver));
    assert!(flag(&f, "authorization-mode").is_empty(), "{f:?}");
    assert_eq!(
        f.last().unwrap(),
        "--authorization-config=/etc/kubernetes/authz.yaml"
    );
}

#[test]
fn extra_volumes_add_and_replace_by_name() {
    let mut p = params("v1.36.2");
    p.api_server.extra_volumes = vec![
        HostPathMount {
            name: "audit".into(),
            host_path: "/var/log/kubernetes".into(),
            mount_path: "/var/log/kubernetes".into(),
            read_only: false,
            path_type: None,
        },
        HostPathMount {
            name: "k8s-certs".into(),
            host_path: "/srv/pki".into(),
            mount_path: "/etc/kubernetes/pki".into(),
            read_only: true,
            path_type: Some("Directory".into()),
        },
    ];
    let yaml = manifests::manifest_yaml(&p, Component::KubeApiserver, &EtcdMembership::NewCluster)
        .unwrap();
    // an unset pathType is written as `type: ""`, like kubeadm
    assert!(
        yaml.contains(
            "  - hostPath:\n      path: /var/log/kubernetes\n      type: \"\"\n    name: audit\n"
        ),
        "{yaml}"
    );
    let pod: Pod = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(
        volume_names(&pod),
        ["audit", "ca-certs", "etc-ca-certificates", "k8s-certs"]
    );
    let vols = pod.spec.as_ref().unwrap().volumes.as_ref().unwrap();
    let certs = vols
        .iter()
        .find(|v| v.name == "k8s-certs")
        .unwrap()
        .host_path
        .as_ref()
        .unwrap();
    assert_eq!(certs.path, "/srv/pki");
    assert_eq!(certs.type_.as_deref(), Some("Directory"));
    let mounts = container(&pod).volume_mounts.as_ref().unwrap();
    let audit = mounts.iter().find(|m| m.name == "audit").unwrap();
    assert_eq!(
        audit.read_only, None,
        "read-write mounts carry no readOnly key"
    );
    assert_eq!(mounts.iter().filter(|m| m.name == "k8s-certs").count(), 1);
    // scheduler extra volume
    p.scheduler.extra_volumes = vec![HostPathMount {
        name: "sched-cfg".into(),
        host_path: "/etc/kubernetes/sched.yaml".into(),
        mount_path: "/etc/kubernetes/sched.yaml".into(),
        read_only: true,
        path_type: Some("File".into()),
    }];
    assert_eq!(
        volume_names(&pod_with(
            &p,
            Component::KubeScheduler,
            &EtcdMembership::NewCluster
        )),
        ["kubeconfig", "sched-cfg"]
    );
}

#[test]
fn optional_ca_dirs_follow_the_host() {
    let mut p = params("v1.36.2");
    p.host_ca_dirs = vec![];
    assert_eq!(
        volume_names(&pod(&p, Component::KubeApiserver)),
        ["ca-certs", "k8s-certs"]
    );
    p.host_ca_dirs = vec!["/etc/pki/ca-trust".into(), "/etc/pki/tls/certs".into()];
    assert_eq!(
        volume_names(&pod(&p, Component::KubeControllerManager)),
        [
            "ca-certs",
            "etc-pki-ca-trust",
            "etc-pki-tls-certs",
            "k8s-certs",
            "kubeconfig"
        ]
    );
    // detection under a root directory
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("usr/share/ca-certificates")).unwrap();
    assert_eq!(
        manifests::detect_optional_ca_dirs(root.path()),
        ["/usr/share/ca-certificates"]
    );
}

#[test]
fn extra_envs_merge_with_proxy_vars() {
    let mut p = params("v1.36.2");
    p.proxy_env = manifests::proxy_env_vars(vec![
        ("HTTPS_PROXY".to_string(), "http://proxy:3128".to_string()),
        ("no_proxy".to_string(), "localhost".to_string()),
        ("FTP_PROXY".to_string(), String::new()),
        ("PATH".to_string(), "/bin".to_string()),
    ]);
    p.api_server.extra_envs = vec![
        env("no_proxy", "localhost,10.0.0.0/8"),
        env("GOMAXPROCS", "2"),
    ];
    p.etcd = EtcdParams::Local(LocalEtcdParams {
        extra_envs: vec![env("ETCD_X", "1")],
        ..Default::default()
    });
    let api = pod(&p, Component::KubeApiserver);
    let got: Vec<(String, String)> = container(&api)
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| (e.name.clone(), e.value.clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("GOMAXPROCS".to_string(), "2".to_string()),
            ("HTTPS_PROXY".to_string(), "http://proxy:3128".to_string()),
            ("no_proxy".to_string(), "localhost,10.0.0.0/8".to_string()),
        ]
    );
    // controller-manager gets the proxy vars only; etcd gets only its own extraEnvs
    let kcm = pod(&p, Component::KubeControllerManager);
    assert_eq!(container(&kcm).env.as_ref().unwrap().len(), 2);
    let etcd = pod(&p, Component::Etcd);
    assert_eq!(
        container(&etcd).env.as_ref().unwrap(),
        &vec![env("ETCD_X", "1")]
    );
    // without any variables there is no env key at all
    let plain = manifests::manifest_yaml(
        &params("v1.36.2"),
        Component::KubeApiserver,
        &EtcdMembership::NewCluster,
    )
    .unwrap();
    assert!(!plain.contains("env:"));
}

#[test]
fn version_differences_1_35_1_36_1_37() {
    // kubeadm 1.35 behaviour
    let mut p35 = params("v1.35.4");
    p35.kubeadm_minor = Some(35);
    let kcm = manifests::manifest_yaml(
        &p35,
        Component::KubeControllerManager,
        &EtcdMembership::NewCluster,
    )
    .unwrap();
    assert!(kcm.contains("  creationTimestamp: null\n"), "{kcm}");
    let kcm: Pod = serde_yaml::from_str(&kcm).unwrap();
    assert!(volume_names(&kcm).contains(&"flexvolume-dir".to_string()));
    let sched = pod(&p35, Component::KubeScheduler);
    let c = container(&sched);
    // the scheduler already used /livez + /readyz in 1.35 (since kubeadm 1.32; the spec's note is older)
    assert!(c.readiness_probe.is_some());
    let live = c
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(live.path.as_deref(), Some("/livez"));
    assert_eq!(
        container(&pod(&p35, Component::Etcd)).image.as_deref(),
        Some("registry.k8s.io/etcd:3.6.6-0")
    );
    assert_eq!(
        container(&sched).image.as_deref(),
        Some("registry.k8s.io/kube-scheduler:v1.35.4")
    );

    // the same 1.35 control plane deployed with kubeadm 1.36 (default when the target is 1.35 is
    // kubeadm 1.35; 1.36 keeps its own behaviour and looks etcd up by target minor)
    let mut p35_by_36 = params("v1.35.4");
    p35_by_36.kubeadm_minor = Some(36);
    assert_eq!(
        container(&pod(&p35_by_36, Component::Etcd))
            .image
            .as_deref(),
        Some("registry.k8s.io/etcd:3.6.8-0")
    );
    assert!(
        !volume_names(&pod(&p35_by_36, Component::KubeControllerManager))
            .contains(&"flexvolume-dir".to_string())
    );

    // kubeadm 1.36: no creationTimestamp, scheduler /livez + /readyz, no flexvolume-dir
    let p36 = params("v1.36.0");
    let text =
        manifests::manifest_yaml(&p36, Component::KubeScheduler, &EtcdMembership::NewCluster)
            .unwrap();
    assert!(!text.contains("creationTimestamp"));
    let s36 = pod(&p36, Component::KubeScheduler);
    assert!(container(&s36).readiness_probe.is_some());

    // 1.37: 1.36 behaviour with the new image tags; etcd from the nearest end of the map
    let p37 = params("v1.37.1");
    assert_eq!(p37.effective_kubeadm_minor().unwrap(), 37);
    assert_eq!(
        container(&pod(&p37, Component::KubeApiserver))
            .image
            .as_deref(),
        Some("registry.k8s.io/kube-apiserver:v1.37.1")
    );
    assert_eq!(
        container(&pod(&p37, Component::Etcd)).image.as_deref(),
        Some("registry.k8s.io/etcd:3.6.8-0")
    );
    let a36 = flags(&pod(&params("v1.36.2"), Component::KubeApiserver));
    let a37 = flags(&pod(&p37, Component::KubeApiserver));
    assert_eq!(a36, a37, "1.37 uses the same flags as 1.36");
    // 1.35 target defaults to kubeadm 1.35 behaviour
    assert_eq!(params("v1.35.0").effective_kubeadm_minor().unwrap(), 35);
    // component tag override (a bundle's componentVersions)
    let mut po = params("v1.36.2");
    po.component_tags = Some(ComponentTags {
        etcd: "3.6.9-0".into(),
        coredns: "v1.14.3".into(),
        pause: "3.10.3".into(),
    });
    assert_eq!(
        container(&pod(&po, Component::Etcd)).image.as_deref(),
        Some("registry.k8s.io/etcd:3.6.9-0")
    );
}

#[test]
fn ipv6_advertise_address() {
    let p = ControlPlaneParams::new("v1.36.2", "vm6", "fd00::2".parse().unwrap());
    let api_text =
        manifests::manifest_yaml(&p, Component::KubeApiserver, &EtcdMembership::NewCluster)
            .unwrap();
    // a value starting with '[' cannot be a plain scalar: go-yaml single-quotes it
    assert!(
        api_text.contains("    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: '[fd00::2]:6443'\n"),
        "{api_text}"
    );
    let api: Pod = serde_yaml::from_str(&api_text).unwrap();
    let f = flags(&api);
    assert_eq!(flag(&f, "advertise-address"), ["fd00::2"]);
    assert_eq!(flag(&f, "etcd-servers"), ["https://[::1]:2379"]);
    assert_eq!(probe_host(&container(&api).liveness_probe), "fd00::2");

    let etcd = pod(&p, Component::Etcd);
    let f = flags(&etcd);
    assert_eq!(
        flag(&f, "listen-client-urls"),
        ["https://[::1]:2379,https://[fd00::2]:2379"]
    );
    assert_eq!(
        flag(&f, "advertise-client-urls"),
        ["https://[fd00::2]:2379"]
    );
    assert_eq!(flag(&f, "listen-peer-urls"), ["https://[fd00::2]:2380"]);
    assert_eq!(flag(&f, "initial-cluster"), ["vm6=https://[fd00::2]:2380"]);
    assert_eq!(flag(&f, "listen-metrics-urls"), ["http://[::1]:2381"]);
    assert_eq!(probe_host(&container(&etcd).startup_probe), "::1");
    assert_eq!(
        etcd.metadata.annotations.as_ref().unwrap()
            ["kubeadm.kubernetes.io/etcd.advertise-client-urls"],
        "https://[fd00::2]:2379"
    );
}

#[test]
fn unspecified_advertise_address_probes_pod_ip() {
    let p = ControlPlaneParams::new("v1.36.2", "vm", "0.0.0.0".parse().unwrap());
    let api = pod(&p, Component::KubeApiserver);
    assert_eq!(probe_host(&container(&api).readiness_probe), "");
}

#[test]
fn etcd_data_dir_and_extra_args() {
    let mut p = params("v1.36.2");
    p.etcd = EtcdParams::Local(LocalEtcdParams {
        data_dir: "/data/etcd".into(),
        image_repository: Some("mirror.example/k8s".into()),
        image_tag: Some("3.6.9-0".into()),
        extra_args: vec![
            Arg::new(
                "listen-metrics-urls",
                "https://127.0.0.1:9379,http://127.0.0.1:2381",
            ),
            Arg::new("advertise-client-urls", "https://etcd.example:2379"),
            Arg::new("quota-backend-bytes", "8589934592"),
        ],
        extra_envs: vec![],
    });
    let etcd = pod(&p, Component::Etcd);
    let f = flags(&etcd);
    assert_eq!(flag(&f, "data-dir"), ["/data/etcd"]);
    assert_eq!(
        &f[f.len() - 3..],
        [
            "--listen-metrics-urls=https://127.0.0.1:9379,http://127.0.0.1:2381",
            "--advertise-client-urls=https://etcd.example:2379",
            "--quota-backend-bytes=8589934592",
        ]
    );
    let c = container(&etcd);
    assert_eq!(c.image.as_deref(), Some("mirror.example/k8s/etcd:3.6.9-0"));
    // probes follow the first metrics URL (scheme, host, port)
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 9379);
    let live = c
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(live.scheme.as_deref(), Some("HTTPS"));
    assert_eq!(live.host.as_deref(), Some("127.0.0.1"));
    // mounts keep kubeadm's fixed order, volumes are sorted
    let mounts: Vec<(String, String)> = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.name.clone(), m.mount_path.clone()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("etcd-data".to_string(), "/data/etcd".to_string()),
            (
                "etcd-certs".to_string(),
                "/etc/kubernetes/pki/etcd".to_string()
            )
        ]
    );
    assert_eq!(volume_names(&etcd), ["etcd-certs", "etcd-data"]);
    // the user's advertise-client-urls becomes the apiserver's etcd-servers
    let api = flags(&pod(&p, Component::KubeApiserver));
    assert_eq!(flag(&api, "etcd-servers"), ["https://etcd.example:2379"]);
    // the plan creates the data dir 0700
    let plan = manifests::plan_local_etcd(
        &p,
        &EtcdMembership::NewCluster,
        Path::new("/r/etc/kubernetes/manifests"),
        Path::new("/r/data/etcd"),
    )
    .unwrap();
    assert!(plan
        .dirs
        .iter()
        .any(|d| d.path == Path::new("/r/data/etcd") && d.mode == 0o700));
    assert!(plan.files.iter().all(|f| f.mode == 0o600));
    // images list uses the etcd overrides
    let list = manifests::images_list(&p, &AddonImageParams::default()).unwrap();
    assert_eq!(list.last().unwrap(), "mirror.example/k8s/etcd:3.6.9-0");
}

#[test]
fn etcd_join_lists_all_members() {
    let p = params("v1.36.2");
    let members = vec![
        EtcdMember {
            name: "cp1".into(),
            peer_url: "https://10.0.0.4:2380".into(),
        },
        EtcdMember {
            name: "vm".into(),
            peer_url: "https://192.0.2.2:2380".into(),
        },
    ];
    let f = flags(&pod_with(
        &p,
        Component::Etcd,
        &EtcdMembership::Join(members),
    ));
    assert_eq!(
        flag(&f, "initial-cluster"),
        ["cp1=https://10.0.0.4:2380,vm=https://192.0.2.2:2380"]
    );
    assert_eq!(flag(&f, "initial-cluster-state"), ["existing"]);
    assert!(is_sorted(&f), "{f:?}");
    let i = f
        .iter()
        .position(|x| x.starts_with("--initial-cluster="))
        .unwrap();
    assert_eq!(f[i + 1], "--initial-cluster-state=existing");
    let err =
        manifests::manifest_yaml(&p, Component::Etcd, &EtcdMembership::Join(vec![])).unwrap_err();
    assert!(err.to_string().contains("member"), "{err}");
}

#[test]
fn startup_probe_threshold_follows_health_check_timeout() {
    for (secs, want) in [(240, 24), (300, 30), (270, 27), (45, 5)] {
        let mut p = params("v1.36.2");
        p.component_health_check_timeout = Duration::from_secs(secs);
        for c in [
            Component::Etcd,
            Component::KubeApiserver,
            Component::KubeControllerManager,
            Component::KubeScheduler,
        ] {
            let pod = pod(&p, c);
            let s = container(&pod).startup_probe.as_ref().unwrap();
            assert_eq!(s.failure_threshold, Some(want), "{secs}s {c:?}");
            assert_eq!(
                container(&pod)
                    .liveness_probe
                    .as_ref()
                    .unwrap()
                    .failure_threshold,
                Some(8)
            );
        }
    }
}

#[test]
fn controller_manager_options() {
    let mut p = params("v1.36.2");
    p.external_ca = true;
    p.pod_subnet = "10.244.0.0/16".into();
    p.cluster_name = "prod".into();
    p.controller_manager.extra_args = vec![
        Arg::new("bind-address", "0.0.0.0"),
        Arg::new("secure-port", "10300"),
    ];
    let kcm = pod(&p, Component::KubeControllerManager);
    let f = flags(&kcm);
    assert_eq!(flag(&f, "cluster-signing-cert-file"), [""]);
    assert_eq!(flag(&f, "cluster-signing-key-file"), [""]);
    assert_eq!(flag(&f, "allocate-node-cidrs"), ["true"]);
    assert_eq!(flag(&f, "cluster-cidr"), ["10.244.0.0/16"]);
    assert_eq!(flag(&f, "service-cluster-ip-range"), ["10.96.0.0/12"]);
    assert_eq!(flag(&f, "cluster-name"), ["prod"]);
    let c = container(&kcm);
    // an unspecified bind address probes the pod IP; the probe port stays 10257
    assert_eq!(probe_host(&c.liveness_probe), "");
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 10257);
    assert!(c.readiness_probe.is_none());
    // the scheduler probes its bind-address
    p.scheduler.extra_args = vec![Arg::new("bind-address", "192.0.2.2")];
    assert_eq!(
        probe_host(&container(&pod(&p, Component::KubeScheduler)).readiness_probe),
        "192.0.2.2"
    );
    // without podSubnet there is no node CIDR allocation
    let f = flags(&pod(&params("v1.36.2"), Component::KubeControllerManager));
    assert!(
        flag(&f, "allocate-node-cidrs").is_empty()
            && flag(&f, "service-cluster-ip-range").is_empty()
    );
    assert_eq!(
        flag(&f, "cluster-signing-key-file"),
        ["/etc/kubernetes/pki/ca.key"]
    );
}

#[test]
fn custom_cert_dir_and_networking() {
    let mut p = params("v1.36.2");
    p.cert_dir = "/srv/kubernetes/pki/".into();
    p.dns_domain = "corp.internal".into();
    p.service_subnet = "10.32.0.0/16".into();
    p.bind_port = 8443;
    let api = pod(&p, Component::KubeApiserver);
    let f = flags(&api);
    assert_eq!(flag(&f, "client-ca-file"), ["/srv/kubernetes/pki/ca.crt"]);
    assert_eq!(
        flag(&f, "service-account-issuer"),
        ["https://kubernetes.default.svc.corp.internal"]
    );
    assert_eq!(flag(&f, "service-cluster-ip-range"), ["10.32.0.0/16"]);
    assert_eq!(flag(&f, "secure-port"), ["8443"]);
    assert_eq!(
        container(&api).ports.as_ref().unwrap()[0].container_port,
        8443
    );
    assert_eq!(
        api.metadata.annotations.as_ref().unwrap()
            ["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"],
        "192.0.2.2:8443"
    );
    let etcd = flags(&pod(&p, Component::Etcd));
    assert_eq!(
        flag(&etcd, "cert-file"),
        ["/srv/kubernetes/pki/etcd/server.crt"]
    );
}

#[test]
fn external_etcd() {
    let mut p = params("v1.36.2");
    p.etcd = EtcdParams::External(ExternalEtcdParams {
        endpoints: vec![
            "https://10.0.0.10:2379".into(),
            "https://10.0.0.11:2379".into(),
        ],
        ca_file: "/etc/etcd/pki/ca.crt".into(),
        cert_file: "/etc/etcd/pki/client.crt".into(),
        key_file: "/etc/etcd/pki/client.key".into(),
    });
    let api = pod(&p, Component::KubeApiserver);
    let f = flags(&api);
    assert_eq!(
        flag(&f, "etcd-servers"),
        ["https://10.0.0.10:2379,https://10.0.0.11:2379"]
    );
    assert_eq!(flag(&f, "etcd-cafile"), ["/etc/etcd/pki/ca.crt"]);
    assert_eq!(flag(&f, "etcd-certfile"), ["/etc/etcd/pki/client.crt"]);
    assert!(volume_names(&api).contains(&"etcd-certs-0".to_string()));
    let err =
        manifests::manifest_yaml(&p, Component::Etcd, &EtcdMembership::NewCluster).unwrap_err();
    assert!(
        matches!(err, ManifestError::Invalid { ref field, .. } if field == "etcd"),
        "{err}"
    );
    let list = manifests::images_list(&p, &AddonImageParams::default()).unwrap();
    assert!(!list.iter().any(|i| i.contains("etcd")), "{list:?}");
}

#[test]
fn images_list_options() {
    let mut p = params("v1.36.2");
    p.image_repository = "mirror.example/k8s".into();
    let addons = AddonImageParams {
        dns_disabled: false,
        dns_image_repository: None,
        dns_image_tag: Some("v1.14.3".into()),
        proxy_disabled: true,
    };
    assert_eq!(
        manifests::images_list(&p, &addons).unwrap(),
        [
            "mirror.example/k8s/kube-apiserver:v1.36.2",
            "mirror.example/k8s/kube-controller-manager:v1.36.2",
            "mirror.example/k8s/kube-scheduler:v1.36.2",
            "mirror.example/k8s/coredns:v1.14.3",
            "mirror.example/k8s/pause:3.10.2",
            "mirror.example/k8s/etcd:3.6.8-0",
        ]
    );
    let addons = AddonImageParams {
        dns_disabled: true,
        ..Default::default()
    };
    let list = manifests::images_list(&params("ci/v1.37.0-alpha.2.10+0123abcd"), &addons).unwrap();
    assert_eq!(
        list[0],
        "gcr.io/k8s-staging-ci-images/kube-apiserver:v1.37.0-alpha.2.10_0123abcd"
    );
    assert_eq!(
        list[3],
        "gcr.io/k8s-staging-ci-images/kube-proxy:v1.37.0-alpha.2.10_0123abcd"
    );
    assert_eq!(list[4], "registry.k8s.io/pause:3.10.2");
    assert_eq!(list.len(), 6);
    // the reference list is the default
    let reference: Vec<String> = fixture("config/images-list.txt")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        manifests::images_list(&params("v1.36.2"), &AddonImageParams::default()).unwrap(),
        reference
    );
}

#[test]
fn invalid_input_names_the_field() {
    let mut p = params("v1.36.2");
    p.api_server.extra_args = vec![Arg::new("--v", "2")];
    let err = manifests::manifest_yaml(&p, Component::KubeApiserver, &EtcdMembership::NewCluster)
        .unwrap_err();
    assert!(
        err.to_string().contains("apiServer.extraArgs[0].name"),
        "{err}"
    );
    let mut p = params("v1.36.2");
    p.controller_manager.extra_volumes = vec![HostPathMount {
        name: "x".into(),
        ..Default::default()
    }];
    let err = manifests::plan_control_plane(&p, Path::new("/m")).unwrap_err();
    assert!(
        err.to_string()
            .contains("controllerManager.extraVolumes[0]"),
        "{err}"
    );
    let err = manifests::plan_control_plane(&params("stable-1"), Path::new("/m")).unwrap_err();
    assert!(err.to_string().contains("kubernetesVersion"), "{err}");
}

#[test]
fn dry_run_listing_shows_paths_modes_and_content() {
    let p = params("v1.36.2");
    let plan = manifests::plan_component(
        &p,
        Component::KubeScheduler,
        Path::new("/r/etc/kubernetes/manifests"),
    )
    .unwrap();
    let text = plan.to_string();
    assert!(
        text.contains("mkdir /r/etc/kubernetes/manifests (mode 0700, if missing)"),
        "{text}"
    );
    assert!(
        text.contains("write /r/etc/kubernetes/manifests/kube-scheduler.yaml (mode 0600,"),
        "{text}"
    );
    assert!(text.contains("    - kube-scheduler\n"), "{text}");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["files"][0]["mode"], 0o600);
}

#[test]
fn semantic_manifest_comparison() {
    let p = params("v1.36.2");
    let a = manifests::manifest_yaml(&p, Component::KubeApiserver, &EtcdMembership::NewCluster)
        .unwrap();
    // re-indented / reordered text of the same pod compares equal
    let v: serde_yaml::Value = serde_yaml::from_str(&a).unwrap();
    let b = serde_json::to_string_pretty(&v).unwrap();
    assert!(manifests::same_pod(&a, &b));
    let mut q = p.clone();
    q.api_server.extra_args = vec![Arg::new("v", "2")];
    let c = manifests::manifest_yaml(&q, Component::KubeApiserver, &EtcdMembership::NewCluster)
        .unwrap();
    assert!(!manifests::same_pod(&a, &c));
    assert!(!manifests::same_pod(&a, "not: [a pod"));
    let pod = manifests::pod_from_yaml(&a, "kube-apiserver.yaml").unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("kube-apiserver"));
}
