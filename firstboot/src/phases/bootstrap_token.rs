//! Phase `bootstrap-token`: creates or updates the bootstrap token Secrets, the node-bootstrap
//! RBAC and the `kube-public/cluster-info` ConfigMap with its anonymous-read Role/RoleBinding
//! (spec §7.2–§7.4).
//!
//! Tokens without a value in `InitConfiguration.bootstrapTokens` (including the one kubeadm's
//! defaulting adds) get a random token generated once and recorded in
//! `<status directory>/bootstrap-tokens.json` (0600), so a re-run after a crash updates the same
//! Secret instead of creating a second token. The file is the only place besides the Secret that
//! holds the value; plans and logs show only the token id.
//!
//! The `jws-kubeconfig-<id>` signatures in cluster-info are **not** written by this phase: in a
//! real cluster kube-controller-manager's `bootstrapsigner` controller adds them for every token
//! with `usage-bootstrap-signing`. [`sign_cluster_info`] does the same job for environments
//! without a controller-manager (tests) and is never called by the phase.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Context, Phase, Plan, PlanItem};
use crate::config::{self, NodeConfig, DEFAULT_TOKEN_GROUP};
use crate::join_material::{
    self as jm, BootstrapToken, TokenInfo, CLUSTER_INFO_NAME, CLUSTER_INFO_NAMESPACE,
    JWS_KEY_PREFIX,
};
use crate::kube::{Cluster, ObjectItem};
use crate::kubeconfig::Kubeconfig;

/// Namespace of token Secrets.
pub use crate::join_material::TOKEN_SECRET_NAMESPACE as TOKEN_NAMESPACE;
/// Secret type of bootstrap tokens.
pub use crate::join_material::TOKEN_SECRET_TYPE;

/// File (in the status directory) recording generated token values.
pub const TOKENS_FILE: &str = "bootstrap-tokens.json";
/// kubeadm's default node bootstrap group.
pub const NODE_BOOTSTRAP_GROUP: &str = DEFAULT_TOKEN_GROUP;
/// The kubeconfig kubeadm's cluster phases use by default.
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The `bootstrap-token` phase.
pub struct BootstrapTokenPhase;

/// Generated token values, keyed by the index in `bootstrapTokens`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TokensFile {
    tokens: BTreeMap<usize, String>,
}

/// The node path of the generated-tokens file.
pub fn tokens_file_node_path(cfg: &NodeConfig) -> String {
    format!(
        "{}/{TOKENS_FILE}",
        cfg.firstboot.status.directory.trim_end_matches('/')
    )
}

/// `InitConfiguration.bootstrapTokens` with every empty `token` filled: from the recorded
/// file under `root` if present, else freshly generated. The second value is the new file
/// content when something was generated (write it 0600 before creating Secrets).
pub fn resolve_tokens(
    root: &Path,
    cfg: &NodeConfig,
) -> anyhow::Result<(Vec<config::BootstrapToken>, Option<Vec<u8>>)> {
    let init = cfg
        .init
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("bootstrap tokens exist only in an init configuration"))?;
    let node_path = tokens_file_node_path(cfg);
    let path = crate::fsutil::under_root(root, &node_path);
    let mut recorded = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice::<TokensFile>(&b)
            .with_context(|| format!("{node_path}: not a firstboot bootstrap-token record"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokensFile::default(),
        Err(e) => return Err(anyhow::anyhow!("cannot read {node_path}: {e}")),
    };
    let mut changed = false;
    let mut out = Vec::new();
    for (i, t) in init.bootstrap_tokens.iter().enumerate() {
        let mut t = t.clone();
        if t.token.is_empty() {
            let value = match recorded.tokens.get(&i) {
                Some(v) => {
                    BootstrapToken::parse(v)
                        .map_err(|e| anyhow::anyhow!("{node_path}: bootstrap token {i}: {e}"))?;
                    v.clone()
                }
                None => {
                    changed = true;
                    let v = BootstrapToken::generate()?.expose();
                    recorded.tokens.insert(i, v.clone());
                    v
                }
            };
            t.token = value;
        }
        out.push(t);
    }
    let content = if changed {
        Some(serde_json::to_vec_pretty(&recorded)?)
    } else {
        None
    };
    Ok((out, content))
}

/// The expiration a token Secret carries: `expires` (normalised to UTC), else `now + ttl` when
/// the TTL is positive, else none (never expires).
pub fn expiration(t: &config::BootstrapToken, now: SystemTime) -> anyhow::Result<Option<String>> {
    let id = BootstrapToken::parse(&t.token)
        .map(|x| x.id().to_string())
        .unwrap_or_default();
    Ok(jm::token_expiration(&id, t, now.into())?.map(jm::format_rfc3339_utc))
}

/// The token Secret `kube-system/bootstrap-token-<id>` (spec §7.2). `t.token` must be set.
pub fn token_secret(t: &config::BootstrapToken, now: SystemTime) -> anyhow::Result<Secret> {
    let tok = BootstrapToken::parse(&t.token)
        .map_err(|e| anyhow::anyhow!("bootstrapTokens token: {e}"))?;
    Ok(jm::token_secret(&tok, t, now.into())?)
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        ..Default::default()
    }
}

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(v(groups)),
        resources: Some(v(resources)),
        resource_names: (!names.is_empty()).then(|| v(names)),
        verbs: v(verbs),
        ..Default::default()
    }
}

/// An RBAC subject: `Group`/`User` (with the RBAC api group) or `ServiceAccount`.
pub fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        api_group: (kind != "ServiceAccount").then(|| RBAC_GROUP.to_string()),
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.map(str::to_string),
    }
}

/// A ClusterRoleBinding of `role` to `subjects`.
pub fn cluster_role_binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(subjects),
    }
}

/// A RoleBinding of Role `role` in `ns`.
pub fn role_binding(ns: &str, name: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, Some(ns)),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "Role".into(),
            name: role.into(),
        },
        subjects: Some(subjects),
    }
}

/// A Role allowing `get` on the ConfigMap `cm` in `ns`.
pub fn configmap_reader_role(ns: &str, name: &str, cm: &str) -> Role {
    Role {
        metadata: meta(name, Some(ns)),
        rules: Some(vec![rule(&[""], &["configmaps"], &[cm], &["get"])]),
    }
}

/// The node-bootstrap RBAC of §7.3 (without the cluster-info Role/RoleBinding), in kubeadm's
/// order. `upgrade apply` re-applies exactly these.
pub fn bootstrap_rbac_items() -> Vec<ObjectItem> {
    let group = || vec![subject("Group", NODE_BOOTSTRAP_GROUP, None)];
    vec![
        ObjectItem::apply(
            &ClusterRole {
                metadata: meta("kubeadm:get-nodes", None),
                rules: Some(vec![rule(&[""], &["nodes"], &[], &["get"])]),
                ..Default::default()
            },
            "lets bootstrap tokens get Nodes",
        ),
        ObjectItem::apply(
            &cluster_role_binding("kubeadm:get-nodes", "kubeadm:get-nodes", group()),
            "lets bootstrap tokens get Nodes",
        ),
        ObjectItem::apply(
            &cluster_role_binding(
                "kubeadm:kubelet-bootstrap",
                "system:node-bootstrapper",
                group(),
            ),
            "lets bootstrap tokens post CSRs",
        ),
        ObjectItem::apply(
            &cluster_role_binding(
                "kubeadm:node-autoapprove-bootstrap",
                "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                group(),
            ),
            "auto-approves CSRs of bootstrap tokens",
        ),
        ObjectItem::apply(
            &cluster_role_binding(
                "kubeadm:node-autoapprove-certificate-rotation",
                "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                vec![subject("Group", "system:nodes", None)],
            ),
            "auto-approves node client certificate renewals",
        ),
        ObjectItem::apply(
            &cluster_role_binding(
                "kubeadm:apiserver-kubelet-client",
                "system:kubelet-api-admin",
                vec![subject("User", "kube-apiserver-kubelet-client", None)],
            ),
            "lets the API server reach the kubelet API",
        ),
    ]
}

/// The cluster-info Role and RoleBinding (anonymous `get` on `kube-public/cluster-info`).
pub fn cluster_info_rbac_items() -> Vec<ObjectItem> {
    let name = "kubeadm:bootstrap-signer-clusterinfo";
    vec![
        ObjectItem::apply(
            &configmap_reader_role(CLUSTER_INFO_NAMESPACE, name, CLUSTER_INFO_NAME),
            "lets anyone read cluster-info",
        ),
        ObjectItem::apply(
            &role_binding(
                CLUSTER_INFO_NAMESPACE,
                name,
                name,
                vec![subject("User", "system:anonymous", None)],
            ),
            "lets anyone read cluster-info",
        ),
    ]
}

/// The `kube-public/cluster-info` ConfigMap built from the kubeconfig at `kubeconfig` (the
/// cluster of its current context; file references flattened), without signatures.
pub fn cluster_info_configmap(kubeconfig: &Path, display: &str) -> anyhow::Result<ConfigMap> {
    let kc = Kubeconfig::load(kubeconfig).with_context(|| format!("cannot read {display}"))?;
    let server = kc
        .server()
        .ok_or_else(|| anyhow::anyhow!("{display}: the current context has no cluster server"))?
        .to_string();
    let ca = kc
        .current_cluster_ca_pem(kubeconfig)
        .with_context(|| format!("{display}: no CA for the current cluster"))?;
    jm::build_cluster_info(&ca, &server).with_context(|| format!("{display}: cluster-info"))
}

/// The kubeconfig a cluster phase talks through: `--kubeconfig` if given, else the node's
/// `admin.conf`; with its display name.
pub fn phase_kubeconfig(ctx: &Context) -> (PathBuf, String) {
    match ctx.cluster {
        Some(c) => (
            c.kubeconfig().to_path_buf(),
            c.kubeconfig().display().to_string(),
        ),
        None => (ctx.path(ADMIN_CONF), ADMIN_CONF.to_string()),
    }
}

impl Phase for BootstrapTokenPhase {
    fn name(&self) -> &'static str {
        "bootstrap-token"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("bootstrap-token");
        let (tokens, record) = resolve_tokens(ctx.root, ctx.config)?;
        if let Some(content) = record {
            plan.items.push(PlanItem::File {
                path: tokens_file_node_path(ctx.config),
                mode: 0o600,
                content,
                dir_mode: 0o700,
                what: "generated bootstrap token values (secret)".into(),
            });
        }
        for t in &tokens {
            let secret = token_secret(t, ctx.start_time)?;
            let id = BootstrapToken::parse(&t.token)
                .map(|x| format!("{}.<redacted>", x.id()))
                .unwrap_or_default();
            plan.items.push(PlanItem::Object(ObjectItem::apply(
                &secret,
                &format!("bootstrap token {id}"),
            )));
        }
        plan.items
            .extend(bootstrap_rbac_items().into_iter().map(PlanItem::Object));
        let (kc, display) = phase_kubeconfig(ctx);
        let cm = cluster_info_configmap(&kc, &display)?;
        plan.items.push(PlanItem::Object(ObjectItem::apply(
            &cm,
            &format!("cluster CA and endpoint from {display}"),
        )));
        plan.items
            .extend(cluster_info_rbac_items().into_iter().map(PlanItem::Object));
        plan.items.push(PlanItem::Note(
            "cluster-info signatures (jws-kubeconfig-<id>) are added by kube-controller-manager's bootstrapsigner".into(),
        ));
        Ok(plan)
    }
}

/// Does what kube-controller-manager's `bootstrapsigner` does, for clusters without one
/// (tests): sets `jws-kubeconfig-<id>` in `kube-public/cluster-info` for every unexpired token
/// Secret with `usage-bootstrap-signing: "true"` and removes signatures of other ids. Returns the
/// signed token ids. The bootstrap-token phase never calls this.
pub fn sign_cluster_info(cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let cm: ConfigMap = cluster
        .get(Some(CLUSTER_INFO_NAMESPACE), CLUSTER_INFO_NAME)?
        .ok_or_else(|| anyhow::anyhow!("ConfigMap kube-public/cluster-info does not exist"))?;
    let secrets: Vec<Secret> = cluster.list(
        Some(TOKEN_NAMESPACE),
        None,
        Some(&format!("type={TOKEN_SECRET_TYPE}")),
    )?;
    let now = time::OffsetDateTime::now_utc();
    let signing: Vec<BootstrapToken> = secrets
        .iter()
        .filter_map(|s| TokenInfo::from_secret(s).ok())
        .filter(|t| !t.is_expired(now) && t.usages.iter().any(|u| u == "signing"))
        .map(|t| t.token)
        .collect();
    let mut signed_cm = cm.clone();
    jm::set_signatures(&mut signed_cm, &signing)?;
    let old = cm.data.unwrap_or_default();
    let new = signed_cm.data.unwrap_or_default();
    // A merge patch: new/changed signatures set, stale ones removed (null).
    let mut patch = serde_json::Map::new();
    for (k, v) in &new {
        if k.starts_with(JWS_KEY_PREFIX) {
            patch.insert(k.clone(), v.clone().into());
        }
    }
    for k in old.keys() {
        if k.starts_with(JWS_KEY_PREFIX) && !new.contains_key(k) {
            patch.insert(k.clone(), serde_json::Value::Null);
        }
    }
    cluster.patch::<ConfigMap>(
        Some(CLUSTER_INFO_NAMESPACE),
        CLUSTER_INFO_NAME,
        &serde_json::json!({ "data": patch }),
        false,
    )?;
    Ok(signing.iter().map(|t| t.id().to_string()).collect())
}
