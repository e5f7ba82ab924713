//! Database upkeep off the writer's path, once a second on a thread with its own connection:
//! - search indexing of the messages stored since the last round, in batches (an FTS5 insert in
//!   every engine commit made those commits merge index segments: stalls of tens of ms);
//! - WAL checkpoints: SQLite checkpoints on the committing connection by default, and a
//!   checkpoint syncs the database file. The engine's connection turns that off; this thread
//!   checkpoints passively (it never blocks the writer or readers) in quiet moments. The
//!   writer still checkpoints when the WAL grows past [`super::WAL_SIZE_LIMIT`]: a flood of
//!   writes leaves no quiet moment, and the WAL would grow without bound.

use std::sync::mpsc;
use std::time::Duration;

use super::{ChatDb, StoreError};

/// How often the upkeep looks.
const EVERY: Duration = Duration::from_secs(1);
/// The engine has written nothing for this long: a quiet moment for the upkeep, whose write
/// transaction would otherwise hold up the engine's next commit.
const QUIET_MS: i64 = 500;
/// The upkeep runs anyway when it has waited this long for a quiet moment.
const AT_LEAST_EVERY_MS: i64 = 30_000;

/// The upkeep thread of one database; it stops when dropped, and the drop returns once the
/// thread has closed its connection. (SQLCipher frees its state when the process exits: a
/// thread still closing a connection then would crash the process on its way out.)
#[derive(Debug)]
pub struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Maintenance {
    /// Takes over indexing and checkpoints of `writer`'s database, using `own` (a second
    /// connection).
    pub fn start(writer: &ChatDb, own: ChatDb) -> Result<Self, StoreError> {
        // In pages (SQLCipher's are 4 KiB).
        writer.conn.pragma_update(None, "wal_autocheckpoint", super::WAL_SIZE_LIMIT as i64 / 4096)?;
        let last_write = writer.last_write.clone();

        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wochat-upkeep".into())
            .spawn(move || {
                let mut last_run = super::now_ms();

                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    let now = super::now_ms();
                    let quiet = now - last_write.load(std::sync::atomic::Ordering::Relaxed) >= QUIET_MS;
                    if !quiet && now - last_run < AT_LEAST_EVERY_MS {
                        continue;
                    }
                    last_run = now;
                    // Busy or failed: the next round tries again; nothing is lost meanwhile
                    // (a search indexes what is missing before it looks).
                    // The engine marks a write before it waits for the lock: the indexing
                    // stops after its current transaction and goes on next round.
                    let seen = last_write.load(std::sync::atomic::Ordering::Relaxed);
                    let _ = own.index_pending_while(|| last_write.load(std::sync::atomic::Ordering::Relaxed) == seen);
                    let _ = own.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Unreadable { path: writer.path().to_path_buf(), reason: e.to_string() })?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}
