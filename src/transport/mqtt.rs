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

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use tokio::sync::mpsc;

use super::link::{Link, LinkFuture};
use super::{Backoff, BrokerUrl, TransportError};

/// Identifies a published message (its hash) in [`TransportEvent::Acked`] and `Lost`.
pub type Tag = [u8; 32];

/// Largest MQTT packet accepted or sent: an envelope is at most 1 MiB; larger packets from a
/// hostile publisher are still read (and dropped by the envelope check) up to this size.
const MAX_PACKET: usize = 8 * 1024 * 1024;

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
    /// The MQTT publish (its packet id), without its payload.
    Mqtt(Box<Publish>),
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
    /// The broker acknowledged the publish with this tag.
    Acked(Tag),
    /// These tagged publishes were dropped with a lost session: publish them again.
    Lost(Vec<Tag>),
}

enum Control {
    Ack(Publish),
    /// The own topic and every extra filter (after a ConnAck).
    SubscribeAll,
    Subscribe(String),
    Unsubscribe(String),
}

enum OutMsg {
    Publish {
        tag: Option<Tag>,
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
    awaiting_pkid: VecDeque<Option<Tag>>,
    by_pkid: HashMap<u16, Option<Tag>>,
}

/// A running MQTT connection. Dropping it stops the tasks.
pub struct Transport {
    control: mpsc::UnboundedSender<Control>,
    data: mpsc::UnboundedSender<OutMsg>,
    client: AsyncClient,
    tracking: Arc<Mutex<Tracking>>,
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
        let first = options_for(&cfg, 0)?;
        let (client, mut eventloop) = AsyncClient::new(first, 0);
        // Chat messages are small: Nagle's algorithm would hold them back (with the peer's
        // delayed ACK, for tens of milliseconds).
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let tracking = Arc::new(Mutex::new(Tracking::default()));
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::unbounded_channel();
        let filters = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let poll = tokio::spawn(poll_loop(cfg.clone(), eventloop, events, tracking.clone(), control_tx.clone()));
        let subscriptions = Subscriptions { own: cfg.topic.clone(), extra: filters.clone() };
        let publisher =
            tokio::spawn(publish_loop(client.clone(), subscriptions, control_rx, data_rx, tracking.clone()));
        Ok(Self { control: control_tx, data: data_tx, client, tracking, filters, tasks: vec![poll, publisher] })
    }

    /// Checks a configuration (URLs, TLS files) without connecting.
    pub fn validate(cfg: &TransportConfig) -> Result<(), TransportError> {
        if cfg.urls.is_empty() {
            return Err(TransportError::NoBroker);
        }
        (0..cfg.urls.len()).try_for_each(|i| options_for(cfg, i).map(|_| ()))
    }

    /// Sends what is queued (waiting up to 3 s for the broker's acknowledgements), then
    /// disconnects cleanly (the broker keeps the session) and stops the tasks.
    async fn close(&self) {
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
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.disconnect()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Link for Transport {
    fn publish(&self, tag: Option<Tag>, topic: String, payload: Vec<u8>) {
        let _ = self.data.send(OutMsg::Publish { tag, topic, payload: payload.into(), retain: false });
    }

    fn publish_retained(&self, topic: String, payload: Vec<u8>) {
        let _ = self.data.send(OutMsg::Publish { tag: None, topic, payload: payload.into(), retain: true });
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
        if let AckHandle::Mqtt(p) = incoming.ack {
            let _ = self.control.send(Control::Ack(*p));
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

fn options_for(cfg: &TransportConfig, index: usize) -> Result<MqttOptions, TransportError> {
    let url = &cfg.urls[index % cfg.urls.len()];
    let mut o = MqttOptions::new(cfg.client_id.clone(), url.host.clone(), url.port);
    o.set_clean_session(cfg.clean_session)
        .set_keep_alive(cfg.keep_alive)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_inflight(100);
    if let (Some(u), p) = (&cfg.username, &cfg.password) {
        o.set_credentials(u.clone(), p.clone().unwrap_or_default());
    }
    if url.tls {
        let tls = super::tls::client_config(cfg.ca_file.as_deref()).map_err(TransportError::Tls)?;
        o.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(tls)));
    }
    Ok(o)
}

async fn poll_loop(
    cfg: TransportConfig,
    mut eventloop: EventLoop,
    events: mpsc::Sender<TransportEvent>,
    tracking: Arc<Mutex<Tracking>>,
    control: mpsc::UnboundedSender<Control>,
) {
    let mut backoff = cfg.backoff.clone();
    let mut url_index = 0usize;
    loop {
        let broker = cfg.urls[url_index % cfg.urls.len()].to_string();
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                if !ack.session_present {
                    // rumqttc dropped the publishes it would have resent: report them.
                    let lost: Vec<Tag> = {
                        let mut t = tracking.lock().unwrap_or_else(|e| e.into_inner());
                        t.by_pkid.drain().filter_map(|(_, tag)| tag).collect()
                    };
                    if !lost.is_empty() && events.send(TransportEvent::Lost(lost)).await.is_err() {
                        return;
                    }
                }
                let _ = control.send(if cfg.drain_only {
                    Control::Unsubscribe(cfg.topic.clone())
                } else {
                    Control::SubscribeAll
                });
                if events
                    .send(TransportEvent::Connected { broker, session_present: ack.session_present })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(ev) => {
                if !handle_event(ev, &events, &tracking).await {
                    return;
                }
            }
            Err(e) => {
                // Events rumqttc buffered before the failure still describe what happened.
                let buffered: Vec<Event> = eventloop.state.events.drain(..).collect();
                for ev in buffered {
                    if !handle_event(ev, &events, &tracking).await {
                        return;
                    }
                }
                if matches!(e, rumqttc::ConnectionError::RequestsDone) {
                    return;
                }
                let retry_in = backoff.next_delay();
                let error = e.to_string();
                if events.send(TransportEvent::Disconnected { broker, error, retry_in }).await.is_err() {
                    return;
                }
                tokio::time::sleep(retry_in).await;
                if cfg.urls.len() > 1 {
                    url_index = (url_index + 1) % cfg.urls.len();
                    match options_for(&cfg, url_index) {
                        Ok(o) => eventloop.mqtt_options = o,
                        Err(error) => {
                            let _ = events
                                .send(TransportEvent::Disconnected {
                                    broker: cfg.urls[url_index].to_string(),
                                    error: error.to_string(),
                                    retry_in: Duration::ZERO,
                                })
                                .await;
                        }
                    }
                }
            }
        }
    }
}

/// Handles one event; `false` when the receiver is gone. Waiting on a full channel is the
/// backpressure that stops reading from the broker while the engine catches up.
async fn handle_event(ev: Event, events: &mpsc::Sender<TransportEvent>, tracking: &Mutex<Tracking>) -> bool {
    match ev {
        Event::Incoming(Packet::Publish(mut p)) => {
            // The payload is a slice of rumqttc's read buffer: holding it would pin that whole
            // (growing) buffer while the message waits. Copy it out; keep a bare packet to ack.
            let payload = bytes::Bytes::copy_from_slice(&p.payload);
            p.payload = bytes::Bytes::new();
            let topic = p.topic.clone();
            events
                .send(TransportEvent::Message(Incoming { topic, payload, ack: AckHandle::Mqtt(Box::new(p)) }))
                .await
                .is_ok()
        }
        Event::Incoming(Packet::SubAck(_)) => events.send(TransportEvent::Subscribed).await.is_ok(),
        Event::Incoming(Packet::PubAck(a)) => {
            let tag = tracking.lock().unwrap_or_else(|e| e.into_inner()).by_pkid.remove(&a.pkid).flatten();
            match tag {
                Some(tag) => events.send(TransportEvent::Acked(tag)).await.is_ok(),
                None => true,
            }
        }
        Event::Outgoing(Outgoing::Publish(pkid)) => {
            let mut t = tracking.lock().unwrap_or_else(|e| e.into_inner());
            if !t.by_pkid.contains_key(&pkid) {
                // A new publish (a resend keeps its packet id and its entry).
                let tag = t.awaiting_pkid.pop_front().flatten();
                t.by_pkid.insert(pkid, tag);
            }
            true
        }
        _ => true,
    }
}

/// What the connection subscribes to.
struct Subscriptions {
    own: String,
    extra: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

async fn publish_loop(
    client: AsyncClient,
    subscriptions: Subscriptions,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut data: mpsc::UnboundedReceiver<OutMsg>,
    tracking: Arc<Mutex<Tracking>>,
) {
    loop {
        let result = tokio::select! {
            biased;
            c = control.recv() => match c {
                Some(Control::SubscribeAll) => {
                    let extra: Vec<String> =
                        subscriptions.extra.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
                    let mut r = client.subscribe(subscriptions.own.clone(), QoS::AtLeastOnce).await;
                    for f in extra {
                        r = r.and(client.subscribe(f, QoS::AtLeastOnce).await);
                    }
                    r
                }
                Some(Control::Subscribe(f)) => client.subscribe(f, QoS::AtLeastOnce).await,
                Some(Control::Unsubscribe(f)) => client.unsubscribe(f).await,
                Some(Control::Ack(p)) => client.ack(&p).await,
                None => return,
            },
            m = data.recv() => match m {
                Some(OutMsg::Publish { tag, topic, payload, retain }) => {
                    tracking.lock().unwrap_or_else(|e| e.into_inner()).awaiting_pkid.push_back(tag);
                    client.publish_bytes(topic, QoS::AtLeastOnce, retain, payload).await
                }
                Some(OutMsg::Flush(done)) => {
                    let _ = done.send(());
                    Ok(())
                }
                None => return,
            },
        };
        if result.is_err() {
            return; // the event loop is gone
        }
    }
}
