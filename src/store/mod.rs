//! Storage: the plain key database (`wochat.db`) and each account's encrypted `chat.db`.

mod actions;
mod chat;
mod chats;
mod cipher;
mod friends;
mod keys;
mod lock;
mod maintenance;
mod messages;
pub mod migrations;
pub mod olm;
mod openssl;
mod requests;
mod search;
mod snapshot;
mod talk_state;
mod transfers;

pub use actions::{
    ActionOutcome, DELETED_FOR_EVERYONE, DELETED_HERE, EDIT_WINDOW_MS, MAX_EDITS, MAX_WAITING_ACTIONS, NewAction,
    Reactions,
};
pub(crate) use actions::{insert_action, is_deleted, mark_seen, read_receipts_on, take_unseen, typing_on};
pub use chat::{ChatDb, DB_KEY_INFO};
pub use chats::{ChatId, ChatKind, Talk, TalkSummary};
pub use cipher::PageMac;
pub(crate) use friends::status_in as friend_status_in;
pub use friends::{Friend, FriendStatus};
pub use keys::{AccountEntry, KeyStore, KeysError, normalize_name};
pub use lock::{AccountLock, LockError};
pub use maintenance::Maintenance;
pub use messages::{
    MessageRow, MessageStatus, NewMessage, OutboxItem, RETRY_FIRST_MS, RETRY_FOR_MS, RETRY_MAX_MS, order_time,
};
pub(crate) use messages::{
    chat_of_message, due_in, due_now, insert_message, insert_message_as, is_stored, mark_confirmed, mark_sent,
    reschedule, restart_schedule, unconfirmed_in, unsent_in,
};
pub use requests::{MAX_REQUEST_BYTES, MAX_REQUEST_MESSAGES, MAX_REQUESTERS, MAX_REQUESTS_BYTES};
pub(crate) use requests::{is_friend, make_room as make_room_for_request};
pub use snapshot::snapshot;
pub use talk_state::{MAX_DRAFT, TalkChange, TalkState};
pub use transfers::{Direction, Transfer, TransferState};
pub(crate) use transfers::{get_transfer, put_object_tree, put_transfer};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crypto::Key32;
use cipher::apply_key;
use migrations::Migration;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// How long a writer waits for another process's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors opening or using a database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database, is damaged, or (for `chat.db`) the key is wrong.
    #[error("cannot open {path}: {reason}")]
    Unreadable {
        /// The database file.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// The database was written by a newer WoChat.
    #[error("the database has schema version {found}, newer than this WoChat supports ({supported}); please upgrade")]
    TooNew {
        /// Version found in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Size the WAL file is cut back to after a checkpoint, and past which the writer checkpoints
/// itself (the upkeep does it in quiet moments, [`maintenance`]).
pub const WAL_SIZE_LIMIT: u64 = 8 << 20;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Opens `path` keyed with one page HMAC setting and reads page 1. The outer error is a file
/// that cannot be opened at all; the inner one is what reading page 1 said (a wrong key, the
/// other page HMAC or a damaged file shows there).
fn open_keyed(
    path: &Path,
    key: Option<&Key32>,
    mac: PageMac,
) -> Result<Result<Connection, rusqlite::Error>, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    if let Some(key) = key {
        apply_key(&conn, key, mac)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map(|_| conn))
}

/// Opens (creating if missing) a database, keys it if `key` is given (SQLCipher raw key),
/// checks that it is readable, sets WAL, the busy timeout and foreign keys, and migrates it.
pub fn open_database(path: &Path, key: Option<&Key32>, list: &[Migration]) -> Result<Connection, StoreError> {
    openssl::init();
    let unreadable = |reason: String| StoreError::Unreadable { path: path.to_path_buf(), reason };
    // A database that exists may be of either page HMAC (see `cipher`); a new one (no page
    // to read yet) opens with the first, the new one. Only "not a database" (page 1 does not
    // authenticate) moves on to the next setting: a busy or unreadable file is reported as it is.
    let mut read = open_keyed(path, key, PageMac::NEW).map_err(|e| unreadable(e.to_string()))?;
    if key.is_some() {
        for &mac in PageMac::ALL.iter().filter(|m| **m != PageMac::NEW) {
            if !matches!(&read, Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase)) {
                break;
            }
            read = open_keyed(path, key, mac).map_err(|e| unreadable(e.to_string()))?;
        }
    }
    let mut conn = read.map_err(|e| {
        unreadable(match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) if key.is_some() => {
                "wrong key, or the file is damaged or not a WoChat database".to_string()
            }
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                "the file is damaged or not a WoChat database".to_string()
            }
            _ => e.to_string(),
        })
    })?;
    // Switching a new database to WAL needs a moment alone with it: another process opening
    // the same new file at that instant makes SQLite answer "busy" without waiting.
    let mode: String = retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(unreadable(format!("could not switch to WAL mode (got {mode})")));
    }
    // SQLite creates its files under the process's umask: they are the user's alone.
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        crate::fsutil::make_private_file(Path::new(&p)).map_err(|e| unreadable(e.to_string()))?;
    }
    // FULL: a commit is on disk when it returns (in WAL mode NORMAL may lose the last
    // commits on power loss), and receipts leave only after the commit of what they confirm.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    // macOS: fsync() leaves the data in the drive's cache; only F_FULLFSYNC reaches the disk,
    // and SQLite uses it only when asked (no effect on other systems).
    #[cfg(target_os = "macos")]
    conn.execute_batch("PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON;")?;
    // After a checkpoint, the WAL file is cut back to this size (else it keeps its largest).
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT as i64)?;
    migrations::migrate(&mut conn, list).map_err(|e| match e {
        StoreError::Sqlite(e) if matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt)) => {
            unreadable("the file is damaged".into())
        }
        other => other,
    })?;
    Ok(conn)
}

/// Runs `f` again while SQLite reports the database busy (up to [`BUSY_TIMEOUT`]), for the
/// statements its busy handler does not cover.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Runs `f` in an immediate write transaction: the write lock is taken up front, so a
/// concurrent writer waits on the busy timeout instead of failing with "database is locked".
pub fn with_write_tx<T>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    with_write_tx_of(conn, f)
}

/// [`with_write_tx`] for work whose errors are of another type (a session's, the engine's).
pub fn with_write_tx_of<T, E: From<StoreError>>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
    let out = f(&tx)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(out)
}
