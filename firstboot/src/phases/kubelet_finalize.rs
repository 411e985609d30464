//! Phase `kubelet-finalize` (sub-phase `enable-client-cert-rotation`): rewrites
//! `/etc/kubernetes/kubelet.conf` (0600) to use the kubelet's rotated client certificate
//! `<certDir>/kubelet-client-current.pem`, then restarts the kubelet (spec §6.5).

use serde_yaml::Value;

use super::{apply_item, Context, Phase, Plan, PlanItem};
use crate::kubeconfig::{Kubeconfig, KUBECONFIG_DIR_MODE, KUBECONFIG_MODE};

/// The kubelet's kubeconfig.
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// The kubelet's default certificate directory.
pub const DEFAULT_KUBELET_CERT_DIR: &str = "/var/lib/kubelet/pki";
/// The rotated client certificate + key file the kubelet keeps current.
pub const KUBELET_CLIENT_CURRENT: &str = "kubelet-client-current.pem";

/// The `kubelet-finalize` phase.
pub struct KubeletFinalize;

/// The kubelet's certificate directory: `kubeletExtraArgs[cert-dir]` (last wins) or the default.
pub fn kubelet_cert_dir(ctx: &Context) -> String {
    ctx.config
        .node_registration()
        .kubelet_extra_args
        .iter()
        .rev()
        .find(|a| a.name == "cert-dir")
        .map(|a| a.value.clone())
        .unwrap_or_else(|| DEFAULT_KUBELET_CERT_DIR.to_string())
}

/// `kubeconfig` with its current user switched from embedded client data to
/// `client-certificate`/`client-key` both pointing at `pem_path`. `None` when the kubeconfig has
/// no current user.
pub fn use_client_cert_file(kubeconfig: &Kubeconfig, pem_path: &str) -> Option<Kubeconfig> {
    let user_name = kubeconfig.current_user_name()?;
    let mut v = kubeconfig.value().clone();
    let user = v
        .get_mut("users")?
        .as_sequence_mut()?
        .iter_mut()
        .find(|u| u.get("name").and_then(Value::as_str) == Some(user_name.as_str()))?
        .get_mut("user")?
        .as_mapping_mut()?;
    user.remove("client-certificate-data");
    user.remove("client-key-data");
    user.insert("client-certificate".into(), pem_path.into());
    user.insert("client-key".into(), pem_path.into());
    let text = serde_yaml::to_string(&v).ok()?;
    Kubeconfig::from_yaml(text.as_bytes(), std::path::Path::new(KUBELET_CONF)).ok()
}

impl Phase for KubeletFinalize {
    fn name(&self) -> &'static str {
        "kubelet-finalize"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("kubelet-finalize");
        if !ctx.selected("kubelet-finalize", "enable-client-cert-rotation") {
            return Ok(plan);
        }
        let pem = crate::manifests::pod::path_join(&kubelet_cert_dir(ctx), KUBELET_CLIENT_CURRENT);
        if !ctx.path(&pem).exists() {
            plan.items.push(PlanItem::Note(format!(
                "{pem} does not exist: kubelet.conf is left as is (client certificate rotation not enabled)"
            )));
            return Ok(plan);
        }
        let path = ctx.path(KUBELET_CONF);
        let kc = Kubeconfig::load(&path)?;
        let new = use_client_cert_file(&kc, &pem)
            .ok_or_else(|| anyhow::anyhow!("{KUBELET_CONF}: no current user to update"))?;
        plan.items.push(PlanItem::File {
            path: KUBELET_CONF.to_string(),
            mode: KUBECONFIG_MODE,
            content: new.to_yaml()?.into_bytes(),
            dir_mode: KUBECONFIG_DIR_MODE,
            what: format!("kubelet kubeconfig using the rotated client certificate {pem}"),
        });
        plan.items.push(PlanItem::Note(
            "restart the kubelet (daemon-reload + restart)".into(),
        ));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        let mut wrote = false;
        for (i, item) in plan.items.iter().enumerate() {
            apply_item(ctx.root, item)?;
            wrote |= matches!(item, PlanItem::File { .. });
            progress(i + 1);
        }
        if wrote {
            println!("[kubelet-finalize] Updating {KUBELET_CONF} to point to a rotatable kubelet client certificate and key");
            // kubeadm's TryRestartKubelet: a failure is only a warning.
            if let Err(e) = ctx.services.restart("kubelet") {
                println!("[kubelet-finalize] WARNING: cannot restart the kubelet: {e:#}");
            }
        }
        Ok(())
    }
}
