//! `wochat run --json` children driven through stdin, for tests that need the real binary.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestHome;

/// A `wochat run --json` child with its stdout as a stream of JSON values.
pub struct Runner {
    /// The process.
    pub child: Child,
    /// Its standard input (JSON commands), `None` once closed.
    pub stdin: Option<ChildStdin>,
    /// Its output, one JSON value a line.
    pub lines: Receiver<Value>,
}

impl Runner {
    /// Starts `wochat --account ACCOUNT --broker URL run --json` on `home`.
    pub fn start(home: &TestHome, account: &str, url: &str) -> Self {
        Self::start_with(home, account, url, &[])
    }

    /// [`Runner::start`] with more environment variables.
    pub fn start_with(home: &TestHome, account: &str, url: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = home.cli();
        cmd.envs(env.iter().copied())
            .env("WOCHAT_PASSWORD", "pw")
            // Unconfirmed messages go again after 1 s and silent files ask after 1 s (not 30 s
            // and 10 s): what a SIGKILL loses comes back sooner.
            .env(wochat::app::TEST_TIMERS_ENV, "fast")
            .args(["--account", account, "--broker", url, "run", "--json"]);
        Self::spawn(cmd)
    }

    /// Runs `cmd` (a `run --json` of some build of wochat) with its stdin and stdout piped.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
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

    /// Writes one command line.
    pub fn send(&mut self, v: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits up to `secs` for a line matching `pred`.
    pub fn wait(&self, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
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

    /// Sends a signal (`-KILL`, `-TERM`).
    pub fn signal(&self, sig: &str) {
        Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
    }

    /// Waits for the process to end; its exit code.
    pub fn wait_exit(&mut self, secs: u64) -> i32 {
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

/// The `event` name of a JSON line.
pub fn event(v: &Value) -> &str {
    v["event"].as_str().unwrap_or("")
}

/// Creates an account named `name` (password `pw`); returns its address.
pub fn create(home: &TestHome, name: &str) -> String {
    let o = home.run(Some("pw"), &["account", "create", name]);
    assert!(o.status.success());
    super::stdout(&o).trim().to_string()
}

/// Creates alice and bob, friends of each other; returns their addresses.
pub fn alice_and_bob(home: &TestHome) -> (String, String) {
    let (alice, bob) = (create(home, "alice"), create(home, "bob"));
    for (who, other, name) in [("alice", &bob, "Bob"), ("bob", &alice, "Alice")] {
        let o = home.run(Some("pw"), &["--account", who, "friend", "add", other, "--name", name]);
        assert!(o.status.success(), "{}", super::stderr(&o));
    }
    (alice, bob)
}
