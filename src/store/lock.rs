//! One process per account: an OS file lock on `accounts/<address>/lock`.
//!
//! The lock is an advisory lock held on an open file (`flock` on Unix, `LockFileEx` on
//! Windows); the OS releases it when the process exits or crashes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Holding this means the account is open in this process.
#[derive(Debug)]
pub struct AccountLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process has the account open.
    #[error("this account is already open in another window")]
    AlreadyOpen,
    /// The lock file could not be created or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl AccountLock {
    /// Takes the lock without waiting.
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io { path: path.to_path_buf(), source };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LockError::AlreadyOpen),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // For people looking at the home: which process holds it.
        let _ = file.set_len(0).and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(Self { _file: file, path: path.to_path_buf() })
    }

    /// Whether another process holds the lock at `path` now (a hint for the login list: the
    /// answer can change at any moment; [`Self::acquire`] decides).
    pub fn held_elsewhere(path: &Path) -> bool {
        let Ok(file) = File::open(path) else { return false };
        // A shared lock conflicts only with the holder's exclusive one; it is dropped at once.
        matches!(file.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let first = AccountLock::acquire(&p).unwrap();
        assert!(matches!(AccountLock::acquire(&p), Err(LockError::AlreadyOpen)));
        assert!(AccountLock::held_elsewhere(&p), "held, by another handle");
        drop(first);
        AccountLock::acquire(&p).unwrap();
    }
}
