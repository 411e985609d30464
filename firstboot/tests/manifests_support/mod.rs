//! Shared helpers for the manifests/kubelet tests: fixture access and YAML comparison.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_yaml::Value;

/// Path of a file under `tests/fixtures/kubeadm-v1.36.2/`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubeadm-v1.36.2")
        .join(rel)
}

/// Content of a fixture file.
pub fn fixture(rel: &str) -> String {
    let p = fixture_path(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The reference kubeadm-config.yaml documents, by kind.
pub fn reference_config(kind: &str) -> Value {
    let text = fixture("kubeadm-config.yaml");
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).expect("fixture config parses");
        if v.get("kind").and_then(Value::as_str) == Some(kind) {
            return v;
        }
    }
    panic!("no {kind} in the reference config");
}

use serde::Deserialize;

/// Field-by-field differences between two YAML values (`path: left != right`).
pub fn value_diffs(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Mapping(ma), Value::Mapping(mb)) => {
            for (k, va) in ma {
                let key = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                match mb.get(k) {
                    Some(vb) => value_diffs(&format!("{path}.{key}"), va, vb, out),
                    None => out.push(format!("{path}.{key}: only in generated ({va:?})")),
                }
            }
            for (k, vb) in mb {
                if !ma.contains_key(k) {
                    out.push(format!("{path}.{k:?}: only in reference ({vb:?})"));
                }
            }
        }
        (Value::Sequence(sa), Value::Sequence(sb)) => {
            for i in 0..sa.len().max(sb.len()) {
                match (sa.get(i), sb.get(i)) {
                    (Some(x), Some(y)) => value_diffs(&format!("{path}[{i}]"), x, y, out),
                    (x, y) => out.push(format!("{path}[{i}]: {x:?} != {y:?}")),
                }
            }
        }
        _ => {
            if a != b {
                out.push(format!("{path}: generated {a:?} != reference {b:?}"));
            }
        }
    }
}

/// Lines that differ between two texts (`-ref` / `+gen` with line numbers).
pub fn text_diffs(generated: &str, reference: &str) -> Vec<String> {
    let g: Vec<&str> = generated.split('\n').collect();
    let r: Vec<&str> = reference.split('\n').collect();
    let mut out = Vec::new();
    for i in 0..g.len().max(r.len()) {
        let (a, b) = (g.get(i), r.get(i));
        if a != b {
            out.push(format!("line {}: -{:?} +{:?}", i + 1, b, a));
        }
    }
    out
}

/// Assert `generated` equals the reference file `rel` field by field, then byte for byte.
pub fn assert_matches_reference(generated: &str, rel: &str) {
    let reference = fixture(rel);
    let gv: Value = serde_yaml::from_str(generated)
        .unwrap_or_else(|e| panic!("generated {rel} is not YAML: {e}\n{generated}"));
    let rv: Value = serde_yaml::from_str(&reference).expect("reference parses");
    let mut diffs = Vec::new();
    value_diffs("", &gv, &rv, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{rel}: field differences:\n{}",
        diffs.join("\n")
    );
    let t = text_diffs(generated, &reference);
    assert!(
        t.is_empty(),
        "{rel}: same fields but text differs:\n{}",
        t.join("\n")
    );
}
