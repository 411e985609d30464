//! HTTPS serving, authentication, routing and the REST verbs.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};

use super::rbac::{self, Attrs, User};
use super::store::{self, ApiError, Key, Part, ResourceType, Writer};
use super::{patch, RequestRecord, Shared, State};

/// Accept connections until `stop` fires.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => {
                if let Ok((tcp, _)) = r {
                    tokio::spawn(connection(tcp, acceptor.clone(), shared.clone()));
                }
            }
        }
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| super::tls::cert_identity(c.as_ref()));
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let peer = peer.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, Infallible>(handle(&shared, peer.as_ref(), &parts, &body))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
        .await;
}

/// A response before it becomes a hyper one.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }
    fn text(status: u16, s: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: s.as_bytes().to_vec(),
        }
    }
    fn error(e: &ApiError) -> Reply {
        Reply::json(e.code, &e.to_status())
    }
}

impl From<Result<Reply, ApiError>> for Reply {
    fn from(r: Result<Reply, ApiError>) -> Reply {
        r.unwrap_or_else(|e| Reply::error(&e))
    }
}

fn handle(
    shared: &Shared,
    peer: Option<&(String, Vec<String>)>,
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let header = |h: &str| parts.headers.get(h).and_then(|v| v.to_str().ok());
    let mut st = shared.lock();
    let (user, reply) = match authenticate(&st, peer, header("authorization")) {
        Err(e) => (String::new(), Reply::error(&e)),
        Ok(user) => {
            let req = Req {
                method: &method,
                path: &path,
                query: url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect(),
                content_type: header("content-type").unwrap_or(""),
                user_agent: header("user-agent").unwrap_or(""),
                body,
            };
            let reply = dispatch(shared, &mut st, &user, &req);
            (user.name, reply)
        }
    };
    st.requests.push(RequestRecord {
        method,
        path,
        query,
        user,
        status: reply.status,
    });
    drop(st);
    Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type)
        .header("cache-control", "no-cache, private")
        .body(Full::new(Bytes::from(reply.body)))
        .expect("response")
}

/// Client certificate (CN/O) first, then a bootstrap token, else anonymous.
fn authenticate(
    st: &State,
    peer: Option<&(String, Vec<String>)>,
    authorization: Option<&str>,
) -> Result<User, ApiError> {
    let with_auth = |name: String, mut groups: Vec<String>| {
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        User { name, groups }
    };
    if let Some((cn, groups)) = peer {
        return Ok(with_auth(cn.clone(), groups.clone()));
    }
    let unauthorized = || ApiError::new(401, "Unauthorized");
    if let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) {
        let (id, secret) = token.trim().split_once('.').ok_or_else(unauthorized)?;
        let lower_alnum = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        if id.len() != 6 || secret.len() != 16 || !lower_alnum(id) || !lower_alnum(secret) {
            return Err(unauthorized());
        }
        let key = Key::new(
            "v1",
            "secrets",
            Some("kube-system"),
            &format!("bootstrap-token-{id}"),
        );
        let s = st.objects.get(&key).ok_or_else(unauthorized)?;
        if s.get("type").and_then(Value::as_str) != Some("bootstrap.kubernetes.io/token")
            || s.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Err(unauthorized());
        }
        let data = |k: &str| -> Option<String> {
            use base64::Engine as _;
            let b = s.get("data")?.get(k)?.as_str()?;
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).ok()?).ok()
        };
        if data("token-id").as_deref() != Some(id)
            || data("token-secret").as_deref() != Some(secret)
            || data("usage-bootstrap-authentication").as_deref() != Some("true")
        {
            return Err(unauthorized());
        }
        if let Some(exp) = data("expiration") {
            let t =
                time::OffsetDateTime::parse(&exp, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| unauthorized())?;
            if t <= time::OffsetDateTime::now_utc() {
                return Err(unauthorized());
            }
        }
        let mut groups = vec!["system:bootstrappers".to_string()];
        for g in data("auth-extra-groups").unwrap_or_default().split(',') {
            let g = g.trim();
            if !g.is_empty() && !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
        }
        return Ok(with_auth(format!("system:bootstrap:{id}"), groups));
    }
    Ok(User {
        name: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
    })
}

/// One parsed request.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: Vec<(String, String)>,
    content_type: &'a str,
    user_agent: &'a str,
    body: &'a [u8],
}

impl Req<'_> {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn dry_run(&self) -> bool {
        self.query.iter().any(|(n, v)| n == "dryRun" && v == "All")
    }
    fn manager(&self) -> String {
        match self.q("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => self.user_agent.split('/').next().unwrap_or("").to_string(),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn dispatch(shared: &Shared, st: &mut State, user: &User, req: &Req<'_>) -> Reply {
    if let Some(i) = st
        .failures
        .iter()
        .position(|f| f.method == req.method && req.path.contains(&f.path_contains))
    {
        let f = st.failures.remove(i);
        return Reply::error(&ApiError::new(
            f.status,
            format!(
                "injected failure (HTTP {}) for {} {}",
                f.status, req.method, req.path
            ),
        ));
    }
    let segs: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let api = match segs.first() {
        Some(&"api") => Some((segs.get(1).copied(), "", 2)),
        Some(&"apis") if segs.len() >= 2 => Some((segs.get(2).copied(), segs[1], 3)),
        _ => None,
    };
    match api {
        Some((Some(version), group, skip)) if segs.len() > skip => {
            resource_request(st, user, req, group, version, &segs[skip..]).into()
        }
        _ => non_resource(shared, st, user, req, &segs).into(),
    }
}

fn not_found_path() -> ApiError {
    ApiError::new(404, "the server could not find the requested resource").details(json!({}))
}

fn non_resource(
    shared: &Shared,
    st: &mut State,
    user: &User,
    req: &Req<'_>,
    segs: &[&str],
) -> Result<Reply, ApiError> {
    let verb = req.method.to_ascii_lowercase();
    let attrs = Attrs::NonResource {
        verb: &verb,
        path: req.path,
    };
    if !rbac::authorize(st, user, &attrs) {
        return Err(ApiError::new(403, rbac::forbidden_message(user, &attrs)).details(json!({})));
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Err(ApiError::new(
            405,
            "the server does not allow this method on the requested resource".to_string(),
        ));
    }
    match segs {
        ["version"] => Ok(Reply::json(200, &version_info(&shared.git_version))),
        [h] | [h, _] if matches!(*h, "livez" | "healthz" | "readyz") => {
            let ok = if *h == "readyz" { st.readyz } else { st.livez };
            Ok(if ok {
                Reply::text(200, "ok")
            } else {
                Reply::text(
                    500,
                    &format!("[-]etcd failed: reason withheld\n{h} check failed\n"),
                )
            })
        }
        ["api"] => Ok(Reply::json(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", shared.port)}]}),
        )),
        ["apis"] => {
            let mut groups: Vec<Value> = Vec::new();
            for r in store::RESOURCES.iter().filter(|r| !r.group.is_empty()) {
                if groups.iter().any(|g| g["name"] == r.group) {
                    continue;
                }
                let gv = json!({"groupVersion": r.api_version(), "version": r.version});
                groups.push(
                    json!({"name": r.group, "versions": [gv.clone()], "preferredVersion": gv}),
                );
            }
            Ok(Reply::json(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            ))
        }
        ["apis", g] => {
            let r = store::RESOURCES
                .iter()
                .find(|r| r.group == *g)
                .ok_or_else(not_found_path)?;
            let gv = json!({"groupVersion": r.api_version(), "version": r.version});
            Ok(Reply::json(
                200,
                &json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
            ))
        }
        ["api", v] => resource_list(st, "", v),
        ["apis", g, v] => resource_list(st, g, v),
        _ => Err(not_found_path()),
    }
}

fn version_info(git_version: &str) -> Value {
    let mut parts = git_version.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("0").to_string();
    json!({
        "major": major, "minor": minor,
        "emulationMajor": major, "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor.parse::<u32>().map(|m| m.saturating_sub(1).to_string()).unwrap_or_default(),
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn resource_list(_st: &State, group: &str, version: &str) -> Result<Reply, ApiError> {
    let rts: Vec<&ResourceType> = store::RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rts.is_empty() {
        return Err(not_found_path());
    }
    let mut resources = Vec::new();
    for r in &rts {
        resources.push(json!({
            "name": r.plural, "singularName": r.kind.to_ascii_lowercase(), "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update"],
        }));
        for s in r.subresources {
            resources.push(json!({
                "name": format!("{}/{s}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    Ok(Reply::json(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": rts[0].api_version(), "resources": resources}),
    ))
}

/// `/api/v1/...` or `/apis/g/v/...` after the version segment.
fn resource_request(
    st: &mut State,
    user: &User,
    req: &Req<'_>,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Reply, ApiError> {
    if rest.is_empty() {
        return non_resource_api_list(st, user, req, group, version);
    }
    let (ns, plural, tail) = if rest[0] == "namespaces"
        && rest.len() >= 3
        && store::find(group, version, rest[2]).is_some_and(|r| r.namespaced)
    {
        (Some(rest[1]), rest[2], &rest[3..])
    } else {
        (None, rest[0], &rest[1..])
    };
    let rt = store::find(group, version, plural).ok_or_else(not_found_path)?;
    if tail.len() > 2 {
        return Err(not_found_path());
    }
    let name = tail.first().copied();
    let sub = tail.get(1).copied();
    if sub.is_some_and(|s| !rt.subresources.contains(&s)) {
        return Err(not_found_path());
    }
    if rt.namespaced && ns.is_none() && name.is_some() {
        return Err(not_found_path());
    }
    let watch = matches!(req.q("watch"), Some("true" | "1"));
    let verb = match (req.method, name) {
        ("GET", None) if watch => "watch",
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", None) => "create",
        ("PUT", Some(_)) => "update",
        ("PATCH", Some(_)) => "patch",
        ("DELETE", None) => "deletecollection",
        ("DELETE", Some(_)) => "delete",
        _ => {
            return Err(ApiError::new(
                405,
                "the server does not allow this method on the requested resource",
            ))
        }
    };
    let attrs = Attrs::Resource {
        verb,
        group,
        resource: plural,
        subresource: sub,
        namespace: ns,
        name,
    };
    if !rbac::authorize(st, user, &attrs) {
        return Err(ApiError::new(403, rbac::forbidden_message(user, &attrs))
            .details(json!({"name": name.unwrap_or(""), "group": group, "kind": plural})));
    }
    let w = Writer {
        user: &user.name,
        groups: &user.groups,
        manager: &req.manager(),
        dry_run: req.dry_run(),
    };
    let key = |n: &str| Key::of(rt, ns, n);
    match verb {
        "watch" => Err(ApiError::new(
            405,
            "watch is not supported by this in-memory test API server",
        )),
        "list" => list(st, rt, ns, req),
        "get" => {
            let n = name.unwrap_or_default();
            st.objects
                .get(&key(n))
                .map(|o| Reply::json(200, o))
                .ok_or_else(|| ApiError::not_found(rt, n))
        }
        "create" => {
            let obj = parse_json(req.body)?;
            store::create(st, rt, ns, obj, &w, "Update").map(|o| Reply::json(201, &o))
        }
        "update" => {
            let n = name.unwrap_or_default();
            let mut obj = parse_json(req.body)?;
            let part = if sub.is_some() {
                Part::Status
            } else {
                Part::Main
            };
            if sub == Some("approval") {
                obj = approval_body(st, rt, &key(n), n, obj)?;
            }
            let fields = obj.clone();
            store::update(st, rt, ns, n, obj, part, &w, "Update", &fields)
                .map(|o| Reply::json(200, &o))
        }
        "patch" => patch_request(st, rt, ns, name.unwrap_or_default(), sub, req, &w),
        "delete" => delete(st, rt, &key(name.unwrap_or_default()), req),
        _ => delete_collection(st, rt, ns, req),
    }
}

fn non_resource_api_list(
    st: &mut State,
    user: &User,
    req: &Req<'_>,
    group: &str,
    version: &str,
) -> Result<Reply, ApiError> {
    let attrs = Attrs::NonResource {
        verb: "get",
        path: req.path,
    };
    if !rbac::authorize(st, user, &attrs) {
        return Err(ApiError::new(403, rbac::forbidden_message(user, &attrs)).details(json!({})));
    }
    resource_list(st, group, version)
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            400,
            format!("the body of the request could not be decoded: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::new(
            400,
            "the body of the request was not a JSON object",
        ));
    }
    Ok(v)
}

/// The approval subresource takes only `status.conditions` from the request.
fn approval_body(
    st: &State,
    rt: &ResourceType,
    key: &Key,
    name: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let mut obj = st
        .objects
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    if !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = json!({});
    }
    obj["status"]["conditions"] = body
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(json!([]));
    if let Some(rv) = body.pointer("/metadata/resourceVersion") {
        obj["metadata"]["resourceVersion"] = rv.clone();
    }
    Ok(obj)
}

#[allow(clippy::too_many_arguments)]
fn patch_request(
    st: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    req: &Req<'_>,
    w: &Writer<'_>,
) -> Result<Reply, ApiError> {
    let ctype = req.content_type.split(';').next().unwrap_or("").trim();
    let key = Key::of(rt, ns, name);
    let existing = st.objects.get(&key).cloned();
    let part = if sub.is_some() {
        Part::Status
    } else {
        Part::Main
    };
    if ctype == "application/apply-patch+yaml" {
        if req.q("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                "fieldManager",
                "FieldValueRequired",
                "is required for apply requests",
            ));
        }
        let mut applied: Value = serde_yaml::from_slice(req.body)
            .map_err(|e| ApiError::new(400, format!("error decoding YAML: {e}")))?;
        if !applied.is_object() {
            return Err(ApiError::new(
                400,
                "the applied configuration is not an object",
            ));
        }
        for f in ["apiVersion", "kind"] {
            if applied
                .get(f)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::new(
                    400,
                    format!("invalid object type: {f} must be set in an applied configuration"),
                ));
            }
        }
        if applied.pointer("/metadata/name").is_none() {
            applied["metadata"]["name"] = json!(name);
        }
        if applied.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::new(
                400,
                "the name of the object does not match the name on the URL",
            ));
        }
        return match existing {
            None if sub.is_some() => Err(ApiError::not_found(rt, name)),
            None => store::create(st, rt, ns, applied, w, "Apply").map(|o| Reply::json(201, &o)),
            Some(live) => {
                let mut merged = live;
                patch::apply_merge(&mut merged, &applied);
                store::update(st, rt, ns, name, merged, part, w, "Apply", &applied)
                    .map(|o| Reply::json(200, &o))
            }
        };
    }
    let Some(live) = existing else {
        return Err(ApiError::not_found(rt, name));
    };
    let body: Value = serde_json::from_slice(req.body).map_err(|e| {
        ApiError::new(
            400,
            format!("the body of the request could not be decoded: {e}"),
        )
    })?;
    let mut target = live.clone();
    match ctype {
        "application/merge-patch+json" => patch::merge_patch(&mut target, &body),
        "application/strategic-merge-patch+json" => patch::strategic_merge(&mut target, &body),
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_value(body)
                .map_err(|e| ApiError::new(400, format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut target, &ops)
                .map_err(|e| ApiError::new(422, format!("the server rejected our request due to an error in our request: {e}")))?;
        }
        other => {
            return Err(ApiError::new(
                415,
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"),
            ))
        }
    }
    if !target.is_object() {
        return Err(ApiError::new(422, "the patched object is not an object"));
    }
    let fields = target.clone();
    store::update(st, rt, ns, name, target, part, w, "Update", &fields)
        .map(|o| Reply::json(200, &o))
}

/// DeleteOptions from the body and query.
fn delete_options(req: &Req<'_>) -> Result<Value, ApiError> {
    let mut opts = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(req.body)?
    };
    if let Some(p) = req.q("propagationPolicy") {
        opts["propagationPolicy"] = json!(p);
    }
    if req.dry_run() {
        opts["dryRun"] = json!(["All"]);
    }
    Ok(opts)
}

fn delete(st: &mut State, rt: &ResourceType, key: &Key, req: &Req<'_>) -> Result<Reply, ApiError> {
    let opts = delete_options(req)?;
    let Some(obj) = st.objects.get(key).cloned() else {
        return Err(ApiError::not_found(rt, &key.name));
    };
    if rt.plural == "namespaces"
        && ["default", "kube-system", "kube-public"].contains(&key.name.as_str())
    {
        return Err(ApiError::new(
            403,
            format!(
                "namespaces \"{}\" is forbidden: this namespace may not be deleted",
                key.name
            ),
        )
        .details(json!({"name": key.name, "kind": "namespaces"})));
    }
    for f in ["uid", "resourceVersion"] {
        if let Some(want) = opts
            .pointer(&format!("/preconditions/{f}"))
            .and_then(Value::as_str)
        {
            if obj
                .pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                != Some(want)
            {
                return Err(ApiError::new(
                    409,
                    format!(
                        "Operation cannot be fulfilled on {} \"{}\": Precondition failed: {f}: {want}",
                        store::qualified(rt),
                        key.name
                    ),
                )
                .details(json!({"name": key.name, "group": rt.group, "kind": rt.plural})));
            }
        }
    }
    let dry = opts
        .get("dryRun")
        .is_some_and(|d| d.as_array().is_some_and(|a| !a.is_empty()));
    if !dry {
        let gc = opts.get("propagationPolicy").and_then(Value::as_str) != Some("Orphan");
        store::remove_with_gc(st, key, gc);
    }
    Ok(Reply::json(
        200,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": key.name, "group": rt.group, "kind": rt.plural,
                "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)}}),
    ))
}

fn delete_collection(
    st: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    req: &Req<'_>,
) -> Result<Reply, ApiError> {
    let opts = delete_options(req)?;
    let items = matching(st, rt, ns, req)?;
    let dry = opts.get("dryRun").is_some();
    if !dry {
        let gc = opts.get("propagationPolicy").and_then(Value::as_str) != Some("Orphan");
        for (k, _) in &items {
            store::remove_with_gc(st, k, gc);
        }
    }
    Ok(list_reply(
        st,
        rt,
        items.into_iter().map(|(_, v)| v).collect(),
    ))
}

fn list(st: &State, rt: &ResourceType, ns: Option<&str>, req: &Req<'_>) -> Result<Reply, ApiError> {
    let items = matching(st, rt, ns, req)?;
    Ok(list_reply(
        st,
        rt,
        items.into_iter().map(|(_, v)| v).collect(),
    ))
}

fn list_reply(st: &State, rt: &ResourceType, items: Vec<Value>) -> Reply {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    Reply::json(
        200,
        &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": store::current_rv(st)}, "items": items}),
    )
}

fn matching(
    st: &State,
    rt: &ResourceType,
    ns: Option<&str>,
    req: &Req<'_>,
) -> Result<Vec<(Key, Value)>, ApiError> {
    let labels = parse_label_selector(req.q("labelSelector").unwrap_or(""))?;
    let fields = parse_field_selector(rt, req.q("fieldSelector").unwrap_or(""))?;
    Ok(st
        .objects
        .iter()
        .filter(|(k, _)| {
            k.group == rt.group && k.plural == rt.plural && ns.is_none_or(|n| k.namespace == n)
        })
        .filter(|(_, o)| labels.iter().all(|r| r.matches(o)) && fields.iter().all(|f| f.matches(o)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// One label selector requirement.
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelReq {
    fn matches(&self, obj: &Value) -> bool {
        let label = |k: &str| {
            obj.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
        };
        match self {
            LabelReq::Eq(k, v) => label(k) == Some(v),
            LabelReq::Ne(k, v) => label(k) != Some(v),
            LabelReq::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => label(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::NotExists(k) => label(k).is_none(),
        }
    }
}

/// Split on commas outside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>, ApiError> {
    let bad = |t: &str| {
        ApiError::new(
            400,
            format!("unable to parse requirement: invalid label selector {t:?}"),
        )
    };
    let mut out = Vec::new();
    for t in split_terms(s) {
        if let Some(k) = t.strip_prefix('!') {
            out.push(LabelReq::NotExists(k.trim().to_string()));
        } else if let Some(open) = t.find('(') {
            let head: Vec<&str> = t[..open].split_whitespace().collect();
            let vals: Vec<String> = t[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| bad(t))?
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            match head.as_slice() {
                [k, "in"] => out.push(LabelReq::In(k.to_string(), vals)),
                [k, "notin"] => out.push(LabelReq::NotIn(k.to_string(), vals)),
                _ => return Err(bad(t)),
            }
        } else if let Some((k, v)) = t.split_once("!=") {
            out.push(LabelReq::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            out.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
        } else if t.contains(char::is_whitespace) {
            return Err(bad(t));
        } else {
            out.push(LabelReq::Exists(t.to_string()));
        }
    }
    Ok(out)
}

/// One field selector requirement: field path, value, negated.
struct FieldReq(String, String, bool);

impl FieldReq {
    fn matches(&self, obj: &Value) -> bool {
        let mut cur = obj;
        for p in self.0.split('.') {
            cur = cur.get(p).unwrap_or(&Value::Null);
        }
        let actual = match cur {
            Value::String(s) => s.clone(),
            // A bool field left out is false, as the real server's field conversion says.
            Value::Null if self.0 == "spec.unschedulable" => "false".into(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        (actual == self.1) != self.2
    }
}

fn parse_field_selector(rt: &ResourceType, s: &str) -> Result<Vec<FieldReq>, ApiError> {
    let extra: &[&str] = match (rt.group, rt.plural) {
        ("", "secrets") => &["type"],
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
        ],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "reason",
            "type",
            "source",
        ],
        ("certificates.k8s.io", _) => &["spec.signerName"],
        _ => &[],
    };
    let mut out = Vec::new();
    for t in split_terms(s) {
        let (k, v, neg) = if let Some((k, v)) = t.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            (k, v, false)
        } else {
            return Err(ApiError::new(400, format!("invalid field selector: {t:?}")));
        };
        let k = k.trim();
        if k != "metadata.name" && k != "metadata.namespace" && !extra.contains(&k) {
            return Err(ApiError::new(
                400,
                format!("\"{k}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""),
            ));
        }
        out.push(FieldReq(k.to_string(), v.trim().to_string(), neg));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let m = |s: &str| {
            parse_label_selector(s)
                .unwrap()
                .iter()
                .all(|r| r.matches(&o))
        };
        assert!(m("a=1,b"));
        assert!(m("a==1, b in (2,3)"));
        assert!(!m("a=2"));
        assert!(m("c notin (x),!c"));
        assert!(!m("a notin (1)"));
        assert!(m("a!=3"));
        assert!(!m("!a"));
        assert_eq!(split_terms("a in (1,2),b"), vec!["a in (1,2)", "b"]);
    }

    #[test]
    fn unschedulable_field_selector_treats_absent_as_false() {
        let m = |obj: &Value, sel: &str| {
            let nodes = store::RESOURCES
                .iter()
                .find(|r| r.group.is_empty() && r.plural == "nodes")
                .unwrap();
            parse_field_selector(nodes, sel)
                .unwrap()
                .iter()
                .all(|r| r.matches(obj))
        };
        let plain = json!({"metadata": {"name": "n1"}});
        let cordoned = json!({"metadata": {"name": "n2"}, "spec": {"unschedulable": true}});
        assert!(m(&plain, "spec.unschedulable=false"));
        assert!(!m(&cordoned, "spec.unschedulable=false"));
        assert!(m(&cordoned, "spec.unschedulable=true"));
        assert!(!m(&plain, "spec.unschedulable=true"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("system%3Anode"), "system:node");
        assert_eq!(percent_decode("a%"), "a%");
    }
}
