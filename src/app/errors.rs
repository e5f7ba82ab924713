//! What can go wrong in the client, typed: front ends match on it and translate it.

use std::path::PathBuf;

use crate::crypto::Address;
use crate::media::ThumbError;
use crate::objects::{ObjectError, ObjectId};
use crate::session::SealError;
use crate::store::{ChatId, StoreError};
use crate::transport::TransportError;

/// An error of a client request, or one the client reports while it runs ([`super::Event::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The client is not running any more.
    #[error("the client has stopped")]
    Stopped,
    /// A message to one's own address.
    #[error("cannot send a message to yourself")]
    ToSelf,
    /// A text over the protocol's limit.
    #[error("the text is {len} bytes; the limit is {max}")]
    TextTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A file over `media.max_file_mb`.
    #[error("the file is {size_mib} MiB; the limit (media.max_file_mb) is {max_mib} MiB")]
    FileTooLarge {
        /// Its size, MiB.
        size_mib: u64,
        /// The limit, MiB.
        max_mib: u64,
    },
    /// A local file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The object store refused or failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// No conversation with this id.
    #[error("no conversation {0}")]
    NoSuchChat(ChatId),
    /// Accept of a file that does not wait.
    #[error("no file {0} is waiting to be accepted")]
    NotWaiting(ObjectId),
    /// Retry of a file that has no incoming transfer.
    #[error("no incoming file {0} to retry")]
    NothingToRetry(ObjectId),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// A packet could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The broker settings are unusable.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Received messages could not be stored (the broker delivers them again).
    #[error("cannot store received messages: {0}")]
    Receive(StoreError),
    /// An incoming file was refused or failed its checks; it is not kept.
    #[error("file {file} from {from} rejected: {reason}")]
    FileRejected {
        /// The file.
        file: ObjectId,
        /// Who sent it.
        from: Address,
        /// Why.
        reason: FileProblem,
    },
    /// An outgoing file could not be read back from the store.
    #[error("cannot send file {file}: {source}")]
    FileUnreadable {
        /// The file.
        file: ObjectId,
        /// Why.
        source: ObjectError,
    },
    /// A reply to, an edit or a delete of, or a reaction to a message that is not stored in
    /// that conversation.
    #[error("no message {0} in this conversation")]
    NoSuchMessage(crate::wire::MessageHash),
    /// An edit or a delete for everyone that the protocol does not allow.
    #[error("{0}")]
    NotAllowed(NotAllowed),
    /// A backup is asked for while one is being written.
    #[error("a backup is being written already")]
    BackupRunning,
    /// A backup is asked for, but no folder is set for backups.
    #[error("choose a folder for backups first")]
    BackupFolderUnset,
    /// A received picture has no preview (too large to decode safely, or damaged).
    #[error("no preview for file {file}: {reason}")]
    NoPreview {
        /// The file.
        file: ObjectId,
        /// Why.
        reason: ThumbError,
    },
}

/// Why a change to a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// Only the sender may edit or delete a message for everyone.
    #[error("only its sender can change a message")]
    NotYours,
    /// Only text messages are edited.
    #[error("only text messages can be edited")]
    NotText,
    /// Edits end 24 hours after the message.
    #[error("a message can be edited for 24 hours")]
    TooLate,
    /// At most 20 edits.
    #[error("a message can be edited 20 times")]
    TooManyEdits,
    /// The message was deleted.
    #[error("the message was deleted")]
    Deleted,
    /// Not one emoji.
    #[error("a reaction is one emoji")]
    BadReaction,
}

/// Why an incoming file was not kept.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// Larger than `media.max_file_mb`.
    #[error("the file is larger than media.max_file_mb ({0} MiB)")]
    TooLarge(u64),
    /// A chunk does not fit the file.
    #[error("wrong chunk: {0}")]
    WrongChunk(ObjectError),
    /// The object store refused it (quota) or the content does not match its hash.
    #[error("{0}")]
    Store(ObjectError),
    /// The partial file disappeared.
    #[error("the partial file is gone")]
    PartialGone,
}

/// A result of the client.
pub type ClientResult<T> = Result<T, ClientError>;
