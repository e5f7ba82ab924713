//! The main window: talk list, conversation (virtualized), composer, add-friend dialog.

use eframe::egui;

use super::backend::{MessageItem, UiCmd};
use super::bubble::{self, BubbleAction};
use super::i18n::tr;
use super::media::{self, ViewedContent};
use super::{AddFriendState, ChatState, ViewerState, WoChatApp};
use crate::app::ConnState;
use crate::app::read::AttachmentView;
use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::store::{ChatId, MessageStatus, TalkChange, TransferState};
use crate::wire::AttachKind;

pub(super) fn main_ui(app: &mut WoChatApp, ui: &mut egui::Ui) {
    let Some(chat) = app.chat.as_mut() else { return };
    let mut cmds = Vec::new();
    shortcuts(chat, ui);
    super::switcher::keys(chat, ui, &mut cmds);
    let mut open_settings = false;
    // A narrow window shows the talk list or the conversation, not both side by side.
    let narrow = ui.available_width() < NARROW_WIDTH;
    let enter_sends = app.config.ui.enter_sends;
    egui::Panel::top("top").show(ui, |ui| top_bar_ui(chat, ui, &mut open_settings, narrow));
    if open_settings && app.settings.is_none() {
        let mut settings = super::settings::SettingsState::new(&app.config, &app.broker_override);
        settings.about =
            super::i18n::tr_fill("WoChat {}, drawn with {}", &[&env!("CARGO_PKG_VERSION"), &app.renderer.describe()]);
        settings.privacy = Some(chat.privacy);
        app.settings = Some(settings);
    }
    if !narrow {
        let talks = egui::Panel::left("talks")
            .resizable(true)
            .default_size(app.talks_width)
            .min_size(180.0)
            .max_size(ui.available_width() / 2.0)
            .show(ui, |ui| talks_ui(chat, ui, &mut cmds));
        app.talks_width = talks.response.rect.width();
    }
    egui::CentralPanel::default_margins().show(ui, |ui| {
        if narrow && chat.open.is_none() {
            talks_ui(chat, ui, &mut cmds);
        } else {
            conversation_ui(chat, ui, &mut cmds, narrow, enter_sends);
        }
    });
    add_friend_ui(chat, ui, &mut cmds);
    path_prompt_ui(chat, ui, &mut cmds);
    paste_preview_ui(chat, ui, &mut cmds);
    confirm_remove_ui(chat, ui, &mut cmds);
    super::profile::profile_ui(chat, ui, &mut cmds);
    viewer_ui(chat, ui);
    super::switcher::switcher_ui(chat, ui, &mut cmds);
    super::switcher::forward_ui(chat, ui, &mut cmds);
    // Files dropped on the window go to the open conversation.
    let dropped: Vec<std::path::PathBuf> =
        ui.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| p.is_file()).collect());
    if let (false, Some(chat)) = (dropped.is_empty(), chat.open) {
        cmds.push(UiCmd::SendFiles { chat, paths: dropped });
    }
    // What the state made itself (a draft kept) goes first: it was made earlier in the frame.
    let cmds: Vec<UiCmd> = std::mem::take(&mut chat.outbox).into_iter().chain(cmds).collect();
    for c in cmds {
        app.send(c);
    }
}

fn shortcuts(chat: &mut ChatState, ui: &egui::Ui) {
    let (ctrl_f, ctrl_n) = ui.input_mut(|i| {
        (i.consume_key(egui::Modifiers::COMMAND, egui::Key::F), i.consume_key(egui::Modifiers::COMMAND, egui::Key::N))
    });
    if ctrl_f {
        chat.focus_filter = true;
    }
    if ctrl_n {
        chat.add_friend = Some(AddFriendState::default());
    }
}

/// Esc closes the topmost dialog of the main window, else the search bar; `false` when there
/// was nothing to close.
pub(super) fn close_topmost(chat: &mut ChatState) -> bool {
    if chat.confirm_remove.take().is_some() || chat.path_prompt.take().is_some() || chat.paste.take().is_some() {
        return true;
    }
    if chat.switcher.take().is_some() || chat.forward.take().is_some() {
        return true;
    }
    if chat.add_friend.is_some() || chat.profile.is_some() || chat.viewer.is_some() {
        chat.add_friend = None;
        chat.profile = None;
        chat.viewer = None;
        return true;
    }
    chat.search.take().is_some()
}

/// The account, its buttons and the connection; `narrow`: without the address and the broker.
fn top_bar_ui(chat: &mut ChatState, ui: &mut egui::Ui, open_settings: &mut bool, narrow: bool) {
    ui.horizontal(|ui| {
        super::identicon::identicon_ui(ui, &chat.me.1, 22.0);
        ui.strong(&chat.me.0);
        if !narrow {
            let addr = chat.me.1.to_hex();
            ui.weak(format!("{}...{}", &addr[..8], &addr[58..]));
        }
        if ui.button(tr("Copy address")).on_hover_text(tr("Copies your wochat: link")).clicked() {
            ui.ctx().copy_text(crate::link::make_link(&chat.me.1, &chat.me.0));
        }
        if ui.button(tr("QR code")).on_hover_text(tr("Your address as a QR code")).clicked() {
            chat.profile = Some(super::ProfileState { peer: chat.me.1, name: chat.me.0.clone(), own: true });
        }
        if ui.button(tr("Settings")).clicked() {
            *open_settings = true;
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let (state, broker, about) = &chat.connection;
            let (word, color) = match state {
                ConnState::Connected => (tr("connected"), egui::Color32::from_rgb(40, 160, 70)),
                ConnState::Reconnecting => (tr("reconnecting"), egui::Color32::from_rgb(220, 150, 0)),
                ConnState::Offline => (tr("offline"), egui::Color32::GRAY),
            };
            if !narrow {
                ui.weak(broker.as_str());
            }
            let word = ui.colored_label(color, word);
            if let Some(about) = about {
                word.on_hover_text(about.as_str());
            }
            let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 4.0, color);
        });
    });
}

fn talks_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    ui.horizontal(|ui| {
        let label = ui.label(tr("Filter"));
        let r = ui.add(egui::TextEdit::singleline(&mut chat.filter).desired_width(f32::INFINITY)).labelled_by(label.id);
        if std::mem::take(&mut chat.focus_filter) {
            r.request_focus();
        }
    });
    if ui.button(tr("Add friend...")).clicked() {
        chat.add_friend = Some(AddFriendState::default());
    }
    ui.separator();
    let filter = chat.filter.to_lowercase();
    let today = crate::util::today();
    egui::ScrollArea::vertical().id_salt("talks").show(ui, |ui| {
        for (requests, heading) in [(true, tr("Message requests")), (false, tr("Chats"))] {
            let items: Vec<_> = chat
                .talks
                .iter()
                .filter(|t| t.view.request == requests && !t.view.state.archived)
                .filter(|t| {
                    filter.is_empty()
                        || t.view.name.to_lowercase().contains(&filter)
                        || t.view.peer().is_some_and(|p| p.to_hex().contains(&filter))
                })
                .cloned()
                .collect();
            let dropped = if requests { chat.requests_dropped } else { 0 };
            if items.is_empty() && dropped == 0 {
                continue;
            }
            if requests {
                ui.strong(heading);
            }
            if dropped > 0 {
                ui.weak(super::i18n::tr_count(
                    "{} older messages from strangers were dropped (limits for requests)",
                    dropped as usize,
                ));
            }
            for t in items {
                talk_entry_ui(chat, ui, &t, today, cmds);
                if let (true, Some(peer)) = (requests, t.view.peer()) {
                    ui.horizontal(|ui| {
                        if ui.small_button(tr("Accept")).clicked() {
                            // Named as they claim: the user accepted them as that.
                            let name = t.view.claimed_name.clone().unwrap_or_default();
                            cmds.push(UiCmd::AddFriend { input: peer.to_hex(), name });
                        }
                        if ui.small_button(tr("Block")).clicked() {
                            cmds.push(UiCmd::SetBlocked { peer, blocked: true });
                        }
                    });
                }
            }
            ui.separator();
        }
        archived_ui(chat, ui, cmds, &filter, today);
    });
}

/// The archived talks, behind a button at the end of the list.
fn archived_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>, filter: &str, today: jiff::civil::Date) {
    let archived: Vec<_> = chat
        .talks
        .iter()
        .filter(|t| t.view.state.archived)
        .filter(|t| filter.is_empty() || t.view.name.to_lowercase().contains(filter))
        .cloned()
        .collect();
    if archived.is_empty() {
        return;
    }
    let label = super::i18n::tr_count("Archived chats ({})", archived.len());
    if ui.add(egui::Button::selectable(chat.show_archived, label)).clicked() {
        chat.show_archived = !chat.show_archived;
    }
    if !chat.show_archived {
        return;
    }
    for t in archived {
        talk_entry_ui(chat, ui, &t, today, cmds);
    }
}

/// One talk of the list: its row, its menu, and opening it with a click.
fn talk_entry_ui(
    chat: &mut ChatState,
    ui: &mut egui::Ui,
    t: &super::backend::TalkItem,
    today: jiff::civil::Date,
    cmds: &mut Vec<UiCmd>,
) {
    let selected = chat.open == Some(t.view.chat);
    let r = talk_row_ui(ui, t, selected, today);
    talk_menu(chat, &r, t, cmds);
    if r.clicked() && !selected {
        cmds.push(chat.open_talk(t.view.chat));
    }
}

/// The menu of a talk (right click): its profile, block, remove; pin, mute, archive, mark
/// unread.
fn talk_menu(chat: &mut ChatState, r: &egui::Response, t: &super::backend::TalkItem, cmds: &mut Vec<UiCmd>) {
    let change = |change| UiCmd::ChangeTalk { chat: t.view.chat, change };
    let state = &t.view.state;
    r.context_menu(|ui| {
        if let Some(peer) = t.view.peer() {
            if ui.button(tr("Profile...")).clicked() {
                let name = t.view.name.clone();
                chat.profile = Some(super::ProfileState { peer, name, own: false });
                ui.close();
            }
            let block = if t.view.blocked { tr("Unblock") } else { tr("Block") };
            if ui.button(block).clicked() {
                cmds.push(UiCmd::SetBlocked { peer, blocked: !t.view.blocked });
                ui.close();
            }
            if t.view.friend && ui.button(tr("Remove friend...")).clicked() {
                chat.confirm_remove = Some((peer, t.view.name.clone()));
                ui.close();
            }
            ui.separator();
        }
        let pin = if state.is_pinned() { tr("Unpin") } else { tr("Pin to top") };
        if ui.button(pin).clicked() {
            cmds.push(change(TalkChange::Pin(!state.is_pinned())));
            ui.close();
        }
        let mute = if state.muted { tr("Unmute") } else { tr("Mute") };
        if ui.button(mute).clicked() {
            cmds.push(change(TalkChange::Mute(!state.muted)));
            ui.close();
        }
        let archive = if state.archived { tr("Unarchive") } else { tr("Archive") };
        if ui.button(archive).clicked() {
            cmds.push(change(TalkChange::Archive(!state.archived)));
            if !state.archived && chat.open == Some(t.view.chat) {
                chat.keep_draft();
                chat.open = None;
                cmds.push(UiCmd::CloseTalk);
            }
            ui.close();
        }
        if t.view.unread == 0 && !state.marked_unread && ui.button(tr("Mark as unread")).clicked() {
            cmds.push(change(TalkChange::MarkUnread));
            if chat.open == Some(t.view.chat) {
                chat.keep_draft();
                chat.open = None;
                cmds.push(UiCmd::CloseTalk);
            }
            ui.close();
        }
    });
}

/// Height of a row of the talk list.
const TALK_ROW_HEIGHT: f32 = 50.0;

/// One talk: avatar, name and time on the first line, last message and unread badge on the
/// second. Clicking it opens the talk; its accessible label is the name.
fn talk_row_ui(
    ui: &mut egui::Ui,
    item: &super::backend::TalkItem,
    selected: bool,
    today: jiff::civil::Date,
) -> egui::Response {
    let t = &item.view;
    let title = talk_title(t);
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), TALK_ROW_HEIGHT), egui::Sense::click());
    response.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, selected, &title));
    if !ui.is_rect_visible(rect) {
        return response;
    }
    let visuals = ui.visuals();
    let fill = if selected {
        visuals.selection.bg_fill
    } else if response.hovered() {
        visuals.widgets.hovered.weak_bg_fill
    } else {
        egui::Color32::TRANSPARENT
    };
    let strong = if selected { visuals.selection.stroke.color } else { visuals.strong_text_color() };
    let weak = if selected { visuals.selection.stroke.color.gamma_multiply(0.8) } else { visuals.weak_text_color() };
    let painter = ui.painter();
    painter.rect_filled(rect, 6.0, fill);
    let avatar = egui::Rect::from_center_size(rect.left_center() + egui::vec2(24.0, 0.0), egui::vec2(34.0, 34.0));
    if let Some(peer) = t.peer() {
        super::identicon::paint(painter, avatar, &peer);
    }
    let left = avatar.right() + 10.0;
    let right = rect.right() - 8.0;
    let line1 = rect.top() + 7.0;
    let line2 = rect.top() + 27.0;
    // Right column first: the time above, the unread badge below; the texts get what is left.
    let mut name_right = right;
    if let Some(local) = &item.local {
        let g = ui.painter().layout_no_wrap(talk_time(local, today), egui::FontId::proportional(11.0), weak);
        name_right = right - g.size().x - 6.0;
        painter.galley(egui::pos2(right - g.size().x, line1 + 2.0), g, weak);
    }
    let mut preview_right = right;
    if t.unread > 0 || t.state.marked_unread {
        // A muted talk's count is grey; a talk marked unread shows an empty badge.
        let count = match t.unread {
            0 => String::new(),
            n if n > 999 => "999+".to_string(),
            n => n.to_string(),
        };
        let g = ui.painter().layout_no_wrap(count, egui::FontId::proportional(11.0), egui::Color32::WHITE);
        let w = (g.size().x + 10.0).max(18.0);
        let badge = egui::Rect::from_min_size(egui::pos2(right - w, line2), egui::vec2(w, 17.0));
        let color = if t.state.muted { egui::Color32::from_gray(150) } else { egui::Color32::from_rgb(225, 60, 60) };
        painter.rect_filled(badge, 8.5, color);
        painter.galley(badge.center() - g.size() / 2.0, g, egui::Color32::WHITE);
        preview_right = badge.left() - 6.0;
    }
    if t.state.is_pinned() || t.state.muted {
        let marks = [(t.state.is_pinned(), "📌"), (t.state.muted, "🔕")];
        let text: String = marks.iter().filter(|(on, _)| *on).map(|(_, m)| *m).collect();
        let g = ui.painter().layout_no_wrap(text, egui::FontId::proportional(11.0), weak);
        preview_right -= g.size().x + 4.0;
        painter.galley(egui::pos2(preview_right + 2.0, line2 + 2.0), g, weak);
    }
    let mut name = egui::RichText::new(&title).color(strong);
    if t.unread > 0 {
        name = name.strong();
    }
    if t.blocked {
        name = egui::RichText::new(format!("{}  {}", t.name, tr("(blocked)"))).color(weak);
    }
    let truncated = |text: egui::RichText, width: f32| {
        egui::WidgetText::from(text).into_galley(
            ui,
            Some(egui::TextWrapMode::Truncate),
            width.max(10.0),
            egui::TextStyle::Body,
        )
    };
    let g = truncated(name, name_right - left);
    painter.galley(egui::pos2(left, line1), g, strong);
    match t.state.draft.as_deref().filter(|_| !selected) {
        Some(draft) => {
            let text = super::i18n::tr_fill("Draft: {}", &[&draft.replace('\n', " ")]);
            let red = ui.visuals().error_fg_color;
            let g = truncated(egui::RichText::new(text).color(red).size(12.0), preview_right - left);
            painter.galley(egui::pos2(left, line2), g, red);
        }
        None if !t.preview.is_empty() => {
            // The core's words for a deleted message, in the window's language.
            let preview = super::i18n::tr_preview(&t.preview);
            let g = truncated(egui::RichText::new(preview).color(weak).size(12.0), preview_right - left);
            painter.galley(egui::pos2(left, line2), g, weak);
        }
        None => {}
    }
    response
}

/// What a talk is called on screen: its name, or for a stranger's request the name they claim
/// (shown as a claim, first: the row is narrow) and the start of their address.
fn talk_title(t: &crate::app::read::TalkView) -> String {
    match &t.claimed_name {
        Some(claim) => format!("{} · {}", super::i18n::tr_fill("claims to be {}", &[claim]), t.name),
        None => t.name.clone(),
    }
}

/// When a talk was last active, as its row shows it: the time today, "Yesterday", or the date.
fn talk_time(local: &crate::util::LocalTime, today: jiff::civil::Date) -> String {
    let chinese = super::i18n::current() == super::i18n::Lang::ZhCn;
    if local.day == today {
        local.hm.clone()
    } else if today.yesterday().ok() == Some(local.day) {
        tr("Yesterday").to_string()
    } else if local.day.year() == today.year() {
        if chinese { local.day.strftime("%-m月%-d日").to_string() } else { local.day.strftime("%-d %b").to_string() }
    } else {
        local.day.strftime("%Y-%m-%d").to_string()
    }
}

/// Estimated height of a message row at `width`, until its bubble has been drawn and measured
/// (only visible rows are laid out).
fn row_height(m: &MessageItem, width: f32, line: f32) -> f32 {
    let chars_per_line = ((width * 0.7) / (line * 0.55)).max(8.0);
    let text = m.view.text.as_deref().unwrap_or("");
    let lines: f32 = if text.is_empty() {
        0.0
    } else {
        text.split('\n').map(|l| (l.chars().count() as f32 / chars_per_line).ceil().max(1.0)).sum()
    };
    let attachment = match (&m.view.attachment, &m.preview) {
        (Some(a), Some(p)) => {
            preview_size(p).y + 8.0 + if a.progress.state == TransferState::Complete { 0.0 } else { line * 2.5 }
        }
        (Some(_), None) => line * 3.5,
        (None, _) => 0.0,
    };
    lines * line + 30.0 + attachment
}

/// How large a preview is drawn: at most 240 x 240 points.
fn preview_size(p: &egui::ColorImage) -> egui::Vec2 {
    let (w, h) = (p.size[0].max(1) as f32, p.size[1].max(1) as f32);
    let scale = (240.0 / w).min(240.0 / h).min(1.0);
    egui::vec2(w * scale, h * scale)
}

/// Below this width the window shows the talk list or the conversation, with a way back.
const NARROW_WIDTH: f32 = 700.0;

/// The open conversation; `narrow`: it fills the window and its header leads back to the list;
/// `enter_sends`: the composer's Enter setting.
fn conversation_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>, narrow: bool, enter_sends: bool) {
    let Some(open) = chat.open else {
        ui.centered_and_justified(|ui| ui.weak(tr("Pick a conversation, or add a friend (Ctrl+N).")));
        return;
    };
    for e in &chat.errors {
        ui.colored_label(ui.visuals().error_fg_color, super::i18n::error_text(e));
    }
    if let Some(n) = chat.notice.as_ref().map(notice_text) {
        ui.horizontal_wrapped(|ui| {
            ui.weak(n);
            if ui.small_button(tr("OK")).clicked() {
                chat.notice = None;
            }
        });
    }
    let back = egui::Panel::top("conversation_header").show(ui, |ui| header_ui(chat, ui, open, narrow)).inner;
    if back {
        chat.keep_draft();
        chat.open = None;
        chat.search = None;
        cmds.push(UiCmd::CloseTalk);
        return;
    }
    egui::Panel::bottom("composer").show(ui, |ui| composer_ui(chat, ui, cmds, open, enter_sends));
    if let Some(search) = chat.search.as_mut() {
        let query = search.query.trim();
        if query != search.asked {
            search.asked = query.to_string();
            if query.is_empty() {
                search.results.clear();
                search.answered.clear();
            } else {
                cmds.push(UiCmd::Search { chat: open, query: query.to_string() });
            }
        }
        if !query.is_empty() {
            search_results_ui(chat, ui, open, cmds);
            return;
        }
    }
    let line = ui.text_style_height(&egui::TextStyle::Body);
    let width = ui.available_width();
    // A row is a bubble, with the day above it when the day changes.
    let new_day: Vec<bool> = chat
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| i == 0 || chat.messages[i - 1].local.day != m.local.day)
        .collect();
    if chat.measured_width != width {
        // Text wraps differently at another width: every measurement is stale.
        chat.measured.clear();
        chat.measured_width = width;
    }
    // A row's height is what its bubble took when last drawn; until then an estimate. The
    // first unread message has the "unread messages" line above it.
    let unread_line = |m: &MessageItem| chat.first_unread == Some(m.view.id);
    let heights: Vec<f32> = chat
        .messages
        .iter()
        .zip(&new_day)
        .map(|(m, first)| {
            let bubble = chat.measured.get(&m.view.id).copied().unwrap_or_else(|| row_height(m, width, line));
            bubble + if *first { DAY_HEIGHT } else { 0.0 } + if unread_line(m) { UNREAD_HEIGHT } else { 0.0 }
        })
        .collect();
    let today = crate::util::today();
    let total: f32 = heights.iter().sum();
    let mut want_older = false;
    let mut want_newer = false;
    let me = chat.me.1;
    let peer_name = chat.talks.iter().find(|t| t.view.chat == open).map(|t| t.view.name.clone()).unwrap_or_default();
    let name_of = move |a: &Address| if *a == me { tr("You").to_string() } else { peer_name.clone() };
    let mut cx = BubbleContext { me, name_of: &name_of, previews: &mut chat.previews, actions: Vec::new() };
    let mut remeasured = false;
    let mut at_bottom = true;
    // Stuck to the newest message, unless newer ones are still to be loaded.
    let mut area = egui::ScrollArea::vertical()
        .id_salt("conversation")
        .stick_to_bottom(!chat.has_newer)
        .auto_shrink([false, false]);
    // A message to bring into view (a search result): where its row lies. It is scrolled to
    // as an explicit target inside the area (which also unsticks the area from the bottom),
    // frame after frame until the rows on the way have their real heights and it is in view.
    let target = chat.scroll_to.and_then(|id| chat.messages.iter().position(|m| m.view.id == id)).map(|at| {
        let y: f32 = heights.iter().take(at).sum();
        (y, heights[at])
    });
    let mut target_in_view = false;
    if target.is_none() && std::mem::take(&mut chat.scroll_to_newest) {
        // Beyond the end: the scroll area stops at the newest row.
        area = area.vertical_scroll_offset(total);
    } else if target.is_none() && chat.prepended > 0 {
        // Older rows came in above: keep the rows the user was looking at in place.
        let added: f32 = heights.iter().take(chat.prepended).sum();
        area = area.vertical_scroll_offset(chat.scroll_y + added);
        chat.prepended = 0;
    }
    area.show_viewport(ui, |ui, viewport| {
        chat.scroll_y = viewport.min.y;
        ui.set_height(total);
        let top = ui.min_rect().top();
        if let Some((y, h)) = target {
            let row = egui::Rect::from_min_size(egui::pos2(ui.min_rect().left(), top + y), egui::vec2(width, h));
            ui.scroll_to_rect(row, Some(egui::Align::Center));
            target_in_view = viewport.min.y <= y && y + h <= viewport.max.y;
        }
        let mut y = 0.0;
        let mut line_shown = false;
        for ((m, h), first) in chat.messages.iter().zip(&heights).zip(&new_day) {
            if y + h >= viewport.min.y && y <= viewport.max.y {
                let mut rect =
                    egui::Rect::from_min_size(egui::pos2(ui.min_rect().left(), top + y), egui::vec2(width, *h));
                if *first {
                    let day = egui::Rect::from_min_size(rect.min, egui::vec2(width, DAY_HEIGHT));
                    ui.scope_builder(egui::UiBuilder::new().max_rect(day), |ui| day_ui(ui, m.local.day, today));
                    rect.min.y += DAY_HEIGHT;
                }
                if chat.first_unread == Some(m.view.id) {
                    line_shown = true;
                    let band = egui::Rect::from_min_size(rect.min, egui::vec2(width, UNREAD_HEIGHT));
                    ui.scope_builder(egui::UiBuilder::new().max_rect(band), unread_line_ui);
                    rect.min.y += UNREAD_HEIGHT;
                }
                let highlighted = chat.highlight == Some(m.view.id);
                let drawn = ui
                    .scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| bubble_ui(ui, m, highlighted, &mut cx));
                let height = drawn.response.rect.height() + BUBBLE_GAP;
                if chat.measured.insert(m.view.id, height).is_none_or(|was| (was - height).abs() > 0.5) {
                    // The estimate was off: lay the rows out again with the real height.
                    remeasured = true;
                }
            }
            y += h;
        }
        chat.unread_line_shown = line_shown;
        // Not while a jump to a message is under way: its rows must stay where they are.
        let settled = target.is_none();
        want_older = settled && viewport.min.y < line * 2.0;
        want_newer = settled && viewport.max.y > total - line * 2.0;
        at_bottom = viewport.max.y >= total - line;
    });
    let actions = std::mem::take(&mut cx.actions);
    for action in actions {
        apply_bubble_action(chat, action, open, cmds);
    }
    chat.at_bottom = at_bottom && !chat.has_newer;
    if chat.scroll_to.is_some() {
        chat.scroll_frames += 1;
        if (target_in_view && !remeasured) || target.is_none() || chat.scroll_frames > SCROLL_TO_FRAMES {
            chat.scroll_to = None;
            chat.scroll_frames = 0;
        } else {
            remeasured = true;
        }
    }
    if remeasured {
        ui.ctx().request_repaint();
    }
    if want_older
        && chat.has_older
        && !chat.loading_older
        && let Some(first) = chat.messages.first()
    {
        chat.loading_older = true;
        cmds.push(UiCmd::LoadOlder { chat: open, before: first.view.id });
    }
    if want_newer
        && chat.has_newer
        && !chat.loading_newer
        && let Some(last) = chat.messages.last()
    {
        chat.loading_newer = true;
        cmds.push(UiCmd::LoadNewer { chat: open, after: last.view.id });
    }
}

/// Loads the newest page of the open talk again (the view was somewhere in the past).
/// What a click in a bubble asked for.
fn apply_bubble_action(chat: &mut ChatState, action: BubbleAction, open: ChatId, cmds: &mut Vec<UiCmd>) {
    match action {
        BubbleAction::Reply(m) => {
            chat.editing = None;
            chat.replying = Some(*m);
            chat.focus_composer = true;
        }
        BubbleAction::Edit(m) => {
            chat.replying = None;
            chat.editing = Some(m.hash);
            chat.composer = m.text.unwrap_or_default();
            chat.focus_composer = true;
        }
        BubbleAction::Forward(hash) => {
            chat.forward = Some(super::switcher::ForwardState { hash, picked: Vec::new(), filter: String::new() });
        }
        BubbleAction::JumpTo(id) => {
            if chat.messages.iter().any(|m| m.view.id == id) {
                chat.scroll_to = Some(id);
                chat.scroll_frames = 0;
                chat.highlight = Some(id);
            } else {
                // Not loaded: the page around it comes, older pages as the user scrolls.
                cmds.push(chat.open_at(open, id));
            }
        }
        BubbleAction::Cmd(c) => cmds.push(c),
    }
}

fn chat_reopen(chat: &mut ChatState, open: ChatId) -> UiCmd {
    let first_unread = chat.first_unread;
    let cmd = chat.open_talk(open);
    chat.first_unread = first_unread;
    chat.scroll_to_newest = true;
    cmd
}

/// Height of the "unread messages" line.
const UNREAD_HEIGHT: f32 = 26.0;

/// The line above the first unread message.
fn unread_line_ui(ui: &mut egui::Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(4.0);
        let color = ui.visuals().hyperlink_color;
        ui.label(egui::RichText::new(tr("Unread messages")).color(color).small());
    });
}

/// Above the conversation: who it is with, and the buttons for their profile and for search;
/// below them the search bar when it is open. With `back`, a button leads back to the talk
/// list; `true` when it was clicked.
fn header_ui(chat: &mut ChatState, ui: &mut egui::Ui, open: ChatId, back: bool) -> bool {
    let (name, peer) = chat.talk(open).map(|t| (t.view.name.clone(), t.view.peer())).unwrap_or_default();
    let title = chat.talk(open).map(|t| talk_title(&t.view)).unwrap_or_default();
    let mut went_back = false;
    ui.horizontal(|ui| {
        if back {
            went_back = ui.button(format!("← {}", tr("Chats"))).clicked();
        }
        if let Some(peer) = &peer {
            super::identicon::identicon_ui(ui, peer, 30.0);
        }
        let typing_until = chat.typing.get(&open).copied().filter(|t| *t > std::time::Instant::now());
        ui.vertical(|ui| {
            ui.strong(&title);
            if let Some(until) = typing_until {
                ui.label(egui::RichText::new(tr("typing...")).italics().color(ui.visuals().hyperlink_color));
                ui.ctx().request_repaint_after(until.saturating_duration_since(std::time::Instant::now()));
            } else if let Some(peer) = &peer {
                let hex = peer.to_hex();
                ui.weak(format!("{}...{}", &hex[..8], &hex[58..]));
            }
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if let Some(peer) = peer
                && ui.button(tr("Profile...")).clicked()
            {
                chat.profile = Some(super::ProfileState { peer, name: name.clone(), own: false });
            }
            if !chat.at_bottom && ui.button(format!("↓ {}", tr("Newest"))).clicked() {
                if chat.has_newer {
                    let cmd = chat_reopen(chat, open);
                    chat.outbox.push(cmd);
                } else {
                    chat.scroll_to_newest = true;
                }
            }
            if let Some(id) = chat.first_unread
                && !chat.unread_line_shown
                && ui.button(format!("↑ {}", tr("First unread"))).clicked()
            {
                if chat.messages.iter().any(|m| m.view.id == id) {
                    chat.scroll_to = Some(id);
                    chat.scroll_frames = 0;
                } else {
                    // Not loaded: the page around it.
                    let cmd = chat.open_at(open, id);
                    chat.outbox.push(cmd);
                    chat.first_unread = Some(id);
                }
            }
            let search = egui::Button::selectable(chat.search.is_some(), format!("🔍 {}", tr("Search")));
            if ui.add(search).on_hover_text(tr("Search in this chat")).clicked() {
                chat.search = match chat.search {
                    Some(_) => None,
                    None => Some(super::SearchState { focus: true, ..Default::default() }),
                };
            }
        });
    });
    if let Some(search) = chat.search.as_mut() {
        ui.horizontal(|ui| {
            let label = ui.label(tr("Search in this chat"));
            let r = ui
                .add(egui::TextEdit::singleline(&mut search.query).desired_width(f32::INFINITY))
                .labelled_by(label.id);
            if std::mem::take(&mut search.focus) {
                r.request_focus();
            }
        });
    }
    went_back
}

/// The messages of the open talk that contain the search query, newest first.
fn search_results_ui(chat: &mut ChatState, ui: &mut egui::Ui, open: ChatId, cmds: &mut Vec<UiCmd>) {
    let Some(search) = chat.search.as_ref() else { return };
    let query = search.query.trim();
    if search.answered != query {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.weak(tr("Searching..."));
        });
        return;
    }
    let count = search.results.len();
    let heading = match count {
        0 => tr("No messages found").to_string(),
        1 => tr("1 match").to_string(),
        n if n >= super::backend::SEARCH_LIMIT => super::i18n::tr_count("The newest {} matches", n),
        n => super::i18n::tr_count("{} matches", n),
    };
    ui.weak(heading);
    let name = chat.talk(open).map(|t| t.view.name.clone()).unwrap_or_default();
    let today = crate::util::today();
    let mut clicked = None;
    egui::ScrollArea::vertical().id_salt("search_results").auto_shrink([false, false]).show(ui, |ui| {
        for m in &search.results {
            let attachment_name = m.view.attachment.as_ref().map(|a| a.name.as_str());
            let text = m.view.text.as_deref().or(attachment_name).unwrap_or("");
            let group = egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.strong(if m.view.outgoing { chat.me.0.as_str() } else { name.as_str() });
                    let day = talk_time(&m.local, today);
                    let when = if day == m.local.hm { day } else { format!("{day} {}", m.local.hm) };
                    ui.weak(when);
                });
                // Painted, not a label: the result is one button, named by this text.
                let mut job = highlighted(text, query, ui);
                job.wrap.max_width = ui.available_width();
                let galley = ui.painter().layout_job(job);
                let (rect, _) = ui.allocate_exact_size(galley.size(), egui::Sense::hover());
                ui.painter().galley(rect.min, galley, ui.visuals().text_color());
            });
            // The whole result is one button: it opens the talk at that message.
            let id = ui.make_persistent_id(("search_result", m.view.id));
            let r = ui.interact(group.response.rect, id, egui::Sense::click());
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, text));
            if r.hovered() {
                ui.painter().rect_stroke(
                    group.response.rect,
                    4.0,
                    ui.visuals().widgets.hovered.bg_stroke,
                    egui::StrokeKind::Inside,
                );
            }
            if r.clicked() {
                clicked = Some(m.view.id);
            }
            r.on_hover_cursor(egui::CursorIcon::PointingHand);
        }
    });
    if let Some(id) = clicked {
        cmds.push(chat.open_at(open, id));
    }
}

/// `text` with every case-insensitive occurrence of `query` highlighted.
fn highlighted(text: &str, query: &str, ui: &egui::Ui) -> egui::text::LayoutJob {
    let plain = egui::TextFormat {
        font_id: egui::TextStyle::Body.resolve(ui.style()),
        color: ui.visuals().text_color(),
        ..Default::default()
    };
    let marked = egui::TextFormat {
        background: ui.visuals().selection.bg_fill,
        color: ui.visuals().selection.stroke.color,
        ..plain.clone()
    };
    let mut job = egui::text::LayoutJob::default();
    let lower = text.to_lowercase();
    let needle = query.to_lowercase();
    // Byte offsets carry over only when lower-casing kept every length.
    if needle.is_empty() || lower.len() != text.len() {
        job.append(text, 0.0, plain);
        return job;
    }
    let mut at = 0;
    for (start, _) in lower.match_indices(&needle) {
        if start < at || !text.is_char_boundary(start) || !text.is_char_boundary(start + needle.len()) {
            continue;
        }
        job.append(&text[at..start], 0.0, plain.clone());
        job.append(&text[start..start + needle.len()], 0.0, marked.clone());
        at = start + needle.len();
    }
    job.append(&text[at..], 0.0, plain);
    job
}

/// At most this many frames are spent bringing a message into view.
const SCROLL_TO_FRAMES: u32 = 120;

/// Space between two bubbles.
const BUBBLE_GAP: f32 = 8.0;

/// Height of a day separator row.
const DAY_HEIGHT: f32 = 28.0;

/// tr("Today"), tr("Yesterday"), or the date, centred between two lines.
fn day_ui(ui: &mut egui::Ui, day: jiff::civil::Date, today: jiff::civil::Date) {
    let chinese = super::i18n::current() == super::i18n::Lang::ZhCn;
    let text = if day == today {
        tr("Today").to_string()
    } else if today.yesterday().ok() == Some(day) {
        tr("Yesterday").to_string()
    } else if chinese {
        day.strftime("%Y年%-m月%-d日").to_string()
    } else if day.year() == today.year() {
        day.strftime("%A, %-d %B").to_string()
    } else {
        day.strftime("%-d %B %Y").to_string()
    };
    ui.vertical_centered(|ui| {
        ui.add_space(6.0);
        ui.weak(text);
    });
}

/// What a bubble needs of its conversation: who is who, and where its clicks go.
struct BubbleContext<'a> {
    me: Address,
    name_of: &'a dyn Fn(&Address) -> String,
    previews: &'a mut std::collections::HashMap<ObjectId, egui::TextureHandle>,
    actions: Vec<BubbleAction>,
}

fn bubble_ui(ui: &mut egui::Ui, m: &MessageItem, highlighted: bool, cx: &mut BubbleContext<'_>) {
    let outgoing = m.view.outgoing;
    let text = m.view.text.as_deref().unwrap_or("");
    let layout = if outgoing {
        egui::Layout::right_to_left(egui::Align::TOP)
    } else {
        egui::Layout::left_to_right(egui::Align::TOP)
    };
    let mut commands = Vec::new();
    let mut bubble_response = None;
    ui.with_layout(layout, |ui| {
        let fill = if outgoing { ui.visuals().selection.bg_fill } else { ui.visuals().faint_bg_color };
        // The message a search result led to is outlined.
        let stroke = if highlighted { egui::Stroke::new(2.5, ui.visuals().warn_fg_color) } else { egui::Stroke::NONE };
        let frame = egui::Frame::new().fill(fill).stroke(stroke).corner_radius(8.0);
        let bubble = ui.scope(|ui| {
            frame.inner_margin(egui::Margin::symmetric(10, 6)).show(ui, |ui| {
                ui.set_max_width(ui.available_width() * 0.7);
                // Outgoing bubbles sit on the right: their rows align right, so that the
                // bubble hugs its text instead of spanning from the left edge.
                let rows = egui::Layout::top_down(if outgoing { egui::Align::Max } else { egui::Align::Min });
                if outgoing {
                    // Light text on the accent colour.
                    ui.visuals_mut().override_text_color = Some(ui.visuals().selection.stroke.color);
                }
                ui.with_layout(rows, |ui| {
                    if let Some(q) = &m.view.reply_to {
                        bubble::quote_ui(ui, q, cx.name_of, &mut cx.actions);
                    }
                    if m.view.deleted {
                        ui.label(egui::RichText::new(tr("This message was deleted")).italics().weak());
                    }
                    if let Some(a) = &m.view.attachment {
                        attachment_ui(ui, a, outgoing, m.preview.as_deref(), cx.previews, &mut commands);
                    }
                    if !text.is_empty() {
                        ui.add(egui::Label::new(text).selectable(true).wrap());
                    }
                    for url in links_in(text) {
                        ui.hyperlink(url);
                    }
                    ui.horizontal(|ui| {
                        ui.small(&m.local.hm);
                        if m.view.edited > 0 {
                            // Hovering shows what it said before.
                            let before: Vec<String> = m.view.earlier_texts.iter().map(|t| format!("• {t}")).collect();
                            let about = format!("{}\n{}", tr("Earlier versions:"), before.join("\n"));
                            ui.small(tr("edited")).on_hover_text(about);
                        }
                        if outgoing && !m.view.deleted {
                            status_icon(ui, m.view.stat, m.view.read);
                        }
                    });
                    bubble::reactions_ui(ui, &m.view, &cx.me, cx.name_of, &mut cx.actions);
                });
            });
        });
        bubble_response = Some(bubble.response);
    });
    // A right click anywhere on the bubble (its text too) opens its menu; it stays open while
    // its emoji field is typed in.
    if let Some(r) = bubble_response {
        let open = if r.container_secondary_clicked() {
            Some(egui::SetOpenCommand::Bool(true))
        } else if r.container_clicked() {
            Some(egui::SetOpenCommand::Bool(false))
        } else {
            None
        };
        let me = cx.me;
        egui::Popup::menu(&r)
            .open_memory(open)
            .at_pointer_fixed()
            .close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside)
            .show(|ui| bubble::menu_ui(ui, m, &me, &mut cx.actions));
    }
    cx.actions.extend(commands.into_iter().map(BubbleAction::Cmd));
}

/// A picture preview (click: the viewer), or a file card; progress, accept, retry, open and
/// save.
fn attachment_ui(
    ui: &mut egui::Ui,
    a: &AttachmentView,
    outgoing: bool,
    preview: Option<&egui::ColorImage>,
    previews: &mut std::collections::HashMap<ObjectId, egui::TextureHandle>,
    cmds: &mut Vec<UiCmd>,
) {
    if let Some(p) = preview {
        let texture = previews
            .entry(a.file)
            .or_insert_with(|| ui.ctx().load_texture(format!("preview-{}", a.file), p.clone(), Default::default()));
        let image = egui::Image::new((texture.id(), preview_size(p))).corner_radius(6.0).sense(egui::Sense::click());
        let r = ui.add(image);
        if a.kind == AttachKind::Gif {
            ui.weak("GIF");
        }
        if r.clicked() && a.complete {
            cmds.push(UiCmd::View(a.file));
        }
        if a.complete {
            r.on_hover_cursor(egui::CursorIcon::PointingHand);
        }
    } else {
        ui.horizontal(|ui| {
            let icon = if a.kind == AttachKind::Video { "🎞" } else { "📄" };
            ui.label(egui::RichText::new(icon).size(22.0));
            ui.vertical(|ui| {
                ui.strong(&a.name);
                ui.weak(super::media::human_size(a.size));
            });
        });
    }
    // A finished picture needs nothing below it.
    if a.progress.state == TransferState::Complete && preview.is_some() {
        return;
    }
    ui.horizontal(|ui| match a.progress.state {
        TransferState::Waiting => {
            ui.weak(super::media::human_size(a.size));
            if ui.button(tr("Download")).clicked() {
                cmds.push(UiCmd::Accept(a.file));
            }
        }
        TransferState::Active => {
            let f = a.progress.done as f32 / a.size.max(1) as f32;
            ui.add(egui::ProgressBar::new(f).desired_width(160.0).show_percentage());
        }
        TransferState::Failed => {
            ui.colored_label(ui.visuals().error_fg_color, tr("transfer failed"));
            if !outgoing && ui.small_button(tr("Retry")).clicked() {
                cmds.push(UiCmd::Retry(a.file));
            }
        }
        TransferState::Complete => {
            if a.complete && preview.is_none() {
                if ui.small_button(tr("Open")).clicked() {
                    cmds.push(UiCmd::OpenFile { file: a.file, name: a.name.clone() });
                }
                if ui.small_button(tr("Save...")).clicked() {
                    cmds.push(UiCmd::SaveFile { file: a.file, name: a.name.clone() });
                }
            }
        }
    });
}

/// The picture viewer: the whole picture, scaled to the window; a GIF plays frame by frame.
fn viewer_ui(chat: &mut ChatState, ui: &mut egui::Ui) {
    let Some(v) = chat.viewer.as_mut() else { return };
    advance_viewer(v, ui.ctx());
    let mut open = true;
    let screen = ui.ctx().content_rect().size();
    egui::Window::new(tr("Picture")).collapsible(false).open(&mut open).show(ui.ctx(), |ui| {
        match &v.texture {
            Some(tex) => {
                let [w, h] = tex.size().map(|s| s as f32);
                let scale = ((screen.x * 0.8) / w).min((screen.y * 0.75) / h).min(1.0);
                ui.image((tex.id(), egui::vec2(w * scale, h * scale)));
            }
            None if v.error.is_none() => {
                ui.spinner();
            }
            None => {}
        }
        if let Some(e) = &v.error {
            ui.label(e.as_str());
        }
    });
    if !open {
        chat.viewer = None;
    }
}

/// Puts the picture, or the GIF's next frame once the current one has had its time, on the
/// viewer's texture; asks for a repaint when the next frame is due (only while open).
fn advance_viewer(v: &mut ViewerState, ctx: &egui::Context) {
    let name = format!("view-{}", v.viewed.file);
    match &v.viewed.content {
        ViewedContent::Still(img) => {
            if v.texture.is_none() {
                v.texture = Some(ctx.load_texture(name, (**img).clone(), Default::default()));
            }
        }
        ViewedContent::Gif(player) => {
            let now = ctx.input(|i| i.time);
            if v.error.is_some() || now < v.next_due {
                if v.next_due.is_finite() {
                    ctx.request_repaint_after(std::time::Duration::from_secs_f64((v.next_due - now).max(0.0)));
                }
                return;
            }
            match player.next_frame() {
                Ok(Some(frame)) => {
                    let img = media::frame_image(&frame);
                    match &mut v.texture {
                        Some(tex) => tex.set(img, Default::default()),
                        None => v.texture = Some(ctx.load_texture(name, img, Default::default())),
                    }
                    v.next_due = now + f64::from(frame.delay_ms) / 1000.0;
                    ctx.request_repaint_after(std::time::Duration::from_millis(u64::from(frame.delay_ms)));
                }
                // Not decoded yet: look again shortly.
                Ok(None) => ctx.request_repaint_after(std::time::Duration::from_millis(10)),
                // A still GIF ends after its one frame; a broken one says why.
                Err(e) => {
                    if v.texture.is_none() {
                        v.error = Some(e.to_string());
                    }
                    v.next_due = f64::INFINITY;
                }
            }
        }
    }
}

/// The web links in a text (`http://`, `https://`), without trailing punctuation.
fn links_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '（' | '）' | '，' | '。'))
        .filter_map(|w| w.find("https://").or_else(|| w.find("http://")).map(|i| &w[i..]))
        .map(|w| w.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']))
        .filter(|w| w.len() > "https://".len())
}

/// The colour of the ticks of a message the peer has displayed: a blue that stands out on
/// the outgoing bubble in either theme.
fn read_color(ui: &egui::Ui) -> egui::Color32 {
    if ui.visuals().dark_mode {
        egui::Color32::from_rgb(0x7f, 0xdb, 0xff)
    } else {
        egui::Color32::from_rgb(0x0b, 0x57, 0xd0)
    }
}

/// The status of an own message, drawn (no font needed): N a clock, S one tick, C two ticks,
/// blue once the peer has displayed it (`read`).
fn status_icon(ui: &mut egui::Ui, stat: MessageStatus, read: bool) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(18.0, 10.0), egui::Sense::hover());
    let color = if read { read_color(ui) } else { ui.visuals().weak_text_color() };
    let stroke = egui::Stroke::new(1.4, color);
    let p = ui.painter();
    let tick = |dx: f32| {
        let o = rect.left_bottom() + egui::vec2(dx, -1.0);
        p.line_segment([o + egui::vec2(0.0, -4.0), o + egui::vec2(3.0, 0.0)], stroke);
        p.line_segment([o + egui::vec2(3.0, 0.0), o + egui::vec2(9.0, -8.0)], stroke);
    };
    match stat {
        MessageStatus::Stored => {
            let c = rect.left_center() + egui::vec2(5.0, 0.0);
            p.circle_stroke(c, 4.5, stroke);
            p.line_segment([c, c + egui::vec2(0.0, -3.0)], stroke);
            p.line_segment([c, c + egui::vec2(2.0, 0.0)], stroke);
        }
        MessageStatus::Sent => tick(2.0),
        _ => {
            tick(2.0);
            tick(7.0);
        }
    }
    let words = match stat {
        _ if read => tr("read"),
        MessageStatus::Stored => tr("waiting to be sent"),
        MessageStatus::Sent => tr("sent to the broker"),
        _ => tr("delivered"),
    };
    response.on_hover_text(words);
}

/// The composer; `enter_sends`: a plain Enter sends and Shift+Enter is a new line (else the
/// other way round).
/// How long typing pauses before the composer's text is kept as the talk's draft (s).
const DRAFT_KEPT_AFTER: f64 = 1.0;

fn composer_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>, open: ChatId, enter_sends: bool) {
    composer_context_ui(chat, ui);
    ui.horizontal(|ui| {
        if ui.button(tr("Attach...")).on_hover_text(tr("Send a file or a picture")).clicked() {
            cmds.push(UiCmd::AttachFile(open));
        }
        let label = ui.label(tr("Message"));
        let id = ui.make_persistent_id("composer_text");
        // Enter sends, Shift+Enter is a new line (or the other way round): only the sending
        // Enter is taken from the text field (egui's consume_key ignores an extra Shift), and
        // only while it has the keyboard: a dialog's field keeps its Enter. The field turns
        // the other one into a new line.
        let typing = ui.memory(|m| m.has_focus(id));
        let sending = if enter_sends { egui::Modifiers::NONE } else { egui::Modifiers::SHIFT };
        let enter = ui.input_mut(|i| {
            if !i.focused || !typing {
                return false;
            }
            let before = i.events.len();
            i.events.retain(|e| {
                !matches!(e, egui::Event::Key { key: egui::Key::Enter, pressed: true, modifiers, .. }
                    if modifiers.matches_exact(sending))
            });
            i.events.len() < before
        });
        // At most a third of the window high; longer text scrolls inside.
        let width = ui.available_width() - 70.0;
        let cap = (ui.ctx().content_rect().height() / 3.0).max(COMPOSER_MIN_CAP);
        let r = egui::ScrollArea::vertical()
            .id_salt("composer")
            // Room for the field's focus outline, no more: the row stays as high as the field.
            .content_margin(2)
            // As high as the text was last frame, up to the cap (egui's own shrinking does
            // not apply inside a row).
            .min_scrolled_height(chat.composer_height.min(cap))
            .max_height(cap)
            .max_width(width)
            .show(ui, |ui| {
                ui.add(egui::TextEdit::multiline(&mut chat.composer).id(id).desired_rows(2).desired_width(width))
                    .labelled_by(label.id)
            })
            .inner;
        if std::mem::take(&mut chat.focus_composer) {
            r.request_focus();
        }
        // The text typed is kept as the talk's draft once typing pauses.
        let now = ui.input(|i| i.time);
        if r.changed() {
            chat.draft_edited = Some(now);
            typing_changed(chat, cmds, open);
        }
        if chat.composer != chat.draft_saved {
            let edited = *chat.draft_edited.get_or_insert(now);
            if now - edited >= DRAFT_KEPT_AFTER {
                chat.keep_draft();
            } else {
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(DRAFT_KEPT_AFTER - (now - edited)));
            }
        }
        let height = r.rect.height() + 4.0;
        if (height - chat.composer_height).abs() > 0.5 {
            chat.composer_height = height;
            ui.ctx().request_repaint();
        }
        // Ctrl+V with a picture on the clipboard shows it with a caption field before it is
        // sent (the window system integration turns it into a PasteImage event; text pastes as
        // usual). Only for the composer, or when no other field has the keyboard.
        let pasted: Vec<_> = ui.input(|i| {
            i.events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::PasteImage(image) => Some(image.clone()),
                    _ => None,
                })
                .collect()
        });
        if let (Some(image), true) = (pasted.into_iter().last(), r.has_focus() || ui.memory(|m| m.focused().is_none()))
        {
            chat.paste =
                Some(super::PastePreview { chat: open, image, caption: String::new(), texture: None, focus: true });
        }
        let send = ui.button(tr("Send")).clicked() || enter;
        if send && !chat.composer.trim().is_empty() {
            let text = std::mem::take(&mut chat.composer).trim_end().to_string();
            if chat.typing_sent.take().is_some() {
                cmds.push(UiCmd::Typing { chat: open, on: false });
            }
            match chat.editing.take() {
                Some(target) => {
                    cmds.push(UiCmd::Act(crate::app::Action::Edit { target, text }));
                    chat.keep_draft();
                    r.request_focus();
                    return;
                }
                None => {
                    let reply_to = chat.replying.take().map(|m| m.hash);
                    cmds.push(UiCmd::SendText { chat: open, text, reply_to });
                }
            }
            // Sent: no draft any more.
            chat.keep_draft();
            if chat.has_newer {
                // The view is somewhere in the past: show the newest again.
                cmds.push(chat.open_talk(open));
            }
            chat.scroll_to_newest = true;
            r.request_focus();
        }
    });
}

/// Above the composer: the message it replies to, or that it edits, with a way to cancel.
fn composer_context_ui(chat: &mut ChatState, ui: &mut egui::Ui) {
    let what = match (&chat.replying, &chat.editing) {
        (Some(m), _) => format!("{} {}", tr("Replying to:"), m.preview()),
        (None, Some(_)) => tr("Editing the message").to_string(),
        (None, None) => return,
    };
    ui.horizontal(|ui| {
        ui.add(egui::Label::new(egui::RichText::new(what).weak()).truncate());
        if ui.small_button("×").on_hover_text(tr("Cancel")).clicked() {
            if chat.editing.take().is_some() {
                chat.composer.clear();
            }
            chat.replying = None;
        }
    });
}

/// The composer changed: tells the peer the user types, at most every few seconds; an empty
/// composer says the user stopped.
fn typing_changed(chat: &mut ChatState, cmds: &mut Vec<UiCmd>, open: ChatId) {
    if !chat.privacy.1 {
        return;
    }
    let now = std::time::Instant::now();
    if chat.composer.trim().is_empty() {
        if chat.typing_sent.take().is_some() {
            cmds.push(UiCmd::Typing { chat: open, on: false });
        }
    } else if chat.typing_sent.is_none_or(|t| now.duration_since(t) >= crate::app::TYPING_REPEAT) {
        chat.typing_sent = Some(now);
        cmds.push(UiCmd::Typing { chat: open, on: true });
    }
}

/// A notice in the current language.
fn notice_text(n: &super::backend::Notice) -> String {
    use super::backend::Notice;
    match n {
        Notice::Saved(p) => super::i18n::tr_fill("Saved to {}", &[&p.display()]),
        Notice::SavedToDownloads(p) => {
            super::i18n::tr_fill("No file dialog is available here; saved to {}", &[&p.display()])
        }
        Notice::NoOpener(p) => super::i18n::tr_fill(
            "No program to open files is available here (xdg-open). The file is at {} until \
             this window closes; use Save to keep it.",
            &[&p.display()],
        ),
    }
}

/// A pasted picture, shown before it is sent: a caption, Send or Cancel.
fn paste_preview_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(p) = chat.paste.as_mut() else { return };
    let mut open = true;
    let (mut send, mut cancel) = (false, false);
    egui::Window::new(tr("Send a picture")).collapsible(false).resizable(false).open(&mut open).show(ui.ctx(), |ui| {
        let texture =
            p.texture.get_or_insert_with(|| ui.ctx().load_texture("pasted", (*p.image).clone(), Default::default()));
        let [w, h] = p.image.size.map(|s| s.max(1) as f32);
        let scale = (PASTE_PREVIEW.x / w).min(PASTE_PREVIEW.y / h).min(1.0);
        ui.image((texture.id(), egui::vec2(w * scale, h * scale)));
        let label = ui.label(tr("Caption"));
        let r = ui.add(egui::TextEdit::singleline(&mut p.caption).desired_width(PASTE_PREVIEW.x)).labelled_by(label.id);
        if std::mem::take(&mut p.focus) {
            r.request_focus();
        }
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            send = ui.button(tr("Send")).clicked() || enter;
            cancel = ui.button(tr("Cancel")).clicked();
        });
    });
    if send {
        let caption = p.caption.trim();
        let caption = (!caption.is_empty()).then(|| caption.to_string());
        cmds.push(UiCmd::PasteImage { chat: p.chat, image: p.image.clone(), caption });
        chat.scroll_to_newest = true;
    }
    if send || cancel || !open {
        chat.paste = None;
    }
}

/// The largest a pasted picture is shown before it is sent.
const PASTE_PREVIEW: egui::Vec2 = egui::vec2(360.0, 280.0);

/// Where no file dialog works: the path of the file to send, typed.
fn path_prompt_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(p) = chat.path_prompt.as_mut() else { return };
    let mut open = true;
    let mut send = false;
    egui::Window::new(tr("Send a file")).collapsible(false).resizable(false).open(&mut open).show(ui.ctx(), |ui| {
        ui.set_max_width(420.0);
        ui.label(tr("No file dialog is available here (no desktop portal or zenity). Type the path of the file:"));
        let label = ui.label(tr("Path of the file"));
        let r = ui.add(egui::TextEdit::singleline(&mut p.path).desired_width(400.0)).labelled_by(label.id);
        if std::mem::take(&mut p.focus) {
            r.request_focus();
        }
        if let Some(e) = &p.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        send = ui.button(tr("Send")).clicked() || enter;
    });
    if send {
        let path = expand_home(p.path.trim());
        if path.is_file() {
            cmds.push(UiCmd::SendFiles { chat: p.chat, paths: vec![path] });
            chat.path_prompt = None;
        } else {
            p.error = Some(super::i18n::tr_fill("{} is not a file", &[&path.display()]));
            p.focus = true;
        }
    } else if !open {
        chat.path_prompt = None;
    }
}

/// `~/x` as the path below the user's home.
fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), directories::UserDirs::new()) {
        (Some(rest), Some(dirs)) => dirs.home_dir().join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// Asks before removing a friend, and says what becomes of the conversation.
fn confirm_remove_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some((peer, name)) = chat.confirm_remove.clone() else { return };
    let mut decided = false;
    egui::Modal::new(egui::Id::unique("confirm_remove")).show(ui.ctx(), |ui| {
        ui.set_max_width(360.0);
        ui.heading(super::i18n::tr_fill("Remove {} from your friends?", &[&name]));
        ui.label(tr("The conversation and its history stay on this computer. New messages from them \
             will arrive as message requests."));
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button(tr("Remove")).clicked() {
                cmds.push(UiCmd::RemoveFriend(peer));
                decided = true;
            }
            if ui.button(tr("Cancel")).clicked() {
                decided = true;
            }
        });
    });
    if decided {
        chat.confirm_remove = None;
    }
}

/// The composer's height limit in a very low window.
const COMPOSER_MIN_CAP: f32 = 60.0;

fn add_friend_ui(chat: &mut ChatState, ui: &mut egui::Ui, cmds: &mut Vec<UiCmd>) {
    let Some(d) = chat.add_friend.as_mut() else { return };
    let mut open = true;
    let mut add = false;
    egui::Window::new(tr("Add friend")).collapsible(false).resizable(false).open(&mut open).show(ui.ctx(), |ui| {
        let label = ui.label(tr("Address or wochat: link"));
        let r = ui.add(egui::TextEdit::singleline(&mut d.input).desired_width(360.0)).labelled_by(label.id);
        let label = ui.label(tr("Name"));
        let n = ui.add(egui::TextEdit::singleline(&mut d.name).desired_width(360.0)).labelled_by(label.id);
        if let Some(e) = &d.error {
            ui.colored_label(ui.visuals().error_fg_color, super::i18n::error_text(e));
        }
        let enter = (r.lost_focus() || n.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
        add = ui.button(tr("Add")).clicked() || enter;
    });
    if add {
        d.error = None;
        cmds.push(UiCmd::AddFriend { input: d.input.trim().to_string(), name: d.name.trim().to_string() });
    }
    if !open {
        chat.add_friend = None;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_found_without_trailing_punctuation() {
        let found: Vec<&str> =
            super::links_in("see https://example.org/a?b=1, and (http://x.cn/路径). not ftp://y nor https://")
                .collect();
        assert_eq!(found, ["https://example.org/a?b=1", "http://x.cn/路径"]);
    }
}
