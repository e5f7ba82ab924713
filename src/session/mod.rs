//! Sessions: the layer between the messaging engine and the wire format that turns a CBOR
//! packet into the envelopes published on MQTT and back.
//!
//! A session may keep state (a ratchet). Its state is read and written through the
//! [`rusqlite::Transaction`] it is handed: the one that stores what it opened or marks what it
//! sealed. A batch whose transaction fails leaves both the messages and the session state as
//! they were; the broker delivers the envelopes again and they open again.
//!
//! [`V1Sessions`] is the protocol v1 scheme of `PROTOCOL.md` (static-key ECDH, stateless).
//! The same trait carries a conversation with several members ([`Audience::Members`]):
//! v1 seals pairwise for each member; a group session seals once and wraps per member.

mod v1;

pub use v1::V1Sessions;

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
}

/// Why an envelope did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The envelope is not for us, damaged, or not of the protocol: dropped, counted by reason.
    #[error("dropped: {0}")]
    Drop(#[from] DropReason),
    /// Session state could not be read or written: the batch is retried.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Seals packets for peers and opens what arrives, with any state in the store transaction.
pub trait Sessions: Send + Sync {
    /// Seals a CBOR packet for `to` (one envelope per recipient).
    fn seal(&self, tx: &Transaction<'_>, to: Audience<'_>, cbor: &[u8]) -> Result<Vec<Envelope>, SealError>;

    /// Opens an envelope addressed to this account.
    fn open(&self, tx: &Transaction<'_>, envelope: &[u8]) -> Result<Opened, OpenError>;
}
