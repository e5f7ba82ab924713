//! Changes to earlier messages (edits, deletes, reactions), read receipts and typing, on the
//! sending side (docs/PROTOCOL.md section 13). An action is stored and applied here, and
//! sealed in the same transaction; it is published once that commits and waits for its
//! receipt like a message. Read receipts and typing are control packets: sealed, never stored.
//!
//! A peer that never showed protocol v2 gets none of these (a v1 client would drop them
//! unread and never receipt them): for it an action takes effect here only.

use super::Engine;
use super::sealing::transact;
use crate::app::client::{Action, Forwardable};
use crate::app::{ClientError, ClientResult, Event, NotAllowed};
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::store::{self, ActionOutcome, ChatId, NewAction, now_ms};
use crate::wire::{Body, MAX_TEXT, MessageHash, MessageKind, Packet, valid_reaction};

impl Engine {
    /// Checks an own action against the rules the receiver applies, stores, applies and sends
    /// it. Returns the hash of the packet sent (`None` when nothing is sent: a delete here
    /// only, or a peer that does not speak v2).
    pub(super) fn act(&mut self, action: Action) -> ClientResult<Option<MessageHash>> {
        let me = self.account.address();
        let target = action.target();
        let row = self.account.chat.message(&target)?;
        let row = row.filter(|r| r.deleted != store::DELETED_HERE).ok_or(ClientError::NoSuchMessage(target))?;
        let peer = self.account.chat.talk(row.chat)?.and_then(|t| t.peer()).ok_or(ClientError::NoSuchChat(row.chat))?;
        let deleted = row.deleted == store::DELETED_FOR_EVERYONE;
        let body = match action {
            Action::Delete { for_everyone: false, .. } => {
                let orphan = self.account.chat.delete_here(&target)?;
                self.after_actions(ActionOutcome {
                    changed: vec![(row.chat, target)],
                    orphans: orphan.into_iter().collect(),
                });
                return Ok(None);
            }
            Action::Delete { for_everyone: true, .. } => {
                if row.from != me {
                    return Err(ClientError::NotAllowed(NotAllowed::NotYours));
                }
                Body::Delete { target: target.0 }
            }
            Action::Edit { text, .. } => {
                let allowed = if row.from != me {
                    Err(NotAllowed::NotYours)
                } else if deleted {
                    Err(NotAllowed::Deleted)
                } else if row.kind != MessageKind::Text {
                    Err(NotAllowed::NotText)
                } else if i64::from(row.edits) >= store::MAX_EDITS {
                    Err(NotAllowed::TooManyEdits)
                } else if now_ms() - row.ts > store::EDIT_WINDOW_MS {
                    Err(NotAllowed::TooLate)
                } else {
                    Ok(())
                };
                allowed.map_err(ClientError::NotAllowed)?;
                if text.len() > MAX_TEXT {
                    return Err(ClientError::TextTooLong { len: text.len(), max: MAX_TEXT });
                }
                Body::Edit { target: target.0, text }
            }
            Action::React { emoji, .. } => {
                if deleted {
                    return Err(ClientError::NotAllowed(NotAllowed::Deleted));
                }
                if !valid_reaction(&emoji) {
                    return Err(ClientError::NotAllowed(NotAllowed::BadReaction));
                }
                Body::React { target: target.0, emoji }
            }
        };
        let mut packet = Packet::new(body);
        // An edit is newer than its message even when the clock went back since.
        if matches!(packet.body, Body::Edit { .. }) && packet.ts < row.ts.max(0) as u64 {
            packet.ts = row.ts as u64;
        }
        let cbor = packet.encode();
        let hash = MessageHash::of(&cbor);
        let now = now_ms();
        let sessions = self.sessions.clone();
        let ((outcome, handed, told), waiting) =
            transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, me, sealed| {
                let told = store::olm::speaks_v2(tx, &peer)?;
                let a = NewAction { from: *me, to: peer, hash, ts: packet.ts as i64, body: &packet.body, cbor: &cbor };
                let outcome = store::insert_action(tx, me, &a, if told { 'N' } else { 'C' }, now)?.unwrap_or_default();
                let handed = told && sealed.seal(&*sessions, tx, &peer, &cbor, Some(hash.0), true)?;
                Ok((outcome, handed, told))
            })?;
        if handed {
            self.queued.insert(hash, true);
        }
        self.await_keys(waiting);
        self.after_actions(outcome);
        Ok(told.then_some(hash))
    }

    /// Reports the messages that changed and removes the files no message refers to any more.
    pub(super) fn after_actions(&mut self, outcome: ActionOutcome) {
        for (chat, hash) in outcome.changed {
            self.emit(Event::Changed { chat, hash });
        }
        for (file, peers) in outcome.orphans {
            self.forget_file(&file, &peers);
        }
    }

    /// Stops the transfers of a file and removes it (and its partial copies).
    fn forget_file(&mut self, file: &ObjectId, peers: &[Address]) {
        for peer in peers {
            self.transfers.cancel(file, peer);
        }
        if let Err(e) = self.account.objects.forget(file, peers) {
            self.fail(ClientError::Object(e.into()));
        }
    }

    /// Marks a conversation read; with read receipts on, tells its peer (if it speaks v2 and
    /// is a friend: a stranger's message request learns nothing) which of its messages were
    /// displayed.
    pub(super) fn mark_read(&mut self, chat: ChatId) -> ClientResult<()> {
        self.account.chat.mark_read(chat)?;
        let receipts = self.account.chat.read_receipts()?;
        let sessions = self.sessions.clone();
        let (_, waiting) = transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, me, sealed| {
            let unseen = store::take_unseen(tx, me, chat)?;
            if !receipts || unseen.is_empty() {
                return Ok(());
            }
            let mut by_peer: std::collections::BTreeMap<Address, Vec<[u8; 32]>> = Default::default();
            for (from, hash) in unseen {
                by_peer.entry(from).or_default().push(hash.0);
            }
            for (peer, hashes) in by_peer {
                if !store::olm::speaks_v2(tx, &peer)? || !store::is_friend(tx, &peer)? {
                    continue;
                }
                for ack in hashes.chunks(crate::wire::MAX_ACKS) {
                    let cbor = Packet::new(Body::Read { ack: ack.to_vec() }).encode();
                    sealed.seal(&*sessions, tx, &peer, &cbor, None, false)?;
                }
            }
            Ok(())
        })?;
        self.await_keys(waiting);
        Ok(())
    }

    /// Tells a conversation's peer that the user types (or stopped), if typing indicators
    /// are on and the peer speaks v2 and is a friend. Best effort: a failure is not reported.
    pub(super) fn send_typing(&mut self, chat: ChatId, on: bool) {
        if !self.connected || !self.account.chat.typing_indicators().unwrap_or(false) {
            return;
        }
        let Ok(Some(peer)) = self.account.chat.talk(chat).map(|t| t.and_then(|t| t.peer())) else { return };
        let sessions = self.sessions.clone();
        let _ = transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, _, sealed| {
            if store::olm::speaks_v2(tx, &peer)? && store::is_friend(tx, &peer)? {
                let cbor = Packet::new(Body::Typing { on }).encode();
                sealed.seal(&*sessions, tx, &peer, &cbor, None, false)?;
            }
            Ok(())
        });
    }

    /// What forwarding the message `hash` sends again.
    pub(super) fn forwardable(&mut self, hash: MessageHash) -> ClientResult<Forwardable> {
        let row = self.account.chat.message(&hash)?;
        let row = row.filter(|r| r.deleted == 0).ok_or(ClientError::NoSuchMessage(hash))?;
        match row.body().map_err(|_| ClientError::NoSuchMessage(hash))? {
            Body::Text { text } => Ok(Forwardable::Text(text)),
            Body::Attachment { kind, text, obj } => {
                let leaves = self.account.chat.object_tree(&ObjectId(obj.hash))?;
                Ok(Forwardable::File { kind, caption: text, meta: Box::new(obj), leaves })
            }
            _ => Err(ClientError::NoSuchMessage(hash)),
        }
    }

    /// Changes the privacy settings (read receipts, typing indicators).
    pub(super) fn set_privacy(&mut self, read_receipts: Option<bool>, typing: Option<bool>) -> ClientResult<()> {
        if let Some(on) = read_receipts {
            self.account.chat.set_read_receipts(on)?;
        }
        if let Some(on) = typing {
            self.account.chat.set_typing_indicators(on)?;
        }
        Ok(())
    }
}
