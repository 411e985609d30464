//! `bake stage`: lay a verified bundle out on a node root so it boots with no network.
//!
//! The bundle is verified and unpacked in one streaming pass into a staging directory (nothing
//! is written to the node when verification fails); then [`plan`] computes every file, link and
//! image the node gets, and applying it writes only what differs, atomically, so staging the
//! same bundle twice rewrites nothing.

pub mod images;
pub mod plan;
pub mod record;
pub mod units;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use offline::bundle::{unpack_with, UnpackOptions, VerifyOptions, IMAGES_ARCHIVE};
use offline::digest::sha256_file;
use offline::error::{Error, IoContext, Result};
use offline::fsutil::write_atomic;
use offline::progress::Progress;

pub use plan::{plan, Content, Plan, PlannedFile, PlannedLink};
pub use record::{
    StagedBundle, StagedFile, StagedImageEntry, StagedLink, StagedRecord, RECORD_PATH,
};

/// How to stage.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// The node root (`/` on a live system or in a Packer build VM).
    pub root: PathBuf,
    /// minisign public key; the bundle's signature must verify.
    pub public_key: Option<PathBuf>,
    /// Signature file (default `<bundle>.minisig`).
    pub signature: Option<PathBuf>,
    /// Import the images into containerd's `k8s.io` namespace and pin them.
    pub import_images: bool,
    /// Make this version active even when another one already is.
    pub activate: bool,
    /// containerd socket for `--import-images`.
    pub containerd_address: String,
    /// `ctr` binary.
    pub ctr: PathBuf,
}

impl Default for StageOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            public_key: None,
            signature: None,
            import_images: false,
            activate: false,
            containerd_address: "/run/containerd/containerd.sock".into(),
            ctr: PathBuf::from("ctr"),
        }
    }
}

/// What staging did.
#[derive(Debug, Clone)]
pub struct StageReport {
    /// Kubernetes version staged.
    pub version: String,
    /// Bundle name.
    pub bundle: String,
    /// sha256 of the bundle file.
    pub sha256: String,
    /// Signature verified with a public key.
    pub signature_verified: bool,
    /// The version the links point at afterwards.
    pub active_version: String,
    /// Node paths written (new or changed).
    pub written: Vec<String>,
    /// Node paths already as planned.
    pub unchanged: Vec<String>,
    /// Existing non-kubebake files moved aside (`.kubebake-orig`).
    pub backed_up: Vec<String>,
    /// Images imported into containerd in this run.
    pub imported: Vec<String>,
    /// The record written to `staged.json`.
    pub record: StagedRecord,
}

/// Join a node-absolute path onto `root`.
pub fn under(root: &Path, node_path: &str) -> PathBuf {
    root.join(node_path.trim_start_matches('/'))
}

/// Stage `bundle` under `opts.root`. When the bundle fails verification nothing is left on the
/// node, not even the staging directories.
pub fn stage(bundle: &Path, opts: &StageOptions, progress: &dyn Progress) -> Result<StageReport> {
    let work_parent = under(&opts.root, "/opt/kubebake/.staging");
    // Remember which ancestors exist, to remove the ones we create if staging fails early.
    let created: Vec<PathBuf> = work_parent
        .ancestors()
        .take_while(|p| *p != opts.root.as_path() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    let r = stage_inner(bundle, opts, progress, &work_parent);
    if r.is_err() {
        for d in &created {
            let _ = fs::remove_dir(d);
        }
    }
    r
}

fn stage_inner(
    bundle: &Path,
    opts: &StageOptions,
    progress: &dyn Progress,
    work_parent: &Path,
) -> Result<StageReport> {
    fs::create_dir_all(work_parent).at(work_parent)?;
    let work = tempfile::Builder::new()
        .prefix("bundle-")
        .tempdir_in(work_parent)
        .at(work_parent)?;
    let unpacked = work.path().join("unpacked");
    let verify = VerifyOptions {
        public_key: opts.public_key.clone(),
        signature: opts.signature.clone(),
    };
    let report = unpack_with(
        bundle,
        &unpacked,
        &verify,
        UnpackOptions {
            images_archive: true,
        },
        progress,
    )?;
    let source = Source {
        manifest: report.manifest,
        release_index: report.release_index,
        bundle_sha256: report.bundle_sha256,
        signature_verified: report.signature_verified,
        images_archive: report.images_archive,
        unpacked: Some(unpacked),
    };
    let out = install(&source, opts)?;
    drop(work);
    let _ = fs::remove_dir(work_parent);
    Ok(out)
}

/// Makes `version`, staged before, the active one without reading its bundle again: the plan
/// comes from the staged copies of its manifest and release index
/// (`/var/lib/kubebake/bundles/<v>/`), and every file from the bundle must still be in place
/// with its sha256 (otherwise: stage the bundle again). Writes only what differs, like
/// [`stage`] with [`StageOptions::activate`].
pub fn activate_staged(version: &str, opts: &StageOptions) -> Result<StageReport> {
    let root = &opts.root;
    let record = read_record(root)?;
    let bundle = record
        .bundles
        .iter()
        .find(|b| b.kubernetes_version == version)
        .ok_or_else(|| Error::Other(format!("version {version} is not staged on this node")))?;
    let read_yaml = |node_path: String| -> Result<String> {
        let p = under(root, &node_path);
        fs::read_to_string(&p).at(&p)
    };
    let bundle_dir = format!("/var/lib/kubebake/bundles/{version}");
    let parse = |what: &str, e: serde_yaml::Error| {
        Error::Other(format!("{bundle_dir}/{what} (staged): {e}"))
    };
    let manifest: offline::manifest::BundleManifest =
        serde_yaml::from_str(&read_yaml(format!("{bundle_dir}/bundle.yaml"))?)
            .map_err(|e| parse("bundle.yaml", e))?;
    let release_index =
        serde_yaml::from_str(&read_yaml(format!("{bundle_dir}/release-index.yaml"))?)
            .map_err(|e| parse("release-index.yaml", e))?;
    let archive = plan::images_archive_path(version);
    let images_archive = match record.files.iter().find(|f| f.path == archive) {
        Some(f) => {
            let p = under(root, &archive);
            Some((f.sha256.clone(), fs::metadata(&p).at(&p)?.len()))
        }
        None => None,
    };
    let source = Source {
        manifest,
        release_index,
        bundle_sha256: bundle.sha256.clone(),
        signature_verified: bundle.signature_verified,
        images_archive,
        unpacked: None,
    };
    let opts = StageOptions {
        activate: true,
        ..opts.clone()
    };
    install(&source, &opts)
}

/// What staging installs from.
struct Source {
    manifest: offline::manifest::BundleManifest,
    release_index: offline::version::ReleaseIndex,
    bundle_sha256: String,
    signature_verified: bool,
    /// sha256 and size of the images archive.
    images_archive: Option<(String, u64)>,
    /// The verified, unpacked bundle; `None` when activating a version staged before (every
    /// file from the bundle must then be in place, unchanged).
    unpacked: Option<PathBuf>,
}

fn read_record(root: &Path) -> Result<StagedRecord> {
    let record_path = under(root, RECORD_PATH);
    match fs::read(&record_path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| Error::Other(format!("{}: {e}", record_path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StagedRecord::default()),
        Err(e) => Err(Error::io(&record_path, e)),
    }
}

/// Applies the plan for `src` to the node: files, directories, links, images, the record.
fn install(src: &Source, opts: &StageOptions) -> Result<StageReport> {
    let root = &opts.root;
    let manifest = &src.manifest;
    let version = manifest.kubernetes_version.clone();
    let record_path = under(root, RECORD_PATH);
    let mut record = read_record(root)?;
    let activate = opts.activate
        || record.active_version.is_none()
        || record.active_version.as_deref() == Some(version.as_str());
    let p = plan(manifest, &src.release_index, activate);

    let mut out = StageReport {
        version: version.clone(),
        bundle: manifest.name.clone(),
        sha256: src.bundle_sha256.clone(),
        signature_verified: src.signature_verified,
        active_version: String::new(),
        written: vec![],
        unchanged: vec![],
        backed_up: vec![],
        imported: vec![],
        record: StagedRecord::default(),
    };

    // Files.
    let mut staged_files = Vec::new();
    for f in &p.files {
        let target = under(root, &f.path);
        let sha = match &f.content {
            Content::Bytes(b) => {
                let sha = offline::digest::sha256_hex(b);
                if f.backup_foreign {
                    backup_foreign(&target, &sha, &mut out.backed_up, &f.path)?;
                }
                install_bytes(&target, b, f.mode, &sha, &f.path, &mut out)?;
                sha
            }
            Content::FromBundle(rel) => {
                let art = manifest
                    .artifact(rel)
                    .ok_or_else(|| Error::Other(format!("internal: {rel} not in manifest")))?;
                install_file(
                    src.unpacked.as_ref().map(|u| u.join(rel)).as_deref(),
                    &target,
                    f.mode,
                    &art.sha256,
                    art.size,
                    &f.path,
                    &mut out,
                )?;
                art.sha256.clone()
            }
            Content::ImageArchive => {
                let (sha, size) = src
                    .images_archive
                    .clone()
                    .ok_or_else(|| Error::Other("internal: no images archive".into()))?;
                install_file(
                    src.unpacked
                        .as_ref()
                        .map(|u| u.join(IMAGES_ARCHIVE))
                        .as_deref(),
                    &target,
                    f.mode,
                    &sha,
                    size,
                    &f.path,
                    &mut out,
                )?;
                sha
            }
        };
        staged_files.push(StagedFile {
            path: f.path.clone(),
            sha256: sha,
            mode: format!("{:04o}", f.mode),
            version: f.version.then(|| version.clone()),
        });
    }
    // Directories that must exist with a mode.
    for (d, mode) in &p.dirs {
        let t = under(root, d);
        fs::create_dir_all(&t).at(&t)?;
        fs::set_permissions(&t, fs::Permissions::from_mode(*mode)).at(&t)?;
    }
    // Links.
    for l in &p.links {
        let link = under(root, &l.path);
        match fs::read_link(&link) {
            Ok(t) if t == Path::new(&l.target) => {
                out.unchanged.push(l.path.clone());
                continue;
            }
            Ok(_) => {}
            Err(_) if link.symlink_metadata().is_ok() => {
                // a real file (e.g. a hand-installed kubeadm): keep it aside
                let aside = PathBuf::from(format!("{}.kubebake-orig", link.display()));
                fs::rename(&link, &aside).at(&link)?;
                out.backed_up.push(l.path.clone());
            }
            Err(_) => {}
        }
        let parent = link.parent().unwrap_or(root);
        fs::create_dir_all(parent).at(parent)?;
        let tmp = parent.join(format!(
            ".{}.kubebake-tmp",
            link.file_name().unwrap_or_default().to_string_lossy()
        ));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&l.target, &tmp).at(&tmp)?;
        fs::rename(&tmp, &link).at(&link)?;
        out.written.push(l.path.clone());
    }

    // Images into containerd.
    let mut imported_flags = std::collections::BTreeMap::new();
    for old in &record.images {
        imported_flags.insert((old.name.clone(), old.digest.clone()), old.imported);
    }
    if opts.import_images {
        let ctr = images::Ctr {
            bin: opts.ctr.clone(),
            address: opts.containerd_address.clone(),
        };
        let present = ctr.list()?;
        let missing: Vec<_> = manifest
            .images
            .iter()
            .filter(|img| {
                !present
                    .iter()
                    .any(|e| e.name == img.name && e.digest == img.digest)
            })
            .collect();
        if !missing.is_empty() {
            ctr.import(&under(root, &plan::images_archive_path(&version)))?;
            out.imported.extend(missing.iter().map(|i| i.name.clone()));
        }
        for img in &manifest.images {
            let pinned = present
                .iter()
                .any(|e| e.name == img.name && e.digest == img.digest && e.pinned);
            if !pinned {
                ctr.pin(&img.name)?;
            }
            imported_flags.insert((img.name.clone(), img.digest.clone()), true);
        }
        let after = ctr.list()?;
        for img in &manifest.images {
            let ok = after
                .iter()
                .any(|e| e.name == img.name && e.digest == img.digest && e.pinned);
            if !ok {
                return Err(Error::Other(format!(
                    "containerd does not list {} with digest {} pinned after import",
                    img.name, img.digest
                )));
            }
        }
    }

    // The record: this version's entries replace its old ones; node-wide files replace theirs.
    let node_wide: std::collections::BTreeSet<&str> = staged_files
        .iter()
        .filter(|f| f.version.is_none())
        .map(|f| f.path.as_str())
        .collect();
    record.api_version = offline::spec::API_VERSION.into();
    record.kind = "StagedImage".into();
    record.files.retain(|f| {
        f.version.as_deref() != Some(version.as_str()) && !node_wide.contains(f.path.as_str())
    });
    record.files.extend(staged_files);
    record.files.sort_by(|a, b| a.path.cmp(&b.path));
    record.bundles.retain(|b| b.kubernetes_version != version);
    record.bundles.push(StagedBundle {
        name: manifest.name.clone(),
        kubernetes_version: version.clone(),
        sha256: src.bundle_sha256.clone(),
        signature_verified: src.signature_verified,
        created: manifest.created.clone(),
    });
    record
        .bundles
        .sort_by(|a, b| a.kubernetes_version.cmp(&b.kubernetes_version));
    if activate {
        record.active_version = Some(version.clone());
        record.links = p
            .links
            .iter()
            .map(|l| StagedLink {
                path: l.path.clone(),
                target: l.target.clone(),
            })
            .collect();
    }
    record.images.retain(|i| i.version != version);
    for img in &manifest.images {
        record.images.push(StagedImageEntry {
            name: img.name.clone(),
            digest: img.digest.clone(),
            version: version.clone(),
            archive: plan::images_archive_path(&version),
            imported: imported_flags
                .get(&(img.name.clone(), img.digest.clone()))
                .copied()
                .unwrap_or(false),
        });
    }
    let json = serde_json::to_vec_pretty(&record).map_err(|e| Error::Other(e.to_string()))?;
    let old = fs::read(&record_path).ok();
    if old.as_deref() != Some(&json[..]) {
        write_atomic(&record_path, &json, 0o644)?;
        out.written.push(RECORD_PATH.into());
    } else {
        out.unchanged.push(RECORD_PATH.into());
    }
    out.active_version = record.active_version.clone().unwrap_or_default();
    out.record = record;
    Ok(out)
}

fn set_mode_if_needed(target: &Path, mode: u32) -> Result<bool> {
    let m = fs::metadata(target).at(target)?.permissions().mode() & 0o7777;
    if m != mode {
        fs::set_permissions(target, fs::Permissions::from_mode(mode)).at(target)?;
        return Ok(true);
    }
    Ok(false)
}

/// Keep a file that staging would replace and that kubebake did not write (the distribution's
/// containerd config, say) as `<file>.kubebake-orig`, once.
fn backup_foreign(
    target: &Path,
    _new_sha: &str,
    backed_up: &mut Vec<String>,
    node_path: &str,
) -> Result<()> {
    let Ok(existing) = fs::read(target) else {
        return Ok(());
    };
    if existing.starts_with(b"# Written by kubebake") {
        return Ok(());
    }
    let aside = PathBuf::from(format!("{}.kubebake-orig", target.display()));
    if !aside.exists() {
        fs::copy(target, &aside).at(&aside)?;
        backed_up.push(node_path.to_string());
    }
    Ok(())
}

fn install_bytes(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    sha: &str,
    node_path: &str,
    out: &mut StageReport,
) -> Result<()> {
    if let Ok(existing) = fs::read(target) {
        if offline::digest::sha256_hex(&existing) == sha {
            let changed = set_mode_if_needed(target, mode)?;
            if changed {
                out.written.push(node_path.into())
            } else {
                out.unchanged.push(node_path.into())
            }
            return Ok(());
        }
    }
    write_atomic(target, bytes, mode)?;
    out.written.push(node_path.into());
    Ok(())
}

/// Installs the file from the bundle at `src` as `target` unless `target` already has `sha`;
/// with no `src` (activating what is staged) a `target` without `sha` is an error.
fn install_file(
    src: Option<&Path>,
    target: &Path,
    mode: u32,
    sha: &str,
    size: u64,
    node_path: &str,
    out: &mut StageReport,
) -> Result<()> {
    if let Ok(md) = fs::metadata(target) {
        if md.is_file() && md.len() == size && sha256_file(target)?.0 == sha {
            let changed = set_mode_if_needed(target, mode)?;
            if changed {
                out.written.push(node_path.into())
            } else {
                out.unchanged.push(node_path.into())
            }
            return Ok(());
        }
    }
    let Some(src) = src else {
        return Err(Error::Other(format!(
            "{node_path} is not what was staged (sha256 {sha}): stage the bundle again"
        )));
    };
    let dir = target
        .parent()
        .ok_or_else(|| Error::Other(format!("{}: no parent", target.display())))?;
    fs::create_dir_all(dir).at(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".stage-")
        .tempfile_in(dir)
        .at(dir)?;
    // Same file system: rename the unpacked file; otherwise copy.
    let tmp_path = tmp.into_temp_path();
    if fs::rename(src, &tmp_path).is_err() {
        fs::copy(src, &tmp_path).at(&tmp_path)?;
    }
    fs::set_permissions(&tmp_path, fs::Permissions::from_mode(mode)).at(&tmp_path)?;
    tmp_path
        .persist(target)
        .map_err(|e| Error::io(target, e.error))?;
    out.written.push(node_path.into());
    Ok(())
}
