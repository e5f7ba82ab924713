//! An account's secp256k1 key pair.

use secp256k1::{Keypair, PublicKey, SecretKey};
use zeroize::Zeroizing;

use super::{Address, CryptoError, Key32, hkdf32, random_bytes};

/// A secp256k1 key pair. The secret half is wiped from memory on drop and never printed.
pub struct Identity {
    secret: Zeroizing<[u8; 32]>,
    address: Address,
}

impl Identity {
    /// A new key pair from the operating system's RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            random_bytes(bytes.as_mut())?;
            // Fails only for 0 or >= the group order: probability about 2^-128.
            if let Ok(id) = Self::from_secret_bytes(&bytes) {
                return Ok(id);
            }
        }
    }

    /// The key pair of a 32-byte secret key.
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let mut sk = SecretKey::from_secret_bytes(*bytes).map_err(|_| CryptoError::BadSecretKey)?;
        let pk = PublicKey::from_secret_key(&sk);
        sk.non_secure_erase();
        Ok(Self { secret: Zeroizing::new(*bytes), address: Address::from_public_key(&pk) })
    }

    /// The public address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The raw secret key. Handle with care: never log or store it in clear.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    /// Runs `f` with a transient `secp256k1::SecretKey`, erased afterwards.
    pub fn with_secret_key<T>(&self, f: impl FnOnce(&SecretKey) -> T) -> T {
        let mut sk = SecretKey::from_secret_bytes(*self.secret).expect("validated on construction");
        let out = f(&sk);
        sk.non_secure_erase();
        out
    }

    /// A 32-byte key for one purpose, derived with HKDF-SHA-256 from the secret key.
    pub fn derive_key(&self, info: &str) -> Key32 {
        hkdf32(None, self.secret.as_ref(), info.as_bytes())
    }

    /// A BIP-340 Schnorr signature of `msg` (with fresh auxiliary randomness).
    pub fn sign_schnorr(&self, msg: &[u8]) -> Result<[u8; 64], CryptoError> {
        let mut aux = Zeroizing::new([0u8; 32]);
        random_bytes(aux.as_mut())?;
        Ok(self.sign_schnorr_with_aux(msg, &aux))
    }

    /// [`Self::sign_schnorr`] with given auxiliary randomness (for known-answer tests).
    pub fn sign_schnorr_with_aux(&self, msg: &[u8], aux: &[u8; 32]) -> [u8; 64] {
        self.with_secret_key(|sk| {
            let mut keypair = Keypair::from_secret_key(sk);
            let sig = secp256k1::schnorr::sign_with_aux_rand(msg, &keypair, aux);
            keypair.non_secure_erase();
            sig.to_byte_array()
        })
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("address", &self.address).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_keys_give_vector_addresses() {
        let sk: [u8; 32] = hex::decode("d68daec6904583b1f4baf148710a9a73e08d055ec2bdf21e779b1de92707822f")
            .unwrap()
            .try_into()
            .unwrap();
        let id = Identity::from_secret_bytes(&sk).unwrap();
        assert_eq!(id.address().to_hex(), "03d510f6e6dd5ee14a14a5f1cfc407d33363c38c4a02cfa322378476d2019c0e3b");
        assert!(!format!("{id:?}").contains("d68dae"));
    }

    #[test]
    fn schnorr_signatures_verify_with_the_address_only() {
        let a = Identity::generate().unwrap();
        let sig = a.sign_schnorr(b"bundle").unwrap();
        assert!(a.address().verify_schnorr(b"bundle", &sig));
        assert!(!a.address().verify_schnorr(b"bundle!", &sig));
        let b = Identity::generate().unwrap();
        assert!(!b.address().verify_schnorr(b"bundle", &sig));
        assert_eq!(a.sign_schnorr_with_aux(b"x", &[7; 32]), a.sign_schnorr_with_aux(b"x", &[7; 32]));
    }

    #[test]
    fn generated_keys_differ() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        assert_ne!(a.address(), b.address());
    }
}
