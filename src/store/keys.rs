//! The `keys` table of `wochat.db`: password-protected identities and the login dropdown.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{StoreError, migrations, now_ms, open_database};
use crate::crypto::password::{self, KdfParams, SealedKey, UnsealError};
use crate::crypto::{Address, Identity};

/// Errors of account management.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The password does not open the key.
    #[error("wrong password")]
    WrongPassword,
    /// No active account has this name.
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    /// The name is already used by another account.
    #[error("an account named {0:?} already exists")]
    NameTaken(String),
    /// The name is empty, too long or has control characters.
    #[error("invalid account name: {0}")]
    BadName(&'static str),
    /// The account (same address) is already in this home.
    #[error("this account is already here, named {0:?}")]
    AlreadyPresent(String),
    /// A stored row or an export file is malformed.
    #[error("the stored key of {name:?} is damaged: {reason}")]
    Damaged {
        /// The account.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An export file could not be read, parsed or written.
    #[error("{0}")]
    ExportFile(String),
    /// Cryptographic failure (RNG).
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for KeysError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sqlite(e))
    }
}

/// One entry of the login dropdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    /// Display name.
    pub name: String,
    /// Address.
    pub address: Address,
}

/// Trims and checks an account name: 1 to 128 UTF-8 bytes, no control characters.
pub fn normalize_name(name: &str) -> Result<String, KeysError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(KeysError::BadName("the name is empty"));
    }
    if name.len() > 128 {
        return Err(KeysError::BadName("the name is longer than 128 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(KeysError::BadName("the name contains control characters"));
    }
    Ok(name.to_string())
}

/// The key database of a data home.
pub struct KeyStore {
    conn: Connection,
    kdf: KdfParams,
}

/// The export file: the encrypted key, never the clear one.
#[derive(Debug, Serialize, Deserialize)]
struct ExportFile {
    format: String,
    version: u32,
    name: String,
    address: String,
    kdf: ExportKdf,
    salt: String,
    sk: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExportKdf {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
}

const EXPORT_FORMAT: &str = "wochat-account";

impl KeyStore {
    /// Opens (creating and migrating) `wochat.db`.
    pub fn open(path: &Path) -> Result<Self, KeysError> {
        let conn = open_database(path, None, migrations::KEYS_DB)?;
        Ok(Self { conn, kdf: KdfParams::DEFAULT })
    }

    /// Uses other Argon2 parameters for keys sealed from now on (tests use cheap ones).
    pub fn with_kdf(mut self, kdf: KdfParams) -> Self {
        self.kdf = kdf;
        self
    }

    /// Creates an account with a fresh key pair; returns its address.
    pub fn create(&self, name: &str, password: &[u8]) -> Result<Address, KeysError> {
        let name = normalize_name(name)?;
        self.ensure_name_free(&name)?;
        self.create_from(&name, &Identity::generate()?, password)
    }

    /// Creates an account from an existing key pair (restoring a key kept elsewhere).
    pub fn create_from(&self, name: &str, id: &Identity, password: &[u8]) -> Result<Address, KeysError> {
        let name = normalize_name(name)?;
        self.ensure_name_free(&name)?;
        if let Some(existing) = self
            .conn
            .query_row("SELECT name FROM keys WHERE pk = ?1", [id.address().to_hex()], |r| r.get::<_, String>(0))
            .optional()?
        {
            return Err(KeysError::AlreadyPresent(existing));
        }
        let sealed = password::seal_identity(id, password, self.kdf)?;
        self.insert(&name, &id.address(), &sealed, now_ms())?;
        Ok(id.address())
    }

    /// Active accounts in creation order.
    pub fn list(&self) -> Result<Vec<AccountEntry>, KeysError> {
        let mut stmt = self.conn.prepare("SELECT name, pk FROM keys WHERE active = 'Y' ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, pk) = row?;
            // A row whose address is damaged cannot be logged into; say so at login, but keep
            // the dropdown working for every other account.
            if let Ok(address) = pk.parse() {
                out.push(AccountEntry { name, address });
            }
        }
        Ok(out)
    }

    /// The address of an active account, without the password (to find its lock).
    pub fn address_of(&self, name: &str) -> Result<Address, KeysError> {
        let (pk, _) = self.load_row(name)?;
        pk.parse().map_err(|e: crate::crypto::AddressError| KeysError::Damaged {
            name: name.trim().to_string(),
            reason: format!("public key: {e}"),
        })
    }

    /// Decrypts the account's key with `password` and checks it against the stored public key.
    /// A key sealed under weaker Argon2 parameters than this store's (an older default, an
    /// imported file) is sealed again under this store's on the way.
    pub fn login(&self, name: &str, password: &[u8]) -> Result<Identity, KeysError> {
        let name = name.trim();
        let (pk, sealed) = self.load_row(name)?;
        let id = unseal(name, &pk, &sealed, password)?;
        if self.weaker_than_mine(&sealed.kdf) {
            let stronger = password::seal_identity(&id, password, self.kdf)?;
            self.conn.execute(
                "UPDATE keys SET sk = ?1, salt = ?2, kdf_m = ?3, kdf_t = ?4, kdf_p = ?5 WHERE pk = ?6 AND sk = ?7",
                params![
                    stronger.blob,
                    stronger.salt,
                    stronger.kdf.m_kib,
                    stronger.kdf.t,
                    stronger.kdf.p,
                    id.address().to_hex(),
                    sealed.blob
                ],
            )?;
        }
        Ok(id)
    }

    /// Whether `kdf` costs an attacker less than this store's parameters.
    fn weaker_than_mine(&self, kdf: &KdfParams) -> bool {
        kdf.m_kib < self.kdf.m_kib || kdf.t < self.kdf.t
    }

    /// Re-seals the key under a new password (the old one is required).
    pub fn change_password(&self, name: &str, old: &[u8], new: &[u8]) -> Result<(), KeysError> {
        let id = self.login(name, old)?;
        let sealed = password::seal_identity(&id, new, self.kdf)?;
        let n = self.conn.execute(
            "UPDATE keys SET sk = ?1, salt = ?2, kdf_m = ?3, kdf_t = ?4, kdf_p = ?5 WHERE pk = ?6",
            params![sealed.blob, sealed.salt, sealed.kdf.m_kib, sealed.kdf.t, sealed.kdf.p, id.address().to_hex()],
        )?;
        if n != 1 {
            return Err(KeysError::UnknownAccount(name.trim().into()));
        }
        Ok(())
    }

    /// Hides the account from the dropdown (`active = 'N'`); its data is kept.
    pub fn deactivate(&self, name: &str) -> Result<(), KeysError> {
        let n = self.conn.execute("UPDATE keys SET active = 'N' WHERE name = ?1 AND active = 'Y'", [name.trim()])?;
        if n == 0 {
            return Err(KeysError::UnknownAccount(name.trim().into()));
        }
        Ok(())
    }

    /// Writes the account's encrypted key to `out` (password checked first). The file is
    /// protected by the same password; it never holds the clear key.
    pub fn export(&self, name: &str, password: &[u8], out: &Path) -> Result<Address, KeysError> {
        let id = self.login(name, password)?;
        let (_, sealed) = self.load_row(name)?;
        let file = ExportFile {
            format: EXPORT_FORMAT.into(),
            version: 1,
            name: name.trim().into(),
            address: id.address().to_hex(),
            kdf: ExportKdf { alg: "argon2id".into(), m_kib: sealed.kdf.m_kib, t: sealed.kdf.t, p: sealed.kdf.p },
            salt: hex::encode(&sealed.salt),
            sk: hex::encode(&sealed.blob),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| KeysError::ExportFile(e.to_string()))?;
        crate::fsutil::write_atomic(out, text.as_bytes())
            .map_err(|e| KeysError::ExportFile(format!("cannot write {}: {e}", out.display())))?;
        Ok(id.address())
    }

    /// The sealed key of an active account, as stored (for a history backup: it travels sealed
    /// under the account's password, inside the backup's own encryption).
    pub fn sealed_key(&self, name: &str) -> Result<(Address, SealedKey), KeysError> {
        let (pk, sealed) = self.load_row(name)?;
        let address = pk.parse().map_err(|e| KeysError::Damaged { name: name.into(), reason: format!("{e}") })?;
        Ok((address, sealed))
    }

    /// The name of the account with this address, if it is in this home (active or not).
    pub fn name_of(&self, address: &Address) -> Result<Option<String>, KeysError> {
        Ok(self
            .conn
            .query_row("SELECT name FROM keys WHERE pk = ?1", [address.to_hex()], |r| r.get::<_, String>(0))
            .optional()?)
    }

    /// Stores a sealed key restored from a backup under `name`, replacing the row of the same
    /// address if there is one (the caller has asked the user first).
    pub fn put_restored(&self, name: &str, address: &Address, sealed: &SealedKey) -> Result<(), KeysError> {
        let name = normalize_name(name)?;
        sealed.check().map_err(|reason| KeysError::Damaged { name: name.clone(), reason })?;
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM keys WHERE pk = ?1", [address.to_hex()])?;
        let taken: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM keys WHERE name = ?1)", [&name], |r| r.get(0))?;
        if taken {
            return Err(KeysError::NameTaken(name));
        }
        self.insert(&name, address, sealed, now_ms())?;
        tx.commit()?;
        Ok(())
    }

    /// Imports an exported account; the password is checked before anything is stored.
    /// `rename` gives it another name (for example when the name is taken here).
    pub fn import(&self, file: &Path, password: &[u8], rename: Option<&str>) -> Result<AccountEntry, KeysError> {
        let bad = |reason: String| KeysError::ExportFile(format!("{}: {reason}", file.display()));
        let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
        let f: ExportFile = serde_json::from_str(&text).map_err(|e| bad(format!("not a WoChat account file ({e})")))?;
        if f.format != EXPORT_FORMAT || f.version != 1 || f.kdf.alg != "argon2id" {
            return Err(bad("not a WoChat account file of a supported version".into()));
        }
        let sealed = SealedKey {
            kdf: KdfParams { m_kib: f.kdf.m_kib, t: f.kdf.t, p: f.kdf.p },
            salt: hex::decode(&f.salt).map_err(|_| bad("salt is not hex".into()))?,
            blob: hex::decode(&f.sk).map_err(|_| bad("key is not hex".into()))?,
        };
        let name = normalize_name(rename.unwrap_or(&f.name))?;
        let id = unseal(&name, &f.address, &sealed, password)?;
        let address = id.address();
        if let Some(existing) = self
            .conn
            .query_row("SELECT name FROM keys WHERE pk = ?1", [address.to_hex()], |r| r.get::<_, String>(0))
            .optional()?
        {
            return Err(KeysError::AlreadyPresent(existing));
        }
        self.ensure_name_free(&name)?;
        // A file sealed under weaker parameters than this store's is sealed again under them.
        let sealed =
            if self.weaker_than_mine(&sealed.kdf) { password::seal_identity(&id, password, self.kdf)? } else { sealed };
        self.insert(&name, &address, &sealed, now_ms())?;
        Ok(AccountEntry { name, address })
    }

    fn ensure_name_free(&self, name: &str) -> Result<(), KeysError> {
        let taken: bool =
            self.conn.query_row("SELECT EXISTS(SELECT 1 FROM keys WHERE name = ?1)", [name], |r| r.get(0))?;
        if taken {
            return Err(KeysError::NameTaken(name.into()));
        }
        Ok(())
    }

    fn insert(&self, name: &str, address: &Address, sealed: &SealedKey, dt: i64) -> Result<(), KeysError> {
        let result = self.conn.execute(
            "INSERT INTO keys (dt, sk, pk, name, active, kdf_m, kdf_t, kdf_p, salt)
             VALUES (?1, ?2, ?3, ?4, 'Y', ?5, ?6, ?7, ?8)",
            params![dt, sealed.blob, address.to_hex(), name, sealed.kdf.m_kib, sealed.kdf.t, sealed.kdf.p, sealed.salt],
        );
        match result {
            Ok(_) => Ok(()),
            // Another process took the name between the check and the insert.
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Err(KeysError::NameTaken(name.into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an active account's row, checking its column types (a damaged row is an error).
    fn load_row(&self, name: &str) -> Result<(String, SealedKey), KeysError> {
        let name = name.trim();
        let damaged = |reason: String| KeysError::Damaged { name: name.into(), reason };
        let row = self
            .conn
            .query_row(
                "SELECT pk, sk, salt, kdf_m, kdf_t, kdf_p FROM keys WHERE name = ?1 AND active = 'Y'",
                [name],
                |r| {
                    Ok((
                        r.get::<_, rusqlite::types::Value>(0)?,
                        r.get::<_, rusqlite::types::Value>(1)?,
                        r.get::<_, rusqlite::types::Value>(2)?,
                        r.get::<_, rusqlite::types::Value>(3)?,
                        r.get::<_, rusqlite::types::Value>(4)?,
                        r.get::<_, rusqlite::types::Value>(5)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| KeysError::UnknownAccount(name.into()))?;
        use rusqlite::types::Value;
        let text = |v: Value, what: &str| match v {
            Value::Text(s) => Ok(s),
            _ => Err(damaged(format!("{what} is not text"))),
        };
        let blob = |v: Value, what: &str| match v {
            Value::Blob(b) => Ok(b),
            _ => Err(damaged(format!("{what} is not a blob"))),
        };
        let int = |v: Value, what: &str| match v {
            Value::Integer(i) => u32::try_from(i).map_err(|_| damaged(format!("{what} is out of range"))),
            _ => Err(damaged(format!("{what} is not an integer"))),
        };
        let pk = text(row.0, "public key")?;
        let sealed = SealedKey {
            blob: blob(row.1, "encrypted key")?,
            salt: blob(row.2, "salt")?,
            kdf: KdfParams { m_kib: int(row.3, "kdf_m")?, t: int(row.4, "kdf_t")?, p: int(row.5, "kdf_p")? },
        };
        Ok((pk, sealed))
    }
}

/// Checks the stored parameters, then decrypts and verifies the key.
fn unseal(name: &str, pk: &str, sealed: &SealedKey, password: &[u8]) -> Result<Identity, KeysError> {
    let damaged = |reason: String| KeysError::Damaged { name: name.into(), reason };
    let address: Address = pk.parse().map_err(|e| damaged(format!("public key: {e}")))?;
    sealed.check().map_err(damaged)?;
    password::unseal_identity(sealed, &address, password).map_err(|e| match e {
        UnsealError::WrongPassword => KeysError::WrongPassword,
        UnsealError::Damaged(reason) => damaged(reason),
    })
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}
