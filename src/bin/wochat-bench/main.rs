//! `wochat-bench`: measures WoChat against its performance targets and prints the figures.
//!
//! `cargo run --release --bin wochat-bench -- SCENARIO [--json]`

mod backlog;
mod backup;
mod fanout;
mod file;
mod history;
mod messaging;
mod soak;
mod support;

use std::time::Instant;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use wochat::app::{LockedAccount, Protocol};
use wochat::crypto::password::{self, KdfParams};
use wochat::home::Home;
use wochat::store::KeyStore;

use crate::support::median_ms;

#[derive(Debug, Parser)]
#[command(about = "Measure WoChat against its performance targets")]
struct Args {
    /// What to measure.
    scenario: Scenario,
    /// Also print one JSON object with the figures.
    #[arg(long)]
    json: bool,
    /// (internal) data home, broker URL and peer address of a child process.
    #[arg(long, hide = true, num_args = 3)]
    child: Vec<String>,
    /// File size in MiB for `file` (default 256); all files' size for `backup` (default 1,024).
    #[arg(long)]
    mib: Option<u64>,
    /// Number of messages (default: 20,000 for `messaging`, 10,000 for `backlog`, 1,000,000
    /// for `history` and `backup`), or of accounts for `fanout` (default 1,000).
    #[arg(long)]
    count: Option<u64>,
    /// Minutes of `soak`.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Protocol(s) of `messaging` and `backlog`, each measured in turn (default: v1 and v2).
    #[arg(long, value_delimiter = ',', default_values = ["v1", "v2"])]
    protocol: Vec<ProtocolArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtocolArg {
    V1,
    V2,
}

/// The protocols asked for.
fn protocols(args: &Args) -> Vec<Protocol> {
    args.protocol.iter().map(|p| if matches!(p, ProtocolArg::V1) { Protocol::V1 } else { Protocol::V2 }).collect()
}

/// "v1" or "v2".
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::V1 => "v1",
        Protocol::V2 => "v2",
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// Login with the default Argon2id parameters, and everything else login does.
    Login,
    /// Thumbnail ladder of a 24-megapixel JPEG.
    Thumbs,
    /// 20,000 text messages alice to bob end to end, beside raw MQTT and the crypto cost;
    /// then latency at a steady 500 messages/s.
    Messaging,
    /// Bob offline while alice sends 10,000 messages; bob's catch-up time.
    Backlog,
    /// A 256 MiB file alice to bob through a mosquitto child process.
    File,
    /// A talk of 1,000,000 messages: open, page, search, bytes per message.
    History,
    /// 1,000 accounts' sessions on one mosquitto: connections, messages/s, the broker's memory
    /// (needs `ulimit -n` above twice the count).
    Fanout,
    /// Four accounts chatting and sending files for `--minutes` while the broker and the
    /// clients are killed at random; then every history is checked (exit 1 on any loss or
    /// duplicate).
    Soak,
    /// An account of 1,000,000 messages and 1 GiB of files backed up and restored: MB/s beside
    /// `cp -r` of the same bytes, and peak memory.
    Backup,
    /// (internal) one backup or restore of `backup`, in a process of its own.
    #[value(hide = true)]
    BackupWorker,
    /// (internal) a data home for measuring the app: `--child HOME x x`, `--count N`.
    #[value(hide = true)]
    GuiHome,
    /// (internal) the receiving process of `file`.
    #[value(hide = true)]
    FileReceiver,
    /// (internal) the sending process of `file`.
    #[value(hide = true)]
    FileSender,
}

fn main() -> Result<()> {
    let args = Args::parse();
    match args.scenario {
        Scenario::Login => login(args.json),
        Scenario::Thumbs => thumbs(args.json),
        Scenario::Messaging => messaging::run(args.json, args.count.unwrap_or(20_000), &protocols(&args)),
        Scenario::Backlog => {
            protocols(&args).into_iter().try_for_each(|p| backlog::run(args.json, args.count.unwrap_or(10_000), p))
        }
        Scenario::File => file::run(args.json, args.mib.unwrap_or(256)),
        Scenario::Backup => backup::run(args.json, args.count.unwrap_or(1_000_000), args.mib.unwrap_or(1024)),
        Scenario::BackupWorker => backup::worker(&args.child),
        Scenario::History => history::run(args.json, args.count.unwrap_or(1_000_000)),
        Scenario::Fanout => fanout::run(args.json, args.count.unwrap_or(1_000)),
        Scenario::Soak => soak::run(args.json, args.minutes),
        Scenario::GuiHome => history::make_gui_home(
            args.child.first().map(String::as_str).unwrap_or("gui-home"),
            args.count.unwrap_or(100_000),
        ),
        Scenario::FileReceiver => file::receiver(&args.child),
        Scenario::FileSender => file::sender(&args.child),
    }
}

/// Logs in 7 times; reports the median of the whole login and of its Argon2 part.
fn login(json: bool) -> Result<()> {
    let dir = support::tempfile_dir()?;
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
    let (login_ms, argon2_ms) = (median_ms(&total), median_ms(&kdf));
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

/// A 6000 x 4000 photo-like JPEG (smooth gradients with grain), quality 90; median of 5 runs.
fn thumbs(json: bool) -> Result<()> {
    use image::ImageEncoder;
    let (w, h) = (6000u32, 4000u32);
    let mut grain = vec![0u8; (w * h) as usize];
    for c in grain.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c)?;
    }
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let g = grain[(y * w + x) as usize] / 16;
        image::Rgb([(x * 200 / w) as u8 + g, (y * 200 / h) as u8 + g, ((x + y) * 100 / (w + h)) as u8 + g])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).write_image(
        img.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )?;
    let mut times = Vec::new();
    let mut preview_bytes = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        let t = wochat::media::make_thumbs(&jpeg)?;
        times.push(t0.elapsed());
        preview_bytes = t.preview.len();
    }
    let thumb_ms = median_ms(&times);
    println!(
        "thumbs: {thumb_ms:.1} ms for a {w}x{h} JPEG of {:.1} MB (preview {preview_bytes} bytes; target < 300 ms)",
        jpeg.len() as f64 / 1e6
    );
    if json {
        println!("{}", serde_json::json!({"scenario": "thumbs", "thumb_ms": thumb_ms, "preview_bytes": preview_bytes}));
    }
    Ok(())
}
