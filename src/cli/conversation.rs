//! `wochat react`, `edit`, `delete`, `forward` and `talk`: changes to an earlier message of a
//! conversation, passing one on, and how a talk is kept (pinned, muted, archived, unread,
//! its draft).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use super::messaging::{parse_address, runtime};
use crate::app::{Action, Client, Event, Started, To};
use crate::crypto::Address;
use crate::store::{MessageStatus, TalkChange};
use crate::wire::MessageHash;

/// `react` options.
#[derive(Debug, Args)]
pub struct ReactArgs {
    /// The other party's address.
    pub peer: String,
    /// The message's hash.
    pub hash: String,
    /// One emoji; empty removes one's reaction.
    pub emoji: String,
}

/// `edit` options.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The other party's address.
    pub peer: String,
    /// The hash of an own text message.
    pub hash: String,
    /// Its new text.
    #[arg(long)]
    pub text: String,
}

/// `delete` options.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The other party's address.
    pub peer: String,
    /// The message's hash.
    pub hash: String,
    /// Delete an own message for everyone, not only here.
    #[arg(long)]
    pub for_everyone: bool,
}

/// `forward` options.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// The message's hash (a text, or a file stored here).
    pub hash: String,
    /// Where to (repeat for several).
    #[arg(long, required = true, value_name = "ADDRESS")]
    pub to: Vec<String>,
}

/// What `talk` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TalkAction {
    /// Pin it to the top of the list.
    Pin,
    /// Unpin it.
    Unpin,
    /// No notifications.
    Mute,
    /// Notifications again.
    Unmute,
    /// Out of the list until a new message.
    Archive,
    /// Back in the list.
    Unarchive,
    /// Shown unread until opened.
    MarkUnread,
    /// Keep `--text` as its draft (none: clear it).
    Draft,
}

/// `talk` options.
#[derive(Debug, Args)]
pub struct TalkArgs {
    /// The other party's address.
    pub peer: String,
    /// What to change.
    pub action: TalkAction,
    /// The draft's text (with `draft`).
    #[arg(long)]
    pub text: Option<String>,
}

impl TalkAction {
    /// The change it makes (`text`: a draft's).
    pub fn change(self, text: Option<String>) -> TalkChange {
        match self {
            Self::Pin | Self::Unpin => TalkChange::Pin(self == Self::Pin),
            Self::Mute | Self::Unmute => TalkChange::Mute(self == Self::Mute),
            Self::Archive | Self::Unarchive => TalkChange::Archive(self == Self::Archive),
            Self::MarkUnread => TalkChange::MarkUnread,
            Self::Draft => TalkChange::Draft(text),
        }
    }
}

/// How long the commands wait for the broker's acknowledgement.
const WAIT: Duration = Duration::from_secs(30);

/// Parses a message hash given on the command line.
pub(super) fn parse_hash(s: &str) -> Result<MessageHash> {
    s.parse().context("a message hash is 64 hexadecimal characters")
}

/// `react ADDRESS HASH EMOJI`.
pub(super) fn react(ctx: &mut Ctx, args: ReactArgs) -> Result<()> {
    let action = Action::React { target: parse_hash(&args.hash)?, emoji: args.emoji.trim().to_string() };
    act(ctx, &args.peer, action)
}

/// `edit ADDRESS HASH --text T`.
pub(super) fn edit(ctx: &mut Ctx, args: EditArgs) -> Result<()> {
    act(ctx, &args.peer, Action::Edit { target: parse_hash(&args.hash)?, text: args.text })
}

/// `delete ADDRESS HASH [--for-everyone]`.
pub(super) fn delete(ctx: &mut Ctx, args: DeleteArgs) -> Result<()> {
    act(ctx, &args.peer, Action::Delete { target: parse_hash(&args.hash)?, for_everyone: args.for_everyone })
}

/// `forward HASH --to ADDRESS...`: prints the new messages' hashes, one per line, once the
/// broker has them (a file's chunks follow as with `send --file`, while this runs: it waits
/// for the messages only).
pub(super) fn forward(ctx: &mut Ctx, args: ForwardArgs) -> Result<()> {
    let hash = parse_hash(&args.hash)?;
    let targets = args.to.iter().map(|t| parse_address(t).map(To::Peer)).collect::<Result<Vec<_>>>()?;
    let account = ctx.open_account()?;
    let config = ctx.config()?;
    let (sent, acked) = runtime()?.block_on(async {
        let Started { client, mut events, .. } = Client::start_from_config(account, &config, &ctx.broker_urls)?;
        let r = client.forward(hash, targets).await;
        let mut acked = true;
        if let Ok(hashes) = &r {
            for h in hashes {
                acked &= wait_sent(&mut events, *h).await;
            }
        }
        client.shutdown().await;
        anyhow::Ok((r?, acked))
    })?;
    for h in &sent {
        println!("{h}");
    }
    if !acked {
        bail!("the broker did not acknowledge them within {} s; they stay in the outbox", WAIT.as_secs());
    }
    Ok(())
}

/// `talk ADDRESS pin|unpin|mute|unmute|archive|unarchive|mark-unread|draft [--text T]`: kept in
/// the account (no broker needed).
pub(super) fn talk(ctx: &mut Ctx, args: TalkArgs) -> Result<()> {
    let peer = parse_address(&args.peer)?;
    let mut account = ctx.open_account()?;
    let chat = account.chat.open_chat_with(&peer)?;
    account.chat.change_talk(chat, &args.action.change(args.text))?;
    Ok(())
}

/// Checks that the message belongs to the conversation with `peer`, applies the action and
/// waits until the broker has what is sent; prints the hash of what was sent, if anything.
fn act(ctx: &mut Ctx, peer: &str, action: Action) -> Result<()> {
    let peer = parse_address(peer)?;
    let mut account = ctx.open_account()?;
    in_conversation(&account, &peer, &action.target())?;
    if let Action::Delete { target, for_everyone: false } = action {
        return delete_here(&mut account, &target);
    }
    let config = ctx.config()?;
    let sent = runtime()?.block_on(async {
        let Started { client, mut events, .. } = Client::start_from_config(account, &config, &ctx.broker_urls)?;
        let r = client.act(action).await;
        let acked = match &r {
            Ok(Some(hash)) => wait_sent(&mut events, *hash).await,
            _ => true,
        };
        client.shutdown().await;
        anyhow::Ok((r?, acked))
    })?;
    match sent {
        (Some(hash), true) => println!("{hash}"),
        (Some(hash), false) => {
            println!("{hash}");
            bail!("the broker did not acknowledge it within {} s; it stays in the outbox", WAIT.as_secs())
        }
        (None, _) => {}
    }
    Ok(())
}

/// Deletes a message on this account only: nothing is sent, so no broker is needed (and none
/// is contacted: connecting would fetch waiting messages, which is not what was asked for).
fn delete_here(account: &mut crate::app::Account, target: &MessageHash) -> Result<()> {
    if let Some((file, senders)) = account.chat.delete_here(target)? {
        account.objects.forget(&file, &senders).context("removing the attachment")?;
    }
    Ok(())
}

/// The message must be one of the conversation with `peer`.
fn in_conversation(account: &crate::app::Account, peer: &Address, hash: &MessageHash) -> Result<()> {
    let chat = account.chat.chat_with(peer)?;
    match account.chat.message(hash)? {
        Some(m) if Some(m.chat) == chat => Ok(()),
        _ => bail!("no message {hash} in the conversation with {peer}"),
    }
}

/// Waits for the broker's acknowledgement of `hash`.
async fn wait_sent(events: &mut crate::app::Events, hash: MessageHash) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Status { hash: h, stat })) if h == hash && stat != MessageStatus::Stored => return true,
            Ok(Some(Event::Error(e))) => eprintln!("wochat: {e}"),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}
