//! The `soak` scenario: four accounts (`wochat run --json` processes) chat and send files
//! through a Mosquitto for N minutes while the broker is killed and restarted without its
//! state and clients are killed (SIGKILL) and restarted at random. Then everything is given
//! time to arrive, and the histories are read back: every message the senders stored is in
//! both histories exactly once and confirmed, and every file verifies.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::support::Mosquitto;

const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
const PASSWORD: &str = "soak-password";

/// A JSON line of the runner with this index.
type Line = (usize, Value);

/// A small deterministic generator (xorshift64*): the run can be repeated with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One `wochat run --json` child; its output lines go to the shared channel with its index.
struct Runner {
    child: Child,
    stdin: ChildStdin,
}

struct Soak {
    wochat: PathBuf,
    home: PathBuf,
    url: String,
    addresses: Vec<String>,
    events: Sender<Line>,
}

impl Soak {
    fn cli(&self, account: Option<&str>) -> Command {
        let mut c = Command::new(&self.wochat);
        c.arg("--home").arg(&self.home).env("WOCHAT_PASSWORD", PASSWORD);
        if let Some(a) = account {
            c.args(["--account", a]);
        }
        c
    }

    fn start(&self, i: usize) -> Result<Runner> {
        let mut child = self
            .cli(Some(NAMES[i]))
            .env("WOCHAT_TEST_TIMERS", "fast")
            .args(["--broker", &self.url, "run", "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let events = self.events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && events.send((i, v)).is_err()
                {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().context("stdin")?;
        Ok(Runner { child, stdin })
    }
}

/// What the run did and found.
#[derive(Default)]
struct Tally {
    texts: u64,
    files: u64,
    client_kills: u64,
    broker_restarts: u64,
    /// Own messages stored by their sender: hash -> (from, to).
    stored: HashMap<String, (usize, usize)>,
    confirmed: HashSet<String>,
}

impl Tally {
    fn take(&mut self, i: usize, v: &Value, addresses: &[String]) {
        match v["event"].as_str() {
            Some("message") if v["dir"] == "out" => {
                let to = addresses.iter().position(|a| v["to"] == a.as_str());
                if let (Some(hash), Some(to)) = (v["hash"].as_str(), to) {
                    self.stored.insert(hash.to_string(), (i, to));
                }
            }
            Some("status") if v["stat"] == "C" => {
                if let Some(h) = v["hash"].as_str() {
                    self.confirmed.insert(h.to_string());
                }
            }
            _ => {}
        }
    }
}

/// Runs the scenario for `minutes`.
pub fn run(json_out: bool, minutes: f64) -> Result<()> {
    let dir = crate::support::tempfile_dir()?;
    std::fs::create_dir_all(dir.join("files"))?;
    let result = soak(&dir, minutes);
    let _ = std::fs::remove_dir_all(&dir);
    let (tally, verified) = result?;
    println!(
        "soak: {minutes} min, 4 accounts: {} texts and {} files sent, {} messages stored by their senders, {} client \
         kills, {} broker restarts without state; every message in both histories exactly once and confirmed, \
         {verified} files verified",
        tally.texts,
        tally.files,
        tally.stored.len(),
        tally.client_kills,
        tally.broker_restarts
    );
    if json_out {
        println!(
            "{}",
            json!({
                "scenario": "soak", "minutes": minutes, "messages": tally.stored.len(), "texts": tally.texts,
                "files": tally.files, "client_kills": tally.client_kills,
                "broker_restarts": tally.broker_restarts, "files_verified": verified
            })
        );
    }
    Ok(())
}

fn soak(dir: &Path, minutes: f64) -> Result<(Tally, u64)> {
    let wochat = std::env::current_exe()?.with_file_name(format!("wochat{}", std::env::consts::EXE_SUFFIX));
    ensure!(wochat.exists(), "{} is needed (cargo build --bins)", wochat.display());
    let mut broker = Mosquitto::start(dir)?;
    let (events, rx): (Sender<Line>, Receiver<Line>) = channel();
    let mut s = Soak { wochat, home: dir.join("home"), url: broker.url(), addresses: Vec::new(), events };
    for name in NAMES {
        let o = s.cli(None).args(["account", "create", name]).output()?;
        ensure!(o.status.success(), "account create: {}", String::from_utf8_lossy(&o.stderr));
        s.addresses.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    for (i, name) in NAMES.iter().enumerate() {
        for (j, other) in NAMES.iter().enumerate().filter(|(j, _)| *j != i) {
            let o = s.cli(Some(name)).args(["friend", "add", &s.addresses[j], "--name", other]).output()?;
            ensure!(o.status.success(), "friend add: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let mut runners: Vec<Option<Runner>> = (0..4).map(|i| s.start(i).map(Some)).collect::<Result<_>>()?;
    let mut rng = Rng(0x5eed_0000 ^ u64::from(std::process::id()) | 1);
    let mut tally = Tally::default();
    let mut restart_at: Vec<Option<Instant>> = vec![None; 4];
    let (mut last_kill, mut last_broker) = (Instant::now(), Instant::now());
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let mut n = 0u64;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        while let Ok((i, v)) = rx.try_recv() {
            tally.take(i, &v, &s.addresses);
        }
        for i in 0..4 {
            if restart_at[i].is_some_and(|t| Instant::now() >= t) {
                runners[i] = Some(s.start(i)?);
                restart_at[i] = None;
            }
        }
        let roll = rng.below(100);
        let (from, to) = (rng.below(4) as usize, rng.below(3) as usize);
        let to = if to >= from { to + 1 } else { to };
        if roll < 85 {
            if let Some(r) = runners[from].as_mut() {
                n += 1;
                let line = json!({"cmd": "send", "to": s.addresses[to], "text": format!("soak {n}")});
                if writeln!(r.stdin, "{line}").is_ok() {
                    tally.texts += 1;
                }
            }
        } else if roll < 90 {
            if let Some(r) = runners[from].as_mut() {
                n += 1;
                let path = dir.join("files").join(format!("file-{n}.bin"));
                let mut data = vec![0u8; 64 * 1024 + rng.below(400 * 1024) as usize];
                wochat::crypto::random_bytes(&mut data)?;
                std::fs::write(&path, &data)?;
                let line =
                    json!({"cmd": "send_file", "to": s.addresses[to], "path": path, "text": format!("file {n}")});
                if writeln!(r.stdin, "{line}").is_ok() {
                    tally.files += 1;
                }
            }
        } else if roll < 97 && last_kill.elapsed() > Duration::from_secs(3) {
            if let Some(mut r) = runners[from].take() {
                let _ = r.child.kill();
                let _ = r.child.wait();
                tally.client_kills += 1;
                last_kill = Instant::now();
                restart_at[from] = Some(Instant::now() + Duration::from_millis(500 + rng.below(2500)));
            }
        } else if last_broker.elapsed() > Duration::from_secs(10) {
            broker.restart()?;
            tally.broker_restarts += 1;
            last_broker = Instant::now();
        }
    }

    // Quiet: everyone back, until every stored message is confirmed (or long enough).
    for (i, r) in runners.iter_mut().enumerate() {
        if r.is_none() {
            *r = Some(s.start(i)?);
        }
    }
    let settle = Instant::now();
    loop {
        while let Ok((i, v)) = rx.recv_timeout(Duration::from_millis(200)) {
            tally.take(i, &v, &s.addresses);
        }
        let open = tally.stored.keys().filter(|h| !tally.confirmed.contains(*h)).count();
        if open == 0 || settle.elapsed() > Duration::from_secs(240) {
            break;
        }
    }
    for r in runners.iter_mut().flatten() {
        let _ = writeln!(r.stdin, "{}", json!({"cmd": "quit"}));
    }
    for r in runners.iter_mut().flatten() {
        let _ = r.child.wait();
    }
    let verified = check(&s, &tally)?;
    Ok((tally, verified))
}

/// Reads every history back: each message the sender stored is in the sender's history once,
/// confirmed, and in the recipient's once; nothing else is there twice; every file verifies.
fn check(s: &Soak, tally: &Tally) -> Result<u64> {
    let mut files = 0;
    for (i, name) in NAMES.iter().enumerate() {
        for j in (0..4).filter(|j| *j != i) {
            let o = s.cli(Some(name)).args(["history", &s.addresses[j], "--json"]).output()?;
            ensure!(o.status.success(), "history: {}", String::from_utf8_lossy(&o.stderr));
            let rows: Vec<Value> =
                String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
            let (mut seen, mut texts) = (HashSet::new(), HashSet::new());
            for r in &rows {
                let hash = r["hash"].as_str().unwrap_or_default().to_string();
                ensure!(seen.insert(hash.clone()), "{name}: {hash} twice in the history with {}", NAMES[j]);
                // Every text of the run is different: one twice is a message stored twice.
                if let Some(t) = r["text"].as_str() {
                    ensure!(texts.insert(t.to_string()), "{name}: {t:?} twice in the history with {}", NAMES[j]);
                }
                if r["dir"] == "out" {
                    ensure!(r["stat"] == "C", "{name}: {hash} to {} is {} after the quiet period", NAMES[j], r["stat"]);
                } else if let Some(obj) = r.get("obj").filter(|o| !o.is_null()) {
                    ensure!(
                        obj["complete"] == true,
                        "{name}: the file {} from {} is incomplete",
                        obj["name"],
                        NAMES[j]
                    );
                    files += 1;
                }
            }
            for (hash, (from, to)) in &tally.stored {
                if (*from == i && *to == j) || (*from == j && *to == i) {
                    ensure!(seen.contains(hash), "{name}: {hash} missing from the history with {}", NAMES[j]);
                }
            }
        }
        let o = s.cli(Some(name)).args(["object", "verify"]).output()?;
        if !o.status.success() {
            bail!("{name}: object verify: {}", String::from_utf8_lossy(&o.stdout));
        }
    }
    Ok(files)
}
