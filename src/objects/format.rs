//! The on-disk format of one object, and a verifying streaming reader.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{Key32, open, seal};
pub use crate::util::read_full;
pub use crate::wire::padme;

/// Plaintext bytes per segment (= one transfer chunk).
pub const SEGMENT: usize = 65536;
/// Bytes of a full segment on disk (ciphertext and tag).
pub const SEALED_SEGMENT: usize = SEGMENT + 16;
/// `"WOB1"`: the first format, whose file length gives the content's exact size.
pub const MAGIC: &[u8; 4] = b"WOB1";
/// A `WOB1` header: magic (4) || wrapped object key (12 + 32 + 16) || encrypted id (12 + 32 + 16).
pub const HEADER: usize = 4 + 60 + 60;
/// `"WOB2"`: the size is sealed in the header and the file is padded (Padmé) after its last
/// segment, so that a file's length tells only its size class.
pub const MAGIC2: &[u8; 4] = b"WOB2";
/// A `WOB2` header: magic (4) || wrapped object key (12 + 32 + 16) || encrypted id and size
/// (12 + 32 + 8 + 16).
pub const HEADER2: usize = 4 + 60 + 68;
/// The longest header.
pub const MAX_HEADER: usize = HEADER2;

/// Number of segments of an object of `size` bytes (an empty object has one empty segment).
pub fn segments_for(size: u64) -> u64 {
    size.div_ceil(SEGMENT as u64).max(1)
}

/// The nonce of segment `i`.
pub fn segment_nonce(i: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&i.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Bytes of the sealed segments of `size` bytes of content.
pub fn sealed_len(size: u64) -> u64 {
    size + 16 * segments_for(size)
}

/// Length of the `WOB2` file of `size` bytes of content: header, segments, padding.
pub fn padded_file_len(size: u64) -> u64 {
    padme(HEADER2 as u64 + sealed_len(size))
}

/// Builds a `WOB2` header: the object key wrapped with the store key; the id and the size
/// sealed with the object key (so a header cannot be moved to another object's content
/// unnoticed).
pub fn make_header(wrap_key: &Key32, object_key: &Key32, id: &[u8; 32], size: u64) -> io::Result<Vec<u8>> {
    let mut id_size = [0u8; 40];
    id_size[..32].copy_from_slice(id);
    id_size[32..].copy_from_slice(&size.to_le_bytes());
    header_with(MAGIC2, wrap_key, object_key, b"id+size", &id_size)
}

/// `magic || n1 || SEAL(wrap_key, n1, "WOB1", object key) || n2 || SEAL(object_key, n2, aad, body)`.
fn header_with(magic: &[u8; 4], wrap_key: &Key32, object_key: &Key32, aad: &[u8], body: &[u8]) -> io::Result<Vec<u8>> {
    let mut h = Vec::with_capacity(HEADER2);
    h.extend_from_slice(magic);
    let mut n1 = [0u8; 12];
    let mut n2 = [0u8; 12];
    crate::crypto::random_bytes(&mut n1).map_err(io::Error::other)?;
    crate::crypto::random_bytes(&mut n2).map_err(io::Error::other)?;
    h.extend_from_slice(&n1);
    h.extend_from_slice(&seal(wrap_key, &n1, MAGIC, object_key.as_ref()));
    h.extend_from_slice(&n2);
    h.extend_from_slice(&seal(object_key, &n2, aad, body));
    Ok(h)
}

/// Builds a `WOB1` header (tests of the older format only).
#[cfg(test)]
pub fn make_header_v1(wrap_key: &Key32, object_key: &Key32, id: &[u8; 32]) -> io::Result<Vec<u8>> {
    header_with(MAGIC, wrap_key, object_key, b"id", id)
}

/// What a header says.
pub struct Header {
    /// The object key.
    pub key: Key32,
    /// The object's id.
    pub id: [u8; 32],
    /// The content's size (`WOB2`; a `WOB1` file's length gives it).
    pub size: Option<u64>,
    /// Bytes of the header.
    pub len: usize,
}

/// Reads a header (`h`: the file's first bytes, at least [`MAX_HEADER`] when it has them).
pub fn read_header(wrap_key: &Key32, h: &[u8]) -> io::Result<Header> {
    let v2 = match h.get(..4) {
        Some(m) if m == MAGIC => false,
        Some(m) if m == MAGIC2 => true,
        _ => return Err(corrupt("not a WoChat object")),
    };
    let len = if v2 { HEADER2 } else { HEADER };
    if h.len() < len {
        return Err(corrupt("shorter than its header"));
    }
    let n1: [u8; 12] = h[4..16].try_into().map_err(|_| corrupt("header"))?;
    let key = open(wrap_key, &n1, MAGIC, &h[16..64]).map_err(|_| corrupt("the object key does not open"))?;
    let key: Key32 = Zeroizing::new(key.as_slice().try_into().map_err(|_| corrupt("bad object key"))?);
    let n2: [u8; 12] = h[64..76].try_into().map_err(|_| corrupt("header"))?;
    let aad: &[u8] = if v2 { b"id+size" } else { b"id" };
    let plain = open(&key, &n2, aad, &h[76..len]).map_err(|_| corrupt("the object id does not open"))?;
    let id: [u8; 32] = plain.get(..32).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt("bad object id"))?;
    let size = match plain.get(32..40) {
        Some(b) if v2 => Some(u64::from_le_bytes(b.try_into().map_err(|_| corrupt("bad size"))?)),
        _ => None,
    };
    Ok(Header { key, id, size, len })
}

/// Where the segments of an object file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the header (where segment 0 starts).
    pub header: usize,
    /// Content bytes.
    pub size: u64,
    /// Number of segments.
    pub segments: u64,
    /// Sealed bytes of the last segment.
    pub last_len: usize,
}

impl Layout {
    /// The layout of a file of `file_len` bytes with header `h`; a file too short for what its
    /// header says is corrupt.
    pub fn of(h: &Header, file_len: u64) -> io::Result<Self> {
        let size = match h.size {
            Some(size) => {
                if file_len < h.len as u64 + sealed_len(size) {
                    return Err(corrupt("truncated"));
                }
                size
            }
            None => {
                let body = file_len.saturating_sub(h.len as u64);
                if body < 16 {
                    return Err(corrupt("no content"));
                }
                let segments = body.div_ceil(SEALED_SEGMENT as u64);
                let last = body - (segments - 1) * SEALED_SEGMENT as u64;
                if last < 16 {
                    return Err(corrupt("truncated segment"));
                }
                (segments - 1) * SEGMENT as u64 + last - 16
            }
        };
        let segments = segments_for(size);
        let last_len = (size - (segments - 1) * SEGMENT as u64) as usize + 16;
        Ok(Self { header: h.len, size, segments, last_len })
    }

    /// Offset and sealed length of segment `i`.
    pub fn segment(&self, i: u64) -> (u64, usize) {
        let len = if i + 1 == self.segments { self.last_len } else { SEALED_SEGMENT };
        (self.header as u64 + i * SEALED_SEGMENT as u64, len)
    }
}

pub(crate) fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("corrupt object: {what}"))
}

/// Streams an object's plaintext, verifying every segment and, at the end, the SHA-256 against
/// the id. Any damage is an `InvalidData` error.
pub struct ObjectReader {
    file: File,
    key: Key32,
    id: [u8; 32],
    segments: u64,
    last_len: usize,
    next: u64,
    buf: Vec<u8>,
    pos: usize,
    hasher: Sha256,
    size: u64,
}

impl ObjectReader {
    /// Opens `file` (positioned anywhere) with the store's wrap key.
    pub fn new(mut file: File, wrap_key: &Key32) -> io::Result<Self> {
        let len = file.metadata()?.len();
        let mut h = [0u8; MAX_HEADER];
        file.seek(SeekFrom::Start(0))?;
        let n = read_full(&mut file, &mut h)?;
        let header = read_header(wrap_key, &h[..n])?;
        let layout = Layout::of(&header, len)?;
        file.seek(SeekFrom::Start(layout.header as u64))?;
        let Header { key, id, .. } = header;
        let (segments, last_len, size) = (layout.segments, layout.last_len, layout.size);
        Ok(Self { file, key, id, segments, last_len, next: 0, buf: Vec::new(), pos: 0, hasher: Sha256::new(), size })
    }

    /// The object's id (from its header).
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    /// Plaintext size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn fill(&mut self) -> io::Result<bool> {
        if self.next == self.segments {
            return Ok(false);
        }
        let i = self.next;
        let last = i + 1 == self.segments;
        let n = if last { self.last_len } else { SEALED_SEGMENT };
        let mut sealed = vec![0u8; n];
        self.file.read_exact(&mut sealed).map_err(|_| corrupt("truncated"))?;
        let plain = open(&self.key, &segment_nonce(i, last), b"", &sealed)
            .map_err(|_| corrupt(&format!("segment {i} does not authenticate")))?;
        self.hasher.update(&plain);
        self.buf = plain;
        self.pos = 0;
        self.next += 1;
        if last {
            let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
            if digest != self.id {
                return Err(corrupt("content does not match its id"));
            }
        }
        Ok(true)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
