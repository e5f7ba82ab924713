//! AES-256-GCM with explicit nonces, ciphertext `||` 16-byte tag.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::CryptoError;

/// Encrypts `msg` under `key` and `nonce`, authenticating `aad`; returns ciphertext `||` tag.
pub fn seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg, aad })
        .expect("AES-GCM encryption only fails for inputs larger than 64 GiB")
}

/// Verifies and decrypts ciphertext `||` tag; [`CryptoError::Auth`] if anything is off.
pub fn open(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher.decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad }).map_err(|_| CryptoError::Auth)
}
