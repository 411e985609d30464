//! Phase `kubelet-start` (join, spec §13.3): writes `/etc/kubernetes/bootstrap-kubelet.conf`
//! (0600) and the cluster CA (if missing), checks kubelet/control-plane skew and that no Ready
//! Node has this name, writes the kubelet files from the cluster's `kubelet-config` ConfigMap,
//! and restarts the kubelet (which then TLS-bootstraps).

use k8s_openapi::api::core::v1::Node;

use super::{
    bootstrap_cluster, cluster_configuration, discover, join_config, BOOTSTRAP_KUBELET_CONF,
};
use crate::join::checks;
use crate::kubeconfig::local_endpoint_url;
use crate::phases::kubelet_start::{plan_with, try_start_kubelet};
use crate::phases::{apply_item, Context, Phase, Plan, PlanItem};

/// The join `kubelet-start` phase.
pub struct JoinKubeletStart;

/// Whether a Node's `Ready` condition is `True`.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn ca_cert_path(ctx: &Context) -> anyhow::Result<String> {
    let j = join_config(ctx)?;
    Ok(if j.ca_cert_path.is_empty() {
        "/etc/kubernetes/pki/ca.crt".into()
    } else {
        j.ca_cert_path.clone()
    })
}

impl Phase for JoinKubeletStart {
    fn name(&self) -> &'static str {
        "kubelet-start"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut items = vec![
            PlanItem::Note(
                "discover the cluster (kube-public/cluster-info) and check version skew".into(),
            ),
            PlanItem::Generate {
                path: BOOTSTRAP_KUBELET_CONF.into(),
                mode: 0o600,
                what: "TLS bootstrap kubeconfig (bootstrap token)".into(),
            },
        ];
        let ca = ca_cert_path(ctx)?;
        if !ctx.path(&ca).exists() {
            items.push(PlanItem::Generate {
                path: ca,
                mode: 0o644,
                what: "cluster CA from discovery".into(),
            });
        }
        items.push(PlanItem::Note(
            "kubelet configuration from ConfigMap kube-system/kubelet-config (local document shown below)".into(),
        ));
        items.extend(plan_with(ctx, local_kubelet_doc(ctx)?)?.items);
        Ok(Plan {
            phase: "kubelet-start".into(),
            items,
        })
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        // Expired join material fails here, before anything is written (a dry run checks
        // the configuration's known expiry only).
        super::check_join_material(ctx)?;
        if ctx.cluster.is_none() {
            return Ok(()); // dry run: the plan was printed, nothing to contact
        }
        let d = discover(ctx)?;
        let cluster = bootstrap_cluster(ctx)?;
        let cc = cluster_configuration(&cluster)?;
        // Version skew, before anything is written or started.
        if let Some(kubelet) = checks::staged_kubelet_version(ctx.root) {
            let cp = if cc.kubernetes_version.is_empty() {
                cluster.server_version()?.git_version
            } else {
                cc.kubernetes_version.clone()
            };
            checks::check_kubelet_skew(&kubelet, &cp)?;
        } else {
            println!("[kubelet-start] WARNING: cannot tell the staged kubelet version; skipping the skew check");
        }
        let kubelet_doc = super::stored_kubelet_configuration(&cluster)?;

        // bootstrap-kubelet.conf: cluster re-keyed to clusterName; CP joins talk to their own
        // future API server.
        let mut kc = d.kubeconfig.clone();
        let name = if cc.cluster_name.is_empty() {
            "kubernetes"
        } else {
            cc.cluster_name.as_str()
        };
        kc.rename_cluster(name);
        if ctx.config.is_control_plane() {
            let adv = ctx.config.advertise_address().ok_or_else(|| {
                anyhow::anyhow!(
                    "controlPlane.localAPIEndpoint.advertiseAddress is not an IP address"
                )
            })?;
            let port = ctx
                .config
                .local_api_endpoint()
                .map(|e| e.bind_port)
                .unwrap_or(6443);
            kc = crate::kubeconfig::Kubeconfig::bootstrap_kubelet(
                &local_endpoint_url(adv, u16::try_from(port)?),
                &d.cluster.ca_pem,
                &token_of(ctx)?,
            );
            kc.rename_cluster(name);
        }
        kc.write(&ctx.path(BOOTSTRAP_KUBELET_CONF))?;
        let ca = ca_cert_path(ctx)?;
        if !ctx.path(&ca).exists() {
            crate::fsutil::write_atomic(&ctx.path(&ca), &d.cluster.ca_pem, 0o644, 0o755)
                .map_err(|e| anyhow::anyhow!("cannot write {ca}: {e}"))?;
        }
        progress(1);

        let node_name = ctx.config.node_name();
        if let Some(n) = cluster.get::<Node>(None, node_name)? {
            if node_ready(&n) {
                anyhow::bail!(
                    "a Node with name {node_name:?} and status \"Ready\" already exists in the cluster. You must \
                     delete the existing Node or change the name of this new joining Node"
                );
            }
        }

        // The kubelet files from the cluster's configuration.
        let joined = super::with_cluster_configuration(ctx.config, cc);
        let skip: Vec<String> = Vec::new();
        let sub = super::sub_context(ctx, &joined, &skip);
        let files = plan_with(&sub, Some(kubelet_doc))?;
        if let Err(e) = ctx.services.stop("kubelet") {
            println!("[kubelet-start] WARNING: cannot stop the kubelet: {e:#}");
        }
        for item in &files.items {
            apply_item(ctx.root, item)?;
        }
        progress(2);
        try_start_kubelet(ctx);
        Ok(())
    }
}

fn token_of(ctx: &Context) -> anyhow::Result<String> {
    let j = join_config(ctx)?;
    let t = crate::join::discovery::tls_bootstrap_token(j)
        .ok_or_else(|| anyhow::anyhow!("discovery.tlsBootstrapToken is required"))?;
    Ok(crate::join::discovery::Token::parse(t)?.expose())
}

fn local_kubelet_doc(ctx: &Context) -> anyhow::Result<Option<serde_json::Value>> {
    Ok(match &ctx.config.kubelet {
        Some(v) => Some(serde_json::to_value(v)?),
        None => None,
    })
}
