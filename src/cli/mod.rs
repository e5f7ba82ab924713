//! The headless command-line interface. Its command names, output formats and exit codes are a
//! contract that scripts rely on: 0 success, 1 an error (one line on stderr), 2 a usage error.

mod account;
mod backup;
mod conversation;
mod friend;
mod messaging;
mod object;
mod password;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::app::{Account, LockedAccount};
use crate::config::Config;
use crate::home::Home;
use crate::store::KeyStore;
pub use password::PasswordSource;

/// WoChat: end-to-end encrypted chat over MQTT.
#[derive(Debug, Parser)]
#[command(name = "wochat", version, about, long_about = None)]
pub struct Cli {
    /// Data home directory (default: the platform data directory).
    #[arg(long, global = true, env = "WOCHAT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Account to use.
    #[arg(long, global = true, env = "WOCHAT_ACCOUNT", value_name = "NAME")]
    pub account: Option<String>,

    /// Read the password (and then a new password, where one is needed) from standard input,
    /// one per line. `WOCHAT_PASSWORD` takes precedence.
    #[arg(long, global = true)]
    pub password_stdin: bool,

    /// Broker URL(s) to use instead of the configured ones (mqtt://host:port, mqtts://host:port).
    #[arg(long = "broker", global = true, env = "WOCHAT_BROKER", value_name = "URL", value_delimiter = ',')]
    pub broker_urls: Vec<String>,

    /// What to do; without a command the desktop app starts.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the accounts of this home.
    #[command(subcommand)]
    Account(account::AccountCmd),
    /// Log in and print the account's address.
    Whoami,
    /// Log in and print the account's broker user name and password (`broker.account_login`),
    /// as `USER PASSWORD`, for `mosquitto_passwd -b FILE USER PASSWORD`.
    BrokerLogin,
    /// Manage friends.
    #[command(subcommand)]
    Friend(friend::FriendCmd),
    /// Send a message and wait for the broker's acknowledgement; prints its hash.
    Send(messaging::SendArgs),
    /// React to a message with one emoji (an empty one removes the reaction).
    React(conversation::ReactArgs),
    /// Edit an own text message (within 24 hours, at most 20 times).
    Edit(conversation::EditArgs),
    /// Delete a message here, or an own message for everyone (`--for-everyone`).
    Delete(conversation::DeleteArgs),
    /// Forward a message (a text, or a file stored here) to one or more addresses.
    Forward(conversation::ForwardArgs),
    /// Pin, mute, archive or mark a talk unread, or keep its draft.
    Talk(conversation::TalkArgs),
    /// Print a conversation, oldest first.
    History(messaging::HistoryArgs),
    /// Stay connected: receive, send receipts, keep the outbox going, until SIGINT or SIGTERM.
    Run(messaging::RunArgs),
    /// Run the embedded MQTT broker in the foreground.
    Broker(messaging::BrokerArgs),
    /// Export, verify or garbage-collect stored files.
    #[command(subcommand)]
    Object(object::ObjectCmd),
    /// Back up the account's history (`--out PATH`), or check a backup (`verify PATH`).
    Backup(backup::BackupArgs),
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match dispatch(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wochat: {}", one_line(&e));
            1
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn dispatch(cli: Cli) -> Result<()> {
    let mut ctx = Ctx::new(&cli)?;
    match cli.command {
        #[cfg(feature = "gui")]
        None => crate::ui::run(ctx.home.clone(), ctx.broker_urls.clone()),
        #[cfg(not(feature = "gui"))]
        None => anyhow::bail!("this build has no desktop app (built without the `gui` feature)"),
        Some(Command::Account(cmd)) => account::run(&mut ctx, cmd),
        Some(Command::Whoami) => {
            let account = ctx.open_account()?;
            println!("{}", account.address());
            Ok(())
        }
        Some(Command::BrokerLogin) => {
            let account = ctx.open_account()?;
            println!("{} {}", account.address(), *account.broker_login().password);
            Ok(())
        }
        Some(Command::Friend(cmd)) => friend::run(&mut ctx, cmd),
        Some(Command::Send(args)) => messaging::send(&mut ctx, args),
        Some(Command::History(args)) => messaging::history(&mut ctx, args),
        Some(Command::React(args)) => conversation::react(&mut ctx, args),
        Some(Command::Edit(args)) => conversation::edit(&mut ctx, args),
        Some(Command::Delete(args)) => conversation::delete(&mut ctx, args),
        Some(Command::Forward(args)) => conversation::forward(&mut ctx, args),
        Some(Command::Talk(args)) => conversation::talk(&mut ctx, args),
        Some(Command::Run(args)) => messaging::run(&mut ctx, args),
        Some(Command::Broker(args)) => messaging::broker(args),
        Some(Command::Object(cmd)) => object::run(&mut ctx, cmd),
        Some(Command::Backup(args)) => backup::run(&mut ctx, args),
    }
}

/// The data home chosen by `--home`, `WOCHAT_HOME` or the platform default (created).
pub fn resolve_home(cli: &Cli) -> Result<Home> {
    let root = match &cli.home {
        Some(h) => h.clone(),
        None => Home::default_root()?,
    };
    Home::open(&root).with_context(|| format!("cannot create the data home {}", root.display()))
}

/// What every command needs: the home, the key store, the chosen account and the password.
pub(crate) struct Ctx {
    pub home: Home,
    pub account: Option<String>,
    pub passwords: PasswordSource,
    pub broker_urls: Vec<String>,
    keys: Option<KeyStore>,
}

impl Ctx {
    fn new(cli: &Cli) -> Result<Self> {
        let home = resolve_home(cli)?;
        Ok(Self {
            home,
            account: cli.account.clone(),
            passwords: PasswordSource::new(cli.password_stdin),
            broker_urls: cli.broker_urls.clone(),
            keys: None,
        })
    }

    /// The key store, opened on first use.
    pub fn keys(&mut self) -> Result<&KeyStore> {
        if self.keys.is_none() {
            let path = self.home.keys_db_path();
            self.keys = Some(KeyStore::open(&path)?);
        }
        Ok(self.keys.as_ref().expect("just set"))
    }

    /// The home's settings.
    pub fn config(&self) -> Result<Config> {
        Ok(Config::load(&self.home.config_path())?)
    }

    /// The `--account` name, or an error saying how to give one.
    pub fn account_name(&self) -> Result<String> {
        self.account
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no account chosen: pass --account NAME or set WOCHAT_ACCOUNT"))
    }

    /// Logs in to the chosen account.
    pub fn open_account(&mut self) -> Result<Account> {
        let name = self.account_name()?;
        let home = self.home.clone();
        let locked = LockedAccount::lock(&home, self.keys()?, &name)?;
        let password = self.passwords.password(&format!("Password for {name}: "))?;
        Ok(locked.login(self.keys()?, password.as_bytes())?)
    }
}
