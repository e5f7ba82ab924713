//! Settings → Backup: back up now (with progress and the size), the folder, the schedule, how
//! many to keep, the last backup, and the passphrase, shown once with a copy button.

use std::path::PathBuf;

use eframe::egui;

use super::backend::UiCmd;
use super::i18n::{tr, tr_fill};
use crate::app::BackupEvent;
use crate::backup::schedule::{BackupSettings, MAX_KEEP, Schedule};
use crate::crypto::password::Password;

/// The backup window.
#[derive(Debug, Default)]
pub struct BackupWindow {
    /// The settings as stored (none until the core answered).
    pub stored: Option<BackupSettings>,
    /// The schedule being edited.
    pub schedule: Schedule,
    /// The folder being edited.
    pub folder: String,
    /// How many to keep, being edited.
    pub keep: u32,
    /// A backup being written: bytes done of total.
    pub progress: Option<(u64, u64)>,
    /// The last outcome of this window's session, in words.
    pub outcome: Option<Result<String, String>>,
    /// A new passphrase, shown until the user says it is written down.
    pub passphrase: Option<Password>,
    /// The passphrase was copied to the clipboard.
    pub copied: bool,
}

impl BackupWindow {
    /// Takes what the core reports.
    pub fn apply_settings(&mut self, s: BackupSettings) {
        self.schedule = s.schedule;
        self.folder = s.folder.as_ref().map(|f| f.display().to_string()).unwrap_or_default();
        self.keep = s.keep;
        self.stored = Some(s);
    }

    /// Takes a backup's progress or outcome.
    pub fn apply_event(&mut self, e: BackupEvent) {
        match e {
            BackupEvent::Progress { done, total } => self.progress = Some((done, total)),
            BackupEvent::Done { path, bytes, .. } => {
                self.progress = None;
                self.outcome = Some(Ok(tr_fill("Written: {} ({})", &[&path.display(), &size_text(bytes)])));
            }
            BackupEvent::Failed { reason } => {
                self.progress = None;
                self.outcome = Some(Err(reason));
            }
        }
    }

    fn folder_path(&self) -> Option<PathBuf> {
        Some(self.folder.trim()).filter(|f| !f.is_empty()).map(PathBuf::from)
    }

    fn edited(&self) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|s| s.schedule != self.schedule || s.folder != self.folder_path() || s.keep != self.keep)
    }
}

/// "12.3 MiB".
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Draws the window; `true` when it should close.
pub(super) fn backup_ui(w: &mut BackupWindow, ctx: &egui::Context, cmds: &mut Vec<UiCmd>) -> bool {
    let mut open = true;
    egui::Window::new(tr("Backup")).collapsible(false).resizable(false).open(&mut open).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.label(tr("A backup holds this account's key, its history and its files, encrypted under a \
             passphrase. Restore it on any computer from the login window."));
        ui.add_space(6.0);
        if let Some(p) = w.passphrase.as_ref() {
            passphrase_ui(ui, p, &mut w.copied);
            if ui.button(tr("I have written it down")).clicked() {
                w.passphrase = None;
                w.copied = false;
            }
            ui.separator();
        }
        if w.stored.is_none() {
            ui.spinner();
            return;
        }
        egui::Grid::new("backup").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
            let label = ui.label(tr("Folder"));
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut w.folder).desired_width(260.0)).labelled_by(label.id);
                if ui.button(tr("Choose...")).clicked() {
                    cmds.push(UiCmd::PickBackupFolder);
                }
            });
            ui.end_row();

            ui.label(tr("Back up automatically"));
            ui.horizontal(|ui| {
                ui.radio_value(&mut w.schedule, Schedule::Off, tr("never"));
                ui.radio_value(&mut w.schedule, Schedule::Daily, tr("daily"));
                ui.radio_value(&mut w.schedule, Schedule::Weekly, tr("weekly"));
            });
            ui.end_row();

            let label = ui.label(tr("Keep the newest"));
            ui.add(egui::DragValue::new(&mut w.keep).range(1..=MAX_KEEP)).labelled_by(label.id);
            ui.end_row();

            ui.label(tr("Last backup"));
            ui.label(last_text(w.stored.as_ref()));
            ui.end_row();
        });
        let needs_folder = w.schedule != Schedule::Off && w.folder_path().is_none();
        if needs_folder {
            ui.colored_label(ui.visuals().warn_fg_color, tr("Choose a folder for automatic backups."));
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(w.edited() && !needs_folder, egui::Button::new(tr("Save"))).clicked() {
                cmds.push(UiCmd::ConfigureBackup { schedule: w.schedule, folder: w.folder_path(), keep: w.keep });
            }
            let idle = w.progress.is_none();
            let can = idle && w.folder_path().is_some();
            if ui.add_enabled(can, egui::Button::new(tr("Back up now"))).clicked() {
                w.outcome = None;
                w.progress = Some((0, 0));
                // The folder as typed is saved first: the backup goes where the field says.
                if w.edited() {
                    cmds.push(UiCmd::ConfigureBackup { schedule: w.schedule, folder: w.folder_path(), keep: w.keep });
                }
                cmds.push(UiCmd::BackupNow);
            }
            if w.stored.as_ref().is_some_and(|s| s.has_passphrase)
                && ui.add_enabled(idle, egui::Button::new(tr("New passphrase"))).clicked()
            {
                cmds.push(UiCmd::RenewBackupPassphrase);
            }
        });
        if let Some((done, total)) = w.progress {
            let fraction = if total == 0 { 0.0 } else { done as f32 / total as f32 };
            let text = tr_fill("{} of {}", &[&size_text(done), &size_text(total)]);
            ui.add(egui::ProgressBar::new(fraction).text(text).desired_width(400.0));
        }
        match &w.outcome {
            Some(Ok(text)) => {
                ui.label(text);
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, super::i18n::tr_dynamic(e));
            }
            None => {}
        }
    });
    !open
}

/// The passphrase, once, with a copy button.
fn passphrase_ui(ui: &mut egui::Ui, p: &Password, copied: &mut bool) {
    ui.strong(tr("Your backup passphrase"));
    ui.label(tr("Write it down and keep it safe: no backup can be opened without it, and it is not shown again."));
    ui.horizontal(|ui| {
        ui.add(egui::Label::new(egui::RichText::new(p.as_str()).monospace().size(18.0)).selectable(true));
        if ui.button(tr("Copy")).clicked() {
            ui.ctx().copy_text(p.as_str().to_string());
            *copied = true;
        }
    });
    if *copied {
        ui.weak(tr("Copied."));
    }
}

fn last_text(s: Option<&BackupSettings>) -> String {
    let Some(last) = s.and_then(|s| s.last.as_ref()) else { return tr("none yet").to_string() };
    let local = crate::util::local_time(last.at);
    let when = format!("{} {}", local.day, local.hm);
    match &last.error {
        Some(e) => tr_fill("{}: failed ({})", &[&when, e]),
        None => format!("{when}, {}", size_text(last.bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(12 << 20), "12.0 MiB");
        assert_eq!(size_text(3 << 30), "3.0 GiB");
    }
}
