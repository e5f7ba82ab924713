//! [`ObjectStore`]: put, open, export, verify, garbage-collect, with a quota.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::format::{self, HEADER2, Layout, MAX_HEADER, ObjectReader, SEGMENT, segment_nonce};
use crate::crypto::{Identity, Key32, seal};
use crate::fsutil::{create_private_dir, sync_dir};

/// An object's id: the SHA-256 of its content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 32]);

impl ObjectId {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        Some(Self(hex::decode(s.trim()).ok()?.try_into().ok()?))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

/// Object store errors.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Storing this would exceed `storage.quota_mb`.
    #[error("the storage quota of {quota_mb} MiB would be exceeded ({used} bytes used, {needed} more needed)")]
    Quota {
        /// The quota.
        quota_mb: u64,
        /// Bytes in use.
        used: u64,
        /// Bytes the new object needs.
        needed: u64,
    },
    /// No such object.
    #[error("object {0} is not in the store")]
    Missing(ObjectId),
    /// Damaged or not an object (InvalidData), or another I/O failure.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// HKDF info strings of the store's keys.
const NAME_KEY_INFO: &str = "wochat/v1/objects/name";
const WRAP_KEY_INFO: &str = "wochat/v1/objects/wrap";

/// One account's object store.
pub struct ObjectStore {
    pub(super) dir: PathBuf,
    name_key: Key32,
    pub(super) wrap_key: Key32,
    /// Bytes; 0 = unlimited.
    quota: AtomicU64,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore").field("dir", &self.dir).field("quota", &self.quota).finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// Opens the store in `dir` with keys derived from the account's secret key.
    /// `quota_mb` 0 means unlimited.
    pub fn open(dir: &Path, identity: &Identity, quota_mb: u64) -> io::Result<Self> {
        create_private_dir(dir)?;
        create_private_dir(&dir.join("tmp"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name_key: identity.derive_key(NAME_KEY_INFO),
            wrap_key: identity.derive_key(WRAP_KEY_INFO),
            quota: AtomicU64::new(quota_mb.saturating_mul(1024 * 1024)),
        })
    }

    /// Changes the quota (0 = unlimited); takes effect for the next file.
    pub fn set_quota_mb(&self, quota_mb: u64) {
        self.quota.store(quota_mb.saturating_mul(1024 * 1024), Ordering::Relaxed);
    }

    /// The file of an object: `objects/ab/cdef...` named by HMAC(name key, id).
    pub fn path_of(&self, id: &ObjectId) -> PathBuf {
        let name = self.name_of(id);
        self.dir.join(&name[..2]).join(&name[2..])
    }

    /// HMAC-SHA-256(name key, id) in hex: the object's file name.
    pub(super) fn name_of(&self, id: &ObjectId) -> String {
        self.keyed_name(&id.0)
    }

    /// The keyed hash naming what `input` identifies on disk (hex).
    pub(super) fn keyed_name(&self, input: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.name_key.as_ref()).expect("any key length");
        mac.update(input);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether the (complete) object is stored.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.path_of(id).is_file()
    }

    /// Bytes used on disk by objects, partial ones included at the size they will have when
    /// complete (a transfer reserves its room when it begins, so that several at once cannot
    /// overcommit the quota).
    pub fn used_bytes(&self) -> io::Result<u64> {
        let mut total = 0;
        for entry in walk(&self.dir)? {
            total += fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
        }
        Ok(total + self.reserved_by_partials())
    }

    /// The final size of every partial file (from its header; its length for an older one).
    fn reserved_by_partials(&self) -> u64 {
        let Ok(entries) = fs::read_dir(self.dir.join("partial")) else { return 0 };
        let mut total = 0;
        for entry in entries.flatten() {
            let Ok(mut f) = File::open(entry.path()) else { continue };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let mut h = [0u8; MAX_HEADER];
            let n = format::read_full(&mut f, &mut h).unwrap_or(0);
            total += match format::read_header(&self.wrap_key, &h[..n]) {
                Ok(format::Header { size: Some(size), .. }) => format::padded_file_len(size).max(len),
                _ => len,
            };
        }
        total
    }

    /// Refuses `needed` more bytes if they would exceed the quota.
    pub fn check_quota(&self, needed: u64) -> Result<(), ObjectError> {
        let quota = self.quota.load(Ordering::Relaxed);
        if quota == 0 {
            return Ok(());
        }
        let used = self.used_bytes()?;
        if used.saturating_add(needed) > quota {
            return Err(ObjectError::Quota { quota_mb: quota / (1024 * 1024), used, needed });
        }
        Ok(())
    }

    /// Stores the content of `path` (streamed); returns its id and size. Stored once however
    /// often it is put.
    pub fn put_file(&self, path: &Path) -> Result<(ObjectId, u64), ObjectError> {
        self.put_file_with_leaves(path).map(|(id, size, _)| (id, size))
    }

    /// [`Self::put_file`], also returning the Merkle leaf hash of each 64 KiB chunk (what the
    /// sender proves its chunks with; computed in the same pass).
    pub fn put_file_with_leaves(&self, path: &Path) -> Result<(ObjectId, u64, Vec<[u8; 32]>), ObjectError> {
        let size = fs::metadata(path)?.len();
        self.check_quota(format::padded_file_len(size))?;
        self.put_stream(File::open(path)?)
    }

    /// Stores everything `reader` yields; returns its id and size.
    pub fn put_reader(&self, reader: impl Read) -> Result<(ObjectId, u64), ObjectError> {
        self.put_stream(reader).map(|(id, size, _)| (id, size))
    }

    /// Stores everything `reader` yields; returns its id, size and chunk leaf hashes.
    fn put_stream(&self, mut reader: impl Read) -> Result<(ObjectId, u64, Vec<[u8; 32]>), ObjectError> {
        let mut object_key = Zeroizing::new([0u8; 32]);
        crate::crypto::random_bytes(object_key.as_mut()).map_err(io::Error::other)?;
        let (tmp_path, mut tmp) = self.temp_file()?;
        let result = (|| -> Result<(ObjectId, u64, Vec<[u8; 32]>), ObjectError> {
            // The header's id is written last, once known; reserve its place.
            tmp.write_all(&[0u8; HEADER2])?;
            let mut hasher = Sha256::new();
            let mut leaves = Vec::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; SEGMENT];
            let mut filled = format::read_full(&mut reader, &mut buf)?;
            let mut i = 0u64;
            loop {
                // Look ahead one segment to know whether this one is the last.
                let mut next = vec![0u8; SEGMENT];
                let next_filled = if filled == SEGMENT { format::read_full(&mut reader, &mut next)? } else { 0 };
                let last = next_filled == 0;
                hasher.update(&buf[..filled]);
                if filled > 0 {
                    leaves.push(crate::crypto::merkle::leaf_hash(&buf[..filled]));
                }
                size += filled as u64;
                tmp.write_all(&seal(&object_key, &segment_nonce(i, last), b"", &buf[..filled]))?;
                if last {
                    break;
                }
                buf = next;
                filled = next_filled;
                i += 1;
            }
            let id = ObjectId(hasher.finalize().into());
            // Padding after the last segment: the file's length tells only its size class.
            let written = HEADER2 as u64 + format::sealed_len(size);
            write_padding(&mut tmp, format::padded_file_len(size) - written)?;
            let header = format::make_header(&self.wrap_key, &object_key, &id.0, size)?;
            crate::fsutil::write_all_at(&tmp, &header, 0)?;
            tmp.sync_all()?;
            Ok((id, size, leaves))
        })();
        match result {
            Ok((id, size, leaves)) => {
                self.install(&tmp_path, &id)?;
                Ok((id, size, leaves))
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                Err(e)
            }
        }
    }

    /// Moves a finished temporary file to the object's name (or drops it if already stored).
    pub(super) fn install(&self, tmp: &Path, id: &ObjectId) -> io::Result<()> {
        let dest = self.path_of(id);
        if dest.is_file() {
            fs::remove_file(tmp)?;
            return Ok(());
        }
        let parent = dest.parent().expect("objects/ab");
        create_private_dir(parent)?;
        fs::rename(tmp, &dest)?;
        sync_dir(parent)
    }

    /// A new temporary file inside the store (same file system, for an atomic rename).
    pub(super) fn temp_file(&self) -> io::Result<(PathBuf, File)> {
        let mut r = [0u8; 12];
        crate::crypto::random_bytes(&mut r).map_err(io::Error::other)?;
        let path = self.dir.join("tmp").join(format!("{}.tmp", hex::encode(r)));
        let mut o = OpenOptions::new();
        o.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        Ok((path.clone(), o.open(&path)?))
    }

    /// A verifying reader of an object's content.
    pub fn open_reader(&self, id: &ObjectId) -> Result<ObjectReader, ObjectError> {
        let path = self.path_of(id);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ObjectError::Missing(*id),
            _ => ObjectError::Io(e),
        })?;
        let reader = ObjectReader::new(file, &self.wrap_key)?;
        if reader.id() != id.0 {
            return Err(ObjectError::Io(format::corrupt("stored under another object's name")));
        }
        Ok(reader)
    }

    /// Reads and authenticates one 64 KiB segment (= transfer chunk `i`) without reading the
    /// rest of the object.
    pub fn read_chunk(&self, id: &ObjectId, i: u64) -> Result<Vec<u8>, ObjectError> {
        let file = File::open(self.path_of(id)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ObjectError::Missing(*id),
            _ => ObjectError::Io(e),
        })?;
        let len = file.metadata()?.len();
        let mut h = [0u8; MAX_HEADER];
        let n = format::read_full(&mut &file, &mut h)?;
        let header = format::read_header(&self.wrap_key, &h[..n])?;
        if header.id != id.0 {
            return Err(format::corrupt("stored under another object's name").into());
        }
        let layout = Layout::of(&header, len)?;
        if i >= layout.segments {
            return Err(format::corrupt("no such chunk").into());
        }
        let last = i + 1 == layout.segments;
        let (at, n) = layout.segment(i);
        let mut sealed = vec![0u8; n];
        crate::fsutil::read_exact_at(&file, &mut sealed, at)?;
        crate::crypto::open(&header.key, &segment_nonce(i, last), b"", &sealed)
            .map_err(|_| format::corrupt(&format!("segment {i} does not authenticate")).into())
    }

    /// Writes the object's content to `dest` atomically (temporary file, fsync, rename); a
    /// damaged object leaves nothing at `dest`, and an existing `dest` is never overwritten.
    pub fn export_to(&self, id: &ObjectId, dest: &Path) -> Result<(), ObjectError> {
        let reader = self.open_reader(id)?;
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        copy_atomically(reader, dir, || {
            if dest.exists() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", dest.display())));
            }
            Ok(dest.to_path_buf())
        })?;
        Ok(())
    }

    /// Saves the object into `dir` under a sanitized version of the peer-supplied `name`,
    /// never overwriting a file (`name (1)`, `name (2)`...); returns the path written.
    pub fn save_as(&self, id: &ObjectId, dir: &Path, name: &str) -> Result<PathBuf, ObjectError> {
        let reader = self.open_reader(id)?;
        let reserved = super::names::create_unique(dir, name)?;
        // Replaces only the empty placeholder reserved here.
        copy_atomically(reader, dir, || Ok(reserved.clone())).inspect_err(|_| {
            let _ = fs::remove_file(&reserved);
        })?;
        Ok(reserved)
    }

    /// Every complete object: its id (read from the header) and file. Unreadable headers are
    /// listed with `None`.
    pub fn list(&self) -> io::Result<Vec<(Option<ObjectId>, PathBuf)>> {
        let mut out = Vec::new();
        for path in walk(&self.dir)? {
            let id = File::open(&path).ok().and_then(|mut f| {
                let mut h = [0u8; MAX_HEADER];
                let n = format::read_full(&mut f, &mut h).ok()?;
                format::read_header(&self.wrap_key, &h[..n]).ok().map(|h| ObjectId(h.id))
            });
            out.push((id, path));
        }
        Ok(out)
    }

    /// Re-reads every object; returns the corrupt ones with the reason.
    pub fn verify_all(&self) -> io::Result<Vec<(PathBuf, String)>> {
        let mut bad = Vec::new();
        for (id, path) in self.list()? {
            let Some(id) = id else {
                bad.push((path, "unreadable header".into()));
                continue;
            };
            if self.path_of(&id) != path {
                bad.push((path, format!("object {id} is stored under another name")));
                continue;
            }
            let r = self
                .open_reader(&id)
                .map_err(|e| e.to_string())
                .and_then(|mut r| io::copy(&mut r, &mut io::sink()).map(|_| ()).map_err(|e| e.to_string()));
            if let Err(e) = r {
                bad.push((path, e));
            }
        }
        Ok(bad)
    }

    /// The Merkle leaf hash of each 64 KiB chunk of a stored object (to send it again without
    /// importing it again). Reads the whole object: blocking.
    pub fn leaves(&self, id: &ObjectId) -> Result<Vec<[u8; 32]>, ObjectError> {
        let mut reader = self.open_reader(id)?;
        let mut out = Vec::new();
        let mut chunk = vec![0u8; SEGMENT];
        loop {
            let filled = format::read_full(&mut reader, &mut chunk)?;
            if filled == 0 {
                return Ok(out);
            }
            out.push(crate::crypto::merkle::leaf_hash(&chunk[..filled]));
            if filled < chunk.len() {
                return Ok(out);
            }
        }
    }

    /// Removes an object (its message was deleted); nothing when it is not stored.
    pub fn remove(&self, id: &ObjectId) -> io::Result<()> {
        match fs::remove_file(self.path_of(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes every complete object whose id is not in `keep`; returns how many were removed.
    pub fn gc(&self, keep: &HashSet<ObjectId>) -> io::Result<usize> {
        let mut removed = 0;
        for (id, path) in self.list()? {
            if id.is_some_and(|id| !keep.contains(&id)) {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Copies `reader` into a temporary file in `dir`, fsyncs it, then renames it to the path
/// `dest` returns (asked only once the content is complete and verified).
fn copy_atomically(
    mut reader: impl Read,
    dir: &Path,
    dest: impl FnOnce() -> io::Result<PathBuf>,
) -> io::Result<PathBuf> {
    let mut r = [0u8; 8];
    crate::crypto::random_bytes(&mut r).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".wochat-save-{}.tmp", hex::encode(r)));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // A decrypted copy is the user's alone (0600 on Unix) wherever it goes.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&tmp)?;
        io::copy(&mut reader, &mut out)?;
        out.sync_all()?;
        let dest = dest()?;
        fs::rename(&tmp, &dest)?;
        sync_dir(dir)?;
        Ok(dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Object files below `dir` (the two-level `ab/cdef...` layout; `tmp/` and `partial/` skipped).
fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.len() != 2 || !e.file_type()?.is_dir() {
            continue;
        }
        for f in fs::read_dir(e.path())? {
            let f = f?;
            if f.file_type()?.is_file() {
                out.push(f.path());
            }
        }
    }
    Ok(out)
}

/// Appends `n` random bytes (the padding of an object file: indistinguishable from its
/// ciphertext, so the file does not show where the content ends).
pub(super) fn write_padding(file: &mut impl Write, n: u64) -> io::Result<()> {
    let mut left = n;
    let mut buf = vec![0u8; SEGMENT];
    while left > 0 {
        let k = left.min(SEGMENT as u64) as usize;
        crate::crypto::random_bytes(&mut buf[..k]).map_err(io::Error::other)?;
        file.write_all(&buf[..k])?;
        left -= k as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object stored by an older version (`WOB1`: no size in the header, no padding) still
    /// reads, chunk by chunk and whole, and verifies.
    #[test]
    fn objects_of_the_older_format_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = ObjectStore::open(dir.path(), &crate::crypto::Identity::generate().unwrap(), 0).unwrap();
        let data: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
        let id = ObjectId(crate::crypto::sha256(&data));
        let key = Zeroizing::new([7u8; 32]);
        let mut file = format::make_header_v1(&s.wrap_key, &key, &id.0).unwrap();
        let chunks: Vec<&[u8]> = data.chunks(SEGMENT).collect();
        for (i, c) in chunks.iter().enumerate() {
            file.extend(seal(&key, &segment_nonce(i as u64, i + 1 == chunks.len()), b"", c));
        }
        let path = s.path_of(&id);
        create_private_dir(path.parent().unwrap()).unwrap();
        fs::write(&path, &file).unwrap();
        let mut back = Vec::new();
        s.open_reader(&id).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(s.read_chunk(&id, 2).unwrap(), chunks[2]);
        assert!(s.verify_all().unwrap().is_empty());
        assert_eq!(s.list().unwrap()[0].0, Some(id));
    }
}
