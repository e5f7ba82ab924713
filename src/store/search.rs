//! Full-text search of message text: an FTS5 table with the trigram tokenizer, so that any
//! substring of three or more characters (Latin, Chinese, anything) is found through the index,
//! case-insensitively. Shorter queries scan the indexed text.
//!
//! Messages are indexed in batches after they are stored ([`ChatDb::index_pending`], run by
//! the background maintenance thread each second and by a search before it looks): one FTS5
//! insert per message inside the engine's commits made those commits merge index segments.

use rusqlite::{Transaction, TransactionBehavior, params};

use super::messages::{COLUMNS, MessageRow, collect, row_to_message};
use super::{ChatDb, ChatId, StoreError};
use crate::wire::Packet;

/// Adds a stored message's text to the index (`id` is its row id).
pub(crate) fn index_message(tx: &Transaction<'_>, id: i64, text: &str) -> Result<(), StoreError> {
    if !text.is_empty() {
        tx.prepare_cached("INSERT INTO message_text (rowid, text) VALUES (?1, ?2)")?.execute(params![id, text])?;
    }
    Ok(())
}

/// Migration 4: indexes the messages stored before search existed.
pub(crate) fn index_existing_messages(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let mut read = tx.prepare("SELECT id, val FROM message WHERE type != 'R'")?;
    let mut rows = read.query([])?;
    while let Some(r) = rows.next()? {
        let cbor: Vec<u8> = r.get(1)?;
        // A row that does not decode has no text to find; it stays as it is.
        if let Some(text) = Packet::decode(&cbor).ok().and_then(|p| p.body.search_text()) {
            index_message(tx, r.get(0)?, &text)?;
        }
    }
    Ok(())
}

/// Most messages indexed in one transaction.
const INDEX_BATCH: i64 = 256;

/// `query` as one FTS5 phrase (quotes doubled), or as a LIKE pattern for short queries.
fn phrase(query: &str) -> String {
    format!("\"{}\"", query.replace('"', "\"\""))
}

fn like_pattern(query: &str) -> String {
    let escaped: String =
        query.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%{escaped}%")
}

impl ChatDb {
    /// Indexes the messages stored since the last call, in transactions of a few hundred;
    /// returns how many were looked at.
    pub fn index_pending(&self) -> Result<u64, StoreError> {
        self.index_pending_while(|| true)
    }

    /// Like [`Self::index_pending`], but asks `go_on` after each transaction and stops when it
    /// says no: the upkeep gives way as soon as the engine wants to write, instead of holding it
    /// up for as long as the whole backlog takes.
    pub fn index_pending_while(&self, go_on: impl Fn() -> bool) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            let upto: i64 = tx.query_row("SELECT indexed_upto FROM search_state WHERE id = 1", [], |r| r.get(0))?;
            let mut last = upto;
            let mut n = 0;
            {
                // An edited message is found by the text it shows; a deleted one (no packet) not.
                let mut read = tx.prepare_cached(
                    "SELECT id, val, (SELECT e.text FROM message_edit e WHERE e.msg = message.id
                         ORDER BY e.ts DESC, e.hash DESC LIMIT 1)
                     FROM message WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?;
                let mut rows = read.query(params![upto, INDEX_BATCH])?;
                while let Some(r) = rows.next()? {
                    let (id, cbor, edited): (i64, Vec<u8>, Option<String>) = (r.get(0)?, r.get(1)?, r.get(2)?);
                    let text = edited.or_else(|| Packet::decode(&cbor).ok().and_then(|p| p.body.search_text()));
                    if let Some(text) = text {
                        index_message(&tx, id, &text)?;
                    }
                    last = id;
                    n += 1;
                }
            }
            if n == 0 {
                return Ok(total);
            }
            tx.execute("UPDATE search_state SET indexed_upto = ?1 WHERE id = 1", [last])?;
            tx.commit()?;
            total += n;
            if !go_on() {
                return Ok(total);
            }
        }
    }

    /// The newest `limit` messages whose text contains `query` (case-insensitive), newest
    /// first; only those of conversation `chat` when given. An empty query finds nothing.
    pub fn search(&self, chat: Option<ChatId>, query: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        self.index_pending()?;
        // CROSS JOIN keeps the index (in row id order, newest first) as the outer loop, so a
        // common word stops after `limit` rows instead of sorting every match.
        let (condition, needle) = if query.chars().count() >= 3 {
            ("message_text MATCH ?1", phrase(query))
        } else {
            ("f.text LIKE ?1 ESCAPE '\\'", like_pattern(query))
        };
        let sql = format!(
            "SELECT {COLUMNS}
             FROM message_text f CROSS JOIN message m ON m.id = f.rowid
             WHERE {condition} AND (?2 IS NULL OR m.chat = ?2)
             ORDER BY f.rowid DESC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![needle, chat.map(|c| c.0), limit as i64], row_to_message)?;
        collect(rows)
    }
}
