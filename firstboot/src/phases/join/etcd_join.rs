//! Phase `etcd-join` (CP join with stacked etcd, spec §5.7 steps 3–6, §13.1 #5): adds this
//! node's etcd member as a learner, creates the etcd data directory (0700), writes
//! `/etc/kubernetes/manifests/etcd.yaml` (0600, `--initial-cluster` of the members plus this
//! node, `--initial-cluster-state=existing`), waits for the member to start and promotes it;
//! nothing for external etcd.
//!
//! Re-runnable after a crash: a member that already has this node's peer URL (learner or
//! voter) is not added again; a missing manifest is written, a learner is promoted.

use std::time::Duration;

use super::{cluster_configuration, sub_context, with_cluster_configuration};
use crate::config::NodeConfig;
use crate::etcd_client::{self, EtcdClient, Member};
use crate::manifests::{self, pod::etcd_client_url, pod::etcd_peer_url, EtcdMembership};
use crate::phases::params::{control_plane_params, items_from_file_plan};
use crate::phases::{apply_item, Context, Phase, Plan, PlanItem};

/// kubeadm's default `timeouts.etcdAPICall`.
pub const DEFAULT_ETCD_API_CALL: Duration = Duration::from_secs(120);
/// kubeadm's default `timeouts.kubernetesAPICall`.
pub const DEFAULT_KUBERNETES_API_CALL: Duration = Duration::from_secs(60);
/// Attempts of the final cluster-availability wait (kubeadm's `etcdHealthyCheckRetries`).
pub const AVAILABILITY_ATTEMPTS: u32 = 8;
/// Pause between those attempts (kubeadm's `etcdHealthyCheckInterval`).
pub const AVAILABILITY_INTERVAL: Duration = Duration::from_secs(5);
/// The manifest etcd-join writes.
pub const ETCD_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";

/// The `etcd-join` phase.
pub struct EtcdJoin;

/// This node's etcd member as the rest of the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMember {
    /// `--name` (the node name).
    pub name: String,
    /// `https://<adv>:2380`.
    pub peer_url: String,
    /// `https://<adv>:2379`.
    pub client_url: String,
}

/// This node's member (name, peer and client URL from `controlPlane.localAPIEndpoint`).
pub fn local_member(cfg: &NodeConfig) -> anyhow::Result<LocalMember> {
    let adv = cfg.advertise_address().ok_or_else(|| {
        anyhow::anyhow!(
            "controlPlane.localAPIEndpoint.advertiseAddress: not an IP address (a control-plane join needs one)"
        )
    })?;
    Ok(LocalMember {
        name: cfg.node_name().to_string(),
        peer_url: etcd_peer_url(&adv),
        client_url: etcd_client_url(&adv),
    })
}

/// `timeouts.etcdAPICall` of the configuration (default 2 min).
pub fn etcd_timeout(cfg: &NodeConfig) -> Duration {
    super::timeout_or(cfg.timeouts().etcd_api_call, DEFAULT_ETCD_API_CALL)
}

/// The node configuration with the cluster's ClusterConfiguration (`kube-system/kubeadm-config`
/// read through the phase's connection, admin.conf), as kubeadm's join uses it.
pub fn cluster_config(ctx: &Context) -> anyhow::Result<NodeConfig> {
    let cc = cluster_configuration(ctx.cluster()?)?;
    Ok(with_cluster_configuration(ctx.config, cc))
}

/// A client for the cluster's stacked etcd (§5.7 step 1): endpoints from the etcd Pods'
/// annotation (through the phase's connection, polled up to `timeouts.kubernetesAPICall`), TLS
/// from this node's etcd PKI, synced with the member list (`timeouts.etcdAPICall`).
pub fn stacked_client(ctx: &Context, cfg: &NodeConfig) -> anyhow::Result<EtcdClient> {
    let api_timeout = super::timeout_or(
        cfg.timeouts().kubernetes_api_call,
        DEFAULT_KUBERNETES_API_CALL,
    );
    let endpoints = etcd_client::endpoints_from_cluster(ctx.cluster()?, api_timeout)?;
    tracing::info!(?endpoints, "etcd endpoints from the etcd Pods");
    let pki = ctx.path(&cfg.cluster.certificates_dir);
    Ok(etcd_client::connect_stacked(
        endpoints,
        &pki,
        etcd_timeout(cfg),
    )?)
}

/// The files etcd-join writes once the member list is known (pure): the etcd data directory
/// (0700), the manifests directory and `etcd.yaml` with `--initial-cluster` built from
/// `members` ([`etcd_client::join_members`], this node under its name) and
/// `--initial-cluster-state=existing`. `ctx` carries the cluster's configuration.
pub fn plan_manifest(ctx: &Context, me: &LocalMember, members: &[Member]) -> anyhow::Result<Plan> {
    let local = ctx.config.cluster.etcd.local.as_ref().ok_or_else(|| {
        anyhow::anyhow!("etcd.local is not set in the ClusterConfiguration (external etcd)")
    })?;
    let p = control_plane_params(ctx)?;
    let initial = etcd_client::join_members(members, &me.name, &me.peer_url);
    if !initial.iter().any(|m| m.peer_url == me.peer_url) {
        anyhow::bail!(
            "the etcd member list does not contain this node's peer URL {}",
            me.peer_url
        );
    }
    let lib = manifests::plan_local_etcd(
        &p,
        &EtcdMembership::Join(initial),
        &ctx.path("/etc/kubernetes/manifests"),
        &ctx.path(&local.data_dir),
    )?;
    let mut plan = Plan::new("etcd-join");
    plan.items = items_from_file_plan(ctx.root, &lib, "static pod manifest (joining etcd member)");
    Ok(plan)
}

fn nothing_to_do(cfg: &NodeConfig) -> Option<&'static str> {
    if !cfg.is_control_plane() {
        Some("not a control-plane join: nothing to do")
    } else if cfg.cluster.etcd.external.is_some() {
        Some("external etcd: nothing to do")
    } else {
        None
    }
}

/// The joining control plane's configuration merged with the cluster's, when the etcd join
/// phases have work: `None` in a dry run (the plan was printed), on a worker, and with external
/// etcd (said under `[tag]`).
pub fn stacked_join_config(ctx: &Context, tag: &str) -> anyhow::Result<Option<NodeConfig>> {
    if ctx.cluster.is_none() || !ctx.config.is_control_plane() {
        return Ok(None);
    }
    let cfg = cluster_config(ctx)?;
    if let Some(why) = nothing_to_do(&cfg) {
        println!("[{tag}] {why}");
        return Ok(None);
    }
    Ok(Some(cfg))
}

impl Phase for EtcdJoin {
    fn name(&self) -> &'static str {
        "etcd-join"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let mut plan = Plan::new("etcd-join");
        if let Some(why) = nothing_to_do(ctx.config) {
            plan.items.push(PlanItem::Note(why.into()));
            return Ok(plan);
        }
        let me = local_member(ctx.config)?;
        let data_dir = ctx
            .config
            .cluster
            .etcd
            .local
            .as_ref()
            .map(|l| l.data_dir.clone())
            .unwrap_or_else(|| "/var/lib/etcd".into());
        plan.items.push(PlanItem::Note(format!(
            "add etcd member {} ({}) as a learner (endpoints from the etcd Pods' annotation; skipped when it is already a member)",
            me.name, me.peer_url
        )));
        plan.items.push(PlanItem::Dir {
            path: data_dir,
            mode: manifests::ETCD_DATA_DIR_MODE,
        });
        plan.items.push(PlanItem::Generate {
            path: ETCD_MANIFEST.into(),
            mode: manifests::MANIFEST_FILE_MODE,
            what: "static pod manifest: --initial-cluster from the member list after member-add, \
                   --initial-cluster-state=existing"
                .into(),
        });
        plan.items.push(PlanItem::Note(format!(
            "wait for the member to start and promote it (retried up to timeouts.etcdAPICall, {:?}); then wait for the cluster to be available",
            etcd_timeout(ctx.config)
        )));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        let Some(cfg) = stacked_join_config(ctx, "etcd-join")? else {
            return Ok(());
        };
        let me = local_member(&cfg)?;
        let client = stacked_client(ctx, &cfg)?;
        let sub = sub_context(ctx, &cfg, ctx.skip);
        let manifest = ctx.path(ETCD_MANIFEST);

        let (member, members, added) = match client.member_by_peer_url(&me.peer_url)? {
            Some(m) => {
                println!(
                    "[etcd] This node's etcd member {:x} ({}) is already in the cluster{}; not adding it again",
                    m.id,
                    me.peer_url,
                    if m.is_learner { " as a learner" } else { "" }
                );
                (m, client.members()?, false)
            }
            None => {
                println!("[etcd] Announced new etcd member joining to the existing etcd cluster");
                let (m, list) = client.add_learner(&me.name, &me.peer_url)?;
                (m, list, true)
            }
        };
        progress(1);

        // A member added now gets its manifest; after a crash a missing one is written. An
        // existing manifest of an existing member is kept: its --initial-cluster only matters
        // until the data directory is initialised, and rewriting it would restart etcd.
        if added || !manifest.exists() {
            println!("[etcd] Creating static Pod manifest for \"etcd\"");
            let plan = plan_manifest(&sub, &me, &members)?;
            for item in &plan.items {
                apply_item(ctx.root, item)?;
            }
        } else {
            println!("[etcd] Keeping the existing static Pod manifest {ETCD_MANIFEST}");
        }
        progress(2);

        if member.is_learner {
            println!(
                "[etcd] Waiting for the new etcd member to join the cluster. This can take up to {:?}",
                etcd_timeout(&cfg)
            );
            client.promote(member.id)?;
            println!(
                "[etcd] Promoted etcd member {:x} to a voting member",
                member.id
            );
        }
        progress(3);

        wait_available(client)?;
        progress(4);
        Ok(())
    }
}

/// §5.7 step 6: the cluster (now with this member among the endpoints) answers with quorum,
/// [`AVAILABILITY_ATTEMPTS`] tries [`AVAILABILITY_INTERVAL`] apart.
fn wait_available(mut client: EtcdClient) -> anyhow::Result<()> {
    let mut last = None;
    for attempt in 1..=AVAILABILITY_ATTEMPTS {
        let r = client
            .sync_endpoints()
            .and_then(|()| client.check_cluster_health());
        match r {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::info!(attempt, error = %e, "etcd cluster not available yet");
                last = Some(e);
            }
        }
        if attempt < AVAILABILITY_ATTEMPTS {
            std::thread::sleep(AVAILABILITY_INTERVAL);
        }
    }
    let e = last.map(|e| e.to_string()).unwrap_or_default();
    anyhow::bail!(
        "the etcd cluster is not available after {AVAILABILITY_ATTEMPTS} attempts {AVAILABILITY_INTERVAL:?} apart: {e}"
    )
}
