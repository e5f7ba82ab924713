//! The encrypted account database, migrations, and what reaches the disk.

mod common;

use std::collections::BTreeMap;

use common::{TestHome, files_containing};
use rusqlite::Connection;
use wochat::app::{Account, OpenError};
use wochat::crypto::Identity;
use wochat::store::migrations::{self, Migration};
use wochat::store::{ChatDb, KeyStore, KeysError, StoreError};

#[test]
fn chat_db_is_encrypted_on_disk() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let marker = "Zebra-Friend-4242-名字";
    let friend: wochat::crypto::Address = Identity::generate().unwrap().address();
    let path = {
        let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
        acc.chat.upsert_friend(&friend, marker).unwrap();
        // Visible through the key while open (in the WAL or the main file).
        assert_eq!(acc.chat.friends().unwrap()[0].name, marker);
        assert!(files_containing(t.root(), marker.as_bytes()).is_empty());
        acc.chat.path().to_path_buf()
    };
    assert!(path.exists());
    assert!(files_containing(t.root(), marker.as_bytes()).is_empty());
    assert!(files_containing(t.root(), friend.to_hex().as_bytes()).is_empty());
    // Not a plain SQLite file.
    let header = std::fs::read(&path).unwrap();
    assert!(!header.starts_with(b"SQLite format 3"));
    let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    assert_eq!(acc.chat.friends().unwrap()[0].name, marker);
    acc.chat.upsert_friend(&friend, "renamed").unwrap();
}

#[test]
fn wrong_key_and_damaged_files_are_clear_errors() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let path = Account::open(&t.home, &keys, "alice", b"pw").unwrap().chat.path().to_path_buf();

    let stranger = Identity::generate().unwrap();
    let e = ChatDb::open(&path, &stranger).unwrap_err();
    assert!(matches!(e, StoreError::Unreadable { .. }), "{e}");
    assert!(e.to_string().contains("wrong key"), "{e}");

    // A damaged chat.db: login reports it and nothing panics.
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let e = Account::open(&t.home, &keys, "alice", b"pw").unwrap_err();
    assert!(matches!(e, OpenError::Store(StoreError::Unreadable { .. })), "{e}");

    // A damaged wochat.db.
    drop(keys);
    let kp = t.home.keys_db_path();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", kp.display()));
    }
    std::fs::write(&kp, b"this is not a database, just text that is long enough to look like one......").unwrap();
    let e = KeyStore::open(&kp).unwrap_err();
    assert!(matches!(e, KeysError::Store(StoreError::Unreadable { .. })), "{e}");
    assert!(e.to_string().contains("damaged"), "{e}");
}

#[test]
fn databases_use_wal_busy_timeout_and_foreign_keys() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let c = acc.chat.connection();
    let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    let busy: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), fk, sync), ("wal", 1, 2), "WAL, foreign keys, synchronous = FULL");
    assert!(busy >= 5000);
    let plain = Connection::open(t.home.keys_db_path()).unwrap();
    let mode: String = plain.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[cfg(unix)]
#[test]
fn files_of_a_home_are_the_users_alone_and_wider_ones_are_fixed_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let chat_db = t.home.chat_db_path(&acc.address());
    drop(acc);
    for f in common::files_below(t.home.root()) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    // Found wider (a permissive umask, a copied home): fixed when the home is opened.
    let set = |p: &std::path::Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    set(&t.home.keys_db_path(), 0o644);
    set(&chat_db, 0o666);
    set(chat_db.parent().unwrap(), 0o755);
    let home = wochat::home::Home::open(t.home.root()).unwrap();
    assert_eq!(mode(&home.keys_db_path()), 0o600);
    assert_eq!(mode(&chat_db), 0o600);
    assert_eq!(mode(chat_db.parent().unwrap()), 0o700);
    assert_eq!(mode(home.root()), 0o700);
}

#[test]
fn second_open_of_an_account_is_refused_while_the_first_holds_it() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    keys.create("bob", b"pw").unwrap();
    let first = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let e = Account::open(&t.home, &keys, "alice", b"pw").unwrap_err();
    assert_eq!(e.to_string(), "this account is already open in another window");
    let _bob = Account::open(&t.home, &keys, "bob", b"pw").unwrap();
    drop(first);
    Account::open(&t.home, &keys, "alice", b"pw").unwrap();
}

/// The schema of a database, column by column and index by index, independent of how the
/// CREATE statements were spelled.
fn schema_of(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut objects = conn
        .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    let rows: Vec<(String, String, String)> =
        objects.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    for (kind, name, table) in rows {
        let describe = |sql: String| -> Vec<String> {
            let mut s = conn.prepare(&sql).unwrap();
            let n = s.column_count();
            s.query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let desc = if kind == "table" {
            let mut d = describe(format!("PRAGMA table_xinfo('{name}')"));
            d.extend(describe(format!("PRAGMA foreign_key_list('{name}')")));
            d
        } else {
            let mut d = describe(format!("PRAGMA index_xinfo('{name}')"));
            d.push(format!("on {table}"));
            d
        };
        out.insert(format!("{kind} {name}"), desc);
    }
    out
}

/// The part of `schema.sql` for one database.
fn schema_sql_section(db: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql")).unwrap();
    let marker = format!("-- @database {db}\n");
    let start = text.find(&marker).unwrap() + marker.len();
    let end = text[start..].find("-- @database ").map_or(text.len(), |i| start + i);
    text[start..end].to_string()
}

fn check_migrations(list: &[Migration], db: &str) {
    // Fresh: every migration from an empty database.
    let mut fresh = Connection::open_in_memory().unwrap();
    migrations::migrate(&mut fresh, list).unwrap();
    let fresh_schema = schema_of(&fresh);
    // schema.sql describes the same thing.
    let documented = Connection::open_in_memory().unwrap();
    documented.execute_batch(&schema_sql_section(db)).unwrap();
    assert_eq!(schema_of(&documented), fresh_schema, "schema.sql differs from the migrations of {db}");
    // Migrated: a database left at each older version, then upgraded.
    for v in 1..=migrations::latest(list) {
        let mut old = Connection::open_in_memory().unwrap();
        migrations::migrate_to(&mut old, list, v).unwrap();
        migrations::migrate(&mut old, list).unwrap();
        assert_eq!(schema_of(&old), fresh_schema, "{db} migrated from version {v}");
        let version: u32 = old.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, migrations::latest(list));
    }
    // A database from a newer program is refused rather than damaged.
    let mut newer = Connection::open_in_memory().unwrap();
    newer.pragma_update(None, "user_version", migrations::latest(list) + 1).unwrap();
    assert!(matches!(migrations::migrate(&mut newer, list), Err(StoreError::TooNew { .. })));
}

#[test]
fn fresh_and_migrated_databases_have_the_same_schema() {
    check_migrations(migrations::KEYS_DB, "wochat.db");
    check_migrations(migrations::CHAT_DB, "chat.db");
}

/// The one-letter checks build no temporary index when a message is stored or its status
/// changes (version 13 wrote them as comparisons), in a new database and in one migrated from
/// version 12 with rows in it; they still refuse what they refused.
#[test]
fn one_letter_checks_cost_no_temporary_index_and_still_refuse() {
    let ephemeral = |conn: &Connection, sql: &str, n: usize| -> usize {
        let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let params: Vec<i64> = vec![1; n];
        let ops = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(1)).unwrap();
        ops.map(Result::unwrap).filter(|op| op == "OpenEphemeral").count()
    };
    let insert = "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, chat, ts, obj, req, ord)
                  VALUES (1, 'to', 'from', ?1, 1, ?2, ?3, x'00', NULL, 1, NULL, 0, 1)";
    let mut fresh = Connection::open_in_memory().unwrap();
    migrations::migrate(&mut fresh, migrations::CHAT_DB).unwrap();
    let mut old = Connection::open_in_memory().unwrap();
    migrations::migrate_to(&mut old, migrations::CHAT_DB, 12).unwrap();
    old.execute(insert, rusqlite::params!["kept", "T", "S"]).unwrap();
    assert_eq!(ephemeral(&old, "UPDATE message SET stat = 'C' WHERE id = ?1", 1), 1, "version 12 built one");
    migrations::migrate(&mut old, migrations::CHAT_DB).unwrap();
    let kept: String = old.query_row("SELECT stat FROM message WHERE hash = 'kept'", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, "S");
    for conn in [&fresh, &old] {
        assert_eq!(ephemeral(conn, insert, 3), 0);
        assert_eq!(ephemeral(conn, "UPDATE message SET stat = 'C', next_try = NULL WHERE id = ?1", 1), 0);
        assert_eq!(ephemeral(conn, "UPDATE action SET stat = 'C' WHERE id = ?1", 1), 0);
        assert_eq!(ephemeral(conn, "UPDATE transfer SET state = 'C' WHERE obj = ?1", 1), 0);
        conn.execute(insert, rusqlite::params!["good", "F", "N"]).unwrap();
        for (hash, kind, stat) in [("bad stat", "T", "X"), ("bad type", "Q", "N"), ("lower case", "t", "n")] {
            let e = conn.execute(insert, rusqlite::params![hash, kind, stat]).unwrap_err();
            assert!(e.to_string().contains("CHECK constraint failed"), "{hash}: {e}");
        }
        let e = conn.execute("UPDATE message SET stat = 'Z' WHERE hash = 'good'", []).unwrap_err();
        assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
    }
}

#[test]
fn migrations_keep_rows() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let friend = Identity::generate().unwrap().address();
    {
        let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
        acc.chat.upsert_friend(&friend, "kept").unwrap();
    }
    // Re-opening runs the migrations again: idempotent, rows intact.
    let acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    assert_eq!(acc.chat.friend(&friend).unwrap().unwrap().name, "kept");
}

#[test]
fn secret_key_never_reaches_the_disk() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let secret = {
        let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
        acc.chat.upsert_friend(&Identity::generate().unwrap().address(), "f").unwrap();
        keys.change_password("alice", b"pw", b"pw2").unwrap();
        *acc.identity().secret_bytes()
    };
    let db_key = Identity::from_secret_bytes(&secret).unwrap().derive_key("wochat/v1/db");
    let needles: Vec<Vec<u8>> = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        db_key.to_vec(),
        hex::encode(db_key.as_ref()).into_bytes(),
    ];
    assert!(common::files_below(t.root()).len() >= 3);
    for n in &needles {
        assert!(files_containing(t.root(), n).is_empty(), "a secret was found on disk");
    }
}

/// Stores `texts` as messages from `from` to `to` in one transaction.
fn store_texts(chat: &mut ChatDb, from: wochat::crypto::Address, to: wochat::crypto::Address, texts: &[&str]) {
    let packets: Vec<Vec<u8>> = texts
        .iter()
        .map(|t| {
            let body = wochat::wire::Body::Text { text: t.to_string() };
            wochat::wire::Packet::new(body).encode()
        })
        .collect();
    let messages: Vec<wochat::store::NewMessage<'_>> = packets
        .iter()
        .map(|cbor| wochat::store::NewMessage {
            chat: None,
            from,
            to,
            hash: wochat::wire::MessageHash::of(cbor),
            kind: wochat::wire::MessageKind::Text,
            ts: 0,
            cbor,
            obj: None,
        })
        .collect();
    assert_eq!(chat.store_many(&messages).unwrap(), texts.len());
}

fn found(chat: &ChatDb, peer: Option<&wochat::crypto::Address>, q: &str) -> Vec<String> {
    let id = peer.map(|p| chat.chat_with(p).unwrap().expect("a conversation"));
    chat.search(id, q, 50)
        .unwrap()
        .iter()
        .map(|m| match m.body().unwrap() {
            wochat::wire::Body::Text { text } => text,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn search_finds_substrings_in_any_script_newest_first() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let me = acc.address();
    let (bob, carol) = (Identity::generate().unwrap().address(), Identity::generate().unwrap().address());
    store_texts(&mut acc.chat, bob, me, &["Hello World", "我们明天去北京吧", "100% sure_thing"]);
    store_texts(&mut acc.chat, me, carol, &["hello again, carol", "北京烤鸭"]);

    assert_eq!(found(&acc.chat, None, "HELLO"), ["hello again, carol", "Hello World"]);
    assert_eq!(found(&acc.chat, Some(&bob), "hello"), ["Hello World"]);
    assert_eq!(found(&acc.chat, None, "明天去"), ["我们明天去北京吧"]);
    // Shorter than a trigram: still found (by a scan).
    assert_eq!(found(&acc.chat, None, "北京"), ["北京烤鸭", "我们明天去北京吧"]);
    assert_eq!(found(&acc.chat, None, "%"), ["100% sure_thing"]);
    assert_eq!(found(&acc.chat, None, "_t"), ["100% sure_thing"]);
    assert_eq!(found(&acc.chat, None, "\"quoted\" OR x"), Vec::<String>::new());
    assert!(found(&acc.chat, None, "  ").is_empty());
    assert!(found(&acc.chat, None, "nowhere").is_empty());
}

#[test]
fn indexing_gives_way_between_transactions_and_finishes_later() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let me = acc.address();
    let bob = Identity::generate().unwrap().address();
    let texts: Vec<String> = (0..600).map(|i| format!("note number {i}")).collect();
    store_texts(&mut acc.chat, bob, me, &texts.iter().map(String::as_str).collect::<Vec<_>>());

    // Asked to stop (the engine wants to write), the upkeep ends after one transaction...
    let first = acc.chat.index_pending_while(|| false).unwrap();
    assert!(first > 0 && first < 600, "{first}");
    // ...and the next round takes up where it stopped: every message is found once.
    assert_eq!(acc.chat.index_pending_while(|| true).unwrap(), 600 - first);
    assert_eq!(acc.chat.index_pending().unwrap(), 0);
    assert_eq!(found(&acc.chat, None, "number 599"), ["note number 599"]);
    assert_eq!(found(&acc.chat, None, "number 0"), ["note number 0"]);
}

#[test]
fn search_migration_indexes_older_messages() {
    let me = Identity::generate().unwrap().address();
    let peer = Identity::generate().unwrap().address();
    let mut conn = Connection::open_in_memory().unwrap();
    migrations::migrate_to(&mut conn, migrations::CHAT_DB, 3).unwrap();
    for (i, text) in ["kept from version three", "第三版的消息"].iter().enumerate() {
        let cbor = wochat::wire::Packet::new(wochat::wire::Body::Text { text: text.to_string() }).encode();
        conn.execute(
            "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, peer) VALUES (0, ?1, ?2, ?3, 1, 'T', 'C', ?4, ?2)",
            rusqlite::params![me.to_hex(), peer.to_hex(), format!("{i:064}"), cbor],
        )
        .unwrap();
    }
    // A row that does not decode is left alone rather than failing the upgrade.
    conn.execute(
        "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, peer) VALUES (0, ?1, ?2, ?3, 1, 'T', 'C', x'ff', ?2)",
        rusqlite::params![me.to_hex(), peer.to_hex(), "f".repeat(64)],
    )
    .unwrap();
    migrations::migrate(&mut conn, migrations::CHAT_DB).unwrap();
    let all: i64 = conn.query_row("SELECT count(*) FROM message_text", [], |r| r.get(0)).unwrap();
    assert_eq!(all, 2);
    let three: i64 = conn
        .query_row("SELECT rowid FROM message_text WHERE message_text MATCH '\"THREE\"'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(three, 1);
    let chinese: i64 = conn
        .query_row("SELECT rowid FROM message_text WHERE message_text MATCH '\"版的消\"'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chinese, 2);
}

#[test]
fn unblocking_a_stranger_forgets_them_and_a_friend_stays_a_friend() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let mut acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let (friend, stranger) = (Identity::generate().unwrap().address(), Identity::generate().unwrap().address());
    acc.chat.upsert_friend(&friend, "Bob").unwrap();
    acc.chat.block(&friend).unwrap();
    acc.chat.block(&stranger).unwrap();
    assert!(acc.chat.is_blocked(&friend).unwrap() && acc.chat.is_blocked(&stranger).unwrap());
    assert!(acc.chat.unblock(&friend).unwrap());
    assert!(acc.chat.unblock(&stranger).unwrap());
    assert!(!acc.chat.unblock(&stranger).unwrap(), "nothing left to unblock");
    assert_eq!(acc.chat.friend(&friend).unwrap().unwrap().name, "Bob");
    assert!(acc.chat.friend(&stranger).unwrap().is_none());
    assert!(!acc.chat.is_blocked(&stranger).unwrap());
}

/// A database of version 5 (conversations keyed by the peer's address), encrypted as the app
/// keeps it: two peers, a friend without messages, own messages in each state. Logging in
/// migrates it; the store then reads it by conversation id.
#[test]
fn a_database_from_before_conversation_ids_migrates() {
    use wochat::store::{ChatKind, MessageStatus};
    let t = TestHome::new();
    let keys = t.keys();
    let me = keys.create("alice", b"pw").unwrap();
    let identity = keys.login("alice", b"pw").unwrap();
    t.home.create_account_dir(&me).unwrap();
    let (bob, carol, dave) = (
        Identity::generate().unwrap().address(),
        Identity::generate().unwrap().address(),
        Identity::generate().unwrap().address(),
    );
    {
        let key = identity.derive_key(wochat::store::DB_KEY_INFO);
        let conn =
            wochat::store::open_database(&t.home.chat_db_path(&me), Some(&key), &migrations::CHAT_DB[..5]).unwrap();
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 5);
        let text = |t: &str| wochat::wire::Packet::new(wochat::wire::Body::Text { text: t.into() }).encode();
        let rows = [
            (bob, me, bob, "C", "from bob"),
            (me, bob, bob, "C", "to bob, confirmed"),
            (me, bob, bob, "S", "to bob, sent"),
            (carol, me, carol, "C", "from carol"),
            (me, carol, carol, "N", "to carol, stored"),
        ];
        for (i, (from, to, peer, stat, t)) in rows.iter().enumerate() {
            let cbor = text(t);
            conn.execute(
                "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, peer, ts)
                 VALUES (?1, ?2, ?3, ?4, 1, 'T', ?5, ?6, ?7, ?1)",
                rusqlite::params![
                    100 + i as i64,
                    to.to_hex(),
                    from.to_hex(),
                    wochat::wire::MessageHash::of(&cbor).to_hex(),
                    stat,
                    cbor,
                    peer.to_hex()
                ],
            )
            .unwrap();
        }
        conn.execute("INSERT INTO talk (pk, last_dt, unread, request) VALUES (?1, 102, 1, 0)", [bob.to_hex()]).unwrap();
        conn.execute("INSERT INTO talk (pk, last_dt, unread, request) VALUES (?1, 104, 1, 1)", [carol.to_hex()])
            .unwrap();
        conn.execute("INSERT INTO friend (dt, pk, name) VALUES (1, ?1, 'Bob')", [bob.to_hex()]).unwrap();
        conn.execute("INSERT INTO friend (dt, pk, name) VALUES (2, ?1, 'Dave')", [dave.to_hex()]).unwrap();
    }

    let acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let db = &acc.chat;
    let talks = db.talks().unwrap();
    let peers: Vec<ChatKind> = talks.iter().map(|t| t.kind).collect();
    assert_eq!(peers, vec![ChatKind::Direct(carol), ChatKind::Direct(bob), ChatKind::Direct(dave)]);
    assert_eq!((talks[0].unread, talks[0].request), (1, true), "counts and requests are kept");
    let b = db.chat_with(&bob).unwrap().unwrap();
    let history: Vec<(String, MessageStatus)> = db
        .history(b, 10, None)
        .unwrap()
        .iter()
        .map(|m| match m.body().unwrap() {
            wochat::wire::Body::Text { text } => (text, m.stat),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("from bob".into(), MessageStatus::Confirmed),
            ("to bob, confirmed".into(), MessageStatus::Confirmed),
            ("to bob, sent".into(), MessageStatus::Sent),
        ]
    );
    assert_eq!(db.message_count(db.chat_with(&carol).unwrap().unwrap()).unwrap(), 2);
    for t in &talks {
        assert_eq!(db.members(t.id).unwrap(), vec![t.peer().unwrap()], "one member: the peer");
    }
    assert_eq!(db.history(db.chat_with(&dave).unwrap().unwrap(), 10, None).unwrap().len(), 0);
    // The outbox still knows what to send; the confirmed message's receipt is recorded.
    assert_eq!(db.unsent().unwrap().len(), 1);
    let receipts: i64 = db.connection().query_row("SELECT count(*) FROM receipt", [], |r| r.get(0)).unwrap();
    assert_eq!(receipts, 1);
}

/// `object gc` also forgets the chunk leaf hashes kept for files no message refers to.
#[test]
fn leaf_hashes_of_unreferenced_files_are_forgotten() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let acc = Account::open(&t.home, &keys, "alice", b"pw").unwrap();
    let conn = acc.chat.connection();
    conn.execute(
        "INSERT INTO object_tree (obj, leaves) VALUES (?1, ?2)",
        rusqlite::params!["ab".repeat(32), vec![0u8; 64]],
    )
    .unwrap();
    assert_eq!(acc.chat.forget_unreferenced_trees().unwrap(), 1);
    let left: i64 = conn.query_row("SELECT count(*) FROM object_tree", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
}

/// The child's part of the next test: the engine's upkeep thread, with its own connection,
/// is stopped, and the process exits at once: 7 when the thread is gone by then, 8 if not.
#[cfg(target_os = "linux")]
fn stop_upkeep_and_exit(dir: &std::path::Path) -> ! {
    let identity = Identity::from_secret_bytes(&[0x11; 32]).unwrap();
    let path = dir.join("chat.db");
    let mut db = ChatDb::open(&path, &identity).unwrap();
    let peer = Identity::from_secret_bytes(&[0x22; 32]).unwrap().address();
    store_texts(&mut db, peer, identity.address(), &["a", "b", "c"]);
    let upkeep = wochat::store::Maintenance::start(&db, ChatDb::open(&path, &identity).unwrap()).unwrap();
    drop(upkeep);
    // Linux lists every thread of the process in /proc/self/task/*/comm. A joined thread may
    // still be listed for a moment while the kernel finishes its exit (the join wakes before
    // that): it must be gone soon after, not at once. A thread still closing its connection
    // when the process exits shows as a crash instead of an exit code.
    let listed = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .any(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.trim() == "wochat-upkeep"))
    };
    let start = std::time::Instant::now();
    let mut upkeep_alive = listed();
    while upkeep_alive && start.elapsed() < std::time::Duration::from_millis(200) {
        std::thread::sleep(std::time::Duration::from_millis(1));
        upkeep_alive = listed();
    }
    std::process::exit(if upkeep_alive { 8 } else { 7 })
}

#[cfg(target_os = "linux")]
#[test]
fn stopping_the_upkeep_closes_its_connection_before_the_process_may_exit() {
    const CHILD: &str = "WOCHAT_TEST_EXIT_CHILD";
    if let Some(dir) = std::env::var_os(CHILD) {
        stop_upkeep_and_exit(std::path::Path::new(&dir));
    }
    // SQLCipher frees its state in an exit handler: a thread still closing its connection
    // then crashes the process (SIGSEGV instead of the exit code; a CI run once ended so).
    // Each child runs alone: no other test's threads are there.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "stopping_the_upkeep_closes_its_connection_before_the_process_may_exit", "--nocapture"])
            .env(CHILD, dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
}

/// A chat database in a temporary directory, its owner, a peer, and a writing connection.
struct SnapshotSetup {
    dir: tempfile::TempDir,
    identity: Identity,
    peer: wochat::crypto::Address,
    me: wochat::crypto::Address,
    path: std::path::PathBuf,
    writer: ChatDb,
}

impl SnapshotSetup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::from_secret_bytes(&[0x33; 32]).unwrap();
        let peer = Identity::from_secret_bytes(&[0x44; 32]).unwrap().address();
        let me = identity.address();
        let path = dir.path().join("chat.db");
        let writer = ChatDb::open(&path, &identity).unwrap();
        Self { dir, identity, peer, me, path, writer }
    }
}

#[test]
fn a_snapshot_completes_while_another_connection_keeps_writing() {
    let SnapshotSetup { dir, identity, peer, me, path, mut writer } = SnapshotSetup::new();
    let texts: Vec<String> = (0..20_000).map(|i| format!("an older message, number {i}")).collect();
    for chunk in texts.chunks(5000) {
        store_texts(&mut writer, peer, me, &chunk.iter().map(String::as_str).collect::<Vec<_>>());
    }
    // A message every moment, from another connection, while the copy is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store_texts(&mut writer, peer, me, &[&format!("written during the copy {n}")]);
                n += 1;
            }
            n
        })
    };
    let dest = dir.path().join("copy.db");
    let (done_tx, done) = std::sync::mpsc::channel();
    let reader = ChatDb::open(&path, &identity).unwrap();
    let (to, id) = (dest.clone(), Identity::from_secret_bytes(&[0x33; 32]).unwrap());
    std::thread::spawn(move || {
        let _ = done_tx.send(reader.snapshot_to(&to, &id, &mut || {}).map_err(|e| e.to_string()));
    });
    // A copy in steps started over at every write and never ended.
    let copied = done.recv_timeout(std::time::Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written_meanwhile = writing.join().unwrap();
    copied.expect("the snapshot never finished while another connection wrote").unwrap();
    assert!(written_meanwhile > 0);
    let copy = ChatDb::open(&dest, &identity).unwrap();
    let count: i64 = copy.connection().query_row("SELECT count(*) FROM message", [], |r| r.get(0)).unwrap();
    assert!(count >= 20_000, "{count}");
}

#[test]
fn a_snapshot_shows_the_moment_it_was_pinned_and_nothing_written_after() {
    let SnapshotSetup { dir, identity, peer, me, path, mut writer } = SnapshotSetup::new();
    store_texts(&mut writer, peer, me, &["one", "two", "three"]);
    let reader = ChatDb::open(&path, &identity).unwrap();
    let dest = dir.path().join("copy.db");
    let mut pinned = 0;
    // Written from another connection once the moment is fixed, before a page is copied.
    reader
        .snapshot_to(&dest, &identity, &mut || {
            pinned += 1;
            store_texts(&mut writer, peer, me, &["after the moment"]);
        })
        .unwrap();
    assert_eq!(pinned, 1);
    let count =
        |db: &ChatDb| -> i64 { db.connection().query_row("SELECT count(*) FROM message", [], |r| r.get(0)).unwrap() };
    assert_eq!(count(&writer), 4, "the writer went on");
    assert_eq!(count(&ChatDb::open(&dest, &identity).unwrap()), 3, "the copy is of the moment it was pinned");
    // The reader's transaction ended: it sees the newer message.
    assert_eq!(count(&reader), 4);
}

#[test]
fn messages_stored_before_the_order_column_get_their_place() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrations::migrate_to(&mut conn, migrations::CHAT_DB, 9).unwrap();
    let day = 24 * 3_600_000i64;
    let arrival = 1_800_000_000_000i64;
    // Written a minute before arrival, from a clock a day ahead, a month behind, and without a clock.
    for (hash, ts) in [("01", arrival - 60_000), ("02", arrival + day), ("03", arrival - 30 * day), ("04", 0)] {
        conn.execute(
            "INSERT INTO message (dt, topic, pk, hash, size, type, stat, val, ts) VALUES (?1, 'a', 'b', ?2, 0, 'T', 'C', x'', ?3)",
            rusqlite::params![arrival, hash, ts],
        )
        .unwrap();
    }
    migrations::migrate(&mut conn, migrations::CHAT_DB).unwrap();
    let ords: Vec<(String, i64)> = conn
        .prepare("SELECT hash, ord FROM message ORDER BY hash")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected = [("01", arrival - 60_000), ("02", arrival), ("03", arrival - 7 * day), ("04", arrival)];
    assert_eq!(ords, expected.map(|(h, o)| (h.to_string(), o)));
    assert_eq!(
        expected.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
        [arrival - 60_000, arrival + day, arrival - 30 * day, 0].map(|ts| wochat::store::order_time(ts, arrival)),
        "the migration and the code agree"
    );
}
