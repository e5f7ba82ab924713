//! The `wochat` binary: the CLI, and (without a subcommand) the desktop app.

use clap::Parser;

fn main() {
    let cli = wochat::cli::Cli::parse();
    if cli.command.is_none() {
        std::process::exit(desktop_app(&cli));
    }
    std::process::exit(wochat::cli::run(cli));
}

/// Opens the desktop app on the data home.
#[cfg(feature = "gui")]
fn desktop_app(cli: &wochat::cli::Cli) -> i32 {
    match wochat::cli::resolve_home(cli).and_then(|home| wochat::ui::run(home, cli.broker_urls.clone())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wochat: {e:#}");
            1
        }
    }
}

/// This build has no desktop app.
#[cfg(not(feature = "gui"))]
fn desktop_app(_cli: &wochat::cli::Cli) -> i32 {
    eprintln!("wochat: this build has no desktop app (built without the `gui` feature); see `wochat --help`");
    2
}
