//! Cloud-init user-data for kubebake nodes (`firstboot userdata`): a `#cloud-config` whose
//! `write_files` put the node's configuration at `/etc/kubebake/firstboot.yaml` (0600) and, for
//! control-plane nodes, the cluster's shared CA key pairs under the certificates directory
//! (Cluster API's CABPK approach: every control-plane node gets the same CAs, no upload-certs),
//! and that makes sure `kubebake-firstboot.service` runs.
//!
//! - [`ca`]: the shared CA set (`ca`, `front-proxy-ca`, `etcd/ca`, `sa`) a fleet's user-data is
//!   rendered from: created in advance, read back and checked, and its `caCertHashes` pin.
//! - [`render`]: validation of the node configuration with firstboot's own loader and the
//!   rendering of the cloud-config (pure: nothing is written).
//!
//! ```no_run
//! use firstboot::userdata::{self, Role};
//! use firstboot::pki::EncryptionAlgorithm;
//! let (set, _) = userdata::create_ca_set("ca".as_ref(), EncryptionAlgorithm::EcdsaP256)?;
//! println!("caCertHashes: [{}]", set.ca_cert_hash);
//! let text = std::fs::read_to_string("init.yaml")?;
//! let out = userdata::render(&userdata::RenderRequest {
//!     role: Role::Init,
//!     source: "init.yaml",
//!     config: &text,
//!     ca_dir: Some("ca".as_ref()),
//! })?;
//! print!("{}", out.user_data);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ca;
pub mod render;

use std::path::PathBuf;

pub use ca::{create_ca_set, read_ca_set, CaFile, CaSet, CaSetOutcome};
pub use render::{
    cloud_config, render, render_facts, NodeKind, RenderRequest, Rendered, Role, WriteFile,
    CONFIG_MODE, FIRSTBOOT_UNIT, USER_DATA_SIZE_WARNING,
};

use crate::config::ConfigError;
use crate::pki::PkiError;

/// Why user-data or a CA set could not be produced. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// The node configuration is invalid (the loader's error, naming document and field).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration does not fit the command, or flags conflict.
    #[error("{0}")]
    Input(String),
    /// A file of the CA directory is missing or not acceptable.
    #[error("CA directory: {path}: {message}")]
    CaDir {
        /// The file (or the directory).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Creating keys or certificates, or writing them, failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl UserDataError {
    /// Whether the error is the user's input (exit code 2) rather than a failure (1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            UserDataError::Config(_) | UserDataError::Input(_) | UserDataError::CaDir { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        UserDataError::Io {
            path: path.into(),
            source,
        }
    }
}
