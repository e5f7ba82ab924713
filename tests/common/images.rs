//! Test images: decompression bombs (PNG, progressive JPEG, GIF).

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG chunk with its CRC.
pub fn png_chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    let body = [kind, data].concat();
    c.extend_from_slice(&body);
    c.extend_from_slice(&crc32(&body).to_be_bytes());
    c
}

/// A tiny PNG that declares `w` x `h` pixels of the given color type (2 RGB, 6 RGBA).
pub fn bomb_png(w: u32, h: u32, color_type: u8) -> Vec<u8> {
    let ihdr = [w.to_be_bytes().as_slice(), &h.to_be_bytes(), &[8, color_type, 0, 0, 0]].concat();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A JPEG segment: marker and length-prefixed body.
fn jpeg_segment(marker: u8, body: &[u8]) -> Vec<u8> {
    [&[0xFF, marker][..], &((body.len() + 2) as u16).to_be_bytes(), body].concat()
}

/// A progressive JPEG declaring `w` x `h` pixels in three components, with a DC scan of
/// `scan_bytes` zero bytes: a decoder without limits keeps every coefficient of the full image
/// (about 6 bytes a pixel) whatever the output size.
pub fn bomb_progressive_jpeg(w: u16, h: u16, scan_bytes: usize) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    j.extend(jpeg_segment(0xDB, &[[0u8].as_slice(), &[1u8; 64]].concat()));
    let mut sof = vec![8];
    sof.extend_from_slice(&h.to_be_bytes());
    sof.extend_from_slice(&w.to_be_bytes());
    sof.push(3);
    for id in 1..=3 {
        sof.extend_from_slice(&[id, 0x11, 0]);
    }
    j.extend(jpeg_segment(0xC2, &sof));
    // DC table 0: one code of one bit, for category 0 (a difference of 0).
    let mut dht = vec![0x00, 1];
    dht.extend_from_slice(&[0; 15]);
    dht.push(0);
    j.extend(jpeg_segment(0xC4, &dht));
    j.extend(jpeg_segment(0xDA, &[3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 0, 0]));
    j.extend(std::iter::repeat_n(0u8, scan_bytes));
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// A GIF of a `side` x `side` canvas with `frames` frames of one pixel each: a viewer that
/// composes and keeps every frame holds `frames` full canvases.
pub fn bomb_gif(side: u16, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, side, side, &[0, 0, 0, 255, 255, 255]).unwrap();
        enc.set_repeat(gif::Repeat::Infinite).unwrap();
        for i in 0..frames {
            let mut f = gif::Frame::from_indexed_pixels(1, 1, vec![(i % 2) as u8], None);
            f.left = (i as u16) % side;
            f.delay = 2;
            enc.write_frame(&f).unwrap();
        }
    }
    out
}
