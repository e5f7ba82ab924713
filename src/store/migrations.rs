//! Numbered schema migrations. A database records its version in `PRAGMA user_version`;
//! opening it applies every newer migration, in order, in one immediate transaction, so that
//! two processes opening the same database at once cannot both migrate it.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::StoreError;

/// Rust code run inside a migration's transaction.
pub type FillFn = fn(&Transaction<'_>) -> Result<(), StoreError>;

/// One schema step: `sql` takes a database from `version - 1` to `version`.
#[derive(Debug)]
pub struct Migration {
    /// The version the database has after this step.
    pub version: u32,
    /// The statements of this step.
    pub sql: &'static str,
    /// Work SQL cannot do (filling a new table from decoded rows), run after `sql` in the
    /// same transaction.
    pub fill: Option<FillFn>,
}

/// Migrations of `wochat.db`.
pub const KEYS_DB: &[Migration] =
    &[Migration { version: 1, sql: include_str!("migrations/keys_001_init.sql"), fill: None }];

/// Migrations of `chat.db`.
pub const CHAT_DB: &[Migration] = &[
    Migration { version: 1, sql: include_str!("migrations/chat_001_init.sql"), fill: None },
    Migration { version: 2, sql: include_str!("migrations/chat_002_outbox.sql"), fill: None },
    Migration { version: 3, sql: include_str!("migrations/chat_003_transfers.sql"), fill: None },
    Migration {
        version: 4,
        sql: include_str!("migrations/chat_004_search.sql"),
        fill: Some(super::search::index_existing_messages),
    },
    Migration { version: 5, sql: include_str!("migrations/chat_005_search_backlog.sql"), fill: None },
    Migration { version: 6, sql: include_str!("migrations/chat_006_chats.sql"), fill: None },
    Migration { version: 7, sql: include_str!("migrations/chat_007_sessions.sql"), fill: None },
    Migration { version: 8, sql: include_str!("migrations/chat_008_requests.sql"), fill: None },
    Migration { version: 9, sql: include_str!("migrations/chat_009_chunk_proofs.sql"), fill: None },
    Migration { version: 10, sql: include_str!("migrations/chat_010_order.sql"), fill: None },
    Migration { version: 11, sql: include_str!("migrations/chat_011_talk_list.sql"), fill: None },
    Migration { version: 12, sql: include_str!("migrations/chat_012_actions.sql"), fill: None },
    Migration { version: 13, sql: include_str!("migrations/chat_013_plain_checks.sql"), fill: Some(plain_checks) },
];

/// The list checks of chat.db's tables, as its migrations wrote them, and the same rules as
/// comparisons (see `chat_013_plain_checks.sql`).
const PLAIN_CHECKS: &[(&str, &str, &str)] = &[
    (
        "message",
        "CHECK (type IN ('T', 'I', 'G', 'M', 'F'))",
        "CHECK (type = 'T' OR type = 'I' OR type = 'G' OR type = 'M' OR type = 'F')",
    ),
    ("message", "CHECK (stat IN ('N', 'S', 'C'))", "CHECK (stat = 'N' OR stat = 'S' OR stat = 'C')"),
    ("action", "CHECK (type IN ('E', 'D', 'X'))", "CHECK (type = 'E' OR type = 'D' OR type = 'X')"),
    ("action", "CHECK (stat IN ('N', 'S', 'C'))", "CHECK (stat = 'N' OR stat = 'S' OR stat = 'C')"),
    (
        "transfer",
        "CHECK (state IN ('W', 'A', 'C', 'F'))",
        "CHECK (state = 'W' OR state = 'A' OR state = 'C' OR state = 'F')",
    ),
];

/// Rewrites the list checks of [`PLAIN_CHECKS`] in the schema itself, SQLite's documented
/// way for a change that leaves what is stored as it is (lang_altertable.html, "Making Other
/// Kinds Of Table Schema Changes"): the table's text in `sqlite_schema`, then a new schema
/// version. A table whose text does not hold a check exactly once keeps it (slower, as
/// before). The transaction rolls the edit back if the new schema does not read.
fn plain_checks(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let mut edited = Vec::new();
    for table in ["message", "action", "transfer"] {
        let sql: Option<String> = tx
            .query_row("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))
            .optional()?;
        let Some(sql) = sql else { continue };
        let mut new = sql.clone();
        for (_, list, comparisons) in PLAIN_CHECKS.iter().filter(|c| c.0 == table) {
            if new.matches(list).count() == 1 {
                new = new.replacen(list, comparisons, 1);
            }
        }
        if new != sql {
            edited.push((table, new));
        }
    }
    if edited.is_empty() {
        return Ok(());
    }
    let version: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    tx.execute_batch("PRAGMA writable_schema = ON")?;
    let edit = (|| {
        for (table, sql) in &edited {
            tx.execute("UPDATE sqlite_schema SET sql = ?2 WHERE type = 'table' AND name = ?1", [table, &sql.as_str()])?;
        }
        tx.pragma_update(None, "schema_version", version + 1)
    })();
    // RESET: off again, and the schema read anew from what was just written.
    tx.execute_batch("PRAGMA writable_schema = RESET")?;
    edit?;
    for (table, _) in &edited {
        tx.query_row(&format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)"), [], |r| r.get::<_, i64>(0))?;
    }
    Ok(())
}

/// The version a database reaches after `list`.
pub fn latest(list: &[Migration]) -> u32 {
    list.last().map_or(0, |m| m.version)
}

/// Brings the database up to the newest version of `list`.
pub fn migrate(conn: &mut Connection, list: &[Migration]) -> Result<(), StoreError> {
    migrate_to(conn, list, latest(list))
}

/// Brings the database up to `target` (used by tests to build old versions).
pub fn migrate_to(conn: &mut Connection, list: &[Migration], target: u32) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest(list) {
        return Err(StoreError::TooNew { found: current, supported: latest(list) });
    }
    for m in list.iter().filter(|m| m.version > current && m.version <= target) {
        tx.execute_batch(m.sql)?;
        if let Some(fill) = m.fill {
            fill(&tx)?;
        }
        tx.pragma_update(None, "user_version", m.version)?;
    }
    tx.commit()?;
    Ok(())
}
