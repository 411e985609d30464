//! kubeadm's `ImagePull` on an air-gapped node: every required image must already be on the
//! node, i.e. recorded in bake's `/usr/share/kubebake/staged.json` and either imported into
//! containerd or present as its staged OCI archive (`/var/lib/kubebake/images/<v>/...`).

use std::path::Path;

use serde::Deserialize;

use crate::fsutil::under_root;

/// Node path of bake's staging record.
pub const STAGED_RECORD: &str = "/usr/share/kubebake/staged.json";

/// The part of bake's `StagedRecord` this check reads.
#[derive(Debug, Clone, Default, Deserialize)]
struct StagedRecord {
    #[serde(default)]
    images: Vec<StagedImage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StagedImage {
    name: String,
    #[serde(default)]
    archive: String,
    #[serde(default)]
    imported: bool,
}

/// `docker.io/library/x:1` and `x:1` name the same image; everything else compares verbatim.
fn normalize(name: &str) -> String {
    let n = name.trim();
    n.strip_prefix("docker.io/library/")
        .or_else(|| n.strip_prefix("docker.io/"))
        .unwrap_or(n)
        .to_string()
}

/// The required images missing from the node under `root`, each with the reason, for
/// `imagePullPolicy` `policy` (`IfNotPresent`, `Always` or `Never`). An air-gapped node pulls
/// nothing, so under every policy a missing image is an error; only the wording differs
/// (kubeadm's `Never` wording: "does not exist and the pull policy is Never").
pub fn missing_images(root: &Path, images: &[String], policy: &str) -> Vec<String> {
    let record_path = under_root(root, STAGED_RECORD);
    let record: Result<StagedRecord, String> = std::fs::read(&record_path)
        .map_err(|e| format!("{STAGED_RECORD}: {e}"))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| format!("{STAGED_RECORD}: invalid JSON: {e}"))
        });
    let mut out = Vec::new();
    for image in images {
        let why = match &record {
            Err(e) => format!("no staging record ({e})"),
            Ok(r) => {
                let entry = r
                    .images
                    .iter()
                    .find(|i| normalize(&i.name) == normalize(image));
                match entry {
                    Some(i) if i.imported => continue,
                    Some(i)
                        if !i.archive.is_empty()
                            && under_root(root, &i.archive).is_file() =>
                    {
                        continue
                    }
                    Some(i) => format!(
                        "recorded in {STAGED_RECORD} but not imported and its archive {} is missing",
                        i.archive
                    ),
                    None => format!("not staged in this image (not in {STAGED_RECORD})"),
                }
            }
        };
        out.push(if policy == "Never" {
            format!("image {image} does not exist and the pull policy is Never: {why}")
        } else {
            format!("failed to pull image {image}: {why}; this node is air-gapped and pulls nothing, stage the image with `bake stage`")
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_imported_or_archived() {
        let d = tempfile::tempdir().unwrap();
        let rec = d.path().join("usr/share/kubebake/staged.json");
        std::fs::create_dir_all(rec.parent().unwrap()).unwrap();
        std::fs::write(
            &rec,
            r#"{"images":[
              {"name":"registry.k8s.io/pause:3.10.2","digest":"sha256:1","version":"v1.36.2","archive":"/var/lib/kubebake/images/v1.36.2/images.oci.tar","imported":false},
              {"name":"registry.k8s.io/etcd:3.6.8-0","digest":"sha256:2","version":"v1.36.2","archive":"/gone.tar","imported":true},
              {"name":"registry.k8s.io/kube-proxy:v1.36.2","digest":"sha256:3","version":"v1.36.2","archive":"/gone.tar","imported":false}]}"#,
        )
        .unwrap();
        let ar = d
            .path()
            .join("var/lib/kubebake/images/v1.36.2/images.oci.tar");
        std::fs::create_dir_all(ar.parent().unwrap()).unwrap();
        std::fs::write(&ar, b"tar").unwrap();
        let want: Vec<String> = [
            "registry.k8s.io/pause:3.10.2",
            "registry.k8s.io/etcd:3.6.8-0",
            "registry.k8s.io/kube-proxy:v1.36.2",
            "registry.k8s.io/coredns/coredns:v1.14.2",
        ]
        .map(String::from)
        .to_vec();
        let m = missing_images(d.path(), &want, "IfNotPresent");
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("failed to pull image registry.k8s.io/kube-proxy:v1.36.2"));
        assert!(m[0].contains("/gone.tar is missing"));
        assert!(m[1].contains("coredns:v1.14.2") && m[1].contains("not staged"));
        let m = missing_images(d.path(), &want[3..], "Never");
        assert!(m[0].contains("does not exist and the pull policy is Never"));
        std::fs::remove_file(&rec).unwrap();
        assert_eq!(missing_images(d.path(), &want, "IfNotPresent").len(), 4);
    }
}
