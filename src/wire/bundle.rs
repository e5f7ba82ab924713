//! Protocol v2 key bundles (`docs/PROTOCOL.md`, v2.2): a device's Olm public keys, signed by
//! the account's secp256k1 identity key (BIP-340 Schnorr), so that a bundle from anywhere (a
//! retained MQTT message, an in-band `K` packet, a pre-key envelope) is trusted only when it
//! verifies against the address it claims.
//!
//! ```text
//! signed = CBOR {"b": bstr(body), "sig": bstr 64}
//! body   = CBOR {"v": 2, "addr": bstr 33, "dev": bstr 8, "ts": uint, "ik": bstr 32,
//!                "ed": bstr 32, "fb": bstr 32, "fbs": bstr 64, "otk": [bstr 32, ...],
//!                ? "caps": uint (what the device takes besides v2 itself: CAP_BATCHES)}
//! sig    = BIP-340 Schnorr by addr's key over SHA256("wochat/v2/bundle" || body)
//! ```

use minicbor::{Decoder, Encoder};

use super::packet::{fixed, for_each_entry, for_each_item};
use super::{MAX_BUNDLE, PacketError};
use crate::crypto::{Address, CryptoError, Identity, sha256};

/// Most one-time keys in a bundle.
pub const MAX_ONE_TIME_KEYS: usize = 100;

/// A `caps` bit: the device opens inner packets carrying a batch (`"more"`).
pub const CAP_BATCHES: u64 = 1;

/// A device id: the first 8 bytes of SHA-256 of the device's Ed25519 key.
pub type DeviceId = [u8; 8];

/// The public keys of one device of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBundle {
    /// The account (its key signs the bundle).
    pub address: Address,
    /// Which device of the account.
    pub device: DeviceId,
    /// When the bundle was made (ms since the Unix epoch).
    pub created: u64,
    /// The device's Curve25519 identity key.
    pub identity_key: [u8; 32],
    /// The device's Ed25519 key.
    pub signing_key: [u8; 32],
    /// The current fallback key (used when the one-time keys are gone).
    pub fallback_key: [u8; 32],
    /// Ed25519 signature of `"wochat/v2/fallback" || fallback_key` by `signing_key`.
    pub fallback_signature: [u8; 64],
    /// One-time keys: each starts at most one session.
    pub one_time_keys: Vec<[u8; 32]>,
    /// What the device takes besides v2 itself (bits: [`CAP_BATCHES`]); 0 is not encoded.
    pub caps: u64,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle of this protocol.
    #[error("malformed key bundle: {0}")]
    Malformed(#[from] PacketError),
    /// The signature does not verify against the address in the bundle.
    #[error("the key bundle's signature does not verify")]
    BadSignature,
}

/// The signing input of a bundle body.
fn signing_input(body: &[u8]) -> [u8; 32] {
    sha256(&[b"wochat/v2/bundle".as_slice(), body].concat())
}

/// The device id of an Ed25519 key.
pub fn device_id(signing_key: &[u8; 32]) -> DeviceId {
    let h = sha256(signing_key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[..8]);
    id
}

impl KeyBundle {
    /// The CBOR body (what is signed).
    pub fn encode_body(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let _ = (|| -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
            e.map(9 + u64::from(self.caps != 0))?;
            e.str("v")?.u8(2)?;
            e.str("addr")?.bytes(self.address.as_bytes())?;
            e.str("dev")?.bytes(&self.device)?;
            e.str("ts")?.u64(self.created)?;
            e.str("ik")?.bytes(&self.identity_key)?;
            e.str("ed")?.bytes(&self.signing_key)?;
            e.str("fb")?.bytes(&self.fallback_key)?;
            e.str("fbs")?.bytes(&self.fallback_signature)?;
            e.str("otk")?.array(self.one_time_keys.len() as u64)?;
            for k in &self.one_time_keys {
                e.bytes(k)?;
            }
            if self.caps != 0 {
                e.str("caps")?.u64(self.caps)?;
            }
            Ok(())
        })();
        e.into_writer()
    }

    /// The signed bundle, ready to publish: `identity` must be the bundle's address.
    pub fn sign(&self, identity: &Identity) -> Result<Vec<u8>, CryptoError> {
        let body = self.encode_body();
        let sig = identity.sign_schnorr(&signing_input(&body))?;
        Ok(Self::wrap(&body, &sig))
    }

    /// [`Self::sign`] with given auxiliary randomness (known-answer vectors).
    pub fn sign_with_aux(&self, identity: &Identity, aux: &[u8; 32]) -> Vec<u8> {
        let body = self.encode_body();
        Self::wrap(&body, &identity.sign_schnorr_with_aux(&signing_input(&body), aux))
    }

    fn wrap(body: &[u8], sig: &[u8; 64]) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let _ = e.map(2).and_then(|e| e.str("b")).and_then(|e| e.bytes(body)).and_then(|e| e.str("sig"));
        let _ = e.bytes(sig);
        e.into_writer()
    }

    /// Decodes a signed bundle and verifies its signature against the address it names.
    pub fn open(signed: &[u8]) -> Result<Self, BundleError> {
        if signed.len() > MAX_BUNDLE {
            return Err(PacketError::Invalid("bundle").into());
        }
        let mut d = Decoder::new(signed);
        let (mut body, mut sig) = (None, None);
        for_each_entry(&mut d, |d, key| {
            match key {
                "b" => body = Some(d.bytes()?.to_vec()),
                "sig" => sig = Some(fixed::<64>(d.bytes()?, "sig")?),
                _ => d.skip()?,
            }
            Ok(())
        })?;
        if d.position() != signed.len() {
            return Err(PacketError::Trailing.into());
        }
        let body = body.ok_or(PacketError::Missing("b"))?;
        let sig = sig.ok_or(PacketError::Missing("sig"))?;
        let bundle = Self::decode_body(&body)?;
        if !bundle.address.verify_schnorr(&signing_input(&body), &sig) {
            return Err(BundleError::BadSignature);
        }
        Ok(bundle)
    }

    /// The `caps` of a signed bundle verified with [`Self::open`] before it was stored (the
    /// signature is not checked again); 0 when it does not decode.
    pub fn stored_caps(signed: &[u8]) -> u64 {
        let mut d = Decoder::new(signed);
        let mut body = None;
        let _ = for_each_entry(&mut d, |d, key| {
            match key {
                "b" => body = Some(d.bytes()?),
                _ => d.skip()?,
            }
            Ok(())
        });
        body.and_then(|b| Self::decode_body(b).ok()).map_or(0, |b| b.caps)
    }

    fn decode_body(body: &[u8]) -> Result<Self, PacketError> {
        let mut d = Decoder::new(body);
        let (mut v, mut addr, mut dev, mut ts, mut ik, mut ed) = (None, None, None, None, None, None);
        let (mut fb, mut fbs, mut otk, mut caps) = (None, None, Vec::new(), 0);
        for_each_entry(&mut d, |d, key| {
            match key {
                "v" => v = Some(d.u64()?),
                "addr" => addr = Some(Address::from_bytes(d.bytes()?).map_err(|_| PacketError::Invalid("addr"))?),
                "dev" => dev = Some(fixed::<8>(d.bytes()?, "dev")?),
                "ts" => ts = Some(d.u64()?),
                "ik" => ik = Some(fixed::<32>(d.bytes()?, "ik")?),
                "ed" => ed = Some(fixed::<32>(d.bytes()?, "ed")?),
                "fb" => fb = Some(fixed::<32>(d.bytes()?, "fb")?),
                "fbs" => fbs = Some(fixed::<64>(d.bytes()?, "fbs")?),
                "otk" => for_each_item(d, |d| {
                    if otk.len() >= MAX_ONE_TIME_KEYS {
                        return Err(PacketError::Invalid("otk"));
                    }
                    otk.push(fixed::<32>(d.bytes()?, "otk")?);
                    Ok(())
                })?,
                "caps" => caps = d.u64()?,
                _ => d.skip()?,
            }
            Ok(())
        })?;
        if d.position() != body.len() {
            return Err(PacketError::Trailing);
        }
        if v != Some(2) {
            return Err(PacketError::Version(v.unwrap_or(0)));
        }
        Ok(Self {
            address: addr.ok_or(PacketError::Missing("addr"))?,
            device: dev.ok_or(PacketError::Missing("dev"))?,
            created: ts.ok_or(PacketError::Missing("ts"))?,
            identity_key: ik.ok_or(PacketError::Missing("ik"))?,
            signing_key: ed.ok_or(PacketError::Missing("ed"))?,
            fallback_key: fb.ok_or(PacketError::Missing("fb"))?,
            fallback_signature: fbs.ok_or(PacketError::Missing("fbs"))?,
            one_time_keys: otk,
            caps,
        })
    }
}

/// The input of the Ed25519 signature of a fallback key.
pub fn fallback_signing_input(key: &[u8; 32]) -> Vec<u8> {
    [b"wochat/v2/fallback".as_slice(), key].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(id: &Identity) -> KeyBundle {
        KeyBundle {
            address: id.address(),
            device: [1; 8],
            created: 1_700_000_000_000,
            identity_key: [2; 32],
            signing_key: [3; 32],
            fallback_key: [4; 32],
            fallback_signature: [5; 64],
            one_time_keys: vec![[6; 32], [7; 32]],
            caps: 0,
        }
    }

    #[test]
    fn a_signed_bundle_opens_and_a_forged_one_does_not() {
        let alice = Identity::generate().unwrap();
        let b = bundle(&alice);
        let signed = b.sign(&alice).unwrap();
        assert_eq!(KeyBundle::open(&signed).unwrap(), b);
        // Signed by someone else, for alice's address.
        let mallory = Identity::generate().unwrap();
        assert_eq!(KeyBundle::open(&b.sign(&mallory).unwrap()), Err(BundleError::BadSignature));
        // A changed key inside (the signature no longer covers it).
        let mut tampered = signed.clone();
        let at = tampered.len() - 80;
        tampered[at] ^= 1;
        assert!(KeyBundle::open(&tampered).is_err());
        assert!(KeyBundle::open(b"junk").is_err());
        assert_eq!(KeyBundle::stored_caps(&signed), 0);
        // Capabilities are signed like the rest; a decoder that knows none skips them.
        let with = KeyBundle { caps: CAP_BATCHES, ..b };
        let signed = with.sign(&alice).unwrap();
        assert_eq!(KeyBundle::open(&signed).unwrap(), with);
        assert_eq!(KeyBundle::stored_caps(&signed), CAP_BATCHES);
    }
}
