//! Phase `wait-control-plane`: ensures ClusterRoleBinding `kubeadm:cluster-admins` (through
//! admin.conf, or super-admin.conf when admin.conf is still forbidden, spec §4.4), then waits for
//! the kubelet's healthz and, in parallel, for kube-apiserver `/livez`, kube-controller-manager
//! `/healthz` and kube-scheduler `/livez` (spec §12 row 7), then for kube-apiserver `/readyz`.
//! Writes nothing on the node.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use super::upload_config::{subject, RBAC_GROUP};
use super::{Context, Phase, Plan, PlanItem};
use crate::kube::{ObjectItem, API_RETRY_INTERVAL};

/// The admin kubeconfig.
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
/// The super-admin kubeconfig (group `system:masters`).
pub const SUPER_ADMIN_CONF: &str = "/etc/kubernetes/super-admin.conf";
/// Name of the ClusterRoleBinding (and group) giving admin.conf its rights.
pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";
/// Interval between health probes.
pub const HEALTH_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Health endpoints the phase probes. The kubelet URL is `None` when `healthzPort` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTargets {
    /// `http://<healthzBindAddress>:<healthzPort>/healthz`.
    pub kubelet: Option<String>,
    /// `https://<bind-address>:<secure-port>/healthz` of kube-controller-manager.
    pub controller_manager: String,
    /// `https://<bind-address>:<secure-port>/livez` of kube-scheduler.
    pub scheduler: String,
}

/// The `wait-control-plane` phase. `targets` overrides the probed kubelet, controller-manager
/// and scheduler URLs (tests); by default they come from the files kubelet-start and
/// control-plane wrote, as kubeadm reads them.
#[derive(Debug, Default)]
pub struct WaitControlPlane {
    /// Override of the probed URLs.
    pub targets: Option<HealthTargets>,
}

fn host_port(host: &str, port: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `--bind-address` and `--secure-port` of a static pod manifest's first container command
/// (prefix match, first occurrence), with defaults.
pub fn manifest_endpoint(
    manifest: &Path,
    default_address: &str,
    default_port: u16,
) -> (String, String) {
    let mut addr = default_address.to_string();
    let mut port = default_port.to_string();
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return (addr, port);
    };
    let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
        return (addr, port);
    };
    let command = v
        .get("spec")
        .and_then(|s| s.get("containers"))
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("command"))
        .and_then(|c| c.as_sequence())
        .cloned()
        .unwrap_or_default();
    let (mut got_addr, mut got_port) = (false, false);
    for arg in command.iter().filter_map(|a| a.as_str()) {
        if let Some(a) = arg.strip_prefix("--bind-address=") {
            if !got_addr {
                addr = a.to_string();
                got_addr = true;
            }
        } else if let Some(p) = arg.strip_prefix("--secure-port=") {
            if !got_port {
                port = p.to_string();
                got_port = true;
            }
        }
    }
    (addr, port)
}

/// The kubelet healthz URL from a KubeletConfiguration file (`None` when `healthzPort` is 0).
pub fn kubelet_healthz_url(config_yaml: Option<&str>) -> Option<String> {
    let v: serde_yaml::Value = config_yaml
        .and_then(|t| serde_yaml::from_str(t).ok())
        .unwrap_or(serde_yaml::Value::Null);
    let addr = v
        .get("healthzBindAddress")
        .and_then(|a| a.as_str())
        .filter(|a| !a.is_empty())
        .unwrap_or("127.0.0.1");
    let port = v
        .get("healthzPort")
        .and_then(|p| p.as_i64())
        .unwrap_or(10248);
    (port != 0).then(|| format!("http://{}/healthz", host_port(addr, &port.to_string())))
}

/// The probed URLs of this node as kubeadm derives them (§12 row 7, §6.5).
pub fn health_targets(ctx: &Context) -> HealthTargets {
    let kubelet_cfg = std::fs::read_to_string(ctx.path("/var/lib/kubelet/config.yaml")).ok();
    let (cm_addr, cm_port) = manifest_endpoint(
        &ctx.path("/etc/kubernetes/manifests/kube-controller-manager.yaml"),
        "127.0.0.1",
        10257,
    );
    let (s_addr, s_port) = manifest_endpoint(
        &ctx.path("/etc/kubernetes/manifests/kube-scheduler.yaml"),
        "127.0.0.1",
        10259,
    );
    HealthTargets {
        kubelet: kubelet_healthz_url(kubelet_cfg.as_deref()),
        controller_manager: format!("https://{}/healthz", host_port(&cm_addr, &cm_port)),
        scheduler: format!("https://{}/livez", host_port(&s_addr, &s_port)),
    }
}

/// The ClusterRoleBinding `kubeadm:cluster-admins` → ClusterRole `cluster-admin`.
pub fn cluster_admins_binding() -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(CLUSTER_ADMINS.into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: "cluster-admin".into(),
        },
        subjects: Some(vec![subject("Group", CLUSTER_ADMINS)]),
    }
}

/// The local API endpoint `https://<adv>:<bindPort>` of this node.
pub fn local_endpoint(ctx: &Context) -> Option<String> {
    let ep = ctx.config.local_api_endpoint()?;
    let port = if ep.bind_port == 0 {
        6443
    } else {
        ep.bind_port
    };
    Some(format!(
        "https://{}",
        host_port(&ep.advertise_address, &port.to_string())
    ))
}

/// A client from `kubeconfig` with every cluster's server replaced by `server` (in memory), and
/// the API server URL it talks to (for error messages).
async fn client_for(
    kubeconfig: &Path,
    server: Option<&str>,
) -> anyhow::Result<(kube::Client, String)> {
    let mut kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", kubeconfig.display()))?;
    if let Some(server) = server {
        for c in kc.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
            c.server = Some(server.to_string());
        }
    }
    let url = kc
        .clusters
        .iter()
        .filter_map(|c| c.cluster.as_ref()?.server.clone())
        .next()
        .unwrap_or_default();
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", kubeconfig.display()))?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(10));
    let client = kube::Client::try_from(config)
        .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", kubeconfig.display()))?;
    Ok((client, url))
}

/// Outcome of trying to create the ClusterRoleBinding with one client.
enum CreateOutcome {
    Done,
    Forbidden,
}

async fn create_crb(
    (client, url): (kube::Client, String),
    who: &str,
    timeout: Duration,
    stop_on_forbidden: bool,
) -> anyhow::Result<CreateOutcome> {
    let api: Api<ClusterRoleBinding> = Api::all(client);
    let crb = cluster_admins_binding();
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api.create(&PostParams::default(), &crb).await {
            Ok(_) => return Ok(CreateOutcome::Done),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(CreateOutcome::Done),
            Err(kube::Error::Api(s)) if s.code == 403 && stop_on_forbidden => {
                return Ok(CreateOutcome::Forbidden)
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "cannot create ClusterRoleBinding {CLUSTER_ADMINS} with {who} at the API server {url} within {timeout:?}: {last}"
            );
        }
        tokio::time::sleep(API_RETRY_INTERVAL).await;
    }
}

/// kubeadm's admin.conf RBAC bootstrap (§4.4): create the CRB with admin.conf; if that is
/// forbidden, with super-admin.conf. Both pointed at `server` (the local API endpoint).
pub fn ensure_cluster_admins(
    rt: &tokio::runtime::Runtime,
    admin_conf: &Path,
    super_admin_conf: &Path,
    server: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<()> {
    rt.block_on(async {
        let admin = client_for(admin_conf, server).await?;
        match create_crb(admin, ADMIN_CONF, timeout, true).await? {
            CreateOutcome::Done => return Ok(()),
            CreateOutcome::Forbidden => {}
        }
        if !super_admin_conf.exists() {
            anyhow::bail!(
                "{ADMIN_CONF} is not yet allowed to create ClusterRoleBinding {CLUSTER_ADMINS} and {SUPER_ADMIN_CONF} does not exist"
            );
        }
        println!("[wait-control-plane] Creating ClusterRoleBinding {CLUSTER_ADMINS} with {SUPER_ADMIN_CONF}");
        let sup = client_for(super_admin_conf, server).await?;
        create_crb(sup, SUPER_ADMIN_CONF, timeout, false).await?;
        Ok(())
    })
}

/// One health check: name, URL and (for the API server) the authenticated client to use.
struct Check {
    name: &'static str,
    url: String,
    client: Option<kube::Client>,
}

async fn probe_once(client: &kube::Client, path: &str) -> Result<(), String> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(10), client.request_text(req)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(s))) => Err(format!("HTTP {}: {}", s.code, s.message)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("request timed out".into()),
    }
}

fn split_url(url: &str) -> anyhow::Result<(http::Uri, String)> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| anyhow::anyhow!("health URL {url}: {e}"))?;
    let base = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or("")
    );
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok((
        base.parse()
            .map_err(|e| anyhow::anyhow!("health URL {url}: {e}"))?,
        path,
    ))
}

/// Polls `url` every 500 ms until it answers 2xx or `deadline`; returns the last error.
async fn wait_healthy(check: Check, deadline: Instant) -> Result<Duration, String> {
    let start = Instant::now();
    let (client, path) = match check.client {
        Some(c) => {
            let path = split_url(&check.url)
                .map(|(_, p)| p)
                .map_err(|e| e.to_string())?;
            (c, path)
        }
        None => {
            // Plain HTTP(S), no client certificate, no server verification (kubeadm's probe).
            let (base, path) = split_url(&check.url).map_err(|e| e.to_string())?;
            let mut cfg = kube::Config::new(base);
            cfg.accept_invalid_certs = true;
            cfg.connect_timeout = Some(Duration::from_secs(2));
            cfg.read_timeout = Some(Duration::from_secs(5));
            (
                kube::Client::try_from(cfg).map_err(|e| e.to_string())?,
                path,
            )
        }
    };
    loop {
        let last = match probe_once(&client, &path).await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) => e,
        };
        if Instant::now() + HEALTH_POLL_INTERVAL > deadline {
            return Err(last);
        }
        tokio::time::sleep(HEALTH_POLL_INTERVAL).await;
    }
}

fn timeout_of(d: Option<&crate::config::GoDuration>, default_secs: u64) -> (Duration, String) {
    match d {
        Some(g) => (g.as_duration(), g.to_string()),
        None => (
            Duration::from_secs(default_secs),
            format!("{}m0s", default_secs / 60),
        ),
    }
}

impl WaitControlPlane {
    fn targets(&self, ctx: &Context) -> HealthTargets {
        self.targets.clone().unwrap_or_else(|| health_targets(ctx))
    }
}

/// Whether the run uses the node's own admin.conf (kubeadm bootstraps the CRB only then).
fn uses_default_admin_conf(ctx: &Context) -> Option<PathBuf> {
    let admin = ctx.path(ADMIN_CONF);
    match ctx.cluster {
        Some(c) if c.kubeconfig() == admin => Some(admin),
        _ => None,
    }
}

impl Phase for WaitControlPlane {
    fn name(&self) -> &'static str {
        "wait-control-plane"
    }

    fn plan(&self, ctx: &Context) -> anyhow::Result<Plan> {
        let t = self.targets(ctx);
        let timeouts = ctx.config.timeouts();
        let (_, kubelet_to) = timeout_of(timeouts.kubelet_health_check.as_ref(), 240);
        let (_, cp_to) = timeout_of(timeouts.control_plane_component_health_check.as_ref(), 240);
        let mut plan = Plan::new("wait-control-plane");
        plan.items
            .push(PlanItem::Object(ObjectItem::create_if_missing(
                &cluster_admins_binding(),
                &format!(
                "admin.conf's rights (with {SUPER_ADMIN_CONF} if {ADMIN_CONF} is still forbidden)"
            ),
            )));
        plan.items.push(PlanItem::Note(match &t.kubelet {
            Some(u) => format!("wait for a healthy kubelet at {u} (up to {kubelet_to})"),
            None => "kubelet health check skipped (healthzPort is 0)".into(),
        }));
        let api = local_endpoint(ctx)
            .map(|e| format!("{e}/livez"))
            .unwrap_or_else(|| "/livez".into());
        plan.items.push(PlanItem::Note(format!(
            "wait for kube-apiserver at {api}, kube-controller-manager at {}, kube-scheduler at {} (up to {cp_to})",
            t.controller_manager, t.scheduler
        )));
        Ok(plan)
    }

    fn apply(
        &self,
        ctx: &Context,
        plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if ctx.cluster.is_none() {
            return Ok(());
        }
        let cluster = ctx.cluster()?;
        let api_timeout = ctx
            .config
            .api_call_timeout()
            .unwrap_or(Duration::from_secs(60));
        // 1. The admin RBAC bootstrap, against the local endpoint.
        if let Some(admin) = uses_default_admin_conf(ctx) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            ensure_cluster_admins(
                &rt,
                &admin,
                &ctx.path(SUPER_ADMIN_CONF),
                local_endpoint(ctx).as_deref(),
                api_timeout,
            )?;
        }
        progress(1);

        let targets = self.targets(ctx);
        let timeouts = ctx.config.timeouts();
        // 2. The kubelet.
        println!("[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"/etc/kubernetes/manifests\"");
        if let Some(url) = &targets.kubelet {
            let (timeout, shown) = timeout_of(timeouts.kubelet_health_check.as_ref(), 240);
            println!("[kubelet-check] Waiting for a healthy kubelet at {url}. This can take up to {shown}");
            let check = Check {
                name: "kubelet",
                url: url.clone(),
                client: None,
            };
            match cluster.block_on(wait_healthy(check, Instant::now() + timeout)) {
                Ok(took) => println!("[kubelet-check] The kubelet is healthy after {took:.3?}"),
                Err(e) => anyhow::bail!(
                    "the kubelet is not healthy after {shown}: {url}: {e}\n\
                     Check `systemctl status kubelet` and `journalctl -xeu kubelet`"
                ),
            }
        }
        progress(2);

        // 3. The control-plane components, in parallel.
        let (timeout, shown) =
            timeout_of(timeouts.control_plane_component_health_check.as_ref(), 240);
        println!("[control-plane-check] Waiting for healthy control plane components. This can take up to {shown}");
        let api_base = local_endpoint(ctx).unwrap_or_else(|| "https://127.0.0.1:6443".into());
        let api_url = format!("{api_base}/livez");
        let checks = [
            Check {
                name: "kube-apiserver",
                url: api_url,
                client: Some(cluster.client().clone()),
            },
            Check {
                name: "kube-controller-manager",
                url: targets.controller_manager.clone(),
                client: None,
            },
            Check {
                name: "kube-scheduler",
                url: targets.scheduler.clone(),
                client: None,
            },
        ];
        for c in &checks {
            println!("[control-plane-check] Checking {} at {}", c.name, c.url);
        }
        let names: Vec<(&str, String)> = checks.iter().map(|c| (c.name, c.url.clone())).collect();
        let deadline = Instant::now() + timeout;
        let [a, b, c] = checks;
        let results = cluster.block_on(async {
            let (ra, rb, rc) = tokio::join!(
                wait_healthy(a, deadline),
                wait_healthy(b, deadline),
                wait_healthy(c, deadline)
            );
            [ra, rb, rc]
        });
        let mut failures = Vec::new();
        for ((name, url), r) in names.iter().zip(results) {
            match r {
                Ok(took) => println!("[control-plane-check] {name} is healthy after {took:.3?}"),
                Err(e) => failures.push(format!("{name} check failed at {url}: {e}")),
            }
        }
        if !failures.is_empty() {
            anyhow::bail!(
                "the control plane did not become healthy within {shown}: {}\n\
                 Check the static pods with `crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a | grep kube` and their logs",
                failures.join("; ")
            );
        }
        // 4. Live is not ready: the API server also has to serve (`/readyz`: etcd reachable,
        //    post-start hooks such as the bootstrap RBAC done) before the next phases write to it.
        let ready_url = format!("{api_base}/readyz");
        let ready = Check {
            name: "kube-apiserver",
            url: ready_url.clone(),
            client: Some(cluster.client().clone()),
        };
        match cluster.block_on(wait_healthy(ready, deadline)) {
            Ok(took) => println!("[control-plane-check] kube-apiserver is ready after {took:.3?}"),
            Err(e) => anyhow::bail!(
                "kube-apiserver is live but not ready within {shown}: {ready_url}: {e}"
            ),
        }
        progress(plan.items.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_api_server_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let admin = dir.path().join("admin.conf");
        std::fs::write(
            &admin,
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: c\n  cluster:\n    server: https://192.0.2.1:6443\n    insecure-skip-tls-verify: true\n\
             users:\n- name: u\n  user:\n    token: not-a-secret\n\
             contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n",
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Nothing listens on port 1: every attempt is refused until the timeout.
        let e = ensure_cluster_admins(
            &rt,
            &admin,
            &dir.path().join("super-admin.conf"),
            Some("https://127.0.0.1:1"),
            Duration::from_millis(600),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!(
                "with {ADMIN_CONF} at the API server https://127.0.0.1:1 within"
            )),
            "{e}"
        );
    }
}
