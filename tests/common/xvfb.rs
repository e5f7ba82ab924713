//! A virtual X server for the window tests, and screenshots of it.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// An Xvfb server on a display number it chose itself; stopped when dropped.
pub struct Xvfb {
    child: Child,
    /// `:N`.
    pub display: String,
}

impl Xvfb {
    /// Starts one.
    pub fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is needed for the window tests (apt-get install xvfb)");
        // It writes the display number once it accepts connections.
        let mut number = String::new();
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb did not start");
        Self { child, display: format!(":{}", number.trim()) }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Xvfb {
    /// The whole screen now, as RGB (`xwd` from x11-apps reads it).
    pub fn screenshot(&self) -> image::RgbImage {
        let out = Command::new("xwd")
            .args(["-root", "-silent", "-display", &self.display])
            .stderr(Stdio::inherit())
            .output()
            .expect("xwd is needed for screenshots (apt-get install x11-apps)");
        assert!(out.status.success(), "xwd failed");
        from_xwd(&out.stdout)
    }

    /// [`Xvfb::screenshot`] saved as a PNG at `path`; the image.
    pub fn save_screenshot(&self, path: &Path) -> image::RgbImage {
        let img = self.screenshot();
        img.save(path).unwrap_or_else(|e| panic!("cannot save {}: {e}", path.display()));
        img
    }
}

/// A 24- or 32-bit TrueColor XWD dump (what `xwd` writes for Xvfb's default visual) as RGB.
fn from_xwd(b: &[u8]) -> image::RgbImage {
    let field = |i: usize| u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    let (header, width, height) = (field(0), field(4), field(5));
    let (byte_order, bits_per_pixel, bytes_per_line, ncolors) = (field(7), field(11), field(12), field(19));
    let (red, green, blue) = (field(14) as u32, field(15) as u32, field(16) as u32);
    assert!(bits_per_pixel == 32 || bits_per_pixel == 24, "unexpected XWD depth {bits_per_pixel}");
    let data = &b[header + ncolors * 12..];
    let bytes = bits_per_pixel / 8;
    let channel = |p: u32, mask: u32| ((p & mask) >> mask.trailing_zeros()) as u8;
    image::RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let at = y as usize * bytes_per_line + x as usize * bytes;
        let mut px = [0u8; 4];
        px[..bytes].copy_from_slice(&data[at..at + bytes]);
        let p = if byte_order == 0 { u32::from_le_bytes(px) } else { u32::from_be_bytes(px) >> (32 - bits_per_pixel) };
        image::Rgb([channel(p, red), channel(p, green), channel(p, blue)])
    })
}

/// How many different colours `img` has (a blank screen has one).
pub fn colours(img: &image::RgbImage) -> usize {
    img.pixels().map(|p| p.0).collect::<std::collections::HashSet<_>>().len()
}
