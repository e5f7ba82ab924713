//! `wochat run --json` as real processes: a full exchange driven through stdin, and a sender
//! killed with SIGKILL in the middle of a burst.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use common::TestHome;
use common::broker::Mosquitto;
use common::runner::{Runner, alice_and_bob, create, event};
use serde_json::{Value, json};
use wochat::crypto::Address;
use wochat::store::{ChatDb, MessageStatus};
use wochat::wire::MessageHash;

#[test]
fn run_json_drives_a_full_exchange() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let alice_addr = create(&home, "alice");
    let bob_addr = create(&home, "bob");
    let mut alice = Runner::start(&home, "alice", &broker.url());
    let mut bob = Runner::start(&home, "bob", &broker.url());
    let ready = alice.wait(20, "alice ready", |v| event(v) == "ready");
    assert_eq!(ready["address"], alice_addr.as_str());
    bob.wait(20, "bob ready", |v| event(v) == "ready");
    // Closing stdin does not stop bob.
    drop(bob.stdin.take());

    alice.send("this is not json");
    alice.wait(10, "error event", |v| event(v) == "error");
    alice.send(r#"{"cmd":"launch_rockets"}"#);
    alice.wait(10, "error event", |v| event(v) == "error");
    alice.send(&json!({"cmd": "friend_add", "address": bob_addr, "name": "Bob"}).to_string());
    alice.send(&json!({"cmd": "send", "to": bob_addr, "text": "hello over JSON 你好"}).to_string());
    let out = alice.wait(10, "own message event", |v| event(v) == "message");
    assert_eq!(out["dir"], "out");
    // Re-read when printed: the broker may already have acknowledged it.
    assert!(out["stat"] == "N" || out["stat"] == "S", "{out}");
    assert_eq!(out["from"], alice_addr.as_str());
    assert_eq!(out["to"], bob_addr.as_str());
    assert_eq!(out["type"], "T");
    let hash = out["hash"].as_str().unwrap().to_string();
    alice.wait(20, "status S", |v| event(v) == "status" && v["hash"] == hash.as_str() && v["stat"] == "S");
    let got = bob.wait(20, "bob receives", |v| event(v) == "message");
    assert_eq!(got["dir"], "in");
    assert_eq!(got["text"], "hello over JSON 你好");
    assert_eq!(got["hash"], hash.as_str());
    assert_eq!(got["from"], alice_addr.as_str());
    for key in ["hash", "dt", "dir", "from", "to", "type", "stat", "text", "obj"] {
        assert!(got.get(key).is_some(), "message event lacks {key}");
    }
    alice.wait(20, "status C", |v| event(v) == "status" && v["hash"] == hash.as_str() && v["stat"] == "C");

    alice.send(r#"{"cmd":"quit"}"#);
    assert_eq!(alice.wait_exit(10), 0);
    bob.signal("-TERM");
    assert_eq!(bob.wait_exit(10), 0);
    // Both accounts are free again, and history shows the exchange.
    let o = home.run(Some("pw"), &["--account", "bob", "history", &alice_addr, "--json"]);
    let lines: Vec<Value> = common::stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["text"], "hello over JSON 你好");
    let o = home.run(Some("pw"), &["--account", "alice", "history", &bob_addr, "--json"]);
    assert!(common::stdout(&o).contains("\"stat\":\"C\""));
}

fn open_db(home: &TestHome, name: &str) -> (ChatDb, Address) {
    let id = home.keys().login(name, b"pw").unwrap();
    let addr = id.address();
    (ChatDb::open(&home.home.chat_db_path(&addr), &id).unwrap(), addr)
}

#[test]
fn sender_killed_in_a_burst_resumes_and_nothing_is_lost_or_doubled() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let (_, bob_addr) = alice_and_bob(&home);
    let bob = Runner::start(&home, "bob", &broker.url());
    bob.wait(20, "bob ready", |v| event(v) == "ready");
    let mut alice = Runner::start(&home, "alice", &broker.url());
    alice.wait(20, "alice ready", |v| event(v) == "ready");

    // 1,000 sends as fast as stdin takes them; SIGKILL after 300 are stored.
    let writer = {
        let mut stdin = alice.stdin.take().unwrap();
        let bob_addr = bob_addr.clone();
        std::thread::spawn(move || {
            for i in 0..1000 {
                let line = json!({"cmd": "send", "to": bob_addr, "text": format!("burst {i}")}).to_string();
                if writeln!(stdin, "{line}").is_err() {
                    break; // the process is gone
                }
            }
        })
    };
    let mut stored = 0;
    while stored < 300 {
        alice.wait(30, "message events", |v| event(v) == "message");
        stored += 1;
    }
    alice.signal("-KILL");
    alice.wait_exit(10);
    let _ = writer.join();

    // Start it again: it publishes what is still N and collects the receipts.
    let alice = Runner::start(&home, "alice", &broker.url());
    alice.wait(20, "alice ready again", |v| event(v) == "ready");
    let (alice_db, alice_addr) = open_db(&home, "alice");
    let bob_address: Address = bob_addr.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let sent = loop {
        let h = alice_db.history_with(&bob_address, usize::MAX >> 1).unwrap();
        if h.len() >= 300 && h.iter().all(|m| m.stat == MessageStatus::Confirmed) {
            break h;
        }
        assert!(Instant::now() < deadline, "not all C: {:?}", h.iter().map(|m| m.stat.code()).collect::<String>());
        std::thread::sleep(Duration::from_millis(200));
    };
    let (bob_db, _) = open_db(&home, "bob");
    let got = bob_db.history_with(&alice_addr, usize::MAX >> 1).unwrap();
    let mut counts: HashMap<MessageHash, usize> = HashMap::new();
    for m in &got {
        *counts.entry(m.hash).or_default() += 1;
    }
    assert!(counts.values().all(|&c| c == 1), "a message was stored twice");
    let sent_hashes: HashSet<MessageHash> = sent.iter().map(|m| m.hash).collect();
    let got_hashes: HashSet<MessageHash> = got.iter().map(|m| m.hash).collect();
    assert_eq!(sent_hashes, got_hashes, "bob has exactly what alice stored");
}

/// Two windows on a machine with no broker: the first hosts the embedded one (auto mode), the
/// second uses it, and they chat.
#[test]
fn two_processes_chat_through_the_embedded_broker_of_the_first() {
    let home = TestHome::new();
    let (_, bob_addr) = alice_and_bob(&home);
    let url = format!("mqtt://127.0.0.1:{}", common::broker::free_port());
    let mut alice = Runner::start(&home, "alice", &url);
    alice.wait(20, "alice ready", |v| event(v) == "ready");
    let bob = Runner::start(&home, "bob", &url);
    bob.wait(20, "bob ready", |v| event(v) == "ready");
    alice.send(&json!({"cmd": "send", "to": bob_addr, "text": "no broker installed"}).to_string());
    let out = alice.wait(10, "own message", |v| event(v) == "message");
    let hash = out["hash"].as_str().unwrap().to_string();
    let got = bob.wait(20, "bob receives", |v| event(v) == "message");
    assert_eq!(got["text"], "no broker installed");
    alice.wait(20, "status C", |v| event(v) == "status" && v["hash"] == hash.as_str() && v["stat"] == "C");
}

/// The receiver is killed with SIGKILL half-way through a 24 MiB file, and a chunk it had
/// marked as written is damaged on disk (as a power loss can leave it); started again, it
/// re-checks the partial file, asks for what is bad, resumes the transfer and keeps a
/// byte-identical file.
#[test]
fn a_transfer_resumes_after_the_receiver_is_killed() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let (_, bob_addr) = alice_and_bob(&home);
    let mut data = vec![0u8; 24 << 20];
    for c in data.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c).unwrap();
    }
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();

    let mut bob = Runner::start(&home, "bob", &broker.url());
    bob.wait(20, "bob ready", |v| event(v) == "ready");
    let mut alice = Runner::start(&home, "alice", &broker.url());
    alice.wait(20, "alice ready", |v| event(v) == "ready");
    alice.send(&json!({"cmd": "send_file", "to": bob_addr, "path": path, "text": "big"}).to_string());
    let total = data.len() as u64;
    let part = bob.wait(60, "some progress", |v| {
        event(v) == "transfer" && v["done"].as_u64().unwrap_or(0) >= total * 2 / 5 && v["state"] == "A"
    });
    let hash = part["hash"].as_str().unwrap().to_string();
    bob.signal("-KILL");
    bob.wait_exit(10);
    let partial_dir = home.root().join("accounts").join(&bob_addr).join("objects").join("partial");
    let parts: Vec<_> = std::fs::read_dir(&partial_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(parts.len(), 1, "one partial file: {parts:?}");
    let mut bytes = std::fs::read(&parts[0]).unwrap();
    // The second chunk's ciphertext (after the header) is overwritten.
    let at = wochat::objects::HEADER2 + (65536 + 16) + 1000;
    bytes[at..at + 64].fill(0x5A);
    std::fs::write(&parts[0], &bytes).unwrap();

    let bob = Runner::start(&home, "bob", &broker.url());
    bob.wait(60, "the damaged chunk is found", |v| event(v) == "dropped" && v["reason"] == "chunk_lost_in_crash");
    bob.wait(120, "the transfer completes", |v| {
        event(v) == "transfer" && v["hash"] == hash.as_str() && v["state"] == "C"
    });
    alice.wait(60, "alice sees the receipt", |v| {
        event(v) == "transfer" && v["hash"] == hash.as_str() && v["state"] == "C"
    });
    alice.send(r#"{"cmd":"quit"}"#);
    alice.wait_exit(10);
    bob.signal("-TERM");
    drop(bob);
    let out = tempfile::tempdir().unwrap();
    let o =
        home.run(Some("pw"), &["--account", "bob", "object", "export", &hash, "--out", out.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let saved = std::path::PathBuf::from(common::stdout(&o).trim());
    assert!(std::fs::read(saved).unwrap() == data, "byte-identical after the resume");
    let o = home.run(Some("pw"), &["--account", "bob", "object", "verify"]);
    assert!(o.status.success());
}

/// Hashes of the talk, each with how often it is stored.
fn stored_hashes(db: &ChatDb, peer: &Address) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in db.history_with(peer, usize::MAX >> 1).unwrap() {
        *counts.entry(m.hash.to_hex()).or_default() += 1;
    }
    counts
}

#[test]
fn recipient_killed_halfway_through_a_backlog_gets_everything_once() {
    const N: usize = 3000;
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let (_, bob_addr) = alice_and_bob(&home);
    // Bob connects once, so the broker keeps his session while he is away.
    let mut bob = Runner::start(&home, "bob", &broker.url());
    bob.wait(20, "bob ready", |v| event(v) == "ready");
    bob.send(r#"{"cmd":"quit"}"#);
    assert_eq!(bob.wait_exit(10), 0);

    let mut alice = Runner::start(&home, "alice", &broker.url());
    alice.wait(20, "alice ready", |v| event(v) == "ready");
    alice.send(&json!({"cmd": "friend_add", "address": bob_addr, "name": "Bob"}).to_string());
    for i in 0..N {
        alice.send(&json!({"cmd": "send", "to": bob_addr, "text": format!("backlog {i}")}).to_string());
    }
    let (alice_db, alice_addr) = open_db(&home, "alice");
    let bob_address: Address = bob_addr.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while alice_db.history_with(&bob_address, N).unwrap().iter().filter(|m| m.stat == MessageStatus::Sent).count() < N {
        assert!(Instant::now() < deadline, "the broker did not take the backlog");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Bob comes back and is killed a third of the way through the backlog.
    let bob = Runner::start(&home, "bob", &broker.url());
    for _ in 0..N / 3 {
        bob.wait(60, "backlog messages", |v| event(v) == "message" && v["dir"] == "in");
    }
    bob.signal("-KILL");
    drop(bob);
    let (bob_db, _) = open_db(&home, "bob");
    let at_kill = stored_hashes(&bob_db, &alice_addr).len();
    assert!(at_kill >= N / 3, "{at_kill} stored before the kill");

    // Again: the broker redelivers what bob never acknowledged; the rest is already stored.
    let bob = Runner::start(&home, "bob", &broker.url());
    bob.wait(20, "bob ready again", |v| event(v) == "ready");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sent = alice_db.history_with(&bob_address, usize::MAX >> 1).unwrap();
        if sent.len() == N && sent.iter().all(|m| m.stat == MessageStatus::Confirmed) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alice has {} of {N} confirmed",
            sent.iter().filter(|m| m.stat == MessageStatus::Confirmed).count()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let got = stored_hashes(&bob_db, &alice_addr);
    assert!(got.values().all(|&c| c == 1), "a message was stored twice");
    let sent: HashSet<String> =
        alice_db.history_with(&bob_address, usize::MAX >> 1).unwrap().into_iter().map(|m| m.hash.to_hex()).collect();
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), sent, "bob has exactly what alice sent");
    eprintln!("bob had stored {at_kill} of {N} when he was killed");
    alice.send(r#"{"cmd":"quit"}"#);
    alice.wait_exit(10);
    drop(bob);
}

/// The receiver stops dead inside the transaction that stores a message (a power loss before
/// the commit): no receipt left for it, and it arrives once after the restart. Then it stops
/// dead between the commit and the receipt: the message is on disk and the receipt leaves
/// after the restart, once.
#[test]
fn no_receipt_leaves_for_a_message_not_on_disk() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let (alice_addr, bob_addr) = alice_and_bob(&home);
    let alice_address: Address = alice_addr.parse().unwrap();
    let mut alice = Runner::start(&home, "alice", &broker.url());
    alice.wait(20, "alice ready", |v| event(v) == "ready");
    for (round, fault) in ["exit-before-commit", "exit-after-commit"].into_iter().enumerate() {
        let mut bob = Runner::start_with(&home, "bob", &broker.url(), &[("WOCHAT_FAULT", fault)]);
        bob.wait(20, "bob ready", |v| event(v) == "ready");
        let text = format!("message {round}");
        alice.send(&json!({"cmd": "send", "to": bob_addr, "text": text}).to_string());
        let hash = alice.wait(10, "own message", |v| event(v) == "message")["hash"].as_str().unwrap().to_string();
        assert_eq!(bob.wait_exit(30), 86, "bob stopped at {fault}");
        // Nothing confirmed: alice's copy is not C.
        let (alice_db, _) = open_db(&home, "alice");
        let bob_address: Address = bob_addr.parse().unwrap();
        let stat = |db: &ChatDb| {
            db.history_with(&bob_address, 1000).unwrap().into_iter().find(|m| m.hash.to_hex() == hash).unwrap().stat
        };
        assert_ne!(stat(&alice_db), MessageStatus::Confirmed, "{fault}: a receipt left");
        let (bob_db, _) = open_db(&home, "bob");
        let on_disk = stored_hashes(&bob_db, &alice_address).get(&hash).copied().unwrap_or(0);
        assert_eq!(on_disk, if fault == "exit-before-commit" { 0 } else { 1 }, "{fault}");
        drop((alice_db, bob_db));

        // Started again, bob has it once and alice gets the receipt.
        let mut bob = Runner::start(&home, "bob", &broker.url());
        alice.wait(60, "the receipt", |v| event(v) == "status" && v["hash"] == hash.as_str() && v["stat"] == "C");
        bob.send(r#"{"cmd":"quit"}"#);
        bob.wait_exit(10);
        let (bob_db, _) = open_db(&home, "bob");
        assert_eq!(stored_hashes(&bob_db, &alice_address).get(&hash), Some(&1), "{fault}: stored once");
    }
}

/// Issue 14's names: `send --reply-to`, `react`, `edit`, `delete`, and `run --json`'s `react`,
/// `edit`, `delete`, `read`; `history --json` rows with `reply_to`, `reactions`, `edited`,
/// `deleted`, `read`.
#[test]
fn replies_reactions_edits_deletes_and_reads_from_json_and_the_command_line() {
    let broker = Mosquitto::start();
    let home = TestHome::new();
    let (alice_addr, bob_addr) = alice_and_bob(&home);
    let mut alice = Runner::start(&home, "alice", &broker.url());
    let mut bob = Runner::start(&home, "bob", &broker.url());
    alice.wait(20, "alice ready", |v| event(v) == "ready");
    bob.wait(20, "bob ready", |v| event(v) == "ready");
    alice.send(&json!({"cmd": "send", "to": bob_addr, "text": "lunch?"}).to_string());
    let lunch = alice.wait(20, "own message", |v| event(v) == "message")["hash"].as_str().unwrap().to_string();
    bob.wait(20, "bob receives", |v| event(v) == "message" && v["hash"] == lunch.as_str());
    bob.send(&json!({"cmd": "send", "to": alice_addr, "text": "yes", "reply_to": lunch}).to_string());
    let reply = alice.wait(20, "the reply", |v| event(v) == "message" && v["dir"] == "in");
    assert_eq!(reply["reply_to"], lunch.as_str());
    let yes = reply["hash"].as_str().unwrap().to_string();

    bob.send(&json!({"cmd": "react", "peer": alice_addr, "hash": lunch, "emoji": "👍"}).to_string());
    let changed = alice.wait(20, "the reaction", |v| event(v) == "changed" && v["hash"] == lunch.as_str());
    assert_eq!(changed["reactions"], json!({"👍": [bob_addr]}));
    alice.send(&json!({"cmd": "edit", "peer": bob_addr, "hash": lunch, "text": "lunch at 12?"}).to_string());
    let edited = bob.wait(20, "the edit", |v| event(v) == "changed" && v["edited"] == 1);
    assert_eq!(edited["text"], "lunch at 12?");
    bob.send(&json!({"cmd": "read", "peer": alice_addr}).to_string());
    alice.wait(20, "read", |v| event(v) == "changed" && v["hash"] == lunch.as_str() && v["read"] == true);
    // Bob may not edit Alice's message: an error event, nothing sent.
    bob.send(&json!({"cmd": "edit", "peer": alice_addr, "hash": lunch, "text": "no"}).to_string());
    let err = bob.wait(10, "refused", |v| event(v) == "error");
    assert!(err["message"].as_str().unwrap().contains("only its sender"), "{err}");
    alice.send(&json!({"cmd": "delete", "peer": bob_addr, "hash": lunch, "for_everyone": true}).to_string());
    bob.wait(20, "the delete", |v| event(v) == "changed" && v["deleted"] == true && v["text"].is_null());
    alice.send(r#"{"cmd":"quit"}"#);
    assert_eq!(alice.wait_exit(10), 0);

    // The command line, Bob online: a reply, a reaction, an edit, a delete for everyone.
    let url = broker.url();
    let cli = |args: &[&str]| {
        let mut all = vec!["--account", "alice", "--broker", url.as_str()];
        all.extend_from_slice(args);
        let o = home.run(Some("pw"), &all);
        assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
        common::stdout(&o).trim().to_string()
    };
    let again = cli(&["send", &bob_addr, "--text", "see you", "--reply-to", &yes]);
    let seen = bob.wait(20, "the reply", |v| event(v) == "message" && v["hash"] == again.as_str());
    assert_eq!(seen["reply_to"], yes.as_str());
    let react = cli(&["react", &bob_addr, &yes, "🎉"]);
    assert_eq!(react.len(), 64, "prints the hash of what it sent: {react}");
    bob.wait(20, "the reaction", |v| event(v) == "changed" && v["reactions"] == json!({"🎉": [alice_addr]}));
    cli(&["edit", &bob_addr, &again, "--text", "see you soon"]);
    bob.wait(20, "the edit", |v| event(v) == "changed" && v["text"] == "see you soon");
    cli(&["delete", &bob_addr, &again, "--for-everyone"]);
    bob.wait(20, "the delete", |v| event(v) == "changed" && v["hash"] == again.as_str() && v["deleted"] == true);
    // Forward from the command line, and from Bob's JSON back; his talk kept pinned and muted.
    let note = cli(&["send", &bob_addr, "--text", "the address is Main St 5"]);
    bob.wait(20, "the note", |v| event(v) == "message" && v["hash"] == note.as_str());
    let fwd = cli(&["forward", &note, "--to", &bob_addr]);
    assert_eq!(fwd.lines().count(), 1);
    let got = bob.wait(20, "the forward", |v| event(v) == "message" && v["hash"] == fwd.as_str());
    assert_eq!(got["text"], "the address is Main St 5");
    bob.send(&json!({"cmd": "forward", "hash": note, "to": [alice_addr]}).to_string());
    let back = bob.wait(20, "bob's forward", |v| event(v) == "message" && v["dir"] == "out");
    assert_eq!(back["text"], "the address is Main St 5");
    bob.send(&json!({"cmd": "talk", "peer": alice_addr, "change": "pin"}).to_string());
    bob.send(&json!({"cmd": "talk", "peer": alice_addr, "change": "mute"}).to_string());
    bob.send(&json!({"cmd": "typing", "peer": alice_addr, "on": true}).to_string());
    cli(&["talk", &bob_addr, "archive"]);
    cli(&["talk", &bob_addr, "draft", "--text", "half a thought"]);
    // Deleted here only: nothing is printed, nothing sent.
    assert_eq!(cli(&["delete", &bob_addr, &yes]), "");
    let o = home.run(Some("pw"), &["--account", "alice", "react", &bob_addr, &"ab".repeat(32), "👍"]);
    assert_eq!(o.status.code(), Some(1), "an unknown message");
    bob.send(r#"{"cmd":"quit"}"#);
    assert_eq!(bob.wait_exit(10), 0);

    let history = |who: &str, peer: &str| -> Vec<Value> {
        let o = home.run(Some("pw"), &["--account", who, "history", peer, "--json"]);
        common::stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let alice_rows = history("alice", &bob_addr);
    let by_hash = |rows: &[Value], h: &str| rows.iter().find(|r| r["hash"] == h).cloned();
    assert!(by_hash(&alice_rows, &yes).is_none(), "deleted here");
    let first = by_hash(&alice_rows, &lunch).unwrap();
    assert_eq!(
        (first["deleted"].clone(), first["read"].clone(), first["text"].clone()),
        (json!(true), json!(true), Value::Null)
    );
    let bob_rows = history("bob", &alice_addr);
    let yes_row = by_hash(&bob_rows, &yes).unwrap();
    assert_eq!(yes_row["reply_to"], lunch.as_str());
    assert_eq!(yes_row["reactions"], json!({"🎉": [alice_addr]}));
    assert_eq!((yes_row["edited"].clone(), yes_row["deleted"].clone()), (json!(0), json!(false)));
    for key in ["reply_to", "reactions", "edited", "deleted", "read"] {
        assert!(yes_row.get(key).is_some(), "history --json lacks {key}");
    }
    let state = |who: &str, peer: &str| {
        let (db, _) = open_db(&home, who);
        let chat = db.chat_with(&peer.parse().unwrap()).unwrap().unwrap();
        db.talk(chat).unwrap().unwrap().state
    };
    let bobs = state("bob", &alice_addr);
    assert!(bobs.is_pinned() && bobs.muted, "{bobs:?}");
    let alices = state("alice", &bob_addr);
    assert!(alices.archived, "{alices:?}");
    assert_eq!(alices.draft.as_deref(), Some("half a thought"));
}
