//! Files between clients (on the in-memory hub; one through a real mosquitto): byte-identical
//! delivery with previews, nothing in clear on disk, corruption, wrong chunks, bombs, hostile
//! names, the auto-download limit and the quota.

mod common;

use std::path::{Path, PathBuf};

use common::broker::Mosquitto;
use common::forge::Forger;
use image::ImageEncoder;
use wochat::app::Event;
use wochat::objects::ObjectId;
use wochat::store::TransferState;
use wochat::testkit::{Network, TestNet, TestPeer};
use wochat::wire::{AttachKind, Body, MessageHash, ObjectMeta};

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    for c in v.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c).unwrap();
    }
    v
}

/// A photo-like PNG: smooth gradients with grain.
fn photo_png(w: u32, h: u32) -> Vec<u8> {
    let grain = random((w * h) as usize);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let g = grain[(y * w + x) as usize] / 8;
        image::Rgb([(x * 220 / w) as u8 + g, (y * 220 / h) as u8 + g, 90 + g])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, Rgba, RgbaImage};
    let mut gif = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut gif);
        let frames = (0..3u8).map(|i| {
            let img = RgbaImage::from_fn(200, 150, |x, y| Rgba([i * 80, (x % 256) as u8, (y % 256) as u8, 255]));
            Frame::from_parts(img, 0, 0, Delay::from_numer_denom_ms(120, 1))
        });
        enc.encode_frames(frames).unwrap();
    }
    gif
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

async fn transfer_state(p: &mut TestPeer, file: ObjectId, want: TransferState) {
    p.wait_for(|e| matches!(e, Event::Transfer { file: f, state, .. } if *f == file && *state == want)).await;
}

fn attachment(p: &TestPeer, msg: &MessageHash) -> (AttachKind, ObjectMeta) {
    let row = p.read.db().message(msg).unwrap().expect("message stored");
    match row.body().unwrap() {
        Body::Attachment { kind, obj, .. } => (kind, obj),
        other => panic!("not an attachment: {other:?}"),
    }
}

fn error_text(e: &Event) -> String {
    e.error().map(|e| e.to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_arrive_byte_identical_with_previews_and_nothing_in_clear_on_disk() {
    // Through a real broker: 64 KiB chunks, backpressure and PUBACKs as in production.
    let broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let src = tempfile::tempdir().unwrap();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;

    let files = [
        ("random.bin", random(5 * 1024 * 1024), AttachKind::File),
        ("photo.png", photo_png(1600, 1200), AttachKind::Image),
        ("anim.gif", animated_gif(), AttachKind::Gif),
    ];
    let out = tempfile::tempdir().unwrap();
    for (name, data, kind) in &files {
        let path = write(src.path(), name, data);
        let sent = alice.client.send_file(bob.address, path, Some(format!("{name} for you")), None).await.unwrap();
        assert!(sent.preview_error.is_none());
        transfer_state(&mut bob, sent.file, TransferState::Complete).await;
        alice.wait_confirmed(sent.message).await;
        let (got_kind, meta) = attachment(&bob, &sent.message);
        assert_eq!(got_kind, *kind, "{name}");
        assert_eq!(meta.name, *name);
        assert_eq!(meta.size, data.len() as u64);
        if *kind != AttachKind::File {
            let thumb = meta.thumb.expect("a preview travels in the message");
            assert!(thumb.len() <= 48 * 1024, "{name}: preview {} bytes", thumb.len());
            let t = image::load_from_memory(&thumb).unwrap();
            assert!(t.width().max(t.height()) <= 320);
            assert!(meta.w.is_some() && meta.h.is_some());
        }
        let saved = bob.client.objects().save_as(&sent.file, out.path(), &meta.name).unwrap();
        assert_eq!(std::fs::read(&saved).unwrap(), *data, "{name} is byte-identical");
    }
    // No 64-byte sample of any file's plaintext anywhere under the home.
    for (name, data, _) in &files {
        for at in [0, data.len() / 2, data.len() - 64] {
            let sample = &data[at..at + 64];
            assert!(
                common::files_containing(net.home().root(), sample).is_empty(),
                "{name} at {at} is in clear on disk"
            );
        }
    }
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_object_is_reported_by_verify_and_when_opened() {
    let net = TestNet::new();
    let home = net.home().clone();
    let src = tempfile::tempdir().unwrap();
    let alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let data = random(300_000);
    let sent = alice.client.send_file(bob.address, write(src.path(), "doc.pdf", &data), None, None).await.unwrap();
    transfer_state(&mut bob, sent.file, TransferState::Complete).await;
    let file = bob.client.objects().path_of(&sent.file);
    let bob_address = bob.address;
    bob.stop().await;
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[200_000] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();

    let o = common::run_on(&home, Some("pw"), &["--account", "bob", "object", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert!(common::stdout(&o).contains(&file.display().to_string()));
    assert!(common::stderr(&o).contains("1 corrupt object"));
    let dir = tempfile::tempdir().unwrap();
    let o = common::run_on(
        &home,
        Some("pw"),
        &["--account", "bob", "object", "export", &sent.file.to_hex(), "--out", dir.path().to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(common::stderr(&o).contains("corrupt"), "{}", common::stderr(&o));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing half-written");
    // The alice side is intact and history still lists the file.
    let o = common::run_on(&home, Some("pw"), &["--account", "bob", "history", &alice.address.to_hex(), "--json"]);
    assert!(common::stdout(&o).contains("doc.pdf"));
    let _ = bob_address;
}

/// A friend turned hostile: sends `data`'s attachment message, then chunks made by `bad`.
struct Hostile {
    forger: Forger,
    id: ObjectId,
    data: Vec<u8>,
}

impl Hostile {
    async fn befriended_by(to: &TestPeer, data: &[u8]) -> Self {
        let forger = Forger::befriended_by(to).await;
        Self { forger, id: ObjectId(wochat::crypto::sha256(data)), data: data.to_vec() }
    }

    fn send_message(&self, net: &TestNet, to: &TestPeer) {
        let env =
            self.forger.attachment(&to.address, AttachKind::File, "gift.bin", "application/octet-stream", &self.data);
        net.hub().expect("a net in memory").inject(&to.address.to_hex(), env);
    }

    fn send_chunks(&self, net: &TestNet, to: &TestPeer, bad: impl Fn(u64, &[u8]) -> Vec<u8>) {
        let hub = net.hub().expect("a net in memory");
        for c in self.forger.chunks(&to.address, self.id, &self.data, bad) {
            hub.inject(&to.address.to_hex(), c);
        }
    }
}

/// Sends a file whose chunks `bad` spoils until bob gives up: three times the file starts over
/// by itself, the fourth it fails; returns the error shown.
async fn until_rejected(net: &TestNet, bob: &mut TestPeer, h: &Hostile, bad: impl Fn(u64, &[u8]) -> Vec<u8>) -> String {
    h.send_message(net, bob);
    h.send_chunks(net, bob, &bad);
    for _ in 0..3 {
        bob.wait_for(|e| matches!(e, Event::Dropped { reason: "file_started_again" })).await;
        h.send_chunks(net, bob, &bad);
    }
    error_text(&bob.wait_for(|e| e.error().is_some()).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chunks_and_wrong_hashes_start_over_then_reject_the_file_until_retried() {
    let net = TestNet::new();
    let mut bob = net.peer("bob").await;
    // A chunk of the wrong length.
    let h = Hostile::befriended_by(&bob, &random(200_000)).await;
    let e = until_rejected(&net, &mut bob, &h, |i, c| if i == 1 { c[..100].to_vec() } else { c.to_vec() }).await;
    assert!(e.contains("rejected") && e.contains("wrong chunk"), "{e}");
    assert!(!bob.client.objects().contains(&h.id));
    // Right lengths, wrong content: the final hash check rejects it.
    let h = Hostile::befriended_by(&bob, &random(200_000)).await;
    let e = until_rejected(&net, &mut bob, &h, |i, c| if i == 2 { random(c.len()) } else { c.to_vec() }).await;
    assert!(e.contains("does not match its hash"), "{e}");
    assert!(!bob.client.objects().contains(&h.id));
    // Retried by hand, the right chunks make the file.
    bob.client.retry(h.id).await.unwrap();
    h.send_chunks(&net, &bob, |_, c| c.to_vec());
    transfer_state(&mut bob, h.id, TransferState::Complete).await;
    assert!(bob.client.objects().contains(&h.id));
    // The client keeps running.
    let mut alice = net.peer("alice").await;
    alice.send_confirmed(&bob, "still fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_refused_and_the_client_keeps_running() {
    let net = TestNet::new();
    let src = tempfile::tempdir().unwrap();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let bomb = common::images::bomb_png(60000, 60000, 2);
    let sent = alice.client.send_file(bob.address, write(src.path(), "bomb.png", &bomb), None, None).await.unwrap();
    let why = sent.preview_error.expect("the sender refuses to decode it").to_string();
    assert!(why.contains("too large"), "{why}");
    let e = error_text(&bob.wait_for(|e| e.error().is_some()).await);
    assert!(e.contains("too large"), "{e}");
    alice.send_confirmed(&bob, "after the bomb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_wait_for_acceptance_and_the_quota_is_enforced() {
    let mut net = TestNet::new();
    let src = tempfile::tempdir().unwrap();
    let alice = net.peer("alice").await;
    net.options.limits.auto_download_bytes = 1 << 20;
    let mut bob = net.peer("bob").await;
    let photo = photo_png(1400, 1000);
    assert!(photo.len() > 1 << 20);
    let sent = alice.client.send_file(bob.address, write(src.path(), "big.png", &photo), None, None).await.unwrap();
    transfer_state(&mut bob, sent.file, TransferState::Waiting).await;
    // The preview is there while the file waits.
    assert!(attachment(&bob, &sent.message).1.thumb.is_some());
    assert!(!bob.client.objects().contains(&sent.file));
    bob.client.accept(sent.file).await.unwrap();
    transfer_state(&mut bob, sent.file, TransferState::Complete).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.client.objects().save_as(&sent.file, out.path(), "big.png").unwrap();
    assert_eq!(std::fs::read(saved).unwrap(), photo);

    // A 1 MiB quota: a 2 MiB file is refused cleanly.
    net.options.limits = Default::default();
    net.config.storage.quota_mb = 1;
    let mut carol = net.peer("carol").await;
    let data = random(2 << 20);
    let sent = alice.client.send_file(carol.address, write(src.path(), "two.bin", &data), None, None).await.unwrap();
    let e = error_text(&carol.wait_for(|e| e.error().is_some()).await);
    assert!(e.contains("quota"), "{e}");
    carol
        .wait_for(|e| matches!(e, Event::Transfer { file, state: TransferState::Failed, .. } if *file == sent.file))
        .await;
    assert!(!carol.client.objects().contains(&sent.file));
    assert_eq!(carol.client.objects().used_bytes().unwrap(), 0, "nothing kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_from_a_peer_export_safely() {
    let net = TestNet::new();
    let home = net.home().clone();
    let src = tempfile::tempdir().unwrap();
    let alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let long = "n".repeat(10_000);
    let names = ["../../x", "a/b", "con.txt", "invoice\u{202E}fdp.exe", long.as_str()];
    let mut sent = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let data = format!("file {i}").into_bytes();
        let s = alice
            .client
            .send_file(bob.address, write(src.path(), "f", &data), None, Some(name.to_string()))
            .await
            .unwrap();
        transfer_state(&mut bob, s.file, TransferState::Complete).await;
        sent.push((s, data));
    }
    bob.stop().await;
    let out = tempfile::tempdir().unwrap();
    let outdir = out.path().join("downloads");
    std::fs::create_dir(&outdir).unwrap();
    for (s, data) in &sent {
        let o = common::run_on(
            &home,
            Some("pw"),
            &["--account", "bob", "object", "export", &s.file.to_hex(), "--out", outdir.to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", common::stderr(&o));
        let path = PathBuf::from(common::stdout(&o).trim());
        assert_eq!(path.parent().unwrap(), outdir);
        assert_eq!(std::fs::read(&path).unwrap(), *data);
        let f = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !f.contains('\u{202E}') && !f.starts_with('.') && f.len() <= 200 && !f.eq_ignore_ascii_case("con.txt"),
            "{f:?}"
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "nothing outside the chosen directory");
    // GC keeps every file a message refers to.
    let o = common::run_on(&home, Some("pw"), &["--account", "bob", "object", "gc"]);
    assert_eq!(common::stdout(&o).trim(), "removed 0 object(s)");
    let o = common::run_on(&home, Some("pw"), &["--account", "bob", "object", "verify"]);
    assert!(o.status.success());
    drop(alice);
}

/// Records the size of every envelope published on `topic` of the broker at `port`.
async fn watch_sizes(port: u16, topic: String) -> std::sync::Arc<std::sync::Mutex<Vec<usize>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut o = rumqttc::MqttOptions::new("size-watcher", "127.0.0.1", port);
    o.set_max_packet_size(2 << 20, 2 << 20);
    let (client, mut events) = rumqttc::AsyncClient::new(o, 10);
    client.subscribe(topic, rumqttc::QoS::AtMostOnce).await.unwrap();
    let record = seen.clone();
    tokio::spawn(async move {
        let _keep = client;
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => record.lock().unwrap().push(0),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    record.lock().unwrap().push(p.payload.len())
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    });
    while seen.lock().unwrap().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    seen.lock().unwrap().clear();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_sees_a_files_padme_class_not_its_size() {
    let broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    // v2 sessions both ways: alice knows bob speaks v2.
    alice.send_confirmed(&bob, "hi").await;
    bob.send_confirmed(&alice, "hi").await;
    let seen = watch_sizes(broker.port, bob.address.to_hex()).await;
    let src = tempfile::tempdir().unwrap();
    // 65 chunks (the last of 5,696 bytes) and 66 chunks (the last of 40,160 bytes): without
    // padding the broker would tell them apart by the count and the last envelope. Both are
    // in Padmé's class of 4,325,376 bytes: 66 chunk envelopes of one size each.
    let mut chunk_envelopes = Vec::new();
    for size in [4_200_000, 4_300_000] {
        let path = write(src.path(), &format!("{size}.bin"), &random(size));
        let sent = alice.client.send_file(bob.address, path, None, None).await.unwrap();
        transfer_state(&mut alice, sent.file, TransferState::Complete).await;
        // Everything alice published reached the watcher before the receipt came back.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut sizes: Vec<usize> = std::mem::take(&mut *seen.lock().unwrap());
        sizes.retain(|s| *s > 8192);
        sizes.sort();
        chunk_envelopes.push(sizes);
    }
    assert_eq!(chunk_envelopes[0].len(), 66, "{:?}", chunk_envelopes[0]);
    assert_eq!(chunk_envelopes[0], chunk_envelopes[1]);
    assert_eq!(chunk_envelopes[0].first(), chunk_envelopes[0].last(), "one envelope size");
    // And bob has both files, whole.
    assert_eq!(bob.history(&alice.address).len(), 4);
}
