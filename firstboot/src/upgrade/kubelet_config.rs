//! Step `kubelet-config` (spec §14.6): copies `/var/lib/kubelet/config.yaml` to
//! `/etc/kubernetes/tmp/kubeadm-kubelet-config-<timestamp>/config.yaml` (same mode) and
//! regenerates it — and `instance-config.yaml` when missing — from the cluster's
//! `kube-system/kubelet-config` ConfigMap with the per-node mutation of the kubelet-start phase.

use crate::fsutil;
use crate::phases::{apply_item, Context, PlanItem};

/// The kubelet configuration file.
pub const CONFIG: &str = "/var/lib/kubelet/config.yaml";
/// The per-instance kubelet configuration.
pub const INSTANCE_CONFIG: &str = "/var/lib/kubelet/instance-config.yaml";

/// The files the step writes (pure, given the cluster document).
pub fn plan(ctx: &Context, cluster_doc: serde_json::Value) -> anyhow::Result<Vec<PlanItem>> {
    let all = crate::phases::kubelet_start::plan_with(ctx, Some(cluster_doc))?;
    Ok(all
        .items
        .into_iter()
        .filter(|i| match i {
            PlanItem::File { path, .. } => {
                path == CONFIG || (path == INSTANCE_CONFIG && !ctx.path(INSTANCE_CONFIG).exists())
            }
            _ => false,
        })
        .collect())
}

/// Saves the current configuration under `ts` and writes the planned files.
pub fn apply(ctx: &Context, items: &[PlanItem], ts: &str) -> anyhow::Result<()> {
    let current = ctx.path(CONFIG);
    if let Some(mode) = fsutil::mode_of(&current).filter(|_| current.is_file()) {
        let dir = format!("{}/kubeadm-kubelet-config-{ts}", super::backup::TMP_DIR);
        let bytes = std::fs::read(&current)?;
        fsutil::write_atomic(
            &ctx.path(&format!("{dir}/config.yaml")),
            &bytes,
            mode,
            0o700,
        )
        .map_err(|e| anyhow::anyhow!("copying {CONFIG} to {dir}: {e}"))?;
    }
    for i in items {
        apply_item(ctx.root, i)?;
    }
    Ok(())
}
