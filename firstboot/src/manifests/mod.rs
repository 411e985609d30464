//! Static pod manifests for etcd and the control plane, as kubeadm writes them (spec §5).
//!
//! Inputs are plain structs ([`ControlPlaneParams`]) filled from the v1beta4 configuration; pods
//! are built from `k8s_openapi` types and serialised like kubeadm (JSON → go-yaml v2, see
//! [`goyaml`]). Planning ([`plan_control_plane`], [`plan_local_etcd`]) is separate from writing
//! ([`Plan::apply`]) so `--dry-run` can print the plan. User patches (`patches.directory`) are
//! loaded with [`PatchSet::load`] and applied last ([`ControlPlaneParams::patches`]).
//! [`images_list`] gives `kubeadm config images list`; [`same_pod`] is kubeadm's semantic
//! "manifest unchanged" test.
//!
//! ```
//! use firstboot::manifests::{self, Component, ControlPlaneParams, EtcdMembership};
//! let p = ControlPlaneParams::new("v1.36.2", "vm", "192.0.2.2".parse().unwrap());
//! let yaml = manifests::manifest_yaml(&p, Component::KubeScheduler, &EtcdMembership::NewCluster).unwrap();
//! assert!(yaml.contains("- --kubeconfig=/etc/kubernetes/scheduler.conf\n"));
//! let plan = manifests::plan_control_plane(&p, std::path::Path::new("/tmp/root/etc/kubernetes/manifests")).unwrap();
//! assert_eq!(plan.files.len(), 3);
//! ```

pub mod args;
pub mod goyaml;
pub mod images;
pub mod params;
pub mod patches;
pub mod plan;
pub mod pod;

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

pub use args::{arguments_to_command, Arg, ArgOrder};
pub use images::{
    images, images_list, images_list_yaml, AddonImageParams, ComponentTags, Images, TargetVersion,
};
pub use params::{
    detect_optional_ca_dirs, proxy_env_vars, ComponentParams, ControlPlaneParams, EtcdMember,
    EtcdMembership, EtcdParams, ExternalEtcdParams, HostPathMount, LocalEtcdParams,
    OPTIONAL_CA_DIRS,
};
pub use patches::{PatchError, PatchSet};
pub use plan::{Plan, PlannedDir, PlannedFile, WriteError};
pub use pod::{apiserver_pod, controller_manager_pod, etcd_pod, scheduler_pod};

/// Mode of the manifest files.
pub const MANIFEST_FILE_MODE: u32 = 0o600;
/// Mode of `/etc/kubernetes/manifests` when created.
pub const MANIFEST_DIR_MODE: u32 = 0o700;
/// Mode of the etcd data directory when created.
pub const ETCD_DATA_DIR_MODE: u32 = 0o700;

/// Errors building manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A configuration value is unusable; `field` names it in v1beta4 terms.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The configuration field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A user patch (`patches.directory`) failed.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// Serialising a pod failed.
    #[error("serialising the {component} manifest: {message}")]
    Serialize {
        /// Component name.
        component: String,
        /// Serializer error.
        message: String,
    },
}

/// One of kubeadm's static pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// Local etcd.
    Etcd,
    /// kube-apiserver.
    KubeApiserver,
    /// kube-controller-manager.
    KubeControllerManager,
    /// kube-scheduler.
    KubeScheduler,
}

impl Component {
    /// The three control-plane components, in kubeadm's phase order.
    pub const CONTROL_PLANE: [Component; 3] = [
        Component::KubeApiserver,
        Component::KubeControllerManager,
        Component::KubeScheduler,
    ];

    /// Pod and container name (`kube-apiserver`).
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::KubeApiserver => "kube-apiserver",
            Component::KubeControllerManager => "kube-controller-manager",
            Component::KubeScheduler => "kube-scheduler",
        }
    }

    /// Manifest file name (`kube-apiserver.yaml`).
    pub fn file_name(self) -> String {
        format!("{}.yaml", self.name())
    }

    /// The v1beta4 ClusterConfiguration field configuring it.
    pub fn config_field(self) -> &'static str {
        match self {
            Component::Etcd => "etcd.local",
            Component::KubeApiserver => "apiServer",
            Component::KubeControllerManager => "controllerManager",
            Component::KubeScheduler => "scheduler",
        }
    }
}

/// Build the pod for `component` (`membership` only matters for etcd).
pub fn build_pod(
    p: &ControlPlaneParams,
    component: Component,
    membership: &EtcdMembership,
) -> Result<Pod, ManifestError> {
    match component {
        Component::Etcd => etcd_pod(p, membership),
        Component::KubeApiserver => apiserver_pod(p),
        Component::KubeControllerManager => controller_manager_pod(p),
        Component::KubeScheduler => scheduler_pod(p),
    }
}

/// Serialise a pod as kubeadm does. `legacy_creation_timestamp` adds `creationTimestamp: null`
/// (kubeadm ≤ 1.35; 1.36 omits it).
pub fn pod_yaml(pod: &Pod, legacy_creation_timestamp: bool) -> Result<String, ManifestError> {
    let err = |e: serde_json::Error| ManifestError::Serialize {
        component: pod.metadata.name.clone().unwrap_or_default(),
        message: e.to_string(),
    };
    let mut v = serde_json::to_value(pod).map_err(err)?;
    if legacy_creation_timestamp {
        if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.insert("creationTimestamp".into(), serde_json::Value::Null);
        }
    }
    Ok(goyaml::to_string(&v))
}

/// Parse a static pod manifest (kubeadm's or a user-edited one).
pub fn pod_from_yaml(text: &str, what: &str) -> Result<Pod, ManifestError> {
    serde_yaml::from_str(text).map_err(|e| ManifestError::Invalid {
        field: what.to_string(),
        message: format!("not a Pod manifest: {e}"),
    })
}

/// kubeadm's "manifest unchanged" test (spec §14.5): both texts parse to the same Pod, whatever
/// their formatting. Unparsable text counts as different.
pub fn same_pod(a: &str, b: &str) -> bool {
    match (pod_from_yaml(a, "a"), pod_from_yaml(b, "b")) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The manifest text for `component`.
pub fn manifest_yaml(
    p: &ControlPlaneParams,
    component: Component,
    membership: &EtcdMembership,
) -> Result<String, ManifestError> {
    let mut pod = build_pod(p, component, membership)?;
    if let Some(set) = p.patches.as_ref().filter(|s| s.has(component.name())) {
        pod = patch_pod(&pod, set, component.name())?;
    }
    pod_yaml(&pod, p.legacy()?)
}

/// Apply the user's patches for `target` to `pod` (kubeadm patches the Pod's YAML, then reads it
/// back into a Pod, so unknown fields are dropped).
pub fn patch_pod(pod: &Pod, set: &PatchSet, target: &str) -> Result<Pod, ManifestError> {
    let ser = |e: serde_json::Error| ManifestError::Serialize {
        component: target.to_string(),
        message: e.to_string(),
    };
    let mut v = serde_json::to_value(pod).map_err(ser)?;
    set.apply(target, &mut v, true)?;
    serde_json::from_value(v).map_err(|e| ManifestError::Invalid {
        field: format!("patches for {target}"),
        message: format!("the patched manifest is not a valid Pod: {e}"),
    })
}

/// Plan one control-plane manifest (`kubeadm init phase control-plane <component>`) in
/// `manifest_dir` (root-joined `/etc/kubernetes/manifests`).
pub fn plan_component(
    p: &ControlPlaneParams,
    component: Component,
    manifest_dir: &Path,
) -> Result<Plan, ManifestError> {
    let mut plan = Plan::default();
    plan.dir(manifest_dir, MANIFEST_DIR_MODE);
    let yaml = manifest_yaml(p, component, &EtcdMembership::NewCluster)?;
    plan.file(
        manifest_dir.join(component.file_name()),
        MANIFEST_FILE_MODE,
        yaml,
    );
    Ok(plan)
}

/// Plan kube-apiserver, kube-controller-manager and kube-scheduler (`control-plane all`).
pub fn plan_control_plane(
    p: &ControlPlaneParams,
    manifest_dir: &Path,
) -> Result<Plan, ManifestError> {
    let mut plan = Plan::default();
    for c in Component::CONTROL_PLANE {
        plan.extend(plan_component(p, c, manifest_dir)?);
    }
    Ok(plan)
}

/// Plan the local etcd manifest and its data directory (`etcd local` on init, `etcd-join` on
/// control-plane join). `etcd_data_dir` is the root-joined `etcd.local.dataDir`.
pub fn plan_local_etcd(
    p: &ControlPlaneParams,
    membership: &EtcdMembership,
    manifest_dir: &Path,
    etcd_data_dir: &Path,
) -> Result<Plan, ManifestError> {
    let mut plan = Plan::default();
    plan.dir(etcd_data_dir, ETCD_DATA_DIR_MODE);
    plan.dir(manifest_dir, MANIFEST_DIR_MODE);
    let yaml = manifest_yaml(p, Component::Etcd, membership)?;
    plan.file(
        manifest_dir.join(Component::Etcd.file_name()),
        MANIFEST_FILE_MODE,
        yaml,
    );
    Ok(plan)
}
