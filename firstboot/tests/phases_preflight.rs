//! Preflight on a fake node root: each failing check is named; ignorePreflightErrors and
//! --ignore-preflight-errors turn errors into warnings; kubelet/kubeadm skew rules.

mod runner_support;

use std::os::unix::fs::PermissionsExt;

use runner_support::{text, Node};

const PORTS: &str = "Port-6443,Port-10259,Port-10257,Port-10250,Port-2379,Port-2380";

fn config(extra_ignores: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 192.0.2.2\nnodeRegistration:\n  name: vm\n  criSocket: unix:///var/run/containerd/containerd.sock\n  ignorePreflightErrors: [{extra_ignores}]\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.2\n"
    )
}

fn write(node: &Node, path: &str, content: &str, mode: u32) {
    let p = node.path(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A root that passes every node check (ports are the host's and are ignored).
fn healthy(node: &Node, kubelet_version: &str) -> std::os::unix::net::UnixListener {
    write(
        node,
        "/proc/meminfo",
        "MemTotal:        4012345 kB\nMemFree: 1 kB\n",
        0o644,
    );
    write(
        node,
        "/proc/swaps",
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        0o644,
    );
    write(node, "/proc/sys/net/ipv4/ip_forward", "1\n", 0o644);
    for b in ["losetup", "mount", "cp"] {
        write(node, &format!("/usr/bin/{b}"), "#!/bin/sh\n", 0o755);
    }
    write(
        node,
        "/usr/bin/kubelet",
        &format!("#!/bin/sh\necho Kubernetes {kubelet_version}\n"),
        0o755,
    );
    write(
        node,
        "/etc/systemd/system/multi-user.target.wants/kubelet.service",
        "",
        0o644,
    );
    // SystemVerification: a supported kernel with its configuration, cgroup v2.
    write(
        node,
        "/proc/sys/kernel/osrelease",
        "6.1.0-28-amd64\n",
        0o444,
    );
    write(
        node,
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
        0o444,
    );
    let kconfig: String = firstboot::phases::preflight::host::REQUIRED_KERNEL_CONFIGS
        .iter()
        .map(|(n, _)| format!("CONFIG_{n}=y\n"))
        .collect();
    write(node, "/boot/config-6.1.0-28-amd64", &kconfig, 0o644);
    // Hostname: the node name resolves through /etc/hosts.
    write(
        node,
        "/etc/hosts",
        "127.0.0.1 localhost\n127.0.1.1 vm\n",
        0o644,
    );
    // ContainerRuntimeVersion: crictl answers for the socket it is given.
    write(
        node,
        "/usr/bin/crictl",
        "#!/bin/sh\n[ \"$1\" = --runtime-endpoint ] && [ -S \"${2#unix://}\" ] || { echo \"no runtime at $2\" >&2; exit 1; }\necho 'Version:  0.1.0'\necho 'RuntimeName:  containerd'\necho 'RuntimeVersion:  v2.1.4'\necho 'RuntimeApiVersion:  v1'\n",
        0o755,
    );
    stage_images(node, 36, &[]);
    let sock = node.path("/var/run/containerd/containerd.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    std::os::unix::net::UnixListener::bind(&sock).unwrap()
}

/// The images a kubeadm of minor `kubeadm_minor` needs for the test config, from the library.
fn required_images(kubeadm_minor: u64) -> Vec<String> {
    let mut p = firstboot::manifests::ControlPlaneParams::new(
        "v1.36.2",
        "vm",
        "192.0.2.2".parse().unwrap(),
    );
    p.kubeadm_minor = Some(kubeadm_minor);
    firstboot::manifests::images_list(&p, &Default::default()).unwrap()
}

/// Writes bake's staging record with one OCI archive holding the required images except
/// `leave_out`.
fn stage_images(node: &Node, kubeadm_minor: u64, leave_out: &[&str]) {
    let archive = "/var/lib/kubebake/images/v1.36.2/images.oci.tar";
    write(node, archive, "oci", 0o644);
    let images: Vec<serde_json::Value> = required_images(kubeadm_minor)
        .into_iter()
        .filter(|i| !leave_out.iter().any(|l| i.contains(l)))
        .map(|name| {
            serde_json::json!({"name": name, "digest": "sha256:00", "version": "v1.36.2",
                "archive": archive, "imported": false})
        })
        .collect();
    let record = serde_json::json!({"apiVersion": "kubebake.io/v1alpha1", "kind": "StagedImage",
        "bundles": [], "files": [], "links": [], "images": images});
    write(
        node,
        "/usr/share/kubebake/staged.json",
        &record.to_string(),
        0o644,
    );
}

#[test]
fn healthy_node_passes() {
    let node = Node::with_config(&config(PORTS));
    let _cri = healthy(&node, "v1.36.2");
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("ERROR"), "{t}");
    for quiet in [
        "Firewalld",
        "SystemVerification",
        "Hostname",
        "ContainerRuntimeVersion",
        "ImagePull",
        "HTTPProxy",
    ] {
        assert!(!t.contains(&format!("WARNING {quiet}")), "{quiet}:\n{t}");
    }
    assert_eq!(node.phase("preflight")["state"], "done");
}

#[test]
fn each_failure_is_named() {
    let node = Node::with_config(&config(PORTS));
    let _cri = healthy(&node, "v1.32.0");
    write(
        &node,
        "/proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
        0o644,
    );
    write(&node, "/proc/sys/net/ipv4/ip_forward", "0\n", 0o644);
    write(
        &node,
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "x",
        0o600,
    );
    write(&node, "/var/lib/etcd/member", "x", 0o600);
    std::fs::remove_file(node.path("/usr/bin/losetup")).unwrap();
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for name in [
        "[ERROR KubeletVersion]: Kubelet version v1.32.0 is lower than kubeadm can support",
        "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]",
        "[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]",
        "[ERROR DirAvailable--var-lib-etcd]",
        "[ERROR FileExisting-losetup]",
    ] {
        assert!(t.contains(name), "{name} missing:\n{t}");
    }
    assert!(t.contains("WARNING Swap"), "{t}");
    assert!(
        !t.contains("[ERROR Mem]") && !t.contains("[ERROR CRI]"),
        "{t}"
    );
    let marker = std::fs::read_to_string(node.path("/var/lib/kubebake/firstboot/failed")).unwrap();
    assert!(
        marker.contains("preflight") && marker.contains("KubeletVersion"),
        "{marker}"
    );

    // The flag merges with the config's list, case-insensitively.
    let out = node.run(&[
        "init",
        "phase",
        "preflight",
        "--ignore-preflight-errors",
        "kubeletversion,FileContent--proc-sys-net-ipv4-ip_forward,FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml,DirAvailable--var-lib-etcd,FileExisting-losetup",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("WARNING KubeletVersion (error ignored)"), "{t}");
}

#[test]
fn kubelet_newer_than_control_plane_and_missing_runtime() {
    let node = Node::with_config(&config(PORTS));
    let cri = healthy(&node, "v1.37.0");
    drop(cri);
    std::fs::remove_file(node.path("/var/run/containerd/containerd.sock")).unwrap();
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(
            "[ERROR KubeletVersion]: the kubelet version is higher than the control plane version"
        ),
        "{t}"
    );
    assert!(
        t.contains("[ERROR CRI]: container runtime is not running"),
        "{t}"
    );
}

#[test]
fn staged_kubeadm_version_drives_the_kubernetes_version_warning() {
    let node = Node::with_config(&config(PORTS));
    let _cri = healthy(&node, "v1.36.2");
    // A 1.35 kubeadm uses its own pause/CoreDNS tags.
    stage_images(&node, 35, &[]);
    write(
        &node,
        "/opt/kubebake/versions/v1.35.4/bin/kubeadm",
        "#!/bin/sh\necho v1.35.4\n",
        0o755,
    );
    std::fs::create_dir_all(node.path("/usr/local/bin")).unwrap();
    std::os::unix::fs::symlink(
        node.path("/opt/kubebake/versions/v1.35.4/bin/kubeadm"),
        node.path("/usr/local/bin/kubeadm"),
    )
    .unwrap();
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    // A 1.35 kubeadm deploying 1.36 only warns (KubernetesVersion); the 1.36 kubelet is not
    // newer than the 1.36 control plane, so preflight passes. The unstaged version is warned about.
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("WARNING KubernetesVersion"), "{t}");
    assert!(t.contains("is not staged"), "{t}");
}

#[test]
fn busy_port_is_named() {
    let node = Node::with_config(&config(
        "Port-6443,Port-10257,Port-10250,Port-2379,Port-2380",
    ));
    let _cri = healthy(&node, "v1.36.2");
    let _held = std::net::TcpListener::bind(("0.0.0.0", 10259));
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("[ERROR Port-10259]: Port 10259 is in use"),
        "{t}"
    );
}

#[test]
fn host_checks_name_what_is_wrong() {
    let node = Node::with_config(&config(PORTS));
    let _cri = healthy(&node, "v1.36.2");
    write(&node, "/proc/sys/kernel/osrelease", "4.14.0-old\n", 0o444);
    write(
        &node,
        "/boot/config-4.14.0-old",
        "CONFIG_NAMESPACES=y\n",
        0o644,
    );
    write(
        &node,
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io pids\n",
        0o444,
    );
    write(&node, "/etc/hosts", "127.0.0.1 localhost\n", 0o644);
    write(
        &node,
        "/usr/lib/systemd/system/firewalld.service",
        "",
        0o644,
    );
    write(
        &node,
        "/run/systemd/units/invocation:firewalld.service",
        "",
        0o644,
    );
    write(
        &node,
        "/usr/bin/crictl",
        "#!/bin/sh\necho 'connect: connection refused' >&2\nexit 1\n",
        0o755,
    );
    stage_images(&node, 36, &["coredns"]);
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for want in [
        "[ERROR SystemVerification]: unsupported kernel release: 4.14.0-old",
        "unexpected kernel config: CONFIG_NET_NS",
        // cgroup v2 has no freezer before Linux 5.2.
        "missing required cgroups: freezer memory",
        "[ERROR ContainerRuntimeVersion]: could not query the container runtime's version via crictl",
        "connection refused",
        "[ERROR ImagePull]: failed to pull image registry.k8s.io/coredns/coredns:",
        "WARNING Hostname",
        "hostname \"vm\" could not be reached",
        "WARNING Firewalld",
        "firewalld is active, please ensure ports [6443 10250] are open",
    ] {
        assert!(t.contains(want), "{want} missing:\n{t}");
    }
    // Only the missing image is named.
    assert!(!t.contains("kube-apiserver:v1.36.2: "), "{t}");

    let out = node.run(&[
        "init",
        "phase",
        "preflight",
        "--ignore-preflight-errors",
        "systemverification,ContainerRuntimeVersion,ImagePull",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("WARNING SystemVerification (error ignored)"),
        "{t}"
    );
    assert!(t.contains("WARNING ImagePull (error ignored)"), "{t}");

    // `all` ignores everything (and may not be combined with other names).
    std::fs::write(node.path("/etc/kubebake/firstboot.yaml"), config("all")).unwrap();
    let out = node.run(&["init", "phase", "preflight"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn runtime_socket_and_cgroup_v1_and_never_policy() {
    let node = Node::with_config(
        &config(&format!("{PORTS},CRI"))
            .replace("  name: vm\n", "  name: vm\n  imagePullPolicy: Never\n"),
    );
    let _cri = healthy(&node, "v1.36.2");
    // cgroup v1 with every controller: a warning only.
    std::fs::remove_file(node.path("/sys/fs/cgroup/cgroup.controllers")).unwrap();
    write(
        &node,
        "/proc/cgroups",
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset 1 1 1\ncpu 2 1 1\ncpuacct 2 1 1\nblkio 3 1 1\nmemory 4 1 1\ndevices 5 1 1\nfreezer 6 1 1\npids 7 1 1\nhugetlb 8 1 1\n",
        0o444,
    );
    // The socket is a plain file; without crictl nothing more can be asked.
    std::fs::remove_file(node.path("/usr/bin/crictl")).unwrap();
    std::fs::remove_file(node.path("/var/run/containerd/containerd.sock")).unwrap();
    write(&node, "/var/run/containerd/containerd.sock", "", 0o644);
    stage_images(&node, 36, &["pause"]);
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("[ERROR ContainerRuntimeVersion]: container runtime is not reachable: unix:///var/run/containerd/containerd.sock is not a socket"),
        "{t}"
    );
    assert!(
        t.contains("does not exist and the pull policy is Never"),
        "{t}"
    );
    assert!(t.contains("pause:"), "{t}");
    assert!(t.contains("WARNING SystemVerification"), "{t}");
    assert!(
        t.contains("cgroups v1 support is in maintenance mode"),
        "{t}"
    );

    // A real socket without crictl: a warning saying what was (not) checked.
    std::fs::remove_file(node.path("/var/run/containerd/containerd.sock")).unwrap();
    let _sock =
        std::os::unix::net::UnixListener::bind(node.path("/var/run/containerd/containerd.sock"))
            .unwrap();
    stage_images(&node, 36, &[]);
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("WARNING ContainerRuntimeVersion") && t.contains("crictl is not installed"),
        "{t}"
    );
}

#[test]
fn proxy_warnings_follow_no_proxy() {
    let cfg = config(PORTS).replace(
        "kubernetesVersion: v1.36.2\n",
        "kubernetesVersion: v1.36.2\nnetworking:\n  podSubnet: 10.244.0.0/16\n",
    );
    let node = Node::with_config(&cfg);
    let _cri = healthy(&node, "v1.36.2");
    let run = |no_proxy: &str| {
        let out = std::process::Command::new(runner_support::BIN)
            .args(["--root", node.root().to_str().unwrap()])
            .args(["init", "phase", "preflight"])
            .env_remove("https_proxy")
            .env_remove("no_proxy")
            .env("HTTPS_PROXY", "proxy.corp:3128")
            .env("NO_PROXY", no_proxy)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        text(&out)
    };
    let t = run("10.96.0.0/12,.corp");
    assert!(
        t.contains("WARNING HTTPProxy")
            && t.contains(
                r#"Connection to "https://192.0.2.2" uses proxy "http://proxy.corp:3128""#
            ),
        "{t}"
    );
    assert!(
        t.contains(r#"connection to "10.244.0.0/16" uses proxy "http://proxy.corp:3128""#),
        "{t}"
    );
    assert!(!t.contains(r#"connection to "10.96.0.0/12""#), "{t}");
    let t = run("192.0.2.0/24,10.96.0.0/12,10.244.0.0/16");
    assert!(!t.contains("WARNING HTTPProxy"), "{t}");
}

/// A one-request-at-a-time HTTP server answering `/version` with `body` (until dropped with
/// the test process).
fn etcd_version_server(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /version ") {
                ("200 OK", body)
            } else {
                ("404 Not Found", "")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn external_etcd_version() {
    let ok = etcd_version_server(r#"{"etcdserver":"3.6.8","etcdcluster":"3.6.0"}"#);
    let old = etcd_version_server(r#"{"etcdserver":"3.5.9","etcdcluster":"3.5.0"}"#);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = |eps: &str| {
        config(PORTS).replace(
            "kubernetesVersion: v1.36.2\n",
            &format!("kubernetesVersion: v1.36.2\netcd:\n  external:\n    endpoints: [{eps}]\n"),
        )
    };
    let node = Node::with_config(&cfg(&format!("http://127.0.0.1:{ok}")));
    let _cri = healthy(&node, "v1.36.2");
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");

    let node = Node::with_config(&cfg(&format!(
        "http://127.0.0.1:{ok}, http://127.0.0.1:{old}, http://127.0.0.1:{closed}"
    )));
    let _cri = healthy(&node, "v1.36.2");
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("[ERROR ExternalEtcdVersion]: this version of kubeadm only supports external etcd version >= 3.5.24-0. Current version: 3.5.9"),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "failed to get the version of external etcd from http://127.0.0.1:{closed}/version"
        )),
        "{t}"
    );
    assert!(!t.contains(&format!("127.0.0.1:{ok}/version")), "{t}");
}
