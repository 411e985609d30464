//! Errors of the PKI and kubeconfig libraries.

use std::path::PathBuf;

/// Errors returned by [`crate::pki`] and [`crate::kubeconfig`].
///
/// Every variant names the file or input it is about; none carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading, writing or creating a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its content is not acceptable (parse error, wrong kind of data, ...).
    #[error("{path}: {message}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A configuration value given to the library is not acceptable.
    #[error("invalid {field} {value:?}: {message}")]
    InvalidInput {
        /// Name of the input field (kubeadm spelling where there is one, e.g. `controlPlaneEndpoint`).
        field: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// A certificate or kubeconfig name that this cluster does not have.
    #[error("{0:?} is not a valid certificate for this cluster")]
    UnknownCertificate(String),
    /// A cryptographic operation failed (key generation, signing).
    #[error("{0}")]
    Crypto(String),
}

impl PkiError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        PkiError::InvalidFile {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn input(
        field: &'static str,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PkiError::InvalidInput {
            field,
            value: value.into(),
            message: message.into(),
        }
    }
}

/// Result type of the PKI and kubeconfig libraries.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
