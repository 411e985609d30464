//! Real services started by tests, each on a free loopback port and stopped on drop:
//! an HTTP file server (`python3 -m http.server`) and an OCI registry (Debian `docker-registry`).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require_tool;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited early: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 30 s");
}

/// A child process killed on drop.
pub struct Service {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Serve `dir` over HTTP with Python's http.server (a real, separate server process).
pub fn http_server(dir: &Path) -> Service {
    let python = require_tool("python3", "python3");
    let port = free_port();
    let mut child = Command::new(python)
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3 -m http.server");
    wait_port(port, &mut child, "http.server");
    Service {
        child,
        port,
        _dir: None,
    }
}

/// Start a real OCI registry (Debian `docker-registry`) with its own storage.
pub fn registry() -> Service {
    let bin = require_tool("docker-registry", "docker-registry");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
    let mut child = Command::new(bin)
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start docker-registry");
    wait_port(port, &mut child, "docker-registry");
    Service {
        child,
        port,
        _dir: Some(dir),
    }
}

/// Push every image of the fixture layout `layout` (written by [`crate::images::write_layout`])
/// to `registry` with `skopeo` (all platforms), renaming `from_repo` to the registry host.
pub fn push_layout(layout: &Path, names: &[String], registry: &str) {
    let skopeo = require_tool("skopeo", "skopeo");
    for name in names {
        let key = crate::images::layout_key(name);
        let dest = match name.split_once('/') {
            Some((_, rest)) => format!("docker://{registry}/{rest}"),
            None => format!("docker://{registry}/{name}"),
        };
        let out = Command::new(&skopeo)
            .args([
                "--insecure-policy",
                "copy",
                "--all",
                "--dest-tls-verify=false",
                "-q",
            ])
            .arg(format!("oci:{}:{key}", layout.display()))
            .arg(&dest)
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {name} → {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A real containerd (Debian `containerd`) with its own root, state and socket; CRI disabled.
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // unmount anything the snapshotter left mounted below our root
        let root = self.dir.path().to_string_lossy().into_owned();
        if let Ok(m) = std::fs::read_to_string("/proc/self/mountinfo") {
            for line in m.lines() {
                if let Some(mp) = line.split(' ').nth(4) {
                    if mp.starts_with(&root) {
                        let _ = Command::new("umount").arg("-l").arg(mp).status();
                    }
                }
            }
        }
    }
}

impl Containerd {
    /// The socket path.
    pub fn address(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }
}

/// Start containerd with a private root and socket.
pub fn containerd() -> Containerd {
    let bin = require_tool("containerd", "containerd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("containerd.log")).unwrap();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start containerd");
    let sock = d.join("containerd.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "containerd exited early: {st}: {}",
                std::fs::read_to_string(d.join("containerd.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "containerd did not create its socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Containerd { child, dir }
}

/// A small HTTP/1.1 file server in the test process that answers `503 Service Unavailable` to
/// the first `failures` requests for each path, then serves `dir` — for exercising retries.
pub struct FlakyServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Requests seen, per path.
    pub hits: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u32>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FlakyServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FlakyServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Start a [`FlakyServer`].
pub fn flaky_server(dir: &Path, failures: u32) -> FlakyServer {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u32,
    >::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (h, s, root) = (hits.clone(), stop.clone(), dir.to_path_buf());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if s.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(conn.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).is_err() || l == "\r\n" || l.is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let n = {
                let mut m = h.lock().unwrap();
                let c = m.entry(path.clone()).or_insert(0);
                *c += 1;
                *c
            };
            let resp = if n <= failures {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            } else {
                match std::fs::read(root.join(path.trim_start_matches('/'))) {
                    Ok(body) => {
                        let mut v = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        v.extend(body);
                        v
                    }
                    Err(_) => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                }
            };
            let _ = conn.write_all(&resp);
        }
    });
    FlakyServer { port, hits, stop }
}
