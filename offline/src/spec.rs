//! The BundleSpec: what `bake bundle create` puts into a bundle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::is_sha256_hex;
use crate::error::{Error, Result};
use crate::version::{is_release_label, ComponentVersions, KubeVersion};

/// apiVersion of every kubebake document.
pub const API_VERSION: &str = "kubebake.io/v1alpha1";
/// `kind` of a bundle spec.
pub const BUNDLE_SPEC_KIND: &str = "BundleSpec";
/// The official release site, the default `releaseMirror`.
pub const DEFAULT_RELEASE_MIRROR: &str = "https://dl.k8s.io/release";
/// kubeadm's default image repository.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";
/// The binaries a bundle carries by default.
pub const DEFAULT_BINARIES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];

/// A BundleSpec document as written by users.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleSpec {
    /// Must be `kubebake.io/v1alpha1`.
    pub api_version: Option<String>,
    /// Must be `BundleSpec`.
    pub kind: Option<String>,
    /// Bundle name (`k8s-v1.36.2`).
    pub name: Option<String>,
    /// A version (`v1.36.2`) or a release label (`stable-1.36`) resolved at the mirror.
    pub kubernetes_version: Option<String>,
    /// `os/arch`; default `linux/amd64`.
    pub platform: Option<String>,
    /// Release site layout: `https://…`, `http://…`, `file:///dir` or a directory path.
    pub release_mirror: Option<String>,
    /// Registry the control-plane images are named after and pulled from.
    pub image_repository: Option<String>,
    /// A local OCI image layout to read the control-plane images from instead of the registry
    /// (images matched by full reference in their annotations).
    pub image_layout: Option<String>,
    /// Registries reached over plain HTTP.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Binaries fetched from the mirror; default kubeadm, kubelet, kubectl.
    pub binaries: Option<Vec<String>>,
    /// Extra images to carry.
    #[serde(default)]
    pub extra_images: Vec<ExtraImage>,
    /// Extra files to carry.
    #[serde(default)]
    pub extra_files: Vec<ExtraFile>,
    /// Override the etcd/CoreDNS/pause tags of the bundle's own minor.
    pub component_versions: Option<ComponentVersions>,
}

/// An extra image: a plain reference, or a name with a local OCI layout source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtraImage {
    /// Pulled from its registry.
    Reference(String),
    /// Named `name`, read from `source` (`oci:DIR:TAG`) or pulled from the registry when absent.
    Sourced {
        /// The image reference the node will know it by.
        name: String,
        /// `oci:DIR:TAG` (a local OCI image layout and the tag inside it).
        source: Option<String>,
    },
}

/// An extra file to carry under `files/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraFile {
    /// URL (`https://`, `http://`, `file://`) or path.
    pub source: String,
    /// Required lower-case hex sha256 of the content.
    pub sha256: Option<String>,
    /// Name inside the bundle (under `files/`); default: the source's last path segment.
    pub name: Option<String>,
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Pull `reference` from its registry.
    Registry,
    /// Read from a local OCI layout `dir`, selecting the manifest annotated with `tag`
    /// (`org.opencontainers.image.ref.name` or `io.containerd.image.name`).
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The annotation value to match.
        tag: String,
    },
}

/// One image a bundle will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    /// What the node will know it by (`registry.k8s.io/pause:3.10.2`).
    pub name: String,
    /// The control-plane role (`kube-apiserver`, …, `etcd`, `coredns`, `pause`) or `extra`.
    pub role: String,
    /// Where to get it.
    pub source: ImageSource,
}

/// A file a bundle will carry under `files/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    /// Name under `files/`.
    pub name: String,
    /// URL or path (absolute or relative to the working directory after resolution).
    pub source: String,
    /// Expected sha256.
    pub sha256: String,
}

/// A validated spec with every default applied and relative paths resolved against the spec
/// file's directory.
#[derive(Debug, Clone)]
pub struct ResolvedSpec {
    /// The spec file, for messages.
    pub file: String,
    /// Bundle name.
    pub name: String,
    /// `kubernetesVersion` as written (a version or a label still to resolve).
    pub kubernetes_version: String,
    /// Operating system of the platform.
    pub os: String,
    /// Architecture of the platform.
    pub arch: String,
    /// Release mirror base (URL or directory path, no trailing slash).
    pub release_mirror: String,
    /// Image repository.
    pub image_repository: String,
    /// Local OCI layout for control-plane images.
    pub image_layout: Option<PathBuf>,
    /// Plain-HTTP registries.
    pub insecure_registries: Vec<String>,
    /// Binaries to fetch.
    pub binaries: Vec<String>,
    /// Extra images.
    pub extra_images: Vec<ImageRequest>,
    /// Extra files.
    pub extra_files: Vec<FileRequest>,
    /// Component tag overrides.
    pub component_versions: Option<ComponentVersions>,
}

impl ResolvedSpec {
    /// `os/arch`.
    pub fn platform(&self) -> String {
        format!("{}/{}", self.os, self.arch)
    }
}

/// Read, parse and validate the BundleSpec at `path`.
pub fn load_spec(path: &Path) -> Result<ResolvedSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_spec(&text, &path.display().to_string(), base)
}

/// Parse and validate a BundleSpec from `text`; `file` names it in errors and relative paths
/// are resolved against `base`.
pub fn parse_spec(text: &str, file: &str, base: &Path) -> Result<ResolvedSpec> {
    let spec: BundleSpec = serde_yaml::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("line {} column {}", l.line(), l.column()))
            .unwrap_or_else(|| "document".into());
        let msg = e.to_string();
        // serde_yaml appends " at line X column Y"; the location is already in front.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Error::spec(file, loc, msg)
    })?;
    let err = |field: &str, msg: String| Error::spec(file, field, msg);

    match spec.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(err(
                "apiVersion",
                format!("{other:?} is not supported; use {API_VERSION}"),
            ))
        }
        None => return Err(err("apiVersion", format!("required ({API_VERSION})"))),
    }
    match spec.kind.as_deref() {
        Some(BUNDLE_SPEC_KIND) => {}
        Some(other) => {
            return Err(err(
                "kind",
                format!("{other:?} is not a {BUNDLE_SPEC_KIND}"),
            ))
        }
        None => return Err(err("kind", format!("required ({BUNDLE_SPEC_KIND})"))),
    }
    let name = spec
        .name
        .clone()
        .ok_or_else(|| err("name", "required (e.g. k8s-v1.36.2)".into()))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        return Err(err(
            "name",
            format!("{name:?} must be letters, digits, '-', '_' or '.'"),
        ));
    }
    let kubernetes_version = spec.kubernetes_version.clone().ok_or_else(|| {
        err(
            "kubernetesVersion",
            "required (e.g. v1.36.2 or stable-1.36)".into(),
        )
    })?;
    if KubeVersion::parse(&kubernetes_version).is_err() && !is_release_label(&kubernetes_version) {
        return Err(err(
            "kubernetesVersion",
            format!("{kubernetes_version:?} is neither a version (v1.36.2) nor a release label (stable-1.36)"),
        ));
    }
    let platform = spec
        .platform
        .clone()
        .unwrap_or_else(|| "linux/amd64".into());
    let (os, arch) = match platform.split_once('/') {
        Some((o, a)) if !o.is_empty() && !a.is_empty() && !a.contains('/') => {
            (o.to_string(), a.to_string())
        }
        _ => {
            return Err(err(
                "platform",
                format!("{platform:?} must be OS/ARCH, e.g. linux/amd64"),
            ))
        }
    };
    let release_mirror = resolve_location(
        spec.release_mirror
            .as_deref()
            .unwrap_or(DEFAULT_RELEASE_MIRROR),
        base,
    )
    .map_err(|m| err("releaseMirror", m))?;
    let image_repository = spec
        .image_repository
        .clone()
        .unwrap_or_else(|| DEFAULT_IMAGE_REPOSITORY.into())
        .trim_end_matches('/')
        .to_string();
    if image_repository.is_empty() || image_repository.contains("://") {
        return Err(err(
            "imageRepository",
            format!("{image_repository:?} must be a registry host and path, e.g. registry.k8s.io"),
        ));
    }
    let image_layout = spec.image_layout.as_deref().map(|d| base.join(d));
    let binaries: Vec<String> = spec
        .binaries
        .clone()
        .unwrap_or_else(|| DEFAULT_BINARIES.iter().map(|s| s.to_string()).collect());
    for (i, b) in binaries.iter().enumerate() {
        if b.is_empty() || b.contains('/') || b.starts_with('.') {
            return Err(err(
                &format!("binaries[{i}]"),
                format!("{b:?} is not a binary name"),
            ));
        }
    }
    if let Some(d) = dup(&binaries) {
        return Err(err("binaries", format!("{d:?} listed twice")));
    }
    let mut extra_images = Vec::new();
    for (i, img) in spec.extra_images.iter().enumerate() {
        let field = format!("extraImages[{i}]");
        let (name, source) = match img {
            ExtraImage::Reference(r) => (r.clone(), None),
            ExtraImage::Sourced { name, source } => (name.clone(), source.clone()),
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(err(&field, format!("{name:?} is not an image reference")));
        }
        let source = match source {
            None => ImageSource::Registry,
            Some(s) => {
                parse_layout_source(&s, base).map_err(|m| err(&format!("{field}.source"), m))?
            }
        };
        extra_images.push(ImageRequest {
            name,
            role: "extra".into(),
            source,
        });
    }
    let mut extra_files = Vec::new();
    for (i, f) in spec.extra_files.iter().enumerate() {
        let field = format!("extraFiles[{i}]");
        let sha = f
            .sha256
            .clone()
            .ok_or_else(|| {
                err(
                    &format!("{field}.sha256"),
                    "required (hex sha256 of the file)".into(),
                )
            })?
            .to_ascii_lowercase();
        if !is_sha256_hex(&sha) {
            return Err(err(
                &format!("{field}.sha256"),
                format!("{sha:?} is not a hex sha256"),
            ));
        }
        let source =
            resolve_location(&f.source, base).map_err(|m| err(&format!("{field}.source"), m))?;
        let name = match &f.name {
            Some(n) => n.clone(),
            None => source
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    err(
                        &format!("{field}.name"),
                        "required: the source has no file name".into(),
                    )
                })?
                .to_string(),
        };
        crate::fsutil::safe_relative_path(&name)
            .map_err(|m| err(&format!("{field}.name"), format!("{name:?}: {m}")))?;
        extra_files.push(FileRequest {
            name,
            source,
            sha256: sha,
        });
    }
    if let Some(d) = dup(&extra_files
        .iter()
        .map(|f| f.name.clone())
        .collect::<Vec<_>>())
    {
        return Err(err("extraFiles", format!("name {d:?} used twice")));
    }
    Ok(ResolvedSpec {
        file: file.to_string(),
        name,
        kubernetes_version,
        os,
        arch,
        release_mirror,
        image_repository,
        image_layout,
        insecure_registries: spec.insecure_registries.clone(),
        binaries,
        extra_images,
        extra_files,
        component_versions: spec.component_versions.clone(),
    })
}

fn dup(v: &[String]) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.iter().find(|x| !seen.insert(x.as_str())).cloned()
}

/// Resolve a URL or path: URLs stay (trailing `/` trimmed); `file://` and plain paths become
/// absolute-or-base-relative directory paths.
fn resolve_location(s: &str, base: &Path) -> std::result::Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        url::Url::parse(s).map_err(|e| format!("{s:?} is not a valid URL: {e}"))?;
        return Ok(s.trim_end_matches('/').to_string());
    }
    let path = if let Some(p) = s.strip_prefix("file://") {
        PathBuf::from(p)
    } else if s.contains("://") {
        return Err(format!(
            "{s:?}: unsupported scheme (use https://, http://, file:// or a path)"
        ));
    } else {
        base.join(s)
    };
    let path: PathBuf =
        std::fs::canonicalize(&path).unwrap_or_else(|_| path.components().collect());
    let p = path.display().to_string();
    Ok(if p.len() > 1 {
        p.trim_end_matches('/').to_string()
    } else {
        p
    })
}

fn parse_layout_source(s: &str, base: &Path) -> std::result::Result<ImageSource, String> {
    let rest = s
        .strip_prefix("oci:")
        .ok_or_else(|| format!("{s:?}: expected oci:DIR:TAG"))?;
    let (dir, tag) = rest
        .rsplit_once(':')
        .filter(|(d, t)| !d.is_empty() && !t.is_empty())
        .ok_or_else(|| format!("{s:?}: expected oci:DIR:TAG"))?;
    Ok(ImageSource::Layout {
        dir: base.join(dir),
        tag: tag.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: kubebake.io/v1alpha1
kind: BundleSpec
name: k8s-v1.36.2
kubernetesVersion: v1.36.2
releaseMirror: ./mirror
extraImages:
  - docker.io/library/busybox:1.36
  - {name: example.com/tool:v1, source: \"oci:layout:v1\"}
extraFiles:
  - {source: https://example.com/cni.tgz, sha256: 0000000000000000000000000000000000000000000000000000000000000000}
";

    fn parse(t: &str) -> Result<ResolvedSpec> {
        parse_spec(t, "spec.yaml", Path::new("/specs"))
    }

    #[test]
    fn defaults_and_resolution() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.platform(), "linux/amd64");
        assert_eq!(s.release_mirror, "/specs/mirror");
        assert_eq!(s.image_repository, "registry.k8s.io");
        assert_eq!(s.binaries, ["kubeadm", "kubelet", "kubectl"]);
        assert_eq!(s.extra_images.len(), 2);
        assert_eq!(
            s.extra_images[1].source,
            ImageSource::Layout {
                dir: "/specs/layout".into(),
                tag: "v1".into()
            }
        );
        assert_eq!(s.extra_files[0].name, "cni.tgz");
    }

    fn err_of(t: &str) -> String {
        parse(t).unwrap_err().to_string()
    }

    #[test]
    fn unknown_field_is_named() {
        let e = err_of(&format!("{GOOD}colour: blue\n"));
        assert!(e.starts_with("spec.yaml: line "), "{e}");
        assert!(e.contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn missing_version_is_named() {
        let e = err_of(&GOOD.replace("kubernetesVersion: v1.36.2\n", ""));
        assert!(
            e.starts_with("spec.yaml: kubernetesVersion: required"),
            "{e}"
        );
        let e = err_of(&GOOD.replace("v1.36.2\n", "one-three-six\n"));
        assert!(e.contains("kubernetesVersion: \"one-three-six\""), "{e}");
    }

    #[test]
    fn bad_fields_are_named() {
        assert!(err_of(&GOOD.replace("BundleSpec", "Bundle")).contains("kind:"));
        assert!(err_of(&GOOD.replace("v1alpha1", "v1")).contains("apiVersion:"));
        assert!(err_of(&format!("{GOOD}platform: amd64\n")).contains("platform:"));
        let e = err_of(&GOOD.replace(
            "sha256: 0000000000000000000000000000000000000000000000000000000000000000",
            "name: x",
        ));
        assert!(e.contains("extraFiles[0].sha256: required"), "{e}");
        let e = err_of(&GOOD.replace("oci:layout:v1", "docker://x"));
        assert!(e.contains("extraImages[1].source"), "{e}");
        let e = err_of(&format!("{GOOD}binaries: [kubeadm, kubeadm]\n"));
        assert!(e.contains("binaries: \"kubeadm\" listed twice"), "{e}");
        let e = err_of(&GOOD.replace("./mirror", "ftp://x"));
        assert!(e.contains("releaseMirror:"), "{e}");
    }

    #[test]
    fn labels_allowed_as_version() {
        let s = parse(&GOOD.replace("v1.36.2\n", "stable-1.36\n")).unwrap();
        assert_eq!(s.kubernetes_version, "stable-1.36");
    }
}
