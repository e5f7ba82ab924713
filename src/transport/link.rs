//! The seam between the messaging engine and whatever carries envelopes: an MQTT connection
//! ([`super::Transport`]) or an in-memory hub for tests ([`super::memory::Hub`]).
//!
//! A link reports [`TransportEvent`]s on the channel it was started with and takes publishes and
//! acknowledgements; both run on MQTT's semantics: QoS 1, a persistent session whose unacknowledged
//! deliveries come again after a reconnect, PUBACKs by tag.

use std::future::Future;
use std::pin::Pin;

use super::{Incoming, Tag};

/// A future the link's owner awaits.
pub type LinkFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What carries envelopes to and from peers.
pub trait Link: Send + Sync {
    /// Queues a QoS 1 publish of `payload` on `topic`; each of `tags` (the messages it carries)
    /// comes back in `Acked` or `Lost`.
    fn publish(&self, tags: Vec<Tag>, topic: String, payload: Vec<u8>);

    /// Queues a QoS 1 publish that the broker keeps (retains) for later subscribers of `topic`.
    fn publish_retained(&self, topic: String, payload: Vec<u8>);

    /// Subscribes to `filter` as well as the own topic (again after every reconnect), until
    /// [`Link::unsubscribe`].
    fn subscribe(&self, filter: String);

    /// Ends a subscription made with [`Link::subscribe`].
    fn unsubscribe(&self, filter: String);

    /// Acknowledges a delivery once what it carried is stored.
    fn ack(&self, incoming: Incoming);

    /// Hands over what is queued (waiting briefly for acknowledgements), then disconnects,
    /// keeping the session. The link is useless afterwards.
    fn shutdown(&self) -> LinkFuture<'_>;
}
