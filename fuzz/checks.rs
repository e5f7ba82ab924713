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

/// A real account (bob, with its own store) opening protocol v2 envelopes, every delivery in a
/// transaction that is rolled back, so that each input meets the same state: mode 0, raw bytes;
/// mode 1, any inner payload under an authentic outer envelope; mode 2, alice's real bundle
/// with any Olm message; mode 3, alice's real pre-key messages (one, then a batch of three)
/// changed by the input's edits; mode 4, alice's real first message, then a v1 envelope of hers
/// carrying any payload; mode 5, alice's real bundle with the input's byte changes (or any
/// bytes), published or in band; mode 6, like mode 3 with alice's normal messages (one, and a
/// batch) sent after bob's reply, to a bob who has the session. Never panics, a bundle is taken only as alice signed it, never fails for want of state (a hostile delivery must
/// not be retried for ever), what opens comes from whom the Olm layer proves (an inner packet
/// whose sender was changed opens nothing), real messages unchanged open, and after alice has
/// spoken v2 nothing but a key bundle is heard from her in v1.
pub fn v2_receive(data: &[u8]) {
    use std::cell::RefCell;
    use wochat::session::{OpenError, Sessions};
    use wochat::wire::{Body, Inner, pad};
    thread_local! {
        static BOB: RefCell<Option<V2Bob>> = const { RefCell::new(None) };
    }
    let Some((&mode, rest)) = data.split_first() else { return };
    BOB.with(|cell| {
        let mut cell = cell.borrow_mut();
        let bob = cell.get_or_insert_with(V2Bob::new);
        let alice = bob.alice;
        let sealed = |inner: &Inner| {
            wochat::crypto::outer::seal_outer_with_ephemeral(&bob.address, &pad(&inner.encode()), &[9u8; 32])
                .expect("an outer envelope")
        };
        if mode % 7 == 5 {
            return v2_bundle(bob, rest);
        }
        let mut talking = false;
        let (first, envelope, changed_sender, unchanged) = match mode % 7 {
            0 => (None, rest.to_vec(), false, false),
            1 => {
                let env = wochat::crypto::outer::seal_outer_with_ephemeral(&bob.address, rest, &[9u8; 32]);
                (None, env.expect("an outer envelope"), false, false)
            }
            2 => {
                let Some((&kind, olm)) = rest.split_first() else { return };
                let inner = Inner {
                    from: alice,
                    device: bob.real[0].device,
                    kind: kind & 1,
                    olm: olm.to_vec(),
                    bundle: Some(bob.alice_bundle.clone()),
                    more: Vec::new(),
                };
                (None, sealed(&inner), false, false)
            }
            3 | 6 => {
                let Some((&which, edits)) = rest.split_first() else { return };
                talking = mode % 7 == 6;
                let real = if talking { &bob.normal } else { &bob.real };
                let mut inner = real[usize::from(which) % real.len()].clone();
                let changed_sender = edit_inner(&mut inner, edits, &bob.carol);
                (None, sealed(&inner), changed_sender, edits.is_empty())
            }
            _ => {
                let v1 = bob.alice_v1.seal_with_ephemeral(&bob.address, rest, &[9u8; 32]).expect("a v1 envelope");
                (Some(sealed(&bob.real[0])), v1, false, false)
            }
        };
        let receiver = if talking { &mut bob.talking } else { &mut bob.fresh };
        let results = receiver.try_out(|s, tx| {
            if let Some(first) = first {
                assert!(s.open(tx, &first).iter().all(Result::is_ok), "alice's first message opens");
            }
            s.open(tx, &envelope)
        });
        for r in &results {
            match r {
                Ok(o) => {
                    assert!(!changed_sender, "a message whose sender was changed opened as {}", o.from);
                    if mode % 7 >= 2 {
                        assert_eq!(o.from, alice);
                    }
                    if mode % 7 == 4 {
                        assert!(matches!(o.packet.body, Body::Keys { .. }), "v1 after v2: {:?}", o.packet.body);
                    }
                }
                Err(OpenError::Store(e)) => panic!("a hostile delivery would be retried for ever: {e}"),
                Err(e) => assert!(!unchanged, "alice's real message does not open: {e}"),
            }
        }
    });
}

/// Mode 5 of [`v2_receive`]: a key bundle said to be alice's.
fn v2_bundle(bob: &mut V2Bob, input: &[u8]) {
    use wochat::session::{KeySource, OpenError, Sessions};
    let Some((&how, edits)) = input.split_first() else { return };
    let bundle = if how & 1 == 0 {
        let mut b = bob.alice_bundle.clone();
        for e in edits.chunks_exact(3) {
            let at = (usize::from(e[0]) << 8 | usize::from(e[1])) % (b.len() + 1);
            match e[2] {
                0 => {
                    b.truncate(at);
                }
                1 => b.insert(at, 0),
                v if at < b.len() => b[at] ^= v,
                _ => {}
            }
        }
        b
    } else {
        edits.to_vec()
    };
    let source = match how >> 1 & 3 {
        0 => KeySource::Published { owner: bob.alice },
        n => KeySource::InBand { from: bob.alice, want: n & 1 == 1, reset: n & 2 == 2 },
    };
    let result = bob.fresh.try_out(|s, tx| s.on_keys(tx, source, &bundle));
    match result {
        Ok(outcome) => {
            if outcome.learned.is_some() {
                assert!(bundle == bob.alice_bundle, "a bundle alice did not sign was taken");
            }
        }
        Err(OpenError::Store(e)) => panic!("a hostile bundle would be retried for ever: {e}"),
        Err(_) => assert!(bundle != bob.alice_bundle, "alice's real bundle is refused"),
    }
}

/// Applies the edits (3 bytes each: what, where, value) to an inner packet; whether its sender
/// was changed.
fn edit_inner(inner: &mut wochat::wire::Inner, edits: &[u8], other: &wochat::crypto::Address) -> bool {
    let mut changed_sender = false;
    let flip = |bytes: &mut Vec<u8>, at: u8, v: u8| {
        if !bytes.is_empty() {
            let i = usize::from(at) * bytes.len() / 256;
            bytes[i] ^= v.max(1);
        }
    };
    for e in edits.chunks_exact(3) {
        let (at, v) = (e[1], e[2]);
        match e[0] % 8 {
            0 => flip(&mut inner.olm, at, v),
            1 => inner.olm.truncate(usize::from(at) * inner.olm.len() / 256),
            2 => inner.bundle = None,
            3 if !inner.more.is_empty() => {
                let i = usize::from(at) % inner.more.len();
                flip(&mut inner.more[i], v, 0x41);
            }
            4 if !inner.more.is_empty() => {
                let (i, j) = (usize::from(at) % inner.more.len(), usize::from(v) % inner.more.len());
                inner.more.swap(i, j);
            }
            5 => {
                let copy = inner.more.get(usize::from(at) % inner.more.len().max(1)).cloned();
                inner.more.push(copy.unwrap_or_else(|| inner.olm.clone()));
            }
            6 => inner.kind ^= 1,
            7 => {
                inner.from = *other;
                changed_sender = true;
            }
            _ => {}
        }
    }
    changed_sender
}

/// An account's v2 sessions over its own store.
struct Receiver {
    sessions: wochat::session::V2Sessions,
    db: rusqlite::Connection,
    dir: tempfile::TempDir,
}

impl Receiver {
    /// `me`, with `friend` as a friend, over a new store.
    fn new(me: &str, friend: &str) -> Self {
        use wochat::testkit::identity_of;
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut db = rusqlite::Connection::open(dir.path().join("chat.db")).expect("a database");
        wochat::store::migrations::migrate(&mut db, wochat::store::migrations::CHAT_DB).expect("the schema");
        db.execute(
            "INSERT INTO friend (dt, pk, name) VALUES (0, ?1, 'friend')",
            [identity_of(friend).address().to_hex()],
        )
        .expect("a friend");
        Self { sessions: Self::scheme(me), db, dir }
    }

    fn scheme(me: &str) -> wochat::session::V2Sessions {
        let keys = Keyring::new(wochat::testkit::identity_of(me));
        wochat::session::V2Sessions::new(std::sync::Arc::new(keys))
    }

    /// `me` over a copy of this store (no transaction may be open).
    fn copy(&self, me: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::copy(self.dir.path().join("chat.db"), dir.path().join("chat.db")).expect("a copy");
        let db = rusqlite::Connection::open(dir.path().join("chat.db")).expect("a database");
        Self { sessions: Self::scheme(me), db, dir }
    }

    /// Runs `f` in a transaction that commits with the sessions' state.
    fn commit<T>(&mut self, f: impl FnOnce(&wochat::session::V2Sessions, &rusqlite::Transaction<'_>) -> T) -> T {
        use wochat::session::Sessions;
        let tx = self.db.transaction().expect("a transaction");
        let out = f(&self.sessions, &tx);
        self.sessions.flush(&tx).expect("flush");
        tx.commit().expect("commit");
        out
    }

    /// Runs `f` in a transaction that is rolled back, with what it changed in memory.
    fn try_out<T>(&mut self, f: impl FnOnce(&wochat::session::V2Sessions, &rusqlite::Transaction<'_>) -> T) -> T {
        use wochat::session::Sessions;
        let tx = self.db.transaction().expect("a transaction");
        let out = f(&self.sessions, &tx);
        drop(tx);
        self.sessions.rolled_back();
        out
    }
}

/// Bob's side of [`v2_receive`]: his store, and what alice really sent him.
struct V2Bob {
    /// Bob before alice's first message.
    fresh: Receiver,
    /// Bob after alice's first messages and his reply.
    talking: Receiver,
    address: wochat::crypto::Address,
    alice: wochat::crypto::Address,
    carol: wochat::crypto::Address,
    alice_v1: Keyring,
    alice_bundle: Vec<u8>,
    /// Alice's inner packets: a pre-key message, then a batch of three.
    real: Vec<wochat::wire::Inner>,
    /// Alice's inner packets after bob's reply: a normal message, then a batch of three.
    normal: Vec<wochat::wire::Inner>,
    _alice: Receiver,
}

impl V2Bob {
    fn new() -> Self {
        use wochat::session::{Audience, Envelope, KeySource, Sessions, V2Sessions};
        use wochat::testkit::identity_of;
        use wochat::wire::{Body, Inner, unpad};
        let (mut alice, mut bob) = (Receiver::new("alice", "bob"), Receiver::new("bob", "alice"));
        let (alice_address, bob_address) = (identity_of("alice").address(), identity_of("bob").address());
        let published = |s: &V2Sessions, tx: &rusqlite::Transaction<'_>| {
            s.own_keys(tx, true).expect("own keys").expect("a bundle").payload
        };
        let bob_bundle = bob.commit(published);
        let alice_bundle = alice.commit(published);
        let text = |t: &str| Packet::new(Body::Text { text: t.into() }).encode();
        let batch = [text("one"), text("two"), text("three")];
        let batch: Vec<&[u8]> = batch.iter().map(|c| &c[..]).collect();
        // A message, then a batch: their envelopes.
        let say = |s: &V2Sessions, tx: &rusqlite::Transaction<'_>, first: &str| {
            let mut envelopes = s.seal(tx, Audience::Peer(&bob_address), &text(first), false).expect("sealed");
            let sealed = s.seal_batch(tx, &bob_address, &batch, false).expect("sealed");
            envelopes.extend(sealed.into_iter().map(|(_, e)| e));
            envelopes
        };
        let inner = |envelopes: Vec<Envelope>| -> Vec<Inner> {
            let inners: Vec<Inner> = envelopes
                .iter()
                .map(|e| {
                    let padded = wochat::crypto::outer::open_outer(&identity_of("bob"), &e.payload).expect("for bob");
                    Inner::decode(unpad(&padded).expect("padded")).expect("an inner packet")
                })
                .collect();
            assert_eq!(inners.len(), 2, "one message, then one batch");
            assert_eq!(inners[1].more.len(), 2, "a batch of three");
            inners
        };
        let real = alice.commit(|s, tx| {
            s.on_keys(tx, KeySource::Published { owner: bob_address }, &bob_bundle).expect("bob's keys");
            say(s, tx, "hello")
        });
        let real = inner(real);
        let mut talking = bob.copy("bob");
        let reply = talking.commit(|s, tx| {
            for i in &real {
                let env = wochat::crypto::outer::seal_outer(&bob_address, &wochat::wire::pad(&i.encode()));
                assert!(s.open(tx, &env.expect("sealed")).iter().all(Result::is_ok), "alice's messages open");
            }
            s.seal(tx, Audience::Peer(&alice_address), &text("hi alice"), false).expect("sealed")
        });
        let normal = alice.commit(|s, tx| {
            assert!(s.open(tx, &reply[0].payload).iter().all(Result::is_ok), "bob's reply opens");
            say(s, tx, "normal")
        });
        let normal = inner(normal);
        assert!(normal.iter().all(|i| i.kind == 1), "normal messages after the reply");
        V2Bob {
            fresh: bob,
            talking,
            address: bob_address,
            alice: alice_address,
            carol: identity_of("carol").address(),
            alice_v1: Keyring::new(identity_of("alice")),
            alice_bundle,
            real,
            normal,
            _alice: alice,
        }
    }
}

/// The passphrase of the backups `backup_restore` seals.
const BACKUP_PASSPHRASE: &[u8] = b"fuzz backup passphrase";

/// A backup file of any content, checked and restored into an empty home: mode 0, the input
/// is the whole file; mode 1, the input is the plaintext inside a stream sealed for real
/// under the known passphrase (its seeds are honest backups: [`backup_plaintext`]). Never
/// panics; `backup verify` accepts exactly what a restore into an empty home accepts (so a
/// backup that verifies restores); a refused restore leaves the home as it was; an accepted
/// one writes nothing but the account's key, its `chat.db`, the object store's files and, if
/// this version reads them, the settings.
pub fn backup_restore(data: &[u8]) {
    restore_any_backup(data);
}

/// [`backup_restore`]'s check; whether the restore was accepted.
pub fn restore_any_backup(data: &[u8]) -> bool {
    use wochat::crypto::password::KdfParams;
    use wochat::crypto::stream::SealingWriter;
    let Some((&mode, rest)) = data.split_first() else { return false };
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("fuzz.wochat-backup");
    let bytes = match mode % 2 {
        0 => rest.to_vec(),
        _ => {
            let mut w = SealingWriter::new(Vec::new(), BACKUP_PASSPHRASE, KdfParams::INSECURE_FAST).expect("a stream");
            std::io::Write::write_all(&mut w, rest).expect("in memory");
            w.finish().expect("in memory")
        }
    };
    std::fs::write(&file, bytes).expect("a temp file");
    let home = wochat::home::Home::open(dir.path().join("home")).expect("a home");
    let keys = wochat::store::KeyStore::open(&home.keys_db_path()).expect("a key store");
    let before = files_below(home.root());
    let verified = wochat::backup::verify(&file, BACKUP_PASSPHRASE);
    let restored = wochat::backup::restore(&home, &keys, &file, BACKUP_PASSPHRASE, false, None);
    assert_eq!(verified.is_ok(), restored.is_ok(), "verify and restore disagree: {verified:?} / {restored:?}");
    let after = files_below(home.root());
    let Ok(summary) = restored else {
        assert_eq!(before, after, "a refused restore changed the home");
        return false;
    };
    let address: wochat::crypto::Address = summary.manifest.address.parse().expect("a checked address");
    let account = format!("accounts/{}", address.to_hex());
    for path in after.iter().filter(|p| !before.contains(p)) {
        let allowed = path == "config.toml"
            || path == &format!("{account}/chat.db")
            || path.strip_prefix(&format!("{account}/objects/")).is_some_and(|o| {
                o.len() == 65 && o.as_bytes()[2] == b'/' && o.bytes().all(|b| b == b'/' || b.is_ascii_hexdigit())
            });
        assert!(allowed, "a restore wrote {path}");
    }
    let config = home.config_path();
    assert!(wochat::config::Config::load(&config).is_ok(), "a restore left settings that do not load");
    assert!(!(summary.settings_skipped.is_some() && config.exists()), "settings skipped yet written");
    let (restored_address, sealed) = keys.sealed_key(&summary.manifest.name).expect("the restored key");
    assert_eq!(restored_address, address);
    assert!(sealed.check().is_ok());
    true
}

/// The files (not folders) below `root`, as `/`-separated relative paths, sorted; SQLite's
/// `-shm`/`-wal` files of the key store are left out (they come and go).
fn files_below(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("a folder of the home") {
            let path = e.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("below the root");
                let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                if !rel.ends_with("-shm") && !rel.ends_with("-wal") {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    out
}

/// The plaintext of an honest backup (mode 1 of [`backup_restore`], without the mode byte):
/// its manifest, key, settings, two files of the object store, a leftover temporary file of
/// an import, the database, the end.
pub fn backup_plaintext() -> Vec<u8> {
    use wochat::crypto::password::{KdfParams, seal_identity};
    let id = Identity::from_secret_bytes(&[3u8; 32]).expect("a key");
    let sealed = seal_identity(&id, b"account password", KdfParams::INSECURE_FAST).expect("sealed");
    let mut out = Vec::new();
    let mut entry = |kind: &str, name: &str, body: &[u8]| {
        let header = format!(r#"{{"kind":"{kind}","name":"{name}","size":{}}}"#, body.len());
        out.extend_from_slice(&(header.len() as u32).to_be_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
    };
    let manifest = format!(
        r#"{{"format":"wochat-backup/1","app":"0","created":0,"name":"fuzz","address":"{}"}}"#,
        id.address().to_hex()
    );
    entry("manifest", "", manifest.as_bytes());
    let key = format!(
        r#"{{"kdf_m":{},"kdf_t":{},"kdf_p":{},"salt":"{}","sk":"{}"}}"#,
        sealed.kdf.m_kib,
        sealed.kdf.t,
        sealed.kdf.p,
        hex::encode(&sealed.salt),
        hex::encode(&sealed.blob)
    );
    entry("key", "", key.as_bytes());
    entry("config", "config.toml", b"[broker]\nurls = [\"mqtt://127.0.0.1:1883\"]\n");
    entry("object", &format!("ab/{}", "c".repeat(62)), b"first file");
    entry("object", &format!("0f/{}", "1".repeat(62)), b"second file");
    entry("object", "tmp/0123.tmp", b"an import under way");
    entry("chat.db", "chat.db", b"SQLite format 3\0 (not opened by a restore)");
    entry("end", "", b"");
    out
}
