//! The `ctr` calls that import a version's OCI archive into containerd's `k8s.io` namespace and
//! pin its images.

use std::path::{Path, PathBuf};
use std::process::Command;

use offline::error::{Error, Result};

/// The containerd label that keeps the kubelet's image garbage collection away from an image.
pub const PINNED_LABEL: &str = "io.cri-containerd.pinned=pinned";

/// An image as containerd lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedImage {
    /// Reference.
    pub name: String,
    /// Target digest.
    pub digest: String,
    /// Carries the pinned label.
    pub pinned: bool,
}

/// `ctr` against one containerd, namespace `k8s.io`.
pub struct Ctr {
    /// The `ctr` binary.
    pub bin: PathBuf,
    /// containerd socket.
    pub address: String,
}

impl Ctr {
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.bin)
            .arg("--address")
            .arg(&self.address)
            .args(["--namespace", "k8s.io"])
            .args(args)
            .output()
            .map_err(|e| Error::Other(format!("running {}: {e}", self.bin.display())))?;
        if !out.status.success() {
            return Err(Error::Other(format!(
                "ctr {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Images in `k8s.io`.
    pub fn list(&self) -> Result<Vec<ListedImage>> {
        let text = self.run(&["images", "ls"])?;
        Ok(parse_images_ls(&text))
    }

    /// Import an OCI archive.
    pub fn import(&self, archive: &Path) -> Result<()> {
        let a = archive.to_string_lossy();
        self.run(&["images", "import", "--platform", "linux/amd64", &a])
            .map(|_| ())
    }

    /// Pin an image so kubelet garbage collection keeps it.
    pub fn pin(&self, name: &str) -> Result<()> {
        self.run(&["images", "label", name, PINNED_LABEL])
            .map(|_| ())
    }
}

/// Parse `ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS; SIZE has a space).
pub fn parse_images_ls(text: &str) -> Vec<ListedImage> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            if t.len() < 6 {
                return None;
            }
            let labels = t[t.len() - 1];
            Some(ListedImage {
                name: t[0].to_string(),
                digest: t[2].to_string(),
                pinned: labels.split(',').any(|x| x == PINNED_LABEL),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ctr_listing() {
        let text = "REF                                  TYPE                                       DIGEST                                                                  SIZE    PLATFORMS   LABELS\n\
registry.k8s.io/pause:3.10.2 application/vnd.oci.image.manifest.v1+json sha256:0e74 1.2 KiB linux/amd64 io.cri-containerd.pinned=pinned\n\
registry.k8s.io/etcd:3.6.8-0 application/vnd.oci.image.manifest.v1+json sha256:1186 1.2 KiB linux/amd64 -\n";
        let l = parse_images_ls(text);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].name, "registry.k8s.io/pause:3.10.2");
        assert_eq!(l[0].digest, "sha256:0e74");
        assert!(l[0].pinned);
        assert!(!l[1].pinned);
    }
}
