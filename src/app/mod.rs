//! Use cases on top of the core: opening an account, connecting, and messaging.

mod account;
mod connect;
mod engine;
mod events;
mod transfers;
mod view;

pub use account::{Account, LockedAccount, OpenError};
pub use connect::{prepare_broker, transport_config};
pub use engine::{Client, Command, MediaLimits, SentFile};
pub use events::{ConnState, Event};
pub use transfers::{PreparedFile, WINDOW, prepare_file};
pub use view::{MessageView, ObjectView};
