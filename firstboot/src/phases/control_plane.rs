//! Phase `control-plane`: writes the kube-apiserver, kube-controller-manager and kube-scheduler
//! static pod manifests (0600) into `/etc/kubernetes/manifests` (0700).

use super::params::{control_plane_params, items_from_file_plan};
use super::{Context, Phase, Plan};
use crate::manifests::{self, Component};

/// The `control-plane` phase.
pub struct ControlPlane;

/// Sub-phase name of a component (`apiserver`, `controller-manager`, `scheduler`).
pub fn subphase_of(c: Component) -> &'static str {
    match c {
        Component::KubeApiserver => "apiserver",
        Component::KubeControllerManager => "controller-manager",
        Component::KubeScheduler => "scheduler",
        Component::Etcd => "local",
    }
}

impl Phase for ControlPlane {
    fn name(&self) -> &'static str {
        "control-plane"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let p = control_plane_params(ctx)?;
        let dir = ctx.path("/etc/kubernetes/manifests");
        let mut lib = manifests::Plan::default();
        for c in Component::CONTROL_PLANE {
            if ctx.selected("control-plane", subphase_of(c)) {
                lib.extend(manifests::plan_component(&p, c, &dir)?);
            }
        }
        Ok(Plan {
            phase: "control-plane".into(),
            items: items_from_file_plan(ctx.root, &lib, "static pod manifest"),
        })
    }
}
