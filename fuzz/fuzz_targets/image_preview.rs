//! Making previews of any bytes a peer or a user gives as an image: never panics, never
//! allocates beyond the decoding limits, and what comes out respects the preview bounds.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::image_preview(data));
