//! WoChat core: an end-to-end encrypted chat client over MQTT.
//!
//! Layering: [`ui`] and [`cli`] -> [`app`] -> [`session`] -> {[`store`], [`crypto`], [`wire`]};
//! [`app`] -> {[`transport`], [`objects`], [`media`]}. [`crypto`] and [`wire`] are pure code
//! without I/O. Only [`ui`] knows the GUI toolkit; the core never depends on it.

pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod fault;
pub mod fsutil;
pub mod home;
pub mod link;
pub mod media;
pub mod objects;
pub mod session;
pub mod store;
pub mod testkit;
pub mod transport;
#[cfg(feature = "gui")]
pub mod ui;
pub mod util;
pub mod wire;
