//! `firstboot upgrade plan`: which upgrades the given or staged bundles allow, answered from the
//! offline release index (never waiting on a network unless a mirror is given), with cluster
//! state from the API server or, when it cannot be reached, from the node's own files.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, GlobalOpts, Output};
use crate::config::HostFacts;
use crate::upgrade::apply::Kind;
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
    /// Upgrade this (first) control-plane node to VERSION from an offline bundle.
    #[command(after_help = "\
Examples:
  # Verify, stage, back up (manifests, kubelet config, links, etcd snapshot), then upgrade
  firstboot upgrade apply v1.36.4 --bundle kubernetes-v1.36.4-linux-amd64.tar.gz \\
      --public-key /etc/kubebake/bundle.pub

  # Show every step and change nothing
  firstboot upgrade apply v1.36.4 --bundle kubernetes-v1.36.4-linux-amd64.tar.gz --dry-run

  # An interrupted or failed upgrade: the same command continues it
  firstboot upgrade apply v1.36.4 --bundle kubernetes-v1.36.4-linux-amd64.tar.gz")]
    Apply(ApplyArgs),
    /// Upgrade another node (control-plane or worker) to the version `upgrade apply` set:
    /// its static pods (control-plane nodes), version links and kubelet.
    #[command(after_help = "\
Examples:
  firstboot upgrade node --bundle kubernetes-v1.36.4-linux-amd64.tar.gz
  firstboot upgrade node --bundle kubernetes-v1.36.4-linux-amd64.tar.gz --dry-run")]
    Node(NodeArgs),
    /// Restore the version before the last upgrade: etcd data from the snapshot, manifests,
    /// kubelet configuration, version links.
    #[command(after_help = "\
Examples:
  firstboot upgrade rollback --dry-run
  firstboot upgrade rollback --etcdctl /usr/local/bin/etcdutl")]
    Rollback(RollbackArgs),
}

/// `upgrade apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Target Kubernetes version (must be the bundle's).
    #[arg(value_name = "VERSION")]
    pub version: String,
    /// Flags shared with `upgrade node`.
    #[command(flatten)]
    pub opts: UpgradeOpts,
}

/// `upgrade node` flags.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Flags shared with `upgrade apply`.
    #[command(flatten)]
    pub opts: UpgradeOpts,
}

/// Flags of `upgrade apply` and `upgrade node`.
#[derive(Debug, Args)]
pub struct UpgradeOpts {
    /// The offline bundle carrying the target version.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// minisign public key the bundle's signature must verify with.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Upgrade local etcd.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub etcd_upgrade: bool,
    /// Renew certificates with each component.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub certificate_renewal: bool,
    /// Local etcd client endpoint.
    #[arg(long, value_name = "URL", default_value = DEFAULT_ETCD_ENDPOINT)]
    pub etcd_endpoint: String,
    /// `etcdutl` or `etcdctl`, used only when an etcd upgrade fails and the previous etcd does
    /// not serve again: its data is then restored from the snapshot taken before the upgrade
    /// (single-member etcd; default: etcdutl, then etcdctl, from PATH).
    #[arg(long, value_name = "FILE")]
    pub etcdctl: Option<PathBuf>,
    /// How long to wait for each component (Go duration; default timeouts.upgradeManifests, 5m).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Output format of the result.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `upgrade rollback` flags.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// `etcdutl` or `etcdctl` for `snapshot restore` (default: etcdutl, then etcdctl, from PATH).
    #[arg(long, value_name = "FILE")]
    pub etcdctl: Option<PathBuf>,
    /// Restore etcd data from the snapshot.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub etcd: bool,
    /// Local etcd client endpoint (probed until etcd has stopped).
    #[arg(long, value_name = "URL", default_value = DEFAULT_ETCD_ENDPOINT)]
    pub etcd_endpoint: String,
    /// How long to wait for etcd to stop (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub stop_timeout: String,
}

/// kubeadm's local etcd client endpoint.
pub const DEFAULT_ETCD_ENDPOINT: &str = "https://127.0.0.1:2379";

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
        UpgradeCommand::Apply(a) => apply(g, Kind::Apply, Some(&a.version), &a.opts),
        UpgradeCommand::Node(a) => apply(g, Kind::Node, None, &a.opts),
        UpgradeCommand::Rollback(a) => rollback(g, a),
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

/// How long `upgrade plan` waits to connect to the API server before it falls back to the
/// node's own state.
const PLAN_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `upgrade plan` waits for an answer from an API server that accepted the connection
/// (a hung one) before it falls back.
const PLAN_READ_TIMEOUT: Duration = Duration::from_secs(5);

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
        // Short timeouts: an API server that does not answer (a node being prepared offline, a
        // control plane that is down or hung) must not stall the plan; it falls back.
        let cluster = crate::kube::Cluster::from_kubeconfig_with_timeouts(
            &kubeconfig,
            &kubeconfig.display().to_string(),
            Duration::ZERO,
            PLAN_CONNECT_TIMEOUT,
            PLAN_READ_TIMEOUT,
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

fn duration(flag: &str, s: &str) -> Result<Duration, CliError> {
    crate::config::GoDuration::parse(s)
        .map(|d| d.as_duration())
        .map_err(|e| bad(anyhow::anyhow!("{flag} {s:?}: {e}")))
}

fn apply(
    g: &GlobalOpts,
    kind: Kind,
    version: Option<&str>,
    a: &UpgradeOpts,
) -> Result<(), CliError> {
    use crate::upgrade::apply::{self as up, ApplyError};
    let target = match version {
        Some(v) => KubeVersion::parse(v).map_err(|e| bad(anyhow::anyhow!("VERSION {v:?}: {e}")))?,
        None => crate::upgrade::prepare::bundle_version(&a.bundle).map_err(bad)?,
    };
    let facts = HostFacts::detect(&g.root);
    let local = super::load_config(g, &facts, None)?;
    // kubeadm: admin.conf, except `upgrade node` on a worker (no kube-apiserver manifest),
    // which talks to the cluster with the kubelet's credentials.
    let default_kubeconfig = if kind == Kind::Node && !up::runs_control_plane(&g.root) {
        crate::phases::kubelet_finalize::KUBELET_CONF
    } else {
        crate::runner::ADMIN_CONF
    };
    let kubeconfig = g
        .kubeconfig
        .clone()
        .unwrap_or_else(|| crate::fsutil::under_root(&g.root, default_kubeconfig));
    let retry = local.api_call_timeout().unwrap_or(Duration::from_secs(60));
    let access = crate::kube::ClusterAccess::new(
        kubeconfig.clone(),
        kubeconfig.display().to_string(),
        retry,
    );
    let cluster = access.get().map_err(failed)?;
    let stored_version = crate::config::normalize_version(
        &crate::phases::join::cluster_configuration(cluster)
            .map_err(failed)?
            .kubernetes_version,
    );
    let cfg = up::target_config_from_cluster(&local, cluster, &target).map_err(failed)?;
    let timeout = match &a.timeout {
        Some(t) => duration("--timeout", t)?,
        None => cfg
            .timeouts()
            .upgrade_manifests
            .map(|d| d.as_duration())
            .unwrap_or(Duration::from_secs(300)),
    };
    let stage =
        crate::upgrade::prepare::StageRequest::new(&g.root, &a.bundle, a.public_key.clone());
    let req = up::Request {
        kind,
        root: &g.root,
        target,
        stage,
        config: &cfg,
        facts: &facts,
        etcd_upgrade: a.etcd_upgrade,
        certificate_renewal: a.certificate_renewal,
        etcd_endpoints: vec![a.etcd_endpoint.clone()],
        restore_tool: a.etcdctl.clone(),
        wait: crate::upgrade::staticpod::Wait {
            timeout,
            interval: Duration::from_millis(500),
        },
        job_wait: crate::upgrade::health::JobWait::default(),
    };
    let services = crate::runner::default_services(&g.root);
    if g.dry_run {
        let journal = crate::upgrade::journal::UpgradeJournal::read(&g.root).map_err(failed)?;
        let report = crate::upgrade::prepare::verify(&req.stage).map_err(bad)?;
        let node_state = NodeStateGetter::new(&g.root, cfg.node_name());
        let (running, kubelets) = match kind {
            Kind::Apply => {
                up::running_state(&ClusterStateGetter::new(cluster), &node_state).map_err(failed)?
            }
            Kind::Node => {
                if stored_version != req.target.to_string() {
                    return Err(bad(anyhow::anyhow!(
                        "the cluster is at {stored_version} (kube-system/kubeadm-config), not {}: \
                         run `firstboot upgrade apply {}` on the first control-plane node first",
                        req.target,
                        req.target
                    )));
                }
                let own = node_state
                    .cluster_version()
                    .or_else(|_| node_state.kubeadm_version())
                    .map_err(failed)?;
                (own, Default::default())
            }
        };
        let carried = KubeVersion::parse(&report.manifest.kubernetes_version)
            .map_err(|e| bad(anyhow::anyhow!(e)))?;
        crate::upgrade::prepare::check_target(
            &a.bundle.display().to_string(),
            &running,
            &req.target,
            &carried,
            &kubelets,
        )
        .map_err(bad)?;
        let new = if kind == Kind::Apply || up::runs_control_plane(&g.root) {
            up::new_manifests(&g.root, &cfg, &facts, services.as_ref()).map_err(failed)?
        } else {
            Default::default()
        };
        println!(
            "[upgrade] dry run: upgrade from {running} to {}; nothing is changed",
            req.target
        );
        for line in up::plan(&req, &new, journal.as_ref()) {
            println!("{line}");
        }
        return Ok(());
    }
    let env = up::Env {
        cluster: &access,
        pods: cluster,
        services: services.as_ref(),
    };
    match up::apply(&req, &env, &mut |step| {
        eprintln!("[upgrade] {step}: done");
        Ok(())
    }) {
        Ok(j) => {
            match a.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&j).map_err(failed)?
                ),
                Output::Table => println!(
                    "[upgrade] SUCCESS! The control plane of this node runs {}; the backup is in {}. \
                     Upgrade the kubelets of the other nodes with `firstboot upgrade node`.",
                    j.target_version, j.backup_dir
                ),
            }
            Ok(())
        }
        Err(e @ (ApplyError::Refused(_) | ApplyError::BadInput(_) | ApplyError::Unhealthy(_))) => {
            Err(bad(e))
        }
        Err(e) => Err(failed(anyhow::anyhow!(
            "{e}\nthe upgrade journal {} records it: run the same command again to continue, or `firstboot upgrade rollback`",
            crate::upgrade::journal::UPGRADE_JOURNAL
        ))),
    }
}

fn rollback(g: &GlobalOpts, a: &RollbackArgs) -> Result<(), CliError> {
    use crate::upgrade::journal::{UpgradeJournal, UpgradeState};
    use crate::upgrade::rollback;
    let mut journal = UpgradeJournal::read(&g.root)
        .map_err(failed)?
        .ok_or_else(|| {
            bad(anyhow::anyhow!(
                "no upgrade to roll back: {} does not exist",
                crate::upgrade::journal::UPGRADE_JOURNAL
            ))
        })?;
    if journal.state == UpgradeState::RolledBack {
        return Err(bad(anyhow::anyhow!(
            "the upgrade from {} to {} was already rolled back",
            journal.from_version,
            journal.target_version
        )));
    }
    let steps = rollback::plan(&g.root, &journal, a.etcd).map_err(failed)?;
    if g.dry_run {
        println!(
            "[upgrade/rollback] dry run: back from {} to {} using {}; nothing is changed",
            journal.target_version, journal.from_version, journal.backup_dir
        );
        for s in &steps {
            println!("[upgrade/rollback] {s}");
        }
        return Ok(());
    }
    let services = crate::runner::default_services(&g.root);
    let tool = if steps
        .iter()
        .any(|s| matches!(s, rollback::Step::RestoreEtcd { .. }))
    {
        Some(rollback::find_restore_tool(a.etcdctl.as_deref()).map_err(bad)?)
    } else {
        None
    };
    let o = rollback::Options {
        root: &g.root,
        restore_tool: tool,
        etcd_endpoint: a.etcd_endpoint.clone(),
        stop_timeout: duration("--stop-timeout", &a.stop_timeout)?,
        services: services.as_ref(),
    };
    rollback::run(&o, &mut journal, &steps).map_err(failed)?;
    println!(
        "[upgrade/rollback] this node is back on {} (backup {})",
        journal.from_version, journal.backup_dir
    );
    Ok(())
}
