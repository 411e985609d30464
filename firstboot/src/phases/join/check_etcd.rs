//! Phase `check-etcd` (hidden; CP join with stacked etcd, spec §5.7 step 2, §13.1 #3): checks
//! that the existing etcd cluster is healthy — more than half of its members answer a status
//! request (kubeadm 1.36.1+) — through a client built from the etcd Pods' annotation and this
//! node's etcd PKI; writes nothing, nothing for external etcd.

use super::etcd_join::{stacked_client, stacked_join_config};
use crate::phases::{Context, Phase, Plan, PlanItem};

/// The `check-etcd` phase.
pub struct CheckEtcd;

impl Phase for CheckEtcd {
    fn name(&self) -> &'static str {
        "check-etcd"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("check-etcd");
        let note = if !ctx.config.is_control_plane() {
            "not a control-plane join: nothing to do".to_string()
        } else if ctx.config.cluster.etcd.external.is_some() {
            "external etcd: nothing to do".to_string()
        } else {
            format!(
                "check the etcd cluster's health (more than half of the members answer): endpoints from the \
                 kube-system etcd Pods' annotation, client certificate {}/etcd/healthcheck-client.crt",
                ctx.config.cluster.certificates_dir.trim_end_matches('/')
            )
        };
        plan.items.push(PlanItem::Note(note));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        let Some(cfg) = stacked_join_config(ctx, "check-etcd")? else {
            return Ok(());
        };
        println!("[check-etcd] Checking that the etcd cluster is healthy");
        let client = stacked_client(ctx, &cfg)?;
        client.check_cluster_health()?;
        println!(
            "[check-etcd] The etcd cluster is healthy ({} endpoints)",
            client.endpoints().len()
        );
        progress(1);
        Ok(())
    }
}
