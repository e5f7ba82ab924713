//! From settings to a transport configuration, hosting the embedded broker when needed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::ClientResult;
use crate::config::{Config, EmbeddedBroker};
use crate::crypto::Address;
use crate::transport::{Backoff, BrokerUrl, TransportConfig, TransportError, broker};

/// The transport settings for the account at `address` logging in with `login` (see
/// [`super::Account::broker_login`]) from `config`; `override_urls` (from `--broker`) replaces
/// the configured list.
pub fn transport_config(
    config: &Config,
    address: &Address,
    login: &super::BrokerLogin,
    override_urls: &[String],
) -> ClientResult<TransportConfig> {
    let raw = if override_urls.is_empty() { &config.broker.urls } else { override_urls };
    let urls = raw.iter().map(|u| BrokerUrl::parse(u)).collect::<Result<Vec<_>, _>>()?;
    let backoff = if embedded_on_loopback(config.broker.embedded, &urls) {
        // A broker hosted by a window of this machine comes back within seconds, maybe in
        // another window (takeover): look for it again soon.
        Backoff::new(Duration::from_millis(250), Duration::from_secs(1))
    } else {
        Backoff::default()
    };
    let (username, password) = match config.broker.account_login {
        true => (Some(address.to_hex()), Some(login.password.to_string())),
        false => (config.broker.username.clone(), config.broker.password.clone()),
    };
    Ok(TransportConfig {
        urls,
        username,
        password,
        ca_file: config.broker.ca_file.clone(),
        client_id: login.client_id.clone(),
        topic: address.to_hex(),
        clean_session: false,
        drain_only: false,
        keep_alive: Duration::from_secs(30),
        backoff,
        protocol: config.broker.protocol,
        max_packet: MAX_PACKET,
    })
}

/// The largest MQTT packet taken from the broker: the largest envelope, its topic (an address)
/// and the packet's own fields.
const MAX_PACKET: usize = crate::crypto::envelope::MAX_ENVELOPE + 1024;

/// Whether the first broker is one a WoChat process of this machine may host.
fn embedded_on_loopback(mode: EmbeddedBroker, urls: &[BrokerUrl]) -> bool {
    mode != EmbeddedBroker::Off && urls.first().is_some_and(|u| u.is_loopback() && !u.tls)
}

/// With `broker.embedded = "auto"` and a loopback broker (no TLS) first in the list: its
/// address, which a running process takes over hosting when it stops answering.
pub fn takeover_address(mode: EmbeddedBroker, urls: &[BrokerUrl]) -> Option<SocketAddr> {
    let url = urls.first().filter(|u| u.is_loopback() && !u.tls && mode == EmbeddedBroker::Auto)?;
    (url.host.as_str(), url.port).to_socket_addrs().ok()?.next()
}

/// How often a client checks that the loopback broker answers.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Watches the loopback broker at `addr` while `alive` says the client runs: when nothing
/// answers there (the process that hosted it closed or died), hosts the embedded broker on it.
/// Every client of the machine does the same; the first to bind the port hosts, the others
/// connect to it (their reconnect delay is short for a loopback broker). `alive` is told where
/// this process started hosting.
pub async fn watch_loopback_broker(addr: SocketAddr, alive: impl Fn(Option<SocketAddr>) -> bool) {
    while alive(None) {
        tokio::time::sleep(WATCH_EVERY).await;
        let answers = tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr)).await;
        if matches!(answers, Ok(Ok(_))) {
            continue;
        }
        let hosted = tokio::task::spawn_blocking(move || broker::start_embedded(addr)).await;
        if matches!(hosted, Ok(Ok(()))) && !alive(Some(addr)) {
            return;
        }
    }
}

/// Applies `broker.embedded`: with `on`, or with `auto` when the first configured broker is
/// on loopback and nothing answers there, hosts the embedded broker on that address.
/// Returns the address it hosts on, if any.
pub fn prepare_broker(mode: EmbeddedBroker, urls: &[BrokerUrl]) -> ClientResult<Option<SocketAddr>> {
    let Some(url) = urls.first().filter(|u| u.is_loopback() && !u.tls) else { return Ok(None) };
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| TransportError::BadUrl(format!("cannot resolve {url}")))?;
    let host = match mode {
        EmbeddedBroker::Off => false,
        EmbeddedBroker::On => true,
        EmbeddedBroker::Auto => !broker::is_listening(addr),
    };
    if !host {
        return Ok(None);
    }
    match broker::start_embedded(addr) {
        Ok(()) => Ok(Some(addr)),
        // Another window may have started one at the same moment: use it.
        Err(_) if broker::is_listening(addr) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
