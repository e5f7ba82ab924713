//! Sessions: the layer between the messaging engine and the wire format that turns a CBOR
//! packet into the envelopes published on MQTT and back.
//!
//! A session may keep state (a ratchet). Its state is read and written through the
//! [`rusqlite::Transaction`] it is handed: the one that stores what it opened or marks what it
//! sealed. A batch whose transaction fails leaves both the messages and the session state as
//! they were; the broker delivers the envelopes again and they open again.
//!
//! [`V1Sessions`] is the protocol v1 scheme of `PROTOCOL.md` (static-key ECDH, stateless).
//! [`V2Sessions`] is protocol v2 (`docs/PROTOCOL.md`): Olm sessions (vodozemac) bound to the
//! secp256k1 identity by signed key bundles, falling back to v1 for peers never seen with v2.
//! The same trait carries a conversation with several members ([`Audience::Members`]):
//! v1 and v2 seal pairwise for each member; a group session seals once and wraps per member.

mod device;
mod live;
mod v1;
mod v2;

pub use v1::V1Sessions;
pub use v2::{PICKLE_KEY_INFO, V2Sessions, key_topic};

use rusqlite::Transaction;

use crate::crypto::Address;
use crate::crypto::envelope::EnvelopeError;
use crate::store::StoreError;
use crate::wire::{DropReason, Packet};

/// Who a packet is sealed for.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// One peer (a direct conversation, or a control packet to one peer).
    Peer(&'a Address),
    /// Every member of a conversation with several members.
    Members(&'a [Address]),
}

/// One envelope to publish: on the recipient's topic.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The recipient (its address is the MQTT topic).
    pub to: Address,
    /// The MQTT payload.
    pub payload: Vec<u8>,
    /// The session layer's own traffic (a key bundle offered), not the packet sealed: its
    /// PUBACK is not the packet's.
    pub own: bool,
}

/// A packet opened by a session: who sent it (authenticated) and what it says.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The sender.
    pub from: Address,
    /// The CBOR bytes (their SHA-256 names a message).
    pub cbor: Vec<u8>,
    /// The decoded packet.
    pub packet: Packet,
    /// The protocol version of the envelope (1 or 2).
    pub version: u8,
}

/// Where a key bundle came from.
#[derive(Debug, Clone, Copy)]
pub enum KeySource {
    /// In a `K` packet from `from` (a v1 envelope).
    InBand {
        /// The sender (authenticated by the envelope).
        from: Address,
        /// It asks for this account's bundle in return.
        want: bool,
        /// It cannot decrypt this account's messages: start again.
        reset: bool,
    },
    /// Published (retained) on the key topic of `owner`.
    Published {
        /// Whose key topic.
        owner: Address,
    },
}

/// What a key bundle led to.
#[derive(Debug, Default)]
pub struct KeysOutcome {
    /// Envelopes to publish (this account's bundle, sent back).
    pub replies: Vec<Envelope>,
    /// The keys of this peer are now known: what waited for them can be sealed.
    pub learned: Option<Address>,
    /// A new session with this peer was started for a reset: send again all it has not
    /// confirmed.
    pub resend_to: Option<Address>,
}

/// A retained publish of this account's own key bundle.
#[derive(Debug, Clone)]
pub struct Published {
    /// The key topic.
    pub topic: String,
    /// The signed bundle.
    pub payload: Vec<u8>,
}

/// Why a packet could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The envelope could not be made.
    #[error("cannot seal a packet: {0}")]
    Envelope(#[from] EnvelopeError),
    /// Session state could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The peer's keys are being fetched: the packet waits (a message stays unsent).
    #[error("the keys of {0} are being fetched")]
    KeysPending(Address),
    /// Session state is damaged or a key does not work.
    #[error("session: {0}")]
    Session(String),
}

/// Why an envelope did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The envelope is not for us, damaged, or not of the protocol: dropped, counted by reason.
    #[error("dropped: {0}")]
    Drop(#[from] DropReason),
    /// Dropped for a reason of the session layer (a short stable code).
    #[error("dropped: {0}")]
    Refused(&'static str),
    /// A peer's message that no session decrypts (the peer or this account lost state):
    /// dropped; `replies` (a request to start again, rate-limited) are to be published.
    #[error("undecryptable message from {from}")]
    Broken {
        /// The sender.
        from: Address,
        /// What to publish.
        replies: Vec<Envelope>,
    },
    /// Session state could not be read or written: the batch is retried.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpenError {
    /// The short stable code of a drop, if this is one.
    pub fn drop_code(&self) -> Option<&'static str> {
        match self {
            Self::Drop(r) => Some(r.code()),
            Self::Refused(code) => Some(code),
            Self::Broken { .. } => Some("undecryptable"),
            Self::Store(_) => None,
        }
    }
}

/// [`Sessions::seal_batch`] one packet at a time with `seal`.
fn one_by_one(
    packets: &[&[u8]],
    mut seal: impl FnMut(&[u8]) -> Result<Vec<Envelope>, SealError>,
) -> Result<Vec<(Vec<usize>, Envelope)>, SealError> {
    let mut out = Vec::new();
    for (i, cbor) in packets.iter().enumerate() {
        for env in seal(cbor)? {
            out.push((if env.own { Vec::new() } else { vec![i] }, env));
        }
    }
    Ok(out)
}

/// Seals packets for peers and opens what arrives, with any state in the store transaction.
pub trait Sessions: Send + Sync {
    /// Seals a CBOR packet for `to`. A message may wait for a peer's keys (`may_wait`:
    /// [`SealError::KeysPending`]); a control packet goes at once.
    fn seal(
        &self,
        tx: &Transaction<'_>,
        to: Audience<'_>,
        cbor: &[u8],
        may_wait: bool,
    ) -> Result<Vec<Envelope>, SealError>;

    /// Seals several packets for one peer, in order: the envelopes, each with the indexes
    /// of the packets it carries (none: one of the scheme's own, such as a bundle offer).
    /// One envelope per packet unless the scheme and the peer take batches.
    fn seal_batch(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        packets: &[&[u8]],
        may_wait: bool,
    ) -> Result<Vec<(Vec<usize>, Envelope)>, SealError> {
        one_by_one(packets, |cbor| self.seal(tx, Audience::Peer(to), cbor, may_wait))
    }

    /// Opens an envelope addressed to this account: each packet it carries (one, or a batch
    /// of one sender's, in order), or why it could not be opened.
    fn open(&self, tx: &Transaction<'_>, envelope: &[u8]) -> Vec<Result<Opened, OpenError>>;

    /// A key bundle arrived (in band, or published on a key topic).
    fn on_keys(&self, _tx: &Transaction<'_>, _source: KeySource, _signed: &[u8]) -> Result<KeysOutcome, OpenError> {
        Ok(KeysOutcome::default())
    }

    /// This account's key bundle to publish (retained): always with `force` (after a
    /// connect), else only when it changed since it was last published.
    fn own_keys(&self, _tx: &Transaction<'_>, _force: bool) -> Result<Option<Published>, SealError> {
        Ok(None)
    }

    /// The topic filter on which `peer`'s key bundles are published, if this scheme has them.
    fn key_filter(&self, _peer: &Address) -> Option<String> {
        None
    }

    /// The owner of a key topic, if `topic` is one.
    fn key_topic_owner(&self, _topic: &str) -> Option<Address> {
        None
    }

    /// Writes the state this scheme changed in memory during `tx` into it. Every
    /// transaction that sealed or opened calls it just before it commits, so that the
    /// state commits with what it sealed or opened.
    fn flush(&self, _tx: &Transaction<'_>) -> Result<(), SealError> {
        Ok(())
    }

    /// The transaction rolled back: state changed in memory during it is forgotten.
    fn rolled_back(&self) {}

    /// A part of the transaction (a savepoint) begins, that may be rolled back alone.
    fn begin_part(&self) {}

    /// The part ends: kept, or rolled back (then what it changed in memory is undone).
    fn end_part(&self, _kept: bool) {}
}
