//! Patch semantics: JSON merge patch (RFC 7386), strategic merge patch for the core types' list
//! merge keys, and the merge used for server-side apply; plus `managedFields` field sets.

use serde_json::{json, Map, Value};

/// The merge key of a list field, as the core types declare it (`patchMergeKey` / `listMapKey`).
/// Lists without one are replaced (atomic), as in the real server (e.g. node `taints`, RBAC `subjects`).
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        _ => return None,
    })
}

/// Lists of scalars merged as sets.
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Strategic merge patch: merge patch, except that lists with a known merge key are merged item by
/// item (`$patch: delete` on an item removes it), `finalizers` are merged as a set, and the
/// `$setElementOrder`/`$retainKeys` directives are accepted and ignored.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    merge(target, patch, true);
}

/// The merge server-side apply does of an applied configuration into the live object: maps merged
/// recursively, keyed lists merged by key, other lists replaced.
pub(crate) fn apply_merge(target: &mut Value, applied: &Value) {
    merge(target, applied, false);
}

fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    let Value::Object(pm) = patch else {
        *target = clean(patch);
        return;
    };
    if strategic && pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = clean(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let tm = target.as_object_mut().expect("object");
    for (k, v) in pm {
        if k.starts_with('$') {
            if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
                if let (Some(Value::Array(cur)), Value::Array(del)) = (tm.get_mut(field), v) {
                    cur.retain(|x| !del.contains(x));
                }
            }
            continue;
        }
        if v.is_null() {
            tm.remove(k);
            continue;
        }
        match (tm.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let Some(key) = merge_key(k, items).or_else(|| merge_key(k, cur)) {
                    // Server-side apply keys ports by (port, protocol) (`listMapKeys`), so UDP and
                    // TCP 53 of a Service stay two entries; strategic merge uses `port` only.
                    let by_protocol = !strategic && k == "ports";
                    merge_list(cur, items, key, strategic, by_protocol);
                } else if is_set_list(k) {
                    for i in items {
                        if !cur.contains(i) {
                            cur.push(i.clone());
                        }
                    }
                } else {
                    *cur = items.iter().map(clean).collect();
                }
            }
            (Some(cur), _) => merge(cur, v, strategic),
            (None, _) => {
                let mut fresh = Value::Null;
                merge(&mut fresh, v, strategic);
                if let Value::Array(items) = &mut fresh {
                    items.retain(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"));
                }
                tm.insert(k.clone(), fresh);
            }
        }
    }
}

fn merge_list(
    cur: &mut Vec<Value>,
    items: &[Value],
    key: &str,
    strategic: bool,
    by_protocol: bool,
) {
    let protocol = |v: &Value| {
        v.get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_string()
    };
    for item in items {
        let kv = item.get(key);
        let pos = kv.and_then(|kv| {
            cur.iter().position(|c| {
                c.get(key) == Some(kv) && (!by_protocol || protocol(c) == protocol(item))
            })
        });
        if strategic && item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(p) = pos {
                cur.remove(p);
            }
            continue;
        }
        match pos {
            Some(p) => merge(&mut cur[p], item, strategic),
            None => cur.push(clean(item)),
        }
    }
}

/// A copy without `$`-directives.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
        other => other.clone(),
    }
}

/// The `fieldsV1` set of an object: `f:<field>` for fields, `k:{"<key>":<value>}` for keyed list
/// items; `metadata` contributes only labels and annotations; `apiVersion`/`kind`/`status` are left out.
pub(crate) fn fields_v1(obj: &Value) -> Value {
    let mut out = Map::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" | "status" => {}
                "metadata" => {
                    let mut mm = Map::new();
                    for f in ["labels", "annotations"] {
                        if let Some(x) = v.get(f) {
                            mm.insert(format!("f:{f}"), field_set(f, x));
                        }
                    }
                    if !mm.is_empty() {
                        out.insert("f:metadata".into(), Value::Object(mm));
                    }
                }
                _ => {
                    out.insert(format!("f:{k}"), field_set(k, v));
                }
            }
        }
    }
    Value::Object(out)
}

fn field_set(name: &str, v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (format!("f:{k}"), field_set(k, v)))
                .collect(),
        ),
        Value::Array(items) => match merge_key(name, items) {
            Some(key) => {
                let mut out = Map::new();
                for i in items {
                    if let Some(kv) = i.get(key) {
                        let mut entry = field_set("", i);
                        if let Value::Object(e) = &mut entry {
                            e.insert(".".into(), json!({}));
                        }
                        out.insert(format!("k:{}", json!({ key: kv })), entry);
                    }
                }
                Value::Object(out)
            }
            None => json!({}),
        },
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_keys_service_ports_by_port_and_protocol() {
        let ports = json!({"spec": {"ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        ]}});
        let mut live = ports.clone();
        apply_merge(&mut live, &ports);
        assert_eq!(live, ports);
    }

    #[test]
    fn strategic_merges_containers_by_name_and_replaces_taints() {
        let mut live = json!({"spec": {
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}],
            "taints": [{"key": "x", "effect": "NoSchedule"}, {"key": "y", "effect": "NoSchedule"}]}});
        strategic_merge(
            &mut live,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b", "image": "b:2"}, {"name": "a", "$patch": "delete"}],
                "taints": [{"key": "z", "effect": "NoExecute"}]}}),
        );
        assert_eq!(
            live,
            json!({"spec": {"containers": [{"name": "b", "image": "b:2"}],
                "taints": [{"key": "z", "effect": "NoExecute"}]}})
        );
    }

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let mut live = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge_patch(&mut live, &json!({"a": null, "b": {"c": 5}, "l": [3]}));
        assert_eq!(live, json!({"b": {"c": 5, "d": 3}, "l": [3]}));
    }

    #[test]
    fn fields_v1_keys_lists() {
        let f = fields_v1(&json!({"metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}));
        assert_eq!(
            f,
            json!({"f:metadata": {"f:labels": {"f:a": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
        );
    }
}
