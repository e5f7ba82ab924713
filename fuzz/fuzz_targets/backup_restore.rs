//! A backup file of any content checked and restored: see `checks::backup_restore`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::backup_restore(data));
