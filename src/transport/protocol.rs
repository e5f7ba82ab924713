//! Which MQTT version the client speaks: MQTT 5 when the broker does, 3.1.1 otherwise.

use serde::{Deserialize, Serialize};

/// `broker.protocol`: the MQTT version asked of the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MqttProtocol {
    /// MQTT 5, and 3.1.1 with a broker that does not speak 5.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// MQTT 5 only.
    #[serde(rename = "5")]
    V5,
    /// MQTT 3.1.1 only.
    #[serde(rename = "3.1.1")]
    V311,
}

/// The MQTT version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MqttVersion {
    /// MQTT 5.0.
    V5,
    /// MQTT 3.1.1.
    V311,
}

impl MqttVersion {
    /// How settings, JSON events and the window name it: `"5"` or `"3.1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V5 => "5",
            Self::V311 => "3.1.1",
        }
    }
}

impl std::fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MQTT {}", self.as_str())
    }
}

impl MqttProtocol {
    /// The version tried first.
    pub fn first(self) -> MqttVersion {
        match self {
            Self::Auto | Self::V5 => MqttVersion::V5,
            Self::V311 => MqttVersion::V311,
        }
    }
}
