//! The protocol v2 inner packet (`docs/PROTOCOL.md`, v2.3): what the outer envelope seals.
//! It names the sender and carries the Olm message; a pre-key message also carries the
//! sender's signed bundle, so that the recipient can tie the Olm identity key to the address.
//!
//! ```text
//! inner = CBOR {"v": 2, "from": bstr 33, "dev": bstr 8, "t": 0 (pre-key) | 1 (normal),
//!               "m": bstr (the Olm message), ? "b": bstr (the sender's signed bundle),
//!               ? "more": [bstr, ...] (a batch: further Olm messages of the session, in order)}
//! ```

use minicbor::{Decoder, Encoder};

use super::bundle::DeviceId;
use super::packet::{fixed, for_each_entry, for_each_item};
use super::{MAX_BUNDLE, PacketError};
use crate::crypto::Address;

/// Most Olm messages one inner packet carries (`m` and up to this many less one in `more`).
pub const MAX_BATCH: usize = 64;

/// An Olm message with who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    /// The sender's address.
    pub from: Address,
    /// The sender's device.
    pub device: DeviceId,
    /// 0: a pre-key message (starts a session); 1: a normal message.
    pub kind: u8,
    /// The Olm message bytes.
    pub olm: Vec<u8>,
    /// The sender's signed key bundle (in pre-key messages).
    pub bundle: Option<Vec<u8>>,
    /// Further Olm messages of the same session and type, sent after `olm`, in order (to a
    /// peer whose bundle says it takes batches: [`crate::wire::CAP_BATCHES`]).
    pub more: Vec<Vec<u8>>,
}

impl Inner {
    /// The CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let _ = (|| -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
            e.map(5 + u64::from(self.bundle.is_some()) + u64::from(!self.more.is_empty()))?;
            e.str("v")?.u8(2)?;
            e.str("from")?.bytes(self.from.as_bytes())?;
            e.str("dev")?.bytes(&self.device)?;
            e.str("t")?.u8(self.kind)?;
            e.str("m")?.bytes(&self.olm)?;
            if let Some(b) = &self.bundle {
                e.str("b")?.bytes(b)?;
            }
            if !self.more.is_empty() {
                e.str("more")?.array(self.more.len() as u64)?;
                for m in &self.more {
                    e.bytes(m)?;
                }
            }
            Ok(())
        })();
        e.into_writer()
    }

    /// Decodes and checks an inner packet.
    pub fn decode(cbor: &[u8]) -> Result<Self, PacketError> {
        let mut d = Decoder::new(cbor);
        let (mut v, mut from, mut dev, mut t, mut m, mut b) = (None, None, None, None, None, None);
        let mut more = Vec::new();
        for_each_entry(&mut d, |d, key| {
            match key {
                "v" => v = Some(d.u64()?),
                "from" => from = Some(Address::from_bytes(d.bytes()?).map_err(|_| PacketError::Invalid("from"))?),
                "dev" => dev = Some(fixed::<8>(d.bytes()?, "dev")?),
                "t" => t = Some(d.u8()?),
                "m" => m = Some(d.bytes()?.to_vec()),
                "b" => {
                    let bytes = d.bytes()?;
                    if bytes.len() > MAX_BUNDLE {
                        return Err(PacketError::Invalid("b"));
                    }
                    b = Some(bytes.to_vec());
                }
                "more" => for_each_item(d, |d| {
                    if more.len() + 1 >= MAX_BATCH {
                        return Err(PacketError::Invalid("more"));
                    }
                    more.push(d.bytes()?.to_vec());
                    Ok(())
                })?,
                _ => d.skip()?,
            }
            Ok(())
        })?;
        if d.position() != cbor.len() {
            return Err(PacketError::Trailing);
        }
        if v != Some(2) {
            return Err(PacketError::Version(v.unwrap_or(0)));
        }
        let kind = t.ok_or(PacketError::Missing("t"))?;
        if kind > 1 {
            return Err(PacketError::Invalid("t"));
        }
        Ok(Self {
            from: from.ok_or(PacketError::Missing("from"))?,
            device: dev.ok_or(PacketError::Missing("dev"))?,
            kind,
            olm: m.ok_or(PacketError::Missing("m"))?,
            bundle: b,
            more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_packets_round_trip_and_bad_ones_are_refused() {
        let from = crate::crypto::Identity::generate().unwrap().address();
        let i = Inner { from, device: [9; 8], kind: 0, olm: vec![1, 2, 3], bundle: Some(vec![4]), more: vec![] };
        assert_eq!(Inner::decode(&i.encode()).unwrap(), i);
        let n = Inner { kind: 1, bundle: None, ..i };
        assert_eq!(Inner::decode(&n.encode()).unwrap(), n);
        assert!(Inner::decode(&Inner { kind: 7, ..n.clone() }.encode()).is_err());
        let batch = Inner { more: vec![vec![5], vec![6, 7]], ..n.clone() };
        assert_eq!(Inner::decode(&batch.encode()).unwrap(), batch);
        let too_many = Inner { more: vec![vec![1]; MAX_BATCH], ..n.clone() };
        assert_eq!(Inner::decode(&too_many.encode()), Err(PacketError::Invalid("more")));
        let mut trailing = n.encode();
        trailing.push(0);
        assert_eq!(Inner::decode(&trailing), Err(PacketError::Trailing));
    }
}
