//! Command implementations; `main` delegates here.

mod bundle;
mod node;

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
        Command::Stage(a) => node::stage(a),
        Command::Check(a) => node::check(a),
    }
}

/// An error that has already been reported and only sets the exit code.
#[derive(Debug)]
pub struct Reported(pub i32);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Reported {}

/// The exit code for an error: bad input or failure.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if let Some(Reported(code)) = e.downcast_ref::<Reported>() {
        return *code;
    }
    match e.downcast_ref::<offline::Error>() {
        Some(offline::Error::Spec { .. }) => EXIT_BAD_INPUT,
        _ => EXIT_FAILED,
    }
}
