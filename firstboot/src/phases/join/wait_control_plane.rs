//! Phase `wait-control-plane` (CP join, spec §13.1 #8): waits until this node's API server
//! answers `/livez` and the cluster's `/readyz` is OK, through admin.conf, up to
//! `timeouts.controlPlaneComponentHealthCheck`.

use std::time::{Duration, Instant};

use crate::phases::{Context, Phase, Plan, PlanItem};

/// The join `wait-control-plane` phase.
pub struct JoinWaitControlPlane;

impl Phase for JoinWaitControlPlane {
    fn name(&self) -> &'static str {
        "wait-control-plane"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("wait-control-plane");
        plan.items
            .push(PlanItem::Note(if ctx.config.is_control_plane() {
                "wait for the control plane (/livez, /readyz)".into()
            } else {
                "not a control-plane join: nothing to do".into()
            }));
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
        if !ctx.config.is_control_plane() {
            return Ok(());
        }
        let timeout = super::timeout_or(
            ctx.config.timeouts().control_plane_component_health_check,
            Duration::from_secs(240),
        );
        let cluster = ctx.cluster()?;
        let deadline = Instant::now() + timeout;
        println!("[control-plane-check] Waiting for healthy control plane components. This can take up to {timeout:?}");
        let mut last: String;
        for path in ["/livez", "/readyz"] {
            loop {
                match cluster.get_raw(path) {
                    Ok((200, _)) => break,
                    Ok((code, body)) => last = format!("{path}: HTTP {code}: {}", body.trim()),
                    Err(e) => last = format!("{path}: {e}"),
                }
                if Instant::now() >= deadline {
                    anyhow::bail!("the control plane is not healthy after {timeout:?}: {last}");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        progress(1);
        Ok(())
    }
}
