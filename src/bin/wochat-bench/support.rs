//! What every scenario needs: a mosquitto child, temporary homes, memory and raw MQTT figures.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wochat::store::MessageStatus;
use wochat::wire::MessageHash;

/// Milliseconds since the Unix epoch (comparable across processes).
pub fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// A fresh directory name under the system's temporary directory.
pub fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut suffix = [0u8; 8];
    wochat::crypto::random_bytes(&mut suffix)?;
    Ok(std::env::temp_dir().join(format!("wochat-bench-{}", hex::encode(suffix))))
}

/// Median of `v`, in milliseconds.
pub fn median_ms(v: &[Duration]) -> f64 {
    percentile_ms(v, 0.5)
}

/// The `p` quantile (0..=1) of `v` by the nearest-rank method, in milliseconds.
pub fn percentile_ms(v: &[Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1].as_secs_f64() * 1000.0
}

/// Peak resident memory of this process, MiB (Linux: VmHWM).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The mosquitto binary (Debian puts it in /usr/sbin).
fn mosquitto_bin() -> &'static str {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("mosquitto")
}

/// A mosquitto child on a free port that does not drop QoS 1 messages.
pub struct Mosquitto {
    child: std::process::Child,
    /// Its loopback port.
    pub port: u16,
    _dir: std::path::PathBuf,
}

impl Mosquitto {
    /// Starts one with its config in `dir`.
    pub fn start(dir: &std::path::Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 1000000\nmax_inflight_messages 0\nset_tcp_nodelay true\nuser root\n"
            ),
        )?;
        let child = Command::new(mosquitto_bin())
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

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (its queues are lost: it keeps nothing on disk) and starts it again on
    /// the same port.
    pub fn restart(&mut self) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let conf = self._dir.join("mosquitto.conf");
        self.child =
            Command::new(mosquitto_bin()).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("mosquitto did not start again");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The broker's resident memory now, in MiB (Linux; 0 elsewhere).
    pub fn rss_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds for `count` plaintext QoS 1 publishes of `size` bytes from one rumqttc client to
/// another through the broker at `url` (from the first publish to the last delivery).
pub fn raw_mqtt_secs(url: &str, count: u64, size: usize) -> Result<f64> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let u = wochat::transport::BrokerUrl::parse(url).map_err(anyhow::Error::msg)?;
        let mut so = rumqttc::MqttOptions::new("raw-sub", u.host.clone(), u.port);
        so.set_max_packet_size(1 << 20, 1 << 20);
        let (sub, mut sub_loop) = rumqttc::AsyncClient::new(so, 100);
        sub.subscribe("raw/bench", rumqttc::QoS::AtLeastOnce).await?;
        let n = count;
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
        let payload = bytes::Bytes::from(vec![7u8; size]);
        let t0 = Instant::now();
        for _ in 0..n {
            publ.publish("raw/bench", rumqttc::QoS::AtLeastOnce, false, payload.clone()).await?;
        }
        let end = tokio::time::timeout(Duration::from_secs(600), done_rx).await??;
        Ok((end - t0).as_secs_f64())
    })
}

/// Two accounts, alice and bob, friends of each other, in one temporary home, with a mosquitto.
pub struct Pair {
    /// The temporary directory (removed on drop).
    pub dir: std::path::PathBuf,
    /// The data home.
    pub home: wochat::home::Home,
    /// The broker (stopped on drop).
    pub broker: Mosquitto,
    /// Bob's address.
    pub bob: wochat::crypto::Address,
}

/// The password of the benchmark accounts.
pub const PASSWORD: &[u8] = b"bench password";

impl Pair {
    /// Creates both accounts (default Argon2 parameters) and starts the broker.
    pub fn new() -> Result<Self> {
        let dir = tempfile_dir()?;
        std::fs::create_dir_all(&dir)?;
        let broker = Mosquitto::start(&dir)?;
        let home = wochat::home::Home::open(dir.join("home"))?;
        let keys = wochat::store::KeyStore::open(&home.keys_db_path())?;
        let alice = keys.create("alice", PASSWORD)?;
        let bob = keys.create("bob", PASSWORD)?;
        let pair = Self { dir, home, broker, bob };
        pair.account("alice")?.chat.upsert_friend(&bob, "bob")?;
        pair.account("bob")?.chat.upsert_friend(&alice, "alice")?;
        Ok(pair)
    }

    /// Logs in (Argon2 and all): do it before a timed section.
    pub fn account(&self, name: &str) -> Result<wochat::app::Account> {
        let keys = wochat::store::KeyStore::open(&self.home.keys_db_path())?;
        Ok(wochat::app::Account::open(&self.home, &keys, name, PASSWORD)?)
    }

    /// Starts a client for `account` on the current runtime, connected to the pair's broker,
    /// speaking `protocol`.
    pub fn start(
        &self,
        account: wochat::app::Account,
        protocol: wochat::app::Protocol,
    ) -> Result<(wochat::app::Client, Events)> {
        let mut config = wochat::config::Config::default();
        config.broker.embedded = wochat::config::EmbeddedBroker::Off;
        let options = wochat::app::ClientOptions { protocol, ..wochat::app::ClientOptions::from_config(&config) };
        let started = wochat::app::Client::start_from_config_with(account, &config, &[self.broker.url()], options)?;
        Ok((started.client, started.events))
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client's event stream.
pub type Events = tokio::sync::mpsc::UnboundedReceiver<wochat::app::Event>;

/// Waits for the client's first subscription.
pub async fn ready(events: &mut Events) -> Result<()> {
    let wait = async {
        while let Some(e) = events.recv().await {
            if matches!(e, wochat::app::Event::Ready { .. }) {
                return Ok(());
            }
        }
        bail!("the client stopped before it was ready")
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.context("the client did not connect")?
}

/// Counts events in the background: `matches(event)` returns the hash it counts, if any;
/// the watch holds how many distinct hashes were seen and when each was seen first.
pub fn count_events(
    mut events: Events,
    matches: impl Fn(&wochat::app::Event) -> Option<MessageHash> + Send + 'static,
) -> tokio::sync::watch::Receiver<Seen> {
    let (tx, rx) = tokio::sync::watch::channel(Seen::default());
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let wochat::app::Event::Error(error) = &e {
                eprintln!("error event: {error}");
            }
            if let Some(hash) = matches(&e) {
                tx.send_modify(|s| {
                    s.first.entry(hash).or_insert_with(Instant::now);
                });
            }
        }
    });
    rx
}

/// Hashes seen by [`count_events`], with the time each was first seen.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Hash -> first seen.
    pub first: std::collections::HashMap<MessageHash, Instant>,
}

/// Waits until `seen` holds at least `n` hashes (or fails after `limit`).
pub async fn until_count(seen: &mut tokio::sync::watch::Receiver<Seen>, n: usize, limit: Duration) -> Result<Instant> {
    let reached = tokio::time::timeout(limit, seen.wait_for(|s| s.first.len() >= n)).await.map(|r| r.is_ok());
    match reached {
        Ok(true) => Ok(Instant::now()),
        Ok(false) => bail!("the client stopped"),
        Err(_) => bail!("only {} of {n} after {limit:?}", seen.borrow().first.len()),
    }
}

/// A text of exactly `len` bytes, numbered.
pub fn text_of(i: u64, len: usize) -> String {
    let mut s = format!("message {i:08} ");
    while s.len() < len {
        s.push_str("lorem ipsum dolor sit amet ");
    }
    s.truncate(len);
    s
}

/// Status events of the given status, by hash.
pub fn status(want: MessageStatus) -> impl Fn(&wochat::app::Event) -> Option<MessageHash> + Send + 'static {
    move |e| match e {
        wochat::app::Event::Status { hash, stat } if *stat == want => Some(*hash),
        _ => None,
    }
}

/// Message events (a message stored), by hash.
pub fn stored(e: &wochat::app::Event) -> Option<MessageHash> {
    match e {
        wochat::app::Event::Message { hash, .. } => Some(*hash),
        _ => None,
    }
}
