//! Clients exchanging messages: through real brokers (Mosquitto and the embedded one) and on
//! the in-memory hub: offline delivery, retransmission past a dropping broker, a broker that
//! restarts, hostile input, what the broker sees, the talk list.

mod common;

use std::collections::HashSet;

use common::broker::{Mosquitto, free_port};
use wochat::app::Event;
use wochat::crypto::Identity;
use wochat::crypto::envelope::Keyring;
use wochat::store::MessageStatus;
use wochat::testkit::{Network, TestNet};
use wochat::transport::memory::Hub;
use wochat::wire::{Body, Packet, seal_packet};

async fn exchange_both_ways(net: TestNet) {
    let net = net.strangers();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let a2b = alice.client.send_text(bob.address, "hello bob, 你好 👋".into()).await.unwrap();
    let b2a = bob.client.send_text(alice.address, "hi alice".into()).await.unwrap();
    alice.wait_confirmed(a2b).await;
    bob.wait_confirmed(b2a).await;
    // Each has the other's message, once.
    let ha = alice.history(&bob.address);
    let hb = bob.history(&alice.address);
    assert_eq!((ha.len(), hb.len()), (2, 2));
    let mut got = bob.texts(&alice.address);
    got.sort();
    assert_eq!(got, vec!["hello bob, 你好 👋", "hi alice"]);
    assert!(ha.iter().all(|m| m.stat == MessageStatus::Confirmed));
    let talks = bob.read.talks().unwrap();
    assert_eq!(talks[0].peer(), Some(alice.address));
    assert!(talks[0].request, "alice is not bob's friend yet: a message request");
    assert_eq!(talks[0].unread, 1);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_mosquitto() {
    let broker = Mosquitto::start();
    exchange_both_ways(TestNet::on(Network::Brokers(vec![broker.url()]))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_embedded_broker() {
    let port = free_port();
    wochat::transport::broker::start_embedded(([127, 0, 0, 1], port).into()).unwrap();
    exchange_both_ways(TestNet::on(Network::Brokers(vec![format!("mqtt://127.0.0.1:{port}")]))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_in_memory() {
    exchange_both_ways(TestNet::new()).await;
}

/// Bob connects once (so the broker has his session), goes offline; alice sends `n`; bob comes
/// back and must store all of them exactly once, and alice sees every one reach C.
async fn offline_delivery(net: TestNet, n: usize) {
    let bob = net.peer("bob").await;
    let bob_addr = bob.address;
    bob.stop().await;

    let mut alice = net.peer("alice").await;
    let mut sent = HashSet::new();
    for i in 0..n {
        sent.insert(alice.client.send_text(bob_addr, format!("offline {i}")).await.unwrap());
    }
    alice.until_history(&bob_addr, |h| h.len() == n && h.iter().all(|m| m.stat != MessageStatus::Stored)).await;

    let mut bob = net.peer("bob").await;
    let h = bob.until_history(&alice.address, |h| h.len() >= n).await;
    assert_eq!(h.len(), n);
    assert_eq!(h.iter().map(|m| m.hash).collect::<HashSet<_>>(), sent);
    alice.until_history(&bob_addr, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
    // Nothing arrives twice, even after alice retransmits (if she did) and bob restarts.
    bob.stop().await;
    let bob = net.peer("bob").await;
    assert_eq!(bob.history(&alice.address).len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recipient_receives_200_once() {
    offline_delivery(TestNet::new(), 200).await;
}

/// The broker keeps only 50 of the 200 for the offline bob: the end-to-end retransmission
/// delivers the rest (its schedule shortened to 1 s, doubling, for the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_dropping_its_queue_is_overcome_by_retransmission() {
    let net = TestNet::on(Network::Memory(Hub::with_queue_limit(50))).fast_retries(std::time::Duration::from_secs(1));
    offline_delivery(net, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_in_the_middle_of_a_stream_loses_nothing() {
    let mut broker = Mosquitto::start();
    // What the broker held when it died comes again by retransmission (1 s here, not 30 s).
    let net = TestNet::on(Network::Brokers(vec![broker.url()])).fast_retries(std::time::Duration::from_secs(1));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let n = 300;
    for i in 0..n {
        alice.client.send_text(bob.address, format!("stream {i}")).await.unwrap();
        if i == n / 2 {
            broker.restart();
        }
    }
    let h = bob.until_history(&alice.address, |h| h.len() >= n).await;
    assert_eq!(h.len(), n);
    let want: HashSet<String> = (0..n).map(|i| format!("stream {i}")).collect();
    assert_eq!(bob.texts(&alice.address).into_iter().collect::<HashSet<_>>(), want);
    alice.until_history(&bob.address, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_broker_that_forgets_everything_loses_nothing() {
    let net = TestNet::new().fast_retries(std::time::Duration::from_secs(1));
    let hub = net.hub().unwrap().clone();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let n = 100;
    for i in 0..n {
        alice.client.send_text(bob.address, format!("stream {i}")).await.unwrap();
        if i == n / 2 {
            hub.restart();
        }
    }
    bob.until_history(&alice.address, |h| h.len() >= n).await;
    alice.until_history(&bob.address, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
    assert_eq!(bob.history(&alice.address).len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_dropped_and_the_client_keeps_running() {
    use serde_json::Value;

    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    // Bob has the key of the vectors' recipient, so the negative vectors are aimed at him.
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/envelope-v1.json")).unwrap(),
    )
    .unwrap();
    let bob_sk: [u8; 32] = hex::decode(v["keys"]["bob"]["sk"].as_str().unwrap()).unwrap().try_into().unwrap();
    let bob_id = Identity::from_secret_bytes(&bob_sk).unwrap();
    net.keys().create_from("bob", &bob_id, wochat::testkit::PASSWORD).unwrap();
    let mut bob = net.peer("bob").await;
    let topic = bob.address.to_hex();

    let mut expected_drops = 0;
    let mut random = vec![0u8; 700];
    wochat::crypto::random_bytes(&mut random).unwrap();
    hub.inject(&topic, random);
    expected_drops += 1;
    for e in v["negative"].as_array().unwrap() {
        hub.inject(&topic, hex::decode(e["envelope"].as_str().unwrap()).unwrap());
        expected_drops += 1;
    }
    hub.inject(&topic, vec![1u8; 2 * 1024 * 1024]);
    expected_drops += 1;
    // A valid envelope from a blocked sender.
    let mallory = Keyring::new(Identity::generate().unwrap());
    bob.client.add_friend(mallory.address(), "mallory".into()).await.unwrap();
    bob.client.set_blocked(mallory.address(), true).await.unwrap();
    let p = Packet::new(Body::Text { text: "spam".into() });
    hub.inject(&topic, seal_packet(&mallory, &bob.address, &p).unwrap().envelope);
    expected_drops += 1;
    // The same valid envelope 100 times from carol: stored once.
    let carol = Keyring::new(Identity::generate().unwrap());
    let p = Packet::new(Body::Text { text: "once".into() });
    let sealed = seal_packet(&carol, &bob.address, &p).unwrap();
    for _ in 0..100 {
        hub.inject(&topic, sealed.envelope.clone());
    }
    // Deliveries are handled in order: once this one is stored, every copy before it was.
    let last = Packet::new(Body::Text { text: "after".into() });
    hub.inject(&topic, seal_packet(&carol, &bob.address, &last).unwrap().envelope);

    let mut reasons = Vec::new();
    while reasons.len() < expected_drops {
        if let Event::Dropped { reason } = bob.wait_for(|e| matches!(e, Event::Dropped { .. })).await {
            reasons.push(reason);
        }
    }
    assert!(reasons.contains(&"blocked"), "{reasons:?}");
    bob.until_history(&carol.address(), |h| h.len() >= 2).await;
    assert_eq!(bob.texts(&carol.address()), vec!["once", "after"], "a replayed envelope is stored once");
    assert!(bob.history(&mallory.address()).is_empty(), "nothing from a blocked sender");

    // Still running: a normal message arrives.
    let mut alice = net.peer("alice").await;
    alice.send_confirmed(&bob, "still there?").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_sees_neither_text_nor_sender() {
    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    hub.record();
    let secret_text = "the cake is a lie 蛋糕";
    alice.send_confirmed(&bob, secret_text).await;
    let seen = hub.recorded();
    assert!(seen.len() >= 2, "the broker carried the message and the receipt ({})", seen.len());
    for (topic, payload) in seen {
        for needle in [
            secret_text.as_bytes(),
            alice.address.as_bytes().as_slice(),
            alice.address.to_hex().as_bytes(),
            bob.address.as_bytes().as_slice(),
        ] {
            assert!(!common::contains(&payload, needle), "a payload on {topic} leaks data");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talks_order_unread_counts_and_message_requests() {
    let net = TestNet::new().strangers();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let mut carol = net.peer("carol").await;
    bob.client.add_friend(alice.address, "Alice".into()).await.unwrap();
    for i in 0..3 {
        alice.send_confirmed(&bob, &format!("a{i}")).await;
    }
    carol.send_confirmed(&bob, "hello stranger").await;
    bob.until_history(&carol.address, |h| h.len() == 1).await;

    let talks = bob.read.talks().unwrap();
    assert_eq!(talks.iter().map(|t| t.peer()).collect::<Vec<_>>(), vec![Some(carol.address), Some(alice.address)]);
    assert_eq!((talks[0].unread, talks[0].request, talks[0].name.as_str()), (1, true, &talks[0].name[..]));
    assert_eq!((talks[1].unread, talks[1].request, talks[1].name.as_str()), (3, false, "Alice"));
    assert_eq!(talks[1].preview, "a2");
    assert_eq!(bob.read.db().unread_total().unwrap(), 4);

    bob.client.mark_read(talks[1].chat).await.unwrap();
    bob.client.add_friend(carol.address, "Carol".into()).await.unwrap(); // accepts the request
    let talks = bob.read.talks().unwrap();
    assert_eq!((talks[0].unread, talks[0].request), (1, false));
    assert_eq!(talks[1].unread, 0);
    // Bob answering puts alice back on top.
    bob.client.send_text(alice.address, "back to you".into()).await.unwrap();
    assert_eq!(bob.read.talks().unwrap()[0].peer(), Some(alice.address));
    // A friend without messages is listed (last); removing them takes them off the list.
    let dave = Identity::generate().unwrap().address();
    let chat = bob.client.add_friend(dave, "Dave".into()).await.unwrap();
    let talks = bob.read.talks().unwrap();
    assert_eq!(talks.last().map(|t| (t.chat, t.name.as_str(), t.last_dt)), Some((chat, "Dave", 0)));
    bob.client.remove_friend(dave).await.unwrap();
    assert!(bob.read.talks().unwrap().iter().all(|t| t.peer() != Some(dave)));
}

/// The broker's acknowledgement is reported at once. A message whose receipt follows at once
/// goes from N to C in the store; one to a peer who is away is recorded S a moment later
/// (reported again then) and stays S across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_is_reported_at_once_and_recorded_when_no_receipt_follows() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let online = alice.client.send_text(bob.address, "bob is here".into()).await.unwrap();
    let mut seen = Vec::new();
    alice
        .wait_for(|e| {
            if let Event::Status { hash, stat } = e
                && *hash == online
            {
                seen.push(*stat);
            }
            seen.last() == Some(&MessageStatus::Confirmed)
        })
        .await;
    assert_eq!(seen, [MessageStatus::Sent, MessageStatus::Confirmed]);
    bob.until_history(&alice.address, |h| h.len() == 1).await;

    let bob_addr = bob.address;
    bob.stop().await;
    let away = alice.client.send_text(bob_addr, "bob is away".into()).await.unwrap();
    let sent = |e: &Event| matches!(e, Event::Status { hash, stat: MessageStatus::Sent } if *hash == away);
    alice.wait_for(sent).await;
    let stat =
        |alice: &wochat::testkit::TestPeer| alice.history(&bob_addr).iter().find(|m| m.hash == away).map(|m| m.stat);
    alice.until_history(&bob_addr, |h| h.iter().any(|m| m.hash == away && m.stat == MessageStatus::Sent)).await;
    assert_eq!(stat(&alice), Some(MessageStatus::Sent));
    alice.stop().await;
    let mut alice = net.peer("alice").await;
    assert_eq!(stat(&alice), Some(MessageStatus::Sent), "recorded, not sent again as new");
    let bob = net.peer("bob").await;
    alice.wait_confirmed(away).await;
    assert_eq!(bob.texts(&alice.address), ["bob is here", "bob is away"]);
}
