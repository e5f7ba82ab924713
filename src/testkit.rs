//! A test kit for the core, like Delta Chat's `TestContext`: accounts with fixed keys in a
//! temporary home, clients on an in-memory hub (or on a real broker), and waiting that is
//! driven by events, never by sleeping.
//!
//! ```ignore
//! let net = TestNet::new();
//! let mut alice = net.peer("alice").await;
//! let bob = net.peer("bob").await;
//! alice.send_confirmed(&bob, "hi").await;
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::app::read::{MessageView, ReadModel};
use crate::app::{Account, Client, ClientOptions, Event, Events, LinkConfig, RetryPolicy, transport_config};
use crate::config::Config;
use crate::crypto::password::KdfParams;
use crate::crypto::{Address, Identity};
use crate::home::Home;
use crate::store::{KeyStore, KeysError, MessageStatus};
use crate::transport::Backoff;
use crate::transport::memory::Hub;
use crate::wire::MessageHash;

/// The password of every test account.
pub const PASSWORD: &[u8] = b"pw";

/// How long a test waits for something before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The fixed identity of a test account called `name` (the same in every run).
pub fn identity_of(name: &str) -> Identity {
    let mut seed = crate::crypto::sha256(format!("wochat test key {name}").as_bytes());
    loop {
        if let Ok(id) = Identity::from_secret_bytes(&seed) {
            return id;
        }
        seed = crate::crypto::sha256(&seed);
    }
}

/// What the peers of a net connect through.
#[derive(Debug, Clone)]
pub enum Network {
    /// An in-memory hub.
    Memory(Hub),
    /// Real brokers (URLs tried in turn).
    Brokers(Vec<String>),
}

/// A temporary data home with the peers started in it; removed when dropped.
#[derive(Debug)]
pub struct TestNet {
    network: Network,
    dir: PathBuf,
    home: Home,
    /// How started peers run (retransmission schedule, limits).
    pub options: ClientOptions,
    /// Settings of started peers (quota, limits).
    pub config: Config,
    /// Names every started peer has as friends (the people of a test know each other;
    /// anyone else writes as a stranger).
    pub friends: Vec<String>,
}

/// The people of a test, friends of each other unless a test says otherwise.
pub const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

impl TestNet {
    /// A net on a fresh in-memory hub.
    pub fn new() -> Self {
        Self::on(Network::Memory(Hub::new()))
    }

    /// A net on `network`.
    pub fn on(network: Network) -> Self {
        let mut suffix = [0u8; 8];
        let _ = crate::crypto::random_bytes(&mut suffix);
        let dir = std::env::temp_dir().join(format!("wochat-test-{}", hex::encode(suffix)));
        let home = Home::open(dir.join("home")).unwrap_or_else(|e| panic!("cannot create a test home: {e}"));
        let friends = PEOPLE.iter().map(|p| p.to_string()).collect();
        Self { network, dir, home, options: ClientOptions::default(), config: Config::default(), friends }
    }

    /// The data home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The hub, for a net in memory.
    pub fn hub(&self) -> Option<&Hub> {
        match &self.network {
            Network::Memory(h) => Some(h),
            Network::Brokers(_) => None,
        }
    }

    /// A directory for the test's own files (inside the temporary directory).
    pub fn scratch(&self) -> PathBuf {
        let d = self.dir.join("scratch");
        let _ = std::fs::create_dir_all(&d);
        d
    }

    /// The key store, with cheap Argon2 parameters.
    pub fn keys(&self) -> KeyStore {
        KeyStore::open(&self.home.keys_db_path())
            .unwrap_or_else(|e| panic!("cannot open the key store: {e}"))
            .with_kdf(KdfParams::INSECURE_FAST)
    }

    /// Creates the account `name` (fixed key) if it is not there yet; returns its address.
    pub fn account(&self, name: &str) -> Address {
        match self.keys().create_from(name, &identity_of(name), PASSWORD) {
            Ok(a) => a,
            Err(KeysError::NameTaken(_) | KeysError::AlreadyPresent(_)) => identity_of(name).address(),
            Err(e) => panic!("cannot create {name}: {e}"),
        }
    }

    /// Starts a client for `name` (created if needed) and waits until it is subscribed.
    pub async fn peer(&self, name: &str) -> TestPeer {
        let mut p = self.start(name);
        p.ready().await;
        p
    }

    /// Starts a client for `name` without waiting for it to connect.
    pub fn start(&self, name: &str) -> TestPeer {
        self.account(name);
        let mut account = Account::open(&self.home, &self.keys(), name, PASSWORD)
            .unwrap_or_else(|e| panic!("cannot log in to {name}: {e}"));
        for friend in self.friends.iter().filter(|f| *f != name) {
            let address = identity_of(friend).address();
            if account.chat.friend(&address).ok().flatten().is_none() {
                let name = capitalized(friend);
                account.chat.upsert_friend(&address, &name).unwrap_or_else(|e| panic!("cannot add {friend}: {e}"));
            }
        }
        let address = account.address();
        let client_id = account.client_id();
        let login = account.broker_login();
        let read = ReadModel::new(account.reader().unwrap_or_else(|e| panic!("{name}: {e}")), account.objects.clone());
        account.objects.set_quota_mb(self.config.storage.quota_mb);
        let link = match &self.network {
            Network::Memory(hub) => LinkConfig::Memory(hub.clone()),
            Network::Brokers(urls) => {
                let mut t = transport_config(&self.config, &address, &login, urls).unwrap_or_else(|e| panic!("{e}"));
                t.backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
                LinkConfig::Mqtt(Box::new(t))
            }
        };
        let (client, events) =
            Client::start(account, link, self.options).unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        TestPeer { name: name.to_string(), address, client_id, client, events, read }
    }

    /// Peers that are nobody's friends: every message between them is a message request.
    pub fn strangers(mut self) -> Self {
        self.friends.clear();
        self
    }

    /// Options with a fast retransmission schedule (`first`, doubling up to 8 times that).
    pub fn fast_retries(mut self, first: Duration) -> Self {
        self.options.retry = RetryPolicy { first, max: first * 8 };
        self
    }

    /// Options with every timer shortened (retransmission and missing chunks after 1 s).
    pub fn fast_timers(mut self) -> Self {
        self.options = self.options.fast_timers();
        self
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running client of a [`TestNet`]; stopped when dropped.
pub struct TestPeer {
    /// Its account name.
    pub name: String,
    /// Its address.
    pub address: Address,
    /// Its MQTT client id (its session on the hub).
    pub client_id: String,
    /// The client.
    pub client: Client,
    /// Its events.
    pub events: Events,
    /// What it shows.
    pub read: ReadModel,
}

impl std::fmt::Debug for TestPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPeer").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TestPeer {
    /// Waits for an event matching `pred` (failing after [`PATIENCE`]).
    pub async fn wait_for(&mut self, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let name = self.name.clone();
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                match self.events.recv().await {
                    Some(e) if pred(&e) => return e,
                    Some(_) => {}
                    None => panic!("{name}: the client stopped"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{name}: timed out waiting for an event"))
    }

    /// Waits until subscribed.
    pub async fn ready(&mut self) {
        self.wait_for(|e| matches!(e, Event::Ready { .. })).await;
    }

    /// Waits until `pred` holds, re-checking after every event (no sleeping).
    pub async fn until(&mut self, what: &str, mut pred: impl FnMut(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !pred(self) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{}: the client stopped while waiting for {what}", self.name),
                Err(_) => panic!("{}: timed out waiting for {what}", self.name),
            }
        }
    }

    /// Sends `text` to `to` and waits until it is confirmed (receipted).
    pub async fn send_confirmed(&mut self, to: impl Into<Address>, text: &str) -> MessageHash {
        let hash = self.client.send_text(to.into(), text.to_string()).await.unwrap_or_else(|e| panic!("{e}"));
        self.wait_confirmed(hash).await;
        hash
    }

    /// Waits until an own message is confirmed.
    pub async fn wait_confirmed(&mut self, hash: MessageHash) {
        self.wait_for(|e| matches!(e, Event::Status { hash: h, stat: MessageStatus::Confirmed } if *h == hash)).await;
    }

    /// The conversation with `peer`, oldest first.
    pub fn history(&self, peer: &Address) -> Vec<MessageView> {
        match self.read.chat_with(peer).unwrap_or_else(|e| panic!("{e}")) {
            Some(chat) => self.read.page(chat, None, usize::MAX >> 1).unwrap_or_else(|e| panic!("{e}")),
            None => Vec::new(),
        }
    }

    /// The texts of the conversation with `peer`, oldest first.
    pub fn texts(&self, peer: &Address) -> Vec<String> {
        self.history(peer).into_iter().filter_map(|m| m.text).collect()
    }

    /// Waits until the conversation with `peer` satisfies `pred`; returns it.
    pub async fn until_history(&mut self, peer: &Address, pred: impl Fn(&[MessageView]) -> bool) -> Vec<MessageView> {
        let peer = *peer;
        self.until("the history", |p| pred(&p.history(&peer))).await;
        self.history(&peer)
    }

    /// Stops the client (clean disconnect: the broker keeps the session).
    pub async fn stop(mut self) {
        self.client.shutdown().await;
        self.events.close();
    }

    /// Where the account's database is.
    pub fn db_path(&self) -> &Path {
        self.read.db().path()
    }
}

impl From<&TestPeer> for Address {
    fn from(p: &TestPeer) -> Self {
        p.address
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        self.client.stop_soon();
    }
}

fn capitalized(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
