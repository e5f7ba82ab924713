//! An account's encrypted `chat.db` (SQLCipher), keyed from the account's secret key.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use super::{StoreError, migrations, open_database};
use crate::crypto::{Address, Identity};

/// HKDF info string of the database key.
pub const DB_KEY_INFO: &str = "wochat/v1/db";

/// The open `chat.db` of one account: messages, friends and talks.
pub struct ChatDb {
    pub(super) conn: Connection,
    pub(super) me: Address,
    path: PathBuf,
    /// When this connection last wrote messages (ms), for the upkeep thread to find quiet
    /// moments.
    pub(super) last_write: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// `meta` key: `1` once the engine stopped cleanly, `0` while it runs.
const CLEAN_SHUTDOWN_KEY: &str = "clean_shutdown";

impl ChatDb {
    /// Notes that the engine runs; returns whether it had stopped cleanly the last time (a
    /// database from before the marker counts as not clean).
    pub fn begin_run(&self) -> Result<bool, StoreError> {
        let clean: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [CLEAN_SHUTDOWN_KEY], |r| r.get(0))
            .optional()?;
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, '0') ON CONFLICT (key) DO UPDATE SET value = '0'",
            [CLEAN_SHUTDOWN_KEY],
        )?;
        Ok(clean.as_deref() == Some("1"))
    }

    /// Notes that the engine stopped cleanly (everything it wrote is saved).
    pub fn end_run(&self) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, '1') ON CONFLICT (key) DO UPDATE SET value = '1'",
            [CLEAN_SHUTDOWN_KEY],
        )?;
        Ok(())
    }

    /// Opens (creating and migrating) the database at `path` with the key derived from the
    /// identity's secret key (HKDF-SHA-256, info `"wochat/v1/db"`).
    pub fn open(path: &Path, identity: &Identity) -> Result<Self, StoreError> {
        let key = identity.derive_key(DB_KEY_INFO);
        let conn = open_database(path, Some(&key), migrations::CHAT_DB)?;
        Ok(Self { conn, me: identity.address(), path: path.to_path_buf(), last_write: Default::default() })
    }

    /// Writes a consistent copy of the database to the new file `dest` (same key), while the
    /// account goes on (see [`super::snapshot`]); `pinned` is called once the moment it shows
    /// is fixed, before the pages are copied.
    pub fn snapshot_to(&self, dest: &Path, identity: &Identity, pinned: &mut dyn FnMut()) -> Result<(), StoreError> {
        super::snapshot(&self.conn, &identity.derive_key(DB_KEY_INFO), dest, pinned)
    }

    /// A setting of the account (the `meta` table), if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        super::olm::meta(&self.conn, key)
    }

    /// Sets (or, with `None`, removes) a setting of the account.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => super::olm::set_meta(&self.conn, key, v),
            None => {
                self.conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
                Ok(())
            }
        }
    }

    /// Gives this connection a page cache of `mib` MiB (SQLite's default is 2 MiB). The
    /// engine's connection looks messages up by hash, whose index is read at random: with the
    /// default, every lookup beyond the first few thousand messages decrypted a page again.
    /// The cache grows only as pages are read.
    pub fn set_cache_mib(&self, mib: u32) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "cache_size", -i64::from(mib) * 1024)?;
        Ok(())
    }

    /// The owner's address.
    pub fn me(&self) -> Address {
        self.me
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Notes a write (see [`super::Maintenance`]).
    pub(super) fn wrote(&self) {
        self.last_write.store(super::now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The underlying connection (for tests and maintenance).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The underlying connection, for transactions of its own (tests and maintenance).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl std::fmt::Debug for ChatDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatDb").field("me", &self.me).field("path", &self.path).finish()
    }
}
