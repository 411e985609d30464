//! Maps the resolved configuration onto the libraries' input structs.

use std::path::Path;

use crate::config::{self, NodeConfig};
use crate::manifests::{self, ComponentParams, ControlPlaneParams, EtcdParams};

use super::{Context, PlanItem};

/// Minor version of a `vX.Y.Z` string.
pub fn minor_of(version: &str) -> Option<u64> {
    config::validate::Version::parse(version).map(|v| v.minor)
}

fn args(a: &[config::Arg]) -> Vec<manifests::Arg> {
    a.iter()
        .map(|x| manifests::Arg::new(&x.name, &x.value))
        .collect()
}

fn envs(e: &[config::EnvVar]) -> anyhow::Result<Vec<k8s_openapi::api::core::v1::EnvVar>> {
    e.iter()
        .map(|x| {
            Ok(k8s_openapi::api::core::v1::EnvVar {
                name: x.name.clone(),
                value: (!x.value.is_empty()).then(|| x.value.clone()),
                value_from: match &x.value_from {
                    None => None,
                    Some(v) => Some(serde_yaml::from_value(v.clone()).map_err(|err| {
                        anyhow::anyhow!("extraEnvs {}: invalid valueFrom: {err}", x.name)
                    })?),
                },
            })
        })
        .collect()
}

fn volumes(v: &[config::HostPathMount]) -> Vec<manifests::HostPathMount> {
    v.iter()
        .map(|m| manifests::HostPathMount {
            name: m.name.clone(),
            host_path: m.host_path.clone(),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only,
            path_type: (!m.path_type.is_empty()).then(|| m.path_type.clone()),
        })
        .collect()
}

fn component(
    extra_args: &[config::Arg],
    extra_volumes: &[config::HostPathMount],
    extra_envs: &[config::EnvVar],
) -> anyhow::Result<ComponentParams> {
    Ok(ComponentParams {
        extra_args: args(extra_args),
        extra_volumes: volumes(extra_volumes),
        extra_envs: envs(extra_envs)?,
    })
}

/// Whether the cluster CA is external (`ca.crt` present, `ca.key` absent) under `root`.
pub fn external_ca(root: &Path, cert_dir: &str) -> bool {
    let dir = crate::fsutil::under_root(root, cert_dir);
    dir.join("ca.crt").exists() && !dir.join("ca.key").exists()
}

/// [`ControlPlaneParams`] for this node.
pub fn control_plane_params(ctx: &Context) -> anyhow::Result<ControlPlaneParams> {
    let cfg: &NodeConfig = ctx.config;
    let c = &cfg.cluster;
    let ep = cfg.local_api_endpoint().ok_or_else(|| {
        anyhow::anyhow!("this node has no local API endpoint (not a control-plane node)")
    })?;
    let adv = cfg.advertise_address().ok_or_else(|| {
        anyhow::anyhow!(
            "localAPIEndpoint.advertiseAddress {:?} is not an IP address",
            ep.advertise_address
        )
    })?;
    let mut p = ControlPlaneParams::new(&c.kubernetes_version, cfg.node_name(), adv);
    p.kubeadm_minor = minor_of(&cfg.kubeadm_version);
    p.image_repository = c.image_repository.clone();
    p.image_pull_policy = cfg.node_registration().image_pull_policy.clone();
    p.bind_port = u16::try_from(ep.bind_port)?;
    p.cert_dir = c.certificates_dir.clone();
    p.kubernetes_dir = "/etc/kubernetes".into();
    p.service_subnet = c.networking.service_subnet.clone();
    p.pod_subnet = c.networking.pod_subnet.clone();
    p.dns_domain = c.networking.dns_domain.clone();
    p.cluster_name = c.cluster_name.clone();
    p.external_ca = external_ca(ctx.root, &c.certificates_dir);
    if let Some(t) = cfg.timeouts().control_plane_component_health_check {
        p.component_health_check_timeout = t.as_duration();
    }
    p.proxy_env = manifests::proxy_env_vars(std::env::vars());
    p.host_ca_dirs = manifests::detect_optional_ca_dirs(ctx.host_root);
    p.api_server = component(
        &c.api_server.extra_args,
        &c.api_server.extra_volumes,
        &c.api_server.extra_envs,
    )?;
    p.controller_manager = component(
        &c.controller_manager.extra_args,
        &c.controller_manager.extra_volumes,
        &c.controller_manager.extra_envs,
    )?;
    p.scheduler = component(
        &c.scheduler.extra_args,
        &c.scheduler.extra_volumes,
        &c.scheduler.extra_envs,
    )?;
    p.etcd = match (&c.etcd.local, &c.etcd.external) {
        (_, Some(ext)) => EtcdParams::External(manifests::ExternalEtcdParams {
            endpoints: ext.endpoints.clone(),
            ca_file: ext.ca_file.clone(),
            cert_file: ext.cert_file.clone(),
            key_file: ext.key_file.clone(),
        }),
        (Some(local), None) => EtcdParams::Local(manifests::LocalEtcdParams {
            data_dir: local.data_dir.clone(),
            image_repository: (!local.image_repository.is_empty())
                .then(|| local.image_repository.clone()),
            image_tag: (!local.image_tag.is_empty()).then(|| local.image_tag.clone()),
            extra_args: args(&local.extra_args),
            extra_envs: envs(&local.extra_envs)?,
        }),
        (None, None) => EtcdParams::Local(manifests::LocalEtcdParams::default()),
    };
    Ok(p)
}

/// Converts a library plan (root-joined paths) into plan items with node paths.
pub fn items_from_file_plan(root: &Path, plan: &manifests::Plan, what: &str) -> Vec<PlanItem> {
    let node = |p: &Path| -> String {
        match p.strip_prefix(root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => p.display().to_string(),
        }
    };
    let mut items: Vec<PlanItem> = plan
        .dirs
        .iter()
        .map(|d| PlanItem::Dir {
            path: node(&d.path),
            mode: d.mode,
        })
        .collect();
    items.extend(plan.files.iter().map(|f| {
        let dir_mode = plan
            .dirs
            .iter()
            .find(|d| Some(d.path.as_path()) == f.path.parent())
            .map(|d| d.mode)
            .unwrap_or(0o755);
        PlanItem::File {
            path: node(&f.path),
            mode: f.mode,
            content: f.contents.clone().into_bytes(),
            dir_mode,
            what: what.to_string(),
        }
    }));
    items
}
