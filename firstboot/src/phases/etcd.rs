//! Phase `etcd` (sub-phase `local`): creates the etcd data directory (0700) and writes
//! `/etc/kubernetes/manifests/etcd.yaml` (0600); nothing for external etcd.

use super::params::{control_plane_params, items_from_file_plan};
use super::{Context, Phase, Plan, PlanItem};
use crate::manifests::{self, EtcdMembership};

/// The `etcd` phase.
pub struct Etcd;

impl Phase for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("etcd");
        let Some(local) = &ctx.config.cluster.etcd.local else {
            plan.items
                .push(PlanItem::Note("external etcd: nothing to do".into()));
            return Ok(plan);
        };
        if !ctx.selected("etcd", "local") {
            return Ok(plan);
        }
        let p = control_plane_params(ctx)?;
        let lib = manifests::plan_local_etcd(
            &p,
            &EtcdMembership::NewCluster,
            &ctx.path("/etc/kubernetes/manifests"),
            &ctx.path(&local.data_dir),
        )?;
        plan.items = items_from_file_plan(ctx.root, &lib, "static pod manifest");
        Ok(plan)
    }
}
