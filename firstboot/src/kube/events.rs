//! Mirrors firstboot phase results onto the Node: one Event per phase (reason
//! `FirstbootPhaseDone` / `FirstbootPhaseFailed`, source `firstboot`) and, on failure, the
//! annotation `kubebake.io/firstboot-failed-phase=<phase>` (removed again when that phase
//! later succeeds).

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::{Cluster, Result};

/// Event reason of a finished phase.
pub const REASON_DONE: &str = "FirstbootPhaseDone";
/// Event reason of a failed phase.
pub const REASON_FAILED: &str = "FirstbootPhaseFailed";
/// Event source component.
pub const SOURCE_COMPONENT: &str = "firstboot";
/// Node annotation naming the phase that failed.
pub const FAILED_PHASE_ANNOTATION: &str = "kubebake.io/firstboot-failed-phase";
/// Namespace of Node events (where the kubelet puts them).
pub const EVENT_NAMESPACE: &str = "default";
/// Longest message kept in an Event (the API server caps `message` at 1 KiB... we keep less).
const MAX_MESSAGE: usize = 1000;

/// The Event for one phase result (`Err` carries the error message; it must hold no secret).
pub fn phase_event(
    node_name: &str,
    phase: &str,
    result: std::result::Result<(), &str>,
    now: SystemTime,
) -> Event {
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let (reason, kind, message) = match result {
        Ok(()) => (
            REASON_DONE,
            "Normal",
            format!("firstboot phase {phase} done"),
        ),
        Err(e) => {
            let mut m = format!("firstboot phase {phase} failed: {e}");
            if m.len() > MAX_MESSAGE {
                let mut cut = MAX_MESSAGE;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
            }
            (REASON_FAILED, "Warning", m)
        }
    };
    let ts = Time(jiff_like(now));
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{node_name}.{nanos:x}")),
            namespace: Some(EVENT_NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            kind: Some("Node".into()),
            api_version: Some("v1".into()),
            name: Some(node_name.into()),
            // The kubelet uses the node name as the uid of its Node events.
            uid: Some(node_name.into()),
            ..ObjectReference::default()
        },
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some(kind.into()),
        source: Some(EventSource {
            component: Some(SOURCE_COMPONENT.into()),
            host: Some(node_name.into()),
        }),
        first_timestamp: Some(ts.clone()),
        last_timestamp: Some(ts),
        count: Some(1),
        reporting_component: Some(SOURCE_COMPONENT.into()),
        reporting_instance: Some(node_name.into()),
        ..Event::default()
    }
}

fn jiff_like(t: SystemTime) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::try_from(t).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

/// The merge patch that sets (`Some(phase)`) or removes (`None`) the failed-phase annotation.
pub fn failed_annotation_patch(phase: Option<&str>) -> serde_json::Value {
    serde_json::json!({"metadata": {"annotations": {FAILED_PHASE_ANNOTATION: phase}}})
}

/// Reports one phase result on Node `node_name`: creates the Event, and on failure sets the
/// failed-phase annotation (on success removes it if it names this phase). A missing Node
/// (not registered yet) only skips the annotation.
pub fn report_phase(
    cluster: &Cluster,
    node_name: &str,
    phase: &str,
    result: std::result::Result<(), &str>,
) -> Result<()> {
    let ev = phase_event(node_name, phase, result, SystemTime::now());
    cluster.create_if_missing(&ev)?;
    let Some(node) = cluster.get::<Node>(None, node_name)? else {
        return Ok(());
    };
    let current = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FAILED_PHASE_ANNOTATION))
        .cloned();
    match result {
        Err(_) => {
            cluster.patch::<Node>(
                None,
                node_name,
                &failed_annotation_patch(Some(phase)),
                false,
            )?;
        }
        Ok(()) if current.as_deref() == Some(phase) => {
            cluster.patch::<Node>(None, node_name, &failed_annotation_patch(None), false)?;
        }
        Ok(()) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn events() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ok = phase_event("node-a", "kubelet-start", Ok(()), t);
        assert_eq!(ok.reason.as_deref(), Some(REASON_DONE));
        assert_eq!(ok.type_.as_deref(), Some("Normal"));
        assert_eq!(ok.involved_object.kind.as_deref(), Some("Node"));
        assert_eq!(ok.involved_object.name.as_deref(), Some("node-a"));
        assert_eq!(
            ok.source.as_ref().and_then(|s| s.component.as_deref()),
            Some("firstboot")
        );
        assert!(ok.metadata.name.as_deref().unwrap().starts_with("node-a."));
        let v = serde_json::to_value(&ok).unwrap();
        assert_eq!(v["firstTimestamp"], "2023-11-14T22:13:20Z");

        let long = "x".repeat(5000);
        let bad = phase_event("node-a", "etcd-join", Err(&long), t);
        assert_eq!(bad.reason.as_deref(), Some(REASON_FAILED));
        assert_eq!(bad.type_.as_deref(), Some("Warning"));
        assert!(bad
            .message
            .as_deref()
            .unwrap()
            .starts_with("firstboot phase etcd-join failed: x"));
        assert!(bad.message.unwrap().len() <= MAX_MESSAGE);
    }

    #[test]
    fn annotation_patch() {
        assert_eq!(
            failed_annotation_patch(Some("etcd-join")),
            serde_json::json!({"metadata": {"annotations": {"kubebake.io/firstboot-failed-phase": "etcd-join"}}})
        );
        assert_eq!(
            failed_annotation_patch(None)["metadata"]["annotations"][FAILED_PHASE_ANNOTATION],
            serde_json::Value::Null
        );
    }
}
