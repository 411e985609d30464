//! The `bootstrap-token` and `addon` phases plan exactly the objects a real kubeadm v1.36.2
//! created (fixtures under `fixtures/kubeadm-v1.36.2/objects/`), honour user overrides, and
//! keep a generated token stable across re-runs. Also the `token` command's offline parts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine;
use firstboot::config::{self, Mode, NodeConfig};
use firstboot::kube::NoServices;
use firstboot::phases::{self, addon, bootstrap_token, Context, Phase, Plan, PlanItem};
use serde_json::Value;

mod cluster_support;
use cluster_support::{facts, objects, reference_object, FIXTURES};

/// The reference configuration, with `extra` documents appended and `cluster_extra` lines
/// added to its ClusterConfiguration.
fn config_with(cluster_extra: &str, extra: &str) -> NodeConfig {
    let mut text = std::fs::read_to_string(format!("{FIXTURES}/kubeadm-config.yaml")).unwrap();
    if !cluster_extra.is_empty() {
        text = text.trim_end().to_string() + "\n" + cluster_extra + "\n";
    }
    if !extra.is_empty() {
        text = text + "---\n" + extra;
    }
    config::load_str("test.yaml", &text, &facts(), Some(Mode::Init)).unwrap()
}

fn reference_config() -> NodeConfig {
    config_with("", "")
}

/// A node root holding the reference admin.conf (its CA data is the reference ca.crt).
fn root_with_admin_conf() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("etc/kubernetes");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::copy(
        format!("{FIXTURES}/etc-kubernetes/admin.conf"),
        k.join("admin.conf"),
    )
    .unwrap();
    dir
}

fn reference_start_time() -> SystemTime {
    // creationTimestamp of the reference's default token Secret (11y76f).
    let t = time::OffsetDateTime::parse(
        "2026-11-25T16:35:11Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.unix_timestamp() as u64)
}

fn plan_of(phase: &dyn Phase, root: &Path, cfg: &NodeConfig, skip: &[String]) -> Plan {
    let f = facts();
    let services = NoServices::default();
    let ctx = Context {
        root,
        host_root: root,
        config: cfg,
        facts: &f,
        subphase: None,
        skip,
        start_time: reference_start_time(),
        cluster: None,
        services: &services,
    };
    phase.plan(&ctx).unwrap()
}

/// Fields the API server fills in when kubeadm leaves them empty (paths with `[]` for list
/// items). Anything else missing from a planned object is a difference.
const SERVER_DEFAULTS: &[&str] = &[
    "spec.progressDeadlineSeconds",
    "spec.revisionHistoryLimit",
    "spec.strategy.rollingUpdate.maxSurge",
    "spec.updateStrategy.rollingUpdate",
    "spec.template.spec.containers[].terminationMessagePath",
    "spec.template.spec.containers[].terminationMessagePolicy",
    "spec.template.spec.containers[].resources",
    "spec.template.spec.containers[].livenessProbe.periodSeconds",
    "spec.template.spec.containers[].readinessProbe.failureThreshold",
    "spec.template.spec.containers[].readinessProbe.periodSeconds",
    "spec.template.spec.containers[].readinessProbe.successThreshold",
    "spec.template.spec.containers[].readinessProbe.timeoutSeconds",
    "spec.template.spec.containers[].env[].valueFrom.fieldRef.apiVersion",
    "spec.template.spec.dnsPolicy",
    "spec.template.spec.restartPolicy",
    "spec.template.spec.schedulerName",
    "spec.template.spec.securityContext",
    "spec.template.spec.serviceAccount",
    "spec.template.spec.terminationGracePeriodSeconds",
    "spec.template.spec.volumes[].configMap.defaultMode",
    "spec.template.spec.volumes[].hostPath.type",
    "spec.clusterIPs",
    "spec.internalTrafficPolicy",
    "spec.ipFamilies",
    "spec.ipFamilyPolicy",
    "spec.sessionAffinity",
    "spec.type",
];

/// Compares a planned body with a reference object: every planned field must equal the
/// reference; reference fields absent from the plan are returned (to be checked against
/// [`SERVER_DEFAULTS`]).
fn compare(planned: &Value, reference: &Value, path: &str, missing: &mut BTreeSet<String>) {
    match (planned, reference) {
        (Value::Object(p), Value::Object(r)) => {
            for (k, pv) in p {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match r.get(k) {
                    Some(rv) => compare(pv, rv, &sub, missing),
                    None => panic!("{sub}: planned {pv} but the reference has no such field"),
                }
            }
            for k in r.keys().filter(|k| !p.contains_key(*k)) {
                missing.insert(if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                });
            }
        }
        (Value::Array(p), Value::Array(r)) => {
            assert_eq!(p.len(), r.len(), "{path}: list length");
            for (pv, rv) in p.iter().zip(r) {
                compare(pv, rv, &format!("{path}[]"), missing);
            }
        }
        (p, r) => {
            // The API server prints quantities and int-or-strings in canonical form.
            assert_eq!(p, r, "{path}");
        }
    }
}

fn assert_matches_reference(item: &firstboot::kube::ObjectItem, rel: &str) {
    let want = reference_object(rel);
    let mut missing = BTreeSet::new();
    compare(&item.body, &want, "", &mut missing);
    let unexpected: Vec<&String> = missing
        .iter()
        .filter(|m| !SERVER_DEFAULTS.contains(&m.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{rel}: fields kubeadm set that the plan lacks: {unexpected:?}"
    );
}

fn find<'a>(plan: &'a Plan, kind: &str, name: &str) -> &'a firstboot::kube::ObjectItem {
    objects(plan)
        .into_iter()
        .find(|o| o.resource.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("{kind} {name} not planned"))
}

fn secret_data(v: &Value) -> BTreeMap<String, String> {
    v["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| {
            let raw = match x {
                Value::String(s) => base64::engine::general_purpose::STANDARD.decode(s).unwrap(),
                Value::Array(a) => a.iter().map(|b| b.as_u64().unwrap() as u8).collect(),
                _ => panic!("data {k}: {x}"),
            };
            (k.clone(), String::from_utf8(raw).unwrap())
        })
        .collect()
}

#[test]
fn bootstrap_token_plan_matches_kubeadm_objects() {
    let root = root_with_admin_conf();
    let cfg = reference_config();
    let plan = plan_of(
        &bootstrap_token::BootstrapTokenPhase,
        root.path(),
        &cfg,
        &[],
    );

    // Order of §7.3: token Secrets, RBAC, cluster-info, cluster-info RBAC.
    let order: Vec<String> = objects(&plan)
        .iter()
        .map(|o| format!("{}/{}", o.resource.kind, o.name))
        .collect();
    let secret_name = order[0].clone();
    assert!(
        secret_name.starts_with("Secret/bootstrap-token-"),
        "{order:?}"
    );
    assert_eq!(
        order[1..],
        [
            "ClusterRole/kubeadm:get-nodes",
            "ClusterRoleBinding/kubeadm:get-nodes",
            "ClusterRoleBinding/kubeadm:kubelet-bootstrap",
            "ClusterRoleBinding/kubeadm:node-autoapprove-bootstrap",
            "ClusterRoleBinding/kubeadm:node-autoapprove-certificate-rotation",
            "ClusterRoleBinding/kubeadm:apiserver-kubelet-client",
            "ConfigMap/cluster-info",
            "Role/kubeadm:bootstrap-signer-clusterinfo",
            "RoleBinding/kubeadm:bootstrap-signer-clusterinfo",
        ]
    );

    for (kind, name, rel) in [
        (
            "ClusterRole",
            "kubeadm:get-nodes",
            "clusterrole/kubeadm_get-nodes.yaml",
        ),
        (
            "ClusterRoleBinding",
            "kubeadm:get-nodes",
            "clusterrolebinding/kubeadm_get-nodes.yaml",
        ),
        (
            "ClusterRoleBinding",
            "kubeadm:kubelet-bootstrap",
            "clusterrolebinding/kubeadm_kubelet-bootstrap.yaml",
        ),
        (
            "ClusterRoleBinding",
            "kubeadm:node-autoapprove-bootstrap",
            "clusterrolebinding/kubeadm_node-autoapprove-bootstrap.yaml",
        ),
        (
            "ClusterRoleBinding",
            "kubeadm:node-autoapprove-certificate-rotation",
            "clusterrolebinding/kubeadm_node-autoapprove-certificate-rotation.yaml",
        ),
        (
            "ClusterRoleBinding",
            "kubeadm:apiserver-kubelet-client",
            "clusterrolebinding/kubeadm_apiserver-kubelet-client.yaml",
        ),
        (
            "Role",
            "kubeadm:bootstrap-signer-clusterinfo",
            "role/kube-public__kubeadm_bootstrap-signer-clusterinfo.yaml",
        ),
        (
            "RoleBinding",
            "kubeadm:bootstrap-signer-clusterinfo",
            "rolebinding/kube-public__kubeadm_bootstrap-signer-clusterinfo.yaml",
        ),
    ] {
        assert_matches_reference(find(&plan, kind, name), rel);
    }

    // cluster-info: the kubeconfig is byte-identical (same CA and endpoint); the signatures are
    // the controller-manager's, not the phase's.
    let ci = find(&plan, "ConfigMap", "cluster-info");
    let want = reference_object("configmap/kube-public__cluster-info.yaml");
    assert_eq!(ci.body["data"]["kubeconfig"], want["data"]["kubeconfig"]);
    assert_eq!(ci.body["data"].as_object().unwrap().len(), 1);
    assert_eq!(ci.body["metadata"], want["metadata"]);

    // The default token Secret has the reference's keys and values (token values aside), and
    // expires 24h after the run started, like 11y76f did.
    let id = secret_name.trim_start_matches("Secret/bootstrap-token-");
    let got = secret_data(&find(&plan, "Secret", &format!("bootstrap-token-{id}")).body);
    let want_secret = reference_object("secret/kube-system__bootstrap-token-11y76f.yaml");
    let mut want = secret_data(&want_secret);
    assert_eq!(got["token-id"], id);
    assert_eq!(got["token-secret"].len(), 16);
    want.insert("token-id".into(), got["token-id"].clone());
    want.insert("token-secret".into(), got["token-secret"].clone());
    assert_eq!(got, want);
    let s = find(&plan, "Secret", &format!("bootstrap-token-{id}"));
    assert_eq!(s.body["type"], want_secret["type"]);
    assert_eq!(s.namespace.as_deref(), Some("kube-system"));

    // The plan never shows the token secret.
    assert!(!plan.to_string().contains(&got["token-secret"]));
}

#[test]
fn token_secret_matches_the_upload_certs_token_shape() {
    // 0s140a: kubeadm's upload-certs proxy token (description, 2h TTL, no usages, no groups).
    let t = config::BootstrapToken {
        description: "Proxy for managing TTL for the kubeadm-certs secret".into(),
        token: "0s140a.7rtr1uqdya16zw52".into(),
        ttl: Some(config::GoDuration::from_secs(2 * 3600)),
        ..Default::default()
    };
    let s = bootstrap_token::token_secret(&t, reference_start_time()).unwrap();
    let got = secret_data(&serde_json::to_value(&s).unwrap());
    let want = secret_data(&reference_object(
        "secret/kube-system__bootstrap-token-0s140a.yaml",
    ));
    assert_eq!(got, want);
    // `expires` wins and is normalised to UTC; ttl 0 means no expiration key.
    let mut t2 = t.clone();
    t2.expires = Some("2030-01-02T04:05:06+01:00".into());
    let s = bootstrap_token::token_secret(&t2, reference_start_time()).unwrap();
    assert_eq!(
        secret_data(&serde_json::to_value(&s).unwrap())["expiration"],
        "2030-01-02T03:05:06Z"
    );
    t2.expires = None;
    t2.ttl = Some(config::GoDuration::from_secs(0));
    let s = bootstrap_token::token_secret(&t2, reference_start_time()).unwrap();
    assert!(!s.data.unwrap().contains_key("expiration"));
    // A malformed token is an error that does not echo the value.
    let mut bad = t.clone();
    bad.token = "0s140a.SECRETSECRETSECR".into();
    let e = bootstrap_token::token_secret(&bad, reference_start_time()).unwrap_err();
    assert!(!format!("{e:#}").contains("SECRETSECRETSECR"), "{e:#}");
}

#[test]
fn generated_token_is_recorded_0600_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let root = root_with_admin_conf();
    let cfg = reference_config();
    let first = plan_of(
        &bootstrap_token::BootstrapTokenPhase,
        root.path(),
        &cfg,
        &[],
    );
    let file = bootstrap_token::tokens_file_node_path(&cfg);
    assert_eq!(file, "/var/lib/kubebake/firstboot/bootstrap-tokens.json");
    let item = first
        .items
        .iter()
        .find(|i| matches!(i, PlanItem::File { path, .. } if *path == file))
        .expect("the generated token is recorded before any Secret");
    assert!(matches!(first.items[0], PlanItem::File { .. }));
    // Planning again without applying generates another token: the value is random.
    let other = plan_of(
        &bootstrap_token::BootstrapTokenPhase,
        root.path(),
        &cfg,
        &[],
    );
    assert_ne!(objects(&first)[0].name, objects(&other)[0].name);
    // After the record is written (a crash right after it), the same token is used.
    phases::apply_item(root.path(), item).unwrap();
    let p = root.path().join(file.trim_start_matches('/'));
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = plan_of(
        &bootstrap_token::BootstrapTokenPhase,
        root.path(),
        &cfg,
        &[],
    );
    assert_eq!(objects(&first)[0].name, objects(&again)[0].name);
    assert_eq!(objects(&first)[0].body, objects(&again)[0].body);
    assert!(
        !again
            .items
            .iter()
            .any(|i| matches!(i, PlanItem::File { .. })),
        "nothing new to record"
    );
    let (tokens, new) = bootstrap_token::resolve_tokens(root.path(), &cfg).unwrap();
    assert!(new.is_none());
    assert_eq!(
        format!("bootstrap-token-{}", &tokens[0].token[..6]),
        objects(&again)[0].name
    );
}

#[test]
fn user_tokens_are_used_as_given() {
    let root = root_with_admin_conf();
    let text = std::fs::read_to_string(format!("{FIXTURES}/kubeadm-config.yaml"))
        .unwrap()
        .replacen(
            "kind: InitConfiguration\n",
            "kind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: \"0\"\n  description: ci\n- token: 7x9k2m.q4w8e1r5t3y6u0i2\n  usages: [authentication]\n  groups: [\"system:bootstrappers:workers\"]\n",
            1,
        );
    let cfg = config::load_str("t.yaml", &text, &facts(), Some(Mode::Init)).unwrap();
    let plan = plan_of(
        &bootstrap_token::BootstrapTokenPhase,
        root.path(),
        &cfg,
        &[],
    );
    assert!(!plan
        .items
        .iter()
        .any(|i| matches!(i, PlanItem::File { .. })));
    let a = secret_data(&find(&plan, "Secret", "bootstrap-token-abcdef").body);
    assert_eq!(a["token-secret"], "0123456789abcdef");
    assert_eq!(a["description"], "ci");
    assert!(!a.contains_key("expiration"));
    assert_eq!(a["usage-bootstrap-signing"], "true");
    let b = secret_data(&find(&plan, "Secret", "bootstrap-token-7x9k2m").body);
    assert_eq!(b["auth-extra-groups"], "system:bootstrappers:workers");
    assert!(!b.contains_key("usage-bootstrap-signing"));
    assert_eq!(b["usage-bootstrap-authentication"], "true");
}

#[test]
fn addon_plan_matches_kubeadm_objects() {
    let root = tempfile::tempdir().unwrap();
    let cfg = reference_config();
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &[]);
    let order: Vec<String> = objects(&plan)
        .iter()
        .map(|o| format!("{}/{}", o.resource.kind, o.name))
        .collect();
    assert_eq!(
        order,
        [
            "ConfigMap/coredns",
            "ClusterRole/system:coredns",
            "ClusterRoleBinding/system:coredns",
            "ServiceAccount/coredns",
            "Deployment/coredns",
            "Service/kube-dns",
            "ConfigMap/kube-proxy",
            "DaemonSet/kube-proxy",
            "ServiceAccount/kube-proxy",
            "ClusterRoleBinding/kubeadm:node-proxier",
            "Role/kube-proxy",
            "RoleBinding/kube-proxy",
        ]
    );
    for (kind, name, rel) in [
        (
            "ConfigMap",
            "coredns",
            "configmap/kube-system__coredns.yaml",
        ),
        (
            "ClusterRole",
            "system:coredns",
            "clusterrole/system_coredns.yaml",
        ),
        (
            "ClusterRoleBinding",
            "system:coredns",
            "clusterrolebinding/system_coredns.yaml",
        ),
        (
            "ServiceAccount",
            "coredns",
            "serviceaccount/kube-system__coredns.yaml",
        ),
        (
            "Deployment",
            "coredns",
            "deployment/kube-system__coredns.yaml",
        ),
        ("Service", "kube-dns", "service/kube-system__kube-dns.yaml"),
        (
            "ConfigMap",
            "kube-proxy",
            "configmap/kube-system__kube-proxy.yaml",
        ),
        (
            "DaemonSet",
            "kube-proxy",
            "daemonset/kube-system__kube-proxy.yaml",
        ),
        (
            "ServiceAccount",
            "kube-proxy",
            "serviceaccount/kube-system__kube-proxy.yaml",
        ),
        (
            "ClusterRoleBinding",
            "kubeadm:node-proxier",
            "clusterrolebinding/kubeadm_node-proxier.yaml",
        ),
        ("Role", "kube-proxy", "role/kube-system__kube-proxy.yaml"),
        (
            "RoleBinding",
            "kube-proxy",
            "rolebinding/kube-system__kube-proxy.yaml",
        ),
    ] {
        assert_matches_reference(find(&plan, kind, name), rel);
    }
    // The kube-proxy ConfigMap is byte-identical, hash annotation included.
    let cm = find(&plan, "ConfigMap", "kube-proxy");
    let want = reference_object("configmap/kube-system__kube-proxy.yaml");
    assert_eq!(cm.body["data"], want["data"]);
    assert_eq!(
        cm.body["metadata"]["annotations"],
        want["metadata"]["annotations"]
    );
}

#[test]
fn addon_overrides_images_disabled_and_skipped() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config_with(
        "imageRepository: registry.example.com/k8s\ndns:\n  imageTag: v1.99.0\nnetworking:\n  serviceSubnet: 10.200.0.0/16\n  dnsDomain: example.internal",
        "",
    );
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &[]);
    let d = find(&plan, "Deployment", "coredns");
    assert_eq!(
        d.body["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/k8s/coredns:v1.99.0"
    );
    let ds = find(&plan, "DaemonSet", "kube-proxy");
    assert_eq!(
        ds.body["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/k8s/kube-proxy:v1.36.2"
    );
    assert_eq!(
        find(&plan, "Service", "kube-dns").body["spec"]["clusterIP"],
        "10.200.0.10"
    );
    let corefile = find(&plan, "ConfigMap", "coredns").body["data"]["Corefile"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(corefile.contains("kubernetes example.internal in-addr.arpa ip6.arpa {"));
    assert!(corefile.contains("disable denial example.internal\n"));

    // dns.disabled: no CoreDNS objects; kube-proxy unchanged.
    let cfg = config_with("dns:\n  disabled: true", "");
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &[]);
    let kinds: Vec<String> = objects(&plan).iter().map(|o| o.name.clone()).collect();
    assert!(
        !kinds.iter().any(|n| n == "coredns" || n == "kube-dns"),
        "{kinds:?}"
    );
    assert_eq!(objects(&plan).len(), 6);
    assert!(plan.to_string().contains("coredns: disabled"));
    assert_eq!(addon::disabled_addons(&cfg, &[]), (true, false));

    // proxy.disabled and a skipped sub-phase.
    let cfg = config_with("proxy:\n  disabled: true", "");
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &[]);
    assert!(objects(&plan).iter().all(|o| o.name != "kube-proxy"));
    assert_eq!(objects(&plan).len(), 6);
    let cfg = reference_config();
    let skip = vec!["addon/coredns".to_string()];
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &skip);
    assert!(objects(&plan).iter().all(|o| o.name != "coredns"));
    assert!(plan.to_string().contains("coredns: skipped"));
    assert_eq!(addon::disabled_addons(&cfg, &skip), (true, false));
    assert_eq!(
        addon::disabled_addons(&cfg, &["addon".to_string()]),
        (true, true)
    );
    assert_eq!(addon::disabled_addons(&cfg, &[]), (false, false));
}

#[test]
fn kube_proxy_user_config_is_merged_over_kubeadm_defaults() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config_with(
        "networking:\n  podSubnet: 10.244.0.0/16",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  strictARP: true\nfeatureGates:\n  SomeGate: true\n",
    );
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &[]);
    let cm = find(&plan, "ConfigMap", "kube-proxy");
    // User supplied: no component-config hash.
    assert!(cm.body["metadata"].get("annotations").is_none());
    let text = cm.body["data"]["config.conf"].as_str().unwrap();
    let conf: Value = serde_yaml::from_str(text).unwrap();
    assert_eq!(conf["mode"], "ipvs");
    assert_eq!(conf["ipvs"]["strictARP"], true);
    assert_eq!(
        conf["ipvs"]["scheduler"], "",
        "untouched sibling fields stay"
    );
    assert_eq!(conf["featureGates"]["SomeGate"], true);
    assert_eq!(conf["clusterCIDR"], "10.244.0.0/16");
    assert_eq!(conf["bindAddress"], "0.0.0.0");
    assert_eq!(
        conf["clientConnection"]["kubeconfig"],
        "/var/lib/kube-proxy/kubeconfig.conf"
    );
    // Without a user document, the same cluster gets kubeadm's config with the hash.
    let cfg = config_with("networking:\n  podSubnet: 10.244.0.0/16", "");
    let plan = plan_of(&addon::Addon, root.path(), &cfg, &[]);
    let cm = find(&plan, "ConfigMap", "kube-proxy");
    let text = cm.body["data"]["config.conf"].as_str().unwrap();
    assert!(text.contains("\nclusterCIDR: 10.244.0.0/16\n"), "{text}");
    assert!(!text.contains("featureGates"));
    assert!(
        cm.body["metadata"]["annotations"][addon::COMPONENT_CONFIG_HASH_ANNOTATION]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // A user value that differs from kubeadm's is kept, with a warning in the plan.
    let (conf, warnings) = addon::kube_proxy_config(
        Some(&serde_yaml::from_str("bindAddress: 10.0.0.1").unwrap()),
        "",
        false,
    )
    .unwrap();
    assert_eq!(conf["bindAddress"], "10.0.0.1");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn component_config_hash_matches_the_spec_vector() {
    let data = BTreeMap::from([
        ("b".to_string(), "world".to_string()),
        ("a".to_string(), "hello ".to_string()),
    ]);
    assert_eq!(
        addon::component_config_hash(&data),
        "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
}

#[test]
fn phases_are_runnable_in_the_init_catalog() {
    for name in ["bootstrap-token", "addon"] {
        assert!(
            firstboot::runner::catalog::find(Mode::Init, name)
                .unwrap()
                .runnable
        );
        assert_eq!(phases::for_name(Mode::Init, name).unwrap().name(), name);
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_firstboot");

fn firstboot(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn token_generate_and_offline_errors() {
    let out = firstboot(&["token", "generate"]);
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    let t = t.trim();
    assert!(config::validate::is_bootstrap_token(t), "{t:?}");
    assert_ne!(
        t,
        String::from_utf8(firstboot(&["token", "generate"]).stdout)
            .unwrap()
            .trim()
    );
    // A malformed token is bad input (exit 2) and is not echoed.
    let out = firstboot(&["token", "create", "abcdef.NOTAVALIDSECRET"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("NOTAVALIDSECRET"));
    for bad in [
        vec!["token", "create", "--usages", "signing,nope"],
        vec!["token", "create", "--groups", "system:nodes"],
        vec!["token", "create", "--ttl", "forever"],
        vec!["token", "delete", "not-an-id"],
    ] {
        let out = firstboot(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    // No cluster: a clear failure naming the kubeconfig.
    let root = tempfile::tempdir().unwrap();
    let out = firstboot(&["--root", root.path().to_str().unwrap(), "token", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/etc/kubernetes/admin.conf"));
}

#[test]
fn token_help_has_examples_and_says_where_secrets_go() {
    for cmd in ["create", "list", "generate"] {
        let out = firstboot(&["token", cmd, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Example"), "{cmd}: {help}");
        assert!(help.contains("stdout"), "{cmd}: {help}");
    }
    let help = String::from_utf8(firstboot(&["token", "create", "--help"]).stdout).unwrap();
    assert!(help.contains("--print-join-config"));
}

#[test]
fn dry_run_prints_objects_and_writes_nothing() {
    let root = root_with_admin_conf();
    let text = std::fs::read_to_string(format!("{FIXTURES}/kubeadm-config.yaml"))
        .unwrap()
        .replacen(
            "nodeRegistration:",
            "localAPIEndpoint:\n  advertiseAddress: 192.0.2.2\nnodeRegistration:",
            1,
        );
    let cfg = root.path().join("cfg.yaml");
    std::fs::write(&cfg, text).unwrap();
    let r = root.path().to_str().unwrap();
    let c = cfg.to_str().unwrap();
    for phase in ["bootstrap-token", "addon"] {
        let out = firstboot(&[
            "--root",
            r,
            "--config",
            c,
            "--dry-run",
            "init",
            "phase",
            phase,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{phase}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("[{phase}] apply ")), "{stdout}");
        if phase == "bootstrap-token" {
            assert!(stdout.contains(".<redacted>"), "{stdout}");
            assert!(stdout.contains("apply ConfigMap kube-public/cluster-info"));
        }
    }
    assert!(
        !root.path().join("var").exists(),
        "dry run wrote the token record"
    );
}
