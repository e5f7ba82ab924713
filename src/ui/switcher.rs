//! Getting around by keyboard and passing messages on: the quick switcher (Ctrl+K: a talk by
//! name), moving between talks with the arrow keys, and the "Forward to" dialog.

use eframe::egui;

use super::ChatState;
use super::backend::UiCmd;
use super::i18n::tr;
use crate::store::ChatId;
use crate::wire::MessageHash;

/// The quick switcher: a name typed, the matching talks, one of them selected.
#[derive(Debug, Default)]
pub struct Switcher {
    /// What is typed.
    pub query: String,
    /// The selected match.
    pub selected: usize,
    /// The field takes the keyboard on the next frame.
    pub focus: bool,
}

/// The "Forward to" dialog of a message.
#[derive(Debug)]
pub struct ForwardState {
    /// The message.
    pub hash: MessageHash,
    /// The talks ticked.
    pub picked: Vec<ChatId>,
    /// Shows only talks whose name contains this.
    pub filter: String,
}

/// The talks in the list's order, archived ones last, whose name contains `query` (any case).
fn matching(chat: &ChatState, query: &str) -> Vec<(ChatId, String)> {
    let query = query.trim().to_lowercase();
    let mut talks: Vec<_> = chat.talks.iter().filter(|t| !t.view.state.archived).collect();
    talks.extend(chat.talks.iter().filter(|t| t.view.state.archived));
    talks
        .into_iter()
        .filter(|t| !t.view.blocked && t.view.name.to_lowercase().contains(&query))
        .map(|t| (t.view.chat, t.view.name.clone()))
        .collect()
}

/// Ctrl+K opens the switcher; Alt+↑/↓ (or ↑/↓ while no field has the keyboard) opens the
/// talk above or below the open one in the list.
pub fn keys(chat: &mut ChatState, ui: &egui::Ui, cmds: &mut Vec<UiCmd>) {
    if ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::K)) {
        chat.switcher = Some(Switcher { focus: true, ..Default::default() });
    }
    if chat.switcher.is_some() || chat.forward.is_some() {
        return;
    }
    let free = ui.memory(|m| m.focused().is_none());
    let step = ui.input_mut(|i| {
        let up = i.consume_key(egui::Modifiers::ALT, egui::Key::ArrowUp)
            || (free && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp));
        let down = i.consume_key(egui::Modifiers::ALT, egui::Key::ArrowDown)
            || (free && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown));
        i64::from(down) - i64::from(up)
    });
    if step == 0 {
        return;
    }
    let list: Vec<ChatId> =
        chat.talks.iter().filter(|t| !t.view.state.archived || chat.show_archived).map(|t| t.view.chat).collect();
    let at = chat.open.and_then(|o| list.iter().position(|c| *c == o));
    let next = match at {
        Some(i) => (i as i64 + step).clamp(0, list.len() as i64 - 1) as usize,
        None => 0,
    };
    if let Some(&id) = list.get(next)
        && Some(id) != chat.open
    {
        cmds.push(chat.open_talk(id));
    }
}

/// The quick switcher's window: type a name, ↑/↓ choose, Enter opens, Esc closes.
pub fn switcher_ui(chat: &mut ChatState, ui: &egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(s) = chat.switcher.as_mut() else { return };
    let (up, down, enter) = ui.input_mut(|i| {
        (
            i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
            i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
            i.consume_key(egui::Modifiers::NONE, egui::Key::Enter),
        )
    });
    let query = s.query.clone();
    let found = matching(chat, &query);
    let Some(s) = chat.switcher.as_mut() else { return };
    if down {
        s.selected = (s.selected + 1).min(found.len().saturating_sub(1));
    }
    if up {
        s.selected = s.selected.saturating_sub(1);
    }
    s.selected = s.selected.min(found.len().saturating_sub(1));
    let mut open = enter.then(|| found.get(s.selected).map(|f| f.0)).flatten();
    let mut keep = true;
    egui::Window::new(tr("Go to chat"))
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_TOP, [0.0, 60.0])
        .open(&mut keep)
        .show(ui.ctx(), |ui| {
            let label = ui.label(tr("Name"));
            let r = ui.add(egui::TextEdit::singleline(&mut s.query).desired_width(280.0)).labelled_by(label.id);
            if std::mem::take(&mut s.focus) {
                r.request_focus();
            }
            if r.changed() {
                s.selected = 0;
            }
            for (i, (id, name)) in found.iter().enumerate().take(12) {
                if ui.selectable_label(i == s.selected, name).clicked() {
                    open = Some(*id);
                }
            }
            if found.is_empty() {
                ui.weak(tr("No chat has this name"));
            }
        });
    if let Some(id) = open {
        chat.switcher = None;
        cmds.push(chat.open_talk(id));
    } else if !keep {
        chat.switcher = None;
    }
}

/// The "Forward to" dialog: tick talks, then Forward.
pub fn forward_ui(chat: &mut ChatState, ui: &egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(f) = chat.forward.as_ref() else { return };
    let found = matching(chat, &f.filter);
    let Some(f) = chat.forward.as_mut() else { return };
    let mut keep = true;
    let mut send = false;
    egui::Window::new(tr("Forward to"))
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .open(&mut keep)
        .show(ui.ctx(), |ui| {
            let label = ui.label(tr("Filter"));
            ui.add(egui::TextEdit::singleline(&mut f.filter).desired_width(280.0)).labelled_by(label.id);
            egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| {
                for (id, name) in &found {
                    let mut on = f.picked.contains(id);
                    if ui.checkbox(&mut on, name).changed() {
                        if on {
                            f.picked.push(*id);
                        } else {
                            f.picked.retain(|p| p != id);
                        }
                    }
                }
            });
            let button = egui::Button::new(tr("Forward"));
            send = ui.add_enabled(!f.picked.is_empty(), button).clicked();
        });
    if send && let Some(f) = chat.forward.take() {
        cmds.push(UiCmd::Forward { hash: f.hash, to: f.picked });
    } else if !keep {
        chat.forward = None;
    }
}
