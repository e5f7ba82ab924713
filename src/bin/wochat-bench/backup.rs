//! The `backup` scenario: an account of 1,000,000 messages and 1 GiB of files backed up and
//! restored, each in a child process of its own (its peak memory is its own), beside a plain
//! `cp -r` of the same bytes in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use wochat::crypto::password::KdfParams;

use crate::support;

/// The backup passphrase of the scenario.
const PASSPHRASE: &[u8] = b"bench backup passphrase";
/// Size of each generated file.
const FILE_MIB: u64 = 16;

/// Runs the scenario: `count` messages, `mib` MiB of files.
pub fn run(json: bool, count: u64, mib: u64) -> Result<()> {
    let dir = support::tempfile_dir()?;
    let result = measure(json, &dir, count, mib);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(json: bool, dir: &Path, count: u64, mib: u64) -> Result<()> {
    let home = wochat::home::Home::open(dir.join("home"))?;
    let keys = wochat::store::KeyStore::open(&home.keys_db_path())?;
    keys.create("backup", support::PASSWORD)?;
    let t_fill = Instant::now();
    let address = {
        let mut acc = wochat::app::Account::open(&home, &keys, "backup", support::PASSWORD)?;
        crate::history::fill_talk(&mut acc, &wochat::crypto::Identity::generate()?.address(), count)?;
        fill_files(&acc, dir, mib)?;
        acc.address()
    };
    let fill_s = t_fill.elapsed().as_secs_f64();
    let account_dir = home.account_dir(&address);
    let bytes = dir_bytes(&account_dir)?;

    // The same bytes copied by cp, in this run (the page cache as warm as for the backup),
    // after what the fill wrote is on disk (its writeback would slow the copy down).
    sync()?;
    let cp_s = timed_cp(&account_dir, &dir.join("copy"), false)?;
    // A backup is durable when it returns (fsynced); a plain cp is not: the same copy made
    // durable (cp, then sync of the copy's file system) is measured too.
    sync()?;
    let cp_sync_s = timed_cp(&account_dir, &dir.join("copy"), true)?;

    let file = dir.join("account.wochat-backup");
    let home_arg = home.root().display().to_string();
    let backup = child(&[&home_arg, &file.display().to_string(), "create"])?;
    let backup_bytes = std::fs::metadata(&file)?.len();
    // What a restore reads and writes, copied by cp just before it: the memory of this VM
    // is reclaimed behind the benchmark's back (see docs/PERFORMANCE.md), so a copy timed
    // minutes earlier is no yardstick for it.
    let cp_restore_s = timed_cp(&file, &dir.join("copy"), false)?;
    let target = wochat::home::Home::open(dir.join("restored"))?;
    let restore = child(&[&target.root().display().to_string(), &file.display().to_string(), "restore"])?;
    if dir_bytes(&target.account_dir(&address))? == 0 {
        bail!("nothing was restored");
    }

    let mbs = |s: f64| bytes as f64 / 1e6 / s;
    let (cp, cp_sync) = (mbs(cp_s), mbs(cp_sync_s));
    let cp_restore = backup_bytes as f64 / 1e6 / cp_restore_s;
    let (backup_mbs, restore_mbs) = (mbs(backup.secs), mbs(restore.secs));
    println!(
        "backup: {count} messages and {mib} MiB of files, {:.0} MB on disk ({fill_s:.0} s to write): backup \
         {backup_mbs:.0} MB/s ({:.1} s: key derivation and setup {:.1} s, streaming with the database copied beside it {:.1} \
         s, final flush and fsync {:.1} s), {:.2} of cp's {cp:.0} MB/s (target >= 0.5), {:.2} of cp + sync's {cp_sync:.0} \
         MB/s; file {:.0} MB; restore {restore_mbs:.0} MB/s ({:.1} s), {:.2} of cp's {cp_restore:.0} MB/s (the backup file, \
         just before), {:.2} of cp + sync; peak RSS \
         while streaming the backup {:.1} MiB (target < 64); whole process with Argon2id's 64 MiB: backup {:.1} \
         MiB, restore {:.1} MiB",
        bytes as f64 / 1e6,
        backup.secs,
        backup.first_s,
        backup.last_s - backup.first_s,
        backup.secs - backup.last_s,
        backup_mbs / cp,
        backup_mbs / cp_sync,
        backup_bytes as f64 / 1e6,
        restore.secs,
        restore_mbs / cp_restore,
        restore_mbs / cp_sync,
        backup.stream_rss_mb,
        backup.rss_mb,
        restore.rss_mb,
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "backup", "count": count, "mib": mib, "bytes": bytes,
                "cp_mb_s": cp, "cp_sync_mb_s": cp_sync, "backup_mb_s": backup_mbs, "restore_mb_s": restore_mbs,
                "cp_restore_mb_s": cp_restore,
                "backup_vs_cp": backup_mbs / cp, "restore_vs_cp": restore_mbs / cp_restore,
                "backup_vs_cp_sync": backup_mbs / cp_sync, "restore_vs_cp_sync": restore_mbs / cp_sync,
                "backup_setup_s": backup.first_s, "backup_stream_s": backup.last_s - backup.first_s,
                "backup_sync_s": backup.secs - backup.last_s,
                "backup_stream_rss_mb": backup.stream_rss_mb, "backup_rss_mb": backup.rss_mb,
                "restore_rss_mb": restore.rss_mb, "fill_s": fill_s})
        );
    }
    Ok(())
}

/// Stores `mib` MiB of files (16 MiB each, content that does not compress) in the account's
/// object store.
fn fill_files(acc: &wochat::app::Account, dir: &Path, mib: u64) -> Result<()> {
    let source = dir.join("source.bin");
    let mut data = vec![0u8; (FILE_MIB << 20) as usize];
    for i in 0..mib.div_ceil(FILE_MIB) {
        wochat::crypto::random_bytes(&mut data[..64])?;
        data[64..72].copy_from_slice(&i.to_be_bytes());
        // Cheap noise: the object store encrypts it anyway.
        for (k, chunk) in data.chunks_mut(8).enumerate().skip(9) {
            chunk.copy_from_slice(&((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i).to_le_bytes());
        }
        std::fs::write(&source, &data)?;
        acc.objects.put_file(&source)?;
    }
    std::fs::remove_file(&source)?;
    Ok(())
}

/// Flushes every file system.
fn sync() -> Result<()> {
    if !Command::new("sync").status()?.success() {
        bail!("sync failed");
    }
    Ok(())
}

/// Seconds `cp -r from to` takes (then `sync -f` of the copy, with `durable`); the copy is
/// removed afterwards.
fn timed_cp(from: &Path, to: &Path, durable: bool) -> Result<f64> {
    let t = Instant::now();
    if !Command::new("cp").arg("-r").arg(from).arg(to).status()?.success() {
        bail!("cp failed");
    }
    if durable && !Command::new("sync").arg("-f").arg(to).status()?.success() {
        bail!("sync -f failed");
    }
    let secs = t.elapsed().as_secs_f64();
    match to.is_dir() {
        true => std::fs::remove_dir_all(to)?,
        false => std::fs::remove_file(to)?,
    }
    Ok(secs)
}

/// Bytes of the files below `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let kind = e.file_type()?;
            if kind.is_dir() {
                dirs.push(e.path());
            } else if kind.is_file() {
                total += e.metadata()?.len();
            }
        }
    }
    Ok(total)
}

/// What a worker measured.
struct Measured {
    /// Its time, s.
    secs: f64,
    /// When the stream began (after the key derivation), s.
    first_s: f64,
    /// When the last byte went into the stream, s.
    last_s: f64,
    /// Peak RSS, MiB.
    rss_mb: f64,
    /// Peak RSS since the stream began, MiB.
    stream_rss_mb: f64,
}

/// Runs this program as a worker (`backup-worker --child ARGS`) and returns what it measured.
fn child(args: &[&str]) -> Result<Measured> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe).args(["backup-worker", "--child"]).args(args).output()?;
    if !out.status.success() {
        bail!("worker failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("worker output")?;
    let f = |k: &str| v[k].as_f64().with_context(|| format!("worker output lacks {k}"));
    Ok(Measured {
        secs: f("secs")?,
        first_s: f("first_s")?,
        last_s: f("last_s")?,
        rss_mb: f("rss_mb")?,
        stream_rss_mb: f("stream_rss_mb")?,
    })
}

/// (internal) The worker: `--child HOME FILE create|restore`. Prints its time and peak RSS
/// (of the whole process, and since the stream began: Linux's peak is reset then).
pub fn worker(child: &[String]) -> Result<()> {
    let [home, file, what] = child else { bail!("--child HOME FILE create|restore") };
    let home = wochat::home::Home::open(PathBuf::from(home))?;
    let keys = wochat::store::KeyStore::open(&home.keys_db_path())?;
    let file = PathBuf::from(file);
    let rss_before_reset = std::cell::Cell::new(0.0f64);
    let reset_peak = || {
        rss_before_reset.set(support::peak_rss_mb());
        // Writing 5 to clear_refs resets VmHWM: from here the peak is the stream's.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    };
    let identity = keys.login("backup", support::PASSWORD).ok();
    let t = Instant::now();
    let (mut first_s, mut last_s) = (0.0, 0.0);
    match what.as_str() {
        "create" => {
            let identity = identity.context("no account to back up")?;
            let mut started = false;
            let mut progress = |done: u64, total: u64| {
                if !std::mem::replace(&mut started, true) {
                    first_s = t.elapsed().as_secs_f64();
                    reset_peak();
                }
                if done >= total {
                    last_s = t.elapsed().as_secs_f64();
                }
            };
            wochat::backup::create(
                &home,
                &keys,
                "backup",
                &identity,
                &file,
                PASSPHRASE,
                KdfParams::DEFAULT,
                &mut progress,
            )?;
        }
        "restore" => {
            // The key derivation is the first thing a restore does; there is no hook inside to
            // reset the peak after it: the whole process's peak is read.
            wochat::backup::restore(&home, &keys, &file, PASSPHRASE, false, None)?;
        }
        other => bail!("unknown worker action {other:?}"),
    }
    let secs = t.elapsed().as_secs_f64();
    let stream = support::peak_rss_mb();
    let whole = stream.max(rss_before_reset.get());
    println!(
        "{}",
        serde_json::json!({"secs": secs, "first_s": first_s, "last_s": last_s, "rss_mb": whole, "stream_rss_mb": stream})
    );
    Ok(())
}
