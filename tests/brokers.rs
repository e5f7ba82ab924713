//! Brokers in real life: one that restarts without its state costs seconds, not the
//! retransmission schedule.

mod common;

use std::time::{Duration, Instant};

use common::broker::Mosquitto;
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
