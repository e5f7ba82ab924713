//! `wochat account ...`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::Ctx;

/// Account management commands.
#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Create an account; prints its address.
    Create {
        /// Display name (unique in this home).
        name: String,
    },
    /// List active accounts: NAME<TAB>ADDRESS per line.
    List,
    /// Change an account's password (new one from WOCHAT_NEW_PASSWORD or a prompt).
    Passwd {
        /// The account.
        name: String,
    },
    /// Hide an account from the login list; its data is kept.
    Deactivate {
        /// The account.
        name: String,
    },
    /// Write an account's encrypted key to a file, to move it to another machine.
    Export {
        /// The account.
        name: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore an account, its history and its files from a backup (`backup --out`); asks for
    /// the backup's passphrase. The account's password is the one it had when backed up.
    Restore {
        /// The backup file.
        path: PathBuf,
        /// Overwrite the account if it is in this home already.
        #[arg(long)]
        replace: bool,
        /// Store it under another name (when its name is taken here).
        #[arg(long)]
        name: Option<String>,
    },
    /// Import an account from an export file (asks for its password).
    Import {
        /// The export file.
        file: PathBuf,
        /// Store it under another name.
        #[arg(long)]
        name: Option<String>,
    },
}

pub(super) fn run(ctx: &mut Ctx, cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Create { name } => {
            let password = ctx.passwords.new_password("WOCHAT_PASSWORD", "Password for the new account: ")?;
            let address = ctx.keys()?.create(&name, password.as_bytes())?;
            ctx.home.create_account_dir(&address).context("cannot create the account directory")?;
            println!("{address}");
        }
        AccountCmd::List => {
            for entry in ctx.keys()?.list()? {
                println!("{}\t{}", entry.name, entry.address);
            }
        }
        AccountCmd::Passwd { name } => {
            let old = ctx.passwords.password(&format!("Current password for {name}: "))?;
            let new = ctx.passwords.new_password("WOCHAT_NEW_PASSWORD", "New password: ")?;
            ctx.keys()?.change_password(&name, old.as_bytes(), new.as_bytes())?;
        }
        AccountCmd::Deactivate { name } => ctx.keys()?.deactivate(&name)?,
        AccountCmd::Export { name, out } => {
            let password = ctx.passwords.password(&format!("Password for {name}: "))?;
            ctx.keys()?.export(&name, password.as_bytes(), &out)?;
        }
        AccountCmd::Restore { path, replace, name } => super::backup::restore(ctx, path, replace, name)?,
        AccountCmd::Import { file, name } => {
            let password = ctx.passwords.password("Password of the exported account: ")?;
            let entry = ctx.keys()?.import(&file, password.as_bytes(), name.as_deref())?;
            ctx.home.create_account_dir(&entry.address).context("cannot create the account directory")?;
            println!("{}\t{}", entry.name, entry.address);
        }
    }
    Ok(())
}
