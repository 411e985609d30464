//! `bake bundle create|verify|inspect|sign`.

use std::sync::Arc;

use anyhow::Context;
use offline::bundle::{self, CreateOptions, SignOptions, VerifyOptions};

use crate::cli::{CreateArgs, Format, InspectArgs, KeyArgs, SignArgs, UnpackArgs, VerifyArgs};
use crate::output;

fn verify_options(k: &KeyArgs) -> VerifyOptions {
    VerifyOptions {
        public_key: k.public_key.clone(),
        signature: k.signature.clone(),
    }
}

pub fn create(a: CreateArgs) -> anyhow::Result<()> {
    let spec = offline::spec::load_spec(&a.spec)?;
    let progress: Arc<dyn offline::progress::Progress> =
        Arc::from(offline::progress::auto(a.quiet));
    let mut extra_binaries = Vec::new();
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("firstboot")));
    match (&a.firstboot, a.no_firstboot) {
        (Some(fb), _) => {
            anyhow::ensure!(fb.is_file(), "--firstboot {}: no such file", fb.display());
            extra_binaries.push(("firstboot".to_string(), fb.clone()));
        }
        (None, false) => match beside.filter(|p| p.is_file()) {
            Some(fb) => extra_binaries.push(("firstboot".to_string(), fb)),
            None => anyhow::bail!(
                "no firstboot binary beside bake to carry in the bundle: build it (cargo build -p firstboot), name one with --firstboot PATH, or use --no-firstboot"
            ),
        },
        (None, true) => {}
    }
    let opts = CreateOptions {
        out: a.out.clone(),
        parallelism: a.parallel,
        retries: a.retries,
        extra_binaries,
        compression: a.compression,
        progress,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(bundle::create(&spec, &opts))?;
    match a.output {
        Format::Json => output::print_json(&output::created_json(&report)),
        Format::Table => {
            println!(
                "created {} ({}, sha256 {})",
                report.path.display(),
                offline::fsutil::human_size(report.size),
                report.sha256
            );
            Ok(())
        }
    }
}

pub fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let progress = offline::progress::auto(a.quiet);
    let report = bundle::verify(&a.bundle, &verify_options(&a.key), progress.as_ref())?;
    match a.output {
        Format::Json => output::print_json(&output::inventory_json(&report)),
        Format::Table => {
            println!(
                "{}: OK — {} artifacts, {} images, Kubernetes {}, sha256 {}{}",
                a.bundle.display(),
                report.manifest.artifacts.len(),
                report.manifest.images.len(),
                report.manifest.kubernetes_version,
                report.bundle_sha256,
                if report.signature_verified {
                    ", signature verified"
                } else {
                    ", signature not checked (no --public-key)"
                }
            );
            Ok(())
        }
    }
}

pub fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    let progress = offline::progress::auto(true);
    let report = bundle::verify(&a.bundle, &verify_options(&a.key), progress.as_ref())?;
    match a.output {
        Format::Json => output::print_json(&output::inventory_json(&report)),
        Format::Table => {
            print!("{}", output::inventory_table(&report));
            Ok(())
        }
    }
}

pub fn sign(a: SignArgs) -> anyhow::Result<()> {
    let password = match &a.password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading --password-file {}", p.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        None => None,
    };
    let out = bundle::sign(
        &a.bundle,
        &SignOptions {
            secret_key: a.secret_key.clone(),
            password,
            out: a.out.clone(),
            trusted_comment: None,
        },
    )?;
    println!("signed {} → {}", a.bundle.display(), out.display());
    Ok(())
}

pub fn unpack(a: UnpackArgs) -> anyhow::Result<()> {
    let progress = offline::progress::auto(a.quiet);
    let report = bundle::unpack(
        &a.bundle,
        &a.dest,
        &verify_options(&a.key),
        progress.as_ref(),
    )?;
    println!(
        "unpacked {} ({} artifacts, Kubernetes {}) into {}",
        a.bundle.display(),
        report.manifest.artifacts.len(),
        report.manifest.kubernetes_version,
        a.dest.display()
    );
    Ok(())
}
