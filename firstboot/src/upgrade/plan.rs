//! `upgrade plan`: kubeadm's available-upgrade computation (spec §14.2) over any
//! [`VersionGetter`], plus the reasons a version found in the index or mirror is *not* offered
//! (skew, older than running, not in any bundle) — which kubeadm leaves unsaid.

use serde::Serialize;

use offline::version::{component_versions, KubeVersion, VersionError, VersionGetter, VersionMap};

/// Options of `upgrade plan`.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Offer release candidates (`--allow-release-candidate-upgrades`).
    pub allow_rc: bool,
    /// Offer alpha/beta versions (`--allow-experimental-upgrades`).
    pub allow_experimental: bool,
    /// External etcd: no etcd row.
    pub external_etcd: bool,
}

/// Versions before an upgrade.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Before {
    /// Cluster version (highest API server version).
    pub kubernetes_version: String,
    /// kube-apiserver versions → nodes.
    pub api_server: VersionMap,
    /// kube-controller-manager versions → nodes.
    pub controller_manager: VersionMap,
    /// kube-scheduler versions → nodes.
    pub scheduler: VersionMap,
    /// etcd versions → nodes (empty for external etcd).
    pub etcd: VersionMap,
    /// kubelet versions → nodes.
    pub kubelets: VersionMap,
    /// CoreDNS image tag.
    pub dns: String,
}

/// Versions after one offered upgrade.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct After {
    /// Target Kubernetes version.
    pub kubernetes_version: String,
    /// kubeadm (bundle) version needed.
    pub kubeadm_version: String,
    /// CoreDNS tag.
    pub dns: String,
    /// etcd tag (empty for external etcd, `N/A` when unknown).
    pub etcd: String,
}

/// One available upgrade.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AvailableUpgrade {
    /// `version in the v1.36 series`, `stable version`, `release candidate version`, ...
    pub description: String,
    /// Versions after the upgrade.
    pub after: After,
    /// Whether the kubelets need upgrading to reach it.
    pub kubelets_need_upgrade: bool,
}

/// A version that was considered and is not offered, with why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NotOffered {
    /// The version.
    pub version: String,
    /// Where it came from (`stable`, `stable-1.37`).
    pub label: String,
    /// Why it is not offered.
    pub reason: String,
}

/// The result of `upgrade plan`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    /// What answered the questions (`release index ...`, `cluster`).
    pub source: String,
    /// Versions now.
    pub before: Before,
    /// Offered upgrades, in kubeadm's order.
    pub upgrades: Vec<AvailableUpgrade>,
    /// Versions seen but not offered.
    pub not_offered: Vec<NotOffered>,
    /// Warnings (several API server versions, unreachable labels, ...).
    pub warnings: Vec<String>,
}

fn highest(map: &VersionMap) -> Option<KubeVersion> {
    map.keys().filter_map(|k| KubeVersion::parse(k).ok()).max()
}

fn suggested_etcd(kubeadm: &KubeVersion, target: &KubeVersion, external: bool) -> String {
    if external {
        return String::new();
    }
    component_versions(kubeadm.minor(), target.minor())
        .map(|c| c.etcd)
        .unwrap_or_else(|| "N/A".into())
}

fn dns_for(kubeadm: &KubeVersion, target: &KubeVersion) -> String {
    component_versions(kubeadm.minor(), target.minor())
        .map(|c| c.coredns)
        .unwrap_or_else(|| "N/A".into())
}

fn strip_v(v: &KubeVersion) -> String {
    v.to_string().trim_start_matches('v').to_string()
}

/// Why `target` cannot be reached from `cluster` in one step (minor skew, kubelet skew);
/// `None` when it can.
pub fn skew_problem(
    cluster: &KubeVersion,
    target: &KubeVersion,
    kubelets: &VersionMap,
) -> Option<String> {
    if target <= cluster {
        return Some(format!("not newer than the running {cluster}"));
    }
    if target.major() != cluster.major() || target.minor() > cluster.minor() + 1 {
        return Some(format!(
            "more than one minor version ahead of the running {cluster}: upgrade to v{}.{} first",
            cluster.major(),
            cluster.minor() + 1
        ));
    }
    for (v, nodes) in kubelets {
        match KubeVersion::parse(v) {
            Ok(k) if k.minor() + 3 < target.minor() => {
                return Some(format!(
                    "kubelet {v} on {} is more than 3 minor versions older than {target}",
                    nodes.join(", ")
                ))
            }
            Err(_) => return Some(format!("kubelet version {v:?} cannot be parsed")),
            _ => {}
        }
    }
    None
}

/// Computes the available upgrades with kubeadm's rules (spec §14.2).
pub fn compute(
    getter: &dyn VersionGetter,
    opts: &PlanOptions,
) -> Result<UpgradePlan, VersionError> {
    let mut warnings = Vec::new();
    let api_server = getter.component_versions("kube-apiserver")?;
    if api_server.len() > 1 {
        warnings.push(format!(
            "several kube-apiserver versions run in the cluster: {}",
            api_server.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let cluster = match highest(&api_server) {
        Some(v) => v,
        None => getter.cluster_version()?,
    };
    let kubeadm = getter.kubeadm_version()?;
    let stable = match getter.version_from_label("stable") {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!("{e}; using the kubeadm version {kubeadm}"));
            kubeadm.clone()
        }
    };
    let kubelets = getter.kubelet_versions()?;
    let before = Before {
        kubernetes_version: strip_v(&cluster),
        api_server,
        controller_manager: getter
            .component_versions("kube-controller-manager")
            .unwrap_or_default(),
        scheduler: getter
            .component_versions("kube-scheduler")
            .unwrap_or_default(),
        etcd: if opts.external_etcd {
            VersionMap::new()
        } else {
            getter.component_versions("etcd").unwrap_or_default()
        },
        kubelets: kubelets.clone(),
        dns: getter.dns_version().unwrap_or_default(),
    };
    let kubelets_need = |target: &KubeVersion| {
        kubelets.len() > 1
            || kubelets
                .keys()
                .next()
                .map(|k| KubeVersion::parse(k).ok().as_ref() != Some(target))
                .unwrap_or(false)
    };
    let mut upgrades = Vec::new();
    let mut not_offered = Vec::new();
    let offer = |description: String,
                 target: &KubeVersion,
                 kubeadm_after: &KubeVersion,
                 label: &str,
                 upgrades: &mut Vec<AvailableUpgrade>,
                 not_offered: &mut Vec<NotOffered>| {
        if let Some(reason) = skew_problem(&cluster, target, &kubelets) {
            not_offered.push(NotOffered {
                version: target.to_string(),
                label: label.to_string(),
                reason,
            });
            return;
        }
        if target > &kubeadm {
            not_offered.push(NotOffered {
                version: target.to_string(),
                label: label.to_string(),
                reason: format!(
                    "newer than the bundle's kubeadm {kubeadm}: not in any bundle given"
                ),
            });
            return;
        }
        upgrades.push(AvailableUpgrade {
            description,
            after: After {
                kubernetes_version: target.to_string(),
                kubeadm_version: kubeadm_after.to_string(),
                dns: dns_for(&kubeadm, target),
                etcd: suggested_etcd(&kubeadm, target, opts.external_etcd),
            },
            kubelets_need_upgrade: kubelets_need(target),
        });
    };

    let mut can_do_minor = cluster < stable;
    if stable >= cluster {
        let label = format!("stable-{}.{}", cluster.major(), cluster.minor());
        match getter.version_from_label(&label) {
            Ok(patch) => {
                can_do_minor = patch < stable;
                if cluster < patch {
                    let kubeadm_after = if kubeadm >= patch {
                        kubeadm.clone()
                    } else {
                        patch.clone()
                    };
                    offer(
                        format!(
                            "version in the v{}.{} series",
                            cluster.major(),
                            cluster.minor()
                        ),
                        &patch,
                        &kubeadm_after,
                        &label,
                        &mut upgrades,
                        &mut not_offered,
                    );
                }
            }
            Err(e) => warnings.push(e.to_string()),
        }
    } else {
        not_offered.push(NotOffered {
            version: stable.to_string(),
            label: "stable".into(),
            reason: format!("older than the running {cluster} (no downgrades)"),
        });
    }
    if can_do_minor {
        offer(
            "stable version".into(),
            &stable,
            &stable,
            "stable",
            &mut upgrades,
            &mut not_offered,
        );
    }
    if opts.allow_rc || opts.allow_experimental {
        let latest = getter.version_from_label("latest")?;
        let prev_label = format!("latest-1.{}", latest.minor().saturating_sub(1));
        let prev = getter.version_from_label(&prev_label)?;
        if opts.allow_rc && prev.0.pre.as_str().starts_with("rc") && cluster < prev {
            offer(
                "release candidate version".into(),
                &prev,
                &prev,
                &prev_label,
                &mut upgrades,
                &mut not_offered,
            );
        }
        if opts.allow_experimental && cluster < latest {
            let (target, label) = if latest.0.pre.as_str() == "alpha.0" {
                (prev.clone(), prev_label.clone())
            } else {
                (latest.clone(), "latest".to_string())
            };
            offer(
                "experimental version".into(),
                &target,
                &target,
                &label,
                &mut upgrades,
                &mut not_offered,
            );
        }
    } else if let Ok(latest) = getter.version_from_label("latest") {
        if latest.is_prerelease() && cluster < latest {
            not_offered.push(NotOffered {
                version: latest.to_string(),
                label: "latest".into(),
                reason: "a pre-release: pass --allow-release-candidate-upgrades or --allow-experimental-upgrades".into(),
            });
        }
    }
    not_offered.dedup();
    Ok(UpgradePlan {
        source: getter.describe(),
        before,
        upgrades,
        not_offered,
        warnings,
    })
}
