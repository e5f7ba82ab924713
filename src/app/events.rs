//! What the core tells its front ends (CLI, GUI). Events carry ids; front ends read what they
//! show through the read model ([`super::read`]).

use std::sync::Arc;

use super::ClientError;
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::store::{ChatId, MessageStatus, TransferState};
use crate::wire::MessageHash;

/// How long a typing indicator shows without a new `on` (a sender repeats it every
/// [`TYPING_REPEAT`] while typing).
pub const TYPING_SHOWN: std::time::Duration = std::time::Duration::from_secs(6);
/// How often a front end says again that the user is typing.
pub const TYPING_REPEAT: std::time::Duration = std::time::Duration::from_secs(4);

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
#[derive(Debug, Clone)]
pub enum Event {
    /// The loopback broker stopped answering and this process hosts the embedded one now.
    Hosting {
        /// Where it listens.
        addr: std::net::SocketAddr,
    },
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
        /// Why, when not connected; when connected, what the engine did about a broker that
        /// kept no session (its unconfirmed messages published again), or what the broker
        /// refused (with its MQTT 5 reason code).
        detail: Option<String>,
        /// The MQTT version spoken, once connected: `"5"` or `"3.1.1"`.
        protocol: Option<&'static str>,
    },
    /// A message was stored (sent or received), or its attachment was kept: read it again.
    Message {
        /// Its conversation.
        chat: ChatId,
        /// Its hash.
        hash: MessageHash,
    },
    /// A message was edited, deleted, reacted to, or read by the peer: read it again.
    Changed {
        /// Its conversation.
        chat: ChatId,
        /// Its hash.
        hash: MessageHash,
    },
    /// Someone in a conversation started or stopped typing (typing indicators on).
    Typing {
        /// The conversation.
        chat: ChatId,
        /// Who.
        from: Address,
        /// Typing now; a front end also stops showing it after [`TYPING_SHOWN`] without news.
        on: bool,
    },
    /// An own message changed status. Sent comes when the broker acknowledges the message;
    /// the store records it a moment later unless the receipt comes first (then it goes from
    /// stored to confirmed), and Sent is reported once more when it is recorded.
    Status {
        /// Its hash.
        hash: MessageHash,
        /// Sent (the broker has it) or confirmed (receipted).
        stat: MessageStatus,
    },
    /// Progress of a file transfer (in either direction).
    Transfer {
        /// The file.
        file: ObjectId,
        /// Bytes received, or (outgoing) acknowledged by the broker.
        done: u64,
        /// File size.
        total: u64,
        /// Waiting for acceptance, active, complete or failed.
        state: TransferState,
    },
    /// An incoming payload was dropped.
    Dropped {
        /// Why (a short stable code).
        reason: &'static str,
    },
    /// A backup is being written, was written, or failed ([`super::Backups`]).
    Backup(super::BackupEvent),
    /// Something failed; the client keeps running.
    Error(Arc<ClientError>),
}

impl Event {
    /// The error of an [`Event::Error`], for matching in tests and front ends.
    pub fn error(&self) -> Option<&ClientError> {
        match self {
            Self::Error(e) => Some(e),
            _ => None,
        }
    }
}
