//! A GIF played as a stream: frames are decoded one at a time on a thread of their own, scaled
//! to display size and handed over through a short queue, so at most [`MAX_HELD_FRAMES`] frames
//! exist at once however long the animation is. The canvas is checked against the decoder
//! budget from the header before anything is allocated, each frame is decoded holding the
//! process's decode slot, and the thread ends when the player is dropped.

use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};

use image::codecs::gif::GifDecoder;
use image::{AnimationDecoder, ImageDecoder, RgbaImage};

use super::thumbs::{MAX_ALLOC, MAX_SIDE, ThumbError, decode_slot, fits_budget};

/// Most frames alive at once: one on screen, two queued, one being decoded.
pub const MAX_HELD_FRAMES: usize = 4;
/// Shortest frame delay honoured (browsers do the same with 0 and 10 ms delays).
const MIN_DELAY_MS: u32 = 20;
/// The GIF decoder keeps the composed canvas, the frame being composed and its raw pixels.
const CANVAS_BYTES_PER_PIXEL: u64 = 4 * 3;

/// One frame at display size.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA pixels, row by row, not premultiplied.
    pub rgba: Vec<u8>,
    /// How long it stays on screen, in milliseconds.
    pub delay_ms: u32,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{}, {} ms)", self.width, self.height, self.delay_ms)
    }
}

/// A GIF being played: take frames with [`GifPlayer::next_frame`] as they fall due.
pub struct GifPlayer {
    frames: Mutex<Receiver<Result<Frame, ThumbError>>>,
    stop: Arc<AtomicBool>,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for GifPlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GifPlayer({}x{})", self.width, self.height)
    }
}

impl GifPlayer {
    /// Starts playing `bytes` (a GIF), frames scaled to at most `max_side` pixels a side; the
    /// animation loops for as long as the player lives. Refuses a canvas beyond the limits.
    pub fn start(bytes: Arc<[u8]>, max_side: u32) -> Result<Self, ThumbError> {
        let (width, height) = canvas(&bytes)?;
        let (tx, rx) = sync_channel(MAX_HELD_FRAMES - 2);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        std::thread::Builder::new()
            .name("gif-player".into())
            .spawn(move || play(&bytes, max_side.max(1), &tx, &thread_stop))
            .map_err(|e| ThumbError::Decode(format!("cannot start the player: {e}")))?;
        Ok(Self { frames: Mutex::new(rx), stop, width, height })
    }

    /// The canvas size the GIF declares.
    pub fn canvas(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The next frame if it is decoded (`Ok(None)`: not yet; an error ends the animation).
    pub fn next_frame(&self) -> Result<Option<Frame>, ThumbError> {
        let rx = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        match rx.try_recv() {
            Ok(frame) => frame.map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(ThumbError::Decode("the animation ended".into())),
        }
    }

    /// Waits for the next frame (for tests and tools; the UI uses [`GifPlayer::next_frame`]).
    pub fn wait_frame(&self) -> Result<Frame, ThumbError> {
        let rx = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        rx.recv().unwrap_or_else(|_| Err(ThumbError::Decode("the animation ended".into())))
    }
}

impl Drop for GifPlayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The canvas a GIF declares, refused when decoding it would break the budget.
fn canvas(bytes: &[u8]) -> Result<(u32, u32), ThumbError> {
    let decoder = GifDecoder::new(Cursor::new(bytes)).map_err(|e| ThumbError::Decode(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ThumbError::Decode("the image is empty".into()));
    }
    if !fits_budget(width, height, CANVAS_BYTES_PER_PIXEL) {
        return Err(ThumbError::TooLarge { width, height });
    }
    Ok((width, height))
}

/// The player's thread: decode, scale, queue; loop until the receiver or the player is gone.
fn play(bytes: &[u8], max_side: u32, tx: &SyncSender<Result<Frame, ThumbError>>, stop: &AtomicBool) {
    loop {
        let mut decoded = 0usize;
        let mut frames = match frames(bytes) {
            Ok(frames) => frames,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let next = {
                let _slot = decode_slot();
                frames.next().map(|f| f.map_err(|e| ThumbError::Decode(e.to_string())).map(|f| scaled(f, max_side)))
            };
            match next {
                None => break,
                Some(frame) => {
                    let failed = frame.is_err();
                    if tx.send(frame).is_err() || failed {
                        return;
                    }
                    decoded += 1;
                }
            }
        }
        // A still GIF is shown once; an animation loops.
        if decoded <= 1 {
            return;
        }
    }
}

fn frames(bytes: &[u8]) -> Result<image::Frames<'_>, ThumbError> {
    let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(|e| ThumbError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    decoder.set_limits(limits).map_err(|e| ThumbError::Decode(e.to_string()))?;
    Ok(decoder.into_frames())
}

fn scaled(frame: image::Frame, max_side: u32) -> Frame {
    let (n, d) = frame.delay().numer_denom_ms();
    let delay_ms = n.checked_div(d).map_or(100, |ms| ms.max(MIN_DELAY_MS));
    let buffer: RgbaImage = frame.into_buffer();
    let (w, h) = buffer.dimensions();
    let buffer = if w.max(h) > max_side {
        let f = f64::from(max_side) / f64::from(w.max(h));
        let (tw, th) = (((f64::from(w) * f).round() as u32).max(1), ((f64::from(h) * f).round() as u32).max(1));
        image::imageops::thumbnail(&buffer, tw, th)
    } else {
        buffer
    };
    let (width, height) = buffer.dimensions();
    Frame { width, height, rgba: buffer.into_raw(), delay_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GIF of `frames` frames on a `w` x `h` canvas, each frame a 2 x 2 square moving along.
    pub(crate) fn animation(w: u16, h: u16, frames: u16) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = gif::Encoder::new(&mut out, w, h, &[0, 0, 0, 255, 255, 255]).unwrap();
            enc.set_repeat(gif::Repeat::Infinite).unwrap();
            for i in 0..frames {
                let mut f = gif::Frame::from_indexed_pixels(2, 2, vec![1; 4], None);
                f.left = i % w.saturating_sub(2).max(1);
                f.top = i % h.saturating_sub(2).max(1);
                f.delay = 2;
                enc.write_frame(&f).unwrap();
            }
        }
        out
    }

    #[test]
    fn frames_come_scaled_and_the_animation_loops() {
        let player = GifPlayer::start(animation(400, 200, 3).into(), 100).unwrap();
        assert_eq!(player.canvas(), (400, 200));
        for _ in 0..7 {
            let f = player.wait_frame().unwrap();
            assert_eq!((f.width, f.height, f.delay_ms), (100, 50, 20));
            assert_eq!(f.rgba.len(), 100 * 50 * 4);
        }
    }

    #[test]
    fn a_canvas_beyond_the_budget_is_refused_before_decoding() {
        let bomb = animation(u16::MAX, u16::MAX, 2);
        assert!(bomb.len() < 4096, "a tiny file: {}", bomb.len());
        assert!(matches!(GifPlayer::start(bomb.into(), 100), Err(ThumbError::TooLarge { .. })));
        assert!(GifPlayer::start(Arc::from(&b"GIF89a junk"[..]), 100).is_err());
    }

    #[test]
    fn a_still_gif_gives_one_frame_and_ends() {
        let player = GifPlayer::start(animation(10, 10, 1).into(), 100).unwrap();
        assert!(player.wait_frame().is_ok());
        assert!(player.wait_frame().is_err());
    }
}
