//! The real window, on a virtual X server (Xvfb): it opens even when the first renderer fails,
//! and a forced renderer is used alone. `.ci/run` installs Xvfb and Mesa's GL drivers.
#![cfg(all(feature = "gui", target_os = "linux"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::TestHome;
use common::xvfb::{Xvfb, colours};

/// The app on `display` with `env`, until its window is open (or it gives up): every line it
/// wrote to stderr by then. The app is stopped afterwards.
fn open_window(t: &TestHome, display: &str, env: &[(&str, &str)]) -> Vec<String> {
    open_window_of(Path::new(env!("CARGO_BIN_EXE_wochat")), t, display, env, || {})
}

/// [`open_window`] of the program at `exe`, calling `while_open` once its window is up.
fn open_window_of(
    exe: &Path,
    t: &TestHome,
    display: &str,
    env: &[(&str, &str)],
    while_open: impl FnOnce(),
) -> Vec<String> {
    let mut cmd = Command::new(exe);
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
            while_open();
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

#[test]
#[ignore = "needs the .deb installed: scripts/check-deb"]
fn the_installed_package_opens_its_window() {
    let exe = PathBuf::from(std::env::var_os("WOCHAT_INSTALLED").unwrap_or_else(|| "/usr/bin/wochat".into()));
    let x = Xvfb::start();
    let t = TestHome::new();
    let shot = std::env::var_os("WOCHAT_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|| t.root().join("deb.png"));
    let mut screen = None;
    let lines = open_window_of(&exe, &t, &x.display, &[], || {
        std::thread::sleep(Duration::from_secs(2));
        screen = Some(x.save_screenshot(&shot));
    });
    let screen = screen.unwrap_or_else(|| panic!("the window did not open: {lines:?}"));
    println!("{lines:?}; screenshot: {}", shot.display());
    assert!(colours(&screen) > 50, "the screen is blank: {lines:?}");
}
