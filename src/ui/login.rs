//! The login window: a dropdown of accounts, a masked password, create account.

use eframe::egui;

use super::WoChatApp;
use super::backend::UiCmd;
use super::i18n::tr;

/// A rough strength hint for a new password.
pub fn strength_hint(p: &str) -> &'static str {
    let classes = [
        p.chars().any(|c| c.is_lowercase()),
        p.chars().any(|c| c.is_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    match (p.chars().count(), classes) {
        (0, _) => "",
        (n, _) if n < 8 => tr("weak: use at least 8 characters"),
        (n, c) if n >= 14 || (n >= 10 && c >= 3) => tr("strong"),
        _ => tr("fair: longer is stronger"),
    }
}

pub(super) fn login_ui(app: &mut WoChatApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default_margins().show(ui, |ui| {
        ui.vertical_centered(|ui| {
            ui.add_space((ui.available_height() * 0.16).max(24.0));
            ui.heading(egui::RichText::new("WoChat").size(28.0));
            ui.weak(tr("End-to-end encrypted chat"));
            ui.add_space(24.0);
            ui.set_max_width(320.0);
            if app.login.creating {
                create_form(app, ui);
            } else {
                login_form(app, ui);
            }
        });
    });
}

fn login_form(app: &mut WoChatApp, ui: &mut egui::Ui) {
    let st = &mut app.login;
    let label = ui.label(tr("Account"));
    egui::ComboBox::from_id_salt("account")
        .selected_text(st.selected.clone())
        .width(300.0)
        .show_ui(ui, |ui| {
            for name in &st.accounts {
                if st.open_elsewhere.contains(name) {
                    let label = format!("{name}  ({})", tr("open in another window"));
                    ui.selectable_value(&mut st.selected, name.clone(), label);
                } else {
                    ui.selectable_value(&mut st.selected, name.clone(), name);
                }
            }
        })
        .response
        .labelled_by(label.id);
    let label = ui.label(tr("Password"));
    let pw =
        ui.add(egui::TextEdit::singleline(&mut *st.password).password(true).desired_width(300.0)).labelled_by(label.id);
    let enter = pw.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    // Type the password at once (and again after a wrong one), unless another field has focus.
    if !st.busy && st.import.is_none() && st.restore.is_none() && ui.memory(|m| m.focused().is_none()) {
        pw.request_focus();
    }
    if let Some(e) = &st.error {
        ui.colored_label(ui.visuals().error_fg_color, super::i18n::tr_dynamic(e));
    }
    ui.add_space(8.0);
    let mut go = enter;
    go |= ui.add_enabled(!st.busy && !st.selected.is_empty(), egui::Button::new(tr("Log in"))).clicked();
    if st.busy {
        ui.spinner();
    }
    if go && !st.busy && !st.selected.is_empty() {
        st.busy = true;
        st.error = None;
        let cmd = UiCmd::Login { name: st.selected.clone(), password: st.password.take() };
        app.send(cmd);
        return;
    }
    ui.add_space(16.0);
    if ui.button(tr("Create account...")).clicked() {
        st.creating = true;
        st.error = None;
    }
    if ui.button(tr("Import account...")).clicked() {
        st.error = None;
        app.backend.send(UiCmd::PickImport);
    }
    if ui.button(tr("Restore from backup...")).clicked() {
        st.error = None;
        app.login.restore.get_or_insert_with(Default::default);
        app.backend.send(UiCmd::PickRestore);
    }
    import_path_form(&mut app.login, ui);
    import_form(&mut app.login, &app.backend, ui);
    restore_form(&mut app.login, &app.backend, ui);
}

/// Restoring from a backup: the file (picked, or typed), its passphrase, then Restore.
fn restore_form(st: &mut super::LoginState, backend: &super::backend::Backend, ui: &mut egui::Ui) {
    let Some(form) = st.restore.as_mut() else { return };
    ui.separator();
    ui.strong(tr("Restore from backup"));
    let label = ui.label(tr("Backup file"));
    ui.add(egui::TextEdit::singleline(&mut form.path).desired_width(300.0)).labelled_by(label.id);
    let label = ui.label(tr("Backup passphrase"));
    let pw = ui
        .add(egui::TextEdit::singleline(&mut *form.passphrase).password(true).desired_width(300.0))
        .labelled_by(label.id);
    ui.checkbox(&mut form.replace, tr("Replace the account here if it is the same one"));
    if let Some(e) = &form.error {
        ui.colored_label(ui.visuals().error_fg_color, super::i18n::tr_dynamic(e));
    }
    let enter = pw.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    let ready = !form.busy && !form.path.trim().is_empty() && !form.passphrase.is_empty();
    let mut cancel = false;
    ui.horizontal(|ui| {
        if (ui.add_enabled(ready, egui::Button::new(tr("Restore"))).clicked() || enter) && ready {
            form.busy = true;
            form.error = None;
            let path = std::path::PathBuf::from(form.path.trim());
            backend.send(UiCmd::Restore { path, passphrase: form.passphrase.take(), replace: form.replace });
        }
        if form.busy {
            ui.spinner();
        } else if ui.button(tr("Cancel")).clicked() {
            cancel = true;
        }
    });
    if cancel {
        st.restore = None;
    }
}

/// Where no file dialog works: the export file's path, typed.
fn import_path_form(st: &mut super::LoginState, ui: &mut egui::Ui) {
    let Some(typed) = st.import_path.as_mut() else { return };
    ui.separator();
    ui.label(tr("No file dialog is available here (no desktop portal or zenity). Type the path of the file:"));
    let label = ui.label(tr("Path of the export file"));
    let r = ui.add(egui::TextEdit::singleline(typed).desired_width(300.0)).labelled_by(label.id);
    let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    if ui.button(tr("Use this file")).clicked() || enter {
        let path = std::path::PathBuf::from(typed.trim());
        if path.is_file() {
            st.import = Some(path);
            st.import_path = None;
        } else {
            st.error = Some(super::i18n::tr_fill("{} is not a file", &[&path.display()]));
        }
    }
}

/// After an export file was picked: its password, then Import.
fn import_form(st: &mut super::LoginState, backend: &super::backend::Backend, ui: &mut egui::Ui) {
    let Some(path) = st.import.clone() else { return };
    ui.separator();
    ui.label(format!("{} {}", tr("Import"), path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    let label = ui.label(tr("Password of the exported account"));
    let pw = ui
        .add(egui::TextEdit::singleline(&mut *st.import_password).password(true).desired_width(300.0))
        .labelled_by(label.id);
    let enter = pw.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    if (ui.add_enabled(!st.busy, egui::Button::new(tr("Import"))).clicked() || enter) && !st.busy {
        st.busy = true;
        backend.send(UiCmd::Import { path, password: st.import_password.take() });
    }
}

fn create_form(app: &mut WoChatApp, ui: &mut egui::Ui) {
    let st = &mut app.login;
    let label = ui.label(tr("Name"));
    ui.add(egui::TextEdit::singleline(&mut st.new_name).desired_width(300.0)).labelled_by(label.id);
    let label = ui.label(tr("New password"));
    ui.add(egui::TextEdit::singleline(&mut *st.new_password).password(true).desired_width(300.0)).labelled_by(label.id);
    let hint = strength_hint(&st.new_password);
    if !hint.is_empty() {
        ui.small(hint);
    }
    let label = ui.label(tr("Repeat the password"));
    let again = ui
        .add(egui::TextEdit::singleline(&mut *st.new_password2).password(true).desired_width(300.0))
        .labelled_by(label.id);
    let enter = again.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    let problem = if st.new_name.trim().is_empty() {
        Some(tr("choose a name"))
    } else if st.new_password.is_empty() {
        Some(tr("choose a password"))
    } else if st.new_password != st.new_password2 {
        Some(tr("the passwords differ"))
    } else {
        None
    };
    if let Some(e) = &st.error {
        ui.colored_label(ui.visuals().error_fg_color, super::i18n::tr_dynamic(e));
    } else if let Some(p) = problem.filter(|_| !st.new_password2.is_empty()) {
        ui.small(p);
    }
    let mut go = enter;
    go |= ui.add_enabled(problem.is_none() && !st.busy, egui::Button::new(tr("Create"))).clicked();
    if st.busy {
        ui.spinner();
    }
    if !st.accounts.is_empty() && ui.button(tr("Back")).clicked() {
        st.creating = false;
        st.error = None;
    }
    if go && problem.is_none() && !st.busy {
        st.busy = true;
        st.error = None;
        let cmd = UiCmd::Create { name: st.new_name.trim().to_string(), password: st.new_password.take() };
        st.new_password2.clear();
        app.send(cmd);
    }
}
