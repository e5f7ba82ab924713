//! Decoding a CBOR packet: never panics; what decodes re-encodes to a packet that decodes equal.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::packet_decode(data));
