//! kubeadm's `ExternalEtcdVersion`: `GET <httpEndpoint>/version` on every external etcd
//! endpoint (with the configured client certificate and CA), version ≥ `MinExternalEtcdVersion`.

use std::path::Path;
use std::time::Duration;

use crate::config::types::ExternalEtcd;

/// kubeadm 1.36's `MinExternalEtcdVersion`.
pub const MIN_EXTERNAL_ETCD_VERSION: &str = "3.5.24-0";

/// How long one `/version` request may take (kubeadm retries for longer; preflight on a fresh
/// node should not hang on an unreachable endpoint).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(serde::Deserialize)]
struct VersionResponse {
    etcdserver: String,
}

/// The `/version` URL of an endpoint (`https://10.0.0.5:2379` → `https://10.0.0.5:2379/version`).
pub fn version_url(endpoint: &str) -> String {
    format!("{}/version", endpoint.trim_end_matches('/'))
}

/// Errors of the check, one per failing endpoint; file paths are node paths under `root`.
pub fn check(root: &Path, ext: &ExternalEtcd) -> Vec<String> {
    let endpoints = if ext.http_endpoints.is_empty() {
        &ext.endpoints
    } else {
        &ext.http_endpoints
    };
    let client = match client(root, ext) {
        Ok(c) => c,
        Err(e) => return vec![e],
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return vec![format!("cannot start the HTTP client: {e}")],
    };
    let min = semver::Version::parse(MIN_EXTERNAL_ETCD_VERSION).expect("valid constant");
    let mut errors = Vec::new();
    for ep in endpoints {
        let url = version_url(ep);
        let res: Result<VersionResponse, String> = rt.block_on(async {
            let resp = client.get(&url).send().await.map_err(|e| {
                format!(
                    "failed to get the version of external etcd from {url}: {}",
                    error_chain(&e)
                )
            })?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| format!("failed to read the answer of {url}: {e}"))?;
            if !status.is_success() {
                return Err(format!("{url} answered {status}"));
            }
            serde_json::from_slice(&body)
                .map_err(|e| format!("{url}: not an etcd version answer: {e}"))
        });
        match res {
            Err(e) => errors.push(e),
            Ok(v) => match semver::Version::parse(v.etcdserver.trim_start_matches('v')) {
                Err(e) => errors.push(format!(
                    "couldn't parse external etcd version {:?} from {url}: {e}",
                    v.etcdserver
                )),
                Ok(found) if found < min => errors.push(format!(
                    "this version of kubeadm only supports external etcd version >= {MIN_EXTERNAL_ETCD_VERSION}. Current version: {} ({url})",
                    v.etcdserver
                )),
                Ok(_) => {}
            },
        }
    }
    errors
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn client(root: &Path, ext: &ExternalEtcd) -> Result<reqwest::Client, String> {
    let read = |node_path: &str| {
        std::fs::read(crate::fsutil::under_root(root, node_path))
            .map_err(|e| format!("cannot read {node_path}: {e}"))
    };
    let mut b = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .no_proxy();
    if !ext.ca_file.is_empty() {
        let ca = reqwest::Certificate::from_pem(&read(&ext.ca_file)?)
            .map_err(|e| format!("{}: not a PEM certificate: {e}", ext.ca_file))?;
        b = b.add_root_certificate(ca);
    }
    if !ext.cert_file.is_empty() && !ext.key_file.is_empty() {
        let mut pem = read(&ext.cert_file)?;
        pem.push(b'\n');
        pem.extend(read(&ext.key_file)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!(
                "{} / {}: not a usable client certificate and key: {e}",
                ext.cert_file, ext.key_file
            )
        })?;
        b = b.identity(id);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}
