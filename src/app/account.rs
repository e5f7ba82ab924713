//! An open account: identity, lock and encrypted database, in one process.

use std::sync::Arc;

use crate::crypto::envelope::Keyring;
use crate::crypto::{Address, Identity};
use crate::home::Home;
use crate::objects::ObjectStore;
use crate::store::{AccountLock, ChatDb, KeyStore, KeysError, LockError, StoreError};

/// Why an account could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Name, password or key row problem.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The account is open in another process, or the lock file failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `chat.db` could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The account directory could not be created.
    #[error("cannot create the account directory: {0}")]
    Io(#[from] std::io::Error),
}

/// A logged-in account. Holding it holds the account's lock.
pub struct Account {
    /// The key pair, with its per-peer ECDH cache.
    pub keys: Arc<Keyring>,
    /// The display name.
    pub name: String,
    /// The encrypted database.
    pub chat: ChatDb,
    /// The data home.
    pub home: Home,
    /// The encrypted object store (quota unlimited until the settings set one).
    pub objects: Arc<ObjectStore>,
    _lock: AccountLock,
}

impl Account {
    /// Logs in: takes the account's lock (so a second window fails fast, before Argon2),
    /// decrypts the key with `password`, and opens `chat.db`.
    pub fn open(home: &Home, keys: &KeyStore, name: &str, password: &[u8]) -> Result<Self, OpenError> {
        LockedAccount::lock(home, keys, name)?.login(keys, password)
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.keys.address()
    }

    /// A second connection to the account's database, for reading while the engine owns the
    /// first one.
    pub fn reader(&self) -> Result<ChatDb, StoreError> {
        ChatDb::open(self.chat.path(), self.identity())
    }

    /// The key pair.
    pub fn identity(&self) -> &Identity {
        self.keys.identity()
    }

    /// The account's MQTT client id (secret: derived from the secret key).
    pub fn client_id(&self) -> String {
        crate::wire::secret_client_id(self.identity())
    }

    /// How the account logs in to brokers: its client id, and the password that goes with its
    /// address as user name when `broker.account_login` is on.
    pub fn broker_login(&self) -> BrokerLogin {
        BrokerLogin { client_id: self.client_id(), password: crate::wire::broker_password(self.identity()) }
    }
}

/// What an account presents to a broker (derived from its secret key; the password is never
/// shown by `Debug`).
#[derive(Debug, Clone)]
pub struct BrokerLogin {
    /// The MQTT client id ([`crate::wire::secret_client_id`]).
    pub client_id: String,
    /// The password for `broker.account_login` ([`crate::wire::broker_password`]).
    pub password: crate::crypto::password::Password,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).field("address", &self.address()).finish()
    }
}

/// An account whose lock is held but which is not logged in yet (the password is still to
/// come): a second process is refused before anyone types a password.
pub struct LockedAccount {
    home: Home,
    name: String,
    lock: AccountLock,
}

impl LockedAccount {
    /// Takes the lock of the active account `name`.
    pub fn lock(home: &Home, keys: &KeyStore, name: &str) -> Result<Self, OpenError> {
        let address = keys.address_of(name)?;
        home.create_account_dir(&address)?;
        let lock = AccountLock::acquire(&home.lock_path(&address))?;
        Ok(Self { home: home.clone(), name: name.trim().to_string(), lock })
    }

    /// Decrypts the key with `password` and opens `chat.db`.
    pub fn login(self, keys: &KeyStore, password: &[u8]) -> Result<Account, OpenError> {
        let identity = keys.login(&self.name, password)?;
        let chat = ChatDb::open(&self.home.chat_db_path(&identity.address()), &identity)?;
        let objects = Arc::new(ObjectStore::open(&self.home.objects_dir(&identity.address()), &identity, 0)?);
        Ok(Account {
            keys: Arc::new(Keyring::new(identity)),
            name: self.name,
            chat,
            home: self.home,
            objects,
            _lock: self.lock,
        })
    }
}
