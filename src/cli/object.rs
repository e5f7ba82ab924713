//! `wochat object ...`: export, verify and garbage-collect the account's object store.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use std::time::Duration;

use super::Ctx;
use crate::app::{Client, Event, Started};
use crate::objects::ObjectId;
use crate::store::TransferState;
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
    /// Fetch an incoming file again (a failed, stalled or waiting transfer); connects and
    /// waits until it is complete or failed, or until the timeout.
    Retry {
        /// SHA-256 of the file (as in `history --json`'s `obj.hash`).
        hash: String,
        /// Seconds to wait for the file.
        #[arg(long, default_value_t = 120.0)]
        timeout: f64,
    },
}

pub(super) fn run(ctx: &mut Ctx, cmd: ObjectCmd) -> Result<()> {
    if let ObjectCmd::Retry { hash, timeout } = cmd {
        return retry(ctx, &hash, timeout);
    }
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
        ObjectCmd::Retry { .. } => {}
        ObjectCmd::Gc => {
            let keep = account.chat.referenced_objects()?;
            let removed = objects.gc(&keep)?;
            account.chat.forget_unreferenced_trees()?;
            println!("removed {removed} object(s)");
        }
    }
    Ok(())
}

/// `object retry`: asks for the file again and waits for the outcome.
fn retry(ctx: &mut Ctx, hash: &str, timeout: f64) -> Result<()> {
    let file = ObjectId::from_hex(hash).context("a file hash is 64 hexadecimal characters")?;
    let account = ctx.open_account()?;
    let config = ctx.config()?;
    let wait = Duration::from_secs_f64(timeout.max(0.0));
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let state = rt.block_on(async {
        let Started { client, mut events, .. } = Client::start_from_config(account, &config, &ctx.broker_urls)?;
        if let Err(e) = client.retry(file).await {
            client.shutdown().await;
            return Err(anyhow::Error::from(e));
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut state = None;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
            match ev {
                Event::Transfer { file: f, state: s, .. }
                    if f == file && matches!(s, TransferState::Complete | TransferState::Failed) =>
                {
                    state = Some(s);
                    break;
                }
                Event::Error(e) => eprintln!("wochat: {e}"),
                _ => {}
            }
        }
        client.shutdown().await;
        anyhow::Ok(state)
    })?;
    match state {
        Some(TransferState::Complete) => {
            println!("complete");
            Ok(())
        }
        Some(_) => bail!("the file failed again"),
        None => bail!("the file did not arrive within {timeout} s; it keeps being asked for while the app runs"),
    }
}
