//! Brokers in real life: one that restarts without its state costs seconds, not the
//! retransmission schedule; the embedded broker is taken over by another process when its host
//! dies or closes.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::broker::Mosquitto;
use common::runner::{Runner, alice_and_bob, create, event};
use wochat::app::Event;
use wochat::store::MessageStatus;
use wochat::testkit::{Network, TestNet};

/// Bob is offline; the broker holds what Alice sent him, then restarts without it. Alice's
/// client sees that the broker kept no session for her and publishes again everything without
/// a receipt, at once and a few seconds later: Bob, back online after her, has it all within
/// seconds, although the retransmission schedule would wait two minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_lost_its_state_costs_seconds_not_the_retry_schedule() {
    let mut broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()])).fast_retries(Duration::from_secs(120));
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    let bob_address = bob.address;
    bob.stop().await;
    let n = 20;
    let mut sent = Vec::new();
    for i in 0..n {
        sent.push(alice.client.send_text(bob_address, format!("queued {i}")).await.unwrap());
    }
    // Every one is with the broker (S), queued for the offline Bob.
    alice.until_history(&bob_address, |h| h.len() == n && h.iter().all(|m| m.stat == MessageStatus::Sent)).await;

    broker.restart();
    let restarted = Instant::now();
    // Alice is back first: what she publishes at once finds no session for Bob and is dropped;
    // the second round, seconds later, reaches him.
    let detail = match alice
        .wait_for(|e| matches!(e, Event::Connection { detail: Some(d), .. } if d.contains("kept no session")))
        .await
    {
        Event::Connection { detail, .. } => detail.unwrap_or_default(),
        _ => unreachable!(),
    };
    assert!(detail.contains(&format!("{n} unconfirmed")), "{detail}");
    let mut bob = net.peer("bob").await;
    let got = bob.until_history(&alice.address, |h| h.len() == n).await;
    let recovered = restarted.elapsed();
    eprintln!("recovery after the broker restart: {:.1} s for {n} messages", recovered.as_secs_f64());
    assert!(recovered < Duration::from_secs(30), "took {recovered:?}: the retransmission schedule, not a republish");
    assert_eq!(got.len(), n, "each exactly once");
    alice.until_history(&bob_address, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
}

/// Three processes on a machine with no broker (`broker.embedded = "auto"`): the first hosts
/// the embedded one. Killed (SIGKILL), another takes over within seconds and the two left
/// chat on; that one closed normally, the third takes over in turn.
#[test]
fn another_process_hosts_the_broker_when_the_host_dies_or_closes() {
    let home = common::TestHome::new();
    let (alice_addr, bob_addr) = alice_and_bob(&home);
    let carol_addr = create(&home, "carol");
    for (who, other, name) in [
        ("carol", &alice_addr, "Alice"),
        ("carol", &bob_addr, "Bob"),
        ("alice", &carol_addr, "Carol"),
        ("bob", &carol_addr, "Carol"),
    ] {
        let o = home.run(Some("pw"), &["--account", who, "friend", "add", other, "--name", name]);
        assert!(o.status.success(), "{}", common::stderr(&o));
    }
    let url = format!("mqtt://127.0.0.1:{}", common::broker::free_port());
    let mut runners: Vec<(&str, &String, Runner)> = Vec::new();
    for (name, addr) in [("alice", &alice_addr), ("bob", &bob_addr), ("carol", &carol_addr)] {
        let r = Runner::start(&home, name, &url);
        r.wait(20, "ready", |v| event(v) == "ready");
        runners.push((name, addr, r));
    }

    // The host (alice, the first) is killed.
    let (_, _, mut host) = runners.remove(0);
    host.signal("-KILL");
    host.wait_exit(10);
    let killed = Instant::now();
    let new_host = takeover(&runners, killed, "SIGKILL");
    chat(&runners, "after the kill");

    // The new host closes normally; the other one takes over.
    let (_, _, mut host) = runners.remove(new_host);
    host.send(r#"{"cmd":"quit"}"#);
    host.wait_exit(20);
    let closed = Instant::now();
    // "hosting" and "connected" come in either order.
    takeover(&runners, closed, "a normal close");
    // Alice, started again, finds the broker where it now is, and they chat.
    let alice = Runner::start(&home, "alice", &url);
    alice.wait(20, "ready", |v| event(v) == "ready");
    runners.push(("alice", &alice_addr, alice));
    chat(&runners, "after the close");
}

/// Waits until one of `runners` hosts the broker and all are connected again; the host's index.
fn takeover(runners: &[(&str, &String, Runner)], since: Instant, after: &str) -> usize {
    let mut host = None;
    let mut connected = vec![false; runners.len()];
    let deadline = since + Duration::from_secs(20);
    while host.is_none() || connected.contains(&false) {
        assert!(Instant::now() < deadline, "no takeover: host {host:?}, connected {connected:?}");
        for (i, (_, _, r)) in runners.iter().enumerate() {
            while let Ok(v) = r.lines.try_recv() {
                match event(&v) {
                    "hosting" => host = Some(i),
                    "connection" if v["state"] == "connected" => connected[i] = true,
                    _ => {}
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = since.elapsed();
    eprintln!("takeover after {after}: {:.1} s (host: {})", took.as_secs_f64(), runners[host.unwrap()].0);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    host.unwrap()
}

/// The first of `runners` sends the second a message, which arrives.
fn chat(runners: &[(&str, &String, Runner)], text: &str) {
    let (from, to) = (&runners[0], &runners[1]);
    let line = serde_json::json!({"cmd": "send", "to": to.1, "text": text}).to_string();
    let mut stdin = from.2.stdin.as_ref().unwrap();
    writeln!(stdin, "{line}").unwrap();
    to.2.wait(20, "the message", |v| event(v) == "message" && v["text"] == text);
}

/// Two Mosquitto brokers joined by a bridge (every topic, both ways, QoS 1, persistent):
/// Alice uses one, Bob the other. Online, offline in turn: everything arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridged_brokers_deliver_everything_exactly_once() {
    let a = Mosquitto::start();
    let b = Mosquitto::start_with(&format!(
        "max_queued_messages 1000000\n\
         connection to-a\naddress 127.0.0.1:{}\ntopic # both 1\ncleansession false\n\
         try_private true\nnotifications false\nrestart_timeout 1\n",
        a.port
    ));
    let net_a = TestNet::on(Network::Brokers(vec![a.url()]));
    let net_b = TestNet::on(Network::Brokers(vec![b.url()]));
    let mut alice = net_a.peer("alice").await;
    let mut bob = net_b.peer("bob").await;
    let (alice_address, bob_address) = (alice.address, bob.address);
    // Both online, both ways (the key bundles cross the bridge too: v2 sessions start).
    alice.send_confirmed(bob_address, "from broker a").await;
    bob.send_confirmed(alice_address, "from broker b").await;

    // Bob offline: what Alice sends waits in his session on broker b.
    bob.stop().await;
    for i in 0..10 {
        alice.client.send_text(bob_address, format!("while bob is away {i}")).await.unwrap();
    }
    alice.until_history(&bob_address, |h| h.iter().all(|m| m.stat != MessageStatus::Stored)).await;
    let mut bob = net_b.peer("bob").await;
    bob.until_history(&alice_address, |h| h.len() == 12).await;

    // Alice offline: what Bob sends waits in her session on broker a.
    alice.stop().await;
    for i in 0..10 {
        bob.client.send_text(alice_address, format!("while alice is away {i}")).await.unwrap();
    }
    bob.until_history(&alice_address, |h| h.iter().all(|m| m.stat != MessageStatus::Stored)).await;
    let mut alice = net_a.peer("alice").await;
    alice.until_history(&bob_address, |h| h.len() == 22).await;
    bob.until_history(&alice_address, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
    alice.until_history(&bob_address, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
    // Exactly once on both sides, whatever the bridge or retransmissions delivered twice.
    for (who, peer) in [(&alice, bob_address), (&bob, alice_address)] {
        let texts = who.texts(&peer);
        let unique: std::collections::HashSet<&String> = texts.iter().collect();
        assert_eq!((texts.len(), unique.len()), (22, 22), "{texts:?}");
    }
}
