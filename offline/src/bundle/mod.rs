//! The offline bundle: creating, signing, verifying and unpacking.
//!
//! Layout of a bundle (one gzip-compressed tar, regular files only):
//!
//! ```text
//! bundle.yaml                 the manifest: every other entry with kind, size and sha256 (always first)
//! release-index.yaml          the offline release index (metadata)
//! bin/<name>                  kubeadm, kubelet, kubectl, … (binary)
//! files/<name>                extra files from the spec (file)
//! images/oci-layout           one OCI image layout holding every image (image)
//! images/index.json
//! images/blobs/sha256/<hex>
//! ```

mod create;
mod read;
mod sign;

pub use create::{control_plane_images, create, CreateOptions, CreateReport};
pub use read::{
    read_manifest, unpack, unpack_with, verify, UnpackOptions, VerifyOptions, VerifyReport,
    CHANNEL_DEPTH, CHUNK, IMAGES_ARCHIVE,
};
pub use sign::{sign, SignOptions};
