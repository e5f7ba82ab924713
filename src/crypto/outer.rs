//! The protocol v2 outer envelope (`docs/PROTOCOL.md`, section v2.3): a padded inner packet
//! sealed to the recipient's address with an ephemeral key only. The sender is not in it
//! (the Olm message inside authenticates the sender); the broker learns only the recipient.
//!
//! ```text
//! head = 0x02 || E;  k = HKDF(E || R, ECDH(e, R), "wochat/v2/outer");  body = SEAL(k, head, P)
//! envelope = head || body
//! ```

use secp256k1::{PublicKey, SecretKey};
use zeroize::Zeroizing;

use super::envelope::{EnvelopeError, MAX_ENVELOPE, ecdh_x};
use super::{Address, Identity, hkdf32, random_bytes};

/// The first byte of a v2 envelope.
pub const VERSION: u8 = 2;
const HEAD_LEN: usize = 34;
const TAG_LEN: usize = 16;
/// Smallest valid v2 envelope: head, a 256-byte padded packet and its tag.
pub const MIN_OUTER: usize = HEAD_LEN + 256 + TAG_LEN;
/// Bytes the outer envelope adds to the padded packet.
pub const OUTER_OVERHEAD: usize = HEAD_LEN + TAG_LEN;

fn key(e: &[u8; 33], r: &[u8; 33], es: &[u8; 32]) -> super::Key32 {
    hkdf32(Some(&[e.as_slice(), r].concat()), es, b"wochat/v2/outer")
}

/// Seals a padded packet for `to` with a fresh ephemeral key.
pub fn seal_outer(to: &Address, padded: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    loop {
        let mut e = Zeroizing::new([0u8; 32]);
        random_bytes(e.as_mut()).map_err(|_| EnvelopeError::Rng)?;
        if let Some(env) = seal_outer_with_ephemeral(to, padded, &e) {
            return Ok(env);
        }
    }
}

/// Seals with a given ephemeral secret key (for known-answer tests); `None` if it is not a
/// valid secret key.
pub fn seal_outer_with_ephemeral(to: &Address, padded: &[u8], e: &[u8; 32]) -> Option<Vec<u8>> {
    let mut e_sk = SecretKey::from_secret_bytes(*e).ok()?;
    let e_pub = Address::from_public_key(&PublicKey::from_secret_key(&e_sk));
    let es = ecdh_x(&to.public_key(), &e_sk);
    e_sk.non_secure_erase();
    let k = key(e_pub.as_bytes(), to.as_bytes(), &es);
    let mut out = Vec::with_capacity(OUTER_OVERHEAD + padded.len());
    out.push(VERSION);
    out.extend_from_slice(e_pub.as_bytes());
    let body = super::seal(&k, &[0; 12], &out, padded);
    out.extend_from_slice(&body);
    Some(out)
}

/// Opens a v2 envelope addressed to `me`: the padded packet.
pub fn open_outer(me: &Identity, env: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    if env.len() < MIN_OUTER || env.len() > MAX_ENVELOPE {
        return Err(EnvelopeError::Size);
    }
    if env[0] != VERSION {
        return Err(EnvelopeError::Version);
    }
    let e_pub = Address::from_bytes(&env[1..HEAD_LEN]).map_err(|_| EnvelopeError::Point)?;
    let es = me.with_secret_key(|r| ecdh_x(&e_pub.public_key(), r));
    let k = key(e_pub.as_bytes(), me.address().as_bytes(), &es);
    super::open(&k, &[0; 12], &env[..HEAD_LEN], &env[HEAD_LEN..]).map_err(|_| EnvelopeError::BodyTag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens_and_tampering_is_detected() {
        let bob = Identity::generate().unwrap();
        let eve = Identity::generate().unwrap();
        let padded = vec![0x5a; 256];
        let env = seal_outer(&bob.address(), &padded).unwrap();
        assert_eq!(env.len(), padded.len() + OUTER_OVERHEAD);
        assert_eq!(open_outer(&bob, &env).unwrap(), padded);
        assert_eq!(open_outer(&eve, &env), Err(EnvelopeError::BodyTag));
        let mut bad = env.clone();
        bad[100] ^= 1;
        assert_eq!(open_outer(&bob, &bad), Err(EnvelopeError::BodyTag));
        let mut v1 = env.clone();
        v1[0] = 1;
        assert_eq!(open_outer(&bob, &v1), Err(EnvelopeError::Version));
        assert_eq!(open_outer(&bob, &env[..200]), Err(EnvelopeError::Size));
        // Two seals of the same packet differ (fresh ephemeral keys).
        assert_ne!(seal_outer(&bob.address(), &padded).unwrap(), env);
    }
}
