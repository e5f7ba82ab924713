//! One batch of deliveries in one store transaction: envelopes are opened by the session layer
//! inside it (its state is saved with what it opened), key bundles learned, messages stored
//! once by hash, receipts and PUBACKs applied, and the receipts to send sealed. Nothing leaves
//! before it commits.

use std::collections::HashMap;

use rusqlite::Transaction;

use super::Engine;
use super::sealing::Sealed;
use crate::app::transfers::{MediaLimits, register_incoming};
use crate::app::{ClientError, Event};
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::session::{KeySource, OpenError, Opened, Sessions};
use crate::store::now_ms;
use crate::store::{self, ChatId, FriendStatus, MessageStatus, NewAction, NewMessage, Transfer, TransferState};
use crate::transport::TransportEvent;
use crate::wire::{AttachKind, Body, MessageHash, Packet};

/// Most hashes in one receipt packet.
const MAX_ACKS_PER_RECEIPT: usize = 1000;

/// A chunk that arrived: sender, file, index, bytes, proof.
type ChunkIn = (Address, ObjectId, u64, Vec<u8>, Vec<[u8; 32]>);

/// What a batch did.
#[derive(Default)]
struct Received {
    /// Messages stored for the first time.
    stored: Vec<(ChatId, MessageHash)>,
    /// Own messages whose status changed.
    status: Vec<(MessageHash, MessageStatus)>,
    /// Transfers of attachment messages (new or known).
    incoming: Vec<(Transfer, ChatId, AttachKind)>,
    /// Receipts that arrived, by sender.
    confirmed: Vec<(Address, Vec<MessageHash>)>,
    /// File chunks with their proofs, to write after the commit.
    chunks: Vec<ChunkIn>,
    /// Requests for missing chunks.
    needs: Vec<(Address, ObjectId, Vec<u64>)>,
    /// Deliveries dropped, by reason.
    drops: Vec<&'static str>,
    /// Peers whose keys became known (what waited for them can go).
    learned: Vec<Address>,
    /// Peers with a new session after a reset: what they have not confirmed goes again.
    resend: Vec<Address>,
    /// Messages edited, deleted, reacted to or read: read them again.
    changed: Vec<(ChatId, MessageHash)>,
    /// Files of messages deleted for everyone that no message refers to any more.
    orphans: Vec<(ObjectId, Vec<Address>)>,
    /// Peers typing (or stopping).
    typing: Vec<(Address, bool)>,
    /// Stranger messages dropped to keep requests within their limits.
    requests_dropped: u64,
    /// Deliveries that failed (by index in the batch) and were rolled back: not acknowledged.
    failed: Vec<(usize, ClientError)>,
    /// Packets of a batch that could not be stored while the rest of it was (not receipted:
    /// their senders send them again).
    packets_failed: Vec<ClientError>,
}

impl Received {
    /// Adds what one delivery did.
    fn merge(&mut self, one: Received) {
        self.stored.extend(one.stored);
        self.status.extend(one.status);
        self.incoming.extend(one.incoming);
        self.confirmed.extend(one.confirmed);
        self.chunks.extend(one.chunks);
        self.needs.extend(one.needs);
        self.drops.extend(one.drops);
        self.learned.extend(one.learned);
        self.resend.extend(one.resend);
        self.changed.extend(one.changed);
        self.orphans.extend(one.orphans);
        self.typing.extend(one.typing);
        self.requests_dropped += one.requests_dropped;
        self.failed.extend(one.failed);
        self.packets_failed.extend(one.packets_failed);
    }
}

/// A delivery: the topic it came on and its payload.
type Delivery<'a> = (&'a str, &'a [u8]);

/// The inputs of a batch.
struct Batch<'a> {
    deliveries: Vec<Delivery<'a>>,
    limits: MediaLimits,
    now: i64,
}

/// How a batch is taken in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Care {
    /// Straight through: the first failure fails the whole transaction. Savepoints cost each
    /// message a copy of every page it changes (SQLite's statement journal), so a batch is
    /// first tried this way.
    Fast,
    /// Each delivery, and each packet of a batch envelope, in a savepoint of its own: what
    /// fails is rolled back alone. Taken when the fast way failed (the whole transaction,
    /// session state included, was rolled back, so the batch is taken in afresh).
    Careful,
}

/// Runs a batch inside `tx`; what to publish goes into `sealed`. [`Care::Careful`]: each
/// delivery runs in its own savepoint: one that fails is rolled back alone (with what it
/// sealed and reported) and left unacknowledged for the broker to deliver again; the others
/// go on.
fn receive(
    tx: &Transaction<'_>,
    me: &Address,
    sessions: &dyn Sessions,
    batch: &Batch<'_>,
    sealed: &mut Sealed,
    care: Care,
) -> Result<Received, ClientError> {
    let mut out = Received::default();
    // The receipts owed, by sender, in the order the messages came.
    let mut owed: Vec<(Address, [u8; 32])> = Vec::new();
    match care {
        Care::Fast => {
            for delivery in &batch.deliveries {
                receive_one(tx, me, sessions, batch, *delivery, &mut out, &mut owed, sealed, care)?;
            }
        }
        Care::Careful => {
            for (index, delivery) in batch.deliveries.iter().enumerate() {
                let (mut one, mut one_owed, mut one_sealed) = (Received::default(), Vec::new(), Sealed::default());
                tx.execute_batch("SAVEPOINT delivery").map_err(|e| ClientError::Receive(e.into()))?;
                sessions.begin_part();
                let r = receive_one(tx, me, sessions, batch, *delivery, &mut one, &mut one_owed, &mut one_sealed, care);
                sessions.end_part(r.is_ok());
                match r {
                    Ok(()) => {
                        tx.execute_batch("RELEASE delivery").map_err(|e| ClientError::Receive(e.into()))?;
                        out.merge(one);
                        owed.extend(one_owed);
                        sealed.merge(one_sealed);
                    }
                    Err(e) => {
                        tx.execute_batch("ROLLBACK TO delivery; RELEASE delivery")
                            .map_err(|e| ClientError::Receive(e.into()))?;
                        out.failed.push((index, e));
                    }
                }
            }
        }
    }
    let mut receipts: HashMap<Address, Vec<[u8; 32]>> = HashMap::new();
    for (to, hash) in owed {
        receipts.entry(to).or_default().push(hash);
    }
    for (to, hashes) in receipts {
        for chunk in hashes.chunks(MAX_ACKS_PER_RECEIPT) {
            let cbor = Packet::new(Body::Receipt { ack: chunk.to_vec() }).encode();
            sealed.seal(sessions, tx, &to, &cbor, None, false)?;
        }
    }
    for peer in &out.resend {
        store::due_now(tx, me, peer).map_err(ClientError::Receive)?;
    }
    Ok(out)
}

/// Takes in one delivery: what it did goes into `out`, the receipts it owes into `receipts`.
#[allow(clippy::too_many_arguments)]
fn receive_one(
    tx: &Transaction<'_>,
    me: &Address,
    sessions: &dyn Sessions,
    batch: &Batch<'_>,
    (topic, payload): Delivery<'_>,
    out: &mut Received,
    receipts: &mut Vec<(Address, [u8; 32])>,
    sealed: &mut Sealed,
    care: Care,
) -> Result<(), ClientError> {
    if topic != me.to_hex() {
        // A key bundle published on a peer's key topic.
        if let Some(owner) = sessions.key_topic_owner(topic) {
            let r = sessions.on_keys(tx, KeySource::Published { owner }, payload);
            keys_outcome(r, out, sealed)?;
        }
        return Ok(());
    }
    let opened = sessions.open(tx, payload);
    if opened.len() <= 1 || care == Care::Fast {
        for o in opened {
            take_opened(tx, me, sessions, batch, o, out, receipts, sealed)?;
        }
        return Ok(());
    }
    // A batch (PROTOCOL.md section 14): its Olm messages are open and the session has moved
    // past them, so the envelope cannot be taken in again packet by packet. Each packet is
    // stored in a savepoint of its own: one that fails is rolled back alone and not receipted
    // (its sender sends it again, sealed anew), and the rest are kept. When none can be stored
    // (a fault of the store rather than of a packet), the whole delivery fails and stays with
    // the broker.
    let mut failures = Vec::new();
    let mut kept = 0;
    for o in opened {
        let (mut one, mut one_receipts, mut one_sealed) = (Received::default(), Vec::new(), Sealed::default());
        tx.execute_batch("SAVEPOINT packet").map_err(|e| ClientError::Receive(e.into()))?;
        match take_opened(tx, me, sessions, batch, o, &mut one, &mut one_receipts, &mut one_sealed) {
            Ok(()) => {
                tx.execute_batch("RELEASE packet").map_err(|e| ClientError::Receive(e.into()))?;
                out.merge(one);
                receipts.extend(one_receipts);
                sealed.merge(one_sealed);
                kept += 1;
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO packet; RELEASE packet").map_err(|e| ClientError::Receive(e.into()))?;
                failures.push(e);
            }
        }
    }
    match kept {
        0 => failures.into_iter().next().map_or(Ok(()), Err),
        _ => {
            out.packets_failed.extend(failures);
            Ok(())
        }
    }
}

/// Takes in one packet of a delivery (or why it did not open).
#[allow(clippy::too_many_arguments)]
fn take_opened(
    tx: &Transaction<'_>,
    me: &Address,
    sessions: &dyn Sessions,
    batch: &Batch<'_>,
    opened: Result<Opened, OpenError>,
    out: &mut Received,
    receipts: &mut Vec<(Address, [u8; 32])>,
    sealed: &mut Sealed,
) -> Result<(), ClientError> {
    let now = batch.now;
    let o = match opened {
        Ok(o) => o,
        Err(OpenError::Store(e)) => return Err(ClientError::Receive(e)),
        Err(OpenError::Broken { replies, .. }) => {
            sealed.add(replies, None);
            out.drops.push("undecryptable");
            return Ok(());
        }
        Err(e) => {
            out.drops.push(e.drop_code().unwrap_or("dropped"));
            return Ok(());
        }
    };
    if o.from == *me {
        out.drops.push("from_self");
        return Ok(());
    }
    let standing = store::friend_status_in(tx, &o.from).map_err(ClientError::Receive)?;
    if standing == Some(FriendStatus::Blocked) {
        out.drops.push("blocked");
        return Ok(());
    }
    let Opened { from, cbor, packet, .. } = o;
    let kind = packet.body.kind();
    let ts = packet.ts;
    match packet.body {
        Body::Receipt { ack } => {
            let hashes: Vec<MessageHash> = ack.into_iter().map(MessageHash).collect();
            for h in store::mark_confirmed(tx, me, &from, &hashes, now).map_err(ClientError::Receive)? {
                out.status.push((h, MessageStatus::Confirmed));
            }
            out.confirmed.push((from, hashes));
        }
        Body::Chunk { hash, i, data, proof } => out.chunks.push((from, ObjectId(hash), i, data, proof)),
        Body::Need { hash, i } => out.needs.push((from, ObjectId(hash), i)),
        Body::Keys { bundle, want, reset } => {
            let r = sessions.on_keys(tx, KeySource::InBand { from, want, reset }, &bundle);
            keys_outcome(r, out, sealed)?;
        }
        Body::Edit { .. } | Body::Delete { .. } | Body::React { .. } => {
            // Stored once (a copy that comes again is only receipted), applied when its
            // message is here, receipted even when refused so that it is not sent again.
            let hash = MessageHash::of(&cbor);
            let a = NewAction { from, to: *me, hash, ts: ts as i64, body: &packet.body, cbor: &cbor };
            if let Some(outcome) = store::insert_action(tx, me, &a, 'C', now).map_err(ClientError::Receive)? {
                out.changed.extend(outcome.changed);
                out.orphans.extend(outcome.orphans);
            }
            receipts.push((from, hash.0));
        }
        Body::Read { ack } => {
            if store::read_receipts_on(tx).map_err(ClientError::Receive)? {
                let hashes: Vec<MessageHash> = ack.into_iter().map(MessageHash).collect();
                out.changed.extend(store::mark_seen(tx, me, &from, &hashes, now).map_err(ClientError::Receive)?);
            }
        }
        Body::Typing { on } => {
            if store::typing_on(tx).map_err(ClientError::Receive)? {
                out.typing.push((from, on));
            }
        }
        Body::Text { .. } | Body::Attachment { .. } => {
            let Some(kind) = kind else { return Ok(()) };
            let hash = MessageHash::of(&cbor);
            let obj = match &packet.body {
                Body::Attachment { obj, .. } => Some(obj),
                _ => None,
            };
            // A stranger's message makes room for itself within the request limits first.
            let stranger = standing.is_none();
            if stranger && !store::is_stored(tx, &hash).map_err(ClientError::Receive)? {
                out.requests_dropped +=
                    store::make_room_for_request(tx, &from, cbor.len() as i64).map_err(ClientError::Receive)?;
            }
            let m = NewMessage {
                chat: None,
                from,
                to: *me,
                hash,
                kind,
                ts: ts as i64,
                cbor: &cbor,
                obj: obj.map(|ob| ob.hash),
            };
            let stored = store::insert_message_as(tx, me, &m, now, stranger).map_err(ClientError::Receive)?;
            let chat = match stored {
                Some(chat) => {
                    out.stored.push((chat, hash));
                    chat
                }
                None => store::chat_of_message(tx, &hash).map_err(ClientError::Receive)?.unwrap_or(ChatId(0)),
            };
            // A message deleted before it came (the delete waited for it) has no file to fetch.
            let deleted = obj.is_some() && store::is_deleted(tx, &hash).map_err(ClientError::Receive)?;
            match obj.filter(|_| !deleted) {
                // A message is receipted once stored; a file once it is verified and kept.
                None => receipts.push((from, hash.0)),
                Some(obj) => {
                    let t = register_incoming(tx, &from, &hash, obj, batch.limits, stranger, now)
                        .map_err(ClientError::Receive)?;
                    if t.state == TransferState::Complete {
                        receipts.push((from, hash.0));
                    }
                    let attach = kind.attachment().unwrap_or(AttachKind::File);
                    out.incoming.push((t, chat, attach));
                }
            }
        }
    }
    Ok(())
}

/// Takes in what a key bundle led to.
fn keys_outcome(
    r: Result<crate::session::KeysOutcome, OpenError>,
    out: &mut Received,
    sealed: &mut Sealed,
) -> Result<(), ClientError> {
    match r {
        Ok(k) => {
            sealed.add(k.replies, None);
            out.learned.extend(k.learned);
            out.resend.extend(k.resend_to);
            Ok(())
        }
        Err(OpenError::Store(e)) => Err(ClientError::Receive(e)),
        Err(e) => {
            out.drops.push(e.drop_code().unwrap_or("bad_bundle"));
            Ok(())
        }
    }
}

impl Engine {
    /// Handles what the link reported, deliveries and acknowledgements in one transaction.
    pub(super) fn handle_batch(&mut self, batch: Vec<TransportEvent>) {
        let (mut deliveries, mut acked, mut after, mut effects) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ev in batch {
            match ev {
                TransportEvent::Message(inc) => deliveries.push(inc),
                TransportEvent::Acked(tags) => {
                    for tag in tags {
                        match self.transfers.on_acked(&tag) {
                            Some(e) => effects.extend(e),
                            None => match self.queued.remove(&MessageHash(tag)) {
                                Some(true) => acked.push(MessageHash(tag)),
                                // A retransmission: the store has S already.
                                Some(false) => {}
                                // Not known as handed over (an earlier connection's): written
                                // if still N, reported then.
                                None => self.unsaved.add(MessageHash(tag), now_ms()),
                            },
                        }
                    }
                }
                TransportEvent::Lost(tags) => {
                    for t in tags {
                        if !self.transfers.on_lost(&t) {
                            self.queued.remove(&MessageHash(t));
                            self.confirmed_early.remove(&MessageHash(t));
                        }
                    }
                }
                // Not taken by the broker: a chunk goes again, a message with its retransmission.
                TransportEvent::Refused { tags, reason } if !tags.is_empty() => {
                    for t in tags {
                        if !self.transfers.on_lost(&t) {
                            self.queued.remove(&MessageHash(t));
                            self.confirmed_early.remove(&MessageHash(t));
                        }
                    }
                    after.push(TransportEvent::Refused { tags: Vec::new(), reason });
                }
                other => after.push(other),
            }
        }
        self.receive_batch(deliveries, acked, effects, false);
        self.pump();
        for ev in after {
            self.on_connection_event(ev);
        }
    }

    /// Handles deliveries of the connection under the old client id (`legacy`), or of the link.
    pub(super) fn handle_deliveries(&mut self, events: Vec<TransportEvent>, legacy: bool) {
        let deliveries = events
            .into_iter()
            .filter_map(|e| match e {
                TransportEvent::Message(inc) => Some(inc),
                _ => None,
            })
            .collect();
        self.receive_batch(deliveries, Vec::new(), Vec::new(), legacy);
    }

    fn receive_batch(
        &mut self,
        deliveries: Vec<crate::transport::Incoming>,
        acked: Vec<MessageHash>,
        mut effects: Vec<crate::app::transfers::Effect>,
        legacy: bool,
    ) {
        // The broker has these: S now, in the store unless a receipt comes first (see `acks`).
        let now = now_ms();
        for hash in acked {
            if !self.confirmed_early.remove(&hash) {
                self.unsaved.add(hash, now);
                self.emit(Event::Status { hash, stat: MessageStatus::Sent });
            }
        }
        if self.unsaved.len() > super::acks::MAX_UNSAVED {
            self.save_acks(true);
        }
        if !deliveries.is_empty() {
            let batch = Batch {
                deliveries: deliveries.iter().map(|d| (d.topic.as_str(), &d.payload[..])).collect(),
                limits: self.transfers.limits(),
                now,
            };
            let sessions = self.sessions.clone();
            let written = &mut self.written;
            let mut attempt = |care| {
                super::sealing::transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, me, sealed| {
                    let r = receive(tx, me, &*sessions, &batch, sealed, care)?;
                    if !r.stored.is_empty() {
                        // Someone wrote: who has not written yet is asked of the store again.
                        written.retain(|_, w| *w);
                        // Crash tests: a power loss before the commit, or between it and the receipts.
                        crate::fault::crash_if("exit-before-commit");
                        sealed.fault_point = Some("exit-after-commit");
                    }
                    Ok(r)
                })
            };
            // What failed the fast way was rolled back whole: taken in again with care, it
            // fails alone.
            let r = match attempt(Care::Fast) {
                Err(_) if !batch.deliveries.is_empty() => attempt(Care::Careful),
                r => r,
            };
            match r {
                // Nothing is acknowledged: the broker delivers these again after a reconnect.
                Err(e) => self.fail(e),
                Ok((r, _)) => {
                    for reason in r.drops {
                        self.count_drop(reason);
                    }
                    for _ in 0..r.requests_dropped {
                        self.count_drop("request_over_limit");
                    }
                    for (chat, hash) in r.stored {
                        self.emit(Event::Message { chat, hash });
                    }
                    for (hash, stat) in r.status {
                        if stat == MessageStatus::Confirmed {
                            self.unsaved.forget(&hash);
                            // Confirmed before the broker's acknowledgement came: no S after C.
                            if self.queued.contains_key(&hash) {
                                self.confirmed_early.insert(hash);
                            }
                        }
                        self.emit(Event::Status { hash, stat });
                    }
                    self.after_actions(store::ActionOutcome { changed: r.changed, orphans: r.orphans });
                    for (from, on) in r.typing {
                        if let Ok(Some(chat)) = self.account.chat.chat_with(&from) {
                            self.emit(Event::Typing { chat, from, on });
                        }
                    }
                    let now = now_ms();
                    for (t, chat, kind) in r.incoming {
                        effects.extend(self.transfers.start_incoming(t, chat, kind));
                    }
                    for (from, hashes) in r.confirmed {
                        effects.extend(self.transfers.on_receipt(&from, &hashes));
                    }
                    for (from, obj, i, data, proof) in r.chunks {
                        effects.extend(self.transfers.on_chunk(&from, obj, i, &data, &proof, now));
                    }
                    for (from, obj, idx) in r.needs {
                        effects.extend(self.transfers.on_need(&from, obj, idx));
                    }
                    // Chunks are written and progress saved: the broker may forget these.
                    self.apply(std::mem::take(&mut effects));
                    let failed: std::collections::HashSet<usize> = r.failed.iter().map(|(i, _)| *i).collect();
                    if let Some(e) = r.failed.into_iter().map(|(_, e)| e).chain(r.packets_failed).next() {
                        self.fail(e);
                    }
                    for (i, d) in deliveries.into_iter().enumerate() {
                        // A failed delivery stays unacknowledged: the broker delivers it again.
                        if failed.contains(&i) {
                            continue;
                        }
                        match (&self.legacy, legacy) {
                            (Some(l), true) => crate::transport::Link::ack(&l.link, d),
                            _ => self.link.ack(d),
                        }
                    }
                    for peer in r.learned {
                        self.keys_known(&peer);
                    }
                    if !r.resend.is_empty() {
                        self.retry_overdue();
                    }
                }
            }
        }
        self.apply(effects);
    }
}
