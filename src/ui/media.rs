//! Attachments in the conversation, worked out on the backend thread: previews decoded to
//! pixels (bounded), pictures and GIF players for the viewer, files exported for
//! opening or saving. The UI thread only uploads finished pixels as textures.

use std::io::Cursor;
use std::sync::Arc;

use eframe::egui;

use crate::media::{Frame, GifPlayer, MAX_ALLOC, MAX_SIDE, decode_slot};
use crate::objects::{ObjectId, ObjectStore};

/// Why a picture cannot be shown in the viewer.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The original is larger than the viewer decodes.
    #[error("too large to show")]
    TooLarge,
    /// The stored file cannot be read (missing, damaged).
    #[error(transparent)]
    Object(#[from] crate::objects::ObjectError),
    /// Reading it failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The GIF player refused it or could not start.
    #[error(transparent)]
    Animation(#[from] crate::media::ThumbError),
    /// The picture does not decode within the limits.
    #[error(transparent)]
    Image(#[from] image::ImageError),
}

/// Largest side of a picture shown in the viewer.
const VIEWER_MAX: u32 = 1600;
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

/// What the viewer shows: one picture, or a GIF playing.
#[derive(Debug, Clone)]
pub struct Viewed {
    /// The file.
    pub file: ObjectId,
    /// The picture or the player.
    pub content: ViewedContent,
}

/// A still picture or an animation.
#[derive(Debug, Clone)]
pub enum ViewedContent {
    /// One picture, at most [`VIEWER_MAX`] a side.
    Still(Arc<egui::ColorImage>),
    /// A GIF, decoded frame by frame as it plays (at most four frames held).
    Gif(Arc<GifPlayer>),
}

/// Reads and decodes `source` for the viewer within the decoder's limits; a GIF starts playing.
pub fn load_for_viewer(
    objects: &ObjectStore,
    source: ObjectId,
    gif: bool,
    file: ObjectId,
) -> Result<Viewed, ViewError> {
    let mut reader = objects.open_reader(&source)?;
    if reader.size() > MAX_VIEW_SOURCE {
        return Err(ViewError::TooLarge);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut bytes)?;
    let content = if gif {
        ViewedContent::Gif(Arc::new(GifPlayer::start(bytes.into(), VIEWER_MAX)?))
    } else {
        ViewedContent::Still(Arc::new(still(&bytes)?))
    };
    Ok(Viewed { file, content })
}

/// A frame of a GIF as an egui picture.
pub fn frame_image(frame: &Frame) -> egui::ColorImage {
    egui::ColorImage::from_rgba_unmultiplied([frame.width as usize, frame.height as usize], &frame.rgba)
}

fn still(bytes: &[u8]) -> Result<egui::ColorImage, ViewError> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = {
        let _slot = decode_slot();
        reader.decode()?
    };
    let img = if img.width().max(img.height()) > VIEWER_MAX {
        img.resize(VIEWER_MAX, VIEWER_MAX, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let rgba = img.to_rgba8();
    Ok(egui::ColorImage::from_rgba_unmultiplied([rgba.width() as usize, rgba.height() as usize], rgba.as_raw()))
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
