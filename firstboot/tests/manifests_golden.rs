//! Golden tests: the static pod manifests and image list for the reference config equal what a
//! real kubeadm v1.36.2 wrote (fixtures copied from the reference run).

mod manifests_support;

use std::path::Path;

use firstboot::manifests::{
    self, AddonImageParams, Component, ControlPlaneParams, EtcdMembership, MANIFEST_DIR_MODE,
    MANIFEST_FILE_MODE,
};
use manifests_support::{assert_matches_reference, fixture, reference_config};

/// Params as the config helper fills them from the reference kubeadm-config.yaml, with the
/// auto-detected advertise address of the reference host and its existing CA directories.
fn reference_params() -> ControlPlaneParams {
    let init = reference_config("InitConfiguration");
    let cluster = reference_config("ClusterConfiguration");
    let version = cluster["kubernetesVersion"].as_str().unwrap();
    let node = init["nodeRegistration"]["name"].as_str().unwrap();
    let mut p = ControlPlaneParams::new(version, node, "192.0.2.2".parse().unwrap());
    p.host_ca_dirs = vec![
        "/etc/ca-certificates".into(),
        "/usr/share/ca-certificates".into(),
        "/usr/local/share/ca-certificates".into(),
    ];
    p
}

fn check(component: Component) {
    let p = reference_params();
    let yaml = manifests::manifest_yaml(&p, component, &EtcdMembership::NewCluster).unwrap();
    assert_matches_reference(
        &yaml,
        &format!("etc-kubernetes/manifests/{}", component.file_name()),
    );
}

#[test]
fn etcd_matches_kubeadm() {
    check(Component::Etcd);
}

#[test]
fn kube_apiserver_matches_kubeadm() {
    check(Component::KubeApiserver);
}

#[test]
fn kube_controller_manager_matches_kubeadm() {
    check(Component::KubeControllerManager);
}

#[test]
fn kube_scheduler_matches_kubeadm() {
    check(Component::KubeScheduler);
}

#[test]
fn images_list_matches_kubeadm() {
    let p = reference_params();
    let list = manifests::images_list(&p, &AddonImageParams::default()).unwrap();
    let expected: Vec<String> = fixture("config/images-list.txt")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(list, expected);
    assert_eq!(
        manifests::images_list_yaml(&list),
        fixture("config/images-list.yaml")
    );
}

#[test]
fn plan_has_kubeadm_paths_and_modes() {
    let p = reference_params();
    let root = Path::new("/tmp/fb-root");
    let mdir = root.join("etc/kubernetes/manifests");
    let mut plan = manifests::plan_control_plane(&p, &mdir).unwrap();
    plan.extend(
        manifests::plan_local_etcd(
            &p,
            &EtcdMembership::NewCluster,
            &mdir,
            &root.join("var/lib/etcd"),
        )
        .unwrap(),
    );
    let files: Vec<(String, u32)> = plan
        .files
        .iter()
        .map(|f| {
            (
                f.path.strip_prefix(root).unwrap().display().to_string(),
                f.mode,
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            (
                "etc/kubernetes/manifests/kube-apiserver.yaml".to_string(),
                0o600
            ),
            (
                "etc/kubernetes/manifests/kube-controller-manager.yaml".to_string(),
                0o600
            ),
            (
                "etc/kubernetes/manifests/kube-scheduler.yaml".to_string(),
                0o600
            ),
            ("etc/kubernetes/manifests/etcd.yaml".to_string(), 0o600),
        ]
    );
    assert_eq!(MANIFEST_FILE_MODE, 0o600);
    let dirs: Vec<(String, u32)> = plan
        .dirs
        .iter()
        .map(|d| {
            (
                d.path.strip_prefix(root).unwrap().display().to_string(),
                d.mode,
            )
        })
        .collect();
    assert_eq!(
        dirs,
        vec![
            ("etc/kubernetes/manifests".to_string(), MANIFEST_DIR_MODE),
            ("var/lib/etcd".to_string(), 0o700)
        ]
    );
    assert_eq!(MANIFEST_DIR_MODE, 0o700);
    // every planned file is the reference text
    for f in &plan.files {
        let name = f.path.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            f.contents,
            fixture(&format!("etc-kubernetes/manifests/{name}")),
            "{name}"
        );
    }
}

#[test]
fn applied_plan_writes_reference_files_with_modes() {
    use std::os::unix::fs::MetadataExt;
    let p = reference_params();
    let root = tempfile::tempdir().unwrap();
    let mdir = root.path().join("etc/kubernetes/manifests");
    let etcd_dir = root.path().join("var/lib/etcd");
    let mut plan = manifests::plan_control_plane(&p, &mdir).unwrap();
    plan.extend(
        manifests::plan_local_etcd(&p, &EtcdMembership::NewCluster, &mdir, &etcd_dir).unwrap(),
    );
    plan.apply().unwrap();
    assert_eq!(std::fs::metadata(&mdir).unwrap().mode() & 0o7777, 0o700);
    assert_eq!(std::fs::metadata(&etcd_dir).unwrap().mode() & 0o7777, 0o700);
    for c in [
        Component::Etcd,
        Component::KubeApiserver,
        Component::KubeControllerManager,
        Component::KubeScheduler,
    ] {
        let path = mdir.join(c.file_name());
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o7777,
            0o600,
            "{}",
            path.display()
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            fixture(&format!("etc-kubernetes/manifests/{}", c.file_name()))
        );
    }
    // re-running the phase is harmless and yields the same files
    plan.apply().unwrap();
    assert_eq!(std::fs::read_dir(&mdir).unwrap().count(), 4);
}
