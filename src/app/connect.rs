//! From settings to a transport configuration, hosting the embedded broker when needed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::ClientResult;
use crate::config::{Config, EmbeddedBroker};
use crate::crypto::Address;
use crate::transport::{Backoff, BrokerUrl, TransportConfig, TransportError, broker};

/// The transport settings for the account at `address` with MQTT client id `client_id` (see
/// [`crate::wire::secret_client_id`]) from `config`; `override_urls` (from `--broker`) replaces
/// the configured list.
pub fn transport_config(
    config: &Config,
    address: &Address,
    client_id: &str,
    override_urls: &[String],
) -> ClientResult<TransportConfig> {
    let raw = if override_urls.is_empty() { &config.broker.urls } else { override_urls };
    let urls = raw.iter().map(|u| BrokerUrl::parse(u)).collect::<Result<Vec<_>, _>>()?;
    Ok(TransportConfig {
        urls,
        username: config.broker.username.clone(),
        password: config.broker.password.clone(),
        ca_file: config.broker.ca_file.clone(),
        client_id: client_id.to_string(),
        topic: address.to_hex(),
        clean_session: false,
        drain_only: false,
        keep_alive: Duration::from_secs(30),
        backoff: Backoff::default(),
    })
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
