//! The receiving side: register the file of an attachment message, write chunks into a
//! partial object, ask for what is missing, verify and keep.

use rusqlite::Transaction;

use super::{Effect, Key, MAX_THUMB_SOURCE, MediaLimits, NEED_BATCH, NEED_MAX, Transfers};
use super::{VerifyJob, bytes_of, percent, progress};
use crate::app::errors::FileProblem;
use crate::app::{ClientError, Event};
use crate::crypto::{Address, merkle};
use crate::objects::{ObjectError, ObjectId, PartialObject};
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
    /// Holds one of the [`MAX_ACTIVE_INCOMING`] places (a partial file may be open); an
    /// active transfer without one waits in the queue and its chunks are dropped.
    pub(super) admitted: bool,
    /// The chunk bitmap is checked against the partial file when admitted (after a crash).
    pub(super) recheck: bool,
    /// Times the file came out wrong and was started again (since the start of the process).
    pub(super) failures: u32,
    /// Asks for its missing chunks at the next round, whatever the wait.
    pub(super) ask_now: bool,
}

impl InTransfer {
    fn new(row: Transfer, chat: ChatId, kind: AttachKind) -> Self {
        Self {
            row,
            partial: None,
            chat,
            kind,
            finishing: false,
            last_pct: 0,
            dirty: false,
            admitted: false,
            recheck: false,
            failures: 0,
            ask_now: false,
        }
    }
}

/// Most incoming transfers at once (each may hold a partial file open); the rest wait their
/// turn, and a flood of file messages cannot exhaust the process's file descriptors.
pub const MAX_ACTIVE_INCOMING: usize = 16;
/// Times a file that came out wrong is fetched again by itself before it fails for good.
const MAX_AUTO_RETRIES: u32 = 3;

/// Creates (or returns) the incoming transfer of an attachment message, inside the receive
/// transaction: `F` over the size limit, `W` from a stranger (nothing is fetched before the
/// request is accepted) or over the auto-download limit, else `A`.
pub fn register_incoming(
    tx: &Transaction<'_>,
    from: &Address,
    msg: &MessageHash,
    obj: &ObjectMeta,
    limits: MediaLimits,
    stranger: bool,
    now: i64,
) -> Result<Transfer, StoreError> {
    let id = ObjectId(obj.hash);
    if let Some(t) = store::get_transfer(tx, &id, from, Direction::Incoming)? {
        return Ok(t);
    }
    let (state, error) = if obj.size > limits.max_file_bytes {
        (TransferState::Failed, Some(FileProblem::TooLarge(obj.size >> 20).to_string()))
    } else if stranger || obj.size > limits.auto_download_bytes {
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
        root: obj.root,
    };
    store::put_transfer(tx, &t)?;
    Ok(t)
}

impl Transfers {
    /// Resumes the incoming transfers stored in `db` (after a start); files that were
    /// complete but not verified are verified now. After an unclean shutdown (`recheck`) the
    /// chunk bitmap of every partial file is checked against what is really on disk.
    pub fn load_incoming(&mut self, db: &ChatDb, recheck: bool) -> Result<Vec<Effect>, StoreError> {
        let mut rows = db.transfers(Direction::Incoming, TransferState::Active)?;
        rows.extend(db.transfers(Direction::Incoming, TransferState::Waiting)?);
        let mut keep = Vec::new();
        let mut out = Vec::new();
        for row in rows {
            let (chat, kind) = match db.message(&row.msg)? {
                Some(m) => (m.chat, m.kind.attachment().unwrap_or(AttachKind::File)),
                None => continue,
            };
            let key = (row.obj, row.peer);
            let active = row.state == TransferState::Active;
            let mut t = InTransfer::new(row, chat, kind);
            t.recheck = recheck;
            self.incoming.insert(key, t);
            if active {
                keep.push(key);
                out.extend(self.enqueue(key, false));
            }
        }
        // Partial files of transfers that are gone (dropped requests, older layouts): best
        // effort, tried again at the next start.
        let _ = self.objects.retain_partials(&keep);
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
        let (state, size) = (row.state, row.size);
        self.incoming.insert(key, InTransfer::new(row, chat, kind));
        let mut out = vec![progress(&key.0, 0, size, state)];
        if state == TransferState::Active {
            out.extend(self.enqueue(key, false));
        }
        out
    }

    /// Gives an active transfer a place if one is free (`ask_now`: its missing chunks are
    /// asked for at the next round), else puts it in the queue.
    fn enqueue(&mut self, key: Key, ask_now: bool) -> Vec<Effect> {
        let admitted = self.incoming.values().filter(|t| t.admitted).count();
        if admitted < MAX_ACTIVE_INCOMING {
            return self.admit(key, ask_now);
        }
        if !self.queue.contains(&key) {
            self.queue.push_back(key);
        }
        Vec::new()
    }

    /// Takes a place: the partial file is opened (its bitmap checked if asked), a file that
    /// is complete or stored already goes to verification.
    fn admit(&mut self, key: Key, ask_now: bool) -> Vec<Effect> {
        let Some(t) = self.incoming.get_mut(&key) else { return Vec::new() };
        t.admitted = true;
        if ask_now {
            t.ask_now = true;
            t.row.need_tries = 0;
            t.dirty = true;
        }
        if t.row.chunks == 0 || self.objects.contains(&key.0) {
            return self.finish(key);
        }
        let mut out = self.open_partial(key);
        let Some(t) = self.incoming.get_mut(&key) else { return out };
        if std::mem::take(&mut t.recheck)
            && let Some(p) = &t.partial
        {
            let claimed: Vec<u64> = (0..t.row.chunks).filter(|&i| t.row.has(i)).collect();
            let lost: Vec<u64> = claimed.into_iter().filter(|&i| !p.has_chunk(i)).collect();
            if !lost.is_empty() {
                t.row.unset(&lost);
                t.ask_now = true;
                t.dirty = true;
                out.push(Effect::Drop("chunk_lost_in_crash"));
            }
        }
        if t.row.done >= t.row.chunks {
            out.extend(self.finish(key));
        }
        out
    }

    /// A place came free: the next transfer in the queue takes it.
    fn admit_next(&mut self) -> Vec<Effect> {
        while self.incoming.values().filter(|t| t.admitted).count() < MAX_ACTIVE_INCOMING {
            let Some(key) = self.queue.pop_front() else { break };
            if self.incoming.get(&key).is_some_and(|t| t.row.state == TransferState::Active && !t.admitted) {
                return self.admit(key, true);
            }
        }
        Vec::new()
    }

    fn open_partial(&mut self, key: Key) -> Vec<Effect> {
        let Some(t) = self.incoming.get_mut(&key) else { return Vec::new() };
        if t.partial.is_some() {
            return Vec::new();
        }
        match self.objects.begin_partial(&key.0, &key.1, t.row.size) {
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
        let mut out = self.activate(&[key]);
        out.extend(self.ask_for_missing(now));
        Ok(out)
    }

    /// `peer` became a friend: the files they sent while a stranger that are within the
    /// auto-download limit are fetched now (larger ones keep waiting for the user).
    pub fn accept_from(&mut self, peer: &Address, now: i64) -> Vec<Effect> {
        let limit = self.limits.auto_download_bytes;
        let keys: Vec<Key> = self
            .incoming
            .iter()
            .filter(|((_, p), t)| p == peer && t.row.state == TransferState::Waiting && t.row.size <= limit)
            .map(|(k, _)| *k)
            .collect();
        let mut out = self.activate(&keys);
        out.extend(self.ask_for_missing(now));
        out
    }

    /// Waiting transfers become active, due to ask for their chunks at once.
    fn activate(&mut self, keys: &[Key]) -> Vec<Effect> {
        let mut out = Vec::new();
        for key in keys {
            let Some(t) = self.incoming.get_mut(key) else { continue };
            t.row.state = TransferState::Active;
            t.dirty = true;
            out.push(progress(&key.0, bytes_of(t.row.done, t.row.size), t.row.size, TransferState::Active));
            out.extend(self.enqueue(*key, true));
        }
        out
    }

    /// The user asks again for a file: a failed transfer starts over (its limits checked
    /// again), a waiting one is accepted, an active one asks for its missing chunks now.
    /// `failed` holds the stored rows of the file's failed transfers.
    pub fn retry(
        &mut self,
        obj: &ObjectId,
        failed: Vec<(Transfer, ChatId, AttachKind)>,
        now: i64,
    ) -> Result<Vec<Effect>, ClientError> {
        let mut out = Vec::new();
        let known: Vec<Key> = self.incoming.keys().filter(|(o, _)| o == obj).copied().collect();
        for key in &known {
            let Some(t) = self.incoming.get_mut(key) else { continue };
            match t.row.state {
                TransferState::Waiting => out.extend(self.activate(&[*key])),
                _ if !t.admitted => {
                    // Ahead of the queue.
                    self.queue.retain(|k| k != key);
                    self.queue.push_front(*key);
                }
                _ => {
                    t.ask_now = true;
                    t.row.need_tries = 0;
                    t.dirty = true;
                }
            }
        }
        let mut restarted = 0;
        for (mut row, chat, kind) in failed {
            let key = (row.obj, row.peer);
            if row.obj != *obj || row.state != TransferState::Failed || self.incoming.contains_key(&key) {
                continue;
            }
            if row.size > self.limits.max_file_bytes {
                return Err(ClientError::FileRejected {
                    file: *obj,
                    from: row.peer,
                    reason: FileProblem::TooLarge(self.limits.max_file_bytes >> 20),
                });
            }
            row.state = TransferState::Active;
            row.error = None;
            row.clear();
            let mut t = InTransfer::new(row, chat, kind);
            t.dirty = true;
            self.incoming.insert(key, t);
            out.push(progress(obj, 0, self.incoming[&key].row.size, TransferState::Active));
            out.extend(self.enqueue(key, true));
            restarted += 1;
        }
        if known.is_empty() && restarted == 0 {
            return Err(ClientError::NothingToRetry(*obj));
        }
        out.extend(self.ask_for_missing(now));
        Ok(out)
    }

    /// A chunk from `from`: written into the partial object if it belongs to a transfer that
    /// holds a place (the sender's own transfer: nobody else's chunks are ever written) and,
    /// when the message named a Merkle root, if `proof` shows it is chunk `i` of that tree (a
    /// chunk that does not is dropped unwritten and asked for again later).
    pub fn on_chunk(
        &mut self,
        from: &Address,
        obj: ObjectId,
        i: u64,
        data: &[u8],
        proof: &[[u8; 32]],
        now: i64,
    ) -> Vec<Effect> {
        let key = (obj, *from);
        let Some(t) = self.incoming.get_mut(&key) else { return vec![Effect::Drop("unexpected_chunk")] };
        if t.row.state != TransferState::Active || t.finishing {
            return vec![Effect::Drop("unexpected_chunk")];
        }
        if !t.admitted {
            return vec![Effect::Drop("queued_transfer")];
        }
        if i >= t.row.chunks {
            return vec![Effect::Drop("chaff")]; // padding of the file's size (section 11)
        }
        if t.row.has(i) {
            return Vec::new(); // a duplicate
        }
        if let Some(root) = &t.row.root
            && !merkle::verify(root, t.row.chunks, i, &merkle::leaf_hash(data), proof)
        {
            return vec![Effect::Drop("bad_chunk_proof")];
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
        let image = matches!(t.kind, AttachKind::Image | AttachKind::Gif) && t.row.size <= MAX_THUMB_SOURCE;
        // A file stored already (sent by someone else, or before) is never written again.
        if self.objects.contains(&key.0) {
            t.partial = None;
            let _ = self.objects.discard_partial(&key.0, &key.1);
            return vec![Effect::Verify(VerifyJob { objects: self.objects.clone(), key, partial: None, image })];
        }
        let partial = match t.partial.take() {
            Some(p) => Some(p),
            None => self.objects.begin_partial(&key.0, &key.1, t.row.size).ok(),
        };
        let Some(partial) = partial else { return self.fail_incoming(key, FileProblem::PartialGone) };
        vec![Effect::Verify(VerifyJob { objects: self.objects.clone(), key, partial: Some(partial), image })]
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
        let mut out =
            vec![Effect::Publish { to: key.1, body: Body::Receipt { ack: vec![msg.0] }, tag: None, pad_to: None }];
        if let Some(reason) = kept.thumb_error {
            out.push(Effect::Fail(ClientError::NoPreview { file: key.0, reason }));
        }
        out.push(progress(&key.0, size, size, TransferState::Complete));
        out.push(Effect::Emit(Event::Message { chat, hash: msg }));
        out.extend(self.admit_next());
        out
    }

    /// An incoming file came out wrong: the partial file is deleted; the transfer starts over
    /// by itself (asking after the usual wait, which grows) up to [`MAX_AUTO_RETRIES`] times,
    /// unless the store refused it; then it fails until the user retries it.
    fn fail_incoming(&mut self, key: Key, reason: FileProblem) -> Vec<Effect> {
        let _ = self.objects.discard_partial(&key.0, &key.1);
        let retryable = match &reason {
            FileProblem::TooLarge(_) => false,
            FileProblem::Store(ObjectError::Quota { .. }) => false,
            FileProblem::WrongChunk(_) | FileProblem::Store(_) | FileProblem::PartialGone => true,
        };
        if let Some(t) = self.incoming.get_mut(&key)
            && retryable
            && t.failures < MAX_AUTO_RETRIES
        {
            t.failures += 1;
            t.partial = None;
            t.finishing = false;
            t.row.clear();
            t.row.need_tries = t.failures;
            t.row.activity = crate::store::now_ms();
            t.dirty = true;
            let mut out =
                vec![Effect::Drop("file_started_again"), progress(&key.0, 0, t.row.size, TransferState::Active)];
            out.extend(self.open_partial(key));
            return out;
        }
        let Some(mut t) = self.incoming.remove(&key) else { return Vec::new() };
        self.queue.retain(|k| *k != key);
        t.row.state = TransferState::Failed;
        t.row.error = Some(reason.to_string());
        let size = t.row.size;
        self.finished.push(t.row);
        let mut out = vec![
            Effect::Fail(ClientError::FileRejected { file: key.0, from: key.1, reason }),
            progress(&key.0, 0, size, TransferState::Failed),
        ];
        out.extend(self.admit_next());
        out
    }

    /// Asks (`N`) for the missing chunks of transfers silent for 10 s, doubling up to 5 minutes.
    pub fn ask_for_missing(&mut self, now: i64) -> Vec<Effect> {
        let mut out = Vec::new();
        let first = self.need_first;
        for (key, t) in self.incoming.iter_mut() {
            if t.row.state != TransferState::Active || t.finishing || !t.admitted {
                continue;
            }
            let wait = first.saturating_mul(1 << t.row.need_tries.min(10)).min(NEED_MAX).as_millis() as i64;
            if !t.ask_now && now - t.row.activity < wait {
                continue;
            }
            t.ask_now = false;
            let missing = t.row.missing(NEED_BATCH);
            if missing.is_empty() {
                continue;
            }
            t.row.need_tries += 1;
            t.row.activity = now;
            t.dirty = true;
            out.push(Effect::Publish {
                to: key.1,
                body: Body::Need { hash: key.0.0, i: missing },
                tag: None,
                pad_to: None,
            });
        }
        out
    }
}
