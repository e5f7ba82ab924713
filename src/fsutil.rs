//! Small file-system helpers: atomic writes and private directories.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Creates `dir` (and its parents) if missing; on Unix the directory itself gets mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Makes everything below `root` private to the user (Unix: directories 0700, files 0600),
/// fixing whatever was found wider (a database created under a permissive umask, a home
/// copied from elsewhere). Symbolic links are left alone. Elsewhere a no-op: Windows and macOS
/// homes inherit the user profile's access rights.
pub fn make_private_tree(root: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![root.to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let want = if meta.is_dir() {
                0o700
            } else if meta.is_file() {
                0o600
            } else {
                continue;
            };
            if meta.permissions().mode() & 0o777 != want {
                fs::set_permissions(&path, fs::Permissions::from_mode(want))?;
            }
            if meta.is_dir() {
                for entry in fs::read_dir(&path)? {
                    stack.push(entry?.path());
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = root;
    Ok(())
}

/// Makes one file private to the user (Unix: 0600) if it exists.
pub fn make_private_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o777 != 0o600 => {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// then fsync of the directory. A crash leaves either the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::other("no file name"))?;
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), hex::encode(suffix)));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flushes a directory entry change (rename, create) to disk where the platform allows it.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Writes all of `buf` at `offset` without moving the file's cursor.
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut done, mut off) = (0, offset);
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_write(file, &buf[done..], off)?;
            done += n;
            off += n as u64;
        }
        Ok(())
    }
}

/// Fills `buf` from `offset` without moving the file's cursor.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut done, mut off) = (0, offset);
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], off)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
            off += n as u64;
        }
        Ok(())
    }
}

/// A file written from start to end whose data goes to the disk while more is written: every
/// [`SyncBehind::EVERY`] bytes a helper thread (started by the first of them) syncs what is
/// written so far, unless it is still syncing, so the sync that ends the file has only the tail
/// left. For large files that must be durable when written (backups, restores).
pub struct SyncBehind {
    file: File,
    unsynced: u64,
    syncer: Option<Syncer>,
}

/// The helper thread of a [`SyncBehind`] and how to ask it.
struct Syncer {
    ask: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Syncer {
    /// Starts syncing `file` when asked (`None` if it cannot: then only the end syncs).
    fn start(file: &File) -> Option<Self> {
        let other = file.try_clone().ok()?;
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("wochat-sync".into())
            .spawn(move || {
                for () in asked {
                    other.sync_data()?;
                }
                Ok(())
            })
            .ok()?;
        Some(Self { ask: Some(ask), thread: Some(thread) })
    }

    /// Waits until it has stopped; its first error.
    fn stop(&mut self) -> io::Result<()> {
        self.ask = None;
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| io::Error::other("the sync thread stopped"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl SyncBehind {
    /// How much is written between two syncs.
    pub const EVERY: u64 = 64 << 20;

    /// Writes into `file`.
    pub fn new(file: File) -> Self {
        Self { file, unsynced: 0, syncer: None }
    }

    /// Syncs the whole file and returns it: an error of a sync behind shows here.
    pub fn finish(self) -> io::Result<File> {
        if let Some(mut syncer) = self.syncer {
            syncer.stop()?;
        }
        self.file.sync_all()?;
        Ok(self.file)
    }
}

impl Write for SyncBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= Self::EVERY {
            if self.syncer.is_none() {
                self.syncer = Syncer::start(&self.file);
            }
            // Still syncing the last part: this part goes with the next.
            if let Some(ask) = self.syncer.as_ref().and_then(|s| s.ask.as_ref())
                && ask.try_send(()).is_ok()
            {
                self.unsynced = 0;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Files written one after another and synced on a thread of their own, so that writing the
/// next one does not wait for the disk; [`SyncQueue::finish`] waits for all and reports the
/// first that failed.
pub struct SyncQueue {
    files: Option<std::sync::mpsc::SyncSender<(SyncBehind, std::path::PathBuf)>>,
    thread: Option<std::thread::JoinHandle<Result<(), (std::path::PathBuf, io::Error)>>>,
}

impl SyncQueue {
    /// Files waiting at most; more waits for the disk.
    const WAITING: usize = 16;

    /// A queue with its thread (without one, each file syncs as it is added).
    pub fn new() -> Self {
        let (files, queued) = std::sync::mpsc::sync_channel::<(SyncBehind, std::path::PathBuf)>(Self::WAITING);
        let thread = std::thread::Builder::new()
            .name("wochat-sync-queue".into())
            .spawn(move || {
                for (file, path) in queued {
                    file.finish().map_err(|e| (path, e))?;
                }
                Ok(())
            })
            .ok();
        Self { files: thread.as_ref().map(|_| files), thread }
    }

    /// Syncs `file` (written at `path`) in turn.
    pub fn add(&mut self, file: SyncBehind, path: std::path::PathBuf) -> Result<(), (std::path::PathBuf, io::Error)> {
        match &self.files {
            Some(files) => match files.send((file, path)) {
                Ok(()) => Ok(()),
                // The thread stopped at an error: it is reported by `finish`.
                Err(_) => Ok(()),
            },
            None => file.finish().map(drop).map_err(|e| (path, e)),
        }
    }

    /// Waits until every file added is synced.
    pub fn finish(mut self) -> Result<(), (std::path::PathBuf, io::Error)> {
        self.files = None;
        match self.thread.take() {
            Some(t) => {
                t.join().unwrap_or_else(|_| Err((Default::default(), io::Error::other("the sync thread stopped"))))
            }
            None => Ok(()),
        }
    }
}

impl Default for SyncQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SyncQueue {
    fn drop(&mut self) {
        self.files = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_synced_behind_holds_all_that_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let mut w = SyncBehind::new(File::create(&p).unwrap());
        let block = vec![7u8; 1 << 20];
        for _ in 0..(SyncBehind::EVERY >> 20) * 2 + 3 {
            w.write_all(&block).unwrap();
        }
        let file = w.finish().unwrap();
        assert_eq!(file.metadata().unwrap().len(), (SyncBehind::EVERY * 2) + (3 << 20));
    }

    #[test]
    fn a_sync_queue_syncs_every_file_and_reports_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = SyncQueue::new();
        for i in 0..40 {
            let p = dir.path().join(format!("f{i}"));
            let mut w = SyncBehind::new(File::create(&p).unwrap());
            w.write_all(&[i as u8; 1000]).unwrap();
            queue.add(w, p).unwrap();
        }
        queue.finish().unwrap();
        for i in 0..40 {
            assert_eq!(fs::read(dir.path().join(format!("f{i}"))).unwrap(), vec![i as u8; 1000]);
        }
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
