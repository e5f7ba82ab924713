//! The `wochat` binary: the CLI, and (without a subcommand) the desktop app.
//!
//! On Windows it is a GUI-subsystem program, so that no console window opens beside the app.
//! Given arguments from a terminal, it attaches to that terminal's console and the CLI prints
//! there (output redirected to a pipe or a file works as it is); a fatal start-up error of the
//! app is shown in a message box. One binary serves both, as on the other platforms: a second,
//! console-subsystem binary would double the build for a difference only `cmd.exe` sees (it
//! shows its prompt before a GUI program's output; `start /wait wochat ...` waits).

#![cfg_attr(windows, windows_subsystem = "windows")]

use clap::Parser;

fn main() {
    #[cfg(windows)]
    if std::env::args_os().len() > 1 {
        attach_parent_console();
    }
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
            #[cfg(any(windows, target_os = "macos"))]
            fatal_message_box(&format!("{e:#}"));
            1
        }
    }
}

/// Shows a start-up error where a user who double-clicked the app sees it (no terminal).
#[cfg(all(feature = "gui", any(windows, target_os = "macos")))]
fn fatal_message_box(text: &str) {
    let _ = rfd::MessageDialog::new()
        .set_level(rfd::MessageLevel::Error)
        .set_title("WoChat cannot start")
        .set_description(text)
        .set_buttons(rfd::MessageButtons::Ok)
        .show();
}

/// Prints to the terminal the program was started from, unless the output is redirected.
#[cfg(windows)]
fn attach_parent_console() {
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole, GetStdHandle, STD_OUTPUT_HANDLE};
    // SAFETY: plain Win32 calls without pointers; failing (no parent console) changes nothing.
    unsafe {
        let out = GetStdHandle(STD_OUTPUT_HANDLE);
        if out.is_null() || out == INVALID_HANDLE_VALUE {
            AttachConsole(ATTACH_PARENT_PROCESS);
        }
    }
}

/// This build has no desktop app.
#[cfg(not(feature = "gui"))]
fn desktop_app(_cli: &wochat::cli::Cli) -> i32 {
    eprintln!("wochat: this build has no desktop app (built without the `gui` feature); see `wochat --help`");
    2
}
