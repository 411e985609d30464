//! A real etcd member (Debian `etcd-server`, `/usr/bin/etcd`) run as a child process with
//! kubeadm's TLS layout (spec §5.6): client and peer mTLS from `<pki>/etcd/{ca,server,peer}`,
//! on free loopback ports, with a private data directory; killed on drop.
//!
//! ```no_run
//! let pki = std::path::Path::new("/tmp/pki"); // etcd/ca, etcd/server, etcd/peer written there
//! let mut first = testkit::etcd::Etcd::new("cp1", pki);
//! first.start_new_cluster();
//! let mut second = testkit::etcd::Etcd::new("cp2", pki);
//! // add `second.peer_url()` as a learner through `first`, then:
//! second.start_joining("cp1=https://127.0.0.1:40001,cp2=https://127.0.0.1:40003");
//! ```
//!
//! [`Etcd::start_static_pod`] runs a member the way a kubelet runs kubeadm's etcd static pod:
//! from the manifest's container command, so tests prove the manifest itself works.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::require_tool;
use crate::services::free_port;

/// The etcd binary, or a panic naming the Debian package to install.
pub fn etcd_binary() -> PathBuf {
    require_tool("etcd", "etcd-server")
}

/// One etcd member: its name, ports and data directory are fixed when created, so it can be
/// announced (peer URL) before it starts and restarted with the same identity.
pub struct Etcd {
    /// `--name`.
    pub name: String,
    /// Client port (`https://127.0.0.1:<client_port>`).
    pub client_port: u16,
    /// Peer port (`https://127.0.0.1:<peer_port>`).
    pub peer_port: u16,
    /// Metrics/health port (`http://127.0.0.1:<metrics_port>`, serves `/health`).
    pub metrics_port: u16,
    /// The address the client, peer and metrics ports are on (`127.0.0.1` unless started
    /// with [`Etcd::start_static_pod`]).
    pub host: String,
    pki: PathBuf,
    dir: tempfile::TempDir,
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    child: Option<Child>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Etcd {
    /// A member named `name` using the certificates under `pki` (`etcd/ca.crt`,
    /// `etcd/server.{crt,key}`, `etcd/peer.{crt,key}`, all valid for 127.0.0.1). Not started.
    pub fn new(name: &str, pki: &Path) -> Etcd {
        etcd_binary();
        Etcd {
            name: name.to_string(),
            client_port: free_port(),
            peer_port: free_port(),
            metrics_port: free_port(),
            host: "127.0.0.1".into(),
            pki: pki.to_path_buf(),
            dir: tempfile::tempdir().expect("etcd temp dir"),
            data_dir: None,
            args: Vec::new(),
            child: None,
        }
    }

    /// `https://<host>:<client_port>`.
    pub fn client_url(&self) -> String {
        format!("https://{}:{}", self.host, self.client_port)
    }

    /// `https://<host>:<peer_port>`.
    pub fn peer_url(&self) -> String {
        format!("https://{}:{}", self.host, self.peer_port)
    }

    /// Use `dir` as the data directory (e.g. a node root's `/var/lib/etcd`) instead of a
    /// private one. Before the first start.
    pub fn with_data_dir(mut self, dir: &Path) -> Etcd {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// The data directory (`--data-dir`).
    pub fn data_dir(&self) -> PathBuf {
        match flag(&self.args, "data-dir") {
            Some(d) => PathBuf::from(d),
            None => self
                .data_dir
                .clone()
                .unwrap_or_else(|| self.dir.path().join("data")),
        }
    }

    /// The member's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    fn base_args(&self) -> Vec<String> {
        let pki = |f: &str| self.pki.join("etcd").join(f).display().to_string();
        let (c, p) = (self.client_url(), self.peer_url());
        vec![
            format!("--name={}", self.name),
            format!("--data-dir={}", self.data_dir().display()),
            format!("--listen-client-urls={c}"),
            format!("--advertise-client-urls={c}"),
            format!("--listen-peer-urls={p}"),
            format!("--initial-advertise-peer-urls={p}"),
            format!(
                "--listen-metrics-urls=http://127.0.0.1:{}",
                self.metrics_port
            ),
            format!("--cert-file={}", pki("server.crt")),
            format!("--key-file={}", pki("server.key")),
            format!("--trusted-ca-file={}", pki("ca.crt")),
            "--client-cert-auth=true".into(),
            format!("--peer-cert-file={}", pki("peer.crt")),
            format!("--peer-key-file={}", pki("peer.key")),
            format!("--peer-trusted-ca-file={}", pki("ca.crt")),
            "--peer-client-cert-auth=true".into(),
            "--snapshot-count=10000".into(),
        ]
    }

    /// Start as the first member of a new cluster and wait until it is healthy.
    pub fn start_new_cluster(&mut self) {
        let mut a = self.base_args();
        a.push(format!(
            "--initial-cluster={}={}",
            self.name,
            self.peer_url()
        ));
        self.args = a;
        self.spawn();
        self.wait_healthy(Duration::from_secs(60));
    }

    /// Start as a member joining an existing cluster (`--initial-cluster=<initial_cluster>`,
    /// `--initial-cluster-state=existing`) — after it was added to the cluster. Waits only until
    /// it listens: a learner is not "healthy" until promoted.
    pub fn start_joining(&mut self, initial_cluster: &str) {
        let mut a = self.base_args();
        a.push(format!("--initial-cluster={initial_cluster}"));
        a.push("--initial-cluster-state=existing".into());
        self.args = a;
        self.spawn();
    }

    /// Kill the process (the data directory stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again with the same arguments and data directory (after [`Etcd::stop`]).
    pub fn restart(&mut self) {
        assert!(
            !self.args.is_empty(),
            "etcd {} was never started",
            self.name
        );
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "etcd {} is already running",
            self.name
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let mut child = Command::new(etcd_binary())
            .args(&self.args)
            .env_remove("ETCDCTL_API")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((self.host.as_str(), self.client_port)).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("etcd {} exited early: {st}\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "etcd {} did not listen on {} within 30 s\n{}",
                self.name,
                self.client_url(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// `GET /health` on the metrics port answers `"health":"true"`.
    pub fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect((self.host.as_str(), self.metrics_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        let status_ok = resp
            .lines()
            .next()
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
        status_ok && resp.contains("\"health\":\"true\"")
    }

    /// Wait until [`Etcd::healthy`], or panic with the log.
    pub fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.healthy() {
            if !self.is_running() {
                panic!("etcd {} is not running\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "etcd {} not healthy within {timeout:?}\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `host` and `port` of `scheme://host:port` (IPv6 brackets removed).
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next()?;
    let (h, p) = rest.rsplit_once(':')?;
    Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
}

/// The value of `--<flag>=` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}

/// `(major, minor)` of the installed etcd (`etcd --version`).
pub fn etcd_version() -> (u32, u32) {
    let out = Command::new(etcd_binary())
        .arg("--version")
        .output()
        .expect("etcd --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version:"))
        .unwrap_or_else(|| panic!("cannot read the etcd version from {text:?}"))
        .trim();
    let mut it = v.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The flags kubeadm 1.36 writes for etcd ≥ 3.6, in the names etcd < 3.6 understands — the
/// same mapping kubeadm ≤ 1.35 applied for older etcd (spec §5.6):
/// `--feature-gates=InitialCorruptCheck=true` → `--experimental-initial-corrupt-check=true`,
/// `--watch-progress-notify-interval=X` → `--experimental-watch-progress-notify-interval=X`.
/// Other flags, and every flag on etcd ≥ 3.6, are kept as they are.
pub fn flags_for_etcd(args: &[String], version: (u32, u32)) -> Vec<String> {
    if version >= (3, 6) {
        return args.to_vec();
    }
    args.iter()
        .map(|a| {
            if a == "--feature-gates=InitialCorruptCheck=true" {
                "--experimental-initial-corrupt-check=true".to_string()
            } else if let Some(v) = a.strip_prefix("--watch-progress-notify-interval=") {
                format!("--experimental-watch-progress-notify-interval={v}")
            } else {
                a.clone()
            }
        })
        .collect()
}

/// A loopback address `127.0.0.N` (N ≥ 2) on which every one of `ports` can be bound now, so a
/// test can run a member on kubeadm's fixed ports (2379/2380/2381) without clashing with other
/// tests (distinct per call and, likely, per process).
pub fn free_loopback_address(ports: &[u16]) -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7);
    for _ in 0..250 {
        let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 250 + 2;
        let ip = Ipv4Addr::new(127, 0, 0, n as u8);
        if ports.iter().all(|p| TcpListener::bind((ip, *p)).is_ok()) {
            return ip;
        }
    }
    panic!("no loopback address 127.0.0.N with ports {ports:?} free");
}

impl Etcd {
    /// Start etcd as a kubelet would start kubeadm's etcd static pod: `command` is the
    /// container's command (`etcd`, `--name=cp2`, `--data-dir=/var/lib/etcd`, …) exactly as the
    /// manifest has it, with `remap` applied to each flag's value (e.g. to put node paths under
    /// a test root) and the 3.6 flag names translated for an older installed etcd
    /// ([`flags_for_etcd`]). Client, peer and metrics addresses are read from
    /// `--advertise-client-urls`, `--initial-advertise-peer-urls` and `--listen-metrics-urls`.
    /// Waits until the client port listens (a learner is not healthy before promotion).
    pub fn start_static_pod(command: &[String], remap: impl Fn(&str) -> String) -> Etcd {
        etcd_binary();
        assert_eq!(
            command.first().map(String::as_str),
            Some("etcd"),
            "not an etcd command: {command:?}"
        );
        let args: Vec<String> = command[1..]
            .iter()
            .map(|a| match a.split_once('=') {
                Some((f, v)) => format!("{f}={}", remap(v)),
                None => a.clone(),
            })
            .collect();
        let args = flags_for_etcd(&args, etcd_version());
        let url = |name: &str| {
            let v = flag(&args, name).unwrap_or_else(|| panic!("no --{name} in {command:?}"));
            host_port(v.split(',').next().unwrap_or(v))
                .unwrap_or_else(|| panic!("--{name}={v}: not scheme://host:port"))
        };
        let (host, client_port) = url("advertise-client-urls");
        let (_, peer_port) = url("initial-advertise-peer-urls");
        let (_, metrics_port) = url("listen-metrics-urls");
        let mut e = Etcd {
            name: flag(&args, "name").unwrap_or("etcd").to_string(),
            client_port,
            peer_port,
            metrics_port,
            host,
            pki: PathBuf::new(),
            dir: tempfile::tempdir().expect("etcd temp dir"),
            data_dir: None,
            args,
            child: None,
        };
        e.spawn();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_36_flags_for_older_etcd() {
        let args: Vec<String> = [
            "--name=cp2",
            "--feature-gates=InitialCorruptCheck=true",
            "--watch-progress-notify-interval=5s",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            flags_for_etcd(&args, (3, 4)),
            [
                "--name=cp2",
                "--experimental-initial-corrupt-check=true",
                "--experimental-watch-progress-notify-interval=5s"
            ]
        );
        assert_eq!(flags_for_etcd(&args, (3, 6)), args);
        assert_eq!(
            host_port("https://[fd00::5]:2379"),
            Some(("fd00::5".into(), 2379))
        );
        assert_eq!(
            host_port("http://127.0.0.7:2381"),
            Some(("127.0.0.7".into(), 2381))
        );
    }
}
