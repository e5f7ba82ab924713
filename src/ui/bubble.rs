//! What a message bubble adds around its content: the quoted message of a reply, "edited",
//! the reactions under it, and its context menu (right click): reply, react, copy, edit,
//! delete, save.

use eframe::egui;

use super::backend::{MessageItem, UiCmd};
use super::i18n::tr;
use crate::app::Action;
use crate::app::read::{MessageView, QuoteView};
use crate::crypto::Address;
use crate::store::{EDIT_WINDOW_MS, MAX_EDITS};
use crate::wire::MessageKind;

/// The reactions offered first in a bubble's menu.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤", "😂", "😮", "😢", "🙏"];

/// What a click in a bubble asks of the conversation.
#[derive(Debug, Clone)]
pub enum BubbleAction {
    /// Reply to this message (the composer quotes it).
    Reply(Box<MessageView>),
    /// Edit this own message (its text goes into the composer).
    Edit(Box<MessageView>),
    /// Forward this message (the "Forward to" dialog opens).
    Forward(crate::wire::MessageHash),
    /// Bring the quoted message (row id) into view.
    JumpTo(i64),
    /// A command for the backend.
    Cmd(UiCmd),
}

/// The quoted message above a reply; a click asks to bring it into view.
pub fn quote_ui(ui: &mut egui::Ui, q: &QuoteView, name_of: &dyn Fn(&Address) -> String, out: &mut Vec<BubbleAction>) {
    let snippet = if q.id.is_some() {
        super::i18n::tr_preview(&q.snippet)
    } else {
        tr("The original message is not here").to_string()
    };
    let who = q.from.as_ref().map(name_of).unwrap_or_default();
    let stroke = egui::Stroke::new(3.0, ui.visuals().weak_text_color());
    let r = egui::Frame::new()
        .inner_margin(egui::Margin { left: 8, right: 6, top: 3, bottom: 3 })
        .corner_radius(4.0)
        .fill(ui.visuals().extreme_bg_color.gamma_multiply(0.5))
        .show(ui, |ui| {
            ui.vertical(|ui| {
                if !who.is_empty() {
                    ui.small(egui::RichText::new(who).strong());
                }
                ui.add(egui::Label::new(egui::RichText::new(snippet).small()).truncate());
            });
        })
        .response;
    let left = r.rect.left_top();
    ui.painter().line_segment([left, egui::pos2(left.x, r.rect.bottom())], stroke);
    let r = r.interact(egui::Sense::click()).on_hover_cursor(egui::CursorIcon::PointingHand);
    if let (true, Some(id)) = (r.clicked(), q.id) {
        out.push(BubbleAction::JumpTo(id));
    }
}

/// The reactions under a bubble, with counts; hovering one lists who, clicking it adds or
/// removes one's own.
pub fn reactions_ui(
    ui: &mut egui::Ui,
    m: &MessageView,
    me: &Address,
    name_of: &dyn Fn(&Address) -> String,
    out: &mut Vec<BubbleAction>,
) {
    if m.reactions.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for (emoji, who) in &m.reactions {
            let mine = who.contains(me);
            let label = format!("{emoji} {}", who.len());
            let names: Vec<String> = who.iter().map(name_of).collect();
            let r = ui.add(egui::Button::new(label).small().selected(mine)).on_hover_text(names.join(", "));
            if r.clicked() {
                let emoji = if mine { String::new() } else { emoji.clone() };
                out.push(BubbleAction::Cmd(UiCmd::Act(Action::React { target: m.hash, emoji })));
            }
        }
    });
}

/// Whether an own message may still be edited (the rules the receiver checks).
pub fn editable(m: &MessageView, now_ms: i64) -> bool {
    m.outgoing
        && !m.deleted
        && m.kind == MessageKind::Text
        && i64::from(m.edited) < MAX_EDITS
        && now_ms - m.ord <= EDIT_WINDOW_MS
}

/// The context menu of a bubble.
pub fn menu_ui(ui: &mut egui::Ui, item: &MessageItem, me: &Address, out: &mut Vec<BubbleAction>) {
    let m = &item.view;
    if m.deleted {
        if ui.button(tr("Delete for me")).clicked() {
            out.push(BubbleAction::Cmd(UiCmd::Act(Action::Delete { target: m.hash, for_everyone: false })));
            ui.close();
        }
        return;
    }
    if ui.button(tr("Reply")).clicked() {
        out.push(BubbleAction::Reply(Box::new(m.clone())));
        ui.close();
    }
    ui.horizontal(|ui| {
        for emoji in QUICK_REACTIONS {
            if ui.button(emoji).on_hover_text(tr("React")).clicked() {
                out.push(BubbleAction::Cmd(UiCmd::Act(Action::React { target: m.hash, emoji: emoji.into() })));
                ui.close();
            }
        }
    });
    // Any other emoji: typed or pasted.
    ui.horizontal(|ui| {
        let id = ui.make_persistent_id(("other_reaction", m.hash));
        let mut other: String = ui.data_mut(|d| d.get_temp(id).unwrap_or_default());
        let label = ui.label(tr("Other:"));
        let r = ui.add(egui::TextEdit::singleline(&mut other).desired_width(60.0)).labelled_by(label.id);
        let emoji = other.trim().to_string();
        let ok = !emoji.is_empty() && crate::wire::valid_reaction(&emoji);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.add_enabled(ok, egui::Button::new(tr("React"))).clicked() || enter) && ok {
            out.push(BubbleAction::Cmd(UiCmd::Act(Action::React { target: m.hash, emoji })));
            other.clear();
            ui.close();
        }
        ui.data_mut(|d| d.insert_temp(id, other));
    });
    if m.reactions.iter().any(|(_, who)| who.contains(me)) && ui.button(tr("Remove my reaction")).clicked() {
        out.push(BubbleAction::Cmd(UiCmd::Act(Action::React { target: m.hash, emoji: String::new() })));
        ui.close();
    }
    if let Some(text) = m.text.as_deref().filter(|t| !t.is_empty())
        && ui.button(tr("Copy")).clicked()
    {
        ui.ctx().copy_text(text.to_string());
        ui.close();
    }
    if (m.text.is_some() || m.attachment.as_ref().is_some_and(|a| a.complete)) && ui.button(tr("Forward...")).clicked()
    {
        out.push(BubbleAction::Forward(m.hash));
        ui.close();
    }
    if let Some(a) = m.attachment.as_ref().filter(|a| a.complete)
        && ui.button(tr("Save attachment...")).clicked()
    {
        out.push(BubbleAction::Cmd(UiCmd::SaveFile { file: a.file, name: a.name.clone() }));
        ui.close();
    }
    if editable(m, crate::store::now_ms()) && ui.button(tr("Edit")).clicked() {
        out.push(BubbleAction::Edit(Box::new(m.clone())));
        ui.close();
    }
    ui.separator();
    if ui.button(tr("Delete for me")).clicked() {
        out.push(BubbleAction::Cmd(UiCmd::Act(Action::Delete { target: m.hash, for_everyone: false })));
        ui.close();
    }
    if m.outgoing && ui.button(tr("Delete for everyone")).clicked() {
        out.push(BubbleAction::Cmd(UiCmd::Act(Action::Delete { target: m.hash, for_everyone: true })));
        ui.close();
    }
}
