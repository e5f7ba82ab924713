//! `wochat object ...`: export, verify and garbage-collect the account's object store.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::Ctx;
use crate::objects::ObjectId;
use crate::wire::Body;

/// Object store commands.
#[derive(Debug, Subcommand)]
pub enum ObjectCmd {
    /// Save a file into DIR under its (sanitized) name; prints the path written.
    Export {
        /// SHA-256 of the file (as in `history --json`'s `obj.hash`).
        hash: String,
        /// Directory to write into (never overwrites: adds " (1)", " (2)"...).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Re-hash every object; list the corrupt ones (exit 1 if any).
    Verify,
    /// Delete objects no message refers to.
    Gc,
}

pub(super) fn run(ctx: &mut Ctx, cmd: ObjectCmd) -> Result<()> {
    let account = ctx.open_account()?;
    let objects = &account.objects;
    match cmd {
        ObjectCmd::Export { hash, out } => {
            let id = ObjectId::from_hex(&hash).context("a file hash is 64 hexadecimal characters")?;
            let name = account
                .chat
                .message_with_object(&id)?
                .and_then(|m| match m.body().ok()? {
                    Body::Attachment { obj, .. } => Some(obj.name),
                    _ => None,
                })
                .unwrap_or_else(|| hash.clone());
            let path = objects.save_as(&id, &out, &name).with_context(|| format!("cannot export {hash}"))?;
            println!("{}", path.display());
        }
        ObjectCmd::Verify => {
            let bad = objects.verify_all()?;
            for (path, why) in &bad {
                println!("{}\t{why}", path.display());
            }
            if !bad.is_empty() {
                bail!("{} corrupt object(s)", bad.len());
            }
        }
        ObjectCmd::Gc => {
            let keep = account.chat.referenced_objects()?;
            let removed = objects.gc(&keep)?;
            println!("removed {removed} object(s)");
        }
    }
    Ok(())
}
