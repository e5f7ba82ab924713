//! Protocol v1 (`PROTOCOL.md`): every packet sealed with static-key ECDH, no state.

use std::sync::Arc;

use rusqlite::Transaction;

use super::{Audience, Envelope, OpenError, Opened, SealError, Sessions};
use crate::crypto::envelope::Keyring;
use crate::wire;

/// The v1 scheme over an account's keyring.
#[derive(Debug, Clone)]
pub struct V1Sessions {
    keys: Arc<Keyring>,
}

impl V1Sessions {
    /// Sessions of the keyring's identity.
    pub fn new(keys: Arc<Keyring>) -> Self {
        Self { keys }
    }
}

impl V1Sessions {
    /// Opens a v1 envelope (it carries one packet).
    pub fn open_one(&self, envelope: &[u8]) -> Result<Opened, OpenError> {
        let o = wire::open_packet(&self.keys, envelope)?;
        Ok(Opened { from: o.from, cbor: o.cbor, packet: o.packet, version: 1 })
    }
}

impl Sessions for V1Sessions {
    fn seal(
        &self,
        _tx: &Transaction<'_>,
        to: Audience<'_>,
        cbor: &[u8],
        _may_wait: bool,
    ) -> Result<Vec<Envelope>, SealError> {
        let padded = wire::pad(cbor);
        let one = |to: &crate::crypto::Address| -> Result<Envelope, SealError> {
            Ok(Envelope { to: *to, payload: self.keys.seal(to, &padded)?, own: false })
        };
        match to {
            Audience::Peer(p) => Ok(vec![one(p)?]),
            Audience::Members(members) => members.iter().map(one).collect(),
        }
    }

    fn open(&self, _tx: &Transaction<'_>, envelope: &[u8]) -> Vec<Result<Opened, OpenError>> {
        vec![self.open_one(envelope)]
    }
}
