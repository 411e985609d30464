//! Authorization: a small RBAC evaluator over the stored Roles, ClusterRoles and their bindings,
//! the built-in default policy the real server bootstraps, `system:masters`, and an approximation of
//! the node authorizer.

use serde_json::{json, Value};

use super::State;

/// An authenticated user.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// What a request wants to do.
#[derive(Debug)]
pub(crate) enum Attrs<'a> {
    /// An API resource request.
    Resource {
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        subresource: Option<&'a str>,
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    },
    /// A non-resource URL (`/version`, `/healthz`, …).
    NonResource { verb: &'a str, path: &'a str },
}

const RBAC: &str = "rbac.authorization.k8s.io";

fn get<'a>(st: &'a State, plural: &str, ns: &str, name: &str) -> Option<&'a Value> {
    st.objects.get(&super::store::Key {
        group: RBAC.into(),
        plural: plural.into(),
        namespace: ns.into(),
        name: name.into(),
    })
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn subject_matches(s: &Value, user: &User, binding_ns: &str) -> bool {
    let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
    match s.get("kind").and_then(Value::as_str) {
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = s
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn rule_allows(rule: &Value, attrs: &Attrs<'_>) -> bool {
    let verbs = strs(rule.get("verbs"));
    match attrs {
        Attrs::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            if !verbs.iter().any(|v| v == verb || *v == "*") {
                return false;
            }
            if !strs(rule.get("apiGroups"))
                .iter()
                .any(|g| g == group || *g == "*")
            {
                return false;
            }
            let full = match subresource {
                Some(s) => format!("{resource}/{s}"),
                None => resource.to_string(),
            };
            let res_ok = strs(rule.get("resources")).iter().any(|r| {
                *r == full
                    || *r == "*"
                    || subresource
                        .is_some_and(|s| *r == format!("*/{s}") || *r == format!("{resource}/*"))
            });
            if !res_ok {
                return false;
            }
            let names = strs(rule.get("resourceNames"));
            names.is_empty() || name.is_some_and(|n| names.contains(&n))
        }
        Attrs::NonResource { verb, path } => {
            if !verbs.iter().any(|v| v == verb || *v == "*") {
                return false;
            }
            strs(rule.get("nonResourceURLs")).iter().any(|u| {
                u == path || *u == "*" || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
            })
        }
    }
}

fn role_rules<'a>(st: &'a State, role_ref: &Value, binding_ns: &str) -> Vec<&'a Value> {
    let kind = role_ref
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = role_ref
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let role = match kind {
        "ClusterRole" => get(st, "clusterroles", "", name),
        "Role" => get(st, "roles", binding_ns, name),
        _ => None,
    };
    role.and_then(|r| r.get("rules"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Whether `user` may do `attrs`.
pub(crate) fn authorize(st: &State, user: &User, attrs: &Attrs<'_>) -> bool {
    if user.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    // Node authorizer approximation: nodes get the built-in system:node rules.
    if user.name.starts_with("system:node:") && user.groups.iter().any(|g| g == "system:nodes") {
        if let Some(r) = default_node_role().get("rules").and_then(Value::as_array) {
            if r.iter().any(|rule| rule_allows(rule, attrs)) {
                return true;
            }
        }
    }
    let mut bindings: Vec<(&Value, &str)> = st
        .objects
        .iter()
        .filter(|(k, _)| k.group == RBAC && k.plural == "clusterrolebindings")
        .map(|(_, v)| (v, ""))
        .collect();
    if let Attrs::Resource {
        namespace: Some(ns),
        ..
    } = attrs
    {
        bindings.extend(
            st.objects
                .iter()
                .filter(|(k, _)| {
                    k.group == RBAC && k.plural == "rolebindings" && k.namespace == *ns
                })
                .map(|(_, v)| (v, *ns)),
        );
    }
    bindings.into_iter().any(|(b, ns)| {
        let subjects = b.get("subjects").and_then(Value::as_array);
        subjects.is_some_and(|s| s.iter().any(|s| subject_matches(s, user, ns)))
            && b.get("roleRef").is_some_and(|rr| {
                role_rules(st, rr, ns)
                    .iter()
                    .any(|rule| rule_allows(rule, attrs))
            })
    })
}

/// The real server's message for a denied request.
pub(crate) fn forbidden_message(user: &User, attrs: &Attrs<'_>) -> String {
    match attrs {
        Attrs::Resource {
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
        } => {
            let qualified = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            };
            let full = match subresource {
                Some(s) => format!("{resource}/{s}"),
                None => resource.to_string(),
            };
            let what = match name {
                Some(n) if !n.is_empty() => format!("{qualified} \"{n}\""),
                _ => qualified,
            };
            let scope = match namespace {
                Some(ns) if !ns.is_empty() => format!("in the namespace \"{ns}\""),
                _ => "at the cluster scope".to_string(),
            };
            format!(
                "{what} is forbidden: User \"{}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}",
                user.name
            )
        }
        Attrs::NonResource { verb, path } => {
            format!(
                "forbidden: User \"{}\" cannot {verb} path \"{path}\"",
                user.name
            )
        }
    }
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
        "rules": rules,
    })
}

fn cluster_role_binding(name: &str, role: &str, subjects: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn default_node_role() -> Value {
    cluster_role(
        "system:node",
        json!([
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
            {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch", "update"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch", "update"]},
            {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews", "subjectaccessreviews"], "verbs": ["create"]},
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "get", "list", "watch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "delete", "get", "patch", "update"]},
        ]),
    )
}

/// The built-in ClusterRoles and ClusterRoleBindings kubeadm's objects rely on (a subset of the
/// real server's bootstrap policy).
pub(crate) fn default_policy() -> Vec<Value> {
    let health = json!(["/healthz", "/livez", "/readyz", "/version", "/version/"]);
    vec![
        cluster_role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        cluster_role_binding(
            "cluster-admin",
            "cluster-admin",
            json!([{"apiGroup": RBAC, "kind": "Group", "name": "system:masters"}]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            json!([{"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"}]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": health, "verbs": ["get"]}]),
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            json!([
                {"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"},
                {"apiGroup": RBAC, "kind": "Group", "name": "system:unauthenticated"},
            ]),
        ),
        cluster_role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            json!([{"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"}]),
        ),
        cluster_role(
            "system:node-bootstrapper",
            json!([{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "get", "list", "watch"]}]),
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            json!([{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/nodeclient"], "verbs": ["create"]}]),
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            json!([{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/selfnodeclient"], "verbs": ["create"]}]),
        ),
        default_node_role(),
        cluster_role(
            "system:node-proxier",
            json!([
                {"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "watch"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ]),
        ),
        cluster_role_binding(
            "system:node-proxier",
            "system:node-proxier",
            json!([{"apiGroup": RBAC, "kind": "User", "name": "system:kube-proxy"}]),
        ),
        cluster_role(
            "system:kubelet-api-admin",
            json!([
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "proxy"]},
                {"apiGroups": [""], "resources": ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats", "nodes/configz", "nodes/healthz", "nodes/pods"], "verbs": ["*"]},
            ]),
        ),
        cluster_role(
            "admin",
            json!([{"apiGroups": ["", "apps", "batch", "rbac.authorization.k8s.io", "coordination.k8s.io"], "resources": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role(
            "view",
            json!([{"apiGroups": ["", "apps", "batch"], "resources": ["configmaps", "endpoints", "pods", "services", "serviceaccounts", "deployments", "daemonsets", "jobs", "events", "namespaces"], "verbs": ["get", "list", "watch"]}]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_matching() {
        let rule = json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]});
        let a = |verb, name| Attrs::Resource {
            verb,
            group: "",
            resource: "configmaps",
            subresource: None,
            namespace: Some("kube-public"),
            name,
        };
        assert!(rule_allows(&rule, &a("get", Some("cluster-info"))));
        assert!(!rule_allows(&rule, &a("get", Some("other"))));
        assert!(!rule_allows(&rule, &a("list", None)));
        assert!(!rule_allows(&rule, &a("get", None)));
        let sub = json!({"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]});
        let node = |sr| Attrs::Resource {
            verb: "patch",
            group: "",
            resource: "nodes",
            subresource: sr,
            namespace: None,
            name: Some("n1"),
        };
        assert!(rule_allows(&sub, &node(Some("status"))));
        assert!(!rule_allows(&sub, &node(None)));
        let nr = json!({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]});
        assert!(rule_allows(
            &nr,
            &Attrs::NonResource {
                verb: "get",
                path: "/apis/apps/v1"
            }
        ));
        assert!(!rule_allows(
            &nr,
            &Attrs::NonResource {
                verb: "get",
                path: "/api"
            }
        ));
    }
}
