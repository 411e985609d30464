//! Phase `mark-control-plane`: labels the Node `node-role.kubernetes.io/control-plane` and
//! `node.kubernetes.io/exclude-from-external-load-balancers` and sets its control-plane taints
//! (spec §10.1), once the kubelet has registered it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Taint};
use serde_json::{json, Value};

use super::{Context, Phase, Plan, PlanItem};
use crate::kube::{ObjectItem, API_RETRY_INTERVAL};

/// The control-plane role label (and default taint key).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// The label excluding the node from external load balancers.
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// The label the kubelet sets when it registers the Node.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The `mark-control-plane` phase.
pub struct MarkControlPlane;

/// The taints configured for a control-plane node: `nodeRegistration.taints`, or kubeadm's
/// default `node-role.kubernetes.io/control-plane:NoSchedule` when unset (nil).
pub fn configured_taints(taints: Option<&[crate::config::Taint]>) -> Vec<Taint> {
    match taints {
        None => vec![Taint {
            key: CONTROL_PLANE_LABEL.to_string(),
            effect: "NoSchedule".to_string(),
            ..Taint::default()
        }],
        Some(list) => list
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: (!t.value.is_empty()).then(|| t.value.clone()),
                effect: t.effect.clone(),
                time_added: None,
            })
            .collect(),
    }
}

/// kubeadm's taint merge: the configured taints in order, then the node's existing taints that
/// are not already in the list (whole-struct equality).
pub fn merged_taints(configured: &[Taint], existing: &[Taint]) -> Vec<Taint> {
    let mut out = configured.to_vec();
    for t in existing {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// The strategic-merge patch that marks a node whose current taints are `existing`.
pub fn mark_patch(configured: &[Taint], existing: &[Taint]) -> Value {
    let taints = merged_taints(configured, existing);
    let mut patch = json!({
        "metadata": {"labels": {CONTROL_PLANE_LABEL: "", EXCLUDE_LB_LABEL: ""}},
    });
    if taints.as_slice() != existing {
        patch["spec"] = json!({ "taints": taints });
    }
    patch
}

fn configured(ctx: &Context) -> Vec<Taint> {
    configured_taints(ctx.config.node_registration().taints.as_deref())
}

impl Phase for MarkControlPlane {
    fn name(&self) -> &'static str {
        "mark-control-plane"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let node = ctx.config.node_name();
        let taints = configured(ctx);
        let shown: Vec<String> = taints
            .iter()
            .map(|t| match &t.value {
                Some(v) => format!("{}={v}:{}", t.key, t.effect),
                None => format!("{}:{}", t.key, t.effect),
            })
            .collect();
        let mut plan = Plan::new("mark-control-plane");
        plan.items.push(PlanItem::Object(ObjectItem::patch::<Node>(
            None,
            node,
            mark_patch(&taints, &[]),
            true,
            &format!(
                "labels {CONTROL_PLANE_LABEL}=\"\", {EXCLUDE_LB_LABEL}=\"\"; taints [{}] (existing taints kept), once the kubelet registered the node",
                shown.join(", ")
            ),
        )));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if ctx.cluster.is_none() {
            return Ok(());
        }
        let cluster = ctx.cluster()?;
        let node = ctx.config.node_name();
        let taints = configured(ctx);
        let timeout = ctx
            .config
            .api_call_timeout()
            .unwrap_or(Duration::from_secs(60));
        let deadline = Instant::now() + timeout;
        println!("[mark-control-plane] Marking the node {node} as control-plane by adding the labels: [{CONTROL_PLANE_LABEL} {EXCLUDE_LB_LABEL}]");
        loop {
            let last = match cluster.get::<Node>(None, node) {
                Ok(Some(n)) => {
                    let registered = n
                        .metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key(HOSTNAME_LABEL));
                    if registered {
                        let existing = n
                            .spec
                            .as_ref()
                            .and_then(|s| s.taints.clone())
                            .unwrap_or_default();
                        let patch = mark_patch(&taints, &existing);
                        match cluster.patch::<Node>(None, node, &patch, true) {
                            Ok(_) => break,
                            Err(e) => e.to_string(),
                        }
                    } else {
                        format!("the node has no {HOSTNAME_LABEL} label yet")
                    }
                }
                Ok(None) => {
                    format!("Node {node} not found (the kubelet has not registered it yet)")
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "error marking the node {node} as control-plane after {timeout:?}: {last}"
                );
            }
            std::thread::sleep(API_RETRY_INTERVAL);
        }
        progress(plan.items.len());
        Ok(())
    }
}
