//! Attacks a hostile sender can make knowing only an address (or a file's hash): someone
//! else's chunks for a known file, a flood of message requests, a thousand forged file
//! messages against the real binary. The decompression bombs are in `bombs.rs`, alone in their
//! process, because they measure its peak memory.

mod common;

use std::time::{Duration, Instant};

use common::TestHome;
use common::broker::Mosquitto;
use common::forge::{Forger, publish_all};
use common::runner::{Runner, create, event};
use wochat::app::Event;
use wochat::objects::ObjectId;
use wochat::testkit::TestNet;
use wochat::wire::{AttachKind, Body, Packet};

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    wochat::crypto::random_bytes(&mut v).unwrap();
    v
}

/// Mallory knows the hash of a file alice sends bob (it is in every message that carries
/// it) and sends chunks for it, before, during and after the transfer: they are dropped, the
/// file arrives byte-identical, and the stored object is never written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_partys_chunks_for_a_known_hash_change_nothing() {
    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    let mut alice = net.peer("alice").await;
    let bob = net.peer("bob").await;
    // Mallory is even a friend of bob's.
    let mallory = Forger::befriended_by(&bob).await;
    let data = random(1 << 20);
    let id = ObjectId(wochat::crypto::sha256(&data));
    let spoil = |_: u64, c: &[u8]| vec![0xAA; c.len()];
    let topic = bob.address.to_hex();

    // Before: bob is offline and mallory's chunks wait in the queue in front of alice's.
    let bob_cid = bob.client_id.clone();
    bob.stop().await;
    for c in mallory.chunks(&net.account("bob"), id, &data, spoil) {
        hub.inject(&topic, c);
    }
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("photo.bin");
    std::fs::write(&path, &data).unwrap();
    let sent = alice.client.send_file(net.account("bob"), path, None, None).await.unwrap();
    // During: more of them, and a whole forged attachment message for the same hash.
    for c in mallory.chunks(&net.account("bob"), id, &data, spoil) {
        hub.inject(&topic, c);
    }
    hub.inject(&topic, mallory.attachment(&net.account("bob"), AttachKind::File, "same.bin", "x/y", &data));
    assert!(hub.pending(&bob_cid) > 32);
    let mut bob = net.start("bob");
    let mut unexpected = 0;
    loop {
        match bob.wait_for(|e| matches!(e, Event::Dropped { .. } | Event::Transfer { .. })).await {
            Event::Dropped { reason: "unexpected_chunk" } => unexpected += 1,
            Event::Transfer { file, state: wochat::store::TransferState::Complete, .. } if file == id => break,
            _ => {}
        }
    }
    alice.wait_confirmed(sent.message).await;
    let stored = bob.client.objects().path_of(&id);
    let before = std::fs::read(&stored).unwrap();
    // After: the finished object is never written again.
    for c in mallory.chunks(&net.account("bob"), id, &data, spoil) {
        hub.inject(&topic, c);
    }
    let marker = Packet::new(Body::Text { text: "marker".into() });
    hub.inject(&topic, mallory.envelope(&net.account("bob"), &marker));
    bob.until("mallory's marker", |b| b.texts(&mallory.address()).contains(&"marker".to_string())).await;
    assert_eq!(std::fs::read(&stored).unwrap(), before, "the stored object is untouched");
    assert!(bob.client.objects().verify_all().unwrap().is_empty());
    let out = tempfile::tempdir().unwrap();
    let saved = bob.client.objects().save_as(&id, out.path(), "photo.bin").unwrap();
    assert!(std::fs::read(saved).unwrap() == data, "byte-identical");
    assert!(unexpected >= 16, "mallory's chunks were dropped ({unexpected} seen)");
}

/// Bytes of `path` and its WAL.
fn db_bytes(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path, wal.as_path()].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// 250 strangers send 25 messages of 6 KiB each (37 MB): requests stay within their caps (20
/// messages and 128 KiB a stranger, 200 strangers, 8 MiB in all), the oldest are dropped and
/// counted, and the database does not grow past the caps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_message_requests_keeps_the_database_bounded() {
    let net = TestNet::new();
    let hub = net.hub().unwrap().clone();
    let mut bob = net.peer("bob").await;
    let topic = bob.address.to_hex();
    let start = db_bytes(bob.db_path());
    let strangers: Vec<Forger> = (0..250).map(|_| Forger::new()).collect();
    for round in 0..25 {
        for s in &strangers {
            let text = format!("{round:02} {}", "x".repeat(6 << 10));
            hub.inject(&topic, s.envelope(&bob.address, &Packet::new(Body::Text { text })));
        }
    }
    let last = strangers.last().unwrap();
    hub.inject(&topic, last.envelope(&bob.address, &Packet::new(Body::Text { text: "the end".into() })));
    let mut peak = 0;
    bob.until("the last request", |b| {
        peak = peak.max(db_bytes(b.db_path()));
        b.texts(&last.address()).contains(&"the end".to_string())
    })
    .await;

    let db = bob.read.db();
    let dropped = db.requests_dropped().unwrap();
    assert!(dropped >= 250 * 25 - 200 * 20, "the oldest were dropped and counted ({dropped})");
    let with_messages = strangers.iter().filter(|s| !bob.history(&s.address()).is_empty()).count();
    assert!(with_messages <= 200, "{with_messages} strangers kept");
    for s in &strangers {
        let h = bob.history(&s.address());
        assert!(h.len() <= 20, "{} messages kept from one stranger", h.len());
        let texts: Vec<String> = h.into_iter().filter_map(|m| m.text).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "the newest are kept, in order");
    }
    // The database and its WAL, at their largest during the flood (10 MiB here; 122 MB and a
    // 123 MB WAL from 40 envelopes before the caps).
    let grown = peak.max(db_bytes(bob.db_path())).saturating_sub(start);
    assert!(grown < 24 << 20, "the database grew by {} MiB", grown >> 20);
}

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A friend's 1,000 forged file messages, each followed by its first chunk, against the real
/// binary: at most a few transfers are active at once, the rest wait, and the open descriptors
/// stay under 64, while it runs and after a restart.
#[test]
fn a_thousand_forged_file_messages_keep_open_descriptors_under_64() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let bob = create(&home, "bob");
    let bob: wochat::crypto::Address = bob.parse().unwrap();
    let mallory = Forger::new();
    let o = home.run(Some("pw"), &["--account", "bob", "friend", "add", &mallory.address().to_hex(), "--name", "M"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let mut runner = Runner::start(&home, "bob", &broker.url());
    runner.wait(20, "bob ready", |v| event(v) == "ready");

    let mut envelopes = Vec::new();
    for i in 0..1000u32 {
        let data = [random(200_000), i.to_le_bytes().to_vec()].concat();
        let id = ObjectId(wochat::crypto::sha256(&data));
        envelopes.push(mallory.attachment(&bob, AttachKind::File, &format!("f{i}.bin"), "application/x-test", &data));
        envelopes.extend(mallory.chunks(&bob, id, &data[..65536], |_, c| c.to_vec()));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(publish_all(&broker.url(), &bob.to_hex(), envelopes));

    let pid = runner.child.id();
    let mut stored = 0;
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    while stored < 1000 {
        assert!(Instant::now() < deadline, "{stored} of 1000 stored");
        if let Ok(v) = runner.lines.recv_timeout(Duration::from_millis(100))
            && event(&v) == "message"
        {
            stored += 1;
        }
        most = most.max(open_fds(pid));
    }
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        most = most.max(open_fds(pid));
    }
    eprintln!("at most {most} descriptors open while 1,000 file messages came in");
    assert!(most < 64, "{most} descriptors open while the messages came in");

    // They do not come back after a restart.
    runner.signal("-TERM");
    runner.wait_exit(20);
    let runner = Runner::start(&home, "bob", &broker.url());
    runner.wait(20, "bob ready again", |v| event(v) == "ready");
    let pid = runner.child.id();
    let mut most = 0;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        most = most.max(open_fds(pid));
    }
    assert!(most < 64, "{most} descriptors open after the restart");
}

/// A friend whose message names the file's Merkle root sends a bad chunk: it is dropped
/// unwritten, asked for again, and the file completes without starting over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_chunk_is_dropped_alone_when_the_message_names_a_root() {
    let net = TestNet::new().fast_timers();
    let hub = net.hub().unwrap().clone();
    let mut bob = net.peer("bob").await;
    let mallory = Forger::befriended_by(&bob).await;
    let data = random(5 * 65536 + 123);
    let id = ObjectId(wochat::crypto::sha256(&data));
    let topic = bob.address.to_hex();
    hub.inject(&topic, mallory.attachment_proved(&bob.address, AttachKind::File, "f.bin", &data));
    for c in mallory.chunks_proved(&bob.address, &data, |i, c| if i == 3 { random(c.len()) } else { c.to_vec() }) {
        hub.inject(&topic, c);
    }
    bob.wait_for(|e| matches!(e, Event::Dropped { reason: "bad_chunk_proof" })).await;
    // The right chunk (as an answer to the missing-chunk request would bring it) completes it.
    let good = mallory.chunks_proved(&bob.address, &data, |_, c| c.to_vec());
    hub.inject(&topic, good[3].clone());
    let mut restarted = false;
    loop {
        match bob.wait_for(|e| matches!(e, Event::Dropped { .. } | Event::Transfer { .. })).await {
            Event::Dropped { reason: "file_started_again" } => restarted = true,
            Event::Transfer { file, state: wochat::store::TransferState::Complete, .. } if file == id => break,
            _ => {}
        }
    }
    assert!(!restarted, "the file did not start over");
    assert!(bob.client.objects().contains(&id));
}
