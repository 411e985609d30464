//! `firstboot upgrade plan`: which upgrades the given or staged bundles allow, answered from the
//! offline release index (never waiting on a network unless a mirror is given), with cluster
//! state from the API server or, when it cannot be reached, from the node's own files.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, GlobalOpts, Output};
use crate::config::HostFacts;
use crate::upgrade::getters::{ClusterStateGetter, NodeStateGetter};
use crate::upgrade::plan::{compute, PlanOptions, UpgradePlan};
use offline::version::{
    IndexVersionGetter, KubeVersion, LayeredVersionGetter, MirrorVersionGetter, VersionGetter,
};

/// Where the staged release index lives (written by `bake stage`).
pub const STAGED_INDEX: &str = "/var/lib/kubebake/release-index.yaml";

/// `upgrade` subcommands.
#[derive(Debug, Subcommand)]
pub enum UpgradeCommand {
    /// Show the upgrades the offline bundles allow, and why other versions are not offered.
    #[command(after_help = "\
Examples:
  # Answer from the staged release index, cluster state from the API server (or this node)
  firstboot upgrade plan

  # What a new bundle would allow (the bundle is verified first)
  firstboot upgrade plan --bundle kubernetes-v1.36.4-linux-amd64.tar.gz -o json

  # Ask a release mirror instead of an index (10 s timeout per label)
  firstboot upgrade plan --mirror https://mirror.example/release")]
    Plan(PlanArgs),
}

/// `upgrade plan` flags.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A bundle whose release index answers the version questions (verified first).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// minisign public key the bundle's signature must verify with.
    #[arg(long, value_name = "FILE", requires = "bundle")]
    pub public_key: Option<PathBuf>,
    /// A release mirror (`<url>/<label>.txt`) instead of a release index.
    #[arg(long, value_name = "URL", conflicts_with = "bundle")]
    pub mirror: Option<String>,
    /// Offer release candidates.
    #[arg(long)]
    pub allow_release_candidate_upgrades: bool,
    /// Offer alpha and beta versions.
    #[arg(long)]
    pub allow_experimental_upgrades: bool,
    /// Do not ask the API server; use this node's files.
    #[arg(long)]
    pub offline: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Runs an `upgrade` subcommand.
pub fn run(g: &GlobalOpts, c: &UpgradeCommand) -> Result<(), CliError> {
    match c {
        UpgradeCommand::Plan(a) => plan(g, a),
    }
}

fn failed(e: impl Into<anyhow::Error>) -> CliError {
    CliError {
        code: crate::runner::EXIT_FAILED,
        error: e.into(),
    }
}

fn bad(e: impl Into<anyhow::Error>) -> CliError {
    CliError {
        code: crate::runner::EXIT_BAD_INPUT,
        error: e.into(),
    }
}

fn labels_getter(g: &GlobalOpts, a: &PlanArgs) -> Result<Box<dyn VersionGetter>, CliError> {
    if let Some(bundle) = &a.bundle {
        let opts = offline::bundle::VerifyOptions {
            public_key: a.public_key.clone(),
            signature: None,
        };
        let report = offline::bundle::verify(bundle, &opts, &offline::progress::Silent)
            .map_err(|e| failed(anyhow::anyhow!("bundle {}: {e}", bundle.display())))?;
        let getter = IndexVersionGetter::new(
            report.release_index,
            &format!("bundle {}", bundle.display()),
        )
        .map_err(bad)?;
        return Ok(Box::new(getter));
    }
    let staged = crate::fsutil::under_root(&g.root, STAGED_INDEX);
    let staged_getter = IndexVersionGetter::from_file(&staged);
    if let Some(mirror) = &a.mirror {
        let kubeadm = match &staged_getter {
            Ok(s) => s.kubeadm_version().map_err(bad)?,
            Err(_) => KubeVersion::parse(crate::config::BUILTIN_KUBERNETES_VERSION)
                .map_err(|e| bad(anyhow::anyhow!(e)))?,
        };
        return Ok(Box::new(MirrorVersionGetter::new(
            mirror,
            kubeadm,
            Duration::from_secs(10),
        )));
    }
    staged_getter
        .map(|g| Box::new(g) as Box<dyn VersionGetter>)
        .map_err(|e| {
            bad(anyhow::anyhow!(
                "{e}\nno release index is staged on this node: pass --bundle FILE or --mirror URL"
            ))
        })
}

fn plan(g: &GlobalOpts, a: &PlanArgs) -> Result<(), CliError> {
    let labels = labels_getter(g, a)?;
    let opts = PlanOptions {
        allow_rc: a.allow_release_candidate_upgrades,
        allow_experimental: a.allow_experimental_upgrades,
        external_etcd: false,
    };
    let facts = HostFacts::detect(&g.root);
    let node_state = NodeStateGetter::new(&g.root, facts.hostname.trim());
    let kubeconfig = g
        .kubeconfig
        .clone()
        .unwrap_or_else(|| crate::fsutil::under_root(&g.root, crate::runner::ADMIN_CONF));
    let mut fallback_note = None;
    let result: UpgradePlan = if a.offline {
        compute(
            &LayeredVersionGetter {
                labels,
                state: node_state,
            },
            &opts,
        )
        .map_err(failed)?
    } else {
        let cluster = crate::kube::Cluster::from_kubeconfig(
            &kubeconfig,
            &kubeconfig.display().to_string(),
            Duration::ZERO,
        );
        let reachable = cluster
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|c| c.server_version().map(|_| c).map_err(|e| e.to_string()));
        match reachable {
            Ok(c) => compute(
                &LayeredVersionGetter {
                    labels,
                    state: ClusterStateGetter::new(c),
                },
                &opts,
            )
            .map_err(failed)?,
            Err(why) => {
                fallback_note = Some(format!(
                    "the API server cannot be reached ({why}); using this node's own state \
                     (static pod manifests and the active staged version)"
                ));
                compute(
                    &LayeredVersionGetter {
                        labels,
                        state: node_state,
                    },
                    &opts,
                )
                .map_err(failed)?
            }
        }
    };
    match a.output {
        Output::Json => {
            let mut v = serde_json::to_value(&result).map_err(failed)?;
            v["fallback"] = serde_json::Value::from(fallback_note.clone());
            println!("{}", serde_json::to_string_pretty(&v).map_err(failed)?);
        }
        Output::Table => print_table(&result, fallback_note.as_deref()),
    }
    Ok(())
}

fn print_table(p: &UpgradePlan, fallback: Option<&str>) {
    if let Some(f) = fallback {
        println!("[upgrade/plan] NOTE: {f}");
    }
    println!("[upgrade/versions] Versions answered by: {}", p.source);
    println!(
        "[upgrade/versions] Cluster version: {}",
        p.before.kubernetes_version
    );
    for w in &p.warnings {
        println!("[upgrade/versions] WARNING: {w}");
    }
    if p.upgrades.is_empty() {
        println!("\nAwesome, you're up-to-date! Enjoy!");
    }
    for u in &p.upgrades {
        println!("\nUpgrade to the latest {}:\n", u.description);
        println!(
            "{:<26} {:<10} {:<20} TARGET",
            "COMPONENT", "NODE", "CURRENT"
        );
        let rows = [
            (
                "kube-apiserver",
                &p.before.api_server,
                &u.after.kubernetes_version,
            ),
            (
                "kube-controller-manager",
                &p.before.controller_manager,
                &u.after.kubernetes_version,
            ),
            (
                "kube-scheduler",
                &p.before.scheduler,
                &u.after.kubernetes_version,
            ),
            ("kubelet", &p.before.kubelets, &u.after.kubernetes_version),
            ("etcd", &p.before.etcd, &u.after.etcd),
        ];
        for (name, current, target) in rows {
            for (v, nodes) in current {
                for n in nodes {
                    println!("{name:<26} {n:<10} {v:<20} {target}");
                }
            }
        }
        println!(
            "{:<26} {:<10} {:<20} {}",
            "coredns", "", p.before.dns, u.after.dns
        );
        println!(
            "\nYou can now apply the upgrade by executing the following command:\n\n\
             \tfirstboot upgrade apply {} --bundle <bundle for {}>",
            u.after.kubernetes_version, u.after.kubeadm_version
        );
    }
    if !p.not_offered.is_empty() {
        println!("\nNot offered:");
        for n in &p.not_offered {
            println!("  {} ({}): {}", n.version, n.label, n.reason);
        }
    }
}
