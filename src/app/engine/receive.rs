//! One batch of deliveries in one store transaction: envelopes are opened by the session layer
//! inside it (its state is saved with what it opened), messages stored once by hash, receipts
//! and PUBACKs applied, and the receipts to send sealed. Nothing leaves before it commits.

use std::collections::HashMap;

use rusqlite::Transaction;

use super::Engine;
use crate::app::transfers::{MediaLimits, register_incoming};
use crate::app::{ClientError, Event, RetryPolicy};
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::session::{Audience, Envelope, OpenError, Sessions};
use crate::store::now_ms;
use crate::store::{self, ChatId, MessageStatus, NewMessage, Transfer, TransferState};
use crate::transport::TransportEvent;
use crate::wire::{AttachKind, Body, MessageHash};

/// Most hashes in one receipt packet.
const MAX_ACKS_PER_RECEIPT: usize = 1000;

/// What a batch did.
#[derive(Debug, Default)]
struct Received {
    /// Messages stored for the first time.
    pub stored: Vec<(ChatId, MessageHash)>,
    /// Own messages whose status changed.
    pub status: Vec<(MessageHash, MessageStatus)>,
    /// Transfers of attachment messages (new or known).
    pub incoming: Vec<(Transfer, ChatId, AttachKind)>,
    /// Receipts that arrived, by sender.
    pub confirmed: Vec<(Address, Vec<MessageHash>)>,
    /// File chunks, to write after the commit.
    pub chunks: Vec<(Address, ObjectId, u64, Vec<u8>)>,
    /// Requests for missing chunks.
    pub needs: Vec<(Address, ObjectId, Vec<u64>)>,
    /// Sealed receipts for what was stored, to publish after the commit.
    pub receipts: Vec<Envelope>,
    /// Deliveries dropped, by reason.
    pub drops: Vec<&'static str>,
}

/// The inputs of a batch.
struct Batch<'a> {
    /// Payloads of deliveries.
    pub payloads: Vec<&'a [u8]>,
    /// Own publishes the broker acknowledged.
    pub acked: &'a [MessageHash],
    /// Attachment limits.
    pub limits: MediaLimits,
    /// Retransmission schedule.
    pub retry: RetryPolicy,
    /// Now (ms).
    pub now: i64,
}

/// Runs a batch inside `tx`.
fn receive(
    tx: &Transaction<'_>,
    me: &Address,
    sessions: &dyn Sessions,
    batch: &Batch<'_>,
) -> Result<Received, ClientError> {
    let mut out = Received::default();
    let now = batch.now;
    for hash in batch.acked {
        if store::mark_sent(tx, hash, now + batch.retry.first.as_millis() as i64).map_err(ClientError::Receive)? {
            out.status.push((*hash, MessageStatus::Sent));
        }
    }
    let mut receipts: HashMap<Address, Vec<[u8; 32]>> = HashMap::new();
    for payload in &batch.payloads {
        let o = match sessions.open(tx, payload) {
            Ok(o) => o,
            Err(OpenError::Drop(reason)) => {
                out.drops.push(reason.code());
                continue;
            }
            Err(OpenError::Store(e)) => return Err(ClientError::Receive(e)),
        };
        if o.from == *me {
            out.drops.push("from_self");
            continue;
        }
        if store::is_blocked_in(tx, &o.from).map_err(ClientError::Receive)? {
            out.drops.push("blocked");
            continue;
        }
        let kind = o.packet.body.kind();
        match o.packet.body {
            Body::Receipt { ack } => {
                let hashes: Vec<MessageHash> = ack.into_iter().map(MessageHash).collect();
                for h in store::mark_confirmed(tx, me, &o.from, &hashes, now).map_err(ClientError::Receive)? {
                    out.status.push((h, MessageStatus::Confirmed));
                }
                out.confirmed.push((o.from, hashes));
            }
            Body::Chunk { hash, i, data } => out.chunks.push((o.from, ObjectId(hash), i, data)),
            Body::Need { hash, i } => out.needs.push((o.from, ObjectId(hash), i)),
            Body::Text { .. } | Body::Attachment { .. } => {
                let Some(kind) = kind else { continue };
                let hash = MessageHash::of(&o.cbor);
                let obj = match &o.packet.body {
                    Body::Attachment { obj, .. } => Some(obj),
                    _ => None,
                };
                let m = NewMessage {
                    chat: None,
                    from: o.from,
                    to: *me,
                    hash,
                    kind,
                    ts: o.packet.ts as i64,
                    cbor: &o.cbor,
                    obj: obj.map(|ob| ob.hash),
                };
                let stored = store::insert_message(tx, me, &m, now).map_err(ClientError::Receive)?;
                let chat = match stored {
                    Some(chat) => {
                        out.stored.push((chat, hash));
                        chat
                    }
                    None => store::chat_of_message(tx, &hash).map_err(ClientError::Receive)?.unwrap_or(ChatId(0)),
                };
                match obj {
                    // A message is receipted once stored; a file once it is verified and kept.
                    None => receipts.entry(o.from).or_default().push(hash.0),
                    Some(obj) => {
                        let t = register_incoming(tx, &o.from, &hash, obj, batch.limits, now)
                            .map_err(ClientError::Receive)?;
                        if t.state == TransferState::Complete {
                            receipts.entry(o.from).or_default().push(hash.0);
                        }
                        let attach = kind.attachment().unwrap_or(AttachKind::File);
                        out.incoming.push((t, chat, attach));
                    }
                }
            }
        }
    }
    for (to, hashes) in receipts {
        for chunk in hashes.chunks(MAX_ACKS_PER_RECEIPT) {
            let cbor = crate::wire::Packet::new(Body::Receipt { ack: chunk.to_vec() }).encode();
            out.receipts.extend(sessions.seal(tx, Audience::Peer(&to), &cbor)?);
        }
    }
    Ok(out)
}

impl Engine {
    /// Handles what the link reported, deliveries and acknowledgements in one transaction.
    pub(super) fn handle_batch(&mut self, batch: Vec<TransportEvent>) {
        let (mut deliveries, mut acked, mut after, mut effects) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ev in batch {
            match ev {
                TransportEvent::Message(inc) => deliveries.push(inc),
                TransportEvent::Acked(tag) => match self.transfers.on_acked(&tag) {
                    Some(e) => effects.extend(e),
                    None => {
                        self.queued.remove(&MessageHash(tag));
                        acked.push(MessageHash(tag));
                    }
                },
                TransportEvent::Lost(tags) => {
                    for t in tags {
                        if !self.transfers.on_lost(&t) {
                            self.queued.remove(&MessageHash(t));
                        }
                    }
                }
                other => after.push(other),
            }
        }
        if !deliveries.is_empty() || !acked.is_empty() {
            let batch = Batch {
                payloads: deliveries.iter().map(|d| &d.payload[..]).collect(),
                acked: &acked,
                limits: self.transfers.limits(),
                retry: self.retry,
                now: now_ms(),
            };
            let sessions = self.sessions.clone();
            match self.account.chat.batch(|tx, me| receive(tx, me, &*sessions, &batch)) {
                // Nothing is acknowledged: the broker delivers these again after a reconnect.
                Err(e) => self.fail(e),
                Ok(r) => {
                    for env in r.receipts {
                        self.link.publish(None, env.to.to_hex(), env.payload);
                    }
                    for reason in r.drops {
                        self.count_drop(reason);
                    }
                    for (chat, hash) in r.stored {
                        self.emit(Event::Message { chat, hash });
                    }
                    for (hash, stat) in r.status {
                        self.emit(Event::Status { hash, stat });
                    }
                    let now = now_ms();
                    for (t, chat, kind) in r.incoming {
                        effects.extend(self.transfers.start_incoming(t, chat, kind));
                    }
                    for (from, hashes) in r.confirmed {
                        effects.extend(self.transfers.on_receipt(&from, &hashes));
                    }
                    for (from, obj, i, data) in r.chunks {
                        effects.extend(self.transfers.on_chunk(&from, obj, i, &data, now));
                    }
                    for (from, obj, idx) in r.needs {
                        effects.extend(self.transfers.on_need(&from, obj, idx));
                    }
                    // Chunks are written and progress saved: the broker may forget these.
                    self.apply(std::mem::take(&mut effects));
                    for d in deliveries {
                        self.link.ack(d);
                    }
                }
            }
        }
        self.apply(effects);
        self.pump();
        for ev in after {
            self.on_connection_event(ev);
        }
    }
}
