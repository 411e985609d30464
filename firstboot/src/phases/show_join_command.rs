//! Phase `show-join-command`: prints the `kubeadm join` commands for workers and (with a
//! `controlPlaneEndpoint`) control-plane nodes, one block per bootstrap token (spec §12). Writes
//! nothing; the commands carry secrets and go to stdout only.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;

use super::{Context, Phase, Plan, PlanItem};
use crate::kubeconfig::Kubeconfig;
use crate::pki::ca_cert_hash_from_pem;

/// The admin kubeconfig the join endpoint and CA are read from.
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

/// The `show-join-command` phase.
pub struct ShowJoinCommand;

/// What a join command needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInfo {
    /// `host:port` of the API server (the admin kubeconfig's server without `https://`).
    pub endpoint: String,
    /// `sha256:<hex>` per CA certificate.
    pub ca_cert_hashes: Vec<String>,
}

/// The `kubeadm join` command for `token` (`control_plane`: `Some(key)` adds `--control-plane`
/// and, when the key is set, `--certificate-key`).
pub fn join_command(info: &JoinInfo, token: &str, control_plane: Option<Option<&str>>) -> String {
    let mut s = format!("kubeadm join {} --token {token} \\\n", info.endpoint);
    let n = info.ca_cert_hashes.len();
    for (i, h) in info.ca_cert_hashes.iter().enumerate() {
        s.push_str(&format!("\t--discovery-token-ca-cert-hash {h}"));
        if i + 1 < n || control_plane.is_some() {
            s.push_str(" \\\n");
        }
    }
    match control_plane {
        Some(Some(key)) => s.push_str(&format!("\t--control-plane --certificate-key {key}")),
        Some(None) => s.push_str("\t--control-plane"),
        None => {}
    }
    s.push('\n');
    s
}

/// kubeadm's closing message with the join commands for every token. `control_plane_endpoint`
/// decides whether the control-plane variant is shown; `certificate_key` is shown only when
/// certificates were uploaded.
pub fn join_message(
    info: &JoinInfo,
    tokens: &[String],
    control_plane_endpoint: bool,
    upload_certs: bool,
    certificate_key: Option<&str>,
) -> String {
    let mut out = String::from(
        "Your Kubernetes control-plane has initialized successfully!\n\n\
         To start using your cluster, you need to run the following as a regular user:\n\n  \
         mkdir -p $HOME/.kube\n  \
         sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n  \
         sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n\
         Alternatively, if you are the root user, you can run:\n\n  \
         export KUBECONFIG=/etc/kubernetes/admin.conf\n\n\
         You should now deploy a pod network to the cluster.\n\
         Run \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  \
         https://kubernetes.io/docs/concepts/cluster-administration/addons/\n\n\
         SECRETS: the join commands below contain bootstrap tokens (and, for control-plane nodes, \
         the certificate key); treat them as secrets.\n\n",
    );
    for token in tokens {
        if control_plane_endpoint {
            if upload_certs {
                out.push_str("You can now join any number of control-plane nodes running the following command on each as root:\n\n");
            } else {
                out.push_str("You can now join any number of control-plane nodes by copying certificate authorities\nand service account keys on each node and then running the following as root:\n\n");
            }
            let key = if upload_certs { certificate_key } else { None };
            for line in join_command(info, token, Some(key)).lines() {
                out.push_str(&format!("  {line}\n"));
            }
            out.push('\n');
            if upload_certs {
                out.push_str(
                    "Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n\
                     As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\
                     \"kubeadm init phase upload-certs --upload-certs\" to reload certs afterward.\n\n",
                );
            }
            out.push_str("Then you can join any number of worker nodes by running the following on each as root:\n\n");
        } else {
            out.push_str("Then you can join any number of worker nodes by running the following on each as root:\n\n");
        }
        out.push_str(&join_command(info, token, None));
        out.push('\n');
    }
    out
}

/// Reads the join endpoint and CA pins from a kubeconfig (`display` names it in errors).
pub fn join_info(kubeconfig: &Path, display: &str) -> anyhow::Result<JoinInfo> {
    let kc = Kubeconfig::load(kubeconfig)?;
    let server = kc
        .server()
        .ok_or_else(|| anyhow::anyhow!("{display}: the current cluster has no server"))?;
    let endpoint = server.trim_start_matches("https://").to_string();
    let ca = kc.current_cluster_ca_pem(Path::new(display))?;
    let ca_cert_hashes = ca_cert_hash_from_pem(&ca, Path::new(display))?;
    if ca_cert_hashes.is_empty() {
        anyhow::bail!("{display}: no CA certificate in the current cluster");
    }
    Ok(JoinInfo {
        endpoint,
        ca_cert_hashes,
    })
}

fn kubeconfig_path(ctx: &Context) -> (PathBuf, String) {
    match ctx.cluster {
        Some(c) => (
            c.kubeconfig().to_path_buf(),
            c.kubeconfig().display().to_string(),
        ),
        None => (ctx.path(ADMIN_CONF), ADMIN_CONF.to_string()),
    }
}

/// Authentication bootstrap tokens of the default node group present in the cluster
/// (`<id>.<secret>`), for tokens the bootstrap-token phase generated.
fn cluster_tokens(ctx: &Context) -> anyhow::Result<Vec<String>> {
    let secrets: Vec<Secret> = ctx.cluster()?.list(
        Some("kube-system"),
        None,
        Some("type=bootstrap.kubernetes.io/token"),
    )?;
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for s in secrets {
        let data = s.data.unwrap_or_default();
        let get = |k: &str| {
            data.get(k)
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .unwrap_or_default()
        };
        let expired = time::OffsetDateTime::parse(
            &get("expiration"),
            &time::format_description::well_known::Rfc3339,
        )
        .is_ok_and(|t| t <= now);
        if get("usage-bootstrap-authentication") == "true"
            && get("auth-extra-groups")
                .split(',')
                .any(|g| g == super::upload_config::BOOTSTRAPPERS_GROUP)
            && !expired
        {
            out.push(format!("{}.{}", get("token-id"), get("token-secret")));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether certificates are uploaded in this run (`--upload-certs` / `uploadCerts`).
pub fn upload_certs_enabled(ctx: &Context) -> bool {
    ctx.config.firstboot.upload_certs
}

impl Phase for ShowJoinCommand {
    fn name(&self) -> &'static str {
        "show-join-command"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("show-join-command");
        let cpe = !ctx.config.cluster.control_plane_endpoint.is_empty();
        plan.items.push(PlanItem::Note(format!(
            "print the join command for worker nodes{} (bootstrap tokens are secrets: stdout only)",
            if cpe {
                " and for control-plane nodes"
            } else {
                ""
            }
        )));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if ctx.cluster.is_none() {
            return Ok(());
        }
        let (path, display) = kubeconfig_path(ctx);
        let info = join_info(&path, &display)?;
        let configured = ctx
            .config
            .init
            .as_ref()
            .map(|i| i.bootstrap_tokens.clone())
            .unwrap_or_default();
        let mut tokens: Vec<String> = configured
            .iter()
            .filter(|t| !t.token.is_empty())
            .map(|t| t.token.clone())
            .collect();
        if configured.is_empty() || configured.iter().any(|t| t.token.is_empty()) {
            for t in cluster_tokens(ctx)? {
                if !tokens.contains(&t) {
                    tokens.push(t);
                }
            }
        }
        if tokens.is_empty() {
            anyhow::bail!(
                "no bootstrap token to show: run the bootstrap-token phase first (firstboot init phase bootstrap-token)"
            );
        }
        let upload = upload_certs_enabled(ctx);
        let key = super::upload_certs::certificate_key_for(ctx);
        if upload && key.is_none() {
            println!("[show-join-command] WARNING: the certificate key of this run is not known (upload-certs ran in an earlier run); re-run `firstboot init phase upload-certs` to upload with a new key");
        }
        print!(
            "{}",
            join_message(
                &info,
                &tokens,
                !ctx.config.cluster.control_plane_endpoint.is_empty(),
                upload,
                key.as_deref(),
            )
        );
        progress(1);
        Ok(())
    }
}
