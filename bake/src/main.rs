//! `bake`: build, sign, verify and inspect kubebake offline bundles.

mod cli;
mod cmd;
mod output;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAKE_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    if let Err(e) = cmd::run(cli) {
        if e.downcast_ref::<cmd::Reported>().is_none() {
            eprintln!("error: {e:#}");
        }
        std::process::exit(cmd::exit_code(&e));
    }
}
