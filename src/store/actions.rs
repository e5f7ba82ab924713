//! Packets that act on an earlier message (docs/PROTOCOL.md section 13): edits, deletes for
//! everyone and reactions, kept in `action` (an outbox like `message`'s for own ones) and
//! applied to `message_edit`, `reaction` and the message row; deletes for this account only;
//! read receipts (`message.seen`).
//!
//! An action is applied once its message is stored: one that arrives first waits (`applied`
//! 0) and is applied by [`insert_message`](super::messages::insert_message). One that breaks
//! the rules (an edit or a delete not from the message's sender, an edit after 24 hours or
//! beyond the 20th, a reaction from outside the conversation) is kept as refused, so that it
//! is receipted and never applied.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::chats::ChatId;
use super::{ChatDb, StoreError, with_write_tx};
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::wire::{Body, MessageHash};

/// Longest time after a message that its sender may edit it (by the sender's clock), ms.
pub const EDIT_WINDOW_MS: i64 = 24 * 3_600_000;
/// Most edits of one message.
pub const MAX_EDITS: i64 = 20;
/// Most actions of one sender that wait for their message; the oldest go first.
pub const MAX_WAITING_ACTIONS: i64 = 1000;

/// `message.deleted`: deleted for everyone (content gone, "message deleted" shown).
pub const DELETED_FOR_EVERYONE: i64 = 1;
/// `message.deleted`: deleted on this account only (not shown).
pub const DELETED_HERE: i64 = 2;

/// An action to take in: an own one (to send) or a received one.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// SHA-256 of its CBOR packet.
    pub hash: MessageHash,
    /// Sender's clock (ms).
    pub ts: i64,
    /// An edit, a delete or a reaction.
    pub body: &'a Body,
    /// The CBOR packet.
    pub cbor: &'a [u8],
}

/// What taking in an action did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionOutcome {
    /// Messages whose edits, deletion or reactions changed: (conversation, message).
    pub changed: Vec<(ChatId, MessageHash)>,
    /// Attachments no message refers to any more (deleted for everyone): the files to remove,
    /// with the peers whose transfers of them stop.
    pub orphans: Vec<(ObjectId, Vec<Address>)>,
}

impl ActionOutcome {
    /// Adds what another step did.
    pub fn merge(&mut self, other: ActionOutcome) {
        self.changed.extend(other.changed);
        self.orphans.extend(other.orphans);
    }
}

/// The message an action acts on, as far as the rules need it.
struct Target {
    id: i64,
    chat: ChatId,
    from: String,
    kind: String,
    ts: i64,
    edits: i64,
    deleted: i64,
    obj: Option<String>,
}

fn target_of(tx: &Transaction<'_>, hash: &str) -> Result<Option<Target>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id, chat, pk, type, ts, edits, deleted, obj FROM message WHERE hash = ?1")?
        .query_row([hash], |r| {
            Ok(Target {
                id: r.get(0)?,
                chat: ChatId(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                from: r.get(2)?,
                kind: r.get(3)?,
                ts: r.get(4)?,
                edits: r.get(5)?,
                deleted: r.get(6)?,
                obj: r.get(7)?,
            })
        })
        .optional()?)
}

/// Stores an action unless its hash is already stored (then `None`), and applies it if its
/// message is here. An own action is stored with status `stat` (`N` to send, `C` for a peer
/// that is not told).
pub(crate) fn insert_action(
    tx: &Transaction<'_>,
    me: &Address,
    a: &NewAction<'_>,
    stat: char,
    now: i64,
) -> Result<Option<ActionOutcome>, StoreError> {
    let Some(target) = a.body.action_target() else { return Ok(Some(ActionOutcome::default())) };
    let target = hex::encode(target);
    let stat = if a.from == *me { stat } else { 'C' };
    let n = tx
        .prepare_cached(
            "INSERT INTO action (dt, topic, pk, hash, type, target, ts, stat, val)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![
            now,
            a.to.to_hex(),
            a.from.to_hex(),
            a.hash.to_hex(),
            a.body.letter().to_string(),
            target,
            a.ts,
            stat.to_string(),
            a.cbor
        ])?;
    if n == 0 {
        return Ok(None);
    }
    let id = tx.last_insert_rowid();
    match target_of(tx, &target)? {
        Some(t) => apply(tx, me, id, &a.from, a.ts, &a.hash, a.body, &t).map(Some),
        None => {
            // Waits for its message; a sender's waiting actions are bounded.
            tx.prepare_cached(
                "DELETE FROM action WHERE applied = 0 AND pk = ?1 AND id NOT IN
                 (SELECT id FROM action WHERE applied = 0 AND pk = ?1 ORDER BY id DESC LIMIT ?2)",
            )?
            .execute(params![a.from.to_hex(), MAX_WAITING_ACTIONS])?;
            Ok(Some(ActionOutcome::default()))
        }
    }
}

/// Applies the actions that waited for the message `hash` (just stored).
pub(crate) fn apply_waiting(
    tx: &Transaction<'_>,
    me: &Address,
    hash: &MessageHash,
) -> Result<ActionOutcome, StoreError> {
    let hex = hash.to_hex();
    let waiting: Vec<(i64, String, i64, String, Vec<u8>)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, pk, ts, hash, val FROM action WHERE target = ?1 AND applied = 0 ORDER BY ts, id",
        )?;
        let rows = stmt.query_map([&hex], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = ActionOutcome::default();
    for (id, from, ts, action_hash, cbor) in waiting {
        let (Ok(from), Ok(action_hash)) = (from.parse::<Address>(), action_hash.parse::<MessageHash>()) else {
            continue;
        };
        let Ok(packet) = crate::wire::Packet::decode(&cbor) else { continue };
        // Each step sees what the one before it did (an edit after a delete is refused).
        let Some(t) = target_of(tx, &hex)? else { break };
        out.merge(apply(tx, me, id, &from, ts, &action_hash, &packet.body, &t)?);
    }
    Ok(out)
}

/// Applies action row `id` to its message, or refuses it.
#[allow(clippy::too_many_arguments)]
fn apply(
    tx: &Transaction<'_>,
    me: &Address,
    id: i64,
    from: &Address,
    ts: i64,
    hash: &MessageHash,
    body: &Body,
    t: &Target,
) -> Result<ActionOutcome, StoreError> {
    let mut out = ActionOutcome::default();
    let by_sender = t.from == from.to_hex();
    let ok = match body {
        Body::Edit { text, .. } => {
            let ok = by_sender
                && t.kind == "T"
                && t.deleted != DELETED_FOR_EVERYONE
                && t.edits < MAX_EDITS
                && ts >= t.ts
                && ts - t.ts <= EDIT_WINDOW_MS;
            if ok {
                edit(tx, t, hash, ts, text)?;
            }
            ok
        }
        Body::Delete { .. } => {
            let ok = by_sender;
            if ok && t.deleted != DELETED_FOR_EVERYONE {
                out.orphans.extend(wipe(tx, me, t, DELETED_FOR_EVERYONE)?);
            }
            ok
        }
        Body::React { emoji, .. } => {
            let member = *from == *me || is_member(tx, t.chat, from)?;
            let ok = member && t.deleted != DELETED_FOR_EVERYONE;
            if ok {
                react(tx, t.id, from, emoji, ts, hash)?;
            }
            ok
        }
        _ => false,
    };
    tx.prepare_cached("UPDATE action SET applied = ?2 WHERE id = ?1")?.execute(params![id, if ok { 1 } else { 2 }])?;
    if ok {
        let target: String = tx.query_row("SELECT hash FROM message WHERE id = ?1", [t.id], |r| r.get(0))?;
        if let Ok(h) = target.parse() {
            out.changed.push((t.chat, h));
        }
    }
    Ok(out)
}

fn is_member(tx: &Transaction<'_>, chat: ChatId, who: &Address) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM chat_member WHERE chat = ?1 AND pk = ?2)")?
        .query_row(params![chat.0, who.to_hex()], |r| r.get(0))?)
}

fn edit(tx: &Transaction<'_>, t: &Target, hash: &MessageHash, ts: i64, text: &str) -> Result<(), StoreError> {
    let n = tx
        .prepare_cached("INSERT OR IGNORE INTO message_edit (msg, hash, ts, text) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![t.id, hash.to_hex(), ts, text])?;
    if n == 0 {
        return Ok(());
    }
    tx.prepare_cached("UPDATE message SET edits = edits + 1 WHERE id = ?1")?.execute([t.id])?;
    // Search finds the text shown: the index (once it has the message) gets the newest text.
    if indexed(tx, t.id)? {
        let newest = current_text(tx, t.id)?;
        tx.prepare_cached("DELETE FROM message_text WHERE rowid = ?1")?.execute([t.id])?;
        if let Some(text) = newest {
            super::search::index_message(tx, t.id, &text)?;
        }
    }
    Ok(())
}

/// The newest edit's text of message row `id`, if it was edited.
pub(crate) fn current_text(conn: &rusqlite::Connection, id: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT text FROM message_edit WHERE msg = ?1 ORDER BY ts DESC, hash DESC LIMIT 1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

fn indexed(tx: &Transaction<'_>, id: i64) -> Result<bool, StoreError> {
    let upto: i64 = tx.query_row("SELECT indexed_upto FROM search_state WHERE id = 1", [], |r| r.get(0))?;
    Ok(id <= upto)
}

/// Removes a message's content (`deleted` = `how`): its packet, edits, reactions, search
/// entry and attachment reference. An own message that still waits for its receipt keeps its
/// packet when deleted here only (it is still delivered). Returns the attachment when no
/// other message refers to it any more, with the peers of its transfers.
fn wipe(
    tx: &Transaction<'_>,
    me: &Address,
    t: &Target,
    how: i64,
) -> Result<Option<(ObjectId, Vec<Address>)>, StoreError> {
    let own_unconfirmed: bool =
        tx.query_row("SELECT pk = ?2 AND stat != 'C' FROM message WHERE id = ?1", params![t.id, me.to_hex()], |r| {
            r.get(0)
        })?;
    let keep_packet = how == DELETED_HERE && own_unconfirmed;
    if keep_packet {
        tx.prepare_cached("UPDATE message SET deleted = ?2 WHERE id = ?1")?.execute(params![t.id, how])?;
    } else {
        // Deleted for everyone, an own message is not published again: its content is gone.
        tx.prepare_cached(
            "UPDATE message SET deleted = max(deleted, ?2), val = x'', obj = NULL, edits = 0,
             stat = CASE WHEN pk = ?3 THEN 'C' ELSE stat END, next_try = NULL
             WHERE id = ?1",
        )?
        .execute(params![t.id, how, me.to_hex()])?;
        tx.prepare_cached("DELETE FROM message_edit WHERE msg = ?1")?.execute([t.id])?;
    }
    if how == DELETED_FOR_EVERYONE {
        tx.prepare_cached("DELETE FROM reaction WHERE msg = ?1")?.execute([t.id])?;
    }
    tx.prepare_cached("DELETE FROM message_text WHERE rowid = ?1")?.execute([t.id])?;
    let Some(obj) = t.obj.as_deref().filter(|_| !keep_packet) else { return Ok(None) };
    let still: bool =
        tx.prepare_cached("SELECT EXISTS(SELECT 1 FROM message WHERE obj = ?1)")?.query_row([obj], |r| r.get(0))?;
    if still {
        return Ok(None);
    }
    let peers: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT peer FROM transfer WHERE obj = ?1")?;
        let rows = stmt.query_map([obj], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    tx.prepare_cached("DELETE FROM transfer WHERE obj = ?1")?.execute([obj])?;
    let peers = peers.iter().filter_map(|p| p.parse().ok()).collect();
    Ok(ObjectId::from_hex(obj).map(|id| (id, peers)))
}

fn react(
    tx: &Transaction<'_>,
    msg: i64,
    from: &Address,
    emoji: &str,
    ts: i64,
    hash: &MessageHash,
) -> Result<(), StoreError> {
    // The newest reaction of a person wins, whatever order they arrive in.
    tx.prepare_cached(
        "INSERT INTO reaction (msg, pk, emoji, ts, hash) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (msg, pk) DO UPDATE SET emoji = excluded.emoji, ts = excluded.ts, hash = excluded.hash
         WHERE (excluded.ts, excluded.hash) > (reaction.ts, reaction.hash)",
    )?
    .execute(params![msg, from.to_hex(), emoji, ts, hash.to_hex()])?;
    Ok(())
}

/// Marks own messages the peer `from` displayed (a read receipt); returns those that changed.
pub(crate) fn mark_seen(
    tx: &Transaction<'_>,
    me: &Address,
    from: &Address,
    hashes: &[MessageHash],
    now: i64,
) -> Result<Vec<(ChatId, MessageHash)>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE message SET seen = ?4 WHERE hash = ?1 AND pk = ?2 AND seen IS NULL
         AND chat IN (SELECT chat FROM chat_member WHERE pk = ?3) RETURNING chat",
    )?;
    let mut out = Vec::new();
    for h in hashes {
        let chat: Option<Option<i64>> =
            stmt.query_row(params![h.to_hex(), me.to_hex(), from.to_hex(), now], |r| r.get(0)).optional()?;
        if let Some(chat) = chat {
            out.push((ChatId(chat.unwrap_or(0)), *h));
        }
    }
    Ok(out)
}

/// Received messages of a conversation that arrived since the talk was last read: returns
/// their senders and hashes (for the read receipts to send), oldest first, and moves the
/// talk's mark past them.
pub(crate) fn take_unseen(
    tx: &Transaction<'_>,
    me: &Address,
    chat: ChatId,
) -> Result<Vec<(Address, MessageHash)>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT pk, hash FROM message WHERE chat = ?1 AND id > (SELECT seen_upto FROM talk WHERE id = ?1)
         AND pk != ?2 AND deleted = 0 ORDER BY id",
    )?;
    let rows =
        stmt.query_map(params![chat.0, me.to_hex()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for r in rows {
        let (pk, hash) = r?;
        if let (Ok(pk), Ok(hash)) = (pk.parse(), hash.parse()) {
            out.push((pk, hash));
        }
    }
    tx.prepare_cached(
        "UPDATE talk SET seen_upto = (SELECT coalesce(max(id), 0) FROM message WHERE chat = ?1) WHERE id = ?1",
    )?
    .execute([chat.0])?;
    Ok(out)
}

/// A message's reactions: each emoji with who chose it, the most chosen first.
pub type Reactions = Vec<(String, Vec<Address>)>;

impl ChatDb {
    /// Deletes a message on this account only: it is no longer shown, its content and (when
    /// no other message has it) its attachment are gone. Returns the attachment to remove.
    pub fn delete_here(&mut self, hash: &MessageHash) -> Result<Option<(ObjectId, Vec<Address>)>, StoreError> {
        self.wrote();
        let me = self.me;
        with_write_tx(&mut self.conn, |tx| match target_of(tx, &hash.to_hex())? {
            Some(t) => wipe(tx, &me, &t, DELETED_HERE),
            None => Ok(None),
        })
    }

    /// The reactions to message row `id`.
    pub fn reactions(&self, id: i64) -> Result<Reactions, StoreError> {
        Ok(self.reactions_of(&[id])?.remove(&id).unwrap_or_default())
    }

    /// The reactions to each of message rows `ids` that has any, in one query (a page of the
    /// history): each emoji with who chose it, the most chosen first.
    pub fn reactions_of(&self, ids: &[i64]) -> Result<HashMap<i64, Reactions>, StoreError> {
        let mut out: HashMap<i64, Reactions> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT msg, emoji, pk FROM reaction WHERE msg IN (SELECT value FROM json_each(?1)) AND emoji != '' \
             ORDER BY msg, ts, pk",
        )?;
        let list = format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
        let rows =
            stmt.query_map([list], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        for r in rows {
            let (msg, emoji, pk) = r?;
            let Some(pk) = super::messages::address(&pk) else { continue };
            let reactions = out.entry(msg).or_default();
            match reactions.iter_mut().find(|(e, _)| *e == emoji) {
                Some((_, who)) => who.push(pk),
                None => reactions.push((emoji, vec![pk])),
            }
        }
        for reactions in out.values_mut() {
            reactions.sort_by_key(|r| std::cmp::Reverse(r.1.len()));
        }
        Ok(out)
    }

    /// The edit history of message row `id`, oldest first: (sender's clock, text).
    pub fn edits(&self, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT ts, text FROM message_edit WHERE msg = ?1 ORDER BY ts, hash")?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The text shown for message row `id` when it was edited.
    pub fn edited_text(&self, id: i64) -> Result<Option<String>, StoreError> {
        current_text(&self.conn, id)
    }

    /// Whether the read-receipts setting is on (it is by default).
    pub fn read_receipts(&self) -> Result<bool, StoreError> {
        read_receipts_on(&self.conn)
    }

    /// Whether the typing-indicator setting is on (it is by default).
    pub fn typing_indicators(&self) -> Result<bool, StoreError> {
        typing_on(&self.conn)
    }

    /// Turns read receipts on or off.
    pub fn set_read_receipts(&self, on: bool) -> Result<(), StoreError> {
        self.set_setting(READ_RECEIPTS_KEY, Some(if on { "on" } else { "off" }))
    }

    /// Turns typing indicators on or off.
    pub fn set_typing_indicators(&self, on: bool) -> Result<(), StoreError> {
        self.set_setting(TYPING_KEY, Some(if on { "on" } else { "off" }))
    }
}

/// Whether read receipts are sent and shown (on unless turned off).
pub(crate) fn read_receipts_on(conn: &rusqlite::Connection) -> Result<bool, StoreError> {
    Ok(super::olm::meta(conn, READ_RECEIPTS_KEY)?.is_none_or(|v| v != "off"))
}

/// Whether typing indicators are sent and shown (on unless turned off).
pub(crate) fn typing_on(conn: &rusqlite::Connection) -> Result<bool, StoreError> {
    Ok(super::olm::meta(conn, TYPING_KEY)?.is_none_or(|v| v != "off"))
}

/// Whether a stored message was deleted (for everyone or here).
pub(crate) fn is_deleted(tx: &Transaction<'_>, hash: &MessageHash) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM message WHERE hash = ?1 AND deleted != 0)")?
        .query_row([hash.to_hex()], |r| r.get(0))?)
}

/// `meta` key of the read-receipts setting.
const READ_RECEIPTS_KEY: &str = "privacy.read_receipts";
/// `meta` key of the typing-indicator setting.
const TYPING_KEY: &str = "privacy.typing";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::messages::{NewMessage, insert_message};
    use crate::testkit::identity_of;
    use crate::wire::{MessageKind, Packet};

    /// An in-memory chat.db of alice, with bob's text `text` (sent at `ts`) stored.
    fn setup() -> (rusqlite::Connection, Address, Address) {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut conn, crate::store::migrations::CHAT_DB).unwrap();
        (conn, identity_of("alice").address(), identity_of("bob").address())
    }

    fn message(tx: &Transaction<'_>, me: &Address, from: &Address, text: &str, ts: i64) -> MessageHash {
        let mut p = Packet::new(Body::Text { text: text.into() });
        p.ts = ts as u64;
        let cbor = p.encode();
        let hash = MessageHash::of(&cbor);
        let m =
            NewMessage { chat: None, from: *from, to: *me, hash, kind: MessageKind::Text, ts, cbor: &cbor, obj: None };
        insert_message(tx, me, &m, ts).unwrap();
        hash
    }

    fn act(tx: &Transaction<'_>, me: &Address, from: &Address, body: Body, ts: i64) -> Option<ActionOutcome> {
        let mut p = Packet::new(body);
        p.ts = ts as u64;
        let cbor = p.encode();
        let a = NewAction { from: *from, to: *me, hash: MessageHash::of(&cbor), ts, body: &p.body, cbor: &cbor };
        insert_action(tx, me, &a, 'C', ts).unwrap()
    }

    fn reaction_of(tx: &Transaction<'_>, who: &Address) -> Option<String> {
        tx.query_row("SELECT emoji FROM reaction WHERE pk = ?1", [who.to_hex()], |r| r.get(0)).optional().unwrap()
    }

    #[test]
    fn the_newest_reaction_and_edit_win_whatever_order_they_arrive_in() {
        let (mut conn, me, bob) = setup();
        let tx = conn.transaction().unwrap();
        let t0 = 1_800_000_000_000;
        let target = message(&tx, &me, &bob, "v0", t0).0;
        // Newer first, older after: the older one loses.
        act(&tx, &me, &bob, Body::React { target, emoji: "😂".into() }, t0 + 20);
        act(&tx, &me, &bob, Body::React { target, emoji: "👍".into() }, t0 + 10);
        assert_eq!(reaction_of(&tx, &bob).as_deref(), Some("😂"));
        // A removal is kept: an older reaction arriving later does not come back.
        act(&tx, &me, &bob, Body::React { target, emoji: String::new() }, t0 + 30);
        act(&tx, &me, &bob, Body::React { target, emoji: "🎉".into() }, t0 + 25);
        assert_eq!(reaction_of(&tx, &bob).as_deref(), Some(""));
        act(&tx, &me, &bob, Body::Edit { target, text: "v2".into() }, t0 + 200);
        act(&tx, &me, &bob, Body::Edit { target, text: "v1".into() }, t0 + 100);
        let id: i64 = tx.query_row("SELECT id FROM message", [], |r| r.get(0)).unwrap();
        assert_eq!(current_text(&tx, id).unwrap().as_deref(), Some("v2"));
        // The same packet twice is taken once.
        let p = Packet::new(Body::Edit { target, text: "v3".into() });
        let cbor = p.encode();
        let a = NewAction { from: bob, to: me, hash: MessageHash::of(&cbor), ts: t0 + 300, body: &p.body, cbor: &cbor };
        assert!(insert_action(&tx, &me, &a, 'C', t0 + 300).unwrap().is_some());
        assert!(insert_action(&tx, &me, &a, 'C', t0 + 301).unwrap().is_none());
        let edits: i64 = tx.query_row("SELECT edits FROM message", [], |r| r.get(0)).unwrap();
        assert_eq!(edits, 3);
    }

    #[test]
    fn edits_stop_at_twenty_and_after_a_day() {
        let (mut conn, me, bob) = setup();
        let tx = conn.transaction().unwrap();
        let t0 = 1_800_000_000_000;
        let target = message(&tx, &me, &bob, "v0", t0).0;
        for i in 1..=MAX_EDITS + 1 {
            act(&tx, &me, &bob, Body::Edit { target, text: format!("v{i}") }, t0 + i);
        }
        let edits: i64 = tx.query_row("SELECT edits FROM message", [], |r| r.get(0)).unwrap();
        assert_eq!(edits, MAX_EDITS);
        let refused: i64 = tx.query_row("SELECT count(*) FROM action WHERE applied = 2", [], |r| r.get(0)).unwrap();
        assert_eq!(refused, 1);
        let other = message(&tx, &me, &bob, "w0", t0 + 1).0;
        act(&tx, &me, &bob, Body::Edit { target: other, text: "late".into() }, t0 + 1 + EDIT_WINDOW_MS + 1);
        let late: i64 =
            tx.query_row("SELECT count(*) FROM message_edit WHERE text = 'late'", [], |r| r.get(0)).unwrap();
        assert_eq!(late, 0);
    }

    #[test]
    fn a_senders_waiting_actions_are_bounded_oldest_dropped_first() {
        let (mut conn, me, bob) = setup();
        let tx = conn.transaction().unwrap();
        let t0 = 1_800_000_000_000;
        for i in 0..MAX_WAITING_ACTIONS + 5 {
            act(&tx, &me, &bob, Body::React { target: [i as u8; 32], emoji: "👍".into() }, t0 + i);
        }
        let waiting: i64 = tx.query_row("SELECT count(*) FROM action WHERE applied = 0", [], |r| r.get(0)).unwrap();
        assert_eq!(waiting, MAX_WAITING_ACTIONS);
        let oldest: i64 = tx.query_row("SELECT min(ts) FROM action", [], |r| r.get(0)).unwrap();
        assert_eq!(oldest, t0 + 5);
    }
}
