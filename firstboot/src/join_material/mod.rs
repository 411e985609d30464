//! Join material, pure (no network, no API client): bootstrap tokens and their Secrets
//! ([`token`]), the detached JWS over `cluster-info` ([`jws`]), the `cluster-info` ConfigMap
//! and token-discovery validation ([`cluster_info`]), and the encrypted `kubeadm-certs`
//! Secret for control-plane join ([`copycerts`]). Spec §7, §9, §13.2, §19.
//!
//! ```
//! use firstboot::join_material::{BootstrapToken, build_cluster_info, set_signatures, validate_cluster_info};
//! let ca = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
//! let token = BootstrapToken::parse("abcdef.0123456789abcdef")?;
//! assert_eq!(token.to_string(), "abcdef.****************");
//! let mut cm = build_cluster_info(ca, "https://lb.example:6443")?;
//! set_signatures(&mut cm, &[token.clone()])?;
//! // `AAAA` is not a certificate, so discovery refuses it even without pins:
//! assert!(validate_cluster_info(&cm, &token, &[], true).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cluster_info;
pub mod copycerts;
pub mod jws;
pub mod token;

pub use cluster_info::{
    add_signature, build_cluster_info, cluster_info_kubeconfig, ensure_same, has_signature,
    jws_key, set_signatures, validate_cluster_info, CaPin, ClusterInfoError, DiscoveredCluster,
    DiscoveryError, CLUSTER_INFO_NAME, CLUSTER_INFO_NAMESPACE, JWS_KEY_PREFIX, KUBECONFIG_KEY,
};
pub use copycerts::{
    build_secret, decrypt, encrypt, extract, owner_reference, read_shared_files, shared_files,
    CertificateKey, CopyCertsError, EtcdFiles, ExtractedFile, SharedFile, CERTS_SECRET_NAME,
    CERTS_SECRET_NAMESPACE, CERTS_TOKEN_DESCRIPTION, CERTS_TOKEN_TTL,
};
pub use jws::{sign_detached, verify_detached, JwsError};
pub use token::{
    defaulted, format_rfc3339_utc, is_valid_token_id, token_expiration, token_secret,
    BootstrapToken, TokenError, TokenInfo, DEFAULT_TOKEN_TTL, TOKEN_SECRET_NAMESPACE,
    TOKEN_SECRET_PREFIX, TOKEN_SECRET_TYPE,
};
