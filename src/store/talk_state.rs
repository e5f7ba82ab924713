//! How the user keeps a conversation in the talk list: pinned, muted, archived, marked
//! unread, and the composer's draft (chat.db v11).

use rusqlite::params;

use super::{ChatDb, ChatId, StoreError, now_ms};

/// What the user set on a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TalkState {
    /// When it was pinned (ms; 0: not pinned). Pinned talks stand first, the last pinned on
    /// top.
    pub pinned: i64,
    /// No notifications; its unread count is shown grey and left out of the total.
    pub muted: bool,
    /// Out of the list until a new message comes.
    pub archived: bool,
    /// Shown as unread until it is opened.
    pub marked_unread: bool,
    /// Text typed and not sent.
    pub draft: Option<String>,
}

/// A change the user makes to a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalkChange {
    /// Pin (`true`) or unpin.
    Pin(bool),
    /// Mute or unmute.
    Mute(bool),
    /// Archive or bring back.
    Archive(bool),
    /// Show as unread until opened.
    MarkUnread,
    /// Keep the composer's text (`None` or empty: none).
    Draft(Option<String>),
}

/// The longest draft kept, in bytes (the longest text a message may carry is 32 KiB).
pub const MAX_DRAFT: usize = 64 * 1024;

/// A [`TalkState`] from the columns `pinned, muted, archived, marked_unread, draft` at `at`.
pub(super) fn state_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<TalkState> {
    Ok(TalkState {
        pinned: r.get::<_, i64>(at)?.max(0),
        muted: r.get::<_, i64>(at + 1)? != 0,
        archived: r.get::<_, i64>(at + 2)? != 0,
        marked_unread: r.get::<_, i64>(at + 3)? != 0,
        draft: r.get::<_, Option<String>>(at + 4)?.filter(|d| !d.is_empty()),
    })
}

impl TalkState {
    /// Whether the talk is pinned.
    pub fn is_pinned(&self) -> bool {
        self.pinned > 0
    }
}

impl ChatDb {
    /// Applies a change the user made to a conversation.
    pub fn change_talk(&self, chat: ChatId, change: &TalkChange) -> Result<(), StoreError> {
        let (sql, value): (&str, rusqlite::types::Value) = match change {
            TalkChange::Pin(on) => {
                ("UPDATE talk SET pinned = ?2 WHERE id = ?1", (if *on { now_ms() } else { 0 }).into())
            }
            TalkChange::Mute(on) => ("UPDATE talk SET muted = ?2 WHERE id = ?1", i64::from(*on).into()),
            TalkChange::Archive(on) => ("UPDATE talk SET archived = ?2 WHERE id = ?1", i64::from(*on).into()),
            TalkChange::MarkUnread => ("UPDATE talk SET marked_unread = ?2 WHERE id = ?1", 1i64.into()),
            TalkChange::Draft(text) => {
                let text = text.as_deref().filter(|t| !t.trim().is_empty()).map(|t| truncate(t, MAX_DRAFT));
                ("UPDATE talk SET draft = ?2 WHERE id = ?1", text.map_or(rusqlite::types::Value::Null, Into::into))
            }
        };
        self.conn.prepare_cached(sql)?.execute(params![chat.0, value])?;
        Ok(())
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
