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
fn backup_inputs() {
    replay("backup_restore", checks::backup_restore);
    // An honest backup, and the same changed in the ways a crafted one would be.
    for (name, seed) in backup_seeds() {
        let restores = matches!(name, "honest" | "unreadable-settings");
        assert_eq!(checks::restore_any_backup(&seed), restores, "{name}");
    }
}

/// Mode 1 inputs of `backup_restore`: an honest backup's plaintext, and variants of it.
fn backup_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let plain = checks::backup_plaintext();
    let with = |from: &str, to: &str| {
        // Same length, so that the entry sizes stay right.
        assert_eq!(from.len(), to.len());
        let at = plain.windows(from.len()).position(|w| w == from.as_bytes()).expect(from);
        let mut v = vec![1u8];
        v.extend_from_slice(&plain);
        v[1 + at..1 + at + to.len()].copy_from_slice(to.as_bytes());
        v
    };
    let mut honest = vec![1u8];
    honest.extend_from_slice(&plain);
    vec![
        ("honest", honest),
        ("unreadable-settings", with("[broker]\nurls", "[nobody]\nurls")),
        ("object-path-escapes", with(&format!("ab/{}", "c".repeat(62)), &format!("../{}", "c".repeat(62)))),
        ("object-path-nested", with(&format!("ab/{}", "c".repeat(62)), &format!("ab/{}/x", "c".repeat(60)))),
        ("object-twice", with(&format!("0f/{}", "1".repeat(62)), &format!("ab/{}", "c".repeat(62)))),
        ("key-without-lanes", with(r#""kdf_p":1"#, r#""kdf_p":0"#)),
        ("account-name-control", with(r#""name":"fuzz""#, "\"name\":\"fu\u{7}z\"")),
        (
            "two-databases",
            with(
                &format!(r#""kind":"object","name":"0f/{}""#, "1".repeat(62)),
                &format!(r#""kind":"chat.db","name":"0f/{}""#, "1".repeat(61)),
            ),
        ),
    ]
}

/// Writes `backup_seeds` as the seeds of the `backup_restore` fuzz target.
#[test]
#[ignore = "run once to (re)write fuzz/seeds/backup_restore"]
fn write_backup_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/backup_restore");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, seed) in backup_seeds() {
        std::fs::write(dir.join(name), seed).unwrap();
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
