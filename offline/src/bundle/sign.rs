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

/// Load a minisign secret key. Unencrypted keys written by `minisign -G -W` (C minisign 0.11)
/// carry an all-zero checksum that the crate's box loader rejects; those are loaded from their
/// bytes directly (the key material itself is unchanged).
fn load_secret_key(
    text: &str,
    password: Option<&str>,
) -> std::result::Result<minisign::SecretKey, String> {
    use base64::Engine;
    let sk_box = minisign::SecretKeyBox::from_string(text)
        .map_err(|e| format!("not a minisign secret key: {e}"))?;
    let encoded = text
        .lines()
        .nth(1)
        .ok_or("not a minisign secret key: no key line")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "not a minisign secret key: bad base64".to_string())?;
    let unencrypted = bytes.get(2..4) == Some(&[0, 0][..]);
    if unencrypted {
        match minisign::SecretKey::from_unencrypted_box(sk_box) {
            Ok(k) => Ok(k),
            Err(e) => {
                // checksum: the last 32 bytes of the key structure
                let zero_checksum =
                    bytes.len() >= 32 && bytes[bytes.len() - 32..].iter().all(|&b| b == 0);
                if zero_checksum {
                    minisign::SecretKey::from_bytes(&bytes).map_err(|e| e.to_string())
                } else {
                    Err(e.to_string())
                }
            }
        }
    } else {
        match password {
            Some(p) => minisign::SecretKey::from_box(sk_box, Some(p.to_string()))
                .map_err(|e| e.to_string()),
            None => Err("the key is password-protected".into()),
        }
    }
}

/// Sign `bundle`; returns the signature path.
pub fn sign(bundle: &Path, opts: &SignOptions) -> Result<PathBuf> {
    let key_file = opts.secret_key.display().to_string();
    let key_text = std::fs::read_to_string(&opts.secret_key).at(&opts.secret_key)?;
    let sk =
        load_secret_key(&key_text, opts.password.as_deref()).map_err(|e| Error::Signature {
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
    let sig = minisign::sign(
        None,
        &sk,
        BufReader::with_capacity(256 * 1024, f),
        Some(&trusted),
        Some("signature from bake (kubebake)"),
    )
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
