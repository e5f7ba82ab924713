//! `config.toml`: settings with a default for every key, so an empty or missing file works.
//!
//! An unknown key or a bad value is an error that names the key and the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::transport::MqttProtocol;

/// All settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[broker]`: where to connect.
    pub broker: BrokerConfig,
    /// `[media]`: attachment limits.
    pub media: MediaConfig,
    /// `[storage]`: disk limits.
    pub storage: StorageConfig,
    /// `[ui]`: appearance.
    pub ui: UiConfig,
}

/// When the app hosts its own MQTT broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddedBroker {
    /// Host one when the configured broker is on loopback and nothing answers there.
    #[default]
    Auto,
    /// Always host one on the first configured loopback address.
    On,
    /// Never host one.
    Off,
}

/// `[broker]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Broker URLs tried in turn (`mqtt://host:port` or `mqtts://host:port`).
    pub urls: Vec<String>,
    /// Optional MQTT user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Optional MQTT password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Optional PEM file of CA certificates for `mqtts://` (default: the system's roots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Embedded broker mode.
    pub embedded: EmbeddedBroker,
    /// Log in as the account: user name = its address, password derived from its secret key
    /// (`wochat --account A broker-login` prints both, for the broker's password file);
    /// `username` and `password` are then not used.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub account_login: bool,
    /// The MQTT version: `"auto"` (MQTT 5 when the broker speaks it, else 3.1.1), `"5"` or
    /// `"3.1.1"`.
    pub protocol: MqttProtocol,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            urls: vec![DEFAULT_BROKER_URL.to_string()],
            username: None,
            password: None,
            ca_file: None,
            embedded: EmbeddedBroker::Auto,
            account_login: false,
            protocol: MqttProtocol::Auto,
        }
    }
}

/// The broker used when none is configured.
pub const DEFAULT_BROKER_URL: &str = "mqtt://127.0.0.1:1883";

/// `[media]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Incoming files larger than this (MiB) wait until the user accepts them.
    pub auto_download_mb: u64,
    /// Largest file sent or accepted (MiB).
    pub max_file_mb: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self { auto_download_mb: 25, max_file_mb: 2048 }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Object store quota in MiB; 0 means unlimited.
    pub quota_mb: u64,
}

/// Colour theme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the operating system.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// `[ui]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Colour theme.
    pub theme: Theme,
    /// `"auto"` (the system locale), `"en"` or `"zh-CN"`.
    pub language: String,
    /// In the composer, Enter sends and Shift+Enter starts a new line (`false`: the other way
    /// round).
    pub enter_sends: bool,
    /// Which renderer draws the window: `auto` (the first that works) or one of
    /// [`RENDERERS`]; `WOCHAT_RENDERER` overrides it.
    pub renderer: String,
    /// Notifications show what the message says (`false`: only who wrote).
    pub notify_content: bool,
    /// Closing the window keeps WoChat running in the tray (where there is one); it quits
    /// from the tray's menu.
    pub close_to_tray: bool,
    /// The window starts hidden in the tray (minimized where there is none).
    pub start_minimized: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            theme: Theme::System,
            language: "auto".into(),
            enter_sends: true,
            renderer: "auto".into(),
            notify_content: true,
            close_to_tray: true,
            start_minimized: false,
        }
    }
}

/// A config file that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Syntax error, unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// A setting whose value the types alone do not rule out but which is unusable; the message
/// names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSetting(pub String);

/// Languages the UI offers.
pub const LANGUAGES: &[&str] = &["auto", "en", "zh-CN"];

/// The values of `ui.renderer` (and of `WOCHAT_RENDERER`): `auto` tries them in this order.
pub const RENDERERS: &[&str] = &["auto", "wgpu", "vulkan", "gl", "glow"];

impl Config {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io { path: path.into(), source }),
        }
    }

    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), message };
        let config: Config = toml::from_str(text).map_err(|e| invalid(one_line(&e.to_string())))?;
        config.validate().map_err(|e| invalid(e.0))?;
        Ok(config)
    }

    /// Checks values that the types alone do not constrain; the message names the key.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let invalid = |m: String| Err(InvalidSetting(m));
        if self.broker.urls.is_empty() {
            return invalid("broker.urls: at least one broker URL is needed".into());
        }
        for (i, url) in self.broker.urls.iter().enumerate() {
            if let Err(e) = crate::transport::BrokerUrl::parse(url) {
                return invalid(format!("broker.urls[{i}]: {e}"));
            }
        }
        if self.media.max_file_mb == 0 {
            return invalid("media.max_file_mb: must be at least 1".into());
        }
        if !LANGUAGES.contains(&self.ui.language.as_str()) {
            return invalid(format!("ui.language: {:?} is not one of {}", self.ui.language, LANGUAGES.join(", ")));
        }
        if !RENDERERS.contains(&self.ui.renderer.as_str()) {
            return invalid(format!("ui.renderer: {:?} is not one of {}", self.ui.renderer, RENDERERS.join(", ")));
        }
        Ok(())
    }

    /// Writes the settings to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| ConfigError::Invalid { path: path.into(), message: e.to_string() })?;
        crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|source| ConfigError::Io { path: path.into(), source })
    }
}

/// Folds toml's multi-line error report (with its source excerpt) into one line.
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "|").collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/h/config.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.broker.urls, vec![DEFAULT_BROKER_URL]);
        assert_eq!(c.media.auto_download_mb, 25);
        assert_eq!(c.media.max_file_mb, 2048);
        assert_eq!(c.storage.quota_mb, 0);
        assert_eq!(c.broker.embedded, EmbeddedBroker::Auto);
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(&dir.path().join("none.toml")).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let e = parse("[media]\nauto_download = 3\n").unwrap_err().to_string();
        assert!(e.contains("/h/config.toml"), "{e}");
        assert!(e.contains("auto_download"), "{e}");
        let e = parse("[brokr]\n").unwrap_err().to_string();
        assert!(e.contains("brokr"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse("[broker]\nembedded = \"maybe\"\n").unwrap_err().to_string();
        assert!(e.contains("embedded") && e.contains("maybe"), "{e}");
        let e = parse("[broker]\nprotocol = \"4\"\n").unwrap_err().to_string();
        assert!(e.contains("protocol") && e.contains("3.1.1"), "{e}");
        let e = parse("[media]\nmax_file_mb = -1\n").unwrap_err().to_string();
        assert!(e.contains("max_file_mb"), "{e}");
        let e = parse("[broker]\nurls = [\"http://x:1\"]\n").unwrap_err().to_string();
        assert!(e.contains("broker.urls[0]"), "{e}");
        let e = parse("[ui]\nlanguage = \"xx\"\n").unwrap_err().to_string();
        assert!(e.contains("ui.language"), "{e}");
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut c = Config::default();
        c.broker.urls = vec!["mqtts://example.org:8883".into(), "mqtt://127.0.0.1:1884".into()];
        c.broker.username = Some("u".into());
        c.broker.protocol = MqttProtocol::V311;
        c.ui.theme = Theme::Dark;
        c.storage.quota_mb = 500;
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
    }

    #[test]
    fn example_home_config_parses_and_lists_every_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".wochat-example/config.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c, Config::default(), "the example documents the defaults");
        let text = std::fs::read_to_string(&path).unwrap();
        for key in [
            "urls",
            "username",
            "password",
            "ca_file",
            "embedded",
            "protocol",
            "auto_download_mb",
            "max_file_mb",
            "quota_mb",
            "theme",
            "language",
        ] {
            assert!(text.contains(key), "example config lacks {key}");
        }
    }
}
