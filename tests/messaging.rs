//! Two clients through real brokers: exchange, offline delivery, retransmission, broker restart,
//! hostile input, and what the broker can see.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::TestHome;
use common::broker::{Mosquitto, free_port};
use common::peer::start_peer;
use wochat::app::Event;
use wochat::store::MessageRow;

fn texts(h: &[MessageRow]) -> Vec<String> {
    h.iter()
        .filter_map(|m| match wochat::wire::Packet::decode(&m.cbor).ok()?.body {
            wochat::wire::Body::Text { text } => Some(text),
            _ => None,
        })
        .collect()
}

async fn exchange_both_ways(url: String) {
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &url);
    let mut bob = start_peer(&home, "bob", &url);
    alice.ready().await;
    bob.ready().await;
    let a2b = alice.client.send_text(bob.address, "hello bob, 你好 👋".into()).await.unwrap();
    let b2a = bob.client.send_text(alice.address, "hi alice".into()).await.unwrap();
    // Each sees its own message reach C.
    alice.wait_for(20, |e| matches!(e, Event::Status { hash, stat: 'C' } if *hash == a2b)).await;
    bob.wait_for(20, |e| matches!(e, Event::Status { hash, stat: 'C' } if *hash == b2a)).await;
    // Each has the other's message, once.
    let ha = alice.history(&bob.address);
    let hb = bob.history(&alice.address);
    assert_eq!(ha.len(), 2);
    assert_eq!(hb.len(), 2);
    let mut got = texts(&hb);
    got.sort();
    assert_eq!(got, vec!["hello bob, 你好 👋", "hi alice"]);
    assert!(ha.iter().all(|m| m.stat == 'C'));
    let talk = &bob.reader.talks().unwrap()[0];
    assert_eq!(talk.peer, alice.address);
    assert!(talk.request, "alice is not bob's friend yet: a message request");
    assert_eq!(talk.unread, 1);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_mosquitto() {
    let broker = Mosquitto::start();
    exchange_both_ways(broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_embedded_broker() {
    let port = free_port();
    wochat::transport::broker::start_embedded(([127, 0, 0, 1], port).into()).unwrap();
    exchange_both_ways(format!("mqtt://127.0.0.1:{port}")).await;
}

/// Bob connects once (so the broker has his session), goes offline; alice sends `n`; bob comes
/// back and must store all of them exactly once, and alice sees every one reach C.
async fn offline_delivery(broker: &Mosquitto, n: usize, secs: u64) {
    let home = TestHome::new();
    let mut bob = start_peer(&home, "bob", &broker.url());
    bob.ready().await;
    let bob_addr = bob.address;
    bob.stop().await;

    let mut alice = start_peer(&home, "alice", &broker.url());
    alice.ready().await;
    let mut sent = Vec::new();
    for i in 0..n {
        sent.push(alice.client.send_text(bob_addr, format!("offline {i}")).await.unwrap());
    }
    alice.until_history(&bob_addr, 30, |h| h.len() == n && h.iter().all(|m| m.stat != 'N')).await;

    let bob = start_peer(&home, "bob", &broker.url());
    let h = bob.until_history(&alice.address, secs, |h| h.len() >= n).await;
    let hashes: HashSet<_> = h.iter().map(|m| m.hash.clone()).collect();
    assert_eq!(h.len(), n);
    assert_eq!(hashes, sent.iter().cloned().collect::<HashSet<_>>());
    alice.until_history(&bob_addr, secs, |h| h.iter().all(|m| m.stat == 'C')).await;
    // Nothing arrives twice, even after more time for redeliveries.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bob.history(&alice.address).len(), n);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recipient_receives_200_once() {
    let broker = Mosquitto::start();
    offline_delivery(&broker, 200, 60).await;
}

/// The broker keeps only 50 of the 200: the end-to-end retransmission (30 s) delivers the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_broker_queue_is_overcome_by_retransmission() {
    let broker = Mosquitto::start_with("max_queued_messages 50\n");
    offline_delivery(&broker, 200, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_in_the_middle_of_a_stream_loses_nothing() {
    let mut broker = Mosquitto::start();
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &broker.url());
    let mut bob = start_peer(&home, "bob", &broker.url());
    alice.ready().await;
    bob.ready().await;
    let n = 300;
    for i in 0..n {
        alice.client.send_text(bob.address, format!("stream {i}")).await.unwrap();
        if i == n / 2 {
            broker.restart();
        }
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let h = bob.until_history(&alice.address, 100, |h| h.len() >= n).await;
    assert_eq!(h.len(), n);
    let want: HashSet<String> = (0..n).map(|i| format!("stream {i}")).collect();
    assert_eq!(texts(&h).into_iter().collect::<HashSet<_>>(), want);
    alice.until_history(&bob.address, 100, |h| h.iter().all(|m| m.stat == 'C')).await;
    alice.stop().await;
    bob.stop().await;
}

/// A raw MQTT client for publishing anything to a topic, or watching one.
async fn raw_client(url: &str, id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let u = wochat::transport::BrokerUrl::parse(url).unwrap();
    let mut o = rumqttc::MqttOptions::new(id, u.host, u.port);
    o.set_max_packet_size(8 << 20, 8 << 20);
    rumqttc::AsyncClient::new(o, 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_dropped_and_the_client_keeps_running() {
    use serde_json::Value;
    use wochat::crypto::Identity;
    use wochat::crypto::envelope::Keyring;

    let broker = Mosquitto::start();
    let home = TestHome::new();
    // Bob has the key of the vectors' recipient, so the negative vectors are aimed at him.
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/envelope-v1.json")).unwrap(),
    )
    .unwrap();
    let bob_sk: [u8; 32] = hex::decode(v["keys"]["bob"]["sk"].as_str().unwrap()).unwrap().try_into().unwrap();
    home.keys().create_from("bob", &Identity::from_secret_bytes(&bob_sk).unwrap(), b"pw").unwrap();
    let mut bob = start_peer(&home, "bob", &broker.url());
    bob.ready().await;
    let topic = bob.address.to_hex();

    let (raw, mut raw_loop) = raw_client(&broker.url(), "hostile").await;
    tokio::spawn(async move { while raw_loop.poll().await.is_ok() {} });
    let q = rumqttc::QoS::AtLeastOnce;
    let mut expected_drops = 0;
    let mut random = vec![0u8; 700];
    wochat::crypto::random_bytes(&mut random).unwrap();
    raw.publish(&topic, q, false, random).await.unwrap();
    expected_drops += 1;
    for e in v["negative"].as_array().unwrap() {
        raw.publish(&topic, q, false, hex::decode(e["envelope"].as_str().unwrap()).unwrap()).await.unwrap();
        expected_drops += 1;
    }
    raw.publish(&topic, q, false, vec![1u8; 2 * 1024 * 1024]).await.unwrap();
    expected_drops += 1;
    // A valid envelope from a blocked sender.
    let mallory = Keyring::new(Identity::generate().unwrap());
    bob.client.add_friend(mallory.address(), "mallory".into()).await.unwrap();
    {
        // Block through a second connection, as the CLI would.
        let mut db =
            wochat::store::ChatDb::open(bob.reader.path(), &Identity::from_secret_bytes(&bob_sk).unwrap()).unwrap();
        db.block(&mallory.address()).unwrap();
    }
    let p = wochat::wire::Packet::new(wochat::wire::Body::Text { text: "spam".into() });
    let sealed = wochat::wire::seal_packet(&mallory, &bob.address, &p).unwrap();
    raw.publish(&topic, q, false, sealed.envelope).await.unwrap();
    expected_drops += 1;
    // The same valid envelope 100 times from carol: stored once.
    let carol = Keyring::new(Identity::generate().unwrap());
    let p = wochat::wire::Packet::new(wochat::wire::Body::Text { text: "once".into() });
    let sealed = wochat::wire::seal_packet(&carol, &bob.address, &p).unwrap();
    for _ in 0..100 {
        raw.publish(&topic, q, false, sealed.envelope.clone()).await.unwrap();
    }

    let mut drops = 0;
    let mut reasons = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while drops < expected_drops {
            if let Some(Event::Dropped { reason }) = bob.events.recv().await {
                drops += 1;
                reasons.push(reason);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {drops} of {expected_drops} drops: {reasons:?}"));
    assert!(reasons.contains(&"blocked".to_string()), "{reasons:?}");
    let h = bob.until_history(&carol.address(), 20, |h| !h.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bob.history(&carol.address()).len(), 1, "a replayed envelope is stored once");
    assert_eq!(texts(&h), vec!["once"]);
    assert!(bob.history(&mallory.address()).is_empty(), "nothing from a blocked sender");

    // Still running: a normal message arrives.
    let mut alice = start_peer(&home, "alice", &broker.url());
    alice.ready().await;
    let hash = alice.client.send_text(bob.address, "still there?".into()).await.unwrap();
    alice.wait_for(20, |e| matches!(e, Event::Status { hash: h, stat: 'C' } if *h == hash)).await;
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_sees_neither_text_nor_sender() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &broker.url());
    let mut bob = start_peer(&home, "bob", &broker.url());
    alice.ready().await;
    bob.ready().await;

    let (spy, mut spy_loop) = raw_client(&broker.url(), "spy").await;
    spy.subscribe("#", rumqttc::QoS::AtLeastOnce).await.unwrap();
    let (tx, mut payloads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(ev) = spy_loop.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = ev {
                let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let secret_text = "the cake is a lie 蛋糕";
    let hash = alice.client.send_text(bob.address, secret_text.into()).await.unwrap();
    alice.wait_for(20, |e| matches!(e, Event::Status { hash: h, stat: 'C' } if *h == hash)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut seen = 0;
    while let Ok((topic, payload)) = payloads.try_recv() {
        seen += 1;
        for needle in [
            secret_text.as_bytes(),
            alice.address.as_bytes().as_slice(),
            alice.address.to_hex().as_bytes(),
            bob.address.as_bytes().as_slice(),
        ] {
            assert!(!common::contains(&payload, needle), "a payload on {topic} leaks data");
        }
    }
    assert!(seen >= 2, "the spy saw the message and the receipt ({seen})");
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talks_order_unread_counts_and_message_requests() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &broker.url());
    let mut bob = start_peer(&home, "bob", &broker.url());
    let mut carol = start_peer(&home, "carol", &broker.url());
    for p in [&mut alice, &mut bob, &mut carol] {
        p.ready().await;
    }
    bob.client.add_friend(alice.address, "Alice".into()).await.unwrap();
    for i in 0..3 {
        alice.client.send_text(bob.address, format!("a{i}")).await.unwrap();
    }
    bob.until_history(&alice.address, 20, |h| h.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    carol.client.send_text(bob.address, "hello stranger".into()).await.unwrap();
    bob.until_history(&carol.address, 20, |h| h.len() == 1).await;

    let talks = bob.reader.talks().unwrap();
    assert_eq!(talks.iter().map(|t| t.peer).collect::<Vec<_>>(), vec![carol.address, alice.address], "latest first");
    assert_eq!((talks[0].unread, talks[0].request), (1, true), "carol is a message request");
    assert_eq!((talks[1].unread, talks[1].request), (3, false), "alice is a friend");
    assert_eq!(bob.reader.unread_total().unwrap(), 4);

    bob.client.mark_read(alice.address).await.unwrap();
    bob.client.add_friend(carol.address, "Carol".into()).await.unwrap(); // accepts the request
    let talks = bob.reader.talks().unwrap();
    assert_eq!((talks[0].unread, talks[0].request), (1, false));
    assert_eq!(talks[1].unread, 0);
    // Bob answering puts alice back on top.
    bob.client.send_text(alice.address, "back to you".into()).await.unwrap();
    assert_eq!(bob.reader.talks().unwrap()[0].peer, alice.address);
    for p in [alice, bob, carol] {
        p.stop().await;
    }
}
