//! Phase `kubeconfig`: `admin.conf`, `super-admin.conf`, `kubelet.conf`,
//! `controller-manager.conf` and `scheduler.conf` in `/etc/kubernetes` (0600) with client
//! certificates signed by the cluster CA, via the kubeconfig library.

use super::certs::pki_params;
use super::{Context, Phase, Plan, PlanItem};
use crate::kubeconfig::{self, KubeconfigAction, KubeconfigFile, KubeconfigParams};

/// The `kubeconfig` phase.
pub struct Kubeconfig;

/// [`KubeconfigParams`] for this node (only the selected files).
pub fn kubeconfig_params(ctx: &Context) -> anyhow::Result<KubeconfigParams> {
    let pki = pki_params(ctx)?;
    let cfg = ctx.config;
    let mut p = KubeconfigParams::new(
        ctx.path("/etc/kubernetes"),
        pki.cert_dir.clone(),
        cfg.node_name(),
        pki.advertise_address,
    );
    p.cluster_name = cfg.cluster.cluster_name.clone();
    p.bind_port = pki.bind_port;
    p.control_plane_endpoint = pki.control_plane_endpoint.clone();
    p.encryption_algorithm = pki.encryption_algorithm;
    p.cert_validity = pki.cert_validity;
    p.start_time = pki.start_time;
    p.files = KubeconfigFile::INIT
        .into_iter()
        .filter(|f| ctx.selected("kubeconfig", f.file_name().trim_end_matches(".conf")))
        .collect();
    Ok(p)
}

impl Phase for Kubeconfig {
    fn name(&self) -> &'static str {
        "kubeconfig"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let lib = kubeconfig::plan(&kubeconfig_params(ctx)?)?;
        let mut plan = Plan::new("kubeconfig");
        for it in &lib.items {
            let what = format!(
                "{} (user {}, server {})",
                it.file.file_name(),
                it.client_name,
                it.server
            );
            let path = ctx.node_path(&it.path);
            plan.items.push(match it.action {
                KubeconfigAction::Generate => PlanItem::Generate {
                    path,
                    mode: it.mode,
                    what,
                },
                KubeconfigAction::Reuse | KubeconfigAction::ValidatedExternal => {
                    PlanItem::Keep { path, what }
                }
            });
        }
        plan.items
            .extend(lib.warnings.iter().map(|w| PlanItem::Note(w.clone())));
        Ok(plan)
    }

    /// Writes one file at a time so a crash leaves whole files behind.
    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        let full = kubeconfig::plan(&kubeconfig_params(ctx)?)?;
        for (i, it) in full.items.iter().enumerate() {
            let mut one = full.clone();
            one.items = vec![it.clone()];
            one.apply()?;
            progress(i + 1);
        }
        Ok(())
    }
}
