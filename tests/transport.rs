//! Transport options: failover between brokers, TLS with a CA file, user name and password,
//! and the embedded broker hosted on demand.

mod common;

use std::process::Command;

use common::broker::{Mosquitto, free_port};
use common::certs::make_certs;
use std::time::Duration;

use wochat::app::{ConnState, Event};
use wochat::config::EmbeddedBroker;
use wochat::config::MqttProtocol;
use wochat::store::MessageStatus;
use wochat::testkit::{Network, TestNet, TestPeer};

async fn exchange(alice: &mut TestPeer, bob: &mut TestPeer) {
    alice.ready().await;
    bob.ready().await;
    alice.send_confirmed(&*bob, "over the wire").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_broker_fails_over_to_the_next() {
    let broker = Mosquitto::start();
    let dead = format!("mqtt://127.0.0.1:{}", free_port());
    let urls = vec![dead.clone(), broker.url()];
    let net = TestNet::on(Network::Brokers(urls));
    let mut alice = net.start("alice");
    let mut bob = net.start("bob");
    // The first attempt fails and is reported, then the second broker takes over.
    let e = alice.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    assert!(
        matches!(e, Event::Connection { state: ConnState::Reconnecting, ref broker, .. } if *broker == dead),
        "{e:?}"
    );
    alice.wait_for(|e| matches!(e, Event::Connection { state: ConnState::Connected, .. })).await;
    exchange(&mut alice, &mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file_and_password_authentication() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let passwd = certs.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    for (user, pass) in [("alice", "a-secret"), ("bob", "b-secret")] {
        let st = Command::new("mosquitto_passwd").args(["-b"]).arg(&passwd).args([user, pass]).status().unwrap();
        assert!(st.success());
    }
    let c = |f: &str| certs.path().join(f).display().to_string();
    let broker = Mosquitto::start_with(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\npassword_file {}\nmax_queued_messages 100000\n",
        c("ca.crt"),
        c("server.crt"),
        c("server.key"),
        passwd.display()
    ));
    let url = vec![format!("mqtts://localhost:{}", broker.port)];
    let mut net = TestNet::on(Network::Brokers(url));
    net.config.broker.ca_file = Some(certs.path().join("ca.crt"));
    net.config.broker.username = Some("alice".into());
    net.config.broker.password = Some("a-secret".into());
    let mut alice = net.start("alice");
    net.config.broker.username = Some("bob".into());
    net.config.broker.password = Some("b-secret".into());
    let mut bob = net.start("bob");
    exchange(&mut alice, &mut bob).await;

    // A wrong password is refused and reported; the client keeps trying.
    net.config.broker.password = Some("wrong".into());
    let mut eve = net.start("eve");
    let e = eve.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    assert!(matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
    // MQTT 5 says why, with the CONNACK's reason code.
    let Event::Connection { detail: Some(why), .. } = e else { panic!("no reason: {e:?}") };
    assert!(why.contains("the broker refused the connection: NotAuthorized"), "{why}");
    // Without the CA file the server is not trusted.
    net.config.broker.ca_file = None;
    net.config.broker.password = Some("a-secret".into());
    let mut mallory = net.start("mallory");
    let e = mallory.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    assert!(matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_hosts_the_embedded_broker_when_nothing_answers() {
    let port = free_port();
    let url = wochat::transport::BrokerUrl::parse(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    assert_eq!(wochat::app::prepare_broker(EmbeddedBroker::Off, std::slice::from_ref(&url)).unwrap(), None);
    let hosted = wochat::app::prepare_broker(EmbeddedBroker::Auto, std::slice::from_ref(&url)).unwrap();
    assert_eq!(hosted, Some(([127, 0, 0, 1], port).into()));
    // A second window finds it answering and does not host another.
    assert_eq!(wochat::app::prepare_broker(EmbeddedBroker::Auto, std::slice::from_ref(&url)).unwrap(), None);
    // A remote broker is never replaced by an embedded one.
    let remote = wochat::transport::BrokerUrl::parse("mqtt://broker.invalid:1883").unwrap();
    assert_eq!(wochat::app::prepare_broker(EmbeddedBroker::Auto, &[remote]).unwrap(), None);
    let mut net = TestNet::on(Network::Brokers(vec![url.to_string()]));
    let mut alice = net.start("alice");
    let mut bob = net.start("bob");
    // The embedded broker speaks MQTT 3.1.1: "auto" asks for 5, is turned away and connects
    // in 3.1.1 at once, without a reconnect delay.
    assert_eq!(connected_in(&mut alice).await, Some("3.1.1"));
    exchange(&mut alice, &mut bob).await;
    // Forced to MQTT 5, a client says what is probably wrong.
    net.config.broker.protocol = MqttProtocol::V5;
    let mut carol = net.start("carol");
    let e = carol.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    let Event::Connection { state: ConnState::Reconnecting, detail: Some(why), .. } = e else { panic!("{e:?}") };
    assert!(why.contains("does the broker speak MQTT 5?"), "{why}");
}

/// The MQTT version a peer reports when it connects.
async fn connected_in(peer: &mut TestPeer) -> Option<&'static str> {
    match peer.wait_for(|e| matches!(e, Event::Connection { state: ConnState::Connected, .. })).await {
        Event::Connection { protocol, .. } => protocol,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_5_and_3_1_1_clients_chat_through_one_broker() {
    let broker = Mosquitto::start();
    // No retransmission within the test: what reaches an absent account is the broker's queue.
    let mut net = TestNet::on(Network::Brokers(vec![broker.url()])).fast_retries(Duration::from_secs(3600));
    let mut alice = net.start("alice");
    net.config.broker.protocol = MqttProtocol::V311;
    let mut bob = net.start("bob");
    net.config.broker.protocol = MqttProtocol::V5;
    let mut carol = net.start("carol");
    assert_eq!(connected_in(&mut alice).await, Some("5"), "auto speaks MQTT 5 with Mosquitto");
    assert_eq!(connected_in(&mut bob).await, Some("3.1.1"));
    assert_eq!(connected_in(&mut carol).await, Some("5"));
    for p in [&mut alice, &mut bob, &mut carol] {
        p.ready().await;
    }
    alice.send_confirmed(&bob, "from 5 to 3.1.1").await;
    bob.send_confirmed(&carol, "from 3.1.1 to 5").await;
    carol.send_confirmed(&alice, "from 5 to 5").await;

    // Each goes away; what is sent meanwhile waits in the session the broker keeps: 30 days
    // asked in MQTT 5 (a session expiry of 0, MQTT 5's default, would lose it), the broker's
    // default in 3.1.1.
    let (alice_at, bob_at) = (alice.address, bob.address);
    carol.stop().await;
    bob.stop().await;
    alice.client.send_text(carol_address(), "while carol was away".into()).await.unwrap();
    alice.client.send_text(bob_at, "while bob was away".into()).await.unwrap();
    alice.wait_for(|e| matches!(e, Event::Status { stat: MessageStatus::Sent, .. })).await;
    alice.wait_for(|e| matches!(e, Event::Status { stat: MessageStatus::Sent, .. })).await;
    let mut carol = net.peer("carol").await;
    carol.until_history(&alice_at, |h| h.iter().any(|m| m.text.as_deref() == Some("while carol was away"))).await;
    net.config.broker.protocol = MqttProtocol::V311;
    let mut bob = net.peer("bob").await;
    bob.until_history(&alice_at, |h| h.iter().any(|m| m.text.as_deref() == Some("while bob was away"))).await;
}

fn carol_address() -> wochat::crypto::Address {
    wochat::testkit::identity_of("carol").address()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_publish_is_left_at_the_broker_not_delivered_again_and_again() {
    let broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    // 9 MiB on alice's topic: larger than any envelope and than what a 3.1.1 client reads
    // (which fails its connection, reconnects and is handed the same publish again). MQTT 5
    // told the broker the largest packet alice takes: the broker drops it.
    common::forge::publish_all(&broker.url(), &alice.address.to_hex(), vec![vec![0x5a; 9 << 20]]).await;
    bob.send_confirmed(&alice, "after the big one").await;
    alice.until_history(&bob.address, |h| h.iter().any(|m| m.text.as_deref() == Some("after the big one"))).await;
    // Alice never lost her connection over it.
    while let Ok(e) = alice.events.try_recv() {
        assert!(!matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
    }
}

/// A publish that carries several messages (a batch) is acknowledged in one event with all
/// their tags, in both MQTT versions: the engine's event channel is not filled with one event
/// per message while it is busy, which held the connection (and every publish) back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_acknowledgement_names_every_message_a_publish_carried() {
    use wochat::transport::{BrokerUrl, Link, Transport, TransportConfig, TransportEvent};
    let broker = Mosquitto::start();
    for protocol in [MqttProtocol::V5, MqttProtocol::V311] {
        let mut cfg = TransportConfig::new(
            vec![BrokerUrl::parse(&broker.url()).unwrap()],
            format!("acks-{protocol:?}"),
            format!("acks/{protocol:?}"),
        );
        cfg.clean_session = true;
        cfg.protocol = protocol;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let link = Transport::start(cfg, tx).unwrap();
        let tags: Vec<[u8; 32]> = (1..=3u8).map(|i| [i; 32]).collect();
        link.publish(tags.clone(), "acks/elsewhere".into(), b"three in one".to_vec());
        link.publish(Vec::new(), "acks/elsewhere".into(), b"untagged".to_vec());
        link.publish(vec![[9; 32]], "acks/elsewhere".into(), b"one".to_vec());
        let mut acks = Vec::new();
        while acks.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some(TransportEvent::Acked(t))) => acks.push(t),
                Ok(Some(_)) => {}
                other => panic!("{protocol:?}: no acknowledgement: {other:?}"),
            }
        }
        assert_eq!(acks, vec![tags, vec![[9; 32]]], "{protocol:?}: in order, one event per publish");
        link.shutdown().await;
    }
}
