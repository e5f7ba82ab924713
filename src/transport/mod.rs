//! MQTT transport.

mod url;

pub use url::BrokerUrl;
