//! The whole decoding of what an envelope carries (unpadding and packet, v2 inner packet, key
//! bundle): never panics; what is accepted is within every field limit and re-encodes to itself.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::message_decode(data));
