//! Crash and resume: a run stopped at every phase boundary (and inside `certs` and
//! `kubeconfig`) and then re-run ends equal, in everything not random, to an uninterrupted run.
//!
//! The fault hook lives only in this test: the test binary re-executes itself as a "child" that
//! calls `firstboot::cli::main_with` with a hook that aborts the process at the chosen point
//! (`FB_CRASH_AT=after:<phase>` or `<phase>#<item>`). The production binary has no hook.

mod runner_support;

use std::process::Command;

use firstboot::runner::Boundary;
use runner_support::{assert_same_nodes, text, Node};

#[test]
#[ignore = "helper process for the crash tests; does nothing unless FB_CHILD_ARGS is set"]
fn crash_child() {
    let Ok(args) = std::env::var("FB_CHILD_ARGS") else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let at = std::env::var("FB_CRASH_AT").unwrap();
    let hook = move |b: &Boundary| {
        let hit = match b {
            Boundary::PhaseDone { phase } => at == format!("after:{phase}"),
            Boundary::ItemApplied { phase, index } => at == format!("{phase}#{index}"),
        };
        if hit {
            eprintln!("fault injection: aborting at {b:?}");
            std::process::abort();
        }
    };
    let argv = std::iter::once("firstboot".to_string())
        .chain(args)
        .map(std::ffi::OsString::from);
    let code = firstboot::cli::main_with(argv, Some(&hook));
    std::process::exit(code);
}

/// Runs `firstboot ARGS` in a child process that aborts at `at`.
fn run_crashing(node: &Node, at: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--root".to_string(), node.root().display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FB_CHILD_ARGS", serde_json::to_string(&all).unwrap())
        .env("FB_CRASH_AT", at)
        .output()
        .unwrap()
}

fn crash_then_resume(at: &str, reference: &Node) {
    let node = Node::new();
    let out = run_crashing(&node, at, &["init"]);
    let t = text(&out);
    assert!(
        t.contains("fault injection: aborting"),
        "the crash point {at} was never reached:\n{t}"
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "{at}: the crashed run must not succeed"
    );
    assert!(
        !node
            .path("/run/cluster-api/bootstrap-success.complete")
            .exists(),
        "{at}: sentinel written by a crashed run"
    );
    // The crashed phase is left `running` (or `done` when the crash came right after it).
    let phase = at.trim_start_matches("after:").split('#').next().unwrap();
    let state = node.phase(phase)["state"].clone();
    if at.starts_with("after:") {
        assert_eq!(state, "done", "{at}");
    } else {
        assert_eq!(state, "running", "{at}");
    }
    let status = node.run_ok(&["status"]);
    assert!(status.contains("result: interrupted"), "{at}: {status}");
    let resumed = node.run_ok(&["init"]);
    let rec = node.phase(phase);
    assert_eq!(rec["state"], "done", "{at}");
    if at.starts_with("after:") {
        assert_eq!(rec["attempts"], 1, "{at}: a done phase must not run again");
        assert!(
            resumed.contains(&format!("[{phase}] already done")),
            "{resumed}"
        );
    } else {
        assert_eq!(rec["attempts"], 2, "{at}: an interrupted phase runs again");
    }
    assert_eq!(node.journal()["result"], "succeeded");
    assert!(node
        .path("/run/cluster-api/bootstrap-success.complete")
        .exists());
    assert_same_nodes(reference.root(), node.root());
}

fn reference() -> Node {
    let r = Node::new();
    r.run_ok(&["init"]);
    r
}

#[test]
fn crash_after_each_phase_then_resume() {
    let reference = reference();
    for phase in [
        "preflight",
        "certs",
        "kubeconfig",
        "etcd",
        "control-plane",
        "kubelet-start",
    ] {
        crash_then_resume(&format!("after:{phase}"), &reference);
    }
}

#[test]
fn crash_inside_certs_then_resume() {
    let reference = reference();
    // certs items are written two files at a time: after the CA, in the middle, after the last
    // item but before the phase is recorded done.
    for at in ["certs#2", "certs#10", "certs#22"] {
        crash_then_resume(at, &reference);
    }
}

#[test]
fn crash_inside_other_phases_then_resume() {
    let reference = reference();
    for at in [
        "kubeconfig#2",
        "etcd#1",
        "control-plane#3",
        "kubelet-start#2",
    ] {
        crash_then_resume(at, &reference);
    }
}

#[test]
fn killed_at_random_points_then_resume() {
    // Real SIGKILLs at a few delays; whatever point is hit, the re-run must converge.
    let reference = reference();
    for delay_ms in [5u64, 60, 250] {
        let node = Node::new();
        let mut child = Command::new(runner_support::BIN)
            .args(["--root", node.root().to_str().unwrap(), "init"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        node.run_ok(&["init"]);
        assert_eq!(node.journal()["result"], "succeeded");
        assert_same_nodes(reference.root(), node.root());
    }
}
