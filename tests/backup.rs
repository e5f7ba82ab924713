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
