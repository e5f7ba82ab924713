//! The `file` scenario: two processes (so each side's peak memory is its own) and a mosquitto.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use wochat::app::{Account, Client, Event};
use wochat::config::Config;
use wochat::home::Home;
use wochat::store::KeyStore;
use wochat::store::TransferState;

use crate::support::{self, Mosquitto, now_ms, peak_rss_mb};

pub fn run(json: bool, mib: u64) -> Result<()> {
    let dir = support::tempfile_dir()?;
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
    let raw = mib as f64 / support::raw_mqtt_secs(&broker.url(), mib * 16, 65536)?;
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

fn child_client(
    args: &[String],
    name: &str,
) -> Result<(tokio::runtime::Runtime, Client, tokio::sync::mpsc::UnboundedReceiver<Event>, wochat::crypto::Address)> {
    let home = Home::open(&args[0])?;
    let keys = KeyStore::open(&home.keys_db_path())?;
    let mut account = Account::open(&home, &keys, name, b"pw")?;
    let peer: wochat::crypto::Address = args[2].parse()?;
    // Friends: a stranger's file waits for the receiver to accept it (message requests).
    account.chat.upsert_friend(&peer, "peer")?;
    let mut config = Config::default();
    config.media.auto_download_mb = 4096;
    config.media.max_file_mb = 4096;
    config.broker.embedded = wochat::config::EmbeddedBroker::Off;
    // Login's Argon2 (64 MiB by design) is over and freed: measure the transfer's own peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rt = tokio::runtime::Runtime::new()?;
    let started = rt.block_on(async { Client::start_from_config(account, &config, std::slice::from_ref(&args[1])) })?;
    Ok((rt, started.client, started.events, peer))
}

pub fn receiver(args: &[String]) -> Result<()> {
    let (rt, client, mut events, _) = child_client(args, "bob")?;
    rt.block_on(async {
        while let Some(e) = events.recv().await {
            match e {
                Event::Ready { .. } => println!("ready"),
                Event::Transfer { state: TransferState::Complete, .. } => break,
                Event::Error(e) => eprintln!("receiver: {e}"),
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
                Event::Transfer { file, state: TransferState::Complete, .. } if file == sent.file => break,
                Event::Error(e) => eprintln!("sender: {e}"),
                _ => {}
            }
        }
        client.shutdown().await;
        println!("{}", serde_json::json!({"peak_rss_mb": peak_rss_mb()}));
        anyhow::Ok(())
    })
}
