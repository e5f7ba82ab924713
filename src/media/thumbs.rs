//! The thumbnail ladder: a preview (longest side <= 320 px, <= 48 KiB, travels inside the
//! message), a display version (longest side 1080 px, cached locally) and a square avatar crop.
//!
//! Decoding is bounded: at most 24,000 pixels a side and a decoder budget of 256 MiB, both
//! checked from the header before anything is allocated (a progressive JPEG counts its
//! coefficient buffers), and one decode at a time in the process ([`decode_slot`]): a
//! decompression bomb is refused with an error, never an out-of-memory, and a flood of pictures
//! waits its turn. JPEGs are decoded at a reduced DCT scale (1/2, 1/4, 1/8) when the largest
//! wanted size allows; EXIF orientation is honoured; resizing uses fast_image_resize.

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

/// Largest accepted width or height.
pub const MAX_SIDE: u32 = 24_000;
/// The decoder's memory budget: what a decode may allocate, estimated from the header.
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// The right to decode one image: one at a time in the process, so that the decoder budget
/// holds for the process and not per thread. Hold it from reading the bytes in to the end.
pub struct DecodeSlot {
    _guard: std::sync::MutexGuard<'static, ()>,
}

/// Waits for the decode slot.
pub fn decode_slot() -> DecodeSlot {
    static SLOT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    DecodeSlot { _guard: SLOT.lock().unwrap_or_else(|e| e.into_inner()) }
}

/// Whether decoding a `width` x `height` image of `bytes_per_pixel` fits the limits.
pub fn fits_budget(width: u32, height: u32, bytes_per_pixel: u64) -> bool {
    width <= MAX_SIDE
        && height <= MAX_SIDE
        && u64::from(width).saturating_mul(u64::from(height)).saturating_mul(bytes_per_pixel) <= MAX_ALLOC
}
/// Longest side of the preview.
pub const PREVIEW_MAX_SIDE: u32 = 320;
/// Largest preview.
pub const PREVIEW_MAX_BYTES: usize = 48 * 1024;
/// Longest side of the display version.
pub const DISPLAY_MAX_SIDE: u32 = 1080;
/// Side of the square avatar.
pub const AVATAR_SIDE: u32 = 256;

/// Why no thumbnail could be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ThumbError {
    /// Declared dimensions or memory beyond the limits (a decompression bomb, or just huge).
    #[error("image too large to decode safely ({width} x {height}; limit {MAX_SIDE} x {MAX_SIDE}, 256 MiB)")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// Not a supported image, or damaged.
    #[error("cannot decode the image: {0}")]
    Decode(String),
}

/// The thumbnails of one image.
#[derive(Debug, Clone)]
pub struct Thumbs {
    /// Width of the original (after EXIF orientation).
    pub width: u32,
    /// Height of the original (after EXIF orientation).
    pub height: u32,
    /// JPEG, longest side <= 320, <= 48 KiB.
    pub preview: Vec<u8>,
    /// JPEG, longest side <= 1080.
    pub display: Vec<u8>,
    /// JPEG, 256 x 256 centre crop.
    pub avatar: Vec<u8>,
}

/// Makes the thumbnail ladder of an image file's bytes (waiting for the decode slot).
pub fn make_thumbs(bytes: &[u8]) -> Result<Thumbs, ThumbError> {
    let slot = decode_slot();
    make_thumbs_in(&slot, bytes)
}

/// [`make_thumbs`] for a caller that holds the decode slot already.
pub fn make_thumbs_in(_slot: &DecodeSlot, bytes: &[u8]) -> Result<Thumbs, ThumbError> {
    let (img, width, height) = decode_bounded(bytes, DISPLAY_MAX_SIDE)?;
    if img.width() == 0 || img.height() == 0 {
        return Err(ThumbError::Decode("the image is empty".into()));
    }
    let display = fit(&img, DISPLAY_MAX_SIDE)?;
    let display_jpeg = encode_jpeg(&display, 85)?;
    let preview = encode_preview(&display)?;
    let avatar = encode_jpeg(&square(&display, AVATAR_SIDE)?, 85)?;
    Ok(Thumbs { width, height, preview, display: display_jpeg, avatar })
}

fn too_large(width: u32, height: u32) -> bool {
    !fits_budget(width, height, 4)
}

/// Decodes to RGB, at least `want` pixels on the longest side where a reduced decode allows;
/// returns the image and the original (oriented) dimensions.
fn decode_bounded(bytes: &[u8], want: u32) -> Result<(RgbImage, u32, u32), ThumbError> {
    if bytes.starts_with(b"\xff\xd8\xff") {
        return decode_jpeg_scaled(bytes, want);
    }
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| ThumbError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(e, bytes))?;
    let (w, h) = decoder.dimensions();
    if too_large(w, h) {
        return Err(ThumbError::TooLarge { width: w, height: h });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, bytes))?;
    img.apply_orientation(orientation);
    let (width, height) = (img.width(), img.height());
    Ok((flatten(img), width, height))
}

fn decode_error(e: image::ImageError, bytes: &[u8]) -> ThumbError {
    match e {
        image::ImageError::Limits(_) => {
            let (w, h) = declared_size(bytes).unwrap_or((u32::MAX, u32::MAX));
            ThumbError::TooLarge { width: w, height: h }
        }
        other => ThumbError::Decode(other.to_string()),
    }
}

/// Dimensions from the header alone, for error messages.
fn declared_size(bytes: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

/// Composites transparency onto white and converts to RGB.
fn flatten(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(p[3]);
        for c in 0..3 {
            o[c] = ((u16::from(p[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    out
}

fn decode_jpeg_scaled(bytes: &[u8], want: u32) -> Result<(RgbImage, u32, u32), ThumbError> {
    let err = |e: jpeg_decoder::Error| ThumbError::Decode(e.to_string());
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(err)?;
    let info = d.info().ok_or_else(|| ThumbError::Decode("no JPEG header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let components: u64 = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => 4,
    };
    // A progressive JPEG keeps every DCT coefficient of the full image (2 bytes each) whatever
    // the output scale; a sequential one decodes row by row at the reduced scale.
    let longest = w.max(h);
    let scale = u64::from(longest.div_ceil(want.max(1)).clamp(1, 8));
    let per_pixel = match info.coding_process {
        jpeg_decoder::CodingProcess::DctProgressive => components * 2,
        _ => (components * 2).div_ceil(scale * scale),
    };
    if w == 0 || h == 0 || !fits_budget(w, h, per_pixel.max(1)) {
        return Err(ThumbError::TooLarge { width: w, height: h });
    }
    if longest > want {
        let f = f64::from(want) / f64::from(longest);
        let rw = ((f64::from(w) * f).ceil() as u16).max(1);
        let rh = ((f64::from(h) * f).ceil() as u16).max(1);
        d.scale(rw, rh).map_err(err)?;
    }
    let pixels = d.decode().map_err(err)?;
    let info = d.info().ok_or_else(|| ThumbError::Decode("no JPEG header".into()))?;
    let (sw, sh) = (u32::from(info.width), u32::from(info.height));
    let rgb: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        jpeg_decoder::PixelFormat::L16 => pixels.chunks_exact(2).flat_map(|c| [c[0], c[0], c[0]]).collect(),
        jpeg_decoder::PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|c| {
                let k = u16::from(c[3]);
                [c[0], c[1], c[2]].map(|v| (u16::from(v) * k / 255) as u8)
            })
            .collect(),
    };
    let img = RgbImage::from_raw(sw, sh, rgb).ok_or_else(|| ThumbError::Decode("short JPEG data".into()))?;
    let orientation = d.exif_data().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let mut dynamic = DynamicImage::ImageRgb8(img);
    dynamic.apply_orientation(orientation);
    let (ow, oh) = match orientation {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (h, w)
        }
        _ => (w, h),
    };
    Ok((dynamic.into_rgb8(), ow, oh))
}

/// Resizes so the longest side is at most `max` (never enlarges).
fn fit(img: &RgbImage, max: u32) -> Result<RgbImage, ThumbError> {
    let (w, h) = img.dimensions();
    let longest = w.max(h);
    if longest <= max {
        return Ok(img.clone());
    }
    let f = f64::from(max) / f64::from(longest);
    let (dw, dh) = (((f64::from(w) * f).round() as u32).max(1), ((f64::from(h) * f).round() as u32).max(1));
    resize(img, dw, dh, false)
}

/// A centred square crop of `side` pixels.
fn square(img: &RgbImage, side: u32) -> Result<RgbImage, ThumbError> {
    resize(img, side, side, true)
}

fn resize(img: &RgbImage, dw: u32, dh: u32, crop: bool) -> Result<RgbImage, ThumbError> {
    let err = |e: String| ThumbError::Decode(format!("cannot resize: {e}"));
    let (w, h) = img.dimensions();
    let src = Image::from_vec_u8(w, h, img.as_raw().clone(), PixelType::U8x3).map_err(|e| err(e.to_string()))?;
    let mut dst = Image::new(dw, dh, PixelType::U8x3);
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    if crop {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| err(e.to_string()))?;
    RgbImage::from_raw(dw, dh, dst.into_vec()).ok_or_else(|| err("short buffer".into()))
}

fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, ThumbError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| ThumbError::Decode(e.to_string()))?;
    Ok(out)
}

/// The preview: at most 320 px and 48 KiB, lowering quality, then size, until it fits.
fn encode_preview(img: &RgbImage) -> Result<Vec<u8>, ThumbError> {
    let mut side = PREVIEW_MAX_SIDE;
    loop {
        let small = fit(img, side)?;
        for q in [80, 70, 60, 50, 40] {
            let jpeg = encode_jpeg(&small, q)?;
            if jpeg.len() <= PREVIEW_MAX_BYTES {
                return Ok(jpeg);
            }
        }
        side = side * 3 / 4;
        if side < 16 {
            return Err(ThumbError::Decode("cannot make a small enough preview".into()));
        }
    }
}
