//! Addresses: a user's compressed secp256k1 public key, written as 66 lowercase hex characters.

use std::fmt;
use std::str::FromStr;

use secp256k1::PublicKey;

/// A WoChat address: a valid compressed secp256k1 point (33 bytes), shown as 66 hex characters.
///
/// It is also the MQTT topic on which that user receives.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 33]);

/// Why a string or byte string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Wrong length or non-hex characters.
    #[error("an address is 66 hexadecimal characters (a compressed public key)")]
    Format,
    /// Well-formed hex, but not a point on secp256k1.
    #[error("not a valid secp256k1 public key")]
    NotAPoint,
}

impl Address {
    /// Parses 33 bytes of a SEC1 compressed point, checking that it is on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AddressError> {
        let arr: [u8; 33] = bytes.try_into().map_err(|_| AddressError::Format)?;
        PublicKey::from_byte_array_compressed(arr).map_err(|_| AddressError::NotAPoint)?;
        Ok(Self(arr))
    }

    /// The address of a public key.
    pub fn from_public_key(pk: &PublicKey) -> Self {
        Self(pk.serialize())
    }

    /// The 33 bytes of the compressed point.
    pub fn as_bytes(&self) -> &[u8; 33] {
        &self.0
    }

    /// The secp256k1 point (always valid: checked on construction).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_byte_array_compressed(self.0).expect("checked on construction")
    }

    /// The 66-character lowercase hex form (also the MQTT topic).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `sig` is a BIP-340 Schnorr signature of `msg` by this address's key (its
    /// x-only form).
    pub fn verify_schnorr(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let (xonly, _) = self.public_key().x_only_public_key();
        secp256k1::schnorr::Signature::from_byte_array(*sig).verify(msg, &xonly).is_ok()
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 66 {
            return Err(AddressError::Format);
        }
        let bytes = hex::decode(s).map_err(|_| AddressError::Format)?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_bad_addresses() {
        let a = "03d510f6e6dd5ee14a14a5f1cfc407d33363c38c4a02cfa322378476d2019c0e3b";
        assert_eq!(a.parse::<Address>().unwrap().to_hex(), a);
        assert_eq!("03d5".parse::<Address>(), Err(AddressError::Format));
        let not_hex = format!("zz{}", &a[2..]);
        assert_eq!(not_hex.parse::<Address>(), Err(AddressError::Format));
        let off_curve = format!("02{}", "ff".repeat(32));
        assert_eq!(off_curve.parse::<Address>(), Err(AddressError::NotAPoint));
        let bad_prefix = format!("05{}", &a[2..]);
        assert_eq!(bad_prefix.parse::<Address>(), Err(AddressError::NotAPoint));
    }
}
