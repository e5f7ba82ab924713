//! `wochat --account A backup --out PATH`, `wochat backup verify PATH` and
//! `wochat account restore PATH` (docs/BACKUP.md).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::Ctx;
use crate::backup::schedule::{self, BackupSettings, Schedule};
use crate::crypto::password::KdfParams;
use crate::store::ChatDb;

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Write a backup of the account (`--account`) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Check a backup instead.
    #[command(subcommand)]
    pub action: Option<BackupAction>,
}

/// `backup verify`.
#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Check every segment and the content of a backup without restoring it.
    Verify {
        /// The backup file.
        path: PathBuf,
    },
    /// Show or set the automatic backups of the account (`--account`): made while the app
    /// or `run` is running. Turning them on the first time prints the generated passphrase
    /// (or takes WOCHAT_BACKUP_PASSWORD), once.
    Schedule {
        /// How often: off, daily or weekly.
        #[arg(long)]
        every: Option<Schedule>,
        /// Into which folder.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// How many of the newest backups to keep there.
        #[arg(long)]
        keep: Option<u32>,
    },
}

pub(super) fn run(ctx: &mut Ctx, args: BackupArgs) -> Result<()> {
    match (args.action, args.out) {
        (Some(BackupAction::Verify { path }), _) => {
            let passphrase = ctx.passwords.backup_passphrase(false)?;
            let s = crate::backup::verify(&path, passphrase.as_bytes())?;
            println!("ok\t{}\t{}\t{} files\t{} bytes", s.manifest.name, s.manifest.address, s.objects, s.bytes);
            Ok(())
        }
        (None, Some(out)) => {
            let name = ctx.account_name()?;
            // A backup only reads: the account may be open in a window meanwhile.
            let password = ctx.passwords.password(&format!("Password for {name}: "))?;
            let identity = ctx.keys()?.login(&name, password.as_bytes())?;
            let passphrase = ctx.passwords.backup_passphrase(true)?;
            let home = ctx.home.clone();
            let s = crate::backup::create(
                &home,
                ctx.keys()?,
                &name,
                &identity,
                &out,
                passphrase.as_bytes(),
                kdf(),
                &mut |_, _| {},
            )
            .with_context(|| format!("cannot write the backup {}", out.display()))?;
            println!("{}\t{} files\t{} bytes", out.display(), s.objects, s.bytes);
            Ok(())
        }
        (Some(BackupAction::Schedule { every, folder, keep }), _) => set_schedule(ctx, every, folder, keep),
        (None, None) => bail!("say where: backup --out PATH (or backup verify PATH)"),
    }
}

/// `backup schedule`: prints the settings after applying what was given.
fn set_schedule(ctx: &mut Ctx, every: Option<Schedule>, folder: Option<PathBuf>, keep: Option<u32>) -> Result<()> {
    let name = ctx.account_name()?;
    // The settings live in the account's database, which a running window may hold: a
    // second connection writes them, and the window's schedule reads them at its next look.
    let password = ctx.passwords.password(&format!("Password for {name}: "))?;
    let identity = ctx.keys()?.login(&name, password.as_bytes())?;
    let db = ChatDb::open(&ctx.home.chat_db_path(&identity.address()), &identity)?;
    let old = BackupSettings::load(&db)?;
    if every.is_some() || folder.is_some() || keep.is_some() {
        let folder = folder.map(|f| std::path::absolute(&f).unwrap_or(f)).or(old.folder.clone());
        let every = every.unwrap_or(old.schedule);
        if every != Schedule::Off && folder.is_none() {
            bail!("say where the backups go: --folder DIR");
        }
        let chosen = std::env::var(super::password::BACKUP_PASSWORD_ENV).ok();
        let made = schedule::configure(&db, every, folder.as_deref(), keep.unwrap_or(old.keep), chosen.as_deref())?;
        if let Some(p) = made.filter(|_| chosen.is_none()) {
            println!("passphrase\t{}", p.as_str());
            eprintln!("Write the passphrase down: it is shown only this once, and no backup opens without it.");
        }
    }
    let s = BackupSettings::load(&db)?;
    println!("every\t{}", s.schedule.as_str());
    println!("folder\t{}", s.folder.map(|f| f.display().to_string()).unwrap_or_default());
    println!("keep\t{}", s.keep);
    if let Some(last) = s.last {
        let how = match (&last.error, &last.path) {
            (Some(e), _) => format!("failed: {e}"),
            (None, Some(p)) => format!("{} ({} bytes)", p.display(), last.bytes),
            (None, None) => String::new(),
        };
        println!("last\t{}\t{how}", crate::util::format_utc(last.at));
    }
    Ok(())
}

/// `account restore PATH [--replace] [--name NAME]`.
pub(super) fn restore(ctx: &mut Ctx, path: PathBuf, replace: bool, name: Option<String>) -> Result<()> {
    let passphrase = ctx.passwords.backup_passphrase(false)?;
    let home = ctx.home.clone();
    let s = crate::backup::restore(&home, ctx.keys()?, &path, passphrase.as_bytes(), replace, name.as_deref())?;
    println!("{}\t{}\t{} files", s.manifest.name, s.manifest.address, s.objects);
    if let Some(reason) = &s.settings_skipped {
        eprintln!("The backup's settings were not restored: this WoChat cannot read them ({reason}).");
    }
    Ok(())
}

/// Argon2id for the backup passphrase: the default, or the tests' cheap parameters.
fn kdf() -> KdfParams {
    match std::env::var(crate::app::TEST_TIMERS_ENV).as_deref() {
        Ok("fast") => KdfParams::INSECURE_FAST,
        _ => KdfParams::DEFAULT,
    }
}
