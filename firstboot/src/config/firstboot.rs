//! `kind: FirstbootConfiguration` (`kubebake.io/v1alpha1`): kubebake's own settings for a node.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// API group/version of [`FirstbootConfiguration`].
pub const FIRSTBOOT_API_VERSION: &str = "kubebake.io/v1alpha1";

/// Default status directory (journal, lock, markers), relative to the root.
pub const DEFAULT_STATUS_DIR: &str = "/var/lib/kubebake/firstboot";
/// Default Cluster API success sentinel, relative to the root.
pub const DEFAULT_SUCCESS_SENTINEL: &str = "/run/cluster-api/bootstrap-success.complete";

/// kubebake settings that have no place in kubeadm's API.
///
/// ```yaml
/// apiVersion: kubebake.io/v1alpha1
/// kind: FirstbootConfiguration
/// kubernetesVersion: v1.36.2      # staged bundle under /opt/kubebake/versions/ to use
/// skipPhases: [preflight]
/// uploadCerts: true               # kubeadm --upload-certs (control-plane join with a certificate key)
/// timeouts:
///   lockWait: 30s                 # how long a second run waits for the lock (default 0s: fail at once)
/// joinMaterial:                  # when the join material expires (join only; checked before joining)
///   tokenExpires: "2026-11-27T10:00:00Z"
///   certificateKeyExpires: "2026-11-26T12:00:00Z"
/// status:
///   directory: /var/lib/kubebake/firstboot
///   successSentinel: /run/cluster-api/bootstrap-success.complete
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FirstbootConfiguration {
    /// Always `kubebake.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// Always `FirstbootConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Which staged Kubernetes version (`/opt/kubebake/versions/<v>`) to use; empty = the active one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kubernetes_version: String,
    /// Phases to skip, in addition to kubeadm's `skipPhases` and `--skip-phases`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    /// Timeouts of firstboot itself.
    #[serde(default)]
    pub timeouts: FirstbootTimeouts,
    /// Upload the cluster CAs and service-account keys to Secret `kube-system/kubeadm-certs`
    /// for control-plane join (kubeadm's `--upload-certs`; also the `--upload-certs` flag).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upload_certs: bool,
    /// Where status is reported.
    #[serde(default)]
    pub status: StatusSettings,
    /// Known expiry of the join material in this configuration (join only): a join whose
    /// token or certificate key has expired fails before writing anything. Written by
    /// `firstboot token create --print-join-config`.
    #[serde(default, skip_serializing_if = "JoinMaterial::is_empty")]
    pub join_material: JoinMaterial,
}

/// `joinMaterial` of a [`FirstbootConfiguration`]: expiry times (RFC 3339) of the bootstrap
/// token and of the certificate key (the `kubeadm-certs` Secret) a join uses; empty = unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JoinMaterial {
    /// When `discovery.bootstrapToken.token` (and `tlsBootstrapToken`) expires.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_expires: String,
    /// When `controlPlane.certificateKey` stops working (the `kubeadm-certs` Secret's TTL).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_key_expires: String,
}

impl JoinMaterial {
    /// Whether no expiry is known.
    pub fn is_empty(&self) -> bool {
        self.token_expires.is_empty() && self.certificate_key_expires.is_empty()
    }
}

/// `timeouts` of a [`FirstbootConfiguration`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FirstbootTimeouts {
    /// How long to wait for another run's lock before failing (default `0s`: fail immediately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait: Option<GoDuration>,
}

/// `status` of a [`FirstbootConfiguration`]: where the journal and markers go (paths under `--root`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StatusSettings {
    /// Directory for `status.json`, the lock, the `failed` marker and the success copy.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub directory: String,
    /// Cluster API bootstrap success sentinel.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub success_sentinel: String,
}

impl FirstbootConfiguration {
    /// Fills unset fields with their defaults.
    pub fn set_defaults(&mut self) {
        if self.api_version.is_empty() {
            self.api_version = FIRSTBOOT_API_VERSION.to_string();
        }
        if self.kind.is_empty() {
            self.kind = "FirstbootConfiguration".to_string();
        }
        if self.timeouts.lock_wait.is_none() {
            self.timeouts.lock_wait = Some(GoDuration::from_secs(0));
        }
        if self.status.directory.is_empty() {
            self.status.directory = DEFAULT_STATUS_DIR.to_string();
        }
        if self.status.success_sentinel.is_empty() {
            self.status.success_sentinel = DEFAULT_SUCCESS_SENTINEL.to_string();
        }
    }
}
