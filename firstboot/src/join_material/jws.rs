//! Detached JWS (HS256) over the `cluster-info` kubeconfig, exactly as the
//! kube-controller-manager's bootstrap signer writes it and kubeadm verifies it (spec §7.5,
//! §19.1): `<b64url(header)>..<b64url(HMAC-SHA256(token secret, header.payload))>` with the
//! header `{"alg":"HS256","kid":"<token id>"}`.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::token::BootstrapToken;

/// Why a detached JWS was rejected. Never carries the token secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    /// Not of the form `<header>..<signature>` or not decodable.
    #[error("malformed detached JWS for token id {id}: {message}")]
    Malformed {
        /// Token id the signature was checked for.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// The header names another algorithm than HS256.
    #[error("detached JWS for token id {id}: unsupported algorithm {alg:?} (expected HS256)")]
    Algorithm {
        /// Token id.
        id: String,
        /// Algorithm found in the header.
        alg: String,
    },
    /// The header's `kid` is not the token id.
    #[error("detached JWS: key id {found:?} in the header does not match token id {id}")]
    KeyId {
        /// Token id expected.
        id: String,
        /// `kid` found.
        found: String,
    },
    /// The HMAC does not match (wrong token secret or modified content).
    #[error(
        "detached JWS signature for token id {id} does not verify: wrong token or modified content"
    )]
    Signature {
        /// Token id.
        id: String,
    },
}

/// The protected header exactly as go-jose serialises it (keys sorted, no spaces).
fn header_json(kid: &str) -> String {
    format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#)
}

fn signing_input(header_b64: &str, content: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(header_b64.len() + 1 + content.len() * 4 / 3 + 4);
    input.extend_from_slice(header_b64.as_bytes());
    input.push(b'.');
    input.extend_from_slice(URL_SAFE_NO_PAD.encode(content).as_bytes());
    input
}

/// Detached JWS over `content` with key id `kid`, HMAC key `key` (any bytes).
pub(crate) fn sign_raw(content: &[u8], kid: &str, key: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(header_json(kid));
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, &signing_input(&h, content));
    format!("{h}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Verifies a detached JWS over `content` for key id `kid` and HMAC key `key`.
pub(crate) fn verify_raw(
    content: &[u8],
    detached: &str,
    kid: &str,
    key: &[u8],
) -> Result<(), JwsError> {
    let malformed = |message: &str| JwsError::Malformed {
        id: kid.to_string(),
        message: message.to_string(),
    };
    let parts: Vec<&str> = detached.split('.').collect();
    if parts.len() != 3 || !parts[1].is_empty() {
        return Err(malformed("expected <header>..<signature>"));
    }
    let (h, sig) = (parts[0], parts[2]);
    let header = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| malformed("header is not base64url"))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| malformed("header is not JSON"))?;
    let alg = header.get("alg").and_then(|v| v.as_str()).unwrap_or("");
    if alg != "HS256" {
        return Err(JwsError::Algorithm {
            id: kid.to_string(),
            alg: alg.to_string(),
        });
    }
    let found = header.get("kid").and_then(|v| v.as_str()).unwrap_or("");
    if found != kid {
        return Err(JwsError::KeyId {
            id: kid.to_string(),
            found: found.to_string(),
        });
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| malformed("signature is not base64url"))?;
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    // hmac::verify compares in constant time.
    hmac::verify(&k, &signing_input(h, content), &sig).map_err(|_| JwsError::Signature {
        id: kid.to_string(),
    })
}

/// The value the bootstrap signer stores under `jws-kubeconfig-<id>`: a detached JWS over the
/// exact bytes of `kubeconfig_payload`, keyed with the token's secret half.
pub fn sign_detached(kubeconfig_payload: &str, token: &BootstrapToken) -> String {
    sign_raw(
        kubeconfig_payload.as_bytes(),
        token.id(),
        token.expose_secret().as_bytes(),
    )
}

/// Checks a detached JWS (`jws-kubeconfig-<id>` value) over `kubeconfig_payload` for `token`:
/// the form `<header>..<signature>`, header `alg` HS256 and `kid` = token id, and the HMAC
/// (recomputed over the received header and the payload, compared in constant time).
pub fn verify_detached(
    kubeconfig_payload: &str,
    detached: &str,
    token: &BootstrapToken,
) -> Result<(), JwsError> {
    verify_raw(
        kubeconfig_payload.as_bytes(),
        detached,
        token.id(),
        token.expose_secret().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream cross-checks from cluster-bootstrap's jws_test.go (spec §19.1); their secrets
    // are not valid token secrets, hence the raw functions.
    const CONTENT: &str = "Hello from the other side. I must have called a thousand times.";

    #[test]
    fn upstream_vectors() {
        let key = b"my voice is my passcode";
        let cases = [
            (CONTENT, &key[..], "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"),
            ("", &key[..], "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk"),
            (CONTENT, &b""[..], "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8"),
        ];
        for (content, key, want) in cases {
            assert_eq!(sign_raw(content.as_bytes(), "joshua", key), want);
            verify_raw(content.as_bytes(), want, "joshua", key).unwrap();
        }
    }

    #[test]
    fn header_checks() {
        let key = b"k";
        let good = sign_raw(b"x", "abcdef", key);
        // kid mismatch
        assert!(matches!(
            verify_raw(b"x", &good, "zzzzzz", key),
            Err(JwsError::KeyId { .. })
        ));
        // another algorithm with an otherwise valid HMAC
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS384","kid":"abcdef"}"#);
        let k = hmac::Key::new(hmac::HMAC_SHA256, key);
        let tag = hmac::sign(&k, &signing_input(&h, b"x"));
        let forged = format!("{h}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert!(matches!(
            verify_raw(b"x", &forged, "abcdef", key),
            Err(JwsError::Algorithm { .. })
        ));
        // attached payload / garbage
        let (h, s) = good.split_once("..").unwrap();
        let attached = format!("{h}.eA.{s}");
        assert!(matches!(
            verify_raw(b"x", &attached, "abcdef", key),
            Err(JwsError::Malformed { .. })
        ));
        assert!(verify_raw(b"x", "", "abcdef", key).is_err());
        assert!(verify_raw(b"x", "a..b..c", "abcdef", key).is_err());
    }
}
