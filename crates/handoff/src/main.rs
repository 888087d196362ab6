//! The `handoff` command: parse arguments, start logging, run, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = handoff::cli::Cli::parse();
    handoff::cli::init_logging(cli.verbose, cli.quiet);
    match handoff::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("handoff: {err:#}");
            ExitCode::from(handoff::cli::EXIT_ERROR)
        }
    }
}
