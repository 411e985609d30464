//! minisign signatures over the whole bundle file (`BUNDLE.minisig`), compatible with the
//! standard `minisign` tool (pre-hashed signatures).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// How to sign.
#[derive(Debug, Default, Clone)]
pub struct SignOptions {
    /// minisign secret key file.
    pub secret_key: PathBuf,
    /// Password for an encrypted key (never logged).
    pub password: Option<String>,
    /// Where to write the signature; default `<bundle>.minisig`.
    pub out: Option<PathBuf>,
    /// Trusted comment; default names the bundle file and the time.
    pub trusted_comment: Option<String>,
}

/// Sign `bundle`; returns the signature path.
pub fn sign(bundle: &Path, opts: &SignOptions) -> Result<PathBuf> {
    let key_file = opts.secret_key.display().to_string();
    let key_text = std::fs::read_to_string(&opts.secret_key).at(&opts.secret_key)?;
    let sk_box = minisign::SecretKeyBox::from_string(&key_text).map_err(|e| Error::Signature {
        file: key_file.clone(),
        message: format!("not a minisign secret key: {e}"),
    })?;
    let sk = match &opts.password {
        Some(p) => minisign::SecretKey::from_box(sk_box, Some(p.clone())),
        None => minisign::SecretKey::from_unencrypted_box(sk_box),
    }
    .map_err(|e| Error::Signature {
        file: key_file.clone(),
        message: if opts.password.is_none() {
            format!("cannot use the key ({e}); if it is password-protected, give the password")
        } else {
            format!("cannot decrypt the key: {e}")
        },
    })?;
    let f = File::open(bundle).at(bundle)?;
    let file_name = bundle
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let trusted = opts
        .trusted_comment
        .clone()
        .unwrap_or_else(|| format!("timestamp:{now}\tfile:{file_name}\tprehashed"));
    let sig = minisign::sign(None, &sk, BufReader::with_capacity(256 * 1024, f), Some(&trusted), Some("signature from bake (kubebake)"))
        .map_err(|e| Error::Signature {
            file: key_file,
            message: e.to_string(),
        })?;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.minisig", bundle.display())));
    crate::fsutil::write_atomic(&out, sig.to_string().as_bytes(), 0o644)?;
    Ok(out)
}
