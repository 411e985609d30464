//! `firstboot`: kubeadm-compatible first-boot agent. See `firstboot --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = firstboot::cli::main_with(std::env::args_os(), None);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
