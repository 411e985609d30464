//! Rendering of inventories and summaries as tables or JSON.

use std::fmt::Write;

use offline::bundle::{CreateReport, VerifyReport};
use offline::fsutil::human_size;
use serde_json::{json, Value};

/// Print `v` as pretty JSON on stdout.
pub fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn artifacts_json(m: &offline::manifest::BundleManifest) -> Value {
    Value::Array(
        m.artifacts
            .iter()
            .map(|a| json!({"path": a.path, "kind": a.kind.as_str(), "size": a.size, "sha256": a.sha256}))
            .collect(),
    )
}

fn images_json(m: &offline::manifest::BundleManifest) -> Value {
    Value::Array(
        m.images
            .iter()
            .map(|i| json!({"name": i.name, "digest": i.digest, "role": i.role, "mediaType": i.media_type}))
            .collect(),
    )
}

/// The inventory of a verified bundle.
pub fn inventory_json(r: &VerifyReport) -> Value {
    let m = &r.manifest;
    json!({
        "name": m.name,
        "kubernetesVersion": m.kubernetes_version,
        "platform": m.platform,
        "created": m.created,
        "kubebakeVersion": m.kubebake_version,
        "imageRepository": m.image_repository,
        "sha256": r.bundle_sha256,
        "size": r.bundle_size,
        "verified": true,
        "signatureVerified": r.signature_verified,
        "artifacts": artifacts_json(m),
        "images": images_json(m),
        "releaseIndex": serde_json::to_value(&r.release_index).unwrap_or(Value::Null),
    })
}

/// The summary of a created bundle.
pub fn created_json(r: &CreateReport) -> Value {
    let m = &r.manifest;
    json!({
        "path": r.path,
        "name": m.name,
        "kubernetesVersion": m.kubernetes_version,
        "platform": m.platform,
        "sha256": r.sha256,
        "size": r.size,
        "artifacts": artifacts_json(m),
        "images": images_json(m),
        "releaseIndex": serde_json::to_value(&r.release_index).unwrap_or(Value::Null),
    })
}

/// The inventory as a human-readable table.
pub fn inventory_table(r: &VerifyReport) -> String {
    let m = &r.manifest;
    let mut s = String::new();
    let _ = writeln!(s, "Bundle:        {}", m.name);
    let _ = writeln!(s, "Kubernetes:    {}", m.kubernetes_version);
    let _ = writeln!(s, "Platform:      {}", m.platform);
    let _ = writeln!(
        s,
        "Created:       {} by kubebake {}",
        m.created, m.kubebake_version
    );
    let _ = writeln!(
        s,
        "Size:          {} (sha256 {})",
        human_size(r.bundle_size),
        r.bundle_sha256
    );
    let _ = writeln!(
        s,
        "Verified:      yes; signature {}",
        if r.signature_verified {
            "verified"
        } else {
            "not checked"
        }
    );
    let _ = writeln!(s, "\nBINARIES AND FILES");
    let _ = writeln!(s, "{:<40} {:<9} {:>10}  SHA256", "PATH", "KIND", "SIZE");
    for a in m
        .artifacts
        .iter()
        .filter(|a| a.kind != offline::manifest::ArtifactKind::Image)
    {
        let _ = writeln!(
            s,
            "{:<40} {:<9} {:>10}  {}",
            a.path,
            a.kind.as_str(),
            human_size(a.size),
            a.sha256
        );
    }
    let blobs: Vec<_> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == offline::manifest::ArtifactKind::Image)
        .collect();
    let _ = writeln!(
        s,
        "\nIMAGES ({} OCI layout entries, {})",
        blobs.len(),
        human_size(blobs.iter().map(|a| a.size).sum())
    );
    let _ = writeln!(s, "{:<56} {:<24} DIGEST", "NAME", "ROLE");
    for i in &m.images {
        let _ = writeln!(s, "{:<56} {:<24} {}", i.name, i.role, i.digest);
    }
    let idx = &r.release_index;
    let _ = writeln!(
        s,
        "\nRELEASE INDEX (from {}, {})",
        idx.source, idx.generated_at
    );
    for (l, v) in &idx.labels {
        let _ = writeln!(s, "  {l:<14} {v}");
    }
    for (minor, c) in &idx.components {
        let _ = writeln!(
            s,
            "  {minor:<14} etcd {}  coredns {}  pause {}",
            c.etcd, c.coredns, c.pause
        );
    }
    s
}
