//! The `wochat` command line as a real process: output formats, exit codes, locks, and two
//! processes on one home at the same time.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{TestHome, files_containing, stderr, stdout};
use wochat::store::AccountLock;

fn create(t: &TestHome, name: &str, password: &str) -> String {
    let o = t.run(Some(password), &["account", "create", name]);
    assert!(o.status.success(), "{}", stderr(&o));
    let address = stdout(&o).trim().to_string();
    assert_eq!(address.len(), 66, "{address}");
    assert!(address.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    address
}

fn assert_error(o: &std::process::Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stdout {} stderr {}", stdout(o), stderr(o));
    let err = stderr(o);
    assert!(err.contains(needle), "{err}");
    if code == 1 {
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn account_lifecycle() {
    let t = TestHome::new();
    let alice = create(&t, "alice", "pw-a");
    let bob = create(&t, "bob", "pw-b");
    let o = t.run(None, &["account", "list"]);
    assert_eq!(stdout(&o), format!("alice\t{alice}\nbob\t{bob}\n"));

    let o = t.run(Some("pw-a"), &["--account", "alice", "whoami"]);
    assert_eq!(stdout(&o).trim(), alice);
    // WOCHAT_ACCOUNT and --password-stdin work too.
    let mut c = t.cli();
    c.env("WOCHAT_ACCOUNT", "bob").args(["--password-stdin", "whoami"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"pw-b\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o).trim(), bob);

    assert_error(&t.run(Some("nope"), &["--account", "alice", "whoami"]), 1, "wrong password");
    assert_error(&t.run(Some("pw"), &["--account", "carol", "whoami"]), 1, "no account named \"carol\"");
    assert_error(&t.run(Some("pw"), &["account", "create", "alice"]), 1, "already exists");
    assert_error(&t.run(Some("pw"), &["account", "create", " "]), 1, "empty");

    // passwd
    let mut c = t.cli();
    c.env("WOCHAT_PASSWORD", "pw-a").env("WOCHAT_NEW_PASSWORD", "pw-a2");
    assert!(c.args(["account", "passwd", "alice"]).output().unwrap().status.success());
    assert_error(&t.run(Some("pw-a"), &["--account", "alice", "whoami"]), 1, "wrong password");
    assert!(t.run(Some("pw-a2"), &["--account", "alice", "whoami"]).status.success());

    // export, deactivate, import into another home
    let file = t.dir.path().join("alice.json");
    let o = t.run(Some("pw-a2"), &["account", "export", "alice", "--out", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.run(None, &["account", "deactivate", "alice"]).status.success());
    assert_eq!(stdout(&t.run(None, &["account", "list"])), format!("bob\t{bob}\n"));
    let other = TestHome::new();
    let o = other.run(Some("pw-a2"), &["account", "import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&other.run(None, &["account", "list"])), format!("alice\t{alice}\n"));
    assert_eq!(stdout(&other.run(Some("pw-a2"), &["--account", "alice", "whoami"])).trim(), alice);
}

#[test]
fn usage_errors_exit_2_and_no_password_is_an_error() {
    let t = TestHome::new();
    assert_eq!(t.run(None, &["account", "frobnicate"]).status.code(), Some(2));
    assert_eq!(t.run(None, &["--no-such-flag"]).status.code(), Some(2));
    create(&t, "alice", "pw");
    // No terminal, no env, no --password-stdin: a clear error, not a hang.
    let o = t.cli().args(["--account", "alice", "whoami"]).stdin(Stdio::null()).output().unwrap();
    assert_error(&o, 1, "WOCHAT_PASSWORD");
    assert_error(&t.run(Some("pw"), &["whoami"]), 1, "--account");
}

#[test]
fn friends_from_the_command_line() {
    let t = TestHome::new();
    create(&t, "alice", "pw");
    let bob = create(&t, "bob", "pw");
    let carol = create(&t, "carol", "pw");
    let a = |args: &[&str]| {
        let mut v = vec!["--account", "alice"];
        v.extend_from_slice(args);
        t.run(Some("pw"), &v)
    };
    assert!(a(&["friend", "add", &bob, "--name", "Bob"]).status.success());
    let link = format!("wochat:{carol}?name=Carol%20C");
    assert!(a(&["friend", "add", &link]).status.success());
    assert_eq!(stdout(&a(&["friend", "list"])), format!("{bob}\tBob\tactive\n{carol}\tCarol C\tactive\n"));
    assert!(a(&["friend", "block", &bob]).status.success());
    assert!(stdout(&a(&["friend", "list"])).contains(&format!("{bob}\tBob\tblocked")));
    assert!(a(&["friend", "unblock", &bob]).status.success());
    assert!(a(&["friend", "remove", &carol]).status.success());
    assert_eq!(stdout(&a(&["friend", "list"])), format!("{bob}\tBob\tactive\n"));
    let off_curve = format!("02{}", "ff".repeat(32));
    assert_error(&a(&["friend", "add", &off_curve]), 1, "not a valid secp256k1 public key");
    assert_error(&a(&["friend", "add", "hello"]), 1, "66 hexadecimal");
    assert_error(&a(&["friend", "remove", &carol]), 1, "not a friend");
}

#[test]
fn an_account_held_by_another_process_is_refused() {
    let t = TestHome::new();
    let addr = create(&t, "alice", "pw");
    let lock_path = t.home.lock_path(&addr.parse().unwrap());
    // This test process holds the OS lock, as an open window would.
    let held = AccountLock::acquire(&lock_path).unwrap();
    let o = t.run(Some("pw"), &["--account", "alice", "whoami"]);
    assert_error(&o, 1, "already open in another window");
    drop(held);
    assert!(t.run(Some("pw"), &["--account", "alice", "whoami"]).status.success());
}

#[test]
fn lock_is_released_when_the_holder_is_killed() {
    let t = TestHome::new();
    create(&t, "alice", "pw");
    // A process blocked on its password prompt (--password-stdin) holds the lock.
    let mut c = t.cli();
    c.env("WOCHAT_ACCOUNT", "alice").args(["--password-stdin", "friend", "list"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Wait until it holds the lock (the lock file is written once locked).
    let addr: wochat::crypto::Address =
        stdout(&t.run(None, &["account", "list"])).split('\t').nth(1).unwrap().trim().parse().unwrap();
    let lock_path = t.home.lock_path(&addr);
    let start = std::time::Instant::now();
    while AccountLock::acquire(&lock_path).is_ok() {
        assert!(start.elapsed().as_secs() < 20, "the child never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    AccountLock::acquire(&lock_path).expect("the OS released the lock of the killed process");
}

/// Two real processes on two accounts of one home, writing at the same time: no "database is
/// locked" and no lost row.
#[test]
fn two_processes_on_two_accounts_write_side_by_side() {
    let t = TestHome::new();
    create(&t, "alice", "pw");
    create(&t, "bob", "pw");
    const N: usize = 12;
    let friends: Vec<String> =
        (0..2 * N).map(|_| wochat::crypto::Identity::generate().unwrap().address().to_hex()).collect();
    std::thread::scope(|s| {
        for (who, chunk) in ["alice", "bob"].iter().zip(friends.chunks(N)) {
            let t = &t;
            s.spawn(move || {
                for (i, f) in chunk.iter().enumerate() {
                    // Writes to the shared wochat.db ...
                    let o = t.run(Some("pw"), &["account", "create", &format!("{who}-extra-{i}")]);
                    assert!(o.status.success(), "{}", stderr(&o));
                    // ... and to the account's own chat.db.
                    let o = t.run(Some("pw"), &["--account", who, "friend", "add", f, "--name", &format!("f{i}")]);
                    assert!(o.status.success(), "{}", stderr(&o));
                }
            });
        }
    });
    let accounts = stdout(&t.run(None, &["account", "list"]));
    assert_eq!(accounts.lines().count(), 2 + 2 * N);
    for (who, chunk) in ["alice", "bob"].iter().zip(friends.chunks(N)) {
        let list = stdout(&t.run(Some("pw"), &["--account", who, "friend", "list"]));
        assert_eq!(list.lines().count(), N, "{who}: {list}");
        for f in chunk {
            assert!(list.contains(f.as_str()));
        }
    }
}

#[test]
fn no_secret_on_disk_after_cli_use() {
    let t = TestHome::new();
    create(&t, "alice", "pw");
    let bob = create(&t, "bob", "pw");
    assert!(t.run(Some("pw"), &["--account", "alice", "friend", "add", &bob]).status.success());
    let keys = t.keys();
    for name in ["alice", "bob"] {
        let secret = *keys.login(name, b"pw").unwrap().secret_bytes();
        for needle in [secret.to_vec(), hex::encode(secret).into_bytes(), hex::encode_upper(secret).into_bytes()] {
            assert!(files_containing(t.root(), &needle).is_empty());
        }
    }
}
