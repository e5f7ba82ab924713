//! The read model: what the front ends show, worked out once in the core. The GUI and the CLI
//! both read through it: the talk list (names, previews, unread counts, in one query) and
//! conversations as pages of [`MessageView`]s.
//!
//! It reads through its own connection to the account's database, so reading never waits for
//! the engine (SQLite WAL: readers see the last commit).

use std::collections::HashMap;
use std::sync::Arc;

use crate::crypto::Address;
use crate::objects::{ObjectId, ObjectStore, SEGMENT};
use crate::store::{
    ChatDb, ChatId, ChatKind, DELETED_FOR_EVERYONE, Direction, Friend, FriendStatus, MessageRow, MessageStatus,
    Reactions, StoreError, TalkState, TalkSummary, TransferState,
};
use crate::wire::{AttachKind, Body, MessageHash, MessageKind, Packet};

/// The preview of a message deleted for everyone.
pub const DELETED_PREVIEW: &str = "🚫 Message deleted";

/// Longest preview of a message in the talk list, in characters.
const PREVIEW_CHARS: usize = 60;

/// One line of the talk list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkView {
    /// The conversation.
    pub chat: ChatId,
    /// Direct (with whom) or group.
    pub kind: ChatKind,
    /// What to call it: the friend's name, a group's title, or the start of the address.
    pub name: String,
    /// The newest message, one line.
    pub preview: String,
    /// Last activity (ms); 0 before the first message.
    pub last_dt: i64,
    /// Unread messages.
    pub unread: u64,
    /// A message request: an unknown sender wrote first.
    pub request: bool,
    /// In a request: the name the stranger's newest message claims (unverified).
    pub claimed_name: Option<String>,
    /// The peer is a friend (named by the user).
    pub friend: bool,
    /// The peer is blocked: their messages are dropped.
    pub blocked: bool,
    /// Pinned, muted, archived, marked unread, and the draft.
    pub state: TalkState,
}

impl TalkView {
    /// The peer of a direct conversation.
    pub fn peer(&self) -> Option<Address> {
        self.kind.peer()
    }
}

/// Where a file transfer stands, as shown on its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes received, or (outgoing) acknowledged by the broker.
    pub done: u64,
    /// Waiting for acceptance, active, complete or failed.
    pub state: TransferState,
}

/// An attachment as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentView {
    /// The file (SHA-256 of its content).
    pub file: ObjectId,
    /// Picture, GIF, video or file.
    pub kind: AttachKind,
    /// Display name (never used as a path).
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// Width, if known.
    pub w: Option<u64>,
    /// Height, if known.
    pub h: Option<u64>,
    /// The preview that travelled in the message (JPEG or PNG bytes, at most 48 KiB).
    pub thumb: Option<Vec<u8>>,
    /// The transfer.
    pub progress: Progress,
    /// The whole file is stored here and verified: it can be opened and saved.
    pub complete: bool,
}

/// A message as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// Row id (order within the account).
    pub id: i64,
    /// Its conversation.
    pub chat: ChatId,
    /// Its hash.
    pub hash: MessageHash,
    /// When it was stored here (ms).
    pub dt: i64,
    /// Where it stands in the conversation, and the time it shows: the sender's clock,
    /// clamped ([`crate::store::order_time`]), ms.
    pub ord: i64,
    /// Sent by this account.
    pub outgoing: bool,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Text or which attachment.
    pub kind: MessageKind,
    /// Status (received messages are confirmed).
    pub stat: MessageStatus,
    /// The text, or an attachment's caption.
    pub text: Option<String>,
    /// The attachment.
    pub attachment: Option<AttachmentView>,
    /// The message it replies to.
    pub reply_to: Option<QuoteView>,
    /// Reactions: each emoji with who chose it, the most chosen first.
    pub reactions: Reactions,
    /// How many times its sender edited it (the text is the newest).
    pub edited: u32,
    /// When edited: what it said before, the original first.
    pub earlier_texts: Vec<String>,
    /// Deleted for everyone: no text, no attachment.
    pub deleted: bool,
    /// An own message the peer displayed (read receipts on).
    pub read: bool,
}

/// The message a reply quotes, as shown above the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteView {
    /// Its hash.
    pub hash: MessageHash,
    /// Its row id, when it is stored here (a click scrolls to it).
    pub id: Option<i64>,
    /// Its sender, when stored here.
    pub from: Option<Address>,
    /// One line of it ([`MessageView::preview`]); empty when it is not here.
    pub snippet: String,
}

/// What the views of a page share, read once for the page.
struct PageFacts {
    /// The reactions of its rows that have any, by row id.
    reactions: HashMap<i64, Reactions>,
    /// Whether read receipts are on (an own message shows as read).
    read_receipts: bool,
}

impl MessageView {
    /// The text as one line for lists: the text, or an attachment's caption or name with an icon.
    pub fn preview(&self) -> String {
        if self.deleted {
            return DELETED_PREVIEW.to_string();
        }
        let line = match &self.attachment {
            None => self.text.clone().unwrap_or_default(),
            Some(a) => format!("{} {}", icon(a.kind), self.text.clone().unwrap_or_else(|| a.name.clone())),
        };
        one_line(&line)
    }
}

fn icon(kind: AttachKind) -> &'static str {
    match kind {
        AttachKind::Image | AttachKind::Gif => "📷",
        AttachKind::Video => "🎞",
        AttachKind::File => "📎",
    }
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(PREVIEW_CHARS).collect()
}

/// The name shown for `peer`: the friend's name, else the start of the address.
pub fn display_name(friend_name: Option<&str>, peer: &Address) -> String {
    match friend_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => format!("{}...", &peer.to_hex()[..10]),
    }
}

/// Reads what the front ends show.
pub struct ReadModel {
    db: ChatDb,
    objects: Arc<ObjectStore>,
    me: Address,
}

impl std::fmt::Debug for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModel").field("me", &self.me).finish_non_exhaustive()
    }
}

impl ReadModel {
    /// A read model over `db` (a reading connection) and the account's object store.
    pub fn new(db: ChatDb, objects: Arc<ObjectStore>) -> Self {
        let me = db.me();
        Self { db, objects, me }
    }

    /// The underlying connection.
    pub fn db(&self) -> &ChatDb {
        &self.db
    }

    /// How many messages from strangers were dropped to keep requests within their limits
    /// (shown beside the requests).
    pub fn requests_dropped(&self) -> Result<u64, StoreError> {
        self.db.requests_dropped()
    }

    /// The talk list, most recent first (one query).
    pub fn talks(&self) -> Result<Vec<TalkView>, StoreError> {
        Ok(self.db.talk_summaries()?.into_iter().map(|s| self.talk_view(s)).collect())
    }

    /// One line of the talk list.
    pub fn talk(&self, chat: ChatId) -> Result<Option<TalkView>, StoreError> {
        Ok(self.db.talk_summary(chat)?.map(|s| self.talk_view(s)))
    }

    fn talk_view(&self, s: TalkSummary) -> TalkView {
        let (friend_name, status) = match &s.friend {
            Some((name, status)) => (Some(name.as_str()), Some(*status)),
            None => (None, None),
        };
        let name = match (&s.talk.kind, &s.title) {
            (ChatKind::Direct(peer), _) => display_name(friend_name, peer),
            (ChatKind::Group, Some(title)) => title.clone(),
            (ChatKind::Group, None) => String::new(),
        };
        let preview = match (&s.last_edited, s.last.as_deref()) {
            (Some(text), _) => one_line(text),
            (None, Some([])) => DELETED_PREVIEW.to_string(),
            (None, last) => last.map(preview_of_packet).unwrap_or_default(),
        };
        let claimed_name = match (&s.talk.kind, s.talk.request && status.is_none()) {
            (ChatKind::Direct(peer), true) => s
                .last
                .as_deref()
                .and_then(|cbor| Packet::decode(cbor).ok())
                .and_then(|p| p.name)
                .filter(|_| s.last_from.as_ref() == Some(peer)),
            _ => None,
        };
        let state = s.talk.state.clone();
        TalkView {
            state,
            chat: s.talk.id,
            kind: s.talk.kind,
            name,
            preview,
            last_dt: s.talk.last_dt,
            unread: s.talk.unread,
            request: s.talk.request,
            claimed_name,
            friend: status == Some(FriendStatus::Active),
            blocked: status == Some(FriendStatus::Blocked),
        }
    }

    /// The first of the `unread` newest incoming messages of a conversation, in its order
    /// (where the "unread messages" line goes), if any.
    pub fn first_unread(&self, chat: ChatId, unread: u64) -> Result<Option<i64>, StoreError> {
        self.db.first_unread(chat, unread)
    }

    /// The newest `limit` messages of a conversation before row id `before` (the newest when
    /// `None`), oldest first.
    pub fn page(&self, chat: ChatId, before: Option<i64>, limit: usize) -> Result<Vec<MessageView>, StoreError> {
        Ok(self.views(&self.db.history(chat, limit, before)?))
    }

    /// The oldest `limit` messages of a conversation after row id `after`, oldest first.
    pub fn page_after(&self, chat: ChatId, after: i64, limit: usize) -> Result<Vec<MessageView>, StoreError> {
        Ok(self.views(&self.db.history_after(chat, limit, after)?))
    }

    /// About `limit` messages of a conversation around row id `id` (it included: half before,
    /// half after), oldest first.
    pub fn page_around(&self, chat: ChatId, id: i64, limit: usize) -> Result<Vec<MessageView>, StoreError> {
        let mut rows = self.db.history_through(chat, limit / 2 + 1, id)?;
        rows.extend(self.db.history_after(chat, limit / 2, id)?);
        Ok(self.views(&rows))
    }

    /// One message (`None` also when it was deleted here).
    pub fn message(&self, hash: &MessageHash) -> Result<Option<MessageView>, StoreError> {
        Ok(self.db.message(hash)?.filter(|r| r.deleted != crate::store::DELETED_HERE).map(|r| self.view(&r)))
    }

    /// The newest `limit` messages containing `query` (any case), newest first; only those of
    /// `chat` when given.
    pub fn search(&self, chat: Option<ChatId>, query: &str, limit: usize) -> Result<Vec<MessageView>, StoreError> {
        Ok(self.views(&self.db.search(chat, query, limit)?))
    }

    /// The direct conversation with `peer`, if any.
    pub fn chat_with(&self, peer: &Address) -> Result<Option<ChatId>, StoreError> {
        self.db.chat_with(peer)
    }

    /// Every friend (and blocked address).
    pub fn friends(&self) -> Result<Vec<Friend>, StoreError> {
        self.db.friends()
    }

    /// The view of a stored row.
    pub fn view(&self, row: &MessageRow) -> MessageView {
        self.view_with(row, &mut self.facts(std::slice::from_ref(row)))
    }

    /// The views of stored rows (a page), with what they share read once.
    pub fn views(&self, rows: &[MessageRow]) -> Vec<MessageView> {
        let mut facts = self.facts(rows);
        rows.iter().map(|r| self.view_with(r, &mut facts)).collect()
    }

    /// What the views of `rows` read in one go rather than a row at a time.
    fn facts(&self, rows: &[MessageRow]) -> PageFacts {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        PageFacts {
            reactions: self.db.reactions_of(&ids).unwrap_or_default(),
            read_receipts: self.db.read_receipts().unwrap_or(true),
        }
    }

    /// The view of `row`, taking its reactions out of `facts`.
    fn view_with(&self, row: &MessageRow, facts: &mut PageFacts) -> MessageView {
        let mut v = self.view_without_quote(row);
        v.reactions = facts.reactions.remove(&row.id).unwrap_or_default();
        v.read = v.outgoing && row.seen.is_some() && facts.read_receipts;
        let reply_to = Packet::decode(&row.cbor).ok().and_then(|p| p.reply_to).map(MessageHash);
        v.reply_to = reply_to.map(|hash| match self.db.message(&hash).ok().flatten() {
            Some(q) if q.chat == row.chat && q.deleted != crate::store::DELETED_HERE => {
                let quoted = self.view_without_quote(&q);
                QuoteView { hash, id: Some(q.id), from: Some(q.from), snippet: quoted.preview() }
            }
            _ => QuoteView { hash, id: None, from: None, snippet: String::new() },
        });
        v
    }

    /// What an edited message said before its newest edit: the original, then each edit.
    fn earlier_texts(&self, row: &MessageRow) -> Vec<String> {
        let original = match row.body() {
            Ok(Body::Text { text }) => text,
            _ => return Vec::new(),
        };
        let mut texts = vec![original];
        texts.extend(self.db.edits(row.id).unwrap_or_default().into_iter().map(|(_, t)| t));
        texts.pop();
        texts
    }

    /// The edit history of a message: (the sender's clock, text), oldest first.
    pub fn edits(&self, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        self.db.edits(id)
    }

    fn view_without_quote(&self, row: &MessageRow) -> MessageView {
        let outgoing = row.outgoing(&self.me);
        let (text, attachment) = match row.body() {
            _ if row.deleted == DELETED_FOR_EVERYONE => (None, None),
            Ok(Body::Text { text }) if row.edits > 0 => {
                (self.db.edited_text(row.id).ok().flatten().or(Some(text)), None)
            }
            Ok(Body::Text { text }) => (Some(text), None),
            Ok(Body::Attachment { kind, text, obj }) => {
                let file = ObjectId(obj.hash);
                let peer = if outgoing { row.to } else { row.from };
                let dir = if outgoing { Direction::Outgoing } else { Direction::Incoming };
                let transfer = self.db.transfer(&file, &peer, dir).ok().flatten();
                let progress = match &transfer {
                    // A receipted attachment message means the peer verified and kept the file.
                    // The transfer row is shared by every message sending the same file to the
                    // same peer: a later send must not put a progress bar back on this one.
                    _ if outgoing && row.stat == MessageStatus::Confirmed => {
                        Progress { done: obj.size, state: TransferState::Complete }
                    }
                    Some(t) => Progress { done: t.done.saturating_mul(SEGMENT as u64).min(t.size), state: t.state },
                    None => Progress { done: 0, state: TransferState::Waiting },
                };
                let complete = self.objects.contains(&file)
                    && transfer.as_ref().is_none_or(|t| outgoing || t.state == TransferState::Complete);
                let a = AttachmentView {
                    file,
                    kind,
                    name: obj.name,
                    mime: obj.mime,
                    size: obj.size,
                    w: obj.w,
                    h: obj.h,
                    // A stranger's preview is not decoded before the request is accepted: the
                    // request shows name, size and type only.
                    thumb: obj.thumb.filter(|_| outgoing || complete || self.db.is_friend(&row.from).unwrap_or(false)),
                    progress,
                    complete,
                };
                (text, Some(a))
            }
            _ => (None, None),
        };
        let earlier_texts = match (&text, row.edits) {
            (Some(_), 1..) => self.earlier_texts(row),
            _ => Vec::new(),
        };
        MessageView {
            id: row.id,
            chat: row.chat,
            hash: row.hash,
            dt: row.dt,
            ord: row.ord,
            outgoing,
            from: row.from,
            to: row.to,
            kind: row.kind,
            stat: row.stat,
            text,
            attachment,
            reply_to: None,
            reactions: Reactions::new(),
            edited: row.edits,
            earlier_texts,
            deleted: row.deleted == DELETED_FOR_EVERYONE,
            read: false,
        }
    }

    /// Which object a picture viewer decodes for `file`: the 1080 px display version of a
    /// picture if there is one, else the file itself; and whether it is a GIF (all frames).
    pub fn viewer_source(&self, file: &ObjectId) -> Result<Option<(ObjectId, bool)>, StoreError> {
        let Some(row) = self.db.message_with_object(file)? else { return Ok(None) };
        let gif = row.kind == MessageKind::Gif;
        let mut display = None;
        for (dir, peer) in [(Direction::Incoming, row.from), (Direction::Outgoing, row.to)] {
            if let Some(d) = self.db.transfer(file, &peer, dir)?.and_then(|t| t.display) {
                display = Some(d);
                break;
            }
        }
        Ok(Some((display.filter(|_| !gif).unwrap_or(*file), gif)))
    }
}

/// A one-line preview of a stored packet.
fn preview_of_packet(cbor: &[u8]) -> String {
    match Packet::decode(cbor).map(|p| p.body) {
        Ok(Body::Text { text }) => one_line(&text),
        Ok(Body::Attachment { kind, text, obj }) => one_line(&format!("{} {}", icon(kind), text.unwrap_or(obj.name))),
        _ => String::new(),
    }
}
