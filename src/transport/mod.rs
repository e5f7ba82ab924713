//! MQTT transport (rumqttc on tokio): connection, reconnection with backoff and failover, a
//! subscription to the own topic on every ConnAck, QoS 1 publishes with PUBACK tracking, and
//! manual acknowledgement of incoming publishes (acked only once stored).

mod backoff;
pub mod broker;
mod mqtt;
mod tls;
mod url;

pub use backoff::Backoff;
pub use mqtt::{Incoming, Tag, Transport, TransportConfig, TransportEvent};
pub use url::BrokerUrl;
