//! The messaging engine: one task that owns the account's database and drives the transport.
//!
//! - Sending: store with status N, then publish; PUBACK makes it S, the receipt C. Every N is
//!   published again after each (re)connect and at start; every S without a receipt is
//!   published again on the protocol's schedule (30 s, doubling to 1 h, for 7 days).
//! - Receiving: open, drop what the protocol says to drop (counted by reason), store once by
//!   hash in one transaction per batch, acknowledge the MQTT publish only once stored, send
//!   the receipt (again for a duplicate), emit events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, oneshot};

use super::Account;
use super::events::{ConnState, Event};
use crate::crypto::Address;
use crate::crypto::envelope::Keyring;
use crate::store::{self, NewMessage, OutboxItem, now_ms};
use crate::transport::{Incoming, Tag, Transport, TransportConfig, TransportEvent};
use crate::wire::{self, Body, MAX_TEXT, Packet};

/// Most transport events handled in one database transaction.
const MAX_BATCH: usize = 2000;
/// Most hashes in one receipt packet.
const MAX_ACKS_PER_RECEIPT: usize = 1000;

/// A request to the engine.
#[derive(Debug)]
pub enum Command {
    /// Send a text message; answers with its hex hash.
    SendText {
        /// Recipient.
        to: Address,
        /// The text.
        text: String,
        /// Answer.
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Add (or rename) a friend.
    AddFriend {
        /// Address.
        address: Address,
        /// Display name.
        name: String,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Mark a talk read.
    MarkRead {
        /// The peer.
        peer: Address,
    },
    /// Disconnect and stop.
    Shutdown {
        /// Answered when stopped.
        reply: oneshot::Sender<()>,
    },
}

/// A handle to a running engine.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    address: Address,
}

impl Client {
    /// Starts the engine and its transport on the current tokio runtime.
    pub fn start(account: Account, transport: TransportConfig) -> Result<(Self, mpsc::UnboundedReceiver<Event>)> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (tev_tx, tev_rx) = mpsc::unbounded_channel();
        let transport = Transport::start(transport, tev_tx).map_err(anyhow::Error::msg)?;
        let address = account.address();
        let engine = Engine {
            keys: account.keys.clone(),
            account,
            transport,
            events: events_tx,
            queued: HashSet::new(),
            drops: BTreeMap::new(),
            connected: false,
            ready_sent: false,
        };
        tokio::spawn(engine.run(cmd_rx, tev_rx));
        Ok((Self { commands: cmd_tx, address }, events_rx))
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Sends a text message; returns its hex hash once stored (status N).
    pub async fn send_text(&self, to: Address, text: String) -> Result<String> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::SendText { to, text, reply }).context("the client has stopped")?;
        rx.await.context("the client has stopped")?.map_err(anyhow::Error::msg)
    }

    /// Adds or renames a friend.
    pub async fn add_friend(&self, address: Address, name: String) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::AddFriend { address, name, reply }).context("the client has stopped")?;
        rx.await.context("the client has stopped")?.map_err(anyhow::Error::msg)
    }

    /// Marks a talk read.
    pub fn mark_read(&self, peer: Address) {
        let _ = self.commands.send(Command::MarkRead { peer });
    }

    /// Disconnects and stops the engine (the database is closed, the lock released).
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Engine {
    account: Account,
    keys: Arc<Keyring>,
    transport: Transport,
    events: mpsc::UnboundedSender<Event>,
    /// Hashes handed to the transport and not yet acknowledged or lost.
    queued: HashSet<Tag>,
    drops: BTreeMap<&'static str, u64>,
    connected: bool,
    ready_sent: bool,
}

impl Engine {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut tevents: mpsc::UnboundedReceiver<TransportEvent>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown_reply = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(cmd) => self.handle_command(cmd),
                },
                ev = tevents.recv() => {
                    let Some(ev) = ev else { break None };
                    let mut batch = vec![ev];
                    while batch.len() < MAX_BATCH {
                        match tevents.try_recv() {
                            Ok(ev) => batch.push(ev),
                            Err(_) => break,
                        }
                    }
                    self.handle_batch(batch);
                }
                _ = tick.tick() => self.retry_overdue(),
            }
        };
        let Engine { transport, events, account, .. } = self;
        transport.close().await;
        let _ = events.send(Event::Connection { state: ConnState::Offline, broker: String::new(), detail: None });
        drop(account);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::SendText { to, text, reply } => {
                let _ = reply.send(self.send_text(to, text).map_err(|e| format!("{e:#}")));
            }
            Command::AddFriend { address, name, reply } => {
                let r = self.account.chat.upsert_friend(&address, &name).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::MarkRead { peer } => {
                if let Err(e) = self.account.chat.mark_read(&peer) {
                    self.emit(Event::Error { message: e.to_string() });
                }
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn send_text(&mut self, to: Address, text: String) -> Result<String> {
        if to == self.account.address() {
            bail!("cannot send a message to yourself");
        }
        if text.len() > MAX_TEXT {
            bail!("the text is {} bytes; the limit is {MAX_TEXT}", text.len());
        }
        let packet = Packet::new(Body::Text { text });
        let cbor = packet.encode();
        let hash = crate::crypto::sha256(&cbor);
        let me = self.account.address();
        self.account
            .chat
            .store_outgoing(&NewMessage { from: me, to, hash, kind: 'T', ts: packet.ts as i64, cbor: &cbor })
            .context("cannot store the message")?;
        let hex = hex::encode(hash);
        self.emit(Event::Message { hash: hex.clone() });
        self.publish(&OutboxItem { hash, to, cbor });
        Ok(hex)
    }

    /// Seals and hands a message to the transport (once at a time).
    fn publish(&mut self, item: &OutboxItem) {
        if self.queued.contains(&item.hash) {
            return;
        }
        match self.keys.seal(&item.to, &wire::pad(&item.cbor)) {
            Ok(envelope) => {
                self.queued.insert(item.hash);
                self.transport.publish(Some(item.hash), item.to.to_hex(), envelope);
            }
            Err(e) => self.emit(Event::Error { message: format!("cannot seal a message: {e}") }),
        }
    }

    fn publish_unsent(&mut self) {
        match self.account.chat.unsent() {
            Ok(items) => items.iter().for_each(|i| self.publish(i)),
            Err(e) => self.emit(Event::Error { message: format!("cannot read the outbox: {e}") }),
        }
    }

    fn retry_overdue(&mut self) {
        if !self.connected {
            return;
        }
        let now = now_ms();
        let due = match self.account.chat.due_for_retry(now) {
            Ok(due) => due,
            Err(e) => return self.emit(Event::Error { message: format!("cannot read the outbox: {e}") }),
        };
        if due.is_empty() {
            return;
        }
        let hashes: Vec<[u8; 32]> = due.iter().map(|i| i.hash).collect();
        for item in &due {
            self.publish(item);
        }
        if let Err(e) = self.account.chat.reschedule(&hashes, now) {
            self.emit(Event::Error { message: format!("cannot update the outbox: {e}") });
        }
    }

    fn count_drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
        self.emit(Event::Dropped { reason: reason.to_string() });
    }

    fn handle_batch(&mut self, batch: Vec<TransportEvent>) {
        let mut opened: Vec<(Incoming, wire::Opened)> = Vec::new();
        let mut acked: Vec<Tag> = Vec::new();
        let mut to_ack: Vec<Incoming> = Vec::new();
        let mut after: Vec<TransportEvent> = Vec::new();
        for ev in batch {
            match ev {
                TransportEvent::Message(inc) => match wire::open_envelope(&self.keys, &inc.payload) {
                    Ok(o) => opened.push((inc, o)),
                    Err(reason) => {
                        self.count_drop(reason.code());
                        to_ack.push(inc);
                    }
                },
                TransportEvent::Acked(tag) => {
                    self.queued.remove(&tag);
                    acked.push(tag);
                }
                TransportEvent::Lost(tags) => {
                    for t in tags {
                        self.queued.remove(&t);
                    }
                }
                other => after.push(other),
            }
        }

        let me = self.account.address();
        let now = now_ms();
        let mut dropped: Vec<&'static str> = Vec::new();
        let outcome = self.account.chat.batch(|tx, me| {
            let mut out = BatchOutcome::default();
            for tag in &acked {
                if store::mark_sent(tx, tag, now)? {
                    out.status.push((hex::encode(tag), 'S'));
                }
            }
            for (_, o) in &opened {
                if o.from == *me {
                    dropped.push("from_self");
                    continue;
                }
                if store::is_blocked(tx, &o.from)? {
                    dropped.push("blocked");
                    continue;
                }
                match &o.packet.body {
                    Body::Text { .. } | Body::Attachment { .. } => {
                        let kind = o.packet.body.letter();
                        let m = NewMessage {
                            from: o.from,
                            to: *me,
                            hash: o.hash,
                            kind,
                            ts: o.packet.ts as i64,
                            cbor: &o.cbor,
                        };
                        if store::insert_message(tx, me, &m, now)? {
                            out.new_messages.push(hex::encode(o.hash));
                        }
                        out.receipts.entry(o.from).or_default().push(o.hash);
                    }
                    Body::Receipt { ack } => {
                        for h in store::mark_confirmed(tx, me, &o.from, ack)? {
                            out.status.push((h, 'C'));
                        }
                    }
                    Body::Chunk { .. } | Body::Need { .. } => dropped.push("unsupported"),
                }
            }
            Ok(out)
        });
        for d in dropped {
            self.count_drop(d);
        }
        match outcome {
            Ok(out) => {
                for (inc, _) in opened {
                    to_ack.push(inc);
                }
                for inc in to_ack {
                    self.transport.ack(inc);
                }
                for (to, hashes) in out.receipts {
                    for chunk in hashes.chunks(MAX_ACKS_PER_RECEIPT) {
                        self.send_control(&to, Body::Receipt { ack: chunk.to_vec() });
                    }
                }
                for hash in out.new_messages {
                    self.emit(Event::Message { hash });
                }
                for (hash, stat) in out.status {
                    self.emit(Event::Status { hash, stat });
                }
            }
            Err(e) => {
                // Nothing is acknowledged: the broker delivers these again after a reconnect,
                // and the senders publish again.
                self.emit(Event::Error { message: format!("cannot store received messages: {e}") });
                let _ = me;
            }
        }

        for ev in after {
            self.handle_connection_event(ev);
        }
    }

    fn send_control(&mut self, to: &Address, body: Body) {
        match wire::seal_packet(&self.keys, to, &Packet::new(body)) {
            Ok(sealed) => self.transport.publish(None, to.to_hex(), sealed.envelope),
            Err(e) => self.emit(Event::Error { message: format!("cannot seal a receipt: {e}") }),
        }
    }

    fn handle_connection_event(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::Connected { broker, .. } => {
                self.connected = true;
                self.emit(Event::Connection { state: ConnState::Connected, broker, detail: None });
                self.publish_unsent();
            }
            TransportEvent::Subscribed => {
                if !self.ready_sent {
                    self.ready_sent = true;
                    self.emit(Event::Ready { address: self.account.address() });
                }
            }
            TransportEvent::Disconnected { broker, error, .. } => {
                self.connected = false;
                self.emit(Event::Connection { state: ConnState::Reconnecting, broker, detail: Some(error) });
            }
            TransportEvent::Message(_) | TransportEvent::Acked(_) | TransportEvent::Lost(_) => {}
        }
    }
}

#[derive(Default)]
struct BatchOutcome {
    new_messages: Vec<String>,
    status: Vec<(String, char)>,
    receipts: HashMap<Address, Vec<[u8; 32]>>,
}
