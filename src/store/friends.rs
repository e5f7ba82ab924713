//! The `friend` table: people this account talks to, with their display names and status.

use rusqlite::{OptionalExtension, params};

use super::{ChatDb, StoreError, now_ms, with_write_tx};
use crate::crypto::Address;

/// Whether messages from a friend are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendStatus {
    /// Messages are accepted.
    Active,
    /// Messages are dropped after opening and get no receipt.
    Blocked,
}

/// The status of a stored `friend.stat` letter.
pub(super) fn status_of(c: &str) -> FriendStatus {
    if c == "B" { FriendStatus::Blocked } else { FriendStatus::Active }
}

impl FriendStatus {
    /// The word used in `friend list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blocked => "blocked",
        }
    }
}

/// A row of the `friend` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    /// Address.
    pub address: Address,
    /// Display name.
    pub name: String,
    /// Active or blocked.
    pub status: FriendStatus,
    /// When the row was created (ms).
    pub dt: i64,
}

impl ChatDb {
    /// Adds a friend, or renames an existing one (the status is kept); returns the direct
    /// conversation with them (created if needed).
    pub fn upsert_friend(&mut self, address: &Address, name: &str) -> Result<super::ChatId, StoreError> {
        let now = now_ms();
        with_write_tx(&mut self.conn, |tx| {
            tx.execute(
                "INSERT INTO friend (dt, pk, name, stat) VALUES (?1, ?2, ?3, 'A')
                 ON CONFLICT (pk) DO UPDATE SET name = excluded.name",
                params![now, address.to_hex(), name],
            )?;
            // A friend has a conversation (empty until the first message), so it can be opened.
            // Adding the sender of a message request accepts it.
            let chat = super::chats::direct_chat(tx, address, now)?;
            tx.execute("UPDATE talk SET request = 0 WHERE id = ?1", [chat.0])?;
            super::requests::accept_requests(tx, chat.0)?;
            Ok(chat)
        })
    }

    /// Blocks an address: a friend keeps their row; anyone else gets a blocked row.
    pub fn block(&mut self, address: &Address) -> Result<(), StoreError> {
        let now = now_ms();
        with_write_tx(&mut self.conn, |tx| {
            tx.execute(
                "INSERT INTO friend (dt, pk, name, stat) VALUES (?1, ?2, '', 'B')
                 ON CONFLICT (pk) DO UPDATE SET stat = 'B'",
                params![now, address.to_hex()],
            )?;
            tx.execute("UPDATE talk SET request = 0 WHERE pk = ?1", [address.to_hex()])?;
            Ok(())
        })
    }

    /// Unblocks an address; returns whether it was blocked. A friend becomes a friend again;
    /// someone blocked without ever being a friend (no name) is simply forgotten.
    pub fn unblock(&mut self, address: &Address) -> Result<bool, StoreError> {
        let pk = address.to_hex();
        with_write_tx(&mut self.conn, |tx| {
            let stranger = tx.execute("DELETE FROM friend WHERE pk = ?1 AND stat = 'B' AND name = ''", [&pk])?;
            let friend = tx.execute("UPDATE friend SET stat = 'A' WHERE pk = ?1 AND stat = 'B'", [&pk])?;
            Ok(stranger + friend > 0)
        })
    }

    /// Removes a friend; returns whether there was one. Messages are kept.
    pub fn remove_friend(&mut self, address: &Address) -> Result<bool, StoreError> {
        Ok(self.conn.execute("DELETE FROM friend WHERE pk = ?1", [address.to_hex()])? > 0)
    }

    /// Whether messages from `address` are dropped.
    pub fn is_blocked(&self, address: &Address) -> Result<bool, StoreError> {
        is_blocked(&self.conn, address)
    }

    /// One friend, if present.
    pub fn friend(&self, address: &Address) -> Result<Option<Friend>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT pk, name, stat, dt FROM friend WHERE pk = ?1", [address.to_hex()], row_to_friend)
            .optional()?
            .flatten())
    }

    /// All friends, in the order they were added.
    pub fn friends(&self) -> Result<Vec<Friend>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT pk, name, stat, dt FROM friend ORDER BY id")?;
        let rows = stmt.query_map([], row_to_friend)?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(f) = r? {
                out.push(f);
            }
        }
        Ok(out)
    }
}

/// Maps a row; a row whose address does not parse is skipped (`None`) rather than failing
/// the whole list.
fn row_to_friend(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Friend>> {
    let pk: String = r.get(0)?;
    let Ok(address) = pk.parse() else { return Ok(None) };
    Ok(Some(Friend { address, name: r.get(1)?, status: status_of(&r.get::<_, String>(2)?), dt: r.get(3)? }))
}

/// Where `address` stands: a friend's status, `None` for a stranger (usable inside a
/// transaction; one lookup for what [`is_blocked`] and `is_friend` each ask).
pub(crate) fn status_in(conn: &rusqlite::Connection, address: &Address) -> Result<Option<FriendStatus>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT stat FROM friend WHERE pk = ?1")?
        .query_row([address.to_hex()], |r| r.get::<_, String>(0))
        .optional()?
        .map(|s| status_of(&s)))
}

/// Whether messages from `address` are dropped (usable inside a transaction).
pub(crate) fn is_blocked(conn: &rusqlite::Connection, address: &Address) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM friend WHERE pk = ?1 AND stat = 'B')")?
        .query_row([address.to_hex()], |r| r.get(0))?)
}
