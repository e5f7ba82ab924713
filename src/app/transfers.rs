//! File transfers (PROTOCOL.md section 4): the attachment message goes first, so the receiver
//! shows the preview at once; then the file travels as 64 KiB `C` chunks. The receiver writes
//! each chunk straight into a partial object (kept across restarts), asks for missing chunks
//! with `N` when the transfer is silent (10 s, doubling), verifies the SHA-256, keeps the file
//! and only then sends the receipt. Both sides stream: the sender keeps at most [`WINDOW`]
//! chunks unacknowledged by the broker, the receiver holds one chunk at a time.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::Transaction;

use super::engine::{Engine, MediaLimits};
use super::events::Event;
use crate::crypto::{Address, sha256};
use crate::media::make_thumbs;
use crate::objects::{ObjectId, ObjectStore, PartialObject, SEGMENT, sniff};
use crate::store::{self, Direction, StoreError, Transfer, TransferState, now_ms};
use crate::transport::Tag;
use crate::wire::{AttachKind, Body, ObjectMeta, Packet};

/// Chunks handed to the broker and not yet acknowledged, over all outgoing transfers.
pub const WINDOW: u32 = 32;
/// Images up to this size get a preview and display version.
const MAX_THUMB_SOURCE: u64 = 64 << 20;
/// First wait before asking for missing chunks, and the longest.
const NEED_FIRST: Duration = Duration::from_secs(10);
const NEED_MAX: Duration = Duration::from_secs(300);
/// Most chunk indexes named in one `N` packet.
const NEED_BATCH: usize = 4096;

/// A file imported into the object store, ready to be announced.
#[derive(Debug, Clone)]
pub struct PreparedFile {
    /// The file's id.
    pub id: ObjectId,
    /// The `obj` map of the attachment message.
    pub meta: ObjectMeta,
    /// Type from content sniffing.
    pub kind: AttachKind,
    /// Caption.
    pub caption: Option<String>,
    /// Display version and avatar crop (images).
    pub display: Option<ObjectId>,
    /// Square crop.
    pub avatar: Option<ObjectId>,
    /// Why there is no preview, for an image whose preview failed (too large, damaged).
    pub preview_error: Option<String>,
}

/// Imports `path` into the store (quota checked) and makes the previews of an image.
pub fn prepare_file(
    objects: &ObjectStore,
    path: &Path,
    caption: Option<String>,
    name: Option<String>,
    max_bytes: u64,
) -> Result<PreparedFile> {
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    if size > max_bytes {
        bail!("the file is {} MiB; the limit (media.max_file_mb) is {} MiB", size >> 20, max_bytes >> 20);
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let (kind, mime) = sniff(&head[..n]);
    let (id, size) = objects.put_file(path).with_context(|| format!("cannot store {}", path.display()))?;
    let name =
        name.or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "file".into());
    let (mut thumb, mut w, mut h, mut display, mut avatar, mut preview_error) = (None, None, None, None, None, None);
    if matches!(kind, AttachKind::Image | AttachKind::Gif) && size <= MAX_THUMB_SOURCE {
        let bytes = std::fs::read(path)?;
        match make_thumbs(&bytes) {
            Ok(t) => {
                w = Some(u64::from(t.width));
                h = Some(u64::from(t.height));
                display = Some(objects.put_reader(&t.display[..])?.0);
                avatar = Some(objects.put_reader(&t.avatar[..])?.0);
                thumb = Some(t.preview);
            }
            Err(e) => preview_error = Some(e.to_string()),
        }
    }
    let meta = ObjectMeta {
        hash: id.0,
        size,
        name,
        mime: mime.to_string(),
        chunks: size.div_ceil(SEGMENT as u64),
        w,
        h,
        thumb,
    };
    Ok(PreparedFile { id, meta, kind, caption, display, avatar, preview_error })
}

/// An outgoing transfer in memory.
#[derive(Debug)]
pub struct OutTransfer {
    row: Transfer,
    /// Next chunk to send in order.
    next: u64,
    /// Chunks asked for again (by `N`, or lost with a broker session).
    resend: VecDeque<u64>,
    outstanding: u32,
    acked: u64,
    last_pct: u64,
    dirty: bool,
}

/// An incoming transfer in memory.
pub struct InTransfer {
    row: Transfer,
    partial: Option<PartialObject>,
    kind: AttachKind,
    finishing: bool,
    last_pct: u64,
    dirty: bool,
}

/// A verified file's display version, avatar crop, and why there is no preview (if so).
struct Kept {
    display: Option<ObjectId>,
    avatar: Option<ObjectId>,
    thumb_error: Option<String>,
}

/// The result of verifying a received file (done off the engine task).
pub struct Finished {
    obj: ObjectId,
    peer: Address,
    result: Result<Kept, String>,
}

/// Creates (or returns) the incoming transfer of an attachment message inside the receive
/// transaction: `W` over the auto-download limit, `F` over the size limit, else `A`.
pub(super) fn register_incoming(
    tx: &Transaction<'_>,
    from: &Address,
    msg: &[u8; 32],
    obj: &ObjectMeta,
    limits: MediaLimits,
    now: i64,
) -> Result<Transfer, StoreError> {
    let id = ObjectId(obj.hash);
    if let Some(t) = store::get_transfer(tx, &id, from, Direction::Incoming)? {
        return Ok(t);
    }
    let (state, error) = if obj.size > limits.max_file_bytes {
        (TransferState::Failed, Some(format!("the file is larger than media.max_file_mb ({} MiB)", obj.size >> 20)))
    } else if obj.size > limits.auto_download_bytes {
        (TransferState::Waiting, None)
    } else {
        (TransferState::Active, None)
    };
    let t = Transfer {
        obj: id,
        peer: *from,
        dir: Direction::Incoming,
        msg: hex::encode(msg),
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

fn kind_of_message(db: &store::ChatDb, msg: &str) -> AttachKind {
    db.message(msg)
        .ok()
        .flatten()
        .and_then(|m| match Packet::decode(&m.cbor).ok()?.body {
            Body::Attachment { kind, .. } => Some(kind),
            _ => None,
        })
        .unwrap_or(AttachKind::File)
}

fn chunk_tag(obj: &ObjectId, peer: &Address, i: u64, nonce: u64) -> Tag {
    let mut b = Vec::with_capacity(90);
    b.extend_from_slice(b"chunk");
    b.extend_from_slice(&obj.0);
    b.extend_from_slice(peer.as_bytes());
    b.extend_from_slice(&i.to_be_bytes());
    b.extend_from_slice(&nonce.to_be_bytes());
    sha256(&b)
}

fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

impl Engine {
    /// Loads unfinished transfers after a start.
    pub(super) fn load_transfers(&mut self) {
        let db = &self.account.chat;
        let out = db.transfers(Direction::Outgoing, TransferState::Active).unwrap_or_default();
        let mut incoming = db.transfers(Direction::Incoming, TransferState::Active).unwrap_or_default();
        incoming.extend(db.transfers(Direction::Incoming, TransferState::Waiting).unwrap_or_default());
        for row in out {
            let next = row.done.min(row.chunks);
            self.outgoing.insert(
                (row.obj, row.peer),
                OutTransfer {
                    next,
                    resend: VecDeque::new(),
                    outstanding: 0,
                    acked: next,
                    last_pct: 0,
                    dirty: false,
                    row,
                },
            );
        }
        for row in incoming {
            let kind = kind_of_message(&self.account.chat, &row.msg);
            let key = (row.obj, row.peer);
            let partial = if row.state == TransferState::Active {
                self.objects.begin_partial(&row.obj, row.size).ok()
            } else {
                None
            };
            self.incoming.insert(key, InTransfer { row, partial, kind, finishing: false, last_pct: 0, dirty: false });
        }
        // Files that were complete but not yet verified when the process stopped.
        let complete: Vec<_> = self
            .incoming
            .iter()
            .filter(|(_, t)| t.row.chunks > 0 && t.row.done >= t.row.chunks)
            .map(|(k, _)| *k)
            .collect();
        for key in complete {
            self.finish_incoming(key);
        }
    }

    pub(super) fn send_file(&mut self, to: Address, file: PreparedFile) -> Result<String> {
        let packet =
            Packet::new(Body::Attachment { kind: file.kind, text: file.caption.clone(), obj: file.meta.clone() });
        let msg = self.send_message(to, packet, Some(file.id.0))?;
        let row = Transfer {
            obj: file.id,
            peer: to,
            dir: Direction::Outgoing,
            msg: msg.clone(),
            size: file.meta.size,
            chunks: file.meta.chunks,
            have: Vec::new(),
            done: 0,
            state: TransferState::Active,
            error: None,
            activity: now_ms(),
            need_tries: 0,
            display: file.display,
            avatar: file.avatar,
        };
        self.account.chat.save_transfers([&row]).context("cannot store the transfer")?;
        self.emit(Event::Transfer { hash: file.id.to_hex(), done: 0, total: row.size, state: 'A' });
        self.outgoing.insert(
            (file.id, to),
            OutTransfer { row, next: 0, resend: VecDeque::new(), outstanding: 0, acked: 0, last_pct: 0, dirty: false },
        );
        self.pump();
        Ok(msg)
    }

    /// Publishes chunks while fewer than [`WINDOW`] are unacknowledged.
    pub(super) fn pump(&mut self) {
        if !self.connected {
            return;
        }
        let mut outstanding: u32 = self.outgoing.values().map(|t| t.outstanding).sum();
        let keys: Vec<(ObjectId, Address)> = self.outgoing.keys().copied().collect();
        for key in keys {
            while outstanding < WINDOW {
                let Some(t) = self.outgoing.get_mut(&key) else { break };
                let i = match t.resend.pop_front() {
                    Some(i) => i,
                    None if t.next < t.row.chunks => {
                        t.next += 1;
                        t.dirty = true;
                        t.next - 1
                    }
                    None => break,
                };
                let data = match self.objects.read_chunk(&key.0, i) {
                    Ok(d) => d,
                    Err(e) => {
                        let msg = format!("cannot read chunk {i} of {}: {e}", key.0);
                        if let Some(t) = self.outgoing.remove(&key) {
                            let mut row = t.row;
                            row.state = TransferState::Failed;
                            row.error = Some(msg.clone());
                            let _ = self.account.chat.save_transfers([&row]);
                        }
                        self.error(msg);
                        self.emit(Event::Transfer { hash: key.0.to_hex(), done: 0, total: 0, state: 'F' });
                        break;
                    }
                };
                let tag = chunk_tag(&key.0, &key.1, i, now_ms() as u64 ^ u64::from(outstanding));
                self.chunk_tags.insert(tag, (key.0, key.1, i));
                if let Some(t) = self.outgoing.get_mut(&key) {
                    t.outstanding += 1;
                }
                outstanding += 1;
                self.send_control(&key.1, Body::Chunk { hash: key.0.0, i, data }, Some(tag));
            }
        }
    }

    /// A chunk's PUBACK; `false` if the tag is not a chunk's.
    pub(super) fn on_chunk_acked(&mut self, tag: &Tag) -> bool {
        let Some((obj, peer, _)) = self.chunk_tags.remove(tag) else { return false };
        if let Some(t) = self.outgoing.get_mut(&(obj, peer)) {
            t.outstanding = t.outstanding.saturating_sub(1);
            t.acked = (t.acked + 1).min(t.row.chunks);
            let pct = percent(t.acked, t.row.chunks);
            if pct != t.last_pct || t.acked == t.row.chunks {
                t.last_pct = pct;
                let done = (t.acked * SEGMENT as u64).min(t.row.size);
                let total = t.row.size;
                self.emit(Event::Transfer { hash: obj.to_hex(), done, total, state: 'A' });
            }
        }
        true
    }

    /// A chunk publish dropped with a lost broker session: send it again.
    pub(super) fn on_chunk_lost(&mut self, tag: &Tag) -> bool {
        let Some((obj, peer, i)) = self.chunk_tags.remove(tag) else { return false };
        if let Some(t) = self.outgoing.get_mut(&(obj, peer)) {
            t.outstanding = t.outstanding.saturating_sub(1);
            t.resend.push_back(i);
        }
        true
    }

    /// A receipt: outgoing transfers of those messages are complete.
    pub(super) fn on_receipt(&mut self, from: &Address, acks: &[[u8; 32]]) {
        let hexes: Vec<String> = acks.iter().map(hex::encode).collect();
        let done: Vec<(ObjectId, Address)> = self
            .outgoing
            .iter()
            .filter(|((_, peer), t)| peer == from && hexes.contains(&t.row.msg))
            .map(|(k, _)| *k)
            .collect();
        for key in done {
            if let Some(t) = self.outgoing.remove(&key) {
                let mut row = t.row;
                row.state = TransferState::Complete;
                row.done = row.chunks;
                if let Err(e) = self.account.chat.save_transfers([&row]) {
                    self.error(format!("cannot store a transfer: {e}"));
                }
                self.chunk_tags.retain(|_, (o, p, _)| (*o, *p) != key);
                self.emit(Event::Transfer { hash: key.0.to_hex(), done: row.size, total: row.size, state: 'C' });
            }
        }
    }

    /// An `N` packet: send the named chunks again, only for a file we are sending to that peer.
    pub(super) fn on_need(&mut self, from: &Address, obj: ObjectId, idx: Vec<u64>) {
        let Some(t) = self.outgoing.get_mut(&(obj, *from)) else {
            self.count_drop("need_unknown_file");
            return;
        };
        for i in idx {
            if i < t.row.chunks && !t.resend.contains(&i) {
                t.resend.push_back(i);
            }
        }
    }

    /// Sets up an incoming transfer after its attachment message was stored.
    pub(super) fn start_incoming(&mut self, row: Transfer) {
        let key = (row.obj, row.peer);
        if self.incoming.contains_key(&key) || row.state == TransferState::Complete {
            return;
        }
        let hash = row.obj.to_hex();
        if row.state == TransferState::Failed {
            self.error(format!("file {hash} refused: {}", row.error.clone().unwrap_or_default()));
            self.emit(Event::Transfer { hash, done: 0, total: row.size, state: 'F' });
            return;
        }
        let kind = kind_of_message(&self.account.chat, &row.msg);
        let state = row.state;
        let (size, chunks) = (row.size, row.chunks);
        self.incoming.insert(key, InTransfer { row, partial: None, kind, finishing: false, last_pct: 0, dirty: false });
        self.emit(Event::Transfer { hash, done: 0, total: size, state: state.code() });
        if state == TransferState::Active {
            self.open_partial(key);
            if chunks == 0 {
                self.finish_incoming(key);
            }
        }
    }

    fn open_partial(&mut self, key: (ObjectId, Address)) {
        let size = match self.incoming.get(&key) {
            Some(t) => t.row.size,
            None => return,
        };
        match self.objects.begin_partial(&key.0, size) {
            Ok(p) => {
                if let Some(t) = self.incoming.get_mut(&key) {
                    t.partial = Some(p);
                }
            }
            Err(e) => self.fail_incoming(key, e.to_string()),
        }
    }

    /// Accepts a waiting file: it becomes active and asks the sender for every chunk.
    pub(super) fn accept(&mut self, hash: &str) -> Result<()> {
        let key = self
            .incoming
            .iter()
            .find(|((obj, _), t)| obj.to_hex() == hash && t.row.state == TransferState::Waiting)
            .map(|(k, _)| *k)
            .with_context(|| format!("no file {hash} is waiting to be accepted"))?;
        if let Some(t) = self.incoming.get_mut(&key) {
            t.row.state = TransferState::Active;
            t.row.activity = 0; // ask for the chunks at once
            t.row.need_tries = 0;
            t.dirty = true;
        }
        self.open_partial(key);
        self.save_transfer_progress();
        if let Some(t) = self.incoming.get(&key) {
            let (done, total) = ((t.row.done * SEGMENT as u64).min(t.row.size), t.row.size);
            self.emit(Event::Transfer { hash: hash.to_string(), done, total, state: t.row.state.code() });
        }
        self.ask_for_missing_chunks();
        Ok(())
    }

    /// A chunk arrived: write it into the partial object.
    pub(super) fn on_chunk(&mut self, from: &Address, obj: ObjectId, i: u64, data: &[u8]) {
        let key = (obj, *from);
        let Some(t) = self.incoming.get_mut(&key) else {
            self.count_drop("unexpected_chunk");
            return;
        };
        if t.row.state != TransferState::Active || t.finishing {
            self.count_drop("unexpected_chunk");
            return;
        }
        if t.row.has(i) {
            return; // a duplicate
        }
        let Some(partial) = t.partial.as_mut() else {
            self.count_drop("unexpected_chunk");
            return;
        };
        if let Err(e) = partial.write_chunk(i, data) {
            return self.fail_incoming(key, format!("wrong chunk: {e}"));
        }
        t.row.set(i);
        t.row.activity = now_ms();
        t.row.need_tries = 0;
        t.dirty = true;
        let pct = percent(t.row.done, t.row.chunks);
        let complete = t.row.done >= t.row.chunks;
        if pct != t.last_pct || complete {
            t.last_pct = pct;
            let (done, total) = ((t.row.done * SEGMENT as u64).min(t.row.size), t.row.size);
            self.emit(Event::Transfer { hash: obj.to_hex(), done, total, state: 'A' });
        }
        if complete {
            self.finish_incoming(key);
        }
    }

    /// Verifies the complete file and makes its previews off the engine task.
    fn finish_incoming(&mut self, key: (ObjectId, Address)) {
        let Some(t) = self.incoming.get_mut(&key) else { return };
        if t.finishing {
            return;
        }
        t.finishing = true;
        let partial = match t.partial.take() {
            Some(p) => Some(p),
            None => self.objects.begin_partial(&key.0, t.row.size).ok(),
        };
        let Some(partial) = partial else {
            return self.fail_incoming(key, "the partial file is gone".into());
        };
        let objects: Arc<ObjectStore> = self.objects.clone();
        let image = matches!(t.kind, AttachKind::Image | AttachKind::Gif) && t.row.size <= MAX_THUMB_SOURCE;
        let internal = self.internal.clone();
        self.save_transfer_progress();
        tokio::task::spawn_blocking(move || {
            let result = objects.finish_partial(partial).map_err(|e| e.to_string()).and_then(|()| {
                if !image {
                    return Ok(Kept { display: None, avatar: None, thumb_error: None });
                }
                let mut bytes = Vec::new();
                objects
                    .open_reader(&key.0)
                    .map_err(|e| e.to_string())?
                    .read_to_end(&mut bytes)
                    .map_err(|e| e.to_string())?;
                Ok(match make_thumbs(&bytes) {
                    Ok(t) => Kept {
                        display: objects.put_reader(&t.display[..]).ok().map(|r| r.0),
                        avatar: objects.put_reader(&t.avatar[..]).ok().map(|r| r.0),
                        thumb_error: None,
                    },
                    Err(e) => Kept { display: None, avatar: None, thumb_error: Some(e.to_string()) },
                })
            });
            let _ = internal.send(Finished { obj: key.0, peer: key.1, result });
        });
    }

    /// The verification finished: keep and receipt, or reject.
    pub(super) fn on_finished(&mut self, f: Finished) {
        let key = (f.obj, f.peer);
        match f.result {
            Ok(Kept { display, avatar, thumb_error }) => {
                let Some(mut t) = self.incoming.remove(&key) else { return };
                t.row.state = TransferState::Complete;
                t.row.display = display;
                t.row.avatar = avatar;
                if let Err(e) = self.account.chat.save_transfers([&t.row]) {
                    self.error(format!("cannot store a transfer: {e}"));
                    return;
                }
                if let Ok(msg) = hex::decode(&t.row.msg)
                    && let Ok(msg) = <[u8; 32]>::try_from(msg)
                {
                    self.send_control(&f.peer, Body::Receipt { ack: vec![msg] }, None);
                }
                if let Some(e) = thumb_error {
                    self.error(format!("no preview for file {}: {e}", f.obj));
                }
                self.emit(Event::Transfer { hash: f.obj.to_hex(), done: t.row.size, total: t.row.size, state: 'C' });
                self.emit(Event::Message { hash: t.row.msg });
            }
            Err(e) => self.fail_incoming(key, e),
        }
    }

    /// Rejects an incoming file: deletes the partial object, reports a clear error.
    fn fail_incoming(&mut self, key: (ObjectId, Address), message: String) {
        let _ = self.objects.discard_partial(&key.0);
        let Some(mut t) = self.incoming.remove(&key) else { return };
        t.row.state = TransferState::Failed;
        t.row.error = Some(message.clone());
        if let Err(e) = self.account.chat.save_transfers([&t.row]) {
            self.error(format!("cannot store a transfer: {e}"));
        }
        self.error(format!("file {} from {} rejected: {message}", key.0, key.1));
        self.emit(Event::Transfer { hash: key.0.to_hex(), done: 0, total: t.row.size, state: 'F' });
    }

    /// Sends `N` for transfers silent for 10 s (doubling up to 5 minutes).
    pub(super) fn ask_for_missing_chunks(&mut self) {
        if !self.connected {
            return;
        }
        let now = now_ms();
        let mut asks = Vec::new();
        for (key, t) in self.incoming.iter_mut() {
            if t.row.state != TransferState::Active || t.finishing {
                continue;
            }
            let wait = NEED_FIRST.saturating_mul(1 << t.row.need_tries.min(10)).min(NEED_MAX).as_millis() as i64;
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
            asks.push((*key, missing));
        }
        for ((obj, peer), missing) in asks {
            self.send_control(&peer, Body::Need { hash: obj.0, i: missing }, None);
        }
        self.save_transfer_progress();
    }

    /// Writes changed transfer rows.
    pub(super) fn save_transfer_progress(&mut self) {
        let mut rows = Vec::new();
        for t in self.incoming.values_mut().filter(|t| t.dirty) {
            t.dirty = false;
            rows.push(t.row.clone());
        }
        for t in self.outgoing.values_mut().filter(|t| t.dirty) {
            t.dirty = false;
            t.row.done = t.next;
            rows.push(t.row.clone());
        }
        if let Err(e) = self.account.chat.save_transfers(rows.iter()) {
            self.error(format!("cannot store transfer progress: {e}"));
        }
    }
}
