//! Filesystem helpers: the atomic writes are `offline::fsutil`'s (shared with bake), plus small
//! helpers used by the runner.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use offline::fsutil::{
    ensure_dir, remove_stale_temps, under_root, write_atomic_with as write_atomic,
};

/// Lower-case hex SHA-256 of a file's content, or `None` if it cannot be read.
pub fn sha256_file(path: &Path) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    Some(hex::encode(Sha256::digest(&bytes)))
}

/// Permission bits of a file (`0o600`), or `None` if it does not exist.
pub fn mode_of(path: &Path) -> Option<u32> {
    fs::symlink_metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// Recursively copies `src` into `dst` (files, directories, symlinks; permission bits kept).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src)?;
        std::os::unix::fs::symlink(target, dst)?;
    } else if meta.is_dir() {
        fs::create_dir_all(dst)?;
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.permissions().mode()))?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        fs::copy(src, dst)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/key");
        write_atomic(&p, b"one", 0o600, 0o700).unwrap();
        assert_eq!(mode_of(&p), Some(0o600));
        assert_eq!(mode_of(&d.path().join("a/b")), Some(0o700));
        write_atomic(&p, b"two", 0o644, 0o755).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(mode_of(&p), Some(0o644));
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(d.path().join("a/b")).unwrap().count(), 1);
    }
}
