//! A conversation in the window (issue 14): reply, react, edit and delete from a bubble's
//! context menu, what the peer does showing up (a reaction, an edit, read ticks, typing), and a
//! click on a quote bringing the original into view.
#![cfg(feature = "gui")]

mod common;

use common::gui::{Pair, alice_talking_to_bob, settle, until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use wochat::app::Action;
use wochat::app::read::MessageView;
use wochat::ui::WoChatApp;
use wochat::wire::MessageHash;

/// The message of the open talk whose text is `text`, as the window has it.
fn shown<'a>(app: &'a WoChatApp, text: &str) -> Option<&'a MessageView> {
    app.chat.as_ref().unwrap().messages.iter().map(|m| &m.view).find(|m| m.text.as_deref() == Some(text))
}

/// Right-clicks the bubble showing `text` and clicks `item` in its menu.
fn bubble_menu(h: &mut Harness<'static, WoChatApp>, text: &str, item: &str) {
    settle(h);
    // The first is the bubble (a reply's quote may say the same).
    h.get_all_by_label(text).next().unwrap().click_secondary();
    h.run_ok();
    h.get_by_label(item).click();
    h.run_ok();
}

/// Types `text` into the composer and sends it.
fn compose(h: &mut Harness<'static, WoChatApp>, text: &str) {
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text(text);
    h.step();
    h.get_by_label("Send").click();
    h.run_ok();
}

#[test]
fn reply_react_edit_and_delete_from_the_bubble_menu() {
    let Pair { rt, mut bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let alice = h.state().chat.as_ref().unwrap().me.1;
    let lunch = rt.block_on(bob.send_confirmed(alice, "lunch?"));
    until(&mut h, 20, "bob's message", |a| shown(a, "lunch?").is_some());

    // Reply: the composer quotes it; the reply carries the quote.
    bubble_menu(&mut h, "lunch?", "Reply");
    assert_eq!(h.state().chat.as_ref().unwrap().replying.as_ref().map(|m| m.hash), Some(lunch));
    h.get_by_label_contains("Replying to:");
    compose(&mut h, "yes");
    let history = rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.text.as_deref() == Some("yes"))));
    let yes = history.iter().find(|m| m.text.as_deref() == Some("yes")).unwrap();
    assert_eq!(yes.reply_to.as_ref().map(|q| q.hash), Some(lunch));
    let yes = yes.hash;
    until(&mut h, 20, "the quote shown", |a| shown(a, "yes").is_some_and(|m| m.reply_to.is_some()));

    // React from the menu; Bob's reaction shows under the bubble with its count.
    bubble_menu(&mut h, "lunch?", "👍");
    rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.hash == lunch && !m.reactions.is_empty())));
    rt.block_on(bob.client.act(Action::React { target: yes, emoji: "🎉".into() })).unwrap();
    until(&mut h, 20, "bob's reaction", |a| shown(a, "yes").is_some_and(|m| !m.reactions.is_empty()));
    settle(&mut h);
    h.get_by_label("🎉 1");

    // Edit: the text goes into the composer; the new one replaces it on both sides.
    bubble_menu(&mut h, "yes", "Edit");
    assert_eq!(h.state().chat.as_ref().unwrap().composer, "yes");
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text(", at noon");
    h.step();
    h.get_by_label("Send").click();
    h.run_ok();
    rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.hash == yes && m.edited == 1)));
    until(&mut h, 20, "edited", |a| shown(a, "yes, at noon").is_some_and(|m| m.edited == 1));
    settle(&mut h);
    h.get_by_label("edited");

    // Bob reads: the ticks turn blue (read). Bob types: the header says so.
    let chat = bob.read.chat_with(&alice).unwrap().unwrap();
    rt.block_on(bob.client.mark_read(chat)).unwrap();
    until(&mut h, 20, "read", |a| shown(a, "yes, at noon").is_some_and(|m| m.read));
    bob.client.typing(chat, true);
    until(&mut h, 20, "typing", |a| !a.chat.as_ref().unwrap().typing.is_empty());
    settle(&mut h);
    h.get_by_label("typing...");

    // A click on the quote brings the original into view, highlighted.
    let lunch_id = shown(h.state(), "lunch?").unwrap().id;
    let quotes: Vec<_> = h.get_all_by_label("lunch?").collect();
    assert_eq!(quotes.len(), 2, "the bubble and the quote");
    quotes[1].click();
    h.run_ok();
    assert_eq!(h.state().chat.as_ref().unwrap().highlight, Some(lunch_id));

    // Delete for everyone: gone on both sides, "deleted" shown.
    bubble_menu(&mut h, "yes, at noon", "Delete for everyone");
    rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.hash == yes && m.deleted)));
    until(&mut h, 20, "deleted here", |a| {
        a.chat.as_ref().unwrap().messages.iter().any(|m| m.view.hash == yes && m.view.deleted)
    });
    settle(&mut h);
    h.get_by_label("This message was deleted");
    // Delete for me: gone from the window only.
    bubble_menu(&mut h, "lunch?", "Delete for me");
    let gone = |a: &WoChatApp, hash: MessageHash| a.chat.as_ref().unwrap().messages.iter().all(|m| m.view.hash != hash);
    until(&mut h, 20, "deleted for me", |a| gone(a, lunch));
    assert!(rt.block_on(async { bob.history(&alice) }).iter().any(|m| m.hash == lunch && !m.deleted));
}

/// The open talk's name.
fn open_name(app: &WoChatApp) -> Option<String> {
    let chat = app.chat.as_ref().unwrap();
    chat.open.and_then(|o| chat.talks.iter().find(|t| t.view.chat == o)).map(|t| t.view.name.clone())
}

#[test]
fn ctrl_k_finds_a_talk_by_name_and_the_arrow_keys_move_through_the_list() {
    let t = common::TestHome::new();
    for name in ["Anna", "Bert", "Cora"] {
        common::gui::seed_talk(&t, "alice", name, &[format!("hello from {name}")]);
    }
    let mut h = common::gui::logged_in(&t, "alice");
    until(&mut h, 10, "the talks", |a| a.chat.as_ref().unwrap().talks.len() == 3);
    settle(&mut h);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    h.run_ok();
    h.get_by_label("Name").type_text("ber");
    h.run_ok();
    h.key_press(egui::Key::Enter);
    h.run_ok();
    until(&mut h, 10, "Bert open", |a| open_name(a).as_deref() == Some("Bert"));
    assert!(h.state().chat.as_ref().unwrap().switcher.is_none());
    // Alt+↓ and Alt+↑ go to the next and the previous talk of the list.
    let order: Vec<String> = h.state().chat.as_ref().unwrap().talks.iter().map(|t| t.view.name.clone()).collect();
    let at = order.iter().position(|n| n == "Bert").unwrap();
    let (step, expected) =
        if at + 1 < order.len() { (egui::Key::ArrowDown, at + 1) } else { (egui::Key::ArrowUp, at - 1) };
    h.key_press_modifiers(egui::Modifiers::ALT, step);
    h.run_ok();
    until(&mut h, 10, "the next talk", |a| open_name(a).as_deref() == Some(order[expected].as_str()));
    // Esc closes the switcher without opening anything.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    h.run_ok();
    h.key_press(egui::Key::Escape);
    h.run_ok();
    assert!(h.state().chat.as_ref().unwrap().switcher.is_none());
}

#[test]
fn a_message_is_forwarded_from_its_menu() {
    let Pair { rt, mut bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let alice = h.state().chat.as_ref().unwrap().me.1;
    rt.block_on(bob.send_confirmed(alice, "pass it on"));
    until(&mut h, 20, "bob's message", |a| shown(a, "pass it on").is_some());
    bubble_menu(&mut h, "pass it on", "Forward...");
    // Bob is the only talk: forwarded back to him.
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "Bob").click();
    h.run_ok();
    h.get_by_label("Forward").click();
    h.run_ok();
    rt.block_on(
        bob.until_history(&alice, |h| h.iter().filter(|m| m.text.as_deref() == Some("pass it on")).count() == 2),
    );
    assert!(h.state().chat.as_ref().unwrap().forward.is_none());
}

#[test]
fn a_clicked_notification_opens_its_talk() {
    let t = common::TestHome::new();
    for name in ["Anna", "Bert"] {
        common::gui::seed_talk(&t, "alice", name, &[format!("hello from {name}")]);
    }
    let mut h = common::gui::logged_in(&t, "alice");
    until(&mut h, 10, "the talks", |a| a.chat.as_ref().unwrap().talks.len() == 2);
    let bert = h.state().chat.as_ref().unwrap().talks.iter().find(|t| t.view.name == "Bert").unwrap().view.chat;
    // What the backend reports when the desktop says the notification was clicked.
    h.state_mut().deliver(wochat::ui::backend::UiMsg::OpenChat(bert));
    h.run_ok();
    until(&mut h, 10, "Bert open", |a| open_name(a).as_deref() == Some("Bert"));
    until(&mut h, 10, "his messages", |a| shown(a, "hello from Bert").is_some());
}

#[test]
fn any_emoji_can_be_a_reaction() {
    let Pair { rt, mut bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let alice = h.state().chat.as_ref().unwrap().me.1;
    let hash = rt.block_on(bob.send_confirmed(alice, "new flat!"));
    until(&mut h, 20, "bob's message", |a| shown(a, "new flat!").is_some());
    settle(&mut h);
    h.get_all_by_label("new flat!").next().unwrap().click_secondary();
    h.run_ok();
    h.get_by_label("Other:").click();
    h.step();
    h.get_by_label("Other:").type_text("🏠");
    h.step();
    h.get_by_label("React").click();
    h.run_ok();
    let history =
        rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.hash == hash && !m.reactions.is_empty())));
    let m = history.iter().find(|m| m.hash == hash).unwrap();
    assert_eq!(m.reactions, [("🏠".to_string(), vec![alice])]);
}
