//! Version getters against a real HTTP release mirror (python3 http.server) and a release index
//! file: label resolution with kubeadm's guard and fallback rules (spec §19.5).

use std::time::Duration;

use offline::version::{
    IndexVersionGetter, KubeVersion, LayeredVersionGetter, MirrorVersionGetter, VersionError,
    VersionGetter,
};

fn v(s: &str) -> KubeVersion {
    KubeVersion::parse(s).unwrap()
}

#[test]
fn mirror_labels_resolve_with_the_newer_minor_guard() {
    let dir = tempfile::tempdir().unwrap();
    for (label, version) in [
        ("stable", "v1.37.1"),
        ("stable-1", "v1.37.1"),
        ("stable-1.36", "v1.36.4\n"),
        ("stable-1.35", "v1.35.9"),
        ("latest-1.36", "v1.36.5-rc.0"),
    ] {
        std::fs::write(dir.path().join(format!("{label}.txt")), version).unwrap();
    }
    let server = testkit::services::http_server(dir.path());
    let g = MirrorVersionGetter::new(&server.url(), v("v1.36.2"), Duration::from_secs(5));
    // 1.37 is newer than the 1.36 kubeadm: stable-1.36 instead (spec §19.5 step 6).
    assert_eq!(g.version_from_label("stable").unwrap(), v("v1.36.4"));
    assert_eq!(
        g.version_from_label("release/stable-1").unwrap(),
        v("v1.36.4")
    );
    assert_eq!(g.version_from_label("stable-1.35").unwrap(), v("v1.35.9"));
    assert_eq!(
        g.version_from_label("latest-1.36").unwrap(),
        v("v1.36.5-rc.0")
    );
    // A label the site does not publish: kubeadm's own version.
    assert_eq!(g.version_from_label("latest-1.34").unwrap(), v("v1.36.2"));
    assert!(matches!(
        g.version_from_label("stable-v1.36"),
        Err(VersionError::InvalidLabel(_))
    ));
    assert!(matches!(
        g.cluster_version(),
        Err(VersionError::NotAvailable { .. })
    ));
}

#[test]
fn unreachable_mirror_falls_back_to_the_kubeadm_version() {
    // Nothing listens on this port.
    let port = testkit::services::free_port();
    let g = MirrorVersionGetter::new(
        &format!("http://127.0.0.1:{port}"),
        v("v1.36.3-rc.0"),
        Duration::from_secs(2),
    );
    assert_eq!(g.version_from_label("stable-1").unwrap(), v("v1.36.2"));
}

#[test]
fn index_answers_every_label_offline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-index.yaml");
    std::fs::write(
        &path,
        "apiVersion: kubebake.io/v1alpha1\nkind: ReleaseIndex\ngeneratedAt: '2026-11-25T00:00:00Z'\n\
         source: file:///mirror\nkubernetesVersion: v1.36.2\nlabels:\n  stable: v1.37.1\n  \
         stable-1.36: v1.36.2\n  stable-1.35: v1.35.9\n  latest-1.37: v1.37.0-rc.1\ncomponents: {}\n",
    )
    .unwrap();
    let g = IndexVersionGetter::from_file(&path).unwrap();
    assert_eq!(g.kubeadm_version().unwrap(), v("v1.36.2"));
    assert_eq!(g.version_from_label("stable").unwrap(), v("v1.36.2"));
    assert_eq!(g.version_from_label("stable-1.35").unwrap(), v("v1.35.9"));
    // latest-1.37 is a newer minor than the bundle's kubeadm: guarded like kubeadm.
    assert_eq!(g.version_from_label("latest-1.37").unwrap(), v("v1.36.2"));
    assert!(g.describe().contains("release-index.yaml"));

    // Labels from the index, cluster state from elsewhere.
    let layered = LayeredVersionGetter {
        labels: g.clone(),
        state: g,
    };
    assert_eq!(
        layered.version_from_label("stable-1.35").unwrap(),
        v("v1.35.9")
    );

    // A broken index names the file.
    std::fs::write(&path, "kubernetesVersion: [").unwrap();
    let e = IndexVersionGetter::from_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("release-index.yaml"), "{e}");
}
