//! Thumbnails: the ladder's sizes, EXIF orientation, GIF first frame, formats, and bombs.

mod common;

use image::{ImageEncoder, Rgb, RgbImage};
use wochat::media::{PREVIEW_MAX_BYTES, ThumbError, make_thumbs};

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x ^ y) & 0xff) as u8]))
}

fn noise(w: u32, h: u32) -> RgbImage {
    let mut bytes = vec![0u8; (w * h * 3) as usize];
    for c in bytes.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c).unwrap();
    }
    RgbImage::from_raw(w, h, bytes).unwrap()
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    // A minimal little-endian TIFF with one IFD entry: Orientation (0x0112), SHORT, 1 value.
    let mut exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    exif.extend_from_slice(&orientation.to_le_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8).unwrap();
    out
}

fn dims(jpeg: &[u8]) -> (u32, u32) {
    image::load_from_memory(jpeg).map(|i| (i.width(), i.height())).unwrap()
}

#[test]
fn ladder_sizes_for_a_large_noisy_png() {
    let t = make_thumbs(&png(&noise(2400, 1600))).unwrap();
    assert_eq!((t.width, t.height), (2400, 1600));
    assert!(t.preview.len() <= PREVIEW_MAX_BYTES, "preview is {} bytes", t.preview.len());
    let (pw, ph) = dims(&t.preview);
    assert!(pw.max(ph) <= 320 && pw > ph, "{pw}x{ph}");
    assert_eq!(dims(&t.display), (1080, 720));
    assert_eq!(dims(&t.avatar), (256, 256));
}

#[test]
fn small_images_are_not_enlarged() {
    let t = make_thumbs(&png(&gradient(200, 100))).unwrap();
    assert_eq!(dims(&t.display), (200, 100));
    assert_eq!(dims(&t.preview), (200, 100));
}

#[test]
fn exif_orientation_is_honoured_and_large_jpegs_decode_scaled() {
    // 3000 x 2000 landscape pixels, tagged "rotate 90": shown as portrait.
    let t = make_thumbs(&jpeg_with_orientation(&gradient(3000, 2000), 6)).unwrap();
    assert_eq!((t.width, t.height), (2000, 3000));
    let (w, h) = dims(&t.display);
    assert_eq!(h, 1080);
    assert!(w < h, "{w}x{h}");
    let t = make_thumbs(&jpeg_with_orientation(&gradient(3000, 2000), 1)).unwrap();
    assert_eq!(dims(&t.display), (1080, 720));
}

#[test]
fn gif_webp_and_bmp_work() {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, RgbaImage};
    let mut gif = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut gif);
        let red = RgbaImage::from_pixel(64, 48, image::Rgba([255, 0, 0, 255]));
        let blue = RgbaImage::from_pixel(64, 48, image::Rgba([0, 0, 255, 255]));
        enc.encode_frames(
            [red, blue].into_iter().map(|f| Frame::from_parts(f, 0, 0, Delay::from_numer_denom_ms(100, 1))),
        )
        .unwrap();
    }
    let t = make_thumbs(&gif).unwrap();
    assert_eq!((t.width, t.height), (64, 48));
    let first = image::load_from_memory(&t.display).unwrap().to_rgb8();
    let p = first.get_pixel(32, 24);
    assert!(p[0] > 200 && p[2] < 60, "the first (red) frame: {p:?}");

    let img = gradient(300, 200);
    for format in [image::ImageFormat::WebP, image::ImageFormat::Bmp] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut bytes, format).unwrap();
        let t = make_thumbs(bytes.get_ref()).unwrap();
        assert_eq!((t.width, t.height), (300, 200), "{format:?}");
    }
}

#[test]
fn a_decompression_bomb_is_refused() {
    // A PNG that declares 60000 x 60000 pixels (10.8 GB of RGB) with a tiny body.
    let e = make_thumbs(&common::images::bomb_png(60000, 60000, 2)).unwrap_err();
    assert!(matches!(e, ThumbError::TooLarge { width: 60000, height: 60000 }), "{e}");
    assert!(e.to_string().contains("too large"), "{e}");
    // Within the side limit but beyond the memory limit: also refused.
    assert!(matches!(make_thumbs(&common::images::bomb_png(16000, 16000, 6)), Err(ThumbError::TooLarge { .. })));
    // Garbage is a decode error.
    assert!(matches!(make_thumbs(b"\x89PNG\r\n\x1a\nnot really"), Err(ThumbError::Decode(_))));
    assert!(make_thumbs(b"\xff\xd8\xff\xe0garbage").is_err());
}
