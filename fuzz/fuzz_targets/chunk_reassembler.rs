//! The receiver's reassembly of a file from chunks in any order, of any length, repeated or
//! tampered with: never panics; wrong lengths are refused; `missing` tells exactly what is
//! absent; finishing succeeds exactly when every chunk is right and the id is the file's hash,
//! and then the stored object reads back byte-identical.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::chunk_reassembler(data));
