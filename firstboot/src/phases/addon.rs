//! Phase `addon`: sub-phase `coredns` creates CoreDNS (ConfigMap `coredns`, RBAC,
//! ServiceAccount, Deployment, Service `kube-dns`) and sub-phase `kube-proxy` creates kube-proxy
//! (ConfigMap with the KubeProxyConfiguration, DaemonSet, ServiceAccount, RBAC) in
//! `kube-system`, as kubeadm does (spec §11). A sub-phase that is disabled in the configuration
//! (`dns.disabled`, `proxy.disabled`) or skipped creates nothing.
//!
//! Re-runs keep what kubeadm keeps: the CoreDNS replica count of an existing Deployment, and a
//! `Corefile` the user changed (an existing ConfigMap whose Corefile is non-empty and differs from
//! kubeadm's default is left alone).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, Deployment, DeploymentSpec,
    DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
    EnvVarSource, HTTPGetAction, HostPathVolumeSource, KeyToPath, ObjectFieldSelector,
    PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Toleration, Volume,
    VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::bootstrap_token::{
    cluster_role_binding, configmap_reader_role, role_binding, subject, NODE_BOOTSTRAP_GROUP,
};
use super::{Context, Phase, Plan, PlanItem};
use crate::config::{NodeConfig, CONTROL_PLANE_TAINT_KEY};
use crate::kube::{ObjectAction, ObjectItem};
use crate::manifests::{self, AddonImageParams};

/// Namespace of both add-ons.
pub const NAMESPACE: &str = "kube-system";
/// Annotation marking a kubeadm-generated component config (spec §6.4).
pub const COMPONENT_CONFIG_HASH_ANNOTATION: &str = "kubeadm.kubernetes.io/component-config.hash";
/// CoreDNS replicas on first install.
pub const COREDNS_REPLICAS: i32 = 2;

/// The `addon` phase.
pub struct Addon;

/// Which add-ons are disabled for this run: `(dns, proxy)`. An add-on counts as disabled when
/// the configuration says so or when `addon` or its sub-phase is in `skip` — kubeadm records
/// exactly this as `dns.disabled`/`proxy.disabled` in the uploaded ClusterConfiguration.
pub fn disabled_addons(cfg: &NodeConfig, skip: &[String]) -> (bool, bool) {
    let skipped = |sub: &str| {
        skip.iter().any(|s| {
            let (top, sp) = crate::runner::catalog::split(s);
            top == "addon" && (sp.is_none() || sp == Some(sub))
        })
    };
    (
        cfg.cluster.dns.disabled || skipped("coredns"),
        cfg.cluster.proxy.disabled || skipped("kube-proxy"),
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn meta(name: &str, labels_: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(NAMESPACE.into()),
        labels: (!labels_.is_empty()).then(|| labels(labels_)),
        ..Default::default()
    }
}

fn strings(x: &[&str]) -> Vec<String> {
    x.iter().map(|s| s.to_string()).collect()
}

/// The default Corefile for `dns_domain` (spec §11.1).
pub fn corefile(dns_domain: &str) -> String {
    let cache = if dns_domain.is_empty() {
        "    cache 30\n".to_string()
    } else {
        format!(
            "    cache 30 {{\n       disable success {dns_domain}\n       disable denial {dns_domain}\n    }}\n"
        )
    };
    format!(
        ".:53 {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n    ready\n    kubernetes {dns_domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n    prometheus :9153\n    forward . /etc/resolv.conf {{\n       max_concurrent 1000\n    }}\n{cache}    loop\n    reload\n    loadbalance\n}}\n"
    )
}

fn port(name: &str, p: i32, proto: &str) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: p,
        protocol: Some(proto.into()),
        ..Default::default()
    }
}

fn http_probe(path: &str, port: &str) -> HTTPGetAction {
    HTTPGetAction {
        path: Some(path.into()),
        port: IntOrString::String(port.into()),
        scheme: Some("HTTP".into()),
        ..Default::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// The CoreDNS Deployment (spec §11.1).
pub fn coredns_deployment(image: &str) -> Deployment {
    let app = [("k8s-app", "kube-dns")];
    let container = Container {
        name: "coredns".into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        resources: Some(ResourceRequirements {
            limits: Some(quantities(&[("memory", "170Mi")])),
            requests: Some(quantities(&[("cpu", "100m"), ("memory", "70Mi")])),
            ..Default::default()
        }),
        args: Some(strings(&["-conf", "/etc/coredns/Corefile"])),
        volume_mounts: Some(vec![VolumeMount {
            name: "config-volume".into(),
            mount_path: "/etc/coredns".into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ports: Some(vec![
            port("dns", 53, "UDP"),
            port("dns-tcp", 53, "TCP"),
            port("metrics", 9153, "TCP"),
            port("liveness-probe", 8080, "TCP"),
            port("readiness-probe", 8181, "TCP"),
        ]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: Some(strings(&["NET_BIND_SERVICE"])),
                drop: Some(strings(&["ALL"])),
            }),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            http_get: Some(http_probe("/health", "liveness-probe")),
            initial_delay_seconds: Some(60),
            timeout_seconds: Some(5),
            success_threshold: Some(1),
            failure_threshold: Some(5),
            ..Default::default()
        }),
        readiness_probe: Some(Probe {
            http_get: Some(http_probe("/ready", "readiness-probe")),
            ..Default::default()
        }),
        ..Default::default()
    };
    Deployment {
        metadata: meta("coredns", &app),
        spec: Some(DeploymentSpec {
            replicas: Some(COREDNS_REPLICAS),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(1)),
                    ..Default::default()
                }),
            }),
            selector: LabelSelector {
                match_labels: Some(labels(&app)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&app)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    priority_class_name: Some("system-cluster-critical".into()),
                    service_account_name: Some("coredns".into()),
                    affinity: Some(Affinity {
                        pod_anti_affinity: Some(PodAntiAffinity {
                            preferred_during_scheduling_ignored_during_execution: Some(vec![
                                WeightedPodAffinityTerm {
                                    weight: 100,
                                    pod_affinity_term: PodAffinityTerm {
                                        label_selector: Some(LabelSelector {
                                            match_expressions: Some(vec![
                                                LabelSelectorRequirement {
                                                    key: "k8s-app".into(),
                                                    operator: "In".into(),
                                                    values: Some(strings(&["kube-dns"])),
                                                },
                                            ]),
                                            ..Default::default()
                                        }),
                                        topology_key: "kubernetes.io/hostname".into(),
                                        ..Default::default()
                                    },
                                },
                            ]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    tolerations: Some(vec![
                        Toleration {
                            key: Some("CriticalAddonsOnly".into()),
                            operator: Some("Exists".into()),
                            ..Default::default()
                        },
                        Toleration {
                            key: Some(CONTROL_PLANE_TAINT_KEY.into()),
                            effect: Some("NoSchedule".into()),
                            ..Default::default()
                        },
                    ]),
                    node_selector: Some(labels(&[("kubernetes.io/os", "linux")])),
                    containers: vec![container],
                    dns_policy: Some("Default".into()),
                    volumes: Some(vec![Volume {
                        name: "config-volume".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "coredns".into(),
                            items: Some(vec![KeyToPath {
                                key: "Corefile".into(),
                                path: "Corefile".into(),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `kube-dns` Service with cluster IP `dns_ip` (spec §11.1).
pub fn kube_dns_service(dns_ip: &str) -> Service {
    let sport = |name: &str, p: i32, proto: &str| ServicePort {
        name: Some(name.into()),
        port: p,
        protocol: Some(proto.into()),
        target_port: Some(IntOrString::Int(p)),
        ..Default::default()
    };
    let mut m = meta(
        "kube-dns",
        &[
            ("k8s-app", "kube-dns"),
            ("kubernetes.io/cluster-service", "true"),
            ("kubernetes.io/name", "CoreDNS"),
        ],
    );
    m.annotations = Some(labels(&[
        ("prometheus.io/port", "9153"),
        ("prometheus.io/scrape", "true"),
    ]));
    Service {
        metadata: m,
        spec: Some(ServiceSpec {
            cluster_ip: Some(dns_ip.into()),
            ports: Some(vec![
                sport("dns", 53, "UDP"),
                sport("dns-tcp", 53, "TCP"),
                sport("metrics", 9153, "TCP"),
            ]),
            selector: Some(labels(&[("k8s-app", "kube-dns")])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every CoreDNS object in kubeadm's creation order.
pub fn coredns_items(image: &str, dns_domain: &str, dns_ip: &str) -> Vec<ObjectItem> {
    let cm = ConfigMap {
        metadata: meta("coredns", &[]),
        data: Some(BTreeMap::from([(
            "Corefile".to_string(),
            corefile(dns_domain),
        )])),
        ..Default::default()
    };
    let rule = |groups: &[&str], resources: &[&str]| PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(&["list", "watch"]),
        ..Default::default()
    };
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some("system:coredns".into()),
            ..Default::default()
        },
        rules: Some(vec![
            rule(&[""], &["endpoints", "services", "pods", "namespaces"]),
            rule(&["discovery.k8s.io"], &["endpointslices"]),
        ]),
        ..Default::default()
    };
    vec![
        ObjectItem::apply(&cm, "CoreDNS Corefile"),
        ObjectItem::apply(&role, "CoreDNS read access"),
        ObjectItem::apply(
            &cluster_role_binding(
                "system:coredns",
                "system:coredns",
                vec![subject("ServiceAccount", "coredns", Some(NAMESPACE))],
            ),
            "CoreDNS read access",
        ),
        ObjectItem::apply(
            &ServiceAccount {
                metadata: meta("coredns", &[]),
                ..Default::default()
            },
            "CoreDNS service account",
        ),
        ObjectItem::apply(
            &coredns_deployment(image),
            &format!("CoreDNS ({COREDNS_REPLICAS} replicas, {image})"),
        ),
        ObjectItem::apply(
            &kube_dns_service(dns_ip),
            &format!("cluster DNS at {dns_ip}"),
        ),
    ]
}

/// A KubeProxyConfiguration as kubeadm marshals its zero value (every field present).
pub fn kube_proxy_zero_config() -> Value {
    json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "bindAddress": "",
        "bindAddressHardFail": false,
        "clientConnection": {
            "acceptContentTypes": "", "burst": 0, "contentType": "", "kubeconfig": "", "qps": 0
        },
        "clusterCIDR": "",
        "configSyncPeriod": "0s",
        "conntrack": {
            "maxPerCore": null, "min": null, "tcpBeLiberal": false,
            "tcpCloseWaitTimeout": null, "tcpEstablishedTimeout": null,
            "udpStreamTimeout": "0s", "udpTimeout": "0s"
        },
        "detectLocal": { "bridgeInterface": "", "interfaceNamePrefix": "" },
        "detectLocalMode": "",
        "enableProfiling": false,
        "healthzBindAddress": "",
        "hostnameOverride": "",
        "iptables": {
            "localhostNodePorts": null, "masqueradeAll": false, "masqueradeBit": null,
            "minSyncPeriod": "0s", "syncPeriod": "0s"
        },
        "ipvs": {
            "excludeCIDRs": null, "minSyncPeriod": "0s", "scheduler": "", "strictARP": false,
            "syncPeriod": "0s", "tcpFinTimeout": "0s", "tcpTimeout": "0s", "udpTimeout": "0s"
        },
        "logging": {
            "flushFrequency": 0,
            "options": {
                "json": { "infoBufferSize": "0" },
                "text": { "infoBufferSize": "0" }
            },
            "verbosity": 0
        },
        "metricsBindAddress": "",
        "mode": "",
        "nftables": {
            "masqueradeAll": false, "masqueradeBit": null, "minSyncPeriod": "0s", "syncPeriod": "0s"
        },
        "nodePortAddresses": null,
        "oomScoreAdj": null,
        "portRange": "",
        "showHiddenMetricsForVersion": "",
        "winkernel": {
            "enableDSR": false, "forwardHealthCheckVip": false, "networkName": "",
            "rootHnsEndpointName": "", "sourceVip": ""
        }
    })
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// kubeadm's KubeProxyConfiguration for this cluster: the user's document (if any) merged over
/// the zero value, then kubeadm's defaults for fields still empty (`bindAddress` `0.0.0.0` or
/// `::`, `clusterCIDR` = podSubnet, `clientConnection.kubeconfig`). Returns the configuration and
/// warnings for user values that differ from kubeadm's.
pub fn kube_proxy_config(
    user: Option<&serde_yaml::Value>,
    pod_subnet: &str,
    advertise_ipv6: bool,
) -> anyhow::Result<(Value, Vec<String>)> {
    let mut cfg = kube_proxy_zero_config();
    let mut warnings = Vec::new();
    if let Some(u) = user {
        let u: Value =
            serde_json::to_value(u).map_err(|e| anyhow::anyhow!("KubeProxyConfiguration: {e}"))?;
        merge(&mut cfg, &u);
    }
    let mut default = |path: &[&str], want: &str, only_if: bool| {
        let mut slot = &mut cfg;
        for p in path {
            slot = &mut slot[*p];
        }
        let name = path.join(".");
        match slot.as_str() {
            Some("") | None if only_if => *slot = Value::String(want.to_string()),
            Some(v) if only_if && v != want => warnings.push(format!(
                "KubeProxyConfiguration {name}: kubeadm's value would be {want:?}, using {v:?}"
            )),
            _ => {}
        }
    };
    default(
        &["bindAddress"],
        if advertise_ipv6 { "::" } else { "0.0.0.0" },
        true,
    );
    default(&["clusterCIDR"], pod_subnet, !pod_subnet.is_empty());
    default(
        &["clientConnection", "kubeconfig"],
        "/var/lib/kube-proxy/kubeconfig.conf",
        true,
    );
    cfg["apiVersion"] = "kubeproxy.config.k8s.io/v1alpha1".into();
    cfg["kind"] = "KubeProxyConfiguration".into();
    // featureGates is `omitempty`: an empty map is not written.
    if cfg
        .get("featureGates")
        .is_some_and(|f| f.as_object().is_some_and(|m| m.is_empty()) || f.is_null())
    {
        cfg.as_object_mut().map(|m| m.remove("featureGates"));
    }
    Ok((cfg, warnings))
}

/// The in-cluster kubeconfig kube-proxy reads (`kubeconfig.conf`, no trailing newline).
pub fn kube_proxy_kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    server: {server}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
}

/// `sha256:<hex>` over the ConfigMap's data values in key order (spec §6.4, §19.8).
pub fn component_config_hash(data: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for v in data.values() {
        h.update(v.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The `kube-proxy` ConfigMap. `config` is the KubeProxyConfiguration; `user_supplied`
/// suppresses the component-config hash annotation.
pub fn kube_proxy_configmap(config: &Value, server: &str, user_supplied: bool) -> ConfigMap {
    let text = manifests::goyaml::to_string(config);
    let data = BTreeMap::from([
        (
            "config.conf".to_string(),
            text.trim_end_matches('\n').to_string(),
        ),
        ("kubeconfig.conf".to_string(), kube_proxy_kubeconfig(server)),
    ]);
    let mut m = meta("kube-proxy", &[("app", "kube-proxy")]);
    if !user_supplied {
        m.annotations = Some(BTreeMap::from([(
            COMPONENT_CONFIG_HASH_ANNOTATION.to_string(),
            component_config_hash(&data),
        )]));
    }
    ConfigMap {
        metadata: m,
        data: Some(data),
        ..Default::default()
    }
}

/// The kube-proxy DaemonSet (spec §11.2). `proxy_env` are the `*_proxy` variables of the
/// environment firstboot runs in.
pub fn kube_proxy_daemonset(image: &str, proxy_env: Vec<EnvVar>) -> DaemonSet {
    let app = [("k8s-app", "kube-proxy")];
    let mut env = vec![EnvVar {
        name: "NODE_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "spec.nodeName".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }];
    env.extend(proxy_env);
    let mount = |name: &str, path: &str, ro: Option<bool>| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: ro,
        ..Default::default()
    };
    let host = |name: &str, path: &str, t: Option<&str>| Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.into(),
            type_: t.map(str::to_string),
        }),
        ..Default::default()
    };
    DaemonSet {
        metadata: meta("kube-proxy", &app),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(&app)),
                ..Default::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&app)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    priority_class_name: Some("system-node-critical".into()),
                    containers: vec![Container {
                        name: "kube-proxy".into(),
                        image: Some(image.into()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        command: Some(strings(&[
                            "/usr/local/bin/kube-proxy",
                            "--config=/var/lib/kube-proxy/config.conf",
                            "--hostname-override=$(NODE_NAME)",
                        ])),
                        security_context: Some(SecurityContext {
                            privileged: Some(true),
                            ..Default::default()
                        }),
                        volume_mounts: Some(vec![
                            mount("kube-proxy", "/var/lib/kube-proxy", None),
                            mount("xtables-lock", "/run/xtables.lock", None),
                            mount("lib-modules", "/lib/modules", Some(true)),
                        ]),
                        env: Some(env),
                        ..Default::default()
                    }],
                    host_network: Some(true),
                    service_account_name: Some("kube-proxy".into()),
                    volumes: Some(vec![
                        Volume {
                            name: "kube-proxy".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: "kube-proxy".into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        host("xtables-lock", "/run/xtables.lock", Some("FileOrCreate")),
                        host("lib-modules", "/lib/modules", None),
                    ]),
                    tolerations: Some(vec![Toleration {
                        operator: Some("Exists".into()),
                        ..Default::default()
                    }]),
                    node_selector: Some(labels(&[("kubernetes.io/os", "linux")])),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every kube-proxy object in kubeadm's creation order.
pub fn kube_proxy_items(configmap: &ConfigMap, daemonset: &DaemonSet) -> Vec<ObjectItem> {
    vec![
        ObjectItem::apply(configmap, "kube-proxy configuration"),
        ObjectItem::apply(daemonset, "kube-proxy on every node"),
        ObjectItem::apply(
            &ServiceAccount {
                metadata: meta("kube-proxy", &[]),
                ..Default::default()
            },
            "kube-proxy service account",
        ),
        ObjectItem::apply(
            &super::bootstrap_token::cluster_role_binding(
                "kubeadm:node-proxier",
                "system:node-proxier",
                vec![subject("ServiceAccount", "kube-proxy", Some(NAMESPACE))],
            ),
            "kube-proxy permissions",
        ),
        ObjectItem::apply(
            &configmap_reader_role(NAMESPACE, "kube-proxy", "kube-proxy"),
            "lets joining nodes read the kube-proxy ConfigMap",
        ),
        ObjectItem::apply(
            &role_binding(
                NAMESPACE,
                "kube-proxy",
                "kube-proxy",
                vec![subject("Group", NODE_BOOTSTRAP_GROUP, None)],
            ),
            "lets joining nodes read the kube-proxy ConfigMap",
        ),
    ]
}

impl Phase for Addon {
    fn name(&self) -> &'static str {
        "addon"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("addon");
        let cfg = ctx.config;
        let c = &cfg.cluster;
        let p = super::params::control_plane_params(ctx)?;
        let images = manifests::images(
            &p,
            &AddonImageParams {
                dns_disabled: c.dns.disabled,
                dns_image_repository: Some(c.dns.image_repository.clone()),
                dns_image_tag: Some(c.dns.image_tag.clone()),
                proxy_disabled: c.proxy.disabled,
            },
        )?;
        if !ctx.selected("addon", "coredns") {
            plan.items.push(PlanItem::Note("coredns: skipped".into()));
        } else if c.dns.disabled {
            plan.items
                .push(PlanItem::Note("coredns: disabled (dns.disabled)".into()));
        } else {
            let dns_ip = crate::kubelet::cluster_dns_ip(&c.networking.service_subnet)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "networking.serviceSubnet {:?}: no room for the DNS service IP (10th address)",
                        c.networking.service_subnet
                    )
                })?;
            plan.items.extend(
                coredns_items(
                    &images.coredns,
                    &c.networking.dns_domain,
                    &dns_ip.to_string(),
                )
                .into_iter()
                .map(PlanItem::Object),
            );
        }
        if !ctx.selected("addon", "kube-proxy") {
            plan.items
                .push(PlanItem::Note("kube-proxy: skipped".into()));
        } else if c.proxy.disabled {
            plan.items.push(PlanItem::Note(
                "kube-proxy: disabled (proxy.disabled)".into(),
            ));
        } else {
            let adv = p.advertise_address;
            let server = crate::kubeconfig::control_plane_endpoint_url(
                Some(c.control_plane_endpoint.as_str()),
                adv,
                p.bind_port,
            )?;
            let (config, warnings) = kube_proxy_config(
                cfg.kube_proxy.as_ref(),
                &c.networking.pod_subnet,
                adv.is_ipv6(),
            )?;
            plan.items.extend(warnings.into_iter().map(PlanItem::Note));
            let cm = kube_proxy_configmap(&config, &server, cfg.kube_proxy.is_some());
            let ds = kube_proxy_daemonset(
                &images.kube_proxy,
                manifests::proxy_env_vars(std::env::vars()),
            );
            plan.items
                .extend(kube_proxy_items(&cm, &ds).into_iter().map(PlanItem::Object));
        }
        Ok(plan)
    }

    /// Applies the objects, keeping an existing CoreDNS replica count, and a user-edited
    /// Corefile as kubeadm does (`upgrade::coredns::plan_corefile`: a known default is replaced,
    /// a customised one kept, or migrated when the CoreDNS version requires it).
    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        for (i, item) in plan.items.iter().enumerate() {
            // `--dry-run` has no connection and only prints the objects.
            if let (PlanItem::Object(o), Some(_)) = (item, ctx.cluster) {
                let cluster = ctx.cluster()?;
                let mut o = o.clone();
                let ns = o.namespace.as_deref();
                if o.action == ObjectAction::Apply && o.name == "coredns" {
                    match o.resource.kind.as_str() {
                        "Deployment" => {
                            if let Some(live) = cluster.get::<Deployment>(ns, &o.name)? {
                                if let Some(r) = live.spec.and_then(|s| s.replicas) {
                                    o.body["spec"]["replicas"] = r.into();
                                }
                            }
                        }
                        "ConfigMap" => {
                            if let Some(live) = crate::upgrade::coredns::installed(cluster)? {
                                let ours = o.body["data"]["Corefile"]
                                    .as_str()
                                    .unwrap_or("")
                                    .to_string();
                                let to = planned_coredns_version(plan).unwrap_or_default();
                                use crate::upgrade::coredns::{plan_corefile, CorefileDecision};
                                match plan_corefile(Some(&live.corefile), &live.version, &to, &ours)
                                {
                                    CorefileDecision::Replace(_) => {}
                                    CorefileDecision::Migrate { corefile, backup } => {
                                        println!(
                                            "[addons] migrating the CoreDNS Corefile from {} to {to}; the previous one is kept as Corefile-backup",
                                            live.version
                                        );
                                        o.body["data"]["Corefile"] = corefile.into();
                                        o.body["data"]["Corefile-backup"] = backup.into();
                                    }
                                    CorefileDecision::Keep { reason, warning } => {
                                        if warning {
                                            println!("[addons] WARNING: {reason}");
                                        } else {
                                            tracing::info!(
                                                "keeping the existing CoreDNS Corefile: {reason}"
                                            );
                                        }
                                        progress(i + 1);
                                        continue;
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                cluster.execute(&o)?;
            }
            progress(i + 1);
        }
        Ok(())
    }
}

/// The CoreDNS image tag the plan deploys (`v1.14.2`).
fn planned_coredns_version(plan: &Plan) -> Option<String> {
    plan.items.iter().find_map(|i| match i {
        PlanItem::Object(o) if o.resource.kind == "Deployment" && o.name == "coredns" => o.body
            ["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .and_then(|img| img.rsplit_once(':'))
            .map(|(_, tag)| tag.to_string()),
        _ => None,
    })
}
