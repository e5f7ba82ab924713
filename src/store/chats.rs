//! The `talk` table (conversations) and `chat_member`: a conversation has an id of its own
//! ([`ChatId`]); a direct one has one member, the peer, and at most one exists per peer.

use std::fmt;

use rusqlite::{OptionalExtension, Transaction, params};

use super::{ChatDb, StoreError, now_ms, with_write_tx};
use crate::crypto::Address;

/// A conversation's id (`talk.id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatId(pub i64);

impl fmt::Debug for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChatId({})", self.0)
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatKind {
    /// With one peer.
    Direct(Address),
    /// With several members (a later version of the protocol).
    Group,
}

impl ChatKind {
    /// The peer of a direct conversation.
    pub fn peer(&self) -> Option<Address> {
        match self {
            Self::Direct(a) => Some(*a),
            Self::Group => None,
        }
    }
}

/// A row of the `talk` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Talk {
    /// The conversation's id.
    pub id: ChatId,
    /// Direct (with whom) or group.
    pub kind: ChatKind,
    /// Last activity (ms); 0 before the first message.
    pub last_dt: i64,
    /// Unread incoming messages.
    pub unread: u64,
    /// An unknown sender wrote first and the user has not accepted or blocked them yet.
    pub request: bool,
    /// Pinned, muted, archived, marked unread, draft.
    pub state: super::TalkState,
}

impl Talk {
    /// The peer of a direct conversation.
    pub fn peer(&self) -> Option<Address> {
        self.kind.peer()
    }
}

/// The columns [`talk_from_row`] reads, in order.
pub(super) const TALK_COLUMNS: &str =
    "t.id, t.kind, t.pk, t.last_dt, t.unread, t.request, t.pinned, t.muted, t.archived, t.marked_unread, t.draft";

/// The talk list's order: pinned talks first (the last pinned on top), then by activity.
const LIST_ORDER: &str = "ORDER BY t.pinned DESC, t.last_dt DESC, t.id DESC";

/// A `talk` row from [`TALK_COLUMNS`] (at `at`); `None` when its address does not parse.
pub(super) fn talk_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<Talk>> {
    let kind = match (r.get::<_, String>(at + 1)?.as_str(), r.get::<_, Option<String>>(at + 2)?) {
        ("G", _) => ChatKind::Group,
        (_, Some(pk)) => match pk.parse() {
            Ok(a) => ChatKind::Direct(a),
            Err(_) => return Ok(None),
        },
        (_, None) => return Ok(None),
    };
    Ok(Some(Talk {
        id: ChatId(r.get(at)?),
        kind,
        last_dt: r.get(at + 3)?,
        unread: r.get::<_, i64>(at + 4)?.max(0) as u64,
        request: r.get::<_, i64>(at + 5)? != 0,
        state: super::talk_state::state_from_row(r, at + 6)?,
    }))
}

/// The direct conversation with `peer`, created (with its member row) if there is none.
pub(crate) fn direct_chat(tx: &Transaction<'_>, peer: &Address, now: i64) -> Result<ChatId, StoreError> {
    let pk = peer.to_hex();
    if let Some(id) =
        tx.prepare_cached("SELECT id FROM talk WHERE pk = ?1")?.query_row([&pk], |r| r.get(0)).optional()?
    {
        return Ok(ChatId(id));
    }
    tx.prepare_cached("INSERT INTO talk (kind, pk) VALUES ('D', ?1)")?.execute([&pk])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO chat_member (chat, pk, dt) VALUES (?1, ?2, ?3)")?.execute(params![id, pk, now])?;
    Ok(ChatId(id))
}

/// How many members a conversation has (besides this account).
pub(crate) fn member_count(tx: &Transaction<'_>, chat: ChatId) -> Result<u64, StoreError> {
    Ok(tx
        .prepare_cached("SELECT count(*) FROM chat_member WHERE chat = ?1")?
        .query_row([chat.0], |r| r.get::<_, i64>(0))?
        .max(0) as u64)
}

impl ChatDb {
    /// Every conversation, most recent activity first.
    pub fn talks(&self) -> Result<Vec<Talk>, StoreError> {
        let sql = format!("SELECT {TALK_COLUMNS} FROM talk t {LIST_ORDER}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], |r| talk_from_row(r, 0))?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?);
        }
        Ok(out)
    }

    /// One conversation.
    pub fn talk(&self, chat: ChatId) -> Result<Option<Talk>, StoreError> {
        let sql = format!("SELECT {TALK_COLUMNS} FROM talk t WHERE t.id = ?1");
        Ok(self.conn.query_row(&sql, [chat.0], |r| talk_from_row(r, 0)).optional()?.flatten())
    }

    /// The direct conversation with `peer`, if there is one.
    pub fn chat_with(&self, peer: &Address) -> Result<Option<ChatId>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM talk WHERE pk = ?1")?
            .query_row([peer.to_hex()], |r| r.get(0))
            .optional()?
            .map(ChatId))
    }

    /// Whether `peer` has ever written in the direct conversation with them (until then, own
    /// messages to them introduce the sender by name).
    pub fn has_written(&self, peer: &Address) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM talk t JOIN message m ON m.chat = t.id WHERE t.pk = ?1 AND m.pk = ?1)",
            )?
            .query_row([peer.to_hex()], |r| r.get(0))?)
    }

    /// The direct conversation with `peer`, created if there is none.
    pub fn open_chat_with(&mut self, peer: &Address) -> Result<ChatId, StoreError> {
        let now = now_ms();
        with_write_tx(&mut self.conn, |tx| direct_chat(tx, peer, now))
    }

    /// The members of a conversation other than this account.
    pub fn members(&self, chat: ChatId) -> Result<Vec<Address>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT pk FROM chat_member WHERE chat = ?1 ORDER BY dt, pk")?;
        let rows = stmt.query_map([chat.0], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r?.parse::<Address>().ok());
        }
        Ok(out)
    }

    /// Marks a conversation as read.
    pub fn mark_read(&mut self, chat: ChatId) -> Result<(), StoreError> {
        self.conn.execute("UPDATE talk SET unread = 0, marked_unread = 0 WHERE id = ?1", [chat.0])?;
        Ok(())
    }

    /// Sum of unread counts of the talks that are not muted.
    pub fn unread_total(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(sum(unread), 0) FROM talk WHERE muted = 0", [], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }
}

/// A conversation with what the talk list shows of it, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkSummary {
    /// The conversation.
    pub talk: Talk,
    /// A group's title.
    pub title: Option<String>,
    /// The peer's friend row (name and status), when there is one.
    pub friend: Option<(String, super::FriendStatus)>,
    /// The CBOR packet of the newest message.
    pub last: Option<Vec<u8>>,
    /// The newest message's sender.
    pub last_from: Option<Address>,
    /// The newest message's text when it was edited.
    pub last_edited: Option<String>,
}

const SUMMARY_SQL: &str = "SELECT t.id, t.kind, t.pk, t.last_dt, t.unread, t.request, \
     t.pinned, t.muted, t.archived, t.marked_unread, t.draft, t.name, f.name, f.stat, \
     (SELECT m.val FROM message m WHERE m.chat = t.id AND m.deleted != 2 ORDER BY m.id DESC LIMIT 1), \
     (SELECT m.pk FROM message m WHERE m.chat = t.id AND m.deleted != 2 ORDER BY m.id DESC LIMIT 1), \
     (SELECT e.text FROM message_edit e WHERE e.msg = \
         (SELECT m.id FROM message m WHERE m.chat = t.id AND m.deleted != 2 ORDER BY m.id DESC LIMIT 1) \
         ORDER BY e.ts DESC, e.hash DESC LIMIT 1) \
     FROM talk t LEFT JOIN friend f ON f.pk = t.pk";

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<TalkSummary>> {
    let Some(talk) = talk_from_row(r, 0)? else { return Ok(None) };
    let friend = match (r.get::<_, Option<String>>(12)?, r.get::<_, Option<String>>(13)?) {
        (Some(name), Some(stat)) => Some((name, super::friends::status_of(&stat))),
        _ => None,
    };
    Ok(Some(TalkSummary {
        talk,
        title: r.get(11)?,
        friend,
        last: r.get(14)?,
        last_from: r.get::<_, Option<String>>(15)?.and_then(|s| s.parse().ok()),
        last_edited: r.get(16)?,
    }))
}

impl ChatDb {
    /// The talk list: conversations with a message, those of active friends and groups, most
    /// recent activity first, each with its friend row and newest message (one query).
    pub fn talk_summaries(&self) -> Result<Vec<TalkSummary>, StoreError> {
        let sql = format!("{SUMMARY_SQL} WHERE t.last_dt > 0 OR f.stat = 'A' OR t.kind = 'G' {LIST_ORDER}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], summary_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r?);
        }
        Ok(out)
    }

    /// One conversation's [`TalkSummary`].
    pub fn talk_summary(&self, chat: ChatId) -> Result<Option<TalkSummary>, StoreError> {
        let sql = format!("{SUMMARY_SQL} WHERE t.id = ?1");
        Ok(self.conn.prepare_cached(&sql)?.query_row([chat.0], summary_from_row).optional()?.flatten())
    }
}
