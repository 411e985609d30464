//! `firstboot token create|list|delete|generate`: kubeadm's bootstrap token commands (spec §7).
//!
//! Token values are secrets: they are printed only to stdout, and only by `create`, `list` and
//! `generate` (as kubeadm does); errors and logs show the token id at most.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::Secret;
use serde_json::{json, Value};

use super::{CliError, GlobalOpts, Output};
use crate::config::{self, validate, GoDuration, DEFAULT_TOKEN_GROUP};
use crate::join_material::{
    format_rfc3339_utc, is_valid_token_id, BootstrapToken, TokenInfo, TOKEN_SECRET_PREFIX,
};
use crate::kube::Cluster;
use crate::kubeconfig::Kubeconfig;
use crate::phases::bootstrap_token::{
    token_secret, ADMIN_CONF, TOKEN_NAMESPACE, TOKEN_SECRET_TYPE,
};

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token on the cluster and print it (or a JoinConfiguration).
    #[command(after_help = "\
Examples:
  # A 24h token for joining nodes
  firstboot token create
  # A given token that never expires
  firstboot token create abcdef.0123456789abcdef --ttl 0
  # A complete JoinConfiguration for user-data of a new worker
  firstboot token create --ttl 2h --print-join-config > join.yaml
  # ... of a new control-plane node (after `firstboot init phase upload-certs --upload-certs`)
  firstboot token create --print-join-config --certificate-key <key> > join-cp.yaml

With --print-join-config a FirstbootConfiguration follows the JoinConfiguration, recording when
the token (and the certificate key's kubeadm-certs Secret) expire, so the join fails early and
clearly once they have.

Bootstrap tokens are secrets: anyone holding one can join a node to the cluster. This command
prints them only to stdout; keep that output out of logs.")]
    Create(CreateArgs),
    /// List the bootstrap tokens of the cluster (full token values included).
    #[command(after_help = "\
Examples:
  firstboot token list
  firstboot token list -o json --kubeconfig /etc/kubernetes/admin.conf

Bootstrap tokens are secrets: anyone holding one can join a node to the cluster. This command
prints them only to stdout; keep that output out of logs.")]
    List(ListArgs),
    /// Delete bootstrap tokens (by id, or by full token).
    #[command(after_help = "\
Examples:
  firstboot token delete abcdef
  firstboot token delete abcdef 7x9k2m --kubeconfig ./admin.conf")]
    Delete(DeleteArgs),
    /// Print a new random token (nothing is created on the cluster).
    #[command(after_help = "\
Example:
  firstboot token generate

The token is a secret and is printed only to stdout.")]
    Generate,
}

/// Flags of `token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The token (`[a-z0-9]{6}.[a-z0-9]{16}`); a random one if omitted.
    pub token: Option<String>,
    /// Lifetime before the token is deleted automatically (`0` = never).
    #[arg(long, default_value = "24h0m0s", value_name = "DURATION")]
    pub ttl: String,
    /// Ways the token may be used (`signing`, `authentication`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "signing,authentication",
        value_name = "USAGES"
    )]
    pub usages: Vec<String>,
    /// Extra groups the token authenticates as (`system:bootstrappers:...`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = DEFAULT_TOKEN_GROUP,
        value_name = "GROUPS"
    )]
    pub groups: Vec<String>,
    /// Human-readable description of the token's purpose.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Print a kubeadm.k8s.io/v1beta4 JoinConfiguration using the token instead of the token
    /// (followed by a FirstbootConfiguration with the known expiry times).
    #[arg(long)]
    pub print_join_config: bool,
    /// With --print-join-config: a control-plane join with this certificate key (the one
    /// upload-certs used); its expiry is read from the kubeadm-certs Secret.
    #[arg(long, value_name = "KEY", requires = "print_join_config")]
    pub certificate_key: Option<String>,
    /// Output format of the created token.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Flags of `token list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Flags of `token delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Token ids (or full tokens) to delete.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

fn kubeconfig_path(g: &GlobalOpts) -> (PathBuf, String) {
    match &g.kubeconfig {
        Some(p) => (p.clone(), p.display().to_string()),
        None => (
            crate::fsutil::under_root(&g.root, ADMIN_CONF),
            ADMIN_CONF.to_string(),
        ),
    }
}

fn connect(g: &GlobalOpts) -> Result<Cluster, CliError> {
    let (path, display) = kubeconfig_path(g);
    Cluster::from_kubeconfig(&path, &display, Duration::from_secs(60)).map_err(CliError::failed)
}

/// Runs a `token` subcommand.
pub fn run(g: &GlobalOpts, c: &TokenCommand) -> Result<(), CliError> {
    match c {
        TokenCommand::Generate => {
            let t = BootstrapToken::generate().map_err(CliError::failed)?;
            println!("{}", t.expose());
            Ok(())
        }
        TokenCommand::Create(a) => create(g, a),
        TokenCommand::List(a) => list(g, a),
        TokenCommand::Delete(a) => delete(g, a),
    }
}

/// The bootstrap token a `create` would make, validated (errors never contain the secret).
pub fn token_from_args(a: &CreateArgs) -> Result<config::BootstrapToken, CliError> {
    let value = match &a.token {
        Some(t) => {
            BootstrapToken::parse(t).map_err(|e| CliError::bad_input(anyhow::anyhow!("{e}")))?;
            t.clone()
        }
        None => BootstrapToken::generate()
            .map_err(CliError::failed)?
            .expose(),
    };
    let ttl = GoDuration::parse(&a.ttl)
        .map_err(|e| CliError::bad_input(anyhow::anyhow!("--ttl: {e}")))?;
    let usages: Vec<String> = a
        .usages
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    for u in &usages {
        if u != "signing" && u != "authentication" {
            return Err(CliError::bad_input(anyhow::anyhow!(
                "--usages: unknown usage {u:?}; valid usages are signing, authentication"
            )));
        }
    }
    let groups: Vec<String> = a
        .groups
        .iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    for grp in &groups {
        if !validate::is_bootstrap_group(grp) {
            return Err(CliError::bad_input(anyhow::anyhow!(
                "--groups: {grp:?} does not match ^system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]$"
            )));
        }
    }
    Ok(config::BootstrapToken {
        description: a.description.clone(),
        expires: None,
        groups,
        token: value,
        ttl: Some(ttl),
        usages,
    })
}

/// The JoinConfiguration document (`kubeadm.k8s.io/v1beta4`) for `token`, discovering the
/// cluster through the server and CA of the kubeconfig at `path`.
pub fn join_config_yaml(
    path: &std::path::Path,
    display: &str,
    token: &str,
) -> anyhow::Result<String> {
    let kc = Kubeconfig::load(path).map_err(|e| anyhow::anyhow!("{display}: {e}"))?;
    let server = kc
        .server()
        .ok_or_else(|| anyhow::anyhow!("{display}: the current context has no cluster server"))?;
    let endpoint = server
        .strip_prefix("https://")
        .unwrap_or(server)
        .trim_end_matches('/');
    let ca = kc
        .current_cluster_ca_pem(path)
        .map_err(|e| anyhow::anyhow!("{display}: {e}"))?;
    let hashes = crate::pki::ca_cert_hash_from_pem(&ca, path)
        .map_err(|e| anyhow::anyhow!("{display}: CA data: {e}"))?;
    let doc = json!({
        "apiVersion": config::KUBEADM_API_VERSION,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": endpoint,
                "token": token,
                "caCertHashes": hashes,
            }
        }
    });
    Ok(serde_yaml::to_string(&doc)?)
}

fn token_json(t: &config::BootstrapToken, expires: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
        "kind": "BootstrapToken",
        "token": t.token,
        "usages": t.usages,
        "groups": t.groups,
    });
    if !t.description.is_empty() {
        v["description"] = t.description.clone().into();
    }
    if let Some(e) = expires {
        v["expires"] = e.into();
    }
    v
}

fn create(g: &GlobalOpts, a: &CreateArgs) -> Result<(), CliError> {
    let t = token_from_args(a)?;
    if let Some(key) = &a.certificate_key {
        crate::join_material::copycerts::CertificateKey::parse(key)
            .map_err(|e| CliError::bad_input(anyhow::anyhow!("--certificate-key: {e}")))?;
    }
    let secret = token_secret(&t, SystemTime::now()).map_err(CliError::bad_input)?;
    let id = BootstrapToken::parse(&t.token)
        .map(|x| x.id().to_string())
        .unwrap_or_default();
    let join = if a.print_join_config {
        let (path, display) = kubeconfig_path(g);
        Some(join_config_yaml(&path, &display, &t.token).map_err(CliError::failed)?)
    } else {
        None
    };
    let cluster = connect(g)?;
    if !cluster
        .create_if_missing(&secret)
        .map_err(CliError::failed)?
    {
        return Err(CliError::failed(anyhow::anyhow!(
            "a token with id {id:?} already exists"
        )));
    }
    if let Some(doc) = join {
        print!("{doc}");
        let token_expires = secret_expiration(&secret).unwrap_or_default();
        let mut key_expires = String::new();
        if let Some(key) = &a.certificate_key {
            println!("controlPlane:\n  certificateKey: {key}");
            key_expires = certificate_key_expiration(&cluster).unwrap_or_default();
        }
        let material = config::firstboot::JoinMaterial {
            token_expires,
            certificate_key_expires: key_expires,
        };
        if !material.is_empty() {
            let fb = json!({
                "apiVersion": config::firstboot::FIRSTBOOT_API_VERSION,
                "kind": "FirstbootConfiguration",
                "joinMaterial": material,
            });
            print!(
                "---\n{}",
                serde_yaml::to_string(&fb).map_err(CliError::failed)?
            );
        }
        return Ok(());
    }
    match a.output {
        Output::Json => {
            let expires = secret
                .data
                .as_ref()
                .and_then(|d| d.get("expiration"))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned());
            println!(
                "{}",
                serde_json::to_string_pretty(&token_json(&t, expires.as_deref()))
                    .map_err(CliError::failed)?
            );
        }
        Output::Table => println!("{}", t.token),
    }
    Ok(())
}

fn secret_expiration(s: &Secret) -> Option<String> {
    s.data
        .as_ref()?
        .get("expiration")
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// When the certificate key stops working: the expiration of the token owning
/// `kube-system/kubeadm-certs` (spec §9). `None` when unknown.
fn certificate_key_expiration(cluster: &Cluster) -> Option<String> {
    let certs: Secret = cluster
        .get(Some(TOKEN_NAMESPACE), "kubeadm-certs")
        .ok()
        .flatten()?;
    let owner = certs
        .metadata
        .owner_references?
        .into_iter()
        .find(|o| o.kind == "Secret")?;
    let tok: Secret = cluster
        .get(Some(TOKEN_NAMESPACE), &owner.name)
        .ok()
        .flatten()?;
    secret_expiration(&tok)
}

/// A token read back from its Secret.
#[derive(Debug, Clone)]
pub struct ListedToken {
    /// The token fields.
    pub token: config::BootstrapToken,
    /// `expiration` as stored.
    pub expires: Option<String>,
}

/// Reads a token Secret; `None` (with a warning on stderr naming the Secret, as kubeadm does)
/// for Secrets that are not valid tokens.
pub fn token_from_secret(s: &Secret) -> Option<ListedToken> {
    let info = match TokenInfo::from_secret(s) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    Some(ListedToken {
        token: config::BootstrapToken {
            description: info.description,
            expires: None,
            groups: info.groups,
            token: info.token.expose(),
            ttl: None,
            usages: info.usages,
        },
        expires: info.expires.map(format_rfc3339_utc),
    })
}

fn ttl_text(expires: Option<&str>) -> String {
    let Some(e) = expires else {
        return "<forever>".into();
    };
    let Ok(at) = time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
    else {
        return "<invalid>".into();
    };
    let left = at - time::OffsetDateTime::now_utc();
    if left.is_negative() {
        return "<invalid>".into();
    }
    let secs = left.whole_seconds();
    if secs >= 3600 {
        format!("{}h", (secs + 1800) / 3600)
    } else if secs >= 60 {
        format!("{}m", (secs + 30) / 60)
    } else {
        format!("{secs}s")
    }
}

fn list(g: &GlobalOpts, a: &ListArgs) -> Result<(), CliError> {
    let cluster = connect(g)?;
    let secrets: Vec<Secret> = cluster
        .list(
            Some(TOKEN_NAMESPACE),
            None,
            Some(&format!("type={TOKEN_SECRET_TYPE}")),
        )
        .map_err(CliError::failed)?;
    let tokens: Vec<ListedToken> = secrets.iter().filter_map(token_from_secret).collect();
    match a.output {
        Output::Json => {
            let v: Vec<Value> = tokens
                .iter()
                .map(|t| token_json(&t.token, t.expires.as_deref()))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(CliError::failed)?
            );
        }
        Output::Table => {
            println!("TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS");
            for t in &tokens {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.token.token,
                    ttl_text(t.expires.as_deref()),
                    t.expires.as_deref().unwrap_or("<never>"),
                    t.token.usages.join(","),
                    if t.token.description.is_empty() {
                        "<none>"
                    } else {
                        &t.token.description
                    },
                    t.token.groups.join(","),
                );
            }
        }
    }
    Ok(())
}

fn delete(g: &GlobalOpts, a: &DeleteArgs) -> Result<(), CliError> {
    let mut ids = Vec::new();
    for raw in &a.ids {
        let id = match raw.split_once('.') {
            Some(_) => BootstrapToken::parse(raw)
                .map_err(|e| CliError::bad_input(anyhow::anyhow!("{e}")))?
                .id()
                .to_string(),
            None if is_valid_token_id(raw) => raw.clone(),
            None => {
                return Err(CliError::bad_input(anyhow::anyhow!(
                    "{raw:?} is neither a token id ([a-z0-9]{{6}}) nor a token"
                )))
            }
        };
        ids.push(id);
    }
    let cluster = connect(g)?;
    for id in ids {
        let name = format!("{TOKEN_SECRET_PREFIX}{id}");
        if !cluster
            .delete::<Secret>(Some(TOKEN_NAMESPACE), &name)
            .map_err(CliError::failed)?
        {
            return Err(CliError::failed(anyhow::anyhow!(
                "bootstrap token {id:?} not found"
            )));
        }
        println!("bootstrap token {id:?} deleted");
    }
    Ok(())
}
