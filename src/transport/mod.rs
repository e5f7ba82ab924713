//! MQTT transport (rumqttc on tokio): connection, reconnection with backoff and failover, a
//! subscription to the own topic on every ConnAck, QoS 1 publishes with PUBACK tracking, and
//! manual acknowledgement of incoming publishes (acked only once stored).

//!
//! [`Link`] is the seam the engine talks through; [`Transport`] is its MQTT implementation and
//! [`memory::Hub`] an in-memory one for tests.

mod backoff;
pub mod broker;
mod error;
mod link;
pub mod memory;
mod mqtt;
mod protocol;
mod tls;
mod url;

pub use backoff::Backoff;
pub use error::TransportError;
pub use link::{Link, LinkFuture};
pub use mqtt::{Incoming, SESSION_EXPIRY_SECS, Tag, Transport, TransportConfig, TransportEvent};
pub use protocol::{MqttProtocol, MqttVersion};
pub use url::BrokerUrl;
