//! kubebake's shared library: the offline bundle format, its verification and streaming unpack,
//! release artifact fetching, and version metadata.
//!
//! - [`spec`]: the BundleSpec users write.
//! - [`manifest`]: `bundle.yaml`, the bundle's manifest.
//! - [`bundle`]: create, sign, verify, unpack.
//! - [`fetch`]: release mirrors and container images.
//! - [`version`]: Kubernetes versions, labels, component versions and the release index.

pub mod bundle;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod fsutil;
pub mod manifest;
pub mod progress;
pub mod spec;
pub mod version;

pub use error::{Error, Result};
