//! [`Client`]: the handle front ends hold. It sends [`Command`]s to the engine task and
//! answers with typed results; the engine reports [`Event`]s on the channel `start` returns.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::engine::Engine;
use super::transfers::{MediaLimits, NEED_FIRST, PreparedFile, prepare_file};
use super::{Account, Backups, BrokerLogin, ClientError, ClientResult, Event, prepare_broker, transport_config};
use crate::config::Config;
use crate::crypto::Address;
use crate::crypto::password::KdfParams;
use crate::media::ThumbError;
use crate::objects::{ObjectId, ObjectStore};
use crate::store::{ChatId, RETRY_FIRST_MS, RETRY_MAX_MS, TalkChange};
use crate::transport::TransportConfig;
use crate::transport::memory::Hub;
use crate::wire::MessageHash;

/// The events of a running client.
pub type Events = mpsc::UnboundedReceiver<Event>;

/// Where a message goes: a peer (its direct conversation) or a conversation by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// The direct conversation with this address (created if needed).
    Peer(Address),
    /// A conversation.
    Chat(ChatId),
}

impl From<Address> for To {
    fn from(a: Address) -> Self {
        Self::Peer(a)
    }
}

impl From<ChatId> for To {
    fn from(c: ChatId) -> Self {
        Self::Chat(c)
    }
}

/// What carries the client's envelopes.
#[derive(Debug, Clone)]
pub enum LinkConfig {
    /// An MQTT broker (or several, tried in turn).
    Mqtt(Box<TransportConfig>),
    /// An in-memory hub (tests).
    Memory(Hub),
}

/// When a message without a receipt is published again (PROTOCOL.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait after the broker took it.
    pub first: Duration,
    /// The longest wait (it doubles up to this).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { first: Duration::from_millis(RETRY_FIRST_MS as u64), max: Duration::from_millis(RETRY_MAX_MS as u64) }
    }
}

/// Which protocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Only v1 (`PROTOCOL.md`): for compatibility tests and comparisons.
    V1,
    /// v2 with peers that show a v2 key bundle, v1 with the others.
    #[default]
    V2,
}

/// How a client runs.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// The protocol.
    pub protocol: Protocol,
    /// Attachment limits.
    pub limits: MediaLimits,
    /// Retransmission schedule.
    pub retry: RetryPolicy,
    /// How long an incoming file may be silent before its missing chunks are asked for (the
    /// wait doubles up to 5 minutes).
    pub need_first: Duration,
    /// How often the automatic backups look whether one is due.
    pub backup_check: Duration,
    /// Argon2id parameters for the backup passphrase.
    pub backup_kdf: KdfParams,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            protocol: Protocol::default(),
            limits: MediaLimits::default(),
            retry: RetryPolicy::default(),
            need_first: NEED_FIRST,
            backup_check: Duration::from_secs(60),
            backup_kdf: KdfParams::DEFAULT,
        }
    }
}

/// The environment variable that shortens the client's timers for tests of the binary:
/// `WOCHAT_TEST_TIMERS=fast` publishes unconfirmed messages again after 1 s (not 30 s) and asks
/// for missing file chunks after 1 s of silence (not 10 s).
pub const TEST_TIMERS_ENV: &str = "WOCHAT_TEST_TIMERS";

impl ClientOptions {
    /// The options of the settings: media limits, and the test timers when
    /// [`TEST_TIMERS_ENV`] asks for them.
    pub fn from_config(config: &Config) -> Self {
        let options = Self { limits: MediaLimits::from_config(config), ..Default::default() };
        if std::env::var(TEST_TIMERS_ENV).is_ok_and(|v| v == "fast") { options.fast_timers() } else { options }
    }

    /// These options with the timers shortened for tests (see [`TEST_TIMERS_ENV`]).
    pub fn fast_timers(mut self) -> Self {
        self.retry = RetryPolicy { first: Duration::from_secs(1), max: Duration::from_secs(8) };
        self.need_first = Duration::from_secs(1);
        self.backup_check = Duration::from_secs(1);
        self.backup_kdf = KdfParams::INSECURE_FAST;
        self
    }
}

/// A request to the engine.
#[derive(Debug)]
pub(super) enum Command {
    SendText {
        to: To,
        text: String,
        reply_to: Option<MessageHash>,
        reply: Reply<MessageHash>,
    },
    Act {
        action: Action,
        reply: Reply<Option<MessageHash>>,
    },
    Typing {
        chat: ChatId,
        on: bool,
    },
    Forwardable {
        hash: MessageHash,
        reply: Reply<Forwardable>,
    },
    SetPrivacy {
        read_receipts: Option<bool>,
        typing: Option<bool>,
        reply: Reply<()>,
    },
    SendFile {
        to: To,
        file: Box<PreparedFile>,
        reply: Reply<MessageHash>,
    },
    Accept {
        file: ObjectId,
        reply: Reply<()>,
    },
    Retry {
        file: ObjectId,
        reply: Reply<()>,
    },
    AddFriend {
        address: Address,
        name: String,
        reply: Reply<ChatId>,
    },
    SetBlocked {
        address: Address,
        blocked: bool,
        reply: Reply<()>,
    },
    RemoveFriend {
        address: Address,
        reply: Reply<()>,
    },
    Reconfigure {
        transport: Box<TransportConfig>,
        limits: MediaLimits,
        reply: Reply<()>,
    },
    MarkRead {
        chat: ChatId,
        reply: Reply<()>,
    },
    ChangeTalk {
        chat: ChatId,
        change: TalkChange,
        reply: Reply<()>,
    },
    /// This process took over hosting the embedded broker (it had stopped answering).
    Hosting(SocketAddr),
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A change to an earlier message of a conversation (docs/PROTOCOL.md section 13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// One's reaction to a message: one emoji, or empty to remove it.
    React {
        /// The message.
        target: MessageHash,
        /// The emoji, or empty.
        emoji: String,
    },
    /// A new text for an own text message (within 24 hours, at most 20 times).
    Edit {
        /// The message.
        target: MessageHash,
        /// Its new text.
        text: String,
    },
    /// Deletes a message: here only, or (an own message) for everyone.
    Delete {
        /// The message.
        target: MessageHash,
        /// For everyone (only the sender may), not only here.
        for_everyone: bool,
    },
}

impl Action {
    /// The message acted on.
    pub fn target(&self) -> MessageHash {
        match self {
            Self::React { target, .. } | Self::Edit { target, .. } | Self::Delete { target, .. } => *target,
        }
    }
}

/// What a forwarded message carries again.
#[derive(Debug)]
pub(super) enum Forwardable {
    /// A text.
    Text(String),
    /// An attachment: its kind, caption and `obj` map, and the leaf hashes when they are kept.
    File {
        kind: crate::wire::AttachKind,
        caption: Option<String>,
        meta: Box<crate::wire::ObjectMeta>,
        leaves: Option<Vec<[u8; 32]>>,
    },
}

/// Where the engine answers a command.
pub(super) type Reply<T> = oneshot::Sender<ClientResult<T>>;

/// A client started from the settings: the handle, its events, and the embedded broker's
/// address when this process hosts it.
#[derive(Debug)]
pub struct Started {
    /// The handle.
    pub client: Client,
    /// Its events.
    pub events: Events,
    /// Where this process hosts the embedded broker, if it does.
    pub hosting: Option<SocketAddr>,
}

/// A handle to a running client (cheap to clone).
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    address: Address,
    login: BrokerLogin,
    objects: Arc<ObjectStore>,
    limits: Arc<RwLock<MediaLimits>>,
    backups: Backups,
}

impl Client {
    /// Starts the engine on the current tokio runtime over `link`.
    pub fn start(account: Account, link: LinkConfig, options: ClientOptions) -> ClientResult<(Self, Events)> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let address = account.address();
        let login = account.broker_login();
        let objects = account.objects.clone();
        let backups = Backups::new(
            account.home.clone(),
            account.name.clone(),
            account.keys.clone(),
            events_tx.downgrade(),
            options.backup_kdf,
        );
        let engine = Engine::new(account, link, options, events_tx)?;
        tokio::spawn(engine.run(cmd_rx));
        let commands = cmd_tx.downgrade();
        let alive = move || commands.upgrade().is_some_and(|c| !c.is_closed());
        tokio::spawn(backups.clone().schedule(options.backup_check, alive));
        let limits = Arc::new(RwLock::new(options.limits));
        Ok((Self { commands: cmd_tx, address, login, objects, limits, backups }, events_rx))
    }

    /// Starts the client the way the app and the CLI do: brokers from `config` (or
    /// `broker_override`, from `--broker`), the embedded broker when `broker.embedded` says so,
    /// the storage quota and the media limits.
    pub fn start_from_config(account: Account, config: &Config, broker_override: &[String]) -> ClientResult<Started> {
        Self::start_from_config_with(account, config, broker_override, ClientOptions::from_config(config))
    }

    /// [`Client::start_from_config`] with other options (a benchmark of protocol v1).
    pub fn start_from_config_with(
        account: Account,
        config: &Config,
        broker_override: &[String],
        options: ClientOptions,
    ) -> ClientResult<Started> {
        let tcfg = transport_config(config, &account.address(), &account.broker_login(), broker_override)?;
        let hosting = prepare_broker(config.broker.embedded, &tcfg.urls)?;
        let takeover = super::connect::takeover_address(config.broker.embedded, &tcfg.urls);
        account.objects.set_quota_mb(config.storage.quota_mb);
        let (client, events) = Self::start(account, LinkConfig::Mqtt(Box::new(tcfg)), options)?;
        if let Some(addr) = takeover {
            let commands = client.commands.downgrade();
            tokio::spawn(super::connect::watch_loopback_broker(addr, move |hosted| match commands.upgrade() {
                Some(c) if !c.is_closed() => {
                    if let Some(addr) = hosted {
                        let _ = c.send(Command::Hosting(addr));
                    }
                    true
                }
                _ => false,
            }));
        }
        Ok(Started { client, events, hosting })
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The account's MQTT client id.
    pub fn client_id(&self) -> &str {
        &self.login.client_id
    }

    /// How the account logs in to brokers (for a new transport configuration).
    pub fn broker_login(&self) -> &BrokerLogin {
        &self.login
    }

    /// The account's object store.
    pub fn objects(&self) -> &Arc<ObjectStore> {
        &self.objects
    }

    /// The account's backups: "back up now", the automatic schedule's settings.
    pub fn backups(&self) -> &Backups {
        &self.backups
    }

    fn limits(&self) -> MediaLimits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> ClientResult<T> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(make(reply)).map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Sends a text message; the future gives its hash once stored (status N). The message is
    /// queued when this is called, not when the future is first polled, so that several calls
    /// in a row keep their order and are stored in one transaction.
    pub fn send_text(
        &self,
        to: impl Into<To>,
        text: String,
    ) -> impl Future<Output = ClientResult<MessageHash>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let queued = self.commands.send(Command::SendText { to: to.into(), text, reply_to: None, reply });
        async move {
            queued.map_err(|_| ClientError::Stopped)?;
            rx.await.map_err(|_| ClientError::Stopped)?
        }
    }

    /// Sends a text replying to the message `reply_to` of the same conversation (quoted
    /// above it); otherwise like [`Client::send_text`].
    pub fn send_reply(
        &self,
        to: impl Into<To>,
        text: String,
        reply_to: Option<MessageHash>,
    ) -> impl Future<Output = ClientResult<MessageHash>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let queued = self.commands.send(Command::SendText { to: to.into(), text, reply_to, reply });
        async move {
            queued.map_err(|_| ClientError::Stopped)?;
            rx.await.map_err(|_| ClientError::Stopped)?
        }
    }

    /// Reacts to, edits or deletes a message (stored first, then sent like a message to a
    /// peer that speaks protocol v2; applied here at once). Returns the hash of the packet
    /// sent (its [`Event::Status`] follow), `None` when nothing is sent (a delete here only,
    /// or a peer that speaks only v1).
    pub async fn act(&self, action: Action) -> ClientResult<Option<MessageHash>> {
        self.ask(|reply| Command::Act { action, reply }).await
    }

    /// Forwards a message (a text, or an attachment whose file is stored here: it is sent
    /// from the object store, not imported again) to each of `targets`, as a new message of
    /// this account. Returns the new messages' hashes, in the order of `targets`.
    pub async fn forward(&self, hash: MessageHash, targets: Vec<To>) -> ClientResult<Vec<MessageHash>> {
        let what = self.ask(|reply| Command::Forwardable { hash, reply }).await?;
        let mut out = Vec::new();
        match what {
            Forwardable::Text(text) => {
                for to in targets {
                    out.push(self.send_text(to, text.clone()).await?);
                }
            }
            Forwardable::File { kind, caption, mut meta, leaves } => {
                let id = ObjectId(meta.hash);
                if !self.objects.contains(&id) {
                    return Err(ClientError::Object(crate::objects::ObjectError::Missing(id)));
                }
                let leaves = match leaves.filter(|l| l.len() as u64 == meta.chunks) {
                    Some(l) => l,
                    None => {
                        let objects = self.objects.clone();
                        tokio::task::spawn_blocking(move || objects.leaves(&id))
                            .await
                            .map_err(|_| ClientError::Stopped)??
                    }
                };
                meta.root = Some(crate::crypto::merkle::MerkleTree::new(leaves.clone()).root());
                let file = PreparedFile {
                    id,
                    meta: *meta,
                    kind,
                    caption,
                    display: None,
                    avatar: None,
                    preview_error: None,
                    leaves,
                };
                for to in targets {
                    let file = Box::new(file.clone());
                    out.push(self.ask(|reply| Command::SendFile { to, file, reply }).await?);
                }
            }
        }
        Ok(out)
    }

    /// Tells the conversation's peer that the user is typing (`on`) or stopped; nothing is
    /// sent with typing indicators off. Never stored, never sent again.
    pub fn typing(&self, chat: ChatId, on: bool) {
        let _ = self.commands.send(Command::Typing { chat, on });
    }

    /// Turns read receipts and typing indicators on or off (`None` leaves one as it is).
    pub async fn set_privacy(&self, read_receipts: Option<bool>, typing: Option<bool>) -> ClientResult<()> {
        self.ask(|reply| Command::SetPrivacy { read_receipts, typing, reply }).await
    }

    /// Sends a file: imports it into the object store and makes its preview (off the async
    /// threads), then stores and publishes the attachment message and streams the chunks.
    /// `name` overrides the display name (default: the file's name).
    pub async fn send_file(
        &self,
        to: impl Into<To>,
        path: PathBuf,
        caption: Option<String>,
        name: Option<String>,
    ) -> ClientResult<SentFile> {
        let to = to.into();
        let objects = self.objects.clone();
        let max = self.limits().max_file_bytes;
        let file = tokio::task::spawn_blocking(move || prepare_file(&objects, &path, caption, name, max))
            .await
            .map_err(|_| ClientError::Stopped)??;
        let (id, preview_error) = (file.id, file.preview_error.clone());
        let message = self.ask(|reply| Command::SendFile { to, file: Box::new(file), reply }).await?;
        Ok(SentFile { message, file: id, preview_error })
    }

    /// Accepts an incoming file that waits for the user.
    pub async fn accept(&self, file: ObjectId) -> ClientResult<()> {
        self.ask(|reply| Command::Accept { file, reply }).await
    }

    /// Fetches an incoming file again: a failed transfer starts over, a stalled one asks
    /// for its missing chunks now, a waiting one is accepted.
    pub async fn retry(&self, file: ObjectId) -> ClientResult<()> {
        self.ask(|reply| Command::Retry { file, reply }).await
    }

    /// Adds or renames a friend (the name cleaned, at most 64 characters); returns the
    /// conversation with them.
    pub async fn add_friend(&self, address: Address, name: String) -> ClientResult<ChatId> {
        let name = crate::link::clean_display_name(&name);
        self.ask(|reply| Command::AddFriend { address, name, reply }).await
    }

    /// Blocks (`true`) or unblocks someone.
    pub async fn set_blocked(&self, address: Address, blocked: bool) -> ClientResult<()> {
        self.ask(|reply| Command::SetBlocked { address, blocked, reply }).await
    }

    /// Removes a friend (the conversation stays; new messages arrive as a message request).
    pub async fn remove_friend(&self, address: Address) -> ClientResult<()> {
        self.ask(|reply| Command::RemoveFriend { address, reply }).await
    }

    /// Applies new settings without logging out: the connection is made again with
    /// `transport` (what was in flight is published again) and `limits` apply from now on.
    pub async fn reconfigure(&self, transport: TransportConfig, limits: MediaLimits) -> ClientResult<()> {
        self.ask(|reply| Command::Reconfigure { transport: Box::new(transport), limits, reply }).await?;
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
        Ok(())
    }

    /// Marks a conversation read; with read receipts on, tells its peer which messages were
    /// displayed.
    pub async fn mark_read(&self, chat: ChatId) -> ClientResult<()> {
        self.ask(|reply| Command::MarkRead { chat, reply }).await
    }

    /// Pins, mutes, archives or marks a conversation unread, or keeps its draft.
    pub async fn change_talk(&self, chat: ChatId, change: TalkChange) -> ClientResult<()> {
        self.ask(|reply| Command::ChangeTalk { chat, change, reply }).await
    }

    /// Disconnects and stops the engine (the database is closed, the lock released).
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown { reply }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Asks the engine to stop without waiting (for `Drop` of a test peer).
    pub fn stop_soon(&self) {
        let (reply, _) = oneshot::channel();
        let _ = self.commands.send(Command::Shutdown { reply });
    }
}

/// What [`Client::send_file`] started.
#[derive(Debug, Clone)]
pub struct SentFile {
    /// The attachment message.
    pub message: MessageHash,
    /// The file's id.
    pub file: ObjectId,
    /// Why an image has no preview (too large to decode safely, damaged), if so.
    pub preview_error: Option<ThumbError>,
}
