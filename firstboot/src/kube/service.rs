//! Starting and stopping node services (the kubelet) behind one small trait, so tests and
//! `--root` runs can replace systemd.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// What firstboot needs from the node's service manager.
pub trait ServiceManager: Send + Sync {
    /// Enables `unit` to start at boot (missing unit is an error).
    fn enable(&self, unit: &str) -> anyhow::Result<()>;
    /// Restarts `unit` (starts it when stopped).
    fn restart(&self, unit: &str) -> anyhow::Result<()>;
    /// Stops `unit` (not running is fine).
    fn stop(&self, unit: &str) -> anyhow::Result<()>;
    /// Whether `unit` is active.
    fn is_active(&self, unit: &str) -> anyhow::Result<bool>;
}

/// systemd through `systemctl`.
#[derive(Debug, Default)]
pub struct Systemd;

fn systemctl(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new("systemctl")
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run systemctl {}: {e}", args.join(" ")))
}

fn check(args: &[&str]) -> anyhow::Result<()> {
    let out = systemctl(args)?;
    if out.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "systemctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    }
}

impl ServiceManager for Systemd {
    fn enable(&self, unit: &str) -> anyhow::Result<()> {
        check(&["enable", unit])
    }
    fn restart(&self, unit: &str) -> anyhow::Result<()> {
        check(&["daemon-reload"])?;
        check(&["restart", unit])
    }
    fn stop(&self, unit: &str) -> anyhow::Result<()> {
        let out = systemctl(&["stop", unit])?;
        // 5: unit not loaded — nothing to stop.
        if out.status.success() || out.status.code() == Some(5) {
            Ok(())
        } else {
            anyhow::bail!(
                "systemctl stop {unit} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        }
    }
    fn is_active(&self, unit: &str) -> anyhow::Result<bool> {
        Ok(systemctl(&["is-active", "--quiet", unit])?.status.success())
    }
}

/// Runs `PROGRAM ACTION UNIT` for every action (`FIRSTBOOT_SERVICE_COMMAND`): lets images
/// without systemd, and end-to-end tests with a stand-in kubelet, plug in their own manager.
/// `is-active` is true when the program exits 0.
#[derive(Debug)]
pub struct CommandServices {
    /// The program.
    pub program: PathBuf,
}

impl CommandServices {
    fn run(&self, action: &str, unit: &str) -> anyhow::Result<bool> {
        let status = Command::new(&self.program)
            .args([action, unit])
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.program.display()))?;
        Ok(status.success())
    }
    fn must(&self, action: &str, unit: &str) -> anyhow::Result<()> {
        if self.run(action, unit)? {
            Ok(())
        } else {
            anyhow::bail!("{} {action} {unit} failed", self.program.display())
        }
    }
}

impl ServiceManager for CommandServices {
    fn enable(&self, unit: &str) -> anyhow::Result<()> {
        self.must("enable", unit)
    }
    fn restart(&self, unit: &str) -> anyhow::Result<()> {
        self.must("restart", unit)
    }
    fn stop(&self, unit: &str) -> anyhow::Result<()> {
        self.must("stop", unit)
    }
    fn is_active(&self, unit: &str) -> anyhow::Result<bool> {
        self.run("is-active", unit)
    }
}

/// Touches no service: used when `--root` is not `/` (the node is a directory, nothing can
/// run there). Records what it was asked, for tests and messages.
#[derive(Debug, Default)]
pub struct NoServices {
    calls: Mutex<Vec<String>>,
}

impl NoServices {
    /// `restart kubelet`, ... in call order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
    fn record(&self, action: &str, unit: &str) {
        tracing::info!("not running `{action} {unit}`: the node root is a directory");
        if let Ok(mut c) = self.calls.lock() {
            c.push(format!("{action} {unit}"));
        }
    }
}

impl ServiceManager for NoServices {
    fn enable(&self, unit: &str) -> anyhow::Result<()> {
        self.record("enable", unit);
        Ok(())
    }
    fn restart(&self, unit: &str) -> anyhow::Result<()> {
        self.record("restart", unit);
        Ok(())
    }
    fn stop(&self, unit: &str) -> anyhow::Result<()> {
        self.record("stop", unit);
        Ok(())
    }
    fn is_active(&self, unit: &str) -> anyhow::Result<bool> {
        self.record("is-active", unit);
        Ok(false)
    }
}
