//! This account's Olm account (its device): made on first use, kept in `olm_account` as a
//! vodozemac pickle encrypted under a key derived from the secret key, and published as a
//! signed key bundle.

use vodozemac::olm::{Account, AccountPickle};

use super::SealError;
use crate::crypto::{Identity, Key32};
use crate::store::now_ms;
use crate::store::olm::{self, AccountRow};
use crate::wire::{CAP_BATCHES, DeviceId, KeyBundle, device_id, fallback_signing_input};

/// One-time keys kept published; below the low mark they are topped up.
const OTK_TARGET: usize = 50;
const OTK_LOW: usize = 25;

/// This account's Olm account with its bookkeeping.
pub(super) struct Device {
    pub(super) account: Account,
    /// When its bundle was last published (ms; 0: publish again).
    pub(super) published: i64,
    created: i64,
}

impl Device {
    /// The stored account; `None` before the first.
    pub(super) fn load(tx: &rusqlite::Transaction<'_>, key: &Key32) -> Result<Option<Self>, SealError> {
        let Some(row) = olm::account(tx)? else { return Ok(None) };
        let pickle = AccountPickle::from_encrypted(&row.pickle, key)
            .map_err(|e| SealError::Session(format!("the stored Olm account does not open: {e}")))?;
        Ok(Some(Self { account: Account::from_pickle(pickle), published: row.published, created: row.created }))
    }

    /// The stored account, or a new one (with one-time and fallback keys, saved); `true` when new.
    pub(super) fn load_or_create(tx: &rusqlite::Transaction<'_>, key: &Key32) -> Result<(Self, bool), SealError> {
        if let Some(d) = Self::load(tx, key)? {
            return Ok((d, false));
        }
        let mut d = Self { account: Account::new(), published: 0, created: now_ms() };
        d.top_up();
        d.save(tx, key)?;
        Ok((d, true))
    }

    /// Writes the account.
    pub(super) fn save(&self, tx: &rusqlite::Transaction<'_>, key: &Key32) -> Result<(), SealError> {
        let pickle = self.account.pickle().encrypt(key);
        olm::save_account(tx, &AccountRow { pickle, published: self.published, created: self.created })?;
        Ok(())
    }

    /// The device id.
    pub(super) fn id(&self) -> DeviceId {
        device_id(self.account.ed25519_key().as_bytes())
    }

    /// Makes one-time keys up to the target when below the low mark, and a fallback key if
    /// there is none; `true` if anything changed (the bundle must be published again).
    pub(super) fn top_up(&mut self) -> bool {
        let mut changed = false;
        let have = self.account.one_time_keys().len();
        if have < OTK_LOW {
            self.account.generate_one_time_keys(OTK_TARGET - have);
            changed = true;
        }
        if self.account.fallback_key().is_empty() {
            self.account.generate_fallback_key();
            changed = true;
        }
        if changed {
            self.published = 0;
        }
        changed
    }

    /// A new fallback key after the current one started a session (the previous one is kept
    /// until the next rotation, for sessions under way).
    pub(super) fn rotate_fallback(&mut self) {
        self.account.generate_fallback_key();
        self.published = 0;
    }

    /// The current fallback key.
    pub(super) fn fallback_key(&self) -> Option<[u8; 32]> {
        self.account.fallback_key().values().next().map(|k| k.to_bytes())
    }

    /// The signed key bundle; without one-time keys when `with_one_time_keys` is false (the
    /// copy that travels in pre-key envelopes only binds the device to the address).
    pub(super) fn bundle(&self, identity: &Identity, with_one_time_keys: bool) -> Result<Vec<u8>, SealError> {
        let fallback_key = self.fallback_key().ok_or_else(|| SealError::Session("no fallback key".into()))?;
        let fallback_signature = self.account.sign(fallback_signing_input(&fallback_key)).to_bytes();
        let mut one_time_keys: Vec<[u8; 32]> = if with_one_time_keys {
            self.account.one_time_keys().values().map(|k| k.to_bytes()).collect()
        } else {
            Vec::new()
        };
        one_time_keys.sort();
        let b = KeyBundle {
            address: identity.address(),
            device: self.id(),
            created: now_ms().max(0) as u64,
            identity_key: self.account.curve25519_key().to_bytes(),
            signing_key: *self.account.ed25519_key().as_bytes(),
            fallback_key,
            fallback_signature,
            one_time_keys,
            caps: CAP_BATCHES,
        };
        b.sign(identity).map_err(|e| SealError::Session(e.to_string()))
    }
}
