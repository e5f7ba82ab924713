//! The desktop app (eframe/egui). Widgets send commands to the core's [`backend`] and draw
//! what it reports; nothing here blocks or touches SQLite, crypto or the network.

pub mod backend;
pub mod backup;
mod bubble;
mod chat;
mod fonts;
pub mod i18n;
mod identicon;
mod login;
pub mod media;
mod opened;
mod profile;
pub mod renderer;
mod settings;
mod switcher;
pub mod tray;

use std::sync::Arc;

use eframe::egui;

use crate::crypto::password::Password;

use crate::app::ConnState;
use crate::crypto::Address;
use crate::home::Home;
use crate::store::{ChatId, TalkChange};
use crate::wire::MessageHash;
pub use backend::Desktop;
use backend::{Backend, MessageItem, PageKind, TalkItem, UiCmd, UiError, UiMsg};

/// Runs the desktop app on `home` until the window is closed; `broker_urls` (from `--broker`
/// or `WOCHAT_BROKER`) replace the configured brokers. The renderers are tried in turn until
/// one opens the window (`WOCHAT_RENDERER` or `ui.renderer` forces one); which one did is
/// logged and shown in Settings → About.
pub fn run(home: Home, broker_urls: Vec<String>) -> anyhow::Result<()> {
    // macOS shows a notification as coming from the app whose bundle id it names (the .app of
    // scripts/package-macos); without one, mac-notification-sys falls back to Terminal's.
    #[cfg(target_os = "macos")]
    let _ = notify_rust::set_application(MACOS_BUNDLE_ID);
    let desktop = Desktop { broker_urls, ..Desktop::default() };
    let setting = crate::config::Config::load(&home.config_path()).map(|c| c.ui.renderer).unwrap_or_default();
    let env = std::env::var("WOCHAT_RENDERER").ok();
    if let Some(e) =
        env.as_deref().filter(|e| !crate::config::RENDERERS.contains(&e.trim().to_ascii_lowercase().as_str()))
    {
        eprintln!(
            "wochat: WOCHAT_RENDERER={e:?} is not one of {}; trying them all",
            crate::config::RENDERERS.join(", ")
        );
    }
    let mut failures = Vec::new();
    for (attempt, renderer) in renderer::to_try(env.as_deref(), &setting).into_iter().enumerate() {
        let mut options = eframe::NativeOptions {
            viewport: egui::ViewportBuilder::default()
                .with_inner_size([960.0, 680.0])
                .with_min_inner_size([MIN_WIDTH, MIN_HEIGHT])
                // The taskbar and window switcher show it; Wayland compositors find the
                // installed icon through the app id (the .desktop file's name).
                .with_app_id("wochat")
                .with_icon(app_icon()),
            persist_window: true,
            // Window size and panel widths live with the data home (not in one per-user file
            // that every home and test would share).
            persistence_path: Some(home.root().join("window.ron")),
            ..Default::default()
        };
        // A test's stand-in for a driver that fails: the first choice finds no GPU.
        renderer.apply(&mut options, attempt == 0 && crate::fault::armed("renderer-fails"));
        let (home, desktop) = (home.clone(), desktop.clone());
        let opened = eframe::run_native(
            "WoChat",
            options,
            Box::new(move |cc| {
                eprintln!("wochat: window open, renderer {}", renderer.describe());
                let ctx = cc.egui_ctx.clone();
                let mut app = WoChatApp::with_desktop(home, desktop, Arc::new(move || ctx.request_repaint()))?;
                app.renderer = renderer;
                if let Some(width) = cc.storage.and_then(|s| s.get_string(TALKS_WIDTH_KEY)).and_then(|w| w.parse().ok())
                {
                    app.talks_width = width;
                }
                Ok(Box::new(app))
            }),
        );
        match opened {
            Ok(()) => return Ok(()),
            Err(e) => {
                eprintln!("wochat: renderer {} failed: {e}", renderer.describe());
                failures.push(format!("{}: {e}", renderer.describe()));
            }
        }
    }
    anyhow::bail!("cannot open the window with any renderer ({})", failures.join("; "))
}

/// The app icon (assets/icons; scripts/make-icons.py draws it).
fn app_icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icons/wochat-256.png")).unwrap_or_default()
}

/// The bundle identifier of the macOS app (packaging/macos/Info.plist says the same).
#[cfg(target_os = "macos")]
const MACOS_BUNDLE_ID: &str = "org.wochat.WoChat";

/// The smallest window: a narrow one shows the talk list or the conversation, not both.
const MIN_WIDTH: f32 = 400.0;
/// The lowest window (the conversation keeps a few rows above the composer).
const MIN_HEIGHT: f32 = 400.0;

/// Where the talk list's width is kept in eframe's storage (`window.ron`).
const TALKS_WIDTH_KEY: &str = "talks_width";

/// Which screen is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Pick an account and log in (or create one).
    Login,
    /// Talks and a conversation.
    Main,
}

/// Login screen state.
#[derive(Debug, Default)]
pub struct LoginState {
    /// Account names for the dropdown.
    pub accounts: Vec<String>,
    /// Accounts open in another window when the list was read.
    pub open_elsewhere: Vec<String>,
    /// The chosen name.
    pub selected: String,
    /// Typed password.
    pub password: Password,
    /// Argon2 running.
    pub busy: bool,
    /// Inline error.
    pub error: Option<String>,
    /// The create-account form is shown.
    pub creating: bool,
    /// New account's name.
    pub new_name: String,
    /// New password.
    pub new_password: Password,
    /// Repeated.
    pub new_password2: Password,
    /// An export file picked for import.
    pub import: Option<std::path::PathBuf>,
    /// No file dialog works: the export file's path is typed here.
    pub import_path: Option<String>,
    /// Its password.
    pub import_password: Password,
    /// The restore form, when shown.
    pub restore: Option<RestoreForm>,
}

/// Restoring an account from a backup (login window).
#[derive(Debug, Default)]
pub struct RestoreForm {
    /// The backup file, once picked (or typed where no dialog works).
    pub path: String,
    /// Its passphrase.
    pub passphrase: Password,
    /// Replace an account of the same address in this home.
    pub replace: bool,
    /// A restore is running.
    pub busy: bool,
    /// Why the last one failed.
    pub error: Option<String>,
}

/// Main screen state.
pub struct ChatState {
    /// Own name and address.
    pub me: (String, Address),
    /// The talk list.
    pub talks: Vec<TalkItem>,
    /// The talk filter.
    pub filter: String,
    /// Messages from strangers dropped to keep requests within their limits (shown with them).
    pub requests_dropped: u64,
    /// The open conversation.
    pub open: Option<ChatId>,
    /// Loaded messages of the open talk, oldest first.
    pub messages: Vec<MessageItem>,
    /// Whether older pages may exist.
    pub has_older: bool,
    /// An older page was asked for.
    pub loading_older: bool,
    /// Newer messages exist than those loaded (the talk was opened at a search result).
    pub has_newer: bool,
    /// A newer page was asked for.
    pub loading_newer: bool,
    /// Bring this message (row id) into view (until it is, with the rows' real heights).
    pub scroll_to: Option<i64>,
    /// Frames spent so far bringing it into view.
    pub scroll_frames: u32,
    /// The message shown highlighted (opened from a search result).
    pub highlight: Option<i64>,
    /// The composer's text.
    pub composer: String,
    /// The composer's text field height last frame (with its margin).
    pub composer_height: f32,
    /// Connection state and broker.
    /// The connection's state, broker and what to say about it (MQTT version, reasons).
    pub connection: (ConnState, String, Option<String>),
    /// A friend to remove once the user confirms (address and name).
    pub confirm_remove: Option<(Address, String)>,
    /// The add-friend dialog, when open.
    pub add_friend: Option<AddFriendState>,
    /// Errors to show (newest last).
    pub errors: Vec<UiError>,
    /// Focus the filter box next frame.
    pub focus_filter: bool,
    /// Focus the composer next frame (a talk was opened: the user can type at once).
    pub focus_composer: bool,
    /// The profile pane, when open.
    pub profile: Option<ProfileState>,
    /// Preview textures, by file id (uploaded once, when first drawn).
    pub previews: std::collections::HashMap<crate::objects::ObjectId, egui::TextureHandle>,
    /// The picture viewer, when open.
    pub viewer: Option<ViewerState>,
    /// A pasted picture waiting for Send or Cancel.
    pub paste: Option<PastePreview>,
    /// No file dialog works: the path of a file to send is typed here.
    pub path_prompt: Option<PathPrompt>,
    /// A short note (file saved).
    pub notice: Option<backend::Notice>,
    /// Heights of the rows drawn so far (bubble and gap), by message id.
    pub measured: std::collections::HashMap<i64, f32>,
    /// The conversation's width those heights were measured at.
    pub measured_width: f32,
    /// Top of the conversation's viewport last frame.
    pub scroll_y: f32,
    /// Scroll to the newest row next frame (the user sent something).
    pub scroll_to_newest: bool,
    /// Older rows prepended since the last frame (to keep the view where it was).
    pub prepended: usize,
    /// Searching the open talk, when the search bar is shown.
    pub search: Option<SearchState>,
    /// Where the "unread messages" line stands in the open talk (a row id), if anywhere.
    pub first_unread: Option<i64>,
    /// The "unread messages" line was in view last frame (no button is needed to reach it).
    pub unread_line_shown: bool,
    /// The composer's text as last kept as the open talk's draft.
    pub draft_saved: String,
    /// When (egui's clock, s) the composer last changed without the draft being kept since.
    pub draft_edited: Option<f64>,
    /// The archived talks are shown.
    pub show_archived: bool,
    /// The conversation shows its newest row.
    pub at_bottom: bool,
    /// Commands the state itself makes (a draft kept on the way to another talk), sent with
    /// the frame's others.
    pub outbox: Vec<UiCmd>,
    /// Talks whose peer types, until when.
    pub typing: std::collections::HashMap<ChatId, std::time::Instant>,
    /// The message the composer replies to.
    pub replying: Option<crate::app::read::MessageView>,
    /// The own message the composer edits (its text is in the composer).
    pub editing: Option<MessageHash>,
    /// When this window last told the open talk's peer that the user types.
    pub typing_sent: Option<std::time::Instant>,
    /// The account's read receipts and typing indicators settings.
    pub privacy: (bool, bool),
    /// The quick switcher (Ctrl+K), when open.
    pub switcher: Option<switcher::Switcher>,
    /// The "Forward to" dialog, when open.
    pub forward: Option<switcher::ForwardState>,
    /// The window is to come to the front (a notification was clicked).
    pub raise: bool,
}

/// The search bar of the open talk and what it found.
#[derive(Debug, Default)]
pub struct SearchState {
    /// What the user typed.
    pub query: String,
    /// The last query sent to the core.
    pub asked: String,
    /// The query `results` answer.
    pub answered: String,
    /// Matches, newest first.
    pub results: Vec<MessageItem>,
    /// Focus the search box next frame.
    pub focus: bool,
}

impl ChatState {
    /// The talk list's line of a conversation.
    pub fn talk(&self, chat: ChatId) -> Option<&TalkItem> {
        self.talks.iter().find(|t| t.view.chat == chat)
    }

    /// Keeps the composer's text as the open talk's draft, if it changed.
    pub fn keep_draft(&mut self) {
        self.draft_edited = None;
        if let Some(open) = self.open
            && self.composer != self.draft_saved
        {
            self.draft_saved = self.composer.clone();
            let text = Some(self.composer.clone()).filter(|t| !t.trim().is_empty());
            self.outbox.push(UiCmd::ChangeTalk { chat: open, change: TalkChange::Draft(text) });
        }
    }

    /// Shows `chat` (empty until its newest page comes) and returns the command that loads it.
    /// The draft of the talk left is kept, and that of `chat` put in the composer.
    pub fn open_talk(&mut self, chat: ChatId) -> UiCmd {
        if self.open != Some(chat) {
            self.keep_draft();
            self.replying = None;
            self.editing = None;
            self.typing_sent = None;
            self.composer = self.talk(chat).and_then(|t| t.view.state.draft.clone()).unwrap_or_default();
            self.draft_saved = self.composer.clone();
            self.first_unread = None;
        }
        self.open = Some(chat);
        self.search = None;
        self.focus_composer = true;
        self.messages.clear();
        self.measured.clear();
        self.has_older = false;
        self.loading_older = false;
        self.has_newer = false;
        self.loading_newer = false;
        self.scroll_to = None;
        self.scroll_frames = 0;
        self.highlight = None;
        UiCmd::OpenTalk(chat)
    }

    /// Shows `chat` at message `id` (a search result), highlighted, and returns the command
    /// that loads the page around it.
    pub fn open_at(&mut self, chat: ChatId, id: i64) -> UiCmd {
        let _ = self.open_talk(chat);
        UiCmd::OpenAt { chat, id }
    }

    /// The talk list's line of the direct conversation with `peer`.
    pub fn talk_with(&self, peer: &Address) -> Option<&TalkItem> {
        self.talks.iter().find(|t| t.view.peer() == Some(*peer))
    }
}

/// A pasted picture, shown with a caption field before it is sent.
pub struct PastePreview {
    /// The conversation it goes to.
    pub chat: ChatId,
    /// The pixels, as the window system handed them over.
    pub image: Arc<egui::ColorImage>,
    /// What the user writes under it.
    pub caption: String,
    /// Its texture (uploaded when first drawn).
    pub texture: Option<egui::TextureHandle>,
    /// Give the caption field the keyboard next frame.
    pub focus: bool,
}

/// Asks for the path of a file to send, where no file dialog works.
#[derive(Debug)]
pub struct PathPrompt {
    /// The conversation it goes to.
    pub chat: ChatId,
    /// What the user typed.
    pub path: String,
    /// Why the last path was refused.
    pub error: Option<String>,
    /// Give the path field the keyboard next frame.
    pub focus: bool,
}

/// The picture viewer: a still image or a GIF playing.
pub struct ViewerState {
    /// What the backend decoded.
    pub viewed: media::Viewed,
    /// The texture on screen (one, updated frame by frame for a GIF).
    pub texture: Option<egui::TextureHandle>,
    /// When the frame on screen has had its time (seconds of egui's clock).
    pub next_due: f64,
    /// Why the animation stopped, if it did.
    pub error: Option<String>,
}

impl ViewerState {
    /// The viewer for what the backend decoded.
    pub fn new(viewed: media::Viewed) -> Self {
        Self { viewed, texture: None, next_due: 0.0, error: None }
    }
}

impl std::fmt::Debug for ViewerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerState").field("file", &self.viewed.file).field("content", &self.viewed.content).finish()
    }
}

/// The profile pane of someone (or of oneself): address, QR code, rename, block, remove.
#[derive(Debug, Clone)]
pub struct ProfileState {
    /// Whose.
    pub peer: Address,
    /// The name being edited.
    pub name: String,
    /// This account's own profile.
    pub own: bool,
}

/// The add-friend dialog.
#[derive(Debug, Default, Clone)]
pub struct AddFriendState {
    /// Address or `wochat:` link.
    pub input: String,
    /// Display name.
    pub name: String,
    /// Inline error.
    pub error: Option<UiError>,
}

/// The application.
pub struct WoChatApp {
    pub(crate) backend: Backend,
    /// The current screen.
    pub screen: Screen,
    /// Login state.
    pub login: LoginState,
    /// Main state (after login).
    pub chat: Option<ChatState>,
    /// The settings in force.
    pub config: crate::config::Config,
    /// The settings window, when open.
    pub settings: Option<settings::SettingsState>,
    /// The backup window, when open.
    pub backup: Option<backup::BackupWindow>,
    title: String,
    theme: Option<crate::config::Theme>,
    first_frame_done: bool,
    focused: Option<bool>,
    /// `WOCHAT_FRAME_STATS` is set: print each frame's CPU time to stderr.
    frame_stats: bool,
    /// The talk list's width (remembered across runs).
    pub talks_width: f32,
    /// Brokers from `--broker` or `WOCHAT_BROKER`, used instead of the configured ones.
    pub broker_override: Vec<String>,
    /// What draws the window (shown in Settings → About).
    pub renderer: renderer::Renderer,
    /// The tray icon, where the desktop has a tray.
    pub tray: Option<tray::Tray>,
    /// A tray icon is to be tried on the first frame.
    want_tray: bool,
    /// Repaints the window (from other threads).
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// "Quit" was chosen in the tray: the window closes for good.
    quitting: bool,
    /// The window is hidden in the tray.
    pub hidden: bool,
    /// The window was last minimized by WoChat (no tray to hide it in, or "Start minimized").
    pub minimized: bool,
    /// The window is to start hidden in the tray (or minimized): done once it is known whether
    /// there is a tray, or after [`TRAY_WAIT`].
    start_minimized: bool,
    /// When the window was made.
    created: std::time::Instant,
}

/// How long "Start minimized" waits to learn whether a tray can hold the window before it
/// minimizes it instead.
const TRAY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl WoChatApp {
    /// Starts the backend on `home` with the configured brokers.
    pub fn new(home: Home, repaint: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Self> {
        Self::with_desktop(home, Desktop::default(), repaint)
    }

    /// Starts the backend on `home` with what it may use of the desktop (non-empty
    /// `desktop.broker_urls` replace the configured brokers).
    pub fn with_desktop(home: Home, desktop: Desktop, repaint: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Self> {
        let broker_override = desktop.broker_urls.clone();
        let want_tray = desktop.tray;
        // Read now: the backend's settings arrive after the first frame.
        let start_minimized = crate::config::Config::load(&home.config_path()).is_ok_and(|c| c.ui.start_minimized);
        let wake = repaint.clone();
        let backend = Backend::start(home, desktop, move || repaint())?;
        Ok(Self {
            backend,
            screen: Screen::Login,
            login: LoginState::default(),
            chat: None,
            config: crate::config::Config::default(),
            settings: None,
            backup: None,
            title: String::new(),
            theme: None,
            first_frame_done: false,
            focused: None,
            frame_stats: std::env::var_os("WOCHAT_FRAME_STATS").is_some(),
            talks_width: 260.0,
            broker_override,
            renderer: renderer::Renderer::Wgpu,
            tray: None,
            want_tray,
            repaint: wake,
            quitting: false,
            hidden: false,
            minimized: false,
            start_minimized,
            created: std::time::Instant::now(),
        })
    }

    /// Applies what the backend reported (called every frame; never blocks).
    pub fn poll_backend(&mut self) {
        while let Ok(msg) = self.backend.messages.try_recv() {
            self.apply(msg);
        }
    }

    /// Takes in a message as if the backend had reported it (what a notification click
    /// reports, in tests).
    pub fn deliver(&mut self, msg: UiMsg) {
        self.apply(msg);
    }

    fn apply(&mut self, msg: UiMsg) {
        match msg {
            UiMsg::Settings(config) => {
                i18n::set(i18n::resolve(&config.ui.language));
                self.config = *config;
                self.settings = None;
            }
            UiMsg::SettingsError(e) => match self.settings.as_mut() {
                Some(s) => {
                    s.saving = false;
                    s.error = Some(e);
                }
                None => self.login.error = Some(e),
            },
            UiMsg::Accounts { names, open_elsewhere } => {
                if self.login.selected.is_empty() || !names.contains(&self.login.selected) {
                    // The first account not open in another window (a second window is
                    // usually opened for another account).
                    let free = names.iter().find(|n| !open_elsewhere.contains(n));
                    self.login.selected = free.or(names.first()).cloned().unwrap_or_default();
                }
                self.login.open_elsewhere = open_elsewhere;
                self.login.creating |= names.is_empty();
                self.login.accounts = names;
            }
            UiMsg::LoginFailed(e) => {
                self.login.busy = false;
                self.login.error = Some(e);
            }
            UiMsg::RestorePicked(path) => {
                let form = self.login.restore.get_or_insert_with(Default::default);
                form.path = path.display().to_string();
                form.error = None;
            }
            UiMsg::AskRestorePath => {
                self.login.restore.get_or_insert_with(Default::default);
            }
            UiMsg::Restored { name, settings_skipped } => {
                self.login.restore = None;
                self.login.error = settings_skipped.map(|reason| {
                    i18n::tr_fill(
                        "Restored. The backup's settings were not: this WoChat cannot read them ({})",
                        &[&reason],
                    )
                });
                self.login.selected = name;
            }
            UiMsg::RestoreFailed(e) => {
                if let Some(form) = self.login.restore.as_mut() {
                    form.busy = false;
                    form.error = Some(e);
                }
            }
            UiMsg::BackupSettings(s) => {
                if let Some(w) = self.backup.as_mut() {
                    w.apply_settings(*s);
                }
            }
            UiMsg::BackupPassphrase(p) => {
                // Shown once, in the backup window (opened for it if it was closed).
                let w = self.backup.get_or_insert_with(Default::default);
                w.passphrase = Some(p);
                w.copied = false;
                self.send(UiCmd::OpenBackup);
            }
            UiMsg::Backup(e) => {
                if let Some(w) = self.backup.as_mut() {
                    w.apply_event(e);
                }
            }
            UiMsg::BackupFolderPicked(path) => {
                if let Some(w) = self.backup.as_mut() {
                    w.folder = path.display().to_string();
                }
            }
            UiMsg::ImportPicked(path) => self.login.import = Some(path),
            UiMsg::AskImportPath => self.login.import_path = Some(String::new()),
            UiMsg::Imported(name) => {
                self.login.busy = false;
                self.login.import = None;
                self.login.selected = name;
            }
            UiMsg::LoggedIn { name, address } => {
                self.login = LoginState::default();
                self.screen = Screen::Main;
                self.chat = Some(ChatState {
                    me: (name, address),
                    talks: Vec::new(),
                    filter: String::new(),
                    requests_dropped: 0,
                    open: None,
                    messages: Vec::new(),
                    has_older: false,
                    loading_older: false,
                    has_newer: false,
                    loading_newer: false,
                    scroll_to: None,
                    scroll_frames: 0,
                    highlight: None,
                    composer: String::new(),
                    composer_height: 0.0,
                    connection: (ConnState::Offline, String::new(), None),
                    confirm_remove: None,
                    add_friend: None,
                    errors: Vec::new(),
                    focus_filter: false,
                    focus_composer: false,
                    profile: None,
                    previews: Default::default(),
                    viewer: None,
                    path_prompt: None,
                    paste: None,
                    notice: None,
                    measured: Default::default(),
                    measured_width: 0.0,
                    scroll_y: 0.0,
                    prepended: 0,
                    scroll_to_newest: false,
                    search: None,
                    first_unread: None,
                    unread_line_shown: false,
                    draft_saved: String::new(),
                    draft_edited: None,
                    show_archived: false,
                    at_bottom: true,
                    outbox: Vec::new(),
                    typing: Default::default(),
                    replying: None,
                    editing: None,
                    typing_sent: None,
                    privacy: (true, true),
                    switcher: None,
                    forward: None,
                    raise: false,
                });
            }
            other => {
                if let Some(chat) = self.chat.as_mut() {
                    chat.apply(other);
                }
            }
        }
    }

    /// Sends a command to the core.
    pub fn send(&self, cmd: UiCmd) {
        self.backend.send(cmd);
    }

    /// The window title: the account name and the unread total (windows side by side must be
    /// told apart).
    pub fn window_title(&self) -> String {
        match &self.chat {
            Some(c) => {
                // Muted talks are left out of the total, as from notifications.
                let unread: u64 = c.talks.iter().filter(|t| !t.view.state.muted).map(|t| t.view.unread).sum();
                if unread > 0 { format!("{} ({unread}) — WoChat", c.me.0) } else { format!("{} — WoChat", c.me.0) }
            }
            None => "WoChat".into(),
        }
    }

    /// Uses `tray` as the tray icon (tests: [`tray::Tray::fake`]).
    pub fn set_tray(&mut self, tray: tray::Tray) {
        self.tray = Some(tray);
    }

    /// Hides the window in the tray, or minimizes it without one (or where a window cannot
    /// be hidden: Wayland).
    fn hide(&mut self, ctx: &egui::Context) {
        let wayland = cfg!(all(unix, not(target_os = "macos"))) && std::env::var_os("WAYLAND_DISPLAY").is_some();
        if self.tray.as_ref().is_some_and(tray::Tray::shown) && !wayland {
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
            self.hidden = true;
        } else {
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
            self.minimized = true;
        }
    }

    /// Shows the window again and brings it to the front.
    fn show(&mut self, ctx: &egui::Context) {
        self.hidden = false;
        self.minimized = false;
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
    }

    /// The tray: its unread count, what it asked, and closing the window to it.
    fn tray_ui(&mut self, ctx: &egui::Context) {
        let unread = self.unread_total();
        let mut events = Vec::new();
        if let Some(t) = self.tray.as_mut() {
            t.set_unread(unread);
            events = t.events();
        }
        for e in events {
            match e {
                tray::TrayEvent::Show => self.show(ctx),
                tray::TrayEvent::Quit => {
                    self.quitting = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
        let close = ctx.input(|i| i.viewport().close_requested());
        let to_tray = self.config.ui.close_to_tray && self.tray.as_ref().is_some_and(tray::Tray::shown);
        if close && to_tray && !self.quitting {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            // What is typed is kept, as on a real close.
            if let Some(chat) = self.chat.as_mut() {
                chat.keep_draft();
            }
            self.hide(ctx);
        }
    }

    /// Hides (or minimizes) the window that is to start so, once it is known whether a tray
    /// can hold it.
    fn minimize_at_start(&mut self, ctx: &egui::Context) {
        if !self.start_minimized {
            return;
        }
        let waiting = self.tray.as_mut().is_some_and(tray::Tray::starting) && self.created.elapsed() < TRAY_WAIT;
        if waiting {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
            return;
        }
        self.start_minimized = false;
        self.hide(ctx);
    }

    /// Unread messages of the talks that are not muted.
    fn unread_total(&self) -> u64 {
        self.chat.as_ref().map_or(0, |c| c.talks.iter().filter(|t| !t.view.state.muted).map(|t| t.view.unread).sum())
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if !std::mem::replace(&mut self.first_frame_done, true) {
            fonts::install(ui.ctx());
            // A steady text cursor: a blinking one repaints the window twice a second for as
            // long as a field has focus (the composer does whenever a talk is open).
            ui.ctx().all_styles_mut(|s| s.visuals.text_cursor.blink = false);
            // The tray needs the window's event loop running (macOS, Windows).
            if self.want_tray {
                self.tray = Some(tray::Tray::start(self.repaint.clone()));
            }
        }
        self.minimize_at_start(ui.ctx());
        self.poll_backend();
        self.tray_ui(ui.ctx());
        let title = self.window_title();
        if title != self.title {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
        if self.theme != Some(self.config.ui.theme) {
            self.theme = Some(self.config.ui.theme);
            ui.ctx().set_theme(match self.config.ui.theme {
                crate::config::Theme::System => egui::ThemePreference::System,
                crate::config::Theme::Light => egui::ThemePreference::Light,
                crate::config::Theme::Dark => egui::ThemePreference::Dark,
            });
        }
        if let Some(chat) = self.chat.as_mut()
            && std::mem::take(&mut chat.raise)
        {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Visible(true));
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Minimized(false));
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Focus);
        }
        let focused = ui.input(|i| i.focused);
        if self.focused != Some(focused) {
            self.focused = Some(focused);
            self.send(UiCmd::Focused(focused));
        }
        if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            // Esc closes the topmost window or dialog, and does nothing else.
            let backup_closed = self.backup.as_ref().is_some_and(|w| w.passphrase.is_none());
            if backup_closed {
                self.backup = None;
            } else if self.settings.take().is_none()
                && let Some(chat) = self.chat.as_mut()
            {
                chat::close_topmost(chat);
            }
        }
        match self.screen {
            Screen::Login => login::login_ui(self, ui),
            Screen::Main => chat::main_ui(self, ui),
        }
        if let Some(s) = self.settings.as_mut() {
            let mut cmds = Vec::new();
            let close = settings::settings_ui(s, ui.ctx(), &mut cmds);
            if std::mem::take(&mut s.open_backup) && self.backup.is_none() {
                self.backup = Some(backup::BackupWindow::default());
                cmds.push(UiCmd::OpenBackup);
            }
            if close {
                self.settings = None;
            }
            for c in cmds {
                self.send(c);
            }
        }
        if let Some(w) = self.backup.as_mut() {
            let mut cmds = Vec::new();
            // A passphrase not yet confirmed as written down keeps the window open.
            if backup::backup_ui(w, ui.ctx(), &mut cmds) && w.passphrase.is_none() {
                self.backup = None;
            }
            for c in cmds {
                self.send(c);
            }
        }
    }
}

impl ChatState {
    fn apply(&mut self, msg: UiMsg) {
        match msg {
            UiMsg::Talks(t) => self.talks = t,
            UiMsg::RequestsDropped(n) => self.requests_dropped = n,
            UiMsg::TalkChanged(item) => {
                self.talks.retain(|t| t.view.chat != item.view.chat);
                // Pinned first (the last pinned on top), then the newest activity; friends
                // without messages last: the order of the core's list.
                let key = |t: &TalkItem| (t.view.state.pinned, t.view.last_dt, t.view.chat);
                let at = self.talks.iter().position(|t| key(t) < key(&item)).unwrap_or(self.talks.len());
                self.talks.insert(at, item);
            }
            UiMsg::FirstUnread { chat, id } => {
                if self.open == Some(chat) {
                    self.first_unread = id;
                }
            }
            UiMsg::Page { chat, rows, kind } => {
                if Some(chat) != self.open {
                    return;
                }
                let full = rows.len() >= backend::PAGE;
                match kind {
                    // A page asked for from another position (before a jump to a search
                    // result) does not join what is shown.
                    PageKind::Older(before) => {
                        if self.messages.first().map(|m| m.view.id) != Some(before) {
                            return;
                        }
                        self.loading_older = false;
                        self.has_older = full;
                        let mut rows = rows;
                        self.prepended += rows.len();
                        rows.extend(std::mem::take(&mut self.messages));
                        self.messages = rows;
                    }
                    PageKind::Newer(after) => {
                        if self.messages.last().map(|m| m.view.id) != Some(after) {
                            return;
                        }
                        self.loading_newer = false;
                        self.has_newer = full;
                        self.messages.extend(rows);
                    }
                    PageKind::Newest => {
                        self.has_older = full;
                        self.has_newer = false;
                        self.messages = rows;
                    }
                    PageKind::Around(id) => {
                        let before = rows.iter().position(|m| m.view.id == id).map_or(rows.len(), |i| i + 1);
                        // Each half was asked for in full: a short half is the end of the talk.
                        self.has_older = before > backend::PAGE / 2;
                        self.has_newer = rows.len() - before >= backend::PAGE / 2;
                        self.messages = rows;
                        self.scroll_to = Some(id);
                        self.scroll_frames = 0;
                        self.highlight = Some(id);
                    }
                }
            }
            UiMsg::Upsert(item) => {
                if Some(item.view.chat) != self.open {
                    return;
                }
                let id = item.view.id;
                // A conversation is in (ord, id) order; a row keeps its place when it changes.
                let found = match self.messages.iter().rposition(|m| m.view.id == id) {
                    Some(i) => Ok(i),
                    None => self.messages.binary_search_by_key(&(item.view.ord, id), |m| (m.view.ord, m.view.id)),
                };
                match found {
                    Ok(i) => self.messages[i] = *item,
                    // Beyond what is loaded while the newest are not: it comes with their page.
                    Err(i) if self.has_newer && i == self.messages.len() => {}
                    // Before what is loaded while older rows are not: it comes with their page.
                    Err(0) if self.has_older => {}
                    Err(i) => {
                        // What this window just sent: show it, wherever the user had scrolled.
                        self.scroll_to_newest |= item.view.outgoing && i == self.messages.len();
                        self.messages.insert(i, *item);
                    }
                }
            }
            UiMsg::Removed(hash) => self.messages.retain(|m| m.view.hash != hash),
            UiMsg::OpenChat(chat) => {
                let cmd = self.open_talk(chat);
                self.outbox.push(cmd);
                self.raise = true;
            }
            UiMsg::Privacy { read_receipts, typing } => self.privacy = (read_receipts, typing),
            UiMsg::Typing { chat, from: _, on } => {
                if on {
                    self.typing.insert(chat, std::time::Instant::now() + crate::app::TYPING_SHOWN);
                } else {
                    self.typing.remove(&chat);
                }
            }
            UiMsg::Status { hash, stat } => {
                if let Some(m) = self.messages.iter_mut().rev().find(|m| m.view.hash == hash) {
                    m.view.stat = stat;
                }
            }
            UiMsg::Transfer { file, done, state } => {
                for m in self.messages.iter_mut().rev() {
                    if let Some(a) = m.view.attachment.as_mut().filter(|a| a.file == file) {
                        // A receipted (outgoing) attachment stays complete.
                        if a.progress.state != crate::store::TransferState::Complete || !m.view.outgoing {
                            a.progress = crate::app::read::Progress { done, state };
                        }
                        if state == crate::store::TransferState::Complete {
                            a.complete = true;
                        }
                    }
                }
            }
            UiMsg::SearchResults { chat, query, rows } => {
                if let (Some(search), true) = (self.search.as_mut(), self.open == Some(chat))
                    && search.query.trim() == query
                {
                    search.answered = query;
                    search.results = rows;
                }
            }
            UiMsg::Connection(state, broker, about) => self.connection = (state, broker, about),
            UiMsg::Viewer(viewed) => self.viewer = Some(ViewerState::new(viewed)),
            UiMsg::AskPath(chat) => {
                self.path_prompt = Some(PathPrompt { chat, path: String::new(), error: None, focus: true })
            }
            UiMsg::Notice(n) => self.notice = Some(n),
            UiMsg::FriendAdded(_) => self.add_friend = None,
            UiMsg::FriendError(e) => {
                if let Some(d) = self.add_friend.as_mut() {
                    d.error = Some(e);
                }
            }
            UiMsg::Error(e) => {
                self.errors.push(e);
                if self.errors.len() > 5 {
                    self.errors.remove(0);
                }
            }
            UiMsg::Accounts { .. }
            | UiMsg::ImportPicked(_)
            | UiMsg::AskImportPath
            | UiMsg::Imported(_)
            | UiMsg::LoginFailed(_)
            | UiMsg::LoggedIn { .. }
            | UiMsg::Settings(_)
            | UiMsg::SettingsError(_)
            | UiMsg::RestorePicked(_)
            | UiMsg::AskRestorePath
            | UiMsg::Restored { .. }
            | UiMsg::RestoreFailed(_)
            | UiMsg::BackupSettings(_)
            | UiMsg::BackupPassphrase(_)
            | UiMsg::Backup(_)
            | UiMsg::BackupFolderPicked(_) => {}
        }
    }
}

impl eframe::App for WoChatApp {
    /// egui's memory is not saved: it holds text cursors (a password's length) and scroll
    /// offsets. The window's geometry (eframe) and the talk list's width ([`Self::save`]) are.
    fn persist_egui_memory(&self) -> bool {
        false
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        storage.set_string(TALKS_WIDTH_KEY, self.talks_width.to_string());
        // Also on the way out: what is in the composer is kept as the draft.
        if let Some(chat) = self.chat.as_mut() {
            chat.keep_draft();
            for c in std::mem::take(&mut chat.outbox) {
                self.backend.send(c);
            }
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        WoChatApp::ui(self, ui);
        if self.frame_stats {
            // CPU time of the previous frame (layout, tessellation, painting), for measuring.
            if let Some(ms) = frame.info().cpu_usage {
                eprintln!("frame_ms {:.3}", ms * 1000.0);
            }
        }
    }
}
