//! One module per kubeadm phase. Each maps the configuration onto a library's inputs, *plans*
//! what it will produce (a [`Plan`]: directories, files with modes, checks) and then *applies*
//! the plan with atomic writes. Plans are printed by `--dry-run`.

pub mod addon;
pub mod bootstrap_token;
pub mod certs;
pub mod control_plane;
pub mod etcd;
pub mod join;
pub mod kubeconfig;
pub mod kubelet_finalize;
pub mod kubelet_start;
pub mod mark_control_plane;
pub mod params;
pub mod preflight;
pub mod show_join_command;
pub mod upload_certs;
pub mod upload_config;
pub mod wait_control_plane;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::{HostFacts, Mode, NodeConfig};
use crate::fsutil;
use crate::kube::{Cluster, ClusterAccess, ObjectItem, ServiceManager};

/// Everything a phase may look at.
pub struct Context<'a> {
    /// Where the phase reads and writes node files: `--root`, or a scratch copy in `--dry-run`.
    pub root: &'a Path,
    /// The real `--root`, for host checks (ports, `/proc`, binaries) that must see the machine.
    pub host_root: &'a Path,
    /// The resolved configuration.
    pub config: &'a NodeConfig,
    /// Machine facts.
    pub facts: &'a HostFacts,
    /// Only this sub-phase (`firstboot init phase certs ca`).
    pub subphase: Option<&'a str>,
    /// All skipped phase names (`certs/ca` skips a sub-phase).
    pub skip: &'a [String],
    /// Start time of the run (kubeadm's single "now" used for every certificate).
    pub start_time: SystemTime,
    /// The cluster connection (admin kubeconfig or `--kubeconfig`); `None` in `--dry-run`.
    pub cluster: Option<&'a ClusterAccess>,
    /// The node's service manager (systemd; a recorder when the root is a directory).
    pub services: &'a dyn ServiceManager,
}

impl Context<'_> {
    /// A node path (`/etc/kubernetes/pki`) under [`Context::root`].
    pub fn path(&self, node_path: &str) -> PathBuf {
        fsutil::under_root(self.root, node_path)
    }

    /// The node path (`/etc/kubernetes/pki/ca.crt`) of a path under [`Context::root`], for plans
    /// and messages.
    pub fn node_path(&self, p: &Path) -> String {
        match p.strip_prefix(self.root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => p.display().to_string(),
        }
    }

    /// A node path under [`Context::host_root`].
    pub fn host_path(&self, node_path: &str) -> PathBuf {
        fsutil::under_root(self.host_root, node_path)
    }

    /// The cluster connection, connecting on first use.
    pub fn cluster(&self) -> anyhow::Result<&Cluster> {
        match self.cluster {
            Some(c) => c.get(),
            None => anyhow::bail!("no cluster connection (dry run)"),
        }
    }

    /// Whether sub-phase `sub` of `phase` is selected (not skipped, and the one asked for).
    pub fn selected(&self, phase: &str, sub: &str) -> bool {
        if let Some(only) = self.subphase {
            return only == sub;
        }
        !self.skip.iter().any(|s| {
            let (top, sp) = crate::runner::catalog::split(s);
            top == phase && sp == Some(sub)
        })
    }
}

/// Outcome of one check (preflight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Passed.
    Ok,
    /// Warning only.
    Warning(String),
    /// Error (fails the phase unless ignored).
    Error(String),
    /// Error ignored by `ignorePreflightErrors`.
    Ignored(String),
}

/// One thing a phase will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanItem {
    /// Create a directory (if missing) with this mode.
    Dir {
        /// Node path.
        path: String,
        /// Permission bits.
        mode: u32,
    },
    /// Write a file atomically.
    File {
        /// Node path.
        path: String,
        /// Permission bits.
        mode: u32,
        /// Content (never printed: may be a private key).
        content: Vec<u8>,
        /// Mode for missing parent directories.
        dir_mode: u32,
        /// What the file is (`ca certificate`, `static pod manifest`).
        what: String,
    },
    /// A file the phase's library generates while applying (keys, certificates: their content
    /// only exists at apply time).
    Generate {
        /// Node path.
        path: String,
        /// Permission bits.
        mode: u32,
        /// What the file is.
        what: String,
    },
    /// An existing file is kept as is (kubeadm reuses valid files).
    Keep {
        /// Node path.
        path: String,
        /// Why.
        what: String,
    },
    /// A check (preflight) and its outcome.
    Check {
        /// kubeadm's check name (`Port-6443`).
        name: String,
        /// Outcome.
        outcome: CheckOutcome,
    },
    /// An API object to create, apply, patch or delete (cluster phases).
    Object(ObjectItem),
    /// Something outside files (printed only).
    Note(String),
}

/// What a phase will produce.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Phase name.
    pub phase: String,
    /// Items in the order they are applied.
    pub items: Vec<PlanItem>,
}

impl Plan {
    /// An empty plan for `phase`.
    pub fn new(phase: &str) -> Self {
        Plan {
            phase: phase.to_string(),
            items: Vec::new(),
        }
    }

    /// Node paths of the files and directories this plan writes.
    pub fn written_paths(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                PlanItem::File { path, .. }
                | PlanItem::Dir { path, .. }
                | PlanItem::Generate { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Node paths of files (written or kept) whose content the phase is responsible for.
    pub fn output_files(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                PlanItem::File { path, .. }
                | PlanItem::Keep { path, .. }
                | PlanItem::Generate { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            let p = &self.phase;
            match item {
                PlanItem::Dir { path, mode } => {
                    writeln!(f, "[{p}] directory {path} (mode {mode:04o})")?
                }
                PlanItem::File {
                    path,
                    mode,
                    content,
                    what,
                    ..
                } => writeln!(
                    f,
                    "[{p}] file {path} (mode {mode:04o}, {} bytes): {what}",
                    content.len()
                )?,
                PlanItem::Generate { path, mode, what } => {
                    writeln!(f, "[{p}] file {path} (mode {mode:04o}, generated): {what}")?
                }
                PlanItem::Keep { path, what } => writeln!(f, "[{p}] keep {path}: {what}")?,
                PlanItem::Check { name, outcome } => match outcome {
                    CheckOutcome::Ok => writeln!(f, "[{p}] check {name}: ok")?,
                    CheckOutcome::Warning(m) => writeln!(f, "[{p}] check {name}: WARNING {m}")?,
                    CheckOutcome::Error(m) => writeln!(f, "[{p}] check {name}: ERROR {m}")?,
                    CheckOutcome::Ignored(m) => {
                        writeln!(f, "[{p}] check {name}: ignored error: {m}")?
                    }
                },
                PlanItem::Object(o) => {
                    writeln!(f, "[{p}] {} {}: {}", o.action.verb(), o.describe(), o.what)?
                }
                PlanItem::Note(n) => writeln!(f, "[{p}] {n}")?,
            }
        }
        Ok(())
    }
}

/// A kubeadm phase: plans, then applies.
pub trait Phase {
    /// kubeadm's phase name.
    fn name(&self) -> &'static str;

    /// Works out what the phase will produce, reading but never writing.
    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan>;

    /// Applies the plan; `progress(n)` is called after each of the first `n` items is done
    /// (crash-test boundaries). The default writes [`PlanItem::File`]s and [`PlanItem::Dir`]s.
    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        for (i, item) in plan.items.iter().enumerate() {
            // Objects need the cluster; `--dry-run` (no connection) only prints them.
            if let (PlanItem::Object(o), Some(_)) = (item, ctx.cluster) {
                ctx.cluster()?.execute(o)?;
            }
            apply_item(ctx.root, item)?;
            progress(i + 1);
        }
        Ok(())
    }

    /// Called after all items were applied; a phase can fail here (preflight errors).
    fn finish(&self, _ctx: &Context, _plan: &Plan) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Applies one plan item under `root`.
pub fn apply_item(root: &Path, item: &PlanItem) -> anyhow::Result<()> {
    match item {
        PlanItem::Dir { path, mode } => {
            let p = fsutil::under_root(root, path);
            fsutil::ensure_dir(&p, *mode)
                .map_err(|e| anyhow::anyhow!("cannot create directory {path}: {e}"))
        }
        PlanItem::File {
            path,
            mode,
            content,
            dir_mode,
            ..
        } => fsutil::write_atomic(&fsutil::under_root(root, path), content, *mode, *dir_mode)
            .map_err(|e| anyhow::anyhow!("cannot write {path}: {e}")),
        _ => Ok(()),
    }
}

/// The implementation of a runnable phase, or `None` if this build does not implement it.
pub fn for_name(mode: Mode, name: &str) -> Option<Box<dyn Phase>> {
    match (mode, name) {
        (_, "preflight") => Some(Box::new(preflight::Preflight)),
        (Mode::Init, "certs") => Some(Box::new(certs::Certs)),
        (Mode::Init, "kubeconfig") => Some(Box::new(kubeconfig::Kubeconfig)),
        (Mode::Init, "etcd") => Some(Box::new(etcd::Etcd)),
        (Mode::Init, "control-plane") => Some(Box::new(control_plane::ControlPlane)),
        (Mode::Init, "kubelet-start") => Some(Box::new(kubelet_start::KubeletStart)),
        (Mode::Init, "bootstrap-token") => Some(Box::new(bootstrap_token::BootstrapTokenPhase)),
        (Mode::Init, "addon") => Some(Box::new(addon::Addon)),
        (Mode::Init, "wait-control-plane") => {
            Some(Box::new(wait_control_plane::WaitControlPlane::default()))
        }
        (Mode::Init, "upload-config") => Some(Box::new(upload_config::UploadConfig)),
        (Mode::Init, "upload-certs") => Some(Box::new(upload_certs::UploadCerts)),
        (Mode::Init, "mark-control-plane") => Some(Box::new(mark_control_plane::MarkControlPlane)),
        (Mode::Init, "kubelet-finalize") => Some(Box::new(kubelet_finalize::KubeletFinalize)),
        (Mode::Init, "show-join-command") => Some(Box::new(show_join_command::ShowJoinCommand)),
        (Mode::Join, "control-plane-prepare") => {
            Some(Box::new(join::control_plane_prepare::ControlPlanePrepare))
        }
        (Mode::Join, "check-etcd") => Some(Box::new(join::check_etcd::CheckEtcd)),
        (Mode::Join, "etcd-join") => Some(Box::new(join::etcd_join::EtcdJoin)),
        (Mode::Join, "kubelet-start") => Some(Box::new(join::kubelet_start::JoinKubeletStart)),
        (Mode::Join, "kubelet-wait-bootstrap") => {
            Some(Box::new(join::kubelet_wait_bootstrap::KubeletWaitBootstrap))
        }
        (Mode::Join, "control-plane-join") => {
            Some(Box::new(join::control_plane_join::ControlPlaneJoin))
        }
        (Mode::Join, "wait-control-plane") => {
            Some(Box::new(join::wait_control_plane::JoinWaitControlPlane))
        }
        _ => None,
    }
}
