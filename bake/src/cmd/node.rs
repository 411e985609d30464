//! `bake stage` and `bake check`.

use std::fmt::Write as _;

use bake::check;
use bake::stage::{self, Content, StageOptions};
use offline::bundle::{verify, VerifyOptions};
use serde_json::json;

use crate::cli::{CheckArgs, Format, StageArgs};
use crate::cmd::Reported;
use crate::output::print_json;

pub fn stage(a: StageArgs) -> anyhow::Result<()> {
    let progress = offline::progress::auto(a.quiet || a.output == Format::Json);
    if a.dry_run {
        let r = verify(
            &a.bundle,
            &VerifyOptions {
                public_key: a.key.public_key.clone(),
                signature: a.key.signature.clone(),
            },
            progress.as_ref(),
        )?;
        let record = std::fs::read(stage::under(&a.root, stage::RECORD_PATH))
            .ok()
            .and_then(|b| serde_json::from_slice::<stage::StagedRecord>(&b).ok());
        let activate = a.activate
            || record
                .as_ref()
                .and_then(|r| r.active_version.clone())
                .is_none_or(|v| v == r.manifest.kubernetes_version);
        let p = stage::plan(&r.manifest, &r.release_index, activate);
        let files: Vec<_> = p
            .files
            .iter()
            .map(|f| {
                let from = match &f.content {
                    Content::Bytes(_) => "generated".to_string(),
                    Content::FromBundle(rel) => format!("bundle:{rel}"),
                    Content::ImageArchive => format!(
                        "images: {} images as one OCI archive",
                        r.manifest.images.len()
                    ),
                };
                json!({"path": f.path, "mode": format!("{:04o}", f.mode), "from": from})
            })
            .collect();
        let links: Vec<_> = p
            .links
            .iter()
            .map(|l| json!({"path": l.path, "target": l.target}))
            .collect();
        match a.output {
            Format::Json => print_json(
                &json!({"dryRun": true, "root": a.root, "version": r.manifest.kubernetes_version, "activate": activate, "files": files, "links": links}),
            )?,
            Format::Table => {
                println!(
                    "would stage {} (Kubernetes {}) under {}{}:",
                    a.bundle.display(),
                    r.manifest.kubernetes_version,
                    a.root.display(),
                    if activate { ", active" } else { "" }
                );
                for f in &files {
                    println!(
                        "  {} {:<70} {}",
                        f["mode"].as_str().unwrap_or(""),
                        f["path"].as_str().unwrap_or(""),
                        f["from"].as_str().unwrap_or("")
                    );
                }
                for l in &links {
                    println!(
                        "  link {:<67} -> {}",
                        l["path"].as_str().unwrap_or(""),
                        l["target"].as_str().unwrap_or("")
                    );
                }
            }
        }
        return Ok(());
    }
    let opts = StageOptions {
        root: a.root.clone(),
        public_key: a.key.public_key.clone(),
        signature: a.key.signature.clone(),
        import_images: a.import_images,
        activate: a.activate,
        containerd_address: a.containerd_address.clone(),
        ctr: a.ctr.clone(),
    };
    let r = stage::stage(&a.bundle, &opts, progress.as_ref())?;
    match a.output {
        Format::Json => print_json(&json!({
            "root": a.root,
            "version": r.version,
            "bundle": r.bundle,
            "sha256": r.sha256,
            "signatureVerified": r.signature_verified,
            "activeVersion": r.active_version,
            "written": r.written,
            "unchanged": r.unchanged,
            "backedUp": r.backed_up,
            "imported": r.imported,
            "record": r.record,
        })),
        Format::Table => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "staged {} (Kubernetes {}) under {}",
                r.bundle,
                r.version,
                a.root.display()
            );
            let _ = writeln!(
                s,
                "  bundle sha256 {}; signature {}",
                r.sha256,
                if r.signature_verified {
                    "verified"
                } else {
                    "not checked"
                }
            );
            let _ = writeln!(s, "  active version: {}", r.active_version);
            let _ = writeln!(
                s,
                "  {} paths written, {} already up to date",
                r.written.len(),
                r.unchanged.len()
            );
            for b in &r.backed_up {
                let _ = writeln!(s, "  kept the previous {b} as {b}.kubebake-orig");
            }
            if a.import_images {
                let _ = writeln!(
                    s,
                    "  images: {} imported into containerd (k8s.io) and pinned, {} already there",
                    r.imported.len(),
                    r.record
                        .images
                        .iter()
                        .filter(|i| i.version == r.version)
                        .count()
                        - r.imported.len()
                );
            }
            let _ = writeln!(s, "  record: {}", stage::RECORD_PATH);
            print!("{s}");
            Ok(())
        }
    }
}

pub fn check(a: CheckArgs) -> anyhow::Result<()> {
    let findings = check::check(&a.root)?;
    let done = if a.fix {
        check::fix(&a.root, &findings)?
    } else {
        vec![]
    };
    let remaining: Vec<_> = if a.fix {
        check::check(&a.root)?
    } else {
        findings.clone()
    };
    match a.output {
        Format::Json => print_json(&json!({
            "root": a.root,
            "findings": findings,
            "fixed": done,
            "remaining": remaining,
            "clean": remaining.is_empty(),
        }))?,
        Format::Table => {
            if findings.is_empty() {
                println!(
                    "{}: clean — no node-specific or secret state, staged files intact",
                    a.root.display()
                );
            } else {
                println!("{:<16} {:<60} DETAIL", "FINDING", "PATH");
                for f in &findings {
                    let kind = serde_json::to_value(f.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    println!(
                        "{:<16} {:<60} {}{}",
                        kind,
                        f.path,
                        f.detail,
                        if f.fixable {
                            ""
                        } else {
                            " (not fixable: restage the bundle)"
                        }
                    );
                }
                for d in &done {
                    println!("fixed: {d}");
                }
                if remaining.is_empty() {
                    println!("{}: clean after --fix", a.root.display());
                } else {
                    println!(
                        "{} finding(s) remain{}",
                        remaining.len(),
                        if a.fix {
                            ""
                        } else {
                            "; run with --fix to remove what is safe to remove"
                        }
                    );
                }
            }
        }
    }
    if remaining.is_empty() {
        Ok(())
    } else {
        Err(Reported(1).into())
    }
}
