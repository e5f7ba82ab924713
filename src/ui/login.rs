//! The login window: a dropdown of accounts, a masked password, create account.

use eframe::egui;

use super::WoChatApp;
use super::backend::UiCmd;

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
        (n, _) if n < 8 => "weak: use at least 8 characters",
        (n, c) if n >= 14 || (n >= 10 && c >= 3) => "strong",
        _ => "fair: longer is stronger",
    }
}

pub(super) fn login_ui(app: &mut WoChatApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default_margins().show(ui, |ui| {
        ui.vertical_centered(|ui| {
            ui.add_space(60.0);
            ui.heading("WoChat");
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
    let label = ui.label("Account");
    egui::ComboBox::from_id_salt("account")
        .selected_text(st.selected.clone())
        .width(300.0)
        .show_ui(ui, |ui| {
            for name in &st.accounts {
                ui.selectable_value(&mut st.selected, name.clone(), name);
            }
        })
        .response
        .labelled_by(label.id);
    let label = ui.label("Password");
    let pw =
        ui.add(egui::TextEdit::singleline(&mut st.password).password(true).desired_width(300.0)).labelled_by(label.id);
    let enter = pw.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    if let Some(e) = &st.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    ui.add_space(8.0);
    let mut go = enter;
    go |= ui.add_enabled(!st.busy && !st.selected.is_empty(), egui::Button::new("Log in")).clicked();
    if st.busy {
        ui.spinner();
    }
    if go && !st.busy && !st.selected.is_empty() {
        st.busy = true;
        st.error = None;
        let cmd = UiCmd::Login { name: st.selected.clone(), password: std::mem::take(&mut st.password) };
        app.send(cmd);
        return;
    }
    ui.add_space(16.0);
    if ui.button("Create account...").clicked() {
        st.creating = true;
        st.error = None;
    }
}

fn create_form(app: &mut WoChatApp, ui: &mut egui::Ui) {
    let st = &mut app.login;
    let label = ui.label("Name");
    ui.add(egui::TextEdit::singleline(&mut st.new_name).desired_width(300.0)).labelled_by(label.id);
    let label = ui.label("New password");
    ui.add(egui::TextEdit::singleline(&mut st.new_password).password(true).desired_width(300.0)).labelled_by(label.id);
    let hint = strength_hint(&st.new_password);
    if !hint.is_empty() {
        ui.small(hint);
    }
    let label = ui.label("Repeat the password");
    let again = ui
        .add(egui::TextEdit::singleline(&mut st.new_password2).password(true).desired_width(300.0))
        .labelled_by(label.id);
    let enter = again.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    let problem = if st.new_name.trim().is_empty() {
        Some("choose a name")
    } else if st.new_password.is_empty() {
        Some("choose a password")
    } else if st.new_password != st.new_password2 {
        Some("the passwords differ")
    } else {
        None
    };
    if let Some(e) = &st.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    } else if let Some(p) = problem.filter(|_| !st.new_password2.is_empty()) {
        ui.small(p);
    }
    let mut go = enter;
    go |= ui.add_enabled(problem.is_none() && !st.busy, egui::Button::new("Create")).clicked();
    if st.busy {
        ui.spinner();
    }
    if !st.accounts.is_empty() && ui.button("Back").clicked() {
        st.creating = false;
        st.error = None;
    }
    if go && problem.is_none() && !st.busy {
        st.busy = true;
        st.error = None;
        let cmd =
            UiCmd::Create { name: st.new_name.trim().to_string(), password: std::mem::take(&mut st.new_password) };
        st.new_password2.clear();
        app.send(cmd);
    }
}
