//! Rendering of a node's `#cloud-config`: the configuration is validated with firstboot's own
//! loader exactly as `firstboot run` will read it on the node, then written with the CA set (for
//! control-plane nodes) into cloud-init `write_files` entries. Pure: reads the CA directory,
//! writes nothing.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ca::{read_ca_set, CaSet};
use super::UserDataError;
use crate::config::{self, HostFacts, Mode, DEFAULT_CONFIG_PATH};

/// Mode of `/etc/kubebake/firstboot.yaml` (it holds bootstrap tokens and certificate keys).
pub const CONFIG_MODE: u32 = 0o600;
/// The systemd unit that runs `firstboot run` (staged into the image by `bake stage`).
pub const FIRSTBOOT_UNIT: &str = "kubebake-firstboot.service";
/// User-data larger than this gets a warning: some clouds (EC2) refuse more than 16 KiB.
pub const USER_DATA_SIZE_WARNING: usize = 16 * 1024;

/// Which `userdata` command renders: the first control-plane node, or a joining node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `firstboot userdata init`: InitConfiguration and/or ClusterConfiguration.
    Init,
    /// `firstboot userdata join`: JoinConfiguration (control plane or worker).
    Join,
}

/// What kind of node the configuration describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// The first control-plane node (`kubeadm init`).
    Init,
    /// A control-plane node joining (`JoinConfiguration.controlPlane` set).
    ControlPlaneJoin,
    /// A worker joining.
    Worker,
}

/// Inputs of [`render`].
#[derive(Debug, Clone, Copy)]
pub struct RenderRequest<'a> {
    /// The command.
    pub role: Role,
    /// Where the configuration came from (shown in errors), e.g. its path.
    pub source: &'a str,
    /// The configuration file's text; shipped byte for byte.
    pub config: &'a str,
    /// The CA set to ship (control-plane nodes only), as `userdata ca` writes it.
    pub ca_dir: Option<&'a Path>,
}

/// One cloud-init `write_files` entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFile {
    /// Absolute path on the node.
    pub path: String,
    /// The content: plain text, or base64 when `encoding` is `b64`.
    pub content: String,
    /// `root:root`.
    pub owner: String,
    /// Octal mode as a string (`'0600'`), as cloud-init's schema wants it.
    pub permissions: String,
    /// `b64` for content that is not plain text (e.g. CRLF line ends); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

impl std::fmt::Debug for WriteFile {
    // Never prints the content: it holds keys and tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteFile")
            .field("path", &self.path)
            .field("permissions", &self.permissions)
            .field("owner", &self.owner)
            .field("encoding", &self.encoding)
            .field("content_len", &self.content.len())
            .finish()
    }
}

impl WriteFile {
    /// An entry owned by `root:root` with `mode`, plain text when `data` is (UTF-8 without
    /// control characters but newline and tab, ending in a newline), base64 otherwise.
    pub fn new(path: impl Into<String>, data: &[u8], mode: u32) -> Self {
        let (content, encoding) = match std::str::from_utf8(data) {
            Ok(s) if is_plain(s) => (s.to_string(), None),
            _ => {
                use base64::Engine as _;
                (
                    base64::engine::general_purpose::STANDARD.encode(data),
                    Some("b64".to_string()),
                )
            }
        };
        WriteFile {
            path: path.into(),
            content,
            owner: "root:root".into(),
            permissions: format!("{mode:04o}"),
            encoding,
        }
    }

    /// The bytes cloud-init writes for this entry.
    pub fn decoded(&self) -> Result<Vec<u8>, String> {
        match self.encoding.as_deref() {
            None | Some("text/plain") => Ok(self.content.clone().into_bytes()),
            Some("b64") | Some("base64") => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(self.content.trim())
                    .map_err(|e| e.to_string())
            }
            Some(other) => Err(format!("unsupported encoding {other:?}")),
        }
    }

    /// The mode cloud-init gives the file.
    pub fn mode(&self) -> Option<u32> {
        u32::from_str_radix(&self.permissions, 8).ok()
    }
}

/// Text that YAML carries as-is in a block scalar: no control characters but `\n` and `\t`,
/// none of YAML 1.1's extra line breaks or a BOM, and a final newline.
fn is_plain(s: &str) -> bool {
    s.ends_with('\n')
        && s.chars().all(|c| {
            (c == '\n' || c == '\t' || !c.is_control())
                && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
        })
}

/// The result of [`render`].
pub struct Rendered {
    /// The complete user-data (`#cloud-config` ...). Holds secrets.
    pub user_data: String,
    /// What kind of node it is for.
    pub kind: NodeKind,
    /// Its `write_files` entries, in write order (CA set first, the configuration last).
    pub files: Vec<WriteFile>,
    /// `caCertHashes` value of the shipped CA set, if one is shipped.
    pub ca_cert_hash: Option<String>,
    /// Warnings of the loader and of rendering (never secrets).
    pub warnings: Vec<String>,
}

/// Host facts used to validate a configuration for a machine that does not exist yet:
/// placeholders for what firstboot detects on the node at boot (hostname, default-route address),
/// no staged bundle, containerd's socket.
pub fn render_facts() -> HostFacts {
    HostFacts {
        hostname: "node".into(),
        default_address: Ok([192, 0, 2, 1].into()),
        active_staged_version: None,
        staged_versions: None,
        cri_sockets: Vec::new(),
    }
}

/// Validates the configuration (as `firstboot run` will load it on the node) and renders the
/// node's user-data. Errors: the loader's (naming document and field), a configuration that
/// does not fit `role`, a worker given a CA set, a control-plane join without CA set or
/// certificate key, a CA set that is incomplete or does not match the join's `caCertHashes`.
pub fn render(req: &RenderRequest<'_>) -> Result<Rendered, UserDataError> {
    let docs = config::parse_documents(req.source, req.config)?;
    let has_init_docs = docs.init.is_some() || docs.cluster.is_some();
    let cfg = config::resolve(docs, &render_facts(), None)?;
    let mut warnings = cfg.warnings.clone();
    let kind = match (req.role, cfg.mode) {
        (Role::Init, Mode::Init) if has_init_docs => NodeKind::Init,
        (Role::Init, _) => {
            return Err(UserDataError::Input(format!(
                "{}: `userdata init` needs the first control-plane node's configuration: an InitConfiguration and/or ClusterConfiguration document (kubeadm.k8s.io/v1beta4); use `userdata join` for a JoinConfiguration",
                req.source
            )))
        }
        (Role::Join, Mode::Join) => {
            if cfg.is_control_plane() {
                NodeKind::ControlPlaneJoin
            } else {
                NodeKind::Worker
            }
        }
        (Role::Join, Mode::Init) => {
            return Err(UserDataError::Input(format!(
                "{}: `userdata join` needs a JoinConfiguration document (kubeadm.k8s.io/v1beta4); use `userdata init` for the first control-plane node",
                req.source
            )))
        }
    };

    let join = cfg.join.as_ref();
    let certificate_key = join
        .and_then(|j| j.control_plane.as_ref())
        .map(|c| !c.certificate_key.is_empty())
        .unwrap_or(false);
    match (kind, req.ca_dir) {
        (NodeKind::Worker, Some(_)) => {
            return Err(UserDataError::Input(
                "--ca-dir: a worker node gets no CA keys (only control-plane nodes do); drop --ca-dir — workers verify the cluster through discovery.bootstrapToken.caCertHashes".into(),
            ))
        }
        (NodeKind::ControlPlaneJoin, None) if certificate_key => warnings.push(
            "no --ca-dir: this control-plane node downloads the shared certificates with controlPlane.certificateKey, which works only if the first node ran kubeadm's upload-certs with that key, and less than 2 hours ago (the kubeadm-certs Secret expires); --ca-dir ships them instead".into(),
        ),
        (NodeKind::ControlPlaneJoin, None) => {
            return Err(UserDataError::Input(
                "a control-plane join needs the cluster's CA key pairs: pass --ca-dir DIR (from `firstboot userdata ca --out DIR`, the set the first node got), or set controlPlane.certificateKey to download them (kubeadm's upload-certs)".into(),
            ))
        }
        (NodeKind::Init, None) => warnings.push(
            "no --ca-dir: the node creates its own CAs on first boot, so the caCertHashes joining nodes need are only known afterwards; `firstboot userdata ca --out DIR` creates them in advance".into(),
        ),
        _ => {}
    }

    let cert_dir = cfg
        .cluster
        .certificates_dir
        .trim_end_matches('/')
        .to_string();
    if !cert_dir.starts_with('/') {
        return Err(UserDataError::Input(format!(
            "{}: ClusterConfiguration.certificatesDir {:?} must be an absolute path",
            req.source, cfg.cluster.certificates_dir
        )));
    }
    let set: Option<CaSet> = match req.ca_dir {
        Some(dir) => Some(read_ca_set(dir, cfg.cluster.etcd.local.is_some())?),
        None => None,
    };
    if let (Some(set), Some(bt)) = (
        &set,
        join.and_then(|j| j.discovery.bootstrap_token.as_ref()),
    ) {
        if !bt.ca_cert_hashes.is_empty()
            && !bt
                .ca_cert_hashes
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&set.ca_cert_hash))
        {
            return Err(UserDataError::Input(format!(
                "{}: JoinConfiguration field discovery.bootstrapToken.caCertHashes does not pin the CA of --ca-dir {} ({}): the join would reject the cluster",
                req.source,
                set.dir.display(),
                set.ca_cert_hash
            )));
        }
    }

    let mut files = Vec::new();
    if let Some(set) = &set {
        for f in &set.files {
            files.push(WriteFile::new(
                format!("{cert_dir}/{}", f.rel),
                &f.data,
                f.mode,
            ));
        }
    }
    // Last: the unit starts only once this file exists, so the CA files are in place by then.
    files.push(WriteFile::new(
        DEFAULT_CONFIG_PATH,
        req.config.as_bytes(),
        CONFIG_MODE,
    ));
    let what = match kind {
        NodeKind::Init => "first control-plane node (firstboot userdata init)",
        NodeKind::ControlPlaneJoin => "control-plane node joining (firstboot userdata join)",
        NodeKind::Worker => "worker node joining (firstboot userdata join)",
    };
    let user_data = cloud_config(what, &files)?;
    if user_data.len() > USER_DATA_SIZE_WARNING {
        warnings.push(format!(
            "the user-data is {} bytes; some clouds (EC2) accept at most {USER_DATA_SIZE_WARNING}: a CA set with ECDSA-P256 keys is much smaller",
            user_data.len()
        ));
    }
    Ok(Rendered {
        user_data,
        kind,
        files,
        ca_cert_hash: set.map(|s| s.ca_cert_hash),
        warnings,
    })
}

#[derive(Serialize)]
struct CloudConfig<'a> {
    write_files: &'a [WriteFile],
    runcmd: Vec<Vec<String>>,
}

/// The `runcmd` entry: the image enables the unit already (bake stage), and systemd starts it
/// after cloud-init wrote the files; on an image where it is not enabled, enable and start it
/// (without waiting: cloud-final runs after multi-user.target).
pub fn runcmd() -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "systemctl is-enabled --quiet {FIRSTBOOT_UNIT} || systemctl enable --now --no-block {FIRSTBOOT_UNIT}"
        ),
    ]
}

/// The `#cloud-config` document for `files`, with a header comment saying what it is for
/// (`what`) and that it holds secrets.
pub fn cloud_config(what: &str, files: &[WriteFile]) -> Result<String, UserDataError> {
    let body = serde_yaml::to_string(&CloudConfig {
        write_files: files,
        runcmd: vec![runcmd()],
    })
    .map_err(|e| UserDataError::Input(format!("cannot render user-data: {e}")))?;
    Ok(format!(
        "#cloud-config\n\
         # kubebake user-data for a {what}.\n\
         # SECRET: holds private keys and/or bootstrap tokens; keep it private (mode 0600).\n\
         {body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_base64() {
        let plain = WriteFile::new("/a", b"a: 1\n\tb\n", 0o600);
        assert_eq!(plain.encoding, None);
        assert_eq!(plain.permissions, "0600");
        assert_eq!(plain.mode(), Some(0o600));
        for odd in [&b"crlf\r\n"[..], b"no newline", b"\xff\xfe", b"nul\0\n"] {
            let f = WriteFile::new("/a", odd, 0o644);
            assert_eq!(f.encoding.as_deref(), Some("b64"), "{odd:?}");
            assert_eq!(f.decoded().unwrap(), odd);
            assert_eq!(f.permissions, "0644");
        }
    }

    #[test]
    fn debug_hides_content() {
        let f = WriteFile::new("/k", b"SECRET-KEY-MATERIAL\n", 0o600);
        assert!(!format!("{f:?}").contains("SECRET"));
    }
}
