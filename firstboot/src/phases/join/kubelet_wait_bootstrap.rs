//! Phase `kubelet-wait-bootstrap` (spec §13.3 step 6–7): waits for the kubelet's healthz and
//! for the TLS bootstrap to produce a usable `/etc/kubernetes/kubelet.conf`, then removes
//! `/etc/kubernetes/bootstrap-kubelet.conf` (also on failure, as kubeadm).

use std::path::Path;
use std::time::{Duration, Instant};

use super::{timeout_or, BOOTSTRAP_KUBELET_CONF, KUBELET_CONF};
use crate::kubeconfig::Kubeconfig;
use crate::phases::{Context, Phase, Plan, PlanItem};

/// kubeadm's TLS-bootstrap poll interval.
pub const TLS_BOOTSTRAP_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// kubeadm's default `timeouts.tlsBootstrap`.
pub const DEFAULT_TLS_BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(300);

/// The `kubelet-wait-bootstrap` phase.
pub struct KubeletWaitBootstrap;

/// Whether `path` is a kubeconfig a client can use: it parses, has a server, and its client
/// credentials (embedded, or the files it names, resolved under `root`) are readable.
pub fn usable_kubeconfig(path: &Path, root: &Path) -> bool {
    let Ok(kc) = Kubeconfig::load(path) else {
        return false;
    };
    if kc.server().is_none() {
        return false;
    }
    if kc.client_certificate_pem().is_some() && kc.client_key_pem().is_some() {
        return true;
    }
    let Some(user) = kc.current_user_name() else {
        return false;
    };
    let users = kc.value().get("users").and_then(|u| u.as_sequence());
    let Some(u) = users.and_then(|l| {
        l.iter()
            .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(user.as_str()))
            .and_then(|e| e.get("user"))
    }) else {
        return false;
    };
    let readable = |k: &str| {
        u.get(k)
            .and_then(|v| v.as_str())
            .is_some_and(|p| std::fs::File::open(crate::fsutil::under_root(root, p)).is_ok())
    };
    (readable("client-certificate") && readable("client-key"))
        || u.get("token")
            .and_then(|t| t.as_str())
            .is_some_and(|t| !t.is_empty())
}

fn kubelet_healthy(url: &str) -> bool {
    // Plain HTTP on the loopback: a tiny GET without a client library.
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(hostport) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET /{path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")
}

impl Phase for KubeletWaitBootstrap {
    fn name(&self) -> &'static str {
        "kubelet-wait-bootstrap"
    }

    fn plan(&self, _ctx: &Context) -> anyhow::Result<Plan> {
        Ok(Plan {
            phase: "kubelet-wait-bootstrap".into(),
            items: vec![
                PlanItem::Note(
                    "wait for the kubelet healthz (http://127.0.0.1:10248/healthz)".into(),
                ),
                PlanItem::Note(format!(
                    "wait for the TLS bootstrap to write {KUBELET_CONF}"
                )),
                PlanItem::Note(format!("remove {BOOTSTRAP_KUBELET_CONF}")),
            ],
        })
    }

    fn apply(
        &self,
        ctx: &Context,
        _plan: &Plan,
        progress: &mut dyn FnMut(usize),
    ) -> anyhow::Result<()> {
        if ctx.cluster.is_none() {
            return Ok(()); // dry run: the plan was printed, nothing to contact
        }
        let r = wait(ctx);
        // Deleted whatever happened; errors ignored (kubeadm).
        let _ = std::fs::remove_file(ctx.path(BOOTSTRAP_KUBELET_CONF));
        r?;
        progress(3);
        Ok(())
    }
}

fn wait(ctx: &Context) -> anyhow::Result<()> {
    let t = ctx.config.timeouts();
    // The kubelet's healthz only exists on a real node.
    if ctx.host_root == Path::new("/") {
        let url = "http://127.0.0.1:10248/healthz";
        let timeout = timeout_or(t.kubelet_health_check, Duration::from_secs(240));
        let deadline = Instant::now() + timeout;
        println!("[kubelet-check] Waiting for a healthy kubelet at {url}. This can take up to {timeout:?}");
        while !kubelet_healthy(url) {
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "the kubelet is not healthy after {timeout:?} ({url}); check `systemctl status kubelet` and \
                     `journalctl -xeu kubelet`"
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let timeout = timeout_or(t.tls_bootstrap, DEFAULT_TLS_BOOTSTRAP_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let conf = ctx.path(KUBELET_CONF);
    println!("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap");
    loop {
        if usable_kubeconfig(&conf, ctx.root) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the TLS bootstrap did not produce a usable {KUBELET_CONF} within {timeout:?} (timeouts.tlsBootstrap): \
                 check the kubelet's log, that the bootstrap token is valid and that its CSR was approved"
            );
        }
        std::thread::sleep(TLS_BOOTSTRAP_RETRY_INTERVAL.min(timeout));
    }
}
