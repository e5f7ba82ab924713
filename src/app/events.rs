//! What the core tells its front ends (CLI, GUI). Events carry ids; front ends re-read what
//! they show from the database.

use crate::crypto::Address;

/// Connection state shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Connected and subscribed.
    Connected,
    /// Lost the connection; trying again.
    Reconnecting,
    /// Not connected (not started, or stopped).
    Offline,
}

impl ConnState {
    /// The word used in JSON events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::Offline => "offline",
        }
    }
}

/// An event from the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Subscribed to the own topic for the first time.
    Ready {
        /// Own address.
        address: Address,
    },
    /// The connection state changed.
    Connection {
        /// New state.
        state: ConnState,
        /// Broker URL.
        broker: String,
        /// Why, when not connected.
        detail: Option<String>,
    },
    /// A message was stored (sent or received); re-read it by hash.
    Message {
        /// Hex hash.
        hash: String,
    },
    /// An own message changed status.
    Status {
        /// Hex hash.
        hash: String,
        /// `S` or `C`.
        stat: char,
    },
    /// Progress of a file transfer (in either direction).
    Transfer {
        /// Hex SHA-256 of the file.
        hash: String,
        /// Bytes received, or (outgoing) handed to the broker.
        done: u64,
        /// File size.
        total: u64,
        /// `W` waiting for acceptance, `A` active, `C` complete, `F` failed.
        state: char,
    },
    /// An incoming payload was dropped.
    Dropped {
        /// Why (a short code).
        reason: String,
    },
    /// Something failed; the client keeps running.
    Error {
        /// What.
        message: String,
    },
}
