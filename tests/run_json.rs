//! `wochat run --json` as real processes: a full exchange driven through stdin, and a sender
//! killed with SIGKILL in the middle of a burst.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::TestHome;
use common::broker::Mosquitto;
use serde_json::{Value, json};
use wochat::crypto::Address;
use wochat::store::{ChatDb, MessageStatus};
use wochat::wire::MessageHash;

/// A `wochat run --json` child with its stdout as a stream of JSON values.
struct Runner {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
}

impl Runner {
    fn start(home: &TestHome, account: &str, url: &str) -> Self {
        let mut child = home
            .cli()
            .env("WOCHAT_PASSWORD", "pw")
            // Unconfirmed messages go again after 1 s and silent files ask after 1 s (not 30 s
            // and 10 s): what a SIGKILL loses comes back sooner.
            .env(wochat::app::TEST_TIMERS_ENV, "fast")
            .args(["--account", account, "--broker", url, "run", "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self { child, stdin, lines: rx }
    }

    fn send(&mut self, v: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    }

    fn wait(&self, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => seen.push(event(&v).to_string()),
                Err(_) => panic!("timed out waiting for {what}; saw {seen:?}"),
            }
        }
    }

    fn signal(&self, sig: &str) {
        Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
    }

    fn wait_exit(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the client did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(v: &Value) -> &str {
    v["event"].as_str().unwrap_or("")
}

fn create(home: &TestHome, name: &str) -> String {
    let o = home.run(Some("pw"), &["account", "create", name]);
    assert!(o.status.success());
    common::stdout(&o).trim().to_string()
}

/// Creates alice and bob, friends of each other; returns their addresses.
fn alice_and_bob(home: &TestHome) -> (String, String) {
    let (alice, bob) = (create(home, "alice"), create(home, "bob"));
    for (who, other, name) in [("alice", &bob, "Bob"), ("bob", &alice, "Alice")] {
        let o = home.run(Some("pw"), &["--account", who, "friend", "add", other, "--name", name]);
        assert!(o.status.success(), "{}", common::stderr(&o));
    }
    (alice, bob)
}

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

/// The receiver is killed with SIGKILL half-way through a 24 MiB file; started again, it
/// resumes the transfer and keeps a byte-identical file.
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

    let bob = Runner::start(&home, "bob", &broker.url());
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
