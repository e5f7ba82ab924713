//! The `wochat` binary: the CLI, and (without a subcommand) the desktop app.

use clap::Parser;

fn main() {
    let cli = wochat::cli::Cli::parse();
    if cli.command.is_none() {
        let code = match wochat::cli::resolve_home(&cli).and_then(wochat::ui::run) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("wochat: {e:#}");
                1
            }
        };
        std::process::exit(code);
    }
    std::process::exit(wochat::cli::run(cli));
}
