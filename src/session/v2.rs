//! Protocol v2 (`docs/PROTOCOL.md`): Olm sessions through vodozemac, bound to the secp256k1
//! identity by signed key bundles, inside an outer envelope sealed to the recipient with an
//! ephemeral key. Peers never seen with a v2 bundle are spoken to in v1; a peer once seen with
//! v2 never again (its v1 envelopes are accepted only as the in-band bundle exchange).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Transaction;
use vodozemac::olm::{
    DecryptionError, OlmMessage, PreKeyMessage, Session, SessionConfig, SessionCreationError, SessionPickle,
};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};

use super::device::Device;
use super::live::LiveSessions;
use super::{
    Audience, Envelope, KeySource, KeysOutcome, OpenError, Opened, Published, SealError, Sessions, V1Sessions,
};
use crate::crypto::envelope::{EnvelopeError, Keyring};
use crate::crypto::outer::{open_outer, seal_outer};
use crate::crypto::{Address, Key32};
use crate::store::now_ms;
use crate::store::olm::{self, DeviceRow, SessionRow};
use crate::wire::{
    self, Body, CAP_BATCHES, DeviceId, DropReason, Inner, KeyBundle, MAX_BATCH, Packet, fallback_signing_input,
};

/// HKDF info of the key that encrypts Olm pickles at rest (inside SQLCipher already).
pub const PICKLE_KEY_INFO: &str = "wochat/v2/pickle";
/// How long a message to a peer of unknown keys waits for them before it goes in v1.
const FETCH_WAIT_MS: i64 = 3_000;
/// How often this account offers its bundle in band to a peer that lacks it.
const OFFER_EVERY_MS: i64 = 10 * 60_000;
/// How often a session reset is asked of a peer, and honoured for one.
const RESET_EVERY_MS: i64 = 60_000;
/// Sessions kept per peer.
const KEEP_SESSIONS: usize = 5;
/// Most bytes of Olm messages batched under one outer envelope (a file chunk goes alone).
const BATCH_BYTES: usize = 64 * 1024;

fn olm_config() -> SessionConfig {
    SessionConfig::version_1()
}

/// The key topic of a device: `<address>/keys/<device id in hex>`.
pub fn key_topic(owner: &Address, device: &DeviceId) -> String {
    format!("{owner}/keys/{}", hex::encode(device))
}

/// Most peers a memo map keeps: strangers can add entries, so a full map is emptied (what it
/// holds only saves a wait or an offer).
const MAX_MEMO_PEERS: usize = 4096;

fn bounded(map: &mut HashMap<Address, i64>) {
    if map.len() >= MAX_MEMO_PEERS {
        map.clear();
    }
}

/// What the scheme remembers between calls (not state that must survive a restart).
#[derive(Default)]
struct Memo {
    /// Peers whose keys are being fetched, since when (ms).
    fetching: HashMap<Address, i64>,
    /// When this account's bundle was last offered in band to a peer (ms).
    offered: HashMap<Address, i64>,
    /// This device's id, once read from a stored account.
    device: Option<DeviceId>,
    /// The signed bundle without one-time keys that travels in pre-key envelopes (it binds
    /// the device to the address), once made from a stored account.
    pre_key_bundle: Option<Vec<u8>>,
}

/// Protocol v2 over an account's keyring, with v1 for peers that do not speak it.
pub struct V2Sessions {
    v1: V1Sessions,
    keys: Arc<Keyring>,
    pickle_key: Key32,
    memo: Mutex<Memo>,
    live: Mutex<LiveSessions>,
}

impl std::fmt::Debug for V2Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2Sessions").field("address", &self.keys.address()).finish_non_exhaustive()
    }
}

fn session_error(e: impl std::fmt::Display) -> SealError {
    SealError::Session(e.to_string())
}

/// Splits a blob of 32-byte keys.
fn keys_of(blob: &[u8]) -> Vec<[u8; 32]> {
    blob.chunks_exact(32).filter_map(|c| c.try_into().ok()).collect()
}

impl V2Sessions {
    /// The v2 scheme of the keyring's identity.
    pub fn new(keys: Arc<Keyring>) -> Self {
        let pickle_key = keys.identity().derive_key(PICKLE_KEY_INFO);
        Self { v1: V1Sessions::new(keys.clone()), keys, pickle_key, memo: Mutex::default(), live: Mutex::default() }
    }

    fn memo(&self) -> MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self) -> MutexGuard<'_, LiveSessions> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn me(&self) -> Address {
        self.keys.address()
    }

    fn pickle(&self, s: &Session) -> String {
        s.pickle().encrypt(&self.pickle_key)
    }

    fn unpickle(&self, row: &SessionRow) -> Result<Session, SealError> {
        let p = SessionPickle::from_encrypted(&row.pickle, &self.pickle_key).map_err(session_error)?;
        Ok(Session::from_pickle(p))
    }

    fn device(&self, tx: &Transaction<'_>) -> Result<Device, SealError> {
        let (d, created) = Device::load_or_create(tx, &self.pickle_key)?;
        if !created {
            self.memo().device = Some(d.id());
        }
        Ok(d)
    }

    /// The bundle of pre-key envelopes, made once per run (from a stored account).
    fn pre_key_bundle(&self, tx: &Transaction<'_>) -> Result<Vec<u8>, SealError> {
        if let Some(b) = self.memo().pre_key_bundle.clone() {
            return Ok(b);
        }
        let (device, created) = Device::load_or_create(tx, &self.pickle_key)?;
        let b = device.bundle(self.keys.identity(), false)?;
        if !created {
            let mut memo = self.memo();
            memo.device = Some(device.id());
            memo.pre_key_bundle = Some(b.clone());
        }
        Ok(b)
    }

    /// This device's id without opening the account when it is known.
    fn device_id(&self, tx: &Transaction<'_>) -> Result<DeviceId, SealError> {
        if let Some(id) = self.memo().device {
            return Ok(id);
        }
        Ok(self.device(tx)?.id())
    }

    /// A v1 envelope carrying this account's bundle (a `K` packet) for `to`.
    fn offer(&self, tx: &Transaction<'_>, to: &Address, want: bool, reset: bool) -> Result<Envelope, SealError> {
        let bundle = self.device(tx)?.bundle(self.keys.identity(), true)?;
        let cbor = Packet::new(Body::Keys { bundle, want, reset }).encode();
        let mut memo = self.memo();
        bounded(&mut memo.offered);
        memo.offered.insert(*to, now_ms());
        drop(memo);
        let mut env = self.v1.seal(tx, Audience::Peer(to), &cbor, false)?;
        let env = env.pop().ok_or_else(|| session_error("no envelope"))?;
        Ok(Envelope { own: true, ..env })
    }

    /// Seals for one peer: v2 when its keys are known, else (after a short wait for them, if
    /// allowed) v1, preceded by an offer of this account's bundle.
    fn seal_for(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        cbor: &[u8],
        may_wait: bool,
    ) -> Result<Vec<Envelope>, SealError> {
        let devices = olm::devices(tx, to)?;
        if let Some(device) = devices.first() {
            return Ok(vec![self.seal_v2(tx, to, device, cbor)?]);
        }
        let now = now_ms();
        let (waited, offer) = {
            let mut memo = self.memo();
            bounded(&mut memo.fetching);
            let since = *memo.fetching.entry(*to).or_insert(now);
            let offer = memo.offered.get(to).is_none_or(|t| now - t >= OFFER_EVERY_MS);
            (now - since, offer)
        };
        if may_wait && waited < FETCH_WAIT_MS {
            return Err(SealError::KeysPending(*to));
        }
        let mut out = Vec::new();
        if offer {
            out.push(self.offer(tx, to, true, false)?);
        }
        out.extend(self.v1.seal(tx, Audience::Peer(to), cbor, false)?);
        Ok(out)
    }

    fn seal_v2(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        device: &DeviceRow,
        cbor: &[u8],
    ) -> Result<Envelope, SealError> {
        let (kind, mut messages) = self.encrypt(tx, to, device, &[cbor])?;
        let olm = messages.pop().ok_or_else(|| session_error("nothing encrypted"))?;
        self.envelope(tx, to, kind, olm, Vec::new())
    }

    /// Encrypts packets in order with the preferred session of `to` (started on `device` when
    /// there is none for it): the Olm message type (the same for all) and the messages.
    fn encrypt(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        device: &DeviceRow,
        packets: &[&[u8]],
    ) -> Result<(u8, Vec<Vec<u8>>), SealError> {
        let now = now_ms();
        let encrypt_all = |session: &mut Session| -> Result<(u8, Vec<Vec<u8>>), SealError> {
            let mut kind = 1;
            let mut out = Vec::with_capacity(packets.len());
            for cbor in packets {
                let (t, m) = session.encrypt(cbor).map_err(session_error)?.to_parts();
                kind = t as u8;
                out.push(m);
            }
            Ok((kind, out))
        };
        match olm::preferred_session(tx, to)?.filter(|s| s.ik == device.ik) {
            Some(row) => {
                let mut live = self.live();
                let out = encrypt_all(live.get(to, &row, |r| self.unpickle(r))?);
                // Even after an error part way: what was encrypted moved the ratchet.
                live.changed(to, &row.sid, now);
                out
            }
            None => {
                let (mut session, mut row) = self.start_session(tx, to, device)?;
                let out = encrypt_all(&mut session)?;
                row.pickle = self.pickle(&session);
                olm::save_session(tx, to, &row, false)?;
                self.live().insert(to, &row.sid, session, row.pickle);
                Ok(out)
            }
        }
    }

    /// The outer envelope for `to` of Olm messages of type `kind` (`olm`, then `more`).
    fn envelope(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        kind: u8,
        olm: Vec<u8>,
        more: Vec<Vec<u8>>,
    ) -> Result<Envelope, SealError> {
        let bundle = match kind {
            0 => Some(self.pre_key_bundle(tx)?),
            _ => None,
        };
        let inner = Inner { from: self.me(), device: self.device_id(tx)?, kind, olm, bundle, more };
        let payload = seal_outer(to, &wire::pad(&inner.encode()))?;
        Ok(Envelope { to: *to, payload, own: false })
    }

    /// Seals a batch for a peer whose device takes batches: as few envelopes as the bounds
    /// allow ([`MAX_BATCH`] messages, [`BATCH_BYTES`] of them), each under one outer key.
    fn seal_batched(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        device: &DeviceRow,
        packets: &[&[u8]],
    ) -> Result<Vec<(Vec<usize>, Envelope)>, SealError> {
        let (kind, messages) = self.encrypt(tx, to, device, packets)?;
        let mut out = Vec::new();
        let mut group: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut bytes = 0;
        let mut close = |group: &mut Vec<(usize, Vec<u8>)>| -> Result<(), SealError> {
            let carried: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
            let mut olm = group.drain(..).map(|(_, m)| m);
            let Some(first) = olm.next() else { return Ok(()) };
            out.push((carried, self.envelope(tx, to, kind, first, olm.collect())?));
            Ok(())
        };
        for (i, m) in messages.into_iter().enumerate() {
            if !group.is_empty() && (group.len() >= MAX_BATCH || bytes + m.len() > BATCH_BYTES) {
                close(&mut group)?;
                bytes = 0;
            }
            bytes += m.len();
            group.push((i, m));
        }
        close(&mut group)?;
        Ok(out)
    }

    /// A new outbound session with `device` of `peer` (preferred from now on), on one of its
    /// one-time keys, or on its fallback key when they are used up.
    fn start_session(
        &self,
        tx: &Transaction<'_>,
        peer: &Address,
        device: &DeviceRow,
    ) -> Result<(Session, SessionRow), SealError> {
        let mut otks = keys_of(&device.otk);
        let one_time_key = if otks.is_empty() {
            KeyBundle::open(&device.bundle).map_err(session_error)?.fallback_key
        } else {
            let mut r = [0u8; 8];
            crate::crypto::random_bytes(&mut r).map_err(session_error)?;
            otks.swap_remove((u64::from_le_bytes(r) % otks.len() as u64) as usize)
        };
        olm::save_device(tx, peer, &DeviceRow { otk: otks.concat(), ..device.clone() })?;
        let ik: [u8; 32] = device.ik.as_slice().try_into().map_err(session_error)?;
        let me = self.device(tx)?;
        let session = me
            .account
            .create_outbound_session(
                olm_config(),
                Curve25519PublicKey::from(ik),
                Curve25519PublicKey::from(one_time_key),
            )
            .map_err(session_error)?;
        let now = now_ms();
        let row = SessionRow {
            sid: session.session_id(),
            ik: device.ik.clone(),
            pickle: String::new(),
            mine: true,
            created: now,
            used: now,
            preferred: true,
        };
        Ok((session, row))
    }

    /// Stores the device of a verified bundle of `owner` (a newer bundle of a device replaces
    /// an older; a bundle without one-time keys keeps those known); `false` for this account's
    /// own bundle.
    fn learn(&self, tx: &Transaction<'_>, signed: &[u8], owner: &Address) -> Result<bool, OpenError> {
        if *owner == self.me() {
            return Ok(false);
        }
        let known = olm::devices(tx, owner)?;
        if known.iter().any(|d| d.bundle == signed) {
            // The very bundle already verified and stored (every pre-key message carries it).
            return Ok(true);
        }
        let Ok(b) = KeyBundle::open(signed) else { return Err(OpenError::Refused("bad_bundle")) };
        if b.address != *owner {
            return Err(OpenError::Refused("bad_bundle"));
        }
        let fallback_ok = Ed25519PublicKey::from_slice(&b.signing_key).is_ok_and(|k| {
            Ed25519Signature::from_slice(&b.fallback_signature)
                .is_ok_and(|sig| k.verify(&fallback_signing_input(&b.fallback_key), &sig).is_ok())
        });
        if !fallback_ok {
            return Err(OpenError::Refused("bad_bundle"));
        }
        let same = known.iter().find(|d| d.dev == b.device);
        if same.is_some_and(|d| d.ts > b.created as i64) {
            return Ok(true); // an older copy
        }
        let otk = match (b.one_time_keys.is_empty(), same) {
            (true, Some(d)) if d.ik == b.identity_key => d.otk.clone(),
            _ => b.one_time_keys.concat(),
        };
        let row = DeviceRow {
            dev: b.device.to_vec(),
            ik: b.identity_key.to_vec(),
            bundle: signed.to_vec(),
            otk,
            ts: b.created as i64,
            seen: now_ms(),
        };
        olm::save_device(tx, owner, &row)?;
        olm::forget_strangers(tx)?;
        self.memo().fetching.remove(owner);
        Ok(true)
    }

    /// The inner packet of a v2 envelope, its sender's bundle taken in.
    fn open_inner(&self, tx: &Transaction<'_>, envelope: &[u8]) -> Result<Inner, OpenError> {
        let padded = open_outer(self.keys.identity(), envelope).map_err(|e| OpenError::Drop(e.into()))?;
        let inner = Inner::decode(wire::unpad(&padded).map_err(|e| OpenError::Drop(e.into()))?)
            .map_err(|e| OpenError::Drop(e.into()))?;
        if inner.from == self.me() {
            return Err(OpenError::Refused("from_self"));
        }
        if let Some(b) = &inner.bundle {
            self.learn(tx, b, &inner.from)?;
        }
        Ok(inner)
    }

    /// Every Olm message of a v2 envelope, in order.
    fn open_v2(&self, tx: &Transaction<'_>, envelope: &[u8]) -> Vec<Result<Opened, OpenError>> {
        let mut inner = match self.open_inner(tx, envelope) {
            Ok(inner) => inner,
            Err(e) => return vec![Err(e)],
        };
        let from = inner.from;
        let kind = usize::from(inner.kind);
        let first = std::mem::take(&mut inner.olm);
        // The sender's preferred session, read once for all the messages of the envelope.
        let mut preferred = None;
        std::iter::once(first)
            .chain(inner.more)
            .map(|olm| {
                let message = OlmMessage::from_parts(kind, &olm).map_err(|_| OpenError::Refused("bad_olm"))?;
                let plaintext = match &message {
                    OlmMessage::PreKey(pre) => {
                        // It may start a session (and change which one is preferred).
                        preferred = None;
                        self.open_pre_key(tx, &from, pre, &message)?
                    }
                    OlmMessage::Normal(_) => self.open_normal(tx, &from, &message, &mut preferred)?,
                };
                let packet = Packet::decode(&plaintext).map_err(|e| OpenError::Drop(e.into()))?;
                Ok(Opened { from, cbor: plaintext, packet, version: 2 })
            })
            .collect()
    }

    /// Decrypts with the first session of `from` that can (the preferred one tried first, on
    /// its own); saves it. A session whose key for this message is used up already has opened
    /// it before: a copy (a broker's redelivery, a replay), not a broken session.
    /// `preferred`: the preferred session's row once read (`Some`), kept for the next message
    /// of the same envelope (a row changes only when the transaction writes the sessions back).
    fn try_sessions(
        &self,
        tx: &Transaction<'_>,
        from: &Address,
        message: &OlmMessage,
        only: Option<&str>,
        preferred: &mut Option<Option<SessionRow>>,
    ) -> Result<Tried, OpenError> {
        let try_one = |row: &SessionRow| -> Result<Tried, OpenError> {
            if only.is_some_and(|sid| sid != row.sid) {
                return Ok(Tried::Nothing);
            }
            let mut live = self.live();
            let Ok(session) = live.get(from, row, |r| self.unpickle(r)) else { return Ok(Tried::Nothing) };
            let plaintext = match session.decrypt(message) {
                Ok(p) => p,
                Err(DecryptionError::MissingMessageKey(_)) => return Ok(Tried::Copy),
                Err(_) => return Ok(Tried::Nothing),
            };
            live.changed(from, &row.sid, now_ms());
            Ok(Tried::Opened(plaintext))
        };
        let mut copy = false;
        if preferred.is_none() {
            *preferred = Some(olm::preferred_session(tx, from)?);
        }
        if let Some(row) = preferred.as_ref().and_then(|p| p.as_ref()) {
            match try_one(row)? {
                Tried::Opened(p) => return Ok(Tried::Opened(p)),
                Tried::Copy => copy = true,
                Tried::Nothing => {}
            }
        }
        for row in olm::sessions(tx, from)?.iter().filter(|s| !s.preferred) {
            match try_one(row)? {
                Tried::Opened(p) => return Ok(Tried::Opened(p)),
                Tried::Copy => copy = true,
                Tried::Nothing => {}
            }
        }
        Ok(if copy { Tried::Copy } else { Tried::Nothing })
    }

    fn open_normal(
        &self,
        tx: &Transaction<'_>,
        from: &Address,
        message: &OlmMessage,
        preferred: &mut Option<Option<SessionRow>>,
    ) -> Result<Vec<u8>, OpenError> {
        match self.try_sessions(tx, from, message, None, preferred)? {
            Tried::Opened(p) => Ok(p),
            Tried::Copy => Err(OpenError::Refused("duplicate")),
            Tried::Nothing => Err(self.broken(tx, from)?),
        }
    }

    fn open_pre_key(
        &self,
        tx: &Transaction<'_>,
        from: &Address,
        pre: &PreKeyMessage,
        message: &OlmMessage,
    ) -> Result<Vec<u8>, OpenError> {
        let ik = pre.identity_key().to_bytes();
        if !olm::devices(tx, from)?.iter().any(|d| d.ik == ik) {
            return Err(OpenError::Refused("unknown_key"));
        }
        match self.try_sessions(tx, from, message, Some(&pre.session_id()), &mut None)? {
            Tried::Opened(p) => return Ok(p),
            Tried::Copy => return Err(OpenError::Refused("duplicate")),
            Tried::Nothing => {}
        }
        let mut device = self.device(tx).map_err(|_| OpenError::Refused("no_account"))?;
        let used_key = pre.one_time_key().to_bytes();
        let created = match device.account.create_inbound_session(olm_config(), pre.identity_key(), pre) {
            Ok(c) => c,
            // The key it was made with is gone (used by someone else, or this account was
            // restored from an older copy): the sender must start again.
            Err(SessionCreationError::MissingOneTimeKey(_)) => return Err(self.broken(tx, from)?),
            Err(_) => return Err(OpenError::Refused("bad_pre_key")),
        };
        if device.fallback_key() == Some(used_key) {
            device.rotate_fallback();
            self.memo().pre_key_bundle = None;
        }
        device.top_up();
        device.save(tx, &self.pickle_key).map_err(seal_to_open)?;
        let now = now_ms();
        let preferred = self.inbound_preferred(tx, from)?;
        let row = SessionRow {
            sid: created.session.session_id(),
            ik: ik.to_vec(),
            pickle: self.pickle(&created.session),
            mine: false,
            created: now,
            used: now,
            preferred,
        };
        olm::save_session(tx, from, &row, false)?;
        self.live().insert(from, &row.sid, created.session, row.pickle);
        olm::prune_sessions(tx, from, KEEP_SESSIONS)?;
        olm::forget_strangers(tx)?;
        Ok(created.plaintext)
    }

    /// Whether a session `from` just started should be the one this account sends on. Both
    /// sides starting at once (each with a session that has not heard back): the session of the
    /// lower address wins, on both sides. Otherwise the newest session wins (a reset, a new
    /// device of the peer).
    fn inbound_preferred(&self, tx: &Transaction<'_>, from: &Address) -> Result<bool, OpenError> {
        let sessions = olm::sessions(tx, from)?;
        let Some(pref) = sessions.iter().find(|s| s.preferred) else { return Ok(true) };
        if !pref.mine {
            return Ok(true);
        }
        let heard_back = self.live().get(from, pref, |r| self.unpickle(r)).map_or(true, |s| s.has_received_message());
        Ok(heard_back || self.me() > *from)
    }

    /// A message no session decrypts: ask the peer (at most once a minute) to start a new
    /// session and send again what this account has not confirmed.
    fn broken(&self, tx: &Transaction<'_>, from: &Address) -> Result<OpenError, OpenError> {
        let now = now_ms();
        let (asked, honoured) = olm::reset_times(tx, from)?;
        let mut replies = Vec::new();
        if now - asked >= RESET_EVERY_MS {
            olm::set_reset_times(tx, from, now, honoured)?;
            replies.push(self.offer(tx, from, true, true).map_err(seal_to_open)?);
        }
        Ok(OpenError::Broken { from: *from, replies })
    }
}

/// What trying the sessions of a peer gave.
enum Tried {
    /// A session decrypted it.
    Opened(Vec<u8>),
    /// A session had opened it before (its key is used up).
    Copy,
    /// No session could.
    Nothing,
}

fn seal_to_open(e: SealError) -> OpenError {
    match e {
        SealError::Store(s) => OpenError::Store(s),
        _ => OpenError::Refused("session_state"),
    }
}

impl Sessions for V2Sessions {
    fn seal(
        &self,
        tx: &Transaction<'_>,
        to: Audience<'_>,
        cbor: &[u8],
        may_wait: bool,
    ) -> Result<Vec<Envelope>, SealError> {
        match to {
            Audience::Peer(p) => self.seal_for(tx, p, cbor, may_wait),
            Audience::Members(members) => {
                let mut out = Vec::new();
                for m in members {
                    out.extend(self.seal_for(tx, m, cbor, false)?);
                }
                Ok(out)
            }
        }
    }

    fn seal_batch(
        &self,
        tx: &Transaction<'_>,
        to: &Address,
        packets: &[&[u8]],
        may_wait: bool,
    ) -> Result<Vec<(Vec<usize>, Envelope)>, SealError> {
        if packets.len() > 1
            && let Some(device) = olm::devices(tx, to)?.first()
            && KeyBundle::stored_caps(&device.bundle) & CAP_BATCHES != 0
        {
            return self.seal_batched(tx, to, device, packets);
        }
        super::one_by_one(packets, |cbor| self.seal_for(tx, to, cbor, may_wait))
    }

    fn open(&self, tx: &Transaction<'_>, envelope: &[u8]) -> Vec<Result<Opened, OpenError>> {
        if envelope.first() == Some(&crate::crypto::outer::VERSION) {
            return self.open_v2(tx, envelope);
        }
        let opened = self.v1.open_one(envelope).and_then(|o| {
            // A peer seen speaking v2 is heard in v1 only for the bundle exchange: whoever
            // deleted its published bundle cannot make this account fall back to v1.
            if !matches!(o.packet.body, Body::Keys { .. }) && olm::speaks_v2(tx, &o.from)? {
                return Err(OpenError::Refused("downgrade"));
            }
            Ok(o)
        });
        vec![opened]
    }

    fn on_keys(&self, tx: &Transaction<'_>, source: KeySource, signed: &[u8]) -> Result<KeysOutcome, OpenError> {
        let owner = match source {
            KeySource::InBand { from, .. } => from,
            KeySource::Published { owner } => owner,
        };
        if !self.learn(tx, signed, &owner)? {
            return Ok(KeysOutcome::default());
        }
        let mut out = KeysOutcome { learned: Some(owner), ..Default::default() };
        let KeySource::InBand { from, want, reset } = source else { return Ok(out) };
        let now = now_ms();
        let offered_lately = self.memo().offered.get(&from).is_some_and(|t| now - t < 10_000);
        if want && !offered_lately {
            out.replies.push(self.offer(tx, &from, false, false).map_err(seal_to_open)?);
        }
        let (asked, honoured) = olm::reset_times(tx, &from)?;
        if reset && now - honoured >= RESET_EVERY_MS {
            olm::set_reset_times(tx, &from, asked, now)?;
            let device = olm::devices(tx, &from)?.into_iter().next().ok_or(OpenError::Refused("bad_bundle"))?;
            let (session, mut row) = self.start_session(tx, &from, &device).map_err(seal_to_open)?;
            row.pickle = self.pickle(&session);
            olm::save_session(tx, &from, &row, false)?;
            olm::prune_sessions(tx, &from, KEEP_SESSIONS)?;
            out.resend_to = Some(from);
        }
        Ok(out)
    }

    fn own_keys(&self, tx: &Transaction<'_>, force: bool) -> Result<Option<Published>, SealError> {
        let mut device = self.device(tx)?;
        let changed = device.top_up();
        if !force && !changed && device.published != 0 {
            return Ok(None);
        }
        device.published = now_ms();
        device.save(tx, &self.pickle_key)?;
        let payload = device.bundle(self.keys.identity(), true)?;
        Ok(Some(Published { topic: key_topic(&self.me(), &device.id()), payload }))
    }

    fn key_filter(&self, peer: &Address) -> Option<String> {
        Some(format!("{peer}/keys/+"))
    }

    fn key_topic_owner(&self, topic: &str) -> Option<Address> {
        let (owner, rest) = topic.split_once("/keys/")?;
        (rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
        owner.parse().ok()
    }

    fn flush(&self, tx: &Transaction<'_>) -> Result<(), SealError> {
        Ok(self.live().flush(tx, |s| self.pickle(s))?)
    }

    fn rolled_back(&self) {
        self.live().forget();
    }

    fn begin_part(&self) {
        self.live().begin_part();
    }

    fn end_part(&self, kept: bool) {
        self.live().end_part(kept);
    }
}

impl From<EnvelopeError> for OpenError {
    fn from(e: EnvelopeError) -> Self {
        OpenError::Drop(DropReason::Envelope(e))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::store::migrations::{CHAT_DB, migrate};
    use crate::testkit::identity_of;
    use crate::wire::Body;

    /// An account's scheme over its own chat.db (on disk, so that a "restart" reads it again).
    struct Side {
        name: &'static str,
        sessions: V2Sessions,
        db: Connection,
        _dir: tempfile::TempDir,
    }

    impl Side {
        fn new(name: &'static str, friend: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let mut db = Connection::open(dir.path().join("chat.db")).unwrap();
            migrate(&mut db, CHAT_DB).unwrap();
            db.execute(
                "INSERT INTO friend (dt, pk, name) VALUES (0, ?1, 'friend')",
                [identity_of(friend).address().to_hex()],
            )
            .unwrap();
            Side { name, sessions: Self::scheme(name), db, _dir: dir }
        }

        fn scheme(name: &str) -> V2Sessions {
            V2Sessions::new(Arc::new(crate::crypto::envelope::Keyring::new(identity_of(name))))
        }

        /// A restart: nothing kept in memory.
        fn restart(&mut self) {
            self.sessions = Self::scheme(self.name);
        }

        /// Runs `f` in a transaction that commits (`keep`) or rolls back.
        fn tx<T>(&mut self, keep: bool, f: impl FnOnce(&V2Sessions, &Transaction<'_>) -> T) -> T {
            let tx = self.db.transaction().unwrap();
            let out = f(&self.sessions, &tx);
            if keep {
                self.sessions.flush(&tx).unwrap();
                tx.commit().unwrap();
            } else {
                drop(tx);
                self.sessions.rolled_back();
            }
            out
        }

        fn seal(&mut self, to: &str, text: &str, keep: bool) -> Vec<u8> {
            let to = identity_of(to).address();
            let cbor = Packet::new(Body::Text { text: text.into() }).encode();
            let mut env = self.tx(keep, |s, tx| s.seal(tx, Audience::Peer(&to), &cbor, false).unwrap());
            assert_eq!(env.len(), 1, "one v2 envelope");
            env.pop().unwrap().payload
        }

        /// Opens `env` in a transaction, inside a part kept or rolled back (`keep`).
        fn open(&mut self, env: &[u8], keep: bool) -> Result<String, OpenError> {
            self.tx(true, |s, tx| {
                tx.execute_batch("SAVEPOINT delivery").unwrap();
                s.begin_part();
                let r = s.open(tx, env).into_iter().next().unwrap();
                s.end_part(keep);
                let end = if keep { "RELEASE delivery" } else { "ROLLBACK TO delivery; RELEASE delivery" };
                tx.execute_batch(end).unwrap();
                r.map(|o| match o.packet.body {
                    Body::Text { text } => text,
                    other => panic!("{other:?}"),
                })
            })
        }
    }

    impl Side {
        /// Seals texts for `to` as one batch: the envelopes with the indexes each carries.
        fn seal_texts(&mut self, to: &str, texts: &[String]) -> Vec<(Vec<usize>, Vec<u8>)> {
            let to = identity_of(to).address();
            let cbors: Vec<Vec<u8>> =
                texts.iter().map(|t| Packet::new(Body::Text { text: t.clone() }).encode()).collect();
            let packets: Vec<&[u8]> = cbors.iter().map(|c| &c[..]).collect();
            let out = self.tx(true, |s, tx| s.seal_batch(tx, &to, &packets, false).unwrap());
            out.into_iter().map(|(carried, env)| (carried, env.payload)).collect()
        }

        /// Every packet of `env`: its text, or why not.
        fn open_all(&mut self, env: &[u8]) -> Vec<Result<String, OpenError>> {
            self.tx(true, |s, tx| {
                s.open(tx, env)
                    .into_iter()
                    .map(|r| {
                        r.map(|o| match o.packet.body {
                            Body::Text { text } => text,
                            other => panic!("{other:?}"),
                        })
                    })
                    .collect()
            })
        }
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("message {i}")).collect()
    }

    /// Alice and Bob, friends, Alice with Bob's published keys.
    fn pair() -> (Side, Side) {
        let (mut alice, mut bob) = (Side::new("alice", "bob"), Side::new("bob", "alice"));
        let published = bob.tx(true, |s, tx| s.own_keys(tx, true).unwrap().unwrap());
        let owner = identity_of("bob").address();
        alice.tx(true, |s, tx| s.on_keys(tx, KeySource::Published { owner }, &published.payload).unwrap());
        (alice, bob)
    }

    #[test]
    fn what_a_rolled_back_transaction_sealed_is_forgotten_and_a_restart_goes_on_from_the_store() {
        let (mut alice, mut bob) = pair();
        assert_eq!(bob.open(&alice.seal("bob", "one", true), true).unwrap(), "one");
        // Sealed in a transaction that rolled back: never published, the ratchet not moved.
        let lost = alice.seal("bob", "never sent", false);
        let two = alice.seal("bob", "two", true);
        assert_eq!(bob.open(&two, true).unwrap(), "two");
        // Both restart: the state written back with each commit is where they go on from.
        alice.restart();
        bob.restart();
        let three = alice.seal("bob", "three", true);
        assert_eq!(bob.open(&three, true).unwrap(), "three");
        assert_eq!(alice.open(&bob.seal("alice", "back", true), true).unwrap(), "back");
        bob.restart();
        assert_eq!(bob.open(&alice.seal("bob", "four", true), true).unwrap(), "four");
        // The envelope of the rolled-back seal reuses the key of "two": a copy, never "two" again.
        assert!(matches!(bob.open(&lost, true), Err(OpenError::Refused("duplicate"))));
    }

    #[test]
    fn a_batch_travels_in_as_few_envelopes_as_the_bounds_allow_and_opens_in_order() {
        let (mut alice, mut bob) = pair();
        // The first contact: pre-key messages, the session made by the first of them.
        let sent = texts(100);
        let envelopes = alice.seal_texts("bob", &sent);
        let carried: Vec<Vec<usize>> = envelopes.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(carried, [(0..MAX_BATCH).collect::<Vec<_>>(), (MAX_BATCH..100).collect()]);
        let mut got = Vec::new();
        for (_, env) in &envelopes {
            got.extend(bob.open_all(env).into_iter().map(Result::unwrap));
        }
        assert_eq!(got, sent);
        // A copy of a whole batch: every message in it a duplicate.
        for r in bob.open_all(&envelopes[1].1) {
            assert!(matches!(r, Err(OpenError::Refused("duplicate"))), "{r:?}");
        }
        // The other way, normal messages now; one alone goes as before.
        let back = bob.seal_texts("alice", &texts(3));
        assert_eq!(back.len(), 1);
        assert_eq!(alice.open_all(&back[0].1).into_iter().map(Result::unwrap).collect::<Vec<_>>(), texts(3));
        let one = alice.seal_texts("bob", &texts(1));
        assert_eq!((one.len(), &one[0].0), (1, &vec![0]));
        assert_eq!(bob.open_all(&one[0].1).len(), 1);
    }

    #[test]
    fn a_peer_whose_bundle_does_not_take_batches_gets_one_envelope_per_packet() {
        let (mut alice, mut bob) = pair();
        let owner = identity_of("bob").address();
        // Bob's bundle as a client before batches would sign it: without "caps".
        alice.tx(true, |_, tx| {
            let mut device = olm::devices(tx, &owner).unwrap().remove(0);
            let old = KeyBundle { caps: 0, ..KeyBundle::open(&device.bundle).unwrap() };
            device.bundle = old.sign(&identity_of("bob")).unwrap();
            olm::save_device(tx, &owner, &device).unwrap();
        });
        let envelopes = alice.seal_texts("bob", &texts(5));
        assert_eq!(envelopes.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(), [[0], [1], [2], [3], [4]]);
        for (i, (_, env)) in envelopes.iter().enumerate() {
            assert_eq!(bob.open_all(env).into_iter().map(Result::unwrap).collect::<Vec<_>>(), [format!("message {i}")]);
        }
    }

    #[test]
    fn a_delivery_rolled_back_alone_opens_again_and_a_copy_is_a_duplicate() {
        let (mut alice, mut bob) = pair();
        let first = alice.seal("bob", "first", true);
        let burst: Vec<Vec<u8>> = (0..5).map(|i| alice.seal("bob", &format!("m{i}"), true)).collect();
        assert_eq!(bob.open(&first, true).unwrap(), "first");
        // Opened, then its part rolled back (the message could not be stored): not used up.
        assert_eq!(bob.open(&burst[0], false).unwrap(), "m0");
        assert_eq!(bob.open(&burst[0], true).unwrap(), "m0");
        assert!(matches!(bob.open(&burst[0], true), Err(OpenError::Refused("duplicate"))));
        // Several in one transaction, one part of them rolled back, then a restart.
        bob.tx(true, |s, tx| {
            for (i, env) in burst[1..].iter().enumerate() {
                tx.execute_batch("SAVEPOINT delivery").unwrap();
                s.begin_part();
                s.open(tx, env).pop().unwrap().unwrap();
                let keep = i != 1;
                s.end_part(keep);
                tx.execute_batch(if keep { "RELEASE delivery" } else { "ROLLBACK TO delivery; RELEASE delivery" })
                    .unwrap();
            }
        });
        bob.restart();
        assert_eq!(bob.open(&burst[2], true).unwrap(), "m2", "rolled back, so still to open");
        for env in [&burst[1], &burst[3], &burst[4]] {
            assert!(matches!(bob.open(env, true), Err(OpenError::Refused("duplicate"))));
        }
        assert_eq!(alice.open(&bob.seal("alice", "all here", true), true).unwrap(), "all here");
    }
}
