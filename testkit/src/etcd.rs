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

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
            pki: pki.to_path_buf(),
            dir: tempfile::tempdir().expect("etcd temp dir"),
            data_dir: None,
            args: Vec::new(),
            child: None,
        }
    }

    /// `https://127.0.0.1:<client_port>`.
    pub fn client_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.client_port)
    }

    /// `https://127.0.0.1:<peer_port>`.
    pub fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer_port)
    }

    /// Use `dir` as the data directory (e.g. a node root's `/var/lib/etcd`) instead of a
    /// private one. Before the first start.
    pub fn with_data_dir(mut self, dir: &Path) -> Etcd {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// The data directory (`--data-dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| self.dir.path().join("data"))
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
        while TcpStream::connect(("127.0.0.1", self.client_port)).is_err() {
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
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.metrics_port)) else {
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
