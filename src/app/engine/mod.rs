//! The messaging engine: one task that owns the account's database, the session layer, the
//! link to the broker and the transfers, and applies their effects.
//!
//! - Sending: store with status N and seal in one transaction, then publish; the PUBACK makes
//!   it S (written a moment later, and not at all when the receipt comes first: [`acks`]),
//!   the receipts C. Every N is published again after each (re)connect and at start;
//!   every S without a receipt on the retransmission schedule (30 s, doubling to 1 h, 7 days).
//! - Receiving: a batch of deliveries is opened, stored once by hash and receipted in one
//!   transaction ([`super::receive`]); deliveries are acknowledged to the broker only after it
//!   commits (and after their chunks are written), receipts published only after it commits.
//! - Files: [`super::transfers`] decides, the engine seals, publishes and saves.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

mod acks;
mod actions;
mod legacy;
mod receive;
mod sealing;
mod send;

use super::client::{Command, LinkConfig, Reply};
use super::transfers::{Effect, MediaLimits, Transfers, Verified};
use super::{Account, ClientError, ClientOptions, ClientResult, ConnState, Event, RetryPolicy};
use crate::crypto::Address;
use crate::session::{Sessions, V1Sessions, V2Sessions};
use crate::store::{self, now_ms};
use crate::transport::{Link, Transport, TransportConfig, TransportEvent};
use crate::wire::{MessageHash, Packet};
use sealing::transact;

/// Most transport events handled in one database transaction.
const MAX_BATCH: usize = 512;
/// Longest wait of a file for its peer's keys (the session layer waits 3 s for them, then
/// speaks v1).
const KEYS_WAIT: Duration = Duration::from_secs(4);
/// The page cache of the engine's connection (see [`store::ChatDb::set_cache_mib`]).
const ENGINE_CACHE_MIB: u32 = 16;
/// Transport events buffered between the connection and the engine (backpressure beyond):
/// at most this many 64 KiB chunks wait in memory.
const EVENT_BUFFER: usize = 128;

/// Starts the link a configuration names.
fn connect(
    cfg: LinkConfig,
    client_id: &str,
    topic: &str,
    events: mpsc::Sender<TransportEvent>,
) -> ClientResult<Box<dyn Link>> {
    Ok(match cfg {
        LinkConfig::Mqtt(t) => Box::new(Transport::start(*t, events)?),
        LinkConfig::Memory(hub) => Box::new(hub.connect(client_id, topic, events)),
    })
}

pub(super) struct Engine {
    account: Account,
    sessions: Arc<dyn Sessions>,
    link: Box<dyn Link>,
    /// Where a new link (after [`Command::Reconfigure`]) reports.
    link_events: mpsc::Sender<TransportEvent>,
    link_rx: mpsc::Receiver<TransportEvent>,
    events: mpsc::UnboundedSender<Event>,
    verified_tx: mpsc::UnboundedSender<Verified>,
    verified_rx: mpsc::UnboundedReceiver<Verified>,
    transfers: Transfers,
    retry: RetryPolicy,
    /// Messages handed to the link and not yet acknowledged or lost; `true` for those handed
    /// while N (their acknowledgement turns them S; a retransmission's changes nothing).
    queued: HashMap<MessageHash, bool>,
    /// Acknowledged messages whose S is not written yet.
    unsaved: acks::UnsavedAcks,
    /// Queued messages confirmed before their acknowledgement came (it reports no S).
    confirmed_early: HashSet<MessageHash>,
    /// Peers known to have written (their messages carry no introduction), and peers known
    /// not to have, until any message comes in: the store is not asked again per message.
    written: std::collections::HashMap<Address, bool>,
    drops: BTreeMap<&'static str, u64>,
    connected: bool,
    /// The broker and MQTT version of the current connection.
    broker: (String, Option<&'static str>),
    ready_sent: bool,
    /// Peers whose keys messages wait for (their key topics are subscribed), since when.
    waiting_keys: HashMap<Address, tokio::time::Instant>,
    /// When this account's key bundle was last looked at for publishing.
    keys_checked: tokio::time::Instant,
    /// What loading the transfers asked for, applied when the engine starts.
    startup: Vec<Effect>,
    /// The connection under the old (v1) client id, while it drains.
    legacy: Option<legacy::Legacy>,
    /// Search indexing and WAL checkpoints off the engine's path.
    _maintenance: store::Maintenance,
}

impl Engine {
    pub(super) fn new(
        account: Account,
        link: LinkConfig,
        options: ClientOptions,
        events: mpsc::UnboundedSender<Event>,
    ) -> ClientResult<Self> {
        let (link_events, link_rx) = mpsc::channel(EVENT_BUFFER);
        let (verified_tx, verified_rx) = mpsc::unbounded_channel();
        let legacy = match &link {
            LinkConfig::Mqtt(t) => {
                legacy::Legacy::start_if_needed(&account.chat, t, crate::wire::client_id(&account.address()))?
            }
            LinkConfig::Memory(_) => None,
        };
        let link = connect(link, &account.client_id(), &account.address().to_hex(), link_events.clone())?;
        let maintenance = store::Maintenance::start(&account.chat, account.reader()?)?;
        account.chat.set_cache_mib(ENGINE_CACHE_MIB)?;
        let mut transfers = Transfers::new(account.objects.clone(), options.limits, options.need_first);
        // Files to peers of protocol v2 travel with their size padded (PROTOCOL.md section 11).
        let conn = account.chat.connection();
        transfers.load_outgoing(&account.chat, |peer| store::olm::has_device(conn, peer).unwrap_or(false))?;
        let clean = account.chat.begin_run()?;
        let startup = transfers.load_incoming(&account.chat, !clean)?;
        Ok(Self {
            sessions: match options.protocol {
                super::Protocol::V1 => Arc::new(V1Sessions::new(account.keys.clone())),
                super::Protocol::V2 => Arc::new(V2Sessions::new(account.keys.clone())),
            },
            account,
            link,
            link_events,
            link_rx,
            events,
            verified_tx,
            verified_rx,
            transfers,
            retry: options.retry,
            queued: HashMap::new(),
            unsaved: Default::default(),
            confirmed_early: HashSet::new(),
            written: Default::default(),
            drops: BTreeMap::new(),
            connected: false,
            broker: (String::new(), None),
            ready_sent: false,
            waiting_keys: HashMap::new(),
            keys_checked: tokio::time::Instant::now(),
            startup,
            legacy,
            _maintenance: maintenance,
        })
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let startup = std::mem::take(&mut self.startup);
        self.apply(startup);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown_reply = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(first @ Command::SendText { .. }) => {
                        // Texts queued behind this one are stored in the same transaction.
                        let mut texts = vec![first];
                        let mut next = None;
                        while texts.len() < MAX_BATCH {
                            match commands.try_recv() {
                                Ok(t @ Command::SendText { .. }) => texts.push(t),
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
                            Some(cmd) => self.handle_command(cmd).await,
                            None => {}
                        }
                    }
                    Some(cmd) => self.handle_command(cmd).await,
                },
                ev = self.link_rx.recv() => {
                    let Some(ev) = ev else { break None };
                    let mut batch = vec![ev];
                    while batch.len() < MAX_BATCH {
                        match self.link_rx.try_recv() {
                            Ok(ev) => batch.push(ev),
                            Err(_) => break,
                        }
                    }
                    self.handle_batch(batch);
                }
                Some(ev) = async {
                    match self.legacy.as_mut() {
                        Some(l) => l.next().await,
                        None => std::future::pending().await,
                    }
                } => self.on_legacy_event(ev),
                Some(v) = self.verified_rx.recv() => {
                    let effects = self.transfers.on_verified(v);
                    self.apply(effects);
                }
                _ = tick.tick() => {
                    self.retry_overdue();
                    self.keys_tick();
                    self.legacy_tick();
                    if self.connected {
                        let asks = self.transfers.ask_for_missing(now_ms());
                        self.apply(asks);
                    }
                }
            }
            // The store work above does not await: without a yield, a task this loop woke (the
            // link's publisher, waiting in this worker's next-task slot, which no other worker
            // takes) runs only once this task's budget is spent, hundreds of batches later: a
            // subscription to a peer's keys went out seconds late under a burst of sends.
            self.save_acks(false);
            tokio::task::yield_now().await;
        };
        self.apply(Vec::new()); // saves transfer progress
        self.save_acks(true);
        if let Err(e) = self.account.chat.end_run() {
            self.fail(e.into());
        }
        self.link.shutdown().await;
        let _ = self.events.send(Event::Connection {
            state: ConnState::Offline,
            broker: String::new(),
            detail: None,
            protocol: None,
        });
        // Everything that holds the database is closed before the caller hears of the stop:
        // it may end the process next.
        let Engine { account, link, _maintenance, .. } = self;
        drop(_maintenance);
        drop(link);
        drop(account);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    pub(super) fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub(super) fn fail(&self, e: ClientError) {
        self.emit(Event::Error(Arc::new(e)));
    }

    pub(super) fn count_drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
        self.emit(Event::Dropped { reason });
    }

    async fn handle_command(&mut self, cmd: Command) {
        fn answer<T>(reply: Reply<T>, r: Result<T, impl Into<ClientError>>) {
            let _ = reply.send(r.map_err(Into::into));
        }
        let chat = &mut self.account.chat;
        match cmd {
            Command::SendText { .. } => self.send_texts(vec![cmd]),
            Command::SendFile { to, file, reply } => {
                let r = self.send_file(to, *file);
                answer(reply, r);
            }
            Command::Accept { file, reply } => match self.transfers.accept(&file, now_ms()) {
                Ok(effects) => {
                    self.apply(effects);
                    answer(reply, ClientResult::Ok(()));
                }
                Err(e) => answer::<()>(reply, Err(e)),
            },
            Command::Retry { file, reply } => {
                let r = self
                    .account
                    .chat
                    .failed_incoming(&file)
                    .map_err(ClientError::from)
                    .and_then(|failed| self.transfers.retry(&file, failed, now_ms()));
                match r {
                    Ok(effects) => {
                        self.apply(effects);
                        answer(reply, ClientResult::Ok(()));
                    }
                    Err(e) => answer::<()>(reply, Err(e)),
                }
            }
            Command::AddFriend { address, name, reply } => {
                let r = chat.upsert_friend(&address, &name);
                if r.is_ok() {
                    let effects = self.transfers.accept_from(&address, now_ms());
                    self.apply(effects);
                }
                answer(reply, r);
            }
            Command::SetBlocked { address, blocked, reply } => {
                let r = if blocked { chat.block(&address) } else { chat.unblock(&address).map(|_| ()) };
                answer(reply, r);
            }
            Command::RemoveFriend { address, reply } => answer(reply, chat.remove_friend(&address).map(|_| ())),
            Command::MarkRead { chat: id, reply } => {
                let r = self.mark_read(id);
                answer(reply, r);
            }
            Command::Act { action, reply } => {
                let r = self.act(action);
                answer(reply, r);
            }
            Command::Typing { chat: id, on } => self.send_typing(id, on),
            Command::Forwardable { hash, reply } => {
                let r = self.forwardable(hash);
                answer(reply, r);
            }
            Command::SetPrivacy { read_receipts, typing, reply } => {
                let r = self.set_privacy(read_receipts, typing);
                answer(reply, r);
            }
            Command::ChangeTalk { chat: id, change, reply } => answer(reply, chat.change_talk(id, &change)),
            Command::Reconfigure { transport, limits, reply } => {
                let r = self.reconfigure(*transport, limits).await;
                answer(reply, r);
            }
            Command::Hosting(addr) => self.emit(Event::Hosting { addr }),
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    /// Replaces the MQTT connection: the old one is closed cleanly first (the broker keeps the
    /// session, so nothing unacknowledged is lost), then the new one starts. Publishes handed to
    /// the old one and not acknowledged are published again once the new one connects.
    async fn reconfigure(&mut self, transport: TransportConfig, limits: MediaLimits) -> ClientResult<()> {
        Transport::validate(&transport)?;
        self.link.shutdown().await;
        // What the old connection reported last: acknowledgements count; received messages
        // were never acknowledged, so the broker delivers them again on the new connection.
        while let Ok(ev) = self.link_rx.try_recv() {
            if matches!(ev, TransportEvent::Acked(_) | TransportEvent::Lost(_)) {
                self.handle_batch(vec![ev]);
            }
        }
        let broker = transport.urls.first().map(|u| u.to_string()).unwrap_or_default();
        let topic = self.account.address().to_hex();
        let client_id = self.account.client_id();
        self.link = connect(LinkConfig::Mqtt(Box::new(transport)), &client_id, &topic, self.link_events.clone())?;
        self.transfers.set_limits(limits);
        self.connected = false;
        self.queued.clear();
        self.confirmed_early.clear();
        self.transfers.requeue_in_flight();
        let detail = Some("settings changed".into());
        self.emit(Event::Connection { state: ConnState::Reconnecting, broker, detail, protocol: None });
        Ok(())
    }

    /// Hands more file chunks to the link while the window allows.
    pub(super) fn pump(&mut self) {
        if self.connected {
            // A file waits while its announcement waits for the peer's keys (at most a few s).
            let waiting = &self.waiting_keys;
            let ready = |peer: &Address| waiting.get(peer).is_none_or(|t| t.elapsed() > KEYS_WAIT);
            let effects = self.transfers.pump(ready);
            self.apply(effects);
        }
    }

    /// Applies the transfers' effects: saves changed rows and seals what to publish in one
    /// transaction, then publishes, reports and starts verifications.
    pub(super) fn apply(&mut self, effects: Vec<Effect>) {
        let mut publish = Vec::new();
        let mut events = Vec::new();
        for e in effects {
            match e {
                Effect::Publish { to, body, tag, pad_to } => {
                    let packet = Packet::new(body);
                    let cbor = match pad_to {
                        Some(len) => packet.encode_padded_to(len),
                        None => packet.encode(),
                    };
                    publish.push((to, cbor, tag));
                }
                Effect::Emit(ev) => events.push(ev),
                Effect::Fail(err) => events.push(Event::Error(Arc::new(err))),
                Effect::Drop(reason) => self.count_drop(reason),
                Effect::Verify(job) => {
                    let done = self.verified_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = done.send(job.run());
                    });
                }
            }
        }
        let rows = self.transfers.take_dirty();
        if !publish.is_empty() || !rows.is_empty() {
            let sessions = self.sessions.clone();
            let r = transact(&mut self.account.chat, &*self.link, &*self.sessions, |tx, _, sealed| {
                for row in &rows {
                    store::put_transfer(tx, row)?;
                }
                for (to, cbor, tag) in &publish {
                    sealed.seal(&*sessions, tx, to, cbor, *tag, false)?;
                }
                Ok(())
            });
            if let Err(e) = r {
                // Chunks not handed over are sent again; the rows are saved with the next change.
                for tag in publish.iter().filter_map(|p| p.2) {
                    self.transfers.on_lost(&tag);
                }
                self.fail(e);
            }
        }
        for ev in events {
            self.emit(ev);
        }
    }

    pub(super) fn on_connection_event(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::Connected { broker, session_present, protocol, note } => {
                self.connected = true;
                // What follows reads the outbox as the store has it.
                self.save_acks(true);
                let protocol = protocol.map(|p| p.as_str());
                self.broker = (broker.clone(), protocol);
                // The broker may have lost what it retained: the key bundle goes again.
                self.publish_own_keys(true);
                self.publish_unsent();
                let republished = match session_present {
                    true => None,
                    false => match self.republish_after_lost_session() {
                        0 => None,
                        n => Some(format!("the broker kept no session: {n} unconfirmed messages published again")),
                    },
                };
                let detail = match (republished, note) {
                    (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                    (a, b) => a.or(b),
                };
                self.emit(Event::Connection { state: ConnState::Connected, broker, detail, protocol });
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
                let detail = Some(error);
                self.emit(Event::Connection { state: ConnState::Reconnecting, broker, detail, protocol: None });
            }
            TransportEvent::Refused { reason, .. } => {
                let state = if self.connected { ConnState::Connected } else { ConnState::Reconnecting };
                let (broker, protocol) = self.broker.clone();
                self.emit(Event::Connection { state, broker, detail: Some(reason), protocol });
            }
            TransportEvent::Message(_) | TransportEvent::Acked(_) | TransportEvent::Lost(_) => {}
        }
    }

    /// Messages wait for these peers' keys: subscribe to their key topics.
    pub(super) fn await_keys(&mut self, peers: Vec<Address>) {
        for peer in peers {
            if let std::collections::hash_map::Entry::Vacant(e) = self.waiting_keys.entry(peer) {
                e.insert(tokio::time::Instant::now());
                if let Some(filter) = self.sessions.key_filter(&peer) {
                    self.link.subscribe(filter);
                }
            }
        }
    }

    /// A peer's keys are known: what waited for them goes now.
    pub(super) fn keys_known(&mut self, peer: &Address) {
        if self.waiting_keys.remove(peer).is_some() {
            if let Some(filter) = self.sessions.key_filter(peer) {
                self.link.unsubscribe(filter);
            }
            self.publish_unsent();
            self.pump();
        }
    }

    /// Each second: messages that waited long enough for keys go (in v1); the own bundle is
    /// published again when it changed (one-time keys used up).
    fn keys_tick(&mut self) {
        if !self.waiting_keys.is_empty() {
            self.publish_unsent();
            self.pump();
            let stale: Vec<Address> = self
                .waiting_keys
                .iter()
                .filter(|(_, since)| since.elapsed() > Duration::from_secs(60))
                .map(|(p, _)| *p)
                .collect();
            for peer in stale {
                self.waiting_keys.remove(&peer);
                if let Some(filter) = self.sessions.key_filter(&peer) {
                    self.link.unsubscribe(filter);
                }
            }
        }
        if self.connected && self.keys_checked.elapsed() >= Duration::from_secs(5) {
            self.publish_own_keys(false);
        }
    }

    /// Writes (and reports) S for the acknowledged messages whose receipt has not come within
    /// [`acks::SAVE_AFTER_MS`] (all of them with `all`). A failed write leaves them N: they
    /// are published again after the next connect.
    pub(super) fn save_acks(&mut self, all: bool) {
        let before = now_ms() - acks::SAVE_AFTER_MS;
        if !all && !self.unsaved.any_before(before) {
            return;
        }
        let due = self.unsaved.take((!all).then_some(before));
        if due.is_empty() {
            return;
        }
        let first = self.retry.first.as_millis() as i64;
        let r = self.account.chat.batch(|tx, _| {
            let mut sent = Vec::new();
            for (hash, at) in &due {
                if store::mark_sent(tx, hash, at + first)? {
                    sent.push(*hash);
                }
            }
            Ok::<_, ClientError>(sent)
        });
        match r {
            Ok(sent) => {
                for hash in sent {
                    self.emit(Event::Status { hash, stat: store::MessageStatus::Sent });
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// Publishes this account's key bundle (retained) when due, or always with `force`.
    fn publish_own_keys(&mut self, force: bool) {
        self.keys_checked = tokio::time::Instant::now();
        let sessions = self.sessions.clone();
        match self.account.chat.batch(|tx, _| Ok::<_, ClientError>(sessions.own_keys(tx, force)?)) {
            Ok(Some(p)) => self.link.publish_retained(p.topic, p.payload),
            Ok(None) => {}
            Err(e) => self.fail(e),
        }
    }
}
