//! Version getters: kubeadm's `VersionGetter` questions (spec §14.1) behind one trait, with a
//! release-site implementation over HTTP, an **offline** one that answers every release label
//! from a release index (a bundle's, or the staged `/var/lib/kubebake/release-index.yaml`) and
//! never touches the network, kubeadm's fixed-version getter, and a combinator that takes labels
//! from one getter and cluster state from another (the cluster getter lives in `firstboot`, which
//! has the kube client).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{KubeVersion, ReleaseIndex};

/// Why a version question could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The label is not a kubeadm release label or version (spec §19.5).
    #[error("{0:?} is not a Kubernetes version or release label")]
    InvalidLabel(String),
    /// This getter cannot answer the question (an offline getter asked about a cluster).
    #[error("{question}: not available from {getter}")]
    NotAvailable {
        /// The question (`cluster version`).
        question: &'static str,
        /// The getter (`release index /var/lib/kubebake/release-index.yaml`).
        getter: String,
    },
    /// The answer could not be fetched or parsed.
    #[error("{question}: {message}")]
    Failed {
        /// The question.
        question: String,
        /// What went wrong.
        message: String,
    },
}

/// Versions keyed by version string → node names running it.
pub type VersionMap = BTreeMap<String, Vec<String>>;

/// kubeadm's version questions (spec §14.1).
pub trait VersionGetter {
    /// A short description for messages (`release index <path>`, `mirror <url>`, `cluster`).
    fn describe(&self) -> String;
    /// The cluster's version (API server `/version`).
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        Err(self.not_available("cluster version"))
    }
    /// The version of the kubeadm-equivalent doing the upgrade (the bundle's kubeadm).
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError>;
    /// The version behind `label` (`stable`, `stable-1.36`, `latest-1.37`) or a version string.
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError>;
    /// Kubelet versions → node names.
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        Err(self.not_available("kubelet versions"))
    }
    /// Versions of a control-plane component (`kube-apiserver`, `etcd`, …) → node names, from
    /// the static pods' image tags.
    fn component_versions(&self, _component: &str) -> Result<VersionMap, VersionError> {
        Err(self.not_available("control-plane component versions"))
    }
    /// The deployed CoreDNS image tag (`""` when none).
    fn dns_version(&self) -> Result<String, VersionError> {
        Err(self.not_available("CoreDNS version"))
    }
    /// A [`VersionError::NotAvailable`] naming this getter.
    fn not_available(&self, question: &'static str) -> VersionError {
        VersionError::NotAvailable {
            question,
            getter: self.describe(),
        }
    }
}

impl<G: VersionGetter + ?Sized> VersionGetter for Box<G> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        (**self).cluster_version()
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        (**self).kubeadm_version()
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        (**self).version_from_label(label)
    }
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        (**self).kubelet_versions()
    }
    fn component_versions(&self, c: &str) -> Result<VersionMap, VersionError> {
        (**self).component_versions(c)
    }
    fn dns_version(&self) -> Result<String, VersionError> {
        (**self).dns_version()
    }
}

/// Spec §19.5 step 1: a version string (`v` added when missing), or `None` for a label.
pub fn parse_version_string(s: &str) -> Option<KubeVersion> {
    let s = s.trim();
    let body = s.strip_prefix('v').unwrap_or(s);
    let mut parts = body.splitn(3, '.');
    let (a, b, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let num = |x: &str| {
        !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit()) && (x == "0" || !x.starts_with('0'))
    };
    let pend = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if !(num(a) && num(b) && num(&rest[..pend])) {
        return None;
    }
    KubeVersion::parse(body).ok()
}

/// Spec §19.5 step 5: kubeadm's own version normalised for use as a fallback answer.
pub fn normalize_kubeadm_version(v: &KubeVersion) -> KubeVersion {
    let s = &v.0;
    let base = |patch: u64| semver::Version::new(s.major, s.minor, patch);
    if s.pre.is_empty() {
        return KubeVersion(base(s.patch));
    }
    if s.patch > 0 {
        return KubeVersion(base(s.patch - 1));
    }
    let fields: Vec<&str> = s.pre.as_str().split('.').take(2).collect();
    let pre = if fields.len() == 1 {
        format!("{}.0", fields[0])
    } else {
        fields.join(".")
    };
    let mut out = base(0);
    out.pre = semver::Prerelease::new(&pre).unwrap_or(semver::Prerelease::EMPTY);
    KubeVersion(out)
}

/// Resolves `label` with kubeadm's rules (spec §19.5 steps 1–6), asking `fetch` for the text
/// behind a label (`None` = the fetch failed). A label newer than `kubeadm` (major, or minor of
/// the same major) is replaced by `stable-<kubeadm minor>`; a failed fetch falls back to the
/// normalised kubeadm version.
pub fn resolve_label(
    label: &str,
    kubeadm: &KubeVersion,
    fetch: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<KubeVersion, VersionError> {
    let mut current = label.trim().to_string();
    // Each round either returns or moves to stable-<kubeadm minor> / the fallback version:
    // three rounds always suffice.
    for _ in 0..4 {
        if let Some(v) = parse_version_string(&current) {
            return Ok(v);
        }
        let rest = current
            .strip_prefix("release/")
            .or_else(|| current.strip_prefix("ci/"))
            .unwrap_or(&current)
            .to_string();
        if let Some(v) = parse_version_string(&rest) {
            return Ok(v);
        }
        if !super::is_release_label(&rest) {
            return Err(VersionError::InvalidLabel(label.to_string()));
        }
        match fetch(&rest) {
            None => current = normalize_kubeadm_version(kubeadm).to_string(),
            Some(text) => {
                let text = text.trim().to_string();
                match parse_version_string(&text) {
                    Some(v)
                        if v.major() > kubeadm.major()
                            || (v.major() == kubeadm.major() && v.minor() > kubeadm.minor()) =>
                    {
                        current = format!("stable-{}.{}", kubeadm.major(), kubeadm.minor());
                    }
                    Some(v) => return Ok(v),
                    None => {
                        return Err(VersionError::Failed {
                            question: format!("version behind {rest}"),
                            message: format!("the answer {text:?} is not a version"),
                        })
                    }
                }
            }
        }
    }
    Err(VersionError::Failed {
        question: format!("version behind {label}"),
        message: "label resolution did not settle".into(),
    })
}

/// Answers every release label from a release index; never uses the network. A label the index
/// does not have is answered as kubeadm answers when offline: its own normalised version.
#[derive(Debug, Clone)]
pub struct IndexVersionGetter {
    index: ReleaseIndex,
    origin: String,
    kubeadm: KubeVersion,
}

impl IndexVersionGetter {
    /// A getter over `index` (read from `origin`, for messages). The kubeadm version is the
    /// index's own Kubernetes version (the bundle's kubeadm).
    pub fn new(index: ReleaseIndex, origin: &str) -> Result<Self, VersionError> {
        let kubeadm =
            KubeVersion::parse(&index.kubernetes_version).map_err(|m| VersionError::Failed {
                question: format!("release index {origin}: kubernetesVersion"),
                message: m,
            })?;
        Ok(IndexVersionGetter {
            index,
            origin: origin.to_string(),
            kubeadm,
        })
    }

    /// Reads a `release-index.yaml` file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, VersionError> {
        let origin = path.display().to_string();
        let fail = |message: String| VersionError::Failed {
            question: format!("release index {origin}"),
            message,
        };
        let raw = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let index: ReleaseIndex = serde_yaml::from_slice(&raw).map_err(|e| fail(e.to_string()))?;
        Self::new(index, &origin)
    }

    /// The index.
    pub fn index(&self) -> &ReleaseIndex {
        &self.index
    }
}

impl VersionGetter for IndexVersionGetter {
    fn describe(&self) -> String {
        format!("release index {}", self.origin)
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        Ok(self.kubeadm.clone())
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        let index = &self.index;
        resolve_label(label, &self.kubeadm, &mut |l| {
            index.label(l).map(str::to_string)
        })
    }
}

/// Answers labels from a release site (`<base>/<label>.txt`, as `https://dl.k8s.io/release`)
/// with a short timeout; a failed fetch falls back as kubeadm does.
#[derive(Debug, Clone)]
pub struct MirrorVersionGetter {
    base: String,
    kubeadm: KubeVersion,
    timeout: Duration,
}

impl MirrorVersionGetter {
    /// A getter for the release site at `base`, on behalf of a kubeadm of version `kubeadm`.
    pub fn new(base: &str, kubeadm: KubeVersion, timeout: Duration) -> Self {
        MirrorVersionGetter {
            base: base.trim_end_matches('/').to_string(),
            kubeadm,
            timeout,
        }
    }

    fn fetch(&self, label: &str) -> Option<String> {
        let url = format!("{}/{label}.txt", self.base);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let timeout = self.timeout;
        let result = rt.block_on(async move {
            let client = reqwest::Client::builder().timeout(timeout).build()?;
            let resp = client.get(&url).send().await?.error_for_status()?;
            resp.text().await
        });
        match result {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(
                    "could not fetch release label {label} from {}: {e}",
                    self.base
                );
                None
            }
        }
    }
}

impl VersionGetter for MirrorVersionGetter {
    fn describe(&self) -> String {
        format!("release mirror {}", self.base)
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        Ok(self.kubeadm.clone())
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        resolve_label(label, &self.kubeadm, &mut |l| self.fetch(l))
    }
}

/// kubeadm's `OfflineVersionGetter`: every label answers one fixed version; everything else is
/// asked of the wrapped getter.
pub struct FixedVersionGetter<G> {
    version: KubeVersion,
    inner: G,
}

impl<G: VersionGetter> FixedVersionGetter<G> {
    /// Labels answer `version`; other questions go to `inner`.
    pub fn new(version: KubeVersion, inner: G) -> Self {
        FixedVersionGetter { version, inner }
    }
}

impl<G: VersionGetter> VersionGetter for FixedVersionGetter<G> {
    fn describe(&self) -> String {
        format!(
            "fixed version {} over {}",
            self.version,
            self.inner.describe()
        )
    }
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        self.inner.cluster_version()
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        self.inner.kubeadm_version()
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        if parse_version_string(label).is_some() {
            return self.inner.version_from_label(label);
        }
        Ok(self.version.clone())
    }
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        self.inner.kubelet_versions()
    }
    fn component_versions(&self, c: &str) -> Result<VersionMap, VersionError> {
        self.inner.component_versions(c)
    }
    fn dns_version(&self) -> Result<String, VersionError> {
        self.inner.dns_version()
    }
}

/// Labels and the kubeadm version from `labels` (an index or a mirror); cluster state from
/// `state` (the cluster, or the node's own files when the cluster is unreachable).
pub struct LayeredVersionGetter<L, S> {
    /// Answers labels and the kubeadm version.
    pub labels: L,
    /// Answers cluster, kubelet, component and DNS versions.
    pub state: S,
}

impl<L: VersionGetter, S: VersionGetter> VersionGetter for LayeredVersionGetter<L, S> {
    fn describe(&self) -> String {
        format!("{} + {}", self.labels.describe(), self.state.describe())
    }
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        self.state.cluster_version()
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        self.labels.kubeadm_version()
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        self.labels.version_from_label(label)
    }
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        self.state.kubelet_versions()
    }
    fn component_versions(&self, c: &str) -> Result<VersionMap, VersionError> {
        self.state.component_versions(c)
    }
    fn dns_version(&self) -> Result<String, VersionError> {
        self.state.dns_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn normalisation_follows_spec_19_5_step_5() {
        for (input, want) in [
            ("v1.36.2", "v1.36.2"),
            ("v1.36.2+abc", "v1.36.2"),
            ("v1.36.3-rc.0.5+abc", "v1.36.2"),
            ("v1.37.0-alpha.3.120+abc", "v1.37.0-alpha.3"),
            ("v1.37.0-beta+x", "v1.37.0-beta.0"),
        ] {
            assert_eq!(
                normalize_kubeadm_version(&v(input)).to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn worked_example_of_spec_19_5_step_7() {
        let kubeadm = v("v1.36.2");
        let mut site = |l: &str| match l {
            "stable-1" => Some("v1.37.1\n".to_string()),
            "stable-1.36" => Some("v1.36.4".to_string()),
            "stable-1.35" => Some("v1.35.9".to_string()),
            _ => None,
        };
        assert_eq!(
            resolve_label("stable-1", &kubeadm, &mut site).unwrap(),
            v("v1.36.4")
        );
        assert_eq!(
            resolve_label("stable-1.35", &kubeadm, &mut site).unwrap(),
            v("v1.35.9")
        );
        // Offline: kubeadm's own version.
        assert_eq!(
            resolve_label("stable-1", &kubeadm, &mut |_| None).unwrap(),
            v("v1.36.2")
        );
        // Versions pass through; bad labels are refused.
        assert_eq!(
            resolve_label("1.36.0", &kubeadm, &mut site).unwrap(),
            v("v1.36.0")
        );
        assert!(matches!(
            resolve_label("stable-1.100", &kubeadm, &mut site),
            Err(VersionError::InvalidLabel(_))
        ));
    }

    #[test]
    fn fixed_getter_answers_labels_only() {
        let index = ReleaseIndex {
            api_version: "kubebake.io/v1alpha1".into(),
            kind: "ReleaseIndex".into(),
            generated_at: String::new(),
            source: String::new(),
            kubernetes_version: "v1.36.2".into(),
            labels: [("stable".to_string(), "v1.36.2".to_string())].into(),
            components: BTreeMap::new(),
        };
        let g = FixedVersionGetter::new(v("v1.36.9"), IndexVersionGetter::new(index, "x").unwrap());
        assert_eq!(g.version_from_label("stable-1.36").unwrap(), v("v1.36.9"));
        assert_eq!(g.version_from_label("v1.36.1").unwrap(), v("v1.36.1"));
        assert_eq!(g.kubeadm_version().unwrap(), v("v1.36.2"));
        assert!(matches!(
            g.cluster_version(),
            Err(VersionError::NotAvailable { .. })
        ));
    }
}
