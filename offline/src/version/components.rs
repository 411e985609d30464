//! The etcd, CoreDNS and pause versions a kubeadm of a given minor deploys (spec §1.3).

use serde::{Deserialize, Serialize};

/// Component versions for one Kubernetes minor, as the bundle's kubeadm would choose them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentVersions {
    /// etcd image tag (`3.6.8-0`).
    pub etcd: String,
    /// CoreDNS image tag (`v1.14.2`).
    pub coredns: String,
    /// pause image tag (`3.10.2`).
    pub pause: String,
}

/// kubeadm minors whose constants are built in.
pub const KNOWN_KUBEADM_MINORS: [u64; 3] = [35, 36, 37];

/// kubeadm constants per kubeadm minor: (minor, CoreDNS, pause, etcd map `(target minor, etcd)`).
///
/// v1.36 is verified against the 1.36.2 source (spec §1.3). v1.35 is from observed v1.35 nodes
/// (spec: unverified). v1.37 is not in the spec; it assumes the v1.36 constants and can be
/// overridden per bundle with `componentVersions` in the BundleSpec.
/// (kubeadm minor, CoreDNS tag, pause tag, etcd tag by target minor).
type KubeadmConstants = (
    u64,
    &'static str,
    &'static str,
    &'static [(u64, &'static str)],
);

const TABLE: &[KubeadmConstants] = &[
    (
        35,
        "v1.13.1",
        "3.10.1",
        &[(33, "3.6.6-0"), (34, "3.6.6-0"), (35, "3.6.6-0")],
    ),
    (
        36,
        "v1.14.2",
        "3.10.2",
        &[(34, "3.6.8-0"), (35, "3.6.8-0"), (36, "3.6.8-0")],
    ),
    (
        37,
        "v1.14.2",
        "3.10.2",
        &[(35, "3.6.8-0"), (36, "3.6.8-0"), (37, "3.6.8-0")],
    ),
];

/// The component versions a kubeadm of minor `kubeadm_minor` uses for a control plane of minor
/// `target_minor` (etcd looked up by target minor, nearest end of the map outside it; CoreDNS and
/// pause from kubeadm's own constants). `None` when that kubeadm minor is not built in.
pub fn component_versions(kubeadm_minor: u64, target_minor: u64) -> Option<ComponentVersions> {
    let (_, coredns, pause, etcd_map) = TABLE.iter().find(|(m, ..)| *m == kubeadm_minor)?;
    let etcd = etcd_map
        .iter()
        .find(|(m, _)| *m == target_minor)
        .or_else(|| {
            if target_minor < etcd_map[0].0 {
                etcd_map.first()
            } else {
                etcd_map.last()
            }
        })
        .map(|(_, e)| *e)?;
    Some(ComponentVersions {
        etcd: etcd.to_string(),
        coredns: coredns.to_string(),
        pause: pause.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v136_matches_spec() {
        let c = component_versions(36, 36).unwrap();
        assert_eq!(c.etcd, "3.6.8-0");
        assert_eq!(c.coredns, "v1.14.2");
        assert_eq!(c.pause, "3.10.2");
        // a 1.36 kubeadm deploying 1.35 keeps its own CoreDNS/pause tags
        let c = component_versions(36, 35).unwrap();
        assert_eq!(c.coredns, "v1.14.2");
        // nearest end of the etcd map outside it
        assert_eq!(component_versions(36, 20).unwrap().etcd, "3.6.8-0");
        assert!(component_versions(30, 30).is_none());
    }
}
