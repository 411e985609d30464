//! The phase runner: kubeadm's phase order, skip handling, the status journal, the run lock,
//! resume after a crash, dry-run, and the success sentinel / failure marker.
//!
//! Resume rules: a phase recorded `done` whose recorded outputs still hash the same (and whose
//! configuration did not change) is skipped; a phase recorded `running` (interrupted) or `failed`
//! first has the files its last attempt created removed, then runs again from that clean state.

pub mod catalog;
pub mod journal;
pub mod lock;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::config::{HostFacts, Mode, NodeConfig};
use crate::fsutil;
use crate::kube::{ClusterAccess, CommandServices, NoServices, ServiceManager, Systemd};
use crate::phases::{self, Context, PlanItem};
use journal::{now_rfc3339, Journal, PhaseState, RunResult};

/// Where the runner keeps its state, as real paths (root applied).
#[derive(Debug, Clone)]
pub struct StatusPaths {
    /// Status directory.
    pub dir: PathBuf,
    /// `status.json`.
    pub journal: PathBuf,
    /// Lock file.
    pub lock: PathBuf,
    /// Failure marker (`failed`).
    pub failed: PathBuf,
    /// Persistent copy of the success sentinel.
    pub success_copy: PathBuf,
    /// Cluster API sentinel.
    pub sentinel: PathBuf,
}

impl StatusPaths {
    /// Paths for `root` and the FirstbootConfiguration's `status` settings.
    pub fn new(root: &Path, config: &crate::config::FirstbootConfiguration) -> Self {
        let dir = fsutil::under_root(root, &config.status.directory);
        let sentinel = fsutil::under_root(root, &config.status.success_sentinel);
        let name = sentinel
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "bootstrap-success.complete".into());
        StatusPaths {
            journal: dir.join("status.json"),
            lock: dir.join("lock"),
            failed: dir.join("failed"),
            success_copy: dir.join(name),
            sentinel,
            dir,
        }
    }
}

/// A point where a test hook may stop the process (see `examples/firstboot-fault-injection.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boundary {
    /// Item `index` (1-based) of `phase`'s plan was applied.
    ItemApplied {
        /// Phase name.
        phase: String,
        /// 1-based item index.
        index: usize,
    },
    /// `phase` was recorded done in the journal.
    PhaseDone {
        /// Phase name.
        phase: String,
    },
}

/// A fault-injection hook called at every [`Boundary`]; the production binary passes none.
pub type FaultHook = dyn Fn(&Boundary);

/// What to run.
pub struct RunRequest<'a> {
    /// Node root (`--root`).
    pub root: PathBuf,
    /// Print the plan and write nothing.
    pub dry_run: bool,
    /// Skipped phases (`certs` or `certs/ca`), already merged from flag and configuration.
    pub skip: Vec<String>,
    /// Run only this phase (`certs`, `certs/ca`) — `init phase NAME`.
    pub only: Option<String>,
    /// Test-only hook.
    pub fault: Option<&'a FaultHook>,
    /// Kubeconfig for every cluster phase (`--kubeconfig`); default the admin kubeconfig.
    pub kubeconfig: Option<PathBuf>,
    /// Service manager; default systemd when the root is `/`, else a recorder.
    pub services: Option<&'a dyn ServiceManager>,
}

/// Why a run did not succeed. Each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input (unknown phase name, invalid selection).
    #[error("{0}")]
    BadInput(String),
    /// Another run holds the lock.
    #[error(transparent)]
    Locked(#[from] lock::LockError),
    /// A phase failed.
    #[error("phase {phase} failed: {message}")]
    PhaseFailed {
        /// Phase name.
        phase: String,
        /// Error text.
        message: String,
    },
    /// The requested work is not part of this build (phases that need an API server).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else (journal I/O).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The admin kubeconfig every init cluster phase uses unless `--kubeconfig` says otherwise.
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code when a phase failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code for bad input (invalid configuration, unknown phase, bad flags).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code when another run holds the lock.
pub const EXIT_LOCKED: i32 = 3;
/// Exit code for work this build does not implement (phases that need an API server).
pub const EXIT_UNSUPPORTED: i32 = 4;

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::BadInput(_) => EXIT_BAD_INPUT,
            RunError::Locked(_) => EXIT_LOCKED,
            RunError::PhaseFailed { .. } | RunError::Other(_) => EXIT_FAILED,
            RunError::Unsupported(_) => EXIT_UNSUPPORTED,
        }
    }
}

/// SHA-256 over the resolved configuration (what the phases consume).
pub fn config_digest(cfg: &NodeConfig) -> String {
    let json = serde_json::to_vec(&(
        &cfg.mode.as_str(),
        &cfg.init,
        &cfg.cluster,
        &cfg.join,
        &cfg.kubelet,
        &cfg.kube_proxy,
    ))
    .unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// Runnable phases of a workflow in order, filtered by `only`.
fn selected_phases(
    mode: Mode,
    only: Option<&str>,
) -> Result<Vec<&'static catalog::PhaseInfo>, RunError> {
    match only {
        None => Ok(catalog::phases(mode)
            .iter()
            .filter(|p| p.runnable)
            .collect()),
        Some(name) => {
            if !catalog::is_known_phase(mode, name) {
                return Err(RunError::BadInput(format!(
                    "unknown {} phase {name:?}; phases: {}",
                    mode.as_str(),
                    catalog::top_level_names(mode).join(", ")
                )));
            }
            let (top, _) = catalog::split(name);
            let info = catalog::find(mode, top).expect("known phase");
            if !info.runnable || phases::for_name(mode, top).is_none() {
                return Err(RunError::Unsupported(format!(
                    "phase {top} is not implemented in this build"
                )));
            }
            Ok(vec![info])
        }
    }
}

fn is_skipped(skip: &[String], phase: &str) -> bool {
    skip.iter().any(|s| {
        let (top, sub) = catalog::split(s);
        top == phase && sub.is_none()
    })
}

/// Phases of the workflow that this build leaves out (they need an API server).
pub fn not_in_this_build(mode: Mode) -> Vec<&'static str> {
    catalog::phases(mode)
        .iter()
        .filter(|p| !p.runnable)
        .map(|p| p.name)
        .collect()
}

/// Runs the workflow (or one phase) for `cfg`.
pub fn run(cfg: &NodeConfig, facts: &HostFacts, req: &RunRequest) -> Result<(), RunError> {
    for s in &req.skip {
        if !catalog::is_known_phase(cfg.mode, s) {
            return Err(RunError::BadInput(format!(
                "--skip-phases: unknown {} phase {s:?}; phases: {}",
                cfg.mode.as_str(),
                catalog::top_level_names(cfg.mode).join(", ")
            )));
        }
    }
    let selected = selected_phases(cfg.mode, req.only.as_deref())?;
    let subphase = req
        .only
        .as_deref()
        .and_then(|o| catalog::split(o).1.map(str::to_string));
    let start_time = SystemTime::now();
    if req.dry_run {
        return dry_run(cfg, facts, req, &selected, subphase.as_deref(), start_time);
    }

    let paths = StatusPaths::new(&req.root, &cfg.firstboot);
    let wait = cfg
        .firstboot
        .timeouts
        .lock_wait
        .map(|d| d.as_duration())
        .unwrap_or(Duration::ZERO);
    let _lock = lock::acquire(&paths.lock, wait)?;

    for p in [
        &paths.journal,
        &paths.failed,
        &paths.success_copy,
        &paths.sentinel,
    ] {
        fsutil::remove_stale_temps(p);
    }
    let names: Vec<&str> = catalog::phases(cfg.mode)
        .iter()
        .filter(|p| p.runnable)
        .map(|p| p.name)
        .collect();
    let mut journal = match Journal::read(&paths.journal)? {
        Some(j) if j.mode == cfg.mode.as_str() => j,
        _ => Journal::new(cfg.mode.as_str(), &cfg.source, &names),
    };
    let digest = config_digest(cfg);
    journal.config_digest = digest.clone();
    journal.config = cfg.source.clone();
    journal.result = RunResult::Running;
    journal.started_at = Some(now_rfc3339());
    // The run's start and skipped phases are recorded with the next journal write (a phase
    // starting, or the run's end): losing them in a crash loses nothing a re-run does not redo,
    // and every journal write is two syncs.

    let cluster = cluster_access(cfg, req);
    let default_services = default_services(&req.root);
    let services: &dyn ServiceManager = match req.services {
        Some(s) => s,
        None => default_services.as_ref(),
    };
    // Phase results mirrored on the Node once the API is reachable (best effort, bounded).
    let mut reporter = report::NodeReporter::new(cfg, &req.root, req.kubeconfig.as_deref());

    for info in &selected {
        let name = info.name;
        if req.only.is_none() && is_skipped(&req.skip, name) {
            let rec = journal.record_mut(name);
            rec.state = PhaseState::Skipped;
            rec.reason = Some("skipped by --skip-phases / skipPhases".into());
            println!("[{name}] skipped");
            continue;
        }
        let rec = journal.record(name).cloned();
        if req.only.is_none() {
            if let Some(r) = &rec {
                if r.state == PhaseState::Done && r.config_digest != digest {
                    tracing::info!(
                        "[{name}] the configuration changed since it was done; running it again"
                    );
                } else if r.state == PhaseState::Done && outputs_intact(&req.root, r) {
                    println!(
                        "[{name}] already done and its outputs are intact; not running it again"
                    );
                    continue;
                }
            }
        }
        if let Some(r) = &rec {
            if matches!(r.state, PhaseState::Running | PhaseState::Failed) {
                cleanup_created(&req.root, &r.created);
            }
        }
        let phase = phases::for_name(cfg.mode, name).expect("runnable phase has an implementation");
        {
            let r = journal.record_mut(name);
            r.state = PhaseState::Running;
            r.attempts += 1;
            r.started_at = Some(now_rfc3339());
            r.ended_at = None;
            r.error = None;
            r.reason = None;
            r.outputs.clear();
            r.created.clear();
        }
        // run_phase records the phase running (with what it will create) once it is planned.
        let ctx = Context {
            root: &req.root,
            host_root: &req.root,
            config: cfg,
            facts,
            subphase: subphase.as_deref(),
            skip: &req.skip,
            start_time,
            cluster: Some(&cluster),
            services,
        };
        let result = run_phase(&ctx, phase.as_ref(), &mut journal, &paths, req.fault);
        match result {
            Ok(outputs) => {
                let r = journal.record_mut(name);
                r.state = PhaseState::Done;
                r.ended_at = Some(now_rfc3339());
                r.outputs = outputs;
                r.config_digest = digest.clone();
                r.created.clear();
                journal.write(&paths.journal)?;
                if let Some(hook) = req.fault {
                    hook(&Boundary::PhaseDone {
                        phase: name.to_string(),
                    });
                }
                reporter.finished(name);
                reporter.flush(&journal);
            }
            Err(e) => {
                let message = format!("{e:#}");
                let r = journal.record_mut(name);
                r.state = PhaseState::Failed;
                r.ended_at = Some(now_rfc3339());
                r.error = Some(message.clone());
                journal.result = RunResult::Failed;
                journal.write(&paths.journal)?;
                write_failed_marker(&paths, name, &message)?;
                reporter.finished(name);
                reporter.flush(&journal);
                return Err(RunError::PhaseFailed {
                    phase: name.to_string(),
                    message,
                });
            }
        }
    }

    if req.only.is_some() {
        let all_done = journal
            .phases
            .iter()
            .all(|p| matches!(p.state, PhaseState::Done | PhaseState::Skipped));
        journal.result = if all_done {
            RunResult::Succeeded
        } else {
            RunResult::Incomplete
        };
        journal.write(&paths.journal)?;
        return Ok(());
    }
    // The success sentinel means "this node is bootstrapped": only when every phase of the
    // workflow ran or was skipped on purpose.
    // check-etcd and etcd-join do nothing on a worker, nor on a control-plane join whose
    // cluster uses external etcd (kubeadm skips them there): not needed for the sentinel.
    let etcd_join_needed = || {
        cfg.mode == Mode::Join
            && cfg.is_control_plane()
            && !matches!(
                cluster
                    .get()
                    .map_err(|e| anyhow::anyhow!("{e:#}"))
                    .and_then(phases::join::cluster_uses_external_etcd),
                Ok(true)
            )
    };
    let missing: Vec<&str> = not_in_this_build(cfg.mode)
        .into_iter()
        .filter(|p| !is_skipped(&req.skip, p))
        .filter(|p| !matches!(*p, "check-etcd" | "etcd-join") || etcd_join_needed())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "{} phases {} are not implemented in this build; the node is not bootstrapped",
            cfg.mode.as_str(),
            missing.join(", ")
        );
        journal.result = RunResult::Incomplete;
        journal.write(&paths.journal)?;
        write_failed_marker(&paths, missing[0], &message)?;
        return Err(RunError::Unsupported(message));
    }
    journal.result = RunResult::Succeeded;
    journal.write(&paths.journal)?;
    reporter.flush(&journal);
    reporter.clear_failure(&journal);
    let stamp = b"success\n";
    let batch = offline::fsutil::SyncBatch::begin();
    fsutil::write_atomic(&paths.sentinel, stamp, 0o644, 0o755)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", paths.sentinel.display()))?;
    fsutil::write_atomic(&paths.success_copy, stamp, 0o644, 0o700)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", paths.success_copy.display()))?;
    batch
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot sync {}: {e}", paths.sentinel.display()))?;
    if paths.failed.exists() {
        std::fs::remove_file(&paths.failed)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", paths.failed.display()))?;
    }
    println!(
        "firstboot: the {} workflow is complete; wrote {}",
        cfg.mode.as_str(),
        paths.sentinel.display()
    );
    Ok(())
}

/// The admin kubeconfig under the root (or `--kubeconfig`), connected on first use.
fn cluster_access(cfg: &NodeConfig, req: &RunRequest) -> ClusterAccess {
    let timeout = cfg.api_call_timeout().unwrap_or(Duration::from_secs(60));
    match &req.kubeconfig {
        Some(p) => ClusterAccess::new(p.clone(), p.display().to_string(), timeout),
        None => ClusterAccess::new(
            fsutil::under_root(&req.root, ADMIN_CONF),
            ADMIN_CONF.to_string(),
            timeout,
        ),
    }
}

/// systemd on a live node; `FIRSTBOOT_SERVICE_COMMAND` when set; a recorder when the root is
/// a directory.
pub fn default_services(root: &Path) -> Box<dyn ServiceManager> {
    if let Some(p) = std::env::var_os("FIRSTBOOT_SERVICE_COMMAND") {
        return Box::new(CommandServices { program: p.into() });
    }
    if root == Path::new("/") {
        Box::new(Systemd)
    } else {
        Box::new(NoServices::default())
    }
}

/// Plans and applies one phase; returns its outputs (node path → SHA-256).
fn run_phase(
    ctx: &Context,
    phase: &dyn phases::Phase,
    journal: &mut Journal,
    paths: &StatusPaths,
    fault: Option<&FaultHook>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let name = phase.name();
    let plan = phase.plan(ctx)?;
    let created: Vec<String> = plan
        .written_paths()
        .into_iter()
        .filter(|p| !ctx.path(p).exists())
        .map(str::to_string)
        .collect();
    for p in plan.written_paths() {
        fsutil::remove_stale_temps(&ctx.path(p));
    }
    journal.record_mut(name).created = created;
    journal.write(&paths.journal)?;
    let mut progress = |n: usize| {
        if let Some(item) = n.checked_sub(1).and_then(|i| plan.items.get(i)) {
            match item {
                PlanItem::File { path, mode, .. } | PlanItem::Generate { path, mode, .. } => {
                    tracing::info!("[{name}] wrote {path} ({mode:04o})")
                }
                PlanItem::Dir { path, mode } => {
                    tracing::info!("[{name}] directory {path} ({mode:04o})")
                }
                PlanItem::Keep { path, what } => tracing::info!("[{name}] kept {path}: {what}"),
                PlanItem::Object(o) => {
                    tracing::info!("[{name}] {} {}", o.action.verb(), o.describe())
                }
                PlanItem::Check { .. } | PlanItem::Note(_) => {}
            }
        }
        if let Some(hook) = fault {
            hook(&Boundary::ItemApplied {
                phase: name.to_string(),
                index: n,
            });
        }
    };
    let batch = offline::fsutil::SyncBatch::begin();
    phase.apply(ctx, &plan, &mut progress)?;
    batch
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot sync the phase's directories: {e}"))?;
    print_checks(&plan);
    phase.finish(ctx, &plan)?;
    let n_files = plan
        .items
        .iter()
        .filter(|i| matches!(i, PlanItem::File { .. } | PlanItem::Generate { .. }))
        .count();
    let n_kept = plan
        .items
        .iter()
        .filter(|i| matches!(i, PlanItem::Keep { .. }))
        .count();
    if n_files + n_kept > 0 {
        println!("[{name}] done: {n_files} file(s) written, {n_kept} existing file(s) kept");
    } else {
        println!("[{name}] done");
    }
    let mut outputs = std::collections::BTreeMap::new();
    for p in plan.output_files() {
        if let Some(h) = fsutil::sha256_file(&ctx.path(p)) {
            outputs.insert(p.to_string(), h);
        }
    }
    Ok(outputs)
}

fn print_checks(plan: &phases::Plan) {
    for item in &plan.items {
        if let PlanItem::Check { name, outcome } = item {
            match outcome {
                phases::CheckOutcome::Ok => tracing::debug!("[{}] {name}: ok", plan.phase),
                phases::CheckOutcome::Warning(m) => {
                    println!("[{}] WARNING {name}: {m}", plan.phase)
                }
                phases::CheckOutcome::Ignored(m) => {
                    println!("[{}] WARNING {name} (error ignored): {m}", plan.phase)
                }
                phases::CheckOutcome::Error(m) => println!("[{}] ERROR {name}: {m}", plan.phase),
            }
        }
    }
}

fn outputs_intact(root: &Path, rec: &journal::PhaseRecord) -> bool {
    rec.outputs
        .iter()
        .all(|(p, h)| fsutil::sha256_file(&fsutil::under_root(root, p)).as_deref() == Some(h))
}

/// Removes what an interrupted or failed attempt created (files, then empty directories).
fn cleanup_created(root: &Path, created: &[String]) {
    for p in created.iter().rev() {
        let path = fsutil::under_root(root, p);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir(&path);
            }
            Ok(_) => {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!("cannot remove {p} left by an interrupted attempt: {e}");
                } else {
                    tracing::info!("removed {p} left by an interrupted attempt");
                }
            }
            Err(_) => {}
        }
    }
}

fn write_failed_marker(paths: &StatusPaths, phase: &str, message: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "phase": phase,
        "error": message,
        "time": now_rfc3339(),
    });
    let mut text = serde_json::to_vec_pretty(&body)?;
    text.push(b'\n');
    fsutil::write_atomic(&paths.failed, &text, 0o644, 0o700)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", paths.failed.display()))
}

/// Dry run: plan (and apply into a scratch copy of `/etc/kubernetes`, so later phases see what
/// earlier ones would write), print every plan, write nothing under the root.
fn dry_run(
    cfg: &NodeConfig,
    facts: &HostFacts,
    req: &RunRequest,
    selected: &[&'static catalog::PhaseInfo],
    subphase: Option<&str>,
    start_time: SystemTime,
) -> Result<(), RunError> {
    let scratch = tempfile::Builder::new()
        .prefix("firstboot-dryrun-")
        .tempdir()
        .map_err(|e| anyhow::anyhow!("cannot create a scratch directory: {e}"))?;
    let src = fsutil::under_root(&req.root, "/etc/kubernetes");
    if src.exists() {
        std::fs::create_dir_all(scratch.path().join("etc"))
            .and_then(|_| fsutil::copy_tree(&src, &scratch.path().join("etc/kubernetes")))
            .map_err(|e| anyhow::anyhow!("cannot copy /etc/kubernetes for the dry run: {e}"))?;
    }
    println!("[dry-run] nothing is written; showing what each phase would do");
    let no_services = NoServices::default();
    for info in selected {
        let name = info.name;
        if req.only.is_none() && is_skipped(&req.skip, name) {
            println!("[{name}] would be skipped");
            continue;
        }
        let phase = phases::for_name(cfg.mode, name).expect("runnable phase");
        let ctx = Context {
            root: scratch.path(),
            host_root: &req.root,
            config: cfg,
            facts,
            subphase,
            skip: &req.skip,
            start_time,
            cluster: None,
            services: &no_services,
        };
        let fail = |e: anyhow::Error| RunError::PhaseFailed {
            phase: name.to_string(),
            message: format!("{e:#}"),
        };
        let plan = phase.plan(&ctx).map_err(fail)?;
        print!("{plan}");
        phase.apply(&ctx, &plan, &mut |_| {}).map_err(fail)?;
        phase.finish(&ctx, &plan).map_err(fail)?;
    }
    let missing = not_in_this_build(cfg.mode);
    if req.only.is_none() && !missing.is_empty() {
        println!("[dry-run] not part of this build: {}", missing.join(", "));
    }
    Ok(())
}
