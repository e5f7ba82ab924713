//! File transfers (PROTOCOL.md section 4) as a component: it owns the transfers in progress and
//! the attachment limits, and answers each input with [`Effect`]s that the engine applies
//! (publish a packet, report an event, verify a file off the async threads). Changed rows are
//! handed out by [`Transfers::take_dirty`] and saved by the engine.
//!
//! The attachment message goes first, so the receiver shows the preview at once; then the
//! file travels as 64 KiB `C` chunks. The receiver writes each chunk straight into a partial
//! object (kept across restarts), asks for missing chunks with `N` when the transfer is silent
//! (10 s, doubling up to 5 minutes), verifies the SHA-256, keeps the file and only then sends
//! the receipt. The sender keeps at most [`WINDOW`] chunks unacknowledged by the broker.

mod incoming;
mod outgoing;
mod prepare;
#[cfg(test)]
mod tests;
mod verify;

pub use incoming::{MAX_ACTIVE_INCOMING, register_incoming};
pub use prepare::{PreparedFile, prepare_file};
pub use verify::{Verified, VerifyJob};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use incoming::InTransfer;
use outgoing::OutTransfer;

use super::{ClientError, Event};
use crate::config::Config;
use crate::crypto::Address;
use crate::objects::{ObjectId, ObjectStore, SEGMENT};
use crate::store::{Transfer, TransferState};
use crate::transport::Tag;
use crate::wire::Body;

/// Chunks handed to the broker and not yet acknowledged, over all outgoing transfers.
pub const WINDOW: u32 = 32;
/// Images up to this size get a preview and display version.
const MAX_THUMB_SOURCE: u64 = 64 << 20;
/// First wait before asking for missing chunks (it doubles), and the longest.
pub const NEED_FIRST: Duration = Duration::from_secs(10);
const NEED_MAX: Duration = Duration::from_secs(300);
/// Most chunk indexes named in one `N` packet.
const NEED_BATCH: usize = 4096;

/// Limits for attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// Larger incoming files wait until accepted.
    pub auto_download_bytes: u64,
    /// Largest file sent or accepted.
    pub max_file_bytes: u64,
}

impl MediaLimits {
    /// From the `[media]` settings.
    pub fn from_config(c: &Config) -> Self {
        Self {
            auto_download_bytes: c.media.auto_download_mb.saturating_mul(1 << 20),
            max_file_bytes: c.media.max_file_mb.saturating_mul(1 << 20),
        }
    }
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// A transfer is one file between this account and one peer, in one direction.
pub(crate) type Key = (ObjectId, Address);

/// What the engine does for the component.
#[derive(Debug)]
pub enum Effect {
    /// Seal `body` for `to` and publish it; `tag` comes back as a PUBACK.
    Publish {
        /// Recipient.
        to: Address,
        /// The control packet (a chunk, a need, a receipt).
        body: Body,
        /// Tracks the PUBACK.
        tag: Option<Tag>,
        /// Pad the packet to this many bytes (a file's chunks, docs/PROTOCOL.md section 11).
        pad_to: Option<usize>,
    },
    /// Report an event.
    Emit(Event),
    /// Report an error (the client goes on).
    Fail(ClientError),
    /// Count an incoming packet dropped for this reason.
    Drop(&'static str),
    /// Run this blocking verification and hand its result to [`Transfers::on_verified`].
    Verify(VerifyJob),
}

/// The transfers of one account.
pub struct Transfers {
    objects: Arc<ObjectStore>,
    limits: MediaLimits,
    /// First wait of a silent incoming transfer before its missing chunks are asked for.
    need_first: Duration,
    outgoing: HashMap<Key, OutTransfer>,
    incoming: HashMap<Key, InTransfer>,
    /// Active incoming transfers waiting for a place, first come first served.
    queue: VecDeque<Key>,
    /// Chunk publishes awaiting their PUBACK: which transfer and which chunk.
    chunk_tags: HashMap<Tag, (Key, u64)>,
    /// Numbers the chunk publishes (their tags must differ from each other and from hashes).
    next_tag: u64,
    /// Rows of transfers that ended (complete or failed), not saved yet.
    finished: Vec<Transfer>,
}

impl Transfers {
    /// An empty component over `objects`; silent incoming transfers ask for their missing
    /// chunks after `need_first` (doubling up to 5 minutes).
    pub fn new(objects: Arc<ObjectStore>, limits: MediaLimits, need_first: Duration) -> Self {
        Self {
            objects,
            limits,
            need_first,
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            queue: VecDeque::new(),
            chunk_tags: HashMap::new(),
            next_tag: 0,
            finished: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> MediaLimits {
        self.limits
    }

    /// New limits (from now on).
    pub fn set_limits(&mut self, limits: MediaLimits) {
        self.limits = limits;
    }

    /// Rows changed since the last call, for the engine to save.
    pub fn take_dirty(&mut self) -> Vec<Transfer> {
        let mut rows = std::mem::take(&mut self.finished);
        for t in self.incoming.values_mut().filter(|t| t.dirty) {
            t.dirty = false;
            rows.push(t.row.clone());
        }
        for t in self.outgoing.values_mut().filter(|t| t.dirty) {
            t.dirty = false;
            t.row.done = t.next;
            rows.push(t.row.clone());
        }
        rows
    }

    /// A PUBACK: `None` if the tag is not a chunk's, else what follows.
    pub fn on_acked(&mut self, tag: &Tag) -> Option<Vec<Effect>> {
        let (key, i) = self.chunk_tags.remove(tag)?;
        let mut out = Vec::new();
        if let Some(t) = self.outgoing.get_mut(&key) {
            t.outstanding = t.outstanding.saturating_sub(1);
            if i >= t.row.chunks {
                return Some(out); // chaff: no progress
            }
            t.acked = (t.acked + 1).min(t.row.chunks);
            let pct = percent(t.acked, t.row.chunks);
            if pct != t.last_pct || t.acked == t.row.chunks {
                t.last_pct = pct;
                let done = bytes_of(t.acked, t.row.size);
                out.push(progress(&key.0, done, t.row.size, TransferState::Active));
            }
        }
        Some(out)
    }

    /// A publish dropped with a lost broker session: `true` if it was a chunk (sent again).
    pub fn on_lost(&mut self, tag: &Tag) -> bool {
        let Some((key, i)) = self.chunk_tags.remove(tag) else { return false };
        if let Some(t) = self.outgoing.get_mut(&key) {
            t.outstanding = t.outstanding.saturating_sub(1);
            // Chaff is sent once: the broker saw it, or lost it with the session.
            if i < t.row.chunks {
                t.resend.push_back(i);
            }
        }
        true
    }

    /// Stops a file's transfer with `peer` (its message was deleted): nothing more of it is
    /// sent, received or asked for.
    pub fn cancel(&mut self, obj: &ObjectId, peer: &Address) {
        let key = (*obj, *peer);
        self.outgoing.remove(&key);
        self.incoming.remove(&key);
        self.queue.retain(|k| *k != key);
        self.chunk_tags.retain(|_, (k, _)| *k != key);
    }

    /// The connection was replaced: every chunk in flight is sent again.
    pub fn requeue_in_flight(&mut self) {
        let tags: Vec<Tag> = self.chunk_tags.keys().copied().collect();
        for t in tags {
            self.on_lost(&t);
        }
    }

    fn tag_for(&mut self, key: &Key, i: u64) -> Tag {
        self.next_tag += 1;
        let mut b = Vec::with_capacity(5 + 32 + 33 + 16);
        b.extend_from_slice(b"chunk");
        b.extend_from_slice(&key.0.0);
        b.extend_from_slice(key.1.as_bytes());
        b.extend_from_slice(&i.to_be_bytes());
        b.extend_from_slice(&self.next_tag.to_be_bytes());
        crate::crypto::sha256(&b)
    }
}

/// A transfer event.
fn progress(obj: &ObjectId, done: u64, total: u64, state: TransferState) -> Effect {
    Effect::Emit(Event::Transfer { file: *obj, done, total, state })
}

/// Bytes in `chunks` whole chunks of a file of `size` bytes.
fn bytes_of(chunks: u64, size: u64) -> u64 {
    chunks.saturating_mul(SEGMENT as u64).min(size)
}

fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}
