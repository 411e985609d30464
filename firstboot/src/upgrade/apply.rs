//! `upgrade apply`: the ordered steps (spec §14.4) — prepare (verify and stage the bundle),
//! backup (manifests, kubelet config, links, etcd snapshot), control-plane (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler; §14.5), certs (admin kubeconfigs),
//! upload-config, addon, activate (version links) and kubelet-restart — each recorded in the
//! upgrade journal so a second `upgrade apply` continues an interrupted or failed upgrade.
//! [`plan`] is pure and printed by `--dry-run`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use offline::version::{KubeVersion, VersionGetter, VersionMap};

use super::backup;
use super::journal::{UpgradeJournal, UpgradeState};
use super::prepare::{self, Refusal, StageRequest};
use super::staticpod::{self, PodStatus, Wait};
use crate::config::{HostFacts, NodeConfig};
use crate::etcd_client::{EtcdClient, EtcdTls};
use crate::kube::{ClusterAccess, ServiceManager};
use crate::manifests::{self, Component, EtcdMembership};
use crate::phases::{self, Context, Phase};
use crate::runner::journal::PhaseState;

/// Step names, in order.
pub const PREPARE: &str = "prepare";
/// Backup step.
pub const BACKUP: &str = "backup";
/// Admin kubeconfig certificate renewal after the control plane.
pub const CERTS: &str = "certs/admin-kubeconfigs";
/// upload-config step.
pub const UPLOAD_CONFIG: &str = "upload-config";
/// kubelet.conf local-mode switch (spec §14.7).
pub const KUBECONFIG: &str = "kubeconfig";
/// kubelet-config step (spec §14.6).
pub const KUBELET_CONFIG: &str = "kubelet-config";
/// bootstrap-token step: the node-bootstrap RBAC (§7.3) and cluster-info's Role re-applied.
pub const BOOTSTRAP_TOKEN: &str = "bootstrap-token";
/// addon step.
pub const ADDON: &str = "addon";
/// Version link switch.
pub const ACTIVATE: &str = "activate";
/// kubelet restart.
pub const KUBELET_RESTART: &str = "kubelet-restart";

/// Journal output key: the mirror pod's config hash before the component's first attempt.
pub const MIRROR_HASH_BEFORE: &str = "mirrorHashBefore";

/// The step of a static pod (`control-plane/etcd`).
pub fn component_step(c: Component) -> String {
    format!("control-plane/{}", c.name())
}

/// Which command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `upgrade apply` on the first control-plane node.
    Apply,
    /// `upgrade node` on the other nodes: their static pods (control-plane nodes), version
    /// links and kubelet; the cluster's objects were upgraded by `apply`.
    Node,
}

/// The steps of an upgrade of `kind` on a node running the control plane (or not) with local
/// etcd (or not).
pub fn steps(kind: Kind, control_plane: bool, local_etcd: bool) -> Vec<String> {
    let mut v = vec![PREPARE.to_string(), BACKUP.to_string()];
    if control_plane {
        if local_etcd {
            v.push(component_step(Component::Etcd));
        }
        v.extend(Component::CONTROL_PLANE.iter().map(|c| component_step(*c)));
        v.push(CERTS.to_string());
    }
    let local_mode = |v: &mut Vec<String>| {
        if control_plane {
            v.push(KUBECONFIG.to_string());
        }
    };
    if kind == Kind::Apply {
        v.push(UPLOAD_CONFIG.to_string());
    }
    local_mode(&mut v);
    v.push(KUBELET_CONFIG.to_string());
    if kind == Kind::Apply {
        v.push(BOOTSTRAP_TOKEN.to_string());
        v.push(ADDON.to_string());
    }
    v.push(ACTIVATE.to_string());
    v.push(KUBELET_RESTART.to_string());
    v
}

/// Whether the node at `root` runs the control plane (kubeadm: its kube-apiserver manifest
/// exists).
pub fn runs_control_plane(root: &Path) -> bool {
    crate::fsutil::under_root(
        root,
        &format!("{}/kube-apiserver.yaml", backup::MANIFESTS_DIR),
    )
    .is_file()
}

/// What `upgrade apply` was asked.
pub struct Request<'a> {
    /// `upgrade apply` or `upgrade node`.
    pub kind: Kind,
    /// Node root.
    pub root: &'a Path,
    /// `upgrade apply VERSION`.
    pub target: KubeVersion,
    /// The bundle and how to stage it.
    pub stage: StageRequest,
    /// Configuration for the target: the node's registration plus the cluster's stored
    /// ClusterConfiguration with `kubernetesVersion` set to the target.
    pub config: &'a NodeConfig,
    /// Host facts (for phase contexts).
    pub facts: &'a HostFacts,
    /// Upgrade local etcd (`--etcd-upgrade`, default true).
    pub etcd_upgrade: bool,
    /// Renew certificates (`--certificate-renewal`, default true).
    pub certificate_renewal: bool,
    /// Local etcd client endpoints (default `https://127.0.0.1:2379`).
    pub etcd_endpoints: Vec<String>,
    /// `etcdutl`/`etcdctl` for restoring etcd's data when a failed etcd upgrade leaves the
    /// previous etcd unable to serve (default: from `PATH`, see
    /// [`super::rollback::find_restore_tool`]).
    pub restore_tool: Option<std::path::PathBuf>,
    /// Waits for the kubelet.
    pub wait: Wait,
    /// Limits of the pre-upgrade `CreateJob` health check.
    pub job_wait: super::health::JobWait,
}

/// The cluster and node services the upgrade talks to.
pub struct Env<'a> {
    /// The admin connection.
    pub cluster: &'a ClusterAccess,
    /// Where mirror pods are read (the cluster in production).
    pub pods: &'a dyn PodStatus,
    /// Restarts the kubelet.
    pub services: &'a dyn ServiceManager,
}

/// Why `upgrade apply` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The bundle or target is refused; nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Bad input (unreadable bundle, another upgrade unfinished); nothing was changed.
    #[error("{0}")]
    BadInput(String),
    /// A step failed; the journal names it.
    #[error("upgrade step {step} failed: {error}")]
    Step {
        /// The step.
        step: String,
        /// Why.
        error: String,
    },
    /// The cluster failed the pre-upgrade health checks (spec §14.3); nothing was changed.
    #[error("the cluster is not healthy enough to upgrade:\n{}", .0.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Unhealthy(Vec<super::health::CheckFailure>),
    /// Stopped by the progress hook (tests simulate a crash with it).
    #[error("interrupted after step {0}")]
    Interrupted(String),
}

/// The configuration of the target: the node's own (registration, endpoint) with the cluster's
/// stored ClusterConfiguration (kubeadm-config) and `kubernetesVersion` set to `target`, whose
/// kubeadm behaviour applies.
pub fn target_config(
    local: &NodeConfig,
    stored: crate::config::ClusterConfiguration,
    target: &KubeVersion,
) -> NodeConfig {
    let mut c = phases::join::with_cluster_configuration(local, stored);
    c.cluster.kubernetes_version = target.to_string();
    c.kubeadm_version = target.to_string();
    c
}

/// The cluster's stored component configurations (`kube-system/kubelet-config` key `kubelet`,
/// `kube-system/kube-proxy` key `config.conf`), which upload-config and the add-ons re-apply
/// as kubeadm does — so edits made in the cluster survive the upgrade. A worker reads only the
/// kubelet's (`proxy` false): its kubelet credentials may not read the kube-proxy ConfigMap,
/// and it re-applies no add-on.
pub fn stored_component_configs(
    cluster: &crate::kube::Cluster,
    proxy: bool,
) -> anyhow::Result<(Option<serde_yaml::Value>, Option<serde_yaml::Value>)> {
    use phases::join::stored_document;
    let proxy = if proxy {
        stored_document(cluster, "kube-proxy", "config.conf")?
    } else {
        None
    };
    Ok((
        stored_document(cluster, "kubelet-config", "kubelet")?,
        proxy,
    ))
}

/// [`target_config`] with the cluster's stored ClusterConfiguration and component
/// configurations read through `cluster`.
pub fn target_config_from_cluster(
    local: &NodeConfig,
    cluster: &crate::kube::Cluster,
    target: &KubeVersion,
) -> anyhow::Result<NodeConfig> {
    let stored = phases::join::cluster_configuration(cluster)?;
    let mut c = target_config(local, stored, target);
    let (kubelet, proxy) = stored_component_configs(cluster, local.is_control_plane())?;
    if kubelet.is_some() {
        c.kubelet = kubelet;
    }
    if proxy.is_some() {
        c.kube_proxy = proxy;
    }
    Ok(c)
}

/// The new manifest of every static pod for the target configuration.
pub fn new_manifests(
    root: &Path,
    cfg: &NodeConfig,
    facts: &HostFacts,
    services: &dyn ServiceManager,
) -> anyhow::Result<BTreeMap<Component, String>> {
    let ctx = context(root, cfg, facts, None, services);
    let p = phases::params::control_plane_params(&ctx)?;
    let mut out = BTreeMap::new();
    let comps: Vec<Component> = if cfg.cluster.etcd.local.is_some() {
        vec![Component::Etcd]
    } else {
        vec![]
    };
    for c in comps.into_iter().chain(Component::CONTROL_PLANE) {
        out.insert(
            c,
            manifests::manifest_yaml(&p, c, &EtcdMembership::NewCluster)?,
        );
    }
    Ok(out)
}

fn context<'a>(
    root: &'a Path,
    cfg: &'a NodeConfig,
    facts: &'a HostFacts,
    cluster: Option<&'a ClusterAccess>,
    services: &'a dyn ServiceManager,
) -> Context<'a> {
    Context {
        root,
        host_root: root,
        config: cfg,
        facts,
        subphase: None,
        skip: &[],
        start_time: SystemTime::now(),
        cluster,
        services,
    }
}

/// The pause image of the target (the `CreateJob` health check runs it).
pub fn target_images(
    req: &Request,
    services: &dyn ServiceManager,
) -> anyhow::Result<manifests::Images> {
    let ctx = context(req.root, req.config, req.facts, None, services);
    let p = phases::params::control_plane_params(&ctx)?;
    let c = &req.config.cluster;
    let images = manifests::images(
        &p,
        &manifests::AddonImageParams {
            dns_disabled: c.dns.disabled,
            dns_image_repository: Some(c.dns.image_repository.clone()),
            dns_image_tag: Some(c.dns.image_tag.clone()),
            proxy_disabled: c.proxy.disabled,
        },
    )?;
    Ok(images)
}

/// The version running now and the kubelets: from the cluster (highest kube-apiserver, Nodes),
/// or this node's manifests when the cluster has no answer.
pub fn running_state(
    cluster: &dyn VersionGetter,
    node: &dyn VersionGetter,
) -> anyhow::Result<(KubeVersion, VersionMap)> {
    let highest = |g: &dyn VersionGetter| -> Option<KubeVersion> {
        g.component_versions("kube-apiserver")
            .ok()?
            .keys()
            .filter_map(|k| KubeVersion::parse(k).ok())
            .max()
    };
    let running = highest(cluster)
        .or_else(|| highest(node))
        .or_else(|| cluster.cluster_version().ok())
        .ok_or_else(|| anyhow::anyhow!("cannot tell the running Kubernetes version"))?;
    let kubelets = cluster.kubelet_versions().unwrap_or_default();
    Ok((running, kubelets))
}

/// What `--dry-run` prints: every step with what it would do.
pub fn plan(
    req: &Request,
    manifests_new: &BTreeMap<Component, String>,
    journal: Option<&UpgradeJournal>,
) -> Vec<String> {
    let root = req.root;
    let local_etcd = manifests_new.contains_key(&Component::Etcd);
    let mut out = Vec::new();
    let state = |s: &str| {
        journal
            .map(|j| j.step_state(s))
            .unwrap_or(PhaseState::Pending)
    };
    for step in steps(req.kind, !manifests_new.is_empty(), local_etcd) {
        if matches!(state(&step), PhaseState::Done | PhaseState::Skipped) {
            out.push(format!("[{step}] already done"));
            continue;
        }
        if step == PREPARE && journal.is_none() && req.kind == Kind::Apply {
            out.push(
                "[preflight] check ControlPlaneNodesReady, StaticPodManifest and CreateJob \
                 (a short Job on a control-plane node; not created in a dry run)"
                    .into(),
            );
        }
        match step.as_str() {
            PREPARE => out.push(format!(
                "[{step}] verify {}{} and stage {} under /opt/kubebake/versions/{} (not active){}",
                req.stage.bundle.display(),
                if req.stage.public_key.is_some() {
                    " and its signature"
                } else {
                    ""
                },
                req.target,
                req.target,
                if req.stage.import_images {
                    "; import its images into containerd"
                } else {
                    ""
                }
            )),
            BACKUP => {
                let (m, e) = backup::backup_dirs("<timestamp>");
                match backup::plan(root, "", local_etcd.then_some(e.as_str())) {
                    Ok(r) => out.extend(
                        backup::describe(&r, &m)
                            .into_iter()
                            .map(|l| format!("[{step}] {l}")),
                    ),
                    Err(e) => out.push(format!("[{step}] ERROR {e}")),
                }
            }
            CERTS if req.certificate_renewal => out.push(format!(
                "[{step}] renew the client certificates in admin.conf and super-admin.conf (if present)"
            )),
            CERTS => out.push(format!("[{step}] skipped (--certificate-renewal=false)")),
            UPLOAD_CONFIG => out.push(format!(
                "[{step}] update ConfigMaps kube-system/kubeadm-config (kubernetesVersion {}) and kubelet-config",
                req.target
            )),
            KUBECONFIG => match super::kubelet_conf::plan(root, req.config) {
                Ok(Some(url)) => out.push(format!(
                    "[{step}] point {} at {url} and restart kubelet",
                    super::kubelet_conf::KUBELET_CONF
                )),
                Ok(None) => out.push(format!(
                    "[{step}] {} already uses this node's endpoint (or is absent): nothing to do",
                    super::kubelet_conf::KUBELET_CONF
                )),
                Err(e) => out.push(format!("[{step}] ERROR {e}")),
            },
            KUBELET_CONFIG => out.push(format!(
                "[{step}] copy {} to {}/kubeadm-kubelet-config-<timestamp>/ and regenerate it from ConfigMap kube-system/kubelet-config",
                super::kubelet_config::CONFIG,
                backup::TMP_DIR
            )),
            BOOTSTRAP_TOKEN => out.push(format!(
                "[{step}] re-apply the node bootstrap RBAC (token auto-approval, certificate rotation, kubeadm:apiserver-kubelet-client) and cluster-info's Role"
            )),
            ADDON => out.push(format!(
                "[{step}] update CoreDNS (keeping a user-edited Corefile) and kube-proxy"
            )),
            ACTIVATE => out.push(format!(
                "[{step}] point /usr/local/bin links at /opt/kubebake/versions/{}",
                req.target
            )),
            KUBELET_RESTART => out.push(format!("[{step}] restart kubelet")),
            s => {
                let c = manifests_new
                    .keys()
                    .find(|c| component_step(**c) == s)
                    .copied();
                let Some(c) = c else { continue };
                if c == Component::Etcd && !req.etcd_upgrade {
                    out.push(format!("[{step}] skipped (--etcd-upgrade=false)"));
                    continue;
                }
                let cur = std::fs::read_to_string(crate::fsutil::under_root(
                    root,
                    &format!("{}/{}", backup::MANIFESTS_DIR, c.file_name()),
                ))
                .unwrap_or_default();
                let downgrade = (c == Component::Etcd)
                    .then(|| etcd_downgrade(&cur, &manifests_new[&c]))
                    .flatten();
                if let Some((running, desired)) = downgrade {
                    out.push(format!(
                        "[{step}] skipped: the target's etcd {desired} is older than the running {running}"
                    ));
                } else if manifests::same_pod(&cur, &manifests_new[&c]) {
                    out.push(format!("[{step}] manifest unchanged: skip"));
                } else {
                    out.push(format!(
                        "[{step}] write {}/{} ({} bytes), wait for the mirror pod's config hash to change and component={} to be Running (timeout {:?})",
                        backup::MANIFESTS_DIR,
                        c.file_name(),
                        manifests_new[&c].len(),
                        c.name(),
                        req.wait.timeout
                    ));
                }
            }
        }
    }
    out
}

fn renew_params(req: &Request) -> anyhow::Result<crate::pki::RenewParams> {
    let c = &req.config.cluster;
    Ok(crate::pki::RenewParams {
        cert_dir: crate::fsutil::under_root(req.root, &c.certificates_dir),
        kubeconfig_dir: crate::fsutil::under_root(req.root, "/etc/kubernetes"),
        local_etcd: c.etcd.local.is_some(),
        encryption_algorithm: c.encryption_algorithm.parse()?,
        cert_validity: time::Duration::try_from(
            c.certificate_validity_period
                .map(|d| d.as_duration())
                .unwrap_or(std::time::Duration::from_secs(8760 * 3600)),
        )?,
        start_time: time::OffsetDateTime::now_utc(),
    })
}

/// Whether kube-apiserver's new manifest differs from the one on the node.
fn apiserver_changes(root: &Path, new: &BTreeMap<Component, String>) -> bool {
    let Some(n) = new.get(&Component::KubeApiserver) else {
        return false;
    };
    let cur = std::fs::read_to_string(crate::fsutil::under_root(
        root,
        &format!(
            "{}/{}",
            backup::MANIFESTS_DIR,
            Component::KubeApiserver.file_name()
        ),
    ))
    .unwrap_or_default();
    !manifests::same_pod(&cur, n)
}

/// Spec §14.5 step 4c: `Some((running, desired))` etcd versions (image tags of the current and
/// the new etcd manifest) when the desired one is older — etcd is then left alone and the other
/// components are upgraded. Equal versions, or a tag that is not a version, give `None`.
pub fn etcd_downgrade(current_manifest: &str, new_manifest: &str) -> Option<(String, String)> {
    let tag = |m: &str| -> Option<String> {
        let pod: serde_yaml::Value = serde_yaml::from_str(m).ok()?;
        let image = pod["spec"]["containers"][0]["image"].as_str()?;
        super::getters::version_from_image(image)
    };
    let (running, desired) = (tag(current_manifest)?, tag(new_manifest)?);
    let parse = |v: &str| semver::Version::parse(v.trim_start_matches('v')).ok();
    (parse(&desired)? < parse(&running)?).then_some((running, desired))
}

/// Certificates renewed with a component (spec §14.5 table).
pub fn component_certs(c: Component, local_etcd: bool) -> Vec<String> {
    let v: Vec<&str> = match c {
        Component::Etcd => vec!["etcd-server", "etcd-peer", "etcd-healthcheck-client"],
        Component::KubeApiserver if local_etcd => vec![
            "apiserver",
            "apiserver-kubelet-client",
            "front-proxy-client",
            "apiserver-etcd-client",
        ],
        Component::KubeApiserver => {
            vec![
                "apiserver",
                "apiserver-kubelet-client",
                "front-proxy-client",
            ]
        }
        Component::KubeControllerManager => vec!["controller-manager.conf"],
        Component::KubeScheduler => vec!["scheduler.conf"],
    };
    v.into_iter().map(str::to_string).collect()
}

fn renew(req: &Request, names: &[String]) -> anyhow::Result<()> {
    if !req.certificate_renewal || names.is_empty() {
        return Ok(());
    }
    let results = crate::pki::renew(&renew_params(req)?, names)?;
    for r in results {
        tracing::info!("[upgrade/certs] {}", r.message);
    }
    Ok(())
}

fn etcd_client(req: &Request) -> anyhow::Result<EtcdClient> {
    let pki = crate::fsutil::under_root(req.root, &req.config.cluster.certificates_dir);
    let tls = EtcdTls::from_pki_dir(&pki)?;
    Ok(EtcdClient::new(req.etcd_endpoints.clone(), tls)?)
}

/// Polls etcd's cluster health (the quorum rule of §5.7) until it holds or the component wait
/// ends; the last error otherwise.
fn wait_etcd_available(req: &Request) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + req.wait.timeout;
    loop {
        let r = etcd_client(req).and_then(|c| Ok(c.check_cluster_health()?));
        match r {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(req.wait.interval),
        }
    }
}

/// After etcd's previous manifest was put back (spec §14.5 4e/4f): waits for the previous etcd
/// (as long as for a component); when it does not serve, restores its data from the snapshot
/// taken before the upgrade (a real restore, not kubeadm's nesting `cp -r`) and waits again.
/// Says what happened.
fn recover_old_etcd(req: &Request, env: &Env, backup_dir: &str, r: &staticpod::Replace) -> String {
    let Err(first) = wait_etcd_available(req) else {
        return "the previous etcd serves the cluster again".into();
    };
    // The restore takes the manifest out; it goes back once the kubelet has seen it gone, so
    // the kubelet starts etcd afresh on the restored data.
    let restored = restore_etcd_snapshot(req, env, backup_dir).and_then(|snapshot| {
        staticpod::wait_stopped(r, env.pods).map_err(anyhow::Error::msg)?;
        staticpod::put_back(r)?;
        Ok(snapshot)
    });
    match restored {
        Ok(snapshot) => match wait_etcd_available(req) {
            Ok(()) => format!(
                "the previous etcd did not serve on its data ({first}), so its data was restored \
                 from the snapshot {snapshot} (writes after it are lost; the data it had is kept \
                 beside it) and it serves the cluster again"
            ),
            Err(e) => format!(
                "the previous etcd did not serve on its data ({first}) and does not serve on the \
                 data restored from the snapshot {snapshot} either: {e}"
            ),
        },
        Err(e) => format!(
            "the previous etcd does not serve either ({first}) and its data could not be \
             restored from the snapshot: {e}"
        ),
    }
}

/// Restores the local etcd member's data from the upgrade's snapshot (single-member etcd only:
/// the rule of `upgrade rollback`); the snapshot's node path.
fn restore_etcd_snapshot(req: &Request, env: &Env, backup_dir: &str) -> anyhow::Result<String> {
    let record = super::backup::BackupRecord::read(req.root, backup_dir)?;
    let (snapshot, member) = super::rollback::etcd_restore_source(req.root, &record)?
        .ok_or_else(|| anyhow::anyhow!("the upgrade took no etcd snapshot"))?;
    let opts = super::rollback::Options {
        root: req.root,
        restore_tool: req.restore_tool.clone(),
        etcd_endpoint: req.etcd_endpoints.first().cloned().unwrap_or_default(),
        stop_timeout: req.wait.timeout,
        services: env.services,
    };
    let ts = super::backup::timestamp(time::OffsetDateTime::now_utc());
    super::rollback::restore_etcd(&opts, &snapshot, &member, &ts)?;
    Ok(snapshot)
}

fn run_phase(ctx: &Context, phase: &dyn Phase) -> anyhow::Result<()> {
    let plan = phase.plan(ctx)?;
    phase.apply(ctx, &plan, &mut |_| {})?;
    phase.finish(ctx, &plan)
}

/// Runs (or continues) the upgrade. `progress(step)` is called after each step is recorded as
/// done; an error from it stops the upgrade as a crash would (the journal is left as is).
pub fn apply(
    req: &Request,
    env: &Env,
    progress: &mut dyn FnMut(&str) -> anyhow::Result<()>,
) -> Result<UpgradeJournal, ApplyError> {
    let root = req.root;
    let bad = |e: anyhow::Error| ApplyError::BadInput(format!("{e:#}"));
    let target = req.target.to_string();
    // One firstboot run or upgrade at a time on a node.
    let lock_path = crate::runner::StatusPaths::new(root, &req.config.firstboot).lock;
    let _lock = crate::runner::lock::acquire(&lock_path, std::time::Duration::ZERO)
        .map_err(|e| ApplyError::BadInput(e.to_string()))?;
    let existing = UpgradeJournal::read(root).map_err(bad)?;
    let resume = match &existing {
        Some(j) if matches!(j.state, UpgradeState::Running | UpgradeState::Failed) => {
            if j.target_version != target {
                return Err(ApplyError::BadInput(format!(
                    "an upgrade from {} to {} is unfinished (step {}): run `firstboot upgrade apply {} --bundle ...` to continue it or `firstboot upgrade rollback`",
                    j.from_version,
                    j.target_version,
                    j.failed_step.as_deref().unwrap_or("interrupted"),
                    j.target_version
                )));
            }
            true
        }
        _ => false,
    };
    let control_plane = req.kind == Kind::Apply || runs_control_plane(root);
    let new = if control_plane {
        new_manifests(root, req.config, req.facts, env.services).map_err(bad)?
    } else {
        BTreeMap::new()
    };
    let local_etcd = new.contains_key(&Component::Etcd);
    let mut journal = if resume {
        existing.expect("resume implies a journal")
    } else {
        let cluster = env.cluster.get().map_err(bad)?;
        let node_name = req.config.node_name().to_string();
        let node_state = super::getters::NodeStateGetter::new(root, &node_name);
        let (running, kubelets) = match req.kind {
            Kind::Apply => running_state(
                &super::getters::ClusterStateGetter::new(cluster),
                &node_state,
            )
            .map_err(bad)?,
            Kind::Node => {
                let stored = phases::join::cluster_configuration(cluster).map_err(bad)?;
                if crate::config::normalize_version(&stored.kubernetes_version) != target {
                    return Err(ApplyError::BadInput(format!(
                        "the cluster is at {} (kube-system/kubeadm-config), not {target}: run \
                         `firstboot upgrade apply {target}` on the first control-plane node first",
                        stored.kubernetes_version
                    )));
                }
                let own = node_state
                    .cluster_version()
                    .or_else(|_| node_state.kubeadm_version())
                    .map_err(|e| bad(e.into()))?;
                (own, VersionMap::new())
            }
        };
        let carried = prepare::bundle_version(&req.stage.bundle).map_err(bad)?;
        prepare::check_target(
            &req.stage.bundle.display().to_string(),
            &running,
            &req.target,
            &carried,
            &kubelets,
        )?;
        if req.kind == Kind::Apply {
            let images = target_images(req, env.services).map_err(bad)?;
            let pause = images.pause.clone();
            // CoreDNSUnsupportedPlugins / CoreDNSMigration (spec §14.3), before the health checks.
            if !req.config.cluster.dns.disabled {
                let installed = super::coredns::installed(cluster).map_err(bad)?;
                let to = images
                    .coredns
                    .rsplit_once(':')
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default();
                let items = super::coredns::preflight_checks(
                    installed.as_ref(),
                    &to,
                    &req.config.node_registration().ignore_preflight_errors,
                );
                let failures: Vec<super::health::CheckFailure> = items
                    .into_iter()
                    .filter_map(|i| match i {
                        phases::PlanItem::Check {
                            name,
                            outcome: phases::CheckOutcome::Error(message),
                        } => Some(super::health::CheckFailure {
                            check: name,
                            message,
                        }),
                        phases::PlanItem::Check {
                            name,
                            outcome:
                                phases::CheckOutcome::Warning(m) | phases::CheckOutcome::Ignored(m),
                        } => {
                            tracing::warn!("[upgrade/preflight] [{name}] {m}");
                            None
                        }
                        _ => None,
                    })
                    .collect();
                if !failures.is_empty() {
                    return Err(ApplyError::Unhealthy(failures));
                }
            }
            let warnings = super::health::check_all(
                cluster,
                root,
                &pause,
                &req.job_wait,
                &req.config.node_registration().ignore_preflight_errors,
            )
            .map_err(ApplyError::Unhealthy)?;
            for w in warnings {
                tracing::warn!("[upgrade/health] {w}");
            }
        }
        let mut ts = backup::timestamp(time::OffsetDateTime::now_utc());
        // Two upgrades within one second must not share a backup.
        let base = ts.clone();
        let mut n = 0;
        while crate::fsutil::under_root(root, &backup::backup_dirs(&ts).0).exists() {
            n += 1;
            ts = format!("{base}-{n}");
        }
        let (mdir, edir) = backup::backup_dirs(&ts);
        let mut j = UpgradeJournal::new(
            &running.to_string(),
            &target,
            &req.stage.bundle.display().to_string(),
            &mdir,
            &steps(req.kind, control_plane, local_etcd),
        );
        if local_etcd {
            j.etcd_backup_dir = edir;
        }
        j
    };
    let node = req.config.node_name().to_string();
    for step in journal
        .steps
        .iter()
        .map(|s| s.name.clone())
        .collect::<Vec<_>>()
    {
        if matches!(
            journal.step_state(&step),
            PhaseState::Done | PhaseState::Skipped
        ) {
            continue;
        }
        journal.start(&step);
        // The journal is first written once staging verified the bundle: a refused bundle
        // leaves nothing behind.
        if step != PREPARE {
            journal.write(root).map_err(bad)?;
        }
        let result = run_step(req, env, &mut journal, &step, &new, &node, local_etcd);
        match result {
            Ok(skipped) => journal.finish(&step, skipped),
            Err(e) => {
                let error = format!("{e:#}");
                if step == PREPARE && !resume {
                    return Err(ApplyError::BadInput(error));
                }
                journal.fail(&step, &error);
                journal.write(root).map_err(bad)?;
                return Err(ApplyError::Step { step, error });
            }
        }
        journal.write(root).map_err(bad)?;
        progress(&step).map_err(|_| ApplyError::Interrupted(step.clone()))?;
    }
    journal.state = UpgradeState::Succeeded;
    journal.failed_step = None;
    journal.write(root).map_err(bad)?;
    Ok(journal)
}

fn run_step(
    req: &Request,
    env: &Env,
    journal: &mut UpgradeJournal,
    step: &str,
    new: &BTreeMap<Component, String>,
    node: &str,
    local_etcd: bool,
) -> anyhow::Result<Option<String>> {
    let root = req.root;
    let ctx = || context(root, req.config, req.facts, Some(env.cluster), env.services);
    match step {
        PREPARE => {
            let r = prepare::stage(&req.stage)?;
            tracing::info!(
                "[upgrade/prepare] staged {} ({} files written, signature verified: {})",
                r.version,
                r.written.len(),
                r.signature_verified
            );
            Ok(None)
        }
        BACKUP => {
            let etcd_dir =
                (!journal.etcd_backup_dir.is_empty()).then_some(journal.etcd_backup_dir.as_str());
            let record = backup::plan(root, &journal.from_version, etcd_dir)?;
            let client = match record.etcd_snapshot {
                Some(_) => Some(etcd_client(req)?),
                None => None,
            };
            backup::take(root, &record, &journal.backup_dir, client.as_ref())?;
            Ok(None)
        }
        CERTS => {
            if !req.certificate_renewal {
                return Ok(Some("--certificate-renewal=false".into()));
            }
            let mut names = vec!["admin.conf".to_string()];
            if crate::fsutil::under_root(root, "/etc/kubernetes/super-admin.conf").exists() {
                names.push("super-admin.conf".into());
            }
            renew(req, &names)?;
            Ok(None)
        }
        UPLOAD_CONFIG => {
            run_phase(&ctx(), &phases::upload_config::UploadConfig)?;
            Ok(None)
        }
        KUBECONFIG => match super::kubelet_conf::plan(root, req.config)? {
            Some(url) => {
                super::kubelet_conf::apply(root, &url, env.services)?;
                Ok(None)
            }
            None => Ok(Some(
                "kubelet.conf already uses this node's endpoint".into(),
            )),
        },
        KUBELET_CONFIG => {
            let doc = phases::join::stored_kubelet_configuration(env.cluster.get()?)?;
            let c = ctx();
            let items = super::kubelet_config::plan(&c, doc)?;
            let ts = backup::timestamp(time::OffsetDateTime::now_utc());
            super::kubelet_config::apply(&c, &items, &ts)?;
            Ok(None)
        }
        BOOTSTRAP_TOKEN => {
            let cluster = env.cluster.get()?;
            for item in phases::bootstrap_token::bootstrap_rbac_items()
                .into_iter()
                .chain(phases::bootstrap_token::cluster_info_rbac_items())
            {
                cluster.execute(&item)?;
            }
            Ok(None)
        }
        ADDON => {
            run_phase(&ctx(), &phases::addon::Addon)?;
            Ok(None)
        }
        ACTIVATE => {
            prepare::activate(&req.stage, &req.target)?;
            Ok(None)
        }
        KUBELET_RESTART => {
            env.services.restart("kubelet")?;
            Ok(None)
        }
        s => {
            let c = new
                .keys()
                .find(|c| component_step(**c) == s)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("unknown upgrade step {s}"))?;
            if c == Component::Etcd && !req.etcd_upgrade {
                return Ok(Some("--etcd-upgrade=false".into()));
            }
            if c == Component::Etcd {
                let cur = std::fs::read_to_string(crate::fsutil::under_root(
                    root,
                    &format!("{}/{}", backup::MANIFESTS_DIR, c.file_name()),
                ))
                .unwrap_or_default();
                if let Some((running, desired)) = etcd_downgrade(&cur, &new[&c]) {
                    println!(
                        "[upgrade/etcd] the target's etcd {desired} is older than the running {running}: skipping the etcd upgrade"
                    );
                    return Ok(Some(format!(
                        "etcd {desired} is older than the running {running}"
                    )));
                }
                etcd_client(req)?.check_cluster_health().map_err(|e| {
                    anyhow::anyhow!("etcd cluster is not healthy, not upgrading it: {e}")
                })?;
            }
            // The mirror pod's hash before this component's first attempt, kept in the journal:
            // an attempt that wrote the manifest and stopped before the kubelet ran it is
            // then waited for on resume, not skipped.
            let resumed = journal.step_mut(step).attempts > 1;
            let recorded = journal
                .step_mut(step)
                .outputs
                .get(MIRROR_HASH_BEFORE)
                .cloned();
            let before = match recorded {
                Some(h) => Some(h),
                None => {
                    let h = env.pods.mirror_hash(c.name(), node).ok().flatten();
                    if let Some(h) = &h {
                        journal
                            .step_mut(step)
                            .outputs
                            .insert(MIRROR_HASH_BEFORE.into(), h.clone());
                        journal.write(root)?;
                    }
                    h
                }
            };
            let r = staticpod::Replace {
                root,
                component: c.name(),
                new_manifest: &new[&c],
                backup_dir: &journal.backup_dir,
                node,
                wait: req.wait,
                resumed: resumed.then_some(before),
            };
            let names = component_certs(c, local_etcd);
            let outcome = match staticpod::replace(&r, env.pods, &mut || renew(req, &names)) {
                Ok(o) => o,
                // Spec §14.5 4e: the old manifest is back; say whether the old etcd serves again.
                Err(f) if c == Component::Etcd => {
                    anyhow::bail!(
                        "{f}; {}",
                        recover_old_etcd(req, env, &journal.backup_dir, &r)
                    )
                }
                Err(f) => return Err(f.into()),
            };
            match outcome {
                // Spec §14.5 4f: the upgraded member must leave the cluster available.
                staticpod::Outcome::Upgraded if c == Component::Etcd => {
                    if let Err(e) = wait_etcd_available(req) {
                        let restored = match staticpod::put_back(&r) {
                            Ok(()) => format!(
                                "the previous etcd manifest is back and {}",
                                recover_old_etcd(req, env, &journal.backup_dir, &r)
                            ),
                            Err(p) => format!("putting the previous manifest back failed too: {p}"),
                        };
                        anyhow::bail!(
                            "etcd: the cluster is not available after the upgrade: {e}; {restored}"
                        );
                    }
                    Ok(None)
                }
                staticpod::Outcome::Upgraded => Ok(None),
                // Spec §14.5 4d: an equal etcd manifest is still cycled with renewed
                // certificates when kube-apiserver's manifest changes.
                staticpod::Outcome::Unchanged
                    if c == Component::Etcd
                        && req.certificate_renewal
                        && apiserver_changes(root, new) =>
                {
                    println!(
                        "[upgrade/etcd] the etcd manifest is unchanged; renewing its certificates and restarting it"
                    );
                    staticpod::cycle(&r, env.pods, &mut || renew(req, &names))?;
                    Ok(None)
                }
                staticpod::Outcome::Unchanged => {
                    Ok(Some("current and new manifests are equal".into()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_older_target_etcd_is_left_alone() {
        let m = |tag: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:{tag}\n"
            )
        };
        assert_eq!(
            super::etcd_downgrade(&m("3.6.8-0"), &m("3.5.21-0")),
            Some(("3.6.8-0".to_string(), "3.5.21-0".to_string()))
        );
        assert_eq!(super::etcd_downgrade(&m("3.5.21-0"), &m("3.6.8-0")), None);
        assert_eq!(super::etcd_downgrade(&m("3.6.8-0"), &m("3.6.8-0")), None);
        assert_eq!(super::etcd_downgrade(&m("custom"), &m("3.6.8-0")), None);
        assert_eq!(super::etcd_downgrade("", &m("3.6.8-0")), None);
    }
}
