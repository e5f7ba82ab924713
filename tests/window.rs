//! The real window, on a virtual X server (Xvfb): it opens even when the first renderer fails,
//! and a forced renderer is used alone. `.ci/run` installs Xvfb and Mesa's GL drivers.
#![cfg(all(feature = "gui", target_os = "linux"))]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::TestHome;

/// An Xvfb server on a display number it chose itself; stopped when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is needed for the window tests (apt-get install xvfb)");
        // It writes the display number once it accepts connections.
        let mut number = String::new();
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb did not start");
        Self { child, display: format!(":{}", number.trim()) }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app on `display` with `env`, until its window is open (or it gives up): every line it
/// wrote to stderr by then. The app is stopped afterwards.
fn open_window(t: &TestHome, display: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wochat"));
    cmd.env("WOCHAT_HOME", t.root())
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WOCHAT_RENDERER")
        .env_remove("WOCHAT_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut app = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = app.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(90)) {
        let open = line.contains("window open");
        lines.push(line);
        if open {
            // Still running a moment later: the window is up, not failing.
            std::thread::sleep(Duration::from_millis(500));
            assert!(app.try_wait().unwrap().is_none(), "the app stopped after opening: {lines:?}");
            break;
        }
    }
    let _ = app.kill();
    let _ = app.wait();
    lines
}

#[test]
fn the_window_opens_on_the_next_renderer_when_the_first_fails() {
    let x = Xvfb::start();
    let t = TestHome::new();
    let lines = open_window(&t, &x.display, &[("WOCHAT_FAULT", "renderer-fails")]);
    assert!(
        lines.first().is_some_and(|l| l.contains("renderer wgpu (primary backend) failed")),
        "the first choice failed and said so: {lines:?}"
    );
    let opened = lines.iter().find(|l| l.contains("window open, renderer")).expect("the window opened");
    assert!(!opened.contains("primary backend"), "on another renderer: {opened}");
}

#[test]
fn a_forced_renderer_is_used_alone() {
    let x = Xvfb::start();
    let t = TestHome::new();
    let lines = open_window(&t, &x.display, &[("WOCHAT_RENDERER", "glow")]);
    assert_eq!(lines, ["wochat: window open, renderer glow (OpenGL)"]);
}
