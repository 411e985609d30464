//! The `firstboot` command line: clap definitions and dispatch.

pub mod certs;
pub mod token;
pub mod upgrade;
pub mod userdata;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError, HostFacts, Mode, NodeConfig};
use crate::runner::{self, journal::Journal, FaultHook, RunError, RunRequest, StatusPaths};

const MAIN_HELP: &str = "\
Examples:
  # Bootstrap this node from /etc/kubebake/firstboot.yaml (init or join, decided by the file)
  firstboot run

  # First control-plane node with kubeadm's defaults for this machine (no config file)
  firstboot init

  # Show what would be written, write nothing
  firstboot --dry-run init

  # One phase, or one sub-phase
  firstboot init phase certs ca

Exit codes:
  0 success, 1 a phase failed, 2 bad input (configuration or flags),
  3 another run holds the lock, 4 not implemented in this build";

/// kubeadm-compatible first-boot agent for kubebake nodes.
#[derive(Debug, Parser)]
#[command(name = "firstboot", version, about, after_help = MAIN_HELP)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalOpts {
    /// Configuration file (kubeadm v1beta4 documents + FirstbootConfiguration).
    /// Default: <root>/etc/kubebake/firstboot.yaml if present, else kubeadm's defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Treat DIR as the node's root filesystem: every path is under DIR.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Print the plan (files with paths and modes, checks) and write nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Kubeconfig for every cluster phase (default: <root>/etc/kubernetes/admin.conf).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bootstrap this node: init or join, as the configuration says.
    #[command(after_help = "Example:\n  firstboot run --config /etc/kubebake/firstboot.yaml")]
    Run(WorkflowArgs),
    /// Run kubeadm's init workflow (first control-plane node), or one of its phases.
    #[command(after_help = "\
Examples:
  firstboot init --skip-phases preflight
  firstboot init phase certs          # all certificates
  firstboot init phase certs apiserver
  firstboot init phase kubeconfig admin

Phases (kubeadm order; those after kubelet-start talk to the API server through admin.conf):
  preflight, certs, kubeconfig, etcd, control-plane, kubelet-start,
  wait-control-plane, upload-config, upload-certs, mark-control-plane,
  bootstrap-token, kubelet-finalize, addon, show-join-command")]
    Init(PhaseCmdArgs),
    /// Run kubeadm's join workflow, or one of its phases.
    #[command(after_help = "\
Examples:
  firstboot join --config join.yaml
  firstboot join phase preflight --config join.yaml
  firstboot join phase etcd-join --dry-run   # stacked etcd: learner add, manifest, promote")]
    Join(PhaseCmdArgs),
    /// Show the status journal.
    #[command(after_help = "Examples:\n  firstboot status\n  firstboot status -o json")]
    Status(StatusArgs),
    /// Certificate tools (expiration, renewal, CSRs).
    #[command(
        subcommand,
        after_help = "Examples:\n  firstboot certs check-expiration -o json\n  firstboot certs renew all"
    )]
    Certs(certs::CertsCommand),
    /// Air-gapped upgrades from offline bundles.
    #[command(
        subcommand,
        after_help = "Examples:\n  firstboot upgrade plan\n  firstboot upgrade plan --bundle kubernetes-v1.36.4-linux-amd64.tar.gz -o json"
    )]
    Upgrade(upgrade::UpgradeCommand),
    /// Undo init/join on this node (kubeadm reset); the staged bundles stay so the image can
    /// bootstrap again. A control-plane node with stacked etcd first removes its etcd member
    /// (the last member is left alone, as kubeadm does); a removal that would break the etcd
    /// quorum is refused unless --force.
    #[command(after_help = "\
Examples:
  firstboot reset --dry-run          # list what would be removed
  firstboot reset --force --cleanup-tmp-dir")]
    Reset(ResetArgs),
    /// Configuration tools.
    #[command(
        subcommand,
        after_help = "Examples:\n  firstboot config print\n  firstboot config validate --config /etc/kubebake/firstboot.yaml"
    )]
    Config(ConfigCommand),
    /// Cloud-init user-data for nodes, and the cluster's CA set it is rendered from.
    #[command(subcommand, after_help = userdata::USERDATA_HELP)]
    Userdata(userdata::UserdataCommand),
    /// Bootstrap tokens (create, list, delete, generate); needs the admin kubeconfig.
    #[command(
        subcommand,
        after_help = "Examples:\n  firstboot token create --print-join-config\n  firstboot token list -o json\n  firstboot token delete abcdef\n\nTokens are secrets and are printed only to stdout."
    )]
    Token(token::TokenCommand),
}

/// Flags of `run`, `init` and `join`.
#[derive(Debug, Args, Clone, Default)]
pub struct WorkflowArgs {
    /// Phases to skip (comma-separated, e.g. `preflight,certs/sa`); replaces the config's skipPhases.
    #[arg(long, global = true, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Option<Vec<String>>,
    /// Preflight checks whose errors become warnings (names, or `all`).
    #[arg(long, global = true, value_delimiter = ',', value_name = "CHECKS")]
    pub ignore_preflight_errors: Vec<String>,
    /// Upload the control-plane certificates to Secret kube-system/kubeadm-certs (init; like
    /// kubeadm's --upload-certs, same as `uploadCerts: true` in the FirstbootConfiguration).
    #[arg(long, global = true)]
    pub upload_certs: bool,
}

/// `init`/`join` with an optional `phase` subcommand.
#[derive(Debug, Args)]
pub struct PhaseCmdArgs {
    /// Workflow flags.
    #[command(flatten)]
    pub flags: WorkflowArgs,
    /// `phase NAME [SUB]`.
    #[command(subcommand)]
    pub phase: Option<PhaseSub>,
}

/// `phase` subcommand.
#[derive(Debug, Subcommand)]
pub enum PhaseSub {
    /// Run one phase (and optionally one sub-phase) regardless of the journal.
    #[command(
        after_help = "Examples:\n  firstboot init phase preflight\n  firstboot init phase certs ca\n  firstboot init phase etcd local"
    )]
    Phase {
        /// Phase name (kubeadm's: preflight, certs, kubeconfig, etcd, control-plane, kubelet-start, ...).
        name: String,
        /// Sub-phase (`ca`, `apiserver`, `all`, ...).
        sub: Option<String>,
    },
}

/// `reset` flags.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Reset even when this node's etcd member cannot be removed or removing it would break
    /// the etcd quorum.
    #[arg(long)]
    pub force: bool,
    /// Also remove /etc/kubernetes/tmp.
    #[arg(long)]
    pub cleanup_tmp_dir: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// `status` flags.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration (defaults applied; secrets redacted).
    #[command(
        after_help = "Examples:\n  firstboot config print\n  firstboot config print --config /etc/kubebake/firstboot.yaml"
    )]
    Print,
    /// Validate the configuration and print warnings; exit 2 if invalid.
    #[command(after_help = "Example:\n  firstboot config validate --config cluster.yaml")]
    Validate,
}

/// Parses `args` and runs the command, returning the exit code. `fault` is a fault-injection
/// hook for crash tests; the production binary passes `None`.
pub fn main_with(args: impl IntoIterator<Item = OsString>, fault: Option<&FaultHook>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                runner::EXIT_BAD_INPUT
            } else {
                runner::EXIT_OK
            };
        }
    };
    init_logging(cli.global.verbose);
    match dispatch(&cli, fault) {
        Ok(()) => runner::EXIT_OK,
        Err(e) => {
            eprintln!("error: {:#}", e.error);
            e.code
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIRSTBOOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// An error with its exit code.
pub struct CliError {
    /// Exit code.
    pub code: i32,
    /// The error.
    pub error: anyhow::Error,
}

impl CliError {
    fn bad_input(e: impl Into<anyhow::Error>) -> Self {
        CliError {
            code: runner::EXIT_BAD_INPUT,
            error: e.into(),
        }
    }
    fn failed(e: impl Into<anyhow::Error>) -> Self {
        CliError {
            code: runner::EXIT_FAILED,
            error: e.into(),
        }
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        CliError {
            code: e.exit_code(),
            error: e.into(),
        }
    }
}

/// Loads and resolves the configuration, printing its warnings.
pub fn load_config(
    g: &GlobalOpts,
    facts: &HostFacts,
    want: Option<Mode>,
) -> Result<NodeConfig, CliError> {
    let cfg = config::load(g.config.as_deref(), &g.root, facts, want).map_err(|e| match e {
        ConfigError::Read { .. } => CliError::bad_input(e),
        ConfigError::Invalid { .. } => CliError::bad_input(e),
    })?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    Ok(cfg)
}

fn dispatch(cli: &Cli, fault: Option<&FaultHook>) -> Result<(), CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Run(flags) => {
            persist_boot_inputs(&g.root);
            workflow(g, None, flags, None, fault)
        }
        Command::Init(a) => workflow(g, Some(Mode::Init), &a.flags, a.phase.as_ref(), fault),
        Command::Join(a) => workflow(g, Some(Mode::Join), &a.flags, a.phase.as_ref(), fault),
        Command::Status(a) => status(g, a.output),
        Command::Certs(c) => certs::run(g, c),
        Command::Upgrade(c) => upgrade::run(g, c),
        Command::Config(c) => config_cmd(g, c),
        Command::Userdata(c) => userdata::run(g, c),
        Command::Token(c) => token::run(g, c),
        Command::Reset(a) => reset_cmd(g, a),
    }
}

/// `firstboot run` on a node (root `/`): flush the node's file system before the first phase.
/// cloud-init writes the configuration and the CA keys without syncing them; once the journal
/// (synced) records phases as done, a power loss must not leave those inputs empty on the next
/// boot (found by the VM test: a kill right after `certs` lost cloud-init's unsynced files).
fn persist_boot_inputs(root: &std::path::Path) {
    if root != std::path::Path::new("/") {
        return;
    }
    let synced = std::fs::File::open(root).and_then(|d| Ok(rustix::fs::syncfs(&d)?));
    if let Err(e) = synced {
        tracing::warn!("cannot sync the file system of {}: {e}", root.display());
    }
}

fn workflow(
    g: &GlobalOpts,
    want: Option<Mode>,
    flags: &WorkflowArgs,
    phase: Option<&PhaseSub>,
    fault: Option<&FaultHook>,
) -> Result<(), CliError> {
    if !g.root.is_dir() {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--root {}: not a directory",
            g.root.display()
        )));
    }
    let facts = HostFacts::detect(&g.root);
    let mut cfg = load_config(g, &facts, want)?;
    // --ignore-preflight-errors merges with nodeRegistration.ignorePreflightErrors.
    if !flags.ignore_preflight_errors.is_empty() {
        let reg = match (&mut cfg.init, &mut cfg.join) {
            (Some(i), _) => &mut i.node_registration,
            (None, Some(j)) => &mut j.node_registration,
            _ => unreachable!("a resolved configuration has init or join"),
        };
        reg.ignore_preflight_errors
            .extend(flags.ignore_preflight_errors.iter().cloned());
        if reg
            .ignore_preflight_errors
            .iter()
            .any(|e| e.eq_ignore_ascii_case("all"))
            && reg.ignore_preflight_errors.len() > 1
        {
            return Err(CliError::bad_input(anyhow::anyhow!(
                "--ignore-preflight-errors: 'all' cannot be combined with other check names (also counting nodeRegistration.ignorePreflightErrors)"
            )));
        }
    }
    if flags.upload_certs {
        cfg.firstboot.upload_certs = true;
    }
    // --skip-phases replaces the kubeadm document's skipPhases; FirstbootConfiguration's always apply.
    let skip = match &flags.skip_phases {
        Some(list) => {
            let mut s: Vec<String> = list
                .iter()
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect();
            s.extend(cfg.firstboot.skip_phases.iter().cloned());
            s
        }
        None => cfg.skip_phases(),
    };
    let only = phase.map(|PhaseSub::Phase { name, sub }| match sub {
        Some(s) => format!("{name}/{s}"),
        None => name.clone(),
    });
    let req = RunRequest {
        root: g.root.clone(),
        dry_run: g.dry_run,
        skip,
        only,
        fault,
        kubeconfig: g.kubeconfig.clone(),
        services: None,
    };
    runner::run(&cfg, &facts, &req)?;
    Ok(())
}

fn status(g: &GlobalOpts, output: Output) -> Result<(), CliError> {
    let facts = HostFacts::detect(&g.root);
    // The status directory comes from the configuration if it loads; otherwise the default.
    let fb = match config::load(g.config.as_deref(), &g.root, &facts, None) {
        Ok(c) => c.firstboot,
        Err(_) => {
            let mut f = config::FirstbootConfiguration::default();
            f.set_defaults();
            f
        }
    };
    let paths = StatusPaths::new(&g.root, &fb);
    let mut journal = Journal::read(&paths.journal)
        .map_err(CliError::failed)?
        .ok_or_else(|| {
            CliError::failed(anyhow::anyhow!(
                "no status journal at {}: firstboot has not run on this node",
                paths.journal.display()
            ))
        })?;
    if journal.result == runner::journal::RunResult::Running
        && runner::lock::acquire(&paths.lock, std::time::Duration::ZERO).is_ok()
    {
        // Nobody holds the lock: the run that wrote "running" is gone.
        journal.result = runner::journal::RunResult::Interrupted;
    }
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&journal).map_err(CliError::failed)?
        ),
        Output::Table => {
            print!("{}", journal.to_table());
            if paths.failed.exists() {
                println!("failure marker: {}", paths.failed.display());
            }
            if paths.sentinel.exists() {
                println!("success sentinel: {}", paths.sentinel.display());
            }
        }
    }
    Ok(())
}

fn reset_cmd(g: &GlobalOpts, a: &ResetArgs) -> Result<(), CliError> {
    if !g.root.is_dir() {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--root {}: not a directory",
            g.root.display()
        )));
    }
    let mut opts = crate::reset::ResetOptions::new(&g.root);
    opts.force = a.force;
    opts.cleanup_tmp_dir = a.cleanup_tmp_dir;
    let facts = HostFacts::detect(&g.root);
    let cfg = config::load(g.config.as_deref(), &g.root, &facts, None).ok();
    if let Some(cfg) = &cfg {
        opts.certificates_dir = cfg.cluster.certificates_dir.clone();
        opts.status_dir = cfg.firstboot.status.directory.clone();
        opts.success_sentinel = cfg.firstboot.status.success_sentinel.clone();
    }
    let plan = crate::reset::plan(&opts);
    if g.dry_run {
        print!("{plan}");
        return Ok(());
    }
    let etcd = reset_etcd_client(g, &opts, &plan, cfg.as_ref())?;
    let services = runner::default_services(&g.root);
    crate::reset::apply(
        &opts,
        &plan,
        services.as_ref(),
        etcd.as_ref()
            .map(|c| c as &dyn crate::reset::EtcdMembership),
    )
    .map_err(CliError::failed)
}

/// The etcd client reset removes this node's member with, when the plan has a member to remove:
/// the node's etcd PKI, its member's client URL and the etcd Pods' URLs from the cluster
/// (`--kubeconfig`, else admin.conf when present; best effort, 10 s). Without `--force` an
/// unreachable etcd fails the reset before anything is removed.
fn reset_etcd_client(
    g: &GlobalOpts,
    opts: &crate::reset::ResetOptions,
    plan: &crate::reset::ResetPlan,
    cfg: Option<&config::NodeConfig>,
) -> Result<Option<crate::reset::ClientMembership>, CliError> {
    use std::time::Duration;
    if !plan
        .steps
        .iter()
        .any(|s| matches!(s, crate::reset::ResetStep::RemoveEtcdMember { .. }))
    {
        return Ok(None);
    }
    let etcd_timeout = cfg
        .and_then(|c| c.timeouts().etcd_api_call)
        .map(|d| d.as_duration())
        .unwrap_or(Duration::from_secs(120));
    let api_timeout = Duration::from_secs(10);
    let kubeconfig = g
        .kubeconfig
        .clone()
        .unwrap_or_else(|| crate::fsutil::under_root(&g.root, runner::ADMIN_CONF));
    let cluster = if kubeconfig.exists() {
        crate::kube::Cluster::from_kubeconfig(
            &kubeconfig,
            &kubeconfig.display().to_string(),
            api_timeout,
        )
        .map_err(|e| println!("[reset] WARNING: {e}; using this node's etcd member only"))
        .ok()
    } else {
        None
    };
    match crate::reset::ClientMembership::connect(opts, cluster.as_ref(), etcd_timeout, api_timeout)
    {
        Ok(c) => Ok(Some(c)),
        Err(e) if opts.force => {
            println!("[reset] WARNING: {e:#}");
            Ok(None)
        }
        Err(e) => Err(CliError::failed(e.context(
            "cannot remove this node's etcd member (use --force to reset anyway)",
        ))),
    }
}

fn config_cmd(g: &GlobalOpts, c: &ConfigCommand) -> Result<(), CliError> {
    let facts = HostFacts::detect(&g.root);
    let cfg = load_config(g, &facts, None)?;
    match c {
        ConfigCommand::Validate => {
            println!("{}: valid {} configuration", cfg.source, cfg.mode.as_str());
            Ok(())
        }
        ConfigCommand::Print => {
            print!("{}", render_config(&cfg).map_err(CliError::failed)?);
            Ok(())
        }
    }
}

/// The resolved configuration as multi-document YAML, with tokens and keys redacted.
pub fn render_config(cfg: &NodeConfig) -> anyhow::Result<String> {
    let mut docs = Vec::new();
    if let Some(i) = &cfg.init {
        let mut i = i.clone();
        for t in &mut i.bootstrap_tokens {
            if !t.token.is_empty() {
                t.token = "<redacted>".into();
            }
        }
        if !i.certificate_key.is_empty() {
            i.certificate_key = "<redacted>".into();
        }
        docs.push(serde_yaml::to_string(&i)?);
    }
    docs.push(serde_yaml::to_string(&cfg.cluster)?);
    if let Some(j) = &cfg.join {
        let mut j = j.clone();
        if let Some(bt) = &mut j.discovery.bootstrap_token {
            bt.token = "<redacted>".into();
        }
        if !j.discovery.tls_bootstrap_token.is_empty() {
            j.discovery.tls_bootstrap_token = "<redacted>".into();
        }
        if let Some(cp) = &mut j.control_plane {
            if !cp.certificate_key.is_empty() {
                cp.certificate_key = "<redacted>".into();
            }
        }
        docs.push(serde_yaml::to_string(&j)?);
    }
    docs.push(serde_yaml::to_string(&cfg.firstboot)?);
    Ok(docs.join("---\n"))
}

/// Root-relative path helper for subcommands.
pub fn node_path(root: &Path, p: &str) -> PathBuf {
    crate::fsutil::under_root(root, p)
}
