//! Faults while work is under way: the broker killed in the middle of a file transfer, and the
//! recipient's `chat.db` held by a long write transaction of another connection.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::broker::Mosquitto;
use wochat::app::Event;
use wochat::store::{MessageStatus, TransferState};
use wochat::testkit::{Network, TestNet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_during_a_file_transfer_the_file_still_arrives_once() {
    let mut broker = Mosquitto::start();
    // Missing chunks are asked for after 1 s of silence (not 10 s).
    let net = TestNet::on(Network::Brokers(vec![broker.url()])).fast_timers();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let mut data = vec![0u8; 16 << 20];
    for c in data.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c).unwrap();
    }
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();

    let sent = alice.client.send_file(bob.address, path, None, None).await.unwrap();
    let file = sent.file;
    let total = data.len() as u64;
    bob.wait_for(
        |e| matches!(e, Event::Transfer { file: f, done, state: TransferState::Active, .. } if *f == file && *done >= total / 4),
    )
    .await;
    // Everything the broker holds is gone with it: queued chunks, unacknowledged publishes.
    broker.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart();

    // Missing chunks are asked for again (N) and sent again; the file completes and verifies.
    bob.wait_for(|e| matches!(e, Event::Transfer { file: f, state: TransferState::Complete, .. } if *f == file)).await;
    alice.wait_confirmed(sent.message).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.client.objects().save_as(&sent.file, out.path(), "big.bin").unwrap();
    assert!(std::fs::read(saved).unwrap() == data, "byte-identical after the broker died");
    let history = bob.history(&alice.address);
    assert_eq!(history.len(), 1, "the attachment message is stored once");
    assert!(bob.client.objects().verify_all().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_write_transaction_elsewhere_is_waited_out() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;

    // Another connection to bob's chat.db (as a second reader or a maintenance tool would
    // open it) takes the write lock and keeps it for 3 s, writing a row of its own.
    let identity = net.keys().login("bob", wochat::testkit::PASSWORD).unwrap();
    let path = net.home().chat_db_path(&bob.address);
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut other = wochat::store::ChatDb::open(&path, &identity).unwrap();
        let someone = wochat::crypto::Identity::generate().unwrap().address();
        let conn = other.connection_mut();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
        tx.execute(
            "INSERT INTO friend (dt, pk, name) VALUES (0, ?1, 'written by the other connection')",
            [someone.to_hex()],
        )
        .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        tx.commit().unwrap();
        someone
    });
    locked_rx.recv().unwrap();

    let mut sent = HashSet::new();
    for i in 0..50 {
        sent.insert(alice.client.send_text(bob.address, format!("during the lock {i}")).await.unwrap());
    }
    let someone = tokio::task::spawn_blocking(move || holder.join().unwrap()).await.unwrap();
    // Every message arrives once and is receipted; no error was reported on the way.
    let mut errors = Vec::new();
    let deadline = tokio::time::Instant::now() + wochat::testkit::PATIENCE;
    while bob.history(&alice.address).len() < 50 {
        match tokio::time::timeout_at(deadline, bob.events.recv()).await {
            Ok(Some(Event::Error(e))) => errors.push(e.to_string()),
            Ok(Some(_)) => {}
            _ => panic!("bob stored {} of 50", bob.history(&alice.address).len()),
        }
    }
    assert!(errors.is_empty(), "bob reported {errors:?}");
    let got = bob.history(&alice.address);
    assert_eq!(got.iter().map(|m| m.hash).collect::<HashSet<_>>(), sent);
    alice.until_history(&bob.address, |h| h.iter().all(|m| m.stat == MessageStatus::Confirmed)).await;
    // The other connection's write is kept too.
    assert!(bob.read.db().friend(&someone).unwrap().is_some());
}

/// Makes storing any message whose packet holds "POISON" fail inside the transaction.
const POISON: &str = "CREATE TRIGGER poison BEFORE INSERT ON message WHEN instr(NEW.val, CAST('POISON' AS BLOB)) > 0
                      BEGIN SELECT RAISE(ABORT, 'poisoned'); END;";

/// A delivery whose storing fails is rolled back alone and left unacknowledged; the rest of
/// its batch is stored and receipted. The broker delivers it again after a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_delivery_does_not_hold_back_the_rest_of_its_batch() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    // Storing any message whose packet holds "POISON" fails inside bob's transaction.
    bob.read.db().connection().execute_batch(POISON).unwrap();
    let hub = net.hub().unwrap().clone();
    // Bob is offline while alice sends, so that the three arrive in one batch.
    let bob_cid = bob.client_id.clone();
    bob.stop().await;
    // One at a time, each taken by the broker before the next, so that each travels alone
    // (messages sealed together travel in one envelope: the next test).
    let mut sent = Vec::new();
    for text in ["before", "POISON", "after"] {
        sent.push(alice.client.send_text(net.account("bob"), text.to_string()).await.unwrap());
        alice.until_history(&net.account("bob"), |h| h.iter().all(|m| m.stat == MessageStatus::Sent)).await;
    }
    assert_eq!(hub.pending(&bob_cid), 3);
    let mut bob = net.start("bob");
    let error = bob.wait_for(|e| matches!(e, Event::Error(_))).await;
    assert!(format!("{error:?}").contains("poisoned"), "{error:?}");
    bob.until("the two good messages", |b| b.texts(&net.account("alice")).len() == 2).await;
    assert_eq!(bob.texts(&alice.address), ["before", "after"]);
    let confirmed = |h: &[wochat::app::read::MessageView], i: usize| {
        h.iter().any(|m| m.hash == sent[i] && m.stat == MessageStatus::Confirmed)
    };
    alice.until_history(&net.account("bob"), |h| confirmed(h, 0) && confirmed(h, 2)).await;
    assert!(!confirmed(&alice.history(&net.account("bob")), 1), "no receipt for what is not stored");
    // Deliveries are acknowledged just after their commit.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hub.pending(&bob.client_id) != 1 {
        assert!(std::time::Instant::now() < deadline, "{} left with the broker", hub.pending(&bob.client_id));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Fixed, and after a reconnect the broker's copy is stored too.
    bob.read.db().connection().execute_batch("DROP TRIGGER poison").unwrap();
    bob.stop().await;
    let mut bob = net.peer("bob").await;
    bob.until("the third message", |b| b.texts(&net.account("alice")).len() == 3).await;
    alice.until_history(&net.account("bob"), |h| confirmed(h, 1)).await;
    let mut texts = bob.texts(&alice.address);
    texts.sort();
    assert_eq!(texts, ["POISON", "after", "before"], "each once");
    bob.stop().await;
    alice.stop().await;
}

/// A packet of a batch whose storing fails is rolled back alone: the rest of its envelope is
/// stored, receipted and acknowledged (the envelope cannot be opened again: its session has
/// moved on), and the sender sends the failed one again until it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_packet_of_a_batch_does_not_hold_back_the_rest_of_it() {
    let net = TestNet::new().fast_retries(Duration::from_millis(500));
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "hello").await;
    bob.read.db().connection().execute_batch(POISON).unwrap();
    let hub = net.hub().unwrap().clone();
    let bob_cid = bob.client_id.clone();
    bob.stop().await;
    // Sent at once: sealed together, in batches.
    const N: usize = 30;
    let texts: Vec<String> = (0..N).map(|i| if i == N / 2 { "POISON".into() } else { format!("burst {i}") }).collect();
    let sends: Vec<_> = texts.iter().map(|t| alice.client.send_text(net.account("bob"), t.clone())).collect();
    let mut sent = Vec::new();
    for s in sends {
        sent.push(s.await.unwrap());
    }
    alice.until_history(&net.account("bob"), |h| h.iter().all(|m| m.stat != MessageStatus::Stored)).await;
    assert!(hub.pending(&bob_cid) < N, "{N} messages in {} envelopes: batched", hub.pending(&bob_cid));

    let mut bob = net.start("bob");
    let error = bob.wait_for(|e| matches!(e, Event::Error(_))).await;
    assert!(format!("{error:?}").contains("poisoned"), "{error:?}");
    bob.until("every good message", |b| b.texts(&net.account("alice")).len() == N).await;
    assert!(!bob.texts(&alice.address).iter().any(|t| t == "POISON"));
    let poisoned = sent[N / 2];
    let confirmed = |h: &[wochat::app::read::MessageView], hash| {
        h.iter().any(|m| m.hash == hash && m.stat == MessageStatus::Confirmed)
    };
    alice
        .until_history(&net.account("bob"), |h| sent.iter().filter(|s| **s != poisoned).all(|s| confirmed(h, *s)))
        .await;
    assert!(!confirmed(&alice.history(&net.account("bob")), poisoned), "no receipt for what is not stored");
    // (The broker may still hold alice's retransmissions of the poisoned one: alone in their
    // envelopes, each fails as a whole delivery and waits there, as in the test above.)

    // Fixed: alice's next retransmission brings it, sealed anew, and it is stored once.
    bob.read.db().connection().execute_batch("DROP TRIGGER poison").unwrap();
    alice.until_history(&net.account("bob"), |h| confirmed(h, poisoned)).await;
    let texts = bob.texts(&alice.address);
    assert_eq!(texts.len(), N + 1, "hello, and each of the burst once");
    assert_eq!(texts.iter().filter(|t| *t == "POISON").count(), 1);
    bob.stop().await;
    alice.stop().await;
}
