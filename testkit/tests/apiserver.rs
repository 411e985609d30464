//! The in-memory test API server driven by the real `kube` client through kubeconfig files.

use std::path::{Path, PathBuf};

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use testkit::apiserver::{ApiServer, GeneratedTls, TlsMaterial};

struct Env {
    server: ApiServer,
    tls: GeneratedTls,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let (server, tls) = ApiServer::start_generated("v1.36.2").unwrap();
        Env {
            server,
            tls,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn admin(&self) -> Client {
        let p = self.path("admin.conf");
        self.server.write_admin_kubeconfig(&p, &self.tls).unwrap();
        client(&p).await
    }

    async fn user(&self, name: &str, group: Option<&str>) -> Client {
        let (cert, key) = self.tls.client_cert(name, group).unwrap();
        let p = self.path(&format!("{}.conf", name.replace(':', "_")));
        self.server
            .write_kubeconfig(&p, &cert, &key, &self.tls.ca_cert_pem)
            .unwrap();
        client(&p).await
    }

    async fn token(&self, token: Option<&str>) -> Client {
        let p = self.path(&format!("token-{}.conf", token.unwrap_or("anonymous")));
        self.server
            .write_token_kubeconfig(&p, token, &self.tls.ca_cert_pem)
            .unwrap();
        client(&p).await
    }
}

async fn client(path: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

/// The API error status of a failed call.
fn status<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap()
}

fn token_secret(id: &str, secret: &str, expiration: Option<&str>) -> Secret {
    let mut data = json!({
        "token-id": id, "token-secret": secret,
        "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
    });
    if let Some(e) = expiration {
        data["expiration"] = json!(e);
    }
    serde_json::from_value(json!({
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": data,
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_conflicts_and_validation() {
    let env = Env::new();
    let api: Api<ConfigMap> = Api::namespaced(env.admin().await, "default");
    let pp = PostParams::default();

    let created = api
        .create(&pp, &cm("one", json!({"a": "1"})))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    assert!(!uid.is_empty());
    assert!(created.metadata.creation_timestamp.is_some());
    let got = api.get("one").await.unwrap();
    assert_eq!(got.data.unwrap()["a"], "1");
    let stored = env
        .server
        .get("v1", "configmaps", Some("default"), "one")
        .unwrap();
    assert_eq!(stored["kind"], "ConfigMap");
    assert_eq!(stored["apiVersion"], "v1");
    assert_eq!(stored["metadata"]["uid"], uid.as_str());

    let (code, reason, msg) = status(api.create(&pp, &cm("one", json!({}))).await);
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(msg, "configmaps \"one\" already exists");

    let (code, reason, msg) = status(api.get("missing").await);
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (404, "NotFound", "configmaps \"missing\" not found")
    );

    // Update with the current resourceVersion works and bumps it; a stale one conflicts.
    let mut fresh = api.get("one").await.unwrap();
    let stale = fresh.clone();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = api.replace("one", &pp, &fresh).await.unwrap();
    let rv_old: u64 = stale
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let rv_new: u64 = updated
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv_new > rv_old);
    assert_eq!(updated.metadata.uid.as_deref(), Some(uid.as_str()));
    let (code, reason, _) = status(api.replace("one", &pp, &stale).await);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let (code, _, _) = status(api.replace("nothere", &pp, &cm("nothere", json!({}))).await);
    assert_eq!(code, 404);

    // Missing name → 422 Invalid; generateName works.
    let noname: ConfigMap = serde_json::from_value(json!({"metadata": {}})).unwrap();
    let (code, reason, msg) = status(api.create(&pp, &noname).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(msg.contains("metadata.name: Required value"), "{msg}");
    let gen: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let g = api.create(&pp, &gen).await.unwrap();
    let gname = g.metadata.name.unwrap();
    assert!(gname.starts_with("gen-") && gname.len() == 9, "{gname}");
    let (code, reason, _) = status(api.create(&pp, &cm("Bad_Name", json!({}))).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    // Creating in a namespace that does not exist → 404 naming the namespace.
    let nope: Api<ConfigMap> = Api::namespaced(env.admin().await, "nope");
    let (code, _, msg) = status(nope.create(&pp, &cm("x", json!({}))).await);
    assert_eq!((code, msg.as_str()), (404, "namespaces \"nope\" not found"));

    // dryRun validates without storing.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &cm("dry", json!({}))).await.unwrap();
    assert!(env
        .server
        .get("v1", "configmaps", Some("default"), "dry")
        .is_none());
}

#[tokio::test]
async fn server_side_apply_creates_and_merges() {
    let env = Env::new();
    let client = env.admin().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "labels": {"a": "1"}}, "data": {"ClusterConfiguration": "x"}});
    let first = api
        .patch(
            "kubeadm-config",
            &PatchParams::apply("first"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(first.data.as_ref().unwrap()["ClusterConfiguration"], "x");
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "labels": {"b": "2"}}, "data": {"other": "y"}});
    let merged = api
        .patch(
            "kubeadm-config",
            &PatchParams::apply("second").force(),
            &Patch::Apply(&second),
        )
        .await
        .unwrap();
    let data = merged.data.unwrap();
    assert_eq!(
        (
            data["ClusterConfiguration"].as_str(),
            data["other"].as_str()
        ),
        ("x", "y")
    );
    let labels = merged.metadata.labels.unwrap();
    assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("1", "2"));
    let managers: Vec<String> = merged
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| format!("{}/{}", m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert_eq!(managers, vec!["first/Apply", "second/Apply"]);

    // Apply without fieldManager is rejected like the real server (kube validates this client-side,
    // so send the raw request).
    let req =
        hyper::http::Request::patch("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
            .header("content-type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(&second).unwrap())
            .unwrap();
    let (code, reason, msg) = status(client.request_text(req).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(msg.contains("fieldManager: Required value"), "{msg}");
}

fn node(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]}})
}

#[tokio::test]
async fn merge_strategic_and_json_patches_of_a_node() {
    let env = Env::new();
    env.server.insert(node("cp1")).unwrap();
    let nodes: Api<Node> = Api::all(env.admin().await);
    let pp = PatchParams::default();

    let n = nodes
        .patch(
            "cp1",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(n.metadata.labels.unwrap().len(), 2);

    // Strategic merge patch as kubeadm's mark-control-plane computes it: taints carry no merge key in
    // the Node type, so the list is replaced; a status change through the main resource is ignored.
    let patch = json!({"spec": {"taints": [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let n = nodes
        .patch("cp1", &pp, &Patch::Strategic(patch))
        .await
        .unwrap();
    let taints = n.spec.unwrap().taints.unwrap();
    assert_eq!(taints.len(), 2);
    assert_eq!(taints[1].key, "node-role.kubernetes.io/control-plane");
    assert_eq!(
        n.status.as_ref().unwrap().conditions.as_ref().unwrap()[0].status,
        "False"
    );

    // The status subresource merges conditions by type.
    let n = nodes
        .patch_status(
            "cp1",
            &pp,
            &Patch::Strategic(
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            ),
        )
        .await
        .unwrap();
    let conds = n.status.unwrap().conditions.unwrap();
    assert_eq!(conds.len(), 2);
    assert_eq!(
        (conds[0].type_.as_str(), conds[0].status.as_str()),
        ("Ready", "True")
    );

    // JSON patch (kube's typed Patch::Json needs a feature the workspace does not enable: raw request).
    let ops = json!([
        {"op": "remove", "path": "/spec/taints/0"},
        {"op": "add", "path": "/metadata/annotations", "value": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock"}}
    ]);
    let req = hyper::http::Request::patch("/api/v1/nodes/cp1")
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(&ops).unwrap())
        .unwrap();
    let n: Node = env.admin().await.request(req).await.unwrap();
    assert_eq!(n.spec.unwrap().taints.unwrap().len(), 1);
    assert!(n
        .metadata
        .annotations
        .unwrap()
        .contains_key("kubeadm.alpha.kubernetes.io/cri-socket"));

    let (code, _, _) = status(nodes.patch("ghost", &pp, &Patch::Merge(json!({}))).await);
    assert_eq!(code, 404);
}

#[tokio::test]
async fn delete_garbage_collects_owned_objects() {
    let env = Env::new();
    let secrets: Api<Secret> = Api::namespaced(env.admin().await, "kube-system");
    let pp = PostParams::default();
    let token = secrets
        .create(&pp, &token_secret("abcdef", "0123456789abcdef", None))
        .await
        .unwrap();
    assert_eq!(token.data.as_ref().unwrap()["token-id"].0, b"abcdef");
    let owned = |name: &str| -> Secret {
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "Secret", "name": "bootstrap-token-abcdef",
            "uid": token.metadata.uid.clone().unwrap(), "blockOwnerDeletion": true, "controller": true}]},
            "type": "Opaque", "data": {}}))
        .unwrap()
    };
    secrets.create(&pp, &owned("kubeadm-certs")).await.unwrap();
    secrets.create(&pp, &cm_secret("unrelated")).await.unwrap();

    secrets
        .delete("bootstrap-token-abcdef", &DeleteParams::default())
        .await
        .unwrap();
    assert!(env
        .server
        .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .is_none());
    assert!(env
        .server
        .get("v1", "secrets", Some("kube-system"), "unrelated")
        .is_some());
    let (code, _, _) = status(
        secrets
            .delete("bootstrap-token-abcdef", &DeleteParams::default())
            .await,
    );
    assert_eq!(code, 404);

    // Orphan propagation keeps the dependents.
    let token = secrets
        .create(&pp, &token_secret("bcdefg", "0123456789abcdef", None))
        .await
        .unwrap();
    let mut dep = owned("kubeadm-certs");
    dep.metadata.owner_references.as_mut().unwrap()[0].uid = token.metadata.uid.unwrap();
    secrets.create(&pp, &dep).await.unwrap();
    secrets
        .delete("bootstrap-token-bcdefg", &DeleteParams::orphan())
        .await
        .unwrap();
    assert!(env
        .server
        .get("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .is_some());
}

fn cm_secret(name: &str) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {}})).unwrap()
}

#[tokio::test]
async fn list_with_label_and_field_selectors() {
    let env = Env::new();
    let client = env.admin().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    for (name, labels) in [
        ("a", json!({"app": "x", "tier": "1"})),
        ("b", json!({"app": "y"})),
        ("c", json!({"app": "x"})),
    ] {
        let o: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        api.create(&pp, &o).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .map(|o| o.metadata.name.unwrap())
            .collect()
    };
    let all = api.list(&ListParams::default()).await.unwrap();
    assert!(all.metadata.resource_version.is_some());
    assert_eq!(names(all), ["a", "b", "c"]);
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app=x,tier"))
                .await
                .unwrap()
        ),
        ["a"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app in (x,y),!tier"))
                .await
                .unwrap()
        ),
        ["b", "c"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    let (code, _, _) = status(
        api.list(&ListParams::default().fields("spec.bogus=1"))
            .await,
    );
    assert_eq!(code, 400);

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    secrets
        .create(&pp, &token_secret("abcdef", "0123456789abcdef", None))
        .await
        .unwrap();
    secrets.create(&pp, &cm_secret("plain")).await.unwrap();
    let tokens = secrets
        .list(&ListParams::default().fields("type=bootstrap.kubernetes.io/token"))
        .await
        .unwrap();
    assert_eq!(tokens.items.len(), 1);
    assert_eq!(
        tokens.items[0].metadata.name.as_deref(),
        Some("bootstrap-token-abcdef")
    );
    // All namespaces.
    let every: Api<ConfigMap> = Api::all(client);
    assert_eq!(
        every
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
}

fn rfc3339(offset_secs: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn bootstrap_token_authentication_and_rbac() {
    let env = Env::new();
    let admin = env.admin().await;
    let pp = PostParams::default();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    secrets
        .create(
            &pp,
            &token_secret("abcdef", "0123456789abcdef", Some(&rfc3339(3600))),
        )
        .await
        .unwrap();
    secrets
        .create(
            &pp,
            &token_secret("expire", "0123456789abcdef", Some(&rfc3339(-60))),
        )
        .await
        .unwrap();
    env.server.insert(node("cp1")).unwrap();

    let boot = env.token(Some("abcdef.0123456789abcdef")).await;
    let nodes: Api<Node> = Api::all(boot.clone());
    let (code, reason, msg) = status(nodes.get("cp1").await);
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        msg,
        "nodes \"cp1\" is forbidden: User \"system:bootstrap:abcdef\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
    );

    // kubeadm's bootstrap-token RBAC: get nodes and create CSRs for the default node token group.
    let group = "system:bootstrappers:kubeadm:default-node-token";
    let role: ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": "kubeadm:get-nodes"},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}))
        .unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .create(&pp, &role)
        .await
        .unwrap();
    let crbs: Api<ClusterRoleBinding> = Api::all(admin.clone());
    for (name, role) in [
        ("kubeadm:get-nodes", "kubeadm:get-nodes"),
        ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper"),
    ] {
        let b: ClusterRoleBinding = serde_json::from_value(json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}))
        .unwrap();
        crbs.create(&pp, &b).await.unwrap();
    }
    assert_eq!(
        nodes.get("cp1").await.unwrap().metadata.name.as_deref(),
        Some("cp1")
    );
    let (code, _, _) = status(nodes.list(&ListParams::default()).await);
    assert_eq!(code, 403);

    let csrs: Api<CertificateSigningRequest> = Api::all(boot);
    let csr: CertificateSigningRequest = serde_json::from_value(json!({"metadata": {"generateName": "csr-"},
        "spec": {"request": "LS0tLS1CRUdJTg==", "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"]}}))
    .unwrap();
    let created = csrs.create(&pp, &csr).await.unwrap();
    let spec = created.spec;
    assert_eq!(spec.username.as_deref(), Some("system:bootstrap:abcdef"));
    assert_eq!(
        spec.groups.unwrap(),
        ["system:bootstrappers", group, "system:authenticated"]
    );

    // Expired token, wrong secret and malformed token → 401.
    for bad in [
        "expire.0123456789abcdef",
        "abcdef.0000000000000000",
        "not-a-token",
    ] {
        let c = env.token(Some(bad)).await;
        let (code, reason, _) = status(Api::<Node>::all(c).get("cp1").await);
        assert_eq!((code, reason.as_str()), (401, "Unauthorized"), "{bad}");
    }
    let recs = env.server.requests();
    assert!(recs.iter().any(|r| r.user == "system:bootstrap:abcdef"
        && r.path == "/api/v1/nodes/cp1"
        && r.status == 200));
    assert!(recs.iter().any(|r| r.user.is_empty() && r.status == 401));

    // A node client certificate gets the node rules; an unknown user nothing.
    let kubelet = env.user("system:node:cp1", Some("system:nodes")).await;
    let n = Api::<Node>::all(kubelet)
        .patch_status(
            "cp1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert_eq!(n.status.unwrap().phase.as_deref(), Some("Running"));
    let nobody = env.user("nobody", None).await;
    let (code, _, msg) = status(
        Api::<Secret>::namespaced(nobody, "kube-system")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(code, 403);
    assert_eq!(msg, "secrets is forbidden: User \"nobody\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\"");
}

#[tokio::test]
async fn anonymous_cluster_info_needs_the_bootstrap_rbac() {
    let env = Env::new();
    let admin = env.admin().await;
    let pp = PostParams::default();
    Api::<ConfigMap>::namespaced(admin.clone(), "kube-public")
        .create(
            &pp,
            &cm("cluster-info", json!({"kubeconfig": "apiVersion: v1\n"})),
        )
        .await
        .unwrap();
    let anon = env.token(None).await;
    let public: Api<ConfigMap> = Api::namespaced(anon.clone(), "kube-public");
    let (code, _, msg) = status(public.get("cluster-info").await);
    assert_eq!(code, 403);
    assert_eq!(msg, "configmaps \"cluster-info\" is forbidden: User \"system:anonymous\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"kube-public\"");

    let role: Role = serde_json::from_value(json!({"metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]}]}))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), "kube-public")
        .create(&pp, &role)
        .await
        .unwrap();
    assert_eq!(status(public.get("cluster-info").await).0, 403);
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeadm:bootstrap-signer-clusterinfo"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin, "kube-public")
        .create(&pp, &rb)
        .await
        .unwrap();
    let info = public.get("cluster-info").await.unwrap();
    assert_eq!(info.data.unwrap()["kubeconfig"], "apiVersion: v1\n");
    assert_eq!(status(public.list(&ListParams::default()).await).0, 403);

    // Anonymous may read /version but not discovery.
    assert_eq!(
        anon.apiserver_version().await.unwrap().git_version,
        "v1.36.2"
    );
    let req = hyper::http::Request::get("/api").body(Vec::new()).unwrap();
    assert_eq!(status(anon.request_text(req).await).0, 403);
}

#[tokio::test]
async fn health_toggles_and_injected_failures() {
    let env = Env::new();
    let anon = env.token(None).await;
    let get = |p: &str| hyper::http::Request::get(p).body(Vec::new()).unwrap();
    assert_eq!(anon.request_text(get("/livez")).await.unwrap(), "ok");
    env.server.set_healthy(false, true);
    assert_eq!(status(anon.request_text(get("/livez")).await).0, 500);
    assert_eq!(status(anon.request_text(get("/healthz")).await).0, 500);
    assert_eq!(anon.request_text(get("/readyz")).await.unwrap(), "ok");
    env.server.set_healthy(true, false);
    assert_eq!(status(anon.request_text(get("/readyz")).await).0, 500);
    assert_eq!(anon.request_text(get("/livez")).await.unwrap(), "ok");

    let admin = env.admin().await;
    let api: Api<ConfigMap> = Api::namespaced(admin, "default");
    api.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    env.server.fail_next("GET", "/configmaps/x", 500);
    let (code, reason, msg) = status(api.get("x").await);
    assert_eq!((code, reason.as_str()), (500, "InternalError"), "{msg}");
    api.get("x").await.unwrap();
    let tail = |n: usize| -> Vec<(String, u16)> {
        let recs = env.server.requests();
        recs[recs.len() - n..]
            .iter()
            .map(|r| (r.user.clone(), r.status))
            .collect()
    };
    let admin_user = "kubernetes-super-admin".to_string();
    assert_eq!(
        tail(2),
        [(admin_user.clone(), 500), (admin_user.clone(), 200)]
    );

    // kube retries 503 by itself: the injected failure shows in the records, the call succeeds.
    env.server.fail_next("GET", "/configmaps/x", 503);
    api.get("x").await.unwrap();
    assert_eq!(tail(2), [(admin_user.clone(), 503), (admin_user, 200)]);
}

#[tokio::test]
async fn kubeconfig_with_localhost_and_foreign_client_cert() {
    let env = Env::new();
    let p = env.path("localhost.conf");
    env.server.write_admin_kubeconfig(&p, &env.tls).unwrap();
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("127.0.0.1", "localhost");
    std::fs::write(&p, text).unwrap();
    let c = client(&p).await;
    assert_eq!(c.apiserver_version().await.unwrap().minor, "36");

    // A client certificate from another CA fails the TLS handshake (no fallback to anonymous).
    let other = TlsMaterial::generate().unwrap();
    let p = env.path("foreign.conf");
    env.server
        .write_kubeconfig(
            &p,
            &other.admin_cert_pem,
            &other.admin_key_pem,
            &env.tls.ca_cert_pem,
        )
        .unwrap();
    let c = client(&p).await;
    assert!(c.apiserver_version().await.is_err());
}

#[test]
fn seeded_objects_and_direct_access() {
    let env = Env::new();
    let namespaces: Vec<String> = env
        .server
        .list("v1", "namespaces", None)
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        namespaces,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert!(env
        .server
        .get(
            "rbac.authorization.k8s.io/v1",
            "clusterroles",
            None,
            "system:node-bootstrapper"
        )
        .is_some());
    assert!(env
        .server
        .insert(json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}))
        .is_err());
    env.server.insert(node("n1")).unwrap();
    assert!(env.server.delete("v1", "nodes", None, "n1"));
    assert!(!env.server.delete("v1", "nodes", None, "n1"));
    assert!(env
        .server
        .url()
        .ends_with(&format!(":{}", env.server.port())));
}
