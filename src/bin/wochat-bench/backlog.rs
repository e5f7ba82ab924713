//! The `backlog` scenario: bob is offline while alice sends; measured from bob's connect until
//! every message is stored at bob and receipted (status C at alice).

use std::time::{Duration, Instant};

use anyhow::Result;
use wochat::app::Protocol;
use wochat::store::MessageStatus;

use crate::support::{Pair, count_events, ready, status, stored, text_of, until_count};

/// Runs the scenario with `count` messages.
pub fn run(json: bool, count: u64, protocol: Protocol) -> Result<()> {
    let pair = Pair::new()?;
    let rt = tokio::runtime::Runtime::new()?;
    let (stored_s, catchup_s) = rt.block_on(async {
        // Bob connects once, so that the broker keeps a session (and the messages) for him.
        let (bob, mut bob_events) = pair.start(pair.account("bob")?, protocol)?;
        ready(&mut bob_events).await?;
        bob.shutdown().await;
        drop(bob_events);

        let (alice, mut alice_events) = pair.start(pair.account("alice")?, protocol)?;
        ready(&mut alice_events).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut confirmed = count_events(rx, status(MessageStatus::Confirmed));
        let mut on_broker = {
            let (tx2, rx2) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Some(e) = alice_events.recv().await {
                    let _ = tx.send(e.clone());
                    let _ = tx2.send(e);
                }
            });
            count_events(rx2, status(MessageStatus::Sent))
        };
        let sends: Vec<_> = (0..count).map(|i| alice.send_text(pair.bob, text_of(i, 200))).collect();
        for s in sends {
            s.await?;
        }
        until_count(&mut on_broker, count as usize, Duration::from_secs(300)).await?;

        let bob_account = pair.account("bob")?; // Argon2 before the clock starts
        let t0 = Instant::now();
        let (bob, bob_events) = pair.start(bob_account, protocol)?;
        let mut received = count_events(bob_events, stored);
        let stored_at = until_count(&mut received, count as usize, Duration::from_secs(300)).await?;
        let confirmed_at = until_count(&mut confirmed, count as usize, Duration::from_secs(300)).await?;
        bob.shutdown().await;
        alice.shutdown().await;
        anyhow::Ok(((stored_at - t0).as_secs_f64(), (confirmed_at - t0).as_secs_f64()))
    })?;
    let name = crate::protocol_name(protocol);
    println!(
        "backlog ({name}): {count} messages waiting; bob stored all {stored_s:.2} s after connecting, \
         all receipted (C at alice) after {catchup_s:.2} s (target < 2 s)"
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "backlog", "protocol": name, "count": count, "catchup_s": catchup_s, "stored_s": stored_s})
        );
    }
    Ok(())
}
