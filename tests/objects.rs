//! The encrypted object store: round trips, deduplication, corruption, partial objects, GC, quota.

mod common;

use std::collections::HashSet;
use std::io::Read;

use common::files_below;
use wochat::crypto::{Identity, sha256};
use wochat::objects::{ObjectError, ObjectId, ObjectStore, SEGMENT};

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    for c in v.chunks_mut(1 << 16) {
        wochat::crypto::random_bytes(c).unwrap();
    }
    v
}

fn store(dir: &std::path::Path, quota_mb: u64) -> (ObjectStore, Identity) {
    let id = Identity::generate().unwrap();
    (ObjectStore::open(dir, &id, quota_mb).unwrap(), id)
}

fn read_all(s: &ObjectStore, id: &ObjectId) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    s.open_reader(id).map_err(std::io::Error::other)?.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn round_trips_every_size_and_stores_once() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(&dir.path().join("objects"), 0);
    for n in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 5 * 1024 * 1024 + 7] {
        let data = random(n);
        let (id, size) = s.put_reader(&data[..]).unwrap();
        assert_eq!((id.0, size), (sha256(&data), n as u64), "size {n}");
        assert_eq!(read_all(&s, &id).unwrap(), data, "size {n}");
        let files = files_below(&dir.path().join("objects")).len();
        s.put_reader(&data[..]).unwrap();
        assert_eq!(files_below(&dir.path().join("objects")).len(), files, "stored once");
        let out = dir.path().join(format!("out-{n}"));
        s.export_to(&id, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), data);
    }
    // Names reveal nothing: not the id, and in the two-level layout.
    let data = b"a known file".to_vec();
    let (id, _) = s.put_reader(&data[..]).unwrap();
    let p = s.path_of(&id);
    assert!(!p.to_string_lossy().contains(&id.to_hex()[2..]));
    assert_eq!(p.parent().unwrap().file_name().unwrap().len(), 2);
}

#[test]
fn no_plaintext_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(dir.path(), 0);
    let data = random(300_000);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let (id, _) = s.put_file(file.path()).unwrap();
    for sample in [&data[..64], &data[100_000..100_064], &data[data.len() - 64..], &id.0[..]] {
        assert!(common::files_containing(dir.path(), sample).is_empty());
    }
    assert!(common::files_containing(dir.path(), id.to_hex().as_bytes()).is_empty());
}

#[test]
fn damage_is_detected_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(dir.path(), 0);
    let a = random(4 * SEGMENT + 100);
    let b = random(4 * SEGMENT + 100);
    let (ida, _) = s.put_reader(&a[..]).unwrap();
    let (idb, _) = s.put_reader(&b[..]).unwrap();
    assert!(s.verify_all().unwrap().is_empty());
    let pa = s.path_of(&ida);
    let original = std::fs::read(&pa).unwrap();
    let seg = SEGMENT + 16;
    let header = wochat::objects::HEADER2;

    // A flipped byte.
    let mut bad = original.clone();
    bad[header + seg + 10] ^= 1;
    std::fs::write(&pa, &bad).unwrap();
    let e = read_all(&s, &ida).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("corrupt"), "{e}");
    assert_eq!(s.verify_all().unwrap().len(), 1);
    // Truncated at a segment boundary.
    std::fs::write(&pa, &original[..header + 2 * seg]).unwrap();
    assert!(read_all(&s, &ida).is_err());
    // Two segments swapped.
    let mut swapped = original.clone();
    let (x, y) = (header, header + seg);
    let first: Vec<u8> = swapped[x..x + seg].to_vec();
    swapped.copy_within(y..y + seg, x);
    swapped[y..y + seg].copy_from_slice(&first);
    std::fs::write(&pa, &swapped).unwrap();
    assert!(read_all(&s, &ida).is_err());
    // Another object's file under this name.
    std::fs::copy(s.path_of(&idb), &pa).unwrap();
    assert!(s.open_reader(&ida).is_err());
    let bad = s.verify_all().unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    // Repaired: fine again; export of a damaged object leaves nothing behind.
    std::fs::write(&pa, &original).unwrap();
    assert_eq!(read_all(&s, &ida).unwrap(), a);
    std::fs::write(&pa, bad_copy(&original, header)).unwrap();
    let out = dir.path().join("exported");
    assert!(s.export_to(&ida, &out).is_err());
    assert!(!out.exists());
}

fn bad_copy(original: &[u8], header: usize) -> Vec<u8> {
    let mut v = original.to_vec();
    v[header + 3] ^= 0x80;
    v
}

#[test]
fn partial_objects_resume_in_any_order_and_wrong_content_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::generate().unwrap();
    let data = random(3 * SEGMENT + 500);
    let oid = ObjectId(sha256(&data));
    let chunks: Vec<&[u8]> = data.chunks(SEGMENT).collect();
    let bob = Identity::generate().unwrap().address();
    {
        let s = ObjectStore::open(dir.path(), &id, 0).unwrap();
        let mut p = s.begin_partial(&oid, &bob, data.len() as u64).unwrap();
        assert_eq!(p.chunks(), 4);
        p.write_chunk(3, chunks[3]).unwrap();
        p.write_chunk(1, chunks[1]).unwrap();
        assert!(p.write_chunk(0, &chunks[0][..100]).is_err(), "wrong length");
        assert!(p.write_chunk(9, chunks[0]).is_err(), "no such chunk");
    }
    // After a restart: the same partial object, two chunks missing.
    let s = ObjectStore::open(dir.path(), &id, 0).unwrap();
    let mut p = s.begin_partial(&oid, &bob, data.len() as u64).unwrap();
    assert_eq!(p.missing(), vec![0, 2]);
    // Someone else's partial file of the same object is another file.
    let carol = Identity::generate().unwrap().address();
    assert_eq!(s.begin_partial(&oid, &carol, data.len() as u64).unwrap().missing().len(), 4);
    // A slot is written once: a second chunk for it changes nothing on disk.
    let before = files_below(dir.path()).into_iter().map(|f| std::fs::read(f).unwrap()).collect::<Vec<_>>();
    p.write_chunk(1, &random(SEGMENT)).unwrap();
    let after = files_below(dir.path()).into_iter().map(|f| std::fs::read(f).unwrap()).collect::<Vec<_>>();
    assert_eq!(before, after, "chunk 1 is not written again");
    p.write_chunk(0, chunks[0]).unwrap();
    p.write_chunk(2, chunks[2]).unwrap();
    assert!(p.missing().is_empty());
    s.finish_partial(p).unwrap();
    assert!(s.contains(&oid));
    assert_eq!(read_all(&s, &oid).unwrap(), data);
    // A finished object is never written again, whatever another partial file holds.
    let stored = std::fs::read(s.path_of(&oid)).unwrap();
    let mut junk = s.begin_partial(&oid, &carol, data.len() as u64).unwrap();
    for (i, c) in chunks.iter().enumerate() {
        junk.write_chunk(i as u64, &vec![0xee; c.len()]).unwrap();
    }
    s.finish_partial(junk).unwrap();
    assert_eq!(std::fs::read(s.path_of(&oid)).unwrap(), stored);
    assert_eq!(read_all(&s, &oid).unwrap(), data);

    // A chunk with the wrong content: the final hash check rejects the file.
    let other = random(2 * SEGMENT);
    let oid2 = ObjectId(sha256(&other));
    let mut p = s.begin_partial(&oid2, &bob, other.len() as u64).unwrap();
    p.write_chunk(0, &other[..SEGMENT]).unwrap();
    p.write_chunk(1, &random(SEGMENT)).unwrap();
    let e = s.finish_partial(p).unwrap_err();
    assert!(e.to_string().contains("does not match its hash"), "{e}");
    assert!(!s.contains(&oid2));
    assert!(s.begin_partial(&oid2, &bob, other.len() as u64).unwrap().missing().len() == 2, "starts over");
}

#[test]
fn gc_keeps_only_referenced_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(dir.path(), 0);
    let ids: Vec<ObjectId> = (0..4).map(|_| s.put_reader(&random(1000)[..]).unwrap().0).collect();
    let keep: HashSet<ObjectId> = [ids[0], ids[2]].into();
    assert_eq!(s.gc(&keep).unwrap(), 2);
    assert!(s.contains(&ids[0]) && s.contains(&ids[2]));
    assert!(!s.contains(&ids[1]) && !s.contains(&ids[3]));
}

#[test]
fn the_quota_refuses_a_file_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(dir.path(), 1);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), random(600_000)).unwrap();
    s.put_file(file.path()).unwrap();
    std::fs::write(file.path(), random(600_000)).unwrap();
    let e = s.put_file(file.path()).unwrap_err();
    assert!(matches!(e, ObjectError::Quota { .. }), "{e}");
    assert!(e.to_string().contains("quota of 1 MiB"), "{e}");
    let big = ObjectId(sha256(b"x"));
    let bob = Identity::generate().unwrap().address();
    assert!(matches!(s.begin_partial(&big, &bob, 2 << 20), Err(ObjectError::Quota { .. })));
    assert_eq!(files_below(dir.path()).len(), 1, "nothing else stored");

    // A partial file counts at the size it will have: two transfers of 400 KB do not both
    // begin in the 400 KB left, though nothing of either is written yet.
    let (s, _) = store(&dir.path().join("other"), 1);
    let first = ObjectId(sha256(b"first"));
    let second = ObjectId(sha256(b"second"));
    s.begin_partial(&first, &bob, 400_000).unwrap();
    assert!(s.used_bytes().unwrap() >= 400_000);
    assert!(matches!(s.begin_partial(&second, &bob, 700_000), Err(ObjectError::Quota { .. })));
    s.discard_partial(&first, &bob).unwrap();
    s.begin_partial(&second, &bob, 700_000).unwrap();
}

#[test]
fn hostile_names_are_saved_safely_inside_the_chosen_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(&dir.path().join("objects"), 0);
    let data = random(1000);
    let (id, _) = s.put_reader(&data[..]).unwrap();
    let out = dir.path().join("downloads");
    std::fs::create_dir(&out).unwrap();
    let long = "n".repeat(10_000);
    for name in ["../../x", "a/b", "con.txt", "invoice\u{202E}fdp.exe", long.as_str(), "a/b"] {
        let p = s.save_as(&id, &out, name).unwrap();
        assert_eq!(p.parent().unwrap(), out, "{name:?} escaped the directory");
        assert_eq!(std::fs::read(&p).unwrap(), data);
        let f = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!f.contains('/') && !f.contains('\u{202E}') && !f.starts_with('.') && f.len() <= 200, "{f:?}");
        assert!(!f.eq_ignore_ascii_case("con.txt"));
    }
    // The second "a/b" did not overwrite the first.
    assert!(out.join("a_b").exists() && out.join("a_b (1)").exists());
    assert!(!dir.path().join("x").exists());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 6);
}

/// Object files are padded (Padmé) after their last segment: their length tells only a size
/// class (at most 12 % more), whether the content was put at once or arrived chunk by chunk.
#[test]
fn object_files_are_padded_to_a_size_class() {
    use wochat::objects::{HEADER2, padded_file_len};
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store(dir.path(), 0);
    let len_of = |id: &ObjectId| std::fs::metadata(s.path_of(id)).unwrap().len();
    for size in [0usize, 1, 1000, SEGMENT, 200_000, 1_000_000] {
        let data = random(size);
        let (id, _) = s.put_reader(&data[..]).unwrap();
        let exact = (HEADER2 + size + 16 * size.div_ceil(SEGMENT).max(1)) as u64;
        assert_eq!(len_of(&id), padded_file_len(size as u64));
        assert!(len_of(&id) >= exact && len_of(&id) <= exact + exact / 8, "{size}: {}", len_of(&id));
        assert_eq!(read_all(&s, &id).unwrap(), data, "{size}");
        if size > 0 {
            let last = (size - 1) / SEGMENT;
            assert_eq!(s.read_chunk(&id, last as u64).unwrap(), &data[last * SEGMENT..]);
        }
    }
    // Sizes 123 bytes apart share a class.
    let (a, _) = s.put_reader(&random(1_000_000)[..]).unwrap();
    let (b, _) = s.put_reader(&random(1_000_123)[..]).unwrap();
    assert_eq!(len_of(&a), len_of(&b));
    // Received chunk by chunk: the same length as put at once.
    let data = random(300_000);
    let id = ObjectId(wochat::crypto::sha256(&data));
    let sender = Identity::generate().unwrap().address();
    let mut p = s.begin_partial(&id, &sender, data.len() as u64).unwrap();
    for (i, c) in data.chunks(SEGMENT).enumerate() {
        p.write_chunk(i as u64, c).unwrap();
    }
    s.finish_partial(p).unwrap();
    assert_eq!(len_of(&id), padded_file_len(data.len() as u64));
    assert_eq!(read_all(&s, &id).unwrap(), data);
    assert!(s.verify_all().unwrap().is_empty());
}
