//! Exclusive run lock: an `flock`ed file holding the owner's pid, so two runs cannot overlap and
//! the second one can say who holds the lock. The kernel drops the lock when the holder dies.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};

/// Held while a run is in progress; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    /// Path of the lock file.
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another firstboot run holds the lock {path}: pid {pid}{cmd}; wait for it to finish (or raise FirstbootConfiguration timeouts.lockWait)")]
    Held {
        /// Lock file.
        path: String,
        /// Holder's pid as recorded in the file (`unknown` if unreadable).
        pid: String,
        /// `(command line)` of the holder if it could be read, else empty.
        cmd: String,
    },
    /// The lock file could not be opened.
    #[error("cannot open lock file {path}: {source}")]
    Io {
        /// Lock file.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Takes the lock at `path`, retrying for up to `wait` while another process holds it.
pub fn acquire(path: &Path, wait: Duration) -> Result<RunLock, LockError> {
    let io_err = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::fsutil::ensure_dir(dir, 0o700).map_err(io_err)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err)?;
    let deadline = Instant::now() + wait;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                if Instant::now() >= deadline {
                    let mut s = String::new();
                    let _ = file.seek(SeekFrom::Start(0));
                    let _ = file.read_to_string(&mut s);
                    let pid = s.trim().to_string();
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                        .ok()
                        .filter(|_| !pid.is_empty())
                        .map(|b| {
                            let c = String::from_utf8_lossy(&b).replace('\0', " ");
                            format!(" ({})", c.trim())
                        })
                        .unwrap_or_default();
                    return Err(LockError::Held {
                        path: path.display().to_string(),
                        pid: if pid.is_empty() {
                            "unknown".into()
                        } else {
                            pid
                        },
                        cmd,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(io_err(e.into())),
        }
    }
    file.set_len(0).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    writeln!(file, "{}", std::process::id()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(RunLock {
        _file: file,
        path: path.to_path_buf(),
    })
}
