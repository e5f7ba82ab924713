//! A large file sealed under a passphrase, written and read as a stream (history backups,
//! docs/BACKUP.md): a plain header naming the format, the Argon2id parameters and a key check,
//! then STREAM segments (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption
//! and its Nonce-Reuse Misuse-Resistance", 2015) of AES-256-GCM over 1 MiB of plaintext each,
//! from RustCrypto's `aead-stream`. Reordered, repeated, damaged or missing segments (a cut
//! file included) fail authentication; the header is the associated data of every segment.
//! Memory stays at two segments whatever the size.

use std::io::{self, Read, Write};

use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::{Aes256Gcm, KeyInit};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::password::{KdfParams, derive};
use super::{Key32, random_bytes};
use crate::util::read_full;

/// The first bytes of a backup file.
pub const MAGIC: &[u8; 8] = b"WOCHATBK";
/// The format version this build writes and the newest it reads.
pub const VERSION: u16 = 1;
/// Plaintext bytes per segment.
pub const SEGMENT: usize = 1 << 20;
/// Bytes of the header: magic, version, Argon2id m/t/p, salt, STREAM nonce, segment size, key
/// check.
pub const HEADER_LEN: usize = 8 + 2 + 12 + 16 + 7 + 4 + 16;
const TAG: usize = 16;

/// Why a sealed stream cannot be read (or written).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Not a WoChat backup at all.
    #[error("not a WoChat backup file")]
    NotABackup,
    /// Written by a newer WoChat.
    #[error("this backup is of format version {0}; this WoChat reads version {VERSION} only: update WoChat")]
    NewerVersion(u16),
    /// A header field out of range.
    #[error("the backup's header is damaged ({0})")]
    BadHeader(&'static str),
    /// The passphrase does not open it.
    #[error("wrong backup passphrase")]
    WrongPassphrase,
    /// A segment does not authenticate: damaged, reordered, or the file ends early.
    #[error("the backup is damaged or incomplete (segment {0} does not authenticate)")]
    Damaged(u64),
    /// Argon2 refused the parameters.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// The plain header of a sealed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// Format version.
    pub version: u16,
    /// Argon2id parameters of the passphrase.
    pub kdf: KdfParams,
    /// Argon2id salt.
    pub salt: [u8; 16],
    /// The STREAM nonce prefix.
    pub nonce: [u8; 7],
    /// Plaintext bytes per segment.
    pub segment: u32,
    /// The first 16 bytes of `SHA256("wochat/backup/check" || key)`: tells a wrong passphrase
    /// from a damaged file.
    pub check: [u8; 16],
}

impl StreamHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        let mut at = 0;
        let mut put = |b: &[u8]| {
            h[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        put(MAGIC);
        put(&self.version.to_be_bytes());
        put(&self.kdf.m_kib.to_be_bytes());
        put(&self.kdf.t.to_be_bytes());
        put(&self.kdf.p.to_be_bytes());
        put(&self.salt);
        put(&self.nonce);
        put(&self.segment.to_be_bytes());
        put(&self.check);
        h
    }

    /// Reads and checks a header.
    pub fn decode(h: &[u8; HEADER_LEN]) -> Result<Self, StreamError> {
        if &h[..8] != MAGIC {
            return Err(StreamError::NotABackup);
        }
        let u32_at = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let version = u16::from_be_bytes([h[8], h[9]]);
        if version > VERSION {
            return Err(StreamError::NewerVersion(version));
        }
        if version == 0 {
            return Err(StreamError::BadHeader("version 0"));
        }
        let kdf = KdfParams { m_kib: u32_at(10), t: u32_at(14), p: u32_at(18) };
        // Parameters an attacker could set to make opening the file cost hours or all memory.
        if kdf.m_kib > 4 << 20 || kdf.t > 64 || kdf.p > 16 || kdf.t == 0 || kdf.p == 0 {
            return Err(StreamError::BadHeader("Argon2 parameters"));
        }
        let segment = u32_at(45);
        if segment as usize != SEGMENT {
            return Err(StreamError::BadHeader("segment size"));
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&h[22..38]);
        let mut nonce = [0u8; 7];
        nonce.copy_from_slice(&h[38..45]);
        let mut check = [0u8; 16];
        check.copy_from_slice(&h[49..65]);
        Ok(Self { version, kdf, salt, nonce, segment, check })
    }
}

/// The key check of `key` (see [`StreamHeader::check`]).
fn key_check(key: &Key32) -> [u8; 16] {
    let digest = Sha256::new().chain_update(b"wochat/backup/check").chain_update(key.as_ref()).finalize();
    let mut c = [0u8; 16];
    c.copy_from_slice(&digest[..16]);
    c
}

fn cipher(key: &Key32) -> Result<Aes256Gcm, StreamError> {
    Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| StreamError::Kdf("key length".into()))
}

/// Writes a sealed stream: [`Write`] the plaintext, then [`SealingWriter::finish`].
pub struct SealingWriter<W: Write> {
    inner: W,
    encryptor: Option<EncryptorBE32<Aes256Gcm>>,
    header: [u8; HEADER_LEN],
    buf: Zeroizing<Vec<u8>>,
}

impl<W: Write> SealingWriter<W> {
    /// Writes the header to `inner` with a key derived from `passphrase` with `kdf`.
    pub fn new(mut inner: W, passphrase: &[u8], kdf: KdfParams) -> Result<Self, StreamError> {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 7];
        random_bytes(&mut salt).map_err(|e| StreamError::Kdf(e.to_string()))?;
        random_bytes(&mut nonce).map_err(|e| StreamError::Kdf(e.to_string()))?;
        let key = derive(passphrase, &salt, kdf).map_err(|e| StreamError::Kdf(e.to_string()))?;
        let header =
            StreamHeader { version: VERSION, kdf, salt, nonce, segment: SEGMENT as u32, check: key_check(&key) };
        let header = header.encode();
        inner.write_all(&header)?;
        let encryptor = EncryptorBE32::from_aead(cipher(&key)?, &nonce.into());
        // Room for the tag too: each segment is sealed in place, with no allocation.
        let buf = Zeroizing::new(Vec::with_capacity(SEGMENT + TAG));
        Ok(Self { inner, encryptor: Some(encryptor), header, buf })
    }

    fn seal_full_segment(&mut self) -> io::Result<()> {
        let encryptor = self.encryptor.as_mut().ok_or_else(|| io::Error::other("the stream is finished"))?;
        encryptor
            .encrypt_next_in_place(&self.header, &mut *self.buf)
            .map_err(|_| io::Error::other("too many segments"))?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Seals the last segment (possibly empty) and hands back the inner writer, flushed.
    pub fn finish(mut self) -> Result<W, StreamError> {
        let encryptor = self.encryptor.take().ok_or_else(|| io::Error::other("the stream is finished"))?;
        encryptor
            .encrypt_last_in_place(&self.header, &mut *self.buf)
            .map_err(|_| io::Error::other("cannot seal the last segment"))?;
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(SEGMENT - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == SEGMENT {
            self.seal_full_segment()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a sealed stream: every byte it yields has been authenticated; the end of the
/// plaintext comes only after the last segment authenticated as the last.
pub struct OpeningReader<R: Read> {
    inner: R,
    decryptor: Option<DecryptorBE32<Aes256Gcm>>,
    header: [u8; HEADER_LEN],
    /// The next sealed segment, read ahead (its successor tells whether it is the last).
    ahead: Zeroizing<Vec<u8>>,
    /// The segment being read, opened in place (the two buffers take turns).
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    index: u64,
    /// A segment failed to open: every later read fails too.
    broken: bool,
}

impl<R: Read> OpeningReader<R> {
    /// Reads the header of `inner` and checks `passphrase` against it.
    pub fn new(mut inner: R, passphrase: &[u8]) -> Result<Self, StreamError> {
        let mut raw = [0u8; HEADER_LEN];
        match read_full(&mut inner, &mut raw)? {
            n if n < 8 || &raw[..8] != MAGIC => return Err(StreamError::NotABackup),
            n if n < HEADER_LEN => return Err(StreamError::Damaged(0)),
            _ => {}
        }
        let header = StreamHeader::decode(&raw)?;
        let key = derive(passphrase, &header.salt, header.kdf).map_err(|e| StreamError::Kdf(e.to_string()))?;
        if key_check(&key) != header.check {
            return Err(StreamError::WrongPassphrase);
        }
        let decryptor = DecryptorBE32::from_aead(cipher(&key)?, &header.nonce.into());
        let mut reader = Self {
            inner,
            decryptor: Some(decryptor),
            header: raw,
            ahead: Zeroizing::new(Vec::with_capacity(SEGMENT + TAG)),
            plain: Zeroizing::new(Vec::with_capacity(SEGMENT + TAG)),
            pos: 0,
            index: 0,
            broken: false,
        };
        read_sealed(&mut reader.inner, &mut reader.ahead)?;
        if reader.ahead.len() < TAG {
            return Err(StreamError::Damaged(0));
        }
        Ok(reader)
    }

    /// Opens the next segment into `plain`; `false` at the end.
    fn next_segment(&mut self) -> Result<bool, StreamError> {
        if self.broken {
            return Err(StreamError::Damaged(self.index));
        }
        if self.decryptor.is_none() {
            return Ok(false);
        }
        // The segment read ahead becomes the current one; its buffer takes the next.
        std::mem::swap(&mut self.plain, &mut self.ahead);
        self.pos = 0;
        match self.open_current() {
            Ok(()) => {
                self.index += 1;
                Ok(true)
            }
            Err(e) => {
                // Nothing of a segment that did not open is ever handed out, nor anything after.
                self.plain.clear();
                self.broken = true;
                Err(e)
            }
        }
    }

    /// Reads the segment after the current one and opens the current one in place.
    fn open_current(&mut self) -> Result<(), StreamError> {
        if self.plain.len() < TAG {
            return Err(StreamError::Damaged(self.index));
        }
        read_sealed(&mut self.inner, &mut self.ahead)?;
        let opened = if self.ahead.is_empty() {
            let decryptor = self.decryptor.take().ok_or(StreamError::Damaged(self.index))?;
            decryptor.decrypt_last_in_place(&self.header, &mut *self.plain)
        } else {
            let decryptor = self.decryptor.as_mut().ok_or(StreamError::Damaged(self.index))?;
            decryptor.decrypt_next_in_place(&self.header, &mut *self.plain)
        };
        opened.map_err(|_| StreamError::Damaged(self.index))
    }
}

/// Reads the next sealed segment (a whole one, or what is left) into `buf`.
fn read_sealed(inner: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.resize(SEGMENT + TAG, 0);
    let n = read_full(inner, buf)?;
    buf.truncate(n);
    Ok(())
}

impl<R: Read> Read for OpeningReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if !self.next_segment()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(data: &[u8], pass: &[u8]) -> Vec<u8> {
        let mut w = SealingWriter::new(Vec::new(), pass, KdfParams::INSECURE_FAST).unwrap();
        for part in data.chunks(70_001) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn open(sealed: &[u8], pass: &[u8]) -> Result<Vec<u8>, io::Error> {
        let mut r = OpeningReader::new(sealed, pass).map_err(io::Error::from)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_segment_boundary() {
        for len in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&data, b"pass");
            assert_eq!(sealed.len(), HEADER_LEN + len + TAG * (len / SEGMENT + 1), "{len}");
            assert_eq!(open(&sealed, b"pass").unwrap(), data, "{len}");
        }
    }

    #[test]
    fn wrong_passphrase_damage_truncation_and_newer_versions_are_told_apart() {
        let data = vec![7u8; 2 * SEGMENT + 100];
        let sealed = seal(&data, b"right");
        let err = |r: Result<Vec<u8>, io::Error>| r.unwrap_err().to_string();
        assert_eq!(err(open(&sealed, b"wrong")), "wrong backup passphrase");
        // A flipped byte in the second segment.
        let mut damaged = sealed.clone();
        damaged[HEADER_LEN + SEGMENT + TAG + 10] ^= 1;
        assert!(err(open(&damaged, b"right")).contains("segment 1"), "{}", err(open(&damaged, b"right")));
        // Once a segment fails, reading on yields nothing more: not the rest, not an end.
        let mut r = OpeningReader::new(&damaged[..], b"right").unwrap();
        let mut first = vec![0u8; SEGMENT];
        r.read_exact(&mut first).unwrap();
        assert!(r.read(&mut [0u8; 16]).is_err());
        assert!(r.read(&mut [0u8; 16]).is_err(), "a second read after the damage must fail too");
        // Cut after two whole segments: the second is not the last one.
        let cut = &sealed[..HEADER_LEN + 2 * (SEGMENT + TAG)];
        assert!(err(open(cut, b"right")).contains("damaged or incomplete"));
        // Cut in the middle of a segment.
        assert!(err(open(&sealed[..sealed.len() - 50], b"right")).contains("damaged or incomplete"));
        // The header is authenticated with every segment.
        let mut header = sealed.clone();
        header[40] ^= 1; // the nonce
        assert!(err(open(&header, b"right")).contains("segment 0"));
        let mut newer = sealed.clone();
        newer[9] = 2;
        assert!(err(open(&newer, b"right")).contains("format version 2"));
        assert_eq!(err(open(b"PK\x03\x04 a zip file", b"right")), "not a WoChat backup file");
    }
}
