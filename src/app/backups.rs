//! Backups while the app runs (docs/BACKUP.md): "back up now" and the automatic schedule of
//! [`crate::backup::schedule`], one at a time, written off the async threads, with progress,
//! the result and failures reported as [`Event::Backup`]. Older backups of the account in the
//! folder are deleted after a successful one, so that the newest `keep` remain.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::{ClientError, ClientResult, Event};
use crate::backup::schedule::{self, BackupSettings, LastBackup, Schedule};
use crate::crypto::envelope::Keyring;
use crate::crypto::password::KdfParams;
use crate::home::Home;
use crate::store::{ChatDb, KeyStore};

/// How a backup goes, as [`Event::Backup`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupEvent {
    /// Bytes of the account's data written so far, of the total.
    Progress {
        /// Written.
        done: u64,
        /// Of.
        total: u64,
    },
    /// Written.
    Done {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// Older backups deleted to keep the newest N.
        pruned: usize,
    },
    /// Not written (nothing of it is left behind).
    Failed {
        /// Why, in words.
        reason: String,
    },
}

/// The backups of a running client (cheap to clone).
#[derive(Clone)]
pub struct Backups {
    inner: Arc<Inner>,
}

struct Inner {
    home: Home,
    name: String,
    keyring: Arc<Keyring>,
    /// Weak: the event channel closes when the engine stops, as front ends expect.
    events: mpsc::WeakUnboundedSender<Event>,
    /// A backup is being written (never more than one at a time).
    running: AtomicBool,
    kdf: KdfParams,
}

impl std::fmt::Debug for Backups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups").field("running", &self.is_running()).finish()
    }
}

impl Backups {
    /// The backups of the account `name` (whose keys are `keyring`) in `home`; events go to
    /// `events`; the backup passphrase is stretched with `kdf`.
    pub(super) fn new(
        home: Home,
        name: String,
        keyring: Arc<Keyring>,
        events: mpsc::WeakUnboundedSender<Event>,
        kdf: KdfParams,
    ) -> Self {
        Self { inner: Arc::new(Inner { home, name, keyring, events, running: AtomicBool::new(false), kdf }) }
    }

    fn db(&self) -> ClientResult<ChatDb> {
        let identity = self.inner.keyring.identity();
        Ok(ChatDb::open(&self.inner.home.chat_db_path(&identity.address()), identity)?)
    }

    /// Whether a backup is being written now.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::Acquire)
    }

    /// The settings of the automatic backups and how the last one went.
    pub async fn settings(&self) -> ClientResult<BackupSettings> {
        let this = self.clone();
        blocking(move || Ok(BackupSettings::load(&this.db()?)?)).await
    }

    /// Sets the schedule, the folder and how many backups to keep. Turning backups on for the
    /// first time stores a generated passphrase and returns it: show it once.
    pub async fn configure(
        &self,
        schedule: Schedule,
        folder: Option<PathBuf>,
        keep: u32,
    ) -> ClientResult<Option<Zeroizing<String>>> {
        let this = self.clone();
        blocking(move || Ok(schedule::configure(&this.db()?, schedule, folder.as_deref(), keep, None)?)).await
    }

    /// Stores a new generated passphrase for the backups to come and returns it (show it once).
    pub async fn renew_passphrase(&self) -> ClientResult<Zeroizing<String>> {
        let this = self.clone();
        blocking(move || Ok(schedule::renew_passphrase(&this.db()?)?)).await
    }

    /// Starts a backup into the configured folder now (a passphrase is made if none is
    /// stored yet, and returned to be shown once). Refused while one is being written, and
    /// without a folder.
    pub async fn back_up_now(&self) -> ClientResult<Option<Zeroizing<String>>> {
        let settings = self.settings().await?;
        let Some(folder) = settings.folder.clone() else { return Err(ClientError::BackupFolderUnset) };
        let new_passphrase = match settings.has_passphrase {
            true => None,
            false => Some(self.renew_passphrase().await?),
        };
        self.start(folder, settings.keep)?;
        Ok(new_passphrase)
    }

    /// Starts writing a backup into `folder` off the async threads.
    fn start(&self, folder: PathBuf, keep: u32) -> ClientResult<()> {
        if self.inner.running.swap(true, Ordering::AcqRel) {
            return Err(ClientError::BackupRunning);
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = this.write(&folder, keep);
            this.inner.running.store(false, Ordering::Release);
            let event = match outcome {
                Ok((path, bytes, pruned)) => BackupEvent::Done { path, bytes, pruned },
                Err(reason) => BackupEvent::Failed { reason },
            };
            this.report(event);
        });
        Ok(())
    }

    /// Writes one backup, records how it went, deletes the oldest beyond `keep`.
    fn write(&self, folder: &Path, keep: u32) -> Result<(PathBuf, u64, usize), String> {
        let db = self.db().map_err(|e| e.to_string())?;
        let result = self.write_with(&db, folder);
        let at = crate::store::now_ms();
        let last = match &result {
            Ok((path, bytes)) => LastBackup { at, path: Some(path.clone()), bytes: *bytes, error: None },
            Err(e) => LastBackup { at, path: None, bytes: 0, error: Some(e.clone()) },
        };
        // The file is written either way; a failure to note it only makes the next one sooner.
        let _ = schedule::record(&db, &last);
        let (path, bytes) = result?;
        let address = self.inner.keyring.address();
        let pruned = schedule::prune(folder, &address, keep)
            .map_err(|e| format!("the backup was written, but older ones could not be deleted: {e}"))?;
        Ok((path, bytes, pruned.len()))
    }

    fn write_with(&self, db: &ChatDb, folder: &Path) -> Result<(PathBuf, u64), String> {
        if crate::fault::armed("slow-backup") {
            std::thread::sleep(Duration::from_secs(2));
        }
        let passphrase =
            schedule::stored_passphrase(db).map_err(|e| e.to_string())?.ok_or("no backup passphrase is set")?;
        std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let identity = self.inner.keyring.identity();
        let path = folder.join(schedule::file_name(&identity.address(), crate::store::now_ms()));
        let keys = KeyStore::open(&self.inner.home.keys_db_path()).map_err(|e| e.to_string())?;
        let mut progress = |done, total| self.report(BackupEvent::Progress { done, total });
        let s = crate::backup::create(
            &self.inner.home,
            &keys,
            &self.inner.name,
            identity,
            &path,
            passphrase.as_bytes(),
            self.inner.kdf,
            &mut progress,
        )
        .map_err(|e| e.to_string())?;
        Ok((path, s.bytes))
    }

    fn report(&self, event: BackupEvent) {
        if let Some(events) = self.inner.events.upgrade() {
            let _ = events.send(Event::Backup(event));
        }
    }

    /// Writes the automatic backups while the client runs: looks every `every` whether one is
    /// due, until `alive` says the client has stopped.
    pub(super) async fn schedule(self, every: Duration, alive: impl Fn() -> bool) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !alive() {
                return;
            }
            if self.is_running() {
                continue;
            }
            let Ok(settings) = self.settings().await else { continue };
            if let (true, Some(folder)) = (settings.due(crate::store::now_ms()), settings.folder.clone()) {
                let _ = self.start(folder, settings.keep);
            }
        }
    }
}

/// Runs `f` on the blocking threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ClientResult<T> + Send + 'static) -> ClientResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ClientError::Stopped)?
}
