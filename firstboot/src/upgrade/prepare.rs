//! Step `prepare`: decides whether a bundle may be applied (its version against the running one
//! and `upgrade plan`'s skew rules) and stages it beside the running version with bake's staging
//! code (`bake::stage`: verified — with the signature when a public key is given — and unpacked
//! under `/opt/kubebake/versions/<version>`, not activated).

use std::path::{Path, PathBuf};

use offline::version::{KubeVersion, VersionMap};

use super::plan::skew_problem;

/// Why a bundle is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The bundle carries another version than the one asked for.
    #[error("bundle {bundle} carries Kubernetes {carried}, not the requested {requested}")]
    WrongVersion {
        /// Bundle file.
        bundle: String,
        /// Its version.
        carried: String,
        /// `upgrade apply VERSION`.
        requested: String,
    },
    /// The bundle is older than what runs (no silent downgrade).
    #[error(
        "bundle {bundle} carries Kubernetes {carried}, older than the running {running}: \
         upgrades never downgrade (to return to the version before an upgrade use \
         `firstboot upgrade rollback`)"
    )]
    Downgrade {
        /// Bundle file.
        bundle: String,
        /// Its version.
        carried: String,
        /// Running version.
        running: String,
    },
    /// The version skew policy forbids the step.
    #[error("upgrade from {running} to {target} is not allowed: {reason}")]
    Skew {
        /// Running version.
        running: String,
        /// Target.
        target: String,
        /// The rule broken.
        reason: String,
    },
}

/// Checks that `bundle_version` (the version the bundle carries) may be applied as `requested`
/// on a cluster running `running` with these kubelets. Re-applying the running version is allowed
/// (as kubeadm does, e.g. after a configuration change).
pub fn check_target(
    bundle: &str,
    running: &KubeVersion,
    requested: &KubeVersion,
    bundle_version: &KubeVersion,
    kubelets: &VersionMap,
) -> Result<(), Refusal> {
    if bundle_version != requested {
        return Err(Refusal::WrongVersion {
            bundle: bundle.to_string(),
            carried: bundle_version.to_string(),
            requested: requested.to_string(),
        });
    }
    if bundle_version < running {
        return Err(Refusal::Downgrade {
            bundle: bundle.to_string(),
            carried: bundle_version.to_string(),
            running: running.to_string(),
        });
    }
    if bundle_version == running {
        return Ok(());
    }
    match skew_problem(running, bundle_version, kubelets) {
        Some(reason) => Err(Refusal::Skew {
            running: running.to_string(),
            target: bundle_version.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The Kubernetes version a bundle carries (read from its manifest, the archive's first entry).
pub fn bundle_version(bundle: &Path) -> anyhow::Result<KubeVersion> {
    let m = offline::bundle::read_manifest(bundle)
        .map_err(|e| anyhow::anyhow!("bundle {}: {e}", bundle.display()))?;
    KubeVersion::parse(&m.kubernetes_version).map_err(|e| {
        anyhow::anyhow!(
            "bundle {}: kubernetesVersion {:?}: {e}",
            bundle.display(),
            m.kubernetes_version
        )
    })
}

/// How to stage the bundle.
#[derive(Debug, Clone)]
pub struct StageRequest {
    /// Node root.
    pub root: PathBuf,
    /// The bundle.
    pub bundle: PathBuf,
    /// minisign public key the signature must verify with.
    pub public_key: Option<PathBuf>,
    /// Import the images into containerd (only sensible when the root is the live `/`).
    pub import_images: bool,
    /// containerd socket.
    pub containerd_address: String,
    /// `ctr` binary.
    pub ctr: PathBuf,
}

impl StageRequest {
    /// A request for `bundle` under `root`; images are imported only when `root` is `/`.
    pub fn new(root: &Path, bundle: &Path, public_key: Option<PathBuf>) -> Self {
        let d = bake::stage::StageOptions::default();
        StageRequest {
            root: root.to_path_buf(),
            bundle: bundle.to_path_buf(),
            public_key,
            import_images: root == Path::new("/"),
            containerd_address: d.containerd_address,
            ctr: d.ctr,
        }
    }

    fn options(&self, activate: bool) -> bake::stage::StageOptions {
        bake::stage::StageOptions {
            root: self.root.clone(),
            public_key: self.public_key.clone(),
            signature: None,
            import_images: self.import_images && !activate,
            activate,
            containerd_address: self.containerd_address.clone(),
            ctr: self.ctr.clone(),
        }
    }
}

/// Verifies the bundle (and its signature when a key is given) without writing anything
/// (`--dry-run`).
pub fn verify(req: &StageRequest) -> anyhow::Result<offline::bundle::VerifyReport> {
    let opts = offline::bundle::VerifyOptions {
        public_key: req.public_key.clone(),
        signature: None,
    };
    offline::bundle::verify(&req.bundle, &opts, &offline::progress::Silent)
        .map_err(|e| anyhow::anyhow!("bundle {}: {e}", req.bundle.display()))
}

/// Stages the bundle beside the running version (not active). Nothing is written when
/// verification fails.
pub fn stage(req: &StageRequest) -> anyhow::Result<bake::stage::StageReport> {
    bake::stage::stage(&req.bundle, &req.options(false), &offline::progress::Silent)
        .map_err(|e| anyhow::anyhow!("staging bundle {}: {e}", req.bundle.display()))
}

/// Makes the staged `version` active (`/usr/local/bin` links, node-wide files, `staged.json`)
/// from what [`stage`] put on the node, without reading the bundle again; rewrites only what
/// differs.
pub fn activate(
    req: &StageRequest,
    version: &KubeVersion,
) -> anyhow::Result<bake::stage::StageReport> {
    bake::stage::activate_staged(&version.to_string(), &req.options(true))
        .map_err(|e| anyhow::anyhow!("activating the staged {version}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn refusals() {
        let kubelets = VersionMap::from([("v1.35.2".to_string(), vec!["cp1".to_string()])]);
        let r =
            |running, req, carried| check_target("b", &v(running), &v(req), &v(carried), &kubelets);
        assert!(r("v1.35.2", "v1.36.2", "v1.36.2").is_ok());
        assert!(r("v1.35.2", "v1.35.2", "v1.35.2").is_ok());
        assert!(matches!(
            r("v1.35.2", "v1.34.1", "v1.34.1"),
            Err(Refusal::Downgrade { .. })
        ));
        assert!(matches!(
            r("v1.35.2", "v1.36.2", "v1.36.3"),
            Err(Refusal::WrongVersion { .. })
        ));
        let e = r("v1.35.2", "v1.37.0", "v1.37.0").unwrap_err();
        assert!(e.to_string().contains("more than one minor"), "{e}");
        let old = VersionMap::from([("v1.32.0".to_string(), vec!["w1".to_string()])]);
        let e = check_target("b", &v("v1.35.2"), &v("v1.36.2"), &v("v1.36.2"), &old).unwrap_err();
        assert!(e.to_string().contains("kubelet v1.32.0 on w1"), "{e}");
    }
}
