//! The `talk` table: one conversation per peer, ordered by last activity.

use rusqlite::params;

use super::{ChatDb, StoreError};
use crate::crypto::Address;

/// A conversation in the talk list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Talk {
    /// The other party.
    pub peer: Address,
    /// Last activity (ms).
    pub last_dt: i64,
    /// Unread incoming messages.
    pub unread: u64,
    /// An unknown sender wrote first and the user has not accepted or blocked them yet.
    pub request: bool,
}

impl ChatDb {
    /// All talks, most recent activity first.
    pub fn talks(&self) -> Result<Vec<Talk>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT pk, last_dt, unread, request FROM talk ORDER BY last_dt DESC, id DESC")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (pk, last_dt, unread, request) = row?;
            if let Ok(peer) = pk.parse() {
                out.push(Talk { peer, last_dt, unread: unread.max(0) as u64, request: request != 0 });
            }
        }
        Ok(out)
    }

    /// Marks the talk with `peer` as read.
    pub fn mark_read(&mut self, peer: &Address) -> Result<(), StoreError> {
        self.conn.execute("UPDATE talk SET unread = 0 WHERE pk = ?1", params![peer.to_hex()])?;
        Ok(())
    }

    /// Sum of unread counts.
    pub fn unread_total(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(sum(unread), 0) FROM talk", [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    }
}
