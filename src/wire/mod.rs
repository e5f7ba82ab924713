//! The WoChat wire protocol v1 (`PROTOCOL.md`): CBOR packets, padding, envelopes, client ids.
//!
//! Pure code: no I/O. [`seal_packet`] and [`open_envelope`] are the whole path between a
//! [`Packet`] and the bytes published on MQTT.

mod bundle;
mod ids;
mod inner;
mod packet;
mod padding;

pub use bundle::{BundleError, CAP_BATCHES, DeviceId, KeyBundle, MAX_ONE_TIME_KEYS, device_id, fallback_signing_input};
pub use ids::{BadHash, MessageHash, MessageKind};
pub use inner::{Inner, MAX_BATCH};
pub use packet::{
    AttachKind, Body, MAX_ACKS, MAX_BUNDLE, MAX_DIMENSION, MAX_EMOJI, MAX_FILE_NAME, MAX_MIME, MAX_NEEDS, MAX_PROOF,
    MAX_SENDER_NAME, MAX_THUMB, ObjectMeta, Packet, PacketError, valid_reaction, valid_sender_name,
};
pub use padding::{PaddingError, pad, padded_chunks, padded_len, padme, unpad};

use crate::crypto::envelope::{EnvelopeError, Keyring};
use crate::crypto::{Address, sha256};

/// Protocol version carried in packets and in the envelope's first byte.
pub const VERSION: u8 = 1;

/// Largest text (UTF-8 bytes) in a packet.
pub const MAX_TEXT: usize = 32 * 1024;

/// Size of a file chunk.
pub const CHUNK_SIZE: u64 = 65536;

/// The protocol v1 MQTT client id of an address: `"w"` and the first 22 hex characters of
/// SHA256(pk). Anyone can compute it: v2 clients use [`secret_client_id`] and drain a broker
/// session left under this one once.
pub fn client_id(address: &Address) -> String {
    format!("w{}", &hex::encode(sha256(address.as_bytes()))[..22])
}

/// HKDF info of the v2 client id.
pub const CLIENT_ID_INFO: &str = "wochat/v2/client-id";

/// The protocol v2 MQTT client id: `"w"` and the first 22 hex characters of
/// HKDF(secret key, `"wochat/v2/client-id"`): stable per account, not computable from the
/// address, so nobody else can take the account's broker session over.
pub fn secret_client_id(identity: &crate::crypto::Identity) -> String {
    format!("w{}", &hex::encode(identity.derive_key(CLIENT_ID_INFO).as_ref())[..22])
}

/// HKDF info of the broker password.
pub const BROKER_PASSWORD_INFO: &str = "wochat/broker-password";

/// The password an account logs in to a broker with when `broker.account_login` is on (its
/// user name is its address): the 64 hex characters of HKDF(secret key,
/// `"wochat/broker-password"`). Stable per account; only the key holder can compute it, so a
/// broker's ACL can give each address its own topics.
pub fn broker_password(identity: &crate::crypto::Identity) -> crate::crypto::password::Password {
    crate::crypto::password::Password::new(hex::encode(identity.derive_key(BROKER_PASSWORD_INFO).as_ref()))
}

/// Why an incoming envelope was dropped (counted by reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// The envelope failed its checks (size, version, points, tags).
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The padding is malformed.
    #[error("padding: {0}")]
    Padding(#[from] PaddingError),
    /// The CBOR packet is malformed or not of a known type.
    #[error("packet: {0}")]
    Packet(#[from] PacketError),
}

impl DropReason {
    /// A short stable name for counting and for `{"event":"dropped","reason":...}`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Envelope(e) => e.code(),
            Self::Padding(_) => "bad_padding",
            Self::Packet(PacketError::OverLimit(_)) => "over_limit",
            Self::Packet(_) => "bad_packet",
        }
    }
}

/// A packet ready to publish: the envelope and the message hash (SHA256 of the CBOR).
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The MQTT payload.
    pub envelope: Vec<u8>,
    /// SHA256 of the CBOR bytes.
    pub hash: MessageHash,
    /// The CBOR bytes (stored in `message.val`).
    pub cbor: Vec<u8>,
}

/// Encodes, pads and seals `packet` from the keyring's identity to `to`.
pub fn seal_packet(keys: &Keyring, to: &Address, packet: &Packet) -> Result<Sealed, EnvelopeError> {
    let cbor = packet.encode();
    let envelope = keys.seal(to, &pad(&cbor))?;
    Ok(Sealed { envelope, hash: MessageHash::of(&cbor), cbor })
}

/// A received, authenticated packet.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The sender (authenticated).
    pub from: Address,
    /// The CBOR bytes.
    pub cbor: Vec<u8>,
    /// SHA256 of the CBOR bytes.
    pub hash: MessageHash,
    /// The decoded packet.
    pub packet: Packet,
}

/// Opens, unpads and decodes an envelope addressed to the keyring's identity.
pub fn open_envelope(keys: &Keyring, envelope: &[u8]) -> Result<Opened, DropReason> {
    open_packet(keys, envelope).map(OpenedPacket::hashed)
}

/// A received, authenticated packet whose hash is not computed yet (control packets, a
/// file's chunks above all, never need it).
#[derive(Debug, Clone)]
pub struct OpenedPacket {
    /// The sender (authenticated).
    pub from: Address,
    /// The CBOR bytes.
    pub cbor: Vec<u8>,
    /// The decoded packet.
    pub packet: Packet,
}

impl OpenedPacket {
    /// Adds the hash (SHA256 of the CBOR bytes) that names a message.
    pub fn hashed(self) -> Opened {
        Opened { from: self.from, hash: MessageHash::of(&self.cbor), cbor: self.cbor, packet: self.packet }
    }
}

/// [`open_envelope`] without hashing.
pub fn open_packet(keys: &Keyring, envelope: &[u8]) -> Result<OpenedPacket, DropReason> {
    let (from, padded) = keys.open(envelope)?;
    let cbor = unpad(&padded)?.to_vec();
    let packet = Packet::decode(&cbor)?;
    Ok(OpenedPacket { from, cbor, packet })
}

/// Encodes, pads and seals a control packet (receipt, chunk, need): [`seal_packet`] without
/// the hash only messages need.
pub fn seal_control(keys: &Keyring, to: &Address, packet: &Packet) -> Result<Vec<u8>, EnvelopeError> {
    keys.seal(to, &pad(&packet.encode()))
}
