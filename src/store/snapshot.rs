//! A consistent copy of a live encrypted database, for backups.
//!
//! Every page passes through SQLCipher twice: decrypted and authenticated as it is read from
//! the original, encrypted and authenticated again as it is written to the copy. The two halves
//! run on two threads (pages handed over in batches through the `sqlite_dbpage` table, which
//! this build enables: `.cargo/config.toml`), where SQLite's online backup API did both on one
//! while the other core, done with the object store, waited. The writer is the slower half
//! (AES-CBC encryption does not pipeline as decryption does, and it writes the scratch file);
//! figures in docs/PERFORMANCE.md, "History backup".

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rusqlite::Connection;

use super::StoreError;
use super::cipher::{PageMac, apply_key};
use crate::crypto::Key32;

/// Pages handed over at a time (a batch of 4 KiB pages stays below the allocator's mmap
/// threshold, and batches are reused).
const PAGES_PER_BATCH: usize = 16;

/// Batches in flight between the reading and the writing thread.
const BATCHES: usize = 8;

/// The byte offset of SQLite's lock range: the page that holds it is never part of a database
/// (its content is not stored; the page is skipped, as the backup API skips it).
const PENDING_BYTE: u64 = 0x4000_0000;

/// Writes a consistent copy of the database of `conn` (keyed with `key`) to the new file
/// `dest`, encrypted with the same key: writers go on meanwhile (WAL). `pinned` is called
/// once the moment the copy shows is fixed (its read transaction has begun), before the pages
/// are copied: what is written after it is not in the copy.
pub fn snapshot(conn: &Connection, key: &Key32, dest: &Path, pinned: &mut dyn FnMut()) -> Result<(), StoreError> {
    let out = Connection::open(dest)?;
    // The copy's pages are authenticated as the original's (a page's reserved space, which
    // holds its IV and MAC, is part of what is copied, so the settings must match).
    apply_key(&out, key, PageMac::of(conn)?)?;
    // A scratch file, read once and deleted: no journal, no fsync (the backup file that holds
    // it is synced).
    out.execute_batch("PRAGMA synchronous = OFF;")?;
    let _: String = out.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0))?;
    let page_size = page_size_of(conn)?;
    let out_page_size = page_size_of(&out)?;
    if page_size != out_page_size {
        return Err(StoreError::Unreadable {
            path: dest.to_path_buf(),
            reason: format!("pages of {page_size} bytes, where a new database has {out_page_size}"),
        });
    }
    // One read transaction for the whole copy, so it is of one moment however busy the
    // writers are.
    conn.execute_batch("BEGIN DEFERRED")?;
    let copied = (|| {
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        pinned();
        copy_pages(conn, out, page_size)
    })();
    let ended = conn.execute_batch("COMMIT");
    let out = copied?;
    ended?;
    out.execute_batch("COMMIT")?;
    // One self-contained file (no -wal beside it).
    let _: String = out.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    drop(out);
    crate::fsutil::make_private_file(dest)
        .map_err(|e| StoreError::Unreadable { path: dest.to_path_buf(), reason: e.to_string() })?;
    Ok(())
}

/// The page size of the database of `conn` (SQLCipher answers it as text).
fn page_size_of(conn: &Connection) -> Result<usize, StoreError> {
    let answer: rusqlite::types::Value = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let size = match answer {
        rusqlite::types::Value::Integer(n) => usize::try_from(n).ok(),
        rusqlite::types::Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    };
    size.filter(|s| (512..=65536).contains(s)).ok_or_else(|| unreadable("no page size".into()))
}

/// Copies every page of the snapshot `conn` reads into `out`, in a write transaction on `out`
/// that is left open (the caller commits it once the read ended well).
fn copy_pages(conn: &Connection, out: Connection, page_size: usize) -> Result<Connection, StoreError> {
    let (full_tx, full_rx) = sync_channel::<Batch>(BATCHES);
    let (empty_tx, empty_rx) = sync_channel::<Batch>(BATCHES);
    for _ in 0..BATCHES {
        // Cannot fail: the channel has room for every batch.
        let _ = empty_tx.send(Batch::new(page_size));
    }
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("wochat-snapshot-write".into())
            .spawn_scoped(scope, move || write_pages(out, page_size, full_rx, empty_tx))
            .map_err(|e| unreadable(e.to_string()))?;
        let read = read_pages(conn, page_size, full_tx, empty_rx);
        let written = writer.join().unwrap_or_else(|_| Err(unreadable("the copy's writer stopped".into())));
        // A reading error is the cause when both failed (the writer then saw the hand-over end).
        read.and(written)
    })
}

/// An error of the copy in words.
fn unreadable(reason: String) -> StoreError {
    StoreError::Unreadable { path: "database snapshot".into(), reason }
}

/// Pages read from the original, on their way to the copy.
struct Batch {
    /// Page number of each page.
    numbers: Vec<i64>,
    /// The pages, one after the other.
    pages: Vec<u8>,
}

impl Batch {
    fn new(page_size: usize) -> Self {
        Self { numbers: Vec::with_capacity(PAGES_PER_BATCH), pages: Vec::with_capacity(PAGES_PER_BATCH * page_size) }
    }
}

/// Reads every page of the snapshot in order, handing them over in batches.
fn read_pages(
    conn: &Connection,
    page_size: usize,
    full: SyncSender<Batch>,
    empty: Receiver<Batch>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT pgno, data FROM sqlite_dbpage")?;
    let mut rows = stmt.query([])?;
    let Ok(mut batch) = empty.recv() else { return Ok(()) };
    while let Some(row) = rows.next()? {
        let data = match row.get_ref(1)? {
            rusqlite::types::ValueRef::Blob(data) if data.len() == page_size => data,
            _ => return Err(unreadable(format!("page {} is not of {page_size} bytes", row.get::<_, i64>(0)?))),
        };
        batch.numbers.push(row.get(0)?);
        batch.pages.extend_from_slice(data);
        if batch.numbers.len() == PAGES_PER_BATCH {
            // The writer stopped (its error is reported) or gives a batch back.
            if full.send(batch).is_err() {
                return Ok(());
            }
            let Ok(next) = empty.recv() else { return Ok(()) };
            batch = next;
        }
    }
    if !batch.numbers.is_empty() {
        let _ = full.send(batch);
    }
    Ok(())
}

/// Writes the pages handed over into `out`, in one write transaction left open.
fn write_pages(
    out: Connection,
    page_size: usize,
    full: Receiver<Batch>,
    empty: SyncSender<Batch>,
) -> Result<Connection, StoreError> {
    let lock_page = (PENDING_BYTE / page_size as u64 + 1) as i64;
    out.execute_batch("BEGIN IMMEDIATE")?;
    {
        let mut insert = out.prepare("INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, ?2)")?;
        for mut batch in full {
            for (number, page) in batch.numbers.iter().zip(batch.pages.chunks_exact(page_size)) {
                if *number != lock_page {
                    insert.execute(rusqlite::params![number, page])?;
                }
            }
            batch.numbers.clear();
            batch.pages.clear();
            // The reader may have finished: then nobody needs the batch back.
            let _ = empty.send(batch);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{migrations, open_database};
    use zeroize::Zeroizing;

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM filler", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn the_copy_is_of_one_moment_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let key: Key32 = Zeroizing::new([3; 32]);
        let path = dir.path().join("chat.db");
        let c = open_database(&path, Some(&key), migrations::CHAT_DB).unwrap();
        // Enough pages for many batches and a last one that is not full; some of them still
        // in the WAL only.
        c.execute_batch("CREATE TABLE filler (n INTEGER PRIMARY KEY, body BLOB); PRAGMA wal_autocheckpoint = 0;")
            .unwrap();
        let mut insert = c.prepare("INSERT INTO filler (body) VALUES (randomblob(700))").unwrap();
        for _ in 0..3001 {
            insert.execute([]).unwrap();
        }
        drop(insert);
        let writer = open_database(&path, Some(&key), migrations::CHAT_DB).unwrap();
        let copy = dir.path().join("copy.db");
        // A write after the moment is fixed, before the pages are copied, is not in the copy.
        snapshot(&c, &key, &copy, &mut || {
            writer.execute("INSERT INTO filler (body) VALUES (randomblob(5000))", []).unwrap();
        })
        .unwrap();
        assert_eq!(count(&c), 3002);

        let copied = open_database(&copy, Some(&key), migrations::CHAT_DB).unwrap();
        assert_eq!(count(&copied), 3001);
        let check: String = copied.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let same = |conn: &Connection| -> Vec<u8> {
            conn.query_row("SELECT body FROM filler WHERE n = 1234", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(same(&copied), same(&c));
        // Not readable without the key.
        let other = Connection::open(&copy).unwrap();
        assert!(other.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err());
    }

    #[test]
    fn a_copy_into_an_existing_file_is_refused_and_the_original_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let key: Key32 = Zeroizing::new([3; 32]);
        let c = open_database(&dir.path().join("chat.db"), Some(&key), migrations::CHAT_DB).unwrap();
        let other_key: Key32 = Zeroizing::new([4; 32]);
        let taken = dir.path().join("taken.db");
        drop(open_database(&taken, Some(&other_key), migrations::CHAT_DB).unwrap());
        assert!(snapshot(&c, &key, &taken, &mut || {}).is_err());
        // The original's read transaction ended: it writes on.
        c.execute_batch("CREATE TABLE after (x)").unwrap();
    }
}
