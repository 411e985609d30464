//! Shared test support for kubebake: fixture release mirrors with stand-in binaries, fixture
//! container images as OCI layouts, and launchers for the real services tests run against
//! (an HTTP server, a `docker-registry`). Nothing here is product code.

pub mod images;
pub mod mirror;
pub mod services;
pub mod tamper;

use std::path::PathBuf;

/// Path of a workspace binary (`bake`, `firstboot`) built by cargo next to the running test.
pub fn cargo_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built (run `cargo build --workspace` first)",
        p.display()
    );
    p
}

/// Fail with a clear message when a tool a test needs is missing.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = PathBuf::from(dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{tool}` is required by this test: install the Debian package `{package}` (the README's test command does)");
}
