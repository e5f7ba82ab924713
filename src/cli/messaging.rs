//! `wochat send`, `history`, `run` and `broker`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::io::BufRead;
use tokio::sync::mpsc;

use super::Ctx;
use crate::app::{Account, Client, Event, MediaLimits, MessageView, prepare_broker, transport_config};
use crate::crypto::Address;
use crate::link::parse_contact;
use crate::objects::ObjectStore;
use crate::store::ChatDb;

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

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn parse_address(s: &str) -> Result<Address> {
    Ok(parse_contact(s)?.address)
}

/// Starts the client for `account` with the home's settings.
fn start_client(ctx: &Ctx, account: Account) -> Result<(Client, mpsc::UnboundedReceiver<Event>)> {
    let config = ctx.config()?;
    let tcfg = transport_config(&config, &account.address(), &ctx.broker_urls)?;
    account.objects.set_quota_mb(config.storage.quota_mb);
    Client::start(account, tcfg, MediaLimits::from_config(&config))
}

/// Stores, publishes and waits for the broker's acknowledgement (of every chunk, for a file).
pub(super) fn send(ctx: &mut Ctx, args: SendArgs) -> Result<()> {
    let to = parse_address(&args.to)?;
    let account = ctx.open_account()?;
    let rt = runtime()?;
    let wait = Duration::from_secs_f64(args.timeout.max(0.0));
    let (hash, acked) = rt.block_on(async {
        let (client, mut events) = start_client(ctx, account)?;
        let (hash, file_hash) = match &args.file {
            Some(path) => match client.send_file(to, path.clone(), args.text.clone(), None).await {
                Ok(sent) => {
                    if let Some(e) = &sent.preview_error {
                        eprintln!("wochat: sent without a preview: {e}");
                    }
                    (sent.message, Some(sent.file.to_hex()))
                }
                Err(e) => {
                    client.shutdown().await;
                    return Err(e);
                }
            },
            None => (client.send_text(to, args.text.clone().unwrap_or_default()).await?, None),
        };
        let (mut message_acked, mut file_done) = (false, file_hash.is_none());
        loop {
            match tokio::time::timeout(wait, events.recv()).await {
                Ok(Some(Event::Status { hash: h, .. })) if h == hash => message_acked = true,
                Ok(Some(Event::Transfer { hash: h, done, total, .. })) if Some(&h) == file_hash.as_ref() => {
                    if done >= total {
                        file_done = true;
                    }
                }
                Ok(Some(Event::Error { message })) => eprintln!("wochat: {message}"),
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
    let me = account.address();
    let rows = account.chat.history(&peer, args.limit.unwrap_or(usize::MAX >> 1), None)?;
    for row in rows {
        let v = MessageView::of(&row, &me, |id| account.objects.contains(id));
        if args.json {
            println!("{}", serde_json::to_string(&v)?);
        } else {
            let mut text = v.text.clone().unwrap_or_default().replace('\n', " ");
            if let Some(o) = &v.obj {
                text = format!("[{} {} bytes{}] {text}", o.name, o.size, if o.complete { "" } else { ", incomplete" });
            }
            println!("{}\t{}\t{}\t{}", crate::util::format_utc(v.dt), v.dir, v.stat, text.trim_end());
        }
    }
    Ok(())
}

/// Stays connected until SIGINT/SIGTERM or `{"cmd":"quit"}`.
pub(super) fn run(ctx: &mut Ctx, args: RunArgs) -> Result<()> {
    let account = ctx.open_account()?;
    let config = ctx.config()?;
    let tcfg = transport_config(&config, &account.address(), &ctx.broker_urls)?;
    let reader = account.reader()?;
    let me = account.address();
    let objects = account.objects.clone();
    let hosted = prepare_broker(config.broker.embedded, &tcfg.urls)?;
    if let Some(addr) = hosted.filter(|_| !args.json) {
        eprintln!("hosting the embedded broker on {addr}");
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let (client, mut events) = start_client(ctx, account)?;
        let out = Printer { json: args.json, reader, me, objects };
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
                    match command(&client, &line).await {
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
async fn command(client: &Client, line: &str) -> Result<bool> {
    let v: Value = serde_json::from_str(line).context("not a JSON object")?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).with_context(|| format!("missing string field {k:?}"));
    match field("cmd")? {
        "send" => {
            let to = parse_address(field("to")?)?;
            client.send_text(to, field("text")?.to_string()).await?;
        }
        "send_file" => {
            let to = parse_address(field("to")?)?;
            let path = std::path::PathBuf::from(field("path")?);
            let caption = v.get("text").and_then(Value::as_str).map(str::to_string);
            client.send_file(to, path, caption, None).await?;
        }
        "accept" => client.accept(field("hash")?.to_string()).await?,
        "friend_add" => {
            let contact = parse_contact(field("address")?)?;
            let name = v.get("name").and_then(Value::as_str).map(str::to_string).or(contact.name).unwrap_or_default();
            client.add_friend(contact.address, name).await?;
        }
        "quit" => return Ok(true),
        other => bail!("unknown command {other:?}"),
    }
    Ok(false)
}

struct Printer {
    json: bool,
    reader: ChatDb,
    me: Address,
    objects: std::sync::Arc<ObjectStore>,
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
                Event::Message { hash } => {
                    if let Ok(Some(row)) = self.reader.message(hash) {
                        let v = MessageView::of(&row, &self.me, |id| self.objects.contains(id));
                        println!("{} {} {}: {}", v.dir, &v.from[..8], v.stat, v.text.unwrap_or_default());
                    }
                }
                Event::Error { message } => eprintln!("error: {message}"),
                other => eprintln!("{other:?}"),
            }
            return;
        }
        let v = match e {
            Event::Ready { address } => json!({"event": "ready", "address": address.to_hex()}),
            Event::Connection { state, broker, detail } => {
                json!({"event": "connection", "state": state.as_str(), "broker": broker, "detail": detail})
            }
            Event::Message { hash } => match self.reader.message(hash) {
                Ok(Some(row)) => {
                    let view = MessageView::of(&row, &self.me, |id| self.objects.contains(id));
                    let mut v = serde_json::to_value(view).unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut v {
                        m.insert("event".into(), "message".into());
                    }
                    v
                }
                Ok(None) => return,
                Err(e) => json!({"event": "error", "message": e.to_string()}),
            },
            Event::Status { hash, stat } => json!({"event": "status", "hash": hash, "stat": stat.to_string()}),
            Event::Dropped { reason } => json!({"event": "dropped", "reason": reason}),
            Event::Transfer { hash, done, total, state } => {
                json!({"event": "transfer", "hash": hash, "done": done, "total": total, "state": state.to_string()})
            }
            Event::Error { message } => json!({"event": "error", "message": message}),
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
    crate::transport::broker::start_embedded(addr).map_err(anyhow::Error::msg)?;
    println!("WoChat embedded broker listening on {addr} (queues in memory only)");
    runtime()?.block_on(shutdown_signal());
    Ok(())
}
