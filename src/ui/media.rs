//! Attachments in the conversation, worked out on the backend thread: previews decoded to
//! pixels (bounded), full-size images and GIF frames for the viewer, files exported for
//! opening or saving. The UI thread only uploads finished pixels as textures.

use std::io::Cursor;
use std::sync::Arc;

use eframe::egui;

use crate::objects::{ObjectId, ObjectStore};

/// Largest side of a picture shown in the viewer.
const VIEWER_MAX: u32 = 1600;
/// Most GIF frames kept for the viewer.
const MAX_FRAMES: usize = 300;
/// Largest original decoded for the viewer when there is no display version.
const MAX_VIEW_SOURCE: u64 = 32 << 20;

/// Decodes a preview from a peer: at most 48 KiB of JPEG/PNG, at most 1024 px a side.
pub fn decode_preview(bytes: &[u8]) -> Option<egui::ColorImage> {
    if bytes.len() > 64 * 1024 {
        return None;
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(1024);
    limits.max_image_height = Some(1024);
    limits.max_alloc = Some(8 << 20);
    reader.limits(limits);
    let img = reader.decode().ok()?.to_rgba8();
    Some(egui::ColorImage::from_rgba_unmultiplied([img.width() as usize, img.height() as usize], img.as_raw()))
}

/// What the viewer shows: one picture, or the frames of a GIF with their delays (ms).
#[derive(Debug, Clone)]
pub struct Viewed {
    /// The file.
    pub file: ObjectId,
    /// Frames and delays; one frame for a still picture.
    pub frames: Vec<(Arc<egui::ColorImage>, u32)>,
}

/// Reads and decodes `source` for the viewer (bounded); every frame of a GIF.
pub fn load_for_viewer(objects: &ObjectStore, source: ObjectId, gif: bool, file: ObjectId) -> Result<Viewed, String> {
    let mut reader = objects.open_reader(&source).map_err(|e| e.to_string())?;
    if reader.size() > MAX_VIEW_SOURCE {
        return Err("too large to show".into());
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(|e| e.to_string())?;
    let frames = if gif { gif_frames(&bytes)? } else { vec![(Arc::new(still(&bytes)?), 0)] };
    Ok(Viewed { file, frames })
}

fn still(bytes: &[u8]) -> Result<egui::ColorImage, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let img = if img.width().max(img.height()) > VIEWER_MAX {
        img.resize(VIEWER_MAX, VIEWER_MAX, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let rgba = img.to_rgba8();
    Ok(egui::ColorImage::from_rgba_unmultiplied([rgba.width() as usize, rgba.height() as usize], rgba.as_raw()))
}

fn gif_frames(bytes: &[u8]) -> Result<Vec<(Arc<egui::ColorImage>, u32)>, String> {
    use image::AnimationDecoder;
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for frame in decoder.into_frames().take(MAX_FRAMES) {
        let frame = frame.map_err(|e| e.to_string())?;
        let (n, d) = frame.delay().numer_denom_ms();
        let delay = n.checked_div(d).map_or(100, |ms| ms.max(20));
        let buf = frame.into_buffer();
        let image =
            egui::ColorImage::from_rgba_unmultiplied([buf.width() as usize, buf.height() as usize], buf.as_raw());
        out.push((Arc::new(image), delay));
    }
    if out.is_empty() {
        return Err("no frames".into());
    }
    Ok(out)
}

/// "1.5 MB" style size.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1000 => format!("{b} B"),
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b if b < 1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.2} GB", b as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_decode_within_bounds_and_junk_is_refused() {
        let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg).encode_image(&img).unwrap();
        let p = decode_preview(&jpeg).unwrap();
        assert_eq!(p.size, [40, 30]);
        assert!(decode_preview(b"not an image").is_none());
        assert!(decode_preview(&vec![0u8; 100_000]).is_none());
        assert_eq!(human_size(1_500_000), "1.5 MB");
    }
}
