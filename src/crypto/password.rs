//! Password protection of a secret key: Argon2id derives a key, AES-256-GCM seals the secret.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::{CryptoError, Identity, Key32, random_bytes};

/// A password being typed or carried to the key store: wiped from memory when dropped, never
/// shown by `Debug`. Derefs to the `String` a text field edits.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Takes `s` in (it is wiped with the password).
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// Takes the password out, leaving an empty one.
    pub fn take(&mut self) -> Self {
        std::mem::take(self)
    }
}

impl std::ops::Deref for Password {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::ops::DerefMut for Password {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Argon2id cost parameters, stored next to each encrypted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The default for new keys: 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self { m_kib: 64 * 1024, t: 3, p: 1 };

    /// Cheap parameters for tests only (never stored by the application by default).
    pub const INSECURE_FAST: Self = Self { m_kib: 256, t: 1, p: 1 };

    /// The largest parameters taken from a stored, imported or restored key: a damaged or
    /// hostile one must not make a login allocate terabytes or spin for hours.
    pub const MAX_STORED: Self = Self { m_kib: 4 * 1024 * 1024, t: 64, p: 64 };

    /// Checks parameters of a stored key against [`KdfParams::MAX_STORED`].
    pub fn check_stored(&self) -> Result<(), String> {
        let max = Self::MAX_STORED;
        if self.m_kib > max.m_kib || self.t > max.t || self.p > max.p || self.t == 0 || self.p == 0 {
            return Err(format!("unsupported Argon2 parameters m={} t={} p={}", self.m_kib, self.t, self.p));
        }
        Ok(())
    }
}

/// A secret key sealed under a password: what the `keys` table and the export file hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// Argon2id parameters.
    pub kdf: KdfParams,
    /// Random 16-byte Argon2 salt.
    pub salt: Vec<u8>,
    /// `nonce (12) || ciphertext (32) || tag (16)`: 60 bytes.
    pub blob: Vec<u8>,
}

/// Length of [`SealedKey::blob`].
pub const SEALED_LEN: usize = 12 + 32 + 16;

impl SealedKey {
    /// Checks its shape without the password: parameters within bounds, lengths as sealed.
    pub fn check(&self) -> Result<(), String> {
        self.kdf.check_stored()?;
        if self.blob.len() != SEALED_LEN {
            return Err(format!("encrypted key is {} bytes, expected {SEALED_LEN}", self.blob.len()));
        }
        if self.salt.len() < 8 {
            return Err("salt too short".into());
        }
        if self.salt.len() > 64 {
            return Err("salt too long".into());
        }
        Ok(())
    }
}

/// Derives the 32-byte key-encryption key from a password with Argon2id.
pub fn derive(password: &[u8], salt: &[u8], kdf: KdfParams) -> Result<Key32, CryptoError> {
    let params = Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32)).map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password, salt, out.as_mut())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(out)
}

/// Seals the identity's secret key under `password`; the public key is the associated data.
pub fn seal_identity(id: &Identity, password: &[u8], kdf: KdfParams) -> Result<SealedKey, CryptoError> {
    let mut salt = vec![0u8; 16];
    random_bytes(&mut salt)?;
    let mut nonce = [0u8; 12];
    random_bytes(&mut nonce)?;
    let kek = derive(password, &salt, kdf)?;
    let ct = super::seal(&kek, &nonce, id.address().as_bytes(), id.secret_bytes());
    let mut blob = Vec::with_capacity(SEALED_LEN);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ct);
    Ok(SealedKey { kdf, salt, blob })
}

/// Why a sealed key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    /// The tag did not verify: the password is wrong (or the blob was altered).
    #[error("wrong password")]
    WrongPassword,
    /// The stored data is malformed or decrypts to a key that does not match the address.
    #[error("the stored key is damaged: {0}")]
    Damaged(String),
}

/// Opens a sealed key with `password` and checks that it belongs to `address`.
pub fn unseal_identity(sealed: &SealedKey, address: &super::Address, password: &[u8]) -> Result<Identity, UnsealError> {
    sealed.check().map_err(UnsealError::Damaged)?;
    let kek = derive(password, &sealed.salt, sealed.kdf).map_err(|e| UnsealError::Damaged(e.to_string()))?;
    let nonce: [u8; 12] = sealed.blob[..12].try_into().expect("length checked");
    let clear =
        super::open(&kek, &nonce, address.as_bytes(), &sealed.blob[12..]).map_err(|_| UnsealError::WrongPassword)?;
    let clear = Zeroizing::new(clear);
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
        clear.as_slice().try_into().map_err(|_| UnsealError::Damaged("decrypted key has the wrong length".into()))?,
    );
    let id = Identity::from_secret_bytes(&bytes).map_err(|e| UnsealError::Damaged(e.to_string()))?;
    if id.address() != *address {
        return Err(UnsealError::Damaged("the decrypted key does not match the stored public key".into()));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_unseal_round_trips_and_wrong_password_fails() {
        let id = Identity::generate().unwrap();
        let sealed = seal_identity(&id, b"hunter2", KdfParams::INSECURE_FAST).unwrap();
        assert_eq!(sealed.blob.len(), SEALED_LEN);
        let back = unseal_identity(&sealed, &id.address(), b"hunter2").unwrap();
        assert_eq!(back.secret_bytes(), id.secret_bytes());
        assert!(matches!(unseal_identity(&sealed, &id.address(), b"hunter3"), Err(UnsealError::WrongPassword)));
        let mut short = sealed.clone();
        short.blob.truncate(20);
        assert!(matches!(unseal_identity(&short, &id.address(), b"hunter2"), Err(UnsealError::Damaged(_))));
    }
}
