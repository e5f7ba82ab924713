//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod broker;
pub mod certs;
pub mod forge;
#[cfg(feature = "gui")]
pub mod gui;
pub mod images;
pub mod runner;
#[cfg(target_os = "linux")]
pub mod xvfb;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wochat::crypto::password::KdfParams;
use wochat::home::Home;
use wochat::store::KeyStore;

/// A temporary data home, deleted at the end of the test.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub home: Home,
}

impl TestHome {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(dir.path().join("home")).unwrap();
        Self { dir, home }
    }

    pub fn root(&self) -> &Path {
        self.home.root()
    }

    /// The key store with cheap Argon2 parameters (tests only).
    pub fn keys(&self) -> KeyStore {
        KeyStore::open(&self.home.keys_db_path()).unwrap().with_kdf(KdfParams::INSECURE_FAST)
    }

    /// A `wochat` command on this home (no password in the environment).
    pub fn cli(&self) -> Command {
        cli_on(&self.home)
    }

    /// Runs `wochat ARGS` with `password` in WOCHAT_PASSWORD.
    pub fn run(&self, password: Option<&str>, args: &[&str]) -> Output {
        run_on(&self.home, password, args)
    }
}

/// A `wochat` command on `home` (no password or account from the environment).
pub fn cli_on(home: &Home) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wochat"));
    c.env_remove("WOCHAT_PASSWORD")
        .env_remove("WOCHAT_NEW_PASSWORD")
        .env_remove("WOCHAT_ACCOUNT")
        .env_remove("WOCHAT_BROKER")
        .env("WOCHAT_HOME", home.root());
    c
}

/// Runs `wochat ARGS` on `home` with `password` in WOCHAT_PASSWORD.
pub fn run_on(home: &Home, password: Option<&str>, args: &[&str]) -> Output {
    let mut c = cli_on(home);
    if let Some(p) = password {
        c.env("WOCHAT_PASSWORD", p);
    }
    c.args(args).output().unwrap()
}

/// Standard output as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every regular file below `dir`.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

/// Files below `dir` that contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_below(dir).into_iter().filter(|p| std::fs::read(p).map(|b| contains(&b, needle)).unwrap_or(false)).collect()
}
