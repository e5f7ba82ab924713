//! Errors at the transport's edge.

/// Why a transport could not be configured or started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The broker list is empty.
    #[error("no broker URL configured")]
    NoBroker,
    /// A broker URL does not parse.
    #[error("{0}")]
    BadUrl(String),
    /// The TLS settings (CA file) are unusable.
    #[error("{0}")]
    Tls(String),
    /// The embedded broker did not come up.
    #[error("the embedded broker did not start on {0} (is the port in use?)")]
    EmbeddedBroker(std::net::SocketAddr),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(String),
    /// An in-memory link is not reconfigured with broker settings.
    #[error("this connection cannot be reconfigured")]
    NotReconfigurable,
}
