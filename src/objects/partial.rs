//! Partial objects: an incoming file written chunk by chunk, in any order, kept across restarts.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::format::{self, HEADER2, MAX_HEADER, SEALED_SEGMENT, SEGMENT, segment_nonce, segments_for};
use super::{ObjectError, ObjectId, ObjectStore};
use crate::crypto::{Address, Key32, seal};
use crate::fsutil::{create_private_dir, read_exact_at, write_all_at};

/// An object being received. Chunk `i` is sealed as segment `i` and written at its place,
/// once: a slot that holds a chunk is never written again, so no nonce is ever used twice
/// under the file's key (a wrong chunk makes the whole file fail its hash; the transfer then
/// starts over in a new partial file with a new key).
pub struct PartialObject {
    file: File,
    path: PathBuf,
    key: Key32,
    id: ObjectId,
    size: u64,
    /// Bytes of its header (segment 0 starts there): `WOB2`, or `WOB1` in a file begun by an
    /// older version.
    header: usize,
    /// Slots known to hold a chunk (`Some(true)`), known empty (`Some(false)`), or not
    /// looked at yet in a file reopened after a restart (`None`).
    written: Vec<Option<bool>>,
}

impl ObjectStore {
    fn partial_path(&self, id: &ObjectId, sender: &Address) -> PathBuf {
        // One partial file per object and sender (nobody else's chunks ever land in it), named
        // by a keyed hash of both, in their own directory.
        let mut name = [0u8; 32 + 33];
        name[..32].copy_from_slice(&id.0);
        name[32..].copy_from_slice(sender.as_bytes());
        self.dir.join("partial").join(format!("{}.part", self.keyed_name(&name)))
    }

    /// Opens (creating if needed) the partial object for `id` of `size` bytes coming from
    /// `sender`. Quota is checked for a new one.
    pub fn begin_partial(&self, id: &ObjectId, sender: &Address, size: u64) -> Result<PartialObject, ObjectError> {
        let path = self.partial_path(id, sender);
        create_private_dir(path.parent().expect("partial/"))?;
        if let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) {
            let mut h = [0u8; MAX_HEADER];
            let n = format::read_full(&mut &file, &mut h).unwrap_or(0);
            if let Ok(header) = format::read_header(&self.wrap_key, &h[..n])
                && header.id == id.0
                && header.size.is_none_or(|s| s == size)
            {
                let written = vec![None; segments_for(size) as usize];
                let (key, header) = (header.key, header.len);
                return Ok(PartialObject { file, path, key, id: *id, size, header, written });
            }
            // A damaged partial file: start again.
            drop(file);
            fs::remove_file(&path)?;
        }
        self.check_quota(format::padded_file_len(size))?;
        let mut key = Zeroizing::new([0u8; 32]);
        crate::crypto::random_bytes(key.as_mut()).map_err(io::Error::other)?;
        let header = format::make_header(&self.wrap_key, &key, &id.0, size)?;
        let mut o = OpenOptions::new();
        o.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let file = o.open(&path)?;
        write_all_at(&file, &header, 0)?;
        file.sync_all()?;
        let written = vec![Some(false); segments_for(size) as usize];
        Ok(PartialObject { file, path, key, id: *id, size, header: HEADER2, written })
    }

    /// Deletes every partial file but those of `keep` (object, sender): what transfers that
    /// are gone left behind.
    pub fn retain_partials(&self, keep: &[(ObjectId, Address)]) -> io::Result<usize> {
        let wanted: std::collections::HashSet<PathBuf> = keep.iter().map(|(id, s)| self.partial_path(id, s)).collect();
        let dir = self.dir.join("partial");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "part") && !wanted.contains(&path) {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes an object and the partial copies of it from `senders` (its message was
    /// deleted); nothing for what is not stored.
    pub fn forget(&self, id: &ObjectId, senders: &[Address]) -> io::Result<()> {
        for sender in senders {
            self.discard_partial(id, sender)?;
        }
        self.remove(id)
    }

    /// Deletes a partial object (a rejected transfer).
    pub fn discard_partial(&self, id: &ObjectId, sender: &Address) -> io::Result<()> {
        match fs::remove_file(self.partial_path(id, sender)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Verifies a complete partial object (every segment and the SHA-256) and moves it into
    /// the store. A mismatch deletes it and is an error. An object already stored is never
    /// written again: the partial file is simply deleted.
    pub fn finish_partial(&self, p: PartialObject) -> Result<(), ObjectError> {
        if self.contains(&p.id) {
            drop(p.file);
            fs::remove_file(&p.path)?;
            return Ok(());
        }
        if p.header == HEADER2 {
            // Padded like any stored object once complete (the padding is not chunk data).
            let end = HEADER2 as u64 + format::sealed_len(p.size);
            p.file.set_len(end)?;
            let mut file = &p.file;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(end))?;
            super::store::write_padding(&mut file, format::padded_file_len(p.size) - end)?;
        }
        p.file.sync_all()?;
        let check = File::open(&p.path).and_then(|f| {
            let mut r = format::ObjectReader::new(f, &self.wrap_key)?;
            if r.size() != p.size {
                return Err(format::corrupt("wrong size"));
            }
            io::copy(&mut r, &mut io::sink()).map(|_| ())
        });
        if let Err(e) = check {
            let _ = fs::remove_file(&p.path);
            return Err(ObjectError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the received file does not match its hash and was rejected ({e})"),
            )));
        }
        let (tmp, _) = self.temp_file()?;
        fs::rename(&p.path, &tmp)?;
        self.install(&tmp, &p.id)?;
        Ok(())
    }
}

impl PartialObject {
    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        segments_for(self.size)
    }

    /// Writes chunk `i`; its length must be exactly what the size implies. A slot that holds
    /// a chunk already keeps it (the call succeeds and writes nothing).
    pub fn write_chunk(&mut self, i: u64, data: &[u8]) -> Result<(), ObjectError> {
        let n = self.chunks();
        let last = i + 1 == n;
        let expected = if last { (self.size - (n - 1) * SEGMENT as u64) as usize } else { SEGMENT };
        if i >= n || data.len() != expected {
            return Err(ObjectError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("chunk {i} has {} bytes, expected {expected} (of {n} chunks)", data.len()),
            )));
        }
        let slot = i as usize;
        let present = match self.written.get(slot).copied().flatten() {
            Some(known) => known,
            None => self.has_chunk(i),
        };
        if present {
            self.written[slot] = Some(true);
            return Ok(());
        }
        let sealed = seal(&self.key, &segment_nonce(i, last), b"", data);
        write_all_at(&self.file, &sealed, self.header as u64 + i * SEALED_SEGMENT as u64)?;
        self.written[slot] = Some(true);
        Ok(())
    }

    /// Reads back chunk `i` if it was written and authenticates (to resume after a restart).
    pub fn has_chunk(&self, i: u64) -> bool {
        let n = self.chunks();
        let last = i + 1 == n;
        let len = if last { (self.size - (n - 1) * SEGMENT as u64) as usize + 16 } else { SEALED_SEGMENT };
        let mut buf = vec![0u8; len];
        if read_exact_at(&self.file, &mut buf, self.header as u64 + i * SEALED_SEGMENT as u64).is_err() {
            return false;
        }
        crate::crypto::open(&self.key, &segment_nonce(i, last), b"", &buf).is_ok()
    }

    /// Chunks not yet written.
    pub fn missing(&self) -> Vec<u64> {
        (0..self.chunks()).filter(|&i| !self.has_chunk(i)).collect()
    }
}
