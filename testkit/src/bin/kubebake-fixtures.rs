//! `kubebake-fixtures`: writes the demo and benchmark inputs — a release mirror of stand-in
//! binaries and an OCI layout of small fixture images — so the README's main job and the
//! benchmarks run with no network. Test/demo support only; nothing here ships in a bundle
//! except as an obvious stand-in.

use std::path::PathBuf;

use testkit::images::{control_plane_names, write_layout, FixtureImage};
use testkit::mirror::{default_labels, write_mirror};

fn usage() -> ! {
    eprintln!(
        "usage: kubebake-fixtures demo --out DIR [--version v1.36.2]\n       kubebake-fixtures bench --out DIR --mib N\n\n\
         demo:  DIR/mirror (stand-in kubeadm/kubelet/kubectl + labels) and DIR/images (OCI layout of the\n       control-plane images, named under registry.k8s.io)\n\
         bench: the same with about N MiB of image payload, for `bench/bundle.sh`"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(out) = get("--out").map(PathBuf::from) else {
        usage()
    };
    let version = get("--version").unwrap_or_else(|| "v1.36.2".into());
    let mib: usize = match mode.as_str() {
        "demo" => 0,
        "bench" => get("--mib")
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| usage()),
        _ => usage(),
    };
    let mirror = out.join("mirror");
    let labels = default_labels(&version);
    let l: Vec<(&str, &str)> = labels
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_mirror(
        &mirror,
        &[version.as_str()],
        &["kubeadm", "kubelet", "kubectl"],
        "linux",
        "amd64",
        &l,
    );
    let names = control_plane_names("registry.k8s.io", &version);
    let per_image = mib * 1024 * 1024 / names.len();
    let images: Vec<FixtureImage> = names
        .iter()
        .map(|n| FixtureImage {
            payload: per_image,
            ..FixtureImage::multi(n)
        })
        .collect();
    let digests = write_layout(&out.join("images"), &images);
    println!(
        "fixtures in {}: release mirror (stand-in binaries for {version}) and {} images",
        out.display(),
        digests.len()
    );
}
