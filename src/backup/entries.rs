//! The inner structure of a backup: entries of a 4-byte big-endian header length, a JSON
//! header `{"kind","name","size"}`, and `size` bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Largest JSON header accepted.
const MAX_HEADER: u32 = 64 * 1024;
/// Largest manifest or key entry.
pub const MAX_SMALL: u64 = 64 * 1024;
/// Largest settings entry.
pub const MAX_CONFIG: u64 = 1 << 20;
/// The piece in which files are read into the stream and written out of it.
pub const COPY_BUFFER: usize = 1 << 20;

/// An entry's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// What it is.
    pub kind: String,
    /// A file name or relative path, or empty.
    pub name: String,
    /// Bytes of its body.
    pub size: u64,
}

/// Writes entries.
pub struct EntryWriter<W: Write> {
    inner: W,
}

impl<W: Write> EntryWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    fn header(&mut self, kind: &str, name: &str, size: u64) -> io::Result<()> {
        let header = serde_json::to_vec(&Entry { kind: kind.into(), name: name.into(), size })?;
        let len = u32::try_from(header.len()).map_err(io::Error::other)?;
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&header)
    }

    /// An entry whose body is `data`.
    pub fn bytes(&mut self, kind: &str, name: &str, data: &[u8]) -> io::Result<()> {
        self.header(kind, name, data.len() as u64)?;
        self.inner.write_all(data)
    }

    /// An entry whose body is the file at `path` (which must not change meanwhile); its size.
    pub fn file(&mut self, kind: &str, name: &str, path: &Path) -> io::Result<u64> {
        let f = File::open(path)?;
        let size = f.metadata()?.len();
        self.header(kind, name, size)?;
        // Read in large pieces: a syscall per 8 KiB (io::copy's own buffer) shows on gigabytes.
        let copied = io::copy(&mut io::BufReader::with_capacity(COPY_BUFFER, f.take(size)), &mut self.inner)?;
        if copied != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} shrank while read", path.display())));
        }
        Ok(size)
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    /// What it writes into.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

/// Reads entries.
pub struct EntryReader<R: Read> {
    inner: R,
}

impl<R: Read> EntryReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The next entry's header; `None` when the input ends between entries.
    pub fn next(&mut self) -> io::Result<Option<Entry>> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.inner.read(&mut len[got..])? {
                0 if got == 0 => return Ok(None),
                0 => return Err(malformed("an entry header ends early")),
                n => got += n,
            }
        }
        let len = u32::from_be_bytes(len);
        if len > MAX_HEADER {
            return Err(malformed("an entry header is too long"));
        }
        let mut header = vec![0u8; len as usize];
        self.inner.read_exact(&mut header)?;
        serde_json::from_slice(&header).map(Some).map_err(|e| malformed(&format!("entry header: {e}")))
    }

    /// The body of `entry`, to be read to its end.
    pub fn body(&mut self, entry: &Entry) -> io::Take<&mut R> {
        (&mut self.inner).take(entry.size)
    }

    /// The whole body of a small entry (at most `max` bytes).
    pub fn read_small(&mut self, entry: &Entry, max: u64) -> io::Result<Vec<u8>> {
        if entry.size > max {
            return Err(malformed(&format!("a {} entry is too large", entry.kind)));
        }
        let mut v = Vec::new();
        self.body(entry).read_to_end(&mut v)?;
        if v.len() as u64 != entry.size {
            return Err(malformed("an entry ends early"));
        }
        Ok(v)
    }

    /// Whether the input ends here (reading the last byte authenticates the last segment).
    pub fn at_end(&mut self) -> io::Result<bool> {
        let mut b = [0u8; 1];
        Ok(self.inner.read(&mut b)? == 0)
    }
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
