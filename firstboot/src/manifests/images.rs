//! Control-plane image names and kubeadm's `config images list` (spec §1.3).

use super::params::{ControlPlaneParams, EtcdParams};
use super::ManifestError;

/// The default image repository.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";
/// Where CI builds (`kubernetesVersion: ci/...`) take control-plane and kube-proxy images from
/// when `imageRepository` is the default.
pub const CI_IMAGE_REPOSITORY: &str = "gcr.io/k8s-staging-ci-images";

/// The tags a kubeadm of `kubeadm_minor` uses for a control plane of `target_minor`.
pub use offline::version::component_versions as component_tags;
/// etcd, CoreDNS and pause tags baked into one kubeadm minor (the table is shared with bundle
/// creation in `offline::version`).
pub use offline::version::ComponentVersions as ComponentTags;
/// kubeadm minors whose constants are built in.
pub use offline::version::KNOWN_KUBEADM_MINORS;

/// A parsed `kubernetesVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVersion {
    /// Normalised version with a `v` prefix and without a `ci/` prefix (`v1.36.2`).
    pub version: String,
    /// Minor version (36).
    pub minor: u64,
    /// True for `ci/...` versions.
    pub ci: bool,
}

impl TargetVersion {
    /// Parse `v1.36.2`, `1.36.2` or `ci/v1.37.0-alpha.1.2+abc`.
    pub fn parse(s: &str) -> Result<Self, ManifestError> {
        let t = s.trim();
        let (ci, t) = match t.strip_prefix("ci/") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let body = t.strip_prefix('v').unwrap_or(t);
        let v = semver::Version::parse(body).map_err(|e| ManifestError::Invalid {
            field: "kubernetesVersion".into(),
            message: format!("{s:?} is not a Kubernetes version (vMAJOR.MINOR.PATCH): {e}"),
        })?;
        Ok(TargetVersion {
            version: format!("v{body}"),
            minor: v.minor,
            ci,
        })
    }

    /// kubeadm's `KubernetesVersionToImageTag`: every character outside `[-A-Za-z0-9_.]` becomes `_`.
    pub fn image_tag(&self) -> String {
        offline::version::image_tag(&self.version)
    }
}

/// Image names kubeadm derives from a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// `<repo>/kube-apiserver:<tag>`.
    pub kube_apiserver: String,
    /// `<repo>/kube-controller-manager:<tag>`.
    pub kube_controller_manager: String,
    /// `<repo>/kube-scheduler:<tag>`.
    pub kube_scheduler: String,
    /// `<repo>/kube-proxy:<tag>`.
    pub kube_proxy: String,
    /// CoreDNS image (`registry.k8s.io/coredns/coredns:v1.14.2`).
    pub coredns: String,
    /// `<repo>/pause:<tag>`.
    pub pause: String,
    /// etcd image; `None` with external etcd.
    pub etcd: Option<String>,
}

/// Add-on settings that change `config images list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddonImageParams {
    /// `dns.disabled`.
    pub dns_disabled: bool,
    /// `dns.imageRepository`.
    pub dns_image_repository: Option<String>,
    /// `dns.imageTag`.
    pub dns_image_tag: Option<String>,
    /// `proxy.disabled`.
    pub proxy_disabled: bool,
}

/// Compute every image name for `p` (spec §1.3).
pub fn images(p: &ControlPlaneParams, addons: &AddonImageParams) -> Result<Images, ManifestError> {
    let v = TargetVersion::parse(&p.kubernetes_version)?;
    let tags = p.component_tags()?;
    let repo = p.image_repository.trim_end_matches('/');
    let cp_repo = if v.ci && repo == DEFAULT_IMAGE_REPOSITORY {
        CI_IMAGE_REPOSITORY
    } else {
        repo
    };
    let tag = v.image_tag();
    let kube = |name: &str| format!("{cp_repo}/{name}:{tag}");
    let dns_repo = addons
        .dns_image_repository
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(repo);
    let coredns_repo = if dns_repo == DEFAULT_IMAGE_REPOSITORY {
        format!("{dns_repo}/coredns")
    } else {
        dns_repo.to_string()
    };
    let coredns_tag = addons
        .dns_image_tag
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(&tags.coredns);
    let etcd = match &p.etcd {
        EtcdParams::Local(l) => {
            let r = l
                .image_repository
                .as_deref()
                .filter(|r| !r.is_empty())
                .unwrap_or(repo);
            let t = l
                .image_tag
                .as_deref()
                .filter(|t| !t.is_empty())
                .unwrap_or(&tags.etcd);
            Some(format!("{r}/etcd:{t}"))
        }
        EtcdParams::External(_) => None,
    };
    Ok(Images {
        kube_apiserver: kube("kube-apiserver"),
        kube_controller_manager: kube("kube-controller-manager"),
        kube_scheduler: kube("kube-scheduler"),
        kube_proxy: kube("kube-proxy"),
        coredns: format!("{coredns_repo}/coredns:{coredns_tag}"),
        pause: format!("{repo}/pause:{}", tags.pause),
        etcd,
    })
}

/// `kubeadm config images list` for `p`, in kubeadm's order: apiserver, controller-manager,
/// scheduler, kube-proxy (unless disabled), CoreDNS (unless disabled), pause, etcd (local only).
pub fn images_list(
    p: &ControlPlaneParams,
    addons: &AddonImageParams,
) -> Result<Vec<String>, ManifestError> {
    let i = images(p, addons)?;
    let mut out = vec![
        i.kube_apiserver,
        i.kube_controller_manager,
        i.kube_scheduler,
    ];
    if !addons.proxy_disabled {
        out.push(i.kube_proxy);
    }
    if !addons.dns_disabled {
        out.push(i.coredns);
    }
    out.push(i.pause);
    out.extend(i.etcd);
    Ok(out)
}

/// `kubeadm config images list -o yaml`: an `output.kubeadm.k8s.io/v1alpha3` `Images` document.
pub fn images_list_yaml(images: &[String]) -> String {
    super::goyaml::to_string(&serde_json::json!({
        "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
        "kind": "Images",
        "images": images,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parsing_and_tags() {
        let v = TargetVersion::parse("1.36.2").unwrap();
        assert_eq!(v.version, "v1.36.2");
        assert_eq!(v.minor, 36);
        let v = TargetVersion::parse("ci/v1.37.0-alpha.1.20+abcdef").unwrap();
        assert!(v.ci);
        assert_eq!(v.image_tag(), "v1.37.0-alpha.1.20_abcdef");
        assert!(TargetVersion::parse("stable-1").is_err());
    }

    #[test]
    fn etcd_map_by_target_minor() {
        assert_eq!(component_tags(36, 36).unwrap().etcd, "3.6.8-0");
        assert_eq!(component_tags(36, 37).unwrap().etcd, "3.6.8-0");
        assert_eq!(component_tags(35, 35).unwrap().etcd, "3.6.6-0");
        assert_eq!(component_tags(35, 35).unwrap().pause, "3.10.1");
        assert_eq!(component_tags(37, 37).unwrap().coredns, "v1.14.2");
        assert!(component_tags(34, 34).is_none());
    }
}
