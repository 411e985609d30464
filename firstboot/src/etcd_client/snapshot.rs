//! `/v3/maintenance/snapshot` over the gateway: a stream of newline-delimited JSON messages
//! `{"result":{"remaining_bytes":"…","blob":"<base64>"}}` (or `{"error":{…}}`), whose last
//! 32 bytes are the SHA-256 of everything before them.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::{EtcdError, Result};
use super::types::{GatewayError, SnapshotChunk};
use super::{api_error, transport};

const PATH: &str = "/v3/maintenance/snapshot";
const SHA_LEN: usize = 32;

/// Running SHA-256 of the stream minus its last 32 bytes (held back in `tail`).
#[derive(Default)]
struct TrailingHash {
    hasher: Sha256,
    tail: Vec<u8>,
}

impl TrailingHash {
    fn update(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        if self.tail.len() > SHA_LEN {
            let cut = self.tail.len() - SHA_LEN;
            self.hasher.update(&self.tail[..cut]);
            self.tail.drain(..cut);
        }
    }

    /// Whether the held-back 32 bytes are the SHA-256 of the rest.
    fn verify(self) -> bool {
        self.tail.len() == SHA_LEN && self.hasher.finalize().as_slice() == self.tail.as_slice()
    }
}

/// Stream a snapshot from endpoint `ep` into `to` (temp file + rename). Returns the size.
pub(crate) async fn save(
    http: &reqwest::Client,
    ep: &str,
    to: &Path,
    connect_timeout: Duration,
    total_timeout: Duration,
) -> Result<u64> {
    let snap_err = |message: String| EtcdError::Snapshot {
        path: to.to_path_buf(),
        message,
    };
    let dir = match to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".etcd-snapshot-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| {
            snap_err(format!(
                "creating a temporary file in {}: {e}",
                dir.display()
            ))
        })?;

    let work = async {
        let resp = tokio::time::timeout(
            connect_timeout,
            http.post(format!("{ep}{PATH}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{}")
                .send(),
        )
        .await
        .map_err(|_| EtcdError::Transport {
            endpoint: ep.to_string(),
            message: format!("no answer to the snapshot request within {connect_timeout:?}"),
        })?
        .map_err(|e| transport(ep, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(api_error(ep, PATH, status, &body));
        }
        let mut resp = resp;
        let mut buf: Vec<u8> = Vec::new();
        let mut hash = TrailingHash::default();
        let mut total: u64 = 0;
        let mut finished = false;
        let mut handle_line = |line: &[u8], finished: &mut bool| -> Result<()> {
            let line = line.trim_ascii();
            if line.is_empty() {
                return Ok(());
            }
            let v: Value = serde_json::from_slice(line).map_err(|e| EtcdError::Decode {
                endpoint: ep.to_string(),
                path: PATH.into(),
                message: format!("stream message: {e}"),
            })?;
            if let Some(err) = v.get("error") {
                let g: Option<GatewayError> =
                    serde_json::from_value(serde_json::json!({"error": err})).ok();
                return Err(EtcdError::Api {
                    endpoint: ep.to_string(),
                    path: PATH.into(),
                    code: err
                        .get("grpc_code")
                        .or_else(|| err.get("code"))
                        .and_then(|c| c.as_i64())
                        .and_then(|c| i32::try_from(c).ok()),
                    message: g.and_then(|g| g.text()).unwrap_or_else(|| err.to_string()),
                });
            }
            let chunk: SnapshotChunk =
                serde_json::from_value(v.get("result").cloned().unwrap_or(v)).map_err(|e| {
                    EtcdError::Decode {
                        endpoint: ep.to_string(),
                        path: PATH.into(),
                        message: format!("stream message: {e}"),
                    }
                })?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(chunk.blob.as_bytes())
                .map_err(|e| EtcdError::Decode {
                    endpoint: ep.to_string(),
                    path: PATH.into(),
                    message: format!("blob is not base64: {e}"),
                })?;
            tmp.write_all(&data)
                .map_err(|e| snap_err(format!("writing {}: {e}", tmp.path().display())))?;
            hash.update(&data);
            total += data.len() as u64;
            *finished = chunk.remaining_bytes == 0;
            Ok(())
        };
        loop {
            let chunk = resp.chunk().await.map_err(|e| transport(ep, &e))?;
            let Some(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                handle_line(&line, &mut finished)?;
            }
        }
        let rest = std::mem::take(&mut buf);
        handle_line(&rest, &mut finished)?;
        if !finished {
            return Err(snap_err(format!(
                "the stream from {ep} ended early after {total} bytes"
            )));
        }
        if !hash.verify() {
            return Err(snap_err(format!(
                "the SHA-256 at the end of the stream from {ep} does not match its {total} bytes"
            )));
        }
        Ok(total)
    };
    let total = tokio::time::timeout(total_timeout, work)
        .await
        .map_err(|_| EtcdError::Transport {
            endpoint: ep.to_string(),
            message: format!("snapshot not finished within {total_timeout:?}"),
        })??;
    tmp.as_file()
        .sync_all()
        .map_err(|e| snap_err(format!("syncing {}: {e}", tmp.path().display())))?;
    tmp.persist(to)
        .map_err(|e| snap_err(format!("renaming into place: {}", e.error)))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_hash_checks_last_32_bytes_across_chunks() {
        let data = b"bolt database bytes".repeat(10);
        let sha = Sha256::digest(&data);
        let mut stream = data.clone();
        stream.extend_from_slice(&sha);
        for split in [1, 7, 32, 33, 100, stream.len()] {
            let mut h = TrailingHash::default();
            for c in stream.chunks(split) {
                h.update(c);
            }
            assert!(h.verify(), "split {split}");
        }
        let mut bad = stream.clone();
        bad[3] ^= 1;
        let mut h = TrailingHash::default();
        h.update(&bad);
        assert!(!h.verify());
        let mut short = TrailingHash::default();
        short.update(&sha[..10]);
        assert!(!short.verify());
    }
}
