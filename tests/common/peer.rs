//! In-process WoChat clients for tests (like Delta Chat's TestContext): alice, bob...

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use wochat::app::{Account, Client, Event, MediaLimits, transport_config};
use wochat::config::Config;
use wochat::crypto::Address;
use wochat::store::{ChatDb, KeysError, MessageRow};
use wochat::transport::Backoff;

use super::TestHome;

/// A running client.
pub struct Peer {
    pub name: String,
    pub address: Address,
    pub client: Client,
    pub events: UnboundedReceiver<Event>,
    pub reader: ChatDb,
}

/// Creates the account `name` in `home` if needed and starts a client on `url`.
pub fn start_peer(home: &TestHome, name: &str, url: &str) -> Peer {
    start_peer_with(home, name, &Config::default(), &[url.to_string()])
}

/// Like [`start_peer`], with settings and a list of broker URLs.
pub fn start_peer_with(home: &TestHome, name: &str, config: &Config, urls: &[String]) -> Peer {
    let keys = home.keys();
    match keys.create(name, b"pw") {
        Ok(_) | Err(KeysError::NameTaken(_)) => {}
        Err(e) => panic!("{e}"),
    }
    let account = Account::open(&home.home, &keys, name, b"pw").unwrap();
    let address = account.address();
    let reader = account.reader().unwrap();
    let mut cfg = transport_config(config, &address, urls).unwrap();
    cfg.backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    account.objects.set_quota_mb(config.storage.quota_mb);
    let (client, events) = Client::start(account, cfg, MediaLimits::from_config(config)).unwrap();
    Peer { name: name.into(), address, client, events, reader }
}

impl Peer {
    /// Waits (up to `secs`) for an event matching `pred`; panics on timeout.
    pub async fn wait_for(&mut self, secs: u64, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let name = self.name.clone();
        tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                let e = self.events.recv().await.expect("client stopped");
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{name}: timed out waiting for an event"))
    }

    /// Waits until subscribed.
    pub async fn ready(&mut self) {
        self.wait_for(20, |e| matches!(e, Event::Ready { .. })).await;
    }

    /// The talk with `peer`, oldest first.
    pub fn history(&self, peer: &Address) -> Vec<MessageRow> {
        self.reader.history(peer, usize::MAX >> 1, None).unwrap()
    }

    /// Polls the database until `pred` holds for the talk with `peer` (up to `secs`).
    pub async fn until_history(
        &self,
        peer: &Address,
        secs: u64,
        pred: impl Fn(&[MessageRow]) -> bool,
    ) -> Vec<MessageRow> {
        let start = std::time::Instant::now();
        loop {
            let h = self.history(peer);
            if pred(&h) {
                return h;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                let stats: Vec<_> = h.iter().map(|m| m.stat).collect();
                panic!("{}: condition not reached; {} messages, stats {:?}", self.name, h.len(), stats);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the client (clean disconnect: the broker keeps the session).
    pub async fn stop(self) {
        self.client.shutdown().await;
    }
}
