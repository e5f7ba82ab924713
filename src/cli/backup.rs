//! `wochat --account A backup --out PATH`, `wochat backup verify PATH` and
//! `wochat account restore PATH` (docs/BACKUP.md).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::Ctx;
use crate::crypto::password::KdfParams;

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
            let s = crate::backup::create(&home, ctx.keys()?, &name, &identity, &out, passphrase.as_bytes(), kdf())
                .with_context(|| format!("cannot write the backup {}", out.display()))?;
            println!("{}\t{} files\t{} bytes", out.display(), s.objects, s.bytes);
            Ok(())
        }
        (None, None) => bail!("say where: backup --out PATH (or backup verify PATH)"),
    }
}

/// `account restore PATH [--replace] [--name NAME]`.
pub(super) fn restore(ctx: &mut Ctx, path: PathBuf, replace: bool, name: Option<String>) -> Result<()> {
    let passphrase = ctx.passwords.backup_passphrase(false)?;
    let home = ctx.home.clone();
    let s = crate::backup::restore(&home, ctx.keys()?, &path, passphrase.as_bytes(), replace, name.as_deref())?;
    println!("{}\t{}\t{} files", s.manifest.name, s.manifest.address, s.objects);
    Ok(())
}

/// Argon2id for the backup passphrase: the default, or the tests' cheap parameters.
fn kdf() -> KdfParams {
    match std::env::var(crate::app::TEST_TIMERS_ENV).as_deref() {
        Ok("fast") => KdfParams::INSECURE_FAST,
        _ => KdfParams::DEFAULT,
    }
}
