//! The embedded MQTT broker (rumqttd, in-process): lets two windows on one machine chat with
//! nothing installed. It keeps its queues in memory only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Starts rumqttd listening on `addr` in background threads; it runs until the process exits.
/// Returns once the port accepts connections, or an error if it does not within 5 s.
pub fn start_embedded(addr: SocketAddr) -> Result<(), super::TransportError> {
    // Another process may have bound the port a moment ago (several take over at once): then
    // it hosts, not this one.
    if !port_is_free(addr) {
        return Err(super::TransportError::EmbeddedBroker(addr));
    }
    let config = embedded_config(addr);
    std::thread::Builder::new()
        .name("wochat-broker".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("wochat: embedded broker stopped: {e}");
            }
        })
        .map_err(|e| super::TransportError::Thread(e.to_string()))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(super::TransportError::EmbeddedBroker(addr))
}

/// Whether `addr` can be bound now. On Unix with `SO_REUSEADDR`, as the broker binds it: the
/// connections a killed broker left in TIME_WAIT do not count, a listening socket does.
fn port_is_free(addr: SocketAddr) -> bool {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
    let Ok(socket) = socket else { return false };
    #[cfg(unix)]
    if socket.set_reuseaddr(true).is_err() {
        return false;
    }
    socket.bind(addr).is_ok()
}

/// Whether something accepts TCP connections at `addr`.
pub fn is_listening(addr: SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn embedded_config(addr: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: 8 * 1024 * 1024,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server =
        ServerSettings { name: "wochat".into(), listen: addr, tls: None, next_connection_delay_ms: 1, connections };
    let router = RouterConfig {
        max_connections: 10_010,
        max_outgoing_packet_count: 500,
        max_segment_size: 64 * 1024 * 1024,
        max_segment_count: 10,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    };
    Config {
        id: 0,
        router,
        v4: Some(HashMap::from([("wochat".to_string(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}
