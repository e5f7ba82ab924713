//! The GUI's link to the core: a tokio runtime on background threads. The UI sends
//! [`UiCmd`]s (never blocking) and receives [`UiMsg`]s, each followed by a repaint request.
//! Argon2, SQLite, crypto and the network all run here, never on the UI thread; what the
//! window shows comes from the core's read model ([`crate::app::read`]). Events patch what
//! changed (one message, one talk row, a transfer's progress) instead of reloading. Native
//! dialogs and file imports run as tasks that report back, so events keep flowing meanwhile.

use crate::crypto::password::Password;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use crate::app::read::{MessageView, ReadModel, TalkView};
use crate::app::{Account, BackupEvent, Client, ClientError, ConnState, Event, LockedAccount, OpenError, Started};
use crate::backup::schedule::{BackupSettings, Schedule};
use crate::config::Config;
use crate::crypto::Address;
use crate::home::Home;
use crate::link::parse_contact;
use crate::objects::ObjectId;
use crate::store::{ChatId, KeyStore, KeysError, LockError, MessageStatus, TalkChange, TransferState};
use crate::util::LocalTime;
use crate::wire::MessageHash;

use super::opened::OpenedFiles;

/// Messages loaded per page of a conversation.
pub const PAGE: usize = 200;

/// At most this many search results are shown (the newest).
pub const SEARCH_LIMIT: usize = 200;

/// A short note for the user about something done on their behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A file was saved here.
    Saved(PathBuf),
    /// No file dialog works here: a file was saved into the downloads folder.
    SavedToDownloads(PathBuf),
    /// No program opens files here (no `xdg-open`); the file waits at this path until the
    /// window closes.
    NoOpener(PathBuf),
}

/// Which part of a conversation a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// The newest messages (replace what is shown).
    Newest,
    /// Messages before this row id, the oldest shown when they were asked for (prepend).
    Older(i64),
    /// Messages after this row id, the newest shown when they were asked for (append).
    Newer(i64),
    /// Messages around this one, which is to be shown (replace what is shown).
    Around(i64),
}

/// What the window may use of the desktop.
#[derive(Debug, Clone)]
pub struct Desktop {
    /// Brokers from `--broker` or `WOCHAT_BROKER`, used instead of the configured ones.
    pub broker_urls: Vec<String>,
    /// Native file dialogs may be tried (off: files are picked by path, saved to Downloads).
    pub file_dialogs: bool,
    /// Received files may be handed to the system's program for their type ("Open").
    pub open_files: bool,
    /// Where files go when no dialog asks (`None`: the user's downloads folder).
    pub downloads: Option<PathBuf>,
    /// A tray icon may be shown (where the desktop has a tray).
    pub tray: bool,
}

impl Default for Desktop {
    fn default() -> Self {
        Self { broker_urls: Vec::new(), file_dialogs: true, open_files: true, downloads: None, tray: true }
    }
}

/// A dialog that comes back empty sooner than this after it was asked for did not open (no
/// portal, no zenity): a person takes longer to cancel one.
const DIALOG_FAILED_WITHIN: std::time::Duration = std::time::Duration::from_millis(400);

/// A request from the UI.
#[derive(Debug, Clone)]
pub enum UiCmd {
    /// Log in to an account.
    Login {
        /// Account name.
        name: String,
        /// Password.
        password: Password,
    },
    /// Create an account (and log in).
    Create {
        /// Name.
        name: String,
        /// Password.
        password: Password,
    },
    /// Open a conversation (loads its newest page and marks it read).
    OpenTalk(ChatId),
    /// Open a conversation at one of its messages (a search result): the page around it.
    OpenAt {
        /// The conversation.
        chat: ChatId,
        /// The message's row id.
        id: i64,
    },
    /// Load the page after message id `after` (the view is not at the newest).
    LoadNewer {
        /// The conversation.
        chat: ChatId,
        /// Newest loaded id.
        after: i64,
    },
    /// The window closes: the client stops and the session ends (sent by [`Backend`]'s drop).
    Quit,
    /// The conversation is no longer shown (its new messages count as unread again).
    CloseTalk,
    /// Pin, mute, archive or mark unread a conversation, or keep its draft.
    ChangeTalk {
        /// The conversation.
        chat: ChatId,
        /// What changes.
        change: TalkChange,
    },
    /// Load the page before message id `before`.
    LoadOlder {
        /// The conversation.
        chat: ChatId,
        /// Oldest loaded id.
        before: i64,
    },
    /// Search a conversation for `query` (answered by [`UiMsg::SearchResults`]).
    Search {
        /// The conversation.
        chat: ChatId,
        /// What to look for (a substring, any case).
        query: String,
    },
    /// Send a text.
    SendText {
        /// The conversation.
        chat: ChatId,
        /// Text.
        text: String,
        /// The message it replies to.
        reply_to: Option<MessageHash>,
    },
    /// React to, edit or delete a message.
    Act(crate::app::Action),
    /// Forward a message to conversations.
    Forward {
        /// The message.
        hash: MessageHash,
        /// Where to.
        to: Vec<ChatId>,
    },
    /// The user types in the open conversation (or stopped).
    Typing {
        /// The conversation.
        chat: ChatId,
        /// Typing now.
        on: bool,
    },
    /// Turn read receipts or typing indicators on or off.
    SetPrivacy {
        /// Read receipts.
        read_receipts: Option<bool>,
        /// Typing indicators.
        typing: Option<bool>,
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
        path: PathBuf,
        /// Its password.
        password: Password,
    },
    /// Pick a file with the native dialog and send it.
    AttachFile(ChatId),
    /// Send these files (dropped on the window).
    SendFiles {
        /// The conversation.
        chat: ChatId,
        /// The files.
        paths: Vec<PathBuf>,
    },
    /// Send a picture pasted from the clipboard (as a PNG).
    PasteImage {
        /// The conversation.
        chat: ChatId,
        /// The pixels, as the window system handed them over.
        image: Arc<egui::ColorImage>,
        /// Text shown under it.
        caption: Option<String>,
    },
    /// Download a file that waits for acceptance.
    Accept(ObjectId),
    /// Fetch a file whose transfer failed again.
    Retry(ObjectId),
    /// Save a received or sent file where the user chooses.
    SaveFile {
        /// The file.
        file: ObjectId,
        /// Suggested name.
        name: String,
    },
    /// Open a file with the system's default application.
    OpenFile {
        /// The file.
        file: ObjectId,
        /// Its name (kept for the application to recognise the type).
        name: String,
    },
    /// Decode a picture (all frames of a GIF) for the viewer.
    View(ObjectId),
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
    /// Read the backup settings (answered by [`UiMsg::BackupSettings`]).
    OpenBackup,
    /// Set the automatic backups (a passphrase made on the way comes as
    /// [`UiMsg::BackupPassphrase`]).
    ConfigureBackup {
        /// How often.
        schedule: Schedule,
        /// Into which folder.
        folder: Option<PathBuf>,
        /// How many to keep.
        keep: u32,
    },
    /// Write a backup into the folder now (progress comes as [`UiMsg::Backup`]).
    BackupNow,
    /// Make a new passphrase for the backups to come.
    RenewBackupPassphrase,
    /// Pick the backups' folder with the native dialog.
    PickBackupFolder,
    /// Pick a backup file to restore (login window).
    PickRestore,
    /// Restore an account from a backup file.
    Restore {
        /// The backup.
        path: PathBuf,
        /// Its passphrase.
        passphrase: Password,
        /// Replace an account of the same address in this home.
        replace: bool,
    },
}

/// One line of the talk list, with its time on the user's clock (worked out off the UI thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkItem {
    /// What the core says of it.
    pub view: TalkView,
    /// Last activity on the user's clock (none without messages).
    pub local: Option<LocalTime>,
}

/// One message as the conversation shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageItem {
    /// What the core says of it.
    pub view: MessageView,
    /// When it was stored, on the user's clock.
    pub local: LocalTime,
    /// Its attachment's preview, decoded (bounded) off the UI thread.
    pub preview: Option<Arc<egui::ColorImage>>,
}

impl MessageItem {
    fn of(view: MessageView) -> Self {
        let preview = view
            .attachment
            .as_ref()
            .and_then(|a| a.thumb.as_deref())
            .and_then(super::media::decode_preview)
            .map(Arc::new);
        // The time it was written (its place in the conversation), not when it arrived.
        Self { local: crate::util::local_time(view.ord), view, preview }
    }
}

/// Something that went wrong, translated by the UI.
#[derive(Debug, Clone)]
pub enum UiError {
    /// An error of the client.
    Client(Arc<ClientError>),
    /// Any other failure, in words (English; shown as it is).
    Other(String),
}

/// What the backend tells the UI.
#[derive(Debug, Clone)]
pub enum UiMsg {
    /// An export file was picked for import.
    ImportPicked(PathBuf),
    /// An account was imported (its name).
    Imported(String),
    /// Pictures for the viewer.
    Viewer(super::media::Viewed),
    /// No file dialog works here: ask for the path of a file to send to this conversation.
    AskPath(ChatId),
    /// No file dialog works here: ask for the path of an account export to import.
    AskImportPath,
    /// Something worth a short note (a file saved).
    Notice(Notice),
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
    /// The whole talk list, latest first.
    Talks(Vec<TalkItem>),
    /// Messages from strangers dropped so far to keep requests within their limits.
    RequestsDropped(u64),
    /// One line of the talk list changed (or is new).
    TalkChanged(TalkItem),
    /// Messages of a conversation.
    Page {
        /// The conversation.
        chat: ChatId,
        /// Oldest first.
        rows: Vec<MessageItem>,
        /// Where they go.
        kind: PageKind,
    },
    /// A message of the open conversation is new or changed.
    Upsert(Box<MessageItem>),
    /// The account's privacy settings.
    Privacy {
        /// Read receipts are sent and shown.
        read_receipts: bool,
        /// Typing indicators are sent and shown.
        typing: bool,
    },
    /// A notification was clicked: open this conversation and raise the window.
    OpenChat(ChatId),
    /// A message of the open conversation was deleted here: it goes.
    Removed(MessageHash),
    /// Someone in a conversation types (or stopped).
    Typing {
        /// The conversation.
        chat: ChatId,
        /// Who.
        from: Address,
        /// Typing now.
        on: bool,
    },
    /// An own message changed status.
    Status {
        /// The message.
        hash: MessageHash,
        /// Its status.
        stat: MessageStatus,
    },
    /// A file transfer moved.
    Transfer {
        /// The file.
        file: ObjectId,
        /// Bytes so far.
        done: u64,
        /// Its state.
        state: TransferState,
    },
    /// Where the "unread messages" line of a conversation just opened goes (the row id of the
    /// first unread message), if anywhere.
    FirstUnread {
        /// The conversation.
        chat: ChatId,
        /// The row.
        id: Option<i64>,
    },
    /// Messages of a conversation that contain `query`, newest first.
    SearchResults {
        /// The conversation.
        chat: ChatId,
        /// The query they answer.
        query: String,
        /// The matches.
        rows: Vec<MessageItem>,
    },
    /// Connection state, broker, and the MQTT version and reasons to show on hover.
    Connection(ConnState, String, Option<String>),
    /// The friend was added.
    FriendAdded(ChatId),
    /// Adding a friend failed (inline error).
    FriendError(UiError),
    /// The backup settings and how the last backup went.
    BackupSettings(Box<BackupSettings>),
    /// A backup passphrase was made: show it once.
    BackupPassphrase(Password),
    /// A backup's progress or outcome.
    Backup(BackupEvent),
    /// A folder for backups was picked.
    BackupFolderPicked(PathBuf),
    /// A backup file was picked to restore.
    RestorePicked(PathBuf),
    /// No file dialog works here: ask for the path of a backup to restore.
    AskRestorePath,
    /// An account was restored.
    Restored {
        /// Its name.
        name: String,
        /// Why the backup's settings were not restored, when they were not.
        settings_skipped: Option<String>,
    },
    /// A restore failed (the home is as it was).
    RestoreFailed(String),
    /// Something failed; shown, the app keeps running.
    Error(UiError),
}

type Out = Arc<dyn Fn(UiMsg) + Send + Sync>;

/// A handle to the backend thread.
pub struct Backend {
    /// `None` once closing (the worker sees the channel close and stops).
    commands: Option<mpsc::UnboundedSender<UiCmd>>,
    /// Messages for the UI.
    pub messages: std_mpsc::Receiver<UiMsg>,
    /// Says when the worker has stopped.
    done: std_mpsc::Receiver<()>,
}

impl Backend {
    /// Starts the backend for `home`; `repaint` is called after every message. The desktop's
    /// brokers (from `--broker` or `WOCHAT_BROKER`) replace the configured ones, as for the CLI.
    pub fn start(home: Home, desktop: Desktop, repaint: impl Fn() + Send + Sync + 'static) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (msg_tx, msg_rx) = std_mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let commands = cmd_tx.clone();
        let (done_tx, done) = std_mpsc::channel();
        std::thread::Builder::new().name("wochat-core".into()).spawn(move || {
            let out: Out = Arc::new(move |m| {
                let _ = msg_tx.send(m);
                repaint();
            });
            let dialogs = Arc::new(std::sync::atomic::AtomicBool::new(desktop.file_dialogs));
            let worker = Worker { focused: true, home, desktop, dialogs, out, commands, session: None };
            runtime.block_on(worker.run(cmd_rx));
            // Tasks still running (a file dialog) are dropped with the runtime, not awaited.
            runtime.shutdown_background();
            let _ = done_tx.send(());
        })?;
        Ok(Self { commands: Some(cmd_tx), messages: msg_rx, done })
    }

    /// Sends a command (never blocks).
    pub fn send(&self, cmd: UiCmd) {
        if let Some(c) = &self.commands {
            let _ = c.send(cmd);
        }
    }
}

impl Drop for Backend {
    /// The window closes: the clear copies of opened files are removed and the client stops
    /// (for at most [`SHUTDOWN_WAIT`]) before the process may exit.
    fn drop(&mut self) {
        if let Some(c) = self.commands.take() {
            let _ = c.send(UiCmd::Quit);
        }
        let _ = self.done.recv_timeout(SHUTDOWN_WAIT);
    }
}

/// How long a closing window waits for the core to stop (handing over what is queued to a
/// reachable broker takes milliseconds; an unreachable one is not waited for: everything is
/// stored, and goes at the next start).
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The logged-in account.
struct Session {
    client: Client,
    read: ReadModel,
    me: Address,
    /// The conversation the window shows.
    open: Option<ChatId>,
    /// Where files are decrypted for the system to open (`None`: the temporary folder failed).
    opened: Option<Arc<OpenedFiles>>,
    /// Notifications show what messages say (`ui.notify_content`).
    notify_content: bool,
}

struct Worker {
    /// The window has the focus (no notifications then).
    focused: bool,
    home: Home,
    /// What the window may use of the desktop.
    desktop: Desktop,
    /// Native file dialogs are worth trying (cleared when one fails to open).
    dialogs: Arc<std::sync::atomic::AtomicBool>,
    out: Out,
    /// Tasks hand their results back as commands.
    commands: mpsc::UnboundedSender<UiCmd>,
    session: Option<Session>,
}

fn open_error(e: &OpenError) -> String {
    match e {
        OpenError::Lock(LockError::AlreadyOpen) => "already open in another window".into(),
        OpenError::Keys(KeysError::WrongPassword) => "wrong password".into(),
        other => other.to_string(),
    }
}

fn client_error(e: ClientError) -> UiMsg {
    UiMsg::Error(UiError::Client(Arc::new(e)))
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
        send_accounts(&self.home, &self.out);
        let mut events: Option<mpsc::UnboundedReceiver<Event>> = None;
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(UiCmd::Quit) | None => break,
                    Some(cmd) => {
                        if let Some(ev) = self.handle(cmd).await {
                            events = Some(ev);
                        }
                    }
                },
                Some(e) = async { match events.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
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
        if let Some(Session { client, opened, .. }) = self.session.take() {
            // The clear copies go first: the shutdown may wait for an unreachable broker.
            drop(opened);
            client.shutdown().await;
        }
    }

    fn send(&self, m: UiMsg) {
        (self.out)(m);
    }

    async fn handle(&mut self, cmd: UiCmd) -> Option<mpsc::UnboundedReceiver<Event>> {
        match cmd {
            UiCmd::Login { name, password } => return self.login(name, password, false).await,
            UiCmd::Create { name, password } => return self.login(name, password, true).await,
            UiCmd::Focused(focused) => self.focused = focused,
            UiCmd::SaveSettings(config) => match self.save_settings(&config).await {
                Ok(()) => {
                    if let Some(s) = self.session.as_mut() {
                        s.notify_content = config.ui.notify_content;
                    }
                    self.send(UiMsg::Settings(config));
                }
                Err(e) => self.send(UiMsg::SettingsError(e)),
            },
            UiCmd::PickImport => {
                let (out, dialogs) = (self.out.clone(), self.dialogs.clone());
                tokio::spawn(async move {
                    match pick(&dialogs, rfd::AsyncFileDialog::new().pick_file()).await {
                        Picked::File(path) => out(UiMsg::ImportPicked(path)),
                        Picked::Unavailable => out(UiMsg::AskImportPath),
                        Picked::Cancelled => {}
                    }
                });
            }
            UiCmd::PickRestore => {
                let (out, dialogs) = (self.out.clone(), self.dialogs.clone());
                tokio::spawn(async move {
                    let dialog = rfd::AsyncFileDialog::new()
                        .add_filter("WoChat backup", &[crate::backup::schedule::EXTENSION])
                        .add_filter("*", &["*"])
                        .pick_file();
                    match pick(&dialogs, dialog).await {
                        Picked::File(path) => out(UiMsg::RestorePicked(path)),
                        Picked::Unavailable => out(UiMsg::AskRestorePath),
                        Picked::Cancelled => {}
                    }
                });
            }
            UiCmd::Restore { path, passphrase, replace } => {
                let (home, out) = (self.home.clone(), self.out.clone());
                tokio::task::spawn_blocking(move || {
                    let restored = KeyStore::open(&home.keys_db_path()).map_err(|e| e.to_string()).and_then(|keys| {
                        crate::backup::restore(&home, &keys, &path, passphrase.as_bytes(), replace, None)
                            .map_err(|e| e.to_string())
                    });
                    match restored {
                        Ok(summary) => {
                            send_accounts(&home, &out);
                            // The settings the restore may have brought (broker, schedule).
                            if let Ok(config) = Config::load(&home.config_path()) {
                                out(UiMsg::Settings(Box::new(config)));
                            }
                            let name = summary.manifest.name;
                            out(UiMsg::Restored { name, settings_skipped: summary.settings_skipped });
                        }
                        Err(e) => out(UiMsg::RestoreFailed(e)),
                    }
                });
            }
            UiCmd::PickBackupFolder => {
                let (out, dialogs) = (self.out.clone(), self.dialogs.clone());
                tokio::spawn(async move {
                    // Where no dialog works the folder is typed into the field.
                    if let Picked::File(path) = pick(&dialogs, rfd::AsyncFileDialog::new().pick_folder()).await {
                        out(UiMsg::BackupFolderPicked(path));
                    }
                });
            }
            UiCmd::Import { path, password } => {
                let (home, out) = (self.home.clone(), self.out.clone());
                tokio::task::spawn_blocking(move || {
                    let imported = KeyStore::open(&home.keys_db_path())
                        .and_then(|keys| keys.import(&path, password.as_bytes(), None));
                    match imported {
                        Ok(entry) => {
                            send_accounts(&home, &out);
                            out(UiMsg::Imported(entry.name));
                        }
                        Err(e) => out(UiMsg::LoginFailed(e.to_string())),
                    }
                });
            }
            other => {
                if let Some(s) = self.session.as_mut() {
                    let tasks = Tasks {
                        out: self.out.clone(),
                        commands: self.commands.clone(),
                        dialogs: self.dialogs.clone(),
                        desktop: self.desktop.clone(),
                    };
                    s.handle(other, &tasks).await;
                }
            }
        }
        None
    }

    /// Validates, writes `config.toml` atomically, and applies what can change while running:
    /// brokers (reconnect), limits, quota. Theme and language the UI applies itself.
    async fn save_settings(&self, config: &Config) -> Result<(), String> {
        config.validate().map_err(|e| e.to_string())?;
        if let Some(s) = &self.session {
            let tcfg = crate::app::transport_config(config, &s.me, s.client.broker_login(), &self.desktop.broker_urls)
                .map_err(|e| e.to_string())?;
            crate::transport::Transport::validate(&tcfg).map_err(|e| e.to_string())?;
            config.save(&self.home.config_path()).map_err(|e| e.to_string())?;
            let _ = crate::app::prepare_broker(config.broker.embedded, &tcfg.urls);
            s.client.objects().set_quota_mb(config.storage.quota_mb);
            let limits = crate::app::MediaLimits::from_config(config);
            s.client.reconfigure(tcfg, limits).await.map_err(|e| e.to_string())?;
            super::i18n::set(super::i18n::resolve(&config.ui.language));
        } else {
            config.save(&self.home.config_path()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn login(
        &mut self,
        name: String,
        password: Password,
        create: bool,
    ) -> Option<mpsc::UnboundedReceiver<Event>> {
        let home = self.home.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Account, String> {
            let keys = KeyStore::open(&home.keys_db_path()).map_err(|e| e.to_string())?;
            if create {
                let address = keys.create(&name, password.as_bytes()).map_err(|e| e.to_string())?;
                home.create_account_dir(&address).map_err(|e| e.to_string())?;
            }
            let locked = LockedAccount::lock(&home, &keys, &name).map_err(|e| open_error(&e))?;
            locked.login(&keys, password.as_bytes()).map_err(|e| open_error(&e))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let account = match result {
            Ok(a) => a,
            Err(e) => {
                self.send(UiMsg::LoginFailed(e));
                send_accounts(&self.home, &self.out);
                return None;
            }
        };
        let config = Config::load(&self.home.config_path()).unwrap_or_default();
        let (name, me) = (account.name.clone(), account.address());
        let read = match account.reader() {
            Ok(db) => ReadModel::new(db, account.objects.clone()),
            Err(e) => {
                self.send(UiMsg::LoginFailed(e.to_string()));
                return None;
            }
        };
        match Client::start_from_config(account, &config, &self.desktop.broker_urls) {
            Ok(Started { client, events, .. }) => {
                // Where earlier versions left clear copies of opened files: remove them.
                let _ = std::fs::remove_dir_all(super::opened::legacy_dir(&self.home, &me));
                let opened = match OpenedFiles::create_in(&std::env::temp_dir(), &me) {
                    Ok(o) => Some(Arc::new(o)),
                    Err(_) => {
                        self.send(UiMsg::Error(UiError::Other("no private temporary folder".into())));
                        None
                    }
                };
                // Notifications are worded on this thread, in the window's language.
                super::i18n::set(super::i18n::resolve(&config.ui.language));
                let notify_content = config.ui.notify_content;
                let session = Session { client, read, me, open: None, opened, notify_content };
                self.send(UiMsg::LoggedIn { name, address: me });
                session.send_talks(&self.out);
                self.session = Some(session);
                Some(events)
            }
            Err(e) => {
                self.send(UiMsg::LoginFailed(e.to_string()));
                None
            }
        }
    }

    async fn on_events(&mut self, batch: Vec<Event>) {
        let Some(s) = self.session.as_mut() else { return };
        let mut chats = Vec::new();
        // Talks whose newest message may have changed (an edit, a delete): their line again.
        let mut changed = Vec::new();
        let mut requests_dropped = false;
        for e in batch {
            match e {
                Event::Connection { state, broker, detail, protocol } => {
                    // Shown when the pointer rests on the state: the MQTT version and what the
                    // broker said (reason codes) or why the connection failed.
                    let version = protocol.map(|p| format!("MQTT {p}"));
                    let about = [version, detail].into_iter().flatten().collect::<Vec<_>>().join("\n");
                    (self.out)(UiMsg::Connection(state, broker, Some(about).filter(|a| !a.is_empty())))
                }
                Event::Error(e) => (self.out)(UiMsg::Error(UiError::Client(e))),
                Event::Message { chat, hash } => {
                    if Some(chat) == s.open
                        && let Ok(Some(view)) = s.read.message(&hash)
                    {
                        (self.out)(UiMsg::Upsert(Box::new(MessageItem::of(view))));
                    }
                    if !self.focused {
                        s.notify(&hash, &self.out);
                    }
                    if !chats.contains(&chat) {
                        chats.push(chat);
                    }
                }
                Event::Changed { chat, hash } => {
                    if Some(chat) == s.open {
                        match s.read.message(&hash) {
                            Ok(Some(view)) => (self.out)(UiMsg::Upsert(Box::new(MessageItem::of(view)))),
                            Ok(None) => (self.out)(UiMsg::Removed(hash)),
                            Err(_) => {}
                        }
                    }
                    if !changed.contains(&chat) {
                        changed.push(chat);
                    }
                }
                Event::Typing { chat, from, on } => (self.out)(UiMsg::Typing { chat, from, on }),
                Event::Status { hash, stat } => (self.out)(UiMsg::Status { hash, stat }),
                Event::Transfer { file, done, state, .. } => (self.out)(UiMsg::Transfer { file, done, state }),
                Event::Dropped { reason: "request_over_limit" } => requests_dropped = true,
                Event::Backup(b) => {
                    let finished = !matches!(b, BackupEvent::Progress { .. });
                    (self.out)(UiMsg::Backup(b));
                    if finished {
                        // The last backup's time and size changed.
                        send_backup_settings(&s.client, &self.out).await;
                    }
                }
                Event::Ready { .. } | Event::Dropped { .. } | Event::Hosting { .. } => {}
            }
        }
        if requests_dropped {
            s.send_requests_dropped(&self.out);
        }
        changed.retain(|c| !chats.contains(c));
        for chat in chats {
            if Some(chat) == s.open {
                // The open talk is being read: its new messages do not count as unread.
                let _ = s.client.mark_read(chat).await;
            }
            if let Ok(Some(view)) = s.read.talk(chat) {
                (self.out)(UiMsg::TalkChanged(talk_item(view)));
            }
        }
        for chat in changed {
            if let Ok(Some(view)) = s.read.talk(chat) {
                (self.out)(UiMsg::TalkChanged(talk_item(view)));
            }
        }
    }
}

/// Sends the login dropdown's accounts.
fn send_accounts(home: &Home, out: &Out) {
    let entries = KeyStore::open(&home.keys_db_path()).and_then(|k| k.list()).unwrap_or_default();
    let open_elsewhere = entries
        .iter()
        .filter(|e| crate::store::AccountLock::held_elsewhere(&home.lock_path(&e.address)))
        .map(|e| e.name.clone())
        .collect();
    let names = entries.into_iter().map(|e| e.name).collect();
    out(UiMsg::Accounts { names, open_elsewhere });
}

fn talk_item(view: TalkView) -> TalkItem {
    TalkItem { local: (view.last_dt > 0).then(|| crate::util::local_time(view.last_dt)), view }
}

/// What a session needs to start tasks that report back.
struct Tasks {
    out: Out,
    commands: mpsc::UnboundedSender<UiCmd>,
    /// Native file dialogs are worth trying.
    dialogs: Arc<std::sync::atomic::AtomicBool>,
    /// What the window may use of the desktop.
    desktop: Desktop,
}

impl Session {
    async fn handle(&mut self, cmd: UiCmd, tasks: &Tasks) {
        let out = &tasks.out;
        match cmd {
            UiCmd::OpenTalk(chat) => {
                self.open = Some(chat);
                // Where the "unread messages" line goes, found before the talk counts as read.
                let unread = self.read.talk(chat).ok().flatten().map_or(0, |t| t.unread);
                let first = self.read.first_unread(chat, unread).ok().flatten();
                out(UiMsg::FirstUnread { chat, id: first });
                if let Err(e) = self.client.mark_read(chat).await {
                    out(client_error(e));
                }
                self.send_page(out, chat, None);
                if let Ok(Some(view)) = self.read.talk(chat) {
                    out(UiMsg::TalkChanged(talk_item(view)));
                }
            }
            UiCmd::OpenAt { chat, id } => {
                self.open = Some(chat);
                if let Err(e) = self.client.mark_read(chat).await {
                    out(client_error(e));
                }
                self.send_rows(out, chat, PageKind::Around(id), self.read.page_around(chat, id, PAGE));
                if let Ok(Some(view)) = self.read.talk(chat) {
                    out(UiMsg::TalkChanged(talk_item(view)));
                }
            }
            UiCmd::CloseTalk => self.open = None,
            UiCmd::ChangeTalk { chat, change } => {
                if let Err(e) = self.client.change_talk(chat, change).await {
                    out(client_error(e));
                }
                if let Ok(Some(view)) = self.read.talk(chat) {
                    out(UiMsg::TalkChanged(talk_item(view)));
                }
            }
            UiCmd::LoadOlder { chat, before } => self.send_page(out, chat, Some(before)),
            UiCmd::LoadNewer { chat, after } => {
                self.send_rows(out, chat, PageKind::Newer(after), self.read.page_after(chat, after, PAGE))
            }
            UiCmd::Search { chat, query } => match self.read.search(Some(chat), &query, SEARCH_LIMIT) {
                Ok(rows) => {
                    let rows = rows.into_iter().map(MessageItem::of).collect();
                    out(UiMsg::SearchResults { chat, query, rows });
                }
                Err(e) => out(client_error(e.into())),
            },
            UiCmd::SendText { chat, text, reply_to } => {
                if let Err(e) = self.client.send_reply(chat, text, reply_to).await {
                    out(client_error(e));
                }
            }
            UiCmd::Act(action) => {
                if let Err(e) = self.client.act(action).await {
                    out(client_error(e));
                }
            }
            UiCmd::Typing { chat, on } => self.client.typing(chat, on),
            UiCmd::Forward { hash, to } => {
                let to = to.into_iter().map(crate::app::To::Chat).collect();
                if let Err(e) = self.client.forward(hash, to).await {
                    out(client_error(e));
                }
            }
            UiCmd::SetPrivacy { read_receipts, typing } => {
                if let Err(e) = self.client.set_privacy(read_receipts, typing).await {
                    out(client_error(e));
                }
                self.send_privacy(out);
            }
            UiCmd::RenameFriend { peer, name } => {
                if let Err(e) = self.client.add_friend(peer, name.trim().to_string()).await {
                    out(client_error(e));
                }
                self.send_talks(out);
            }
            UiCmd::SetBlocked { peer, blocked } => {
                if let Err(e) = self.client.set_blocked(peer, blocked).await {
                    out(client_error(e));
                }
                self.send_talks(out);
            }
            UiCmd::RemoveFriend(peer) => {
                if let Err(e) = self.client.remove_friend(peer).await {
                    out(client_error(e));
                }
                self.send_talks(out);
            }
            UiCmd::AddFriend { input, name } => match parse_contact(&input) {
                Err(e) => out(UiMsg::FriendError(UiError::Other(e.to_string()))),
                Ok(c) if c.address == self.me => {
                    out(UiMsg::FriendError(UiError::Other("that is your own address".into())))
                }
                Ok(c) => {
                    let name = if name.trim().is_empty() { c.name.unwrap_or_default() } else { name.trim().into() };
                    match self.client.add_friend(c.address, name).await {
                        Ok(chat) => {
                            out(UiMsg::FriendAdded(chat));
                            self.send_talks(out);
                        }
                        Err(e) => out(UiMsg::FriendError(UiError::Client(Arc::new(e)))),
                    }
                }
            },
            UiCmd::Accept(file) => {
                if let Err(e) = self.client.accept(file).await {
                    out(client_error(e));
                }
            }
            UiCmd::Retry(file) => {
                if let Err(e) = self.client.retry(file).await {
                    out(client_error(e));
                }
            }
            UiCmd::AttachFile(chat) => {
                let (commands, out, dialogs) = (tasks.commands.clone(), out.clone(), tasks.dialogs.clone());
                tokio::spawn(async move {
                    match pick(&dialogs, rfd::AsyncFileDialog::new().pick_file()).await {
                        Picked::File(file) => {
                            let _ = commands.send(UiCmd::SendFiles { chat, paths: vec![file] });
                        }
                        Picked::Unavailable => out(UiMsg::AskPath(chat)),
                        Picked::Cancelled => {}
                    }
                });
            }
            UiCmd::SendFiles { chat, paths } => {
                let (client, out) = (self.client.clone(), out.clone());
                tokio::spawn(async move { send_files(&client, &out, chat, paths).await });
            }
            UiCmd::PasteImage { chat, image, caption } => {
                let (client, out) = (self.client.clone(), out.clone());
                tokio::spawn(async move {
                    match tokio::task::spawn_blocking(move || pasted_to_file(&image)).await {
                        Ok(Ok(path)) => {
                            if let Err(e) = client.send_file(chat, path.clone(), caption, None).await {
                                out(client_error(e));
                            }
                            // The object store holds it (encrypted) now; leave no clear copy behind.
                            remove_pasted(&path);
                        }
                        Ok(Err(e)) => out(UiMsg::Error(UiError::Other(e))),
                        Err(e) => out(UiMsg::Error(UiError::Other(e.to_string()))),
                    }
                });
            }
            UiCmd::SaveFile { file, name } => {
                let (objects, out, dialogs) = (self.client.objects().clone(), out.clone(), tasks.dialogs.clone());
                let downloads = tasks.desktop.downloads.clone().unwrap_or_else(downloads_dir);
                tokio::spawn(async move {
                    let dialog = rfd::AsyncFileDialog::new().set_file_name(crate::objects::sanitize_file_name(&name));
                    let r = match pick(&dialogs, dialog.save_file()).await {
                        Picked::Cancelled => return,
                        Picked::File(dest) => {
                            tokio::task::spawn_blocking(move || {
                                objects.export_to(&file, &dest).map(|()| Notice::Saved(dest))
                            })
                            .await
                        }
                        // Saved where people look for what they downloaded, and said where.
                        Picked::Unavailable => {
                            tokio::task::spawn_blocking(move || {
                                let dir = downloads;
                                crate::fsutil::create_private_dir(&dir)
                                    .map_err(crate::objects::ObjectError::from)
                                    .and_then(|()| objects.save_as(&file, &dir, &name))
                                    .map(Notice::SavedToDownloads)
                            })
                            .await
                        }
                    };
                    out(match r {
                        Ok(Ok(notice)) => UiMsg::Notice(notice),
                        Ok(Err(e)) => client_error(e.into()),
                        Err(e) => UiMsg::Error(UiError::Other(e.to_string())),
                    });
                });
            }
            UiCmd::OpenFile { file, name } => {
                let Some(opened) = self.opened.clone() else {
                    out(UiMsg::Error(UiError::Other("no private temporary folder".into())));
                    return;
                };
                let (objects, out, may_open) = (self.client.objects().clone(), out.clone(), tasks.desktop.open_files);
                tokio::task::spawn_blocking(move || match objects.save_as(&file, opened.dir(), &name) {
                    // The system's handler for the file type (ShellExecute, `open`, xdg-open...).
                    Ok(path) => {
                        if !may_open || open::that_detached(&path).is_err() {
                            out(UiMsg::Notice(Notice::NoOpener(path)));
                        }
                    }
                    Err(e) => out(client_error(e.into())),
                });
            }
            UiCmd::View(file) => match self.read.viewer_source(&file) {
                Ok(Some((source, gif))) => {
                    let (objects, out) = (self.client.objects().clone(), out.clone());
                    tokio::task::spawn_blocking(move || {
                        out(match super::media::load_for_viewer(&objects, source, gif, file) {
                            Ok(v) => UiMsg::Viewer(v),
                            Err(e) => UiMsg::Error(UiError::Other(e.to_string())),
                        });
                    });
                }
                Ok(None) => out(UiMsg::Error(UiError::Other("no such file".into()))),
                Err(e) => out(client_error(e.into())),
            },
            UiCmd::OpenBackup => send_backup_settings(&self.client, out).await,
            UiCmd::ConfigureBackup { schedule, folder, keep } => {
                match self.client.backups().configure(schedule, folder, keep).await {
                    Ok(Some(p)) => out(UiMsg::BackupPassphrase(Password::new(p.to_string()))),
                    Ok(None) => {}
                    Err(e) => out(UiMsg::Backup(BackupEvent::Failed { reason: e.to_string() })),
                }
                send_backup_settings(&self.client, out).await;
            }
            UiCmd::BackupNow => match self.client.backups().back_up_now().await {
                Ok(made) => {
                    if let Some(p) = made {
                        out(UiMsg::BackupPassphrase(Password::new(p.to_string())));
                    }
                }
                Err(e) => out(UiMsg::Backup(BackupEvent::Failed { reason: e.to_string() })),
            },
            UiCmd::RenewBackupPassphrase => match self.client.backups().renew_passphrase().await {
                Ok(p) => out(UiMsg::BackupPassphrase(Password::new(p.to_string()))),
                Err(e) => out(UiMsg::Backup(BackupEvent::Failed { reason: e.to_string() })),
            },
            UiCmd::Login { .. }
            | UiCmd::Create { .. }
            | UiCmd::PickImport
            | UiCmd::PickRestore
            | UiCmd::Restore { .. }
            | UiCmd::PickBackupFolder
            | UiCmd::Import { .. }
            | UiCmd::Focused(_)
            | UiCmd::Quit
            | UiCmd::SaveSettings(_) => {}
        }
    }

    fn send_talks(&self, out: &Out) {
        match self.read.talks() {
            Ok(talks) => out(UiMsg::Talks(talks.into_iter().map(talk_item).collect())),
            Err(e) => out(client_error(e.into())),
        }
        self.send_requests_dropped(out);
        self.send_privacy(out);
    }

    /// Sends the account's privacy settings (read receipts, typing indicators).
    fn send_privacy(&self, out: &Out) {
        let db = self.read.db();
        out(UiMsg::Privacy {
            read_receipts: db.read_receipts().unwrap_or(true),
            typing: db.typing_indicators().unwrap_or(true),
        });
    }

    fn send_requests_dropped(&self, out: &Out) {
        if let Ok(n) = self.read.requests_dropped() {
            out(UiMsg::RequestsDropped(n));
        }
    }

    fn send_page(&self, out: &Out, chat: ChatId, before: Option<i64>) {
        let kind = before.map_or(PageKind::Newest, PageKind::Older);
        self.send_rows(out, chat, kind, self.read.page(chat, before, PAGE));
    }

    fn send_rows(
        &self,
        out: &Out,
        chat: ChatId,
        kind: PageKind,
        rows: Result<Vec<MessageView>, crate::store::StoreError>,
    ) {
        match rows {
            Ok(rows) => {
                let rows = rows.into_iter().map(MessageItem::of).collect();
                out(UiMsg::Page { chat, rows, kind });
            }
            Err(e) => out(client_error(e.into())),
        }
    }

    /// A desktop notification for a new incoming message while the window is not focused.
    /// Shows a desktop notification for a new message; where the desktop reports clicks
    /// (freedesktop notifications), a click opens its talk and raises the window.
    fn notify(&self, hash: &MessageHash, out: &Out) {
        let Ok(Some(view)) = self.read.message(hash) else { return };
        let Ok(Some(talk)) = self.read.talk(view.chat) else { return };
        let Some((title, body)) = notification(&view, &talk, self.notify_content) else { return };
        let (chat, out) = (view.chat, out.clone());
        tokio::task::spawn_blocking(move || {
            let mut n = notify_rust::Notification::new();
            n.appname("WoChat").summary(&title).body(&body);
            #[cfg(all(unix, not(target_os = "macos")))]
            {
                use std::sync::atomic::Ordering;
                // Waiting for a click holds a thread until the notification is gone: a few at
                // most; beyond them, notifications are shown without it.
                if WAITING_CLICKS.fetch_add(1, Ordering::SeqCst) < MAX_WAITING_CLICKS {
                    n.action("default", super::i18n::tr("Open"));
                    if let Ok(handle) = n.show() {
                        handle.wait_for_action(|action| {
                            if action == "default" {
                                out(UiMsg::OpenChat(chat));
                            }
                        });
                    }
                    WAITING_CLICKS.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                WAITING_CLICKS.fetch_sub(1, Ordering::SeqCst);
            }
            let _ = (&out, chat);
            // No notification service (a bare X server, a locked-down desktop): nothing to do.
            let _ = n.show();
        });
    }
}

/// Notifications whose click is being waited for.
#[cfg(all(unix, not(target_os = "macos")))]
static WAITING_CLICKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// At most this many notifications wait for a click at once.
#[cfg(all(unix, not(target_os = "macos")))]
const MAX_WAITING_CLICKS: usize = 8;

/// The title and text of the notification for a new message `view` of `talk`, if it gets
/// one: not for one's own messages, a blocked sender or a muted talk; the text says only
/// "New message" when notifications are not to show what messages say.
fn notification(view: &MessageView, talk: &TalkView, show_content: bool) -> Option<(String, String)> {
    if view.outgoing || talk.blocked || talk.state.muted {
        return None;
    }
    let body = if show_content { view.preview() } else { super::i18n::tr("New message").to_string() };
    Some((talk.name.clone(), body))
}

/// Sends the backup settings (the backup window shows them).
async fn send_backup_settings(client: &Client, out: &Out) {
    match client.backups().settings().await {
        Ok(s) => out(UiMsg::BackupSettings(Box::new(s))),
        Err(e) => out(client_error(e)),
    }
}

/// Sends files one after another (each is imported off the async threads).
async fn send_files(client: &Client, out: &Out, chat: ChatId, paths: Vec<PathBuf>) {
    for path in paths {
        if let Err(e) = client.send_file(chat, path, None, None).await {
            out(client_error(e));
        }
    }
}

/// The private temporary folder of this process's pasted pictures.
fn paste_dir() -> PathBuf {
    std::env::temp_dir().join(format!("wochat-paste-{}", std::process::id()))
}

/// Writes a pasted picture to a private temporary PNG, to send like a file. Each paste has a
/// folder of its own: two pasted within the same second have the same name.
fn pasted_to_file(image: &egui::ColorImage) -> Result<PathBuf, String> {
    static PASTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_srgba_unmultiplied()).collect();
    let rgba = image::RgbaImage::from_raw(w as u32, h as u32, bytes).ok_or("the pasted picture is malformed")?;
    crate::fsutil::create_private_dir(&paste_dir()).map_err(|e| e.to_string())?;
    let dir = paste_dir().join(PASTES.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string());
    crate::fsutil::create_private_dir(&dir).map_err(|e| e.to_string())?;
    // The name the receiver sees (and saves under): when it was pasted.
    let now = jiff::Zoned::now();
    let path = dir.join(format!("picture-{}.png", now.strftime("%Y-%m-%d-%H%M%S")));
    rgba.save_with_format(&path, image::ImageFormat::Png).map_err(|e| {
        remove_pasted(&path);
        e.to_string()
    })?;
    Ok(path)
}

/// Removes a pasted picture's file and its folder, and the process's folder once empty (one
/// still sending keeps it).
fn remove_pasted(path: &Path) {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    let _ = std::fs::remove_dir(paste_dir());
}

/// What a native file dialog gave.
enum Picked {
    /// A path.
    File(PathBuf),
    /// The user cancelled it.
    Cancelled,
    /// No dialog works here (or none may be tried).
    Unavailable,
}

/// Runs a native file dialog, unless one already failed to open; one that comes back empty at
/// once did not open (rfd only logs why), and none is tried again.
async fn pick(
    dialogs: &std::sync::atomic::AtomicBool,
    dialog: impl std::future::Future<Output = Option<rfd::FileHandle>>,
) -> Picked {
    use std::sync::atomic::Ordering;
    if !dialogs.load(Ordering::Relaxed) {
        return Picked::Unavailable;
    }
    let asked = std::time::Instant::now();
    match dialog.await {
        Some(f) => Picked::File(f.path().to_path_buf()),
        None if asked.elapsed() < DIALOG_FAILED_WITHIN => {
            dialogs.store(false, Ordering::Relaxed);
            Picked::Unavailable
        }
        None => Picked::Cancelled,
    }
}

/// The user's downloads folder (their home when the system names none).
fn downloads_dir() -> PathBuf {
    let dirs = directories::UserDirs::new();
    dirs.as_ref()
        .and_then(|d| d.download_dir().map(PathBuf::from))
        .or_else(|| dirs.as_ref().map(|d| d.home_dir().join("Downloads")))
        .unwrap_or_else(|| PathBuf::from("Downloads"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::read::{MessageView, TalkView};
    use crate::store::{ChatKind, TalkState};
    use crate::wire::MessageKind;

    fn views(outgoing: bool) -> (MessageView, TalkView) {
        let peer = crate::crypto::Identity::from_secret_bytes(&[5; 32]).unwrap().address();
        let view = MessageView {
            id: 1,
            chat: ChatId(1),
            hash: MessageHash::of(b"x"),
            dt: 0,
            ord: 0,
            outgoing,
            from: peer,
            to: peer,
            kind: MessageKind::Text,
            stat: MessageStatus::Confirmed,
            text: Some("the secret plan".into()),
            attachment: None,
            reply_to: None,
            reactions: Vec::new(),
            edited: 0,
            earlier_texts: Vec::new(),
            deleted: false,
            read: false,
        };
        let talk = TalkView {
            chat: ChatId(1),
            kind: ChatKind::Direct(peer),
            name: "Bob".into(),
            preview: String::new(),
            last_dt: 0,
            unread: 1,
            request: false,
            claimed_name: None,
            friend: true,
            blocked: false,
            state: TalkState::default(),
        };
        (view, talk)
    }

    #[test]
    fn notifications_name_the_sender_and_show_the_text_only_when_allowed() {
        let (view, mut talk) = views(false);
        assert_eq!(notification(&view, &talk, true), Some(("Bob".into(), "the secret plan".into())));
        assert_eq!(notification(&view, &talk, false), Some(("Bob".into(), "New message".into())));
        talk.state.muted = true;
        assert_eq!(notification(&view, &talk, true), None, "muted");
        talk.state.muted = false;
        talk.blocked = true;
        assert_eq!(notification(&view, &talk, true), None, "blocked");
        let (own, talk) = views(true);
        assert_eq!(notification(&own, &talk, true), None, "one's own");
    }
}
