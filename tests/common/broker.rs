//! Test brokers: a `mosquitto` child process on a free loopback port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; the race is accepted in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_listening(port: u16) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mosquitto_binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    "mosquitto".into()
}

/// A mosquitto broker that does not drop QoS 1 messages (unless told to).
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    extra: String,
    /// A whole configuration of its own (instead of the test defaults and `extra`).
    verbatim: Option<String>,
}

impl Mosquitto {
    /// Starts a broker with a queue large enough for every test.
    pub fn start() -> Self {
        Self::start_with("max_queued_messages 1000000\n")
    }

    /// Starts a broker with extra configuration lines.
    pub fn start_with(extra: &str) -> Self {
        let mut m = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.into(),
            verbatim: None,
        };
        m.spawn();
        m
    }

    /// Starts a broker with exactly the configuration `make(port)` returns (it must listen on
    /// that port, on 127.0.0.1).
    pub fn start_config(make: impl FnOnce(u16) -> String) -> Self {
        let port = free_port();
        let verbatim = Some(make(port));
        let mut m = Self { child: None, port, dir: tempfile::tempdir().unwrap(), extra: String::new(), verbatim };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let text = self.verbatim.clone().unwrap_or_else(|| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\n\
                 user root\n{}",
                self.port, self.extra
            )
        });
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed (.ci/run installs it)");
        self.child = Some(child);
        wait_listening(self.port);
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (all its queues are lost: it keeps nothing on disk).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
