//! History backups through the real binary: `backup --out` while the account is in use,
//! `backup verify`, `account restore` into another home (talks and files whole), and every way
//! a restore must refuse (wrong passphrase, damage, truncation, a newer format, the account
//! already there) leaving the home exactly as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestHome, cli_on, files_below, stderr, stdout};
use wochat::home::Home;
use wochat::testkit::TestNet;

const PASS: &str = "correct horse battery staple";

/// `wochat ARGS` on `home` with the account password, the backup passphrase `pass` and cheap
/// Argon2 parameters for the backup.
fn wochat(home: &Home, pass: &str, args: &[&str]) -> Output {
    cli_on(home)
        .env("WOCHAT_PASSWORD", "pw")
        .env("WOCHAT_BACKUP_PASSWORD", pass)
        .env(wochat::app::TEST_TIMERS_ENV, "fast")
        .args(args)
        .output()
        .unwrap()
}

/// Every file below `dir` with the hash of its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let digest = |p: &Path| hex::encode(wochat::crypto::sha256(&std::fs::read(p).unwrap_or_default()));
    files_below(dir).into_iter().map(|p| (p.clone(), digest(&p))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_in_use_restores_talks_and_files_in_another_home() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "早上好 before the backup").await;
    bob.send_confirmed(&alice, "and a reply").await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = net.scratch().join("photo.bin");
    std::fs::write(&path, &data).unwrap();
    let sent = alice.client.send_file(bob.address, path, Some("the file".into()), None).await.unwrap();
    alice.wait_confirmed(sent.message).await;

    // Alice's client keeps running (it holds the account's lock): the backup only reads.
    let backup = net.scratch().join("alice.wochat-backup");
    let o = wochat(net.home(), PASS, &["--account", "alice", "backup", "--out", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 files"), "{}", stdout(&o));
    alice.send_confirmed(&bob, "after the backup").await;

    // Nothing of the history is in clear in the file.
    let bytes = std::fs::read(&backup).unwrap();
    assert!(!common::contains(&bytes, "早上好".as_bytes()) && !common::contains(&bytes, &data[..64]));
    let o = wochat(net.home(), PASS, &["backup", "verify", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(&format!("ok\talice\t{}\t1 files", alice.address)), "{}", stdout(&o));

    // Another machine: a fresh home.
    let other = TestHome::new();
    let o = wochat(&other.home, PASS, &["account", "restore", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = wochat(&other.home, PASS, &["account", "list"]);
    assert_eq!(stdout(&o), format!("alice\t{}\n", alice.address));
    let o = wochat(&other.home, PASS, &["--account", "alice", "history", &bob.address.to_hex()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let history = stdout(&o);
    for text in ["早上好 before the backup", "and a reply", "the file"] {
        assert!(history.contains(text), "{text} missing: {history}");
    }
    assert!(!history.contains("after the backup"), "the snapshot is of the moment of the backup");
    let out = other.root().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = wochat(
        &other.home,
        PASS,
        &["--account", "alice", "object", "export", &sent.file.to_hex(), "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(stdout(&o).trim()).unwrap(), data, "the file, byte for byte");
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_backup_is_refused_and_the_home_stays_exactly_as_it_was() {
    let net = TestNet::new();
    let alice = net.peer("alice").await;
    alice.stop().await;
    let backup = net.scratch().join("alice.backup");
    let o = wochat(net.home(), PASS, &["--account", "alice", "backup", "--out", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let good = std::fs::read(&backup).unwrap();

    // A home in use on another machine, with an account of its own.
    let target = TestHome::new();
    let o = wochat(&target.home, PASS, &["account", "create", "dave"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(target.root());
    let refuse = |file: &Path, pass: &str, why: &str| {
        let o = wochat(&target.home, pass, &["account", "restore", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{why}: {}", stdout(&o));
        assert!(stderr(&o).contains(why), "wanted {why:?}: {}", stderr(&o));
        assert_eq!(snapshot(target.root()), before, "{why}: the home changed");
    };
    refuse(&backup, "not the passphrase", "wrong backup passphrase");
    let bad = net.scratch().join("bad");
    let write = |bytes: &[u8]| {
        std::fs::write(&bad, bytes).unwrap();
        bad.clone()
    };
    refuse(&write(&good[..good.len() - 100]), PASS, "damaged or incomplete");
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    refuse(&write(&flipped), PASS, "damaged or incomplete");
    let mut newer = good.clone();
    newer[9] = 9;
    refuse(&write(&newer), PASS, "format version 9");
    refuse(&write(b"hello"), PASS, "not a WoChat backup");
    let o = wochat(net.home(), "not the passphrase", &["backup", "verify", backup.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("wrong backup passphrase"));

    // Another account of the target home is named alice: refused, then restored under a
    // name of its own.
    let o = wochat(&target.home, PASS, &["account", "create", "alice"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = wochat(&target.home, PASS, &["account", "restore", backup.to_str().unwrap()]);
    assert!(stderr(&o).contains("an account named \"alice\" already exists"), "{}", stderr(&o));
    let o = wochat(&target.home, PASS, &["account", "restore", "--name", "alice (laptop)", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&wochat(&target.home, PASS, &["account", "list"]));
    assert!(list.contains(&format!("alice (laptop)\t{}", alice_address())), "{list}");

    // Onto the account itself: only with --replace.
    let home_before = snapshot(&net.home().root().join("accounts"));
    let o = wochat(net.home(), PASS, &["account", "restore", backup.to_str().unwrap()]);
    assert!(stderr(&o).contains("already in this home") && stderr(&o).contains("--replace"), "{}", stderr(&o));
    assert_eq!(snapshot(&net.home().root().join("accounts")), home_before);
    let o = wochat(net.home(), PASS, &["account", "restore", "--replace", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = wochat(net.home(), PASS, &["--account", "alice", "whoami"]);
    assert_eq!(stdout(&o).trim(), alice_address());
}

fn alice_address() -> String {
    wochat::testkit::identity_of("alice").address().to_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_account_chats_on_with_its_old_sessions_replaced() {
    let net = TestNet::new().fast_retries(std::time::Duration::from_secs(1));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    alice.send_confirmed(&bob, "one").await;
    bob.send_confirmed(&alice, "two").await;
    let backup = net.scratch().join("alice.backup");
    let o = wochat(net.home(), PASS, &["--account", "alice", "backup", "--out", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The ratchets move on after the backup: the restored state will be old.
    for i in 0..3 {
        alice.send_confirmed(&bob, &format!("after the backup {i}")).await;
        bob.send_confirmed(&alice, &format!("reply {i}")).await;
    }
    let alice_at = alice.address;
    alice.stop().await;
    let o = wochat(net.home(), PASS, &["account", "restore", "--replace", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Back with the old state: both directions work again, by themselves.
    let mut alice = net.peer("alice").await;
    bob.send_confirmed(&alice, "are you back?").await;
    alice.until_history(&bob.address, |h| h.iter().any(|m| m.text.as_deref() == Some("are you back?"))).await;
    alice.send_confirmed(&bob, "yes, restored").await;
    let texts = bob.until_history(&alice_at, |h| h.iter().any(|m| m.text.as_deref() == Some("yes, restored"))).await;
    // Nothing twice on either side.
    let mut seen: Vec<String> = texts.iter().filter_map(|m| m.text.clone()).collect();
    let all = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), all, "a message twice in bob's history: {seen:?}");
    let mine = alice.texts(&bob.address);
    assert!(mine.contains(&"one".to_string()) && mine.contains(&"two".to_string()), "{mine:?}");
    alice.stop().await;
    bob.stop().await;
}

#[test]
fn automatic_backups_run_while_the_app_runs_one_at_a_time_keeping_the_newest() {
    use common::broker::Mosquitto;
    use common::runner::{Runner, create, event};
    use wochat::backup::schedule::{backups_in, file_name};

    let broker = Mosquitto::start();
    let home = TestHome::new();
    let address: wochat::crypto::Address = create(&home, "alice").parse().unwrap();
    let folder = home.root().join("my backups");
    let schedule = |args: &[&str]| {
        let o = home
            .cli()
            .env("WOCHAT_PASSWORD", "pw")
            .args(["--account", "alice", "backup", "schedule"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    // Off by default; turning it on makes a passphrase, shown this once.
    assert!(schedule(&[]).starts_with("every\toff\n"));
    let shown = schedule(&["--every", "daily", "--folder", folder.to_str().unwrap(), "--keep", "2"]);
    let passphrase = shown.lines().find_map(|l| l.strip_prefix("passphrase\t")).unwrap().to_string();
    assert!(passphrase.split(' ').all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())), "{passphrase}");
    assert_eq!(passphrase.len(), 35);
    let shown_again = schedule(&[]);
    assert!(!shown_again.contains(&passphrase[..5]) && shown_again.contains("every\tdaily"), "{shown_again}");

    // Backups of earlier days, and files that are not this account's backups.
    std::fs::create_dir_all(&folder).unwrap();
    let day = 24 * 3600 * 1000;
    let now = wochat::store::now_ms();
    let old = |days: i64| folder.join(file_name(&address, now - days * day));
    for days in [9, 8] {
        std::fs::write(old(days), b"an old backup").unwrap();
    }
    std::fs::write(folder.join("notes.txt"), b"mine").unwrap();

    // None was made since the schedule was set: one is due as soon as the app runs.
    let mut alice = Runner::start_with(&home, "alice", &broker.url(), &[("WOCHAT_FAULT", "slow-backup")]);
    alice.wait(20, "ready", |v| event(v) == "ready");
    alice.wait(20, "progress", |v| event(v) == "backup" && v["state"] == "running");
    let done = alice.wait(30, "automatic backup", |v| event(v) == "backup" && v["state"] == "done");
    assert_eq!(done["pruned"], 1, "{done}");
    let first = PathBuf::from(done["path"].as_str().unwrap());
    assert_eq!(backups_in(&folder, &address).unwrap(), [old(8), first.clone()]);

    // Back up now, twice at once: the second is refused while the first is written.
    alice.send(r#"{"cmd":"backup"}"#);
    alice.send(r#"{"cmd":"backup"}"#);
    let refused = alice.wait(10, "refusal", |v| event(v) == "error");
    assert!(refused["message"].as_str().unwrap().contains("a backup is being written already"), "{refused}");
    let done = alice.wait(30, "backup now", |v| event(v) == "backup" && v["state"] == "done");
    let second = PathBuf::from(done["path"].as_str().unwrap());
    assert_ne!(first, second);
    // The newest two remain; nothing else in the folder was touched. No third backup: the
    // last is not a day old.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(backups_in(&folder, &address).unwrap(), [first.clone(), second.clone()]);
    assert_eq!(std::fs::read(folder.join("notes.txt")).unwrap(), b"mine");
    alice.send(r#"{"cmd":"quit"}"#);
    assert_eq!(alice.wait_exit(10), 0);

    // The backup opens with the passphrase shown, typed without its spaces too.
    let o = wochat(&home.home, &passphrase.replace(' ', ""), &["backup", "verify", second.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(schedule(&[]).contains("last\t"), "the last backup is noted");
}

/// Stores `count` texts between `name` and `peer` (alternating directions) in `name`'s
/// history, as if exchanged earlier.
fn seed_history(net: &TestNet, name: &str, peer: wochat::crypto::Address, count: usize) -> Vec<String> {
    net.account(name);
    let mut acc = wochat::app::Account::open(net.home(), &net.keys(), name, wochat::testkit::PASSWORD).unwrap();
    let me = acc.address();
    let texts: Vec<String> = (0..count).map(|i| format!("seeded line {i} of the old talk 旧的")).collect();
    let packets: Vec<(Vec<u8>, i64)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut p = wochat::wire::Packet::new(wochat::wire::Body::Text { text: t.clone() });
            p.ts = 1_700_000_000_000 + i as u64 * 1000;
            (p.encode(), p.ts as i64)
        })
        .collect();
    let rows: Vec<wochat::store::NewMessage<'_>> = packets
        .iter()
        .enumerate()
        .map(|(i, (cbor, ts))| {
            let (from, to) = if i % 2 == 0 { (me, peer) } else { (peer, me) };
            wochat::store::NewMessage {
                chat: None,
                from,
                to,
                hash: wochat::wire::MessageHash::of(cbor),
                kind: wochat::wire::MessageKind::Text,
                ts: *ts,
                cbor,
                obj: None,
            }
        })
        .collect();
    for batch in rows.chunks(2000) {
        acc.chat.store_many(batch).unwrap();
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_and_twenty_files_backed_up_while_chatting_come_back_identical() {
    let net = TestNet::new();
    let bob_at = wochat::testkit::identity_of("bob").address();
    let seeded = seed_history(&net, "alice", bob_at, 10_000);
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let mut files = Vec::new();
    for i in 0..20u32 {
        let data: Vec<u8> = (0..20_000 + i * 1000).map(|k| (k.wrapping_mul(31) ^ i) as u8).collect();
        let path = net.scratch().join(format!("file-{i}.bin"));
        std::fs::write(&path, &data).unwrap();
        let (from, to) = if i % 2 == 0 { (&mut alice, bob.address) } else { (&mut bob, alice.address) };
        let sent = from.client.send_file(to, path, Some(format!("file {i}")), None).await.unwrap();
        from.wait_confirmed(sent.message).await;
        files.push((sent, data));
    }
    let before_backup = alice.history(&bob.address);

    // Both keep writing while the backup is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chatter = |from: wochat::app::Client, to: wochat::crypto::Address, who: &'static str| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = format!("{who} during the backup {}", sent.len());
                from.send_text(to, text.clone()).await.unwrap();
                sent.push(text);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            sent
        })
    };
    let from_alice = chatter(alice.client.clone(), bob.address, "alice");
    let from_bob = chatter(bob.client.clone(), alice.address, "bob");
    let file = net.scratch().join("alice.wochat-backup");
    let home = net.home().clone();
    let out = file.clone();
    let status = tokio::task::spawn_blocking(move || {
        let mut child = cli_on(&home)
            .env("WOCHAT_PASSWORD", "pw")
            .env("WOCHAT_BACKUP_PASSWORD", PASS)
            .env(wochat::app::TEST_TIMERS_ENV, "fast")
            .args(["--account", "alice", "backup", "--out", out.to_str().unwrap()])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the backup never finished while the account was being written");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.success());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (from_alice, from_bob) = (from_alice.await.unwrap(), from_bob.await.unwrap());
    assert!(!from_alice.is_empty() && !from_bob.is_empty());

    // Nothing sent around the backup is lost or doubled, on either side.
    let has_all = |h: &[wochat::app::read::MessageView], texts: &[String]| {
        texts.iter().all(|t| h.iter().filter(|m| m.text.as_deref() == Some(t)).count() == 1)
    };
    let (fa, fb) = (from_alice.clone(), from_bob.clone());
    bob.until_history(&alice.address, move |h| has_all(h, &fa)).await;
    alice.until_history(&bob.address, move |h| has_all(h, &fb)).await;

    // The file holds neither the history nor the key in clear.
    let bytes = std::fs::read(&file).unwrap();
    let secret = wochat::testkit::identity_of("alice");
    for needle in [
        seeded[1234].as_bytes(),
        &files[3].1[..256],
        secret.secret_bytes(),
        hex::encode(secret.secret_bytes()).as_bytes(),
    ] {
        assert!(!common::contains(&bytes, needle), "found in clear in the backup");
    }

    // Another machine: the same history, row for row, and every file intact.
    let other = TestHome::new();
    let o = wochat(&other.home, PASS, &["account", "restore", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = wochat(&other.home, PASS, &["--account", "alice", "object", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = wochat(&other.home, PASS, &["--account", "alice", "history", &bob.address.to_hex(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let restored: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let row = |m: &wochat::app::read::MessageView| (m.hash.to_hex(), m.stat.code().to_string());
    let restored_rows: Vec<(String, String)> = restored
        .iter()
        .map(|v| (v["hash"].as_str().unwrap().to_string(), v["stat"].as_str().unwrap().to_string()))
        .collect();
    // What was settled before the backup comes back whole, in order, with its statuses.
    let settled: Vec<(String, String)> = before_backup.iter().map(row).collect();
    assert_eq!(settled.len(), 10_020);
    assert_eq!(&restored_rows[..settled.len()], &settled[..]);
    // What was written during it is the start of what the account holds now.
    let now: Vec<String> = alice.history(&bob.address).iter().map(|m| m.hash.to_hex()).collect();
    let hashes: Vec<&String> = restored_rows.iter().map(|(h, _)| h).collect();
    assert!(now.iter().zip(&hashes).all(|(a, b)| a == *b), "the restored history is a moment of the live one");
    alice.stop().await;
    bob.stop().await;
}
