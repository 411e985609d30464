//! Prints the certs and kubeconfig plans (`--dry-run` view) for kubeadm's reference
//! configuration in a directory: `pki_plan <dir>`.

use firstboot::kubeconfig::{self, KubeconfigParams};
use firstboot::pki::{self, PkiParams};

fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/pki-plan".into()),
    );
    let adv = "192.0.2.2".parse()?;
    let mut p = PkiParams::new(out.join("pki"), "vm", adv);
    p.control_plane_endpoint = Some("127.0.0.1:6443".into());
    print!("{}", pki::plan(&p)?);
    if out.join("pki/ca.crt").exists() {
        let mut k = KubeconfigParams::new(&out, out.join("pki"), "vm", adv);
        k.control_plane_endpoint = p.control_plane_endpoint.clone();
        print!("{}", kubeconfig::plan(&k)?);
    }
    Ok(())
}
