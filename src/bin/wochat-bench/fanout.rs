//! The `fanout` scenario: how many accounts one Mosquitto carries. `--count` accounts (default
//! 1,000) each hold a persistent session subscribed to their own topic, as WoChat clients do;
//! every account then sends envelope-sized messages (600 bytes) to others at random, then half
//! go offline while the rest write to them. Measured: connection time, delivered messages per
//! second, and the broker's resident memory idle, after the traffic, and with the queues of
//! the offline half.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use crate::support::Mosquitto;

/// Bytes of each message: a padded envelope of a short text.
const PAYLOAD: usize = 600;
/// Messages each account sends in the online phase.
const PER_ACCOUNT: u64 = 20;
/// Messages each online account sends to the offline half.
const TO_OFFLINE: u64 = 10;

/// Runs the scenario with `accounts` sessions.
pub fn run(json: bool, accounts: u64) -> Result<()> {
    let dir = crate::support::tempfile_dir()?;
    std::fs::create_dir_all(&dir)?;
    let broker = Mosquitto::start(&dir)?;
    let rt = tokio::runtime::Runtime::new()?;
    let figures = rt.block_on(measure(&broker, accounts as usize))?;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "fanout: {accounts} sessions on one mosquitto: connected and subscribed in {:.2} s; broker RSS {:.1} MiB idle; \
         {} messages of {PAYLOAD} B at {:.0} msgs/s delivered (RSS {:.1} MiB after); half offline, {} queued for them: \
         RSS {:.1} MiB",
        figures.connect_s,
        figures.rss_idle_mb,
        figures.online_msgs,
        figures.online_rate,
        figures.rss_after_mb,
        figures.queued,
        figures.rss_queued_mb
    );
    if json {
        println!(
            "{}",
            serde_json::json!({
                "scenario": "fanout", "accounts": accounts, "connect_s": figures.connect_s,
                "rss_idle_mb": figures.rss_idle_mb, "messages": figures.online_msgs,
                "msgs_per_s": figures.online_rate, "rss_after_mb": figures.rss_after_mb,
                "queued": figures.queued, "rss_queued_mb": figures.rss_queued_mb
            })
        );
    }
    Ok(())
}

struct Figures {
    connect_s: f64,
    rss_idle_mb: f64,
    online_msgs: u64,
    online_rate: f64,
    rss_after_mb: f64,
    queued: u64,
    rss_queued_mb: f64,
}

/// One simulated account: its client and the count of what it received.
struct Session {
    client: AsyncClient,
    topic: String,
    task: tokio::task::JoinHandle<()>,
}

async fn connect(port: u16, i: usize, received: Arc<AtomicU64>, subscribed: Arc<AtomicU64>) -> Result<Session> {
    let topic = format!("{i:066x}");
    let mut o = MqttOptions::new(format!("wfanout{i}"), "127.0.0.1", port);
    o.set_clean_session(false).set_keep_alive(Duration::from_secs(60)).set_inflight(100);
    let (client, eventloop) = AsyncClient::new(o, 100);
    client.subscribe(topic.clone(), QoS::AtLeastOnce).await?;
    let task = tokio::spawn(drive(eventloop, received, subscribed));
    Ok(Session { client, topic, task })
}

async fn drive(mut eventloop: EventLoop, received: Arc<AtomicU64>, subscribed: Arc<AtomicU64>) {
    while let Ok(ev) = eventloop.poll().await {
        match ev {
            Event::Incoming(Packet::Publish(_)) => {
                received.fetch_add(1, Ordering::Relaxed);
            }
            Event::Incoming(Packet::SubAck(_)) => {
                subscribed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Waits until `counter` reaches `want` (or `limit` passes); when it did.
async fn until(counter: &AtomicU64, want: u64, limit: Duration) -> Result<Instant> {
    let start = Instant::now();
    while counter.load(Ordering::Relaxed) < want {
        anyhow::ensure!(start.elapsed() < limit, "only {} of {want} after {limit:?}", counter.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Instant::now())
}

async fn measure(broker: &Mosquitto, n: usize) -> Result<Figures> {
    let received = Arc::new(AtomicU64::new(0));
    let subscribed = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        sessions.push(connect(broker.port, i, received.clone(), subscribed.clone()).await?);
    }
    until(&subscribed, n as u64, Duration::from_secs(120)).await.context("subscribing")?;
    let connect_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle_mb = broker.rss_mb();

    // Everyone online: each sends PER_ACCOUNT messages to others (a fixed spread).
    let payload = bytes::Bytes::from(vec![0x5a; PAYLOAD]);
    let online_msgs = n as u64 * PER_ACCOUNT;
    let t1 = Instant::now();
    for k in 0..PER_ACCOUNT as usize {
        for (i, s) in sessions.iter().enumerate() {
            let to = &sessions[(i * 7 + k * 13 + 1) % n].topic;
            s.client.publish_bytes(to.clone(), QoS::AtLeastOnce, false, payload.clone()).await?;
        }
    }
    let done = until(&received, online_msgs, Duration::from_secs(600)).await.context("delivering")?;
    let online_rate = online_msgs as f64 / (done - t1).as_secs_f64();
    let rss_after_mb = broker.rss_mb();

    // The second half goes offline (sessions kept); the first half writes to it.
    let half = n / 2;
    for s in sessions.drain(half..) {
        let _ = s.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        s.task.abort();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = received.load(Ordering::Relaxed);
    for k in 0..TO_OFFLINE as usize {
        for (i, s) in sessions.iter().enumerate() {
            let to = format!("{:066x}", half + (i + k * 31) % (n - half));
            s.client.publish_bytes(to, QoS::AtLeastOnce, false, payload.clone()).await?;
        }
    }
    let queued = half as u64 * TO_OFFLINE;
    tokio::time::sleep(Duration::from_secs(2)).await;
    anyhow::ensure!(received.load(Ordering::Relaxed) == before, "the offline half received messages");
    let rss_queued_mb = broker.rss_mb();
    for s in sessions {
        let _ = s.client.disconnect().await;
        s.task.abort();
    }
    Ok(Figures { connect_s, rss_idle_mb, online_msgs, online_rate, rss_after_mb, queued, rss_queued_mb })
}
