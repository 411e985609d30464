//! The two sources of cluster state for `upgrade plan`: the cluster itself (API server
//! `/version`, Nodes, control-plane Pods, the CoreDNS Deployment — spec §14.1), and, when the API
//! server cannot be reached, the node's own files (static pod manifests' image tags under the
//! root and the active staged version).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use offline::version::{KubeVersion, VersionError, VersionGetter, VersionMap};

use crate::kube::Cluster;

/// The version in an image reference's tag, with the first `_` turned back into `+`
/// (kubeadm's reverse of `KubernetesVersionToImageTag`).
pub fn version_from_image(image: &str) -> Option<String> {
    let name_end = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    let tag = image[name_end..].split('@').next()?.split_once(':')?.1;
    Some(tag.replacen('_', "+", 1))
}

const COMPONENTS: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
];

/// Cluster state read from the node's files under a root.
#[derive(Debug, Clone)]
pub struct NodeStateGetter {
    root: PathBuf,
    node_name: String,
}

impl NodeStateGetter {
    /// State of the node at `root`, reported under `node_name`.
    pub fn new(root: &Path, node_name: &str) -> Self {
        NodeStateGetter {
            root: root.to_path_buf(),
            node_name: node_name.to_string(),
        }
    }

    fn manifest_version(&self, component: &str) -> Option<String> {
        let p = crate::fsutil::under_root(
            &self.root,
            &format!("/etc/kubernetes/manifests/{component}.yaml"),
        );
        let raw = std::fs::read(p).ok()?;
        let pod: Pod = serde_yaml::from_slice(&raw).ok()?;
        let image = pod.spec?.containers.first()?.image.clone()?;
        version_from_image(&image)
    }

    /// The active staged Kubernetes version (`/usr/share/kubebake/staged.json`).
    pub fn staged_version(&self) -> Option<String> {
        let p = crate::fsutil::under_root(&self.root, "/usr/share/kubebake/staged.json");
        let raw = std::fs::read(p).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
        v.get("activeVersion")?.as_str().map(str::to_string)
    }

    fn one(&self, version: Option<String>) -> VersionMap {
        version
            .map(|v| BTreeMap::from([(v, vec![self.node_name.clone()])]))
            .unwrap_or_default()
    }
}

impl VersionGetter for NodeStateGetter {
    fn describe(&self) -> String {
        format!("the node's own files under {}", self.root.display())
    }
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        let v = self
            .manifest_version("kube-apiserver")
            .ok_or_else(|| self.not_available("cluster version (no kube-apiserver manifest)"))?;
        KubeVersion::parse(&v).map_err(|message| VersionError::Failed {
            question: "cluster version".into(),
            message,
        })
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        let v = self
            .staged_version()
            .ok_or_else(|| self.not_available("kubeadm version (nothing staged)"))?;
        KubeVersion::parse(&v).map_err(|message| VersionError::Failed {
            question: "kubeadm version".into(),
            message,
        })
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        offline::version::parse_version_string(label)
            .ok_or_else(|| self.not_available("release labels"))
    }
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        Ok(self.one(self.staged_version()))
    }
    fn component_versions(&self, component: &str) -> Result<VersionMap, VersionError> {
        if !COMPONENTS.contains(&component) {
            return Ok(VersionMap::new());
        }
        Ok(self.one(self.manifest_version(component)))
    }
    fn dns_version(&self) -> Result<String, VersionError> {
        Ok(String::new())
    }
}

/// Cluster state read through the API (spec §14.1).
pub struct ClusterStateGetter<'a> {
    cluster: &'a Cluster,
}

impl<'a> ClusterStateGetter<'a> {
    /// Reads through `cluster`.
    pub fn new(cluster: &'a Cluster) -> Self {
        ClusterStateGetter { cluster }
    }
}

fn failed(question: &str, e: impl std::fmt::Display) -> VersionError {
    VersionError::Failed {
        question: question.to_string(),
        message: e.to_string(),
    }
}

impl VersionGetter for ClusterStateGetter<'_> {
    fn describe(&self) -> String {
        format!("the cluster (kubeconfig {})", self.cluster.kubeconfig())
    }
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        let info = self
            .cluster
            .server_version()
            .map_err(|e| failed("cluster version", e))?;
        KubeVersion::parse(&info.git_version).map_err(|e| failed("cluster version", e))
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        Err(self.not_available("kubeadm version"))
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        offline::version::parse_version_string(label)
            .ok_or_else(|| self.not_available("release labels"))
    }
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        let nodes: Vec<Node> = self
            .cluster
            .list(None, None, None)
            .map_err(|e| failed("kubelet versions", e))?;
        let mut out = VersionMap::new();
        for n in nodes {
            let v = n
                .status
                .and_then(|s| s.node_info)
                .map(|i| i.kubelet_version)
                .unwrap_or_default();
            out.entry(v)
                .or_default()
                .push(n.metadata.name.unwrap_or_default());
        }
        Ok(out)
    }
    fn component_versions(&self, component: &str) -> Result<VersionMap, VersionError> {
        let selector = format!("component={component},tier=control-plane");
        let pods: Vec<Pod> = self
            .cluster
            .list(Some("kube-system"), Some(&selector), None)
            .map_err(|e| failed("control-plane component versions", e))?;
        let mut out = VersionMap::new();
        for p in pods {
            let spec = p.spec.unwrap_or_default();
            let Some(v) = spec
                .containers
                .first()
                .and_then(|c| c.image.as_deref())
                .and_then(version_from_image)
            else {
                continue;
            };
            out.entry(v)
                .or_default()
                .push(spec.node_name.unwrap_or_default());
        }
        Ok(out)
    }
    fn dns_version(&self) -> Result<String, VersionError> {
        let deps: Vec<Deployment> = self
            .cluster
            .list(Some("kube-system"), Some("k8s-app=kube-dns"), None)
            .map_err(|e| failed("CoreDNS version", e))?;
        match deps.len() {
            0 => Ok(String::new()),
            1 => Ok(deps[0]
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.as_deref())
                .and_then(version_from_image)
                .unwrap_or_default()),
            n => Err(failed(
                "CoreDNS version",
                format!("{n} Deployments labelled k8s-app=kube-dns"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_back_to_versions() {
        assert_eq!(
            version_from_image("registry.k8s.io/kube-apiserver:v1.36.2").as_deref(),
            Some("v1.36.2")
        );
        assert_eq!(
            version_from_image("localhost:5000/k8s/kube-apiserver:v1.36.2_k3s.1_x").as_deref(),
            Some("v1.36.2+k3s.1_x")
        );
        assert_eq!(version_from_image("localhost:5000/pause"), None);
    }
}
