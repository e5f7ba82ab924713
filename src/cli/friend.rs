//! `wochat friend ...`.

use anyhow::{Result, bail};
use clap::Subcommand;

use super::Ctx;
use crate::crypto::Address;
use crate::link::parse_contact;

/// Friend management commands.
#[derive(Debug, Subcommand)]
pub enum FriendCmd {
    /// Add a friend (or rename one) by address or `wochat:` link.
    Add {
        /// A 66-hex-character address or a `wochat:` link.
        contact: String,
        /// Display name (default: the link's suggestion).
        #[arg(long)]
        name: Option<String>,
    },
    /// List friends: ADDRESS<TAB>NAME<TAB>STATUS per line.
    List,
    /// Block an address: its messages are dropped and get no receipt.
    Block {
        /// The address.
        address: String,
    },
    /// Unblock an address.
    Unblock {
        /// The address.
        address: String,
    },
    /// Remove a friend (the conversation is kept).
    Remove {
        /// The address.
        address: String,
    },
}

fn parse_address(s: &str) -> Result<Address> {
    Ok(parse_contact(s)?.address)
}

pub(super) fn run(ctx: &mut Ctx, cmd: FriendCmd) -> Result<()> {
    let mut account = ctx.open_account()?;
    let db = &mut account.chat;
    match cmd {
        FriendCmd::Add { contact, name } => {
            let c = parse_contact(&contact)?;
            if c.address == db.me() {
                bail!("that is your own address");
            }
            let name = name.or(c.name).unwrap_or_default();
            db.upsert_friend(&c.address, name.trim())?;
        }
        FriendCmd::List => {
            for f in db.friends()? {
                println!("{}\t{}\t{}", f.address, f.name, f.status.as_str());
            }
        }
        FriendCmd::Block { address } => db.block(&parse_address(&address)?)?,
        FriendCmd::Unblock { address } => {
            if !db.unblock(&parse_address(&address)?)? {
                bail!("{address} is not blocked");
            }
        }
        FriendCmd::Remove { address } => {
            if !db.remove_friend(&parse_address(&address)?)? {
                bail!("{address} is not a friend");
            }
        }
    }
    Ok(())
}
