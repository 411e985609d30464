//! File plans: what a phase writes (path, mode, content), printable for `--dry-run`, applied
//! atomically.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A directory a phase makes sure exists (created with `mode` only when missing, like Go's
/// `os.MkdirAll`; an existing directory keeps its mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedDir {
    /// Absolute path, already joined with the configured root.
    pub path: PathBuf,
    /// Mode for newly created directories (e.g. `0o700`).
    pub mode: u32,
}

/// A file a phase writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    /// Absolute path, already joined with the configured root.
    pub path: PathBuf,
    /// File mode (e.g. `0o600`).
    pub mode: u32,
    /// Full content.
    pub contents: String,
}

/// Directories then files, in the order they are created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Directories to create first.
    pub dirs: Vec<PlannedDir>,
    /// Files to write.
    pub files: Vec<PlannedFile>,
}

/// A failed write.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct WriteError {
    /// What was attempted ("create directory", "write").
    pub action: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

impl Plan {
    /// Add a directory unless the same path is already planned.
    pub fn dir(&mut self, path: impl Into<PathBuf>, mode: u32) {
        let path = path.into();
        if !self.dirs.iter().any(|d| d.path == path) {
            self.dirs.push(PlannedDir { path, mode });
        }
    }

    /// Add a file.
    pub fn file(&mut self, path: impl Into<PathBuf>, mode: u32, contents: impl Into<String>) {
        self.files.push(PlannedFile {
            path: path.into(),
            mode,
            contents: contents.into(),
        });
    }

    /// Append another plan (directories de-duplicated).
    pub fn extend(&mut self, other: Plan) {
        for d in other.dirs {
            self.dir(d.path, d.mode);
        }
        self.files.extend(other.files);
    }

    /// The planned file at `path`, if any.
    pub fn get(&self, path: &Path) -> Option<&PlannedFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Create the directories (missing ones only, with their mode) and write every file
    /// atomically (temp file in the same directory, mode set, fsync, rename, directory fsync).
    pub fn apply(&self) -> Result<(), WriteError> {
        for d in &self.dirs {
            create_dir(&d.path, d.mode)?;
        }
        for f in &self.files {
            write_atomic(&f.path, f.contents.as_bytes(), f.mode)?;
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    /// Human-readable dry-run listing with every file's content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.dirs {
            writeln!(
                f,
                "mkdir {} (mode {:04o}, if missing)",
                d.path.display(),
                d.mode
            )?;
        }
        for file in &self.files {
            writeln!(
                f,
                "write {} (mode {:04o}, {} bytes)",
                file.path.display(),
                file.mode,
                file.contents.len()
            )?;
            for line in file.contents.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

fn create_dir(path: &Path, mode: u32) -> Result<(), WriteError> {
    if path.is_dir() {
        return Ok(());
    }
    let err = |source| WriteError {
        action: "create directory",
        path: path.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(err)?;
    // The umask may have removed bits; set the leaf's mode as asked.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let err = |source| WriteError {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    if !dir.is_dir() {
        create_dir(dir, 0o755)?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    // Make the rename durable.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn apply_creates_dirs_and_files_with_modes() {
        let t = tempfile::tempdir().unwrap();
        let mut p = Plan::default();
        p.dir(t.path().join("a/b"), 0o700);
        p.file(t.path().join("a/b/f"), 0o600, "x\n");
        p.apply().unwrap();
        assert_eq!(
            fs::metadata(t.path().join("a/b")).unwrap().mode() & 0o7777,
            0o700
        );
        assert_eq!(
            fs::metadata(t.path().join("a/b/f")).unwrap().mode() & 0o7777,
            0o600
        );
        assert_eq!(fs::read_to_string(t.path().join("a/b/f")).unwrap(), "x\n");
        // an existing directory keeps its mode; a rewrite replaces content and mode
        fs::set_permissions(t.path().join("a/b"), fs::Permissions::from_mode(0o755)).unwrap();
        let mut p2 = Plan::default();
        p2.dir(t.path().join("a/b"), 0o700);
        p2.file(t.path().join("a/b/f"), 0o644, "y\n");
        p2.apply().unwrap();
        assert_eq!(
            fs::metadata(t.path().join("a/b")).unwrap().mode() & 0o7777,
            0o755
        );
        assert_eq!(
            fs::metadata(t.path().join("a/b/f")).unwrap().mode() & 0o7777,
            0o644
        );
        assert_eq!(fs::read_to_string(t.path().join("a/b/f")).unwrap(), "y\n");
        let listing = p2.to_string();
        assert!(listing.contains("(mode 0644, 2 bytes)"), "{listing}");
        assert_eq!(
            fs::read_dir(t.path().join("a/b")).unwrap().count(),
            1,
            "no temp files left"
        );
    }
}
