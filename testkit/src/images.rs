//! Fixture container images built from bytes, written as an OCI image layout. Every image shares
//! one base layer (so bundles must store it once) and has a layer of its own; multi-platform
//! images get an index with an amd64 and an arm64 manifest.

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One fixture image.
#[derive(Debug, Clone)]
pub struct FixtureImage {
    /// Full reference (`127.0.0.1:5000/kube-apiserver:v1.36.2`).
    pub name: String,
    /// Platforms; more than one makes an image index.
    pub platforms: Vec<(String, String)>,
    /// Extra bytes making the image's own layer bigger (for benchmarks).
    pub payload: usize,
}

impl FixtureImage {
    /// A linux/amd64 + linux/arm64 image.
    pub fn multi(name: &str) -> Self {
        Self {
            name: name.to_string(),
            platforms: vec![
                ("linux".into(), "amd64".into()),
                ("linux".into(), "arm64".into()),
            ],
            payload: 0,
        }
    }
}

/// The `org.opencontainers.image.ref.name` a fixture image gets: its name with `/` and `:` as `_`
/// (so `skopeo copy oci:DIR:KEY` can address it).
pub fn layout_key(name: &str) -> String {
    name.replace(['/', ':'], "_")
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

struct Blobs<'a>(&'a Path);

impl Blobs<'_> {
    fn put(&self, b: &[u8]) -> (String, u64) {
        let h = sha(b);
        let p = self.0.join("blobs/sha256").join(&h);
        if !p.exists() {
            fs::write(p, b).unwrap();
        }
        (format!("sha256:{h}"), b.len() as u64)
    }
}

fn layer(files: &[(&str, Vec<u8>)]) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, &data[..]).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let diff_id = format!("sha256:{}", sha(&raw));
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// Deterministic bytes that compress about as well as real binaries (roughly 2.5:1): blocks of
/// xorshift noise alternate with blocks of repetitive, text-like bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    let mut block = 0u64;
    while out.len() < len {
        let end = (out.len() + 4096).min(len);
        if block % 5 < 2 {
            while out.len() < end {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.extend_from_slice(&x.to_le_bytes());
            }
        } else {
            let word = format!("symbol_{:04x}_", (x >> 3) % 64);
            while out.len() < end {
                out.extend_from_slice(word.as_bytes());
                x = x.rotate_left(7);
            }
        }
        out.truncate(end);
        block += 1;
    }
    out
}

/// Write `images` as one OCI layout in `dir`. Returns, per image, the digest of its linux/amd64
/// manifest.
pub fn write_layout(dir: &Path, images: &[FixtureImage]) -> Vec<(String, String)> {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let blobs = Blobs(dir);
    let (base, base_diff) =
        layer(&[("etc/kubebake-fixture-base", b"shared base layer\n".to_vec())]);
    let (base_d, base_s) = blobs.put(&base);
    let mut index = Vec::new();
    let mut out = Vec::new();
    for (n, img) in images.iter().enumerate() {
        let mut manifests = Vec::new();
        for (os, arch) in &img.platforms {
            let mut data = format!("fixture image {} for {os}/{arch}\n", img.name).into_bytes();
            data.extend(noise(n as u64 * 31 + arch.len() as u64, img.payload));
            let (own, own_diff) = layer(&[("fixture/content", data)]);
            let (own_d, own_s) = blobs.put(&own);
            let config = json!({
                "architecture": arch, "os": os,
                "config": {"Entrypoint": ["/fixture/content"], "Labels": {"kubebake.test/fixture": "true"}},
                "rootfs": {"type": "layers", "diff_ids": [base_diff, own_diff]},
            });
            let (cfg_d, cfg_s) = blobs.put(&serde_json::to_vec(&config).unwrap());
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg_s},
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": base_d, "size": base_s},
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": own_d, "size": own_s},
                ],
            });
            let (m_d, m_s) = blobs.put(&serde_json::to_vec(&manifest).unwrap());
            if os == "linux" && arch == "amd64" {
                out.push((img.name.clone(), m_d.clone()));
            }
            manifests.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": m_d, "size": m_s,
                "platform": {"os": os, "architecture": arch},
            }));
        }
        let annotations = json!({
            "io.containerd.image.name": img.name,
            "org.opencontainers.image.ref.name": layout_key(&img.name),
        });
        let entry: Value = if manifests.len() == 1 {
            let mut m = manifests.remove(0);
            m["annotations"] = annotations;
            m
        } else {
            let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
            let (d, s) = blobs.put(&serde_json::to_vec(&idx).unwrap());
            json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s, "annotations": annotations})
        };
        index.push(entry);
    }
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&idx).unwrap(),
    )
    .unwrap();
    out
}

/// The control-plane image names kubeadm v1.36 uses under `repo` (spec §1.3).
pub fn control_plane_names(repo: &str, version: &str) -> Vec<String> {
    let coredns = if repo == "registry.k8s.io" {
        format!("{repo}/coredns")
    } else {
        repo.to_string()
    };
    vec![
        format!("{repo}/kube-apiserver:{version}"),
        format!("{repo}/kube-controller-manager:{version}"),
        format!("{repo}/kube-scheduler:{version}"),
        format!("{repo}/kube-proxy:{version}"),
        format!("{coredns}/coredns:v1.14.2"),
        format!("{repo}/pause:3.10.2"),
        format!("{repo}/etcd:3.6.8-0"),
    ]
}
