//! `firstboot certs ...`: check-expiration, renew and generate-csr over the PKI library.

use clap::{Args, Subcommand};

use super::{CliError, GlobalOpts, Output};
use crate::config::{HostFacts, Mode};
use crate::pki;

/// `certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Show the expiry of every kubeadm-managed certificate.
    #[command(
        after_help = "Examples:\n  firstboot certs check-expiration\n  firstboot certs check-expiration -o json"
    )]
    CheckExpiration(CheckArgs),
    /// Renew a certificate (or all) with the existing CA, keeping its subject and SANs.
    #[command(
        after_help = "Examples:\n  firstboot certs renew all\n  firstboot certs renew apiserver\n  firstboot certs renew admin.conf"
    )]
    Renew(RenewArgs),
    /// Write keys and CSRs for an external CA to sign.
    #[command(
        after_help = "Example:\n  firstboot certs generate-csr --cert-dir /etc/kubernetes/pki --kubeconfig-dir /etc/kubernetes"
    )]
    GenerateCsr(CsrArgs),
}

/// `check-expiration` flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `renew` flags.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// `all` or a certificate name (`apiserver`, `admin.conf`, ...).
    pub name: String,
}

/// `generate-csr` flags.
#[derive(Debug, Args)]
pub struct CsrArgs {
    /// Where to write the certificate keys and CSRs (node path; default: certificatesDir).
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// Where to write the kubeconfig keys and CSRs (node path).
    #[arg(long, default_value = "/etc/kubernetes")]
    pub kubeconfig_dir: String,
}

/// Runs a `certs` subcommand.
pub fn run(g: &GlobalOpts, c: &CertsCommand) -> Result<(), CliError> {
    if g.dry_run && !matches!(c, CertsCommand::CheckExpiration(_)) {
        return Err(CliError {
            code: crate::runner::EXIT_BAD_INPUT,
            error: anyhow::anyhow!(
                "--dry-run is not supported by `certs renew` and `certs generate-csr`"
            ),
        });
    }
    let facts = HostFacts::detect(&g.root);
    let cfg = super::load_config(g, &facts, Some(Mode::Init))?;
    let cert_dir = super::node_path(&g.root, &cfg.cluster.certificates_dir);
    let kubeconfig_dir = super::node_path(&g.root, "/etc/kubernetes");
    let local_etcd = cfg.has_local_etcd();
    let now = time::OffsetDateTime::now_utc();
    let failed = |e: pki::PkiError| CliError {
        code: crate::runner::EXIT_FAILED,
        error: e.into(),
    };
    match c {
        CertsCommand::CheckExpiration(a) => {
            let info = pki::check_expiration(&pki::ExpirationParams {
                cert_dir,
                kubeconfig_dir,
                local_etcd,
                now,
            })
            .map_err(failed)?;
            match a.output {
                Output::Json => println!("{}", info.to_json()),
                Output::Table => print!("{}", info.to_table(now)),
            }
            Ok(())
        }
        CertsCommand::Renew(a) => {
            let params = pki::RenewParams {
                cert_dir,
                kubeconfig_dir,
                local_etcd,
                encryption_algorithm: cfg.cluster.encryption_algorithm.parse().map_err(failed)?,
                cert_validity: time::Duration::try_from(
                    cfg.cluster
                        .certificate_validity_period
                        .map(|d| d.as_duration())
                        .unwrap_or(std::time::Duration::from_secs(8760 * 3600)),
                )
                .map_err(|e| CliError {
                    code: crate::runner::EXIT_BAD_INPUT,
                    error: e.into(),
                })?,
                start_time: now,
            };
            let results =
                pki::renew(&params, std::slice::from_ref(&a.name)).map_err(|e| match e {
                    pki::PkiError::UnknownCertificate(_) => CliError {
                        code: crate::runner::EXIT_BAD_INPUT,
                        error: e.into(),
                    },
                    e => failed(e),
                })?;
            for r in &results {
                for w in &r.warnings {
                    eprintln!("{w}");
                }
                println!("{}", r.message);
            }
            println!(
                "\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates."
            );
            Ok(())
        }
        CertsCommand::GenerateCsr(a) => {
            let ctx_root = g.root.clone();
            let ctx = crate::phases::Context {
                root: &ctx_root,
                host_root: &ctx_root,
                config: &cfg,
                facts: &facts,
                subphase: None,
                skip: &[],
                start_time: std::time::SystemTime::now(),
                cluster: None,
                services: &crate::kube::NoServices::default(),
            };
            let mut p = crate::phases::certs::pki_params(&ctx).map_err(|e| CliError {
                code: crate::runner::EXIT_BAD_INPUT,
                error: e,
            })?;
            if let Some(d) = &a.cert_dir {
                p.cert_dir = super::node_path(&g.root, d);
            }
            let report = pki::generate_csrs(&pki::CsrParams {
                pki: p,
                kubeconfig_dir: super::node_path(&g.root, &a.kubeconfig_dir),
                cluster_name: cfg.cluster.cluster_name.clone(),
                kubeconfig_files: crate::kubeconfig::KubeconfigFile::INIT.to_vec(),
            })
            .map_err(failed)?;
            for w in &report.written {
                println!("[certs] wrote {}", w.display());
            }
            for r in &report.reused {
                println!("[certs] kept existing {}", r.display());
            }
            Ok(())
        }
    }
}
