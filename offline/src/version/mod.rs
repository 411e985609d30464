//! Kubernetes version handling: parsing, release labels, the per-minor component versions
//! kubeadm uses, the offline release index carried in every bundle, and version getters.

mod components;
mod getter;
mod index;

pub use components::{component_versions, ComponentVersions, KNOWN_KUBEADM_MINORS};
pub use getter::{
    normalize_kubeadm_version, parse_version_string, resolve_label, FixedVersionGetter,
    IndexVersionGetter, LayeredVersionGetter, MirrorVersionGetter, VersionError, VersionGetter,
    VersionMap,
};
pub use index::{ReleaseIndex, RELEASE_INDEX_KIND};

use std::fmt;

/// A Kubernetes version `vMAJ.MIN.PATCH[-pre][+build]`, ordered by semver rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion(pub semver::Version);

impl KubeVersion {
    /// Parse `v1.36.2` or `1.36.2` (a `v` prefix is optional, as in kubeadm).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let body = t.strip_prefix('v').unwrap_or(t);
        semver::Version::parse(body)
            .map(KubeVersion)
            .map_err(|e| format!("{s:?} is not a Kubernetes version (vMAJOR.MINOR.PATCH): {e}"))
    }

    /// Major version.
    pub fn major(&self) -> u64 {
        self.0.major
    }

    /// Minor version.
    pub fn minor(&self) -> u64 {
        self.0.minor
    }

    /// `MAJ.MIN`, the key used for per-minor tables.
    pub fn minor_key(&self) -> String {
        format!("{}.{}", self.0.major, self.0.minor)
    }

    /// True when the version has a pre-release part (`-rc.1`, `-alpha.0`, …).
    pub fn is_prerelease(&self) -> bool {
        !self.0.pre.is_empty()
    }

    /// The image tag kubeadm derives from this version: every character outside
    /// `[-A-Za-z0-9_.]` replaced by `_` (so `+` becomes `_`).
    pub fn image_tag(&self) -> String {
        image_tag(&self.to_string())
    }
}

/// kubeadm's `KubernetesVersionToImageTag`: every character of `version` outside
/// `[-A-Za-z0-9_.]` replaced by `_` (so `v1.36.2+k3s.1` becomes `v1.36.2_k3s.1`).
pub fn image_tag(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl std::str::FromStr for KubeVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// True when `s` is a release label kubeadm accepts (`stable`, `latest`, `stable-1`,
/// `stable-1.36`, `latest-1.37`, …; spec §19.5 step 3), optionally prefixed `release/`.
pub fn is_release_label(s: &str) -> bool {
    let s = s.strip_prefix("release/").unwrap_or(s);
    let (word, rest) = if let Some(r) = s.strip_prefix("stable") {
        ("stable", r)
    } else if let Some(r) = s.strip_prefix("latest") {
        ("latest", r)
    } else {
        return false;
    };
    let _ = word;
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('-') else {
        return false;
    };
    let (major, minor) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let major_ok = major.len() == 1 && matches!(major.as_bytes()[0], b'1'..=b'9');
    let minor_ok = match minor {
        None => true,
        Some(m) => {
            (m.len() == 1 || m.len() == 2)
                && m.bytes().all(|b| b.is_ascii_digit())
                && m.as_bytes()[0] != b'0'
        }
    };
    major_ok && minor_ok
}

/// The release labels a bundle for `version` records in its release index: `stable`,
/// `latest`, `stable-MAJ`, `latest-MAJ` and `stable-`/`latest-MAJ.MIN` for the bundle's minor and
/// both neighbours — every label kubeadm's upgrade plan asks about for a cluster one minor away.
pub fn index_labels(version: &KubeVersion) -> Vec<String> {
    let maj = version.major();
    let min = version.minor();
    let mut labels = vec![
        "stable".to_string(),
        "latest".to_string(),
        format!("stable-{maj}"),
        format!("latest-{maj}"),
    ];
    for m in [min.saturating_sub(1), min, min + 1] {
        if m == 0 {
            continue;
        }
        labels.push(format!("stable-{maj}.{m}"));
        labels.push(format!("latest-{maj}.{m}"));
    }
    labels.dedup();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let a = KubeVersion::parse("v1.36.2").unwrap();
        let b = KubeVersion::parse("1.36.10").unwrap();
        let rc = KubeVersion::parse("v1.37.0-rc.1").unwrap();
        let ga = KubeVersion::parse("v1.37.0").unwrap();
        assert!(a < b);
        assert!(rc < ga);
        assert!(rc.is_prerelease());
        assert_eq!(a.to_string(), "v1.36.2");
        assert_eq!(b.minor_key(), "1.36");
        assert!(KubeVersion::parse("stable").is_err());
        assert!(KubeVersion::parse("v1.36").is_err());
    }

    #[test]
    fn image_tag_replaces_plus() {
        let v = KubeVersion::parse("v1.36.2+k3s.1").unwrap();
        assert_eq!(v.image_tag(), "v1.36.2_k3s.1");
    }

    #[test]
    fn label_grammar_matches_spec_19_5() {
        for ok in [
            "stable",
            "latest",
            "stable-1",
            "stable-1.36",
            "stable-1.9",
            "latest-1.37",
            "release/stable-1.36",
        ] {
            assert!(is_release_label(ok), "{ok} rejected");
        }
        for bad in [
            "stable-1.0",
            "stable-1.100",
            "stable-10",
            "stable-v1.36",
            "beta",
            "stable-",
            "stable-1.",
            "v1.36.2",
        ] {
            assert!(!is_release_label(bad), "{bad} accepted");
        }
    }

    #[test]
    fn labels_cover_neighbour_minors() {
        let l = index_labels(&KubeVersion::parse("v1.36.2").unwrap());
        for want in [
            "stable",
            "stable-1",
            "stable-1.35",
            "stable-1.36",
            "stable-1.37",
            "latest-1.37",
            "latest",
        ] {
            assert!(l.iter().any(|x| x == want), "missing {want}");
        }
    }
}
