//! The receiving side: register the file of an attachment message, write chunks into a
//! partial object, ask for what is missing, verify and keep.

use rusqlite::Transaction;

use super::{Effect, Key, MAX_THUMB_SOURCE, MediaLimits, NEED_BATCH, NEED_MAX, Transfers};
use super::{VerifyJob, bytes_of, percent, progress};
use crate::app::errors::FileProblem;
use crate::app::{ClientError, Event};
use crate::crypto::Address;
use crate::objects::{ObjectId, PartialObject};
use crate::store::{self, ChatDb, ChatId, Direction, StoreError, Transfer, TransferState};
use crate::wire::{AttachKind, Body, MessageHash, ObjectMeta};

/// An incoming transfer in memory.
pub(super) struct InTransfer {
    pub(super) row: Transfer,
    pub(super) partial: Option<PartialObject>,
    /// The conversation of the attachment message.
    pub(super) chat: ChatId,
    pub(super) kind: AttachKind,
    pub(super) finishing: bool,
    pub(super) last_pct: u64,
    pub(super) dirty: bool,
}

/// Creates (or returns) the incoming transfer of an attachment message, inside the receive
/// transaction: `W` over the auto-download limit, `F` over the size limit, else `A`.
pub fn register_incoming(
    tx: &Transaction<'_>,
    from: &Address,
    msg: &MessageHash,
    obj: &ObjectMeta,
    limits: MediaLimits,
    now: i64,
) -> Result<Transfer, StoreError> {
    let id = ObjectId(obj.hash);
    if let Some(t) = store::get_transfer(tx, &id, from, Direction::Incoming)? {
        return Ok(t);
    }
    let (state, error) = if obj.size > limits.max_file_bytes {
        (TransferState::Failed, Some(FileProblem::TooLarge(obj.size >> 20).to_string()))
    } else if obj.size > limits.auto_download_bytes {
        (TransferState::Waiting, None)
    } else {
        (TransferState::Active, None)
    };
    let t = Transfer {
        obj: id,
        peer: *from,
        dir: Direction::Incoming,
        msg: *msg,
        size: obj.size,
        chunks: obj.chunks,
        have: Vec::new(),
        done: 0,
        state,
        error,
        activity: now,
        need_tries: 0,
        display: None,
        avatar: None,
    };
    store::put_transfer(tx, &t)?;
    Ok(t)
}

impl Transfers {
    /// Resumes the incoming transfers stored in `db` (after a start); files that were
    /// complete but not verified are verified now.
    pub fn load_incoming(&mut self, db: &ChatDb) -> Result<Vec<Effect>, StoreError> {
        let mut rows = db.transfers(Direction::Incoming, TransferState::Active)?;
        rows.extend(db.transfers(Direction::Incoming, TransferState::Waiting)?);
        let mut out = Vec::new();
        for row in rows {
            let (chat, kind) = match db.message(&row.msg)? {
                Some(m) => (m.chat, m.kind.attachment().unwrap_or(AttachKind::File)),
                None => continue,
            };
            let key = (row.obj, row.peer);
            let partial = match row.state {
                TransferState::Active => self.objects.begin_partial(&row.obj, row.size).ok(),
                _ => None,
            };
            let complete = row.chunks > 0 && row.done >= row.chunks;
            let t = InTransfer { row, partial, chat, kind, finishing: false, last_pct: 0, dirty: false };
            self.incoming.insert(key, t);
            if complete {
                out.extend(self.finish(key));
            }
        }
        Ok(out)
    }

    /// Sets up the transfer of an attachment message just stored in conversation `chat`.
    pub fn start_incoming(&mut self, row: Transfer, chat: ChatId, kind: AttachKind) -> Vec<Effect> {
        let key = (row.obj, row.peer);
        if self.incoming.contains_key(&key) || row.state == TransferState::Complete {
            return Vec::new();
        }
        if row.state == TransferState::Failed {
            let reason = FileProblem::TooLarge(row.size >> 20);
            return vec![
                Effect::Fail(ClientError::FileRejected { file: row.obj, from: row.peer, reason }),
                progress(&row.obj, 0, row.size, TransferState::Failed),
            ];
        }
        let (state, size, chunks) = (row.state, row.size, row.chunks);
        self.incoming
            .insert(key, InTransfer { row, partial: None, chat, kind, finishing: false, last_pct: 0, dirty: false });
        let mut out = vec![progress(&key.0, 0, size, state)];
        if state == TransferState::Active {
            out.extend(self.open_partial(key));
            if chunks == 0 {
                out.extend(self.finish(key));
            }
        }
        out
    }

    fn open_partial(&mut self, key: Key) -> Vec<Effect> {
        let Some(t) = self.incoming.get_mut(&key) else { return Vec::new() };
        match self.objects.begin_partial(&key.0, t.row.size) {
            Ok(p) => {
                t.partial = Some(p);
                Vec::new()
            }
            Err(e) => self.fail_incoming(key, FileProblem::Store(e)),
        }
    }

    /// Accepts a waiting file: it becomes active and asks the sender for every chunk at once.
    pub fn accept(&mut self, obj: &ObjectId, now: i64) -> Result<Vec<Effect>, ClientError> {
        let key = self
            .incoming
            .iter()
            .find(|((o, _), t)| o == obj && t.row.state == TransferState::Waiting)
            .map(|(k, _)| *k)
            .ok_or(ClientError::NotWaiting(*obj))?;
        if let Some(t) = self.incoming.get_mut(&key) {
            t.row.state = TransferState::Active;
            t.row.activity = 0;
            t.row.need_tries = 0;
            t.dirty = true;
        }
        let mut out = self.open_partial(key);
        if let Some(t) = self.incoming.get(&key) {
            out.push(progress(obj, bytes_of(t.row.done, t.row.size), t.row.size, t.row.state));
        }
        out.extend(self.ask_for_missing(now));
        Ok(out)
    }

    /// A chunk from `from`: written into the partial object if it belongs to a transfer.
    pub fn on_chunk(&mut self, from: &Address, obj: ObjectId, i: u64, data: &[u8], now: i64) -> Vec<Effect> {
        let key = (obj, *from);
        let Some(t) = self.incoming.get_mut(&key) else { return vec![Effect::Drop("unexpected_chunk")] };
        if t.row.state != TransferState::Active || t.finishing {
            return vec![Effect::Drop("unexpected_chunk")];
        }
        if t.row.has(i) {
            return Vec::new(); // a duplicate
        }
        let Some(partial) = t.partial.as_mut() else { return vec![Effect::Drop("unexpected_chunk")] };
        if let Err(e) = partial.write_chunk(i, data) {
            return self.fail_incoming(key, FileProblem::WrongChunk(e));
        }
        t.row.set(i);
        t.row.activity = now;
        t.row.need_tries = 0;
        t.dirty = true;
        let pct = percent(t.row.done, t.row.chunks);
        let complete = t.row.done >= t.row.chunks;
        let mut out = Vec::new();
        if pct != t.last_pct || complete {
            t.last_pct = pct;
            out.push(progress(&obj, bytes_of(t.row.done, t.row.size), t.row.size, TransferState::Active));
        }
        if complete {
            out.extend(self.finish(key));
        }
        out
    }

    /// The file is complete: verify it (and make a picture's previews) off the engine task.
    fn finish(&mut self, key: Key) -> Vec<Effect> {
        let Some(t) = self.incoming.get_mut(&key) else { return Vec::new() };
        if t.finishing {
            return Vec::new();
        }
        t.finishing = true;
        t.dirty = true;
        let partial = match t.partial.take() {
            Some(p) => Some(p),
            None => self.objects.begin_partial(&key.0, t.row.size).ok(),
        };
        let Some(partial) = partial else { return self.fail_incoming(key, FileProblem::PartialGone) };
        let image = matches!(t.kind, AttachKind::Image | AttachKind::Gif) && t.row.size <= MAX_THUMB_SOURCE;
        vec![Effect::Verify(VerifyJob { objects: self.objects.clone(), key, partial, image })]
    }

    /// A verification finished: keep the file and send the receipt, or reject it.
    pub fn on_verified(&mut self, v: super::Verified) -> Vec<Effect> {
        let key = v.key;
        let kept = match v.result {
            Ok(kept) => kept,
            Err(problem) => return self.fail_incoming(key, problem),
        };
        let Some(mut t) = self.incoming.remove(&key) else { return Vec::new() };
        t.row.state = TransferState::Complete;
        t.row.display = kept.display;
        t.row.avatar = kept.avatar;
        let (size, msg, chat) = (t.row.size, t.row.msg, t.chat);
        self.finished.push(t.row);
        let mut out = vec![Effect::Publish { to: key.1, body: Body::Receipt { ack: vec![msg.0] }, tag: None }];
        if let Some(reason) = kept.thumb_error {
            out.push(Effect::Fail(ClientError::NoPreview { file: key.0, reason }));
        }
        out.push(progress(&key.0, size, size, TransferState::Complete));
        out.push(Effect::Emit(Event::Message { chat, hash: msg }));
        out
    }

    /// Rejects an incoming file: deletes the partial object, reports why.
    fn fail_incoming(&mut self, key: Key, reason: FileProblem) -> Vec<Effect> {
        let _ = self.objects.discard_partial(&key.0);
        let Some(mut t) = self.incoming.remove(&key) else { return Vec::new() };
        t.row.state = TransferState::Failed;
        t.row.error = Some(reason.to_string());
        let size = t.row.size;
        self.finished.push(t.row);
        vec![
            Effect::Fail(ClientError::FileRejected { file: key.0, from: key.1, reason }),
            progress(&key.0, 0, size, TransferState::Failed),
        ]
    }

    /// Asks (`N`) for the missing chunks of transfers silent for 10 s, doubling up to 5 minutes.
    pub fn ask_for_missing(&mut self, now: i64) -> Vec<Effect> {
        let mut out = Vec::new();
        let first = self.need_first;
        for (key, t) in self.incoming.iter_mut() {
            if t.row.state != TransferState::Active || t.finishing {
                continue;
            }
            let wait = first.saturating_mul(1 << t.row.need_tries.min(10)).min(NEED_MAX).as_millis() as i64;
            if now - t.row.activity < wait {
                continue;
            }
            let missing = t.row.missing(NEED_BATCH);
            if missing.is_empty() {
                continue;
            }
            t.row.need_tries += 1;
            t.row.activity = now;
            t.dirty = true;
            out.push(Effect::Publish { to: key.1, body: Body::Need { hash: key.0.0, i: missing }, tag: None });
        }
        out
    }
}
