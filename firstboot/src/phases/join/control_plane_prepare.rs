//! Phase `control-plane-prepare` (CP join, spec §13.1 #2): `download-certs` (decrypts the
//! `kube-system/kubeadm-certs` Secret with the certificate key, §9), `certs` (this node's
//! certificates, reusing the shared CAs), `kubeconfig` (admin, controller-manager, scheduler)
//! and `control-plane` (the three static pod manifests) — the init phases' libraries with the
//! cluster's stored ClusterConfiguration.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::{
    bootstrap_cluster, cluster_configuration, join_config, sub_context, with_cluster_configuration,
};
use crate::config::NodeConfig;
use crate::join::checks::certificate_key_expired_message;
use crate::phases::certs::Certs;
use crate::phases::control_plane::ControlPlane;
use crate::phases::kubeconfig::Kubeconfig;
use crate::phases::{Context, Phase, Plan, PlanItem};

/// Name of the Secret holding the encrypted shared certificates.
pub const KUBEADM_CERTS_SECRET: &str = "kubeadm-certs";

/// The `control-plane-prepare` phase.
pub struct ControlPlanePrepare;

/// One file download-certs writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFile {
    /// Node path.
    pub path: String,
    /// Content (PEM; may be a private key — never printed).
    pub content: Vec<u8>,
    /// 0600 for private keys, 0644 otherwise.
    pub mode: u32,
}

/// Secret keys expected by a joining node and the node paths they go to (§9).
pub fn expected_files(cfg: &NodeConfig) -> Vec<(String, String)> {
    let dir = cfg.cluster.certificates_dir.trim_end_matches('/');
    let mut v: Vec<(String, String)> = [
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.pub",
        "sa.key",
    ]
    .iter()
    .map(|f| (f.to_string(), format!("{dir}/{f}")))
    .collect();
    match &cfg.cluster.etcd.external {
        Some(ext) => {
            v.push(("external-etcd-ca.crt".into(), ext.ca_file.clone()));
            v.push(("external-etcd.crt".into(), ext.cert_file.clone()));
            v.push(("external-etcd.key".into(), ext.key_file.clone()));
        }
        None => {
            v.push(("etcd-ca.crt".into(), format!("{dir}/etcd/ca.crt")));
            v.push(("etcd-ca.key".into(), format!("{dir}/etcd/ca.key")));
        }
    }
    v
}

/// Parses a certificate key: 64 hex characters (case-insensitive) = 32 bytes.
pub fn parse_certificate_key(key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(key.trim()).map_err(|_| {
        anyhow::anyhow!("controlPlane.certificateKey is not hex (want 64 hex characters)")
    })?;
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!("controlPlane.certificateKey must decode to 32 bytes (64 hex characters)")
    })
}

/// Decrypts one kubeadm-certs value (nonce ‖ ciphertext ‖ tag, AES-256-GCM) with
/// [`crate::join_material::copycerts::decrypt`].
pub fn decrypt_value(key: &[u8; 32], data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let key = crate::join_material::copycerts::CertificateKey::from_bytes(*key);
    crate::join_material::copycerts::decrypt(&key, data)
        .map_err(|e| anyhow::anyhow!("cannot decrypt (wrong certificate key?): {e}"))
}

fn file_mode(key: &str, data: &[u8]) -> anyhow::Result<u32> {
    let blocks = pem::parse_many(data).unwrap_or_default();
    if blocks.iter().any(|b| b.tag().ends_with("PRIVATE KEY")) {
        return Ok(0o600);
    }
    if blocks
        .iter()
        .any(|b| b.tag() == "CERTIFICATE" || b.tag() == "PUBLIC KEY")
    {
        return Ok(0o644);
    }
    anyhow::bail!("unknown data found in Secret entry {key:?}")
}

/// What download-certs writes for the Secret `data`: every value decrypted first (any
/// failure aborts with nothing written), every expected key present, empty values skipped.
pub fn certs_from_secret(
    data: &BTreeMap<String, Vec<u8>>,
    certificate_key: &str,
    expected: &[(String, String)],
) -> anyhow::Result<Vec<CertFile>> {
    let key = parse_certificate_key(certificate_key)?;
    let mut plain = BTreeMap::new();
    for (k, v) in data.iter().filter(|(_, v)| !v.is_empty()) {
        let p = decrypt_value(&key, v).map_err(|e| {
            anyhow::anyhow!("Secret kube-system/{KUBEADM_CERTS_SECRET}, entry {k:?}: {e}")
        })?;
        plain.insert(k.clone(), p);
    }
    let mut out = Vec::new();
    for (k, path) in expected {
        if !data.contains_key(k) {
            anyhow::bail!(
                "Secret kube-system/{KUBEADM_CERTS_SECRET} has no entry {k:?} that this node needs"
            );
        }
        let Some(content) = plain.get(k) else {
            continue;
        };
        out.push(CertFile {
            path: path.clone(),
            mode: file_mode(k, content)?,
            content: content.clone(),
        });
    }
    Ok(out)
}

/// The join configuration with the cluster's ClusterConfiguration (read with the bootstrap
/// token), or the local one when there is no cluster connection (dry run).
fn joined_config(ctx: &Context) -> anyhow::Result<NodeConfig> {
    if ctx.cluster.is_none() {
        return Ok(ctx.config.clone());
    }
    let cluster = bootstrap_cluster(ctx)?;
    let cc = cluster_configuration(&cluster)?;
    if cc.control_plane_endpoint.is_empty() {
        anyhow::bail!(
            "unable to add a new control plane instance to a cluster that doesn't have a stable controlPlaneEndpoint \
             address (ClusterConfiguration.controlPlaneEndpoint in kube-system/kubeadm-config)"
        );
    }
    Ok(with_cluster_configuration(ctx.config, cc))
}

fn selected(ctx: &Context, sub: &str) -> bool {
    ctx.selected("control-plane-prepare", sub)
}

/// Skips that make the init phases do only what a CP join needs.
fn join_skips() -> Vec<String> {
    vec!["kubeconfig/super-admin".into(), "kubeconfig/kubelet".into()]
}

impl Phase for ControlPlanePrepare {
    fn name(&self) -> &'static str {
        "control-plane-prepare"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("control-plane-prepare");
        let j = join_config(ctx)?;
        let Some(cp) = &j.control_plane else {
            plan.items.push(PlanItem::Note(
                "not a control-plane join: nothing to do".into(),
            ));
            return Ok(plan);
        };
        if selected(ctx, "download-certs") {
            if cp.certificate_key.is_empty() {
                plan.items.push(PlanItem::Note(
                    "download-certs: no certificate key; the shared CAs and sa key must already be on disk".into(),
                ));
            } else {
                for (k, path) in expected_files(ctx.config) {
                    plan.items.push(PlanItem::Generate {
                        path,
                        mode: if k.ends_with(".key") { 0o600 } else { 0o644 },
                        what: format!("from Secret kube-system/{KUBEADM_CERTS_SECRET} entry {k}"),
                    });
                }
            }
        }
        let skip = join_skips();
        let sub = sub_context(ctx, ctx.config, &skip);
        if selected(ctx, "certs") {
            plan.items.extend(Certs.plan(&sub)?.items);
        }
        if selected(ctx, "kubeconfig") {
            match Kubeconfig.plan(&sub) {
                Ok(p) => plan.items.extend(p.items),
                // The CA arrives with download-certs: planned once it is on disk.
                Err(e) => plan.items.push(PlanItem::Note(format!(
                    "kubeconfig: admin.conf, controller-manager.conf, scheduler.conf once the CA is on disk ({e})"
                ))),
            }
        }
        if selected(ctx, "control-plane") {
            plan.items.extend(ControlPlane.plan(&sub)?.items);
        }
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        let j = join_config(ctx)?;
        let Some(cp) = &j.control_plane else {
            return Ok(());
        };
        // Expired join material fails here, before anything is written (a dry run checks
        // the configuration's known expiry only).
        super::check_join_material(ctx)?;
        if ctx.cluster.is_none() {
            return Ok(()); // dry run: the plan was printed, nothing to contact
        }
        let cfg = joined_config(ctx)?;
        let mut done = 0;
        if selected(ctx, "download-certs") && !cp.certificate_key.is_empty() {
            println!("[download-certs] Downloading the certificates in Secret \"{KUBEADM_CERTS_SECRET}\" in the \"kube-system\" Namespace");
            let cluster = bootstrap_cluster(ctx)?;
            let secret: Secret = cluster
                .get(Some("kube-system"), KUBEADM_CERTS_SECRET)?
                .ok_or_else(|| anyhow::anyhow!("{}", certificate_key_expired_message()))?;
            let data: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            let files = certs_from_secret(&data, &cp.certificate_key, &expected_files(&cfg))?;
            for f in files {
                crate::fsutil::write_atomic(&ctx.path(&f.path), &f.content, f.mode, 0o755)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", f.path))?;
                done += 1;
                progress(done);
            }
        } else if selected(ctx, "download-certs") {
            // Without a key the shared certificates must already be here (§3.4).
            for (_, path) in expected_files(&cfg) {
                let p = ctx.path(&path);
                if !p.exists() && !path.ends_with("external-etcd.key") {
                    anyhow::bail!(
                        "{path} is missing: join a control-plane node with controlPlane.certificateKey (after \
                         `firstboot init phase upload-certs --upload-certs`) or copy the shared certificates first"
                    );
                }
            }
        }
        let skip = join_skips();
        let sub = sub_context(ctx, &cfg, &skip);
        let mut step = |phase: &dyn Phase| -> anyhow::Result<()> {
            let p = phase.plan(&sub)?;
            phase.apply(&sub, &p, &mut |_| {})?;
            done += 1;
            progress(done);
            Ok(())
        };
        if selected(ctx, "certs") {
            step(&Certs)?;
        }
        if selected(ctx, "kubeconfig") {
            step(&Kubeconfig)?;
        }
        if selected(ctx, "control-plane") {
            step(&ControlPlane)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn decrypt_spec_vector() {
        // §19.4.
        let key = parse_certificate_key(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .unwrap();
        let stored = base64::engine::general_purpose::STANDARD
            .decode("a3ViZWFkbS1jZXJ0/oRfM3ty3AkbKca/XhsYjZIIWjtTsKb2psd7d3yVFdQU2pIgS5Y82kADnY+s1MsvUidDyQK1B5noNpfM0NBujKV5G8/V6YnOBWkG")
            .unwrap();
        assert_eq!(
            decrypt_value(&key, &stored).unwrap(),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        );
        let mut wrong = key;
        wrong[0] ^= 1;
        assert!(decrypt_value(&wrong, &stored).is_err());
        assert!(parse_certificate_key("abcd").is_err());
        assert!(parse_certificate_key(&"A".repeat(64)).is_ok());
    }
}
