//! Automatic backups' settings, kept in the account's own `chat.db` (its `meta` table, so a
//! restored account backs up as before): how often, into which folder, how many to keep, the
//! generated passphrase, and how the last one went. Also the names of the files they write
//! and which of them to delete.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::Address;
use crate::store::{ChatDb, StoreError};

/// How often backups are made while the app runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Only when asked (the default).
    #[default]
    Off,
    /// When the last one is a day old.
    Daily,
    /// When the last one is a week old.
    Weekly,
}

impl Schedule {
    /// The name in settings, the CLI and JSON: `off`, `daily`, `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    /// The time between two backups (none when off).
    pub fn every_ms(self) -> Option<i64> {
        const DAY: i64 = 24 * 3600 * 1000;
        match self {
            Self::Off => None,
            Self::Daily => Some(DAY),
            Self::Weekly => Some(7 * DAY),
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" => Ok(Self::Off),
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            other => Err(format!("{other:?} is not a backup schedule: off, daily or weekly")),
        }
    }
}

/// How the last backup went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBackup {
    /// When it finished or failed (ms since the Unix epoch).
    pub at: i64,
    /// The file written (none when it failed).
    pub path: Option<PathBuf>,
    /// Its size in bytes.
    pub bytes: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// The automatic backups of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// How often.
    pub schedule: Schedule,
    /// Into which folder.
    pub folder: Option<PathBuf>,
    /// How many of the newest backups the folder keeps (older ones of this account are
    /// deleted after a successful backup).
    pub keep: u32,
    /// Whether a passphrase is stored (it is never handed out again after it was made).
    pub has_passphrase: bool,
    /// The last automatic or manual backup into the folder.
    pub last: Option<LastBackup>,
    /// The last successful one (when the next is due).
    pub last_ok: Option<i64>,
}

/// How long after a failed automatic backup the next is tried.
pub const RETRY_AFTER_FAILURE_MS: i64 = 3600 * 1000;

/// The number of backups kept when nothing else is set.
pub const DEFAULT_KEEP: u32 = 5;
/// The most that may be kept.
pub const MAX_KEEP: u32 = 1000;

const SCHEDULE: &str = "backup.schedule";
const FOLDER: &str = "backup.folder";
const KEEP: &str = "backup.keep";
const PASSPHRASE: &str = "backup.passphrase";
const LAST: &str = "backup.last";
const LAST_OK: &str = "backup.last_ok";

impl BackupSettings {
    /// Reads them from the account's database (defaults for what was never set).
    pub fn load(db: &ChatDb) -> Result<Self, StoreError> {
        let get = |k| db.setting(k);
        Ok(Self {
            schedule: get(SCHEDULE)?.and_then(|s| s.parse().ok()).unwrap_or_default(),
            folder: get(FOLDER)?.filter(|s| !s.is_empty()).map(PathBuf::from),
            keep: get(KEEP)?.and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_KEEP).clamp(1, MAX_KEEP),
            has_passphrase: get(PASSPHRASE)?.is_some_and(|p| !p.is_empty()),
            last: get(LAST)?.and_then(|s| serde_json::from_str(&s).ok()),
            last_ok: get(LAST_OK)?.and_then(|s| s.parse().ok()),
        })
    }

    /// Whether an automatic backup is due at `now` (ms): the schedule is on, a folder and a
    /// passphrase are set, and the last successful backup is older than the schedule's period
    /// (or in the future: a clock set back).
    pub fn due(&self, now: i64) -> bool {
        let Some(every) = self.schedule.every_ms() else { return false };
        if self.folder.is_none() || !self.has_passphrase {
            return false;
        }
        // A failed one is tried again an hour later, not at every look.
        if let Some(last) = self.last.as_ref().filter(|l| l.error.is_some())
            && (0..RETRY_AFTER_FAILURE_MS).contains(&(now - last.at))
        {
            return false;
        }
        match self.last_ok {
            None => true,
            Some(t) => now - t >= every || t > now,
        }
    }
}

/// Sets the schedule, the folder and how many to keep. When backups are turned on and no
/// passphrase is stored, `passphrase` (or a generated one) is stored: it is returned, to be
/// shown to the user once.
pub fn configure(
    db: &ChatDb,
    schedule: Schedule,
    folder: Option<&Path>,
    keep: u32,
    passphrase: Option<&str>,
) -> Result<Option<Zeroizing<String>>, StoreError> {
    db.set_setting(SCHEDULE, Some(schedule.as_str()))?;
    let folder = folder.map(|f| f.to_string_lossy().into_owned());
    db.set_setting(FOLDER, folder.as_deref().filter(|f| !f.is_empty()))?;
    db.set_setting(KEEP, Some(keep.clamp(1, MAX_KEEP).to_string().as_str()))?;
    let stored = db.setting(PASSPHRASE)?.is_some_and(|p| !p.is_empty());
    if schedule == Schedule::Off || stored {
        return Ok(None);
    }
    let new = match passphrase.filter(|p| !p.is_empty()) {
        Some(p) => Zeroizing::new(p.to_string()),
        None => generate_passphrase()?,
    };
    db.set_setting(PASSPHRASE, Some(new.as_str()))?;
    Ok(Some(new))
}

/// Stores a new generated passphrase for the backups to come (the old backups keep theirs);
/// returns it, to be shown once.
pub fn renew_passphrase(db: &ChatDb) -> Result<Zeroizing<String>, StoreError> {
    let new = generate_passphrase()?;
    db.set_setting(PASSPHRASE, Some(new.as_str()))?;
    Ok(new)
}

/// The stored passphrase, for a backup about to be written.
pub(crate) fn stored_passphrase(db: &ChatDb) -> Result<Option<Zeroizing<String>>, StoreError> {
    Ok(db.setting(PASSPHRASE)?.filter(|p| !p.is_empty()).map(Zeroizing::new))
}

/// Notes how a backup went.
pub(crate) fn record(db: &ChatDb, last: &LastBackup) -> Result<(), StoreError> {
    let text = serde_json::to_string(last)
        .map_err(|e| StoreError::Unreadable { path: db.path().to_path_buf(), reason: e.to_string() })?;
    db.set_setting(LAST, Some(text.as_str()))?;
    if last.error.is_none() {
        db.set_setting(LAST_OK, Some(last.at.to_string().as_str()))?;
    }
    Ok(())
}

/// A new passphrase: 30 random decimal digits in groups of five (about 100 bits), as Signal
/// makes them; easy to write down and to type on any keyboard.
pub fn generate_passphrase() -> Result<Zeroizing<String>, StoreError> {
    let mut out = Zeroizing::new(String::with_capacity(35));
    let mut digits = 0;
    while digits < 30 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..])
            .map_err(|e| StoreError::Unreadable { path: PathBuf::from("(random source)"), reason: e.to_string() })?;
        // Rejection sampling: 250 is the largest multiple of 10 below 256.
        for b in bytes.iter().filter(|b| **b < 250) {
            if digits == 30 {
                break;
            }
            if digits > 0 && digits % 5 == 0 {
                out.push(' ');
            }
            out.push(char::from(b'0' + b % 10));
            digits += 1;
        }
    }
    Ok(out)
}

/// The file name of a backup of `address` written at `at` (ms, UTC):
/// `wochat-<first 16 hex digits>-<YYYYMMDD>-<HHMMSS>.wochat-backup`; names sort by time.
pub fn file_name(address: &Address, at: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{}{}.{EXTENSION}", prefix(address), ts.strftime("%Y%m%d-%H%M%S"))
}

/// The extension of backup files.
pub const EXTENSION: &str = "wochat-backup";

fn prefix(address: &Address) -> String {
    format!("wochat-{}-", &address.to_hex()[..16])
}

/// The backups of `address` in `folder`, oldest first (by the time in their names; other
/// files are never touched).
pub fn backups_in(folder: &Path, address: &Address) -> std::io::Result<Vec<PathBuf>> {
    let prefix = prefix(address);
    let mut found: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&format!(".{EXTENSION}")))
                .is_some_and(|stamp| stamp.len() == 15 && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Deletes the oldest backups of `address` in `folder` so that `keep` remain; returns those
/// deleted.
pub fn prune(folder: &Path, address: &Address, keep: u32) -> std::io::Result<Vec<PathBuf>> {
    let found = backups_in(folder, address)?;
    let extra = found.len().saturating_sub(keep.max(1) as usize);
    let mut deleted = Vec::new();
    for path in found.into_iter().take(extra) {
        std::fs::remove_file(&path)?;
        deleted.push(path);
    }
    Ok(deleted)
}

/// The passphrase as the key derivation takes it: a passphrase of digits (a generated one)
/// counts without its spaces, so that it may be typed with or without them.
pub fn normalize_passphrase(p: &str) -> Zeroizing<String> {
    if p.chars().any(|c| c.is_ascii_digit()) && p.chars().all(|c| c.is_ascii_digit() || c.is_whitespace()) {
        Zeroizing::new(p.chars().filter(char::is_ascii_digit).collect())
    } else {
        Zeroizing::new(p.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passphrases_are_thirty_digits_in_groups_of_five() {
        let p = generate_passphrase().unwrap();
        let groups: Vec<&str> = p.split(' ').collect();
        assert_eq!(groups.len(), 6, "{}", *p);
        assert!(groups.iter().all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
        assert_ne!(*p, *generate_passphrase().unwrap());
        assert_eq!(normalize_passphrase(&p).len(), 30);
        assert_eq!(*normalize_passphrase(" 12345 678 "), "12345678");
        assert_eq!(*normalize_passphrase("a 1"), "a 1");
        assert_eq!(*normalize_passphrase("   "), "   ");
    }

    #[test]
    fn a_backup_is_due_after_its_period_and_only_when_everything_is_set() {
        let day = 24 * 3600 * 1000;
        let mut s = BackupSettings {
            schedule: Schedule::Daily,
            folder: Some("/backups".into()),
            keep: 3,
            has_passphrase: true,
            last: None,
            last_ok: None,
        };
        assert!(s.due(10 * day));
        s.last_ok = Some(10 * day);
        assert!(!s.due(10 * day + day - 1));
        assert!(s.due(11 * day));
        assert!(s.due(9 * day), "a clock set back");
        s.last = Some(LastBackup { at: 11 * day, path: None, bytes: 0, error: Some("disk full".into()) });
        assert!(!s.due(11 * day + 1000), "a failure is not tried again at once");
        assert!(s.due(11 * day + RETRY_AFTER_FAILURE_MS));
        s.last = None;
        s.schedule = Schedule::Weekly;
        assert!(!s.due(16 * day));
        assert!(s.due(17 * day));
        s.folder = None;
        assert!(!s.due(30 * day));
        s.folder = Some("/b".into());
        s.has_passphrase = false;
        assert!(!s.due(30 * day));
        s.has_passphrase = true;
        s.schedule = Schedule::Off;
        assert!(!s.due(30 * day));
    }

    #[test]
    fn pruning_keeps_the_newest_of_this_account_and_touches_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let me = crate::crypto::Identity::from_secret_bytes(&[7; 32]).unwrap().address();
        let other = crate::crypto::Identity::from_secret_bytes(&[8; 32]).unwrap().address();
        let day = 24 * 3600 * 1000;
        for i in 0..4 {
            std::fs::write(dir.path().join(file_name(&me, 1_700_000_000_000 + i * day)), b"x").unwrap();
        }
        std::fs::write(dir.path().join(file_name(&other, 1_600_000_000_000)), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let stray = format!("{}old.{EXTENSION}", prefix(&me));
        std::fs::write(dir.path().join(&stray), b"x").unwrap();
        let deleted = prune(dir.path(), &me, 2).unwrap();
        assert_eq!(deleted.len(), 2);
        let left = backups_in(dir.path(), &me).unwrap();
        assert_eq!(
            left.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>(),
            [file_name(&me, 1_700_000_000_000 + 2 * day), file_name(&me, 1_700_000_000_000 + 3 * day)]
        );
        for kept in ["notes.txt", stray.as_str()] {
            assert!(dir.path().join(kept).exists(), "{kept}");
        }
        assert_eq!(backups_in(dir.path(), &other).unwrap().len(), 1);
    }
}
