//! kubeadm's `--patches` / `patches.directory` (spec §5.8): loading patch files and applying
//! strategic-merge, JSON-merge (RFC 7386) and JSON (RFC 6902) patches to static pods and the
//! KubeletConfiguration.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Patch targets kubeadm 1.36 knows.
pub const KNOWN_TARGETS: [&str; 6] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubeletconfiguration",
    "corednsdeployment",
];

/// How a patch document is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// Kubernetes strategic merge patch (default).
    Strategic,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// RFC 6902 JSON patch.
    Json,
}

/// One patch document from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// Target name (`kube-apiserver`, `kubeletconfiguration`, …).
    pub target: String,
    /// Patch type from the file name.
    pub patch_type: PatchType,
    /// File it came from.
    pub file: PathBuf,
    /// The patch document (JSON).
    pub doc: Value,
}

/// All patches of a directory, in kubeadm's order (lexical path order of a recursive walk, then
/// document order within a file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatchSet {
    /// The patches.
    pub patches: Vec<Patch>,
    /// Files that were skipped, with the reason (kubeadm only prints these).
    pub ignored: Vec<(PathBuf, String)>,
}

/// A patch file or document that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("patch {file}: {message}")]
pub struct PatchError {
    /// The patch file (or directory).
    pub file: PathBuf,
    /// What is wrong.
    pub message: String,
}

fn perr(file: &Path, message: impl Into<String>) -> PatchError {
    PatchError {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// Split a file name into target and patch type: `Ok(Err(reason))` = ignore the file (kubeadm
/// only prints the reason), `Err` = invalid patch type (an error).
fn parse_file_name(name: &str) -> Result<Result<(String, PatchType), String>, String> {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return Ok(Err("the file extension must be one of [json yaml]".into()));
    };
    if ext != "json" && ext != "yaml" {
        return Ok(Err("the file extension must be one of [json yaml]".into()));
    }
    let Some(target) = KNOWN_TARGETS
        .iter()
        .filter(|t| stem.starts_with(**t))
        .max_by_key(|t| t.len())
    else {
        return Ok(Err(format!(
            "unknown target, must be one of {KNOWN_TARGETS:?}"
        )));
    };
    let rest = &stem[target.len()..];
    let (suffix, ty) = match rest.split_once('+') {
        Some((s, t)) => (s, Some(t)),
        None => (rest, None),
    };
    if suffix.contains('.') {
        return Ok(Err(format!(
            "unknown target, must be one of {KNOWN_TARGETS:?}"
        )));
    }
    let patch_type = match ty {
        None | Some("strategic") => PatchType::Strategic,
        Some("merge") => PatchType::Merge,
        Some("json") => PatchType::Json,
        Some(other) => {
            return Err(format!(
                "unknown or missing patch type {other:?} after '+', must be one of [json merge strategic]"
            ))
        }
    };
    Ok(Ok((target.to_string(), patch_type)))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PatchError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| perr(dir, format!("cannot read directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

impl PatchSet {
    /// Load every patch file under `dir` (recursively).
    pub fn load(dir: &Path) -> Result<PatchSet, PatchError> {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        let mut set = PatchSet::default();
        for file in files {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let (target, patch_type) = match parse_file_name(name).map_err(|m| perr(&file, m))? {
                Ok(t) => t,
                Err(reason) => {
                    set.ignored.push((file.clone(), reason));
                    continue;
                }
            };
            let text =
                fs::read_to_string(&file).map_err(|e| perr(&file, format!("cannot read: {e}")))?;
            let mut n = 0;
            for doc in split_documents(&text) {
                let v: serde_yaml::Value = serde_yaml::from_str(doc)
                    .map_err(|e| perr(&file, format!("not YAML/JSON: {e}")))?;
                let doc = serde_json::to_value(v).map_err(|e| perr(&file, e.to_string()))?;
                if doc.is_null() {
                    continue;
                }
                n += 1;
                set.patches.push(Patch {
                    target: target.clone(),
                    patch_type,
                    file: file.clone(),
                    doc,
                });
            }
            if n == 0 {
                set.ignored.push((file.clone(), "empty patch file".into()));
            }
        }
        Ok(set)
    }

    /// True when some patch targets `target`.
    pub fn has(&self, target: &str) -> bool {
        self.patches.iter().any(|p| p.target == target)
    }

    /// Apply every patch for `target` to `v`, in order; `pod` selects the Pod's strategic-merge
    /// keys (containers, volumes, env, … merged by key), otherwise lists are replaced.
    pub fn apply(&self, target: &str, v: &mut Value, pod: bool) -> Result<(), PatchError> {
        for p in self.patches.iter().filter(|p| p.target == target) {
            match p.patch_type {
                PatchType::Merge => merge_patch(v, &p.doc),
                PatchType::Strategic => {
                    let keys = if pod { POD_MERGE_KEYS } else { &[] };
                    strategic_merge(v, &p.doc, keys).map_err(|m| perr(&p.file, m))?
                }
                PatchType::Json => json_patch(v, &p.doc).map_err(|m| perr(&p.file, m))?,
            }
        }
        Ok(())
    }
}

/// Split a file into YAML documents at `---` lines, dropping empty ones.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, pv) in p {
        if pv.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), pv);
        }
    }
}

/// List fields of a Pod that strategic merge patches merge by a key (`k8s.io/api/core/v1`
/// `patchMergeKey` tags); all other lists are replaced.
const POD_MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("volumes", "name"),
    ("volumeMounts", "mountPath"),
    ("volumeDevices", "devicePath"),
    ("env", "name"),
    ("ports", "containerPort"),
    ("imagePullSecrets", "name"),
    ("hostAliases", "ip"),
    ("resourceClaims", "name"),
    ("ownerReferences", "uid"),
];

/// Kubernetes strategic merge patch (the subset kubeadm users rely on: map merge, `null`
/// deletes, keyed list merge, `$patch: replace|delete|merge`, `$retainKeys`,
/// `$deleteFromPrimitiveList/<field>`; `$setElementOrder` is accepted and ignored).
pub fn strategic_merge(
    target: &mut Value,
    patch: &Value,
    keys: &[(&str, &str)],
) -> Result<(), String> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = p.clone();
            m.remove("$patch");
            *target = Value::Object(m);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown $patch directive {other:?}")),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, pv) in p {
        if k == "$patch" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if k == "$retainKeys" {
            let keep: Vec<&str> = pv
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            t.retain(|key, _| keep.contains(&key.as_str()) || p.contains_key(key));
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (t.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if pv.is_null() {
            t.remove(k);
            continue;
        }
        let merge_key = keys.iter().find(|(f, _)| f == k).map(|(_, key)| *key);
        match (pv, merge_key) {
            (Value::Array(items), Some(mk)) => {
                let cur = t
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !cur.is_array() {
                    *cur = Value::Array(Vec::new());
                }
                merge_keyed_list(cur.as_array_mut().expect("array"), items, mk, keys)?;
            }
            _ => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                if pv.is_object() {
                    strategic_merge(slot, pv, keys)?;
                    if slot.is_null() {
                        t.remove(k);
                    }
                } else {
                    *slot = pv.clone();
                }
            }
        }
    }
    Ok(())
}

fn merge_keyed_list(
    cur: &mut Vec<Value>,
    items: &[Value],
    mk: &str,
    keys: &[(&str, &str)],
) -> Result<(), String> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *cur = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(());
    }
    for item in items {
        let key = item.get(mk);
        let pos = key.and_then(|k| cur.iter().position(|c| c.get(mk) == Some(k)));
        let directive = item.get("$patch").and_then(Value::as_str);
        match (pos, directive) {
            (Some(i), Some("delete")) => {
                cur.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => strategic_merge(&mut cur[i], item, keys)?,
            (None, _) => {
                let mut v = item.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("$patch");
                }
                cur.push(v);
            }
        }
    }
    Ok(())
}

fn pointer_parts(ptr: &str) -> Result<Vec<String>, String> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = ptr.strip_prefix('/') else {
        return Err(format!("JSON pointer {ptr:?} must start with '/'"));
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent_mut<'a>(
    root: &'a mut Value,
    parts: &[String],
    ptr: &str,
) -> Result<&'a mut Value, String> {
    let mut cur = root;
    for p in &parts[..parts.len() - 1] {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path {ptr:?} does not exist"))?;
    }
    Ok(cur)
}

fn remove_at(root: &mut Value, ptr: &str) -> Result<Value, String> {
    let parts = pointer_parts(ptr)?;
    let Some(last) = parts.last() else {
        return Ok(std::mem::take(root));
    };
    match parent_mut(root, &parts, ptr)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path {ptr:?} does not exist")),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| format!("bad index in {ptr:?}"))?;
            (i < a.len())
                .then(|| a.remove(i))
                .ok_or_else(|| format!("path {ptr:?} does not exist"))
        }
        _ => Err(format!("path {ptr:?} does not exist")),
    }
}

fn add_at(root: &mut Value, ptr: &str, v: Value, replace: bool) -> Result<(), String> {
    let parts = pointer_parts(ptr)?;
    let Some(last) = parts.last() else {
        *root = v;
        return Ok(());
    };
    match parent_mut(root, &parts, ptr)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!("path {ptr:?} does not exist"));
            }
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(v);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| format!("bad index in {ptr:?}"))?;
            if replace {
                let slot = a
                    .get_mut(i)
                    .ok_or_else(|| format!("path {ptr:?} does not exist"))?;
                *slot = v;
            } else {
                if i > a.len() {
                    return Err(format!("index out of range in {ptr:?}"));
                }
                a.insert(i, v);
            }
            Ok(())
        }
        _ => Err(format!("path {ptr:?} does not exist")),
    }
}

/// RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`).
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be a list of operations")?;
    for (i, op) in ops.iter().enumerate() {
        let field = |f: &str| {
            op.get(f)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("operation {i}: missing {f:?}"))
        };
        let path = field("path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {i}: missing \"value\""))
        };
        match field("op")? {
            "add" => add_at(target, path, value()?, false)?,
            "remove" => {
                remove_at(target, path)?;
            }
            "replace" => add_at(target, path, value()?, true)?,
            "move" => {
                let v = remove_at(target, field("from")?)?;
                add_at(target, path, v, false)?;
            }
            "copy" => {
                let from = field("from")?;
                let v = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("path {from:?} does not exist"))?;
                add_at(target, path, v, false)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value()?) {
                    return Err(format!("operation {i}: test failed at {path:?}"));
                }
            }
            other => return Err(format!("operation {i}: unknown op {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("etcd.yaml").unwrap().unwrap(),
            ("etcd".into(), PatchType::Strategic)
        );
        assert_eq!(
            parse_file_name("kube-apiserver0+merge.json")
                .unwrap()
                .unwrap(),
            ("kube-apiserver".into(), PatchType::Merge)
        );
        assert_eq!(
            parse_file_name("kubeletconfiguration-x+json.yaml")
                .unwrap()
                .unwrap(),
            ("kubeletconfiguration".into(), PatchType::Json)
        );
        assert!(parse_file_name("etcd.yml").unwrap().is_err());
        assert!(parse_file_name("kube-proxy.yaml").unwrap().is_err());
        assert!(parse_file_name("etcd+bogus.yaml").is_err());
    }

    #[test]
    fn strategic_merges_by_key() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}],
            "volumes": [{"name": "v1"}, {"name": "v2"}], "tolerations": [{"key": "t"}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "y", "env": [{"name": "B", "value": "2"}]}],
            "volumes": [{"name": "v1", "$patch": "delete"}, {"name": "v3"}], "tolerations": [{"key": "u"}]}});
        strategic_merge(&mut pod, &patch, POD_MERGE_KEYS).unwrap();
        assert_eq!(
            pod,
            json!({"spec": {"containers": [{"name": "a", "image": "y", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}],
                "volumes": [{"name": "v2"}, {"name": "v3"}], "tolerations": [{"key": "u"}]}})
        );
    }

    #[test]
    fn json_and_merge_patches() {
        let mut v = json!({"a": {"b": [1, 2]}, "c": 1});
        json_patch(&mut v, &json!([{"op": "add", "path": "/a/b/-", "value": 3}, {"op": "remove", "path": "/c"},
            {"op": "replace", "path": "/a/b/0", "value": 0}, {"op": "copy", "from": "/a/b", "path": "/d"}]))
        .unwrap();
        assert_eq!(v, json!({"a": {"b": [0, 2, 3]}, "d": [0, 2, 3]}));
        assert!(json_patch(&mut v, &json!([{"op": "test", "path": "/d/0", "value": 9}])).is_err());
        merge_patch(&mut v, &json!({"a": null, "e": {"f": 1}}));
        assert_eq!(v, json!({"d": [0, 2, 3], "e": {"f": 1}}));
    }

    #[test]
    fn documents_split() {
        assert_eq!(
            split_documents("a: 1\n---\nb: 2\n---\n\n"),
            vec!["a: 1\n", "b: 2\n"]
        );
    }
}
