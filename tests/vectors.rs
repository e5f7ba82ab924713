//! Known-answer vectors of PROTOCOL.md (tests/data/envelope-v1.json, copied from shared/).

use serde_json::Value;
use wochat::crypto::envelope::Keyring;
use wochat::crypto::{Address, Identity, sha256};
use wochat::wire::{self, Packet, pad, padded_len};

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/envelope-v1.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().unwrap()
}

fn keyring(v: &Value) -> Keyring {
    Keyring::new(Identity::from_secret_bytes(&key32(v)).unwrap())
}

#[test]
fn keys_client_ids_and_ecdh() {
    let v = vectors();
    for who in ["alice", "bob"] {
        let k = &v["keys"][who];
        let id = Identity::from_secret_bytes(&key32(&k["sk"])).unwrap();
        assert_eq!(id.address().to_hex(), k["pk"].as_str().unwrap());
        assert_eq!(wire::client_id(&id.address()), k["client_id"].as_str().unwrap());
    }
    let alice = keyring(&v["keys"]["alice"]["sk"]);
    let bob: Address = v["keys"]["bob"]["pk"].as_str().unwrap().parse().unwrap();
    assert_eq!(hex::encode(alice.static_secret(&bob).as_ref()), v["ecdh_alice_bob"].as_str().unwrap());
}

#[test]
fn padded_lengths() {
    for pair in vectors()["padded"].as_array().unwrap() {
        let (l, p) = (pair[0].as_u64().unwrap() as usize, pair[1].as_u64().unwrap() as usize);
        assert_eq!(padded_len(l), p, "padded({l})");
    }
}

#[test]
fn positive_envelopes_match_byte_for_byte() {
    let v = vectors();
    for e in v["envelopes"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let sender = keyring(&e["sender_sk"]);
        let recipient = keyring(&e["recipient_sk"]);
        let cbor = bytes(&e["cbor"]);
        assert_eq!(hex::encode(sha256(&cbor)), e["hash"].as_str().unwrap(), "{name}: hash");
        let padded = pad(&cbor);
        assert_eq!(padded.len() as u64, e["padded_len"].as_u64().unwrap(), "{name}: padded length");
        let sealed = sender.seal_with_ephemeral(&recipient.address(), &padded, &key32(&e["ephemeral_sk"])).unwrap();
        assert_eq!(hex::encode(&sealed), e["envelope"].as_str().unwrap(), "{name}: envelope");

        let opened = wire::open_envelope(&recipient, &bytes(&e["envelope"])).unwrap();
        assert_eq!(opened.from, sender.address(), "{name}: sender");
        assert_eq!(opened.cbor, cbor, "{name}: cbor");
        assert_eq!(opened.hash.to_hex(), e["hash"].as_str().unwrap());
        // Our encoder writes the same bytes as the reference implementation, except where the
        // vector carries keys we do not know (they are ignored on decode).
        if name != "unknown_keys" {
            assert_eq!(opened.packet.encode(), cbor, "{name}: re-encoding");
        }
        assert_eq!(Packet::decode(&cbor).unwrap(), opened.packet);
    }
}

#[test]
fn negative_envelopes_are_rejected() {
    let v = vectors();
    for e in v["negative"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let recipient = keyring(&e["recipient_sk"]);
        let r = wire::open_envelope(&recipient, &bytes(&e["envelope"]));
        assert!(r.is_err(), "{name} was accepted");
    }
}

#[test]
fn seal_open_round_trip_with_random_ephemeral_keys() {
    let alice = Keyring::new(Identity::generate().unwrap());
    let bob = Keyring::new(Identity::generate().unwrap());
    let p = Packet::new(wire::Body::Text { text: "你好 👋".into() });
    let s1 = wire::seal_packet(&alice, &bob.address(), &p).unwrap();
    let s2 = wire::seal_packet(&alice, &bob.address(), &p).unwrap();
    assert_ne!(s1.envelope, s2.envelope, "fresh ephemeral key each time");
    assert_eq!(s1.hash, s2.hash);
    let o = wire::open_envelope(&bob, &s1.envelope).unwrap();
    assert_eq!((o.from, o.packet), (alice.address(), p));
    // Not for carol.
    let carol = Keyring::new(Identity::generate().unwrap());
    assert!(wire::open_envelope(&carol, &s1.envelope).is_err());
}

#[test]
fn negative_envelopes_fail_for_the_stated_reason() {
    let expected = [
        ("wrong_version", "bad_version"),
        ("truncated", "bad_size"),
        ("flipped_ephemeral", "bad_"),
        ("flipped_sender_tag", "bad_sender_tag"),
        ("flipped_body", "bad_body_tag"),
        ("flipped_body_tag", "bad_body_tag"),
        ("not_a_point", "bad_point"),
        ("for_carol", "bad_sender_tag"),
        ("nonzero_padding", "bad_padding"),
        ("length_past_end", "bad_padding"),
        ("overpadded", "bad_padding"),
        ("empty", "bad_size"),
    ];
    let v = vectors();
    for e in v["negative"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let recipient = keyring(&e["recipient_sk"]);
        let code = wire::open_envelope(&recipient, &bytes(&e["envelope"])).unwrap_err().code();
        let want = expected.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).unwrap_or("?");
        assert!(code.starts_with(want), "{name}: {code}, expected {want}");
    }
}
