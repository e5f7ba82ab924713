//! The checks behind each fuzz target, shared with `tests/fuzz_inputs.rs`, which replays the
//! seeds and every crash input found (`fuzz/regressions/`) in `cargo test`.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;

use wochat::config::Config;
use wochat::crypto::envelope::Keyring;
use wochat::crypto::{Identity, sha256};
use wochat::objects::{ObjectId, ObjectStore};
use wochat::wire::Packet;

/// Opening an envelope from anyone: raw bytes (mode 0), or any padded payload sealed for real
/// (mode 1), so that unpadding and decoding behind the authentication are reached too.
pub fn envelope_open(data: &[u8]) {
    thread_local! {
        static KEYS: (Keyring, Keyring) = (keyring(ALICE_SK), keyring(BOB_SK));
    }
    let Some((&mode, rest)) = data.split_first() else { return };
    KEYS.with(|(alice, bob)| {
        if mode & 1 == 0 {
            let _ = wochat::wire::open_envelope(bob, rest);
        } else if let Ok(env) = alice.seal_with_ephemeral(&bob.address(), rest, &[7u8; 32]) {
            // Authentic, so only the payload can make it fail.
            match wochat::wire::open_envelope(bob, &env) {
                Ok(o) => assert_eq!(o.from, alice.address()),
                Err(reason) => {
                    assert!(matches!(reason.code(), "bad_padding" | "bad_packet" | "bad_size"), "{}", reason.code())
                }
            }
        }
    });
}

/// Bob and alice of the protocol vectors.
const BOB_SK: &str = "b5140667216771180c1975d0b37f1b1595d0313583df61763dacbe2fc0bae323";
const ALICE_SK: &str = "d68daec6904583b1f4baf148710a9a73e08d055ec2bdf21e779b1de92707822f";

fn keyring(sk: &str) -> Keyring {
    let mut b = [0u8; 32];
    hex::decode_to_slice(sk, &mut b).expect("a vector key");
    Keyring::new(Identity::from_secret_bytes(&b).expect("a vector key"))
}

/// Decoding a CBOR packet: never panics; what decodes re-encodes to a packet that decodes equal.
pub fn packet_decode(data: &[u8]) {
    if let Ok(p) = Packet::decode(data) {
        let again = Packet::decode(&p.encode()).expect("our own encoding decodes");
        assert_eq!(again, p);
    }
}

/// The whole decoding of what a peer's envelope carries, after authentication: mode 0, a
/// padded v1 payload (unpadding, then the packet); mode 1, a v2 inner packet; mode 2, a signed
/// key bundle. Never panics, and whatever is accepted is within every field limit and
/// re-encodes to itself.
pub fn message_decode(data: &[u8]) {
    use wochat::wire::{
        AttachKind, Body, Inner, KeyBundle, MAX_ACKS, MAX_DIMENSION, MAX_EMOJI, MAX_FILE_NAME, MAX_MIME, MAX_NEEDS,
        MAX_TEXT, MAX_THUMB,
    };
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let Ok(cbor) = wochat::wire::unpad(rest) else { return };
            let Ok(p) = Packet::decode(cbor) else { return };
            match &p.body {
                Body::Text { text } => assert!(text.len() <= MAX_TEXT),
                Body::Attachment { kind, text, obj } => {
                    let _: AttachKind = *kind;
                    assert!(text.as_ref().is_none_or(|t| t.len() <= MAX_TEXT));
                    assert!(obj.name.len() <= MAX_FILE_NAME && obj.mime.len() <= MAX_MIME);
                    assert!(obj.thumb.as_ref().is_none_or(|t| t.len() <= MAX_THUMB));
                    assert!(obj.w.is_none_or(|w| w <= MAX_DIMENSION) && obj.h.is_none_or(|h| h <= MAX_DIMENSION));
                    assert_eq!(obj.chunks, obj.size.div_ceil(65536));
                }
                Body::Receipt { ack } => assert!(ack.len() <= MAX_ACKS),
                Body::Need { i, .. } => assert!(i.len() <= MAX_NEEDS),
                Body::Chunk { data, .. } => assert!(data.len() <= 65536),
                Body::Keys { .. } | Body::Delete { .. } | Body::Typing { .. } => {}
                Body::Edit { text, .. } => assert!(text.len() <= MAX_TEXT),
                Body::React { emoji, .. } => assert!(wochat::wire::valid_reaction(emoji) && emoji.len() <= MAX_EMOJI),
                Body::Read { ack } => assert!(ack.len() <= MAX_ACKS),
            }
            assert_eq!(Packet::decode(&p.encode()).expect("our own encoding decodes"), p);
        }
        1 => {
            if let Ok(inner) = Inner::decode(rest) {
                assert_eq!(Inner::decode(&inner.encode()).expect("our own encoding decodes"), inner);
            }
        }
        _ => {
            let _ = KeyBundle::open(rest);
        }
    }
}

/// The receiver's reassembly of a file from chunks in any order, of any length, repeated or
/// tampered with: never panics; wrong lengths are refused; `missing` tells exactly what is
/// absent; finishing succeeds exactly when every chunk is right and the id is the file's hash,
/// and then the stored object reads back byte-identical.
pub fn chunk_reassembler(data: &[u8]) {
    thread_local! {
        static STORE: (tempfile::TempDir, ObjectStore, wochat::crypto::Address) = {
            let dir = tempfile::tempdir().expect("a temp dir");
            let store = ObjectStore::open(dir.path(), &Identity::generate().expect("a key"), 0).expect("a store");
            (dir, store, keyring(ALICE_SK).address())
        };
    }
    if data.len() < 4 {
        return;
    }
    let size = u64::from(u32::from_le_bytes([data[0], data[1], data[2], 0])) % (3 * SEGMENT + 100);
    let honest = data[3] & 1 == 0;
    let file: Vec<u8> = (0..size).map(|i| ((i * 31) % 251) as u8 ^ data[3]).collect();
    let id = if honest { ObjectId(sha256(&file)) } else { ObjectId(sha256(&data[..4])) };
    STORE.with(|(_, store, sender)| {
        store.discard_partial(&id, sender).expect("discard");
        let mut p = store.begin_partial(&id, sender, size).expect("begin");
        let n = p.chunks();
        let expected = |i: u64| -> &[u8] { &file[(i * SEGMENT) as usize..((i + 1) * SEGMENT).min(size) as usize] };
        let mut state = vec![Chunk::Absent; n as usize];
        for op in data[4..].chunks_exact(3) {
            let i = u64::from(op[1]) % (n + 2);
            match op[0] % 4 {
                0 | 1 if i < n => {
                    // The right chunk, or (op 1) the right chunk with one byte changed.
                    let mut bytes = expected(i).to_vec();
                    if op[0] % 4 == 1 && !bytes.is_empty() {
                        let at = usize::from(op[2]) % bytes.len();
                        bytes[at] ^= 0x5a;
                    }
                    p.write_chunk(i, &bytes).expect("a chunk of the right length");
                    // A slot is written once: the first chunk stands.
                    if state[i as usize] == Chunk::Absent {
                        state[i as usize] = if bytes == expected(i) { Chunk::Right } else { Chunk::Wrong };
                    }
                }
                2 => {
                    // Any length: refused unless it is exactly the chunk's length.
                    let len = usize::from(op[2]) * 257;
                    let right_len = i < n && len == expected(i).len();
                    let bytes = vec![op[2]; len];
                    assert_eq!(p.write_chunk(i, &bytes).is_ok(), right_len, "chunk {i} of {len} bytes");
                    if right_len && state[i as usize] == Chunk::Absent {
                        state[i as usize] = if bytes == expected(i) { Chunk::Right } else { Chunk::Wrong };
                    }
                }
                _ => {
                    let absent: Vec<u64> = (0..n).filter(|&i| state[i as usize] == Chunk::Absent).collect();
                    assert_eq!(p.missing(), absent);
                }
            }
        }
        if state.contains(&Chunk::Absent) {
            store.discard_partial(&id, sender).expect("discard");
            return;
        }
        let should_work = honest && state.iter().all(|&c| c == Chunk::Right);
        let result = store.finish_partial(p);
        assert_eq!(result.is_ok(), should_work, "{result:?}");
        if should_work {
            let mut back = Vec::new();
            store.open_reader(&id).expect("stored").read_to_end(&mut back).expect("reads back");
            assert!(back == file);
            store.gc(&Default::default()).expect("gc");
        }
    });
}

const SEGMENT: u64 = 65536;

#[derive(Clone, Copy, PartialEq)]
enum Chunk {
    Absent,
    Right,
    Wrong,
}

/// Parsing `config.toml`: never panics; what parses and validates saves and parses back equal.
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = Config::parse(text, Path::new("config.toml")) {
        let saved = toml::to_string_pretty(&c).expect("settings that parsed can be written");
        let again = Config::parse(&saved, Path::new("config.toml")).expect("written settings parse");
        assert_eq!(again, c);
        let me = Identity::from_secret_bytes(&[1u8; 32]).expect("a key").address();
        let login = wochat::app::BrokerLogin { client_id: "wtest".into(), password: Default::default() };
        let _ = wochat::app::transport_config(&c, &me, &login, &[]);
    }
}

/// Making previews of any bytes a peer or a user gives as an image: never panics, never
/// allocates beyond the decoding limits, and what comes out respects the preview bounds.
pub fn image_preview(data: &[u8]) {
    if let Ok(t) = wochat::media::make_thumbs(data) {
        assert!(t.preview.len() <= 48 * 1024);
    }
}
