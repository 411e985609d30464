//! Checks a join makes before touching the node: join material still valid (bootstrap token,
//! certificate key) and kubelet/control-plane version skew. Each fails early, naming what
//! expired or which versions clash.

use std::path::Path;
use std::time::SystemTime;

use crate::config::validate::Version;

/// kubeadm's message when the kubeadm-certs Secret is gone.
pub fn certificate_key_expired_message() -> String {
    "Secret kube-system/kubeadm-certs not found: the certificate key has expired or upload-certs was not run; \
     run `firstboot init phase upload-certs --upload-certs` on a control-plane node \
     (or `kubeadm init phase upload-certs --upload-certs`) and join with the new certificate key"
        .to_string()
}

/// Fails when a token's `expiration` (RFC 3339, from its Secret or a known expiry) is before
/// `now`, naming the token id and when it expired.
pub fn check_token_expiry(token_id: &str, expiration: &str, now: SystemTime) -> anyhow::Result<()> {
    let exp =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                anyhow::anyhow!(
                    "bootstrap token {token_id}: invalid expiration {expiration:?}: {e}"
                )
            })?;
    let now = time::OffsetDateTime::from(now);
    if exp <= now {
        anyhow::bail!(
            "bootstrap token {token_id} expired at {expiration}: token expired or invalid; create a new one \
             on a control-plane node (`kubeadm token create`)"
        );
    }
    Ok(())
}

fn parse_rfc3339(field: &str, value: &str) -> anyhow::Result<time::OffsetDateTime> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|e| anyhow::anyhow!("{field}: invalid RFC 3339 time {value:?}: {e}"))
}

/// Checks the expiry times the configuration knows (`FirstbootConfiguration.joinMaterial`):
/// fails naming what expired and when. `certificate_key`: the join uses a certificate key.
pub fn check_known_expiry(
    m: &crate::config::firstboot::JoinMaterial,
    certificate_key: bool,
    now: SystemTime,
) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::from(now);
    if !m.token_expires.is_empty()
        && parse_rfc3339("joinMaterial.tokenExpires", &m.token_expires)? <= now
    {
        anyhow::bail!(
            "the bootstrap token of this join configuration expired at {} (FirstbootConfiguration              joinMaterial.tokenExpires): token expired; create a new one on a control-plane node              (`firstboot token create --print-join-config` or `kubeadm token create`)",
            m.token_expires
        );
    }
    if certificate_key
        && !m.certificate_key_expires.is_empty()
        && parse_rfc3339(
            "joinMaterial.certificateKeyExpires",
            &m.certificate_key_expires,
        )? <= now
    {
        anyhow::bail!(
            "the certificate key of this join configuration expired at {} (FirstbootConfiguration              joinMaterial.certificateKeyExpires): certificate key expired; run `firstboot init phase upload-certs              --upload-certs` (or `kubeadm init phase upload-certs --upload-certs`) on a control-plane node and join              with the new certificate key",
            m.certificate_key_expires
        );
    }
    Ok(())
}

/// Asks the cluster whether the join material still works, with the connection the join uses
/// (the bootstrap token; admin.conf on a control-plane join that already has one):
/// a 401 means the token expired (or is unknown); with a certificate key, the
/// `kube-system/kubeadm-certs` Secret must exist and its owner token (its TTL) must not have
/// expired. Other errors are left to the phases (they report them in context).
pub fn check_with_cluster(
    cluster: &crate::kube::Cluster,
    token_id: Option<&str>,
    certificate_key: bool,
    now: SystemTime,
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let id = token_id.unwrap_or("<unknown>");
    let rejected = |e: &crate::kube::KubeError| e.code() == Some(401);
    match cluster.get::<ConfigMap>(Some("kube-system"), "kubeadm-config") {
        Err(e) if rejected(&e) => anyhow::bail!(
            "the API server rejected the bootstrap token {id} (HTTP 401): token expired or invalid; create a new              one on a control-plane node (`firstboot token create --print-join-config` or `kubeadm token create`)"
        ),
        _ => {}
    }
    if !certificate_key {
        return Ok(());
    }
    let secret = match cluster.get::<Secret>(Some("kube-system"), "kubeadm-certs") {
        Ok(Some(s)) => s,
        Ok(None) => anyhow::bail!("{}", certificate_key_expired_message()),
        Err(e) if rejected(&e) => anyhow::bail!(
            "the API server rejected the bootstrap token {id} (HTTP 401): token expired or invalid"
        ),
        Err(_) => return Ok(()),
    };
    // The Secret lives as long as its owner, the TTL token (spec §9).
    let owner = secret
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.kind == "Secret" && o.name.starts_with("bootstrap-token-"));
    let Some(owner) = owner else {
        return Ok(());
    };
    match cluster.get::<Secret>(Some("kube-system"), &owner.name) {
        Ok(Some(tok)) => {
            let exp = tok
                .data
                .as_ref()
                .and_then(|d| d.get("expiration"))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned());
            if let Some(exp) = exp {
                if parse_rfc3339("expiration", &exp)
                    .is_ok_and(|t| t <= time::OffsetDateTime::from(now))
                {
                    anyhow::bail!(
                        "the certificate key expired at {exp} (the TTL of Secret kube-system/kubeadm-certs, owned by                          Secret kube-system/{}): {}",
                        owner.name,
                        certificate_key_expired_message()
                    );
                }
            }
            Ok(())
        }
        // The owner is gone: the garbage collector deletes kubeadm-certs next.
        Ok(None) => anyhow::bail!(
            "the certificate key expired: Secret kube-system/{} (the TTL of kubeadm-certs) no longer exists; {}",
            owner.name,
            certificate_key_expired_message()
        ),
        // A bootstrap token may not read token Secrets: nothing more to learn.
        Err(_) => Ok(()),
    }
}

/// The kubelet version staged on this node: `activeVersion` of
/// `/usr/share/kubebake/staged.json`, else `<root>/usr/local/bin/kubelet --version`.
pub fn staged_kubelet_version(root: &Path) -> Option<String> {
    let record = crate::fsutil::under_root(root, "/usr/share/kubebake/staged.json");
    if let Ok(text) = std::fs::read_to_string(&record) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if let Some(a) = v.get("activeVersion").and_then(|a| a.as_str()) {
                return Some(a.to_string());
            }
        }
    }
    let bin = crate::fsutil::under_root(root, "/usr/local/bin/kubelet");
    let out = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    // "Kubernetes v1.36.2"
    s.split_whitespace()
        .find(|w| w.starts_with('v'))
        .map(str::to_string)
}

/// kubelet/control-plane skew for a joining node (Kubernetes version skew policy): the kubelet
/// must not be newer than the control plane (minor) nor more than three minors older.
pub fn check_kubelet_skew(kubelet: &str, control_plane: &str) -> anyhow::Result<()> {
    let k = Version::parse(kubelet)
        .ok_or_else(|| anyhow::anyhow!("cannot parse the staged kubelet version {kubelet:?}"))?;
    let c = Version::parse(control_plane).ok_or_else(|| {
        anyhow::anyhow!("cannot parse the cluster's Kubernetes version {control_plane:?}")
    })?;
    if k.major != c.major || k.minor > c.minor {
        anyhow::bail!(
            "the staged kubelet {kubelet} is newer than the cluster's control plane {control_plane}: a kubelet \
             must not be newer than the API server; stage a {}.{} kubelet (FirstbootConfiguration.kubernetesVersion) \
             or upgrade the control plane first",
            c.major,
            c.minor
        );
    }
    if k.minor + 3 < c.minor {
        anyhow::bail!(
            "the staged kubelet {kubelet} is more than three minor versions older than the cluster's control plane \
             {control_plane}; stage a newer kubelet"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn skew() {
        assert!(check_kubelet_skew("v1.36.2", "v1.36.0").is_ok());
        assert!(check_kubelet_skew("v1.33.0", "v1.36.2").is_ok());
        let e = check_kubelet_skew("v1.37.0", "v1.36.2")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("newer than the cluster's control plane v1.36.2"),
            "{e}"
        );
        assert!(check_kubelet_skew("v1.32.9", "v1.36.2").is_err());
    }

    #[test]
    fn token_expiry() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(check_token_expiry("abcdef", "2030-01-01T00:00:00Z", t).is_ok());
        let e = check_token_expiry("abcdef", "2026-11-25T18:35:11Z", t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("abcdef expired at 2026-11-25T18:35:11Z"), "{e}");
    }
}
