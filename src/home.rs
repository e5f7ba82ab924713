//! The data home: where config, the key database and every account's data live.
//!
//! ```text
//! config.toml                 settings
//! wochat.db                   plain SQLite: the keys table (feeds the login dropdown)
//! accounts/<address>/chat.db  SQLCipher database of that account
//! accounts/<address>/objects/ content-addressed object store
//! accounts/<address>/lock     held by the one process that has the account open
//! ```

use std::io;
use std::path::{Path, PathBuf};

use crate::crypto::Address;
use crate::fsutil::create_private_dir;

/// A data home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Opens (creating it with mode 0700 if missing) the home at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        create_private_dir(&root)?;
        // Whatever is found wider than the user's own is fixed at every start.
        crate::fsutil::make_private_tree(&root)?;
        Ok(Self { root })
    }

    /// The platform's default data directory for WoChat
    /// (e.g. `~/.local/share/wochat`, `~/Library/Application Support/wochat`, `%APPDATA%\wochat\data`).
    pub fn default_root() -> io::Result<PathBuf> {
        directories::ProjectDirs::from("", "", "wochat")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or_else(|| io::Error::other("no home directory found; pass --home DIR or set WOCHAT_HOME"))
    }

    /// The home's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `wochat.db`, the plain key database.
    pub fn keys_db_path(&self) -> PathBuf {
        self.root.join("wochat.db")
    }

    /// `accounts/<address>/`, created on demand by [`Home::create_account_dir`].
    pub fn account_dir(&self, address: &Address) -> PathBuf {
        self.root.join("accounts").join(address.to_hex())
    }

    /// Creates `accounts/<address>/` and its `objects/` directory (mode 0700).
    pub fn create_account_dir(&self, address: &Address) -> io::Result<PathBuf> {
        let dir = self.account_dir(address);
        create_private_dir(&self.root.join("accounts"))?;
        create_private_dir(&dir)?;
        create_private_dir(&dir.join("objects"))?;
        Ok(dir)
    }

    /// `accounts/<address>/chat.db`.
    pub fn chat_db_path(&self, address: &Address) -> PathBuf {
        self.account_dir(address).join("chat.db")
    }

    /// `accounts/<address>/objects/`.
    pub fn objects_dir(&self, address: &Address) -> PathBuf {
        self.account_dir(address).join("objects")
    }

    /// `accounts/<address>/lock`.
    pub fn lock_path(&self, address: &Address) -> PathBuf {
        self.account_dir(address).join("lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(dir.path().join("h")).unwrap();
        assert!(home.root().is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.root()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
