//! A real account opening protocol v2 envelopes: see `checks::v2_receive`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::v2_receive(data));
