//! The component alone: the send window, chunks asked for again, the missing-chunk backoff,
//! and a file received chunk by chunk, verified and receipted.

use std::sync::Arc;

use super::{Effect, MediaLimits, PreparedFile, Transfers, WINDOW, prepare_file, register_incoming};
use crate::app::Event;
use crate::crypto::merkle::{self, MerkleTree};
use crate::crypto::{Address, Identity};
use crate::objects::{ObjectId, ObjectStore};
use crate::store::{ChatId, TransferState};
use crate::transport::Tag;
use crate::wire::{AttachKind, Body, MessageHash};

const CHUNK: usize = 65536;

struct Fixture {
    _dir: tempfile::TempDir,
    objects: Arc<ObjectStore>,
    peer: Address,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let me = Identity::generate().unwrap();
    let objects = Arc::new(ObjectStore::open(&dir.path().join("objects"), &me, 0).unwrap());
    Fixture { _dir: dir, objects, peer: Identity::generate().unwrap().address() }
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    for c in v.chunks_mut(CHUNK) {
        crate::crypto::random_bytes(c).unwrap();
    }
    v
}

/// A file of `chunks` chunks imported into the fixture's store.
fn file(f: &Fixture, chunks: usize) -> (PreparedFile, Vec<u8>) {
    let data = random(chunks * CHUNK - 100);
    let path = f._dir.path().join(format!("f{chunks}.bin"));
    std::fs::write(&path, &data).unwrap();
    (prepare_file(&f.objects, &path, None, None, u64::MAX).unwrap(), data)
}

/// The verification a complete file asks for, among `effects`.
fn verify_job(effects: Vec<Effect>) -> super::VerifyJob {
    effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Verify(job) => Some(job),
            _ => None,
        })
        .expect("complete: verify")
}

/// The chunk publishes among `effects`: (index, tag).
fn chunks(effects: &[Effect]) -> Vec<(u64, Tag)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { body: Body::Chunk { i, .. }, tag: Some(tag), .. } => Some((*i, *tag)),
            _ => None,
        })
        .collect()
}

fn needs(effects: &[Effect]) -> Vec<Vec<u64>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { body: Body::Need { i, .. }, .. } => Some(i.clone()),
            _ => None,
        })
        .collect()
}

fn sending(f: &Fixture, n: usize) -> (Transfers, PreparedFile, MessageHash) {
    sending_padded(f, n, false)
}

fn sending_padded(f: &Fixture, n: usize, padded: bool) -> (Transfers, PreparedFile, MessageHash) {
    let (file, _) = file(f, n);
    let mut t = Transfers::new(f.objects.clone(), MediaLimits::default(), super::NEED_FIRST);
    let msg = MessageHash([7; 32]);
    let row = Transfers::outgoing_row(&file, f.peer, msg, 0);
    let tree = Arc::new(MerkleTree::new(file.leaves.clone()));
    let started = t.start_outgoing(row, Some(tree), padded);
    assert!(matches!(started[..], [Effect::Emit(Event::Transfer { state: TransferState::Active, .. })]));
    (t, file, msg)
}

#[test]
fn a_padded_file_sends_chaff_first_and_every_chunk_packet_is_as_long() {
    let f = fixture();
    // 65 chunks less 100 bytes: Padmé rounds 4,259,740 bytes up to 4,325,376 (66 chunks).
    let (mut t, file, _) = sending_padded(&f, 65, true);
    assert_eq!(crate::wire::padded_chunks(file.meta.size), 66);
    let mut sent = Vec::new();
    loop {
        let effects = t.pump(|_| true);
        if effects.is_empty() {
            break;
        }
        for e in effects {
            let Effect::Publish { body, tag: Some(tag), pad_to: Some(len), .. } = e else { panic!("{e:?}") };
            let Body::Chunk { i, .. } = &body else { panic!("{body:?}") };
            sent.push((*i, crate::wire::Packet::new(body.clone()).encode_padded_to(len).len()));
            t.on_acked(&tag);
        }
    }
    let order: Vec<u64> = sent.iter().map(|s| s.0).collect();
    assert_eq!(order[0], 65, "the chaff chunk goes first");
    assert_eq!(order[1..], (0..65).collect::<Vec<_>>());
    // Within 4 bytes of each other: one padding class of the envelope (2 KiB wide here).
    let lengths: std::collections::BTreeSet<usize> = sent.iter().map(|s| s.1).collect();
    let (min, max) = (lengths.first().unwrap(), lengths.last().unwrap());
    assert!(max - min <= 4, "every chunk packet is as long: {lengths:?}");
    assert!(*min > CHUNK, "{min}");
    // Chaff is never sent again, and makes no progress.
    assert!(t.pump(|_| true).is_empty());
    assert_eq!(t.outgoing_progress(&file.id, &f.peer), Some(file.meta.size));
}

#[test]
fn the_window_holds_at_most_32_chunks_in_flight() {
    let f = fixture();
    let (mut t, _, _) = sending(&f, 40);
    let first = chunks(&t.pump(|_| true));
    assert_eq!(first.len(), WINDOW as usize);
    assert_eq!(first.iter().map(|c| c.0).collect::<Vec<_>>(), (0..32).collect::<Vec<_>>(), "in order");
    assert!(t.pump(|_| true).is_empty(), "the window is full");
    for (_, tag) in &first[..5] {
        assert!(t.on_acked(tag).is_some(), "a chunk's tag");
    }
    assert!(t.on_acked(&[0xee; 32]).is_none(), "not a chunk's tag: a message's");
    let next = chunks(&t.pump(|_| true));
    assert_eq!(next.iter().map(|c| c.0).collect::<Vec<_>>(), (32..37).collect::<Vec<_>>());
    // Every tag differs.
    let mut tags: Vec<Tag> = first.iter().chain(&next).map(|c| c.1).collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 37);
}

#[test]
fn chunks_asked_for_or_lost_are_sent_again_first() {
    let f = fixture();
    let (mut t, file, _) = sending(&f, 40);
    let first = chunks(&t.pump(|_| true));
    for (_, tag) in &first {
        t.on_acked(tag);
    }
    // The receiver asks for 3 and 7 (twice) and an index beyond the file.
    assert!(t.on_need(&f.peer, file.id, vec![3, 7, 7, 999]).is_empty());
    // Someone else asking about the file is dropped.
    let stranger = Identity::generate().unwrap().address();
    assert!(matches!(t.on_need(&stranger, file.id, vec![1])[..], [Effect::Drop("need_unknown_file")]));
    let again = chunks(&t.pump(|_| true));
    assert_eq!(again.iter().map(|c| c.0).take(3).collect::<Vec<_>>(), vec![3, 7, 32]);
    // A publish lost with a broker session goes out again.
    assert!(t.on_lost(&again[0].1));
    let after = chunks(&t.pump(|_| true));
    assert_eq!(after.first().map(|c| c.0), Some(3));
}

#[test]
fn a_receipt_completes_the_transfer_and_its_row_is_saved() {
    let f = fixture();
    let (mut t, file, msg) = sending(&f, 3);
    let sent = chunks(&t.pump(|_| true));
    assert_eq!(sent.len(), 3);
    let saved = t.take_dirty();
    assert_eq!(saved[0].done, 3, "progress: chunks handed over");
    let done = t.on_receipt(&f.peer, &[msg]);
    assert!(matches!(done[..], [Effect::Emit(Event::Transfer { state: TransferState::Complete, .. })]));
    let rows = t.take_dirty();
    assert_eq!((rows.len(), rows[0].state), (1, TransferState::Complete));
    assert!(t.pump(|_| true).is_empty());
    assert!(t.on_need(&f.peer, file.id, vec![0]).iter().any(|e| matches!(e, Effect::Drop(_))));
}

/// An incoming transfer of `data` from the fixture's peer, its message naming no root.
fn receiving(f: &Fixture, data: &[u8], now: i64) -> (Transfers, ObjectId) {
    receiving_with(f, data, now, None)
}

/// An incoming transfer of `data` from the fixture's peer, its message naming `root`.
fn receiving_with(f: &Fixture, data: &[u8], now: i64, root: Option<[u8; 32]>) -> (Transfers, ObjectId) {
    let mut db = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrations::migrate(&mut db, crate::store::migrations::CHAT_DB).unwrap();
    let id = ObjectId(crate::crypto::sha256(data));
    let meta = crate::wire::ObjectMeta {
        hash: id.0,
        size: data.len() as u64,
        name: "x.bin".into(),
        mime: "application/octet-stream".into(),
        chunks: (data.len() as u64).div_ceil(CHUNK as u64),
        w: None,
        h: None,
        thumb: None,
        root,
    };
    let tx = db.transaction().unwrap();
    let row =
        register_incoming(&tx, &f.peer, &MessageHash([9; 32]), &meta, MediaLimits::default(), false, now).unwrap();
    let mut t = Transfers::new(f.objects.clone(), MediaLimits::default(), super::NEED_FIRST);
    let started = t.start_incoming(row, ChatId(1), AttachKind::File);
    assert!(matches!(started[..], [Effect::Emit(Event::Transfer { state: TransferState::Active, .. })]));
    (t, id)
}

#[test]
fn missing_chunks_are_asked_for_after_10_s_of_silence_then_less_often() {
    let f = fixture();
    let data = random(3 * CHUNK);
    let s = 1000;
    let (mut t, id) = receiving(&f, &data, 0);
    assert!(needs(&t.ask_for_missing(9 * s)).is_empty(), "not yet");
    assert_eq!(needs(&t.ask_for_missing(10 * s)), vec![vec![0, 1, 2]]);
    assert!(needs(&t.ask_for_missing(29 * s)).is_empty(), "the second wait is 20 s");
    assert_eq!(needs(&t.ask_for_missing(30 * s)), vec![vec![0, 1, 2]]);
    assert!(needs(&t.ask_for_missing(69 * s)).is_empty(), "then 40 s");
    // A chunk arrives: the wait starts again at 10 s, and only what is missing is named.
    t.on_chunk(&f.peer, id, 1, &data[CHUNK..2 * CHUNK], &[], 70 * s);
    assert!(needs(&t.ask_for_missing(79 * s)).is_empty());
    assert_eq!(needs(&t.ask_for_missing(80 * s)), vec![vec![0, 2]]);
    // The waits never exceed 5 minutes.
    let mut at = 80 * s;
    for _ in 0..20 {
        at += 300 * s;
        assert_eq!(needs(&t.ask_for_missing(at)).len(), 1, "asked again within 5 minutes");
    }
}

#[test]
fn a_file_received_out_of_order_is_verified_kept_and_receipted() {
    let f = fixture();
    let data = random(3 * CHUNK - 7);
    let (mut t, id) = receiving(&f, &data, 0);
    let stranger = Identity::generate().unwrap().address();
    assert!(matches!(t.on_chunk(&stranger, id, 0, &data[..CHUNK], &[], 1)[..], [Effect::Drop("unexpected_chunk")]));
    let mut effects = Vec::new();
    for i in [2usize, 0, 1] {
        let end = ((i + 1) * CHUNK).min(data.len());
        effects.extend(t.on_chunk(&f.peer, id, i as u64, &data[i * CHUNK..end], &[], 5));
    }
    assert!(
        t.on_chunk(&f.peer, id, 1, &data[CHUNK..2 * CHUNK], &[], 6).iter().all(|e| !matches!(e, Effect::Verify(_)))
    );
    let job = verify_job(effects);
    let done = t.on_verified(job.run());
    assert!(
        done.iter().any(|e| matches!(e, Effect::Publish { body: Body::Receipt { ack }, .. } if ack == &vec![[9; 32]]))
    );
    assert!(done.iter().any(|e| matches!(e, Effect::Emit(Event::Transfer { state: TransferState::Complete, .. }))));
    assert!(f.objects.contains(&id));
    assert_eq!(t.take_dirty().last().map(|r| r.state), Some(TransferState::Complete));
}

#[test]
fn a_wrong_chunk_starts_the_file_over_a_few_times_then_fails_until_retried() {
    let f = fixture();
    let data = random(2 * CHUNK);
    let (mut t, id) = receiving(&f, &data, 0);
    for round in 0..3 {
        let out = t.on_chunk(&f.peer, id, 0, &data[..100], &[], 1);
        assert!(out.iter().any(|e| matches!(e, Effect::Drop("file_started_again"))), "round {round}");
        assert!(!out.iter().any(|e| matches!(e, Effect::Fail(_))), "not failed yet");
    }
    let out = t.on_chunk(&f.peer, id, 0, &data[..100], &[], 1);
    assert!(out.iter().any(|e| matches!(e, Effect::Fail(crate::app::ClientError::FileRejected { .. }))));
    assert!(out.iter().any(|e| matches!(e, Effect::Emit(Event::Transfer { state: TransferState::Failed, .. }))));
    assert!(!f.objects.contains(&id));
    assert!(matches!(t.on_chunk(&f.peer, id, 1, &data[CHUNK..], &[], 2)[..], [Effect::Drop(_)]), "gone");
    // The user retries: the failed row starts over and asks for every chunk at once.
    let failed = t.take_dirty().into_iter().filter(|r| r.state == TransferState::Failed).collect::<Vec<_>>();
    assert_eq!(failed.len(), 1);
    let rows = failed.into_iter().map(|r| (r, ChatId(1), AttachKind::File)).collect();
    let out = t.retry(&id, rows, 3).unwrap();
    assert_eq!(needs(&out), vec![vec![0, 1]]);
    for (i, c) in data.chunks(CHUNK).enumerate() {
        t.on_chunk(&f.peer, id, i as u64, c, &[], 4);
    }
    assert!(matches!(t.retry(&ObjectId([7; 32]), Vec::new(), 5), Err(crate::app::ClientError::NothingToRetry(_))));
}

#[test]
fn at_most_sixteen_incoming_transfers_hold_a_place_and_the_rest_wait_their_turn() {
    let f = fixture();
    let mut db = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrations::migrate(&mut db, crate::store::migrations::CHAT_DB).unwrap();
    let tx = db.transaction().unwrap();
    let mut t = Transfers::new(f.objects.clone(), MediaLimits::default(), super::NEED_FIRST);
    let files: Vec<Vec<u8>> = (0..20).map(|_| random(100)).collect();
    for (n, data) in files.iter().enumerate() {
        let meta = crate::wire::ObjectMeta {
            hash: crate::crypto::sha256(data),
            size: data.len() as u64,
            name: "x.bin".into(),
            mime: "application/octet-stream".into(),
            chunks: 1,
            w: None,
            h: None,
            thumb: None,
            root: None,
        };
        let row = register_incoming(&tx, &f.peer, &MessageHash([n as u8; 32]), &meta, MediaLimits::default(), false, 0)
            .unwrap();
        t.start_incoming(row, ChatId(1), AttachKind::File);
    }
    assert_eq!(t.incoming.values().filter(|x| x.admitted).count(), super::MAX_ACTIVE_INCOMING);
    assert_eq!(t.incoming.values().filter(|x| x.partial.is_some()).count(), super::MAX_ACTIVE_INCOMING);
    // A chunk of a queued transfer is not written.
    let last = ObjectId(crate::crypto::sha256(&files[19]));
    assert!(matches!(t.on_chunk(&f.peer, last, 0, &files[19], &[], 1)[..], [Effect::Drop("queued_transfer")]));
    // One finishes: the first in the queue takes its place and asks for its chunks at once.
    let first = ObjectId(crate::crypto::sha256(&files[0]));
    let job = t
        .on_chunk(&f.peer, first, 0, &files[0], &[], 1)
        .into_iter()
        .find_map(|e| match e {
            Effect::Verify(job) => Some(job),
            _ => None,
        })
        .unwrap();
    t.on_verified(job.run());
    let next = ObjectId(crate::crypto::sha256(&files[16]));
    assert!(t.incoming[&(next, f.peer)].admitted);
    let asks = t.ask_for_missing(2);
    assert_eq!(needs(&asks).len(), 1, "only the newcomer asks now");
}

/// The chunks a sender publishes carry proofs that verify against the root of its message.
#[test]
fn every_chunk_sent_carries_its_proof() {
    let f = fixture();
    let (mut t, file, _) = sending(&f, 5);
    let root = file.meta.root.expect("a root in the message");
    let sent = t.pump(|_| true);
    let mut n = 0;
    for e in &sent {
        if let Effect::Publish { body: Body::Chunk { i, data, proof, .. }, .. } = e {
            assert!(merkle::verify(&root, 5, *i, &merkle::leaf_hash(data), proof), "chunk {i}");
            n += 1;
        }
    }
    assert_eq!(n, 5);
}

/// With a root in the message, a chunk is written only if its proof verifies: a wrong chunk,
/// a right chunk under another index and a chunk without its proof are dropped unwritten, and
/// the file completes from the right ones without starting over.
#[test]
fn chunks_are_checked_against_the_root_before_they_are_written() {
    let f = fixture();
    let data = random(3 * CHUNK - 7);
    let tree = MerkleTree::new(data.chunks(CHUNK).map(merkle::leaf_hash).collect());
    let (mut t, id) = receiving_with(&f, &data, 0, Some(tree.root()));
    let chunk = |i: u64| &data[i as usize * CHUNK..((i as usize + 1) * CHUNK).min(data.len())];
    let proof = |i: u64| tree.proof(i).unwrap();
    let dropped = |e: Vec<Effect>| matches!(e[..], [Effect::Drop("bad_chunk_proof")]);
    assert!(dropped(t.on_chunk(&f.peer, id, 0, &random(CHUNK), &proof(0), 1)), "wrong bytes");
    assert!(dropped(t.on_chunk(&f.peer, id, 1, chunk(0), &proof(0), 1)), "another index");
    assert!(dropped(t.on_chunk(&f.peer, id, 0, chunk(0), &[], 1)), "no proof");
    assert!(dropped(t.on_chunk(&f.peer, id, 2, &chunk(2)[..10], &proof(2), 1)), "short");
    let mut effects = Vec::new();
    for i in [2, 0, 1] {
        effects.extend(t.on_chunk(&f.peer, id, i, chunk(i), &proof(i), 2));
    }
    assert!(!effects.iter().any(|e| matches!(e, Effect::Drop(_) | Effect::Fail(_))));
    let job = verify_job(effects);
    let done = t.on_verified(job.run());
    assert!(done.iter().any(|e| matches!(e, Effect::Emit(Event::Transfer { state: TransferState::Complete, .. }))));
    assert!(f.objects.contains(&id));
}
