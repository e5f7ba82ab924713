//! Message requests: what people who are not friends may leave before the user answers.
//! Anyone who knows an address can write to it, so what they leave is bounded before anything
//! is written: per stranger [`MAX_REQUEST_MESSAGES`] messages and [`MAX_REQUEST_BYTES`], over
//! all strangers [`MAX_REQUESTERS`] conversations and [`MAX_REQUESTS_BYTES`]. The oldest
//! goes first (a stranger's oldest message, then the stranger whose request is oldest), and
//! the `requests_dropped` counter in `meta` says how many messages went.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{ChatDb, StoreError};
use crate::crypto::Address;

/// Most messages one stranger may leave.
pub const MAX_REQUEST_MESSAGES: i64 = 20;
/// Most bytes (CBOR packets) one stranger may leave.
pub const MAX_REQUEST_BYTES: i64 = 128 * 1024;
/// Most strangers with a pending request.
pub const MAX_REQUESTERS: i64 = 200;
/// Most bytes all pending requests may hold.
pub const MAX_REQUESTS_BYTES: i64 = 8 << 20;

const DROPPED_KEY: &str = "requests_dropped";

/// Whether `peer` is a friend (added and not blocked).
pub(crate) fn is_friend(conn: &rusqlite::Connection, peer: &Address) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM friend WHERE pk = ?1 AND stat = 'A')")?
        .query_row([peer.to_hex()], |r| r.get(0))?)
}

/// Makes room for a message of `size` bytes from the stranger `peer`, dropping the oldest
/// request messages as the limits require; returns how many were dropped. Only messages that
/// arrived while their sender was a stranger (`req = 1`) are ever dropped.
pub(crate) fn make_room(tx: &Transaction<'_>, peer: &Address, size: i64) -> Result<u64, StoreError> {
    let chat: Option<i64> =
        tx.prepare_cached("SELECT id FROM talk WHERE pk = ?1")?.query_row([peer.to_hex()], |r| r.get(0)).optional()?;
    let mut dropped = 0u64;
    // This stranger's own budget.
    if let Some(chat) = chat {
        loop {
            let (count, bytes) = usage_of(tx, chat)?;
            if count == 0 || (count < MAX_REQUEST_MESSAGES && bytes + size <= MAX_REQUEST_BYTES) {
                break;
            }
            dropped += delete_requests(tx, "id = (SELECT min(id) FROM message WHERE chat = ?1 AND req = 1)", chat)?;
        }
    }
    // The budget of all requests together: the stranger whose newest message is oldest goes.
    loop {
        let (requesters, bytes) = total_usage(tx)?;
        let newcomer = match chat {
            Some(c) => i64::from(usage_of(tx, c)?.0 == 0),
            None => 1,
        };
        if requesters + newcomer <= MAX_REQUESTERS && bytes + size <= MAX_REQUESTS_BYTES {
            break;
        }
        let oldest: Option<i64> = tx
            .prepare_cached(
                "SELECT chat FROM message WHERE req = 1 AND chat IS NOT ?1 GROUP BY chat ORDER BY max(id) LIMIT 1",
            )?
            .query_row([chat], |r| r.get(0))
            .optional()?;
        let Some(oldest) = oldest else { break };
        dropped += delete_requests(tx, "chat = ?1 AND req = 1", oldest)?;
        // A conversation that only ever held the request goes with it.
        tx.prepare_cached(
            "DELETE FROM talk WHERE id = ?1 AND request = 1 AND NOT EXISTS (SELECT 1 FROM message WHERE chat = ?1)
             AND pk NOT IN (SELECT pk FROM friend)",
        )?
        .execute([oldest])?;
    }
    if dropped > 0 {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + CAST(?2 AS INTEGER) AS TEXT)",
        )?
        .execute(params![DROPPED_KEY, dropped.to_string()])?;
    }
    Ok(dropped)
}

/// Marks the messages of a conversation as the user's own history (its request was accepted).
pub(crate) fn accept_requests(tx: &Transaction<'_>, chat: i64) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE message SET req = 0 WHERE chat = ?1 AND req = 1")?.execute([chat])?;
    Ok(())
}

fn usage_of(tx: &Transaction<'_>, chat: i64) -> Result<(i64, i64), StoreError> {
    Ok(tx
        .prepare_cached("SELECT count(*), coalesce(sum(size), 0) FROM message WHERE chat = ?1 AND req = 1")?
        .query_row([chat], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

fn total_usage(tx: &Transaction<'_>) -> Result<(i64, i64), StoreError> {
    Ok(tx
        .prepare_cached("SELECT count(DISTINCT chat), coalesce(sum(size), 0) FROM message WHERE req = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Deletes the request messages `filter` selects (one `?1` parameter) with what hangs on
/// them: search entries, receipts and transfers not complete. Returns how many went.
fn delete_requests(tx: &Transaction<'_>, filter: &str, arg: i64) -> Result<u64, StoreError> {
    let from = format!("FROM message WHERE req = 1 AND {filter}");
    tx.prepare_cached(&format!("DELETE FROM message_text WHERE rowid IN (SELECT id {from})"))?.execute([arg])?;
    tx.prepare_cached(&format!("DELETE FROM receipt WHERE msg IN (SELECT id {from})"))?.execute([arg])?;
    tx.prepare_cached(&format!(
        "DELETE FROM transfer WHERE dir = 'I' AND state != 'C' AND msg IN (SELECT hash {from})"
    ))?
    .execute([arg])?;
    Ok(tx.prepare_cached(&format!("DELETE {from}"))?.execute([arg])? as u64)
}

impl ChatDb {
    /// Whether `peer` is a friend (added and not blocked).
    pub fn is_friend(&self, peer: &Address) -> Result<bool, StoreError> {
        is_friend(&self.conn, peer)
    }

    /// How many messages from strangers were dropped to keep requests within their limits.
    pub fn requests_dropped(&self) -> Result<u64, StoreError> {
        let v: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([DROPPED_KEY], |r| r.get(0))
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}
