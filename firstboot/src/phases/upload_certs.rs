//! Phase `upload-certs` (only with `--upload-certs` / `uploadCerts: true`): creates a 2 h
//! bootstrap token that owns Secret `kube-system/kubeadm-certs` (the cluster CAs and service
//! account keys, AES-256-GCM encrypted with the certificate key), plus Role and RoleBinding
//! `kubeadm:kubeadm-certs` (spec §9).
//!
//! Encryption and token generation come from `firstboot::join_material::{copycerts, token}`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;

use super::upload_config::{role, role_binding, BOOTSTRAPPERS_GROUP, KUBE_SYSTEM};
use super::{Context, Phase, Plan, PlanItem};
use crate::join_material::{copycerts, token};
use crate::kube::ObjectItem;

/// The Secret holding the encrypted certificates.
pub const KUBEADM_CERTS_SECRET: &str = "kubeadm-certs";
/// Role and RoleBinding letting bootstrap tokens read [`KUBEADM_CERTS_SECRET`].
pub const KUBEADM_CERTS_RBAC: &str = "kubeadm:kubeadm-certs";
/// Description of the token owning [`KUBEADM_CERTS_SECRET`].
pub const TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
/// Lifetime of that token (and so of the uploaded certificates).
pub const CERTS_TTL: Duration = Duration::from_secs(2 * 3600);
/// Secret type of bootstrap tokens.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

/// The `upload-certs` phase.
pub struct UploadCerts;

/// Errors of certificate-key handling and encryption.
#[derive(Debug, thiserror::Error)]
pub enum CopyCertsError {
    /// The key is not 64 hex characters (32 bytes).
    #[error("certificate key: must be 32 bytes written as 64 hexadecimal characters")]
    BadKey,
    /// Encryption or decryption failed (wrong key, corrupt data).
    #[error("{0}")]
    Crypto(String),
}

/// Decodes a certificate key (hex, case-insensitive, exactly 32 bytes).
pub fn decode_key(key: &str) -> Result<[u8; 32], CopyCertsError> {
    let bytes = hex::decode(key.trim()).map_err(|_| CopyCertsError::BadKey)?;
    bytes.try_into().map_err(|_| CopyCertsError::BadKey)
}

/// A new random certificate key (64 lowercase hex characters).
pub fn generate_key() -> Result<String, CopyCertsError> {
    Ok(copycerts::CertificateKey::generate()
        .map_err(crypto)?
        .expose_hex())
}

fn crypto(e: impl std::fmt::Display) -> CopyCertsError {
    CopyCertsError::Crypto(e.to_string())
}

/// AES-256-GCM with a given 12-byte nonce: `nonce ‖ ciphertext ‖ tag` (§9, test vector §19.4).
pub fn encrypt_with_nonce(
    key: &[u8; 32],
    nonce: [u8; 12],
    plaintext: &[u8],
) -> Result<Vec<u8>, CopyCertsError> {
    copycerts::encrypt_with_nonce(
        &copycerts::CertificateKey::from_bytes(*key),
        &nonce,
        plaintext,
    )
    .map_err(crypto)
}

/// AES-256-GCM with a fresh random nonce (`join_material::copycerts::encrypt`).
pub fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Result<Vec<u8>, CopyCertsError> {
    copycerts::encrypt(&copycerts::CertificateKey::from_bytes(*key), plaintext).map_err(crypto)
}

/// Reverses [`encrypt`].
pub fn decrypt(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>, CopyCertsError> {
    copycerts::decrypt(&copycerts::CertificateKey::from_bytes(*key), data).map_err(crypto)
}

/// Secret keys and their source files (node paths), in kubeadm's order (§9).
pub fn cert_files(ctx: &Context) -> Vec<(String, String)> {
    let cfg = ctx.config;
    let dir = cfg
        .cluster
        .certificates_dir
        .trim_end_matches('/')
        .to_string();
    let mut files: Vec<(String, String)> = [
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
    if let Some(ext) = &cfg.cluster.etcd.external {
        files.push(("external-etcd-ca.crt".into(), ext.ca_file.clone()));
        files.push(("external-etcd.crt".into(), ext.cert_file.clone()));
        files.push(("external-etcd.key".into(), ext.key_file.clone()));
    } else {
        files.push(("etcd-ca.crt".into(), format!("{dir}/etcd/ca.crt")));
        files.push(("etcd-ca.key".into(), format!("{dir}/etcd/ca.key")));
    }
    files
}

/// The `kubeadm-certs` Secret: every file encrypted with `key` (missing files → empty value),
/// owned by the bootstrap-token Secret `owner`.
pub fn kubeadm_certs_secret(
    files: &[(String, Option<Vec<u8>>)],
    key: &[u8; 32],
    owner: Option<OwnerReference>,
) -> Result<Secret, CopyCertsError> {
    let mut data = BTreeMap::new();
    for (name, content) in files {
        let v = match content {
            Some(c) => encrypt(key, c)?,
            None => Vec::new(),
        };
        data.insert(name.clone(), ByteString(v));
    }
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(KUBEADM_CERTS_SECRET.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Secret::default()
    })
}

/// A random bootstrap token `(id, secret)` (`join_material::token::BootstrapToken::generate`).
pub fn generate_token() -> Result<(String, String), CopyCertsError> {
    let t = token::BootstrapToken::generate().map_err(crypto)?;
    Ok((t.id().to_string(), t.expose_secret().to_string()))
}

/// The Secret of the token owning `kubeadm-certs`: no usages, no groups, expiring at
/// `expiration`.
pub fn token_secret(id: &str, secret: &str, expiration: time::OffsetDateTime) -> Secret {
    let exp = expiration
        .replace_nanosecond(0)
        .unwrap_or(expiration)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let data = BTreeMap::from([
        (
            "description".to_string(),
            ByteString(TOKEN_DESCRIPTION.into()),
        ),
        ("expiration".to_string(), ByteString(exp.into_bytes())),
        ("token-id".to_string(), ByteString(id.into())),
        ("token-secret".to_string(), ByteString(secret.into())),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(format!("bootstrap-token-{id}")),
            namespace: Some(KUBE_SYSTEM.into()),
            ..ObjectMeta::default()
        },
        data: Some(data),
        type_: Some(BOOTSTRAP_TOKEN_TYPE.into()),
        ..Secret::default()
    }
}

/// Role and RoleBinding `kubeadm:kubeadm-certs`.
pub fn rbac_objects() -> Vec<ObjectItem> {
    vec![
        ObjectItem::apply(
            &role(
                KUBE_SYSTEM,
                KUBEADM_CERTS_RBAC,
                &["secrets"],
                &[KUBEADM_CERTS_SECRET],
                &["get"],
            ),
            "bootstrap tokens may read kubeadm-certs",
        ),
        ObjectItem::apply(
            &role_binding(KUBE_SYSTEM, KUBEADM_CERTS_RBAC, &[BOOTSTRAPPERS_GROUP]),
            "default bootstrap token group",
        ),
    ]
}

/// Certificate keys generated by this process, per node root (kubeadm keeps the generated key
/// in memory for show-join-command; it is never written to disk).
fn generated_keys() -> &'static Mutex<HashMap<PathBuf, String>> {
    static KEYS: std::sync::OnceLock<Mutex<HashMap<PathBuf, String>>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The certificate key of this run: `InitConfiguration.certificateKey`, or the one this process
/// generated in upload-certs. `None` if neither exists.
pub fn certificate_key_for(ctx: &Context) -> Option<String> {
    if let Some(k) = ctx
        .config
        .init
        .as_ref()
        .map(|i| i.certificate_key.clone())
        .filter(|k| !k.is_empty())
    {
        return Some(k);
    }
    generated_keys()
        .lock()
        .ok()
        .and_then(|m| m.get(ctx.root).cloned())
}

impl Phase for UploadCerts {
    fn name(&self) -> &'static str {
        "upload-certs"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("upload-certs");
        if !ctx.config.firstboot.upload_certs {
            plan.items.push(PlanItem::Note(
                "Skipping phase. Please see --upload-certs".into(),
            ));
            return Ok(plan);
        }
        plan.items.push(PlanItem::Note(format!(
            "create a bootstrap token (TTL {}h, no usages) that owns Secret {KUBE_SYSTEM}/{KUBEADM_CERTS_SECRET}",
            CERTS_TTL.as_secs() / 3600
        )));
        let names: Vec<String> = cert_files(ctx).into_iter().map(|(k, _)| k).collect();
        plan.items.push(PlanItem::Note(format!(
            "apply Secret {KUBE_SYSTEM}/{KUBEADM_CERTS_SECRET}: {} encrypted with the certificate key{}",
            names.join(", "),
            if certificate_key_for(ctx).is_some() {
                ""
            } else {
                " (generated and printed once)"
            }
        )));
        plan.items
            .extend(rbac_objects().into_iter().map(PlanItem::Object));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if !ctx.config.firstboot.upload_certs {
            println!("[upload-certs] Skipping phase. Please see --upload-certs");
            return Ok(());
        }
        if ctx.cluster.is_none() {
            return Ok(());
        }
        let cluster = ctx.cluster()?;
        let key_hex = match certificate_key_for(ctx) {
            Some(k) => k,
            None => {
                let k = generate_key()?;
                if let Ok(mut m) = generated_keys().lock() {
                    m.insert(ctx.root.to_path_buf(), k.clone());
                }
                k
            }
        };
        let key = decode_key(&key_hex)?;
        println!("[upload-certs] Storing the certificates in Secret \"{KUBEADM_CERTS_SECRET}\" in the \"{KUBE_SYSTEM}\" Namespace");

        // The token whose expiry garbage-collects the Secret.
        let (id, secret) = generate_token()?;
        let expiration = time::OffsetDateTime::now_utc() + CERTS_TTL;
        let tok = token_secret(&id, &secret, expiration);
        let name = format!("bootstrap-token-{id}");
        if !cluster.create_if_missing(&tok)? {
            anyhow::bail!("a bootstrap token with id {id} already exists");
        }
        let live: Secret = cluster.get(Some(KUBE_SYSTEM), &name)?.ok_or_else(|| {
            anyhow::anyhow!("Secret {KUBE_SYSTEM}/{name} vanished right after it was created")
        })?;
        let uid = live
            .metadata
            .uid
            .ok_or_else(|| anyhow::anyhow!("Secret {KUBE_SYSTEM}/{name} has no uid"))?;
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Secret".into(),
            name,
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        };

        let mut files = Vec::new();
        for (k, p) in cert_files(ctx) {
            let real = ctx.path(&p);
            let content = match std::fs::read(&real) {
                Ok(c) => Some(c),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => anyhow::bail!("cannot read {p}: {e}"),
            };
            files.push((k, content));
        }
        let s = kubeadm_certs_secret(&files, &key, Some(owner))?;
        cluster.apply(&s)?;
        for item in rbac_objects() {
            cluster.execute(&item)?;
        }
        progress(plan.items.len());
        println!("[upload-certs] Using certificate key:\n{key_hex}");
        Ok(())
    }
}
