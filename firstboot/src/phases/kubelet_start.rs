//! Phase `kubelet-start`: stops the kubelet, writes `/var/lib/kubelet/kubeadm-flags.env`,
//! `instance-config.yaml` and `config.yaml` (0644, directory 0700), then restarts the kubelet
//! (best effort, as kubeadm: a failing service manager is a warning, spec §6.5).

use super::params::items_from_file_plan;
use super::{apply_item, Context, Phase, Plan, PlanItem};
use crate::config::Mode;
use crate::kubelet::{self, KubeletConfigParams, KubeletFlagsParams};
use crate::manifests;

/// The `kubelet-start` phase.
pub struct KubeletStart;

impl Phase for KubeletStart {
    fn name(&self) -> &'static str {
        "kubelet-start"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let user = match &ctx.config.kubelet {
            Some(v) => Some(serde_json::to_value(v)?),
            None => None,
        };
        plan_with(ctx, user)
    }

    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if let Err(e) = ctx.services.stop("kubelet") {
            println!("[kubelet-start] WARNING: cannot stop the kubelet: {e:#}");
        }
        for (i, item) in plan.items.iter().enumerate() {
            apply_item(ctx.root, item)?;
            progress(i + 1);
        }
        try_start_kubelet(ctx);
        Ok(())
    }
}

/// The kubelet files of this node with `user_config` as the KubeletConfiguration document (the
/// user's on init, the cluster's `kubelet-config` on join).
pub fn plan_with(ctx: &Context, user_config: Option<serde_json::Value>) -> anyhow::Result<Plan> {
    let cfg = ctx.config;
    let reg = cfg.node_registration();
    let mut c = KubeletConfigParams::new(&reg.cri_socket);
    c.cert_dir = cfg.cluster.certificates_dir.clone();
    c.service_subnet = cfg.cluster.networking.service_subnet.clone();
    c.dns_domain = cfg.cluster.networking.dns_domain.clone();
    c.static_pod_path = "/etc/kubernetes/manifests".into();
    c.user_config = user_config;
    // Approximation of "the systemd-resolved unit is active": its resolv.conf exists.
    c.systemd_resolved_active = ctx.host_path(kubelet::SYSTEMD_RESOLV_CONF).exists();
    let hostname = ctx.facts.hostname.trim().to_lowercase();
    let mut f = KubeletFlagsParams::new(&reg.name, hostname, &reg.cri_socket);
    f.kubelet_extra_args = reg
        .kubelet_extra_args
        .iter()
        .map(|a| manifests::Arg::new(&a.name, &a.value))
        .collect();
    if cfg.mode == Mode::Join && !cfg.is_control_plane() {
        f.register_taints = reg
            .taints
            .iter()
            .flatten()
            .map(|t| kubelet::Taint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect: t.effect.clone(),
            })
            .collect();
    }
    f.node_local_cri_socket = cfg
        .cluster
        .feature_gates
        .get("NodeLocalCRISocket")
        .copied()
        .unwrap_or(true);
    let lib = kubelet::plan_kubelet_files(&c, &f, &ctx.path("/var/lib/kubelet"))?;
    let mut items = items_from_file_plan(ctx.root, &lib, "kubelet configuration");
    items.push(PlanItem::Note(
        "stop the kubelet before writing, restart it afterwards (daemon-reload + restart)".into(),
    ));
    Ok(Plan {
        phase: "kubelet-start".into(),
        items,
    })
}

/// kubeadm's TryStartKubelet: daemon-reload + restart, a warning when it fails.
pub fn try_start_kubelet(ctx: &Context) {
    match ctx.services.restart("kubelet") {
        Ok(()) => println!("[kubelet-start] Starting the kubelet"),
        Err(e) => println!(
            "[kubelet-start] WARNING: unable to start the kubelet service: {e:#}\n\
             [kubelet-start] Please ensure kubelet is reloaded and running manually."
        ),
    }
}
