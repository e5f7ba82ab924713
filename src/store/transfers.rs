//! The `transfer` table: chunked transfers of attachments, resumable across restarts.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Transaction, params};

use super::{ChatDb, StoreError};
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::wire::MessageHash;

/// Direction of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We receive the file.
    Incoming,
    /// We send the file.
    Outgoing,
}

impl Direction {
    fn code(self) -> &'static str {
        match self {
            Self::Incoming => "I",
            Self::Outgoing => "O",
        }
    }
}

/// State of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// Over the auto-download limit: waits for the user to accept.
    Waiting,
    /// Chunks are moving.
    Active,
    /// Verified and kept (incoming) or receipted (outgoing).
    Complete,
    /// Rejected (wrong chunk, wrong hash, quota, too large).
    Failed,
}

impl TransferState {
    /// The letter stored in `transfer.state`.
    pub fn code(self) -> char {
        match self {
            Self::Waiting => 'W',
            Self::Active => 'A',
            Self::Complete => 'C',
            Self::Failed => 'F',
        }
    }

    fn from_code(c: &str) -> Self {
        match c {
            "W" => Self::Waiting,
            "C" => Self::Complete,
            "F" => Self::Failed,
            _ => Self::Active,
        }
    }

    /// The state of a letter (`W`, `A`, `C`, `F`).
    pub fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'W' => Self::Waiting,
            'A' => Self::Active,
            'C' => Self::Complete,
            'F' => Self::Failed,
            _ => return None,
        })
    }
}

/// A row of the `transfer` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The file's id.
    pub obj: ObjectId,
    /// The other party.
    pub peer: Address,
    /// Direction.
    pub dir: Direction,
    /// Hash of the attachment message.
    pub msg: MessageHash,
    /// Bytes.
    pub size: u64,
    /// Chunks.
    pub chunks: u64,
    /// Incoming: bitmap of written chunks (bit i of byte i / 8).
    pub have: Vec<u8>,
    /// Chunks received, or (outgoing) handed to the broker so far.
    pub done: u64,
    /// State.
    pub state: TransferState,
    /// Why it failed.
    pub error: Option<String>,
    /// Last activity (ms).
    pub activity: i64,
    /// N packets sent since the last chunk arrived.
    pub need_tries: u32,
    /// Object id of the display version.
    pub display: Option<ObjectId>,
    /// Object id of the avatar crop.
    pub avatar: Option<ObjectId>,
    /// Merkle root of the file's chunks, when its message named one: each chunk must prove
    /// itself against it before it is written.
    pub root: Option<[u8; 32]>,
}

impl Transfer {
    /// Whether chunk `i` was written (incoming).
    pub fn has(&self, i: u64) -> bool {
        self.have.get((i / 8) as usize).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Records chunk `i`; `true` if it is new.
    pub fn set(&mut self, i: u64) -> bool {
        let byte = (i / 8) as usize;
        if self.have.len() <= byte {
            self.have.resize(byte + 1, 0);
        }
        let new = self.have[byte] & (1 << (i % 8)) == 0;
        self.have[byte] |= 1 << (i % 8);
        if new {
            self.done += 1;
        }
        new
    }

    /// Chunks not yet received, at most `limit`.
    /// Forgets chunks `lost` (their bytes were not on disk after all).
    pub fn unset(&mut self, lost: &[u64]) {
        for &i in lost {
            if let Some(b) = self.have.get_mut((i / 8) as usize)
                && *b & (1 << (i % 8)) != 0
            {
                *b &= !(1 << (i % 8));
                self.done = self.done.saturating_sub(1);
            }
        }
    }

    /// Forgets every chunk (the transfer starts over).
    pub fn clear(&mut self) {
        self.have.clear();
        self.done = 0;
    }

    /// Chunks not received yet, at most `limit` of them, lowest first.
    pub fn missing(&self, limit: usize) -> Vec<u64> {
        (0..self.chunks).filter(|&i| !self.has(i)).take(limit).collect()
    }
}

const COLUMNS: &str =
    "obj, peer, dir, msg, size, chunks, have, done, state, error, activity, need_tries, display, avatar, root";

fn row_to_transfer(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Transfer>> {
    let obj = ObjectId::from_hex(&r.get::<_, String>(0)?);
    let peer = r.get::<_, String>(1)?.parse::<Address>().ok();
    let msg = r.get::<_, String>(3)?.parse::<MessageHash>().ok();
    let (Some(obj), Some(peer), Some(msg)) = (obj, peer, msg) else { return Ok(None) };
    let dir = if r.get::<_, String>(2)? == "O" { Direction::Outgoing } else { Direction::Incoming };
    let oid = |s: Option<String>| s.and_then(|s| ObjectId::from_hex(&s));
    Ok(Some(Transfer {
        obj,
        peer,
        dir,
        msg,
        size: r.get::<_, i64>(4)?.max(0) as u64,
        chunks: r.get::<_, i64>(5)?.max(0) as u64,
        have: r.get(6)?,
        done: r.get::<_, i64>(7)?.max(0) as u64,
        state: TransferState::from_code(&r.get::<_, String>(8)?),
        error: r.get(9)?,
        activity: r.get(10)?,
        need_tries: r.get::<_, i64>(11)?.clamp(0, 64) as u32,
        display: oid(r.get(12)?),
        avatar: oid(r.get(13)?),
        root: r.get::<_, Option<Vec<u8>>>(14)?.and_then(|b| b.try_into().ok()),
    }))
}

/// Inserts or replaces a transfer row.
pub(crate) fn put_transfer(tx: &Transaction<'_>, t: &Transfer) -> Result<(), StoreError> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO transfer ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?
    .execute(params![
        t.obj.to_hex(),
        t.peer.to_hex(),
        t.dir.code(),
        t.msg.to_hex(),
        t.size as i64,
        t.chunks as i64,
        t.have,
        t.done as i64,
        t.state.code().to_string(),
        t.error,
        t.activity,
        i64::from(t.need_tries),
        t.display.map(|d| d.to_hex()),
        t.avatar.map(|a| a.to_hex()),
        t.root.map(|r| r.to_vec()),
    ])?;
    Ok(())
}

/// Keeps the leaf hashes of a file we send (once; a file sent again has the same ones).
pub(crate) fn put_object_tree(tx: &Transaction<'_>, obj: &ObjectId, leaves: &[[u8; 32]]) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO object_tree (obj, leaves) VALUES (?1, ?2)")?
        .execute(params![obj.to_hex(), leaves.concat()])?;
    Ok(())
}

/// One transfer inside a transaction.
pub(crate) fn get_transfer(
    tx: &Transaction<'_>,
    obj: &ObjectId,
    peer: &Address,
    dir: Direction,
) -> Result<Option<Transfer>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM transfer WHERE obj = ?1 AND peer = ?2 AND dir = ?3");
    Ok(tx.query_row(&sql, params![obj.to_hex(), peer.to_hex(), dir.code()], row_to_transfer).optional()?.flatten())
}

impl ChatDb {
    /// Writes transfer rows in one transaction.
    pub fn save_transfers<'a>(&mut self, rows: impl IntoIterator<Item = &'a Transfer>) -> Result<(), StoreError> {
        let rows: Vec<&Transfer> = rows.into_iter().collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.batch(|tx, _| {
            for t in rows {
                put_transfer(tx, t)?;
            }
            Ok(())
        })
    }

    /// The leaf hashes of a file we send, if they were kept (files sent before version 9 have
    /// none: their messages named no root, and their chunks carry no proof).
    pub fn object_tree(&self, obj: &ObjectId) -> Result<Option<Vec<[u8; 32]>>, StoreError> {
        let blob: Option<Vec<u8>> = self
            .connection()
            .query_row("SELECT leaves FROM object_tree WHERE obj = ?1", [obj.to_hex()], |r| r.get(0))
            .optional()?;
        Ok(blob.map(|b| b.chunks_exact(32).filter_map(|c| c.try_into().ok()).collect()))
    }

    /// Forgets the leaf hashes of files no message refers to any more (with `object gc`);
    /// returns how many.
    pub fn forget_unreferenced_trees(&self) -> Result<usize, StoreError> {
        Ok(self
            .connection()
            .execute("DELETE FROM object_tree WHERE obj NOT IN (SELECT obj FROM message WHERE obj IS NOT NULL)", [])?)
    }

    /// One transfer.
    pub fn transfer(&self, obj: &ObjectId, peer: &Address, dir: Direction) -> Result<Option<Transfer>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM transfer WHERE obj = ?1 AND peer = ?2 AND dir = ?3");
        Ok(self
            .conn
            .query_row(&sql, params![obj.to_hex(), peer.to_hex(), dir.code()], row_to_transfer)
            .optional()?
            .flatten())
    }

    /// The failed incoming transfers of a file, with the conversation and kind of their
    /// attachment messages (what a retry starts again).
    pub fn failed_incoming(
        &self,
        obj: &ObjectId,
    ) -> Result<Vec<(Transfer, super::ChatId, crate::wire::AttachKind)>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM transfer WHERE obj = ?1 AND dir = 'I' AND state = 'F'");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([obj.to_hex()], row_to_transfer)?;
        let mut out = Vec::new();
        for r in rows {
            let Some(t) = r? else { continue };
            if let Some(m) = self.message(&t.msg)? {
                let kind = m.kind.attachment().unwrap_or(crate::wire::AttachKind::File);
                out.push((t, m.chat, kind));
            }
        }
        Ok(out)
    }

    /// The transfer of an attachment message (by its hex hash).
    pub fn transfer_of_message(&self, msg: &MessageHash) -> Result<Option<Transfer>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM transfer WHERE msg = ?1");
        Ok(self.conn.query_row(&sql, [msg.to_hex()], row_to_transfer).optional()?.flatten())
    }

    /// Transfers in one direction and state.
    pub fn transfers(&self, dir: Direction, state: TransferState) -> Result<Vec<Transfer>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM transfer WHERE dir = ?1 AND state = ?2");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![dir.code(), state.code().to_string()], row_to_transfer)?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(t) = r? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Objects that messages (and their thumbnails) refer to: what GC keeps.
    pub fn referenced_objects(&self) -> Result<HashSet<ObjectId>, StoreError> {
        let mut out = HashSet::new();
        let mut stmt = self.conn.prepare(
            "SELECT obj FROM message WHERE obj IS NOT NULL
             UNION SELECT display FROM transfer WHERE display IS NOT NULL AND obj IN (SELECT obj FROM message)
             UNION SELECT avatar FROM transfer WHERE avatar IS NOT NULL AND obj IN (SELECT obj FROM message)",
        )?;
        for r in stmt.query_map([], |r| r.get::<_, String>(0))? {
            if let Some(id) = ObjectId::from_hex(&r?) {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// The newest message that carries object `obj` (for its display name).
    pub fn message_with_object(&self, obj: &ObjectId) -> Result<Option<super::MessageRow>, StoreError> {
        let hash: Option<String> = self
            .conn
            .query_row("SELECT hash FROM message WHERE obj = ?1 ORDER BY id DESC LIMIT 1", [obj.to_hex()], |r| r.get(0))
            .optional()?;
        match hash.and_then(|h| h.parse().ok()) {
            Some(h) => self.message(&h),
            None => Ok(None),
        }
    }
}
