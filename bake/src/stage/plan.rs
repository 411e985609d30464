//! Pure planning: every file, link and directory staging a bundle produces on a node, computed
//! from the bundle manifest alone (no I/O), so it can be tested and printed.

use offline::manifest::{ArtifactKind, BundleManifest, RELEASE_INDEX_PATH};
use offline::version::ReleaseIndex;

use super::units;

/// Where a planned file's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Fixed bytes.
    Bytes(Vec<u8>),
    /// An entry of the unpacked bundle (path inside the bundle).
    FromBundle(String),
    /// The OCI archive of all the bundle's images (written during the unpack pass).
    ImageArchive,
}

/// One file on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Absolute node path.
    pub path: String,
    /// File mode.
    pub mode: u32,
    /// Content.
    pub content: Content,
    /// Belongs to this Kubernetes version (versioned directory) rather than the whole node.
    pub version: bool,
    /// Keep a foreign file at this path as `.kubebake-orig` before replacing it.
    pub backup_foreign: bool,
}

/// One symlink on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLink {
    /// Absolute node path of the link.
    pub path: String,
    /// Target it points at (absolute node path).
    pub target: String,
}

/// Everything staging produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Regular files.
    pub files: Vec<PlannedFile>,
    /// Symlinks (only when the version becomes active).
    pub links: Vec<PlannedLink>,
    /// Directories with their modes.
    pub dirs: Vec<(String, u32)>,
}

/// The versioned directory of `version`.
pub fn version_dir(version: &str) -> String {
    format!("/opt/kubebake/versions/{version}")
}

/// Node path of a version's image archive (one OCI archive holding every image of the bundle;
/// shared layers stored once; `ctr images import` takes it as is).
pub fn images_archive_path(version: &str) -> String {
    format!(
        "/var/lib/kubebake/images/{version}/{}",
        offline::bundle::IMAGES_ARCHIVE
    )
}

fn file(path: String, mode: u32, content: Content, version: bool) -> PlannedFile {
    PlannedFile {
        path,
        mode,
        content,
        version,
        backup_foreign: false,
    }
}

/// Plan staging `manifest`; `activate` adds the node-wide files and the active-version links.
pub fn plan(manifest: &BundleManifest, index: &ReleaseIndex, activate: bool) -> Plan {
    let v = &manifest.kubernetes_version;
    let vdir = version_dir(v);
    let mut p = Plan::default();
    let mut binaries = Vec::new();
    for a in &manifest.artifacts {
        match a.kind {
            ArtifactKind::Binary => {
                let name = a.path.trim_start_matches("bin/").to_string();
                p.files.push(file(
                    format!("{vdir}/bin/{name}"),
                    0o755,
                    Content::FromBundle(a.path.clone()),
                    true,
                ));
                binaries.push(name);
            }
            ArtifactKind::File => {
                p.files.push(file(
                    format!("{vdir}/{}", a.path),
                    0o644,
                    Content::FromBundle(a.path.clone()),
                    true,
                ));
            }
            ArtifactKind::Metadata if a.path == RELEASE_INDEX_PATH => {
                p.files.push(file(
                    format!("/var/lib/kubebake/bundles/{v}/release-index.yaml"),
                    0o644,
                    Content::FromBundle(a.path.clone()),
                    true,
                ));
            }
            _ => {}
        }
    }
    let manifest_yaml = serde_yaml::to_string(manifest).unwrap_or_default();
    p.files.push(file(
        format!("/var/lib/kubebake/bundles/{v}/bundle.yaml"),
        0o644,
        Content::Bytes(manifest_yaml.into_bytes()),
        true,
    ));
    if !manifest.images.is_empty() {
        p.files.push(file(
            images_archive_path(v),
            0o644,
            Content::ImageArchive,
            true,
        ));
    }
    p.dirs.push((vdir.clone(), 0o755));
    if !activate {
        return p;
    }
    let index_yaml = serde_yaml::to_string(index).unwrap_or_default();
    p.files.push(file(
        "/var/lib/kubebake/release-index.yaml".into(),
        0o644,
        Content::Bytes(index_yaml.into_bytes()),
        false,
    ));
    let unit = |name: &str| format!("{}/{name}", units::UNIT_DIR);
    p.files.push(file(
        unit("kubelet.service"),
        0o644,
        Content::Bytes(units::KUBELET_SERVICE.into()),
        false,
    ));
    p.files.push(file(
        unit("kubelet.service.d/10-kubeadm.conf"),
        0o644,
        Content::Bytes(units::KUBEADM_DROPIN.into()),
        false,
    ));
    p.files.push(file(
        unit("kubebake-firstboot.service"),
        0o644,
        Content::Bytes(units::FIRSTBOOT_SERVICE.into()),
        false,
    ));
    if let Some(pause) = manifest.images.iter().find(|i| i.role == "pause") {
        let mut f = file(
            "/etc/containerd/config.toml".into(),
            0o644,
            Content::Bytes(units::containerd_config(&pause.name).into_bytes()),
            false,
        );
        f.backup_foreign = true;
        p.files.push(f);
    }
    p.files.push(file(
        "/etc/crictl.yaml".into(),
        0o644,
        Content::Bytes(units::CRICTL_YAML.into()),
        false,
    ));
    p.files.push(file(
        "/etc/modules-load.d/kubebake.conf".into(),
        0o644,
        Content::Bytes(units::MODULES_LOAD.into()),
        false,
    ));
    p.files.push(file(
        "/etc/sysctl.d/99-kubebake.conf".into(),
        0o644,
        Content::Bytes(units::SYSCTL.into()),
        false,
    ));
    for b in &binaries {
        p.links.push(PlannedLink {
            path: format!("{}/{b}", units::BIN_LINK_DIR),
            target: format!("{vdir}/bin/{b}"),
        });
    }
    for u in ["kubelet.service", "kubebake-firstboot.service"] {
        p.links.push(PlannedLink {
            path: format!("/etc/systemd/system/multi-user.target.wants/{u}"),
            target: unit(u),
        });
    }
    p
}
