//! Numbered schema migrations. A database records its version in `PRAGMA user_version`;
//! opening it applies every newer migration, in order, in one immediate transaction, so that
//! two processes opening the same database at once cannot both migrate it.

use rusqlite::{Connection, Transaction, TransactionBehavior};

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
];

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
