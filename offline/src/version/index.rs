//! The offline release index (`release-index.yaml`): what a version getter would have learnt
//! from the release site when a bundle was made.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ComponentVersions;

/// The `kind` of a release index document.
pub const RELEASE_INDEX_KIND: &str = "ReleaseIndex";

/// The offline release index carried in every bundle and staged at
/// `/var/lib/kubebake/release-index.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseIndex {
    /// Always `kubebake.io/v1alpha1`.
    pub api_version: String,
    /// Always `ReleaseIndex`.
    pub kind: String,
    /// When the labels were read (RFC 3339, UTC).
    pub generated_at: String,
    /// The release mirror the labels were read from.
    pub source: String,
    /// The Kubernetes version of the bundle that carries this index.
    pub kubernetes_version: String,
    /// Release labels (`stable`, `stable-1.36`, `latest-1.37`, …) → version. Labels the mirror did
    /// not publish are absent.
    pub labels: BTreeMap<String, String>,
    /// Per Kubernetes minor (`"1.36"`), the etcd, CoreDNS and pause versions the bundle's kubeadm
    /// uses for a control plane of that minor.
    pub components: BTreeMap<String, ComponentVersions>,
}

impl ReleaseIndex {
    /// The version behind `label`, if the index has it.
    pub fn label(&self, label: &str) -> Option<&str> {
        let l = label.strip_prefix("release/").unwrap_or(label);
        self.labels.get(l).map(String::as_str)
    }
}
