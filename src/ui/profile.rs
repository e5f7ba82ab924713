//! The profile pane: identicon, name (editable for a friend), address with copy, the
//! `wochat:` link as a QR code, block and remove.

use eframe::egui;

use super::ChatState;
use super::backend::UiCmd;
use super::i18n::tr;

pub(super) fn profile_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(peer) = chat.profile.as_ref().map(|p| p.peer) else { return };
    let talk = chat.talk_with(&peer).map(|t| t.view.clone());
    let Some(p) = chat.profile.as_mut() else { return };
    let mut open = true;
    let mut close = false;
    let mut remove = None;
    let title = if p.own { tr("Your address") } else { tr("Profile") };
    egui::Window::new(title).collapsible(false).resizable(false).open(&mut open).show(ui.ctx(), |ui| {
        ui.horizontal(|ui| {
            super::identicon::identicon_ui(ui, &p.peer, 48.0);
            ui.vertical(|ui| {
                if p.own {
                    ui.heading(&p.name);
                } else {
                    let label = ui.label(tr("Name"));
                    ui.horizontal(|ui| {
                        ui.add(egui::TextEdit::singleline(&mut p.name).desired_width(220.0)).labelled_by(label.id);
                        if ui.button(tr("Save")).clicked() && !p.name.trim().is_empty() {
                            cmds.push(UiCmd::RenameFriend { peer: p.peer, name: p.name.trim().to_string() });
                        }
                    });
                }
            });
        });
        ui.add_space(6.0);
        let address = p.peer.to_hex();
        ui.add(egui::Label::new(egui::RichText::new(&address).monospace().small()).selectable(true).wrap());
        let link = crate::link::make_link(&p.peer, if p.own { &p.name } else { "" });
        if ui.button(tr("Copy link")).clicked() {
            ui.ctx().copy_text(link.clone());
        }
        ui.add_space(6.0);
        ui.vertical_centered(|ui| qr_ui(ui, &link, 200.0));
        if let (false, Some(t)) = (p.own, talk) {
            ui.separator();
            ui.horizontal(|ui| {
                let block = if t.blocked { tr("Unblock") } else { tr("Block") };
                if ui.button(block).clicked() {
                    cmds.push(UiCmd::SetBlocked { peer: p.peer, blocked: !t.blocked });
                }
                if t.friend && ui.button(tr("Remove friend...")).clicked() {
                    remove = Some((p.peer, t.name.clone()));
                    close = true;
                }
            });
        }
    });
    if !open || close {
        chat.profile = None;
    }
    if remove.is_some() {
        chat.confirm_remove = remove;
    }
}

/// Draws `text` as a QR code `size` points wide (dark modules on a light square, whatever the
/// theme, so that cameras read it).
pub(super) fn qr_ui(ui: &mut egui::Ui, text: &str, size: f32) {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        ui.weak(tr("(too long for a QR code)"));
        return;
    };
    let n = code.width();
    let quiet = 4;
    let cell = size / (n + 2 * quiet) as f32;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let painter = ui.painter();
    painter.rect_filled(rect, 4.0, egui::Color32::WHITE);
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = ((i % n + quiet) as f32, (i / n + quiet) as f32);
            let min = rect.min + egui::vec2(x * cell, y * cell);
            painter.rect_filled(egui::Rect::from_min_size(min, egui::vec2(cell, cell)), 0.0, egui::Color32::BLACK);
        }
    }
}
