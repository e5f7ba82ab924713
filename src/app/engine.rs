//! The messaging engine: one task that owns the account's database and drives the transport.
//!
//! - Sending: store with status N, then publish; PUBACK makes it S, the receipt C. Every N is
//!   published again after each (re)connect and at start; every S without a receipt is
//!   published again on the protocol's schedule (30 s, doubling to 1 h, for 7 days).
//! - Receiving: open, drop what the protocol says to drop (counted by reason), store once by
//!   hash in one transaction per batch, acknowledge the MQTT publish only once stored, send
//!   the receipt (again for a duplicate), emit events.
//! - Files: see `transfers.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, oneshot};

use super::Account;
use super::events::{ConnState, Event};
use super::transfers::{Finished, InTransfer, OutTransfer, PreparedFile, prepare_file};
use crate::crypto::Address;
use crate::crypto::envelope::Keyring;
use crate::objects::{ObjectId, ObjectStore};
use crate::store::{self, NewMessage, OutboxItem, now_ms};
use crate::transport::{Incoming, Tag, Transport, TransportConfig, TransportEvent};
use crate::wire::{self, Body, MAX_TEXT, Packet};

/// Most transport events handled in one database transaction.
const MAX_BATCH: usize = 512;
/// Transport events buffered between the connection and the engine (backpressure beyond):
/// at most this many 64 KiB chunks wait in memory.
const EVENT_BUFFER: usize = 128;
/// Most hashes in one receipt packet.
const MAX_ACKS_PER_RECEIPT: usize = 1000;

/// Limits for attachments.
#[derive(Debug, Clone, Copy)]
pub struct MediaLimits {
    /// Larger incoming files wait until accepted.
    pub auto_download_bytes: u64,
    /// Largest file sent or accepted.
    pub max_file_bytes: u64,
}

impl MediaLimits {
    /// From the `[media]` settings.
    pub fn from_config(c: &crate::config::Config) -> Self {
        Self {
            auto_download_bytes: c.media.auto_download_mb.saturating_mul(1 << 20),
            max_file_bytes: c.media.max_file_mb.saturating_mul(1 << 20),
        }
    }
}

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
    /// Send a file already imported into the object store; answers with the message hash.
    SendFile {
        /// Recipient.
        to: Address,
        /// The prepared attachment.
        file: Box<PreparedFile>,
        /// Answer.
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Accept an incoming file that waits (over the auto-download limit).
    Accept {
        /// Hex SHA-256 of the file.
        hash: String,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
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
    /// Block or unblock someone (a blocked sender's messages are dropped unread).
    SetBlocked {
        /// Address.
        address: Address,
        /// Block (`true`) or unblock.
        blocked: bool,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Remove a friend (the talk stays; new messages arrive as a message request).
    RemoveFriend {
        /// Address.
        address: Address,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Apply new settings: reconnect with a new transport configuration and use new limits.
    Reconfigure {
        /// Brokers, credentials, TLS.
        transport: Box<TransportConfig>,
        /// Attachment limits.
        limits: MediaLimits,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Mark a talk read.
    MarkRead {
        /// The peer.
        peer: Address,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
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
    objects: Arc<ObjectStore>,
    limits: MediaLimits,
}

impl Client {
    /// Starts the engine and its transport on the current tokio runtime.
    pub fn start(
        account: Account,
        transport: TransportConfig,
        limits: MediaLimits,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event>)> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (tev_tx, tev_rx) = mpsc::channel(EVENT_BUFFER);
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let transport = Transport::start(transport, tev_tx.clone()).map_err(anyhow::Error::msg)?;
        let address = account.address();
        let objects = account.objects.clone();
        let maintenance = store::Maintenance::start(&account.chat, account.reader()?)?;
        let mut engine = Engine {
            _maintenance: maintenance,
            keys: account.keys.clone(),
            objects: objects.clone(),
            account,
            transport,
            transport_events: tev_tx,
            events: events_tx,
            internal: internal_tx,
            limits,
            queued: HashSet::new(),
            drops: BTreeMap::new(),
            connected: false,
            ready_sent: false,
            outgoing: HashMap::new(),
            chunk_tags: HashMap::new(),
            incoming: HashMap::new(),
        };
        engine.load_transfers();
        tokio::spawn(engine.run(cmd_rx, tev_rx, internal_rx));
        Ok((Self { commands: cmd_tx, address, objects, limits }, events_rx))
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The account's object store.
    pub fn objects(&self) -> &Arc<ObjectStore> {
        &self.objects
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(make(reply)).context("the client has stopped")?;
        rx.await.context("the client has stopped")?.map_err(anyhow::Error::msg)
    }

    /// Sends a text message; the future gives its hex hash once stored (status N). The
    /// message is queued when this is called, not when the future is first polled, so that
    /// several calls in a row keep their order and are stored in one transaction.
    pub fn send_text(&self, to: Address, text: String) -> impl Future<Output = Result<String>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let queued = self.commands.send(Command::SendText { to, text, reply });
        async move {
            queued.ok().context("the client has stopped")?;
            rx.await.context("the client has stopped")?.map_err(anyhow::Error::msg)
        }
    }

    /// Sends a file: imports it into the object store and makes its preview (off the async
    /// threads), then stores and publishes the attachment message and streams the chunks.
    /// `name` overrides the display name (default: the file's name).
    pub async fn send_file(
        &self,
        to: Address,
        path: PathBuf,
        caption: Option<String>,
        name: Option<String>,
    ) -> Result<SentFile> {
        let objects = self.objects.clone();
        let max = self.limits.max_file_bytes;
        let file = tokio::task::spawn_blocking(move || prepare_file(&objects, &path, caption, name, max))
            .await
            .context("the file import stopped")??;
        let (id, preview_error) = (file.id, file.preview_error.clone());
        let message = self.ask(|reply| Command::SendFile { to, file: Box::new(file), reply }).await?;
        Ok(SentFile { message, file: id, preview_error })
    }

    /// Accepts an incoming file that waits for the user.
    pub async fn accept(&self, hash: String) -> Result<()> {
        self.ask(|reply| Command::Accept { hash, reply }).await
    }

    /// Adds or renames a friend.
    pub async fn add_friend(&self, address: Address, name: String) -> Result<()> {
        self.ask(|reply| Command::AddFriend { address, name, reply }).await
    }

    /// Blocks (`true`) or unblocks someone.
    pub async fn set_blocked(&self, address: Address, blocked: bool) -> Result<()> {
        self.ask(|reply| Command::SetBlocked { address, blocked, reply }).await
    }

    /// Removes a friend.
    pub async fn remove_friend(&self, address: Address) -> Result<()> {
        self.ask(|reply| Command::RemoveFriend { address, reply }).await
    }

    /// Applies new settings without logging out: the connection is made again with
    /// `transport` (what was in flight is published again) and `limits` apply from now on.
    pub async fn reconfigure(&self, transport: TransportConfig, limits: MediaLimits) -> Result<()> {
        self.ask(|reply| Command::Reconfigure { transport: Box::new(transport), limits, reply }).await
    }

    /// Marks a talk read.
    pub async fn mark_read(&self, peer: Address) -> Result<()> {
        self.ask(|reply| Command::MarkRead { peer, reply }).await
    }

    /// Disconnects and stops the engine (the database is closed, the lock released).
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What [`Client::send_file`] started.
#[derive(Debug, Clone)]
pub struct SentFile {
    /// Hex hash of the attachment message.
    pub message: String,
    /// The file's id.
    pub file: ObjectId,
    /// Why an image has no preview (too large to decode safely, damaged), if so.
    pub preview_error: Option<String>,
}

pub(super) struct Engine {
    pub(super) account: Account,
    pub(super) keys: Arc<Keyring>,
    pub(super) objects: Arc<ObjectStore>,
    pub(super) transport: Transport,
    /// Search indexing and WAL checkpoints off the engine's path.
    _maintenance: store::Maintenance,
    /// Where a new transport (after [`Command::Reconfigure`]) reports.
    transport_events: mpsc::Sender<TransportEvent>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) internal: mpsc::UnboundedSender<Finished>,
    pub(super) limits: MediaLimits,
    /// Message hashes handed to the transport and not yet acknowledged or lost.
    queued: HashSet<Tag>,
    drops: BTreeMap<&'static str, u64>,
    pub(super) connected: bool,
    ready_sent: bool,
    pub(super) outgoing: HashMap<(ObjectId, Address), OutTransfer>,
    pub(super) chunk_tags: HashMap<Tag, (ObjectId, Address, u64)>,
    pub(super) incoming: HashMap<(ObjectId, Address), InTransfer>,
}

impl Engine {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut tevents: mpsc::Receiver<TransportEvent>,
        mut internal: mpsc::UnboundedReceiver<Finished>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown_reply = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(Command::Reconfigure { transport, limits, reply }) => {
                        let r = self.reconfigure(*transport, limits, &mut tevents).await;
                        let _ = reply.send(r.map_err(|e| format!("{e:#}")));
                    }
                    Some(Command::SendText { to, text, reply }) => {
                        // Texts queued behind this one are stored in the same transaction.
                        let mut texts = vec![(to, text, reply)];
                        let mut next = None;
                        while texts.len() < MAX_BATCH {
                            match commands.try_recv() {
                                Ok(Command::SendText { to, text, reply }) => texts.push((to, text, reply)),
                                Ok(other) => {
                                    next = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.send_texts(texts);
                        match next {
                            Some(Command::Shutdown { reply }) => break Some(reply),
                            Some(cmd) => self.handle_command(cmd),
                            None => {}
                        }
                    }
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
                Some(done) = internal.recv() => self.on_finished(done),
                _ = tick.tick() => {
                    self.retry_overdue();
                    self.ask_for_missing_chunks();
                }
            }
        };
        self.save_transfer_progress();
        let Engine { transport, events, account, .. } = self;
        transport.close().await;
        let _ = events.send(Event::Connection { state: ConnState::Offline, broker: String::new(), detail: None });
        drop(account);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    pub(super) fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub(super) fn error(&self, message: String) {
        self.emit(Event::Error { message });
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::SendText { to, text, reply } => self.send_texts(vec![(to, text, reply)]),
            Command::SendFile { to, file, reply } => {
                let _ = reply.send(self.send_file(to, *file).map_err(|e| format!("{e:#}")));
            }
            Command::Accept { hash, reply } => {
                let _ = reply.send(self.accept(&hash).map_err(|e| format!("{e:#}")));
            }
            Command::AddFriend { address, name, reply } => {
                let r = self.account.chat.upsert_friend(&address, &name).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::SetBlocked { address, blocked, reply } => {
                let chat = &mut self.account.chat;
                let r = if blocked { chat.block(&address) } else { chat.unblock(&address).map(|_| ()) };
                let _ = reply.send(r.map_err(|e| e.to_string()));
            }
            Command::RemoveFriend { address, reply } => {
                let r = self.account.chat.remove_friend(&address).map(|_| ()).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::Reconfigure { reply, .. } => {
                let _ = reply.send(Err("reconfigure is handled by the engine loop".into()));
            }
            Command::MarkRead { peer, reply } => {
                let _ = reply.send(self.account.chat.mark_read(&peer).map_err(|e| e.to_string()));
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// Replaces the transport: the old connection is closed cleanly first (the broker keeps
    /// the session, so nothing unacknowledged is lost), then the new one starts. Publishes
    /// handed to the old one and not acknowledged are published again once the new one
    /// connects (messages still N, chunks back in their transfer's queue).
    async fn reconfigure(
        &mut self,
        transport: TransportConfig,
        limits: MediaLimits,
        tevents: &mut mpsc::Receiver<TransportEvent>,
    ) -> Result<()> {
        Transport::validate(&transport).map_err(anyhow::Error::msg)?;
        self.transport.shutdown().await;
        // What the old connection reported last: acknowledgements count; received messages
        // were never acknowledged, so the broker delivers them again on the new connection.
        while let Ok(ev) = tevents.try_recv() {
            match ev {
                TransportEvent::Acked(_) | TransportEvent::Lost(_) => self.handle_batch(vec![ev]),
                _ => {}
            }
        }
        let broker = transport.urls.first().map(|u| u.to_string()).unwrap_or_default();
        self.transport = Transport::start(transport, self.transport_events.clone()).map_err(anyhow::Error::msg)?;
        self.limits = limits;
        self.connected = false;
        self.queued.clear();
        let tags: Vec<Tag> = self.chunk_tags.keys().copied().collect();
        for t in tags {
            self.on_chunk_lost(&t);
        }
        self.emit(Event::Connection {
            state: ConnState::Reconnecting,
            broker,
            detail: Some("settings changed".into()),
        });
        Ok(())
    }

    /// Stores texts (status N) in one transaction, answers each, then publishes them.
    fn send_texts(&mut self, texts: Vec<QueuedText>) {
        let me = self.account.address();
        let mut ok = Vec::new();
        for (to, text, reply) in texts {
            if text.len() > MAX_TEXT {
                let _ = reply.send(Err(format!("the text is {} bytes; the limit is {MAX_TEXT}", text.len())));
            } else if to == me {
                let _ = reply.send(Err("cannot send a message to yourself".into()));
            } else {
                let packet = Packet::new(Body::Text { text });
                let cbor = packet.encode();
                ok.push((to, packet, crate::crypto::sha256(&cbor), cbor, reply));
            }
        }
        let rows: Vec<NewMessage<'_>> = ok
            .iter()
            .map(|(to, packet, hash, cbor, _)| NewMessage {
                from: me,
                to: *to,
                hash: *hash,
                kind: 'T',
                ts: packet.ts as i64,
                cbor,
                obj: None,
            })
            .collect();
        let stored = self.account.chat.store_many(&rows).map_err(|e| format!("cannot store the message: {e}"));
        drop(rows);
        for (to, _, hash, cbor, reply) in ok {
            match &stored {
                Ok(_) => {
                    let hex = hex::encode(hash);
                    self.emit(Event::Message { hash: hex.clone() });
                    let _ = reply.send(Ok(hex));
                    self.publish(&OutboxItem { hash, to, cbor });
                }
                Err(e) => {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Stores an own message (status N) and publishes it.
    pub(super) fn send_message(&mut self, to: Address, packet: Packet, obj: Option<[u8; 32]>) -> Result<String> {
        if to == self.account.address() {
            bail!("cannot send a message to yourself");
        }
        let cbor = packet.encode();
        let hash = crate::crypto::sha256(&cbor);
        let me = self.account.address();
        let kind = packet.body.letter();
        self.account
            .chat
            .store_outgoing(&NewMessage { from: me, to, hash, kind, ts: packet.ts as i64, cbor: &cbor, obj })
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
            Err(e) => self.error(format!("cannot seal a message: {e}")),
        }
    }

    fn publish_unsent(&mut self) {
        match self.account.chat.unsent() {
            Ok(items) => items.iter().for_each(|i| self.publish(i)),
            Err(e) => self.error(format!("cannot read the outbox: {e}")),
        }
    }

    fn retry_overdue(&mut self) {
        if !self.connected {
            return;
        }
        let now = now_ms();
        let due = match self.account.chat.due_for_retry(now) {
            Ok(due) => due,
            Err(e) => return self.error(format!("cannot read the outbox: {e}")),
        };
        if due.is_empty() {
            return;
        }
        let hashes: Vec<[u8; 32]> = due.iter().map(|i| i.hash).collect();
        for item in &due {
            self.publish(item);
        }
        if let Err(e) = self.account.chat.reschedule(&hashes, now) {
            self.error(format!("cannot update the outbox: {e}"));
        }
    }

    pub(super) fn count_drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
        self.emit(Event::Dropped { reason: reason.to_string() });
    }

    /// Seals and publishes a control packet (receipt, chunk, need); `tag` tracks its PUBACK.
    pub(super) fn send_control(&mut self, to: &Address, body: Body, tag: Option<Tag>) {
        match wire::seal_control(&self.keys, to, &Packet::new(body)) {
            Ok(envelope) => self.transport.publish(tag, to.to_hex(), envelope),
            Err(e) => self.error(format!("cannot seal a packet: {e}")),
        }
    }

    fn handle_batch(&mut self, batch: Vec<TransportEvent>) {
        let mut opened: Vec<(Incoming, wire::OpenedPacket)> = Vec::new();
        let mut acked: Vec<Tag> = Vec::new();
        let mut to_ack: Vec<Incoming> = Vec::new();
        let mut after: Vec<TransportEvent> = Vec::new();
        for ev in batch {
            match ev {
                TransportEvent::Message(inc) => match wire::open_packet(&self.keys, &inc.payload) {
                    Ok(o) => opened.push((inc, o)),
                    Err(reason) => {
                        self.count_drop(reason.code());
                        to_ack.push(inc);
                    }
                },
                TransportEvent::Acked(tag) => {
                    if !self.on_chunk_acked(&tag) {
                        self.queued.remove(&tag);
                        acked.push(tag);
                    }
                }
                TransportEvent::Lost(tags) => {
                    for t in tags {
                        if !self.on_chunk_lost(&t) {
                            self.queued.remove(&t);
                        }
                    }
                }
                other => after.push(other),
            }
        }

        // Sort what was opened; drop what must be dropped.
        let me = self.account.address();
        let mut messages = Vec::new();
        let mut receipts_in: Vec<(Address, Vec<[u8; 32]>)> = Vec::new();
        let mut chunks = Vec::new();
        let mut needs = Vec::new();
        for (inc, o) in opened {
            to_ack.push(inc);
            if o.from == me {
                self.count_drop("from_self");
                continue;
            }
            match self.account.chat.is_blocked(&o.from) {
                Ok(true) => {
                    self.count_drop("blocked");
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    self.error(format!("cannot read friends: {e}"));
                    continue;
                }
            }
            match o.packet.body {
                Body::Text { .. } | Body::Attachment { .. } => messages.push(o.hashed()),
                Body::Receipt { ack } => receipts_in.push((o.from, ack)),
                Body::Chunk { hash, i, data } => chunks.push((o.from, ObjectId(hash), i, data)),
                Body::Need { hash, i } => needs.push((o.from, ObjectId(hash), i)),
            }
        }

        let now = now_ms();
        let limits = self.limits;
        let outcome = self.account.chat.batch(|tx, me| {
            let mut out = BatchOutcome::default();
            for tag in &acked {
                if store::mark_sent(tx, tag, now)? {
                    out.status.push((hex::encode(tag), 'S'));
                }
            }
            for o in &messages {
                let obj = match &o.packet.body {
                    Body::Attachment { obj, .. } => Some(obj),
                    _ => None,
                };
                let m = NewMessage {
                    from: o.from,
                    to: *me,
                    hash: o.hash,
                    kind: o.packet.body.letter(),
                    ts: o.packet.ts as i64,
                    cbor: &o.cbor,
                    obj: obj.map(|ob| ob.hash),
                };
                let new = store::insert_message(tx, me, &m, now)?;
                if new {
                    out.new_messages.push(hex::encode(o.hash));
                }
                match obj {
                    // A message is receipted once stored; a file once it is verified and kept.
                    None => out.receipts.entry(o.from).or_default().push(o.hash),
                    Some(obj) => {
                        let t = super::transfers::register_incoming(tx, &o.from, &o.hash, obj, limits, now)?;
                        if t.state == store::TransferState::Complete {
                            out.receipts.entry(o.from).or_default().push(o.hash);
                        }
                        out.incoming.push(t);
                    }
                }
            }
            for (from, ack) in &receipts_in {
                for h in store::mark_confirmed(tx, me, from, ack)? {
                    out.status.push((h, 'C'));
                }
                out.confirmed.push((*from, ack.clone()));
            }
            Ok(out)
        });
        match outcome {
            Ok(out) => {
                for (to, hashes) in out.receipts {
                    for chunk in hashes.chunks(MAX_ACKS_PER_RECEIPT) {
                        self.send_control(&to, Body::Receipt { ack: chunk.to_vec() }, None);
                    }
                }
                for hash in out.new_messages {
                    self.emit(Event::Message { hash });
                }
                for (hash, stat) in out.status {
                    self.emit(Event::Status { hash, stat });
                }
                for t in out.incoming {
                    self.start_incoming(t);
                }
                for (from, ack) in out.confirmed {
                    self.on_receipt(&from, &ack);
                }
            }
            Err(e) => {
                // Nothing is acknowledged: the broker delivers these again after a reconnect,
                // and the senders publish again.
                self.error(format!("cannot store received messages: {e}"));
                return;
            }
        }
        for (from, obj, i, data) in chunks {
            self.on_chunk(&from, obj, i, &data);
        }
        for (from, obj, idx) in needs {
            self.on_need(&from, obj, idx);
        }
        self.save_transfer_progress();
        // Only now is everything of this batch stored (rows, chunks, progress): let the broker
        // forget it.
        for inc in to_ack {
            self.transport.ack(inc);
        }
        self.pump();
        for ev in after {
            self.handle_connection_event(ev);
        }
    }

    fn handle_connection_event(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::Connected { broker, .. } => {
                self.connected = true;
                self.emit(Event::Connection { state: ConnState::Connected, broker, detail: None });
                self.publish_unsent();
                self.pump();
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

/// A text to send: recipient, text, and where its hash (or the error) goes.
type QueuedText = (Address, String, oneshot::Sender<Result<String, String>>);

#[derive(Default)]
struct BatchOutcome {
    new_messages: Vec<String>,
    status: Vec<(String, char)>,
    receipts: HashMap<Address, Vec<[u8; 32]>>,
    incoming: Vec<store::Transfer>,
    confirmed: Vec<(Address, Vec<[u8; 32]>)>,
}
