//! A planned action on one API object: typed `k8s-openapi` objects erased to JSON so plans can
//! be compared, printed in `--dry-run` and executed by [`super::Cluster::execute`].

use kube::core::ApiResource;
use kube::Resource;
use serde::Serialize;

/// What to do with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectAction {
    /// Server-side apply (create or update the fields we own).
    Apply,
    /// Create; an existing object of that name is kept as is.
    CreateIfMissing,
    /// JSON merge patch of an existing object.
    MergePatch,
    /// Strategic merge patch of an existing object (Node labels and taints).
    StrategicPatch,
    /// Delete (missing is fine).
    Delete,
}

impl ObjectAction {
    /// The verb shown in plans.
    pub fn verb(self) -> &'static str {
        match self {
            ObjectAction::Apply => "apply",
            ObjectAction::CreateIfMissing => "create if missing",
            ObjectAction::MergePatch => "patch",
            ObjectAction::StrategicPatch => "patch (strategic)",
            ObjectAction::Delete => "delete",
        }
    }
}

/// One object action of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectItem {
    /// Group, version, kind and plural of the object.
    pub resource: ApiResource,
    /// Namespace (none for cluster-scoped objects).
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// The action.
    pub action: ObjectAction,
    /// The object (or patch) as JSON; never printed (Secrets).
    pub body: serde_json::Value,
    /// What it is, for plans (`kubeadm ClusterConfiguration`).
    pub what: String,
}

impl ObjectItem {
    fn typed<K>(obj: &K, action: ObjectAction, what: &str) -> Self
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let resource = ApiResource::erase::<K>(&());
        let mut body = serde_json::to_value(obj).unwrap_or(serde_json::Value::Null);
        if let Some(m) = body.as_object_mut() {
            m.insert("apiVersion".into(), resource.api_version.clone().into());
            m.insert("kind".into(), resource.kind.clone().into());
        }
        ObjectItem {
            namespace: obj.meta().namespace.clone(),
            name: obj.meta().name.clone().unwrap_or_default(),
            resource,
            action,
            body,
            what: what.to_string(),
        }
    }

    /// Server-side apply of `obj`.
    pub fn apply<K>(obj: &K, what: &str) -> Self
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        Self::typed(obj, ObjectAction::Apply, what)
    }

    /// Create `obj` unless it exists.
    pub fn create_if_missing<K>(obj: &K, what: &str) -> Self
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        Self::typed(obj, ObjectAction::CreateIfMissing, what)
    }

    /// A patch of the `K` named `name`.
    pub fn patch<K>(
        namespace: Option<&str>,
        name: &str,
        patch: serde_json::Value,
        strategic: bool,
        what: &str,
    ) -> Self
    where
        K: Resource<DynamicType = ()>,
    {
        ObjectItem {
            resource: ApiResource::erase::<K>(&()),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            action: if strategic {
                ObjectAction::StrategicPatch
            } else {
                ObjectAction::MergePatch
            },
            body: patch,
            what: what.to_string(),
        }
    }

    /// Delete the `K` named `name`.
    pub fn delete<K>(namespace: Option<&str>, name: &str, what: &str) -> Self
    where
        K: Resource<DynamicType = ()>,
    {
        ObjectItem {
            resource: ApiResource::erase::<K>(&()),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            action: ObjectAction::Delete,
            body: serde_json::Value::Null,
            what: what.to_string(),
        }
    }

    /// `ConfigMap kube-system/kubeadm-config`.
    pub fn describe(&self) -> String {
        super::describe(&self.resource.kind, self.namespace.as_deref(), &self.name)
    }

    /// The body decoded as `K` (tests and plan inspection).
    pub fn decode<K: serde::de::DeserializeOwned>(&self) -> Option<K> {
        serde_json::from_value(self.body.clone()).ok()
    }
}
