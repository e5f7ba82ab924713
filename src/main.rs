//! The `wochat` binary: the CLI, and (without a subcommand) the desktop app.

use clap::Parser;

fn main() {
    let cli = wochat::cli::Cli::parse();
    std::process::exit(wochat::cli::run(cli));
}
