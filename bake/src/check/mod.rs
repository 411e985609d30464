//! `bake check`: the last step of an image build. Finds node-specific or secret state that must
//! not be baked into a golden image, and staged files that no longer match `staged.json`;
//! `--fix` removes what is safe to remove (never the staged artifacts).

use std::fs;
use std::path::{Path, PathBuf};

use offline::digest::sha256_file;
use offline::error::{Error, IoContext, Result};
use serde::Serialize;

use crate::stage::{under, StagedRecord, RECORD_PATH};

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A bootstrap token or certificate key in a configuration file.
    Secret,
    /// A private key, kubeconfig or manifest under /etc/kubernetes.
    KubernetesState,
    /// firstboot's node configuration or journal.
    FirstbootState,
    /// kubelet or etcd state of a node that ran.
    NodeState,
    /// A non-empty machine id.
    MachineId,
    /// SSH host keys.
    SshHostKey,
    /// cloud-init instance state or logs.
    CloudInit,
    /// A staged file or link that does not match staged.json.
    StagedMismatch,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// What it is.
    pub kind: FindingKind,
    /// Node path.
    pub path: String,
    /// Why it is a problem (never the secret itself).
    pub detail: String,
    /// `--fix` can remove it.
    pub fixable: bool,
}

fn finding(kind: FindingKind, path: &str, detail: impl Into<String>, fixable: bool) -> Finding {
    Finding {
        kind,
        path: path.to_string(),
        detail: detail.into(),
        fixable,
    }
}

/// Node paths (relative to the root) of every regular file below `dir`, skipping symlinks.
fn walk(root: &Path, dir: &str, out: &mut Vec<String>) {
    let full = under(root, dir);
    let Ok(rd) = fs::read_dir(&full) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let node = format!("{}/{name}", dir.trim_end_matches('/'));
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(root, &node, out),
            Ok(t) if t.is_file() => out.push(node),
            _ => {}
        }
    }
}

/// True when `text` holds something shaped like a bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`).
pub fn has_bootstrap_token(text: &str) -> bool {
    let b = text.as_bytes();
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (0..b.len()).any(|i| {
        i + 23 <= b.len()
            && (i == 0 || !ok(b[i - 1]) && b[i - 1] != b'.')
            && b[i..i + 6].iter().all(|&c| ok(c))
            && b[i + 6] == b'.'
            && b[i + 7..i + 23].iter().all(|&c| ok(c))
            && (i + 23 == b.len() || !ok(b[i + 23]) && b[i + 23] != b'.')
    })
}

/// True when `text` sets a certificate key (64 hex characters after `certificateKey` or
/// `certificate-key`).
pub fn has_certificate_key(text: &str) -> bool {
    for key in ["certificateKey", "certificate-key", "certificate_key"] {
        for (i, _) in text.match_indices(key) {
            let rest = &text[i + key.len()..];
            let rest = rest.trim_start_matches(|c: char| {
                c == ':' || c == '=' || c == '"' || c == '\'' || c.is_whitespace()
            });
            let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if hex.len() == 64 {
                return true;
            }
        }
    }
    false
}

/// Scan the image at `root`.
pub fn check(root: &Path) -> Result<Vec<Finding>> {
    let mut f = Vec::new();
    // Secrets in kubebake and kubeadm configuration.
    let mut files = Vec::new();
    for d in [
        "/etc/kubebake",
        "/etc/kubernetes",
        "/var/lib/kubebake/firstboot",
        "/etc/default",
    ] {
        walk(root, d, &mut files);
    }
    let fb = "/etc/kubebake/firstboot.yaml";
    if under(root, fb).exists() {
        f.push(finding(
            FindingKind::FirstbootState,
            fb,
            "node configuration (user-data belongs to the node, not the image)",
            true,
        ));
    }
    for p in &files {
        let full = under(root, p);
        let Ok(md) = fs::metadata(&full) else {
            continue;
        };
        if md.len() > 1 << 20 {
            continue;
        }
        let Ok(text) = fs::read_to_string(&full) else {
            continue;
        };
        if has_bootstrap_token(&text) {
            f.push(finding(
                FindingKind::Secret,
                p,
                "contains a bootstrap token",
                true,
            ));
        } else if has_certificate_key(&text) {
            f.push(finding(
                FindingKind::Secret,
                p,
                "contains a certificate key",
                true,
            ));
        }
    }
    // Kubernetes node state.
    let mut kfiles = Vec::new();
    walk(root, "/etc/kubernetes", &mut kfiles);
    for p in &kfiles {
        let what = if p.ends_with(".key") {
            "private key"
        } else if p.ends_with(".conf") {
            "kubeconfig"
        } else if p.starts_with("/etc/kubernetes/pki/") {
            "cluster PKI"
        } else if p.starts_with("/etc/kubernetes/manifests/") {
            "static pod manifest of a node"
        } else {
            continue;
        };
        if !f.iter().any(|x| x.path == *p) {
            f.push(finding(FindingKind::KubernetesState, p, what, true));
        }
    }
    let mut state = Vec::new();
    walk(root, "/var/lib/kubebake/firstboot", &mut state);
    walk(root, "/run/cluster-api", &mut state);
    for p in state {
        if !f.iter().any(|x| x.path == p) {
            f.push(finding(
                FindingKind::FirstbootState,
                &p,
                "first-boot state of a node that ran",
                true,
            ));
        }
    }
    let mut node = Vec::new();
    walk(root, "/var/lib/etcd", &mut node);
    walk(root, "/var/lib/kubelet/pki", &mut node);
    for n in [
        "/var/lib/kubelet/config.yaml",
        "/var/lib/kubelet/kubeadm-flags.env",
        "/var/lib/kubelet/instance-config.yaml",
    ] {
        if under(root, n).is_file() {
            node.push(n.to_string());
        }
    }
    for p in node {
        f.push(finding(
            FindingKind::NodeState,
            &p,
            "kubelet/etcd state of a node that ran",
            true,
        ));
    }
    // Machine identity.
    for m in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        let full = under(root, m);
        if let Ok(md) = fs::symlink_metadata(&full) {
            if md.is_file() && md.len() > 0 {
                f.push(finding(
                    FindingKind::MachineId,
                    m,
                    "non-empty machine id (every clone would share it)",
                    true,
                ));
            }
        }
    }
    if let Ok(rd) = fs::read_dir(under(root, "/etc/ssh")) {
        let mut keys: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("ssh_host_"))
            .collect();
        keys.sort();
        for k in keys {
            f.push(finding(
                FindingKind::SshHostKey,
                &format!("/etc/ssh/{k}"),
                "SSH host key (every clone would share it)",
                true,
            ));
        }
    }
    // cloud-init state and logs.
    for d in [
        "/var/lib/cloud/instance",
        "/var/lib/cloud/instances",
        "/var/lib/cloud/data",
        "/var/lib/cloud/sem",
        "/var/lib/cloud/handlers-state",
    ] {
        let full = under(root, d);
        if full.symlink_metadata().is_ok()
            && (full.is_symlink()
                || fs::read_dir(&full)
                    .map(|mut r| r.next().is_some())
                    .unwrap_or(true))
        {
            f.push(finding(
                FindingKind::CloudInit,
                d,
                "cloud-init instance state (the image would skip cloud-init on first boot)",
                true,
            ));
        }
    }
    for l in ["/var/log/cloud-init.log", "/var/log/cloud-init-output.log"] {
        if under(root, l).exists() {
            f.push(finding(
                FindingKind::CloudInit,
                l,
                "cloud-init log of the build",
                true,
            ));
        }
    }
    // Staged artifacts.
    let rec_path = under(root, RECORD_PATH);
    if let Ok(b) = fs::read(&rec_path) {
        let rec: StagedRecord = serde_json::from_slice(&b)
            .map_err(|e| Error::Other(format!("{}: {e}", rec_path.display())))?;
        for s in &rec.files {
            let full = under(root, &s.path);
            match sha256_file(&full) {
                Ok((sha, _)) if sha == s.sha256 => {}
                Ok(_) => f.push(finding(
                    FindingKind::StagedMismatch,
                    &s.path,
                    "sha256 differs from staged.json",
                    false,
                )),
                Err(_) => f.push(finding(
                    FindingKind::StagedMismatch,
                    &s.path,
                    "missing (listed in staged.json)",
                    false,
                )),
            }
        }
        for l in &rec.links {
            match fs::read_link(under(root, &l.path)) {
                Ok(t) if t == Path::new(&l.target) => {}
                _ => f.push(finding(
                    FindingKind::StagedMismatch,
                    &l.path,
                    format!("does not link to {}", l.target),
                    false,
                )),
            }
        }
    }
    Ok(f)
}

/// Remove (or, for machine ids, empty) every fixable finding; returns what was done.
pub fn fix(root: &Path, findings: &[Finding]) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for x in findings.iter().filter(|x| x.fixable) {
        let full: PathBuf = under(root, &x.path);
        if x.kind == FindingKind::MachineId && x.path == "/etc/machine-id" {
            fs::write(&full, b"").at(&full)?;
            done.push(format!("emptied {}", x.path));
            continue;
        }
        let md = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(_) => continue,
        };
        if md.is_dir() {
            fs::remove_dir_all(&full).at(&full)?;
        } else {
            fs::remove_file(&full).at(&full)?;
        }
        done.push(format!("removed {}", x.path));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes() {
        assert!(has_bootstrap_token("token: abcdef.0123456789abcdef\n"));
        assert!(has_bootstrap_token("abcdef.0123456789abcdef"));
        assert!(!has_bootstrap_token("image: registry.k8s.io/pause:3.10.2"));
        assert!(!has_bootstrap_token("host: abcdefg.0123456789abcdef"));
        assert!(!has_bootstrap_token("ABCDEF.0123456789ABCDEF"));
    }

    #[test]
    fn certificate_key_shapes() {
        let k = "a".repeat(64);
        assert!(has_certificate_key(&format!("certificateKey: \"{k}\"")));
        assert!(has_certificate_key(&format!("--certificate-key={k}")));
        assert!(!has_certificate_key("certificateKey: \"\""));
    }
}
