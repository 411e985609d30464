//! The fixed node files staging writes: systemd units, containerd and crictl configuration, and
//! the kernel module and sysctl settings kubeadm's preflight expects.

/// Where binaries are linked for the active version.
pub const BIN_LINK_DIR: &str = "/usr/local/bin";
/// systemd unit directory used (the official packages' location).
pub const UNIT_DIR: &str = "/usr/lib/systemd/system";

/// `kubelet.service`, as the official packages ship it, running `/usr/local/bin/kubelet`.
pub const KUBELET_SERVICE: &str = "\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
";

/// `kubelet.service.d/10-kubeadm.conf`: the kubeadm drop-in of the official packages (spec §2),
/// so the kubelet runs with `--bootstrap-kubeconfig`, `--kubeconfig` and `--config` plus
/// `kubeadm-flags.env` and `/etc/default/kubelet`.
pub const KUBEADM_DROPIN: &str = "\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"
Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"
# This is a file that \"kubeadm init\" and \"kubeadm join\" (and firstboot) generate at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
";

/// The persistent success marker firstboot writes; the unit does not run once it exists.
pub const FIRSTBOOT_DONE_MARKER: &str = "/var/lib/kubebake/firstboot/bootstrap-success.complete";

/// `kubebake-firstboot.service`: runs `firstboot run` once cloud-init has written the config,
/// and again on every boot until bootstrapping succeeded, so a reboot in the middle resumes.
pub const FIRSTBOOT_SERVICE: &str = "\
[Unit]
Description=kubebake first boot: bootstrap this Kubernetes node (kubeadm-compatible)
Documentation=man:firstboot(8)
Wants=network-online.target
After=network-online.target containerd.service cloud-init.service cloud-init-network.service cloud-config.service
ConditionPathExists=/etc/kubebake/firstboot.yaml
ConditionPathExists=!/var/lib/kubebake/firstboot/bootstrap-success.complete

[Service]
Type=oneshot
ExecStart=/usr/local/bin/firstboot run
RemainAfterExit=yes
TimeoutStartSec=infinity
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
";

/// containerd configuration (config version 2, read by containerd 1.6–2.x): the bundle's pause
/// image as sandbox image, systemd cgroups as kubeadm's kubelet default expects, CNI plugins in
/// /opt/cni/bin where CNI installers put them.
pub fn containerd_config(pause_image: &str) -> String {
    format!(
        "# Written by kubebake (bake stage). The previous file, if any, is kept as config.toml.kubebake-orig.
version = 2

[plugins]
  [plugins.\"io.containerd.grpc.v1.cri\"]
    sandbox_image = \"{pause_image}\"
    [plugins.\"io.containerd.grpc.v1.cri\".cni]
      bin_dir = \"/opt/cni/bin\"
      conf_dir = \"/etc/cni/net.d\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd]
      default_runtime_name = \"runc\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]
        runtime_type = \"io.containerd.runc.v2\"
        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]
          SystemdCgroup = true
"
    )
}

/// `/etc/crictl.yaml` pointing at containerd.
pub const CRICTL_YAML: &str = "\
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 10
";

/// `/etc/modules-load.d/kubebake.conf`.
pub const MODULES_LOAD: &str =
    "# kubebake: kernel modules kubeadm's preflight expects\noverlay\nbr_netfilter\n";

/// `/etc/sysctl.d/99-kubebake.conf`.
pub const SYSCTL: &str = "\
# kubebake: kernel settings kubeadm's preflight expects
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
";
