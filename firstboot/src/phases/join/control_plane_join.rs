//! Phase `control-plane-join` / `mark-control-plane` (CP join, spec §10.1): labels the Node
//! `node-role.kubernetes.io/control-plane` and
//! `node.kubernetes.io/exclude-from-external-load-balancers` and sets its taints (configured
//! ones, default the control-plane NoSchedule taint, followed by pre-existing ones).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::config::CONTROL_PLANE_TAINT_KEY;
use crate::kube::API_RETRY_INTERVAL;
use crate::phases::{Context, Phase, Plan, PlanItem};

/// Exclude-from-load-balancers label.
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The `control-plane-join` phase.
pub struct ControlPlaneJoin;

/// The taints of a control-plane node: `configured` (`None` = kubeadm's default control-plane
/// taint) followed by the node's existing taints not already in the list (whole-struct
/// equality).
pub fn control_plane_taints(
    configured: Option<&[crate::config::Taint]>,
    existing: &[Taint],
) -> Vec<Taint> {
    let mut out: Vec<Taint> = match configured {
        None => vec![Taint {
            key: CONTROL_PLANE_TAINT_KEY.into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        }],
        Some(list) => list
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: (!t.value.is_empty()).then(|| t.value.clone()),
                effect: t.effect.clone(),
                time_added: t
                    .time_added
                    .as_ref()
                    .and_then(|s| s.parse().ok())
                    .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
            })
            .collect(),
    };
    for t in existing {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// The merge patch mark-control-plane sends for `node`.
pub fn mark_patch(node: &Node, configured: Option<&[crate::config::Taint]>) -> serde_json::Value {
    let existing = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let taints = control_plane_taints(configured, &existing);
    serde_json::json!({
        "metadata": {"labels": {CONTROL_PLANE_TAINT_KEY: "", EXCLUDE_LB_LABEL: ""}},
        "spec": {"taints": taints},
    })
}

/// Marks `node_name` through `cluster`, polling until the Node exists with its hostname label
/// (`timeout`: `timeouts.kubernetesAPICall`).
pub fn mark_control_plane(
    cluster: &crate::kube::Cluster,
    node_name: &str,
    configured: Option<&[crate::config::Taint]>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last: String;
    loop {
        match cluster.get::<Node>(None, node_name) {
            Ok(Some(n))
                if n.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key("kubernetes.io/hostname")) =>
            {
                match cluster.patch::<Node>(None, node_name, &mark_patch(&n, configured), false) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
            }
            Ok(Some(_)) => last = "Node has no kubernetes.io/hostname label yet".into(),
            Ok(None) => last = "Node not found".into(),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "error marking Node {node_name:?} as control-plane (waited {timeout:?}): {last}"
            );
        }
        std::thread::sleep(API_RETRY_INTERVAL);
    }
}

impl Phase for ControlPlaneJoin {
    fn name(&self) -> &'static str {
        "control-plane-join"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("control-plane-join");
        if !ctx.config.is_control_plane() {
            plan.items.push(PlanItem::Note(
                "not a control-plane join: nothing to do".into(),
            ));
        } else if ctx.selected("control-plane-join", "mark-control-plane") {
            plan.items.push(PlanItem::Note(format!(
                "[mark-control-plane] label Node {} {CONTROL_PLANE_TAINT_KEY}=\"\" {EXCLUDE_LB_LABEL}=\"\" and set its taints",
                ctx.config.node_name()
            )));
        }
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if ctx.cluster.is_none() {
            return Ok(()); // dry run: the plan was printed, nothing to contact
        }
        if !ctx.config.is_control_plane()
            || !ctx.selected("control-plane-join", "mark-control-plane")
        {
            return Ok(());
        }
        let node = ctx.config.node_name();
        println!("[mark-control-plane] Marking the node {node} as control-plane");
        let timeout = super::timeout_or(
            ctx.config.timeouts().kubernetes_api_call,
            Duration::from_secs(60),
        );
        mark_control_plane(
            ctx.cluster()?,
            node,
            ctx.config.node_registration().taints.as_deref(),
            timeout,
        )?;
        progress(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints() {
        let existing = vec![
            Taint {
                key: "a".into(),
                effect: "NoExecute".into(),
                ..Taint::default()
            },
            Taint {
                key: CONTROL_PLANE_TAINT_KEY.into(),
                effect: "NoSchedule".into(),
                ..Taint::default()
            },
        ];
        let t = control_plane_taints(None, &existing);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].key, CONTROL_PLANE_TAINT_KEY);
        assert_eq!(t[1].key, "a");
        assert_eq!(control_plane_taints(Some(&[]), &[]), vec![]);
    }
}
