//! The error type of the `offline` crate: every variant names the file, field, artifact or
//! bundle entry it is about, and none carries secret material.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading specs, fetching artifacts or handling bundles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A BundleSpec (or another input document) is invalid.
    #[error("{file}: {field}: {message}")]
    Spec {
        /// The file the document came from.
        file: String,
        /// The offending field, in dotted form (`extraFiles[1].sha256`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An artifact could not be fetched.
    #[error("fetching {artifact} from {url}: {message}")]
    Fetch {
        /// The artifact (`kubeadm`, `label stable-1.36`, an image reference, …).
        artifact: String,
        /// Where it was fetched from.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// An artifact's content does not match its expected sha256.
    #[error("{artifact} from {url}: sha256 mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The artifact.
        artifact: String,
        /// Where it came from.
        url: String,
        /// The sha256 that was expected.
        expected: String,
        /// The sha256 that was computed.
        actual: String,
    },
    /// A bundle failed verification; `entry` names the offending entry (or `-` for the archive).
    #[error("bundle {bundle}: entry {entry}: {message}")]
    Bundle {
        /// The bundle file.
        bundle: String,
        /// The offending entry path within the bundle.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// A signature could not be made or checked.
    #[error("signature {file}: {message}")]
    Signature {
        /// The signature or key file concerned.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A spec error about `field` of `file`.
    pub fn spec(
        file: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Spec {
            file: file.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Attach a path to `std::io::Result`s.
pub trait IoContext<T> {
    /// Map an I/O error to [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
