//! Replays the fuzz seeds and every crash input the fuzzers found (`fuzz/regressions/TARGET/`)
//! through the fuzz targets' own checks, so a fixed crash stays fixed.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [fuzz.join("seeds").join(target), fuzz.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{} fails {target}", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn envelope_inputs() {
    assert!(replay("envelope_open", checks::envelope_open) > 0);
}

#[test]
fn packet_inputs() {
    assert!(replay("packet_decode", checks::packet_decode) > 0);
}

#[test]
fn message_inputs() {
    assert!(replay("message_decode", checks::message_decode) > 0);
}

#[test]
fn chunk_inputs() {
    replay("chunk_reassembler", checks::chunk_reassembler);
    // A whole honest file in order, and the same with one chunk tampered with.
    let size: u32 = 2 * 65536 + 10;
    let mut honest = size.to_le_bytes()[..3].to_vec();
    honest.push(0);
    honest.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 2, 0, 3, 0, 0]);
    checks::chunk_reassembler(&honest);
    let mut tampered = honest.clone();
    tampered.extend_from_slice(&[1, 1, 9, 3, 0, 0]);
    checks::chunk_reassembler(&tampered);
}

#[test]
fn v2_inputs() {
    assert!(replay("v2_receive", checks::v2_receive) > 0);
    // Alice's real messages as they are, and each with its sender changed to carol: the
    // first ones (pre-key) and those after bob's reply (normal).
    for mode in [3, 6] {
        for which in 0..2 {
            checks::v2_receive(&[mode, which]);
            checks::v2_receive(&[mode, which, 7, 0, 0]);
        }
    }
}

#[test]
fn config_inputs() {
    assert!(replay("config_parse", checks::config_parse) > 0);
}

#[test]
fn image_inputs() {
    replay("image_preview", checks::image_preview);
}

/// Writes small images of every decoded format as seeds for `image_preview`.
#[test]
#[ignore = "run once to (re)write fuzz/seeds/image_preview"]
fn write_image_seeds() {
    use image::{ImageFormat, RgbaImage};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/image_preview");
    std::fs::create_dir_all(&dir).unwrap();
    let img = RgbaImage::from_fn(24, 16, |x, y| image::Rgba([(x * 10) as u8, (y * 15) as u8, 128, 255]));
    for (name, format) in [
        ("tiny.png", ImageFormat::Png),
        ("tiny.jpg", ImageFormat::Jpeg),
        ("tiny.gif", ImageFormat::Gif),
        ("tiny.webp", ImageFormat::WebP),
        ("tiny.bmp", ImageFormat::Bmp),
    ] {
        let mut out = std::io::Cursor::new(Vec::new());
        let dynamic = image::DynamicImage::ImageRgba8(img.clone());
        let dynamic =
            if format == ImageFormat::Jpeg { image::DynamicImage::ImageRgb8(dynamic.to_rgb8()) } else { dynamic };
        dynamic.write_to(&mut out, format).unwrap();
        std::fs::write(dir.join(name), out.into_inner()).unwrap();
    }
}
