//! The main window: talk list, conversation (virtualized), composer, add-friend dialog.

use eframe::egui;

use super::backend::{MessageItem, UiCmd};
use super::{AddFriendState, ChatState, WoChatApp};
use crate::app::ConnState;

pub(super) fn main_ui(app: &mut WoChatApp, ui: &mut egui::Ui) {
    let Some(chat) = app.chat.as_mut() else { return };
    let mut cmds = Vec::new();
    shortcuts(chat, ui);
    egui::Panel::top("top").show(ui, |ui| top_bar_ui(chat, ui));
    egui::Panel::left("talks")
        .resizable(true)
        .default_size(260.0)
        .min_size(180.0)
        .show(ui, |ui| talks_ui(chat, ui, &mut cmds));
    egui::CentralPanel::default_margins().show(ui, |ui| conversation_ui(chat, ui, &mut cmds));
    add_friend_ui(chat, ui, &mut cmds);
    for c in cmds {
        app.send(c);
    }
}

fn shortcuts(chat: &mut ChatState, ui: &egui::Ui) {
    let (ctrl_f, ctrl_n, esc) = ui.input_mut(|i| {
        (
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::F),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::N),
            i.key_pressed(egui::Key::Escape),
        )
    });
    if ctrl_f {
        chat.focus_filter = true;
    }
    if ctrl_n {
        chat.add_friend = Some(AddFriendState::default());
    }
    if esc {
        chat.add_friend = None;
    }
}

fn top_bar_ui(chat: &mut ChatState, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.strong(&chat.me.0);
        let addr = chat.me.1.to_hex();
        ui.weak(format!("{}...{}", &addr[..8], &addr[58..]));
        if ui.button("Copy address").clicked() {
            ui.ctx().copy_text(crate::link::make_link(&chat.me.1, &chat.me.0));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let (state, broker) = &chat.connection;
            let (word, color) = match state {
                ConnState::Connected => ("connected", egui::Color32::from_rgb(40, 160, 70)),
                ConnState::Reconnecting => ("reconnecting", egui::Color32::from_rgb(220, 150, 0)),
                ConnState::Offline => ("offline", egui::Color32::GRAY),
            };
            ui.weak(broker.as_str());
            ui.colored_label(color, word);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 4.0, color);
        });
    });
}

fn talks_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    ui.horizontal(|ui| {
        let label = ui.label("Filter");
        let r = ui.add(egui::TextEdit::singleline(&mut chat.filter).desired_width(f32::INFINITY)).labelled_by(label.id);
        if std::mem::take(&mut chat.focus_filter) {
            r.request_focus();
        }
    });
    if ui.button("Add friend...").clicked() {
        chat.add_friend = Some(AddFriendState::default());
    }
    ui.separator();
    let filter = chat.filter.to_lowercase();
    egui::ScrollArea::vertical().show(ui, |ui| {
        for (requests, heading) in [(true, "Message requests"), (false, "Chats")] {
            let items: Vec<_> = chat
                .talks
                .iter()
                .filter(|t| t.request == requests)
                .filter(|t| {
                    filter.is_empty() || t.name.to_lowercase().contains(&filter) || t.peer.to_hex().contains(&filter)
                })
                .cloned()
                .collect();
            if items.is_empty() {
                continue;
            }
            if requests {
                ui.strong(heading);
            }
            for t in items {
                let selected = chat.open == Some(t.peer);
                let label = if t.unread > 0 { format!("{}  ({})", t.name, t.unread) } else { t.name.clone() };
                let r =
                    ui.add(egui::Button::selectable(selected, label).min_size(egui::vec2(ui.available_width(), 0.0)));
                if !t.preview.is_empty() {
                    ui.weak(&t.preview);
                }
                if requests {
                    ui.horizontal(|ui| {
                        if ui.small_button("Accept").clicked() {
                            cmds.push(UiCmd::AddFriend { input: t.peer.to_hex(), name: String::new() });
                        }
                    });
                }
                if r.clicked() && !selected {
                    chat.open = Some(t.peer);
                    chat.messages.clear();
                    chat.has_older = false;
                    chat.loading_older = false;
                    cmds.push(UiCmd::OpenTalk(t.peer));
                }
            }
            ui.separator();
        }
    });
}

/// Estimated height of a message bubble at `width` (only visible rows are laid out).
fn row_height(m: &MessageItem, width: f32, line: f32) -> f32 {
    let chars_per_line = ((width * 0.7) / (line * 0.55)).max(8.0);
    let lines: f32 = m.text.split('\n').map(|l| (l.chars().count() as f32 / chars_per_line).ceil().max(1.0)).sum();
    lines * line + 30.0
}

fn conversation_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(peer) = chat.open else {
        ui.centered_and_justified(|ui| ui.weak("Pick a conversation, or add a friend (Ctrl+N)."));
        return;
    };
    for e in &chat.errors {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    egui::Panel::bottom("composer").show(ui, |ui| composer_ui(chat, ui, cmds, peer));
    let line = ui.text_style_height(&egui::TextStyle::Body);
    let width = ui.available_width();
    let heights: Vec<f32> = chat.messages.iter().map(|m| row_height(m, width, line)).collect();
    let total: f32 = heights.iter().sum();
    let mut want_older = false;
    egui::ScrollArea::vertical().stick_to_bottom(true).auto_shrink([false, false]).show_viewport(ui, |ui, viewport| {
        ui.set_height(total);
        let top = ui.min_rect().top();
        let mut y = 0.0;
        for (m, h) in chat.messages.iter().zip(&heights) {
            if y + h >= viewport.min.y && y <= viewport.max.y {
                let rect = egui::Rect::from_min_size(egui::pos2(ui.min_rect().left(), top + y), egui::vec2(width, *h));
                ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| bubble_ui(ui, m));
            }
            y += h;
        }
        want_older = viewport.min.y < line * 2.0;
    });
    if want_older
        && chat.has_older
        && !chat.loading_older
        && let Some(first) = chat.messages.first()
    {
        chat.loading_older = true;
        cmds.push(UiCmd::LoadOlder { peer, before: first.id });
    }
}

fn bubble_ui(ui: &mut egui::Ui, m: &MessageItem) {
    let layout = if m.outgoing {
        egui::Layout::right_to_left(egui::Align::TOP)
    } else {
        egui::Layout::left_to_right(egui::Align::TOP)
    };
    ui.with_layout(layout, |ui| {
        let fill = if m.outgoing { ui.visuals().selection.bg_fill } else { ui.visuals().faint_bg_color };
        egui::Frame::new().fill(fill).corner_radius(8.0).inner_margin(egui::Margin::symmetric(10, 6)).show(ui, |ui| {
            ui.set_max_width(ui.available_width() * 0.7);
            ui.vertical(|ui| {
                ui.add(egui::Label::new(&m.text).selectable(true).wrap());
                let time = crate::util::format_utc(m.dt);
                ui.horizontal(|ui| {
                    ui.small(&time[11..16]);
                    if m.outgoing {
                        status_icon(ui, m.stat);
                    }
                });
            });
        });
    });
}

/// The status of an own message, drawn (no font needed): N a clock, S one tick, C two ticks.
fn status_icon(ui: &mut egui::Ui, stat: char) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(18.0, 10.0), egui::Sense::hover());
    let color = ui.visuals().weak_text_color();
    let stroke = egui::Stroke::new(1.4, color);
    let p = ui.painter();
    let tick = |dx: f32| {
        let o = rect.left_bottom() + egui::vec2(dx, -1.0);
        p.line_segment([o + egui::vec2(0.0, -4.0), o + egui::vec2(3.0, 0.0)], stroke);
        p.line_segment([o + egui::vec2(3.0, 0.0), o + egui::vec2(9.0, -8.0)], stroke);
    };
    match stat {
        'N' => {
            let c = rect.left_center() + egui::vec2(5.0, 0.0);
            p.circle_stroke(c, 4.5, stroke);
            p.line_segment([c, c + egui::vec2(0.0, -3.0)], stroke);
            p.line_segment([c, c + egui::vec2(2.0, 0.0)], stroke);
        }
        'S' => tick(2.0),
        _ => {
            tick(2.0);
            tick(7.0);
        }
    }
    let words = match stat {
        'N' => "waiting to be sent",
        'S' => "sent to the broker",
        _ => "delivered",
    };
    response.on_hover_text(words);
}

fn composer_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>, peer: crate::crypto::Address) {
    ui.horizontal(|ui| {
        let label = ui.label("Message");
        // Enter sends, Shift+Enter is a new line.
        let enter = ui.input_mut(|i| i.focused && i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
        let r = ui
            .add(
                egui::TextEdit::multiline(&mut chat.composer)
                    .desired_rows(2)
                    .desired_width(ui.available_width() - 70.0),
            )
            .labelled_by(label.id);
        let send = ui.button("Send").clicked() || (enter && r.has_focus());
        if send && !chat.composer.trim().is_empty() {
            let text = std::mem::take(&mut chat.composer).trim_end().to_string();
            cmds.push(UiCmd::SendText { to: peer, text });
            r.request_focus();
        }
    });
}

fn add_friend_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(d) = chat.add_friend.as_mut() else { return };
    let mut open = true;
    let mut add = false;
    egui::Window::new("Add friend").collapsible(false).resizable(false).open(&mut open).show(ui.ctx(), |ui| {
        let label = ui.label("Address or wochat: link");
        let r = ui.add(egui::TextEdit::singleline(&mut d.input).desired_width(360.0)).labelled_by(label.id);
        let label = ui.label("Name");
        let n = ui.add(egui::TextEdit::singleline(&mut d.name).desired_width(360.0)).labelled_by(label.id);
        if let Some(e) = &d.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let enter = (r.lost_focus() || n.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
        add = ui.button("Add").clicked() || enter;
    });
    if add {
        d.error = None;
        cmds.push(UiCmd::AddFriend { input: d.input.trim().to_string(), name: d.name.trim().to_string() });
    }
    if !open {
        chat.add_friend = None;
    }
}
