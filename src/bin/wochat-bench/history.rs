//! The `history` scenario: one talk of a million messages in an encrypted `chat.db`.

use std::time::Instant;

use anyhow::{Context, Result};
use wochat::crypto::Identity;
use wochat::store::NewMessage;
use wochat::wire::{Body, Packet};

use crate::support::{self, median_ms};

/// Messages written per transaction while filling.
const FILL_BATCH: u64 = 10_000;
/// Every this many messages carries the Latin search word, offset by half for the Chinese one.
const NEEDLE_EVERY: u64 = 1_000;

const LINES: &[&str] = &[
    "Are we still meeting tomorrow at the station?",
    "我们明天几点在车站见面？",
    "Sent you the photos from the weekend, the light was great",
    "周末的照片发给你了，光线特别好",
    "ok",
    "好的，没问题",
    "Can you bring the charger? Mine died again.",
    "晚上一起吃火锅吗？我请客",
];

fn text(i: u64) -> String {
    let line = LINES[(i % LINES.len() as u64) as usize];
    if i.is_multiple_of(NEEDLE_EVERY) {
        format!("{line} (unicorn {i})")
    } else if i % NEEDLE_EVERY == NEEDLE_EVERY / 2 {
        format!("{line}（独角兽 {i}）")
    } else {
        format!("{line} #{i}")
    }
}

/// Runs the scenario with a talk of `count` messages.
pub fn run(json: bool, count: u64) -> Result<()> {
    let dir = support::tempfile_dir()?;
    let home = wochat::home::Home::open(dir.join("home"))?;
    let keys = wochat::store::KeyStore::open(&home.keys_db_path())?;
    keys.create("history", support::PASSWORD)?;
    let peer = Identity::generate()?.address();

    let t_fill = Instant::now();
    let db_path = {
        let mut acc = wochat::app::Account::open(&home, &keys, "history", support::PASSWORD)?;
        fill_talk(&mut acc, &peer, count)?;
        acc.chat.path().to_path_buf()
    };
    let fill_s = t_fill.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&db_path)?.len()
        + std::fs::metadata(db_path.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
    let bytes_per_message = bytes as f64 / count as f64;

    // A fresh login: the database is opened cold (page cache empty; the OS cache is warm).
    let acc = wochat::app::Account::open(&home, &keys, "history", support::PASSWORD)?;
    let chat = acc.chat.chat_with(&peer)?.context("no conversation")?;
    let t0 = Instant::now();
    let newest = acc.chat.history(chat, 50, None)?;
    let open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let newest_id = newest.first().map(|m| m.id).context("no messages")?;
    // Pages of 1,000 older messages as the store reads them.
    let page_ms =
        time_pages(newest_id, |before| Ok(acc.chat.history(chat, 1000, Some(before))?.first().map(|m| m.id)))?;
    // The same pages as the window shows them: each row made a view (text, reactions, quote,
    // read mark) by the read model on its own connection.
    let read = wochat::app::read::ReadModel::new(acc.reader()?, acc.objects.clone());
    let views_ms = time_pages(newest_id, |before| Ok(read.page(chat, Some(before), 1000)?.first().map(|m| m.id)))?;

    let search = |q: &str| -> Result<(f64, usize)> {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..3 {
            let t = Instant::now();
            hits = acc.chat.search(Some(chat), q, 50)?.len();
            times.push(t.elapsed());
        }
        Ok((median_ms(&times), hits))
    };
    let (latin_ms, latin_hits) = search("unicorn")?;
    let (chinese_ms, chinese_hits) = search("独角兽")?;
    let (rare_ms, _) = search("no such words anywhere")?;
    let (short_ms, short_hits) = search("好的")?;
    let search_ms = latin_ms.max(chinese_ms);
    drop(read);
    drop(acc);
    std::fs::remove_dir_all(&dir)?;

    println!(
        "history: {count} messages ({fill_s:.0} s to write, {bytes_per_message:.0} bytes/message); open talk + newest \
         50: {open_ms:.2} ms (target < 50); 1,000 older: {page_ms:.2} ms (target < 20), as views {views_ms:.2} ms; search \"unicorn\" \
         {latin_ms:.2} ms ({latin_hits} hits), \"独角兽\" {chinese_ms:.2} ms ({chinese_hits} hits), no match \
         {rare_ms:.2} ms (target < 200); a two-character query (scan) {short_ms:.0} ms ({short_hits} hits)"
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "history", "count": count, "open_ms": open_ms, "page_ms": page_ms, "views_ms": views_ms,
                "search_ms": search_ms, "search_latin_ms": latin_ms, "search_chinese_ms": chinese_ms,
                "search_no_match_ms": rare_ms, "search_two_chars_ms": short_ms,
                "bytes_per_message": bytes_per_message, "fill_s": fill_s})
        );
    }
    Ok(())
}

/// Writes a talk of `count` messages with `peer` (alternating directions, a minute apart),
/// then checkpoints the WAL.
pub fn fill_talk(acc: &mut wochat::app::Account, peer: &wochat::crypto::Address, count: u64) -> Result<()> {
    let me = acc.address();
    acc.chat.upsert_friend(peer, "Long talk")?;
    let mut start = 0;
    while start < count {
        let end = (start + FILL_BATCH).min(count);
        let packets: Vec<(Vec<u8>, i64)> = (start..end)
            .map(|i| {
                let mut p = Packet::new(Body::Text { text: text(i) });
                p.ts = 1_700_000_000_000 + i * 60_000; // a message a minute
                (p.encode(), p.ts as i64)
            })
            .collect();
        let messages: Vec<NewMessage<'_>> = packets
            .iter()
            .enumerate()
            .map(|(k, (cbor, ts))| {
                let (from, to) = if k % 2 == 0 { (me, *peer) } else { (*peer, me) };
                let hash = wochat::wire::MessageHash::of(cbor);
                let kind = wochat::wire::MessageKind::Text;
                NewMessage { chat: None, from, to, hash, kind, ts: *ts, cbor, obj: None }
            })
            .collect();
        acc.chat.store_many(&messages)?;
        start = end;
    }
    // What the app's upkeep thread does as messages arrive.
    acc.chat.index_pending()?;
    acc.chat.connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// (internal) A data home with the account `alice` (password "bench password") and a talk
/// of `count` messages, for measuring the desktop app.
pub fn make_gui_home(home_dir: &str, count: u64) -> Result<()> {
    let home = wochat::home::Home::open(home_dir)?;
    let keys = wochat::store::KeyStore::open(&home.keys_db_path())?;
    keys.create("alice", support::PASSWORD)?;
    let mut acc = wochat::app::Account::open(&home, &keys, "alice", support::PASSWORD)?;
    fill_talk(&mut acc, &Identity::generate()?.address(), count)?;
    println!("{home_dir}: alice with a talk of {count} messages");
    Ok(())
}

/// The median time of ten pages read by `page` (given the row id to read before, it returns
/// the oldest row id it read): scrolling up from `newest`, then deep in the past.
fn time_pages(newest: i64, mut page: impl FnMut(i64) -> Result<Option<i64>>) -> Result<f64> {
    let (mut before, mut times) = (newest, Vec::new());
    for step in 0..10 {
        if step == 5 {
            before = before / 2 + 1;
        }
        let t = Instant::now();
        let oldest = page(before)?;
        times.push(t.elapsed());
        before = oldest.unwrap_or(before);
    }
    Ok(median_ms(&times))
}
