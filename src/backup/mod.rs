//! History backups (docs/BACKUP.md): one file holding an account's sealed key, the home's
//! settings, a consistent snapshot of its `chat.db` and its object store, sealed under a backup
//! passphrase as a stream ([`crate::crypto::stream`]); checked without restoring; restored into
//! a home through a temporary directory, so that a failure leaves the home as it was.
//!
//! Inside the stream, entries follow one another: a 4-byte big-endian length, a JSON header
//! `{"kind","name","size"}` of that length, then `size` bytes. Kinds: `manifest` (first), `key`,
//! `config` (optional), `object` (one per file of the object store, `name` its path below
//! `objects/`), `chat.db`, `end` (last, empty); this writer puts the objects before the
//! database, whose copy is taken meanwhile, and readers take the middle ones in any order.

mod entries;
mod output;
pub mod schedule;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crypto::password::{KdfParams, SealedKey};
use crate::crypto::stream::{OpeningReader, SealingWriter, StreamError};
use crate::crypto::{Address, Identity};
use crate::home::Home;
use crate::store::{AccountLock, ChatDb, KeyStore, KeysError, StoreError};
use entries::{Entry, EntryReader, EntryWriter};

/// What went wrong with a backup.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The sealed stream: passphrase, damage, version.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The inner structure does not follow the format.
    #[error("the backup's content is malformed: {0}")]
    Malformed(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The account is in this home already (and `--replace` was not given).
    #[error("the account {name:?} ({address}) is already in this home: restore with --replace to overwrite it")]
    Exists {
        /// Its name here.
        name: String,
        /// Its address.
        address: Address,
    },
    /// The account is open in a window or another command.
    #[error("the account is open in another window: close it first")]
    InUse,
    /// The key store refused.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The database could not be copied.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::File { path: path.to_path_buf(), source }
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format of the inner structure.
    pub format: String,
    /// The WoChat version that wrote it.
    pub app: String,
    /// When it was written (ms since the Unix epoch).
    pub created: i64,
    /// The account's name.
    pub name: String,
    /// The account's address.
    pub address: String,
}

/// The format name in [`Manifest::format`].
pub const FORMAT: &str = "wochat-backup/1";

/// The sealed key as the `key` entry carries it.
#[derive(Debug, Serialize, Deserialize)]
struct KeyEntry {
    kdf_m: u32,
    kdf_t: u32,
    kdf_p: u32,
    salt: String,
    sk: String,
}

/// What was written, checked or restored.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The manifest.
    pub manifest: Manifest,
    /// Files of the object store.
    pub objects: u64,
    /// Bytes of the backup file.
    pub bytes: u64,
    /// Why the backup's settings were not restored, when they were not although the home had
    /// none (written by a newer WoChat with settings this one does not know).
    pub settings_skipped: Option<String>,
}

/// How far a backup has come: bytes of the account's data written of the total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Writes a backup of the account `name` (logged in as `identity`) of `home` to `out`: into a
/// temporary file beside it, synced, then renamed. The account may be in use meanwhile.
/// `progress` hears how many bytes of the database and the files are written, of how many.
#[allow(clippy::too_many_arguments)]
pub fn create(
    home: &Home,
    keys: &KeyStore,
    name: &str,
    identity: &Identity,
    out: &Path,
    passphrase: &[u8],
    kdf: KdfParams,
    progress: Progress<'_>,
) -> Result<Summary, BackupError> {
    let (address, sealed) = keys.sealed_key(name)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        app: env!("CARGO_PKG_VERSION").into(),
        created: crate::store::now_ms(),
        name: name.trim().into(),
        address: address.to_hex(),
    };
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.partial", out.file_name().and_then(|n| n.to_str()).unwrap_or("wochat-backup")));
    let passphrase = key_input(passphrase);
    let result = write_to(home, identity, &manifest, &sealed, &tmp, &passphrase, kdf, progress);
    let objects = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(file_error(out))?;
    let _ = crate::fsutil::sync_dir(dir);
    let bytes = std::fs::metadata(out).map_err(file_error(out))?.len();
    Ok(Summary { manifest, objects, bytes, settings_skipped: None })
}

/// The passphrase as the key derivation takes it ([`schedule::normalize_passphrase`]).
fn key_input(passphrase: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    match std::str::from_utf8(passphrase) {
        Ok(text) => zeroize::Zeroizing::new(schedule::normalize_passphrase(text).as_bytes().to_vec()),
        Err(_) => zeroize::Zeroizing::new(passphrase.to_vec()),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_to(
    home: &Home,
    identity: &Identity,
    manifest: &Manifest,
    sealed: &SealedKey,
    tmp: &Path,
    passphrase: &[u8],
    kdf: KdfParams,
    progress: Progress<'_>,
) -> Result<u64, BackupError> {
    let address = identity.address();
    // A consistent copy of the database, taken while the account may be in use (never a new,
    // empty one: opening a missing database would create it).
    let db_path = home.chat_db_path(&address);
    if !db_path.exists() {
        return Err(file_error(&db_path)(std::io::Error::new(std::io::ErrorKind::NotFound, "no history here")));
    }
    let db = ChatDb::open(&db_path, identity)?;
    let snapshot = tmp.with_extension("db-snapshot");
    // What the copy will be about: the database and its log (for the progress bar only).
    let estimate = file_size(&db_path) + file_size(&db_path.with_extension("db-wal"));
    let copy_path = snapshot.as_path();
    let written = std::thread::scope(|scope| {
        // The copy (SQLCipher decrypts and encrypts every page: the slow part) runs beside
        // the key derivation and the object store's stream.
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        let copying = std::thread::Builder::new()
            .name("wochat-backup-db".into())
            .spawn_scoped(scope, move || {
                let mut pinned = move || {
                    let _ = pinned_tx.send(());
                };
                db.snapshot_to(copy_path, identity, &mut pinned)
            })
            .map_err(file_error(copy_path))?;
        let copied = move || match copying.join() {
            Ok(result) => result.map_err(BackupError::from),
            Err(_) => Err(file_error(copy_path)(std::io::Error::other("the database copy stopped"))),
        };
        // The object store is listed once the copy's moment is fixed, so every file the copy
        // refers to is in the list (files are written before the rows that refer to them).
        if pinned_rx.recv().is_err() {
            return copied().and(Err(BackupError::Malformed("the database copy did not begin".into())));
        }
        let db_copy = DbCopy { path: copy_path, estimate, copied: Box::new(copied) };
        write_entries(home, &address, manifest, sealed, db_copy, tmp, passphrase, kdf, progress)
    });
    let _ = std::fs::remove_file(&snapshot);
    written
}

/// The database's copy being taken on another thread.
struct DbCopy<'a> {
    /// Where it is written.
    path: &'a Path,
    /// About how large it will be.
    estimate: u64,
    /// Waits until it is written.
    copied: Box<dyn FnOnce() -> Result<(), BackupError> + 'a>,
}

/// The size of the file at `path` (0 if missing).
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Writes the entries into the sealed stream at `tmp`: the object store while the database is
/// being copied, then the copy.
#[allow(clippy::too_many_arguments)]
fn write_entries(
    home: &Home,
    address: &Address,
    manifest: &Manifest,
    sealed: &SealedKey,
    db_copy: DbCopy<'_>,
    tmp: &Path,
    passphrase: &[u8],
    kdf: KdfParams,
    progress: Progress<'_>,
) -> Result<u64, BackupError> {
    // The object store's files are encrypted under the account's key already: as they are.
    // Partial downloads are left out (they are fetched again).
    let objects_dir = home.objects_dir(address);
    let files = object_files(&objects_dir).map_err(file_error(&objects_dir))?;
    let total = db_copy.estimate + files.iter().map(|(_, p)| file_size(p)).sum::<u64>();

    let file = output::Output::create(tmp).map_err(file_error(tmp))?;
    let sealing = SealingWriter::new(BufWriter::with_capacity(1 << 16, file), passphrase, kdf)?;
    let mut w = EntryWriter::new(Counting::new(sealing, total, progress));
    w.bytes("manifest", "", &json(manifest)?).map_err(file_error(tmp))?;
    let key = KeyEntry {
        kdf_m: sealed.kdf.m_kib,
        kdf_t: sealed.kdf.t,
        kdf_p: sealed.kdf.p,
        salt: hex::encode(&sealed.salt),
        sk: hex::encode(&sealed.blob),
    };
    w.bytes("key", "", &json(&key)?).map_err(file_error(tmp))?;
    if let Ok(config) = std::fs::read(home.config_path()) {
        w.bytes("config", "config.toml", &config).map_err(file_error(tmp))?;
    }
    let mut objects = 0;
    let mut objects_bytes = 0;
    for (rel, path) in files {
        match w.file("object", &rel, &path) {
            Ok(size) => {
                objects += 1;
                objects_bytes += size;
            }
            // Deleted meanwhile (collected as garbage): nothing refers to it any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(&path)(e)),
        }
    }
    (db_copy.copied)()?;
    // The progress bar's end, now that the copy's size is known.
    w.get_mut().total = objects_bytes + file_size(db_copy.path);
    w.file("chat.db", "chat.db", db_copy.path).map_err(file_error(db_copy.path))?;
    w.bytes("end", "", &[]).map_err(file_error(tmp))?;
    let mut counting = w.into_inner();
    counting.finish();
    let buffered = counting.inner.finish()?;
    let file = buffered.into_inner().map_err(|e| file_error(tmp)(e.into_error()))?;
    file.finish().map_err(file_error(tmp))?;
    Ok(objects)
}

/// Counts what passes through to report progress, about every MiB.
struct Counting<'a, W> {
    inner: W,
    done: u64,
    reported: u64,
    total: u64,
    progress: Progress<'a>,
}

impl<'a, W> Counting<'a, W> {
    /// How often progress is reported.
    const STEP: u64 = 1 << 20;

    fn new(inner: W, total: u64, progress: Progress<'a>) -> Self {
        progress(0, total);
        Self { inner, done: 0, reported: 0, total, progress }
    }

    fn finish(&mut self) {
        // The headers count too: the end is never less than the total.
        self.total = self.total.max(self.done);
        (self.progress)(self.done, self.total);
    }
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.done += n as u64;
        if self.done - self.reported >= Self::STEP {
            self.reported = self.done;
            (self.progress)(self.done.min(self.total), self.total);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, BackupError> {
    serde_json::to_vec(v).map_err(|e| BackupError::Malformed(e.to_string()))
}

/// The files below `objects/` (not `partial/` nor `tmp/`: downloads and imports under way), as
/// (path with `/` separators, full path), sorted.
fn object_files(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if rel.first().is_some_and(|c| c == "partial" || c == "tmp") {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() {
                out.push((rel.join("/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a whole backup, checking every segment and the inner structure, without writing
/// anything.
pub fn verify(path: &Path, passphrase: &[u8]) -> Result<Summary, BackupError> {
    read(path, passphrase, |_, _| Ok(())).map(|(summary, _)| summary)
}

/// What a backup holds besides the database and the files.
struct Contents {
    /// The account's key, sealed under its password.
    sealed: SealedKey,
    /// The home's settings file, if it was in the backup.
    config: Option<Vec<u8>>,
}

/// Reads the backup at `path`, checking everything a restore relies on, and hands the body of
/// the database and of each file of the object store to `each` (which need not read it all).
fn read(
    path: &Path,
    passphrase: &[u8],
    mut each: impl FnMut(&Entry, &mut dyn Read) -> Result<(), BackupError>,
) -> Result<(Summary, Contents), BackupError> {
    let file = File::open(path).map_err(file_error(path))?;
    let bytes = file.metadata().map_err(file_error(path))?.len();
    let opening = OpeningReader::new(BufReader::with_capacity(1 << 16, file), &key_input(passphrase))?;
    let mut r = EntryReader::new(opening);
    let malformed = |s: &str| BackupError::Malformed(s.into());
    let io = |e: std::io::Error| stream_or(e, path);
    let first = r.next().map_err(io)?.ok_or_else(|| malformed("empty"))?;
    if first.kind != "manifest" {
        return Err(malformed("the manifest does not come first"));
    }
    let manifest: Manifest = serde_json::from_slice(&r.read_small(&first, entries::MAX_SMALL).map_err(io)?)
        .map_err(|e| BackupError::Malformed(format!("manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Malformed(format!("unknown inner format {:?}", manifest.format)));
    }
    manifest.address.parse::<Address>().map_err(|e| BackupError::Malformed(format!("address: {e}")))?;
    crate::store::normalize_name(&manifest.name).map_err(|e| BackupError::Malformed(format!("account name: {e}")))?;
    let (mut sealed, mut config, mut seen_db) = (None, None, false);
    let mut objects = std::collections::HashSet::new();
    loop {
        let entry = r.next().map_err(io)?.ok_or_else(|| malformed("the end entry is missing"))?;
        let twice = || BackupError::Malformed(format!("two {} entries", entry.kind));
        match entry.kind.as_str() {
            "end" => break,
            "key" => {
                let body = r.read_small(&entry, entries::MAX_SMALL).map_err(io)?;
                if sealed.replace(key_entry(&body)?).is_some() {
                    return Err(twice());
                }
                continue;
            }
            "config" => {
                let body = r.read_small(&entry, entries::MAX_CONFIG).map_err(io)?;
                if config.replace(body).is_some() {
                    return Err(twice());
                }
                continue;
            }
            "chat.db" if std::mem::replace(&mut seen_db, true) => return Err(twice()),
            "chat.db" => {}
            "object" => match object_path(&entry.name)? {
                Some(_) if !objects.insert(entry.name.clone()) => {
                    return Err(BackupError::Malformed(format!("the object {:?} comes twice", entry.name)));
                }
                Some(_) => {}
                // Written by earlier versions: a temporary file of an import, not restored.
                None => {
                    if std::io::copy(&mut r.body(&entry), &mut std::io::sink()).map_err(io)? != entry.size {
                        return Err(malformed("an entry ends early"));
                    }
                    continue;
                }
            },
            other => return Err(BackupError::Malformed(format!("unknown entry kind {other:?}"))),
        }
        let mut body = r.body(&entry);
        each(&entry, &mut body)?;
        std::io::copy(&mut body, &mut std::io::sink()).map_err(io)?;
        if body.limit() != 0 {
            return Err(malformed("an entry ends early"));
        }
    }
    let (Some(sealed), true) = (sealed, seen_db) else {
        return Err(malformed("the key or the database is missing"));
    };
    // Nothing after the end entry, and the stream's last segment authenticated as the last.
    if !r.at_end().map_err(io)? {
        return Err(malformed("data after the end entry"));
    }
    let summary = Summary { manifest, objects: objects.len() as u64, bytes, settings_skipped: None };
    Ok((summary, Contents { sealed, config }))
}

/// The `key` entry's body as a sealed key, checked as a login will check it.
fn key_entry(body: &[u8]) -> Result<SealedKey, BackupError> {
    let bad = |e: String| BackupError::Malformed(format!("key: {e}"));
    let k: KeyEntry = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let hex = |s: &str| hex::decode(s).map_err(|_| bad("not hex".into()));
    let sealed =
        SealedKey { kdf: KdfParams { m_kib: k.kdf_m, t: k.kdf_t, p: k.kdf_p }, salt: hex(&k.salt)?, blob: hex(&k.sk)? };
    sealed.check().map_err(bad)?;
    Ok(sealed)
}

/// Where an `object` entry goes below `objects/`: `ab/cdef...`, two lowercase hex components
/// of 2 and 62 digits as the object store names its files; `None` for a temporary file of an
/// import (`tmp/...`, which earlier versions wrote), which is not restored. Anything else is
/// refused: a backup names nothing else, so a restore writes nothing else.
fn object_path(name: &str) -> Result<Option<PathBuf>, BackupError> {
    let path = safe_relative(name)?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match name.split_once('/') {
        Some(("tmp", _)) => Ok(None),
        Some((dir, file)) if hex(dir, 2) && hex(file, 62) => Ok(Some(path)),
        _ => Err(BackupError::Malformed(format!("unexpected object path {name:?}"))),
    }
}

/// An error of reading the stream: the stream's own error when it is one, a malformed
/// structure, or the file's.
fn stream_or(e: std::io::Error, path: &Path) -> BackupError {
    if e.kind() != std::io::ErrorKind::InvalidData {
        return file_error(path)(e);
    }
    match e.into_inner() {
        Some(inner) => match inner.downcast::<StreamError>() {
            Ok(s) => BackupError::Stream(*s),
            Err(other) => BackupError::Malformed(other.to_string()),
        },
        None => BackupError::Malformed("unreadable".into()),
    }
}

/// `name` as a relative path below `objects/`: plain components only.
fn safe_relative(name: &str) -> Result<PathBuf, BackupError> {
    let bad = || BackupError::Malformed(format!("unsafe object path {name:?}"));
    let mut p = PathBuf::new();
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains(['\\', ':', '\0']) {
            return Err(bad());
        }
        p.push(part);
    }
    if p.as_os_str().is_empty() {
        return Err(bad());
    }
    Ok(p)
}

/// Restores the backup at `path` into `home`: its account (key, database, files) and, when
/// the home has none, its settings. An account with the same address already here is
/// replaced only with `replace`; `rename` stores it under another name. Everything is written into a temporary directory of the home
/// first; the home changes only once the whole backup has been read and checked.
pub fn restore(
    home: &Home,
    keys: &KeyStore,
    path: &Path,
    passphrase: &[u8],
    replace: bool,
    rename: Option<&str>,
) -> Result<Summary, BackupError> {
    let staging = home.root().join(format!(".restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    crate::fsutil::create_private_dir(&staging).map_err(file_error(&staging))?;
    let result = stage(&staging, path, passphrase).and_then(|(mut summary, contents)| {
        if let Some(name) = rename {
            summary.manifest.name = crate::store::normalize_name(name)?;
        }
        summary.settings_skipped = install(home, keys, &staging, &summary, &contents, replace)?;
        Ok(summary)
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Extracts the backup into `staging` (`account/` with `chat.db` and `objects/`).
fn stage(staging: &Path, path: &Path, passphrase: &[u8]) -> Result<(Summary, Contents), BackupError> {
    let account = staging.join("account");
    crate::fsutil::create_private_dir(&account).map_err(file_error(&account))?;
    // Each file is synced while the next is written.
    let mut syncing = crate::fsutil::SyncQueue::new();
    let read = read(path, passphrase, |entry, body| {
        let dest = match entry.kind.as_str() {
            "chat.db" => account.join("chat.db"),
            _ => match object_path(&entry.name)? {
                Some(rel) => account.join("objects").join(rel),
                None => return Ok(()),
            },
        };
        if let Some(parent) = dest.parent() {
            crate::fsutil::create_private_dir(parent).map_err(file_error(parent))?;
        }
        let f = File::create(&dest).map_err(file_error(&dest))?;
        crate::fsutil::make_private_file(&dest).map_err(file_error(&dest))?;
        // Written in large pieces (io::copy fills the writer's buffer directly).
        let mut f = std::io::BufWriter::with_capacity(entries::COPY_BUFFER, crate::fsutil::SyncBehind::new(f));
        std::io::copy(body, &mut f).map_err(|e| stream_or(e, path))?;
        let f = f.into_inner().map_err(|e| file_error(&dest)(e.into_error()))?;
        syncing.add(f, dest).map_err(|(p, e)| file_error(&p)(e))
    })?;
    syncing.finish().map_err(|(p, e)| file_error(&p)(e))?;
    Ok(read)
}

/// Moves the staged account into the home and stores its key; the backup's settings go in when
/// the home has none and this version reads them (otherwise: why not).
fn install(
    home: &Home,
    keys: &KeyStore,
    staging: &Path,
    summary: &Summary,
    contents: &Contents,
    replace: bool,
) -> Result<Option<String>, BackupError> {
    let address: Address =
        summary.manifest.address.parse().map_err(|e| BackupError::Malformed(format!("address: {e}")))?;
    let existing = keys.name_of(&address)?;
    let dest = home.account_dir(&address);
    if (existing.is_some() || dest.exists()) && !replace {
        let name = existing.unwrap_or_else(|| summary.manifest.name.clone());
        return Err(BackupError::Exists { name, address });
    }
    // Nobody may have the account open while it is replaced.
    let accounts = home.root().join("accounts");
    crate::fsutil::create_private_dir(&accounts).map_err(file_error(&accounts))?;
    let _lock = match dest.exists() {
        true => Some(AccountLock::acquire(&home.lock_path(&address)).map_err(|_| BackupError::InUse)?),
        false => None,
    };
    let old = staging.join("replaced");
    if dest.exists() {
        std::fs::rename(&dest, &old).map_err(file_error(&dest))?;
    }
    if let Err(e) = std::fs::rename(staging.join("account"), &dest) {
        if old.exists() {
            let _ = std::fs::rename(&old, &dest);
        }
        return Err(file_error(&dest)(e));
    }
    // A replaced account keeps its name here unless another was asked for.
    let name = match existing {
        Some(here) if summary.manifest.name == here || !replace => here,
        _ => summary.manifest.name.clone(),
    };
    if let Err(e) = keys.put_restored(&name, &address, &contents.sealed) {
        // Put the home back as it was.
        let _ = std::fs::remove_dir_all(&dest);
        if old.exists() {
            let _ = std::fs::rename(&old, &dest);
        }
        return Err(e.into());
    }
    let mut skipped = None;
    if let Some(config) = &contents.config
        && !home.config_path().exists()
    {
        // Settings this version cannot read would stop every command of the home.
        let readable = std::str::from_utf8(config).map_err(|e| e.to_string()).and_then(|text| {
            crate::config::Config::parse(text, Path::new("config.toml")).map(drop).map_err(|e| e.to_string())
        });
        match readable {
            Ok(()) => {
                crate::fsutil::write_atomic(&home.config_path(), config).map_err(file_error(&home.config_path()))?
            }
            Err(reason) => skipped = Some(reason),
        }
    }
    let _ = crate::fsutil::sync_dir(&accounts);
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_stay_below_the_object_store() {
        assert_eq!(safe_relative("ab/cdef.wob").unwrap(), Path::new("ab").join("cdef.wob"));
        for evil in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\..\\b", "C:x", "a/\0"] {
            assert!(safe_relative(evil).is_err(), "{evil:?}");
        }
    }
}
