//! The Windows build (x86_64-pc-windows-gnu) under Wine: its CLI chats with a Linux client
//! through mosquitto (Chinese text both ways, a file, the account lock), and its window opens
//! with default settings on a virtual X server (screenshot not blank).
//!
//! Ignored in a plain `cargo test`: `scripts/wine-smoke` cross-builds the .exe, prepares a Wine
//! prefix (with a test-only `bcryptprimitives.dll` that Wine 8 lacks, tests/wine/) and runs
//! these with `WOCHAT_WINDOWS_EXE` and `WINEPREFIX` set. CI runs it.
#![cfg(all(feature = "gui", target_os = "linux"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::broker::Mosquitto;
use common::runner::{Runner, create, event};
use common::xvfb::{Xvfb, colours};
use common::{TestHome, stderr, stdout};
use serde_json::json;

/// The .exe under test.
fn exe() -> PathBuf {
    PathBuf::from(std::env::var_os("WOCHAT_WINDOWS_EXE").expect("WOCHAT_WINDOWS_EXE names the .exe"))
}

/// `path` as the Windows program sees it (Wine maps drive Z: to /).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// `wochat.exe` under Wine on `home`, with nothing of the test's environment that names an
/// account or a password.
fn wine(home: &TestHome) -> Command {
    let mut c = Command::new("wine");
    c.arg(exe())
        .env("WINEDEBUG", "-all")
        .env("WOCHAT_HOME", windows_path(home.root()))
        .env_remove("WOCHAT_PASSWORD")
        .env_remove("WOCHAT_ACCOUNT")
        .env_remove("WOCHAT_BROKER")
        .env_remove("WOCHAT_RENDERER");
    c
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/wine-smoke"]
fn the_windows_build_chats_with_a_linux_client_through_mosquitto() {
    let broker = Mosquitto::start();
    let (linux, windows) = (TestHome::new(), TestHome::new());
    let alice = create(&linux, "alice");
    let o = wine(&windows).env("WOCHAT_PASSWORD", "pw").args(["account", "create", "wang"]).output().unwrap();
    assert!(o.status.success(), "account create under Wine: {}", stderr(&o));
    let wang = stdout(&o).trim().to_string();
    assert_eq!(wang.len(), 66, "{wang:?}");
    let o = wine(&windows)
        .env("WOCHAT_PASSWORD", "pw")
        .args(["--account", "wang", "friend", "add", &alice, "--name", "Alice"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = linux.run(Some("pw"), &["--account", "alice", "friend", "add", &wang, "--name", "王先生"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut cmd = wine(&windows);
    cmd.env("WOCHAT_PASSWORD", "pw").env(wochat::app::TEST_TIMERS_ENV, "fast").args([
        "--account",
        "wang",
        "--broker",
        &broker.url(),
        "run",
        "--json",
    ]);
    let mut win = Runner::spawn(cmd);
    let mut lin = Runner::start(&linux, "alice", &broker.url());
    win.wait(120, "the Windows client is ready", |v| event(v) == "ready");
    lin.wait(60, "the Linux client is ready", |v| event(v) == "ready");

    // The account lock holds on Windows too: a second process is refused.
    let o = wine(&windows).env("WOCHAT_PASSWORD", "pw").args(["--account", "wang", "whoami"]).output().unwrap();
    assert!(!o.status.success(), "a second process opened the account");
    assert!(stderr(&o).contains("already open in another window"), "{}", stderr(&o));

    // Chinese text both ways.
    let hello = "你好，王先生！Hello from Linux 🐧";
    lin.send(&json!({"cmd": "send", "to": wang, "text": hello}).to_string());
    win.wait(60, "the text from Linux", |v| event(v) == "message" && v["text"] == hello);
    let reply = "你好 Alice，来自 Windows 的问候";
    win.send(&json!({"cmd": "send", "to": alice, "text": reply}).to_string());
    lin.wait(60, "the text from Windows", |v| event(v) == "message" && v["text"] == reply);

    // A 300 KB file from Windows, whole on Linux.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let file = windows.root().join("报告 report.bin");
    std::fs::write(&file, &data).unwrap();
    win.send(&json!({"cmd": "send_file", "to": alice, "path": windows_path(&file)}).to_string());
    let done = lin.wait(120, "the file arrives", |v| event(v) == "transfer" && v["state"] == "C");
    let hash = done["hash"].as_str().unwrap().to_string();
    win.wait(60, "Windows sees the receipt", |v| {
        event(v) == "transfer" && v["hash"] == hash.as_str() && v["state"] == "C"
    });
    win.send(r#"{"cmd":"quit"}"#);
    assert_eq!(win.wait_exit(60), 0, "the Windows client quits cleanly");
    lin.send(r#"{"cmd":"quit"}"#);
    lin.wait_exit(30);
    let out = tempfile::tempdir().unwrap();
    let o = linux
        .run(Some("pw"), &["--account", "alice", "object", "export", &hash, "--out", out.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(stdout(&o).trim()).unwrap(), data, "the file arrives byte for byte");
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/wine-smoke"]
fn the_windows_window_opens_with_default_settings() {
    let x = Xvfb::start();
    let home = TestHome::new();
    // Wine's desktop process starts with the first program of a prefix and keeps its display:
    // one started without $DISPLAY (by the CLI test) would leave every window without a driver.
    let _ = Command::new("wineserver").arg("-k").status();
    let _ = Command::new("wineserver").arg("-w").status();
    let mut app = wine(&home).env("DISPLAY", &x.display).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = app.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        let open = line.contains("window open, renderer");
        lines.push(line);
        if open {
            break;
        }
    }
    assert!(lines.iter().any(|l| l.contains("window open, renderer")), "the window did not open: {lines:?}");
    // Drawn for a few frames, still running.
    std::thread::sleep(Duration::from_secs(3));
    assert!(app.try_wait().unwrap().is_none(), "the app stopped: {lines:?}");
    let shot = std::env::var_os("WOCHAT_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|| home.root().join("wine.png"));
    let img = x.save_screenshot(&shot);
    let _ = app.kill();
    let _ = app.wait();
    println!("renderers: {lines:?}; screenshot: {}", shot.display());
    assert!(colours(&img) > 50, "the screen is blank ({} colours): {lines:?}", colours(&img));
}
