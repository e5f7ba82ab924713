//! `wochat send`, `history`, `run` and `broker`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::io::BufRead;
use tokio::sync::mpsc;

use super::Ctx;
use crate::app::{Client, Event, MessageView, prepare_broker, transport_config};
use crate::crypto::Address;
use crate::link::parse_contact;
use crate::store::ChatDb;

/// `send` options.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Recipient address (or `wochat:` link).
    pub to: String,
    /// The text to send.
    #[arg(long)]
    pub text: String,
    /// Seconds to wait for the broker's acknowledgement.
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

/// Stores, publishes and waits for the broker's acknowledgement.
pub(super) fn send(ctx: &mut Ctx, args: SendArgs) -> Result<()> {
    let to = parse_address(&args.to)?;
    let account = ctx.open_account()?;
    let config = ctx.config()?;
    let tcfg = transport_config(&config, &account.address(), &ctx.broker_urls)?;
    let rt = runtime()?;
    let (hash, acked) = rt.block_on(async {
        let (client, mut events) = Client::start(account, tcfg)?;
        let hash = client.send_text(to, args.text).await?;
        let wait = Duration::from_secs_f64(args.timeout.max(0.0));
        let acked = tokio::time::timeout(wait, async {
            while let Some(e) = events.recv().await {
                if matches!(&e, Event::Status { hash: h, .. } if *h == hash) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        client.shutdown().await;
        anyhow::Ok((hash, acked))
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
        let v = MessageView::of(&row, &me);
        if args.json {
            println!("{}", serde_json::to_string(&v)?);
        } else {
            let text = v.text.as_deref().unwrap_or("").replace('\n', " ");
            println!("{}\t{}\t{}\t{}", crate::util::format_utc(v.dt), v.dir, v.stat, text);
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
    let hosted = prepare_broker(config.broker.embedded, &tcfg.urls)?;
    if let Some(addr) = hosted.filter(|_| !args.json) {
        eprintln!("hosting the embedded broker on {addr}");
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let (client, mut events) = Client::start(account, tcfg)?;
        let out = Printer { json: args.json, reader, me };
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
                        let v = MessageView::of(&row, &self.me);
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
                    let mut v = serde_json::to_value(MessageView::of(&row, &self.me)).unwrap_or(Value::Null);
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
