//! Runs the certs phase (and optionally the kubeconfig phase) for kubeadm's reference
//! configuration into a directory and prints the elapsed time. Used by `bench/certs.sh`.
//!
//! Usage: `certs_phase <out-dir> [RSA-2048|ECDSA-P256|...] [--kubeconfig]`

use std::time::Instant;

use firstboot::kubeconfig::{self, KubeconfigParams};
use firstboot::pki::{self, PkiParams};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("/tmp/certs-phase"),
    );
    let alg: pki::EncryptionAlgorithm = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("RSA-2048")
        .parse()?;
    let with_kubeconfig = args.iter().any(|a| a == "--kubeconfig");
    let adv = "192.0.2.2".parse()?;
    let mut p = PkiParams::new(out.join("pki"), "vm", adv);
    p.control_plane_endpoint = Some("127.0.0.1:6443".into());
    p.encryption_algorithm = alg;
    let start = Instant::now();
    let plan = pki::plan(&p)?;
    let report = plan.apply()?;
    let certs = start.elapsed();
    let mut line = format!(
        "certs {:.3}s ({} files)",
        certs.as_secs_f64(),
        report.written.len()
    );
    if with_kubeconfig {
        let mut k = KubeconfigParams::new(&out, out.join("pki"), "vm", adv);
        k.control_plane_endpoint = p.control_plane_endpoint.clone();
        k.encryption_algorithm = alg;
        let t = Instant::now();
        let written = kubeconfig::plan(&k)?.apply()?;
        line.push_str(&format!(
            " kubeconfig {:.3}s ({} files)",
            t.elapsed().as_secs_f64(),
            written.len()
        ));
    }
    println!("{line}");
    Ok(())
}
