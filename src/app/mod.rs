//! Use cases on top of the core: opening an account session, and (later) messaging.

mod account;

pub use account::{Account, LockedAccount, OpenError};
