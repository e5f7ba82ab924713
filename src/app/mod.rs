//! Use cases on top of the core: opening an account, connecting, messaging, and what the
//! front ends read.
//!
//! - [`Client`] is the handle: commands in, [`Event`]s out. Its engine task owns the database,
//!   the [`crate::session`] layer, the [`crate::transport::Link`] and the [`transfers`].
//! - [`read`] is the read model the GUI and the CLI show: talk list, pages of messages.

mod account;
mod backups;
mod client;
mod connect;
mod engine;
mod errors;
mod events;
pub mod read;
pub mod transfers;

pub use account::{Account, BrokerLogin, LockedAccount, OpenError};
pub use backups::{BackupEvent, Backups};
pub use client::{
    Action, Client, ClientOptions, Events, LinkConfig, Protocol, RetryPolicy, SentFile, Started, TEST_TIMERS_ENV, To,
};
pub use connect::{prepare_broker, transport_config};
pub use errors::{ClientError, ClientResult, FileProblem, NotAllowed};
pub use events::{ConnState, Event, TYPING_REPEAT, TYPING_SHOWN};
pub use transfers::{MediaLimits, PreparedFile, WINDOW, prepare_file};
