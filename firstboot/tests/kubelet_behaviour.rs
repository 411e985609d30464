//! Behaviour of the kubelet files: merging the user's KubeletConfiguration, kubeadm-flags.env
//! flags and quoting, CRI socket handling.

mod manifests_support;

use std::path::Path;

use firstboot::kubelet::{
    self, Arg, ArgOrder, KubeletConfigParams, KubeletError, KubeletFlagsParams, Taint,
};
use serde_json::{json, Value};

const CRI: &str = "unix:///var/run/containerd/containerd.sock";

fn node_config(user: Option<Value>) -> Value {
    let mut p = KubeletConfigParams::new(CRI);
    p.user_config = user;
    let yaml = kubelet::config_yaml(&p).unwrap();
    serde_yaml::from_str(&yaml).unwrap()
}

#[test]
fn user_kubelet_configuration_is_merged_like_kubeadm() {
    let user = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "clusterDomain": "corp.internal",
        "rotateCertificates": false,
        "syncFrequency": "5m",
        "shutdownGracePeriod": "90s",
        "maxPods": 250,
        "featureGates": {"SomeGate": true},
        "evictionHard": {"memory.available": "200Mi"},
        "authentication": {"webhook": {"cacheTTL": "2m"}},
        "logging": {"format": "json", "verbosity": 2}
    });
    let c = node_config(Some(user));
    // the user's values win (with a warning where they differ from kubeadm's)…
    assert_eq!(c["cgroupDriver"], "cgroupfs");
    assert_eq!(c["clusterDomain"], "corp.internal");
    assert_eq!(c["maxPods"], 250);
    assert_eq!(c["featureGates"]["SomeGate"], true);
    assert_eq!(c["evictionHard"]["memory.available"], "200Mi");
    assert_eq!(c["logging"]["format"], "json");
    assert_eq!(c["logging"]["verbosity"], 2);
    // …except rotateCertificates, which kubeadm forces on
    assert_eq!(c["rotateCertificates"], true);
    // durations are re-serialised as Go prints them
    assert_eq!(c["syncFrequency"], "5m0s");
    assert_eq!(c["shutdownGracePeriod"], "1m30s");
    assert_eq!(c["authentication"]["webhook"]["cacheTTL"], "2m0s");
    // kubeadm's defaults fill what the user left unset, next to the user's keys
    assert_eq!(c["authentication"]["webhook"]["enabled"], true);
    assert_eq!(
        c["authentication"]["x509"]["clientCAFile"],
        "/etc/kubernetes/pki/ca.crt"
    );
    assert_eq!(c["authorization"]["mode"], "Webhook");
    assert_eq!(c["clusterDNS"], json!(["10.96.0.10"]));
    assert_eq!(c["staticPodPath"], "/etc/kubernetes/manifests");
    assert_eq!(c["healthzPort"], 10248);
    assert_eq!(c["containerRuntimeEndpoint"], CRI);
    assert_eq!(c["logging"]["options"]["text"]["infoBufferSize"], "0");
    assert_eq!(c["volumeStatsAggPeriod"], "0s");
}

#[test]
fn output_keys_are_sorted_like_kubeadm() {
    let mut p = KubeletConfigParams::new(CRI);
    p.user_config =
        Some(json!({"maxPods": 110, "address": "0.0.0.0", "serializeImagePulls": false}));
    let yaml = kubelet::config_yaml(&p).unwrap();
    let top: Vec<&str> = yaml
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    let mut sorted = top.clone();
    sorted.sort();
    assert_eq!(top, sorted);
    assert!(
        yaml.starts_with("address: 0.0.0.0\napiVersion: kubelet.config.k8s.io/v1beta1\n"),
        "{yaml}"
    );
    assert!(yaml.contains("\nmaxPods: 110\n"));
    assert!(yaml.contains("\nserializeImagePulls: false\n"));
}

#[test]
fn invalid_user_documents_are_rejected_with_the_field() {
    let mut p = KubeletConfigParams::new(CRI);
    p.user_config =
        Some(json!({"apiVersion": "kubelet.config.k8s.io/v1", "kind": "KubeletConfiguration"}));
    let err = kubelet::config_yaml(&p).unwrap_err();
    assert!(
        matches!(err, KubeletError::InvalidConfig { ref field, .. } if field == "apiVersion"),
        "{err}"
    );
    p.user_config = Some(json!({"kind": "KubeProxyConfiguration"}));
    assert!(kubelet::config_yaml(&p)
        .unwrap_err()
        .to_string()
        .contains("kind"));
    p.user_config = Some(json!({"syncFrequency": "soon"}));
    let err = kubelet::config_yaml(&p).unwrap_err();
    assert!(err.to_string().contains("syncFrequency"), "{err}");
    p.user_config = Some(json!({"authentication": "none"}));
    assert!(kubelet::config_yaml(&p)
        .unwrap_err()
        .to_string()
        .contains("authentication"));
}

#[test]
fn resolv_conf_with_systemd_resolved() {
    let mut p = KubeletConfigParams::new(CRI);
    p.systemd_resolved_active = true;
    let c: Value = serde_yaml::from_str(&kubelet::config_yaml(&p).unwrap()).unwrap();
    assert_eq!(c["resolvConf"], "/run/systemd/resolve/resolv.conf");
    // the cluster-wide config carries it too (kubeadm mutates the config it uploads)
    assert_eq!(
        kubelet::cluster_kubelet_config(&p).unwrap()["resolvConf"],
        "/run/systemd/resolve/resolv.conf"
    );
    p.user_config = Some(json!({"resolvConf": "/etc/resolv.custom"}));
    let c: Value = serde_yaml::from_str(&kubelet::config_yaml(&p).unwrap()).unwrap();
    assert_eq!(c["resolvConf"], "/etc/resolv.custom");
    p.systemd_resolved_active = false;
    p.user_config = None;
    let c: Value = serde_yaml::from_str(&kubelet::config_yaml(&p).unwrap()).unwrap();
    assert!(c.get("resolvConf").is_none());
}

#[test]
fn cluster_dns_and_domain_follow_networking() {
    let mut p = KubeletConfigParams::new(CRI);
    p.service_subnet = "fd00:10:96::/108,10.96.0.0/12".into();
    p.dns_domain = "k8s.test".into();
    p.cert_dir = "/srv/pki".into();
    let c: Value = serde_yaml::from_str(&kubelet::config_yaml(&p).unwrap()).unwrap();
    assert_eq!(c["clusterDNS"], json!(["fd00:10:96::a"]));
    assert_eq!(c["clusterDomain"], "k8s.test");
    assert_eq!(
        c["authentication"]["x509"]["clientCAFile"],
        "/srv/pki/ca.crt"
    );
    p.service_subnet = "not-a-cidr".into();
    let c: Value = serde_yaml::from_str(&kubelet::config_yaml(&p).unwrap()).unwrap();
    assert_eq!(c["clusterDNS"], json!(["10.96.0.10"]));
}

#[test]
fn flags_env_hostname_override_and_extra_args() {
    // node name differs from the hostname → --hostname-override
    let f = KubeletFlagsParams::new("cp-1", "debian", CRI);
    assert_eq!(
        kubelet::kubeadm_flags_env(&f),
        "KUBELET_KUBEADM_ARGS=\"--hostname-override=cp-1\"\n"
    );
    // extra args are appended in user order after the sorted base and replace base names
    let mut f = KubeletFlagsParams::new("cp-1", "debian", CRI);
    f.kubelet_extra_args = vec![
        Arg::new("node-ip", "192.0.2.2"),
        Arg::new("hostname-override", "Other"),
        Arg::new("v", "2"),
    ];
    assert_eq!(
        kubelet::kubeadm_flags_env(&f),
        "KUBELET_KUBEADM_ARGS=\"--node-ip=192.0.2.2 --hostname-override=Other --v=2\"\n"
    );
    // a hostname-override equal to the hostname adds nothing from the base
    let mut f = KubeletFlagsParams::new("cp-1", "debian", CRI);
    f.kubelet_extra_args = vec![Arg::new("hostname-override", "debian")];
    assert_eq!(kubelet::kubelet_flags(&f), ["--hostname-override=debian"]);
}

#[test]
fn flags_env_worker_taints_and_legacy_cri_flag() {
    let mut f = KubeletFlagsParams::new("w1", "host1", CRI);
    f.node_local_cri_socket = false;
    f.register_taints = vec![
        Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: "NoSchedule".into(),
        },
        Taint {
            key: "spot".into(),
            value: String::new(),
            effect: "PreferNoSchedule".into(),
        },
    ];
    f.kubelet_extra_args = vec![Arg::new("a-first", "1")];
    // spec §19.7 shape: sorted base, then the extra args
    assert_eq!(
        kubelet::kubelet_flags(&f),
        [
            "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
            "--hostname-override=w1",
            "--register-with-taints=dedicated=gpu:NoSchedule,spot:PreferNoSchedule",
            "--a-first=1",
        ]
    );
    f.arg_order = ArgOrder::SortedAll;
    assert_eq!(kubelet::kubelet_flags(&f)[0], "--a-first=1");
    // without NodeLocalCRISocket there is no instance-config.yaml and config.yaml keeps "".
    let c = KubeletConfigParams::new(CRI);
    let plan = kubelet::plan_kubelet_files(&c, &f, Path::new("/r/var/lib/kubelet")).unwrap();
    let names: Vec<String> = plan
        .files
        .iter()
        .map(|p| p.path.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "/r/var/lib/kubelet/kubeadm-flags.env",
            "/r/var/lib/kubelet/config.yaml"
        ]
    );
    assert!(plan.files[1]
        .contents
        .contains("containerRuntimeEndpoint: \"\"\n"));
}

#[test]
fn flags_env_quotes_like_go() {
    let mut f = KubeletFlagsParams::new("vm", "vm", CRI);
    f.kubelet_extra_args = vec![Arg::new("node-labels", r#"a="b",c=\d"#)];
    assert_eq!(
        kubelet::kubeadm_flags_env(&f),
        "KUBELET_KUBEADM_ARGS=\"--node-labels=a=\\\"b\\\",c=\\\\d\"\n"
    );
    // and reads back
    let back =
        kubelet::parse_kubeadm_flags_env("KUBELET_KUBEADM_ARGS=\"--node-ip=10.0.0.1 --v=2\"\n")
            .unwrap();
    assert_eq!(back, [Arg::new("node-ip", "10.0.0.1"), Arg::new("v", "2")]);
}

#[test]
fn cri_socket_flows_into_instance_config_and_config() {
    let sock = "unix:///var/run/crio/crio.sock";
    let c = KubeletConfigParams::new(sock);
    let f = KubeletFlagsParams::new("vm", "vm", sock);
    let plan = kubelet::plan_kubelet_files(&c, &f, Path::new("/k")).unwrap();
    assert_eq!(
        plan.get(Path::new("/k/instance-config.yaml"))
            .unwrap()
            .contents,
        "containerRuntimeEndpoint: \"unix:///var/run/crio/crio.sock\"\n"
    );
    assert!(plan
        .get(Path::new("/k/config.yaml"))
        .unwrap()
        .contents
        .contains("\ncontainerRuntimeEndpoint: unix:///var/run/crio/crio.sock\n"));
    let err = kubelet::plan_kubelet_files(&KubeletConfigParams::new(""), &f, Path::new("/k"))
        .unwrap_err();
    assert!(err.to_string().contains("criSocket"), "{err}");
}
