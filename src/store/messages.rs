//! The `message` table: the outbox (status N, S, C) and the history of every talk.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{ChatDb, StoreError, now_ms, with_write_tx};
use crate::crypto::Address;

/// First retransmission delay of a message without a receipt.
pub const RETRY_FIRST_MS: i64 = 30_000;
/// Longest retransmission delay.
pub const RETRY_MAX_MS: i64 = 3_600_000;
/// How long a message is retransmitted.
pub const RETRY_FOR_MS: i64 = 7 * 24 * 3_600_000;

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Row id (local order).
    pub id: i64,
    /// When it was stored here (ms).
    pub dt: i64,
    /// Sender's clock (ms).
    pub ts: i64,
    /// Recipient.
    pub to: Address,
    /// Sender.
    pub from: Address,
    /// Hex SHA-256 of the CBOR packet.
    pub hash: String,
    /// Type letter.
    pub kind: char,
    /// Status letter: N, S or C.
    pub stat: char,
    /// The CBOR packet.
    pub cbor: Vec<u8>,
}

impl MessageRow {
    /// Whether this account sent it.
    pub fn outgoing(&self, me: &Address) -> bool {
        self.from == *me
    }
}

/// A message to publish (again).
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Hash (raw).
    pub hash: [u8; 32],
    /// Recipient.
    pub to: Address,
    /// The CBOR packet to seal.
    pub cbor: Vec<u8>,
}

/// A new message to store: what the receive loop or the sender has.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Hash (raw).
    pub hash: [u8; 32],
    /// Type letter.
    pub kind: char,
    /// Sender's clock (ms).
    pub ts: i64,
    /// The CBOR packet.
    pub cbor: &'a [u8],
    /// The attached object, for I, G, M, F. (Search indexes the text later, from the CBOR.)
    pub obj: Option<[u8; 32]>,
}

// The outbox queries repeat the partial index's condition (`stat IN ('N', 'S')`) word for
// word: SQLite uses a partial index only then. Without it, every second's retry check
// scanned the whole history.
const UNSENT_SQL: &str =
    "SELECT hash, topic, val FROM message WHERE stat IN ('N', 'S') AND stat = 'N' AND pk = ?1 ORDER BY id";
const DUE_SQL: &str = "SELECT hash, topic, val FROM message
     WHERE stat IN ('N', 'S') AND stat = 'S' AND next_try <= ?2 AND pk = ?1 AND dt >= ?3
     ORDER BY next_try LIMIT 1000";

const COLUMNS: &str = "id, dt, ts, topic, pk, hash, type, stat, val";

pub(super) fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<MessageRow>> {
    let parse = |s: String| s.parse::<Address>().ok();
    let (Some(to), Some(from)) = (parse(r.get(3)?), parse(r.get(4)?)) else { return Ok(None) };
    let letter = |s: String| s.chars().next().unwrap_or('?');
    Ok(Some(MessageRow {
        id: r.get(0)?,
        dt: r.get(1)?,
        ts: r.get(2)?,
        to,
        from,
        hash: r.get(5)?,
        kind: letter(r.get(6)?),
        stat: letter(r.get(7)?),
        cbor: r.get(8)?,
    }))
}

pub(super) fn collect(
    rows: impl Iterator<Item = rusqlite::Result<Option<MessageRow>>>,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        if let Some(m) = r? {
            out.push(m);
        }
    }
    Ok(out)
}

/// Inserts a message unless its hash is already stored; `true` if it was new. Updates the talk.
pub(crate) fn insert_message(
    tx: &Transaction<'_>,
    me: &Address,
    m: &NewMessage<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let outgoing = m.from == *me;
    let peer = if outgoing { m.to } else { m.from };
    let stat = if outgoing { "N" } else { "C" };
    let n = tx
        .prepare_cached(
            "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, peer, ts, obj)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![
            now,
            m.to.to_hex(),
            m.from.to_hex(),
            hex::encode(m.hash),
            m.cbor.len() as i64,
            m.kind.to_string(),
            stat,
            m.cbor,
            peer.to_hex(),
            m.ts,
            m.obj.map(hex::encode)
        ])?;
    if n == 0 {
        return Ok(false);
    }
    let is_friend: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM friend WHERE pk = ?1 AND stat = 'A')")?
        .query_row([peer.to_hex()], |r| r.get(0))?;
    let (unread, request) = if outgoing { (0, 0) } else { (1, i64::from(!is_friend)) };
    tx.prepare_cached(
        "INSERT INTO talk (pk, last_dt, unread, request) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (pk) DO UPDATE SET last_dt = excluded.last_dt, unread = unread + excluded.unread,
             request = CASE WHEN excluded.request = 0 THEN request ELSE 1 END",
    )?
    .execute(params![peer.to_hex(), now, unread, request])?;
    Ok(true)
}

/// Marks an own message N -> S (the broker acknowledged it); `true` if it changed.
pub(crate) fn mark_sent(tx: &Transaction<'_>, hash: &[u8; 32], now: i64) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("UPDATE message SET stat = 'S', next_try = ?2 WHERE hash = ?1 AND stat = 'N'")?
        .execute(params![hex::encode(hash), now + RETRY_FIRST_MS])?
        > 0)
}

/// Marks own messages to `from` as C (their receipt arrived); returns the hashes that changed.
pub(crate) fn mark_confirmed(
    tx: &Transaction<'_>,
    me: &Address,
    from: &Address,
    hashes: &[[u8; 32]],
) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE message SET stat = 'C', next_try = NULL WHERE hash = ?1 AND topic = ?2 AND pk = ?3 AND stat != 'C'",
    )?;
    let mut changed = Vec::new();
    for h in hashes {
        let hex = hex::encode(h);
        if stmt.execute(params![hex, from.to_hex(), me.to_hex()])? > 0 {
            changed.push(hex);
        }
    }
    Ok(changed)
}

impl ChatDb {
    /// Stores an own message with status N (before it is published) and updates the talk.
    pub fn store_outgoing(&mut self, m: &NewMessage<'_>) -> Result<bool, StoreError> {
        self.wrote();
        let me = self.me;
        with_write_tx(&mut self.conn, |tx| insert_message(tx, &me, m, now_ms()))
    }

    /// Stores many messages in one transaction (imports, benchmarks); returns how many were new.
    pub fn store_many(&mut self, messages: &[NewMessage<'_>]) -> Result<usize, StoreError> {
        self.wrote();
        let me = self.me;
        let now = now_ms();
        with_write_tx(&mut self.conn, |tx| {
            let mut new = 0;
            for m in messages {
                new += usize::from(insert_message(tx, &me, m, now)?);
            }
            Ok(new)
        })
    }

    /// Runs `f` in one write transaction (for batches of received messages and acks).
    pub fn batch<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &Address) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.wrote();
        let me = self.me;
        with_write_tx(&mut self.conn, |tx| f(tx, &me))
    }

    /// Own messages with status N (to publish after a connect or a restart), oldest first.
    pub fn unsent(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_query(UNSENT_SQL, params![self.me.to_hex()])
    }

    /// Own messages with status S whose receipt is overdue (PROTOCOL.md section 6).
    pub fn due_for_retry(&self, now: i64) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_query(DUE_SQL, params![self.me.to_hex(), now, now - RETRY_FOR_MS])
    }

    /// After publishing an overdue message again: doubles its wait, up to 1 hour.
    pub fn reschedule(&mut self, hashes: &[[u8; 32]], now: i64) -> Result<(), StoreError> {
        with_write_tx(&mut self.conn, |tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE message SET tries = tries + 1,
                     next_try = ?2 + min(?3 * (1 << min(tries + 1, 20)), ?4)
                 WHERE hash = ?1 AND stat = 'S'",
            )?;
            for h in hashes {
                stmt.execute(params![hex::encode(h), now, RETRY_FIRST_MS, RETRY_MAX_MS])?;
            }
            Ok(())
        })
    }

    fn outbox_query(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<OutboxItem>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows =
            stmt.query_map(p, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, to, cbor) = row?;
            let (Ok(hash), Ok(to)) = (hex::decode(&hash), to.parse::<Address>()) else { continue };
            let Ok(hash) = <[u8; 32]>::try_from(hash) else { continue };
            out.push(OutboxItem { hash, to, cbor });
        }
        Ok(out)
    }

    /// One message by its hex hash.
    pub fn message(&self, hash: &str) -> Result<Option<MessageRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM message WHERE hash = ?1");
        Ok(self.conn.query_row(&sql, [hash], row_to_message).optional()?.flatten())
    }

    /// The newest `limit` messages of the talk with `peer` whose id is below `before`
    /// (all when `None`), oldest first.
    pub fn history(&self, peer: &Address, limit: usize, before: Option<i64>) -> Result<Vec<MessageRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM message WHERE peer = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![peer.to_hex(), before.unwrap_or(i64::MAX), limit as i64], row_to_message)?;
        let mut out = collect(rows)?;
        out.reverse();
        Ok(out)
    }

    /// Number of messages in the talk with `peer`.
    pub fn message_count(&self, peer: &Address) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM message WHERE peer = ?1", [peer.to_hex()], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each query's plan, as SQLite describes it.
    fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn outbox_queries_use_the_outbox_index_not_a_scan() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut conn, crate::store::migrations::CHAT_DB).unwrap();
        for sql in [UNSENT_SQL, DUE_SQL] {
            let p = plan(&conn, &sql.replace("?1", "'x'").replace("?2", "0").replace("?3", "0"));
            assert!(p.contains("USING INDEX message_outbox"), "{sql}: {p}");
            assert!(!p.contains("SCAN message"), "{sql}: {p}");
        }
    }
}
