//! The sending side of the engine: own messages stored and sealed in one transaction, then
//! published; published again after a connect (N) and on the retransmission schedule (S).

use rusqlite::Transaction;

use super::Engine;
use super::sealing::transact;
use crate::app::client::Command;
use crate::app::transfers::{PreparedFile, Transfers};
use crate::app::{ClientError, ClientResult, Event, To};
use crate::crypto::Address;
use crate::store::{self, ChatId, NewMessage, OutboxItem, now_ms};
use crate::wire::{Body, MAX_TEXT, MessageHash, Packet};

/// After a lost broker session, at most this many unconfirmed messages go at once (the rest
/// follow with the retransmission tick, as many each second).
const LOST_SESSION_BATCH: usize = 1000;

/// After a lost broker session, the unconfirmed messages go once more this much later: the
/// broker drops what is published to a peer whose session it does not have yet.
pub(crate) const LOST_SESSION_AGAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Which own messages without a receipt [`Engine::publish_items`] publishes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outbox {
    /// Those never acknowledged by the broker (N): an acknowledgement turns them S.
    Unsent,
    /// Acknowledged ones (S), again at once (the broker may have lost them).
    Again,
    /// Acknowledged ones (S) whose retransmission is due; the next one is scheduled.
    Overdue,
}

impl Engine {
    /// The peer a message for `to` goes to.
    pub(super) fn peer_of(&self, to: To) -> ClientResult<Address> {
        let peer = match to {
            To::Peer(a) => a,
            To::Chat(id) => self.account.chat.talk(id)?.and_then(|t| t.peer()).ok_or(ClientError::NoSuchChat(id))?,
        };
        if peer == self.account.address() {
            return Err(ClientError::ToSelf);
        }
        Ok(peer)
    }

    /// A reply quotes a message stored in the conversation with `peer`.
    fn check_reply(&self, peer: &Address, reply_to: Option<MessageHash>) -> ClientResult<()> {
        let Some(hash) = reply_to else { return Ok(()) };
        let chat = self.account.chat.chat_with(peer)?;
        match self.account.chat.message(&hash)? {
            Some(m) if Some(m.chat) == chat && m.deleted != store::DELETED_HERE => Ok(()),
            _ => Err(ClientError::NoSuchMessage(hash)),
        }
    }

    /// The account's name, for a message to someone who has not written back yet (their
    /// window shows it in the message request, as a claim); `None` once they have.
    fn introduction_to(&mut self, peer: &Address) -> Option<String> {
        let written = match self.written.get(peer) {
            Some(w) => *w,
            None => {
                // A store error counts as written: no name rather than a guess.
                let w = self.account.chat.has_written(peer).unwrap_or(true);
                self.written.insert(*peer, w);
                w
            }
        };
        (!written).then(|| self.account.name.clone())
    }

    /// Stores texts (status N) and seals them in one transaction, answers each, publishes.
    pub(super) fn send_texts(&mut self, commands: Vec<Command>) {
        let mut ok = Vec::new();
        for cmd in commands {
            let Command::SendText { to, text, reply_to, reply } = cmd else { continue };
            let peer = match self.peer_of(to).and_then(|p| self.check_reply(&p, reply_to).map(|_| p)) {
                Ok(p) if text.len() <= MAX_TEXT => p,
                Ok(_) => {
                    let _ = reply.send(Err(ClientError::TextTooLong { len: text.len(), max: MAX_TEXT }));
                    continue;
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    continue;
                }
            };
            let packet = Packet::new(Body::Text { text })
                .with_name(self.introduction_to(&peer))
                .replying_to(reply_to.map(|h| h.0));
            ok.push((peer, packet, reply));
        }
        if ok.len() > 1 {
            let packets: Vec<(Address, Packet)> = ok.iter().map(|(p, packet, _)| (*p, packet.clone())).collect();
            if let Ok(stored) = self.store_and_publish(&packets) {
                for ((chat, hash), (_, _, reply)) in stored.into_iter().zip(ok) {
                    self.emit(Event::Message { chat, hash });
                    let _ = reply.send(Ok(hash));
                }
                return;
            }
        }
        // One at a time (also after a failed batch, so that each gets its own answer).
        for (peer, packet, reply) in ok {
            match self.store_and_publish(&[(peer, packet)]) {
                Ok(stored) => {
                    let (chat, hash) = stored[0];
                    self.emit(Event::Message { chat, hash });
                    let _ = reply.send(Ok(hash));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }

    /// Stores own messages (N) and seals them in one transaction, then publishes them.
    fn store_and_publish(&mut self, packets: &[(Address, Packet)]) -> ClientResult<Vec<(ChatId, MessageHash)>> {
        self.store_and_publish_with(packets, |_, _| Ok(()))
    }

    /// [`Self::store_and_publish`] with more work in the same transaction.
    fn store_and_publish_with(
        &mut self,
        packets: &[(Address, Packet)],
        more: impl FnOnce(&Transaction<'_>, &[(ChatId, MessageHash)]) -> ClientResult<()>,
    ) -> ClientResult<Vec<(ChatId, MessageHash)>> {
        let now = now_ms();
        let sessions = self.sessions.clone();
        let (stored, waiting) = transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, me, sealed| {
            let mut stored = Vec::new();
            let mut sealing = Vec::new();
            for (to, packet) in packets {
                let cbor = packet.encode();
                let hash = MessageHash::of(&cbor);
                let kind = packet.body.kind().ok_or(ClientError::ToSelf)?;
                let obj = match &packet.body {
                    Body::Attachment { obj, .. } => Some(obj.hash),
                    _ => None,
                };
                let m =
                    NewMessage { chat: None, from: *me, to: *to, hash, kind, ts: packet.ts as i64, cbor: &cbor, obj };
                let chat = match store::insert_message(tx, me, &m, now)? {
                    Some(chat) => chat,
                    None => store::chat_of_message(tx, &hash)?.unwrap_or(ChatId(0)),
                };
                stored.push((chat, hash, false));
                sealing.push((*to, cbor, hash));
            }
            let items: Vec<_> = sealing.iter().map(|(to, cbor, hash)| (*to, &cbor[..], Some(hash.0))).collect();
            for (s, handed) in stored.iter_mut().zip(sealed.seal_many(&*sessions, tx, &items, true)?) {
                s.2 = handed;
            }
            let ids: Vec<(ChatId, MessageHash)> = stored.iter().map(|(c, h, _)| (*c, *h)).collect();
            more(tx, &ids)?;
            Ok(stored)
        })?;
        // A message waiting for its peer's keys stays N: it goes once they arrive (or in v1
        // after a short wait), like any unsent message.
        self.queued.extend(stored.iter().filter(|s| s.2).map(|s| (s.1, true)));
        self.await_keys(waiting);
        Ok(stored.into_iter().map(|(c, h, _)| (c, h)).collect())
    }

    /// Stores and publishes an attachment message and starts sending its file.
    pub(super) fn send_file(&mut self, to: To, file: PreparedFile) -> ClientResult<MessageHash> {
        let peer = self.peer_of(to)?;
        let packet =
            Packet::new(Body::Attachment { kind: file.kind, text: file.caption.clone(), obj: file.meta.clone() })
                .with_name(self.introduction_to(&peer));
        let now = now_ms();
        let (mut row, mut padded) = (None, false);
        let stored = self.store_and_publish_with(&[(peer, packet)], |tx, stored| {
            let t = Transfers::outgoing_row(&file, peer, stored[0].1, now);
            store::put_transfer(tx, &t)?;
            store::put_object_tree(tx, &file.id, &file.leaves)?;
            // A peer of protocol v2 gets the file with its size padded (PROTOCOL.md section 11).
            padded = store::olm::has_device(tx, &peer)?;
            row = Some(t);
            Ok(())
        })?;
        let (chat, hash) = stored[0];
        self.emit(Event::Message { chat, hash });
        if let Some(row) = row {
            let tree = std::sync::Arc::new(crate::crypto::merkle::MerkleTree::new(file.leaves));
            let effects = self.transfers.start_outgoing(row, Some(tree), padded);
            self.apply(effects);
        }
        self.pump();
        Ok(hash)
    }

    /// Seals and publishes messages not handed to the link yet, then marks them queued; for
    /// [`Outbox::Overdue`], their next retransmission is scheduled.
    fn publish_items(
        &mut self,
        which: Outbox,
        items: impl FnOnce(&Transaction<'_>, &Address) -> ClientResult<Vec<OutboxItem>>,
    ) {
        let sessions = self.sessions.clone();
        let (queued, unsaved) = (&self.queued, &self.unsaved);
        let retry = self.retry;
        let r = transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, me, sealed| {
            let items = items(tx, me)?;
            let now = now_ms();
            // Acknowledged ones whose S is not written yet are still N in the store.
            let unqueued: Vec<&OutboxItem> =
                items.iter().filter(|i| !queued.contains_key(&i.hash) && !unsaved.contains(&i.hash)).collect();
            let sealing: Vec<_> = unqueued.iter().map(|i| (i.to, &i.cbor[..], Some(i.hash.0))).collect();
            let results = sealed.seal_many(&*sessions, tx, &sealing, true)?;
            let handed: Vec<MessageHash> =
                unqueued.iter().zip(results).filter(|(_, handed)| *handed).map(|(i, _)| i.hash).collect();
            if which == Outbox::Overdue {
                let all: Vec<MessageHash> = items.iter().map(|i| i.hash).collect();
                let (first, max) = (retry.first.as_millis() as i64, retry.max.as_millis() as i64);
                store::reschedule(tx, &all, now, first, max)?;
            }
            Ok(handed)
        });
        match r {
            Ok((handed, waiting)) => {
                self.queued.extend(handed.into_iter().map(|h| (h, which == Outbox::Unsent)));
                self.await_keys(waiting);
            }
            Err(e) => self.fail(e),
        }
    }

    /// Publishes every own message still N (after a connect).
    pub(super) fn publish_unsent(&mut self) {
        self.publish_items(Outbox::Unsent, |tx, me| Ok(store::unsent_in(tx, me)?));
    }

    /// The broker kept no session for us (it restarted without persistence, or it is another
    /// one): what it queued for our peers may be gone. Every own message without a receipt
    /// goes again at once (the oldest [`LOST_SESSION_BATCH`]), all of them once more
    /// [`LOST_SESSION_AGAIN`] later (for peers that reconnect after us), then on the usual
    /// schedule from its start.
    /// Returns how many messages are affected.
    pub(super) fn republish_after_lost_session(&mut self) -> usize {
        let again = now_ms() + LOST_SESSION_AGAIN.as_millis() as i64;
        let mut count = 0;
        self.publish_items(Outbox::Again, |tx, me| {
            count = store::restart_schedule(tx, me, now_ms(), again)?;
            Ok(store::unconfirmed_in(tx, me, now_ms(), LOST_SESSION_BATCH)?)
        });
        count
    }

    /// Publishes again the messages whose receipt is overdue.
    pub(super) fn retry_overdue(&mut self) {
        if self.connected {
            self.publish_items(Outbox::Overdue, |tx, me| Ok(store::due_in(tx, me, now_ms())?));
        }
    }
}
