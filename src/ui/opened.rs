//! Files decrypted for the system to open: in a private temporary folder of this window's
//! account, removed when the window closes and, after a crash, at the next login.

use std::io;
use std::path::{Path, PathBuf};

use crate::crypto::Address;

/// The private folder of one logged-in account's opened files (removed when dropped).
#[derive(Debug)]
pub struct OpenedFiles {
    dir: PathBuf,
}

impl OpenedFiles {
    /// Creates a new folder in `tmp` (0700 on Unix, a random name) and removes those an
    /// earlier run of `me` left there (the account lock guarantees that no other process uses
    /// them).
    pub fn create_in(tmp: &Path, me: &Address) -> io::Result<Self> {
        let prefix = prefix(me);
        let mut r = [0u8; 8];
        crate::crypto::random_bytes(&mut r).map_err(io::Error::other)?;
        let dir = tmp.join(format!("{prefix}{}", hex::encode(r)));
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // Fails if the name exists: nobody can have prepared it for us.
        builder.create(&dir)?;
        let mine = std::fs::symlink_metadata(&dir)?;
        sweep(tmp, &prefix, &dir, &mine);
        Ok(Self { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for OpenedFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The name start of an account's folders: the address's first 16 hex digits.
fn prefix(me: &Address) -> String {
    format!("wochat-open-{}-", &me.to_hex()[..16])
}

/// Removes every directory of `tmp` but `keep` whose name starts with `prefix` and whose owner
/// is `keep`'s (a symbolic link or someone else's directory is left alone).
fn sweep(tmp: &Path, prefix: &str, keep: &Path, mine: &std::fs::Metadata) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path == keep || !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() && same_owner(&meta, mine) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(unix)]
fn same_owner(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.uid() == b.uid()
}

#[cfg(not(unix))]
fn same_owner(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    // The temporary folder is the user's own (%LOCALAPPDATA%\Temp).
    true
}

/// Where earlier versions exported files for opening (inside the data home; removed at login).
pub fn legacy_dir(home: &crate::home::Home, me: &Address) -> PathBuf {
    home.account_dir(me).join("open")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_leftover_is_swept_and_the_folder_goes_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let me = crate::crypto::Identity::from_secret_bytes(&[7; 32]).unwrap().address();
        let other = crate::crypto::Identity::from_secret_bytes(&[8; 32]).unwrap().address();
        let leftover = tmp.path().join(format!("{}crashed", prefix(&me)));
        std::fs::create_dir(&leftover).unwrap();
        std::fs::write(leftover.join("secret.pdf"), b"clear text").unwrap();
        let others = tmp.path().join(format!("{}alive", prefix(&other)));
        std::fs::create_dir(&others).unwrap();

        let opened = OpenedFiles::create_in(tmp.path(), &me).unwrap();
        assert!(!leftover.exists(), "what a crash left is removed");
        assert!(others.exists(), "another account's folder is not touched");
        let dir = opened.dir().to_path_buf();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        }
        std::fs::write(dir.join("a.txt"), b"x").unwrap();
        drop(opened);
        assert!(!dir.exists(), "removed when the window closes");
    }
}
