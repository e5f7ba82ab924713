//! The `message` table: the outbox (status N, S, C) and the history of every conversation,
//! and `receipt`: who has confirmed an own message.

use rusqlite::{OptionalExtension, Transaction, params};

use super::chats::{ChatId, direct_chat, member_count};
use super::{ChatDb, StoreError, now_ms, with_write_tx};
use crate::crypto::Address;
use crate::wire::{Body, MessageHash, MessageKind, Packet, PacketError};

/// First retransmission delay of a message without a receipt.
pub const RETRY_FIRST_MS: i64 = 30_000;
/// Longest retransmission delay.
pub const RETRY_MAX_MS: i64 = 3_600_000;
/// How long a message is retransmitted.
pub const RETRY_FOR_MS: i64 = 7 * 24 * 3_600_000;

/// Where an own message is on its way (`message.stat`); a received message is `Confirmed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageStatus {
    /// `N`: stored here, not yet acknowledged by the broker.
    Stored,
    /// `S`: the broker has it (PUBACK); no receipt yet.
    Sent,
    /// `C`: every recipient has stored it (receipts).
    Confirmed,
}

impl MessageStatus {
    /// The letter stored in `message.stat` and printed by the CLI.
    pub fn code(self) -> char {
        match self {
            Self::Stored => 'N',
            Self::Sent => 'S',
            Self::Confirmed => 'C',
        }
    }

    /// The status of a stored letter (anything unknown reads as `Stored`: it is published again).
    pub fn from_code(c: char) -> Self {
        match c {
            'S' => Self::Sent,
            'C' => Self::Confirmed,
            _ => Self::Stored,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Row id (local order).
    pub id: i64,
    /// The conversation.
    pub chat: ChatId,
    /// When it was stored here (ms).
    pub dt: i64,
    /// Sender's clock (ms).
    pub ts: i64,
    /// Recipient.
    pub to: Address,
    /// Sender.
    pub from: Address,
    /// SHA-256 of the CBOR packet.
    pub hash: MessageHash,
    /// Text or which attachment.
    pub kind: MessageKind,
    /// Status.
    pub stat: MessageStatus,
    /// The CBOR packet.
    pub cbor: Vec<u8>,
    /// Where it stands in its conversation ([`order_time`] of `ts` and its arrival, as
    /// stored).
    pub ord: i64,
    /// How many times its sender edited it.
    pub edits: u32,
    /// 0, or deleted for everyone ([`super::DELETED_FOR_EVERYONE`]: the content is gone), or
    /// here only ([`super::DELETED_HERE`]: not shown).
    pub deleted: i64,
    /// An own message: when the peer said it displayed it; a received one: when this account
    /// said so (read receipts).
    pub seen: Option<i64>,
}

/// Where a message stands in its conversation: the sender's clock `ts`, but never after its
/// arrival `dt` (a clock ahead cannot put a message in the future) nor more than the
/// retransmission period before it (a clock far behind cannot bury it in the past); a message
/// published again late still lands where it was written.
pub fn order_time(ts: i64, dt: i64) -> i64 {
    if ts <= 0 { dt } else { ts.clamp(dt - RETRY_FOR_MS, dt) }
}

impl MessageRow {
    /// Whether this account sent it.
    pub fn outgoing(&self, me: &Address) -> bool {
        self.from == *me
    }

    /// The decoded packet body (what the message says).
    pub fn body(&self) -> Result<Body, PacketError> {
        Packet::decode(&self.cbor).map(|p| p.body)
    }
}

/// A message to publish (again).
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Its hash.
    pub hash: MessageHash,
    /// Recipient.
    pub to: Address,
    /// The CBOR packet to seal.
    pub cbor: Vec<u8>,
}

/// A new message to store: what the receive loop or the sender has.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The conversation; `None`: the direct one with the other party (created if missing).
    pub chat: Option<ChatId>,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Its hash.
    pub hash: MessageHash,
    /// Text or which attachment.
    pub kind: MessageKind,
    /// Sender's clock (ms).
    pub ts: i64,
    /// The CBOR packet.
    pub cbor: &'a [u8],
    /// The attached object, for I, G, M, F. (Search indexes the text later, from the CBOR.)
    pub obj: Option<[u8; 32]>,
}

// The outbox queries repeat the partial index's condition (`stat IN ('N', 'S')`) word for
// word: SQLite uses a partial index only then. Without it, every second's retry check
// scanned the whole history. Own actions (edits, deletes, reactions: `store::actions`) wait
// for their receipts in the same way, in their own table; messages go first at equal times.
const UNSENT_SQL: &str = "SELECT hash, topic, val, dt, 0 AS k, id FROM message
     WHERE stat IN ('N', 'S') AND stat = 'N' AND pk = ?1
     UNION ALL SELECT hash, topic, val, dt, 1 AS k, id FROM action
     WHERE stat IN ('N', 'S') AND stat = 'N' AND pk = ?1
     ORDER BY 4, 5, 6";
const DUE_SQL: &str = "SELECT hash, topic, val, next_try FROM message
     WHERE stat IN ('N', 'S') AND stat = 'S' AND next_try <= ?2 AND pk = ?1 AND dt >= ?3
     UNION ALL SELECT hash, topic, val, next_try FROM action
     WHERE stat IN ('N', 'S') AND stat = 'S' AND next_try <= ?2 AND pk = ?1 AND dt >= ?3
     ORDER BY 4 LIMIT 1000";

const UNCONFIRMED_SQL: &str = "SELECT hash, topic, val, dt, 0 AS k, id FROM message
     WHERE stat IN ('N', 'S') AND stat = 'S' AND pk = ?1 AND dt >= ?2
     UNION ALL SELECT hash, topic, val, dt, 1 AS k, id FROM action
     WHERE stat IN ('N', 'S') AND stat = 'S' AND pk = ?1 AND dt >= ?2
     ORDER BY 4, 5, 6 LIMIT ?3";
/// The tables whose own rows wait for receipts.
const OUTBOX_TABLES: [&str; 2] = ["message", "action"];
const RESTART_SQL: &str = "UPDATE {table} SET tries = 0, next_try = ?3
     WHERE stat IN ('N', 'S') AND stat = 'S' AND pk = ?1 AND dt >= ?2";

/// The columns [`row_to_message`] reads (of `message m`), in order.
pub(super) const COLUMNS: &str =
    "m.id, m.chat, m.dt, m.ts, m.topic, m.pk, m.hash, m.type, m.stat, m.val, m.ord, m.edits, m.deleted, m.seen";

/// A message row from [`COLUMNS`]; `None` when an address or the hash does not parse.
pub(super) fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<MessageRow>> {
    let parse = |i: usize| -> rusqlite::Result<Option<Address>> { Ok(r.get_ref(i)?.as_str().ok().and_then(address)) };
    let (Some(to), Some(from)) = (parse(4)?, parse(5)?) else { return Ok(None) };
    let Ok(hash) = r.get::<_, String>(6)?.parse() else { return Ok(None) };
    let letter = |s: String| s.chars().next().unwrap_or('?');
    let Some(kind) = MessageKind::from_letter(letter(r.get(7)?)) else { return Ok(None) };
    Ok(Some(MessageRow {
        id: r.get(0)?,
        chat: ChatId(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
        dt: r.get(2)?,
        ts: r.get(3)?,
        to,
        from,
        hash,
        kind,
        stat: MessageStatus::from_code(letter(r.get(8)?)),
        cbor: r.get(9)?,
        ord: r.get(10)?,
        edits: r.get::<_, i64>(11)?.clamp(0, i64::from(u32::MAX)) as u32,
        deleted: r.get(12)?,
        seen: r.get(13)?,
    }))
}

/// Parses a stored address. The rows of a page name the same few addresses over and over,
/// and checking that one is a point of the curve costs microseconds (most of the time of
/// reading a page of history), so the last ones parsed on this thread are remembered.
pub(super) fn address(hex: &str) -> Option<Address> {
    const REMEMBERED: usize = 8;
    thread_local! {
        static RECENT: std::cell::RefCell<Vec<(String, Address)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, a)) = recent.iter().find(|(h, _)| h == hex) {
            return Some(*a);
        }
        let a = hex.parse::<Address>().ok()?;
        if recent.len() == REMEMBERED {
            recent.remove(0);
        }
        recent.push((hex.to_string(), a));
        Some(a)
    })
}

pub(super) fn collect(
    rows: impl Iterator<Item = rusqlite::Result<Option<MessageRow>>>,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.extend(r?);
    }
    Ok(out)
}

/// Inserts a message unless its hash is already stored; returns its conversation if it was new.
/// Updates the conversation (activity, unread count, message request).
pub(crate) fn insert_message(
    tx: &Transaction<'_>,
    me: &Address,
    m: &NewMessage<'_>,
    now: i64,
) -> Result<Option<ChatId>, StoreError> {
    // A message request is a stranger's message; what this account sends never is.
    let request = m.from != *me && !super::requests::is_friend(tx, &m.from)?;
    insert_message_as(tx, me, m, now, request)
}

/// [`insert_message`] for a caller that knows whether it is a message request (`request`:
/// received from someone who is not a friend).
pub(crate) fn insert_message_as(
    tx: &Transaction<'_>,
    me: &Address,
    m: &NewMessage<'_>,
    now: i64,
    request: bool,
) -> Result<Option<ChatId>, StoreError> {
    let outgoing = m.from == *me;
    let peer = if outgoing { m.to } else { m.from };
    let chat = match m.chat {
        Some(c) => c,
        None => direct_chat(tx, &peer, now)?,
    };
    let stat = if outgoing { "N" } else { "C" };
    let request = request && !outgoing;
    let n = tx
        .prepare_cached(
            "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, chat, ts, obj, req, ord)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![
            now,
            m.to.to_hex(),
            m.from.to_hex(),
            m.hash.to_hex(),
            m.cbor.len() as i64,
            m.kind.letter().to_string(),
            stat,
            m.cbor,
            chat.0,
            m.ts,
            m.obj.map(hex::encode),
            request,
            order_time(m.ts, now)
        ])?;
    if n == 0 {
        return Ok(None);
    }
    // Edits, deletes and reactions that came before it.
    super::actions::apply_waiting(tx, me, &m.hash)?;
    let (unread, request) = if outgoing { (0, 0) } else { (1, i64::from(request)) };
    tx.prepare_cached(
        "UPDATE talk SET last_dt = ?2, unread = unread + ?3, request = CASE WHEN ?4 = 0 THEN request ELSE 1 END,
         archived = 0
         WHERE id = ?1",
    )?
    .execute(params![chat.0, now, unread, request])?;
    Ok(Some(chat))
}

/// Marks an own message (or action) N -> S (the broker acknowledged it), to be published again at
/// `next_try` (ms) unless a receipt comes first; `true` if it changed.
pub(crate) fn mark_sent(tx: &Transaction<'_>, hash: &MessageHash, next_try: i64) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached("UPDATE message SET stat = 'S', next_try = ?2 WHERE hash = ?1 AND stat = 'N'")?
        .execute(params![hash.to_hex(), next_try])?
        > 0;
    if changed {
        return Ok(true);
    }
    // An own action (edit, delete, reaction) has a status too.
    Ok(tx
        .prepare_cached("UPDATE action SET stat = 'S', next_try = ?2 WHERE hash = ?1 AND stat = 'N'")?
        .execute(params![hash.to_hex(), next_try])?
        > 0)
}

/// Makes every own message to `peer` that waits for a receipt due for publishing now (its
/// session was started again: what it carried in the old one may never have been readable).
pub(crate) fn due_now(tx: &Transaction<'_>, me: &Address, peer: &Address) -> Result<usize, StoreError> {
    let mut n = 0;
    for table in OUTBOX_TABLES {
        n += tx
            .prepare_cached(&format!(
                "UPDATE {table} SET next_try = 0 WHERE stat IN ('N', 'S') AND stat = 'S' AND pk = ?1 AND topic = ?2"
            ))?
            .execute(params![me.to_hex(), peer.to_hex()])?;
    }
    Ok(n)
}

/// Whether a message with this hash is stored.
pub(crate) fn is_stored(tx: &Transaction<'_>, hash: &MessageHash) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM message WHERE hash = ?1)")?
        .query_row([hash.to_hex()], |r| r.get(0))?)
}

/// The conversation of a stored message.
pub(crate) fn chat_of_message(tx: &Transaction<'_>, hash: &MessageHash) -> Result<Option<ChatId>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT chat FROM message WHERE hash = ?1")?
        .query_row([hash.to_hex()], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten()
        .map(ChatId))
}

/// Records `from`'s receipt for own messages of a conversation `from` is a member of; a
/// message turns C once every member has receipted it (in a direct conversation, the peer's
/// receipt alone: no `receipt` row is needed for it). Returns the hashes that turned C.
pub(crate) fn mark_confirmed(
    tx: &Transaction<'_>,
    me: &Address,
    from: &Address,
    hashes: &[MessageHash],
    now: i64,
) -> Result<Vec<MessageHash>, StoreError> {
    let mut find = tx.prepare_cached(
        "SELECT m.id, m.chat, m.stat FROM message m JOIN chat_member c ON c.chat = m.chat AND c.pk = ?2
         WHERE m.hash = ?1 AND m.pk = ?3",
    )?;
    let mut confirm = tx.prepare_cached("UPDATE message SET stat = 'C', next_try = NULL WHERE id = ?1")?;
    let mut changed = Vec::new();
    let (from_hex, me_hex) = (from.to_hex(), me.to_hex());
    // Members by conversation: a receipt names the messages of one or a few.
    let mut members: Vec<(i64, u64)> = Vec::new();
    for h in hashes {
        let hash_hex = h.to_hex();
        let found: Option<(i64, i64, String)> = find
            .query_row(params![hash_hex, from_hex, me_hex], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((id, chat, stat)) = found else {
            // An own action is confirmed by its recipient.
            let n = tx
                .prepare_cached(
                    "UPDATE action SET stat = 'C', next_try = NULL
                     WHERE hash = ?1 AND pk = ?2 AND topic = ?3 AND stat != 'C'",
                )?
                .execute(params![hash_hex, me_hex, from_hex])?;
            if n > 0 {
                changed.push(*h);
            }
            continue;
        };
        let count = match members.iter().find(|(c, _)| *c == chat) {
            Some((_, n)) => *n,
            None => {
                let n = member_count(tx, ChatId(chat))?;
                members.push((chat, n));
                n
            }
        };
        if count > 1 {
            tx.prepare_cached("INSERT OR IGNORE INTO receipt (msg, pk, dt) VALUES (?1, ?2, ?3)")?
                .execute(params![id, from_hex, now])?;
        }
        if stat == "C" {
            continue;
        }
        let receipts = match count {
            0 | 1 => 1,
            _ => tx
                .prepare_cached("SELECT count(*) FROM receipt WHERE msg = ?1")?
                .query_row([id], |r| r.get::<_, i64>(0))?
                .max(0) as u64,
        };
        if receipts >= count {
            confirm.execute([id])?;
            changed.push(*h);
        }
    }
    Ok(changed)
}

impl ChatDb {
    /// Stores an own message with status N (before it is published) and updates the talk;
    /// returns its conversation if it was new.
    pub fn store_outgoing(&mut self, m: &NewMessage<'_>) -> Result<Option<ChatId>, StoreError> {
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
                new += usize::from(insert_message(tx, &me, m, now)?.is_some());
            }
            Ok(new)
        })
    }

    /// Runs `f` in one write transaction (for batches of received messages and acks).
    pub fn batch<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &Address) -> Result<T, E>,
    ) -> Result<T, E> {
        self.wrote();
        let me = self.me;
        super::with_write_tx_of(&mut self.conn, |tx| f(tx, &me))
    }

    /// Own messages with status N (to publish after a connect or a restart), oldest first.
    pub fn unsent(&self) -> Result<Vec<OutboxItem>, StoreError> {
        outbox_query(&self.conn, UNSENT_SQL, params![self.me.to_hex()])
    }

    /// Own messages with status S whose receipt is overdue (PROTOCOL.md section 6).
    pub fn due_for_retry(&self, now: i64) -> Result<Vec<OutboxItem>, StoreError> {
        outbox_query(&self.conn, DUE_SQL, params![self.me.to_hex(), now, now - RETRY_FOR_MS])
    }

    /// One message by its hash.
    pub fn message(&self, hash: &MessageHash) -> Result<Option<MessageRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM message m WHERE m.hash = ?1");
        Ok(self.conn.query_row(&sql, [hash.to_hex()], row_to_message).optional()?.flatten())
    }

    /// The newest `limit` messages of a conversation that stand before the message with row
    /// id `before` (all when `None`), oldest first. A conversation is in [`order_time`] order
    /// (then arrival order).
    pub fn history(&self, chat: ChatId, limit: usize, before: Option<i64>) -> Result<Vec<MessageRow>, StoreError> {
        self.history_until(chat, limit, before, "<")
    }

    /// [`Self::history`] up to and with the message with row id `id`.
    pub fn history_through(&self, chat: ChatId, limit: usize, id: i64) -> Result<Vec<MessageRow>, StoreError> {
        self.history_until(chat, limit, Some(id), "<=")
    }

    fn history_until(
        &self,
        chat: ChatId,
        limit: usize,
        cursor: Option<i64>,
        op: &str,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let mut out = match cursor {
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM message m WHERE m.chat = ?1 AND m.deleted != 2 \
                     ORDER BY m.ord DESC, m.id DESC LIMIT ?2"
                );
                let mut stmt = self.conn.prepare_cached(&sql)?;
                collect(stmt.query_map(params![chat.0, limit as i64], row_to_message)?)?
            }
            Some(id) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM message m WHERE m.chat = ?1 AND m.deleted != 2 \
                     AND (m.ord, m.id) {op} (SELECT ord, id FROM message WHERE id = ?2) \
                     ORDER BY m.ord DESC, m.id DESC LIMIT ?3"
                );
                let mut stmt = self.conn.prepare_cached(&sql)?;
                collect(stmt.query_map(params![chat.0, id, limit as i64], row_to_message)?)?
            }
        };
        out.reverse();
        Ok(out)
    }

    /// The oldest `limit` messages of a conversation that stand after the message with row id
    /// `after`, oldest first.
    pub fn history_after(&self, chat: ChatId, limit: usize, after: i64) -> Result<Vec<MessageRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM message m WHERE m.chat = ?1 AND m.deleted != 2 \
             AND (m.ord, m.id) > (SELECT ord, id FROM message WHERE id = ?2) ORDER BY m.ord, m.id LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![chat.0, after, limit as i64], row_to_message)?;
        collect(rows)
    }

    /// The history of the direct conversation with `peer` (empty when there is none).
    pub fn history_with(&self, peer: &Address, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        match self.chat_with(peer)? {
            Some(chat) => self.history(chat, limit, None),
            None => Ok(Vec::new()),
        }
    }

    /// Of the `unread` messages of a conversation that arrived last from others, the one that
    /// stands first in the conversation's order.
    pub fn first_unread(&self, chat: ChatId, unread: u64) -> Result<Option<i64>, StoreError> {
        if unread == 0 {
            return Ok(None);
        }
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id FROM (SELECT id, ord FROM message WHERE chat = ?1 AND pk != ?2 AND deleted != 2
                 ORDER BY id DESC LIMIT ?3)
                 ORDER BY ord, id LIMIT 1",
            )?
            .query_row(params![chat.0, self.me.to_hex(), unread as i64], |r| r.get(0))
            .optional()?)
    }

    /// Number of messages in a conversation.
    pub fn message_count(&self, chat: ChatId) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM message WHERE chat = ?1 AND deleted != 2", [chat.0], |r| {
            r.get::<_, i64>(0)
        })? as u64)
    }
}

/// Own messages without a receipt (S) still within the retransmission period, oldest first,
/// at most `limit`.
pub(crate) fn unconfirmed_in(
    tx: &Transaction<'_>,
    me: &Address,
    now: i64,
    limit: usize,
) -> Result<Vec<OutboxItem>, StoreError> {
    outbox_query(tx, UNCONFIRMED_SQL, params![me.to_hex(), now - RETRY_FOR_MS, limit as i64])
}

/// Starts the retransmission schedule of every own message without a receipt again: the next
/// attempt at `next`, then doubling from the first wait. Returns how many there are.
pub(crate) fn restart_schedule(tx: &Transaction<'_>, me: &Address, now: i64, next: i64) -> Result<usize, StoreError> {
    let mut n = 0;
    for table in OUTBOX_TABLES {
        n += tx.prepare_cached(&RESTART_SQL.replace("{table}", table))?.execute(params![
            me.to_hex(),
            now - RETRY_FOR_MS,
            next
        ])?;
    }
    Ok(n)
}

/// Doubles the wait of messages just published again (from `first_ms`), up to `max_ms`.
pub(crate) fn reschedule(
    tx: &Transaction<'_>,
    hashes: &[MessageHash],
    now: i64,
    first_ms: i64,
    max_ms: i64,
) -> Result<(), StoreError> {
    for table in OUTBOX_TABLES {
        let mut stmt = tx.prepare_cached(&format!(
            "UPDATE {table} SET tries = tries + 1,
                 next_try = ?2 + min(?3 * (1 << min(tries + 1, 20)), ?4)
             WHERE hash = ?1 AND stat = 'S'"
        ))?;
        for h in hashes {
            stmt.execute(params![h.to_hex(), now, first_ms, max_ms])?;
        }
    }
    Ok(())
}

/// The outbox rows a query selects (hash, topic, val).
pub(crate) fn outbox_query(
    conn: &rusqlite::Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<OutboxItem>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (hash, to, cbor) = row?;
        // The rows name the same few peers over and over: each is parsed once (see `address`).
        let (Ok(hash), Some(to)) = (hash.parse(), address(&to)) else { continue };
        out.push(OutboxItem { hash, to, cbor });
    }
    Ok(out)
}

/// Own messages with status N, oldest first, inside a transaction.
pub(crate) fn unsent_in(tx: &Transaction<'_>, me: &Address) -> Result<Vec<OutboxItem>, StoreError> {
    outbox_query(tx, UNSENT_SQL, params![me.to_hex()])
}

/// Own messages whose receipt is overdue, inside a transaction.
pub(crate) fn due_in(tx: &Transaction<'_>, me: &Address, now: i64) -> Result<Vec<OutboxItem>, StoreError> {
    outbox_query(tx, DUE_SQL, params![me.to_hex(), now, now - RETRY_FOR_MS])
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
    fn stored_addresses_parse_the_same_remembered_or_not() {
        let all: Vec<Address> =
            (1..=20u8).map(|i| crate::crypto::Identity::from_secret_bytes(&[i; 32]).unwrap().address()).collect();
        // More than are remembered, twice over, in an order that evicts each before it returns.
        for _ in 0..2 {
            for a in &all {
                assert_eq!(address(&a.to_hex()), Some(*a));
                assert_eq!(address(&a.to_hex()), Some(*a));
            }
        }
        let off_curve = format!("02{}", "ff".repeat(32));
        assert_eq!(address(&off_curve), None);
        assert_eq!(address(&off_curve), None, "a bad one is not remembered as good");
        assert_eq!(address("not an address"), None);
    }

    /// A migrated in-memory chat.db, its owner and two other addresses.
    fn db() -> (rusqlite::Connection, Address, Address, Address) {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut conn, crate::store::migrations::CHAT_DB).unwrap();
        let [me, bob, carol] =
            [1u8, 2, 3].map(|i| crate::crypto::Identity::from_secret_bytes(&[i; 32]).unwrap().address());
        (conn, me, bob, carol)
    }

    /// Stores an own message (status N) for `to` in `chat` (`None`: the direct conversation).
    fn own(tx: &Transaction<'_>, me: &Address, to: &Address, chat: Option<ChatId>, text: &str) -> MessageHash {
        let cbor = crate::wire::Packet::new(crate::wire::Body::Text { text: text.into() }).encode();
        let hash = MessageHash::of(&cbor);
        let m = NewMessage { chat, from: *me, to: *to, hash, kind: MessageKind::Text, ts: 1, cbor: &cbor, obj: None };
        insert_message(tx, me, &m, 1).unwrap();
        hash
    }

    fn stat_and_receipts(tx: &Transaction<'_>, hash: &MessageHash) -> (String, i64) {
        tx.query_row(
            "SELECT stat, (SELECT count(*) FROM receipt WHERE msg = m.id) FROM message m WHERE hash = ?1",
            [hash.to_hex()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn the_peer_s_receipt_confirms_a_direct_message_and_a_stranger_s_does_not() {
        let (mut conn, me, bob, carol) = db();
        let tx = conn.transaction().unwrap();
        let hash = own(&tx, &me, &bob, None, "hello");
        assert!(mark_sent(&tx, &hash, 10).unwrap());
        assert!(mark_confirmed(&tx, &me, &carol, &[hash], 2).unwrap().is_empty(), "carol is not in the talk");
        assert_eq!(stat_and_receipts(&tx, &hash), ("S".into(), 0));
        assert_eq!(mark_confirmed(&tx, &me, &bob, &[hash], 2).unwrap(), vec![hash]);
        assert_eq!(stat_and_receipts(&tx, &hash), ("C".into(), 0), "no receipt row for a direct talk");
        assert!(mark_confirmed(&tx, &me, &bob, &[hash], 3).unwrap().is_empty(), "a second receipt changes nothing");
        assert!(!mark_sent(&tx, &hash, 10).unwrap(), "a late broker ack does not undo the receipt");
        assert_eq!(stat_and_receipts(&tx, &hash).0, "C");
    }

    #[test]
    fn a_message_to_several_members_is_confirmed_once_all_of_them_receipted() {
        let (mut conn, me, bob, carol) = db();
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO talk (kind, name) VALUES ('G', 'friends')", []).unwrap();
        let chat = ChatId(tx.last_insert_rowid());
        for m in [bob, carol] {
            tx.execute("INSERT INTO chat_member (chat, pk, dt) VALUES (?1, ?2, 1)", params![chat.0, m.to_hex()])
                .unwrap();
        }
        let hash = own(&tx, &me, &bob, Some(chat), "hello both");
        assert!(mark_confirmed(&tx, &me, &bob, &[hash], 2).unwrap().is_empty());
        assert!(mark_confirmed(&tx, &me, &bob, &[hash], 3).unwrap().is_empty(), "bob twice is still one member");
        assert_eq!(stat_and_receipts(&tx, &hash), ("N".into(), 1));
        assert_eq!(mark_confirmed(&tx, &me, &carol, &[hash], 4).unwrap(), vec![hash]);
        assert_eq!(stat_and_receipts(&tx, &hash), ("C".into(), 2));
    }

    #[test]
    fn outbox_queries_use_the_outbox_index_not_a_scan() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut conn, crate::store::migrations::CHAT_DB).unwrap();
        for sql in [UNSENT_SQL, DUE_SQL] {
            let p = plan(&conn, &sql.replace("?1", "'x'").replace("?2", "0").replace("?3", "0"));
            assert!(p.contains("USING INDEX message_outbox"), "{sql}: {p}");
            assert!(p.contains("USING INDEX action_outbox"), "{sql}: {p}");
            assert!(!p.contains("SCAN message") && !p.contains("SCAN action"), "{sql}: {p}");
        }
    }
}
