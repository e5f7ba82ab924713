//! Parsing `config.toml`: never panics; what parses and validates saves and parses back equal.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config_parse(data));
