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
    /// (internal) data home, broker URL and peer address of a child process.
    #[arg(long, hide = true, num_args = 3)]
    child: Vec<String>,
    /// File size in MiB for `file`.
    #[arg(long, default_value_t = 256)]
    mib: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// Login with the default Argon2id parameters, and everything else login does.
    Login,
    /// Thumbnail ladder of a 24-megapixel JPEG.
    Thumbs,
    /// A 256 MiB file alice to bob through a mosquitto child process.
    File,
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
        Scenario::File => file::run(args.json, args.mib),
        Scenario::FileReceiver => file::receiver(&args.child),
        Scenario::FileSender => file::sender(&args.child),
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
    let thumb_ms = median(times);
    println!(
        "thumbs: {thumb_ms:.1} ms for a {w}x{h} JPEG of {:.1} MB (preview {preview_bytes} bytes; target < 300 ms)",
        jpeg.len() as f64 / 1e6
    );
    if json {
        println!("{}", serde_json::json!({"scenario": "thumbs", "thumb_ms": thumb_ms, "preview_bytes": preview_bytes}));
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut suffix = [0u8; 8];
    wochat::crypto::random_bytes(&mut suffix)?;
    Ok(std::env::temp_dir().join(format!("wochat-bench-{}", hex::encode(suffix))))
}

/// The `file` scenario: two processes (so each side's peak memory is its own) and a mosquitto.
mod file {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use anyhow::{Context, Result, bail};
    use wochat::app::{Account, Client, Event, MediaLimits, transport_config};
    use wochat::config::Config;
    use wochat::home::Home;
    use wochat::store::KeyStore;

    fn now_ms() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
    }

    /// Peak resident memory of this process, MiB (Linux: VmHWM).
    pub fn peak_rss_mb() -> f64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// A mosquitto child on a free port that does not drop QoS 1 messages.
    pub struct Mosquitto {
        child: std::process::Child,
        pub port: u16,
        _dir: std::path::PathBuf,
    }

    impl Mosquitto {
        pub fn start(dir: &std::path::Path) -> Result<Self> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let conf = dir.join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                     max_queued_messages 1000000\nmax_inflight_messages 0\nuser root\n"
                ),
            )?;
            let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
                .unwrap_or("mosquitto");
            let child = Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("mosquitto is needed (apt-get install mosquitto)")?;
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if start.elapsed() > Duration::from_secs(10) {
                    bail!("mosquitto did not start");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(Self { child, port, _dir: dir.to_path_buf() })
        }

        pub fn url(&self) -> String {
            format!("mqtt://127.0.0.1:{}", self.port)
        }
    }

    impl Drop for Mosquitto {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn run(json: bool, mib: u64) -> Result<()> {
        let dir = super::tempfile_dir()?;
        std::fs::create_dir_all(&dir)?;
        let broker = Mosquitto::start(&dir)?;
        let home = Home::open(dir.join("home"))?;
        let keys = KeyStore::open(&home.keys_db_path())?;
        let alice = keys.create("alice", b"pw")?;
        let bob = keys.create("bob", b"pw")?;
        drop(keys);
        let file = dir.join("payload.bin");
        {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..mib {
                wochat::crypto::random_bytes(&mut buf)?;
                f.write_all(&buf)?;
            }
        }
        let exe = std::env::current_exe()?;
        let spawn = |role: &str, peer: &str| {
            Command::new(&exe)
                .args([role, "--child", home.root().to_str().unwrap_or(""), &broker.url(), peer])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
        };
        let mut receiver = spawn("file-receiver", &alice.to_hex())?;
        let mut rx_lines = BufReader::new(receiver.stdout.take().context("stdout")?).lines();
        rx_lines.next().context("the receiver did not start")??; // "ready"
        let mut sender = spawn("file-sender", &bob.to_hex())?;
        let mut tx_lines = BufReader::new(sender.stdout.take().context("stdout")?).lines();
        let start: u128 = tx_lines.next().context("the sender did not start")??.trim().parse()?;
        let rx: serde_json::Value = serde_json::from_str(&rx_lines.next().context("the receiver failed")??)?;
        let tx: serde_json::Value = serde_json::from_str(&tx_lines.next().context("the sender failed")??)?;
        receiver.wait()?;
        sender.wait()?;
        let done = rx["done_at"].as_u64().unwrap_or(0) as u128;
        let secs = (done.saturating_sub(start)) as f64 / 1000.0;
        let e2e = mib as f64 / secs;
        let raw = raw_mqtt_mb_per_s(&broker.url(), mib)?;
        let (peak_tx, peak_rx) = (tx["peak_rss_mb"].as_f64().unwrap_or(0.0), rx["peak_rss_mb"].as_f64().unwrap_or(0.0));
        println!(
            "file: {mib} MiB end to end in {secs:.1} s = {e2e:.1} MB/s; raw MQTT {raw:.1} MB/s; ratio {:.2}; \
             peak RSS after login sender {peak_tx:.1} MiB, receiver {peak_rx:.1} MiB \
             (targets: ratio >= 0.5, peaks < 64 MiB)",
            e2e / raw
        );
        if json {
            println!(
                "{}",
                serde_json::json!({"scenario": "file", "mib": mib, "e2e_mb_per_s": e2e, "raw_mqtt_mb_per_s": raw,
                    "ratio": e2e / raw, "peak_rss_mb_sender": peak_tx, "peak_rss_mb_receiver": peak_rx})
            );
        }
        drop(broker);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// The same bytes as 64 KiB plaintext QoS 1 publishes, from one rumqttc client to another.
    fn raw_mqtt_mb_per_s(url: &str, mib: u64) -> Result<f64> {
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let u = wochat::transport::BrokerUrl::parse(url).map_err(anyhow::Error::msg)?;
            let mut so = rumqttc::MqttOptions::new("raw-sub", u.host.clone(), u.port);
            so.set_max_packet_size(1 << 20, 1 << 20);
            let (sub, mut sub_loop) = rumqttc::AsyncClient::new(so, 100);
            sub.subscribe("raw/bench", rumqttc::QoS::AtLeastOnce).await?;
            let n = mib * 16;
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let mut got = 0;
                let mut done_tx = Some(done_tx);
                while let Ok(ev) = sub_loop.poll().await {
                    if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(_)) = ev {
                        got += 1;
                        if got == n
                            && let Some(tx) = done_tx.take()
                        {
                            let _ = tx.send(Instant::now());
                        }
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut po = rumqttc::MqttOptions::new("raw-pub", u.host, u.port);
            po.set_max_packet_size(1 << 20, 1 << 20);
            let (publ, mut pub_loop) = rumqttc::AsyncClient::new(po, 100);
            tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
            let payload = vec![7u8; 65536];
            let t0 = Instant::now();
            for _ in 0..n {
                publ.publish("raw/bench", rumqttc::QoS::AtLeastOnce, false, payload.clone()).await?;
            }
            let end = tokio::time::timeout(Duration::from_secs(600), done_rx).await??;
            Ok(mib as f64 / (end - t0).as_secs_f64())
        })
    }

    fn child_client(
        args: &[String],
        name: &str,
    ) -> Result<(tokio::runtime::Runtime, Client, tokio::sync::mpsc::UnboundedReceiver<Event>, wochat::crypto::Address)>
    {
        let home = Home::open(&args[0])?;
        let keys = KeyStore::open(&home.keys_db_path())?;
        let account = Account::open(&home, &keys, name, b"pw")?;
        let peer: wochat::crypto::Address = args[2].parse()?;
        let mut config = Config::default();
        config.media.auto_download_mb = 4096;
        config.media.max_file_mb = 4096;
        let tcfg = transport_config(&config, &account.address(), std::slice::from_ref(&args[1]))?;
        // Login's Argon2 (64 MiB by design) is over and freed: measure the transfer's own peak.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let rt = tokio::runtime::Runtime::new()?;
        let (client, events) =
            rt.block_on(async { Client::start(account, tcfg, MediaLimits::from_config(&config)) })?;
        Ok((rt, client, events, peer))
    }

    pub fn receiver(args: &[String]) -> Result<()> {
        let (rt, client, mut events, _) = child_client(args, "bob")?;
        rt.block_on(async {
            while let Some(e) = events.recv().await {
                match e {
                    Event::Ready { .. } => println!("ready"),
                    Event::Transfer { state: 'C', .. } => break,
                    Event::Error { message } => eprintln!("receiver: {message}"),
                    _ => {}
                }
            }
            let done_at = now_ms();
            client.shutdown().await;
            println!("{}", serde_json::json!({"done_at": done_at as u64, "peak_rss_mb": peak_rss_mb()}));
        });
        Ok(())
    }

    pub fn sender(args: &[String]) -> Result<()> {
        let (rt, client, mut events, peer) = child_client(args, "alice")?;
        let home = std::path::Path::new(&args[0]);
        let file = home.parent().context("home")?.join("payload.bin");
        rt.block_on(async {
            while let Some(e) = events.recv().await {
                if matches!(e, Event::Ready { .. }) {
                    break;
                }
            }
            println!("{}", now_ms());
            let sent = client.send_file(peer, file, None, None).await?;
            while let Some(e) = events.recv().await {
                match e {
                    Event::Transfer { hash, state: 'C', .. } if hash == sent.file.to_hex() => break,
                    Event::Error { message } => eprintln!("sender: {message}"),
                    _ => {}
                }
            }
            client.shutdown().await;
            println!("{}", serde_json::json!({"peak_rss_mb": peak_rss_mb()}));
            anyhow::Ok(())
        })
    }
}
