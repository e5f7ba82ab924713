//! The settings window: brokers, TLS and credentials, embedded broker, media limits, quota,
//! theme, language. Saved to `config.toml` by the backend and applied without a restart
//! (brokers reconnect; theme and language change at once).

use eframe::egui;

use super::backend::UiCmd;
use super::i18n::tr;
use crate::config::{Config, EmbeddedBroker, LANGUAGES, RENDERERS, Theme};

/// The settings being edited.
#[derive(Debug, Clone)]
pub struct SettingsState {
    /// The edited copy.
    pub config: Config,
    /// Broker URLs, one per line.
    pub urls: String,
    /// CA file path ("" for the system's roots).
    pub ca_file: String,
    /// Why the last save failed.
    pub error: Option<String>,
    /// A save is under way.
    pub saving: bool,
    /// Brokers given by `--broker` or `WOCHAT_BROKER`, in force instead of the list (empty: none).
    pub broker_override: Vec<String>,
    /// The version and what draws the window.
    pub about: String,
    /// The Backup button was clicked (the app opens the backup window).
    pub open_backup: bool,
    /// The account's read receipts and typing indicators (logged in only); changed at once.
    pub privacy: Option<(bool, bool)>,
}

impl SettingsState {
    /// Starts editing `config`; `broker_override`: brokers this run uses instead of the list.
    pub fn new(config: &Config, broker_override: &[String]) -> Self {
        Self {
            broker_override: broker_override.to_vec(),
            about: format!("WoChat {}", env!("CARGO_PKG_VERSION")),
            config: config.clone(),
            urls: config.broker.urls.join("\n"),
            ca_file: config.broker.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            error: None,
            saving: false,
            open_backup: false,
            privacy: None,
        }
    }

    /// The edited settings as a config (not yet validated).
    pub fn to_config(&self) -> Config {
        let mut c = self.config.clone();
        c.broker.urls = self.urls.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        c.broker.ca_file = Some(self.ca_file.trim()).filter(|s| !s.is_empty()).map(Into::into);
        c.broker.username = c.broker.username.take().filter(|s| !s.trim().is_empty());
        c.broker.password = c.broker.password.take().filter(|s| !s.is_empty());
        c
    }
}

/// Draws the window; `true` when it should close.
pub(super) fn settings_ui(s: &mut SettingsState, ctx: &egui::Context, cmds: &mut Vec<UiCmd>) -> bool {
    let mut open = true;
    let mut close = false;
    egui::Window::new(tr("Settings")).collapsible(false).resizable(false).open(&mut open).show(ctx, |ui| {
        egui::Grid::new("settings").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
            let label = ui.label(tr("Brokers (one URL per line)"));
            ui.vertical(|ui| {
                ui.set_max_width(300.0);
                if !s.broker_override.is_empty() {
                    // The command line or the environment wins; say so, and which they are.
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        super::i18n::tr_fill(
                            "This window uses {} (from --broker or WOCHAT_BROKER); the list below \
                             applies when WoChat starts without them.",
                            &[&s.broker_override.join(", ")],
                        ),
                    );
                }
                ui.add(egui::TextEdit::multiline(&mut s.urls).desired_rows(2).desired_width(300.0))
                    .labelled_by(label.id);
            });
            ui.end_row();

            let label = ui.label(tr("User name"));
            let mut user = s.config.broker.username.clone().unwrap_or_default();
            if ui.add(egui::TextEdit::singleline(&mut user).desired_width(300.0)).labelled_by(label.id).changed() {
                s.config.broker.username = Some(user);
            }
            ui.end_row();

            let label = ui.label(tr("Password"));
            let mut password = s.config.broker.password.clone().unwrap_or_default();
            let field = egui::TextEdit::singleline(&mut password).password(true).desired_width(300.0);
            if ui.add(field).labelled_by(label.id).changed() {
                s.config.broker.password = Some(password);
            }
            ui.end_row();

            let label = ui.label(tr("CA file for mqtts:// (empty: system)"));
            ui.add(egui::TextEdit::singleline(&mut s.ca_file).desired_width(300.0)).labelled_by(label.id);
            ui.end_row();

            ui.label(tr("Host a broker on this machine"));
            ui.horizontal(|ui| {
                let e = &mut s.config.broker.embedded;
                ui.radio_value(e, EmbeddedBroker::Auto, tr("when none answers"));
                ui.radio_value(e, EmbeddedBroker::On, tr("always"));
                ui.radio_value(e, EmbeddedBroker::Off, tr("never"));
            });
            ui.end_row();

            let label = ui.label(tr("Download files up to (MiB) without asking"));
            ui.add(egui::DragValue::new(&mut s.config.media.auto_download_mb).range(0..=1_000_000))
                .labelled_by(label.id);
            ui.end_row();

            let label = ui.label(tr("Largest file (MiB)"));
            ui.add(egui::DragValue::new(&mut s.config.media.max_file_mb).range(1..=1_000_000)).labelled_by(label.id);
            ui.end_row();

            let label = ui.label(tr("Storage quota (MiB, 0: none)"));
            ui.add(egui::DragValue::new(&mut s.config.storage.quota_mb).range(0..=100_000_000)).labelled_by(label.id);
            ui.end_row();

            ui.label(tr("Theme"));
            ui.horizontal(|ui| {
                let t = &mut s.config.ui.theme;
                ui.radio_value(t, Theme::System, tr("system"));
                ui.radio_value(t, Theme::Light, tr("light"));
                ui.radio_value(t, Theme::Dark, tr("dark"));
            });
            ui.end_row();

            ui.label(tr("Composer"));
            ui.checkbox(&mut s.config.ui.enter_sends, tr("Enter sends (Shift+Enter: new line)"));
            ui.end_row();

            ui.label(tr("Notifications"));
            ui.checkbox(&mut s.config.ui.notify_content, tr("Show the message (off: only who wrote)"));
            ui.end_row();

            ui.label(tr("Window"));
            ui.vertical(|ui| {
                ui.checkbox(
                    &mut s.config.ui.close_to_tray,
                    tr("Closing keeps WoChat in the tray (quit from its menu)"),
                );
                ui.checkbox(&mut s.config.ui.start_minimized, tr("Start minimized"));
            });
            ui.end_row();

            if let Some((read, typing)) = s.privacy.as_mut() {
                ui.label(tr("Privacy"));
                ui.vertical(|ui| {
                    if ui.checkbox(read, tr("Read receipts (off: neither sent nor shown)")).changed() {
                        cmds.push(UiCmd::SetPrivacy { read_receipts: Some(*read), typing: None });
                    }
                    if ui.checkbox(typing, tr("Typing indicators")).changed() {
                        cmds.push(UiCmd::SetPrivacy { read_receipts: None, typing: Some(*typing) });
                    }
                });
                ui.end_row();
            }

            let label = ui.label(tr("Language"));
            egui::ComboBox::from_id_salt("language")
                .selected_text(language_name(&s.config.ui.language))
                .show_ui(ui, |ui| {
                    for l in LANGUAGES {
                        ui.selectable_value(&mut s.config.ui.language, l.to_string(), language_name(l));
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();

            let label = ui.label(tr("Renderer (at the next start)"));
            egui::ComboBox::from_id_salt("renderer")
                .selected_text(renderer_name(&s.config.ui.renderer))
                .show_ui(ui, |ui| {
                    for r in RENDERERS {
                        ui.selectable_value(&mut s.config.ui.renderer, r.to_string(), renderer_name(r));
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();

            ui.label(tr("Backup"));
            if ui.button(tr("Backup...")).clicked() {
                s.open_backup = true;
            }
            ui.end_row();

            ui.label(tr("About"));
            ui.label(&s.about);
            ui.end_row();
        });
        if let Some(e) = &s.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(!s.saving, egui::Button::new(tr("Save"))).clicked() {
                let config = s.to_config();
                match config.validate() {
                    Ok(()) => {
                        s.error = None;
                        s.saving = true;
                        cmds.push(UiCmd::SaveSettings(Box::new(config)));
                    }
                    Err(e) => s.error = Some(e.0),
                }
            }
            if ui.button(tr("Cancel")).clicked() {
                close = true;
            }
            if s.saving {
                ui.spinner();
            }
        });
    });
    close || !open
}

/// A `ui.renderer` value as the menu shows it.
fn renderer_name(code: &str) -> &'static str {
    match super::renderer::Renderer::from_name(code) {
        Some(r) => r.describe(),
        None => tr("automatic (the first that works)"),
    }
}

fn language_name(code: &str) -> &'static str {
    match code {
        "en" => "English",
        "zh-CN" => "简体中文",
        _ => tr("System language"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_fields_become_the_config() {
        let mut s = SettingsState::new(&Config::default(), &[]);
        s.urls = " mqtt://a.example:1883 \n\n mqtts://b.example:8883".into();
        s.ca_file = "  ".into();
        s.config.broker.username = Some("  ".into());
        let c = s.to_config();
        assert_eq!(c.broker.urls, ["mqtt://a.example:1883", "mqtts://b.example:8883"]);
        assert_eq!(c.broker.ca_file, None);
        assert_eq!(c.broker.username, None);
        assert!(c.validate().is_ok());
    }
}
