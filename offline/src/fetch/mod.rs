//! Fetching release artifacts: HTTP(S) release mirrors and local directories with the same
//! layout, with bounded retries and sha256 verification while streaming to disk.

pub mod images;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::progress::Task;

/// How many times a transient failure is retried.
pub const DEFAULT_RETRIES: u32 = 3;

/// A release mirror or file location: an HTTP(S) URL or a local directory path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `http://` or `https://`.
    Http(String),
    /// A local path.
    Path(PathBuf),
}

impl Location {
    /// Classify a resolved location string (see [`crate::spec::ResolvedSpec`]).
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Location::Http(s.to_string())
        } else {
            Location::Path(PathBuf::from(s))
        }
    }

    /// `self/rel`.
    pub fn join(&self, rel: &str) -> Location {
        match self {
            Location::Http(u) => Location::Http(format!("{}/{}", u.trim_end_matches('/'), rel)),
            Location::Path(p) => Location::Path(p.join(rel)),
        }
    }

    /// Display form for messages.
    pub fn display(&self) -> String {
        match self {
            Location::Http(u) => u.clone(),
            Location::Path(p) => p.display().to_string(),
        }
    }
}

/// Fetches files and texts with retries.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    retries: u32,
}

enum Attempt<T> {
    Done(T),
    NotFound,
    Retry(String),
    Fatal(String),
}

impl Fetcher {
    /// A fetcher with `retries` retries of transient failures.
    pub fn new(retries: u32) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("kubebake-bake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Other(format!("HTTP client: {e}")))?;
        Ok(Self { client, retries })
    }

    /// Fetch a small text (a label or a `.sha256` file). `Ok(None)` when it does not exist.
    pub async fn text(&self, artifact: &str, loc: &Location) -> Result<Option<String>> {
        match loc {
            Location::Path(p) => match tokio::fs::read_to_string(p).await {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(fetch_err(artifact, loc, e.to_string())),
            },
            Location::Http(url) => {
                self.with_retries(artifact, loc, || async {
                    let resp = match self.get(url).await {
                        Attempt::Done(r) => r,
                        other => return other.map_none(),
                    };
                    match resp.text().await {
                        Ok(t) => Attempt::Done(t),
                        Err(e) => Attempt::Retry(describe(e)),
                    }
                })
                .await
            }
        }
    }

    /// Stream `loc` into `dest` (created/truncated), hashing on the way; fails on a sha256
    /// mismatch when `expected` is given. Returns (sha256, size).
    pub async fn file(
        &self,
        artifact: &str,
        loc: &Location,
        dest: &Path,
        expected: Option<&str>,
        task: &dyn Task,
    ) -> Result<(String, u64)> {
        let got = match loc {
            Location::Path(p) => {
                let src = p.clone();
                let dst = dest.to_path_buf();
                let r = tokio::task::spawn_blocking(move || copy_hashing(&src, &dst))
                    .await
                    .map_err(|e| Error::Other(e.to_string()))?;
                match r {
                    Ok(v) => {
                        task.inc(v.1);
                        v
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(fetch_err(artifact, loc, "not found"))
                    }
                    Err(e) => return Err(fetch_err(artifact, loc, e.to_string())),
                }
            }
            Location::Http(url) => self
                .with_retries(artifact, loc, || async {
                    let resp = match self.get(url).await {
                        Attempt::Done(r) => r,
                        other => return other.map_none(),
                    };
                    if let Some(len) = resp.content_length() {
                        task.set_total(len);
                    }
                    let mut f = match tokio::fs::File::create(dest).await {
                        Ok(f) => f,
                        Err(e) => return Attempt::Fatal(format!("{}: {e}", dest.display())),
                    };
                    let mut h = Sha256::new();
                    let mut n = 0u64;
                    let mut stream = resp.bytes_stream();
                    while let Some(chunk) = stream.next().await {
                        let chunk = match chunk {
                            Ok(c) => c,
                            Err(e) => return Attempt::Retry(describe(e)),
                        };
                        h.update(&chunk);
                        n += chunk.len() as u64;
                        task.inc(chunk.len() as u64);
                        if let Err(e) = f.write_all(&chunk).await {
                            return Attempt::Fatal(format!("{}: {e}", dest.display()));
                        }
                    }
                    if let Err(e) = f.flush().await {
                        return Attempt::Fatal(format!("{}: {e}", dest.display()));
                    }
                    Attempt::Done((hex::encode(h.finalize()), n))
                })
                .await?
                .ok_or_else(|| fetch_err(artifact, loc, "not found (HTTP 404)"))?,
        };
        if let Some(exp) = expected {
            if got.0 != exp {
                return Err(Error::Checksum {
                    artifact: artifact.to_string(),
                    url: loc.display(),
                    expected: exp.to_string(),
                    actual: got.0,
                });
            }
        }
        Ok(got)
    }

    /// GET `url`: the response when it succeeded, or how to go on.
    async fn get(&self, url: &str) -> Attempt<reqwest::Response> {
        let resp = match self.client.get(url).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(describe(e)),
        };
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            Attempt::NotFound
        } else if !status.is_success() {
            classify_status(status)
        } else {
            Attempt::Done(resp)
        }
    }

    async fn with_retries<T, F, Fut>(
        &self,
        artifact: &str,
        loc: &Location,
        mut f: F,
    ) -> Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Attempt::Done(t) => return Ok(Some(t)),
                Attempt::NotFound => return Ok(None),
                Attempt::Fatal(m) => return Err(fetch_err(artifact, loc, m)),
                Attempt::Retry(m) => {
                    attempt += 1;
                    if attempt > self.retries {
                        return Err(fetch_err(
                            artifact,
                            loc,
                            format!("{m} (after {attempt} attempts)"),
                        ));
                    }
                    tracing::info!("{artifact}: {m}; retrying ({attempt}/{})", self.retries);
                    tokio::time::sleep(Duration::from_millis(200 * (1 << attempt.min(5)))).await;
                }
            }
        }
    }
}

impl<T> Attempt<T> {
    /// Carry a non-`Done` outcome over to another result type.
    fn map_none<U>(self) -> Attempt<U> {
        match self {
            Attempt::Done(_) => unreachable!("map_none on Done"),
            Attempt::NotFound => Attempt::NotFound,
            Attempt::Retry(m) => Attempt::Retry(m),
            Attempt::Fatal(m) => Attempt::Fatal(m),
        }
    }
}

fn classify_status<T>(status: reqwest::StatusCode) -> Attempt<T> {
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        Attempt::Retry(format!("HTTP {status}"))
    } else {
        Attempt::Fatal(format!("HTTP {status}"))
    }
}

fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn fetch_err(artifact: &str, loc: &Location, message: impl Into<String>) -> Error {
    Error::Fetch {
        artifact: artifact.to_string(),
        url: loc.display(),
        message: message.into(),
    }
}

/// Copy `src` to `dst` while hashing; (sha256, size).
pub fn copy_hashing(src: &Path, dst: &Path) -> std::io::Result<(String, u64)> {
    let input = std::fs::File::open(src)?;
    let out = std::fs::File::create(dst)?;
    let mut w =
        crate::digest::HashingWriter::new(std::io::BufWriter::with_capacity(256 * 1024, out));
    std::io::copy(
        &mut std::io::BufReader::with_capacity(256 * 1024, input),
        &mut w,
    )?;
    let (mut inner, h, n) = w.finish();
    std::io::Write::flush(&mut inner)?;
    Ok((h, n))
}

/// Parse a `.sha256` file: the first whitespace-separated token, 64 hex characters.
pub fn parse_sha256_file(text: &str) -> Option<String> {
    let tok = text.split_whitespace().next()?.to_ascii_lowercase();
    crate::digest::is_sha256_hex(&tok).then_some(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_file_format() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_sha256_file(&format!("{h}  kubeadm\n")),
            Some(h.clone())
        );
        assert_eq!(parse_sha256_file(&h.to_uppercase()), Some(h));
        assert_eq!(parse_sha256_file("nope"), None);
    }

    #[test]
    fn location_join() {
        let l = Location::parse("https://dl.k8s.io/release/");
        assert_eq!(
            l.join("v1.36.2/bin/linux/amd64/kubeadm").display(),
            "https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kubeadm"
        );
        let p = Location::parse("/srv/mirror");
        assert_eq!(
            p.join("stable.txt"),
            Location::Path("/srv/mirror/stable.txt".into())
        );
    }
}
