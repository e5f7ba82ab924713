//! The hardened single broker of `deploy/mosquitto/`, run with exactly that configuration
//! (only its paths and port replaced): two accounts logging in as themselves chat over TLS,
//! and a third, valid account can neither read their topics nor overwrite their key bundles.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::broker::Mosquitto;
use common::certs::make_certs;
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use wochat::testkit::{Network, TestNet, identity_of};
use wochat::transport::{
    BrokerUrl, Link, MqttProtocol, MqttVersion, Tag, Transport as WochatTransport, TransportConfig, TransportEvent,
};

/// `deploy/mosquitto/mosquitto.conf` with its port, certificates, password file, ACL and
/// persistence directory in `dir`.
fn deploy_config(dir: &Path, port: u16) -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mosquitto/mosquitto.conf")).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mosquitto/acl"), dir.join("acl")).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let text = text
        .replace("listener 8883", &format!("listener {port} 127.0.0.1"))
        .replace("/etc/mosquitto/certs/", &format!("{}/", dir.display()))
        .replace("/etc/mosquitto/passwd", &p("passwd"))
        .replace("/etc/mosquitto/acl", &p("acl"))
        .replace("/var/lib/mosquitto/", &format!("{}/", dir.display()));
    // The tests run as root, which mosquitto leaves only for this user.
    format!("user root\n{text}")
}

/// A raw MQTT client over TLS logging in as `user`.
fn raw_client(port: u16, ca: &Path, user: &str, password: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut o = MqttOptions::new(format!("raw-{}", &user[..8]), "localhost", port);
    o.set_credentials(user, password).set_keep_alive(Duration::from_secs(30));
    let ca = std::fs::read(ca).unwrap();
    o.set_transport(Transport::Tls(TlsConfiguration::Simple { ca, alpn: None, client_auth: None }));
    AsyncClient::new(o, 10)
}

/// Everything `ev` delivers within `secs` seconds: SUBACK return codes and publishes.
async fn collect(
    ev: &mut rumqttc::EventLoop,
    secs: u64,
) -> (Vec<rumqttc::SubscribeReasonCode>, Vec<(String, Vec<u8>)>) {
    let (mut subacks, mut publishes) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, ev.poll()).await {
        match e {
            MqttEvent::Incoming(Packet::SubAck(a)) => subacks.extend(a.return_codes),
            MqttEvent::Incoming(Packet::Publish(p)) => publishes.push((p.topic, p.payload.to_vec())),
            _ => {}
        }
    }
    (subacks, publishes)
}

/// What the broker refuses when `user` (with WoChat's MQTT 5 transport) subscribes to
/// `victim`'s topic and publishes to one of its key topics: (publish tag, reason).
async fn refusals_heard(port: u16, ca: &Path, user: &str, password: &str, victim: &str) -> Vec<(Vec<Tag>, String)> {
    let url = BrokerUrl::parse(&format!("mqtts://localhost:{port}")).unwrap();
    let mut cfg = TransportConfig::new(vec![url], format!("five-{}", &user[..8]), user.to_string());
    cfg.username = Some(user.to_string());
    cfg.password = Some(password.to_string());
    cfg.ca_file = Some(ca.to_path_buf());
    cfg.protocol = MqttProtocol::V5;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let link = WochatTransport::start(cfg, tx).unwrap();
    link.subscribe(victim.to_string());
    link.publish(vec![[7; 32]], format!("{victim}/keys/0000000000000000"), b"forged bundle".to_vec());
    let mut refused = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match e {
            TransportEvent::Refused { tags, reason } => refused.push((tags, reason)),
            TransportEvent::Connected { protocol, .. } => assert_eq!(protocol, Some(MqttVersion::V5)),
            _ => {}
        }
    }
    link.shutdown().await;
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hardened_broker_lets_each_account_read_only_its_own_topics() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    // One user per account: its address and the password `wochat broker-login` prints.
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    let login = |name: &str| {
        let id = identity_of(name);
        (id.address().to_hex(), wochat::wire::broker_password(&id).to_string())
    };
    for name in ["alice", "bob", "carol"] {
        let (user, password) = login(name);
        let ok = Command::new("mosquitto_passwd").arg("-b").arg(&passwd).args([&user, &password]).status().unwrap();
        assert!(ok.success());
    }
    let broker = Mosquitto::start_config(|port| deploy_config(dir.path(), port));

    let mut net = TestNet::on(Network::Brokers(vec![format!("mqtts://localhost:{}", broker.port)]));
    net.config.broker.account_login = true;
    net.config.broker.ca_file = Some(dir.path().join("ca.crt"));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;

    // Carol is a valid account too; she tries to read Alice's topic and to replace Alice's
    // key bundle.
    let (carol_user, carol_password) = login("carol");
    let (carol, mut carol_loop) = raw_client(broker.port, &dir.path().join("ca.crt"), &carol_user, &carol_password);
    let alice_topic = alice.address.to_hex();
    carol.subscribe(alice_topic.clone(), QoS::AtLeastOnce).await.unwrap();
    // A key topic of a device of alice's that carol makes up.
    let forged = format!("{alice_topic}/keys/0000000000000000");
    carol.publish(forged, QoS::AtLeastOnce, true, b"forged bundle".to_vec()).await.unwrap();
    let (subacks, _) = collect(&mut carol_loop, 2).await;
    // Mosquitto 2 grants the subscription and checks the read rule at each delivery.
    assert_eq!(subacks.len(), 1, "the broker answered the subscription");

    // Alice and Bob chat (v2 sessions: they read each other's key topics).
    bob.send_confirmed(&alice, "over the hardened broker").await;
    alice.send_confirmed(&bob, "and back").await;
    assert_eq!(alice.texts(&bob.address), ["over the hardened broker", "and back"]);

    // Carol saw nothing of it.
    let (_, seen) = collect(&mut carol_loop, 2).await;
    assert!(seen.iter().all(|(t, _)| t != &alice_topic), "carol read alice's topic: {seen:?}");
    // Alice's key topic still holds her own bundle, not carol's.
    let (reader, mut reader_loop) = raw_client(broker.port, &dir.path().join("ca.crt"), &carol_user, &carol_password);
    reader.subscribe(format!("{alice_topic}/keys/+"), QoS::AtLeastOnce).await.unwrap();
    let (_, retained) = collect(&mut reader_loop, 2).await;
    assert!(!retained.is_empty(), "key topics are readable by every account");
    assert!(retained.iter().all(|(_, p)| p != b"forged bundle"), "only the owner writes a key topic");

    // Carol's own WoChat transport speaks MQTT 5 and so hears why: the broker's reason codes.
    let refusals =
        refusals_heard(broker.port, &dir.path().join("ca.crt"), &carol_user, &carol_password, &alice_topic).await;
    // (Mosquitto 2.0 grants the subscription and filters at delivery, as in 3.1.1; the forged
    // publish is refused with PUBACK reason code 0x87, and the transport says which one.)
    assert_eq!(refusals, [(vec![[7; 32]], "the broker refused a publish: NotAuthorized".to_string())]);

    // Without an account: refused.
    let (anon, mut anon_loop) = raw_client(broker.port, &dir.path().join("ca.crt"), &"0".repeat(66), "guess");
    anon.subscribe(alice_topic, QoS::AtLeastOnce).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(5), anon_loop.poll()).await.unwrap();
    assert!(refused.is_err(), "an unknown user is refused: {refused:?}");
    alice.stop().await;
    bob.stop().await;
}
