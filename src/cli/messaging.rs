//! `wochat send`, `history`, `run` and `broker`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::BufRead;
use tokio::sync::mpsc;

use super::Ctx;
use crate::app::read::{MessageView, ReadModel};
use crate::app::{Action, BackupEvent, Client, Event, Started};
use crate::crypto::Address;
use crate::link::parse_contact;
use crate::objects::ObjectId;

/// `send` options.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Recipient address (or `wochat:` link).
    pub to: String,
    /// The text to send (with `--file`: its caption).
    #[arg(long, required_unless_present = "file")]
    pub text: Option<String>,
    /// A file to send (image, GIF, video or any file).
    #[arg(long, value_name = "PATH")]
    pub file: Option<std::path::PathBuf>,
    /// The hash of the message of this conversation that the text replies to.
    #[arg(long, value_name = "HASH", conflicts_with = "file")]
    pub reply_to: Option<String>,
    /// Seconds to wait for the broker's acknowledgement (for a file: without progress).
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
}

/// `history` options.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The other party's address.
    pub peer: String,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Only the newest N messages (still printed oldest first).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print events as JSON lines and read JSON commands from standard input.
    #[arg(long)]
    pub json: bool,
}

/// `broker` options.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// TCP port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub(super) fn parse_address(s: &str) -> Result<Address> {
    Ok(parse_contact(s)?.address)
}

/// Stores, publishes and waits for the broker's acknowledgement (of every chunk, for a file).
pub(super) fn send(ctx: &mut Ctx, args: SendArgs) -> Result<()> {
    let to = parse_address(&args.to)?;
    let reply_to = args.reply_to.as_deref().map(super::conversation::parse_hash).transpose()?;
    let account = ctx.open_account()?;
    let config = ctx.config()?;
    let rt = runtime()?;
    let wait = Duration::from_secs_f64(args.timeout.max(0.0));
    let (hash, acked) = rt.block_on(async {
        let Started { client, mut events, .. } = Client::start_from_config(account, &config, &ctx.broker_urls)?;
        let (hash, file) = match &args.file {
            Some(path) => match client.send_file(to, path.clone(), args.text.clone(), None).await {
                Ok(sent) => {
                    if let Some(e) = &sent.preview_error {
                        eprintln!("wochat: sent without a preview: {e}");
                    }
                    (sent.message, Some(sent.file))
                }
                Err(e) => {
                    client.shutdown().await;
                    return Err(e.into());
                }
            },
            None => (client.send_reply(to, args.text.clone().unwrap_or_default(), reply_to).await?, None),
        };
        let (mut message_acked, mut file_done) = (false, file.is_none());
        loop {
            match tokio::time::timeout(wait, events.recv()).await {
                Ok(Some(Event::Status { hash: h, .. })) if h == hash => message_acked = true,
                Ok(Some(Event::Transfer { file: f, done, total, .. })) if Some(f) == file => {
                    if done >= total {
                        file_done = true;
                    }
                }
                Ok(Some(Event::Error(e))) => eprintln!("wochat: {e}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
            if message_acked && file_done {
                break;
            }
        }
        client.shutdown().await;
        anyhow::Ok((hash, message_acked && file_done))
    })?;
    println!("{hash}");
    if !acked {
        bail!("the broker did not acknowledge the message within {} s; it stays in the outbox", args.timeout);
    }
    Ok(())
}

/// Prints a talk, oldest first.
pub(super) fn history(ctx: &mut Ctx, args: HistoryArgs) -> Result<()> {
    let peer = parse_address(&args.peer)?;
    let account = ctx.open_account()?;
    let read = ReadModel::new(account.reader()?, account.objects.clone());
    let Some(chat) = read.chat_with(&peer)? else { return Ok(()) };
    for v in read.page(chat, None, args.limit.unwrap_or(usize::MAX >> 1))? {
        if args.json {
            println!("{}", serde_json::to_string(&JsonMessage::of(&v))?);
        } else {
            let mut text = v.text.clone().unwrap_or_default().replace('\n', " ");
            if let Some(o) = &v.attachment {
                let incomplete = if o.complete { "" } else { ", incomplete" };
                text = format!("[{} {} bytes{incomplete}] {text}", o.name, o.size);
            }
            let dir = if v.outgoing { "out" } else { "in" };
            println!("{}\t{dir}\t{}\t{}", crate::util::format_utc(v.ord), v.stat.code(), text.trim_end());
        }
    }
    Ok(())
}

/// Stays connected until SIGINT/SIGTERM or `{"cmd":"quit"}`.
pub(super) fn run(ctx: &mut Ctx, args: RunArgs) -> Result<()> {
    let account = ctx.open_account()?;
    let config = ctx.config()?;
    let read = ReadModel::new(account.reader()?, account.objects.clone());
    let rt = runtime()?;
    rt.block_on(async move {
        let Started { client, mut events, hosting } = Client::start_from_config(account, &config, &ctx.broker_urls)?;
        if let Some(addr) = hosting.filter(|_| !args.json) {
            eprintln!("hosting the embedded broker on {addr}");
        }
        let out = Printer { json: args.json, read };
        let (line_tx, mut lines) = mpsc::unbounded_channel::<String>();
        // A plain thread: a blocked read of standard input must not keep the runtime (and so
        // the process) from stopping. End of input does not stop the client.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stop = Box::pin(shutdown_signal());
        let mut stdin_open = true;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                e = events.recv() => match e {
                    Some(e) => out.event(&e),
                    None => break,
                },
                line = lines.recv(), if stdin_open => {
                    // Buffered lines are still read after the input ends.
                    let Some(line) = line else {
                        stdin_open = false;
                        continue;
                    };
                    if line.trim().is_empty() {
                        continue;
                    }
                    match command(&client, &line, &out).await {
                        Ok(true) => break,
                        Ok(false) => {}
                        Err(e) => out.error(&format!("{e:#}")),
                    }
                }
            }
        }
        client.shutdown().await;
        anyhow::Ok(())
    })
}

/// Handles one JSON command line; `Ok(true)` to quit.
async fn command(client: &Client, line: &str, out: &Printer) -> Result<bool> {
    let v: Value = serde_json::from_str(line).context("not a JSON object")?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).with_context(|| format!("missing string field {k:?}"));
    match field("cmd")? {
        "send" => {
            let to = parse_address(field("to")?)?;
            let reply_to =
                v.get("reply_to").and_then(Value::as_str).map(super::conversation::parse_hash).transpose()?;
            client.send_reply(to, field("text")?.to_string(), reply_to).await?;
        }
        "react" | "edit" | "delete" => {
            let peer = parse_address(field("peer")?)?;
            let target = super::conversation::parse_hash(field("hash")?)?;
            let chat = out.read.chat_with(&peer)?;
            match out.read.message(&target)? {
                Some(m) if Some(m.chat) == chat => {}
                _ => bail!("no message {target} in the conversation with {peer}"),
            }
            let action = match field("cmd")? {
                "react" => Action::React { target, emoji: field("emoji")?.trim().to_string() },
                "edit" => Action::Edit { target, text: field("text")?.to_string() },
                _ => Action::Delete {
                    target,
                    for_everyone: v.get("for_everyone").and_then(Value::as_bool).unwrap_or(false),
                },
            };
            client.act(action).await?;
        }
        "read" => {
            let peer = parse_address(field("peer")?)?;
            if let Some(chat) = out.read.chat_with(&peer)? {
                client.mark_read(chat).await?;
            }
        }
        "forward" => {
            let hash = super::conversation::parse_hash(field("hash")?)?;
            let to = v.get("to").and_then(Value::as_array).context("missing array field \"to\"")?;
            let to = to
                .iter()
                .map(|a| a.as_str().context("\"to\" holds addresses").and_then(parse_address).map(crate::app::To::Peer))
                .collect::<Result<Vec<_>>>()?;
            client.forward(hash, to).await?;
        }
        "typing" => {
            let peer = parse_address(field("peer")?)?;
            if let Some(chat) = out.read.chat_with(&peer)? {
                client.typing(chat, v.get("on").and_then(Value::as_bool).unwrap_or(true));
            }
        }
        "talk" => {
            let peer = parse_address(field("peer")?)?;
            let action = <super::conversation::TalkAction as clap::ValueEnum>::from_str(field("change")?, false)
                .map_err(|e| anyhow::anyhow!("unknown change: {e}"))?;
            let text = v.get("text").and_then(Value::as_str).map(str::to_string);
            let chat = match out.read.chat_with(&peer)? {
                Some(chat) => chat,
                None => bail!("no talk with {peer}"),
            };
            client.change_talk(chat, action.change(text)).await?;
        }
        "send_file" => {
            let to = parse_address(field("to")?)?;
            let path = std::path::PathBuf::from(field("path")?);
            let caption = v.get("text").and_then(Value::as_str).map(str::to_string);
            client.send_file(to, path, caption, None).await?;
        }
        "accept" => {
            let file = ObjectId::from_hex(field("hash")?).context("a file hash is 64 hexadecimal characters")?;
            client.accept(file).await?;
        }
        "retry" => {
            let file = ObjectId::from_hex(field("hash")?).context("a file hash is 64 hexadecimal characters")?;
            client.retry(file).await?;
        }
        "friend_add" => {
            let contact = parse_contact(field("address")?)?;
            let name = v.get("name").and_then(Value::as_str).map(str::to_string).or(contact.name).unwrap_or_default();
            client.add_friend(contact.address, name).await?;
        }
        "backup" => {
            // The first backup makes the passphrase: shown this once.
            if let Some(p) = client.backups().back_up_now().await? {
                out.print(json!({"event": "backup", "state": "passphrase", "passphrase": p.as_str()}));
            }
        }
        "quit" => return Ok(true),
        other => bail!("unknown command {other:?}"),
    }
    Ok(false)
}

/// An attachment as `history --json` and `run --json` print it.
#[derive(Debug, Serialize)]
struct JsonObject<'a> {
    hash: String,
    size: u64,
    name: &'a str,
    mime: &'a str,
    w: Option<u64>,
    h: Option<u64>,
    complete: bool,
}

/// A message as `history --json` and `run --json` print it (a stable contract).
#[derive(Debug, Serialize)]
struct JsonMessage<'a> {
    hash: String,
    dt: i64,
    dir: &'static str,
    from: String,
    to: String,
    #[serde(rename = "type")]
    kind: String,
    stat: String,
    text: Option<&'a str>,
    obj: Option<JsonObject<'a>>,
    reply_to: Option<String>,
    reactions: std::collections::BTreeMap<&'a str, Vec<String>>,
    edited: u32,
    deleted: bool,
    read: bool,
}

impl<'a> JsonMessage<'a> {
    fn of(v: &'a MessageView) -> Self {
        Self {
            hash: v.hash.to_hex(),
            dt: v.dt,
            dir: if v.outgoing { "out" } else { "in" },
            from: v.from.to_hex(),
            to: v.to.to_hex(),
            kind: v.kind.letter().to_string(),
            stat: v.stat.code().to_string(),
            text: v.text.as_deref(),
            obj: v.attachment.as_ref().map(|a| JsonObject {
                hash: a.file.to_hex(),
                size: a.size,
                name: &a.name,
                mime: &a.mime,
                w: a.w,
                h: a.h,
                complete: a.complete,
            }),
            reply_to: v.reply_to.as_ref().map(|q| q.hash.to_hex()),
            reactions: v
                .reactions
                .iter()
                .map(|(emoji, who)| (emoji.as_str(), who.iter().map(Address::to_hex).collect()))
                .collect(),
            edited: v.edited,
            deleted: v.deleted,
            read: v.read,
        }
    }
}

struct Printer {
    json: bool,
    read: ReadModel,
}

impl Printer {
    fn print(&self, v: Value) {
        println!("{v}");
    }

    fn error(&self, message: &str) {
        if self.json {
            self.print(json!({"event": "error", "message": message}));
        } else {
            eprintln!("error: {message}");
        }
    }

    fn event(&self, e: &Event) {
        if !self.json {
            match e {
                Event::Message { hash, .. } => {
                    if let Ok(Some(v)) = self.read.message(hash) {
                        let dir = if v.outgoing { "out" } else { "in" };
                        let from = v.from.to_hex();
                        println!("{dir} {} {}: {}", &from[..8], v.stat.code(), v.text.unwrap_or_default());
                    }
                }
                Event::Error(e) => eprintln!("error: {e}"),
                other => eprintln!("{other:?}"),
            }
            return;
        }
        let v = match e {
            Event::Ready { address } => json!({"event": "ready", "address": address.to_hex()}),
            Event::Hosting { addr } => json!({"event": "hosting", "addr": addr.to_string()}),
            Event::Connection { state, broker, detail, protocol } => {
                let mut v = json!({"event": "connection", "state": state.as_str(), "broker": broker, "detail": detail});
                if let Some(p) = protocol {
                    v["protocol"] = json!(p);
                }
                v
            }
            Event::Message { hash, .. } => match self.read.message(hash) {
                Ok(Some(view)) => {
                    let mut v = serde_json::to_value(JsonMessage::of(&view)).unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut v {
                        m.insert("event".into(), "message".into());
                    }
                    v
                }
                Ok(None) => return,
                Err(e) => json!({"event": "error", "message": e.to_string()}),
            },
            Event::Changed { hash, .. } => match self.read.message(hash) {
                Ok(Some(view)) => {
                    let mut v = serde_json::to_value(JsonMessage::of(&view)).unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut v {
                        m.insert("event".into(), "changed".into());
                    }
                    v
                }
                Ok(None) => return,
                Err(e) => json!({"event": "error", "message": e.to_string()}),
            },
            Event::Typing { from, on, .. } => json!({"event": "typing", "peer": from.to_hex(), "on": on}),
            Event::Status { hash, stat } => {
                json!({"event": "status", "hash": hash.to_hex(), "stat": stat.code().to_string()})
            }
            Event::Dropped { reason } => json!({"event": "dropped", "reason": reason}),
            Event::Transfer { file, done, total, state } => json!({
                "event": "transfer", "hash": file.to_hex(), "done": done, "total": total,
                "state": state.code().to_string()
            }),
            Event::Backup(b) => match b {
                BackupEvent::Progress { done, total } => {
                    json!({"event": "backup", "state": "running", "done": done, "total": total})
                }
                BackupEvent::Done { path, bytes, pruned } => json!({
                    "event": "backup", "state": "done", "path": path.display().to_string(), "bytes": bytes,
                    "pruned": pruned
                }),
                BackupEvent::Failed { reason } => json!({"event": "backup", "state": "failed", "reason": reason}),
            },
            Event::Error(e) => json!({"event": "error", "message": e.to_string()}),
        };
        self.print(v);
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the embedded broker in the foreground until SIGINT/SIGTERM.
pub(super) fn broker(args: BrokerArgs) -> Result<()> {
    let addr = SocketAddr::new(args.bind, args.port);
    crate::transport::broker::start_embedded(addr)?;
    println!("WoChat embedded broker listening on {addr} (queues in memory only)");
    runtime()?.block_on(shutdown_signal());
    Ok(())
}
