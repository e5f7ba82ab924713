//! Protocol v2: forward secrecy and post-compromise security (tried by an attacker with the
//! library's own primitives), session races, a peer restored from an old copy, duplicates,
//! reordering and a broker losing half a queue, v1 compatibility and downgrade attempts,
//! secret client ids, and a database from before v2.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::broker::Mosquitto;
use vodozemac::olm::{Account, AccountPickle, OlmMessage, Session, SessionConfig, SessionPickle};
use wochat::app::{ClientOptions, Event, Protocol};
use wochat::crypto::envelope::Keyring;
use wochat::crypto::{Address, Identity};
use wochat::store::{ChatDb, MessageStatus};
use wochat::testkit::{Network, PASSWORD, TestNet, TestPeer};
use wochat::transport::memory::Hub;
use wochat::wire::{Body, Inner, Packet};

/// Publishes seen: topic and payload.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A `#` subscriber on a real broker: every publish it sees, with its topic.
struct Spy {
    seen: Seen,
}

impl Spy {
    async fn start(url: &str) -> Self {
        let u = wochat::transport::BrokerUrl::parse(url).unwrap();
        let mut o = rumqttc::MqttOptions::new("spy", u.host, u.port);
        o.set_max_packet_size(8 << 20, 8 << 20);
        let (client, mut el) = rumqttc::AsyncClient::new(o, 1000);
        client.subscribe("#", rumqttc::QoS::AtLeastOnce).await.unwrap();
        let seen = Seen::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let s = seen.clone();
        tokio::spawn(async move {
            let _client = client;
            while let Ok(ev) = el.poll().await {
                match ev {
                    rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => {
                        s.lock().unwrap().push((p.topic.clone(), p.payload.to_vec()));
                    }
                    _ => {}
                }
            }
        });
        rx.await.unwrap();
        Self { seen }
    }

    /// Envelopes published on `to`'s topic (not key topics) so far.
    fn envelopes_to(&self, to: &Address) -> Vec<Vec<u8>> {
        let topic = to.to_hex();
        self.seen.lock().unwrap().iter().filter(|(t, _)| *t == topic).map(|(_, p)| p.clone()).collect()
    }
}

/// A copy of a stopped peer's `chat.db` (and WAL) in `dir`.
fn copy_db(net: &TestNet, who: &Address, dir: &Path) -> PathBuf {
    let src = net.home().chat_db_path(who);
    let dst = dir.join(format!("{}.db", &who.to_hex()[..8]));
    std::fs::copy(&src, &dst).unwrap();
    let wal = src.with_extension("db-wal");
    if wal.exists() {
        std::fs::copy(&wal, dst.with_extension("db-wal")).unwrap();
    }
    dst
}

/// What an attacker holding `who`'s secret key (and so its password-protected key file
/// opened) and a copy of its `chat.db` can read of `envelopes`: the messages (texts and
/// attachments) it decrypts, trying the v1 envelope, the v2 outer envelope and every Olm
/// session and the Olm account of the copy.
fn readable(identity: &Identity, db_copy: &Path, envelopes: &[Vec<u8>]) -> Vec<String> {
    let db = ChatDb::open(db_copy, identity).unwrap();
    let key = identity.derive_key(wochat::session::PICKLE_KEY_INFO);
    let conn = db.connection();
    let account: String = conn.query_row("SELECT pickle FROM olm_account", [], |r| r.get(0)).unwrap();
    let sessions: Vec<String> = conn
        .prepare("SELECT pickle FROM olm_session")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!sessions.is_empty(), "the copy holds sessions to attack");
    let keyring = Keyring::new(Identity::from_secret_bytes(identity.secret_bytes()).unwrap());
    let mut read = Vec::new();
    for env in envelopes {
        let plaintexts: Vec<Vec<u8>> = match env.first() {
            Some(1) => wochat::wire::open_envelope(&keyring, env).map(|o| o.cbor).into_iter().collect(),
            Some(2) => {
                let Ok(padded) = wochat::crypto::outer::open_outer(identity, env) else { continue };
                let inner = Inner::decode(wochat::wire::unpad(&padded).unwrap()).unwrap();
                let mut found = Vec::new();
                // Every Olm message of the envelope (a batch carries several: section 14).
                for olm in std::iter::once(&inner.olm).chain(&inner.more) {
                    let msg = OlmMessage::from_parts(usize::from(inner.kind), olm).unwrap();
                    for s in &sessions {
                        let mut session = Session::from_pickle(SessionPickle::from_encrypted(s, &key).unwrap());
                        if let Ok(p) = session.decrypt(&msg) {
                            found.push(p);
                        }
                    }
                    if let OlmMessage::PreKey(pre) = &msg {
                        let mut acc = Account::from_pickle(AccountPickle::from_encrypted(&account, &key).unwrap());
                        if let Ok(c) = acc.create_inbound_session(SessionConfig::version_1(), pre.identity_key(), pre) {
                            found.push(c.plaintext);
                        }
                    }
                }
                found
            }
            _ => Vec::new(),
        };
        for p in plaintexts {
            match Packet::decode(&p).map(|p| p.body) {
                Ok(Body::Text { text }) => read.push(text),
                Ok(Body::Attachment { obj, .. }) => read.push(obj.name),
                _ => {}
            }
        }
    }
    read
}

fn identity(net: &TestNet, name: &str) -> Identity {
    net.keys().login(name, PASSWORD).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_traffic_stays_secret_after_the_keys_and_the_database_are_stolen() {
    let broker = Mosquitto::start();
    let spy = Spy::start(&broker.url()).await;
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    for i in 0..3 {
        alice.send_confirmed(&bob, &format!("secret a{i}")).await;
        bob.send_confirmed(&alice, &format!("secret b{i}")).await;
    }
    let src = net.scratch().join("plan.txt");
    std::fs::write(&src, "the secret plan").unwrap();
    let sent = alice.client.send_file(bob.address, src, None, None).await.unwrap();
    alice.wait_confirmed(sent.message).await;
    let (a, b) = (alice.address, bob.address);
    alice.stop().await;
    bob.stop().await;

    let to_bob = spy.envelopes_to(&b);
    let to_alice = spy.envelopes_to(&a);
    assert!(to_bob.len() >= 5 && to_alice.len() >= 4, "the spy recorded the exchange");
    assert!(to_bob.iter().chain(&to_alice).all(|e| e[0] == 2), "every envelope is v2");
    // The thief has both secret keys (the password opens wochat.db) and both databases.
    let dir = tempfile::tempdir().unwrap();
    let (bob_db, alice_db) = (copy_db(&net, &b, dir.path()), copy_db(&net, &a, dir.path()));
    // The copies hold the history: the attack is on the recorded envelopes.
    assert!(!readable(&identity(&net, "bob"), &bob_db, &to_bob).contains(&"secret a0".to_string()));
    assert_eq!(readable(&identity(&net, "bob"), &bob_db, &to_bob), Vec::<String>::new());
    assert_eq!(readable(&identity(&net, "alice"), &alice_db, &to_alice), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_state_stops_working_after_one_round_trip() {
    let broker = Mosquitto::start();
    let spy = Spy::start(&broker.url()).await;
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "before").await;
    let b = bob.address;
    bob.stop().await;
    // Time T: the thief copies bob's state.
    let dir = tempfile::tempdir().unwrap();
    let stolen = copy_db(&net, &b, dir.path());
    let mut bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "after T, same chain").await;
    let seen_before_round_trip = spy.envelopes_to(&b).len();
    // One round trip: bob answers, alice answers that.
    bob.send_confirmed(&alice, "bob's reply").await;
    for i in 0..3 {
        alice.send_confirmed(&bob, &format!("healed {i}")).await;
    }
    let after: Vec<Vec<u8>> = spy.envelopes_to(&b)[seen_before_round_trip..].to_vec();
    let thief = identity(&net, "bob");
    let read = readable(&thief, &stolen, &after);
    assert!(read.iter().all(|t| !t.starts_with("healed")), "after a round trip the copy reads nothing: {read:?}");
    // Before the round trip it did (the chain had not moved on): the attack is a real one.
    let early = readable(&thief, &stolen, &spy.envelopes_to(&b)[..seen_before_round_trip]);
    assert!(early.contains(&"after T, same chain".to_string()), "{early:?}");
}

/// Section 14: what is sent at once to one peer goes in batches, each message stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_travels_in_batches_and_every_message_arrives_once() {
    let broker = Mosquitto::start();
    let spy = Spy::start(&broker.url()).await;
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "hello").await;
    let before = spy.envelopes_to(&bob.address).len();
    const N: usize = 60;
    let sends: Vec<_> = (0..N).map(|i| alice.client.send_text(bob.address, format!("burst {i}"))).collect();
    let mut hashes = Vec::new();
    for s in sends {
        hashes.push(s.await.unwrap());
    }
    for h in &hashes {
        alice.wait_confirmed(*h).await;
    }
    let a = alice.address;
    let history = bob.until_history(&a, |h| h.len() > N).await;
    let texts: Vec<&str> = history.iter().filter_map(|m| m.text.as_deref()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("burst {i}")).collect();
    assert_eq!(texts[1..], expected.iter().map(String::as_str).collect::<Vec<_>>()[..], "each once, in order");
    let envelopes = spy.envelopes_to(&bob.address).len() - before;
    assert!(envelopes < N / 2, "{N} messages in {envelopes} envelopes");
}

fn preferred_session(peer: &TestPeer, of: &Address) -> String {
    peer.read
        .db()
        .connection()
        .query_row("SELECT sid FROM olm_session WHERE peer = ?1 AND preferred = 1", [of.to_hex()], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_starting_a_session_at_once_settle_on_one() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    // Both write first, at the same moment: each starts a session.
    let (a, b) = (alice.address, bob.address);
    let ha = alice.client.send_text(b, "hi bob".into());
    let hb = bob.client.send_text(a, "hi alice".into());
    let (ha, hb) = (ha.await.unwrap(), hb.await.unwrap());
    alice.wait_confirmed(ha).await;
    bob.wait_confirmed(hb).await;
    for i in 0..3 {
        alice.send_confirmed(&bob, &format!("a{i}")).await;
        bob.send_confirmed(&alice, &format!("b{i}")).await;
    }
    assert_eq!(preferred_session(&alice, &b), preferred_session(&bob, &a), "both send on the same session");
    assert_eq!(alice.history(&b).len(), 8);
    assert_eq!(bob.history(&a).len(), 8);
    assert!(alice.history(&b).iter().all(|m| !m.outgoing || m.stat == MessageStatus::Confirmed));
}

/// Copies (`save`) or restores a stopped peer's account directory.
fn account_dir_copy(net: &TestNet, who: &Address, backup: &Path, save: bool) {
    let dir = net.home().account_dir(who);
    for name in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        let (from, to) = if save { (dir.join(name), backup.join(name)) } else { (backup.join(name), dir.join(name)) };
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_restored_from_an_old_copy_gets_new_messages_in_a_new_session() {
    let net = TestNet::new().fast_timers();
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "old times").await;
    let b = bob.address;
    bob.stop().await;
    let backup = tempfile::tempdir().unwrap();
    account_dir_copy(&net, &b, backup.path(), true);
    // Life goes on: both ratchets move past the copy.
    let mut bob = net.peer("bob").await;
    for i in 0..2 {
        alice.send_confirmed(&bob, &format!("after the copy {i}")).await;
        bob.send_confirmed(&alice, &format!("bob after the copy {i}")).await;
    }
    let before = preferred_session(&alice, &b);
    bob.stop().await;
    // Bob's disk dies; he restores last week's copy.
    account_dir_copy(&net, &b, backup.path(), false);
    let mut bob = net.peer("bob").await;
    let mut sent = HashSet::new();
    for i in 0..5 {
        sent.insert(alice.client.send_text(b, format!("to the restored bob {i}")).await.unwrap());
    }
    let got = bob.until_history(&alice.address, |h| h.iter().filter(|m| sent.contains(&m.hash)).count() == 5).await;
    assert_eq!(got.iter().filter(|m| sent.contains(&m.hash)).count(), 5, "each arrives once");
    alice.until_history(&b, |h| h.iter().filter(|m| m.outgoing).all(|m| m.stat == MessageStatus::Confirmed)).await;
    assert_ne!(preferred_session(&alice, &b), before, "a new session");
    // And bob can write again.
    bob.send_confirmed(&alice, "I'm back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_reordering_and_a_broker_losing_half_the_queue() {
    let net = TestNet::new().fast_timers();
    let hub = net.hub().unwrap().clone();
    hub.record();
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "session up").await;
    let (b, bob_id) = (bob.address, bob.client_id.clone());
    bob.stop().await;
    // A burst while bob is away, delivered to him shuffled.
    let mut sent = HashSet::new();
    for i in 0..30 {
        sent.insert(alice.client.send_text(b, format!("burst {i}")).await.unwrap());
    }
    alice.until_history(&b, |h| h.iter().all(|m| m.stat != MessageStatus::Stored)).await;
    hub.shuffle_pending(&bob_id, 7);
    let mut bob = net.peer("bob").await;
    bob.until_history(&alice.address, |h| h.iter().filter(|m| sent.contains(&m.hash)).count() == 30).await;
    alice.until_history(&b, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
    // Every envelope again: each is recognised, nothing is stored twice.
    let recorded: Vec<Vec<u8>> = hub.recorded().into_iter().filter(|(t, _)| *t == b.to_hex()).map(|(_, p)| p).collect();
    for env in &recorded {
        hub.inject(&b.to_hex(), env.clone());
    }
    let mut duplicates = 0;
    while duplicates < recorded.len() {
        if let Event::Dropped { reason: "duplicate" } = bob.wait_for(|e| matches!(e, Event::Dropped { .. })).await {
            duplicates += 1;
        }
    }
    assert_eq!(bob.history(&alice.address).len(), 31);
    // A broker that loses half of a queue: retransmission fills the gaps, once each.
    bob.stop().await;
    let mut more = HashSet::new();
    for i in 0..20 {
        more.insert(alice.client.send_text(b, format!("lossy {i}")).await.unwrap());
    }
    alice.until_history(&b, |h| h.iter().all(|m| m.stat != MessageStatus::Stored)).await;
    assert_eq!(hub.drop_pending(&bob_id, |i| i % 2 == 0), 10);
    let mut bob = net.peer("bob").await;
    let h = bob.until_history(&alice.address, |h| h.iter().filter(|m| more.contains(&m.hash)).count() == 20).await;
    assert_eq!(h.len(), 51, "every message once");
    alice.until_history(&b, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
}

/// A peer that speaks only `shared/PROTOCOL.md` (v1): it opens v1 envelopes, stores texts,
/// answers with receipts, ignores packet types it does not know, and can write.
struct V1Only {
    keys: Keyring,
    link: wochat::transport::memory::MemoryLink,
    events: tokio::sync::mpsc::Receiver<wochat::transport::TransportEvent>,
    texts: Vec<String>,
    receipted: HashSet<[u8; 32]>,
}

impl V1Only {
    fn start(hub: &Hub) -> Self {
        let keys = Keyring::new(Identity::generate().unwrap());
        let (tx, events) = tokio::sync::mpsc::channel(64);
        let topic = keys.address().to_hex();
        let link = hub.connect(&wochat::wire::client_id(&keys.address()), &topic, tx);
        Self { keys, link, events, texts: Vec::new(), receipted: HashSet::new() }
    }

    fn send(&self, to: &Address, body: Body) -> [u8; 32] {
        use wochat::transport::Link;
        let sealed = wochat::wire::seal_packet(&self.keys, to, &Packet::new(body)).unwrap();
        self.link.publish(Vec::new(), to.to_hex(), sealed.envelope);
        sealed.hash.0
    }

    /// Handles deliveries until `done` holds.
    async fn until(&mut self, done: impl Fn(&Self) -> bool) {
        use wochat::transport::{Link, TransportEvent};
        tokio::time::timeout(Duration::from_secs(30), async {
            while !done(self) {
                let Some(ev) = self.events.recv().await else { panic!("closed") };
                let TransportEvent::Message(inc) = ev else { continue };
                if let Ok(o) = wochat::wire::open_envelope(&self.keys, &inc.payload) {
                    match o.packet.body {
                        Body::Text { text } => {
                            self.texts.push(text);
                            self.send(&o.from, Body::Receipt { ack: vec![o.hash.0] });
                        }
                        Body::Receipt { ack } => self.receipted.extend(ack),
                        _ => {} // unknown to v1 (a key bundle offer): dropped
                    }
                }
                self.link.ack(inc);
            }
        })
        .await
        .expect("the v1 peer got what it waited for");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_only_peer_and_a_v2_client_talk_both_ways() {
    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    let mut old = V1Only::start(&hub);
    let mut alice = net.peer("alice").await;
    let o = old.keys.address();
    // alice waits briefly for keys that never come, then speaks v1.
    let first = alice.client.send_text(o, "hello, old friend".into()).await.unwrap();
    old.until(|v| v.texts.contains(&"hello, old friend".to_string())).await;
    alice.wait_confirmed(first).await;
    let hash = old.send(&alice.address, Body::Text { text: "hello from v1".into() });
    alice.until_history(&o, |h| h.iter().any(|m| m.text.as_deref() == Some("hello from v1"))).await;
    old.until(|v| v.receipted.contains(&hash)).await;
    // A v1 client of this code base (Protocol::V1) and a v2 one, too.
    let mut v1_net = TestNet::on(Network::Memory(hub.clone()));
    v1_net.options = ClientOptions { protocol: Protocol::V1, ..Default::default() };
    let mut carol = v1_net.peer("carol").await;
    alice.send_confirmed(&carol, "to carol").await;
    carol.send_confirmed(&alice, "from carol").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_seen_with_v2_is_never_spoken_to_in_v1_again() {
    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "v2").await;
    bob.send_confirmed(&alice, "v2 back").await;
    // Someone deletes bob's published bundle, and alice starts afresh (nothing in memory).
    for topic in hub.retained_topics() {
        if topic.starts_with(&bob.address.to_hex()) {
            hub.clear_retained(&topic);
        }
    }
    alice.stop().await;
    let mut alice = net.peer("alice").await;
    hub.record();
    alice.send_confirmed(&bob, "still v2").await;
    let to_bob: Vec<Vec<u8>> =
        hub.recorded().into_iter().filter(|(t, _)| *t == bob.address.to_hex()).map(|(_, p)| p).collect();
    assert!(!to_bob.is_empty() && to_bob.iter().all(|e| e[0] == 2), "no downgrade to v1");
    // A v1 envelope from bob (a downgrade, or a replay of old traffic) is refused.
    let bob_keys = Keyring::new(identity(&net, "bob"));
    let forged = wochat::wire::seal_packet(&bob_keys, &alice.address, &Packet::new(Body::Text { text: "v1!".into() }));
    hub.inject(&alice.address.to_hex(), forged.unwrap().envelope);
    alice.wait_for(|e| matches!(e, Event::Dropped { reason: "downgrade" })).await;
    assert!(alice.texts(&bob.address).iter().all(|t| t != "v1!"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_id_is_secret_stable_and_cannot_be_taken_over() {
    let alice = Identity::generate().unwrap();
    let id = wochat::wire::secret_client_id(&alice);
    assert_ne!(id, wochat::wire::client_id(&alice.address()), "not the v1 id, which anyone can compute");
    assert_eq!(id, wochat::wire::secret_client_id(&Identity::from_secret_bytes(alice.secret_bytes()).unwrap()));
    assert_eq!(id.len(), 23);

    let broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    // Stable across restarts.
    let first = alice.client_id.clone();
    alice.stop().await;
    let mut alice = net.peer("alice").await;
    assert_eq!(alice.client_id, first);
    // Someone connects with the id computable from alice's address: alice is not thrown off.
    let u = wochat::transport::BrokerUrl::parse(&broker.url()).unwrap();
    let mut o = rumqttc::MqttOptions::new(wochat::wire::client_id(&alice.address), u.host, u.port);
    o.set_clean_session(false);
    let (_thief, mut el) = rumqttc::AsyncClient::new(o, 10);
    tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let hash = bob.client.send_text(alice.address, "still yours".into()).await.unwrap();
    let mut bob = bob;
    bob.wait_confirmed(hash).await;
    assert!(alice.events.try_recv().into_iter().all(|e| !matches!(e, Event::Connection { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_under_the_old_client_id_are_still_fetched_once() {
    let broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let alice_addr = net.account("alice");
    // A v1-era session of alice's: the old client id, subscribed, then offline.
    let u = wochat::transport::BrokerUrl::parse(&broker.url()).unwrap();
    let old_id = wochat::wire::client_id(&alice_addr);
    {
        let mut o = rumqttc::MqttOptions::new(old_id.clone(), u.host.clone(), u.port);
        o.set_clean_session(false);
        let (c, mut el) = rumqttc::AsyncClient::new(o, 10);
        c.subscribe(alice_addr.to_hex(), rumqttc::QoS::AtLeastOnce).await.unwrap();
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) = el.poll().await {
                break;
            }
        }
        c.disconnect().await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(1), async { while el.poll().await.is_ok() {} }).await;
    }
    // While alice is away, a v1 peer writes to her: the broker queues it in the old session.
    let carol = Keyring::new(Identity::generate().unwrap());
    let env =
        wochat::wire::seal_packet(&carol, &alice_addr, &Packet::new(Body::Text { text: "queued".into() })).unwrap();
    let (raw, mut el) = rumqttc::AsyncClient::new(rumqttc::MqttOptions::new("carol", u.host.clone(), u.port), 10);
    raw.publish(alice_addr.to_hex(), rumqttc::QoS::AtLeastOnce, false, env.envelope).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(500), async { while el.poll().await.is_ok() {} }).await;

    let mut alice = net.peer("alice").await;
    alice.until_history(&carol.address(), |h| h.len() == 1).await;
    // Once drained (recorded in chat.db), the old session is deleted: connecting under the old
    // id finds none.
    let drained =
        |p: &TestPeer| wochat::store::olm::meta(p.read.db().connection(), "legacy_session_drained").unwrap().is_some();
    while !drained(&alice) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut o = rumqttc::MqttOptions::new(old_id.clone(), u.host.clone(), u.port);
    o.set_clean_session(false);
    let (_c, mut el) = rumqttc::AsyncClient::new(o, 10);
    let present = loop {
        match el.poll().await {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => break a.session_present,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert!(!present, "the old session was deleted");
    assert_eq!(alice.history(&carol.address()).len(), 1, "fetched once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_v2_upgrades_in_place_and_chats_in_v2() {
    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    let a = net.account("alice");
    let bob = net.peer("bob").await;
    // alice's chat.db as a v1-era client left it (schema version 6), with a history with bob.
    let id = identity(&net, "alice");
    net.home().create_account_dir(&a).unwrap();
    {
        let key = id.derive_key(wochat::store::DB_KEY_INFO);
        let list = &wochat::store::migrations::CHAT_DB[..6];
        let mut db = wochat::store::open_database(&net.home().chat_db_path(&a), Some(&key), list).unwrap();
        let cbor = Packet::new(Body::Text { text: "from the v1 days".into() }).encode();
        let tx = db.transaction().unwrap();
        tx.execute("INSERT INTO talk (kind, pk, last_dt) VALUES ('D', ?1, 1)", [bob.address.to_hex()]).unwrap();
        tx.execute("INSERT INTO chat_member (chat, pk, dt) VALUES (1, ?1, 1)", [bob.address.to_hex()]).unwrap();
        tx.execute(
            "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, chat) VALUES (1, ?1, ?2, ?3, 1, 'T', 'C', ?4, 1)",
            rusqlite::params![a.to_hex(), bob.address.to_hex(), wochat::wire::MessageHash::of(&cbor).to_hex(), cbor],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let mut alice = net.peer("alice").await;
    assert_eq!(alice.texts(&bob.address), vec!["from the v1 days"]);
    hub.record();
    alice.send_confirmed(&bob, "now in v2").await;
    assert!(hub.recorded().iter().filter(|(t, _)| *t == bob.address.to_hex()).all(|(_, p)| p[0] == 2));
    assert_eq!(alice.texts(&bob.address), vec!["from the v1 days", "now in v2"]);
}
