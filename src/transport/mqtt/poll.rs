//! The connection task: drives the event loop, reconnects with backoff and failover, and, with
//! `broker.protocol = "auto"`, finds the MQTT version each broker speaks.
//!
//! Version negotiation: a broker is first asked in the version that last worked with it (MQTT 5
//! for one not met yet). When it closes the connection, or refuses the version, before its
//! ConnAck, the other version is tried at once, without a backoff delay (a 3.1.1 broker such as
//! the embedded one answers an MQTT 5 CONNECT by closing). Only one such switch is made per
//! failed attempt, so two versions that both fail fall back to the ordinary backoff. Switching
//! replaces the event loop: what the old one had in flight is reported lost, and published again
//! by the caller.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, watch};

use super::conn::{Client, Ev, Failure, Loop};
use super::{Control, Shared, Tag, TransportConfig, TransportEvent};
use crate::transport::{MqttProtocol, MqttVersion};

/// The state of the connection task.
pub(super) struct Poller {
    cfg: TransportConfig,
    lp: Loop,
    client: watch::Sender<Client>,
    shared: Shared,
    control: mpsc::UnboundedSender<Control>,
    url_index: usize,
    /// The version that last reached a ConnAck, by broker.
    known: HashMap<usize, MqttVersion>,
    /// A ConnAck came since the last failure.
    connected: bool,
    /// The current attempt is the other version, tried at once after the first one failed.
    switched: bool,
}

impl Poller {
    pub(super) fn new(
        cfg: TransportConfig,
        lp: Loop,
        client: watch::Sender<Client>,
        shared: Shared,
        control: mpsc::UnboundedSender<Control>,
    ) -> Self {
        Self {
            cfg,
            lp,
            client,
            shared,
            control,
            url_index: 0,
            known: HashMap::new(),
            connected: false,
            switched: false,
        }
    }

    fn broker(&self) -> String {
        self.cfg.urls[self.url_index % self.cfg.urls.len()].to_string()
    }

    async fn send(&mut self, ev: TransportEvent) -> bool {
        self.shared.events.send(ev).await.is_ok()
    }

    /// Runs until the transport is dropped or closed.
    pub(super) async fn run(mut self) {
        let mut backoff = self.cfg.backoff.clone();
        loop {
            let result = self.lp.poll().await;
            let alive = match result {
                Ok(Ev::ConnAck { session_present, limits }) => {
                    backoff.reset();
                    self.connected = true;
                    self.shared.online.store(true, Ordering::SeqCst);
                    self.switched = false;
                    self.known.insert(self.url_index, self.lp.version());
                    self.shared.broker_max.store(limits.max_packet.unwrap_or(u32::MAX), Ordering::Relaxed);
                    let note = limits.session_expiry.map(|s| {
                        format!("the broker keeps our session for {} while we are away, not 30 days", duration(s))
                    });
                    self.on_connack(session_present, note).await
                }
                Ok(ev) => self.on_event(ev).await,
                Err(failure) => {
                    let buffered = self.lp.drain_buffered();
                    let mut alive = true;
                    for ev in buffered {
                        alive = alive && self.on_event(ev).await;
                    }
                    if !alive || failure.requests_done {
                        return;
                    }
                    let connected = std::mem::replace(&mut self.connected, false);
                    self.shared.online.store(false, Ordering::SeqCst);
                    if self.should_switch(&failure, connected) {
                        self.known.remove(&self.url_index);
                        let other = other(self.lp.version());
                        if self.switch(other).await {
                            self.switched = true;
                            continue;
                        }
                    }
                    self.switched = false;
                    let retry_in = backoff.next_delay();
                    let error = self.explain(failure, connected);
                    if !self.send(TransportEvent::Disconnected { broker: self.broker(), error, retry_in }).await {
                        return;
                    }
                    tokio::time::sleep(retry_in).await;
                    self.fail_over().await;
                    true
                }
            };
            if !alive {
                return;
            }
        }
    }

    /// Whether to ask the broker again at once in the other version: `auto`, the broker closed
    /// or refused before its ConnAck, and this attempt was not already such a switch.
    fn should_switch(&self, failure: &Failure, connected: bool) -> bool {
        self.cfg.protocol == MqttProtocol::Auto && failure.wrong_version && !connected && !self.switched
    }

    fn explain(&self, failure: Failure, connected: bool) -> String {
        if failure.wrong_version && self.cfg.protocol != MqttProtocol::Auto && !connected {
            let v = self.lp.version();
            return format!("{} (does the broker speak {v}? broker.protocol = \"auto\" finds out)", failure.message);
        }
        failure.message
    }

    async fn on_connack(&mut self, session_present: bool, note: Option<String>) -> bool {
        if !session_present {
            // rumqttc dropped the publishes it would have resent: report them.
            let lost: Vec<Tag> = self.shared.tracking().by_pkid.drain().flat_map(|(_, tags)| tags).collect();
            if !lost.is_empty() && !self.send(TransportEvent::Lost(lost)).await {
                return false;
            }
        }
        let _ = self.control.send(if self.cfg.drain_only {
            Control::Unsubscribe(self.cfg.topic.clone())
        } else {
            Control::SubscribeAll
        });
        let protocol = Some(self.lp.version());
        self.send(TransportEvent::Connected { broker: self.broker(), session_present, protocol, note }).await
    }

    /// Handles one event; `false` when the receiver is gone. Waiting on a full channel is the
    /// backpressure that stops reading from the broker while the engine catches up.
    async fn on_event(&mut self, ev: Ev) -> bool {
        match ev {
            Ev::Publish(incoming) => self.send(TransportEvent::Message(incoming)).await,
            Ev::SubAck { refused } => {
                for code in refused {
                    let reason = format!("the broker refused a subscription: {code}");
                    if !self.send(TransportEvent::Refused { tags: Vec::new(), reason }).await {
                        return false;
                    }
                }
                self.send(TransportEvent::Subscribed).await
            }
            Ev::PubAck { pkid, refused } => {
                let tags = self.shared.tracking().by_pkid.remove(&pkid).unwrap_or_default();
                match refused {
                    None if tags.is_empty() => true,
                    None => self.send(TransportEvent::Acked(tags)).await,
                    Some(code) => {
                        let reason = format!("the broker refused a publish: {code}");
                        self.send(TransportEvent::Refused { tags, reason }).await
                    }
                }
            }
            Ev::OutgoingPublish(pkid) => {
                let mut t = self.shared.tracking();
                if !t.by_pkid.contains_key(&pkid) {
                    // A new publish (a resend keeps its packet id and its entry).
                    let tags = t.awaiting_pkid.pop_front().unwrap_or_default();
                    t.by_pkid.insert(pkid, tags);
                }
                true
            }
            Ev::ConnAck { .. } | Ev::Other => true,
        }
    }

    /// After a failed attempt: the next broker of the list, in the version it last spoke.
    async fn fail_over(&mut self) {
        if self.cfg.urls.len() > 1 {
            self.url_index = (self.url_index + 1) % self.cfg.urls.len();
        }
        let version = self.known.get(&self.url_index).copied().unwrap_or(self.cfg.protocol.first());
        if version != self.lp.version() {
            self.switch(version).await;
        } else if self.cfg.urls.len() > 1
            && let Err(error) = self.lp.retarget(&self.cfg, self.url_index)
        {
            let _ = self
                .send(TransportEvent::Disconnected {
                    broker: self.broker(),
                    error: error.to_string(),
                    retry_in: Default::default(),
                })
                .await;
        }
    }

    /// Replaces the event loop by one in `version` for the current broker; what the old one
    /// had in flight is reported lost. `false` if the new one cannot be made.
    async fn switch(&mut self, version: MqttVersion) -> bool {
        let (client, lp) = match Loop::open(&self.cfg, self.url_index, version) {
            Ok(pair) => pair,
            Err(_) => return false,
        };
        self.lp = lp;
        let lost = {
            let mut t = self.shared.tracking();
            t.generation += 1;
            t.drain_all()
        };
        self.client.send_replace(client);
        self.shared.broker_max.store(u32::MAX, Ordering::Relaxed);
        if !lost.is_empty() {
            let _ = self.send(TransportEvent::Lost(lost)).await;
        }
        true
    }
}

fn other(v: MqttVersion) -> MqttVersion {
    match v {
        MqttVersion::V5 => MqttVersion::V311,
        MqttVersion::V311 => MqttVersion::V5,
    }
}

/// `s` seconds for people: "2 hours", "3 days".
fn duration(s: u32) -> String {
    match s {
        0..120 => format!("{s} seconds"),
        120..7200 => format!("{} minutes", s / 60),
        7200..172_800 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}
