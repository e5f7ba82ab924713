//! One MQTT connection in either version: rumqttc's 3.1.1 client and its MQTT 5 client behind
//! one client handle ([`Client`]) and one event loop ([`Loop`]) that reports, in one
//! vocabulary ([`Ev`]), what the transport needs: ConnAcks, publishes, acknowledgements with
//! their reason codes, and failures.

use std::io::ErrorKind;

use bytes::Bytes;
use rumqttc::v5;
use rumqttc::v5::mqttbytes::v5 as p5;

use super::{AckHandle, Incoming, TransportConfig};
use crate::transport::{MqttVersion, TransportError};

/// How long the broker keeps our session (and queues for it) while we are away: 30 days.
pub const SESSION_EXPIRY_SECS: u32 = 30 * 24 * 3600;

/// Most publishes in flight to the broker at once.
const INFLIGHT: u16 = 100;

/// Largest packet a 3.1.1 connection reads (3.1.1 cannot tell the broker a limit, so a larger
/// envelope from a hostile publisher is read and dropped by the envelope check).
const MAX_PACKET_V311: usize = 8 * 1024 * 1024;

/// A handle to the event loop of the current connection.
#[derive(Clone)]
pub(super) enum Client {
    V311(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

/// The event loop this handle fed is gone (closed, or replaced by one of the other version).
#[derive(Debug)]
pub(super) struct Gone;

impl Client {
    pub(super) async fn publish(&self, topic: String, payload: Bytes, retain: bool) -> Result<(), Gone> {
        match self {
            Self::V311(c) => c.publish_bytes(topic, rumqttc::QoS::AtLeastOnce, retain, payload).await.map_err(|_| Gone),
            Self::V5(c) => {
                c.publish_bytes(topic, v5::mqttbytes::QoS::AtLeastOnce, retain, payload).await.map_err(|_| Gone)
            }
        }
    }

    pub(super) async fn subscribe(&self, filter: String) -> Result<(), Gone> {
        match self {
            Self::V311(c) => c.subscribe(filter, rumqttc::QoS::AtLeastOnce).await.map_err(|_| Gone),
            Self::V5(c) => c.subscribe(filter, v5::mqttbytes::QoS::AtLeastOnce).await.map_err(|_| Gone),
        }
    }

    pub(super) async fn unsubscribe(&self, filter: String) -> Result<(), Gone> {
        match self {
            Self::V311(c) => c.unsubscribe(filter).await.map_err(|_| Gone),
            Self::V5(c) => c.unsubscribe(filter).await.map_err(|_| Gone),
        }
    }

    /// Acknowledges a delivery of this connection's version; one of the other version came
    /// before a switch, on a session the broker redelivers from anyway.
    pub(super) async fn ack(&self, handle: &AckHandle) -> Result<(), Gone> {
        match (self, handle) {
            (Self::V311(c), AckHandle::Mqtt(p)) => c.ack(p).await.map_err(|_| Gone),
            (Self::V5(c), AckHandle::Mqtt5(p)) => c.ack(p).await.map_err(|_| Gone),
            _ => Ok(()),
        }
    }

    pub(super) async fn disconnect(&self) {
        let _ = match self {
            Self::V311(c) => c.disconnect().await.map_err(|_| Gone),
            Self::V5(c) => c.disconnect().await.map_err(|_| Gone),
        };
    }
}

/// What the broker said about itself in its ConnAck (MQTT 5 only).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BrokerLimits {
    /// The largest packet the broker takes.
    pub max_packet: Option<u32>,
    /// How long it keeps our session, when it grants less than we asked.
    pub session_expiry: Option<u32>,
}

/// An event of either version's event loop, as the transport needs it.
pub(super) enum Ev {
    /// Connected.
    ConnAck { session_present: bool, limits: BrokerLimits },
    /// A publish for us.
    Publish(Incoming),
    /// The broker answered a SUBSCRIBE; the reason codes of the filters it refused.
    SubAck { refused: Vec<String> },
    /// The broker answered a publish; `refused` is its reason code when it did not take it.
    PubAck { pkid: u16, refused: Option<String> },
    /// A publish went out with this packet id.
    OutgoingPublish(u16),
    /// Nothing the transport acts on.
    Other,
}

/// Why the connection failed.
pub(super) struct Failure {
    /// For the user, with the broker's reason code when it gave one.
    pub message: String,
    /// The client was dropped: stop.
    pub requests_done: bool,
    /// The broker may not speak this version: it closed the connection or refused the version
    /// before a ConnAck.
    pub wrong_version: bool,
}

/// The event loop of the current connection.
pub(super) enum Loop {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

impl Loop {
    /// A client and its event loop for the `index`-th broker of `cfg`, in `version`.
    pub(super) fn open(
        cfg: &TransportConfig,
        index: usize,
        version: MqttVersion,
    ) -> Result<(Client, Loop), TransportError> {
        Ok(match version {
            MqttVersion::V311 => {
                let (c, mut l) = rumqttc::AsyncClient::new(options_v311(cfg, index)?, 0);
                l.set_network_options(network_options());
                (Client::V311(c), Loop::V311(Box::new(l)))
            }
            MqttVersion::V5 => {
                let (c, l) = v5::AsyncClient::new(options_v5(cfg, index)?, 0);
                (Client::V5(c), Loop::V5(Box::new(l)))
            }
        })
    }

    /// The MQTT version of this loop.
    pub(super) fn version(&self) -> MqttVersion {
        match self {
            Self::V311(_) => MqttVersion::V311,
            Self::V5(_) => MqttVersion::V5,
        }
    }

    /// Points the loop at the `index`-th broker (same version), keeping its session state.
    pub(super) fn retarget(&mut self, cfg: &TransportConfig, index: usize) -> Result<(), TransportError> {
        match self {
            Self::V311(l) => l.mqtt_options = options_v311(cfg, index)?,
            Self::V5(l) => l.options = options_v5(cfg, index)?,
        }
        Ok(())
    }

    /// The next event, connecting first when needed.
    pub(super) async fn poll(&mut self) -> Result<Ev, Failure> {
        match self {
            Self::V311(l) => l.poll().await.map(ev_v311).map_err(failure_v311),
            Self::V5(l) => l.poll().await.map(ev_v5).map_err(failure_v5),
        }
    }

    /// Events the loop buffered before a failure: they still describe what happened.
    pub(super) fn drain_buffered(&mut self) -> Vec<Ev> {
        match self {
            Self::V311(l) => l.state.events.drain(..).map(ev_v311).collect(),
            Self::V5(l) => l.state.events.drain(..).map(ev_v5).collect(),
        }
    }
}

fn network_options() -> rumqttc::NetworkOptions {
    // Chat messages are small: Nagle's algorithm would hold them back (with the peer's
    // delayed ACK, for tens of milliseconds).
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    net
}

fn transport_for(cfg: &TransportConfig, index: usize) -> Result<Option<rumqttc::Transport>, TransportError> {
    let url = &cfg.urls[index % cfg.urls.len()];
    if !url.tls {
        return Ok(None);
    }
    let tls = crate::transport::tls::client_config(cfg.ca_file.as_deref()).map_err(TransportError::Tls)?;
    Ok(Some(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(tls))))
}

fn options_v311(cfg: &TransportConfig, index: usize) -> Result<rumqttc::MqttOptions, TransportError> {
    let url = &cfg.urls[index % cfg.urls.len()];
    let mut o = rumqttc::MqttOptions::new(cfg.client_id.clone(), url.host.clone(), url.port);
    o.set_clean_session(cfg.clean_session)
        .set_keep_alive(cfg.keep_alive)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET_V311, MAX_PACKET_V311)
        .set_inflight(INFLIGHT);
    if let (Some(u), p) = (&cfg.username, &cfg.password) {
        o.set_credentials(u.clone(), p.clone().unwrap_or_default());
    }
    if let Some(t) = transport_for(cfg, index)? {
        o.set_transport(t);
    }
    Ok(o)
}

fn options_v5(cfg: &TransportConfig, index: usize) -> Result<v5::MqttOptions, TransportError> {
    let url = &cfg.urls[index % cfg.urls.len()];
    let mut o = v5::MqttOptions::new(cfg.client_id.clone(), url.host.clone(), url.port);
    // A clean start asks the broker to forget the session when we disconnect (expiry 0).
    let expiry = if cfg.clean_session { 0 } else { SESSION_EXPIRY_SECS };
    o.set_clean_start(cfg.clean_session)
        .set_keep_alive(cfg.keep_alive)
        .set_manual_acks(true)
        .set_session_expiry_interval(Some(expiry))
        // The broker sends nothing larger: an oversized publish is dropped by the broker
        // instead of failing our connection each time it is delivered again.
        .set_max_packet_size(Some(u32::try_from(cfg.max_packet).unwrap_or(u32::MAX)))
        .set_outgoing_inflight_upper_limit(INFLIGHT)
        .set_connection_timeout(5)
        .set_network_options(network_options());
    if let (Some(u), p) = (&cfg.username, &cfg.password) {
        o.set_credentials(u.clone(), p.clone().unwrap_or_default());
    }
    if let Some(t) = transport_for(cfg, index)? {
        o.set_transport(t);
    }
    Ok(o)
}

fn ev_v311(ev: rumqttc::Event) -> Ev {
    use rumqttc::{Event, Outgoing, Packet};
    match ev {
        Event::Incoming(Packet::ConnAck(a)) => {
            Ev::ConnAck { session_present: a.session_present, limits: BrokerLimits::default() }
        }
        Event::Incoming(Packet::Publish(mut p)) => {
            // The payload is a slice of rumqttc's read buffer: holding it would pin that whole
            // (growing) buffer while the message waits. Copy it out; keep a bare packet to ack.
            let payload = Bytes::copy_from_slice(&p.payload);
            p.payload = Bytes::new();
            let topic = p.topic.clone();
            Ev::Publish(Incoming { topic, payload, ack: AckHandle::Mqtt(Box::new(p)) })
        }
        Event::Incoming(Packet::SubAck(s)) => {
            let refused = s
                .return_codes
                .iter()
                .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                .map(|_| "Failure".to_string())
                .collect();
            Ev::SubAck { refused }
        }
        Event::Incoming(Packet::PubAck(a)) => Ev::PubAck { pkid: a.pkid, refused: None },
        Event::Outgoing(Outgoing::Publish(pkid)) => Ev::OutgoingPublish(pkid),
        _ => Ev::Other,
    }
}

fn ev_v5(ev: v5::Event) -> Ev {
    use rumqttc::Outgoing;
    use v5::Event;
    match ev {
        Event::Incoming(p5::Packet::ConnAck(a)) => {
            let props = a.properties.as_ref();
            let limits = BrokerLimits {
                max_packet: props.and_then(|p| p.max_packet_size),
                session_expiry: props.and_then(|p| p.session_expiry_interval).filter(|s| *s < SESSION_EXPIRY_SECS),
            };
            Ev::ConnAck { session_present: a.session_present, limits }
        }
        Event::Incoming(p5::Packet::Publish(mut p)) => {
            let payload = Bytes::copy_from_slice(&p.payload);
            p.payload = Bytes::new();
            let topic = String::from_utf8_lossy(&p.topic).into_owned();
            Ev::Publish(Incoming { topic, payload, ack: AckHandle::Mqtt5(Box::new(p)) })
        }
        Event::Incoming(p5::Packet::SubAck(s)) => {
            let refused = s
                .return_codes
                .iter()
                .filter(|c| !matches!(c, p5::SubscribeReasonCode::Success(_)))
                .map(|c| format!("{c:?}"))
                .collect();
            Ev::SubAck { refused }
        }
        Event::Incoming(p5::Packet::PubAck(a)) => {
            let refused = match a.reason {
                p5::PubAckReason::Success | p5::PubAckReason::NoMatchingSubscribers => None,
                r => Some(format!("{r:?}")),
            };
            Ev::PubAck { pkid: a.pkid, refused }
        }
        Event::Outgoing(Outgoing::Publish(pkid)) => Ev::OutgoingPublish(pkid),
        _ => Ev::Other,
    }
}

/// Whether an I/O error means the broker closed a connection it had accepted.
fn closed_by_broker(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof)
}

fn failure_v311(e: rumqttc::ConnectionError) -> Failure {
    use rumqttc::{ConnectionError as E, StateError as S};
    let wrong_version = match &e {
        E::ConnectionRefused(rumqttc::ConnectReturnCode::RefusedProtocolVersion) => true,
        E::MqttState(S::ConnectionAborted | S::Deserialization(_)) | E::NotConnAck(_) => true,
        E::MqttState(S::Io(io)) | E::Io(io) => closed_by_broker(io.kind()),
        _ => false,
    };
    let message = match &e {
        E::ConnectionRefused(code) => format!("the broker refused the connection: {code:?}"),
        other => other.to_string(),
    };
    Failure { message, requests_done: matches!(e, E::RequestsDone), wrong_version }
}

fn failure_v5(e: v5::ConnectionError) -> Failure {
    use p5::ConnectReturnCode as Code;
    use v5::{ConnectionError as E, StateError as S};
    let wrong_version = match &e {
        E::ConnectionRefused(Code::UnsupportedProtocolVersion | Code::RefusedProtocolVersion) => true,
        E::MqttState(S::ConnFail { reason: Code::UnsupportedProtocolVersion }) => true,
        E::MqttState(S::ConnectionAborted | S::Deserialization(_)) | E::NotConnAck(_) => true,
        E::MqttState(S::Io(io)) | E::Io(io) => closed_by_broker(io.kind()),
        _ => false,
    };
    let message = match &e {
        E::ConnectionRefused(code) | E::MqttState(S::ConnFail { reason: code }) => {
            format!("the broker refused the connection: {code:?}")
        }
        E::MqttState(S::ServerDisconnect { reason_code, reason_string }) => match reason_string {
            Some(why) => format!("the broker closed the connection: {reason_code:?} ({why})"),
            None => format!("the broker closed the connection: {reason_code:?}"),
        },
        other => other.to_string(),
    };
    Failure { message, requests_done: matches!(e, E::RequestsDone), wrong_version }
}

/// Checks what connecting to the `index`-th broker needs (its TLS settings) without connecting.
pub(super) fn validate(cfg: &TransportConfig, index: usize) -> Result<(), TransportError> {
    transport_for(cfg, index).map(|_| ())
}
