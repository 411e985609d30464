//! `bake bundle create`: fetch everything a spec names, verify it, and write the bundle
//! atomically (temp file + rename; nothing is left behind on failure).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::write::GzEncoder;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::digest::sha256_file;
use crate::error::{Error, IoContext, Result};
use crate::fetch::images::LayoutWriter;
use crate::fetch::{parse_sha256_file, Fetcher, Location};
use crate::manifest::{
    Artifact, ArtifactKind, BundleManifest, ImageEntry, BUNDLE_KIND, IMAGES_DIR, MANIFEST_NAME,
    RELEASE_INDEX_PATH,
};
use crate::progress::Progress;
use crate::spec::{ImageRequest, ImageSource, ResolvedSpec, API_VERSION};
use crate::version::{
    component_versions, index_labels, is_release_label, ComponentVersions, KubeVersion,
    ReleaseIndex, RELEASE_INDEX_KIND,
};

/// How to create a bundle.
pub struct CreateOptions {
    /// Output file.
    pub out: PathBuf,
    /// Concurrent downloads.
    pub parallelism: usize,
    /// Retries of transient failures per artifact.
    pub retries: u32,
    /// Extra binaries to carry under `bin/` (e.g. the matching `firstboot`), by in-bundle name.
    pub extra_binaries: Vec<(String, PathBuf)>,
    /// gzip level 0–9.
    pub compression: u32,
    /// Progress sink.
    pub progress: Arc<dyn Progress>,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct CreateReport {
    /// The bundle file.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: BundleManifest,
    /// Its release index.
    pub release_index: ReleaseIndex,
    /// sha256 of the bundle file.
    pub sha256: String,
    /// Size of the bundle file.
    pub size: u64,
}

/// The kubeadm control-plane image set for `version` named under `repo` (spec §1.3), in
/// `kubeadm config images list` order.
pub fn control_plane_images(
    repo: &str,
    version: &KubeVersion,
    comps: &ComponentVersions,
) -> Vec<(String, String)> {
    let tag = version.image_tag();
    let coredns_repo = if repo == crate::spec::DEFAULT_IMAGE_REPOSITORY {
        format!("{repo}/coredns")
    } else {
        repo.to_string()
    };
    vec![
        (
            "kube-apiserver".into(),
            format!("{repo}/kube-apiserver:{tag}"),
        ),
        (
            "kube-controller-manager".into(),
            format!("{repo}/kube-controller-manager:{tag}"),
        ),
        (
            "kube-scheduler".into(),
            format!("{repo}/kube-scheduler:{tag}"),
        ),
        ("kube-proxy".into(), format!("{repo}/kube-proxy:{tag}")),
        (
            "coredns".into(),
            format!("{coredns_repo}/coredns:{}", comps.coredns),
        ),
        ("pause".into(), format!("{repo}/pause:{}", comps.pause)),
        ("etcd".into(), format!("{repo}/etcd:{}", comps.etcd)),
    ]
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Create the bundle described by `spec`.
pub async fn create(spec: &ResolvedSpec, opts: &CreateOptions) -> Result<CreateReport> {
    let fetcher = Fetcher::new(opts.retries)?;
    let mirror = Location::parse(&spec.release_mirror);
    let progress = opts.progress.clone();

    // 1. The version, resolving a label at the mirror.
    let version_str = if is_release_label(&spec.kubernetes_version) {
        let label = spec.kubernetes_version.trim_start_matches("release/");
        let loc = mirror.join(&format!("{label}.txt"));
        let text = fetcher
            .text(&format!("label {label}"), &loc)
            .await?
            .ok_or_else(|| Error::Fetch {
                artifact: format!("label {label}"),
                url: loc.display(),
                message: "not found".into(),
            })?;
        text.trim().to_string()
    } else {
        spec.kubernetes_version.clone()
    };
    let version = KubeVersion::parse(&version_str)
        .map_err(|e| Error::spec(&spec.file, "kubernetesVersion", e))?;
    let version_s = version.to_string();
    let comps = match &spec.component_versions {
        Some(c) => c.clone(),
        None => component_versions(version.minor(), version.minor()).ok_or_else(|| {
            Error::spec(
                &spec.file,
                "componentVersions",
                format!("no built-in etcd/CoreDNS/pause versions for {version_s}; set componentVersions"),
            )
        })?,
    };
    progress.message(&format!(
        "bundle {} for Kubernetes {version_s} ({})",
        spec.name,
        spec.platform()
    ));

    // 2. A work directory beside the output, removed on drop.
    let out_dir = opts
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&out_dir).at(&out_dir)?;
    let work = tempfile::Builder::new()
        .prefix(".bake-work-")
        .tempdir_in(&out_dir)
        .at(&out_dir)?;
    let w = work.path().to_path_buf();
    for d in ["bin", "files"] {
        std::fs::create_dir_all(w.join(d)).at(w.join(d))?;
    }

    // 3. Binaries and extra files, concurrently.
    struct Job {
        artifact: String,
        loc: Location,
        dest: PathBuf,
        path: String,
        kind: ArtifactKind,
        sha: Option<String>,
        sha_loc: Option<Location>,
    }
    let mut jobs = Vec::new();
    for b in &spec.binaries {
        let loc = mirror.join(&format!("{version_s}/bin/{}/{}/{b}", spec.os, spec.arch));
        jobs.push(Job {
            artifact: b.clone(),
            sha_loc: Some(mirror.join(&format!(
                "{version_s}/bin/{}/{}/{b}.sha256",
                spec.os, spec.arch
            ))),
            loc,
            dest: w.join("bin").join(b),
            path: format!("bin/{b}"),
            kind: ArtifactKind::Binary,
            sha: None,
        });
    }
    for f in &spec.extra_files {
        let dest = w.join("files").join(&f.name);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).at(p)?;
        }
        jobs.push(Job {
            artifact: format!("extra file {}", f.name),
            loc: Location::parse(&f.source),
            dest,
            path: format!("files/{}", f.name),
            kind: ArtifactKind::File,
            sha: Some(f.sha256.clone()),
            sha_loc: None,
        });
    }
    let file_artifacts: Vec<Artifact> = stream::iter(jobs.into_iter().map(|job| {
        let fetcher = fetcher.clone();
        let progress = progress.clone();
        async move {
            let expected = match (&job.sha, &job.sha_loc) {
                (Some(s), _) => s.clone(),
                (None, Some(sl)) => {
                    let text = fetcher
                        .text(&format!("{}.sha256", job.artifact), sl)
                        .await?
                        .ok_or_else(|| Error::Fetch {
                            artifact: format!("{}.sha256", job.artifact),
                            url: sl.display(),
                            message:
                                "not found: the mirror must publish a .sha256 beside every binary"
                                    .into(),
                        })?;
                    parse_sha256_file(&text).ok_or_else(|| Error::Fetch {
                        artifact: format!("{}.sha256", job.artifact),
                        url: sl.display(),
                        message: "does not hold a hex sha256".into(),
                    })?
                }
                (None, None) => unreachable!("every job has a checksum source"),
            };
            let task = progress.task(&job.artifact, None);
            let (sha, size) = fetcher
                .file(
                    &job.artifact,
                    &job.loc,
                    &job.dest,
                    Some(&expected),
                    task.as_ref(),
                )
                .await?;
            task.finish(&format!("{} sha256 ok", crate::fsutil::human_size(size)));
            Ok::<_, Error>(Artifact {
                path: job.path,
                kind: job.kind,
                size,
                sha256: sha,
            })
        }
    }))
    .buffer_unordered(opts.parallelism.max(1))
    .try_collect()
    .await?;
    let mut file_artifacts = file_artifacts;
    file_artifacts.sort_by(|a, b| a.path.cmp(&b.path));

    for (name, src) in &opts.extra_binaries {
        let dest = w.join("bin").join(name);
        let (sha, size) = crate::fetch::copy_hashing(src, &dest).at(src)?;
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .at(&dest)?;
        file_artifacts.push(Artifact {
            path: format!("bin/{name}"),
            kind: ArtifactKind::Binary,
            size,
            sha256: sha,
        });
    }

    // 4. Images into one OCI layout.
    let mut requests: Vec<ImageRequest> =
        control_plane_images(&spec.image_repository, &version, &comps)
            .into_iter()
            .map(|(role, name)| ImageRequest {
                source: match &spec.image_layout {
                    Some(dir) => ImageSource::Layout {
                        dir: dir.clone(),
                        tag: name.clone(),
                    },
                    None => ImageSource::Registry,
                },
                name,
                role,
            })
            .collect();
    for e in &spec.extra_images {
        if !requests.iter().any(|r| r.name == e.name) {
            requests.push(e.clone());
        }
    }
    let layout = Arc::new(LayoutWriter::new(
        &w.join(IMAGES_DIR),
        &spec.os,
        &spec.arch,
        &spec.insecure_registries,
    )?);
    let images: Vec<ImageEntry> = stream::iter(requests.iter().map(|req| {
        let layout = layout.clone();
        let progress = progress.clone();
        let retries = opts.retries;
        async move {
            let task = progress.task(&req.name, None);
            let e = layout.add(req, retries, task.as_ref()).await?;
            task.finish(&format!("{} ok", e.digest));
            Ok::<_, Error>(e)
        }
    }))
    .buffered(opts.parallelism.max(1))
    .try_collect()
    .await?;
    layout.finish(&images)?;

    // 5. The release index.
    let mut labels = BTreeMap::new();
    let label_results: Vec<(String, Option<String>)> =
        stream::iter(index_labels(&version).into_iter().map(|label| {
            let fetcher = fetcher.clone();
            let loc = mirror.join(&format!("{label}.txt"));
            async move {
                let t = fetcher.text(&format!("label {label}"), &loc).await?;
                Ok::<_, Error>((label, t.map(|s| s.trim().to_string())))
            }
        }))
        .buffer_unordered(opts.parallelism.max(1))
        .try_collect()
        .await?;
    for (label, value) in label_results {
        match value {
            Some(v) if KubeVersion::parse(&v).is_ok() => {
                labels.insert(label, v);
            }
            Some(v) => {
                return Err(Error::Fetch {
                    artifact: format!("label {label}"),
                    url: mirror.join(&format!("{label}.txt")).display(),
                    message: format!("{v:?} is not a version"),
                })
            }
            None => tracing::info!("label {label} not published by the mirror; not in the index"),
        }
    }
    let mut components = BTreeMap::new();
    for m in [
        version.minor().saturating_sub(1),
        version.minor(),
        version.minor() + 1,
    ] {
        let c = if m == version.minor() {
            Some(comps.clone())
        } else {
            component_versions(version.minor(), m).filter(|_| m < version.minor())
        };
        if let Some(c) = c {
            components.insert(format!("{}.{m}", version.major()), c);
        }
    }
    let created = now_rfc3339();
    let release_index = ReleaseIndex {
        api_version: API_VERSION.into(),
        kind: RELEASE_INDEX_KIND.into(),
        generated_at: created.clone(),
        source: spec.release_mirror.clone(),
        kubernetes_version: version_s.clone(),
        labels,
        components,
    };
    let index_yaml =
        serde_yaml::to_string(&release_index).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(w.join(RELEASE_INDEX_PATH), &index_yaml).at(w.join(RELEASE_INDEX_PATH))?;

    // 6. The artifact list in archive order.
    let mut artifacts = vec![artifact_of(&w, RELEASE_INDEX_PATH, ArtifactKind::Metadata)?];
    artifacts.extend(file_artifacts);
    artifacts.push(artifact_of(
        &w,
        &format!("{IMAGES_DIR}/oci-layout"),
        ArtifactKind::Image,
    )?);
    artifacts.push(artifact_of(
        &w,
        &format!("{IMAGES_DIR}/index.json"),
        ArtifactKind::Image,
    )?);
    let mut blobs: Vec<String> = std::fs::read_dir(w.join(IMAGES_DIR).join("blobs/sha256"))
        .at(w.join(IMAGES_DIR))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| crate::digest::is_sha256_hex(n))
        .collect();
    blobs.sort();
    for hex in blobs {
        let path = format!("{IMAGES_DIR}/blobs/sha256/{hex}");
        let size = std::fs::metadata(w.join(&path)).at(w.join(&path))?.len();
        // Blobs were verified against their digest when fetched: the name is the sha256.
        artifacts.push(Artifact {
            path,
            kind: ArtifactKind::Image,
            size,
            sha256: hex,
        });
    }
    let manifest = BundleManifest {
        api_version: API_VERSION.into(),
        kind: BUNDLE_KIND.into(),
        name: spec.name.clone(),
        kubernetes_version: version_s,
        platform: spec.platform(),
        created: created.clone(),
        kubebake_version: env!("CARGO_PKG_VERSION").into(),
        image_repository: spec.image_repository.clone(),
        artifacts,
        images,
    };
    manifest
        .validate()
        .map_err(|(f, m)| Error::Other(format!("internal: manifest invalid at {f}: {m}")))?;

    // 7. Write the archive to a temp file in the output directory, then rename.
    let total = manifest.total_size();
    let task = progress.task(&format!("write {}", opts.out.display()), Some(total));
    let tmp = tempfile::Builder::new()
        .prefix(".bundle-")
        .suffix(".partial")
        .tempfile_in(&out_dir)
        .at(&out_dir)?;
    let mtime = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    // The bundle's sha256 is computed while it is written (no second read of the file).
    let (sha256, size) = {
        let file = tmp.as_file().try_clone().at(tmp.path())?;
        let gz = GzEncoder::new(
            crate::digest::HashingWriter::new(BufWriter::with_capacity(1 << 20, file)),
            flate2::Compression::new(opts.compression.min(9)),
        );
        let mut tar = tar::Builder::new(gz);
        let manifest_yaml =
            serde_yaml::to_string(&manifest).map_err(|e| Error::Other(e.to_string()))?;
        append(
            &mut tar,
            MANIFEST_NAME,
            manifest_yaml.as_bytes(),
            0o644,
            mtime,
        )
        .at(tmp.path())?;
        for a in &manifest.artifacts {
            let p = w.join(&a.path);
            let f = File::open(&p).at(&p)?;
            let reader = ProgressReader {
                inner: BufReader::with_capacity(256 * 1024, f),
                task: task.as_ref(),
            };
            let mut h = header(a.size, a.kind.mode(), mtime);
            tar.append_data(&mut h, &a.path, reader).at(&p)?;
        }
        let gz = tar.into_inner().at(tmp.path())?;
        let (mut buf, sha256, size) = gz.finish().at(tmp.path())?.finish();
        buf.flush().at(tmp.path())?;
        buf.get_ref().sync_all().at(tmp.path())?;
        (sha256, size)
    };
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .at(tmp.path())?;
    tmp.persist(&opts.out)
        .map_err(|e| Error::io(&opts.out, e.error))?;
    task.finish(&format!("{} written", crate::fsutil::human_size(size)));
    drop(work);
    Ok(CreateReport {
        path: opts.out.clone(),
        manifest,
        release_index,
        sha256,
        size,
    })
}

fn artifact_of(root: &Path, path: &str, kind: ArtifactKind) -> Result<Artifact> {
    let (sha256, size) = sha256_file(&root.join(path))?;
    Ok(Artifact {
        path: path.to_string(),
        kind,
        size,
        sha256,
    })
}

fn header(size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mode: u32,
    mtime: u64,
) -> std::io::Result<()> {
    let mut h = header(data.len() as u64, mode, mtime);
    tar.append_data(&mut h, path, data)
}

struct ProgressReader<'a, R> {
    inner: R,
    task: &'a dyn crate::progress::Task,
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.task.inc(n as u64);
        Ok(n)
    }
}
