//! The desktop app driven headless with egui_kittest: login (dropdown, wrong password), create
//! account, add friend (valid, invalid), send a message and see its status, a 10,000-message
//! conversation that renders and scrolls.
#![cfg(feature = "gui")]

mod common;

use std::time::Duration;

use common::TestHome;
use common::broker::Mosquitto;
use common::gui::{
    Pair, add_friend, alice_talking_to_bob, harness, home_for, logged_in, login, seed_talk, settle, until,
};
use egui_kittest::kittest::Queryable;
use wochat::store::{MessageStatus, TransferState};
use wochat::ui::Screen;
use wochat::wire::{AttachKind, MessageKind};

#[test]
fn login_with_the_dropdown_wrong_password_then_success() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let keys = t.keys();
    keys.create("alice", b"pw-a").unwrap();
    keys.create("bob", b"pw-b").unwrap();
    let mut h = harness(&t.home);
    until(&mut h, 10, "accounts", |a| a.login.accounts.len() == 2);
    assert_eq!(h.state().login.selected, "alice");
    // Pick bob in the dropdown.
    h.get_by_label("Account").click();
    h.run_ok();
    h.get_by_label("bob").click();
    h.step();
    assert_eq!(h.state().login.selected, "bob");
    login(&mut h, "wrong");
    until(&mut h, 20, "the error", |a| a.login.error.is_some());
    assert_eq!(h.state().login.error.as_deref(), Some("wrong password"));
    assert_eq!(h.state().login.selected, "bob", "the name stays selected");
    h.get_by_label("wrong password");
    login(&mut h, "pw-b");
    until(&mut h, 20, "the main window", |a| a.screen == Screen::Main);
    assert_eq!(h.state().chat.as_ref().unwrap().me.0, "bob");
    assert!(h.state().window_title().starts_with("bob"));
}

#[test]
fn an_account_open_in_another_window_is_marked_and_refused() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let keys = t.keys();
    let alice = keys.create("alice", b"pw-a").unwrap();
    keys.create("bob", b"pw-b").unwrap();
    // Another window has alice open: it holds her lock.
    t.home.create_account_dir(&alice).unwrap();
    let held = wochat::store::AccountLock::acquire(&t.home.lock_path(&alice)).unwrap();
    let mut h = harness(&t.home);
    until(&mut h, 10, "accounts", |a| a.login.accounts.len() == 2);
    assert_eq!(h.state().login.selected, "bob", "the first account not open elsewhere");
    h.get_by_label("Account").click();
    h.run_ok();
    h.get_by_label("alice  (open in another window)").click();
    h.step();
    login(&mut h, "pw-a");
    until(&mut h, 20, "the error", |a| a.login.error.is_some());
    h.get_by_label("already open in another window");
    assert_eq!(h.state().screen, Screen::Login);
    drop(held);
}

#[test]
fn the_interface_speaks_chinese_when_set() {
    let t = TestHome::new();
    t.keys().create("张伟", b"pw").unwrap();
    std::fs::write(t.home.config_path(), "[ui]\nlanguage = \"zh-CN\"\n").unwrap();
    let mut h = harness(&t.home);
    until(&mut h, 10, "the settings", |a| a.config.ui.language == "zh-CN");
    h.run_ok();
    h.get_by_label("登录");
    h.get_by_label("密码");
    h.get_by_label("创建账户…");
    assert_eq!(h.state().login.selected, "张伟", "the account in the dropdown");
}

#[test]
fn create_account_when_there_is_none() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let mut h = harness(&t.home);
    until(&mut h, 10, "the create form", |a| a.login.creating);
    for (label, text) in
        [("Name", "carol"), ("New password", "correct horse"), ("Repeat the password", "correct horse")]
    {
        h.get_by_label(label).click();
        h.step();
        h.get_by_label(label).type_text(text);
        h.step();
    }
    h.get_by_label("Create").click();
    until(&mut h, 30, "the main window", |a| a.screen == Screen::Main);
    let names: Vec<_> = t.keys().list().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec!["carol"]);
}

#[test]
fn add_friend_with_a_valid_and_an_invalid_address() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let bob = t.keys().create("bob", b"pw").unwrap();
    let mut h = logged_in(&t, "alice");
    add_friend(&mut h, "not an address", "Nobody");
    until(&mut h, 10, "the inline error", |a| {
        a.chat.as_ref().unwrap().add_friend.as_ref().is_some_and(|d| d.error.is_some())
    });
    h.get_by_label_contains("66 hexadecimal");
    // Esc closes the dialog.
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().chat.as_ref().unwrap().add_friend.is_none());
    add_friend(&mut h, &bob.to_hex(), "Bob");
    until(&mut h, 10, "bob in the list", |a| a.chat.as_ref().unwrap().talks.iter().any(|t| t.view.name == "Bob"));
    assert!(h.state().chat.as_ref().unwrap().add_friend.is_none(), "the dialog closed");
    h.get_by_label("Bob");
}

#[test]
fn send_a_message_and_see_it_reach_two_ticks() {
    let Pair { rt, mut bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text("hello from the window 你好 👋");
    h.step();
    h.key_press(egui::Key::Enter);
    until(&mut h, 20, "the bubble", |a| {
        a.chat
            .as_ref()
            .unwrap()
            .messages
            .iter()
            .any(|m| m.view.text.as_deref() == Some("hello from the window 你好 👋"))
    });
    until(&mut h, 30, "two ticks", |a| {
        a.chat.as_ref().unwrap().messages.last().is_some_and(|m| m.view.stat == MessageStatus::Confirmed)
    });
    assert!(h.get_all_by_label("hello from the window 你好 👋").count() >= 1, "the bubble (and the talk preview)");
    assert!(h.state().chat.as_ref().unwrap().composer.is_empty());
    let got = rt.block_on(bob.until_history(&h.state().chat.as_ref().unwrap().me.1, |h| !h.is_empty()));
    assert_eq!(got.len(), 1);
    rt.block_on(bob.stop());
}

/// Shift+Enter starts a new line in the composer; Enter sends the whole text.
#[test]
fn shift_enter_is_a_new_line_and_enter_sends() {
    let Pair { rt, mut bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text("line one");
    h.step();
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::Enter);
    h.step();
    assert!(h.state().chat.as_ref().unwrap().messages.is_empty(), "Shift+Enter sent nothing");
    h.get_by_label("Message").type_text("line two");
    h.step();
    assert_eq!(h.state().chat.as_ref().unwrap().composer, "line one\nline two");
    h.key_press(egui::Key::Enter);
    until(&mut h, 20, "the bubble", |a| !a.chat.as_ref().unwrap().messages.is_empty());
    let alice = h.state().chat.as_ref().unwrap().me.1;
    let got = rt.block_on(bob.until_history(&alice, |h| !h.is_empty()));
    assert_eq!(got[0].text.as_deref(), Some("line one\nline two"));

    // The setting swaps them: Enter is a new line, Shift+Enter sends.
    h.state_mut().config.ui.enter_sends = false;
    h.get_by_label("Message").type_text("first");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    h.get_by_label("Message").type_text("second");
    h.step();
    assert_eq!(h.state().chat.as_ref().unwrap().composer, "first\nsecond", "Enter was a new line");
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::Enter);
    until(&mut h, 20, "the second bubble", |a| a.chat.as_ref().unwrap().messages.len() == 2);
    let got = rt.block_on(bob.until_history(&alice, |h| h.len() == 2));
    assert_eq!(got[1].text.as_deref(), Some("first\nsecond"));
    rt.block_on(bob.stop());
}

/// Chinese text with CJK punctuation and full-width forms.
const CHINESE: &str = "中文消息：你好，世界！WoChat 支持简体中文。（１２３）";

#[test]
fn a_conversation_of_10000_messages_renders_and_scrolls() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let texts: Vec<String> =
        (0..10_000).map(|i| if i == 9_999 { CHINESE.to_string() } else { format!("message number {i}") }).collect();
    seed_talk(&t, "alice", "Many", &texts);
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talk", |a| a.chat.as_ref().unwrap().talks.iter().any(|t| t.view.name == "Many"));
    h.get_by_label("Many").click();
    until(&mut h, 10, "the newest page", |a| a.chat.as_ref().unwrap().messages.len() == wochat::ui::backend::PAGE);
    // The scroll to the newest message animates for a number of frames that depends on when
    // the page (and the backend's other messages) arrived; once it is over, the window is idle.
    settle(&mut h);
    // Idle, with the composer focused for typing: nothing schedules another frame (a blinking
    // cursor would, twice a second for as long as the talk is open).
    h.run();
    assert!(h.get_by_label("Message").is_focused(), "opening a talk focuses the composer");
    let delay = h.output().viewport_output[&egui::ViewportId::ROOT].repaint_delay;
    assert_eq!(delay, Duration::MAX, "repaint causes: {:?}", h.ctx.repaint_causes());
    // Chinese renders with the bundled font (the harness panics on a missing glyph).
    assert!(h.get_all_by_label(CHINESE).count() >= 1);
    assert!(h.get_all_by_label("message number 9998").count() >= 1);
    assert!(h.query_by_label("message number 5000").is_none(), "only loaded, visible rows are laid out");
    // Scroll to the top repeatedly: older pages load.
    h.get_all_by_label("message number 9998").last().unwrap().hover();
    h.step();
    for _ in 0..40 {
        h.event(egui::Event::MouseWheel {
            source: egui::MouseWheelSource::Wheel,
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, 50.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
        });
        h.step();
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    until(&mut h, 20, "older pages", |a| a.chat.as_ref().unwrap().messages.len() > wochat::ui::backend::PAGE);

    // Search the talk: a message far older than anything loaded is found.
    h.get_by_label("🔍 Search").click();
    h.step();
    h.get_by_label("Search in this chat").type_text("NUMBER 1234");
    until(&mut h, 20, "the search results", |a| {
        a.chat.as_ref().unwrap().search.as_ref().is_some_and(|s| s.answered == "NUMBER 1234")
    });
    let found = &h.state().chat.as_ref().unwrap().search.as_ref().unwrap().results;
    assert_eq!(found.iter().map(|m| m.view.text.as_deref().unwrap()).collect::<Vec<_>>(), ["message number 1234"]);
    let target = found[0].view.id;
    h.get_by_label("1 match");
    // A click on the result opens the talk at that message, highlighted; the search closes.
    h.get_by_label("message number 1234").click();
    until(&mut h, 20, "the page around the result", |a| {
        let c = a.chat.as_ref().unwrap();
        c.search.is_none() && c.messages.iter().any(|m| m.view.id == target)
    });
    settle(&mut h);
    let chat = h.state().chat.as_ref().unwrap();
    assert_eq!(chat.highlight, Some(target));
    assert!(chat.has_newer, "newer messages are loaded as the user scrolls down");
    assert!(h.query_by_label("Search in this chat").is_none());
    let shown = h.get_by_label("message number 1234").rect();
    let window = h.ctx.content_rect();
    assert!(window.contains_rect(shown), "the result is in view: {shown:?} in {window:?}");
    // Scrolling down reaches the newest message again.
    h.get_by_label("message number 1234").hover();
    for _ in 0..200 {
        h.event(egui::Event::MouseWheel {
            source: egui::MouseWheelSource::Wheel,
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, -50.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
        });
        h.step();
        std::thread::sleep(Duration::from_millis(10));
        h.step();
        if !h.state().chat.as_ref().unwrap().has_newer {
            break;
        }
    }
    until(&mut h, 20, "the newest page", |a| !a.chat.as_ref().unwrap().has_newer);
    until(&mut h, 20, "the newest message", |a| {
        a.chat.as_ref().unwrap().messages.last().is_some_and(|m| m.view.text.as_deref() == Some(CHINESE))
    });
}

#[test]
fn a_received_picture_shows_its_preview_and_a_file_its_card() {
    let Pair { rt, bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let alice = h.state().chat.as_ref().unwrap().me.1;

    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.png");
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x / 3) as u8, (y / 2) as u8, 120])).save(&photo).unwrap();
    let doc = dir.path().join("notes.txt");
    std::fs::write(&doc, "plain notes").unwrap();
    rt.block_on(async {
        bob.client.send_file(alice, photo, Some("看这张照片".into()), None).await.unwrap();
        bob.client.send_file(alice, doc, None, None).await.unwrap();
    });
    until(&mut h, 30, "both attachments complete", |a| {
        let m = &a.chat.as_ref().unwrap().messages;
        m.iter()
            .filter(|m| {
                m.view.attachment.as_ref().is_some_and(|a| a.progress.state == TransferState::Complete && a.complete)
            })
            .count()
            == 2
    });
    h.run_ok();
    let chat = h.state().chat.as_ref().unwrap();
    let picture =
        chat.messages.iter().find(|m| m.view.attachment.as_ref().is_some_and(|a| a.kind == AttachKind::Image)).unwrap();
    let preview = picture.preview.as_ref().expect("the preview travelled with the message");
    assert!(preview.size[0] <= 320 && preview.size[1] <= 320);
    let file = picture.view.attachment.as_ref().unwrap().file;
    assert!(chat.previews.contains_key(&file), "its texture was made when drawn");
    h.get_by_label_contains("看这张照片");
    // The text file is a card with its name and the Open and Save buttons.
    h.get_by_label("notes.txt");
    h.get_by_label("Open");
    h.get_by_label("Save...");
    rt.block_on(bob.stop());
}

#[test]
fn a_pasted_picture_is_sent_and_no_clear_copy_stays_behind() {
    let Pair { rt, mut bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let alice = h.state().chat.as_ref().unwrap().me.1;
    h.get_by_label("Message").click();
    h.step();
    // What egui-winit hands over for Ctrl+V when the clipboard holds a picture and no text.
    let pixels = (0..200 * 120).map(|i| egui::Color32::from_rgb((i % 200) as u8, (i / 200) as u8, 90)).collect();
    let picture = egui::ColorImage::new([200, 120], pixels);
    let picture = std::sync::Arc::new(picture);
    // Pasting shows the picture first: Cancel sends nothing.
    h.event(egui::Event::PasteImage(picture.clone()));
    until(&mut h, 10, "the preview", |a| a.chat.as_ref().unwrap().paste.is_some());
    h.get_by_label("Cancel").click();
    h.run_ok();
    assert!(h.state().chat.as_ref().unwrap().paste.is_none());
    // Then with a caption, and Send.
    h.event(egui::Event::PasteImage(picture));
    until(&mut h, 10, "the preview", |a| a.chat.as_ref().unwrap().paste.is_some());
    h.get_by_label("Caption").type_text("看这张图");
    h.step();
    h.get_by_label("Send a picture");
    // Enter in the caption sends, like the dialog's Send button.
    h.key_press(egui::Key::Enter);
    until(&mut h, 30, "the picture delivered", |a| {
        a.chat.as_ref().unwrap().messages.iter().any(|m| {
            m.view
                .attachment
                .as_ref()
                .is_some_and(|a| a.kind == AttachKind::Image && a.progress.state == TransferState::Complete)
                && m.view.stat == MessageStatus::Confirmed
        })
    });
    let got = rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.kind == MessageKind::Image)));
    let pictures: Vec<_> = got.iter().filter(|m| m.kind == MessageKind::Image).collect();
    assert_eq!(pictures.len(), 1, "the cancelled paste sent nothing");
    assert_eq!(pictures[0].text.as_deref(), Some("看这张图"));
    assert!(
        h.state()
            .chat
            .as_ref()
            .unwrap()
            .messages
            .iter()
            .all(|m| m.view.attachment.is_none() || m.view.text.as_deref() == Some("看这张图"))
    );
    let leftovers = std::env::temp_dir().join(format!("wochat-paste-{}", std::process::id()));
    assert!(!leftovers.exists(), "the temporary PNG and its folders were removed");
    rt.block_on(bob.stop());
}

/// Messages from strangers dropped to keep requests within their limits are counted beside
/// the requests.
#[test]
fn dropped_requests_are_counted_in_the_talk_list() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    {
        let acc = wochat::app::Account::open(&t.home, &keys, "alice", b"pw").unwrap();
        acc.chat.connection().execute("INSERT INTO meta (key, value) VALUES ('requests_dropped', '7')", []).unwrap();
    }
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the count", |a| a.chat.as_ref().unwrap().requests_dropped == 7);
    h.run();
    h.get_by_label("7 older messages from strangers were dropped (limits for requests)");
}
