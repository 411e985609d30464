//! User patches (`patches.directory`, spec §5.8) applied to static pods and the kubelet config.

use std::fs;
use std::path::Path;

use firstboot::kubelet::{self, KubeletConfigParams};
use firstboot::manifests::{self, Component, ControlPlaneParams, EtcdMembership, PatchSet};
use k8s_openapi::api::core::v1::Pod;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn patched_pod(p: &ControlPlaneParams, c: Component) -> Pod {
    let yaml = manifests::manifest_yaml(p, c, &EtcdMembership::NewCluster).unwrap();
    serde_yaml::from_str(&yaml).unwrap()
}

#[test]
fn patches_apply_to_manifests_and_kubelet_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // strategic (default): merge env and volume mounts by key, change resources
    write(
        d,
        "kube-apiserver0.yaml",
        "spec:\n  containers:\n  - name: kube-apiserver\n    env:\n    - name: GOGC\n      value: \"50\"\n    resources:\n      requests:\n        cpu: 500m\n",
    );
    // a later file for the same target wins; two documents in one file apply in order
    write(
        d,
        "kube-apiserver1.yaml",
        "spec:\n  containers:\n  - name: kube-apiserver\n    env:\n    - name: GOGC\n      value: \"75\"\n---\nmetadata:\n  labels:\n    patched: \"yes\"\n",
    );
    // JSON patch appends an etcd flag
    write(
        d,
        "etcd+json.yaml",
        "- op: add\n  path: /spec/containers/0/command/-\n  value: --quota-backend-bytes=8589934592\n",
    );
    // merge patch, in a sub-directory (picked up too)
    write(
        d,
        "sub/kube-scheduler+merge.json",
        r#"{"metadata": {"annotations": {"team": "infra"}}}"#,
    );
    // kubelet configuration
    write(
        d,
        "kubeletconfiguration.yaml",
        "maxPods: 64\nsyncFrequency: 2m\n",
    );
    // ignored files
    write(d, "etcd.yml", "metadata: {}\n");
    write(d, "kube-proxy.yaml", "metadata: {}\n");
    write(d, "kube-controller-manager.yaml", "\n");

    let set = PatchSet::load(d).unwrap();
    let ignored: Vec<String> = set
        .ignored
        .iter()
        .map(|(p, _)| p.strip_prefix(d).unwrap().display().to_string())
        .collect();
    assert_eq!(
        ignored,
        [
            "etcd.yml",
            "kube-controller-manager.yaml",
            "kube-proxy.yaml"
        ]
    );

    let mut p = ControlPlaneParams::new("v1.36.2", "vm", "192.0.2.2".parse().unwrap());
    p.patches = Some(set.clone());

    let api = patched_pod(&p, Component::KubeApiserver);
    let c = &api.spec.as_ref().unwrap().containers[0];
    let env = c.env.as_ref().unwrap();
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].value.as_deref(), Some("75"));
    assert_eq!(
        c.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0,
        "500m"
    );
    assert_eq!(api.metadata.labels.as_ref().unwrap()["patched"], "yes");
    // untouched parts stay as generated
    assert_eq!(c.volume_mounts.as_ref().unwrap().len(), 2);
    assert!(c
        .command
        .as_ref()
        .unwrap()
        .contains(&"--secure-port=6443".to_string()));

    let etcd = patched_pod(&p, Component::Etcd);
    assert_eq!(
        etcd.spec.as_ref().unwrap().containers[0]
            .command
            .as_ref()
            .unwrap()
            .last()
            .unwrap(),
        "--quota-backend-bytes=8589934592"
    );
    let sched = patched_pod(&p, Component::KubeScheduler);
    assert_eq!(
        sched.metadata.annotations.as_ref().unwrap()["team"],
        "infra"
    );
    // a target without patches is byte-identical to the unpatched manifest
    let mut plain = p.clone();
    plain.patches = None;
    assert_eq!(
        manifests::manifest_yaml(
            &p,
            Component::KubeControllerManager,
            &EtcdMembership::NewCluster
        )
        .unwrap(),
        manifests::manifest_yaml(
            &plain,
            Component::KubeControllerManager,
            &EtcdMembership::NewCluster
        )
        .unwrap()
    );

    // kubelet: node config patched (durations normalised), cluster-wide config untouched
    let mut k = KubeletConfigParams::new("unix:///var/run/containerd/containerd.sock");
    k.patches = Some(set);
    let node: serde_yaml::Value = serde_yaml::from_str(&kubelet::config_yaml(&k).unwrap()).unwrap();
    assert_eq!(node["maxPods"], 64);
    assert_eq!(node["syncFrequency"], "2m0s");
    assert_eq!(
        node["containerRuntimeEndpoint"],
        "unix:///var/run/containerd/containerd.sock"
    );
    let cluster = kubelet::cluster_kubelet_config(&k).unwrap();
    assert!(cluster.get("maxPods").is_none());
}

#[test]
fn bad_patches_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etcd+bogus.yaml", "a: 1\n");
    let err = PatchSet::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("etcd+bogus.yaml"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "kube-scheduler+json.yaml",
        "- op: remove\n  path: /spec/nothing\n",
    );
    let mut p = ControlPlaneParams::new("v1.36.2", "vm", "192.0.2.2".parse().unwrap());
    p.patches = Some(PatchSet::load(dir.path()).unwrap());
    let err = manifests::manifest_yaml(&p, Component::KubeScheduler, &EtcdMembership::NewCluster)
        .unwrap_err();
    assert!(
        err.to_string().contains("kube-scheduler+json.yaml"),
        "{err}"
    );

    let err = PatchSet::load(Path::new("/nonexistent/patches")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/patches"), "{err}");
}
