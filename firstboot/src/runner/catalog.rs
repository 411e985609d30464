//! kubeadm's phase names and order for `init` and `join`, and which of them this build can run.

use crate::config::Mode;

/// One top-level kubeadm phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseInfo {
    /// kubeadm's phase name (`certs`, `kubelet-start`, ...).
    pub name: &'static str,
    /// Sub-phase names (`ca`, `apiserver`, ...); `all` is implied when non-empty.
    pub subphases: &'static [&'static str],
    /// Whether this build implements the phase. Phases that need a running API server are listed
    /// (so names and order match kubeadm) but are not runnable yet.
    pub runnable: bool,
    /// One line shown in `--help` and `firstboot phases`.
    pub description: &'static str,
}

const fn p(
    name: &'static str,
    subphases: &'static [&'static str],
    runnable: bool,
    description: &'static str,
) -> PhaseInfo {
    PhaseInfo {
        name,
        subphases,
        runnable,
        description,
    }
}

/// Certificate sub-phases of `init phase certs`, in kubeadm's order.
pub const CERT_SUBPHASES: &[&str] = &[
    "ca",
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-ca",
    "front-proxy-client",
    "etcd-ca",
    "etcd-server",
    "etcd-peer",
    "etcd-healthcheck-client",
    "apiserver-etcd-client",
    "sa",
];

/// Kubeconfig sub-phases of `init phase kubeconfig`.
pub const KUBECONFIG_SUBPHASES: &[&str] = &[
    "admin",
    "super-admin",
    "kubelet",
    "controller-manager",
    "scheduler",
];

/// Control-plane sub-phases.
pub const CONTROL_PLANE_SUBPHASES: &[&str] = &["apiserver", "controller-manager", "scheduler"];

/// `kubeadm init` phases in order (§12).
pub const INIT_PHASES: &[PhaseInfo] = &[
    p("preflight", &[], true, "Run pre-flight checks"),
    p(
        "certs",
        CERT_SUBPHASES,
        true,
        "Certificate generation (/etc/kubernetes/pki)",
    ),
    p(
        "kubeconfig",
        KUBECONFIG_SUBPHASES,
        true,
        "Generate the kubeconfig files (/etc/kubernetes/*.conf)",
    ),
    p(
        "etcd",
        &["local"],
        true,
        "Generate the static Pod manifest for the local etcd and its data directory",
    ),
    p(
        "control-plane",
        CONTROL_PLANE_SUBPHASES,
        true,
        "Generate the control plane static Pod manifests",
    ),
    p(
        "kubelet-start",
        &[],
        true,
        "Write the kubelet settings (kubeadm-flags.env, instance-config.yaml, config.yaml)",
    ),
    p(
        "wait-control-plane",
        &[],
        true,
        "Wait for the control plane to start",
    ),
    p(
        "upload-config",
        &["kubeadm", "kubelet"],
        true,
        "Upload the kubeadm and kubelet configuration to ConfigMaps",
    ),
    p(
        "upload-certs",
        &[],
        true,
        "Upload certificates to kubeadm-certs",
    ),
    p(
        "mark-control-plane",
        &[],
        true,
        "Mark a node as a control-plane",
    ),
    p(
        "bootstrap-token",
        &[],
        true,
        "Generate bootstrap tokens used to join a node to a cluster",
    ),
    p(
        "kubelet-finalize",
        &["enable-client-cert-rotation"],
        true,
        "Update kubelet settings after TLS bootstrap",
    ),
    p(
        "addon",
        &["coredns", "kube-proxy"],
        true,
        "Install the CoreDNS and kube-proxy addons",
    ),
    p("show-join-command", &[], true, "Show the join command"),
];

/// `kubeadm join` phases in order (§13.1).
pub const JOIN_PHASES: &[PhaseInfo] = &[
    p("preflight", &[], true, "Run join pre-flight checks"),
    p(
        "control-plane-prepare",
        &["download-certs", "certs", "kubeconfig", "control-plane"],
        true,
        "Prepare the machine for serving a control plane",
    ),
    p(
        "check-etcd",
        &[],
        true,
        "Check that the etcd cluster is healthy",
    ),
    p(
        "kubelet-start",
        &[],
        true,
        "Write kubelet settings, certificates and (re)start the kubelet",
    ),
    p("etcd-join", &[], true, "Join etcd for control plane nodes"),
    p(
        "kubelet-wait-bootstrap",
        &[],
        true,
        "Wait for the kubelet to bootstrap itself",
    ),
    p(
        "control-plane-join",
        &["mark-control-plane"],
        true,
        "Join a machine as a control plane instance",
    ),
    p(
        "wait-control-plane",
        &[],
        true,
        "Wait for the control plane to start",
    ),
];

/// The phase list of a workflow.
pub fn phases(mode: Mode) -> &'static [PhaseInfo] {
    match mode {
        Mode::Init => INIT_PHASES,
        Mode::Join => JOIN_PHASES,
    }
}

/// Looks up a top-level phase.
pub fn find(mode: Mode, name: &str) -> Option<&'static PhaseInfo> {
    phases(mode).iter().find(|p| p.name == name)
}

/// Top-level phase names of a workflow, in order.
pub fn top_level_names(mode: Mode) -> Vec<&'static str> {
    phases(mode).iter().map(|p| p.name).collect()
}

/// Splits `certs/ca` (or `certs ca`) into (`certs`, Some(`ca`)); `all` as sub-phase means none.
pub fn split(name: &str) -> (&str, Option<&str>) {
    let name = name.trim();
    match name.split_once(['/', ' ']) {
        Some((top, "all")) => (top, None),
        Some((top, sub)) => (top, Some(sub.trim())),
        None => (name, None),
    }
}

/// Whether `name` (`certs`, `certs/ca`, `certs/all`, `etcd/local`) is a kubeadm phase of `mode`.
pub fn is_known_phase(mode: Mode, name: &str) -> bool {
    let (top, sub) = split(name);
    match (find(mode, top), sub) {
        (Some(_), None) => true,
        (Some(p), Some(s)) => p.subphases.contains(&s),
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_known_phase(Mode::Init, "certs/ca"));
        assert!(is_known_phase(Mode::Init, "certs/all"));
        assert!(is_known_phase(Mode::Init, "addon/coredns"));
        assert!(!is_known_phase(Mode::Init, "certs/nope"));
        assert!(!is_known_phase(Mode::Init, "etcd-join"));
        assert!(is_known_phase(Mode::Join, "etcd-join"));
        assert_eq!(split("certs ca"), ("certs", Some("ca")));
    }
}
