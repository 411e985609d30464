//! Every bad-configuration rule: the error names the file, document, field and value (secrets
//! redacted); unknown and duplicate fields are warnings.

use firstboot::config::{load_str, HostFacts, Mode};

fn facts() -> HostFacts {
    HostFacts {
        hostname: "Node-1".into(),
        default_address: Ok("192.0.2.10".parse().unwrap()),
        active_staged_version: None,
        staged_versions: None,
        cri_sockets: vec![],
    }
}

const INIT: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n";
const CLUSTER: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
const JOIN: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n";

fn err_with(yaml: &str, facts: &HostFacts, want: Option<Mode>) -> String {
    match load_str("bad.yaml", yaml, facts, want) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

fn err(yaml: &str) -> String {
    err_with(yaml, &facts(), None)
}

#[track_caller]
fn assert_names(msg: &str, parts: &[&str]) {
    assert!(msg.contains("bad.yaml"), "file not named in: {msg}");
    for p in parts {
        assert!(msg.contains(p), "{p:?} not in: {msg}");
    }
}

#[test]
fn invalid_service_cidr() {
    let m = err(&format!(
        "{INIT}---\n{CLUSTER}networking:\n  serviceSubnet: 10.96.0.0/33\n"
    ));
    assert_names(
        &m,
        &[
            "document 2 (ClusterConfiguration)",
            "networking.serviceSubnet",
            "\"10.96.0.0/33\"",
            "not a valid CIDR",
        ],
    );
}

#[test]
fn invalid_pod_cidr_and_host_bits() {
    let m = err(&format!("{CLUSTER}networking:\n  podSubnet: 10.244.0/16\n"));
    assert_names(
        &m,
        &[
            "document 1 (ClusterConfiguration)",
            "networking.podSubnet",
            "10.244.0/16",
        ],
    );
    let m = err(&format!(
        "{CLUSTER}networking:\n  podSubnet: 10.244.1.0/16\n"
    ));
    assert_names(&m, &["networking.podSubnet", "10.244.1.0/16", "host bits"]);
}

#[test]
fn service_subnet_too_large_or_small() {
    let m = err(&format!(
        "{CLUSTER}networking:\n  serviceSubnet: 10.0.0.0/8\n"
    ));
    assert_names(&m, &["networking.serviceSubnet", "10.0.0.0/8", "too large"]);
    let m = err(&format!(
        "{CLUSTER}networking:\n  serviceSubnet: 10.0.0.0/30\n"
    ));
    assert_names(
        &m,
        &["networking.serviceSubnet", "10.0.0.0/30", "too small"],
    );
}

#[test]
fn dual_stack_needs_two_families() {
    let m = err(&format!(
        "{CLUSTER}networking:\n  serviceSubnet: 10.96.0.0/12,10.97.0.0/16\n"
    ));
    assert_names(&m, &["networking.serviceSubnet", "one IPv4 and one IPv6"]);
}

#[test]
fn bad_bootstrap_token_is_named_but_redacted() {
    let secret = "ABCDEF.0123456789abcdef";
    let m = err(&format!("{INIT}bootstrapTokens:\n- token: {secret}\n"));
    assert_names(
        &m,
        &[
            "document 1 (InitConfiguration)",
            "bootstrapTokens[0].token",
            "[a-z0-9]{6}.[a-z0-9]{16}",
            "redacted, 23 characters",
        ],
    );
    assert!(!m.contains(secret), "secret leaked: {m}");
    assert!(!m.contains("0123456789abcdef"), "secret leaked: {m}");
}

#[test]
fn bad_token_group_and_usage_and_ttl_expires() {
    let m = err(&format!(
        "{INIT}bootstrapTokens:\n- token: abcdef.0123456789abcdef\n  groups: [system:nodes]\n  usages: [signing, flying]\n  ttl: 1h\n  expires: \"2030-01-01T00:00:00Z\"\n"
    ));
    assert_names(
        &m,
        &[
            "bootstrapTokens[0].groups[0]",
            "system:nodes",
            "bootstrapTokens[0].usages[1]",
            "flying",
            "mutually exclusive",
        ],
    );
}

#[test]
fn unknown_kind_in_kubeadm_group() {
    let m = err("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfig\n");
    assert_names(
        &m,
        &[
            "document 1 (InitConfig)",
            "field kind",
            "\"InitConfig\"",
            "unknown kind",
        ],
    );
}

#[test]
fn wrong_kubeadm_version() {
    let m = err("apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n");
    assert_names(
        &m,
        &[
            "document 1 (InitConfiguration)",
            "field apiVersion",
            "kubeadm.k8s.io/v1beta2",
            "v1beta4",
        ],
    );
    let m = err("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n");
    assert_names(
        &m,
        &[
            "field apiVersion",
            "kubeadm.k8s.io/v1beta3",
            "kubeadm config migrate",
        ],
    );
}

#[test]
fn component_config_versions_are_exact() {
    let m = err(&format!(
        "{INIT}---\napiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n"
    ));
    assert_names(
        &m,
        &[
            "document 2 (KubeletConfiguration)",
            "apiVersion",
            "kubelet.config.k8s.io/v1",
            "kubelet.config.k8s.io/v1beta1",
        ],
    );
    let m = err(&format!(
        "{INIT}---\napiVersion: kubeproxy.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n"
    ));
    assert_names(
        &m,
        &[
            "document 2 (KubeProxyConfiguration)",
            "kubeproxy.config.k8s.io/v1beta1",
            "v1alpha1",
        ],
    );
}

#[test]
fn missing_apiversion_or_kind() {
    let m = err("kind: InitConfiguration\n");
    assert_names(
        &m,
        &["document 1 (InitConfiguration)", "apiVersion is missing"],
    );
    let m = err(&format!(
        "{INIT}---\napiVersion: kubeadm.k8s.io/v1beta4\nnetworking: {{}}\n"
    ));
    assert_names(&m, &["document 2", "kind is missing"]);
}

#[test]
fn same_kind_twice() {
    let m = err(&format!("{CLUSTER}---\n{CLUSTER}"));
    assert_names(
        &m,
        &[
            "document 2 (ClusterConfiguration)",
            "appears twice",
            "document 1 (ClusterConfiguration)",
        ],
    );
}

#[test]
fn not_yaml() {
    let m = err("apiVersion: [unclosed\n");
    assert_names(&m, &["document 1", "not valid YAML"]);
}

#[test]
fn wrong_types_name_the_field() {
    let m = err(&format!("{INIT}localAPIEndpoint:\n  bindPort: abc\n"));
    assert_names(
        &m,
        &[
            "document 1 (InitConfiguration)",
            "localAPIEndpoint.bindPort",
            "abc",
        ],
    );
    let m = err(&format!("{INIT}timeouts:\n  discovery: 5 minutes\n"));
    assert_names(&m, &["timeouts.discovery", "5 minutes"]);
}

#[test]
fn endpoint_rules() {
    let m = err(&format!(
        "{INIT}localAPIEndpoint:\n  advertiseAddress: 1.2.3\n"
    ));
    assert_names(
        &m,
        &[
            "localAPIEndpoint.advertiseAddress",
            "\"1.2.3\"",
            "IP address",
        ],
    );
    let m = err(&format!("{INIT}localAPIEndpoint:\n  bindPort: 70000\n"));
    assert_names(&m, &["localAPIEndpoint.bindPort", "70000"]);
    let m = err(&format!(
        "{CLUSTER}controlPlaneEndpoint: lb.example:99999\n"
    ));
    assert_names(
        &m,
        &[
            "controlPlaneEndpoint",
            "lb.example:99999",
            "not a valid port",
        ],
    );
}

#[test]
fn cluster_field_rules() {
    let cases: &[(&str, &[&str])] = &[
        (
            "encryptionAlgorithm: RSA-1024\n",
            &["encryptionAlgorithm", "RSA-1024", "ECDSA-P384"],
        ),
        (
            "featureGates:\n  Foo: true\n",
            &["featureGates.Foo", "not a valid feature name"],
        ),
        (
            "featureGates:\n  ControlPlaneKubeletLocalMode: true\n",
            &[
                "featureGates.ControlPlaneKubeletLocalMode",
                "not a valid feature name",
            ],
        ),
        (
            "featureGates:\n  NodeLocalCRISocket: false\n",
            &["featureGates.NodeLocalCRISocket", "locked"],
        ),
        (
            "kubernetesVersion: v1.34.0\n",
            &["kubernetesVersion", "v1.34.0", ">= v1.35.0"],
        ),
        (
            "kubernetesVersion: banana\n",
            &["kubernetesVersion", "banana"],
        ),
        (
            "apiServer:\n  certSANs: [\"not valid!\"]\n",
            &["apiServer.certSANs[0]", "not valid!"],
        ),
        (
            "networking:\n  dnsDomain: Cluster_Local\n",
            &["networking.dnsDomain", "Cluster_Local"],
        ),
        (
            "clusterName: \"\"\nimageRepository: x\ncertificatesDir: relative/pki\n",
            &["certificatesDir", "relative/pki", "absolute"],
        ),
        (
            "etcd:\n  local: {}\n  external:\n    endpoints: [https://e:2379]\n",
            &["field etcd", "mutually exclusive"],
        ),
        (
            "etcd:\n  external:\n    endpoints: [e:2379]\n",
            &["etcd.external.endpoints[0]", "e:2379", "URL"],
        ),
        (
            "apiServer:\n  extraArgs:\n  - name: --bad\n    value: x\n",
            &["apiServer.extraArgs[0].name", "--bad"],
        ),
    ];
    for (body, parts) in cases {
        let m = err(&format!("{CLUSTER}{body}"));
        let mut all = vec!["document 1 (ClusterConfiguration)"];
        all.extend_from_slice(parts);
        assert_names(&m, &all);
    }
}

#[test]
fn node_registration_rules() {
    let cases: &[(&str, &[&str])] = &[
        (
            "nodeRegistration:\n  name: Bad_Name\n",
            &["nodeRegistration.name", "bad_name"],
        ),
        (
            "nodeRegistration:\n  imagePullPolicy: Sometimes\n",
            &["nodeRegistration.imagePullPolicy", "Sometimes"],
        ),
        (
            "nodeRegistration:\n  criSocket: tcp://x\n",
            &["nodeRegistration.criSocket", "tcp://x"],
        ),
        (
            "nodeRegistration:\n  taints:\n  - key: a\n    effect: Never\n",
            &["nodeRegistration.taints[0].effect", "Never"],
        ),
        (
            "nodeRegistration:\n  ignorePreflightErrors: [all, Swap]\n",
            &[
                "nodeRegistration.ignorePreflightErrors",
                "all,Swap",
                "cannot be combined",
            ],
        ),
        (
            "skipPhases: [cert]\n",
            &["skipPhases[0]", "\"cert\"", "unknown init phase"],
        ),
    ];
    for (body, parts) in cases {
        let m = err(&format!("{INIT}{body}"));
        let mut all = vec!["document 1 (InitConfiguration)"];
        all.extend_from_slice(parts);
        assert_names(&m, &all);
    }
}

#[test]
fn certificate_key_is_redacted() {
    let key = "zz".repeat(32);
    let m = err(&format!("{INIT}certificateKey: {key}\n"));
    assert_names(&m, &["certificateKey", "64 hexadecimal"]);
    assert!(!m.contains(&key), "secret leaked: {m}");
}

#[test]
fn join_rules() {
    let tok = "abcdef.0123456789abcdef";
    let pin = format!("sha256:{}", "a".repeat(64));
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("discovery: {}\n".into(), vec!["field discovery", "one of discovery.bootstrapToken and discovery.file"]),
        (
            format!("discovery:\n  bootstrapToken:\n    token: BAD.token\n    apiServerEndpoint: 10.0.0.1:6443\n    caCertHashes: [{pin}]\n"),
            vec!["discovery.bootstrapToken.token", "redacted, 9 characters"],
        ),
        (
            format!("discovery:\n  bootstrapToken:\n    token: {tok}\n    apiServerEndpoint: 10.0.0.1\n    caCertHashes: [{pin}]\n"),
            vec!["discovery.bootstrapToken.apiServerEndpoint", "10.0.0.1", "port is required"],
        ),
        (
            format!("discovery:\n  bootstrapToken:\n    token: {tok}\n    apiServerEndpoint: 10.0.0.1:6443\n"),
            vec!["discovery.bootstrapToken.caCertHashes", "unsafeSkipCAVerification"],
        ),
        (
            format!("discovery:\n  bootstrapToken:\n    token: {tok}\n    apiServerEndpoint: 10.0.0.1:6443\n    caCertHashes: [sha1:abcd]\n"),
            vec!["discovery.bootstrapToken.caCertHashes[0]", "sha1:abcd", "only sha256"],
        ),
        (
            format!("discovery:\n  bootstrapToken:\n    token: {tok}\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\n  file:\n    kubeConfigPath: /x\n"),
            vec!["field discovery", "mutually exclusive"],
        ),
        (
            format!("discovery:\n  bootstrapToken:\n    token: {tok}\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\nskipPhases: [certs]\n"),
            vec!["skipPhases[0]", "\"certs\"", "unknown join phase"],
        ),
    ];
    for (body, parts) in cases {
        let m = err(&format!("{JOIN}{body}"));
        let mut all = vec!["document 1 (JoinConfiguration)"];
        all.extend(parts);
        assert_names(&m, &all);
        assert!(
            !m.contains("BAD.token") && !m.contains(tok),
            "token leaked: {m}"
        );
    }
}

#[test]
fn init_and_join_together_is_ambiguous_for_run() {
    let join = "discovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\n";
    let text = format!("{INIT}---\n{JOIN}{join}");
    let m = err(&text);
    assert_names(
        &m,
        &[
            "document 2 (JoinConfiguration)",
            "not both",
            "document 1 (InitConfiguration)",
        ],
    );
    // `init` takes the init documents and ignores the JoinConfiguration with a warning.
    let cfg = load_str("bad.yaml", &text, &facts(), Some(Mode::Init)).unwrap();
    assert_eq!(cfg.mode, Mode::Init);
    assert!(cfg
        .warnings
        .iter()
        .any(|w| w.contains("JoinConfiguration") && w.contains("ignored")));
}

#[test]
fn firstboot_configuration_rules() {
    let m = err("apiVersion: kubebake.io/v1\nkind: FirstbootConfiguration\n");
    assert_names(
        &m,
        &[
            "document 1 (FirstbootConfiguration)",
            "apiVersion",
            "kubebake.io/v1",
            "kubebake.io/v1alpha1",
        ],
    );
    let m = err("apiVersion: kubebake.io/v1alpha1\nkind: FirstBoot\n");
    assert_names(&m, &["document 1 (FirstBoot)", "field kind", "FirstBoot"]);
    let m =
        err("apiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\nskipPhases: [nope]\n");
    assert_names(
        &m,
        &[
            "document 1 (FirstbootConfiguration)",
            "skipPhases[0]",
            "nope",
        ],
    );
    let mut staged = facts();
    staged.staged_versions = Some(vec!["v1.36.2".into()]);
    let m = err_with(
        "apiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\nkubernetesVersion: v1.35.9\n",
        &staged,
        None,
    );
    assert_names(
        &m,
        &[
            "FirstbootConfiguration",
            "kubernetesVersion",
            "v1.35.9",
            "staged: v1.36.2",
        ],
    );
    let m = err(&format!(
        "apiVersion: kubebake.io/v1alpha1\nkind: FirstbootConfiguration\nkubernetesVersion: v1.36.2\n---\n{CLUSTER}kubernetesVersion: v1.35.1\n"
    ));
    assert_names(
        &m,
        &[
            "document 2 (ClusterConfiguration)",
            "kubernetesVersion",
            "v1.35.1",
            "differs from FirstbootConfiguration",
        ],
    );
}

#[test]
fn undetectable_advertise_address_names_the_field() {
    let mut f = facts();
    f.default_address = Err("no default route in /proc/net/route".into());
    let m = err_with(INIT, &f, None);
    assert_names(
        &m,
        &[
            "InitConfiguration",
            "localAPIEndpoint.advertiseAddress",
            "no default route",
        ],
    );
}

#[test]
fn multiple_cri_sockets_need_a_choice() {
    let mut f = facts();
    f.cri_sockets = vec![
        "unix:///var/run/containerd/containerd.sock".into(),
        "unix:///var/run/crio/crio.sock".into(),
    ];
    let m = err_with(INIT, &f, None);
    assert_names(
        &m,
        &[
            "nodeRegistration.criSocket",
            "multiple CRI endpoints",
            "crio.sock",
        ],
    );
}

#[test]
fn all_problems_are_reported_together() {
    let m = err(&format!(
        "{CLUSTER}networking:\n  serviceSubnet: nope\n  podSubnet: nope2\nencryptionAlgorithm: X\n"
    ));
    assert_names(
        &m,
        &[
            "3 problems",
            "serviceSubnet",
            "podSubnet",
            "encryptionAlgorithm",
        ],
    );
}

#[test]
fn unknown_and_duplicate_fields_are_warnings() {
    let text = format!("{CLUSTER}netwrking: {{}}\nclusterName: a\nclusterName: b\n---\napiVersion: example.com/v1\nkind: Widget\n");
    let cfg = load_str("ok.yaml", &text, &facts(), None).unwrap();
    let w = cfg.warnings.join("\n");
    assert!(
        w.contains("document 1 (ClusterConfiguration): unknown field \"netwrking\""),
        "{w}"
    );
    assert!(w.contains("duplicate field \"clusterName\""), "{w}");
    assert!(
        w.contains("document 2 (Widget): ignoring document of unknown apiVersion"),
        "{w}"
    );
    assert_eq!(cfg.cluster.cluster_name, "b");
    // Nested unknown fields are reported with their path.
    let cfg = load_str(
        "ok.yaml",
        &format!("{INIT}nodeRegistration:\n  nmae: x\n"),
        &facts(),
        None,
    )
    .unwrap();
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.contains("nodeRegistration.nmae")),
        "{:?}",
        cfg.warnings
    );
}
