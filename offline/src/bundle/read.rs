//! One streaming pass over a bundle: verify every entry against the manifest (and the archive
//! against its minisign signature), optionally unpacking into a fresh directory.
//!
//! Two threads share the work with bounded memory: the first reads the file, hashes it (whole
//! file sha256, minisign prehash) and inflates it; the second parses tar, hashes every entry and
//! writes it out. At most [`CHANNEL_DEPTH`] buffers of [`CHUNK`] bytes are in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crossbeam_channel::{bounded, Receiver, Sender};
use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::safe_relative_path;
use crate::manifest::{
    Artifact, BundleManifest, MANIFEST_NAME, MAX_MANIFEST_BYTES, RELEASE_INDEX_PATH,
};
use crate::progress::Progress;
use crate::version::ReleaseIndex;

/// Size of one buffer passed between the threads.
pub const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the threads.
pub const CHANNEL_DEPTH: usize = 8;

/// How to check a bundle.
#[derive(Default, Clone)]
pub struct VerifyOptions {
    /// minisign public key file; when set the signature must verify.
    pub public_key: Option<PathBuf>,
    /// Signature file; default `<bundle>.minisig`.
    pub signature: Option<PathBuf>,
}

/// What a successful pass found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The verified manifest.
    pub manifest: BundleManifest,
    /// sha256 of the bundle file.
    pub bundle_sha256: String,
    /// Size of the bundle file.
    pub bundle_size: u64,
    /// True when a signature was checked with a public key.
    pub signature_verified: bool,
    /// The trusted comment of the signature, when checked.
    pub trusted_comment: Option<String>,
    /// The bundle's release index (read during the pass, after its sha256 matched).
    pub release_index: ReleaseIndex,
    /// sha256 and size of the images archive, when unpacked with
    /// [`UnpackOptions::images_archive`].
    pub images_archive: Option<(String, u64)>,
}

/// Verify `bundle` in one streaming pass without writing anything.
pub fn verify(
    bundle: &Path,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    run(bundle, opts, None, progress)
}

/// Name of the OCI archive [`UnpackOptions::images_archive`] writes inside the target.
pub const IMAGES_ARCHIVE: &str = "images.oci.tar";

/// How to unpack.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackOptions {
    /// Write the `images/` entries as one OCI archive (`images.oci.tar`, what
    /// `ctr images import` takes) instead of a layout directory, in the same pass.
    pub images_archive: bool,
}

/// Verify `bundle` and unpack it into `dest`, which must not exist yet. Entries are written into
/// a sibling temp directory that is renamed to `dest` only when everything verified; on any
/// failure nothing is left behind.
pub fn unpack(
    bundle: &Path,
    dest: &Path,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    unpack_with(bundle, dest, opts, UnpackOptions::default(), progress)
}

/// [`unpack`] with options.
pub fn unpack_with(
    bundle: &Path,
    dest: &Path,
    opts: &VerifyOptions,
    unpack_opts: UnpackOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    if dest.exists() {
        return Err(Error::Other(format!("{}: already exists", dest.display())));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(parent)
        .at(parent)?;
    let target = Target {
        dir: tmp.path(),
        images_archive: unpack_opts.images_archive,
    };
    let report = run(bundle, opts, Some(target), progress)?;
    let tmp_path = tmp.keep();
    if let Err(e) = fs::rename(&tmp_path, dest) {
        let _ = fs::remove_dir_all(&tmp_path);
        return Err(Error::io(dest, e));
    }
    Ok(report)
}

/// Read only the manifest (first entry) of `bundle`, without verifying the rest. For display
/// of bundles already verified; never use its content without [`verify`].
pub fn read_manifest(bundle: &Path) -> Result<BundleManifest> {
    let f = File::open(bundle).at(bundle)?;
    let mut ar = tar::Archive::new(GzDecoder::new(BufReader::new(f)));
    let name = bundle.display().to_string();
    let mut entries = ar.entries().map_err(|e| corrupt(&name, e))?;
    let first = entries
        .next()
        .ok_or_else(|| bundle_err(&name, "-", "empty archive"))?
        .map_err(|e| corrupt(&name, e))?;
    parse_manifest_entry(&name, first)
}

fn bundle_err(bundle: &str, entry: &str, message: impl Into<String>) -> Error {
    Error::Bundle {
        bundle: bundle.to_string(),
        entry: entry.to_string(),
        message: message.into(),
    }
}

fn corrupt(bundle: &str, e: io::Error) -> Error {
    bundle_err(bundle, "-", format!("archive is truncated or corrupt: {e}"))
}

fn parse_manifest_entry<R: Read>(
    bundle: &str,
    mut entry: tar::Entry<'_, R>,
) -> Result<BundleManifest> {
    let path = entry_path(bundle, &entry)?;
    if path != MANIFEST_NAME {
        return Err(bundle_err(
            bundle,
            &path,
            format!("the first entry must be {MANIFEST_NAME}"),
        ));
    }
    if !entry.header().entry_type().is_file() {
        return Err(bundle_err(bundle, &path, "not a regular file"));
    }
    if entry.size() > MAX_MANIFEST_BYTES {
        return Err(bundle_err(bundle, &path, "manifest is too large"));
    }
    let mut text = String::new();
    entry
        .read_to_string(&mut text)
        .map_err(|e| bundle_err(bundle, &path, format!("unreadable: {e}")))?;
    let manifest: BundleManifest = serde_yaml::from_str(&text)
        .map_err(|e| bundle_err(bundle, &path, format!("invalid manifest: {e}")))?;
    manifest
        .validate()
        .map_err(|(field, msg)| bundle_err(bundle, &format!("{MANIFEST_NAME}: {field}"), msg))?;
    Ok(manifest)
}

fn entry_path<R: Read>(bundle: &str, entry: &tar::Entry<'_, R>) -> Result<String> {
    let raw = entry.path_bytes();
    let s = String::from_utf8_lossy(&raw).into_owned();
    if std::str::from_utf8(&raw).is_err() {
        return Err(bundle_err(bundle, &s, "path is not UTF-8"));
    }
    Ok(s)
}

/// The reading side: file → (sha256, minisign prehash) → gunzip → chunks.
struct Inflater<'k> {
    hasher: Sha256,
    verifier: Option<minisign_verify::StreamVerifier<'k>>,
    read: u64,
}

/// Tee that feeds every raw byte read from the file into the hashers.
struct TeeReader<'a, 'k, R> {
    inner: R,
    state: &'a mut Inflater<'k>,
    task: &'a dyn crate::progress::Task,
}

impl<R: Read> Read for TeeReader<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.hasher.update(&buf[..n]);
        if let Some(v) = self.state.verifier.as_mut() {
            v.update(&buf[..n]);
        }
        self.state.read += n as u64;
        self.task.inc(n as u64);
        Ok(n)
    }
}

type Chunk = std::result::Result<Vec<u8>, String>;

/// Read side of the channel as `io::Read`, returning spent buffers to the pool.
struct ChannelReader {
    rx: Receiver<Chunk>,
    pool: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let spent = std::mem::replace(&mut self.cur, next);
                    self.pos = 0;
                    let _ = self.pool.try_send(spent);
                }
                Ok(Err(msg)) => {
                    self.done = true;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = (self.cur.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn load_signature(
    bundle: &Path,
    opts: &VerifyOptions,
) -> Result<
    Option<(
        minisign_verify::PublicKey,
        minisign_verify::Signature,
        PathBuf,
    )>,
> {
    let Some(pk_path) = &opts.public_key else {
        return Ok(None);
    };
    let sig_path = opts
        .signature
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.minisig", bundle.display())));
    let pk_text = fs::read_to_string(pk_path).at(pk_path)?;
    let pk = minisign_verify::PublicKey::decode(pk_text.trim())
        .or_else(|_| minisign_verify::PublicKey::from_base64(pk_text.trim()))
        .map_err(|e| Error::Signature {
            file: pk_path.display().to_string(),
            message: format!("not a minisign public key: {e}"),
        })?;
    let sig_text = fs::read_to_string(&sig_path).map_err(|e| Error::Signature {
        file: sig_path.display().to_string(),
        message: if e.kind() == io::ErrorKind::NotFound {
            "missing: the bundle is not signed (sign it with `bake bundle sign`)".into()
        } else {
            e.to_string()
        },
    })?;
    let sig = minisign_verify::Signature::decode(&sig_text).map_err(|e| Error::Signature {
        file: sig_path.display().to_string(),
        message: format!("not a minisign signature: {e}"),
    })?;
    Ok(Some((pk, sig, sig_path)))
}

fn run(
    bundle: &Path,
    opts: &VerifyOptions,
    dest: Option<Target<'_>>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let name = bundle.display().to_string();
    let file = File::open(bundle).at(bundle)?;
    let size = file.metadata().at(bundle)?.len();
    let sig = load_signature(bundle, opts)?;
    // The stream verifier borrows key and signature from this frame; the scoped thread below
    // ends before they are dropped.
    let sig_ref = sig.as_ref();
    let verifier = match sig_ref {
        Some((pk, sig, path)) => Some(pk.verify_stream(sig).map_err(|e| Error::Signature {
            file: path.display().to_string(),
            message: format!("does not verify with the given public key: {e}"),
        })?),
        None => None,
    };

    let (tx, rx) = bounded::<Chunk>(CHANNEL_DEPTH);
    let (pool_tx, pool_rx) = bounded::<Vec<u8>>(CHANNEL_DEPTH + 2);
    let task = progress.task(&format!("verify {}", short_name(bundle)), Some(size));

    let result = std::thread::scope(|s| {
        let task_ref: &dyn crate::progress::Task = task.as_ref();
        let reader = s.spawn(
            move || -> std::result::Result<(String, Option<String>, Option<String>), String> {
                let mut state = Inflater {
                    hasher: Sha256::new(),
                    verifier,
                    read: 0,
                };
                let res = inflate(file, &mut state, &tx, &pool_rx, task_ref);
                drop(tx);
                res?;
                let digest = hex::encode(std::mem::take(&mut state.hasher).finalize());
                let sig_result = state
                    .verifier
                    .as_mut()
                    .map(|v| v.finalize().map(|_| ()).map_err(|e| e.to_string()));
                match sig_result {
                    Some(Err(e)) => Ok((digest, Some(e), None)),
                    Some(Ok(())) => Ok((
                        digest,
                        None,
                        sig_ref.map(|(_, s, _)| s.trusted_comment().to_string()),
                    )),
                    None => Ok((digest, None, None)),
                }
            },
        );
        let chan = ChannelReader {
            rx,
            pool: pool_tx,
            cur: Vec::new(),
            pos: 0,
            done: false,
        };
        let parsed = parse_entries(&name, chan, dest);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err("reader thread panicked".into()));
        (parsed, read)
    });
    let (parsed, read) = result;
    // A gzip/IO failure on the reading side explains a tar failure on the parsing side.
    let (digest, sig_err, trusted) = match read {
        Err(msg) => {
            return Err(match parsed {
                Err(e @ Error::Bundle { .. }) if !is_corrupt(&e) => e,
                _ => bundle_err(
                    &name,
                    "-",
                    format!("archive is truncated or corrupt: {msg}"),
                ),
            })
        }
        Ok(r) => r,
    };
    let (manifest, release_index, images_archive) = parsed?;
    if let Some(e) = sig_err {
        let file = sig
            .as_ref()
            .map(|(_, _, p)| p.display().to_string())
            .unwrap_or_default();
        return Err(Error::Signature {
            file,
            message: format!("does not verify against the bundle with the given public key: {e}"),
        });
    }
    task.finish(&format!("ok, {} artifacts", manifest.artifacts.len()));
    Ok(VerifyReport {
        manifest,
        bundle_sha256: digest,
        bundle_size: size,
        signature_verified: sig.is_some(),
        trusted_comment: trusted,
        release_index,
        images_archive,
    })
}

fn is_corrupt(e: &Error) -> bool {
    matches!(e, Error::Bundle { message, .. } if message.starts_with("archive is truncated or corrupt"))
}

fn short_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn inflate(
    file: File,
    state: &mut Inflater<'_>,
    tx: &Sender<Chunk>,
    pool: &Receiver<Vec<u8>>,
    task: &dyn crate::progress::Task,
) -> std::result::Result<(), String> {
    let tee = TeeReader {
        inner: file,
        state,
        task,
    };
    let mut gz = GzDecoder::new(BufReader::with_capacity(CHUNK, tee));
    loop {
        let mut buf = pool.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match gz.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let msg = e.to_string();
                    let _ = tx.send(Err(msg.clone()));
                    return Err(msg);
                }
            }
        }
        buf.truncate(filled);
        let end = filled < CHUNK;
        if filled > 0 && tx.send(Ok(buf)).is_err() {
            // The parser stopped early (it has its own error to report).
            return Ok(());
        }
        if end {
            break;
        }
    }
    // Anything after the gzip member is not covered by the manifest: refuse it.
    let mut rest = gz.into_inner();
    let mut trailing = 0usize;
    loop {
        let b = rest.fill_buf().map_err(|e| e.to_string())?;
        if b.is_empty() {
            break;
        }
        let n = b.len();
        trailing += n;
        rest.consume(n);
    }
    if trailing > 0 {
        let msg = format!("{trailing} bytes of trailing data after the compressed archive");
        let _ = tx.send(Err(msg.clone()));
        return Err(msg);
    }
    Ok(())
}

/// What the parsing side returns: manifest, release index, images archive (sha256, size).
type Parsed = (BundleManifest, ReleaseIndex, Option<(String, u64)>);

/// Where an unpack writes.
#[derive(Clone, Copy)]
struct Target<'a> {
    dir: &'a Path,
    images_archive: bool,
}

/// A tar archive written entry by entry as data streams in (headers from the manifest's sizes).
struct ArchiveWriter {
    out: crate::digest::HashingWriter<io::BufWriter<File>>,
    path: PathBuf,
    pending_pad: usize,
}

impl ArchiveWriter {
    fn create(path: PathBuf) -> Result<Self> {
        let f = File::create(&path).at(&path)?;
        Ok(Self {
            out: crate::digest::HashingWriter::new(io::BufWriter::with_capacity(CHUNK, f)),
            path,
            pending_pad: 0,
        })
    }

    fn begin(&mut self, name: &str, size: u64) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).at(&self.path)?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.out.write_all(h.as_bytes()).at(&self.path)?;
        self.pending_pad = ((512 - (size % 512)) % 512) as usize;
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        self.out
            .write_all(&[0u8; 512][..self.pending_pad])
            .at(&self.path)?;
        self.pending_pad = 0;
        Ok(())
    }

    /// Close the archive; (sha256, size).
    fn finish(mut self) -> Result<(String, u64)> {
        self.out.write_all(&[0u8; 1024]).at(&self.path)?;
        let (mut w, sha, size) = self.out.finish();
        w.flush().at(&self.path)?;
        Ok((sha, size))
    }
}

fn parse_entries(bundle: &str, reader: ChannelReader, dest: Option<Target<'_>>) -> Result<Parsed> {
    let mut ar = tar::Archive::new(reader);
    let mut entries = ar.entries().map_err(|e| corrupt(bundle, e))?;
    let first = entries
        .next()
        .ok_or_else(|| bundle_err(bundle, "-", "empty archive"))?
        .map_err(|e| corrupt(bundle, e))?;
    let manifest = parse_manifest_entry(bundle, first)?;
    let expected: BTreeMap<&str, &Artifact> = manifest
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    let mut seen = BTreeSet::new();
    let mut made_dirs = BTreeSet::new();
    let mut buf = vec![0u8; CHUNK];
    let mut release_index = None;
    let mut archive = match dest {
        Some(d) if d.images_archive => Some(ArchiveWriter::create(d.dir.join(IMAGES_ARCHIVE))?),
        _ => None,
    };
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(bundle, e))?;
        let path = entry_path(bundle, &entry)?;
        let et = entry.header().entry_type();
        if !et.is_file() {
            let what = if et.is_symlink() {
                "a symlink"
            } else if et.is_hard_link() {
                "a hard link"
            } else if et.is_character_special() || et.is_block_special() {
                "a device node"
            } else if et.is_dir() {
                "a directory"
            } else if et.is_fifo() {
                "a fifo"
            } else {
                "not a regular file"
            };
            return Err(bundle_err(
                bundle,
                &path,
                format!("{what}: bundles hold regular files only"),
            ));
        }
        let rel = safe_relative_path(&path).map_err(|m| bundle_err(bundle, &path, m))?;
        if path == MANIFEST_NAME {
            return Err(bundle_err(bundle, &path, "duplicate entry"));
        }
        let Some(art) = expected.get(path.as_str()) else {
            return Err(bundle_err(bundle, &path, "not listed in the manifest"));
        };
        if !seen.insert(path.clone()) {
            return Err(bundle_err(bundle, &path, "duplicate entry"));
        }
        if entry.size() != art.size {
            return Err(bundle_err(
                bundle,
                &path,
                format!(
                    "size {} does not match the manifest's {}",
                    entry.size(),
                    art.size
                ),
            ));
        }
        let in_archive = match (&mut archive, path.strip_prefix("images/")) {
            (Some(a), Some(name)) => {
                a.begin(name, art.size)?;
                true
            }
            _ => false,
        };
        let mut out = match dest {
            Some(d) if !in_archive => Some(create_entry_file(
                d.dir,
                &rel,
                art.kind.mode(),
                &mut made_dirs,
            )?),
            _ => None,
        };
        let mut hasher = Sha256::new();
        let mut n = 0u64;
        let keep = path == RELEASE_INDEX_PATH && art.size <= MAX_MANIFEST_BYTES;
        let mut kept = Vec::new();
        loop {
            let len = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(bundle, e)),
            };
            hasher.update(&buf[..len]);
            if keep {
                kept.extend_from_slice(&buf[..len]);
            }
            if let Some((f, p)) = out.as_mut() {
                f.write_all(&buf[..len]).at(p.clone())?;
            } else if in_archive {
                if let Some(a) = archive.as_mut() {
                    a.out.write_all(&buf[..len]).at(a.path.clone())?;
                }
            }
            n += len as u64;
        }
        if n != art.size {
            return Err(bundle_err(
                bundle,
                &path,
                "archive is truncated or corrupt: entry ends early",
            ));
        }
        if in_archive {
            if let Some(a) = archive.as_mut() {
                a.end()?;
            }
        }
        let actual = hex::encode(hasher.finalize());
        if actual != art.sha256 {
            return Err(bundle_err(
                bundle,
                &path,
                format!(
                    "sha256 mismatch: manifest says {}, content is {actual}",
                    art.sha256
                ),
            ));
        }
        if keep {
            let idx: ReleaseIndex = serde_yaml::from_slice(&kept)
                .map_err(|e| bundle_err(bundle, &path, format!("invalid release index: {e}")))?;
            release_index = Some(idx);
        }
    }
    if let Some(missing) = manifest.artifacts.iter().find(|a| !seen.contains(&a.path)) {
        return Err(bundle_err(
            bundle,
            &missing.path,
            "listed in the manifest but missing from the archive",
        ));
    }
    // Drain the end-of-archive padding so the reading side can finish and check the trailer.
    let mut rest = ar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| corrupt(bundle, e))?;
    let archive_digest = match archive {
        Some(a) => Some(a.finish()?),
        None => None,
    };
    if let Some(d) = dest {
        let yaml = serde_yaml::to_string(&manifest).map_err(|e| Error::Other(e.to_string()))?;
        let p = d.dir.join(MANIFEST_NAME);
        fs::write(&p, yaml).at(&p)?;
    }
    let release_index = release_index.ok_or_else(|| {
        bundle_err(
            bundle,
            RELEASE_INDEX_PATH,
            "the bundle has no release index",
        )
    })?;
    Ok((manifest, release_index, archive_digest))
}

fn create_entry_file(
    dest: &Path,
    rel: &Path,
    mode: u32,
    made: &mut BTreeSet<PathBuf>,
) -> Result<(File, PathBuf)> {
    let full = dest.join(rel);
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !made.contains(parent) {
            let dir = dest.join(parent);
            fs::create_dir_all(&dir).at(&dir)?;
            made.insert(parent.to_path_buf());
        }
    }
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&full)
        .at(&full)?;
    Ok((f, full))
}
