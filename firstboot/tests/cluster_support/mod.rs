//! Shared helpers for the cluster-phase tests: the kubeadm v1.36.2 reference fixtures, the
//! reference machine's facts, and the objects of a plan.
#![allow(dead_code)]

use firstboot::config::HostFacts;
use firstboot::kube::ObjectItem;
use firstboot::phases::{Plan, PlanItem};
use serde_json::Value;

/// The copied kubeadm v1.36.2 reference output.
pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kubeadm-v1.36.2"
);

/// The reference machine (`vm`, 192.0.2.2).
pub fn facts() -> HostFacts {
    HostFacts {
        hostname: "vm".into(),
        default_address: Ok("192.0.2.2".parse().unwrap()),
        active_staged_version: None,
        staged_versions: None,
        cri_sockets: vec![],
    }
}

/// The object actions of a plan, in order.
pub fn objects(plan: &Plan) -> Vec<&ObjectItem> {
    plan.items
        .iter()
        .filter_map(|i| match i {
            PlanItem::Object(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// Removes the metadata the API server fills in (uid, timestamps, resourceVersion, ...).
pub fn strip_server_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "managedFields",
            "generation",
        ] {
            m.remove(k);
        }
    }
}

/// A reference object (`configmap/kube-system__kubeadm-config.yaml`) as JSON without what the
/// server or its controllers add: server metadata, rollout annotations and `status`.
pub fn reference_object(rel: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/objects/{rel}")).unwrap();
    let mut v: Value = serde_yaml::from_str(&text).unwrap();
    strip_server_fields(&mut v);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deprecated.daemonset.template.generation");
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}
