//! The file a backup is written into. On Linux it is written past the page cache (`O_DIRECT`)
//! by a thread of its own while the next piece is sealed: a backup of gigabytes then neither
//! evicts what the desktop keeps in memory nor pays for copying every byte into the cache (on
//! this project's machines that copy was the backup's largest single cost, more than sealing;
//! docs/PERFORMANCE.md). Where the file system refuses it (tmpfs) and on other systems, the
//! file is written through the cache and synced behind the writer ([`SyncBehind`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::fsutil::SyncBehind;

/// A backup file being written.
pub enum Output {
    /// Past the page cache.
    #[cfg(target_os = "linux")]
    Direct(direct::DirectFile),
    /// Through the page cache.
    Cached(SyncBehind),
}

impl Output {
    /// Creates (or empties) the file at `path`, readable by its owner only.
    pub fn create(path: &Path) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        if let Some(file) = direct::open(path)? {
            crate::fsutil::make_private_file(path)?;
            return Ok(Self::Direct(direct::DirectFile::new(direct::Sink::new(file, path))?));
        }
        let file = File::create(path)?;
        crate::fsutil::make_private_file(path)?;
        Ok(Self::Cached(SyncBehind::new(file)))
    }

    /// Writes what is left, syncs the whole file and returns it: an error of any write shows here.
    pub fn finish(self) -> io::Result<File> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Direct(d) => d.finish(),
            Self::Cached(c) => c.finish(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Direct(d) => d.write(buf),
            Self::Cached(c) => c.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Direct(_) => Ok(()),
            Self::Cached(c) => c.flush(),
        }
    }
}

#[cfg(target_os = "linux")]
mod direct {
    use std::fs::{File, OpenOptions};
    use std::io::{self, Seek, SeekFrom, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::thread::JoinHandle;

    /// What `O_DIRECT` asks of every write: its memory, offset and length a multiple of it (the
    /// largest logical block size of common disks).
    const ALIGN: usize = 4096;
    /// The piece handed to the writing thread.
    const PIECE: usize = 1 << 20;
    /// Pieces in turn: one being filled, the others being written or waiting.
    const PIECES: usize = 3;

    /// Opens `path` for writing past the page cache; `None` where the file system refuses it.
    pub fn open(path: &Path) -> io::Result<Option<File>> {
        match OpenOptions::new().write(true).create(true).truncate(true).custom_flags(libc::O_DIRECT).open(path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The file as the writing thread sees it: written past the cache until the file system
    /// refuses a write (some accept `O_DIRECT` when opening, then not a write of this
    /// alignment), from then on through the cache.
    pub struct Sink {
        file: File,
        path: PathBuf,
        at: u64,
        direct: bool,
    }

    impl Sink {
        /// `file` opened at `path` with `O_DIRECT`, empty.
        pub fn new(file: File, path: &Path) -> Self {
            Self { file, path: path.to_path_buf(), at: 0, direct: true }
        }

        /// Writes `bytes` where the last write ended (for tests).
        #[cfg(test)]
        pub fn write_for_test(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.write(bytes)
        }

        /// Writes `bytes` where the last write ended.
        fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
            match self.file.write_all(bytes) {
                Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    let mut cached = OpenOptions::new().write(true).open(&self.path)?;
                    cached.seek(SeekFrom::Start(self.at))?;
                    self.file = cached;
                    self.direct = false;
                    self.file.write_all(bytes)?;
                }
                result => result?,
            }
            self.at += bytes.len() as u64;
            Ok(())
        }
    }

    /// A piece of memory aligned for `O_DIRECT` (a larger vector, used from its first aligned byte).
    struct Piece {
        bytes: Vec<u8>,
        start: usize,
        filled: usize,
    }

    impl Piece {
        fn new() -> Self {
            let bytes = vec![0u8; PIECE + ALIGN];
            let start = bytes.as_ptr().align_offset(ALIGN);
            Self { bytes, start, filled: 0 }
        }

        /// The part to write: the bytes filled, padded with zeros to a whole block.
        fn padded(&mut self) -> &[u8] {
            let end = self.filled.next_multiple_of(ALIGN);
            let region = &mut self.bytes[self.start..self.start + end];
            region[self.filled..].fill(0);
            region
        }
    }

    /// A file written past the page cache, from start to end.
    pub struct DirectFile {
        piece: Piece,
        len: u64,
        full: Option<SyncSender<Piece>>,
        empty: Receiver<Piece>,
        writer: Option<JoinHandle<io::Result<File>>>,
    }

    impl DirectFile {
        /// Starts the writing thread for `sink`.
        pub fn new(sink: Sink) -> io::Result<Self> {
            let (full_tx, full_rx) = sync_channel::<Piece>(PIECES);
            let (empty_tx, empty_rx) = sync_channel::<Piece>(PIECES);
            for _ in 1..PIECES {
                let _ = empty_tx.send(Piece::new());
            }
            let writer = std::thread::Builder::new().name("wochat-backup-out".into()).spawn(move || {
                let mut sink = sink;
                for mut piece in full_rx {
                    sink.write(piece.padded())?;
                    piece.filled = 0;
                    // Nobody needs it back once the last piece is written.
                    let _ = empty_tx.send(piece);
                }
                Ok(sink.file)
            })?;
            Ok(Self { piece: Piece::new(), len: 0, full: Some(full_tx), empty: empty_rx, writer: Some(writer) })
        }

        /// The writing thread's error, once it has stopped.
        fn stopped(&mut self) -> io::Error {
            self.full = None;
            match self.writer.take().map(|w| w.join()) {
                Some(Ok(Err(e))) => e,
                _ => io::Error::other("the backup's writing thread stopped"),
            }
        }

        /// Hands `piece` to the writing thread.
        fn send(&mut self, piece: Piece) -> io::Result<()> {
            let sent = match &self.full {
                Some(full) => full.send(piece).is_ok(),
                None => false,
            };
            if sent { Ok(()) } else { Err(self.stopped()) }
        }

        /// Hands the current piece over and takes an empty one.
        fn hand_over(&mut self) -> io::Result<()> {
            let next = match self.empty.recv() {
                Ok(piece) => piece,
                Err(_) => return Err(self.stopped()),
            };
            let piece = std::mem::replace(&mut self.piece, next);
            self.send(piece)
        }

        /// Writes the last piece (padded), cuts the file to its length and syncs it.
        pub fn finish(mut self) -> io::Result<File> {
            if self.piece.filled > 0 {
                let piece = std::mem::replace(&mut self.piece, Piece { bytes: Vec::new(), start: 0, filled: 0 });
                self.send(piece)?;
            }
            self.full = None;
            let file = match self.writer.take().map(|w| w.join()) {
                Some(Ok(result)) => result?,
                _ => return Err(io::Error::other("the backup's writing thread stopped")),
            };
            file.set_len(self.len)?;
            file.sync_all()?;
            Ok(file)
        }
    }

    impl Write for DirectFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.piece.filled == PIECE {
                self.hand_over()?;
            }
            let room = PIECE - self.piece.filled;
            let n = room.min(buf.len());
            let at = self.piece.start + self.piece.filled;
            self.piece.bytes[at..at + n].copy_from_slice(&buf[..n]);
            self.piece.filled += n;
            self.len += n as u64;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Drop for DirectFile {
        fn drop(&mut self) {
            self.full = None;
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_the_file_whatever_the_pieces() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, (1 << 20) - 1, 1 << 20, (3 << 20) + 12_345] {
            let path = dir.path().join(format!("out-{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
            let mut out = Output::create(&path).unwrap();
            // Writes of odd sizes, as a stream's segments and headers come.
            for chunk in data.chunks(70_001) {
                out.write_all(chunk).unwrap();
            }
            out.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data, "{len} bytes");
        }
    }

    #[test]
    fn an_existing_file_is_replaced_not_overwritten_in_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, vec![9u8; 100_000]).unwrap();
        let mut out = Output::create(&path).unwrap();
        out.write_all(b"short").unwrap();
        out.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_the_file_system_refuses_past_the_cache_goes_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let Some(file) = direct::open(&path).unwrap() else { return };
        let mut sink = direct::Sink::new(file, &path);
        // Aligned, then not (refused by ext4 and others past the cache), then aligned again.
        let block = vec![1u8; 8192 + 4096];
        let at = block.as_ptr().align_offset(4096);
        sink.write_for_test(&block[at..at + 4096]).unwrap();
        sink.write_for_test(&block[at + 1..at + 101]).unwrap();
        sink.write_for_test(&block[at..at + 4096]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![1u8; 4096 + 100 + 4096]);
    }
}
