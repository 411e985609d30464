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
    let sock = node.path("/var/run/containerd/containerd.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    std::os::unix::net::UnixListener::bind(&sock).unwrap()
}

#[test]
fn healthy_node_passes() {
    let node = Node::with_config(&config(PORTS));
    let _cri = healthy(&node, "v1.36.2");
    let out = node.run(&["init", "phase", "preflight"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("ERROR"), "{t}");
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
