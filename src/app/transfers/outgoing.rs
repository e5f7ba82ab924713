//! The sending side: a window of chunks in flight, chunks asked for again, the receipt.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Effect, Key, Transfers, WINDOW, bytes_of, progress};
use crate::app::ClientError;
use crate::crypto::Address;
use crate::crypto::merkle::MerkleTree;
use crate::objects::ObjectId;
use crate::store::{ChatDb, Direction, StoreError, Transfer, TransferState};
use crate::wire::{Body, CHUNK_SIZE, MessageHash, Packet, padded_chunks};

/// An outgoing transfer in memory.
#[derive(Debug)]
pub(super) struct OutTransfer {
    pub(super) row: Transfer,
    /// Next chunk to send in order.
    pub(super) next: u64,
    /// Chunks asked for again (by `N`, or lost with a broker session).
    pub(super) resend: VecDeque<u64>,
    pub(super) outstanding: u32,
    pub(super) acked: u64,
    pub(super) last_pct: u64,
    pub(super) dirty: bool,
    /// The file's Merkle tree, when its message named the root: every chunk carries its proof.
    tree: Option<Arc<MerkleTree>>,
    /// The size is padded on the wire: chaff chunks still to send (before the real ones).
    chaff: u64,
    /// The length every chunk packet of this file is padded to (none: not padded).
    pad_to: Option<usize>,
}

impl OutTransfer {
    /// A transfer resuming at the row's progress; `padded` hides the file's size on the wire
    /// (chaff goes only with a transfer that has not sent anything yet).
    fn new(row: Transfer, tree: Option<Arc<MerkleTree>>, padded: bool) -> Self {
        let next = row.done.min(row.chunks);
        let wire = padded_chunks(row.size).max(row.chunks);
        let chaff = if padded && next == 0 { wire - row.chunks } else { 0 };
        let pad_to = padded.then(|| padded_chunk_len(row.obj, wire, tree.as_deref()));
        Self {
            next,
            resend: VecDeque::new(),
            outstanding: 0,
            acked: next,
            last_pct: 0,
            dirty: false,
            row,
            tree,
            chaff,
            pad_to,
        }
    }
}

/// The length every chunk packet of a file sent as `wire` chunks is padded to: that of its
/// longest one (a full chunk, the longest proof, the largest index) with a small `pad` too, so
/// that every packet, the longest included, is padded and they all end within 4 bytes.
fn padded_chunk_len(obj: ObjectId, wire: u64, tree: Option<&MerkleTree>) -> usize {
    // In RFC 6962's tree the first leaf is among the deepest: its proof is the longest.
    let longest_proof = tree.and_then(|t| t.proof(0)).map_or(0, |p| p.len());
    let body = Body::Chunk {
        hash: obj.0,
        i: wire.saturating_sub(1),
        data: vec![0; CHUNK_SIZE as usize],
        proof: vec![[0; 32]; longest_proof],
    };
    Packet::new(body).encode().len() + 8
}

impl Transfers {
    /// Resumes the outgoing transfers stored in `db` (after a start).
    /// Resumes the outgoing transfers stored in `db` (after a start); the sizes of files to
    /// the peers `padded` names are hidden on the wire.
    pub fn load_outgoing(&mut self, db: &ChatDb, padded: impl Fn(&Address) -> bool) -> Result<(), StoreError> {
        for row in db.transfers(Direction::Outgoing, TransferState::Active)? {
            let tree = db.object_tree(&row.obj)?.map(|leaves| Arc::new(MerkleTree::new(leaves)));
            let pad = padded(&row.peer);
            self.outgoing.insert((row.obj, row.peer), OutTransfer::new(row, tree, pad));
        }
        Ok(())
    }

    /// The row of a new outgoing transfer of `file` to `to`, announced by message `msg`.
    pub fn outgoing_row(file: &super::PreparedFile, to: Address, msg: MessageHash, now: i64) -> Transfer {
        Transfer {
            obj: file.id,
            peer: to,
            dir: Direction::Outgoing,
            msg,
            size: file.meta.size,
            chunks: file.meta.chunks,
            have: Vec::new(),
            done: 0,
            state: TransferState::Active,
            error: None,
            activity: now,
            need_tries: 0,
            display: file.display,
            avatar: file.avatar,
            root: file.meta.root,
        }
    }

    /// Starts sending the file of a stored [`Self::outgoing_row`], its chunks proved by `tree`
    /// (the tree of the root its message named, if it named one); `padded`: its size is
    /// hidden on the wire (a peer of protocol v2).
    pub fn start_outgoing(&mut self, row: Transfer, tree: Option<Arc<MerkleTree>>, padded: bool) -> Vec<Effect> {
        let event = progress(&row.obj, 0, row.size, TransferState::Active);
        self.outgoing.insert((row.obj, row.peer), OutTransfer::new(row, tree, padded));
        vec![event]
    }

    /// Chunks to publish while fewer than [`WINDOW`] are unacknowledged (call when connected),
    /// to the peers `ready` accepts (a peer whose keys are being fetched is not: the message
    /// announcing the file must go first).
    pub fn pump(&mut self, ready: impl Fn(&Address) -> bool) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut outstanding: u32 = self.outgoing.values().map(|t| t.outstanding).sum();
        let keys: Vec<Key> = self.outgoing.keys().copied().filter(|k| ready(&k.1)).collect();
        for key in keys {
            while outstanding < WINDOW {
                let Some(t) = self.outgoing.get_mut(&key) else { break };
                let pad_to = t.pad_to;
                if t.chaff > 0 {
                    // Chaff first: the last packet of the file is a real chunk, so the timing
                    // of the receipt tells nothing either.
                    let i = t.row.chunks + t.chaff - 1;
                    t.chaff -= 1;
                    t.outstanding += 1;
                    outstanding += 1;
                    let body = Body::Chunk { hash: key.0.0, i, data: vec![0; CHUNK_SIZE as usize], proof: Vec::new() };
                    let tag = self.tag_for(&key, i);
                    self.chunk_tags.insert(tag, (key, i));
                    out.push(Effect::Publish { to: key.1, body, tag: Some(tag), pad_to });
                    continue;
                }
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
                    Err(source) => {
                        out.extend(self.fail_outgoing(&key, ClientError::FileUnreadable { file: key.0, source }));
                        break;
                    }
                };
                let tag = self.tag_for(&key, i);
                self.chunk_tags.insert(tag, (key, i));
                let mut proof = Vec::new();
                if let Some(t) = self.outgoing.get_mut(&key) {
                    t.outstanding += 1;
                    proof = t.tree.as_ref().and_then(|tree| tree.proof(i)).unwrap_or_default();
                }
                outstanding += 1;
                let body = Body::Chunk { hash: key.0.0, i, data, proof };
                out.push(Effect::Publish { to: key.1, body, tag: Some(tag), pad_to });
            }
        }
        out
    }

    fn fail_outgoing(&mut self, key: &Key, error: ClientError) -> Vec<Effect> {
        let Some(mut t) = self.outgoing.remove(key) else { return Vec::new() };
        t.row.state = TransferState::Failed;
        t.row.error = Some(error.to_string());
        t.dirty = true;
        let total = t.row.size;
        self.chunk_tags.retain(|_, (k, _)| k != key);
        self.finished.push(t.row);
        vec![Effect::Fail(error), progress(&key.0, 0, total, TransferState::Failed)]
    }

    /// A receipt from `from`: outgoing transfers announced by those messages are complete.
    pub fn on_receipt(&mut self, from: &Address, acks: &[MessageHash]) -> Vec<Effect> {
        let done: Vec<Key> = self
            .outgoing
            .iter()
            .filter(|((_, peer), t)| peer == from && acks.contains(&t.row.msg))
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::new();
        for key in done {
            if let Some(t) = self.outgoing.remove(&key) {
                let mut row = t.row;
                row.state = TransferState::Complete;
                row.done = row.chunks;
                self.chunk_tags.retain(|_, (k, _)| *k != key);
                out.push(progress(&key.0, row.size, row.size, TransferState::Complete));
                self.finished.push(row);
            }
        }
        out
    }

    /// An `N` packet: send the named chunks again, only of a file we are sending to that peer.
    pub fn on_need(&mut self, from: &Address, obj: ObjectId, idx: Vec<u64>) -> Vec<Effect> {
        let Some(t) = self.outgoing.get_mut(&(obj, *from)) else {
            return vec![Effect::Drop("need_unknown_file")];
        };
        for i in idx {
            if i < t.row.chunks && !t.resend.contains(&i) {
                t.resend.push_back(i);
            }
        }
        Vec::new()
    }

    /// Bytes handed to the broker and acknowledged, for a transfer in progress.
    pub fn outgoing_progress(&self, obj: &ObjectId, to: &Address) -> Option<u64> {
        self.outgoing.get(&(*obj, *to)).map(|t| bytes_of(t.acked, t.row.size))
    }
}
