//! Opening an envelope from anyone: raw bytes (mode 0), or any padded payload sealed for real
//! (mode 1), so that unpadding and decoding behind the authentication are reached too.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::envelope_open(data));
