//! Faults while work is under way: the broker killed in the middle of a file transfer, and the
//! recipient's `chat.db` held by a long write transaction of another connection.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::TestHome;
use common::broker::Mosquitto;
use common::peer::start_peer;
use wochat::app::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_during_a_file_transfer_the_file_still_arrives_once() {
    let mut broker = Mosquitto::start();
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &broker.url());
    let mut bob = start_peer(&home, "bob", &broker.url());
    alice.ready().await;
    bob.ready().await;
    let mut data = vec![0u8; 16 << 20];
    for c in data.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c).unwrap();
    }
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();

    let sent = alice.client.send_file(bob.address, path, None, None).await.unwrap();
    let file = sent.file.to_hex();
    let total = data.len() as u64;
    bob.wait_for(
        60,
        |e| matches!(e, Event::Transfer { hash, done, state: 'A', .. } if *hash == file && *done >= total / 4),
    )
    .await;
    // Everything the broker holds is gone with it: queued chunks, unacknowledged publishes.
    broker.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart();

    // Missing chunks are asked for again (N) and sent again; the file completes and verifies.
    bob.wait_for(180, |e| matches!(e, Event::Transfer { hash, state: 'C', .. } if *hash == file)).await;
    alice.wait_for(60, |e| matches!(e, Event::Status { hash, stat: 'C' } if *hash == sent.message)).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.client.objects().save_as(&sent.file, out.path(), "big.bin").unwrap();
    assert!(std::fs::read(saved).unwrap() == data, "byte-identical after the broker died");
    let history = bob.history(&alice.address);
    assert_eq!(history.len(), 1, "the attachment message is stored once");
    assert!(bob.client.objects().verify_all().unwrap().is_empty());
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_write_transaction_elsewhere_is_waited_out() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &broker.url());
    let mut bob = start_peer(&home, "bob", &broker.url());
    alice.ready().await;
    bob.ready().await;

    // Another connection to bob's chat.db (as a second reader or a maintenance tool would
    // open it) takes the write lock and keeps it for 3 s, writing a row of its own.
    let keys = home.keys();
    let identity = keys.login("bob", b"pw").unwrap();
    let path = home.home.chat_db_path(&bob.address);
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
    let got = bob.until_history(&alice.address, 60, |h| h.len() >= 50).await;
    assert_eq!(got.len(), 50);
    assert_eq!(got.iter().map(|m| m.hash.clone()).collect::<HashSet<_>>(), sent);
    alice.until_history(&bob.address, 60, |h| h.iter().all(|m| m.stat == 'C')).await;
    while let Ok(e) = bob.events.try_recv() {
        assert!(!matches!(e, Event::Error { .. }), "bob reported {e:?}");
    }
    // The other connection's write is kept too.
    assert!(bob.reader.friend(&someone).unwrap().is_some());
    alice.stop().await;
    bob.stop().await;
}
