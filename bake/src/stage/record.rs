//! `/usr/share/kubebake/staged.json`: the record of what staging put into this image.

use serde::{Deserialize, Serialize};

/// Path of the record on the node.
pub const RECORD_PATH: &str = "/usr/share/kubebake/staged.json";

/// The staged-image record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedRecord {
    /// `kubebake.io/v1alpha1`.
    pub api_version: String,
    /// `StagedImage`.
    pub kind: String,
    /// The Kubernetes version the `/usr/local/bin` links point at.
    pub active_version: Option<String>,
    /// Every bundle staged, one per Kubernetes version.
    pub bundles: Vec<StagedBundle>,
    /// Every regular file staging wrote, with its sha256.
    pub files: Vec<StagedFile>,
    /// The active-version links.
    pub links: Vec<StagedLink>,
    /// Every image, as an archive on disk and (when imported) in containerd.
    pub images: Vec<StagedImageEntry>,
}

/// One staged bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedBundle {
    /// Bundle name.
    pub name: String,
    /// Kubernetes version.
    pub kubernetes_version: String,
    /// sha256 of the bundle file.
    pub sha256: String,
    /// Whether its minisign signature was verified with a public key.
    pub signature_verified: bool,
    /// When the bundle was created.
    pub created: String,
}

/// One staged file (node path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedFile {
    /// Absolute path on the node.
    pub path: String,
    /// Lower-case hex sha256.
    pub sha256: String,
    /// Octal mode (`0755`).
    pub mode: String,
    /// The Kubernetes version it belongs to, or absent for node-wide files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One symlink (node paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedLink {
    /// The link.
    pub path: String,
    /// Its target.
    pub target: String,
}

/// One image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedImageEntry {
    /// Full reference.
    pub name: String,
    /// Manifest digest.
    pub digest: String,
    /// The Kubernetes version whose bundle carried it.
    pub version: String,
    /// The OCI archive on the node.
    pub archive: String,
    /// Imported into containerd's `k8s.io` namespace and pinned.
    pub imported: bool,
}
