//! Step `kubeconfig` (spec §14.7): when `/etc/kubernetes/kubelet.conf` points at the
//! control-plane endpoint and that differs from this node's own API endpoint, points it at
//! `https://<advertiseAddress>:<bindPort>` (kubeadm's local mode) and restarts the kubelet.

use std::path::Path;

use crate::config::NodeConfig;
use crate::kube::ServiceManager;
use crate::kubeconfig::{control_plane_endpoint_url, local_endpoint_url, Kubeconfig};

/// The kubelet's kubeconfig.
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";

/// The new `server` of kubelet.conf, or `None` when nothing changes (pure: reads the file).
pub fn plan(root: &Path, cfg: &NodeConfig) -> anyhow::Result<Option<String>> {
    let path = crate::fsutil::under_root(root, KUBELET_CONF);
    if !path.exists() {
        return Ok(None);
    }
    let (Some(adv), Some(ep)) = (cfg.advertise_address(), cfg.local_api_endpoint()) else {
        return Ok(None);
    };
    let port = u16::try_from(ep.bind_port)?;
    let cpe =
        control_plane_endpoint_url(Some(cfg.cluster.control_plane_endpoint.as_str()), adv, port)?;
    let local = local_endpoint_url(adv, port);
    let kc = Kubeconfig::load(&path)?;
    Ok((kc.server() == Some(cpe.as_str()) && cpe != local).then_some(local))
}

/// Points kubelet.conf at `server` and restarts the kubelet.
pub fn apply(root: &Path, server: &str, services: &dyn ServiceManager) -> anyhow::Result<()> {
    let path = crate::fsutil::under_root(root, KUBELET_CONF);
    let mut kc = Kubeconfig::load(&path)?;
    kc.set_server(server);
    kc.write(&path)?;
    services.restart("kubelet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, HostFacts, Mode};

    fn cfg(cpe: &str) -> NodeConfig {
        let facts = HostFacts {
            hostname: "cp1".into(),
            default_address: Ok("192.0.2.2".parse().unwrap()),
            active_staged_version: None,
            staged_versions: None,
            cri_sockets: vec![],
        };
        let text = format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
             localAPIEndpoint:\n  advertiseAddress: 192.0.2.2\n  bindPort: 6443\n\
             nodeRegistration:\n  name: cp1\n  criSocket: unix:///var/run/containerd/containerd.sock\n\
             ---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
             controlPlaneEndpoint: \"{cpe}\"\n"
        );
        load_str("t", &text, &facts, Some(Mode::Init)).unwrap()
    }

    #[test]
    fn switches_to_the_local_endpoint_only_from_the_control_plane_endpoint() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("etc/kubernetes/kubelet.conf");
        assert_eq!(plan(d.path(), &cfg("lb.example:6443")).unwrap(), None);
        let kc = Kubeconfig::bootstrap_kubelet("https://lb.example:6443", b"ca", "t.x");
        kc.write(&path).unwrap();
        assert_eq!(
            plan(d.path(), &cfg("lb.example:6443")).unwrap().as_deref(),
            Some("https://192.0.2.2:6443")
        );
        // No control-plane endpoint: it is the local one already.
        assert_eq!(plan(d.path(), &cfg("")).unwrap(), None);
        let services = crate::kube::NoServices::default();
        apply(d.path(), "https://192.0.2.2:6443", &services).unwrap();
        assert_eq!(
            Kubeconfig::load(&path).unwrap().server(),
            Some("https://192.0.2.2:6443")
        );
        assert_eq!(services.calls(), ["restart kubelet"]);
        assert_eq!(plan(d.path(), &cfg("lb.example:6443")).unwrap(), None);
    }
}
