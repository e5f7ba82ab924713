//! The `messaging` scenario: text messages alice to bob end to end (seal, store, publish QoS 1,
//! receive, open, store, receipt, status C at alice), beside raw MQTT and the crypto cost
//! measured in the same run; then latency at a steady rate.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wochat::app::Protocol;
use wochat::store::MessageStatus;
use wochat::wire::{self, Body, Packet};

use crate::support::{self, Pair, count_events, percentile_ms, ready, status, stored, text_of, until_count};

/// Bytes of each text.
const TEXT_BYTES: usize = 200;
/// Messages per second of the latency run, and its length.
const STEADY_RATE: u64 = 500;
const STEADY_SECS: u64 = 6;
/// Pause between the throughput and the latency runs.
const SETTLE: Duration = Duration::from_secs(3);
/// Sends queued ahead of the engine in the throughput run.
const WINDOW: usize = 1000;

/// Runs the scenario with `count` messages, once per protocol.
pub fn run(json: bool, count: u64, protocols: &[Protocol]) -> Result<()> {
    for p in protocols {
        run_one(json, count, *p)?;
    }
    Ok(())
}

fn run_one(json: bool, count: u64, protocol: Protocol) -> Result<()> {
    let pair = Pair::new()?;
    let (alice_acc, bob_acc) = (pair.account("alice")?, pair.account("bob")?);
    let crypto = match protocol {
        Protocol::V1 => crypto_limit(&alice_acc.keys, &bob_acc.keys, &pair.bob)?,
        Protocol::V2 => crypto_limit_v2(alice_acc.identity(), bob_acc.identity(), 1)?,
    };
    // What one core seals and opens when a burst goes in full batches (v2 only).
    let batched = match protocol {
        Protocol::V1 => None,
        Protocol::V2 => Some(crypto_limit_v2(alice_acc.identity(), bob_acc.identity(), wire::MAX_BATCH)?),
    };
    let raw = count as f64 / support::raw_mqtt_secs(&pair.broker.url(), count, TEXT_BYTES)?;

    // Each client on its own runtime (as two processes would be), the measuring on a third, so
    // that one engine's database work does not hold up the other or the clock.
    let (rt_alice, rt_bob) = (tokio::runtime::Runtime::new()?, tokio::runtime::Runtime::new()?);
    let rt = tokio::runtime::Runtime::new()?;
    let (e2e, latencies) = rt.block_on(async {
        let (bob, mut bob_events) = {
            let _on = rt_bob.enter();
            pair.start(bob_acc, protocol)?
        };
        ready(&mut bob_events).await?;
        let (alice, mut alice_events) = {
            let _on = rt_alice.enter();
            pair.start(alice_acc, protocol)?
        };
        ready(&mut alice_events).await?;
        let mut confirmed = count_events(alice_events, status(MessageStatus::Confirmed));
        let mut received = count_events(bob_events, stored);

        // Throughput: every message stored, published, received, stored, receipted. Sends are
        // queued in order as fast as the engine takes them (at most WINDOW waiting to be stored).
        let t0 = Instant::now();
        let mut waiting = std::collections::VecDeque::new();
        for i in 0..count {
            if waiting.len() >= WINDOW {
                waiting.pop_front().context("a send")?.await?;
            }
            waiting.push_back(alice.send_text(pair.bob, text_of(i, TEXT_BYTES)));
        }
        for w in waiting {
            w.await?;
        }
        let end = until_count(&mut confirmed, count as usize, Duration::from_secs(600)).await?;
        let e2e = count as f64 / (end - t0).as_secs_f64();

        // Latency at a steady rate: from send_text to bob's stored event. First a quiet
        // moment, so that the burst's write-back (WAL checkpoints) is not counted as latency.
        tokio::time::sleep(SETTLE).await;
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / STEADY_RATE));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = Vec::new();
        for i in 0..STEADY_RATE * STEADY_SECS {
            tick.tick().await;
            let t = Instant::now();
            sent.push((alice.send_text(pair.bob, text_of(count + i, TEXT_BYTES)).await?, t));
        }
        let total = count as usize + sent.len();
        until_count(&mut received, total, Duration::from_secs(120)).await?;
        until_count(&mut confirmed, total, Duration::from_secs(120)).await?;
        let seen = received.borrow().clone();
        let latencies: Vec<Duration> =
            sent.iter().filter_map(|(h, t)| seen.first.get(h).map(|r| r.saturating_duration_since(*t))).collect();
        if std::env::var_os("WOCHAT_BENCH_SLOW").is_some() {
            let t0 = sent[0].1;
            for ((_, t), l) in sent.iter().zip(&latencies) {
                if *l > Duration::from_millis(5) {
                    eprintln!("slow: at {:.3} s: {:.1} ms", (*t - t0).as_secs_f64(), l.as_secs_f64() * 1000.0);
                }
            }
        }
        alice.shutdown().await;
        bob.shutdown().await;
        anyhow::Ok((e2e, latencies))
    })?;
    // The bound e2e is measured against: in v2 what goes in a burst is sealed in batches, so
    // its crypto cost per message is the batched one.
    let limit = raw.min(batched.unwrap_or(crypto));
    let ratio = e2e / limit;
    let (p50, p99) = (percentile_ms(&latencies, 0.5), percentile_ms(&latencies, 0.99));
    let name = crate::protocol_name(protocol);
    println!(
        "messaging ({name}): {count} x {TEXT_BYTES} B end to end {e2e:.0} msg/s; raw MQTT {raw:.0} msg/s; crypto limit \
         {crypto:.0} msg/s; ratio vs limit {ratio:.2} (target >= 0.8); latency at {STEADY_RATE}/s p50 {p50:.2} ms, \
         p99 {p99:.2} ms (target < 10)"
    );
    if let Some(b) = batched {
        println!("messaging ({name}): crypto limit in batches of {} {b:.0} msg/s", wire::MAX_BATCH);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "messaging", "protocol": name, "count": count, "e2e_msgs_per_s": e2e,
                "raw_mqtt_msgs_per_s": raw, "crypto_limit_msgs_per_s": crypto, "ratio_vs_limit": ratio,
                "latency_p50_ms": p50, "latency_p99_ms": p99, "crypto_limit_batched_msgs_per_s": batched})
        );
    }
    Ok(())
}

/// Messages per second one core can seal (alice) and open (bob): 1 / (seal + open).
fn crypto_limit(
    alice: &wochat::crypto::envelope::Keyring,
    bob: &wochat::crypto::envelope::Keyring,
    to: &wochat::crypto::Address,
) -> Result<f64> {
    const N: u32 = 3000;
    let packets: Vec<Packet> =
        (0..N).map(|i| Packet::new(Body::Text { text: text_of(u64::from(i), TEXT_BYTES) })).collect();
    // Warm the per-peer caches as a running client would have them.
    wire::open_envelope(bob, &wire::seal_packet(alice, to, &packets[0])?.envelope)
        .map_err(|r| anyhow::anyhow!("open failed: {}", r.code()))?;
    let t0 = Instant::now();
    for p in &packets {
        let sealed = wire::seal_packet(alice, to, p)?;
        wire::open_envelope(bob, &sealed.envelope).map_err(|r| anyhow::anyhow!("open failed: {}", r.code()))?;
    }
    Ok(f64::from(N) / t0.elapsed().as_secs_f64())
}

/// Messages per second one core can seal and open in protocol v2 with an established Olm
/// session: Olm encrypt, the inner packet, padding and the outer envelope (one ephemeral key
/// and one ECDH to seal, one ECDH to open), then all of it backwards; `batch` messages under
/// each outer envelope (docs/PROTOCOL.md section 14; 1: one envelope per message).
fn crypto_limit_v2(alice: &wochat::crypto::Identity, bob: &wochat::crypto::Identity, batch: usize) -> Result<f64> {
    use vodozemac::olm::{Account, OlmMessage, SessionConfig};
    use wochat::crypto::outer::{open_outer, seal_outer};
    use wochat::wire::Inner;
    const N: u32 = 3000;
    let (a, mut b) = (Account::new(), Account::new());
    b.generate_one_time_keys(1);
    let otk = *b.one_time_keys().values().next().context("a one-time key")?;
    let mut sa = a.create_outbound_session(SessionConfig::version_1(), b.curve25519_key(), otk)?;
    let OlmMessage::PreKey(pre) = sa.encrypt(b"hello")? else { anyhow::bail!("not a pre-key message") };
    let mut sb = b.create_inbound_session(SessionConfig::version_1(), a.curve25519_key(), &pre)?.session;
    sa.decrypt(&sb.encrypt(b"established")?)?;
    let packets: Vec<Vec<u8>> =
        (0..N).map(|i| Packet::new(Body::Text { text: text_of(u64::from(i), TEXT_BYTES) }).encode()).collect();
    let t0 = Instant::now();
    for group in packets.chunks(batch) {
        let mut olm = Vec::with_capacity(group.len());
        let mut kind = 1;
        for cbor in group {
            let (t, m) = sa.encrypt(cbor)?.to_parts();
            kind = t as u8;
            olm.push(m);
        }
        let first = olm.remove(0);
        let inner = Inner { from: alice.address(), device: [0; 8], kind, olm: first, bundle: None, more: olm };
        let env = seal_outer(&bob.address(), &wire::pad(&inner.encode()))?;
        let padded = open_outer(bob, &env)?;
        let inner = Inner::decode(wire::unpad(&padded)?)?;
        for (olm, cbor) in std::iter::once(&inner.olm).chain(&inner.more).zip(group) {
            let plain = sb.decrypt(&OlmMessage::from_parts(usize::from(inner.kind), olm)?)?;
            anyhow::ensure!(plain == *cbor, "round trip");
        }
    }
    Ok(f64::from(N) / t0.elapsed().as_secs_f64())
}
