//! File-system helpers shared by bake and firstboot: atomic writes and safe relative paths.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Join an absolute node path onto a root (`/etc/x` under `/tmp/r` → `/tmp/r/etc/x`).
pub fn under_root(root: &Path, node_path: &str) -> PathBuf {
    root.join(node_path.trim_start_matches('/'))
}

/// Create `dir` and its missing parents with exactly `mode` (the umask does not apply; existing
/// directories are left alone, like Go's `os.MkdirAll`).
pub fn ensure_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent, mode)?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write `content` to `path` atomically with mode `mode`: a temporary file in the same directory
/// (`.<name>.<random>.tmp`) gets the content and the exact mode, is synced and renamed over
/// `path`, then the directory is synced — a crash leaves the old file or the new one, never part
/// of one. Missing parents are created with `dir_mode`.
///
/// Inside a [`SyncBatch`], a *new* file (nothing at `path` yet) is not synced on its own: the
/// batch's [`SyncBatch::finish`] syncs its filesystem once. Replacing an existing file always
/// syncs the new content before the rename, so the old content is never lost.
pub fn write_atomic_with(
    path: &Path,
    content: &[u8],
    mode: u32,
    dir_mode: u32,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    ensure_dir(dir, dir_mode)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    // The umask may have narrowed the mode at creation; set it exactly.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.write_all(content)?;
    let replacing = fs::symlink_metadata(path).is_ok();
    let deferred = !replacing && defer_sync(dir);
    if !deferred {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if !deferred && !defer_sync(dir) {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Directories written into during the active [`SyncBatch`] (their filesystems are synced at
/// its end).
static DEFERRED_DIRS: std::sync::Mutex<Option<std::collections::BTreeSet<PathBuf>>> =
    std::sync::Mutex::new(None);

/// Records `dir` in the active batch; false when no batch is active.
fn defer_sync(dir: &Path) -> bool {
    match DEFERRED_DIRS.lock() {
        Ok(mut g) => match g.as_mut() {
            Some(set) => {
                set.insert(dir.to_path_buf());
                true
            }
            None => false,
        },
        Err(_) => false,
    }
}

/// A batch of atomic writes made durable together at [`SyncBatch::finish`]: new files' contents,
/// their renames and their directories are flushed by one `syncfs(2)` per filesystem written to,
/// instead of two `fsync`s per file (the cost that dominated a first boot's node-local phases).
/// Replacing an existing file still syncs it before the rename, so a crash leaves each file old
/// or complete; what a crash before `finish` can lose is a new file (left absent or empty) —
/// callers record their work as done only after `finish` and redo it otherwise (the firstboot
/// runner marks a phase done after it and removes what an interrupted phase created).
/// Process-wide; a nested batch is a no-op.
#[must_use = "call finish() to make the batch durable"]
pub struct SyncBatch {
    owner: bool,
}

impl SyncBatch {
    /// Starts deferring syncs.
    pub fn begin() -> Self {
        let mut owner = false;
        if let Ok(mut g) = DEFERRED_DIRS.lock() {
            if g.is_none() {
                *g = Some(Default::default());
                owner = true;
            }
        }
        SyncBatch { owner }
    }

    /// Syncs every filesystem written to since [`SyncBatch::begin`].
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush()
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.owner {
            return Ok(());
        }
        self.owner = false;
        let dirs = DEFERRED_DIRS
            .lock()
            .map(|mut g| g.take().unwrap_or_default())
            .unwrap_or_default();
        sync_filesystems(&dirs)
    }
}

impl Drop for SyncBatch {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// `syncfs(2)` once for each distinct filesystem holding one of `dirs`.
fn sync_filesystems(dirs: &std::collections::BTreeSet<PathBuf>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut done = std::collections::BTreeSet::new();
    for d in dirs {
        let f = match fs::File::open(d) {
            // Removed since the write (a temporary directory; with several runs in one
            // process, another run's root): nothing left to make durable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            r => r?,
        };
        if done.insert(f.metadata()?.dev()) {
            rustix::fs::syncfs(&f)?;
        }
    }
    Ok(())
}

/// [`write_atomic_with`] with 0755 parents, the error naming `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_atomic_with(path, bytes, mode, 0o755).map_err(|e| Error::io(path, e))
}

/// Remove temporary files an interrupted [`write_atomic_with`] of `path` left behind. Only call
/// this while holding whatever lock serialises writers of `path`.
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Check that `name` is a safe relative path: not empty, not absolute, only normal components
/// (no `..`, no `.`, no empty segments), valid UTF-8. Returns the normalised `PathBuf`.
pub fn safe_relative_path(name: &str) -> std::result::Result<PathBuf, String> {
    if name.is_empty() {
        return Err("empty path".into());
    }
    if name.starts_with('/') {
        return Err("absolute path".into());
    }
    if name.contains('\0') {
        return Err("NUL byte in path".into());
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        if name.split('/').any(|s| s == "..") {
            return Err("path escapes its target (`..`)".into());
        }
        return Err("path is not normalised (empty or `.` segment)".into());
    }
    let p = PathBuf::from(name);
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("path has non-normal components".into());
    }
    Ok(p)
}

/// Human-readable byte size (`12.3 MiB`).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn batched_writes_defer_syncs_until_finish() {
        let dir = tempfile::tempdir().unwrap();
        let batch = SyncBatch::begin();
        let nested = SyncBatch::begin();
        write_atomic_with(&dir.path().join("a/x"), b"1", 0o600, 0o700).unwrap();
        write_atomic_with(&dir.path().join("a/y"), b"2", 0o644, 0o700).unwrap();
        let pending = DEFERRED_DIRS.lock().unwrap().clone().unwrap();
        assert!(pending.contains(&dir.path().join("a")), "{pending:?}");
        nested.finish().unwrap();
        assert!(
            DEFERRED_DIRS.lock().unwrap().is_some(),
            "a nested batch must not end the outer one"
        );
        batch.finish().unwrap();
        assert!(DEFERRED_DIRS.lock().unwrap().is_none());
        assert_eq!(fs::read(dir.path().join("a/x")).unwrap(), b"1");
        assert_eq!(
            fs::metadata(dir.path().join("a/y"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
    }

    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/file");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // no temp files left behind
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn rejects_unsafe_paths() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/."] {
            assert!(safe_relative_path(bad).is_err(), "{bad} accepted");
        }
        assert!(safe_relative_path("images/blobs/sha256/ab").is_ok());
        assert!(safe_relative_path("../x").unwrap_err().contains(".."));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
