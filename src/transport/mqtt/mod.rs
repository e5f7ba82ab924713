//! The MQTT connection task and the publisher task.
//!
//! rumqttc reports a QoS 1 publish as `Outgoing::Publish(pkid)` and its acknowledgement as
//! `PubAck(pkid)`. To know *which* message a PUBACK confirms, the client's request channel is a
//! rendezvous channel (capacity 0) fed by one publisher task: a publish is handed over only
//! when the event loop takes it, so the n-th new `Outgoing::Publish` belongs to the n-th
//! request, and each request's tag is queued just before it is handed over. A resent publish
//! keeps its packet id and is recognised as such. When the broker has lost the session, the
//! publishes rumqttc drops are reported as [`TransportEvent::Lost`] so the caller publishes
//! them again.
//!
//! The connection speaks MQTT 5 or 3.1.1 ([`MqttProtocol`]); with `auto`, a broker that closes
//! or refuses an MQTT 5 CONNECT is asked again at once in 3.1.1 (see [`poll`]).

mod conn;
mod poll;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use self::conn::{Client, Loop};
use super::link::{Link, LinkFuture};
use super::{Backoff, BrokerUrl, MqttProtocol, MqttVersion, TransportError};

/// Identifies a published message (its hash) in [`TransportEvent::Acked`] and `Lost`.
pub type Tag = [u8; 32];

pub use conn::SESSION_EXPIRY_SECS;

/// How to reach the broker and who we are.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Brokers tried in turn.
    pub urls: Vec<BrokerUrl>,
    /// Optional user name.
    pub username: Option<String>,
    /// Optional password.
    pub password: Option<String>,
    /// CA certificates for TLS (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// MQTT client id (PROTOCOL.md section 5).
    pub client_id: String,
    /// The topic to subscribe to (the own address).
    pub topic: String,
    /// Start without a broker session, and let the broker forget it on disconnect (used once,
    /// to delete a session left under an old client id).
    pub clean_session: bool,
    /// Only take what the broker queued for this session: unsubscribe the own topic instead
    /// of subscribing to it (a session left under an old client id).
    pub drain_only: bool,
    /// MQTT keep-alive interval.
    pub keep_alive: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// The MQTT version asked of the broker.
    pub protocol: MqttProtocol,
    /// The largest packet we take (an envelope and its topic); MQTT 5 tells the broker, which
    /// then sends nothing larger.
    pub max_packet: usize,
}

impl TransportConfig {
    /// A configuration for `urls` with the defaults: a persistent session, 30 s keep-alive,
    /// MQTT 5 when the broker speaks it.
    pub fn new(urls: Vec<BrokerUrl>, client_id: String, topic: String) -> Self {
        Self {
            urls,
            username: None,
            password: None,
            ca_file: None,
            client_id,
            topic,
            clean_session: false,
            drain_only: false,
            keep_alive: Duration::from_secs(30),
            backoff: Backoff::default(),
            protocol: MqttProtocol::Auto,
            max_packet: 8 * 1024 * 1024,
        }
    }
}

/// An incoming publish; acknowledge it with [`Link::ack`] once it is stored.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The topic it came on: the own topic (an envelope), or a subscribed key topic.
    pub topic: String,
    /// The MQTT payload (an envelope, if the sender follows the protocol).
    pub payload: bytes::Bytes,
    pub(super) ack: AckHandle,
}

/// What a link needs to acknowledge a delivery.
#[derive(Debug, Clone)]
pub(super) enum AckHandle {
    /// The MQTT 3.1.1 publish (its packet id), without its payload.
    Mqtt(Box<rumqttc::Publish>),
    /// The MQTT 5 publish, without its payload.
    Mqtt5(Box<rumqttc::v5::mqttbytes::v5::Publish>),
    /// A delivery of the in-memory hub: the session's client id and the delivery's number.
    Memory(String, u64),
}

/// What the transport reports.
#[derive(Debug)]
pub enum TransportEvent {
    /// Connected and (re)subscribed.
    Connected {
        /// The broker URL.
        broker: String,
        /// Whether the broker kept our session.
        session_present: bool,
        /// The MQTT version spoken (none for a link that is not MQTT).
        protocol: Option<MqttVersion>,
        /// What the broker said that the user should know (it keeps the session for less
        /// than asked).
        note: Option<String>,
    },
    /// The connection failed or dropped; the next attempt follows after `retry_in`.
    Disconnected {
        /// The broker URL.
        broker: String,
        /// Why.
        error: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The broker confirmed the subscription to our topic.
    Subscribed,
    /// A publish on our topic.
    Message(Incoming),
    /// The broker acknowledged a publish: the tags it carried (one event per acknowledgement,
    /// so that a batch's PUBACK does not fill the channel with one event per message).
    Acked(Vec<Tag>),
    /// These tagged publishes were dropped with a lost session: publish them again.
    Lost(Vec<Tag>),
    /// The broker refused a publish (its PUBACK reason code, or a packet larger than it
    /// takes) or a subscription (SUBACK): why, with the reason code.
    Refused {
        /// The publish's tags (none: a subscription, or an untagged publish).
        tags: Vec<Tag>,
        /// Why.
        reason: String,
    },
}

enum Control {
    Ack(AckHandle),
    /// The own topic and every extra filter (after a ConnAck).
    SubscribeAll,
    Subscribe(String),
    Unsubscribe(String),
}

enum OutMsg {
    Publish {
        tags: Vec<Tag>,
        topic: String,
        payload: bytes::Bytes,
        retain: bool,
    },
    /// Answered once every publish queued before it has been handed to the event loop.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Tags of publishes handed to rumqttc, by packet id once it has one.
#[derive(Default)]
struct Tracking {
    awaiting_pkid: VecDeque<Vec<Tag>>,
    by_pkid: HashMap<u16, Vec<Tag>>,
    /// Counts event loops replaced (a switch of MQTT version): what was tracked before is
    /// reported lost.
    generation: u64,
}

impl Tracking {
    /// Every tag handed to the event loop and not acknowledged, forgotten.
    fn drain_all(&mut self) -> Vec<Tag> {
        let waiting = self.awaiting_pkid.drain(..).flatten();
        waiting.chain(self.by_pkid.drain().flat_map(|(_, t)| t)).collect()
    }
}

/// What the connection task and the publisher task share.
#[derive(Clone)]
struct Shared {
    tracking: Arc<Mutex<Tracking>>,
    /// The largest packet the broker takes (MQTT 5 ConnAck; `u32::MAX` when it said nothing).
    broker_max: Arc<AtomicU32>,
    /// The broker has accepted the connection (its ConnAck) and it has not failed since.
    online: Arc<AtomicBool>,
    events: mpsc::Sender<TransportEvent>,
}

impl Shared {
    fn tracking(&self) -> std::sync::MutexGuard<'_, Tracking> {
        self.tracking.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running MQTT connection. Dropping it stops the tasks.
pub struct Transport {
    control: mpsc::UnboundedSender<Control>,
    data: mpsc::UnboundedSender<OutMsg>,
    client: watch::Receiver<Client>,
    tracking: Arc<Mutex<Tracking>>,
    /// The connection is up (see `Shared::online`).
    online: Arc<AtomicBool>,
    /// Filters subscribed besides the own topic.
    filters: Arc<Mutex<std::collections::BTreeSet<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Transport {
    /// Starts the connection and publisher tasks on the current tokio runtime.
    pub fn start(cfg: TransportConfig, events: mpsc::Sender<TransportEvent>) -> Result<Self, TransportError> {
        if cfg.urls.is_empty() {
            return Err(TransportError::NoBroker);
        }
        let (client, eventloop) = Loop::open(&cfg, 0, cfg.protocol.first())?;
        let (client_tx, client_rx) = watch::channel(client);
        let tracking = Arc::new(Mutex::new(Tracking::default()));
        let online = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            tracking: tracking.clone(),
            broker_max: Arc::new(AtomicU32::new(u32::MAX)),
            online: online.clone(),
            events,
        };
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::unbounded_channel();
        let filters = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let poller = poll::Poller::new(cfg.clone(), eventloop, client_tx, shared.clone(), control_tx.clone());
        let poll = tokio::spawn(poller.run());
        let subscriptions = Subscriptions { own: cfg.topic.clone(), extra: filters.clone() };
        let publisher = tokio::spawn(publish_loop(client_rx.clone(), subscriptions, control_rx, data_rx, shared));
        Ok(Self {
            control: control_tx,
            data: data_tx,
            client: client_rx,
            tracking,
            online,
            filters,
            tasks: vec![poll, publisher],
        })
    }

    /// Checks a configuration (URLs, TLS files) without connecting.
    pub fn validate(cfg: &TransportConfig) -> Result<(), TransportError> {
        if cfg.urls.is_empty() {
            return Err(TransportError::NoBroker);
        }
        (0..cfg.urls.len()).try_for_each(|i| conn::validate(cfg, i))
    }

    /// Sends what is queued (waiting up to 3 s for the broker's acknowledgements), then
    /// disconnects cleanly (the broker keeps the session) and stops the tasks. Without a
    /// connection nothing is waited for: what is unacknowledged is stored and goes next time.
    async fn close(&self) {
        if !self.online.load(Ordering::SeqCst) {
            for t in &self.tasks {
                t.abort();
            }
            return;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.data.send(OutMsg::Flush(tx)).is_ok() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            let _ = tokio::time::timeout_at(deadline, rx).await;
            while tokio::time::Instant::now() < deadline
                && !self.tracking.lock().unwrap_or_else(|e| e.into_inner()).by_pkid.is_empty()
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let client = self.client.borrow().clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), client.disconnect()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Link for Transport {
    fn publish(&self, tags: Vec<Tag>, topic: String, payload: Vec<u8>) {
        let _ = self.data.send(OutMsg::Publish { tags, topic, payload: payload.into(), retain: false });
    }

    fn publish_retained(&self, topic: String, payload: Vec<u8>) {
        let _ = self.data.send(OutMsg::Publish { tags: Vec::new(), topic, payload: payload.into(), retain: true });
    }

    fn subscribe(&self, filter: String) {
        if self.filters.lock().unwrap_or_else(|e| e.into_inner()).insert(filter.clone()) {
            let _ = self.control.send(Control::Subscribe(filter));
        }
    }

    fn unsubscribe(&self, filter: String) {
        if self.filters.lock().unwrap_or_else(|e| e.into_inner()).remove(&filter) {
            let _ = self.control.send(Control::Unsubscribe(filter));
        }
    }

    fn ack(&self, incoming: Incoming) {
        if !matches!(incoming.ack, AckHandle::Memory(..)) {
            let _ = self.control.send(Control::Ack(incoming.ack));
        }
    }

    fn shutdown(&self) -> LinkFuture<'_> {
        Box::pin(self.close())
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What the connection subscribes to.
struct Subscriptions {
    own: String,
    extra: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

/// One thing for the publisher task to hand to the event loop.
enum Job {
    Control(Control),
    Publish { tags: Vec<Tag>, topic: String, payload: bytes::Bytes, retain: bool },
}

/// What became of a job.
enum Outcome {
    Done,
    /// The event loop was replaced (another MQTT version): hand it to the new one.
    Again,
}

async fn publish_loop(
    mut client: watch::Receiver<Client>,
    subscriptions: Subscriptions,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut data: mpsc::UnboundedReceiver<OutMsg>,
    shared: Shared,
) {
    loop {
        let job = tokio::select! {
            biased;
            c = control.recv() => match c {
                Some(c) => Job::Control(c),
                None => return,
            },
            m = data.recv() => match m {
                Some(OutMsg::Publish { tags, topic, payload, retain }) => Job::Publish { tags, topic, payload, retain },
                Some(OutMsg::Flush(done)) => {
                    let _ = done.send(());
                    continue;
                }
                None => return,
            },
        };
        loop {
            let current = client.borrow_and_update().clone();
            match run_job(&current, &job, &subscriptions, &shared).await {
                Outcome::Done => break,
                Outcome::Again => {
                    if client.changed().await.is_err() {
                        return; // the connection task ended
                    }
                }
            }
        }
    }
}

async fn run_job(client: &Client, job: &Job, subscriptions: &Subscriptions, shared: &Shared) -> Outcome {
    let again = |r: Result<(), conn::Gone>| if r.is_ok() { Outcome::Done } else { Outcome::Again };
    match job {
        Job::Control(Control::SubscribeAll) => {
            let extra: Vec<String> =
                subscriptions.extra.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
            let mut r = client.subscribe(subscriptions.own.clone()).await;
            for f in extra {
                r = r.and(client.subscribe(f).await);
            }
            // A new event loop subscribes everything on its own ConnAck.
            let _ = r;
            Outcome::Done
        }
        Job::Control(Control::Subscribe(f)) => again(client.subscribe(f.clone()).await),
        Job::Control(Control::Unsubscribe(f)) => again(client.unsubscribe(f.clone()).await),
        // A delivery of a replaced event loop comes again on the new one.
        Job::Control(Control::Ack(handle)) => {
            let _ = client.ack(handle).await;
            Outcome::Done
        }
        Job::Publish { tags, topic, payload, retain } => {
            // MQTT 5 fixed header, topic, packet id and property length: well under 16 bytes
            // besides the topic and the payload.
            let size = payload.len() + topic.len() + 16;
            let max = shared.broker_max.load(Ordering::Relaxed);
            if size > max as usize {
                let reason =
                    format!("the broker takes packets of at most {max} bytes: a publish of {size} was not sent");
                let _ = shared.events.send(TransportEvent::Refused { tags: tags.clone(), reason }).await;
                return Outcome::Done;
            }
            let generation = {
                let mut t = shared.tracking();
                t.awaiting_pkid.push_back(tags.clone());
                t.generation
            };
            if client.publish(topic.clone(), payload.clone(), *retain).await.is_ok() {
                return Outcome::Done;
            }
            let mut t = shared.tracking();
            if t.generation == generation {
                // Not handed over, not reported: take the tag back and try the new loop.
                t.awaiting_pkid.pop_back();
                Outcome::Again
            } else {
                // Reported lost with the replaced loop: the caller publishes it again.
                Outcome::Done
            }
        }
    }
}
