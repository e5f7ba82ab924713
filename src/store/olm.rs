//! The protocol v2 tables (`olm_account`, `olm_session`, `peer_device`, `session_reset`,
//! `meta`): rows only, read and written inside the caller's transaction.
//! What they mean is the session layer's business (`crate::session`).

use rusqlite::{OptionalExtension, Transaction, params};

use super::StoreError;
use crate::crypto::Address;

/// The `olm_account` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The encrypted pickle.
    pub pickle: String,
    /// When the bundle was last published (ms; 0: publish again).
    pub published: i64,
    /// When the account was made (ms).
    pub created: i64,
}

/// An `olm_session` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The session id.
    pub sid: String,
    /// The peer device's Curve25519 key.
    pub ik: Vec<u8>,
    /// The encrypted pickle.
    pub pickle: String,
    /// This account started it.
    pub mine: bool,
    /// When it was made (ms).
    pub created: i64,
    /// When it last encrypted or decrypted (ms).
    pub used: i64,
    /// It encrypts what is sent to the peer.
    pub preferred: bool,
}

/// A `peer_device` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// The device id.
    pub dev: Vec<u8>,
    /// Its Curve25519 identity key.
    pub ik: Vec<u8>,
    /// The signed bundle it came in.
    pub bundle: Vec<u8>,
    /// Its one-time keys not yet used by this account (32 bytes each).
    pub otk: Vec<u8>,
    /// The bundle's creation time (ms).
    pub ts: i64,
    /// When the bundle arrived (ms).
    pub seen: i64,
}

/// The Olm account, if one was made.
pub fn account(tx: &Transaction<'_>) -> Result<Option<AccountRow>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT pickle, published, created FROM olm_account WHERE id = 1")?
        .query_row([], |r| Ok(AccountRow { pickle: r.get(0)?, published: r.get(1)?, created: r.get(2)? }))
        .optional()?)
}

/// Writes the Olm account.
pub fn save_account(tx: &Transaction<'_>, a: &AccountRow) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO olm_account (id, pickle, published, created) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET pickle = excluded.pickle, published = excluded.published",
    )?
    .execute(params![a.pickle, a.published, a.created])?;
    Ok(())
}

/// The sessions with `peer`, preferred first, then the most recently used.
pub fn sessions(tx: &Transaction<'_>, peer: &Address) -> Result<Vec<SessionRow>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT sid, ik, pickle, mine, created, used, preferred FROM olm_session WHERE peer = ?1
         ORDER BY preferred DESC, used DESC",
    )?;
    let rows = stmt.query_map([peer.to_hex()], |r| {
        Ok(SessionRow {
            sid: r.get(0)?,
            ik: r.get(1)?,
            pickle: r.get(2)?,
            mine: r.get(3)?,
            created: r.get(4)?,
            used: r.get(5)?,
            preferred: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The preferred session with `peer`, if any.
pub fn preferred_session(tx: &Transaction<'_>, peer: &Address) -> Result<Option<SessionRow>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT sid, ik, pickle, mine, created, used, preferred FROM olm_session WHERE peer = ?1 AND preferred = 1",
        )?
        .query_row([peer.to_hex()], |r| {
            Ok(SessionRow {
                sid: r.get(0)?,
                ik: r.get(1)?,
                pickle: r.get(2)?,
                mine: r.get(3)?,
                created: r.get(4)?,
                used: r.get(5)?,
                preferred: r.get(6)?,
            })
        })
        .optional()?)
}

/// The Curve25519 key of `peer`'s newest device, if any.
pub fn newest_device_key(tx: &Transaction<'_>, peer: &Address) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT ik FROM peer_device WHERE peer = ?1 ORDER BY ts DESC, seen DESC LIMIT 1")?
        .query_row([peer.to_hex()], |r| r.get(0))
        .optional()?)
}

/// Writes a session; when it becomes preferred (`was_preferred` false), the peer's other
/// sessions no longer are.
pub fn save_session(
    tx: &Transaction<'_>,
    peer: &Address,
    s: &SessionRow,
    was_preferred: bool,
) -> Result<(), StoreError> {
    if s.preferred && !was_preferred {
        tx.prepare_cached("UPDATE olm_session SET preferred = 0 WHERE peer = ?1 AND sid != ?2")?
            .execute(params![peer.to_hex(), s.sid])?;
    }
    tx.prepare_cached(
        "INSERT INTO olm_session (peer, sid, ik, pickle, mine, created, used, preferred)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (peer, sid) DO UPDATE SET pickle = excluded.pickle, used = excluded.used,
             preferred = excluded.preferred",
    )?
    .execute(params![peer.to_hex(), s.sid, s.ik, s.pickle, s.mine, s.created, s.used, s.preferred])?;
    Ok(())
}

/// Writes a session's new state (it encrypted or decrypted, last at `used`).
pub fn update_session(
    tx: &Transaction<'_>,
    peer: &Address,
    sid: &str,
    pickle: &str,
    used: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE olm_session SET pickle = ?3, used = ?4 WHERE peer = ?1 AND sid = ?2")?
        .execute(params![peer.to_hex(), sid, pickle, used])?;
    Ok(())
}

/// Deletes all but the `keep` most recently used sessions with `peer` (the preferred one stays).
pub fn prune_sessions(tx: &Transaction<'_>, peer: &Address, keep: usize) -> Result<(), StoreError> {
    tx.prepare_cached(
        "DELETE FROM olm_session WHERE peer = ?1 AND preferred = 0 AND sid NOT IN
             (SELECT sid FROM olm_session WHERE peer = ?1 ORDER BY preferred DESC, used DESC LIMIT ?2)",
    )?
    .execute(params![peer.to_hex(), keep as i64])?;
    Ok(())
}

/// Most strangers (no friend row, no conversation) whose devices and sessions are kept: any
/// address can send a bundle or start a session, so what they leave is bounded.
pub const KEEP_STRANGERS: i64 = 1000;

/// Forgets the devices and sessions of all but the [`KEEP_STRANGERS`] most recently seen
/// strangers.
pub fn forget_strangers(tx: &Transaction<'_>) -> Result<(), StoreError> {
    const STRANGER: &str =
        "peer NOT IN (SELECT pk FROM friend) AND peer NOT IN (SELECT pk FROM talk WHERE pk IS NOT NULL)";
    tx.prepare_cached(&format!(
        "DELETE FROM peer_device WHERE peer IN (SELECT peer FROM peer_device WHERE {STRANGER}
             GROUP BY peer ORDER BY max(seen) DESC LIMIT -1 OFFSET ?1)"
    ))?
    .execute([KEEP_STRANGERS])?;
    tx.prepare_cached(&format!(
        "DELETE FROM olm_session WHERE peer IN (SELECT peer FROM olm_session WHERE {STRANGER}
             GROUP BY peer ORDER BY max(used) DESC LIMIT -1 OFFSET ?1)"
    ))?
    .execute([KEEP_STRANGERS])?;
    Ok(())
}

/// Whether a device (a verified v2 key bundle) of `peer` is known: it speaks protocol v2.
pub fn has_device(conn: &rusqlite::Connection, peer: &Address) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM peer_device WHERE peer = ?1 LIMIT 1")?;
    Ok(stmt.exists([peer.to_hex()])?)
}

/// The devices of `peer`, newest bundle first.
pub fn devices(tx: &Transaction<'_>, peer: &Address) -> Result<Vec<DeviceRow>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT dev, ik, bundle, otk, ts, seen FROM peer_device WHERE peer = ?1 ORDER BY ts DESC, seen DESC",
    )?;
    let rows = stmt.query_map([peer.to_hex()], |r| {
        Ok(DeviceRow {
            dev: r.get(0)?,
            ik: r.get(1)?,
            bundle: r.get(2)?,
            otk: r.get(3)?,
            ts: r.get(4)?,
            seen: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes a device of `peer`.
pub fn save_device(tx: &Transaction<'_>, peer: &Address, d: &DeviceRow) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO peer_device (peer, dev, ik, bundle, otk, ts, seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (peer, dev) DO UPDATE SET ik = excluded.ik, bundle = excluded.bundle, otk = excluded.otk,
             ts = excluded.ts, seen = excluded.seen",
    )?
    .execute(params![peer.to_hex(), d.dev, d.ik, d.bundle, d.otk, d.ts, d.seen])?;
    Ok(())
}

/// Whether `peer` has ever shown a verified v2 bundle.
pub fn speaks_v2(conn: &rusqlite::Connection, peer: &Address) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM peer_device WHERE peer = ?1)")?
        .query_row([peer.to_hex()], |r| r.get(0))?)
}

/// When a reset was last asked of `peer`, and last honoured for it (ms; 0 if never).
pub fn reset_times(tx: &Transaction<'_>, peer: &Address) -> Result<(i64, i64), StoreError> {
    Ok(tx
        .prepare_cached("SELECT asked, honoured FROM session_reset WHERE peer = ?1")?
        .query_row([peer.to_hex()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

/// Records when a reset was asked of `peer` or honoured for it.
pub fn set_reset_times(tx: &Transaction<'_>, peer: &Address, asked: i64, honoured: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO session_reset (peer, asked, honoured) VALUES (?1, ?2, ?3)
         ON CONFLICT (peer) DO UPDATE SET asked = excluded.asked, honoured = excluded.honoured",
    )?
    .execute(params![peer.to_hex(), asked, honoured])?;
    Ok(())
}

/// A value of the `meta` table.
pub fn meta(conn: &rusqlite::Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

/// Sets a value of the `meta` table.
pub fn set_meta(conn: &rusqlite::Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}
