//! Transport options: failover between brokers, TLS with a CA file, user name and password,
//! and the embedded broker hosted on demand.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestHome;
use common::broker::{Mosquitto, free_port};
use common::peer::{start_peer, start_peer_with};
use wochat::app::{ConnState, Event};
use wochat::config::{Config, EmbeddedBroker};

async fn exchange(alice: &mut common::peer::Peer, bob: &mut common::peer::Peer) {
    alice.ready().await;
    bob.ready().await;
    let hash = alice.client.send_text(bob.address, "over the wire".into()).await.unwrap();
    alice.wait_for(20, |e| matches!(e, Event::Status { hash: h, stat: 'C' } if *h == hash)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_broker_fails_over_to_the_next() {
    let broker = Mosquitto::start();
    let dead = format!("mqtt://127.0.0.1:{}", free_port());
    let urls = vec![dead.clone(), broker.url()];
    let home = TestHome::new();
    let mut alice = start_peer_with(&home, "alice", &Config::default(), &urls);
    let mut bob = start_peer_with(&home, "bob", &Config::default(), &urls);
    // The first attempt fails and is reported, then the second broker takes over.
    let e = alice.wait_for(20, |e| matches!(e, Event::Connection { .. })).await;
    assert!(
        matches!(e, Event::Connection { state: ConnState::Reconnecting, ref broker, .. } if *broker == dead),
        "{e:?}"
    );
    alice.wait_for(20, |e| matches!(e, Event::Connection { state: ConnState::Connected, .. })).await;
    exchange(&mut alice, &mut bob).await;
    alice.stop().await;
    bob.stop().await;
}

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
    assert!(ok.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
}

/// A CA and a server certificate for 127.0.0.1 / localhost.
fn make_certs(dir: &Path) {
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"]);
    openssl(
        dir,
        &["req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=WoChat test CA", "-out", "ca.crt"],
    );
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"]);
    openssl(dir, &["req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr"]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file_and_password_authentication() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let passwd = certs.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    for (user, pass) in [("alice", "a-secret"), ("bob", "b-secret")] {
        let st = Command::new("mosquitto_passwd").args(["-b"]).arg(&passwd).args([user, pass]).status().unwrap();
        assert!(st.success());
    }
    let c = |f: &str| certs.path().join(f).display().to_string();
    let broker = Mosquitto::start_with(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\npassword_file {}\nmax_queued_messages 100000\n",
        c("ca.crt"),
        c("server.crt"),
        c("server.key"),
        passwd.display()
    ));
    let url = vec![format!("mqtts://localhost:{}", broker.port)];
    let home = TestHome::new();
    let mut config = Config::default();
    config.broker.ca_file = Some(certs.path().join("ca.crt"));
    config.broker.username = Some("alice".into());
    config.broker.password = Some("a-secret".into());
    let mut alice = start_peer_with(&home, "alice", &config, &url);
    config.broker.username = Some("bob".into());
    config.broker.password = Some("b-secret".into());
    let mut bob = start_peer_with(&home, "bob", &config, &url);
    exchange(&mut alice, &mut bob).await;
    alice.stop().await;
    bob.stop().await;

    // A wrong password is refused and reported; the client keeps trying.
    config.broker.password = Some("wrong".into());
    let mut eve = start_peer_with(&home, "eve", &config, &url);
    let e = eve.wait_for(20, |e| matches!(e, Event::Connection { .. })).await;
    assert!(matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
    // Without the CA file the server is not trusted.
    config.broker.ca_file = None;
    config.broker.password = Some("a-secret".into());
    let mut mallory = start_peer_with(&home, "mallory", &config, &url);
    let e = mallory.wait_for(20, |e| matches!(e, Event::Connection { .. })).await;
    assert!(matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
    eve.stop().await;
    mallory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_hosts_the_embedded_broker_when_nothing_answers() {
    let port = free_port();
    let url = wochat::transport::BrokerUrl::parse(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    assert_eq!(wochat::app::prepare_broker(EmbeddedBroker::Off, std::slice::from_ref(&url)).unwrap(), None);
    let hosted = wochat::app::prepare_broker(EmbeddedBroker::Auto, std::slice::from_ref(&url)).unwrap();
    assert_eq!(hosted, Some(([127, 0, 0, 1], port).into()));
    // A second window finds it answering and does not host another.
    assert_eq!(wochat::app::prepare_broker(EmbeddedBroker::Auto, std::slice::from_ref(&url)).unwrap(), None);
    // A remote broker is never replaced by an embedded one.
    let remote = wochat::transport::BrokerUrl::parse("mqtt://broker.invalid:1883").unwrap();
    assert_eq!(wochat::app::prepare_broker(EmbeddedBroker::Auto, &[remote]).unwrap(), None);
    let home = TestHome::new();
    let mut alice = start_peer(&home, "alice", &url.to_string());
    let mut bob = start_peer(&home, "bob", &url.to_string());
    exchange(&mut alice, &mut bob).await;
    alice.stop().await;
    bob.stop().await;
}
