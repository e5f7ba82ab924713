//! File types from content, never from names: the attachment type letter and a MIME type.

use crate::wire::AttachKind;

/// The attachment kind and MIME type of content starting with `head` (the first bytes; 64
/// are enough).
pub fn sniff(head: &[u8]) -> (AttachKind, &'static str) {
    let starts = |sig: &[u8]| head.starts_with(sig);
    if starts(b"\x89PNG\r\n\x1a\n") {
        (AttachKind::Image, "image/png")
    } else if starts(b"\xff\xd8\xff") {
        (AttachKind::Image, "image/jpeg")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        (AttachKind::Image, "image/webp")
    } else if starts(b"BM") && head.len() >= 26 && is_bmp_header(head) {
        (AttachKind::Image, "image/bmp")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        (AttachKind::Gif, "image/gif")
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        if brand == b"qt  " { (AttachKind::Video, "video/quicktime") } else { (AttachKind::Video, "video/mp4") }
    } else if starts(b"\x1a\x45\xdf\xa3") {
        // EBML: WebM declares its doctype early; anything else is Matroska.
        if head.windows(4).any(|w| w == b"webm") {
            (AttachKind::Video, "video/webm")
        } else {
            (AttachKind::Video, "video/x-matroska")
        }
    } else if head.len() >= 8 && (&head[4..8] == b"moov" || &head[4..8] == b"mdat" || &head[4..8] == b"wide") {
        (AttachKind::Video, "video/quicktime")
    } else {
        (AttachKind::File, "application/octet-stream")
    }
}

/// A BMP file header: the declared file size field is plausible and the DIB header size is a
/// known one (so a text file starting with "BM" is not an image).
fn is_bmp_header(h: &[u8]) -> bool {
    let dib = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
    matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        let cases: &[(&[u8], AttachKind, &str)] = &[
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", AttachKind::Image, "image/png"),
            (b"\xff\xd8\xff\xe0\0\x10JFIF", AttachKind::Image, "image/jpeg"),
            (b"RIFF\x10\0\0\0WEBPVP8 ", AttachKind::Image, "image/webp"),
            (b"GIF89a\x01\0\x01\0", AttachKind::Gif, "image/gif"),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", AttachKind::Video, "video/mp4"),
            (b"\0\0\0\x14ftypqt  \0\0\0\0", AttachKind::Video, "video/quicktime"),
            (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", AttachKind::Video, "video/webm"),
            (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", AttachKind::Video, "video/x-matroska"),
            (b"BM is not a bitmap, just text that starts with BM", AttachKind::File, "application/octet-stream"),
            (b"%PDF-1.7", AttachKind::File, "application/octet-stream"),
            (b"", AttachKind::File, "application/octet-stream"),
        ];
        for (head, kind, mime) in cases {
            assert_eq!(sniff(head), (*kind, *mime), "{:?}", String::from_utf8_lossy(head));
        }
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 40, 0, 0, 0]);
        bmp.extend_from_slice(&[0; 16]);
        assert_eq!(sniff(&bmp), (AttachKind::Image, "image/bmp"));
    }
}
