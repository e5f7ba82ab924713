//! Fault points for crash tests. `WOCHAT_FAULT=name[,name...]` makes the process stop dead at
//! the named points, as a power loss or a kill would; unset (always, outside tests) they do
//! nothing.
//!
//! Points: `exit-before-commit` (inside the store transaction of a batch that stored a
//! message), `exit-after-commit` (after that commit, before its receipts are published).
//! `slow-backup` does not stop anything: a backup takes 2 s longer (to test that only one
//! runs at a time).

use std::sync::OnceLock;

/// The names in `WOCHAT_FAULT`, read once.
fn armed_points() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("WOCHAT_FAULT")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    })
}

/// Whether the fault point `name` is armed.
pub fn armed(name: &str) -> bool {
    armed_points().iter().any(|p| p == name)
}

/// Ends the process at once, without unwinding or closing anything, when `name` is armed.
pub fn crash_if(name: &str) {
    if armed(name) {
        eprintln!("wochat: fault point {name} reached, stopping");
        std::process::exit(86);
    }
}
