//! `firstboot userdata {init|join|ca}`: cloud-init user-data for nodes, and the shared CA set it
//! is rendered from.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, GlobalOpts, Output};
use crate::pki::EncryptionAlgorithm;
use crate::userdata::{self, CaSetOutcome, RenderRequest, Role, UserDataError};

/// Help of `firstboot userdata`.
pub const USERDATA_HELP: &str = "\
User-data holds secrets (CA private keys, bootstrap tokens, certificate keys): write it with
--out (mode 0600), never commit or log it, and hand it only to the machine it is for.

Examples (a whole fleet before any machine exists):
  # 1. The cluster's CAs; prints the caCertHashes value for the joins
  firstboot userdata ca --out ./cluster-ca
  # 2. The first control-plane node, with a pre-created bootstrap token in InitConfiguration
  firstboot userdata init --config init.yaml --ca-dir ./cluster-ca --out cp1.user-data
  # 3. More control-plane nodes (JoinConfiguration with controlPlane) share the same CAs
  firstboot userdata join --config cp-join.yaml --ca-dir ./cluster-ca --out cp2.user-data
  # 4. Workers get only their configuration
  firstboot userdata join --config worker.yaml --out worker.user-data";

const RENDER_HELP: &str = "\
The configuration is validated as `firstboot run` reads it on the node (exit 2 if invalid) and
written to /etc/kubebake/firstboot.yaml (0600); with --ca-dir the CA key pairs go to the
certificates directory (keys 0600, certificates 0644). kubebake-firstboot.service then runs
`firstboot run` on first boot.

User-data holds secrets: use --out FILE (created with mode 0600) rather than stdout.";

/// `userdata` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserdataCommand {
    /// User-data for the first control-plane node (InitConfiguration/ClusterConfiguration).
    #[command(after_help = format!("{RENDER_HELP}\n\nExamples:\n  firstboot userdata init --config init.yaml --ca-dir ./cluster-ca --out cp1.user-data\n  firstboot userdata init --config init.yaml > cp1.user-data   # the node makes its own CAs"))]
    Init(RenderArgs),
    /// User-data for a joining node: control plane (controlPlane set, needs --ca-dir) or worker.
    #[command(after_help = format!("{RENDER_HELP}\n\nExamples:\n  firstboot userdata join --config cp-join.yaml --ca-dir ./cluster-ca --out cp2.user-data\n  firstboot userdata join --config worker.yaml --out worker.user-data"))]
    Join(RenderArgs),
    /// Create the cluster's shared CA set (ca, front-proxy-ca, etcd/ca, sa) and print caCertHashes.
    #[command(after_help = "\
Creates DIR (mode 0700) with ca.crt/ca.key, front-proxy-ca.crt/.key, etcd/ca.crt/.key and
sa.key/sa.pub, named as under /etc/kubernetes/pki. Keys are secrets (mode 0600). A DIR that
already holds a complete, valid set is kept and its hash printed; anything else is refused.

Examples:
  firstboot userdata ca --out ./cluster-ca
  firstboot userdata ca --out ./cluster-ca --encryption-algorithm ECDSA-P256 -o json")]
    Ca(CaArgs),
}

/// Flags of `userdata init` and `userdata join` (the configuration is the global `--config`).
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// CA set to ship to a control-plane node (from `firstboot userdata ca`).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Write the user-data to FILE (mode 0600, atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Flags of `userdata ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// Directory to create the CA set in.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Key type of the new keys (kubeadm's encryptionAlgorithm).
    #[arg(long, value_name = "ALG", default_value = "RSA-2048", value_parser = parse_alg)]
    pub encryption_algorithm: EncryptionAlgorithm,
    /// Output format of the hash.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

fn parse_alg(s: &str) -> Result<EncryptionAlgorithm, String> {
    s.parse().map_err(|e: crate::pki::PkiError| e.to_string())
}

fn to_cli(e: UserDataError) -> CliError {
    if e.is_bad_input() {
        CliError::bad_input(e)
    } else {
        CliError::failed(e)
    }
}

/// Runs a `userdata` subcommand.
pub fn run(g: &GlobalOpts, c: &UserdataCommand) -> Result<(), CliError> {
    match c {
        UserdataCommand::Init(a) => render(g, Role::Init, a),
        UserdataCommand::Join(a) => render(g, Role::Join, a),
        UserdataCommand::Ca(a) => ca(g, a),
    }
}

fn render(g: &GlobalOpts, role: Role, a: &RenderArgs) -> Result<(), CliError> {
    let Some(path) = g.config.as_deref() else {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--config FILE is required: the node's configuration (kubeadm v1beta4 documents + FirstbootConfiguration)"
        )));
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::bad_input(anyhow::anyhow!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    let source = path.display().to_string();
    let out = userdata::render(&RenderRequest {
        role,
        source: &source,
        config: &text,
        ca_dir: a.ca_dir.as_deref(),
    })
    .map_err(to_cli)?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    match &a.out {
        None => print!("{}", out.user_data),
        Some(file) if g.dry_run => eprintln!(
            "[dry-run] would write {} (mode 0600, {} bytes)",
            file.display(),
            out.user_data.len()
        ),
        Some(file) => {
            write_private(file, out.user_data.as_bytes())?;
            eprintln!(
                "wrote {} (mode 0600): it holds secrets, keep it private",
                file.display()
            );
        }
    }
    Ok(())
}

fn write_private(file: &Path, data: &[u8]) -> Result<(), CliError> {
    crate::fsutil::write_atomic(file, data, 0o600, 0o700)
        .map_err(|e| CliError::failed(anyhow::anyhow!("cannot write {}: {e}", file.display())))
}

fn ca(g: &GlobalOpts, a: &CaArgs) -> Result<(), CliError> {
    let (set, outcome) = if g.dry_run {
        match userdata::read_ca_set(&a.out, true) {
            Ok(set) => (set, CaSetOutcome::Kept),
            Err(_) => {
                eprintln!(
                    "[dry-run] would create a {} CA set in {} (unless it holds something else)",
                    a.encryption_algorithm,
                    a.out.display()
                );
                return Ok(());
            }
        }
    } else {
        userdata::create_ca_set(&a.out, a.encryption_algorithm).map_err(to_cli)?
    };
    match a.output {
        Output::Json => {
            let v = serde_json::json!({
                "caCertHashes": [set.ca_cert_hash],
                "dir": a.out.display().to_string(),
                "created": outcome == CaSetOutcome::Created,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(CliError::failed)?
            );
        }
        Output::Table => {
            match outcome {
                CaSetOutcome::Created => eprintln!(
                    "created the CA set in {} ({}); its keys are secrets",
                    a.out.display(),
                    a.encryption_algorithm
                ),
                CaSetOutcome::Kept => eprintln!(
                    "{} already holds a complete CA set; kept it",
                    a.out.display()
                ),
            }
            println!("{}", set.ca_cert_hash);
        }
    }
    Ok(())
}
