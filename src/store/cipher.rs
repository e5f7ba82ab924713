//! How an account's `chat.db` is keyed and how its pages are authenticated (SQLCipher).
//!
//! Every page is encrypted with AES-256-CBC under the account's database key and carries an
//! HMAC. Databases created since 2026-12 use HMAC-SHA-256, which the SHA extensions of
//! current processors compute two to three times faster than SQLCipher's default
//! HMAC-SHA-512; every page read or written pays it, so writing history, a backup's copy of
//! the database and a restore all gain (docs/PERFORMANCE.md). Databases created before keep
//! HMAC-SHA-512: the setting is not stored in the file, so opening one tries the new setting
//! first and the old one after it (page 1 tells, at the cost of one page).

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::crypto::Key32;

/// The HMAC that authenticates each page of an encrypted database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageMac {
    /// HMAC-SHA-256: databases created by this version on.
    Sha256,
    /// HMAC-SHA-512, SQLCipher 4's default: databases created before.
    Sha512,
}

impl PageMac {
    /// What a new database gets.
    pub const NEW: PageMac = PageMac::Sha256;
    /// Every setting an existing database may have, the newest first.
    pub const ALL: [PageMac; 2] = [PageMac::Sha256, PageMac::Sha512];

    /// SQLCipher's name of it (`PRAGMA cipher_hmac_algorithm`).
    pub fn sqlcipher_name(self) -> &'static str {
        match self {
            PageMac::Sha256 => "HMAC_SHA256",
            PageMac::Sha512 => "HMAC_SHA512",
        }
    }

    /// The setting of the keyed connection `conn`.
    pub fn of(conn: &Connection) -> Result<PageMac, rusqlite::Error> {
        let name: String = conn.query_row("PRAGMA cipher_hmac_algorithm", [], |r| r.get(0))?;
        Self::ALL
            .into_iter()
            .find(|m| m.sqlcipher_name().eq_ignore_ascii_case(&name))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(format!("unexpected page HMAC {name}")))
    }
}

/// Keys a SQLCipher connection with the raw `key`, its pages authenticated with `mac`; before
/// the first statement that reads the database.
pub(super) fn apply_key(conn: &Connection, key: &Key32, mac: PageMac) -> Result<(), rusqlite::Error> {
    // SQLCipher would print its own diagnostics (a wrong key) to stderr; errors are reported
    // through the result instead.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    // Every copy of the key is wiped: the hex digits and the statement holding them.
    let mut digits = Zeroizing::new([0u8; 64]);
    hex::encode_to_slice(key.as_ref(), &mut digits[..])
        .map_err(|e| rusqlite::Error::InvalidParameterName(e.to_string()))?;
    let mut pragma = Zeroizing::new(String::with_capacity(80));
    pragma.push_str("PRAGMA key = \"x'");
    pragma
        .push_str(std::str::from_utf8(&digits[..]).map_err(|e| rusqlite::Error::InvalidParameterName(e.to_string()))?);
    pragma.push_str("'\";");
    conn.execute_batch(&pragma)?;
    conn.execute_batch(&format!("PRAGMA cipher_hmac_algorithm = {};", mac.sqlcipher_name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{migrations, open_database, snapshot};

    fn note(conn: &Connection) -> String {
        conn.query_row("SELECT x FROM legacy_note LIMIT 1", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn new_databases_use_sha256_pages_and_older_ones_keep_sha512() {
        let dir = tempfile::tempdir().unwrap();
        let key: Key32 = Zeroizing::new([7; 32]);

        // A database as earlier versions created it (SQLCipher's default page HMAC).
        let old = dir.path().join("old.db");
        {
            let c = Connection::open(&old).unwrap();
            apply_key(&c, &key, PageMac::Sha512).unwrap();
            c.execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE legacy_note(x); INSERT INTO legacy_note VALUES ('kept');",
            )
            .unwrap();
        }
        // Another connection (another process of the account) keeps writing to it, its
        // frames still in the WAL: trying the new setting first leaves them all readable.
        let writer = Connection::open(&old).unwrap();
        apply_key(&writer, &key, PageMac::Sha512).unwrap();
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO legacy_note VALUES ('in the WAL');").unwrap();
        let c = open_database(&old, Some(&key), migrations::CHAT_DB).unwrap();
        assert_eq!(PageMac::of(&c).unwrap(), PageMac::Sha512);
        assert_eq!(note(&c), "kept");
        assert_eq!(c.query_row("SELECT count(*) FROM legacy_note", [], |r| r.get::<_, i64>(0)).unwrap(), 2);
        drop(writer);
        c.execute("INSERT INTO legacy_note VALUES ('written after')", []).unwrap();
        // A backup's copy of it is authenticated the same way and opens as well.
        let copy = dir.path().join("copy.db");
        snapshot(&c, &key, &copy, &mut || {}).unwrap();
        let c = open_database(&copy, Some(&key), migrations::CHAT_DB).unwrap();
        assert_eq!(PageMac::of(&c).unwrap(), PageMac::Sha512);
        assert_eq!(c.query_row("SELECT count(*) FROM legacy_note", [], |r| r.get::<_, i64>(0)).unwrap(), 3);

        // A new database gets SHA-256 pages, and keeps them when opened again.
        let new = dir.path().join("new.db");
        drop(open_database(&new, Some(&key), migrations::CHAT_DB).unwrap());
        let c = open_database(&new, Some(&key), migrations::CHAT_DB).unwrap();
        assert_eq!(PageMac::of(&c).unwrap(), PageMac::Sha256);
        // Its pages really are: read with the old setting, page 1 does not authenticate.
        let other = Connection::open(&new).unwrap();
        apply_key(&other, &key, PageMac::Sha512).unwrap();
        assert!(other.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err());
        let copy = dir.path().join("new-copy.db");
        snapshot(&c, &key, &copy, &mut || {}).unwrap();
        let c = open_database(&copy, Some(&key), migrations::CHAT_DB).unwrap();
        assert_eq!(PageMac::of(&c).unwrap(), PageMac::Sha256);

        // A wrong key opens neither, whichever setting is tried.
        let wrong: Key32 = Zeroizing::new([8; 32]);
        for path in [&old, &new] {
            let e = open_database(path, Some(&wrong), migrations::CHAT_DB).unwrap_err();
            assert!(e.to_string().contains("wrong key"), "{e}");
        }
        // A file that cannot be read at all is reported as such, not as a wrong key after
        // trying the other setting.
        let e = open_database(dir.path(), Some(&key), migrations::CHAT_DB).unwrap_err();
        assert!(!e.to_string().contains("wrong key"), "{e}");
    }
}
