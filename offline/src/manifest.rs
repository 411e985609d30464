//! `bundle.yaml`: the manifest that lists every other entry of a bundle with its sha256.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::digest::{is_sha256_hex, oci_digest_hex};
use crate::fsutil::safe_relative_path;

/// Name of the manifest entry; always the first entry of a bundle.
pub const MANIFEST_NAME: &str = "bundle.yaml";
/// Path of the release index inside a bundle.
pub const RELEASE_INDEX_PATH: &str = "release-index.yaml";
/// Directory of the OCI image layout inside a bundle.
pub const IMAGES_DIR: &str = "images";
/// `kind` of the manifest.
pub const BUNDLE_KIND: &str = "Bundle";
/// Largest manifest accepted when reading (a hostile archive cannot make us buffer more).
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// An executable (`bin/…`), unpacked 0755.
    Binary,
    /// Image content (`images/…`: OCI layout files and blobs).
    Image,
    /// An extra file (`files/…`).
    File,
    /// Bundle metadata (`release-index.yaml`).
    Metadata,
}

impl ArtifactKind {
    /// File mode an entry of this kind is unpacked with.
    pub fn mode(self) -> u32 {
        match self {
            ArtifactKind::Binary => 0o755,
            _ => 0o644,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Binary => "binary",
            ArtifactKind::Image => "image",
            ArtifactKind::File => "file",
            ArtifactKind::Metadata => "metadata",
        }
    }
}

/// One entry of the bundle other than the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Artifact {
    /// Path inside the bundle.
    pub path: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

/// One container image carried in the bundle's OCI layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageEntry {
    /// Full reference the node knows it by (`registry.k8s.io/pause:3.10.2`).
    pub name: String,
    /// Digest of the platform's image manifest (`sha256:…`).
    pub digest: String,
    /// Media type of that manifest.
    pub media_type: String,
    /// Size of that manifest.
    pub size: u64,
    /// Control-plane role (`kube-apiserver`, …, `etcd`, `coredns`, `pause`) or `extra`.
    pub role: String,
}

/// The bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleManifest {
    /// `kubebake.io/v1alpha1`.
    pub api_version: String,
    /// `Bundle`.
    pub kind: String,
    /// Bundle name.
    pub name: String,
    /// Kubernetes version of the binaries and control-plane images (`v1.36.2`).
    pub kubernetes_version: String,
    /// `linux/amd64`.
    pub platform: String,
    /// When the bundle was made (RFC 3339, UTC).
    pub created: String,
    /// Version of the kubebake that made it.
    pub kubebake_version: String,
    /// Repository the control-plane images are named after.
    pub image_repository: String,
    /// Every entry but the manifest, in archive order.
    pub artifacts: Vec<Artifact>,
    /// Every image in the OCI layout.
    pub images: Vec<ImageEntry>,
}

impl BundleManifest {
    /// Check the manifest itself: kind, version, safe unique paths, hex digests, images whose
    /// manifest blob is listed. Returns the offending entry path (or field) and message.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.api_version != crate::spec::API_VERSION {
            return Err((
                "apiVersion".into(),
                format!("unsupported {:?}", self.api_version),
            ));
        }
        if self.kind != BUNDLE_KIND {
            return Err((
                "kind".into(),
                format!("{:?} is not {BUNDLE_KIND}", self.kind),
            ));
        }
        crate::version::KubeVersion::parse(&self.kubernetes_version)
            .map_err(|e| ("kubernetesVersion".to_string(), e))?;
        let mut seen = BTreeSet::new();
        for a in &self.artifacts {
            safe_relative_path(&a.path).map_err(|m| (a.path.clone(), m))?;
            if a.path == MANIFEST_NAME {
                return Err((a.path.clone(), "the manifest cannot list itself".into()));
            }
            if !seen.insert(a.path.as_str()) {
                return Err((a.path.clone(), "listed twice in the manifest".into()));
            }
            if !is_sha256_hex(&a.sha256) {
                return Err((
                    a.path.clone(),
                    format!("{:?} is not a hex sha256", a.sha256),
                ));
            }
        }
        if !seen.contains(RELEASE_INDEX_PATH) {
            return Err((
                RELEASE_INDEX_PATH.into(),
                "not listed in the manifest".into(),
            ));
        }
        for img in &self.images {
            let hex = oci_digest_hex(&img.digest)
                .ok_or_else(|| (img.name.clone(), format!("bad digest {:?}", img.digest)))?;
            let blob = format!("{IMAGES_DIR}/blobs/sha256/{hex}");
            if !seen.contains(blob.as_str()) {
                return Err((
                    img.name.clone(),
                    format!("manifest blob {blob} is not in the bundle"),
                ));
            }
        }
        Ok(())
    }

    /// Look up an artifact by path.
    pub fn artifact(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }

    /// Total size of all artifacts.
    pub fn total_size(&self) -> u64 {
        self.artifacts.iter().map(|a| a.size).sum()
    }
}
