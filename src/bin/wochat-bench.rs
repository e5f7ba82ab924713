//! `wochat-bench`: measures WoChat against its performance targets and prints the figures.
//!
//! `cargo run --release --bin wochat-bench -- SCENARIO [--json]`

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, ValueEnum};
use wochat::app::LockedAccount;
use wochat::crypto::password::{self, KdfParams};
use wochat::home::Home;
use wochat::store::KeyStore;

#[derive(Debug, Parser)]
#[command(about = "Measure WoChat against its performance targets")]
struct Args {
    /// What to measure.
    scenario: Scenario,
    /// Also print one JSON object with the figures.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// Login with the default Argon2id parameters, and everything else login does.
    Login,
}

fn main() -> Result<()> {
    let args = Args::parse();
    match args.scenario {
        Scenario::Login => login(args.json),
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// Logs in 7 times; reports the median of the whole login and of its Argon2 part.
fn login(json: bool) -> Result<()> {
    let dir = tempfile_dir()?;
    let home = Home::open(&dir)?;
    let keys = KeyStore::open(&home.keys_db_path())?;
    keys.create("bench", b"correct horse battery staple")?;
    let (mut total, mut kdf) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t0 = Instant::now();
        let account = LockedAccount::lock(&home, &keys, "bench")?.login(&keys, b"correct horse battery staple")?;
        total.push(t0.elapsed());
        drop(account);
        let t1 = Instant::now();
        password::derive(b"correct horse battery staple", &[7u8; 16], KdfParams::DEFAULT)?;
        kdf.push(t1.elapsed());
    }
    let (login_ms, argon2_ms) = (median(total), median(kdf));
    let other_ms = (login_ms - argon2_ms).max(0.0);
    println!(
        "login: {login_ms:.1} ms (Argon2id m=64MiB t=3 p=1: {argon2_ms:.1} ms; everything else: {other_ms:.1} ms)"
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "login", "login_ms": login_ms, "argon2_ms": argon2_ms, "other_ms": other_ms})
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut suffix = [0u8; 8];
    wochat::crypto::random_bytes(&mut suffix)?;
    Ok(std::env::temp_dir().join(format!("wochat-bench-{}", hex::encode(suffix))))
}
