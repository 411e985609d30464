//! `upgrade plan` computation (spec §14.2): a table of clusters and label answers, each case
//! asserting the offered targets and the reasons given for what is not offered.

use std::collections::BTreeMap;

use firstboot::upgrade::getters::NodeStateGetter;
use firstboot::upgrade::plan::{compute, PlanOptions};
use offline::version::{
    resolve_label, IndexVersionGetter, KubeVersion, LayeredVersionGetter, ReleaseIndex,
    VersionError, VersionGetter, VersionMap,
};

/// A cluster with fixed state and a release site with fixed labels.
struct Fake {
    cluster: &'static str,
    kubelets: Vec<(&'static str, &'static str)>,
    kubeadm: &'static str,
    labels: Vec<(&'static str, &'static str)>,
}

impl VersionGetter for Fake {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn cluster_version(&self) -> Result<KubeVersion, VersionError> {
        Ok(KubeVersion::parse(self.cluster).unwrap())
    }
    fn kubeadm_version(&self) -> Result<KubeVersion, VersionError> {
        Ok(KubeVersion::parse(self.kubeadm).unwrap())
    }
    fn version_from_label(&self, label: &str) -> Result<KubeVersion, VersionError> {
        let labels: BTreeMap<_, _> = self.labels.iter().cloned().collect();
        resolve_label(label, &self.kubeadm_version()?, &mut |l| {
            labels.get(l).map(|s| s.to_string())
        })
    }
    fn kubelet_versions(&self) -> Result<VersionMap, VersionError> {
        let mut m = VersionMap::new();
        for (v, n) in &self.kubelets {
            m.entry(v.to_string()).or_default().push(n.to_string());
        }
        Ok(m)
    }
    fn component_versions(&self, c: &str) -> Result<VersionMap, VersionError> {
        Ok(if c == "etcd" {
            VersionMap::from([("3.6.6-0".to_string(), vec!["cp1".to_string()])])
        } else {
            VersionMap::from([(self.cluster.to_string(), vec!["cp1".to_string()])])
        })
    }
    fn dns_version(&self) -> Result<String, VersionError> {
        Ok("v1.13.1".into())
    }
}

fn targets(plan: &firstboot::upgrade::plan::UpgradePlan) -> Vec<(String, String)> {
    plan.upgrades
        .iter()
        .map(|u| (u.description.clone(), u.after.kubernetes_version.clone()))
        .collect()
}

#[test]
fn upgrade_plan_cases() {
    struct Case {
        name: &'static str,
        getter: Fake,
        opts: PlanOptions,
        offered: Vec<(&'static str, &'static str)>,
        refused: Vec<(&'static str, &'static str)>, // (version, reason fragment)
    }
    let kubelets = vec![("v1.35.2", "cp1"), ("v1.35.2", "w1")];
    let cases = vec![
        Case {
            name: "patch and minor available",
            getter: Fake {
                cluster: "v1.35.2",
                kubelets: kubelets.clone(),
                kubeadm: "v1.36.4",
                labels: vec![("stable", "v1.36.4"), ("stable-1.35", "v1.35.9")],
            },
            opts: PlanOptions::default(),
            offered: vec![
                ("version in the v1.35 series", "v1.35.9"),
                ("stable version", "v1.36.4"),
            ],
            refused: vec![],
        },
        Case {
            name: "patch only, kubeadm's minor",
            getter: Fake {
                cluster: "v1.36.2",
                kubelets: vec![("v1.36.2", "cp1")],
                kubeadm: "v1.36.4",
                labels: vec![("stable", "v1.36.4"), ("stable-1.36", "v1.36.4")],
            },
            opts: PlanOptions::default(),
            offered: vec![("version in the v1.36 series", "v1.36.4")],
            refused: vec![],
        },
        Case {
            name: "nothing newer in any bundle",
            getter: Fake {
                cluster: "v1.36.4",
                kubelets: vec![("v1.36.4", "cp1")],
                kubeadm: "v1.36.4",
                labels: vec![("stable", "v1.36.4"), ("stable-1.36", "v1.36.4")],
            },
            opts: PlanOptions::default(),
            offered: vec![],
            refused: vec![],
        },
        Case {
            name: "release candidate only with the flag",
            getter: Fake {
                cluster: "v1.36.4",
                kubelets: vec![("v1.36.4", "cp1")],
                kubeadm: "v1.37.0-rc.1",
                labels: vec![
                    ("stable", "v1.36.4"),
                    ("stable-1.36", "v1.36.4"),
                    ("latest", "v1.38.0-alpha.0"),
                    ("latest-1.37", "v1.37.0-rc.1"),
                ],
            },
            opts: PlanOptions {
                allow_rc: true,
                ..Default::default()
            },
            offered: vec![("release candidate version", "v1.37.0-rc.1")],
            refused: vec![],
        },
        Case {
            name: "release candidate without the flag is explained",
            getter: Fake {
                cluster: "v1.36.4",
                kubelets: vec![("v1.36.4", "cp1")],
                kubeadm: "v1.37.0-rc.1",
                labels: vec![
                    ("stable", "v1.36.4"),
                    ("stable-1.36", "v1.36.4"),
                    ("latest", "v1.37.0-rc.1"),
                ],
            },
            opts: PlanOptions::default(),
            offered: vec![],
            refused: vec![("v1.37.0-rc.1", "pre-release")],
        },
        Case {
            name: "control-plane skew: two minors ahead",
            getter: Fake {
                cluster: "v1.34.3",
                kubelets: vec![("v1.34.3", "cp1")],
                kubeadm: "v1.36.4",
                labels: vec![("stable", "v1.36.4"), ("stable-1.34", "v1.34.5")],
            },
            opts: PlanOptions::default(),
            offered: vec![("version in the v1.34 series", "v1.34.5")],
            refused: vec![("v1.36.4", "more than one minor version ahead")],
        },
        Case {
            name: "kubelet skew",
            getter: Fake {
                cluster: "v1.35.2",
                kubelets: vec![("v1.35.2", "cp1"), ("v1.32.9", "old-worker")],
                kubeadm: "v1.36.4",
                labels: vec![("stable", "v1.36.4"), ("stable-1.35", "v1.35.2")],
            },
            opts: PlanOptions::default(),
            offered: vec![],
            refused: vec![("v1.36.4", "old-worker")],
        },
        Case {
            name: "bundle older than the cluster",
            getter: Fake {
                cluster: "v1.36.4",
                kubelets: vec![("v1.36.4", "cp1")],
                kubeadm: "v1.35.9",
                labels: vec![("stable", "v1.35.9")],
            },
            opts: PlanOptions::default(),
            offered: vec![],
            refused: vec![("v1.35.9", "no downgrades")],
        },
    ];
    for c in cases {
        let plan = compute(&c.getter, &c.opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let want: Vec<(String, String)> = c
            .offered
            .iter()
            .map(|(d, v)| (d.to_string(), v.to_string()))
            .collect();
        assert_eq!(targets(&plan), want, "{}: {plan:#?}", c.name);
        for (v, why) in &c.refused {
            assert!(
                plan.not_offered
                    .iter()
                    .any(|n| n.version == *v && n.reason.contains(why)),
                "{}: {v} should be refused with {why:?}: {:#?}",
                c.name,
                plan.not_offered
            );
        }
        if c.refused.is_empty() {
            assert!(
                plan.not_offered.is_empty(),
                "{}: {:#?}",
                c.name,
                plan.not_offered
            );
        }
    }
}

#[test]
fn etcd_and_coredns_targets_come_from_the_bundle_kubeadm() {
    let g = Fake {
        cluster: "v1.35.2",
        kubelets: vec![("v1.35.2", "cp1")],
        kubeadm: "v1.36.4",
        labels: vec![("stable", "v1.36.4"), ("stable-1.35", "v1.35.2")],
    };
    let plan = compute(&g, &PlanOptions::default()).unwrap();
    let u = &plan.upgrades[0];
    assert_eq!(u.after.etcd, "3.6.8-0");
    assert_eq!(u.after.dns, "v1.14.2");
    assert!(u.kubelets_need_upgrade);
    let ext = compute(
        &g,
        &PlanOptions {
            external_etcd: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ext.upgrades[0].after.etcd, "");
    assert!(ext.before.etcd.is_empty());
}

#[test]
fn offline_plan_from_the_index_and_the_node_files() {
    let root = tempfile::tempdir().unwrap();
    node_with_v1_35(root.path());
    let index = ReleaseIndex {
        api_version: "kubebake.io/v1alpha1".into(),
        kind: "ReleaseIndex".into(),
        generated_at: String::new(),
        source: "file:///mirror".into(),
        kubernetes_version: "v1.36.4".into(),
        labels: [
            ("stable".to_string(), "v1.36.4".to_string()),
            ("stable-1.35".to_string(), "v1.35.9".to_string()),
        ]
        .into(),
        components: BTreeMap::new(),
    };
    let g = LayeredVersionGetter {
        labels: IndexVersionGetter::new(index, "bundle v1.36.4").unwrap(),
        state: NodeStateGetter::new(root.path(), "cp1"),
    };
    let plan = compute(&g, &PlanOptions::default()).unwrap();
    assert_eq!(plan.before.kubernetes_version, "1.35.2");
    assert_eq!(
        targets(&plan),
        vec![
            (
                "version in the v1.35 series".to_string(),
                "v1.35.9".to_string()
            ),
            ("stable version".to_string(), "v1.36.4".to_string()),
        ]
    );
    assert!(plan.source.contains("node's own files"), "{}", plan.source);
}

fn node_with_v1_35(root: &std::path::Path) {
    let manifests = root.join("etc/kubernetes/manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        std::fs::write(
            manifests.join(format!("{c}.yaml")),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {c}\nspec:\n  containers:\n  - name: {c}\n    image: registry.k8s.io/{c}:v1.35.2\n"
            ),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("usr/share/kubebake")).unwrap();
    std::fs::write(
        root.join("usr/share/kubebake/staged.json"),
        r#"{"activeVersion":"v1.35.2"}"#,
    )
    .unwrap();
    std::fs::create_dir_all(root.join("var/lib/kubebake")).unwrap();
    std::fs::write(
        root.join("var/lib/kubebake/release-index.yaml"),
        "apiVersion: kubebake.io/v1alpha1\nkind: ReleaseIndex\ngeneratedAt: '2026-11-25T00:00:00Z'\n\
         source: file:///mirror\nkubernetesVersion: v1.36.4\nlabels:\n  stable: v1.36.4\n  \
         stable-1.35: v1.35.9\ncomponents: {}\n",
    )
    .unwrap();
}

#[test]
fn cli_plan_falls_back_to_the_node_when_the_api_server_is_unreachable() {
    let root = tempfile::tempdir().unwrap();
    node_with_v1_35(root.path());
    // An admin.conf pointing at a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(root.path().join("etc/kubernetes")).unwrap();
    std::fs::write(
        root.path().join("etc/kubernetes/admin.conf"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: k\n  context:\n    cluster: k\n    user: u\ncurrent-context: k\nusers:\n- name: u\n  user:\n    token: x\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firstboot"))
        .args([
            "--root",
            root.path().to_str().unwrap(),
            "upgrade",
            "plan",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["fallback"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{text}"
    );
    let offered: Vec<&str> = v["upgrades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["after"]["kubernetesVersion"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["v1.35.9", "v1.36.4"]);

    // The table says the same, and --offline does not try the API server.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firstboot"))
        .args([
            "--root",
            root.path().to_str().unwrap(),
            "upgrade",
            "plan",
            "--offline",
        ])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("Cluster version: 1.35.2"), "{t}");
    assert!(t.contains("firstboot upgrade apply v1.36.4"), "{t}");
    assert!(!t.contains("cannot be reached"), "{t}");
}

#[test]
fn cli_plan_without_index_or_bundle_is_bad_input() {
    let root = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firstboot"))
        .args([
            "--root",
            root.path().to_str().unwrap(),
            "upgrade",
            "plan",
            "--offline",
        ])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("release-index.yaml") && t.contains("--bundle"),
        "{t}"
    );
}
