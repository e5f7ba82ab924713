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
use crate::objects::{ObjectId, ObjectStore};
use crate::store::{ChatDb, KeyStore, KeysError, LockError, MessageRow};
use crate::wire::{AttachKind, Body, Packet};

/// Messages loaded per page of a conversation.
pub const PAGE: usize = 200;

/// At most this many search results are shown (the newest).
pub const SEARCH_LIMIT: usize = 200;

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
    /// Search the talk with `peer` for `query` (answered by [`UiMsg::SearchResults`]).
    Search {
        /// The peer.
        peer: Address,
        /// What to look for (a substring, any case).
        query: String,
    },
    /// Send a text.
    SendText {
        /// Recipient.
        to: Address,
        /// Text.
        text: String,
    },
    /// Rename a friend (or add them under this name).
    RenameFriend {
        /// The friend.
        peer: Address,
        /// New display name.
        name: String,
    },
    /// Block (`true`) or unblock someone.
    SetBlocked {
        /// Who.
        peer: Address,
        /// Block or unblock.
        blocked: bool,
    },
    /// Remove a friend (the conversation stays).
    RemoveFriend(Address),
    /// Pick an account export file (then [`UiCmd::Import`]).
    PickImport,
    /// Import an exported account.
    Import {
        /// The export file.
        path: std::path::PathBuf,
        /// Its password.
        password: String,
    },
    /// Pick a file with the native dialog and send it.
    AttachFile(Address),
    /// Send these files (dropped on the window).
    SendFiles {
        /// Recipient.
        to: Address,
        /// The files.
        paths: Vec<std::path::PathBuf>,
    },
    /// Send a picture pasted from the clipboard (as a PNG).
    PasteImage {
        /// Recipient.
        to: Address,
        /// The pixels, as the window system handed them over.
        image: std::sync::Arc<egui::ColorImage>,
    },
    /// Download a file that waits for acceptance.
    Accept(String),
    /// Save a received or sent file where the user chooses.
    SaveFile {
        /// Hex object id.
        file: String,
        /// Suggested name.
        name: String,
    },
    /// Open a file with the system's default application.
    OpenFile {
        /// Hex object id.
        file: String,
        /// Its name (kept for the application to recognise the type).
        name: String,
    },
    /// Decode a picture (all frames of a GIF) for the viewer.
    View(String),
    /// Whether the window has the focus (notifications only when it has not).
    Focused(bool),
    /// Save settings to `config.toml` and apply them.
    SaveSettings(Box<Config>),
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
    /// Last activity on the user's clock (none without messages).
    pub local: Option<crate::util::LocalTime>,
    /// Unread count.
    pub unread: u64,
    /// A message request (unknown sender).
    pub request: bool,
    /// A friend (named by the user).
    pub friend: bool,
    /// Blocked: their messages are dropped.
    pub blocked: bool,
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
    /// The same on the user's clock (worked out off the UI thread).
    pub local: crate::util::LocalTime,
    /// The attached file, for I, G, M, F.
    pub attachment: Option<super::media::AttachmentItem>,
}

/// What the backend tells the UI.
#[derive(Debug, Clone)]
pub enum UiMsg {
    /// An export file was picked for import.
    ImportPicked(std::path::PathBuf),
    /// An account was imported (its name).
    Imported(String),
    /// Pictures for the viewer.
    Viewer(super::media::Viewed),
    /// A file was exported for opening: open this path.
    OpenPath(std::path::PathBuf),
    /// Something worth a short note (a file saved, nothing to paste).
    Notice(String),
    /// The settings in force (at start, and after a save).
    Settings(Box<Config>),
    /// Settings were not saved.
    SettingsError(String),
    /// The accounts of the login dropdown.
    Accounts {
        /// Every active account's name, in the keys table's order.
        names: Vec<String>,
        /// Those open in another window (process) right now.
        open_elsewhere: Vec<String>,
    },
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
    /// Messages of a talk that contain `query`, newest first.
    SearchResults {
        /// The peer.
        peer: Address,
        /// The query they answer.
        query: String,
        /// The matches.
        rows: Vec<MessageItem>,
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
                focused: true,
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
    /// The window has the focus (no notifications then).
    focused: bool,
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
        match Config::load(&self.home.config_path()) {
            Ok(c) => self.send(UiMsg::Settings(Box::new(c))),
            Err(e) => {
                self.send(UiMsg::Settings(Box::default()));
                self.send(UiMsg::SettingsError(e.to_string()));
            }
        }
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
        let entries = KeyStore::open(&self.home.keys_db_path()).and_then(|k| k.list()).unwrap_or_default();
        let open_elsewhere = entries
            .iter()
            .filter(|e| crate::store::AccountLock::held_elsewhere(&self.home.lock_path(&e.address)))
            .map(|e| e.name.clone())
            .collect();
        let names = entries.into_iter().map(|e| e.name).collect();
        self.send(UiMsg::Accounts { names, open_elsewhere });
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
            UiCmd::Search { peer, query } => self.send_search(peer, query),
            UiCmd::SendText { to, text } => {
                if let Some(c) = &self.client
                    && let Err(e) = c.send_text(to, text).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
            }
            UiCmd::RenameFriend { peer, name } => {
                if let Some(c) = &self.client
                    && let Err(e) = c.add_friend(peer, name.trim().to_string()).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
                self.send_talks();
            }
            UiCmd::SetBlocked { peer, blocked } => {
                if let Some(c) = &self.client
                    && let Err(e) = c.set_blocked(peer, blocked).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
                self.send_talks();
            }
            UiCmd::RemoveFriend(peer) => {
                if let Some(c) = &self.client
                    && let Err(e) = c.remove_friend(peer).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
                self.send_talks();
            }
            UiCmd::PickImport => {
                if let Some(f) = rfd::AsyncFileDialog::new().pick_file().await {
                    self.send(UiMsg::ImportPicked(f.path().to_path_buf()));
                }
            }
            UiCmd::Import { path, password } => {
                let home = self.home.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let keys = KeyStore::open(&home.keys_db_path()).map_err(|e| e.to_string())?;
                    keys.import(&path, password.as_bytes(), None).map_err(|e| e.to_string())
                })
                .await;
                match r {
                    Ok(Ok(entry)) => {
                        self.send_accounts();
                        self.send(UiMsg::Imported(entry.name));
                    }
                    Ok(Err(e)) => self.send(UiMsg::LoginFailed(e)),
                    Err(e) => self.send(UiMsg::LoginFailed(e.to_string())),
                }
            }
            UiCmd::AttachFile(to) => {
                let picked = rfd::AsyncFileDialog::new().pick_file().await;
                if let Some(file) = picked {
                    self.send_files(to, vec![file.path().to_path_buf()]).await;
                }
            }
            UiCmd::SendFiles { to, paths } => self.send_files(to, paths).await,
            UiCmd::PasteImage { to, image } => {
                match tokio::task::spawn_blocking(move || pasted_to_file(&image)).await {
                    Ok(Ok(path)) => {
                        self.send_files(to, vec![path.clone()]).await;
                        // The object store holds it (encrypted) now; leave no clear copy behind.
                        let _ = std::fs::remove_file(&path);
                    }
                    Ok(Err(e)) => self.send(UiMsg::Error(e)),
                    Err(e) => self.send(UiMsg::Error(e.to_string())),
                }
            }
            UiCmd::Accept(file) => {
                if let Some(c) = &self.client
                    && let Err(e) = c.accept(file).await
                {
                    self.send(UiMsg::Error(format!("{e:#}")));
                }
            }
            UiCmd::SaveFile { file, name } => {
                let dest = rfd::AsyncFileDialog::new()
                    .set_file_name(crate::objects::sanitize_file_name(&name))
                    .save_file()
                    .await;
                if let (Some(dest), Some(c), Some(id)) = (dest, &self.client, ObjectId::from_hex(&file)) {
                    let objects = c.objects().clone();
                    let dest = dest.path().to_path_buf();
                    let r = tokio::task::spawn_blocking(move || objects.export_to(&id, &dest).map(|()| dest)).await;
                    match r {
                        Ok(Ok(dest)) => self.send(UiMsg::Notice(format!("saved {}", dest.display()))),
                        Ok(Err(e)) => self.send(UiMsg::Error(e.to_string())),
                        Err(e) => self.send(UiMsg::Error(e.to_string())),
                    }
                }
            }
            UiCmd::OpenFile { file, name } => {
                if let (Some(c), Some(me), Some(id)) = (&self.client, self.me, ObjectId::from_hex(&file)) {
                    let objects = c.objects().clone();
                    let dir = opened_dir(&self.home, &me);
                    let r = tokio::task::spawn_blocking(move || {
                        crate::fsutil::create_private_dir(&dir)?;
                        objects.save_as(&id, &dir, &name).map_err(std::io::Error::other)
                    })
                    .await;
                    match r {
                        Ok(Ok(path)) => self.send(UiMsg::OpenPath(path)),
                        Ok(Err(e)) => self.send(UiMsg::Error(e.to_string())),
                        Err(e) => self.send(UiMsg::Error(e.to_string())),
                    }
                }
            }
            UiCmd::View(file) => {
                let source = self
                    .reader
                    .as_ref()
                    .ok_or_else(|| "not logged in".to_string())
                    .and_then(|db| super::media::viewer_source(db, &file));
                if let (Ok((source, gif)), Some(c)) = (&source, &self.client) {
                    let (objects, source, gif) = (c.objects().clone(), *source, *gif);
                    let r =
                        tokio::task::spawn_blocking(move || super::media::load_for_viewer(&objects, source, gif, file))
                            .await;
                    match r {
                        Ok(Ok(v)) => self.send(UiMsg::Viewer(v)),
                        Ok(Err(e)) => self.send(UiMsg::Error(e)),
                        Err(e) => self.send(UiMsg::Error(e.to_string())),
                    }
                } else if let Err(e) = source {
                    self.send(UiMsg::Error(e));
                }
            }
            UiCmd::Focused(focused) => self.focused = focused,
            UiCmd::SaveSettings(config) => match self.save_settings(&config).await {
                Ok(()) => self.send(UiMsg::Settings(config)),
                Err(e) => self.send(UiMsg::SettingsError(format!("{e:#}"))),
            },
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

    /// Sends files one after another (each is imported off the async threads).
    async fn send_files(&self, to: Address, paths: Vec<std::path::PathBuf>) {
        let Some(c) = &self.client else { return };
        for path in paths {
            if let Err(e) = c.send_file(to, path.clone(), None, None).await {
                self.send(UiMsg::Error(format!("{}: {e:#}", path.display())));
            }
        }
    }

    /// A desktop notification for each new incoming message while the window is not focused.
    fn notify(&self, hashes: &[String]) {
        let Some(db) = &self.reader else { return };
        let friends = db.friends().unwrap_or_default();
        for hash in hashes {
            let Ok(Some(row)) = db.message(hash) else { continue };
            if self.me.is_some_and(|me| row.outgoing(&me)) || db.is_blocked(&row.from).unwrap_or(false) {
                continue;
            }
            let (title, body) = (display_name(&friends, &row.from), preview_of(&row));
            tokio::task::spawn_blocking(move || {
                // No notification service (a bare X server, a locked-down desktop): nothing to do.
                let _ = notify_rust::Notification::new().appname("WoChat").summary(&title).body(&body).show();
            });
        }
    }

    /// Validates, writes `config.toml` atomically, and applies what can change while running:
    /// brokers (reconnect), limits, quota. Theme and language the UI applies itself.
    async fn save_settings(&self, config: &Config) -> anyhow::Result<()> {
        config.validate().map_err(anyhow::Error::msg)?;
        if let (Some(client), Some(me)) = (&self.client, &self.me) {
            let tcfg = transport_config(config, me, &[])?;
            crate::transport::Transport::validate(&tcfg).map_err(anyhow::Error::msg)?;
            config.save(&self.home.config_path())?;
            let _ = crate::app::prepare_broker(config.broker.embedded, &tcfg.urls);
            client.objects().set_quota_mb(config.storage.quota_mb);
            client.reconfigure(tcfg, MediaLimits::from_config(config)).await?;
        } else {
            config.save(&self.home.config_path())?;
        }
        Ok(())
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
                // Files exported for opening last time are plaintext copies: remove them.
                let _ = std::fs::remove_dir_all(opened_dir(&self.home, &address));
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
                Event::Message { hash } => {
                    if !self.focused {
                        self.notify(std::slice::from_ref(&hash));
                    }
                    refresh = true;
                }
                Event::Status { .. } | Event::Transfer { .. } => refresh = true,
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
                let (friend, blocked) = friend_state(&friends, &t.peer);
                TalkItem {
                    name: display_name(&friends, &t.peer),
                    preview,
                    last_dt: t.last_dt,
                    local: (t.last_dt > 0).then(|| crate::util::local_time(t.last_dt)),
                    unread: t.unread,
                    request: t.request,
                    friend,
                    blocked,
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
                    local: None,
                    unread: 0,
                    request: false,
                    friend: true,
                    blocked: false,
                });
            }
        }
        self.send(UiMsg::Talks(items));
    }

    fn send_search(&self, peer: Address, query: String) {
        let Some(db) = &self.reader else { return };
        match db.search(Some(&peer), &query, SEARCH_LIMIT) {
            Ok(rows) => self.send(UiMsg::SearchResults { peer, query, rows: self.items(db, &rows) }),
            Err(e) => self.send(UiMsg::Error(e.to_string())),
        }
    }

    fn send_page(&self, peer: Address, before: Option<i64>) {
        let Some(db) = &self.reader else { return };
        match db.history(&peer, PAGE, before) {
            Ok(rows) => self.send(UiMsg::Page { peer, rows: self.items(db, &rows), older: before.is_some() }),
            Err(e) => self.send(UiMsg::Error(e.to_string())),
        }
    }

    /// Stored rows as the conversation view shows them.
    fn items(&self, db: &ChatDb, rows: &[MessageRow]) -> Vec<MessageItem> {
        let objects = self.client.as_ref().map(|c| c.objects().clone());
        rows.iter().map(|r| item_of(r, self.me.as_ref(), db, objects.as_deref())).collect()
    }
}

/// Whether `peer` is a friend (with a name), and whether blocked.
fn friend_state(friends: &[crate::store::Friend], peer: &Address) -> (bool, bool) {
    match friends.iter().find(|f| f.address == *peer) {
        Some(f) => (f.status == crate::store::FriendStatus::Active, f.status == crate::store::FriendStatus::Blocked),
        None => (false, false),
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
        Ok(Body::Attachment { kind, text, obj }) => {
            let icon = match kind {
                AttachKind::Image | AttachKind::Gif => "📷",
                AttachKind::Video => "🎞",
                AttachKind::File => "📎",
            };
            format!("{icon} {}", text.unwrap_or(obj.name))
        }
        _ => String::new(),
    }
}

fn preview_of(row: &MessageRow) -> String {
    text_of(row).lines().next().unwrap_or("").chars().take(60).collect()
}

fn item_of(row: &MessageRow, me: Option<&Address>, db: &ChatDb, objects: Option<&ObjectStore>) -> MessageItem {
    let body = Packet::decode(&row.cbor).ok().map(|p| p.body);
    MessageItem {
        attachment: super::media::attachment_of(row, body.as_ref(), me, db, objects),
        id: row.id,
        outgoing: me.is_some_and(|m| row.outgoing(m)),
        // An attachment's name is on its card: the bubble's text is the caption.
        text: match body {
            Some(Body::Text { text }) => text,
            Some(Body::Attachment { text, .. }) => text.unwrap_or_default(),
            _ => String::new(),
        },
        stat: row.stat,
        dt: row.dt,
        local: crate::util::local_time(row.dt),
    }
}

/// Writes a pasted picture to a private temporary PNG, to send like a file.
fn pasted_to_file(image: &egui::ColorImage) -> Result<std::path::PathBuf, String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_srgba_unmultiplied()).collect();
    let rgba = image::RgbaImage::from_raw(w as u32, h as u32, bytes).ok_or("the pasted picture is malformed")?;
    let dir = std::env::temp_dir().join(format!("wochat-paste-{}", std::process::id()));
    crate::fsutil::create_private_dir(&dir).map_err(|e| e.to_string())?;
    // The name the receiver sees (and saves under): when it was pasted.
    let now = jiff::Zoned::now();
    let path = dir.join(format!("picture-{}.png", now.strftime("%Y-%m-%d-%H%M%S")));
    rgba.save_with_format(&path, image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Where files are exported for the system to open them (per account: one process each).
fn opened_dir(home: &Home, me: &Address) -> std::path::PathBuf {
    home.account_dir(me).join("open")
}
