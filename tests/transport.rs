//! Transport options: failover between brokers, TLS with a CA file, user name and password,
//! and the embedded broker hosted on demand.

mod common;

use std::process::Command;

use common::broker::{Mosquitto, free_port};
use common::certs::make_certs;
use wochat::app::{ConnState, Event};
use wochat::config::EmbeddedBroker;
use wochat::testkit::{Network, TestNet, TestPeer};

async fn exchange(alice: &mut TestPeer, bob: &mut TestPeer) {
    alice.ready().await;
    bob.ready().await;
    alice.send_confirmed(&*bob, "over the wire").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_broker_fails_over_to_the_next() {
    let broker = Mosquitto::start();
    let dead = format!("mqtt://127.0.0.1:{}", free_port());
    let urls = vec![dead.clone(), broker.url()];
    let net = TestNet::on(Network::Brokers(urls));
    let mut alice = net.start("alice");
    let mut bob = net.start("bob");
    // The first attempt fails and is reported, then the second broker takes over.
    let e = alice.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    assert!(
        matches!(e, Event::Connection { state: ConnState::Reconnecting, ref broker, .. } if *broker == dead),
        "{e:?}"
    );
    alice.wait_for(|e| matches!(e, Event::Connection { state: ConnState::Connected, .. })).await;
    exchange(&mut alice, &mut bob).await;
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
    let mut net = TestNet::on(Network::Brokers(url));
    net.config.broker.ca_file = Some(certs.path().join("ca.crt"));
    net.config.broker.username = Some("alice".into());
    net.config.broker.password = Some("a-secret".into());
    let mut alice = net.start("alice");
    net.config.broker.username = Some("bob".into());
    net.config.broker.password = Some("b-secret".into());
    let mut bob = net.start("bob");
    exchange(&mut alice, &mut bob).await;

    // A wrong password is refused and reported; the client keeps trying.
    net.config.broker.password = Some("wrong".into());
    let mut eve = net.start("eve");
    let e = eve.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    assert!(matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
    // Without the CA file the server is not trusted.
    net.config.broker.ca_file = None;
    net.config.broker.password = Some("a-secret".into());
    let mut mallory = net.start("mallory");
    let e = mallory.wait_for(|e| matches!(e, Event::Connection { .. })).await;
    assert!(matches!(e, Event::Connection { state: ConnState::Reconnecting, .. }), "{e:?}");
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
    let net = TestNet::on(Network::Brokers(vec![url.to_string()]));
    let mut alice = net.start("alice");
    let mut bob = net.start("bob");
    exchange(&mut alice, &mut bob).await;
}
