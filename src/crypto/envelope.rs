//! The envelope (PROTOCOL.md section 3): `head || from || body`, hiding the sender from the broker.
//!
//! ```text
//! es = ECDH(e, R); ss = ECDH(s, R)
//! k_from = HKDF(E || R, es, "wochat/v1/sender"); k_body = HKDF(E || R || S, es || ss, "wochat/v1/body")
//! head = 0x01 || E; from = SEAL(k_from, head, S); body = SEAL(k_body, head || from, P)
//! ```

use std::collections::HashMap;
use std::sync::RwLock;

use secp256k1::{PublicKey, SecretKey, ecdh};
use zeroize::Zeroizing;

use super::{Address, CryptoError, Identity, Key32, hkdf32, random_bytes};

const HEAD_LEN: usize = 34;
const FROM_LEN: usize = 33 + 16;
const TAG_LEN: usize = 16;
/// Smallest valid envelope: head, from, a 256-byte padded packet and its tag.
pub const MIN_ENVELOPE: usize = HEAD_LEN + FROM_LEN + 256 + TAG_LEN;
/// Largest accepted envelope.
pub const MAX_ENVELOPE: usize = 1024 * 1024;
/// Bytes an envelope adds to the padded packet.
pub const OVERHEAD: usize = HEAD_LEN + FROM_LEN + TAG_LEN;

/// Why an envelope was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Shorter than the minimum or longer than 1 MiB.
    #[error("bad size")]
    Size,
    /// First byte is not 0x01.
    #[error("unknown version")]
    Version,
    /// `E` or `S` is not a valid point.
    #[error("invalid point")]
    Point,
    /// The `from` tag failed.
    #[error("sender tag failed")]
    SenderTag,
    /// The body tag failed.
    #[error("body tag failed")]
    BodyTag,
    /// The RNG failed while sealing.
    #[error("random number generator failed")]
    Rng,
}

impl EnvelopeError {
    /// A short stable name for drop counters.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Size => "bad_size",
            Self::Version => "bad_version",
            Self::Point => "bad_point",
            Self::SenderTag => "bad_sender_tag",
            Self::BodyTag => "bad_body_tag",
            Self::Rng => "rng",
        }
    }
}

/// `ECDH(a, B)`: the x-coordinate of `a·B`.
pub(super) fn ecdh_x(point: &PublicKey, scalar: &SecretKey) -> Key32 {
    let mut xy = ecdh::shared_secret_point(point, scalar);
    let mut x = Zeroizing::new([0u8; 32]);
    x.copy_from_slice(&xy[..32]);
    zeroize::Zeroize::zeroize(&mut xy);
    x
}

/// Most peers whose static ECDH secret is kept.
pub const MAX_CACHED_STATICS: usize = 4096;

/// An identity with its per-peer static secrets `ECDH(s, peer)` cached (they never change),
/// at most [`MAX_CACHED_STATICS`] of them.
pub struct Keyring {
    identity: Identity,
    statics: RwLock<HashMap<Address, Key32>>,
}

impl Keyring {
    /// Wraps an identity.
    pub fn new(identity: Identity) -> Self {
        Self { identity, statics: RwLock::new(HashMap::new()) }
    }

    /// The identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The own address.
    pub fn address(&self) -> Address {
        self.identity.address()
    }

    /// `ECDH(s, peer)`, computed once per peer.
    pub fn static_secret(&self, peer: &Address) -> Key32 {
        if let Some(k) = self.statics.read().unwrap_or_else(|e| e.into_inner()).get(peer) {
            return k.clone();
        }
        let k = self.identity.with_secret_key(|s| ecdh_x(&peer.public_key(), s));
        let mut statics = self.statics.write().unwrap_or_else(|e| e.into_inner());
        // Filled before the envelope authenticates: anyone can add entries, so it is bounded
        // (emptied when full; a friend's key costs one ECDH to compute again).
        if statics.len() >= MAX_CACHED_STATICS {
            statics.clear();
        }
        statics.insert(*peer, k.clone());
        k
    }

    /// Seals a padded packet for `to` with a fresh ephemeral key.
    pub fn seal(&self, to: &Address, padded: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        loop {
            let mut e = Zeroizing::new([0u8; 32]);
            random_bytes(e.as_mut()).map_err(|_| EnvelopeError::Rng)?;
            match self.seal_with_ephemeral(to, padded, &e) {
                Err(CryptoError::BadSecretKey) => continue, // probability ~2^-128
                Err(_) => return Err(EnvelopeError::Rng),
                Ok(env) => return Ok(env),
            }
        }
    }

    /// Seals with a given ephemeral secret key (for known-answer tests).
    pub fn seal_with_ephemeral(&self, to: &Address, padded: &[u8], e: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
        let mut e_sk = SecretKey::from_secret_bytes(*e).map_err(|_| CryptoError::BadSecretKey)?;
        let e_pub = Address::from_public_key(&PublicKey::from_secret_key(&e_sk));
        let r = to.public_key();
        let es = ecdh_x(&r, &e_sk);
        e_sk.non_secure_erase();
        let ss = self.static_secret(to);
        let me = self.address();

        let mut head = Vec::with_capacity(HEAD_LEN + FROM_LEN);
        head.push(1);
        head.extend_from_slice(e_pub.as_bytes());
        let (k_from, k_body) = derive_keys(e_pub.as_bytes(), to.as_bytes(), me.as_bytes(), &es, &ss);

        let from = super::seal(&k_from, &[0; 12], &head, me.as_bytes());
        let mut out = Vec::with_capacity(OVERHEAD + padded.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&from);
        let body = super::seal(&k_body, &[0; 12], &out, padded);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens an envelope addressed to this identity: returns the sender and the padded packet.
    pub fn open(&self, env: &[u8]) -> Result<(Address, Vec<u8>), EnvelopeError> {
        if env.len() < MIN_ENVELOPE || env.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::Size);
        }
        if env[0] != 1 {
            return Err(EnvelopeError::Version);
        }
        let e_pub = Address::from_bytes(&env[1..HEAD_LEN]).map_err(|_| EnvelopeError::Point)?;
        let es = self.identity.with_secret_key(|r| ecdh_x(&e_pub.public_key(), r));
        let me = self.address();
        let k_from =
            hkdf32(Some(&[e_pub.as_bytes().as_slice(), me.as_bytes()].concat()), es.as_ref(), b"wochat/v1/sender");
        let head = &env[..HEAD_LEN];
        let from = &env[HEAD_LEN..HEAD_LEN + FROM_LEN];
        let sender = super::open(&k_from, &[0; 12], head, from).map_err(|_| EnvelopeError::SenderTag)?;
        let sender = Address::from_bytes(&sender).map_err(|_| EnvelopeError::Point)?;
        let ss = self.static_secret(&sender);
        let (_, k_body) = derive_keys(e_pub.as_bytes(), me.as_bytes(), sender.as_bytes(), &es, &ss);
        let split = HEAD_LEN + FROM_LEN;
        let padded =
            super::open(&k_body, &[0; 12], &env[..split], &env[split..]).map_err(|_| EnvelopeError::BodyTag)?;
        Ok((sender, padded))
    }
}

/// `(k_from, k_body)` for ephemeral `e`, recipient `r` and sender `s` public keys.
fn derive_keys(e: &[u8; 33], r: &[u8; 33], s: &[u8; 33], es: &Key32, ss: &Key32) -> (Key32, Key32) {
    let k_from = hkdf32(Some(&[e.as_slice(), r].concat()), es.as_ref(), b"wochat/v1/sender");
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(es.as_ref());
    ikm[32..].copy_from_slice(ss.as_ref());
    let k_body = hkdf32(Some(&[e.as_slice(), r, s].concat()), ikm.as_ref(), b"wochat/v1/body");
    (k_from, k_body)
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("address", &self.address()).finish_non_exhaustive()
    }
}
