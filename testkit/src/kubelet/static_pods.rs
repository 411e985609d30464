//! A stand-in for the kubelet's static pod handling — not a kubelet. [`FakeKubelet`] watches a
//! node root's `/etc/kubernetes/manifests` (polling every 50 ms) and keeps one mirror pod per
//! manifest in a [`crate::apiserver::Store`]: `kube-system/<name>-<node>` with the manifest's
//! labels and spec, `spec.nodeName`, the annotations `kubernetes.io/config.hash`,
//! `kubernetes.io/config.mirror` (both the FNV-32a hash, lower-case hex, of the manifest's Pod
//! as canonical JSON — the kubelet hashes the decoded pod too, so formatting does not count),
//! `kubernetes.io/config.source: file`, and status phase Running with condition Ready True.
//! A removed manifest removes its mirror pod.
//!
//! Failure injection: [`FakeKubelet::fail`] makes one component "not come up" from its next
//! manifest change on ([`Failure`]); [`FakeKubelet::on_change`] lets a test act when a manifest
//! appears, changes or disappears (e.g. stop and start a real etcd).
//!
//! [`JobCompleter`] stands in for the Job controller where a test needs Jobs to finish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::apiserver::Store;

/// How an injected failure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The kubelet never picks the new manifest up: the mirror pod keeps its old hash.
    NeverRuns,
    /// The new pod is created but never runs: new hash, phase Pending, Ready False.
    CrashLoop,
}

type Hook = Box<dyn FnMut(&str, Option<&str>) + Send>;

struct State {
    failures: BTreeMap<String, Failure>,
    hook: Option<Hook>,
    /// Manifest file → (pod name, hash) last acted on.
    seen: BTreeMap<PathBuf, (String, String)>,
}

/// The stand-in kubelet; stops polling when dropped.
pub struct FakeKubelet {
    state: Arc<Mutex<State>>,
    _poller: Poller,
}

/// A thread calling `tick` every 50 ms until dropped (then joined).
struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn spawn(name: &str, mut tick: impl FnMut() + Send + 'static) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    tick();
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
            .expect("test poller thread");
        Poller {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// FNV-32a, lower-case hex.
pub fn fnv32a_hex(bytes: &[u8]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The config hash the stand-in gives a manifest (`None` when it is not a YAML object).
pub fn manifest_hash(text: &str) -> Option<String> {
    let v: Value = serde_yaml::from_str(text).ok()?;
    v.is_object()
        .then(|| fnv32a_hex(serde_json::to_string(&v).unwrap_or_default().as_bytes()))
}

impl FakeKubelet {
    /// Starts watching `<root>/etc/kubernetes/manifests` for node `node`, writing mirror pods
    /// into `store`. The manifests present now are handled before this returns.
    pub fn start(root: &Path, store: Store, node: &str) -> FakeKubelet {
        let state = Arc::new(Mutex::new(State {
            failures: BTreeMap::new(),
            hook: None,
            seen: BTreeMap::new(),
        }));
        let dir = root.join("etc/kubernetes/manifests");
        let node = node.to_string();
        sync(&dir, &store, &node, &state);
        let s2 = state.clone();
        let poller = Poller::spawn("fake-kubelet", move || sync(&dir, &store, &node, &s2));
        FakeKubelet {
            state,
            _poller: poller,
        }
    }

    /// From the next change of `component`'s manifest on, it does not come up.
    pub fn fail(&self, component: &str, how: Failure) {
        lock(&self.state)
            .failures
            .insert(component.to_string(), how);
    }

    /// Undo [`FakeKubelet::fail`].
    pub fn heal(&self, component: &str) {
        lock(&self.state).failures.remove(component);
    }

    /// Calls `hook(pod name, Some(manifest))` when a manifest appears or changes and
    /// `hook(pod name, None)` when it is removed (before the mirror pod is updated).
    pub fn on_change(&self, hook: impl FnMut(&str, Option<&str>) + Send + 'static) {
        lock(&self.state).hook = Some(Box::new(hook));
    }
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn sync(dir: &Path, store: &Store, node: &str, state: &Mutex<State>) {
    let mut current: BTreeMap<PathBuf, String> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // The kubelet ignores hidden files (atomic-write temporaries).
            if name.starts_with('.') || !e.path().is_file() {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                current.insert(e.path(), text);
            }
        }
    }
    let mut st = lock(state);
    let gone: Vec<PathBuf> = st
        .seen
        .keys()
        .filter(|p| !current.contains_key(*p))
        .cloned()
        .collect();
    for p in gone {
        if let Some((pod, _)) = st.seen.remove(&p) {
            if let Some(h) = st.hook.as_mut() {
                h(&pod, None);
            }
            store.delete("v1", "pods", Some("kube-system"), &format!("{pod}-{node}"));
        }
    }
    for (p, text) in current {
        let Some(hash) = manifest_hash(&text) else {
            continue;
        };
        if st.seen.get(&p).map(|(_, h)| h) == Some(&hash) {
            continue;
        }
        let Ok(manifest) = serde_yaml::from_str::<Value>(&text) else {
            continue;
        };
        let pod = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        st.seen.insert(p, (pod.clone(), hash.clone()));
        if let Some(h) = st.hook.as_mut() {
            h(&pod, Some(&text));
        }
        let mirror = match st.failures.get(&pod) {
            Some(Failure::NeverRuns) => continue,
            Some(Failure::CrashLoop) => mirror_pod(&manifest, node, &hash, false),
            None => mirror_pod(&manifest, node, &hash, true),
        };
        store.insert(mirror).expect("store a mirror pod");
    }
}

fn mirror_pod(manifest: &Value, node: &str, hash: &str, running: bool) -> Value {
    let mut pod = manifest.clone();
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    pod["metadata"]["name"] = json!(format!("{name}-{node}"));
    pod["metadata"]["namespace"] = json!("kube-system");
    let ann = pod["metadata"]
        .as_object_mut()
        .expect("metadata object")
        .entry("annotations")
        .or_insert_with(|| json!({}));
    ann["kubernetes.io/config.hash"] = json!(hash);
    ann["kubernetes.io/config.mirror"] = json!(hash);
    ann["kubernetes.io/config.source"] = json!("file");
    pod["spec"]["nodeName"] = json!(node);
    pod["status"] = json!({
        "phase": if running { "Running" } else { "Pending" },
        "conditions": [{"type": "Ready", "status": if running { "True" } else { "False" }}],
    });
    pod
}

/// A stand-in for the Job controller — not a controller: completes (condition `Complete`
/// True, `succeeded: 1`) every Job in `kube-system` whose name starts with a prefix, while
/// enabled. Stops when dropped.
pub struct JobCompleter {
    enabled: Arc<AtomicBool>,
    _poller: Poller,
}

impl JobCompleter {
    /// Starts completing Jobs named `<prefix>…` in `store` (polling every 50 ms).
    pub fn start(store: Store, prefix: &str) -> JobCompleter {
        let enabled = Arc::new(AtomicBool::new(true));
        let (e2, prefix) = (enabled.clone(), prefix.to_string());
        let poller = Poller::spawn("job-completer", move || {
            if !e2.load(Ordering::SeqCst) {
                return;
            }
            for mut job in store.list("batch/v1", "jobs", Some("kube-system")) {
                let name = job["metadata"]["name"].as_str().unwrap_or_default();
                if !name.starts_with(&prefix) || job["status"]["succeeded"] == 1 {
                    continue;
                }
                job["status"] = json!({
                    "succeeded": 1,
                    "conditions": [{"type": "Complete", "status": "True"}],
                });
                let _ = store.insert(job);
            }
        });
        JobCompleter {
            enabled,
            _poller: poller,
        }
    }

    /// Stop (false) or resume (true) completing Jobs.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::SeqCst);
    }
}
