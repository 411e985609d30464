//! Golden tests: the kubelet files for the reference config are byte-equal to what a real
//! kubeadm v1.36.2 wrote (fixtures copied from the reference run).

mod manifests_support;

use std::os::unix::fs::MetadataExt;

use firstboot::kubelet::{
    self, KubeletConfigParams, KubeletFlagsParams, KUBELET_DIR_MODE, KUBELET_FILE_MODE,
};
use manifests_support::{assert_matches_reference, fixture, reference_config};

fn reference_params() -> (KubeletConfigParams, KubeletFlagsParams) {
    let init = reference_config("InitConfiguration");
    let node = init["nodeRegistration"]["name"].as_str().unwrap();
    let cri = init["nodeRegistration"]["criSocket"].as_str().unwrap();
    // The reference host's hostname was the node name, and systemd-resolved was not active
    // (no resolvConf in the reference config.yaml).
    (
        KubeletConfigParams::new(cri),
        KubeletFlagsParams::new(node, node, cri),
    )
}

#[test]
fn config_yaml_matches_kubeadm() {
    let (c, _) = reference_params();
    let yaml = kubelet::config_yaml(&c).unwrap();
    assert_matches_reference(&yaml, "kubelet/config.yaml");
}

#[test]
fn instance_config_matches_kubeadm() {
    let (c, _) = reference_params();
    assert_eq!(
        kubelet::instance_config_yaml(&c.cri_socket),
        fixture("kubelet/instance-config.yaml")
    );
}

#[test]
fn kubeadm_flags_env_matches_kubeadm() {
    let (_, f) = reference_params();
    assert_eq!(
        kubelet::kubeadm_flags_env(&f),
        fixture("kubelet/kubeadm-flags.env")
    );
}

#[test]
fn plan_writes_reference_files_with_modes() {
    let (c, f) = reference_params();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("var/lib/kubelet");
    let plan = kubelet::plan_kubelet_files(&c, &f, &dir).unwrap();
    let names: Vec<(String, u32)> = plan
        .files
        .iter()
        .map(|p| {
            (
                p.path.strip_prefix(&dir).unwrap().display().to_string(),
                p.mode,
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("kubeadm-flags.env".to_string(), 0o644),
            ("instance-config.yaml".to_string(), 0o644),
            ("config.yaml".to_string(), 0o644),
        ]
    );
    assert_eq!(plan.dirs.len(), 1);
    assert_eq!(plan.dirs[0].mode, 0o700);
    plan.apply().unwrap();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().mode() & 0o7777,
        KUBELET_DIR_MODE
    );
    for name in ["kubeadm-flags.env", "instance-config.yaml", "config.yaml"] {
        let p = dir.join(name);
        assert_eq!(
            std::fs::metadata(&p).unwrap().mode() & 0o7777,
            KUBELET_FILE_MODE,
            "{name}"
        );
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            fixture(&format!("kubelet/{name}")),
            "{name}"
        );
    }
}

#[test]
fn cluster_config_matches_kubeadm_component_config() {
    // The cluster-wide KubeletConfiguration (kubelet-config ConfigMap content) equals the
    // KubeletConfiguration document of `kubeadm config print init-defaults --component-configs`.
    let (c, _) = reference_params();
    let cluster = kubelet::kubelet_config_yaml(&kubelet::cluster_kubelet_config(&c).unwrap());
    let all = fixture("config/init-defaults-with-componentconfigs.yaml");
    let doc = all
        .split("---\n")
        .find(|d| d.contains("kind: KubeletConfiguration"))
        .expect("KubeletConfiguration document in the fixture");
    assert_eq!(cluster, doc);
}
