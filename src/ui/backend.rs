//! The GUI's link to the core: a tokio runtime on background threads. The UI sends
//! [`UiCmd`]s (never blocking) and receives [`UiMsg`]s, each followed by a repaint request.
//! Argon2, SQLite, crypto and the network all run here, never on the UI thread.

use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use crate::app::{Account, Client, ConnState, Event, LockedAccount, MediaLimits, OpenError, transport_config};
use crate::config::Config;
use crate::crypto::Address;
use crate::home::Home;
use crate::link::parse_contact;
use crate::store::{ChatDb, KeyStore, KeysError, LockError, MessageRow};
use crate::wire::{Body, Packet};

/// Messages loaded per page of a conversation.
pub const PAGE: usize = 200;

/// A request from the UI.
#[derive(Debug, Clone)]
pub enum UiCmd {
    /// Log in to an account.
    Login {
        /// Account name.
        name: String,
        /// Password.
        password: String,
    },
    /// Create an account (and log in).
    Create {
        /// Name.
        name: String,
        /// Password.
        password: String,
    },
    /// Open a conversation (loads its newest page and marks it read).
    OpenTalk(Address),
    /// Load the page before message id `before`.
    LoadOlder {
        /// The peer.
        peer: Address,
        /// Oldest loaded id.
        before: i64,
    },
    /// Send a text.
    SendText {
        /// Recipient.
        to: Address,
        /// Text.
        text: String,
    },
    /// Add a friend from an address or `wochat:` link.
    AddFriend {
        /// What the user typed.
        input: String,
        /// Display name.
        name: String,
    },
}

/// One line of the talk list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkItem {
    /// The peer.
    pub peer: Address,
    /// Friend name, or the start of the address.
    pub name: String,
    /// Last message, one line.
    pub preview: String,
    /// Last activity (ms).
    pub last_dt: i64,
    /// Unread count.
    pub unread: u64,
    /// A message request (unknown sender).
    pub request: bool,
}

/// One message as the conversation view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageItem {
    /// Row id (order).
    pub id: i64,
    /// Sent by this account.
    pub outgoing: bool,
    /// Text or caption (or a file's name).
    pub text: String,
    /// N, S or C.
    pub stat: char,
    /// When stored (ms).
    pub dt: i64,
}

/// What the backend tells the UI.
#[derive(Debug, Clone)]
pub enum UiMsg {
    /// The accounts of the login dropdown.
    Accounts(Vec<String>),
    /// Login or creation failed.
    LoginFailed(String),
    /// Logged in.
    LoggedIn {
        /// Name.
        name: String,
        /// Address.
        address: Address,
    },
    /// The talk list, latest first.
    Talks(Vec<TalkItem>),
    /// Messages of a conversation (`older`: a page before what is shown).
    Page {
        /// The peer.
        peer: Address,
        /// Oldest first.
        rows: Vec<MessageItem>,
        /// Prepend instead of replace.
        older: bool,
    },
    /// Connection state and broker.
    Connection(ConnState, String),
    /// The friend was added.
    FriendAdded(Address),
    /// Adding a friend failed (inline error).
    FriendError(String),
    /// Something failed; shown, the app keeps running.
    Error(String),
}

/// A handle to the backend thread.
pub struct Backend {
    commands: mpsc::UnboundedSender<UiCmd>,
    /// Messages for the UI.
    pub messages: std_mpsc::Receiver<UiMsg>,
}

impl Backend {
    /// Starts the backend for `home`; `repaint` is called after every message.
    pub fn start(home: Home, repaint: impl Fn() + Send + Sync + 'static) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (msg_tx, msg_rx) = std_mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        std::thread::Builder::new().name("wochat-core".into()).spawn(move || {
            let worker = Worker {
                home,
                out: Box::new(move |m| {
                    let _ = msg_tx.send(m);
                    repaint();
                }),
                client: None,
                reader: None,
                me: None,
                open: None,
            };
            runtime.block_on(worker.run(cmd_rx));
        })?;
        Ok(Self { commands: cmd_tx, messages: msg_rx })
    }

    /// Sends a command (never blocks).
    pub fn send(&self, cmd: UiCmd) {
        let _ = self.commands.send(cmd);
    }
}

struct Worker {
    home: Home,
    out: Box<dyn Fn(UiMsg) + Send + Sync>,
    client: Option<Client>,
    reader: Option<ChatDb>,
    me: Option<Address>,
    open: Option<Address>,
}

fn keys_error(e: &OpenError) -> String {
    match e {
        OpenError::Lock(LockError::AlreadyOpen) => "already open in another window".into(),
        OpenError::Keys(KeysError::WrongPassword) => "wrong password".into(),
        other => other.to_string(),
    }
}

impl Worker {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<UiCmd>) {
        self.send_accounts();
        let mut events: Option<mpsc::UnboundedReceiver<Event>> = None;
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => {
                        if let Some(ev) = self.handle(cmd).await {
                            events = Some(ev);
                        }
                    }
                    None => break,
                },
                Some(e) = async { match events.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                    // Coalesce a burst of events into one refresh.
                    let mut batch = vec![e];
                    while let Some(rx) = events.as_mut() {
                        match rx.try_recv() {
                            Ok(e) => batch.push(e),
                            Err(_) => break,
                        }
                    }
                    self.on_events(batch).await;
                }
            }
        }
        if let Some(c) = self.client.take() {
            c.shutdown().await;
        }
    }

    fn send(&self, m: UiMsg) {
        (self.out)(m);
    }

    fn send_accounts(&self) {
        let names = KeyStore::open(&self.home.keys_db_path())
            .and_then(|k| k.list())
            .map(|l| l.into_iter().map(|e| e.name).collect())
            .unwrap_or_default();
        self.send(UiMsg::Accounts(names));
    }

    async fn handle(&mut self, cmd: UiCmd) -> Option<mpsc::UnboundedReceiver<Event>> {
        match cmd {
            UiCmd::Login { name, password } => return self.login(name, password, false).await,
            UiCmd::Create { name, password } => return self.login(name, password, true).await,
            UiCmd::OpenTalk(peer) => {
                self.open = Some(peer);
                if let Some(c) = &self.client
                    && let Err(e) = c.mark_read(peer).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
                self.send_page(peer, None);
                self.send_talks();
            }
            UiCmd::LoadOlder { peer, before } => self.send_page(peer, Some(before)),
            UiCmd::SendText { to, text } => {
                if let Some(c) = &self.client
                    && let Err(e) = c.send_text(to, text).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
            }
            UiCmd::AddFriend { input, name } => match parse_contact(&input) {
                Err(e) => self.send(UiMsg::FriendError(e.to_string())),
                Ok(c) if Some(c.address) == self.me => self.send(UiMsg::FriendError("that is your own address".into())),
                Ok(c) => {
                    let name =
                        if name.trim().is_empty() { c.name.unwrap_or_default() } else { name.trim().to_string() };
                    if let Some(client) = &self.client {
                        match client.add_friend(c.address, name).await {
                            Ok(()) => {
                                self.send(UiMsg::FriendAdded(c.address));
                                self.send_talks();
                            }
                            Err(e) => self.send(UiMsg::FriendError(format!("{e:#}"))),
                        }
                    }
                }
            },
        }
        None
    }

    async fn login(&mut self, name: String, password: String, create: bool) -> Option<mpsc::UnboundedReceiver<Event>> {
        let home = self.home.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Account, String> {
            let keys = KeyStore::open(&home.keys_db_path()).map_err(|e| e.to_string())?;
            if create {
                let address = keys.create(&name, password.as_bytes()).map_err(|e| e.to_string())?;
                home.create_account_dir(&address).map_err(|e| e.to_string())?;
            }
            let locked = LockedAccount::lock(&home, &keys, &name).map_err(|e| keys_error(&e))?;
            locked.login(&keys, password.as_bytes()).map_err(|e| keys_error(&e))
        })
        .await;
        let account = match result {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                self.send(UiMsg::LoginFailed(e));
                self.send_accounts();
                return None;
            }
            Err(e) => {
                self.send(UiMsg::LoginFailed(e.to_string()));
                return None;
            }
        };
        let config = Config::load(&self.home.config_path()).unwrap_or_default();
        let (name, address) = (account.name.clone(), account.address());
        let reader = match account.reader() {
            Ok(r) => r,
            Err(e) => {
                self.send(UiMsg::LoginFailed(e.to_string()));
                return None;
            }
        };
        let started = transport_config(&config, &address, &[]).and_then(|tcfg| {
            let _ = crate::app::prepare_broker(config.broker.embedded, &tcfg.urls);
            account.objects.set_quota_mb(config.storage.quota_mb);
            Client::start(account, tcfg, MediaLimits::from_config(&config))
        });
        match started {
            Ok((client, events)) => {
                self.client = Some(client);
                self.reader = Some(reader);
                self.me = Some(address);
                self.send(UiMsg::LoggedIn { name, address });
                self.send_talks();
                Some(events)
            }
            Err(e) => {
                self.send(UiMsg::LoginFailed(format!("{e:#}")));
                None
            }
        }
    }

    async fn on_events(&mut self, batch: Vec<Event>) {
        let mut refresh = false;
        for e in batch {
            match e {
                Event::Connection { state, broker, .. } => self.send(UiMsg::Connection(state, broker)),
                Event::Error { message } => self.send(UiMsg::Error(message)),
                Event::Message { .. } | Event::Status { .. } | Event::Transfer { .. } => refresh = true,
                Event::Ready { .. } | Event::Dropped { .. } => {}
            }
        }
        if refresh {
            if self.open.is_none() {
                self.send_talks();
            }
            if let Some(peer) = self.open {
                // The open talk is being read: its new messages do not count as unread.
                if let Some(c) = &self.client {
                    let _ = c.mark_read(peer).await;
                }
                self.send_page(peer, None);
                self.send_talks();
            }
        }
    }

    fn send_talks(&self) {
        let Some(db) = &self.reader else { return };
        let friends = db.friends().unwrap_or_default();
        let talks = db.talks().unwrap_or_default();
        let mut items: Vec<TalkItem> = talks
            .into_iter()
            .map(|t| {
                let preview =
                    db.history(&t.peer, 1, None).ok().and_then(|h| h.last().map(preview_of)).unwrap_or_default();
                TalkItem {
                    name: display_name(&friends, &t.peer),
                    preview,
                    last_dt: t.last_dt,
                    unread: t.unread,
                    request: t.request,
                    peer: t.peer,
                }
            })
            .collect();
        // Friends without a conversation yet come last.
        for f in friends.iter().filter(|f| f.status == crate::store::FriendStatus::Active) {
            if !items.iter().any(|t| t.peer == f.address) {
                items.push(TalkItem {
                    peer: f.address,
                    name: display_name(&friends, &f.address),
                    preview: String::new(),
                    last_dt: 0,
                    unread: 0,
                    request: false,
                });
            }
        }
        self.send(UiMsg::Talks(items));
    }

    fn send_page(&self, peer: Address, before: Option<i64>) {
        let Some(db) = &self.reader else { return };
        match db.history(&peer, PAGE, before) {
            Ok(rows) => {
                let me = self.me;
                let rows = rows.iter().map(|r| item_of(r, me.as_ref())).collect();
                self.send(UiMsg::Page { peer, rows, older: before.is_some() });
            }
            Err(e) => self.send(UiMsg::Error(e.to_string())),
        }
    }
}

fn display_name(friends: &[crate::store::Friend], peer: &Address) -> String {
    friends
        .iter()
        .find(|f| f.address == *peer && !f.name.is_empty())
        .map(|f| f.name.clone())
        .unwrap_or_else(|| format!("{}...", &peer.to_hex()[..10]))
}

fn text_of(row: &MessageRow) -> String {
    match Packet::decode(&row.cbor).map(|p| p.body) {
        Ok(Body::Text { text }) => text,
        Ok(Body::Attachment { text, obj, .. }) => match text {
            Some(t) => format!("[{}] {t}", obj.name),
            None => format!("[{}]", obj.name),
        },
        _ => String::new(),
    }
}

fn preview_of(row: &MessageRow) -> String {
    text_of(row).lines().next().unwrap_or("").chars().take(60).collect()
}

fn item_of(row: &MessageRow, me: Option<&Address>) -> MessageItem {
    MessageItem {
        id: row.id,
        outgoing: me.is_some_and(|m| row.outgoing(m)),
        text: text_of(row),
        stat: row.stat,
        dt: row.dt,
    }
}
