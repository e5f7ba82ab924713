//! The on-disk format of one object, and a verifying streaming reader.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{Key32, open, seal};

/// Plaintext bytes per segment (= one transfer chunk).
pub const SEGMENT: usize = 65536;
/// Bytes of a full segment on disk (ciphertext and tag).
pub const SEALED_SEGMENT: usize = SEGMENT + 16;
/// `"WOB1"`.
pub const MAGIC: &[u8; 4] = b"WOB1";
/// magic (4) || wrapped object key (12 + 32 + 16) || encrypted id (12 + 32 + 16).
pub const HEADER: usize = 4 + 60 + 60;

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

/// Builds a header: the object key wrapped with the store key; the id sealed with the object
/// key (so a header cannot be moved to another object's content unnoticed).
pub fn make_header(wrap_key: &Key32, object_key: &Key32, id: &[u8; 32]) -> io::Result<Vec<u8>> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    let mut n1 = [0u8; 12];
    let mut n2 = [0u8; 12];
    crate::crypto::random_bytes(&mut n1).map_err(io::Error::other)?;
    crate::crypto::random_bytes(&mut n2).map_err(io::Error::other)?;
    h.extend_from_slice(&n1);
    h.extend_from_slice(&seal(wrap_key, &n1, MAGIC, object_key.as_ref()));
    h.extend_from_slice(&n2);
    h.extend_from_slice(&seal(object_key, &n2, b"id", id));
    Ok(h)
}

/// Reads a header: the object key and the id.
pub fn read_header(wrap_key: &Key32, h: &[u8]) -> io::Result<(Key32, [u8; 32])> {
    if h.len() < HEADER || &h[..4] != MAGIC {
        return Err(corrupt("not a WoChat object"));
    }
    let n1: [u8; 12] = h[4..16].try_into().expect("12 bytes");
    let key = open(wrap_key, &n1, MAGIC, &h[16..64]).map_err(|_| corrupt("the object key does not open"))?;
    let key: Key32 = Zeroizing::new(key.as_slice().try_into().map_err(|_| corrupt("bad object key"))?);
    let n2: [u8; 12] = h[64..76].try_into().expect("12 bytes");
    let id = open(&key, &n2, b"id", &h[76..124]).map_err(|_| corrupt("the object id does not open"))?;
    let id: [u8; 32] = id.as_slice().try_into().map_err(|_| corrupt("bad object id"))?;
    Ok((key, id))
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
        let mut h = [0u8; HEADER];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut h).map_err(|_| corrupt("shorter than its header"))?;
        let (key, id) = read_header(wrap_key, &h)?;
        let body = len - HEADER as u64;
        if body < 16 {
            return Err(corrupt("no content"));
        }
        let segments = body.div_ceil(SEALED_SEGMENT as u64);
        let last_len = (body - (segments - 1) * SEALED_SEGMENT as u64) as usize;
        if last_len < 16 {
            return Err(corrupt("truncated segment"));
        }
        let size = (segments - 1) * SEGMENT as u64 + (last_len - 16) as u64;
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
