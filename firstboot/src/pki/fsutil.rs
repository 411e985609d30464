//! The shared atomic writes with PKI errors, and small read helpers for the PKI and kubeconfig
//! code.

use std::fs;
use std::path::Path;

use super::error::{PkiError, Result};

/// Writes `data` to `path` atomically with file mode `mode`, parents created with `dir_mode`
/// ([`offline::fsutil::write_atomic_with`]).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, dir_mode: u32) -> Result<()> {
    offline::fsutil::write_atomic_with(path, data, mode, dir_mode)
        .map_err(|e| PkiError::io(path, e))?;
    tracing::debug!(path = %path.display(), mode = format_args!("{mode:04o}"), "wrote file");
    Ok(())
}

/// Reads `path`, returning `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io(path, e)),
    }
}

/// Whether `path` exists (any file type; a broken symlink counts as existing).
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}
