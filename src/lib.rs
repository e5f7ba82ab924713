//! WoChat core: an end-to-end encrypted chat client over MQTT.
//!
//! Layering: `cli` (and the GUI) -> [`app`] -> {[`store`], [`crypto`], [`transport`]}.
//! [`crypto`] is pure code without I/O. The core never depends on the GUI.

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod fsutil;
pub mod home;
pub mod link;
pub mod media;
pub mod objects;
pub mod store;
pub mod transport;
pub mod util;
pub mod wire;
