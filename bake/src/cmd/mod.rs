//! Command implementations; `main` delegates here.

mod bundle;

use crate::cli::{BundleCommand, Cli, Command};

/// Exit code for bad input (spec, usage).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code for any other failure (fetch, verification, I/O).
pub const EXIT_FAILED: i32 = 1;

/// Run the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bundle(BundleCommand::Create(a)) => bundle::create(a),
        Command::Bundle(BundleCommand::Verify(a)) => bundle::verify(a),
        Command::Bundle(BundleCommand::Inspect(a)) => bundle::inspect(a),
        Command::Bundle(BundleCommand::Sign(a)) => bundle::sign(a),
        Command::Bundle(BundleCommand::Unpack(a)) => bundle::unpack(a),
    }
}

/// The exit code for an error: bad input or failure.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<offline::Error>() {
        Some(offline::Error::Spec { .. }) => EXIT_BAD_INPUT,
        _ => EXIT_FAILED,
    }
}
