//! Bootstrap tokens (spec §7.1, §7.2, §19.3): parsing, generation, the
//! `kube-system/bootstrap-token-<id>` Secret layout and reading such a Secret back.
//!
//! A token's secret half never appears in `Display`, `Debug` or error messages; use
//! [`BootstrapToken::expose`] where the full `<id>.<secret>` string is really needed (printing
//! the join command, writing a bootstrap kubeconfig).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::types::BootstrapToken as BootstrapTokenConfig;
use crate::config::validate::is_bootstrap_group;
use crate::config::{GoDuration, DEFAULT_TOKEN_GROUP};

/// Namespace of bootstrap token Secrets.
pub const TOKEN_SECRET_NAMESPACE: &str = "kube-system";
/// Prefix of a bootstrap token Secret's name (`bootstrap-token-<id>`).
pub const TOKEN_SECRET_PREFIX: &str = "bootstrap-token-";
/// Secret `type` of bootstrap token Secrets.
pub const TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Data key holding the token id.
pub const KEY_TOKEN_ID: &str = "token-id";
/// Data key holding the token secret.
pub const KEY_TOKEN_SECRET: &str = "token-secret";
/// Data key holding the RFC 3339 expiry.
pub const KEY_EXPIRATION: &str = "expiration";
/// Data key holding the description.
pub const KEY_DESCRIPTION: &str = "description";
/// Data key holding the comma-joined extra groups.
pub const KEY_AUTH_EXTRA_GROUPS: &str = "auth-extra-groups";
/// Prefix of the usage keys (`usage-bootstrap-signing`, `usage-bootstrap-authentication`).
pub const USAGE_KEY_PREFIX: &str = "usage-bootstrap-";
/// Usages kubeadm knows.
pub const KNOWN_USAGES: [&str; 2] = ["signing", "authentication"];
/// Default `ttl` of a bootstrap token (24 h).
pub const DEFAULT_TOKEN_TTL: GoDuration = GoDuration::from_secs(24 * 3600);

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 6;
const SECRET_LEN: usize = 16;

/// Errors about bootstrap tokens and their Secrets. They name the token id or the Secret,
/// never the token secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A string is not of the form `[a-z0-9]{6}.[a-z0-9]{16}`.
    #[error("invalid bootstrap token ({len} characters): the token must have the form [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    InvalidFormat {
        /// Length of the rejected string (the string itself may be a secret).
        len: usize,
    },
    /// A token id is not of the form `[a-z0-9]{6}`.
    #[error("invalid bootstrap token id {id:?}: must match [a-z0-9]{{6}}")]
    InvalidId {
        /// The rejected id.
        id: String,
    },
    /// The system random number generator failed.
    #[error("cannot generate a bootstrap token: the system random number generator failed")]
    Random,
    /// A usage that is neither `signing` nor `authentication`.
    #[error(
        "bootstrap token {id}: unknown usage {usage:?}; valid usages are signing, authentication"
    )]
    InvalidUsage {
        /// Token id.
        id: String,
        /// The rejected usage.
        usage: String,
    },
    /// An extra group that does not match `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
    #[error("bootstrap token {id}: invalid group {group:?}: must match system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]")]
    InvalidGroup {
        /// Token id.
        id: String,
        /// The rejected group.
        group: String,
    },
    /// `expires` is not an RFC 3339 time.
    #[error("bootstrap token {id}: expires {value:?} is not an RFC 3339 time")]
    InvalidExpires {
        /// Token id.
        id: String,
        /// The rejected value.
        value: String,
    },
    /// A Secret is not a valid bootstrap token Secret.
    #[error("Secret {namespace}/{name}: {message}")]
    InvalidSecret {
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// What is wrong (never includes the token secret).
        message: String,
    },
}

/// A bootstrap token `<id>.<secret>`.
///
/// `Display` prints `<id>.****************`; `Debug` redacts the secret too.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BootstrapToken {
    id: String,
    secret: String,
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Whether `s` is a valid token id (`^[a-z0-9]{6}$`).
pub fn is_valid_token_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(is_token_char)
}

fn random_chars(n: usize) -> Result<String, TokenError> {
    // Rejection sampling keeps every character uniformly distributed:
    // 252 = 7 * 36 is the largest multiple of 36 below 256.
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        aws_lc_rs::rand::fill(&mut buf).map_err(|_| TokenError::Random)?;
        for b in buf {
            if out.len() == n {
                break;
            }
            if b < 252 {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    Ok(out)
}

impl BootstrapToken {
    /// Parses `<id>.<secret>`; the whole string must match `^[a-z0-9]{6}\.[a-z0-9]{16}$`
    /// (no surrounding whitespace, no trailing newline).
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let b = s.as_bytes();
        let ok = b.len() == ID_LEN + 1 + SECRET_LEN
            && b[ID_LEN] == b'.'
            && b.iter()
                .enumerate()
                .all(|(i, &c)| i == ID_LEN || is_token_char(c));
        if !ok {
            return Err(TokenError::InvalidFormat { len: s.len() });
        }
        Ok(BootstrapToken {
            id: s[..ID_LEN].to_string(),
            secret: s[ID_LEN + 1..].to_string(),
        })
    }

    /// Builds a token from its two halves (as stored in a token Secret).
    pub fn from_parts(id: &str, secret: &str) -> Result<Self, TokenError> {
        if !is_valid_token_id(id) {
            return Err(TokenError::InvalidId { id: id.to_string() });
        }
        if secret.len() != SECRET_LEN || !secret.bytes().all(is_token_char) {
            return Err(TokenError::InvalidFormat {
                len: id.len() + 1 + secret.len(),
            });
        }
        Ok(BootstrapToken {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// A new random token: every character drawn uniformly from `[a-z0-9]` with the system
    /// CSPRNG.
    pub fn generate() -> Result<Self, TokenError> {
        Ok(BootstrapToken {
            id: random_chars(ID_LEN)?,
            secret: random_chars(SECRET_LEN)?,
        })
    }

    /// The token of a v1beta4 `bootstrapTokens[]` entry: its `token` parsed, or a newly
    /// generated one when `token` is empty.
    pub fn from_config_or_generate(cfg: &BootstrapTokenConfig) -> Result<Self, TokenError> {
        if cfg.token.is_empty() {
            Self::generate()
        } else {
            Self::parse(&cfg.token)
        }
    }

    /// The public id (6 characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret half (16 characters). Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The full `<id>.<secret>` string. Never log it.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// Name of the token's Secret, `bootstrap-token-<id>`.
    pub fn secret_name(&self) -> String {
        format!("{TOKEN_SECRET_PREFIX}{}", self.id)
    }

    /// The identity the API server authenticates the token as, `system:bootstrap:<id>`.
    pub fn user_name(&self) -> String {
        format!("system:bootstrap:{}", self.id)
    }
}

impl fmt::Display for BootstrapToken {
    /// `<id>.****************` (the secret is masked like kubeadm's logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, "*".repeat(SECRET_LEN))
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl FromStr for BootstrapToken {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A `bootstrapTokens[]` entry with kubeadm's defaults (spec §7.2, §16) applied: `ttl` 24h
/// when neither `ttl` nor `expires` is set, usages `[signing, authentication]` and groups
/// `[system:bootstrappers:kubeadm:default-node-token]` when empty.
///
/// [`token_secret`] does not apply defaults itself, because some tokens (the TTL proxy of
/// `kubeadm-certs`, spec §9) are deliberately created without usages and groups.
pub fn defaulted(cfg: &BootstrapTokenConfig) -> BootstrapTokenConfig {
    let mut t = cfg.clone();
    if t.ttl.is_none() && t.expires.is_none() {
        t.ttl = Some(DEFAULT_TOKEN_TTL);
    }
    if t.usages.is_empty() {
        t.usages = KNOWN_USAGES.iter().map(|u| u.to_string()).collect();
    }
    if t.groups.is_empty() {
        t.groups = vec![DEFAULT_TOKEN_GROUP.to_string()];
    }
    t
}

/// Formats a time like Go's `time.RFC3339` in UTC (`2026-11-26T16:35:11Z`, whole seconds).
pub fn format_rfc3339_utc(t: OffsetDateTime) -> String {
    let layout =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(layout)
        .expect("a date in the calendar formats with numeric components")
}

/// The expiry kubeadm writes for a token: `expires` if set (it wins over `ttl`), else
/// `now + ttl` when `ttl > 0`, else `None` (never expires).
pub fn token_expiration(
    id: &str,
    cfg: &BootstrapTokenConfig,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, TokenError> {
    if let Some(exp) = &cfg.expires {
        let t = OffsetDateTime::parse(exp, &Rfc3339).map_err(|_| TokenError::InvalidExpires {
            id: id.to_string(),
            value: exp.clone(),
        })?;
        return Ok(Some(t));
    }
    match cfg.ttl {
        Some(ttl) if !ttl.as_duration().is_zero() => Ok(Some(
            now + time::Duration::try_from(ttl.as_duration()).unwrap_or(time::Duration::MAX),
        )),
        _ => Ok(None),
    }
}

/// The Secret kubeadm creates for `token` (spec §7.2): `kube-system/bootstrap-token-<id>`,
/// type `bootstrap.kubernetes.io/token`, `data` keys `token-id`, `token-secret`,
/// `description` (if non-empty), `expiration` (see [`token_expiration`]),
/// `usage-bootstrap-<usage>: "true"` per usage and `auth-extra-groups` (if any groups).
///
/// `cfg.token` is ignored (the caller resolved it into `token`); no defaults are applied (see
/// [`defaulted`]). Usages and groups are validated.
pub fn token_secret(
    token: &BootstrapToken,
    cfg: &BootstrapTokenConfig,
    now: OffsetDateTime,
) -> Result<Secret, TokenError> {
    let id = token.id();
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    };
    put(KEY_TOKEN_ID, id);
    put(KEY_TOKEN_SECRET, token.expose_secret());
    if !cfg.description.is_empty() {
        put(KEY_DESCRIPTION, &cfg.description);
    }
    if let Some(exp) = token_expiration(id, cfg, now)? {
        put(KEY_EXPIRATION, &format_rfc3339_utc(exp));
    }
    for u in &cfg.usages {
        if !KNOWN_USAGES.contains(&u.as_str()) {
            return Err(TokenError::InvalidUsage {
                id: id.to_string(),
                usage: u.clone(),
            });
        }
        put(&format!("{USAGE_KEY_PREFIX}{u}"), "true");
    }
    for g in &cfg.groups {
        if !is_bootstrap_group(g) {
            return Err(TokenError::InvalidGroup {
                id: id.to_string(),
                group: g.clone(),
            });
        }
    }
    if !cfg.groups.is_empty() {
        put(KEY_AUTH_EXTRA_GROUPS, &cfg.groups.join(","));
    }
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(token.secret_name()),
            namespace: Some(TOKEN_SECRET_NAMESPACE.to_string()),
            ..Default::default()
        },
        type_: Some(TOKEN_SECRET_TYPE.to_string()),
        data: Some(data),
        ..Default::default()
    })
}

/// A bootstrap token read back from its Secret (what `token list` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token (secret redacted when printed).
    pub token: BootstrapToken,
    /// Expiry; `None` means the token never expires.
    pub expires: Option<OffsetDateTime>,
    /// Usages whose `usage-bootstrap-<usage>` key is `"true"`, sorted.
    pub usages: Vec<String>,
    /// `auth-extra-groups`, split on `,`.
    pub groups: Vec<String>,
    /// `description` (empty if absent).
    pub description: String,
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

impl TokenInfo {
    /// Reads a bootstrap token Secret (from `data`, or `stringData` for objects not yet sent
    /// to the API server). Checks the type, that `token-id`/`token-secret` form a valid token
    /// and that the name is `bootstrap-token-<token-id>`; errors name the Secret.
    pub fn from_secret(secret: &Secret) -> Result<Self, TokenError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let bad = |message: String| TokenError::InvalidSecret {
            namespace: namespace.clone(),
            name: name.clone(),
            message,
        };
        if secret.type_.as_deref() != Some(TOKEN_SECRET_TYPE) {
            return Err(bad(format!(
                "type is {:?}, expected {TOKEN_SECRET_TYPE:?}",
                secret.type_.as_deref().unwrap_or("")
            )));
        }
        let id = secret_value(secret, KEY_TOKEN_ID)
            .ok_or_else(|| bad(format!("missing {KEY_TOKEN_ID:?}")))?;
        if !is_valid_token_id(&id) {
            return Err(bad(format!(
                "{KEY_TOKEN_ID} {id:?} is not a valid token id"
            )));
        }
        let expected_name = format!("{TOKEN_SECRET_PREFIX}{id}");
        if name != expected_name {
            return Err(bad(format!(
                "token id {id:?} does not match the Secret name (expected {expected_name:?})"
            )));
        }
        let sec = secret_value(secret, KEY_TOKEN_SECRET)
            .ok_or_else(|| bad(format!("missing {KEY_TOKEN_SECRET:?}")))?;
        let token = BootstrapToken::from_parts(&id, &sec).map_err(|_| {
            bad(format!(
                "{KEY_TOKEN_SECRET} of token {id} is not [a-z0-9]{{16}}"
            ))
        })?;
        let expires = match secret_value(secret, KEY_EXPIRATION) {
            None => None,
            Some(v) => Some(
                OffsetDateTime::parse(&v, &Rfc3339)
                    .map_err(|_| bad(format!("{KEY_EXPIRATION} {v:?} is not an RFC 3339 time")))?,
            ),
        };
        let mut keys: Vec<String> = secret
            .data
            .iter()
            .flat_map(|d| d.keys())
            .chain(secret.string_data.iter().flat_map(|d| d.keys()))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        let usages = keys
            .iter()
            .filter_map(|k| k.strip_prefix(USAGE_KEY_PREFIX))
            .filter(|u| {
                secret_value(secret, &format!("{USAGE_KEY_PREFIX}{u}")).as_deref() == Some("true")
            })
            .map(str::to_string)
            .collect();
        let groups = secret_value(secret, KEY_AUTH_EXTRA_GROUPS)
            .filter(|g| !g.is_empty())
            .map(|g| g.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let description = secret_value(secret, KEY_DESCRIPTION).unwrap_or_default();
        Ok(TokenInfo {
            token,
            expires,
            usages,
            groups,
            description,
        })
    }

    /// When the token expires (`None`: never).
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires
    }

    /// Whether the token has expired at `now` (a token is expired from its expiry instant on).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// Time left at `now`; `None` for a token that never expires, zero once expired.
    pub fn remaining(&self, now: OffsetDateTime) -> Option<time::Duration> {
        self.expires
            .map(|e| std::cmp::max(e - now, time::Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_vectors() {
        for ok in ["abcdef.0123456789abcdef", "7x9k2m.q4w8e1r5t3y6u0i2"] {
            assert_eq!(BootstrapToken::parse(ok).unwrap().expose(), ok);
        }
        for bad in [
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcdef\n",
            "",
            "abcdef.0123456789abcdeé",
        ] {
            assert!(BootstrapToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_tokens_are_valid_and_distinct() {
        let a = BootstrapToken::generate().unwrap();
        let b = BootstrapToken::generate().unwrap();
        assert!(BootstrapToken::parse(&a.expose()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn generation_covers_the_alphabet() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(BootstrapToken::generate().unwrap().expose().chars());
        }
        seen.remove(&'.');
        assert_eq!(seen.len(), 36, "{seen:?}");
    }
}
