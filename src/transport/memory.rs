//! An in-memory broker for tests: the MQTT semantics WoChat relies on, without sockets.
//!
//! - A session per client id, persistent across connections: deliveries not yet acknowledged
//!   (and those queued while offline) come again, in order, when it connects again.
//! - QoS 1: a publish is acknowledged (`Acked(tags)`) once the hub has queued it for the sessions
//!   subscribed to its topic; with no such session it is dropped, as a broker would.
//! - Retained publishes are kept per topic and delivered to every later subscriber.
//! - [`Hub::restart`] forgets every session and queue, like a broker without persistence that
//!   restarted: connected links see a disconnect and a session-less reconnect.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use super::link::{Link, LinkFuture};
use super::mqtt::AckHandle;
use super::{Incoming, Tag, TransportEvent};

/// The broker: cheap to clone, shared by every link connected to it.
#[derive(Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<HubState>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct HubState {
    /// Sessions by client id.
    sessions: HashMap<String, Session>,
    /// Retained publishes by topic.
    retained: HashMap<String, bytes::Bytes>,
    next_id: u64,
    /// Every publish seen, for tests that look at what crossed the broker.
    log: Vec<(String, Vec<u8>)>,
    logging: bool,
    /// Most deliveries queued for a session that is not connected (0: no limit); more are
    /// dropped, like Mosquitto's `max_queued_messages`.
    queue_limit: usize,
}

struct Session {
    /// Topic filters subscribed to (kept with the session, as MQTT does).
    filters: std::collections::BTreeSet<String>,
    /// Deliveries not acknowledged yet, by number (in order), with their topics.
    pending: BTreeMap<u64, (String, bytes::Bytes)>,
    /// The connected link's feed, if connected.
    feed: Option<mpsc::UnboundedSender<TransportEvent>>,
}

impl Hub {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// A broker that keeps at most `limit` deliveries for a session while it is offline.
    pub fn with_queue_limit(limit: usize) -> Self {
        let hub = Self::default();
        hub.lock().queue_limit = limit;
        hub
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connects `client_id`, subscribed to `topic`; events go to `events` (bounded: a full
    /// channel holds deliveries back, as a slow TCP reader would).
    pub fn connect(&self, client_id: &str, topic: &str, events: mpsc::Sender<TransportEvent>) -> MemoryLink {
        let (feed, mut rx) = mpsc::unbounded_channel::<TransportEvent>();
        {
            let mut s = self.lock();
            let present = s.sessions.contains_key(client_id);
            let session = s.sessions.entry(client_id.to_string()).or_insert_with(Session::new);
            session.filters.insert(topic.to_string());
            let _ = feed.send(TransportEvent::Connected {
                broker: "memory".into(),
                session_present: present,
                protocol: None,
                note: None,
            });
            let _ = feed.send(TransportEvent::Subscribed);
            for (id, (topic, payload)) in &session.pending {
                let ack = AckHandle::Memory(client_id.to_string(), *id);
                let incoming = Incoming { topic: topic.clone(), payload: payload.clone(), ack };
                let _ = feed.send(TransportEvent::Message(incoming));
            }
            session.feed = Some(feed.clone());
        }
        let pump = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if events.send(ev).await.is_err() {
                    return;
                }
            }
        });
        MemoryLink { hub: self.clone(), client_id: client_id.to_string(), feed, pump }
    }

    /// Forgets every session and queued delivery; connected links see the broker go away and
    /// come back without their sessions.
    pub fn restart(&self) {
        let mut s = self.lock();
        s.retained.clear();
        let sessions = std::mem::take(&mut s.sessions);
        for (id, session) in sessions {
            if let Some(feed) = session.feed {
                let _ = feed.send(TransportEvent::Disconnected {
                    broker: "memory".into(),
                    error: "the broker restarted".into(),
                    retry_in: Duration::ZERO,
                });
                let _ = feed.send(TransportEvent::Connected {
                    broker: "memory".into(),
                    session_present: false,
                    protocol: None,
                    note: None,
                });
                let _ = feed.send(TransportEvent::Subscribed);
                let filters = session.filters;
                s.sessions.insert(id, Session { feed: Some(feed), filters, pending: BTreeMap::new() });
            }
        }
    }

    /// Starts recording every publish (topic and payload), as a `#` subscriber would see them.
    pub fn record(&self) {
        self.lock().logging = true;
    }

    /// What was recorded since [`Hub::record`].
    pub fn recorded(&self) -> Vec<(String, Vec<u8>)> {
        self.lock().log.clone()
    }

    /// Shuffles the deliveries queued for `client_id` (a broker or network reordering them);
    /// `seed` makes the order repeatable.
    pub fn shuffle_pending(&self, client_id: &str, seed: u64) {
        let mut s = self.lock();
        let Some(session) = s.sessions.get_mut(client_id) else { return };
        let ids: Vec<u64> = session.pending.keys().copied().collect();
        let mut items: Vec<(String, bytes::Bytes)> = session.pending.values().cloned().collect();
        let mut x = seed | 1;
        for i in (1..items.len()).rev() {
            // xorshift64: enough for a test's shuffle.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            items.swap(i, (x % (i as u64 + 1)) as usize);
        }
        session.pending = ids.into_iter().zip(items).collect();
    }

    /// Drops the deliveries queued for `client_id` whose position `drop` selects (a broker
    /// losing part of a queue); returns how many were dropped.
    pub fn drop_pending(&self, client_id: &str, drop: impl Fn(usize) -> bool) -> usize {
        let mut s = self.lock();
        let Some(session) = s.sessions.get_mut(client_id) else { return 0 };
        let before = session.pending.len();
        let kept: BTreeMap<u64, (String, bytes::Bytes)> = std::mem::take(&mut session.pending)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !drop(*i))
            .map(|(_, e)| e)
            .collect();
        session.pending = kept;
        before - session.pending.len()
    }

    /// Deliveries queued or unacknowledged for `client_id`.
    pub fn pending(&self, client_id: &str) -> usize {
        self.lock().sessions.get(client_id).map_or(0, |s| s.pending.len())
    }

    /// Publishes `payload` on `topic` from outside any session (a test's raw client).
    pub fn inject(&self, topic: &str, payload: Vec<u8>) {
        self.deliver(topic, payload.into(), false);
    }

    /// Removes the retained publish of `topic` (as an empty retained publish does).
    pub fn clear_retained(&self, topic: &str) {
        self.lock().retained.remove(topic);
    }

    /// The topics with a retained publish.
    pub fn retained_topics(&self) -> Vec<String> {
        self.lock().retained.keys().cloned().collect()
    }

    fn deliver(&self, topic: &str, payload: bytes::Bytes, retain: bool) {
        let mut s = self.lock();
        if s.logging {
            s.log.push((topic.to_string(), payload.to_vec()));
        }
        if retain {
            if payload.is_empty() {
                s.retained.remove(topic);
            } else {
                s.retained.insert(topic.to_string(), payload.clone());
            }
        }
        let limit = s.queue_limit;
        let clients: Vec<String> = s
            .sessions
            .iter()
            .filter(|(_, session)| session.filters.iter().any(|f| matches_filter(f, topic)))
            .map(|(c, _)| c.clone())
            .collect();
        for client in clients {
            s.next_id += 1;
            let id = s.next_id;
            let Some(session) = s.sessions.get_mut(&client) else { continue };
            if limit > 0 && session.feed.is_none() && session.pending.len() >= limit {
                continue;
            }
            session.queue(&client, id, topic, payload.clone());
        }
    }

    fn subscribe(&self, client: &str, filter: &str) {
        let mut s = self.lock();
        let retained: Vec<(String, bytes::Bytes)> =
            s.retained.iter().filter(|(t, _)| matches_filter(filter, t)).map(|(t, p)| (t.clone(), p.clone())).collect();
        let first = s.next_id + 1;
        s.next_id += retained.len() as u64;
        let Some(session) = s.sessions.get_mut(client) else { return };
        session.filters.insert(filter.to_string());
        for (i, (topic, payload)) in retained.into_iter().enumerate() {
            session.queue(client, first + i as u64, &topic, payload);
        }
    }

    fn unsubscribe(&self, client: &str, filter: &str) {
        if let Some(session) = self.lock().sessions.get_mut(client) {
            session.filters.remove(filter);
        }
    }
}

impl Session {
    fn new() -> Self {
        Self { filters: Default::default(), pending: BTreeMap::new(), feed: None }
    }

    /// Keeps a delivery until it is acknowledged, and hands it over when connected.
    fn queue(&mut self, client: &str, id: u64, topic: &str, payload: bytes::Bytes) {
        self.pending.insert(id, (topic.to_string(), payload.clone()));
        if let Some(feed) = &self.feed {
            let ack = AckHandle::Memory(client.to_string(), id);
            let _ = feed.send(TransportEvent::Message(Incoming { topic: topic.to_string(), payload, ack }));
        }
    }
}

/// Whether MQTT topic `filter` (with `+` and `#` wildcards) matches `topic`.
pub fn matches_filter(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A connection to a [`Hub`]; dropping it disconnects (the session stays).
pub struct MemoryLink {
    hub: Hub,
    client_id: String,
    feed: mpsc::UnboundedSender<TransportEvent>,
    pump: tokio::task::JoinHandle<()>,
}

impl MemoryLink {
    fn disconnect(&self) {
        let mut s = self.hub.lock();
        if let Some(session) = s.sessions.get_mut(&self.client_id)
            && session.feed.as_ref().is_some_and(|f| f.same_channel(&self.feed))
        {
            session.feed = None;
        }
    }
}

impl Link for MemoryLink {
    fn publish(&self, tags: Vec<Tag>, topic: String, payload: Vec<u8>) {
        self.hub.deliver(&topic, payload.into(), false);
        if !tags.is_empty() {
            let _ = self.feed.send(TransportEvent::Acked(tags));
        }
    }

    fn publish_retained(&self, topic: String, payload: Vec<u8>) {
        self.hub.deliver(&topic, payload.into(), true);
    }

    fn subscribe(&self, filter: String) {
        self.hub.subscribe(&self.client_id, &filter);
    }

    fn unsubscribe(&self, filter: String) {
        self.hub.unsubscribe(&self.client_id, &filter);
    }

    fn ack(&self, incoming: Incoming) {
        if let AckHandle::Memory(client, id) = incoming.ack
            && let Some(session) = self.hub.lock().sessions.get_mut(&client)
        {
            session.pending.remove(&id);
        }
    }

    fn shutdown(&self) -> LinkFuture<'_> {
        self.disconnect();
        Box::pin(async {})
    }
}

impl Drop for MemoryLink {
    fn drop(&mut self) {
        self.disconnect();
        self.pump.abort();
    }
}
