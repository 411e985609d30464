//! Step `control-plane/<component>`: kubeadm's static pod replacement (spec §14.5) for one
//! component — write the new manifest, wait for the kubelet to run it (mirror pod
//! `kubernetes.io/config.hash` changes, then every `component=<name>` pod is Running), and on
//! failure put the old manifest back and say which component failed and why.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use crate::fsutil;
use crate::kube::Cluster;

/// The kubelet's mirror pod hash annotation.
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";

/// What the upgrade asks about the pods the kubelet runs.
pub trait PodStatus {
    /// `kubernetes.io/config.hash` of mirror pod `<component>-<node>` in kube-system
    /// (`None` when the pod or the annotation is missing).
    fn mirror_hash(&self, component: &str, node: &str) -> anyhow::Result<Option<String>>;
    /// Whether there is at least one pod labelled `component=<component>` in kube-system and all
    /// of them are in phase Running.
    fn all_running(&self, component: &str) -> anyhow::Result<bool>;
}

impl PodStatus for Cluster {
    fn mirror_hash(&self, component: &str, node: &str) -> anyhow::Result<Option<String>> {
        let pod: Option<Pod> = self.get(Some("kube-system"), &format!("{component}-{node}"))?;
        Ok(pod.and_then(|p| {
            p.metadata
                .annotations
                .and_then(|a| a.get(CONFIG_HASH_ANNOTATION).cloned())
        }))
    }

    fn all_running(&self, component: &str) -> anyhow::Result<bool> {
        let pods: Vec<Pod> = self.list(
            Some("kube-system"),
            Some(&format!("component={component}")),
            None,
        )?;
        Ok(!pods.is_empty()
            && pods
                .iter()
                .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")))
    }
}

/// How long and how often to wait for the kubelet.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Each wait's limit (`timeouts.upgradeManifests`, default 5 m).
    pub timeout: Duration,
    /// Poll interval (kubeadm: 500 ms).
    pub interval: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Wait {
            timeout: Duration::from_secs(300),
            interval: Duration::from_millis(500),
        }
    }
}

/// Result of one component's replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new manifest runs.
    Upgraded,
    /// Current and new manifests are semantically equal: nothing done.
    Unchanged,
}

/// A component that did not come up with its new manifest (its old manifest was put back).
#[derive(Debug, thiserror::Error)]
#[error("upgrading {component} failed: {reason}; its previous manifest was restored{restore_note}")]
pub struct ComponentFailure {
    /// The component.
    pub component: String,
    /// Why.
    pub reason: String,
    /// Extra text when restoring failed too.
    pub restore_note: String,
}

/// One component's replacement.
pub struct Replace<'a> {
    /// Node root.
    pub root: &'a Path,
    /// `etcd`, `kube-apiserver`, ...
    pub component: &'a str,
    /// The new manifest text.
    pub new_manifest: &'a str,
    /// Node path of the manifests backup (holds `<component>.yaml` from before the upgrade).
    pub backup_dir: &'a str,
    /// This node's name (mirror pod `<component>-<node>`).
    pub node: &'a str,
    /// Waits.
    pub wait: Wait,
    /// A retry of an attempt that may have written the new manifest already, with the mirror
    /// pod's hash from before that attempt: an equal manifest is then waited for (hash changed
    /// from it, pods Running) instead of skipped.
    pub resumed: Option<Option<String>>,
}

impl Replace<'_> {
    /// The manifest's file name and its path under the root's manifests directory.
    fn manifest_paths(&self) -> (String, std::path::PathBuf) {
        let file = format!("{}.yaml", self.component);
        let path = fsutil::under_root(
            self.root,
            &format!("{}/{file}", super::backup::MANIFESTS_DIR),
        );
        (file, path)
    }

    /// A failure of this component, nothing restored yet.
    fn failure(&self, reason: String) -> ComponentFailure {
        ComponentFailure {
            component: self.component.to_string(),
            reason,
            restore_note: String::new(),
        }
    }
}

fn poll(
    wait: &Wait,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> Result<(), String> {
    let deadline = Instant::now() + wait.timeout;
    let mut last_err = None;
    loop {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e.to_string()),
        }
        if Instant::now() >= deadline {
            return Err(match last_err {
                Some(e) => format!("{what} within {:?} (last error: {e})", wait.timeout),
                None => format!("{what} within {:?}", wait.timeout),
            });
        }
        std::thread::sleep(wait.interval);
    }
}

/// Moves `text` into place as `<manifests>/<file>` through a temporary directory beside it
/// (`/etc/kubernetes/tmp/kubeadm-upgraded-manifests*`), so the kubelet never sees a partial file.
fn install(root: &Path, file: &str, text: &[u8]) -> anyhow::Result<()> {
    let tmp_parent = fsutil::under_root(root, super::backup::TMP_DIR);
    fsutil::ensure_dir(&tmp_parent, 0o700)?;
    let tmp = tempfile::Builder::new()
        .prefix("kubeadm-upgraded-manifests")
        .tempdir_in(&tmp_parent)?;
    let staged = tmp.path().join(file);
    fsutil::write_atomic(&staged, text, crate::manifests::MANIFEST_FILE_MODE, 0o700)?;
    let dir = fsutil::under_root(root, super::backup::MANIFESTS_DIR);
    fsutil::ensure_dir(&dir, crate::manifests::MANIFEST_DIR_MODE)?;
    std::fs::rename(&staged, dir.join(file))?;
    Ok(())
}

fn wait_new_hash(r: &Replace, pods: &dyn PodStatus, before: Option<&String>) -> Result<(), String> {
    let mirror = format!("kube-system/{}-{}", r.component, r.node);
    poll(
        &r.wait,
        &format!(
            "the kubelet did not run the new manifest (mirror pod {mirror} kept its config hash)"
        ),
        || {
            Ok(pods
                .mirror_hash(r.component, r.node)?
                .is_some_and(|h| Some(&h) != before))
        },
    )
}

/// Puts the component's manifest from the backup directory back in place (after a failure
/// found once the new manifest ran).
pub fn put_back(r: &Replace) -> anyhow::Result<()> {
    let (file, _) = r.manifest_paths();
    let backup = fsutil::under_root(r.root, &format!("{}/{file}", r.backup_dir));
    let old = std::fs::read(&backup)
        .map_err(|e| anyhow::anyhow!("reading the backup {}: {e}", backup.display()))?;
    install(r.root, &file, &old)
}

/// Waits until the kubelet has stopped the component whose manifest was taken out (its mirror
/// pod is gone).
pub fn wait_stopped(r: &Replace, pods: &dyn PodStatus) -> Result<(), String> {
    let mirror = format!("kube-system/{}-{}", r.component, r.node);
    poll(
        &r.wait,
        &format!("the kubelet did not stop the component (mirror pod {mirror} still there)"),
        || Ok(pods.mirror_hash(r.component, r.node)?.is_none()),
    )
}

/// Restarts an unchanged component so it loads renewed certificates (spec §14.5 step 4d: etcd
/// when its manifest is equal but kube-apiserver's changes): renews them, takes the manifest out
/// until the kubelet removed the mirror pod, puts the same manifest back and waits for the
/// component's pods to run. A failure after the manifest left puts it back.
pub fn cycle(
    r: &Replace,
    pods: &dyn PodStatus,
    renew: &mut dyn FnMut() -> anyhow::Result<()>,
) -> Result<(), ComponentFailure> {
    let (file, current_path) = r.manifest_paths();
    let fail = |reason: String| r.failure(reason);
    let text = std::fs::read(&current_path)
        .map_err(|e| fail(format!("reading {}: {e}", current_path.display())))?;
    renew().map_err(|e| {
        fail(format!(
            "renewing its certificates: {e}; nothing was changed"
        ))
    })?;
    let put_back = |reason: String| -> ComponentFailure {
        let mut f = fail(reason);
        if let Err(e) = install(r.root, &file, &text) {
            f.restore_note = format!(" — NOT: putting it back failed: {e}");
        }
        f
    };
    std::fs::remove_file(&current_path)
        .map_err(|e| fail(format!("taking {} out: {e}", current_path.display())))?;
    wait_stopped(r, pods).map_err(put_back)?;
    install(r.root, &file, &text)
        .map_err(|e| put_back(format!("putting the manifest back: {e}")))?;
    poll(
        &r.wait,
        &format!(
            "pods with label component={} did not reach phase Running after the restart",
            r.component
        ),
        || Ok(pods.mirror_hash(r.component, r.node)?.is_some() && pods.all_running(r.component)?),
    )
    .map_err(fail)
}

/// Replaces one component's manifest and waits for it (spec §14.5 step 5). `renew` renews the
/// component's certificates first (a failure there changes nothing).
pub fn replace(
    r: &Replace,
    pods: &dyn PodStatus,
    renew: &mut dyn FnMut() -> anyhow::Result<()>,
) -> Result<Outcome, ComponentFailure> {
    let (file, current_path) = r.manifest_paths();
    let fail = |reason: String| r.failure(reason);
    let backup = fsutil::under_root(r.root, &format!("{}/{file}", r.backup_dir));
    let old = std::fs::read(&backup).map_err(|e| {
        fail(format!(
            "the backup {}/{file} cannot be read ({e}); nothing was changed",
            r.backup_dir
        ))
    })?;
    let current = std::fs::read_to_string(&current_path).unwrap_or_default();
    let restore = |reason: String| -> ComponentFailure {
        let mut f = fail(reason);
        if let Err(e) = install(r.root, &file, &old) {
            f.restore_note = format!(" — NOT: putting it back failed: {e}");
        }
        f
    };
    if crate::manifests::same_pod(&current, r.new_manifest) {
        let Some(first_before) = &r.resumed else {
            return Ok(Outcome::Unchanged);
        };
        if first_before.is_some() {
            wait_new_hash(r, pods, first_before.as_ref()).map_err(restore)?;
        }
        let running = poll(
            &r.wait,
            &format!(
                "pods with label component={} did not reach phase Running",
                r.component
            ),
            || pods.all_running(r.component),
        );
        return running.map(|()| Outcome::Upgraded).map_err(restore);
    }
    let before = pods.mirror_hash(r.component, r.node).ok().flatten();
    renew().map_err(|e| {
        fail(format!(
            "renewing its certificates: {e}; nothing was changed"
        ))
    })?;
    install(r.root, &file, r.new_manifest.as_bytes())
        .map_err(|e| restore(format!("writing the new manifest: {e}")))?;
    wait_new_hash(r, pods, before.as_ref()).map_err(restore)?;
    poll(
        &r.wait,
        &format!(
            "pods with label component={} did not reach phase Running",
            r.component
        ),
        || pods.all_running(r.component),
    )
    .map_err(restore)?;
    Ok(Outcome::Upgraded)
}
