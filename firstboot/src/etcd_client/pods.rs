//! Reaching a cluster's stacked etcd the way kubeadm does (spec §5.7 step 1): the client URLs
//! come from the `kubeadm.kubernetes.io/etcd.advertise-client-urls` annotation of the
//! `component=etcd,tier=control-plane` Pods in `kube-system`, TLS from the node's etcd PKI, and
//! the endpoint list is then synced with the member list.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use super::{EtcdClient, EtcdTls};
use crate::kube::{Cluster, API_RETRY_INTERVAL};
use crate::manifests::pod::ETCD_CLIENT_URLS_ANNOTATION;

/// Label selector of kubeadm's etcd static Pods (their mirror Pods in `kube-system`).
pub const ETCD_POD_SELECTOR: &str = "component=etcd,tier=control-plane";

/// The etcd client URLs announced by `pods` (one per Pod, in order, without duplicates).
/// Errors like kubeadm when there is no Pod, or when a Pod has no annotation yet (the caller
/// retries: a mirror Pod may still be missing its annotation).
pub fn endpoints_from_pods(pods: &[Pod]) -> Result<Vec<String>, String> {
    if pods.is_empty() {
        return Err(format!(
            "the etcd Pod list is empty (no Pod with labels {ETCD_POD_SELECTOR} in kube-system)"
        ));
    }
    let mut out = Vec::new();
    for p in pods {
        let name = p.metadata.name.as_deref().unwrap_or("<unnamed>");
        let url = p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ETCD_CLIENT_URLS_ANNOTATION))
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                format!(
                    "etcd Pod kube-system/{name} is missing the {ETCD_CLIENT_URLS_ANNOTATION} annotation; \
                     cannot infer the etcd advertise client URL"
                )
            })?;
        if !out.iter().any(|u| u == url) {
            out.push(url.to_string());
        }
    }
    Ok(out)
}

/// Lists the etcd Pods through `cluster` every 500 ms until every one carries its client URL,
/// for up to `timeout` (`timeouts.kubernetesAPICall`); the error says what was last seen.
pub fn endpoints_from_cluster(cluster: &Cluster, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match cluster.list::<Pod>(Some("kube-system"), Some(ETCD_POD_SELECTOR), None) {
            Ok(pods) => match endpoints_from_pods(&pods) {
                Ok(eps) => return Ok(eps),
                Err(e) => e,
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() + API_RETRY_INTERVAL > deadline {
            anyhow::bail!("cannot find the etcd endpoints (waited {timeout:?}): {last}");
        }
        std::thread::sleep(API_RETRY_INTERVAL);
    }
}

/// A client for the stacked etcd cluster reached at `endpoints`, with kubeadm's client
/// credentials under `pki_dir` (`etcd/ca.crt` + `etcd/healthcheck-client.{crt,key}`),
/// operations retried for `etcd_timeout` (`timeouts.etcdAPICall`), its endpoints synced with
/// the member list (voters' client URLs).
pub fn connect_stacked(
    endpoints: Vec<String>,
    pki_dir: &Path,
    etcd_timeout: Duration,
) -> super::Result<EtcdClient> {
    let tls = EtcdTls::from_pki_dir(pki_dir)?;
    let mut client = EtcdClient::new(endpoints, tls)?.with_retry_timeout(etcd_timeout);
    client.sync_endpoints()?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, url: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: url.map(|u| {
                    [(ETCD_CLIENT_URLS_ANNOTATION.to_string(), u.to_string())]
                        .into_iter()
                        .collect()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn endpoints_from_annotations() {
        let pods = [
            pod("etcd-cp1", Some("https://10.0.0.4:2379")),
            pod("etcd-cp2", Some("https://10.0.0.5:2379")),
            pod("etcd-cp2-dup", Some("https://10.0.0.5:2379")),
        ];
        assert_eq!(
            endpoints_from_pods(&pods).unwrap(),
            ["https://10.0.0.4:2379", "https://10.0.0.5:2379"]
        );
        let e = endpoints_from_pods(&[]).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = endpoints_from_pods(&[
            pod("etcd-cp1", Some("https://10.0.0.4:2379")),
            pod("etcd-cp3", None),
        ])
        .unwrap_err();
        assert!(
            e.contains("kube-system/etcd-cp3") && e.contains(ETCD_CLIENT_URLS_ANNOTATION),
            "{e}"
        );
    }
}
