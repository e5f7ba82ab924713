//! Pure cryptography: identities, password-derived keys, key derivation and AEAD helpers.
//!
//! Nothing here does I/O. Every secret and derived key lives in a [`zeroize::Zeroizing`]
//! buffer (or a type that zeroizes on drop) and is never formatted with `Debug`/`Display`.

mod address;
mod aead;
pub mod envelope;
mod identity;
pub mod merkle;
pub mod outer;
pub mod password;
pub mod stream;

pub use address::{Address, AddressError};
pub use aead::{open, seal};
pub use identity::Identity;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// A 32-byte symmetric key that is wiped from memory when dropped.
pub type Key32 = Zeroizing<[u8; 32]>;

/// Errors of the crypto layer.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// An AEAD tag did not verify: wrong key, or the data was altered.
    #[error("authentication failed (wrong key or damaged data)")]
    Auth,
    /// Bytes that should be a secp256k1 secret key are not one.
    #[error("not a valid secp256k1 secret key")]
    BadSecretKey,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Rng(String),
    /// Password-based key derivation rejected its parameters.
    #[error("invalid key-derivation parameters: {0}")]
    Kdf(String),
}

/// HKDF-SHA-256 (RFC 5869) with a 32-byte output.
pub fn hkdf32(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> Key32 {
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(salt, ikm).expand(info, out.as_mut()).expect("32 bytes is a valid HKDF-SHA-256 output length");
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(data).into()
}

/// Fills `buf` from the operating system's cryptographic random number generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Rng(e.to_string()))
}
