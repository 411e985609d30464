//! Container images into one OCI image layout: pulled over the OCI distribution API
//! (oci-client, bearer-token auth as registries require) or copied from a local OCI layout.
//! Only the requested platform is kept and shared blobs are stored once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::digest::{oci_digest_hex, sha256_hex};
use crate::error::{Error, IoContext, Result};
use crate::manifest::ImageEntry;
use crate::spec::{ImageRequest, ImageSource};

/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// A blob store laid out as an OCI image layout (`blobs/sha256/<hex>`), filled concurrently.
pub struct LayoutWriter {
    root: PathBuf,
    os: String,
    arch: String,
    blobs: Mutex<HashMap<String, Arc<OnceCell<u64>>>>,
    client: Client,
}

fn img_err(image: &str, from: &str, message: impl Into<String>) -> Error {
    Error::Fetch {
        artifact: format!("image {image}"),
        url: from.to_string(),
        message: message.into(),
    }
}

impl LayoutWriter {
    /// A new layout at `root` keeping only `os/arch`; `insecure` registries use plain HTTP.
    pub fn new(root: &Path, os: &str, arch: &str, insecure: &[String]) -> Result<Self> {
        std::fs::create_dir_all(root.join("blobs/sha256")).at(root)?;
        let config = ClientConfig {
            protocol: if insecure.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(insecure.to_vec())
            },
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..Default::default()
        };
        Ok(Self {
            root: root.to_path_buf(),
            os: os.to_string(),
            arch: arch.to_string(),
            blobs: Mutex::new(HashMap::new()),
            client: Client::new(config),
        })
    }

    /// Layout root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    fn cell(&self, digest: &str) -> Arc<OnceCell<u64>> {
        self.blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(digest.to_string())
            .or_default()
            .clone()
    }

    /// Store small content under its digest (idempotent).
    fn put_bytes(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let hex =
            oci_digest_hex(digest).ok_or_else(|| Error::Other(format!("bad digest {digest}")))?;
        let p = self.blob_path(hex);
        if !p.exists() {
            crate::fsutil::write_atomic(&p, bytes, 0o644)?;
        }
        Ok(())
    }

    /// Fetch one image as requested; returns its bundle manifest entry.
    pub async fn add(
        &self,
        req: &ImageRequest,
        retries: u32,
        task: &dyn crate::progress::Task,
    ) -> Result<ImageEntry> {
        let mut attempt = 0;
        loop {
            let r = match &req.source {
                ImageSource::Registry => self.pull(req, task).await,
                ImageSource::Layout { dir, tag } => {
                    self.copy_from_layout(req, dir, tag, task).await
                }
            };
            match r {
                Err(Error::Fetch { message, .. })
                    if attempt < retries && is_transient(&message) =>
                {
                    attempt += 1;
                    tracing::info!(
                        "image {}: {message}; retrying ({attempt}/{retries})",
                        req.name
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(300 * (1 << attempt)))
                        .await;
                }
                other => return other,
            }
        }
    }

    fn platform_matches(&self, v: &Value) -> bool {
        let p = &v["platform"];
        p["os"].as_str() == Some(self.os.as_str())
            && p["architecture"].as_str() == Some(self.arch.as_str())
    }

    fn pick_platform(&self, image: &str, from: &str, index: &Value) -> Result<String> {
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| self.platform_matches(m))
            .and_then(|m| m["digest"].as_str().map(str::to_string))
            .ok_or_else(|| {
                img_err(
                    image,
                    from,
                    format!("no {}/{} image in its index", self.os, self.arch),
                )
            })
    }

    async fn pull(
        &self,
        req: &ImageRequest,
        task: &dyn crate::progress::Task,
    ) -> Result<ImageEntry> {
        let name = &req.name;
        let reference: Reference = name
            .parse()
            .map_err(|e| img_err(name, name, format!("invalid reference: {e}")))?;
        let from = format!(
            "{}/{}",
            reference.resolve_registry(),
            reference.repository()
        );
        let auth = RegistryAuth::Anonymous;
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&reference, &auth, &ACCEPTED)
            .await
            .map_err(|e| img_err(name, &from, e.to_string()))?;
        let (bytes, digest) = {
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| img_err(name, &from, format!("manifest is not JSON: {e}")))?;
            if is_index(&v) {
                let d = self.pick_platform(name, &from, &v)?;
                let r = Reference::with_digest(
                    reference.registry().to_string(),
                    reference.repository().to_string(),
                    d.clone(),
                );
                let (b, got) = self
                    .client
                    .pull_manifest_raw(&r, &auth, &ACCEPTED)
                    .await
                    .map_err(|e| img_err(name, &from, e.to_string()))?;
                if got != d {
                    return Err(img_err(
                        name,
                        &from,
                        format!("registry returned {got} for {d}"),
                    ));
                }
                (b, d)
            } else {
                (bytes, digest)
            }
        };
        let actual = format!("sha256:{}", sha256_hex(&bytes));
        if !digest.is_empty() && actual != digest {
            return Err(Error::Checksum {
                artifact: format!("image {name} manifest"),
                url: from,
                expected: digest,
                actual,
            });
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| img_err(name, &from, format!("manifest is not JSON: {e}")))?;
        let media_type = v["mediaType"].as_str().unwrap_or(OCI_MANIFEST).to_string();
        for d in blob_descriptors(&v).map_err(|m| img_err(name, &from, m))? {
            let cell = self.cell(&d.digest);
            let len = cell
                .get_or_try_init(|| async {
                    let hex = oci_digest_hex(&d.digest)
                        .ok_or_else(|| img_err(name, &from, format!("bad digest {}", d.digest)))?;
                    let p = self.blob_path(hex);
                    if let Ok(m) = tokio::fs::metadata(&p).await {
                        return Ok::<u64, Error>(m.len());
                    }
                    let tmp = self.root.join(format!("blobs/.{hex}.partial"));
                    let f = tokio::fs::File::create(&tmp).await.at(&tmp)?;
                    self.client
                        .pull_blob(&reference, &d, f)
                        .await
                        .map_err(|e| img_err(name, &from, format!("blob {}: {e}", d.digest)))?;
                    let len = tokio::fs::metadata(&tmp).await.at(&tmp)?.len();
                    if d.size >= 0 && len != d.size as u64 {
                        let _ = tokio::fs::remove_file(&tmp).await;
                        return Err(img_err(
                            name,
                            &from,
                            format!("blob {}: size {len}, expected {}", d.digest, d.size),
                        ));
                    }
                    tokio::fs::rename(&tmp, &p).await.at(&p)?;
                    Ok(len)
                })
                .await?;
            task.inc(*len);
        }
        self.put_bytes(&actual, &bytes)?;
        Ok(ImageEntry {
            name: name.clone(),
            digest: actual,
            media_type,
            size: bytes.len() as u64,
            role: req.role.clone(),
        })
    }

    async fn copy_from_layout(
        &self,
        req: &ImageRequest,
        dir: &Path,
        tag: &str,
        task: &dyn crate::progress::Task,
    ) -> Result<ImageEntry> {
        let name = &req.name;
        let from = format!("oci:{}:{tag}", dir.display());
        let index_path = dir.join("index.json");
        let index: Value = serde_json::from_slice(
            &std::fs::read(&index_path)
                .map_err(|e| img_err(name, &from, format!("{}: {e}", index_path.display())))?,
        )
        .map_err(|e| img_err(name, &from, format!("index.json: {e}")))?;
        let entry = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                let a = &m["annotations"];
                a["org.opencontainers.image.ref.name"].as_str() == Some(tag)
                    || a["io.containerd.image.name"].as_str() == Some(tag)
            })
            .ok_or_else(|| {
                img_err(
                    name,
                    &from,
                    format!("no image tagged {tag:?} in the layout"),
                )
            })?;
        let read_blob = |digest: &str| -> Result<Vec<u8>> {
            let hex = oci_digest_hex(digest)
                .ok_or_else(|| img_err(name, &from, format!("bad digest {digest}")))?;
            let p = dir.join("blobs/sha256").join(hex);
            let b = std::fs::read(&p)
                .map_err(|e| img_err(name, &from, format!("{}: {e}", p.display())))?;
            if sha256_hex(&b) != hex {
                return Err(img_err(
                    name,
                    &from,
                    format!("blob {digest} does not match its digest"),
                ));
            }
            Ok(b)
        };
        let mut digest = entry["digest"].as_str().unwrap_or_default().to_string();
        let mut bytes = read_blob(&digest)?;
        let mut v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| img_err(name, &from, format!("manifest: {e}")))?;
        if is_index(&v) {
            digest = self.pick_platform(name, &from, &v)?;
            bytes = read_blob(&digest)?;
            v = serde_json::from_slice(&bytes)
                .map_err(|e| img_err(name, &from, format!("manifest: {e}")))?;
        }
        let media_type = v["mediaType"]
            .as_str()
            .or_else(|| entry["mediaType"].as_str())
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        for d in blob_descriptors(&v).map_err(|m| img_err(name, &from, m))? {
            let hex = oci_digest_hex(&d.digest)
                .ok_or_else(|| img_err(name, &from, format!("bad digest {}", d.digest)))?
                .to_string();
            let src = dir.join("blobs/sha256").join(&hex);
            let dst = self.blob_path(&hex);
            let cell = self.cell(&d.digest);
            let name2 = name.clone();
            let from2 = from.clone();
            let len = cell
                .get_or_try_init(|| async move {
                    if let Ok(m) = std::fs::metadata(&dst) {
                        return Ok::<u64, Error>(m.len());
                    }
                    let tmp = dst.with_extension("partial");
                    let (h, n) = tokio::task::spawn_blocking({
                        let (src, tmp) = (src.clone(), tmp.clone());
                        move || super::copy_hashing(&src, &tmp)
                    })
                    .await
                    .map_err(|e| Error::Other(e.to_string()))?
                    .map_err(|e| img_err(&name2, &from2, format!("{}: {e}", src.display())))?;
                    if h != hex {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(img_err(
                            &name2,
                            &from2,
                            format!("blob sha256:{hex} does not match its digest"),
                        ));
                    }
                    std::fs::rename(&tmp, &dst).at(&dst)?;
                    Ok(n)
                })
                .await?;
            task.inc(*len);
        }
        self.put_bytes(&digest, &bytes)?;
        Ok(ImageEntry {
            name: name.clone(),
            digest,
            media_type,
            size: bytes.len() as u64,
            role: req.role.clone(),
        })
    }

    /// Write `oci-layout` and `index.json` naming every image (containerd's
    /// `io.containerd.image.name` and OCI's `org.opencontainers.image.ref.name` annotations).
    pub fn finish(&self, images: &[ImageEntry]) -> Result<()> {
        crate::fsutil::write_atomic(
            &self.root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
            0o644,
        )?;
        let manifests: Vec<Value> = images
            .iter()
            .map(|i| {
                let tag = i
                    .name
                    .rsplit_once(':')
                    .filter(|(_, t)| !t.contains('/'))
                    .map(|(_, t)| t)
                    .unwrap_or("latest");
                serde_json::json!({
                    "mediaType": i.media_type,
                    "digest": i.digest,
                    "size": i.size,
                    "annotations": {
                        "io.containerd.image.name": i.name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                    "platform": {"os": self.os, "architecture": self.arch},
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| Error::Other(e.to_string()))?;
        crate::fsutil::write_atomic(&self.root.join("index.json"), &bytes, 0o644)
    }
}

fn is_index(v: &Value) -> bool {
    matches!(v["mediaType"].as_str(), Some(OCI_INDEX) | Some(DOCKER_LIST))
        || (v.get("manifests").is_some() && v.get("layers").is_none())
}

fn is_transient(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "timed out",
        "timeout",
        "connection reset",
        "connection closed",
        "503",
        "502",
        "500",
        "429",
        "broken pipe",
        "error sending request",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// Config and layer descriptors of an image manifest.
fn blob_descriptors(v: &Value) -> std::result::Result<Vec<OciDescriptor>, String> {
    let mut out = Vec::new();
    let cfg = v.get("config").ok_or("manifest has no config")?;
    out.push(serde_json::from_value(cfg.clone()).map_err(|e| format!("config descriptor: {e}"))?);
    for l in v["layers"].as_array().ok_or("manifest has no layers")? {
        out.push(serde_json::from_value(l.clone()).map_err(|e| format!("layer descriptor: {e}"))?);
    }
    Ok(out)
}
