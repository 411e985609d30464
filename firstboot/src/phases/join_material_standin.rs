//! STAND-IN for `firstboot::join_material::{token, jws, cluster_info}` (branch wip/joinlib),
//! which had not landed on main when the bootstrap-token phase and `firstboot token` were
//! written. Minimal, private to the crate, and to be replaced by the real module at merge: the
//! callers use only the names below, which follow the joinlib API described for the cluster
//! phases (`token` parse/generate/redacted Display, `jws` detached HS256, `cluster_info`
//! kubeconfig).

/// Bootstrap tokens `<id>.<secret>` (spec §7.1, §19.3).
pub mod token {
    use std::fmt;

    /// Alphabet of token characters.
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

    /// A parsed bootstrap token. `Display` masks the secret.
    #[derive(Clone, PartialEq, Eq)]
    pub struct BootstrapToken {
        /// The 6-character public id.
        pub id: String,
        /// The 16-character secret.
        pub secret: String,
    }

    impl fmt::Debug for BootstrapToken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "BootstrapToken({self})")
        }
    }

    impl fmt::Display for BootstrapToken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}.<redacted>", self.id)
        }
    }

    fn all_token_chars(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    }

    /// Whether `id` is a valid token id (`^[a-z0-9]{6}$`).
    pub fn is_valid_id(id: &str) -> bool {
        id.len() == 6 && all_token_chars(id)
    }

    impl BootstrapToken {
        /// Parses `<id>.<secret>` (`^([a-z0-9]{6})\.([a-z0-9]{16})$`, full string).
        pub fn parse(s: &str) -> Result<Self, String> {
            let bad = || {
                "the bootstrap token does not match the format <6 chars [a-z0-9]>.<16 chars [a-z0-9]>"
                    .to_string()
            };
            let (id, secret) = s.split_once('.').ok_or_else(bad)?;
            if !is_valid_id(id) || secret.len() != 16 || !all_token_chars(secret) {
                return Err(bad());
            }
            Ok(BootstrapToken {
                id: id.to_string(),
                secret: secret.to_string(),
            })
        }

        /// A new random token (CSPRNG, uniform over the 36-character alphabet).
        pub fn generate() -> Self {
            BootstrapToken {
                id: random_chars(6),
                secret: random_chars(16),
            }
        }

        /// The full `<id>.<secret>` string (a secret: print only where the user asked for it).
        pub fn expose(&self) -> String {
            format!("{}.{}", self.id, self.secret)
        }

        /// `bootstrap-token-<id>`.
        pub fn secret_name(&self) -> String {
            secret_name(&self.id)
        }
    }

    /// `bootstrap-token-<id>`.
    pub fn secret_name(id: &str) -> String {
        format!("bootstrap-token-{id}")
    }

    fn random_chars(n: usize) -> String {
        let mut out = String::with_capacity(n);
        let mut buf = [0u8; 32];
        while out.len() < n {
            aws_lc_rs::rand::fill(&mut buf).expect("system random number generator");
            // Rejection sampling keeps the distribution uniform (252 = 7 * 36).
            for b in buf {
                if b < 252 && out.len() < n {
                    out.push(ALPHABET[usize::from(b % 36)] as char);
                }
            }
        }
        out
    }
}

/// Detached JWS over cluster-info (spec §7.5, §19.1).
pub mod jws {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    /// `<b64url(header)>..<b64url(HMAC-SHA256(secret, header.payload))>`.
    pub fn sign(content: &str, token_id: &str, token_secret: &str) -> String {
        let header = format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#);
        let h = URL_SAFE_NO_PAD.encode(header.as_bytes());
        let p = URL_SAFE_NO_PAD.encode(content.as_bytes());
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, token_secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, format!("{h}.{p}").as_bytes());
        format!("{h}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

/// The `kube-public/cluster-info` kubeconfig (spec §7.4).
pub mod cluster_info {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    /// Name of the ConfigMap.
    pub const NAME: &str = "cluster-info";
    /// Its namespace.
    pub const NAMESPACE: &str = "kube-public";
    /// Prefix of the signature keys.
    pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

    /// The `data.kubeconfig` text: one cluster with an empty name, null contexts and users, as
    /// client-go serialises it in 1.36.
    pub fn kubeconfig(server: &str, ca_pem: &[u8]) -> String {
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n",
            STANDARD.encode(ca_pem),
            server
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_matches_spec_and_real_controller_manager() {
        // Spec §19.1 worked example.
        let kc = cluster_info::kubeconfig("https://10.0.0.4:6443", b"firstboot-test-ca");
        assert_eq!(kc.len(), 198);
        assert_eq!(
            jws::sign(&kc, "7x9k2m", "q4w8e1r5t3y6u0i2"),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Ijd4OWsybSJ9..I6JtOnHikYxfmvFHHeL8vbC5qGGQkGcJn-dQ_bN_p5U"
        );
        // What kube-controller-manager v1.36.2 wrote into the reference cluster-info.
        let cm: serde_yaml::Value = serde_yaml::from_str(include_str!(
            "../../tests/fixtures/kubeadm-v1.36.2/objects/configmap/kube-public__cluster-info.yaml"
        ))
        .unwrap();
        let content = cm["data"]["kubeconfig"].as_str().unwrap();
        for (id, secret) in [
            ("11y76f", "gufmx1gc18nis10f"),
            ("ogfpit", "r2l7g8hh011s1pgd"),
        ] {
            assert_eq!(
                jws::sign(content, id, secret),
                cm["data"][format!("jws-kubeconfig-{id}").as_str()]
                    .as_str()
                    .unwrap()
            );
        }
    }

    #[test]
    fn token_syntax_and_generation() {
        let t = token::BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.to_string(), "abcdef.<redacted>");
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
        for bad in [
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcdef\n",
        ] {
            assert!(token::BootstrapToken::parse(bad).is_err(), "{bad:?}");
        }
        let a = token::BootstrapToken::generate();
        let b = token::BootstrapToken::generate();
        assert_ne!(a, b);
        assert_eq!(token::BootstrapToken::parse(&a.expose()).unwrap(), a);
    }
}
