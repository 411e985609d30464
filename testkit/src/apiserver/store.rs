//! The served resource types, the generic object store and its write operations (create, update,
//! delete with garbage collection), with errors shaped like the real server's `metav1.Status`.

use serde_json::{json, Map, Value};

use super::{patch, State};

/// One served resource type.
#[derive(Debug)]
pub(crate) struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Subresources besides the object itself (`status`, `approval`).
    pub subresources: &'static [&'static str],
}

impl ResourceType {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }
    /// RBAC-style names allow `:` (path segment names); others are DNS subdomains.
    fn path_segment_names(&self) -> bool {
        self.group == "rbac.authorization.k8s.io"
    }
}

const S: &[&str] = &["status"];
const NONE: &[&str] = &[];

/// Everything served.
pub(crate) static RESOURCES: &[ResourceType] = &[
    rt("", "v1", "configmaps", "ConfigMap", true, NONE),
    rt("", "v1", "secrets", "Secret", true, NONE),
    rt("", "v1", "serviceaccounts", "ServiceAccount", true, NONE),
    rt("", "v1", "services", "Service", true, S),
    rt("", "v1", "nodes", "Node", false, S),
    rt("", "v1", "pods", "Pod", true, S),
    rt("", "v1", "events", "Event", true, NONE),
    rt("", "v1", "endpoints", "Endpoints", true, NONE),
    rt("", "v1", "namespaces", "Namespace", false, S),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        NONE,
    ),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        NONE,
    ),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        NONE,
    ),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        NONE,
    ),
    rt("apps", "v1", "deployments", "Deployment", true, S),
    rt("apps", "v1", "daemonsets", "DaemonSet", true, S),
    rt(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        false,
        &["status", "approval"],
    ),
    rt("batch", "v1", "jobs", "Job", true, S),
    rt("coordination.k8s.io", "v1", "leases", "Lease", true, NONE),
];

const fn rt(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    subresources: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        kind,
        namespaced,
        subresources,
    }
}

/// The group of an apiVersion (`v1` → ``, `apps/v1` → `apps`).
pub(crate) fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// The resource type for a group/version/plural.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// Store key: group, plural, namespace (empty for cluster-scoped), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(api_version: &str, plural: &str, namespace: Option<&str>, name: &str) -> Key {
        Key {
            group: group_of(api_version).to_string(),
            plural: plural.to_string(),
            namespace: namespace.unwrap_or("").to_string(),
            name: name.to_string(),
        }
    }
    pub fn of(rt: &ResourceType, namespace: Option<&str>, name: &str) -> Key {
        Key {
            group: rt.group.to_string(),
            plural: rt.plural.to_string(),
            namespace: if rt.namespaced {
                namespace.unwrap_or("").to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// An API error, answered as `metav1.Status`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason_for(code),
            message: message.into(),
            details: None,
        }
    }
    pub fn details(mut self, d: Value) -> ApiError {
        self.details = Some(d);
        self
    }
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(404, format!("{} \"{name}\" not found", rt.plural))
            .details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
    }
    pub fn namespace_not_found(ns: &str) -> ApiError {
        ApiError::new(404, format!("namespaces \"{ns}\" not found"))
            .details(json!({"name": ns, "kind": "namespaces"}))
    }
    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(rt)
            ),
        )
        .details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
    }
    pub fn invalid(
        kind: &str,
        group: &str,
        name: &str,
        field: &str,
        ty: &str,
        detail: &str,
    ) -> ApiError {
        let gk = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let msg = if ty == "FieldValueRequired" {
            format!("{field}: Required value: {detail}")
        } else {
            format!("{field}: Invalid value: {detail}")
        };
        ApiError::new(422, format!("{gk} \"{name}\" is invalid: {msg}")).details(json!({
            "name": name, "group": group, "kind": kind,
            "causes": [{"reason": ty, "message": msg.split_once(": ").map(|(_, m)| m).unwrap_or(&msg), "field": field}]
        }))
    }
    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        if self.reason.is_empty() {
            v.as_object_mut().map(|m| m.remove("reason"));
        }
        v
    }
}

/// `plural` or `plural.group` as the real server names resources in messages.
pub(crate) fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

/// The `metav1.StatusReason` for a code.
pub(crate) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        500..=599 => "InternalError",
        _ => "",
    }
}

/// Now as RFC 3339 with second precision, e.g. `2026-11-25T19:51:07Z`.
pub(crate) fn now() -> String {
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    b
}

/// A random v4 UUID string.
pub(crate) fn new_uid() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// 5 characters as the real `generateName` appends.
fn name_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes::<5>()
        .iter()
        .map(|b| ALPHA[*b as usize % ALPHA.len()] as char)
        .collect()
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let ok = if rt.path_segment_names() {
        !name.contains('/') && !name.contains('%') && name != "." && name != ".."
    } else if rt.plural == "namespaces" {
        name.len() <= 63 && is_dns_subdomain(name) && !name.contains('.')
    } else {
        is_dns_subdomain(name)
    };
    if ok {
        Ok(())
    } else {
        let detail = if rt.path_segment_names() {
            format!("\"{name}\": may not contain '/' or '%'")
        } else {
            format!("\"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        };
        Err(ApiError::invalid(
            rt.kind,
            rt.group,
            name,
            "metadata.name",
            "FieldValueInvalid",
            &detail,
        ))
    }
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata object")
}

fn next_rv(st: &mut State) -> String {
    st.rv += 1;
    st.rv.to_string()
}

/// Current global resourceVersion.
pub(crate) fn current_rv(st: &State) -> String {
    st.rv.to_string()
}

/// Who is writing, for `managedFields` and CSR user info.
pub(crate) struct Writer<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub manager: &'a str,
    pub dry_run: bool,
}

fn check_kind(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::new(
            400,
            "the body of the request was not a JSON object",
        ));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
        if av != rt.api_version() {
            return Err(ApiError::new(
                400,
                format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    rt.api_version()
                ),
            ));
        }
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str) {
        if k != rt.kind {
            return Err(ApiError::new(
                400,
                format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    rt.kind
                ),
            ));
        }
    }
    Ok(())
}

/// Type-specific defaulting the real server does on every write.
fn normalize(rt: &ResourceType, obj: &mut Value) {
    match (rt.group, rt.plural) {
        ("", "secrets") => {
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                use base64::Engine as _;
                if !obj.get("data").is_some_and(Value::is_object) {
                    obj["data"] = json!({});
                }
                for (k, v) in sd {
                    let s = v.as_str().unwrap_or_default().to_string();
                    obj["data"][k] =
                        Value::String(base64::engine::general_purpose::STANDARD.encode(s));
                }
            }
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                obj["type"] = json!("Opaque");
            }
        }
        ("", "namespaces") => {
            let name = meta_str(obj, "name").unwrap_or_default().to_string();
            let m = meta_mut(obj);
            if !m.get("labels").is_some_and(Value::is_object) {
                m.insert("labels".into(), json!({}));
            }
            m["labels"]["kubernetes.io/metadata.name"] = json!(name);
            if obj.get("spec").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            if obj.pointer("/status/phase").is_none() {
                obj["status"] = json!({"phase": "Active"});
            }
        }
        _ => {}
    }
}

fn set_managed(
    obj: &mut Value,
    manager: &str,
    operation: &str,
    api_version: &str,
    fields_from: &Value,
) {
    if manager.is_empty() {
        return;
    }
    let entry = json!({
        "manager": manager, "operation": operation, "apiVersion": api_version,
        "time": now(), "fieldsType": "FieldsV1", "fieldsV1": patch::fields_v1(fields_from),
    });
    let m = meta_mut(obj);
    let list = m.entry("managedFields").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let arr = list.as_array_mut().expect("array");
    arr.retain(|e| {
        !(e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some(operation))
    });
    arr.push(entry);
}

/// Create `obj` in `ns`. Returns the stored object.
pub(crate) fn create(
    st: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    mut obj: Value,
    w: &Writer<'_>,
    operation: &str,
) -> Result<Value, ApiError> {
    check_kind(rt, &obj)?;
    let name = meta_str(&obj, "name").unwrap_or_default().to_string();
    let generate = meta_str(&obj, "generateName")
        .unwrap_or_default()
        .to_string();
    if name.is_empty() && generate.is_empty() {
        return Err(ApiError::invalid(
            rt.kind,
            rt.group,
            "",
            "metadata.name",
            "FieldValueRequired",
            "name or generateName is required",
        ));
    }
    if rt.namespaced {
        let ns = ns.unwrap_or("");
        match meta_str(&obj, "namespace") {
            Some(bns) if !bns.is_empty() && bns != ns => {
                return Err(ApiError::new(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {}
        }
        if ns.is_empty() {
            return Err(ApiError::new(
                404,
                "the server could not find the requested resource",
            ));
        }
        if !st
            .objects
            .contains_key(&Key::new("v1", "namespaces", None, ns))
        {
            return Err(ApiError::namespace_not_found(ns));
        }
        meta_mut(&mut obj).insert("namespace".into(), json!(ns));
    } else {
        meta_mut(&mut obj).remove("namespace");
    }
    let name = if name.is_empty() {
        loop {
            let n = format!("{generate}{}", name_suffix());
            if !st.objects.contains_key(&Key::of(rt, ns, &n)) {
                break n;
            }
        }
    } else {
        name
    };
    validate_name(rt, &name)?;
    let key = Key::of(rt, ns, &name);
    if st.objects.contains_key(&key) {
        return Err(
            ApiError::new(409, format!("{} \"{name}\" already exists", rt.plural))
                .details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
                .with_reason("AlreadyExists"),
        );
    }
    let o = obj.as_object_mut().expect("object");
    o.insert("apiVersion".into(), json!(rt.api_version()));
    o.insert("kind".into(), json!(rt.kind));
    normalize(rt, &mut obj);
    if rt.plural == "certificatesigningrequests" {
        obj["spec"]["username"] = json!(w.user);
        obj["spec"]["groups"] = json!(w.groups);
        obj["spec"]["uid"] = json!("");
    }
    let fields = obj.clone();
    let rv = if w.dry_run {
        current_rv(st)
    } else {
        next_rv(st)
    };
    let m = meta_mut(&mut obj);
    m.insert("name".into(), json!(name));
    m.insert("uid".into(), json!(new_uid()));
    m.insert("resourceVersion".into(), json!(rv));
    m.insert("creationTimestamp".into(), json!(now()));
    m.remove("deletionTimestamp");
    m.remove("selfLink");
    m.remove("managedFields");
    if obj.get("spec").is_some()
        && rt.has_status()
        && rt.plural != "nodes"
        && rt.plural != "namespaces"
    {
        meta_mut(&mut obj).insert("generation".into(), json!(1));
    }
    set_managed(&mut obj, w.manager, operation, &rt.api_version(), &fields);
    if !w.dry_run {
        st.objects.insert(key, obj.clone());
    }
    Ok(obj)
}

impl ApiError {
    pub fn with_reason(mut self, reason: &'static str) -> ApiError {
        self.reason = reason;
        self
    }
}

/// How an update replaces the live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The main resource: `.status` is kept from the live object.
    Main,
    /// The `status` (or `approval`) subresource: only `.status` is taken from the new object.
    Status,
}

/// Replace the live object `name` with `new` (PUT, or the result of a patch). `check_rv`: honour
/// `metadata.resourceVersion` of `new` as a precondition.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update(
    st: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    mut new: Value,
    part: Part,
    w: &Writer<'_>,
    operation: &str,
    fields: &Value,
) -> Result<Value, ApiError> {
    check_kind(rt, &new)?;
    let key = Key::of(rt, ns, name);
    let Some(old) = st.objects.get(&key).cloned() else {
        return Err(ApiError::not_found(rt, name));
    };
    if let Some(n) = meta_str(&new, "name") {
        if n != name {
            return Err(ApiError::new(
                400,
                format!("the name of the object ({n}) does not match the name on the URL ({name})"),
            ));
        }
    }
    if rt.namespaced {
        if let Some(bns) = meta_str(&new, "namespace") {
            if !bns.is_empty() && Some(bns) != ns {
                return Err(ApiError::new(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    }
    if let Some(rv) = meta_str(&new, "resourceVersion") {
        if !rv.is_empty() && Some(rv) != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(rt, name));
        }
    }
    if part == Part::Status {
        let mut merged = old.clone();
        match new.get("status") {
            Some(s) => merged["status"] = s.clone(),
            None => {
                merged.as_object_mut().map(|m| m.remove("status"));
            }
        }
        new = merged;
    } else if rt.has_status() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|m| m.remove("status"));
            }
        }
    }
    let o = new.as_object_mut().expect("object");
    o.insert("apiVersion".into(), json!(rt.api_version()));
    o.insert("kind".into(), json!(rt.kind));
    normalize(rt, &mut new);
    if rt.plural == "certificatesigningrequests" {
        new["spec"] = old.get("spec").cloned().unwrap_or(Value::Null);
    }
    let old_meta = meta(&old).cloned().unwrap_or_default();
    let spec_changed = new.get("spec") != old.get("spec");
    let m = meta_mut(&mut new);
    for f in [
        "uid",
        "creationTimestamp",
        "name",
        "namespace",
        "generation",
        "deletionTimestamp",
    ] {
        match old_meta.get(f) {
            Some(v) => {
                m.insert(f.into(), v.clone());
            }
            None => {
                m.remove(f);
            }
        }
    }
    if !m.contains_key("managedFields") {
        if let Some(mf) = old_meta.get("managedFields") {
            m.insert("managedFields".into(), mf.clone());
        }
    }
    if spec_changed {
        if let Some(g) = m.get("generation").and_then(Value::as_i64) {
            m.insert("generation".into(), json!(g + 1));
        }
    }
    if new == old {
        // Real server: a no-op update does not bump resourceVersion.
        return Ok(old);
    }
    let rv = if w.dry_run {
        current_rv(st)
    } else {
        next_rv(st)
    };
    meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
    set_managed(&mut new, w.manager, operation, &rt.api_version(), fields);
    if !w.dry_run {
        st.objects.insert(key, new.clone());
    }
    Ok(new)
}

/// Remove an object; then garbage-collect dependents (objects whose `ownerReferences` point at it)
/// unless `gc` is false (orphan propagation). Deleting a namespace removes everything in it.
pub(crate) fn remove_with_gc(st: &mut State, key: &Key, gc: bool) -> Option<Value> {
    let obj = st.objects.remove(key)?;
    st.rv += 1;
    if key.group.is_empty() && key.plural == "namespaces" {
        let ns = key.name.clone();
        st.objects.retain(|k, _| k.namespace != ns);
    }
    if gc {
        if let Some(uid) = meta_str(&obj, "uid") {
            collect_garbage(st, uid.to_string());
        }
    }
    Some(obj)
}

fn owner_uids(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn collect_garbage(st: &mut State, uid: String) {
    let mut pending = vec![uid];
    while let Some(gone) = pending.pop() {
        let live: std::collections::HashSet<String> = st
            .objects
            .values()
            .filter_map(|o| meta_str(o, "uid").map(str::to_string))
            .collect();
        let dependents: Vec<Key> = st
            .objects
            .iter()
            .filter(|(_, o)| owner_uids(o).contains(&gone))
            .map(|(k, _)| k.clone())
            .collect();
        for k in dependents {
            let obj = st.objects.get(&k).cloned().expect("dependent");
            if owner_uids(&obj).iter().any(|u| live.contains(u)) {
                // Another owner is alive: only drop the dangling reference, as the real GC does.
                let mut o = obj;
                if let Some(refs) = meta_mut(&mut o)
                    .get_mut("ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(&gone));
                }
                st.rv += 1;
                meta_mut(&mut o).insert("resourceVersion".into(), json!(st.rv.to_string()));
                st.objects.insert(k, o);
            } else {
                st.objects.remove(&k);
                st.rv += 1;
                if let Some(u) = meta_str(&obj, "uid") {
                    pending.push(u.to_string());
                }
            }
        }
    }
}

/// Seed an object (create or replace) without API checks.
pub(crate) fn insert(st: &mut State, mut obj: Value) -> anyhow::Result<()> {
    let av = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let rt = find_kind(av, kind)
        .ok_or_else(|| anyhow::anyhow!("insert: apiVersion {av:?} kind {kind:?} is not served"))?;
    let name = meta_str(&obj, "name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| anyhow::anyhow!("insert: metadata.name is required"))?
        .to_string();
    let ns = meta_str(&obj, "namespace").map(str::to_string);
    anyhow::ensure!(
        !rt.namespaced || ns.as_deref().is_some_and(|n| !n.is_empty()),
        "insert: {kind} {name} needs metadata.namespace"
    );
    normalize(rt, &mut obj);
    st.rv += 1;
    let rv = st.rv.to_string();
    let m = meta_mut(&mut obj);
    m.entry("uid").or_insert_with(|| json!(new_uid()));
    m.entry("creationTimestamp").or_insert_with(|| json!(now()));
    m.insert("resourceVersion".into(), json!(rv));
    st.objects.insert(Key::of(rt, ns.as_deref(), &name), obj);
    Ok(())
}

impl State {
    /// A fresh cluster: the four standard namespaces and the default RBAC policy.
    pub(crate) fn new() -> State {
        let mut st = State {
            objects: Default::default(),
            rv: 0,
            requests: Vec::new(),
            livez: true,
            readyz: true,
            failures: Vec::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            insert(
                &mut st,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .expect("seed namespace");
        }
        for obj in super::rbac::default_policy() {
            insert(&mut st, obj).expect("seed RBAC");
        }
        st
    }
}
