//! The window as a new user finds it: bubbles as high as their content, a composer that stays
//! within a third of the window, the newest message after sending, Esc, a narrow window, a
//! friend removed only when confirmed, files where no dialog or opener works, a stranger's
//! claimed name, and brokers from the command line.
#![cfg(feature = "gui")]

mod common;

use common::TestHome;
use common::broker::Mosquitto;
use common::gui::{
    Pair, alice_talking_to_bob, home_for, logged_in, logged_in_with, seed_talk, settle, test_desktop, until,
};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use wochat::app::ConnState;
use wochat::testkit::{Network, TestNet};
use wochat::ui::{Desktop, WoChatApp};

/// Opens the talk called `name` and waits until its newest page is drawn and the window idle.
fn open_talk(h: &mut Harness<'static, WoChatApp>, name: &str, count: usize) {
    until(h, 10, "the talk", |a| a.chat.as_ref().unwrap().talks.iter().any(|t| t.view.name == name));
    h.get_by_label(name).click();
    until(h, 10, "the messages", |a| a.chat.as_ref().unwrap().messages.len() == count);
    settle(h);
}

/// Scrolls the conversation up by `pages` pages (the pointer over `over`).
fn scroll_up(h: &mut Harness<'static, WoChatApp>, over: &str, pages: usize) {
    h.get_all_by_label(over).last().unwrap().hover();
    h.step();
    for _ in 0..pages {
        h.event(egui::Event::MouseWheel {
            source: egui::MouseWheelSource::Wheel,
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, 1.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
        });
        h.step();
    }
    settle(h);
}

/// Bubbles follow each other without overlapping and without gaps, however high their
/// content (Chinese wraps at twice the width an estimate from Latin text assumes).
#[test]
fn bubbles_are_as_high_as_their_content() {
    let t = TestHome::new();
    let texts: Vec<String> = vec![
        "short one".into(),
        "中文长消息：".to_string() + &"我们周末一起去爬山，然后在山顶吃午饭，看看风景。".repeat(12),
        "after the Chinese".into(),
        (1..=14).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n"),
        "after the lines".into(),
        "word ".repeat(160).trim_end().to_string(),
        "the last".into(),
    ];
    seed_talk(&t, "alice", "Heights", &texts);
    let mut h = logged_in_with(&t, "alice", egui::vec2(1000.0, 2400.0), test_desktop());
    open_talk(&mut h, "Heights", texts.len());
    let rects: Vec<egui::Rect> = texts.iter().map(|text| h.get_by_label(text).rect()).collect();
    for (i, pair) in rects.windows(2).enumerate() {
        let gap = pair[1].top() - pair[0].bottom();
        // A bubble's text sits inside its frame: between two texts are two margins and the
        // time line, never less than nothing (overlap) nor a hole.
        assert!((0.0..60.0).contains(&gap), "between message {i} and {}: {gap} px ({pair:?})", i + 1);
    }
}

/// A long draft stays within about a third of the window and scrolls inside; the
/// conversation stays on screen.
#[test]
fn the_composer_is_capped_at_a_third_of_the_window() {
    let Pair { rt, bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let alice = h.state().chat.as_ref().unwrap().me.1;
    rt.block_on(bob.client.send_text(alice, "hello from bob".into())).unwrap();
    until(&mut h, 20, "bob's message", |a| !a.chat.as_ref().unwrap().messages.is_empty());
    let long: String = (1..=80).map(|i| format!("draft line {i}\n")).collect();
    h.state_mut().chat.as_mut().unwrap().composer = long.clone();
    h.step();
    // Focused as a screen reader would: the field is taller than its visible part now.
    h.get_by_label("Message").focus();
    h.step();
    h.get_by_label("Message").type_text("and more");
    settle(&mut h);
    let draft = &h.state().chat.as_ref().unwrap().composer;
    assert!(draft.contains("and more") && draft.len() == long.len() + 8, "typing still works");
    // The conversation keeps two thirds of the window: its header and bob's message are in view.
    let window = h.ctx.content_rect();
    assert!(window.contains_rect(h.get_by_label("Profile...").rect()));
    let bubble = h.get_by_label("hello from bob").rect();
    assert!(window.contains_rect(bubble), "bob's message is in view: {bubble:?}");
    // The text field is taller than what shows of it: it scrolls inside.
    assert!(h.get_by_label("Message").rect().height() > window.height(), "the whole draft is laid out");
    rt.block_on(bob.stop());
}

/// After sending, the conversation shows the newest message even when the user had scrolled up.
#[test]
fn sending_scrolls_to_the_newest_message() {
    let t = TestHome::new();
    let texts: Vec<String> = (0..150).map(|i| format!("old message {i}")).collect();
    seed_talk(&t, "alice", "Scrolled", &texts);
    let mut h = logged_in(&t, "alice");
    open_talk(&mut h, "Scrolled", texts.len());
    assert!(h.query_by_label("old message 149").is_some(), "opened at the newest");
    scroll_up(&mut h, "old message 149", 8);
    assert!(h.query_by_label("old message 149").is_none(), "scrolled up, away from the newest");
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text("a new one");
    h.key_press(egui::Key::Enter);
    until(&mut h, 10, "the new bubble", |a| {
        a.chat.as_ref().unwrap().messages.last().is_some_and(|m| m.view.text.as_deref() == Some("a new one"))
    });
    settle(&mut h);
    let window = h.ctx.content_rect();
    let bubble = h.get_by_label("a new one").rect();
    assert!(window.contains_rect(bubble), "the new message is in view: {bubble:?}");
}

/// Esc closes the topmost thing only: Settings before the search bar, the search bar without
/// moving the conversation.
#[test]
fn esc_closes_the_topmost_window_and_nothing_else() {
    let t = TestHome::new();
    let texts: Vec<String> = (0..120).map(|i| format!("esc message {i}")).collect();
    seed_talk(&t, "alice", "Esc", &texts);
    let mut h = logged_in(&t, "alice");
    open_talk(&mut h, "Esc", texts.len());
    let newest = h.get_by_label("esc message 119").rect();
    // Esc in the conversation with nothing open changes nothing.
    h.get_by_label("Message").click();
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    assert_eq!(h.get_by_label("esc message 119").rect(), newest, "the conversation did not move");

    h.get_by_label("🔍 Search").click();
    h.step();
    h.get_by_label("Search in this chat").type_text("message 3");
    until(&mut h, 10, "the results", |a| {
        a.chat.as_ref().unwrap().search.as_ref().is_some_and(|s| s.answered == "message 3")
    });
    h.get_by_label("Settings").click();
    h.run_ok();
    assert!(h.state().settings.is_some());
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    assert!(h.state().settings.is_none(), "Esc closed Settings");
    assert!(h.state().chat.as_ref().unwrap().search.is_some(), "and only Settings");
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    assert!(h.state().chat.as_ref().unwrap().search.is_none(), "then the search bar");
    assert_eq!(h.get_by_label("esc message 119").rect(), newest, "the conversation is where it was");
}

/// Below 700 px the window shows the talk list or the conversation, with a way back.
#[test]
fn a_narrow_window_shows_the_list_or_the_conversation() {
    let t = TestHome::new();
    seed_talk(&t, "alice", "Narrow", &["hello narrow".to_string()]);
    let mut h = logged_in_with(&t, "alice", egui::vec2(560.0, 600.0), test_desktop());
    until(&mut h, 10, "the talk", |a| !a.chat.as_ref().unwrap().talks.is_empty());
    h.run_ok();
    h.get_by_label("Filter");
    h.get_by_label("Narrow").click();
    until(&mut h, 10, "the message", |a| a.chat.as_ref().unwrap().messages.len() == 1);
    settle(&mut h);
    assert!(h.query_by_label("Filter").is_none(), "the list gave way to the conversation");
    let bubble = h.get_by_label("hello narrow").rect();
    assert!(h.ctx.content_rect().contains_rect(bubble));
    h.get_by_label("← Chats").click();
    settle(&mut h);
    h.get_by_label("Filter");
    assert!(h.query_by_label("hello narrow").is_none());
    assert!(h.state().chat.as_ref().unwrap().open.is_none());
}

/// Removing a friend asks first and says what becomes of the history; Cancel keeps them.
#[test]
fn removing_a_friend_asks_first() {
    let Pair { rt, bob, mut h, _broker, _home, _net } = alice_talking_to_bob();
    let is_friend = |h: &Harness<'static, WoChatApp>| h.state().chat.as_ref().unwrap().talks[0].view.friend;
    for confirm in ["Cancel", "Remove"] {
        h.get_by_label("Profile...").click();
        h.run_ok();
        h.get_by_label("Remove friend...").click();
        h.run_ok();
        h.get_by_label("Remove Bob from your friends?");
        h.get_by_label_contains("history stay on this computer");
        assert!(is_friend(&h), "nothing happened before the answer");
        h.get_by_label(confirm).click();
        h.run_ok();
    }
    until(&mut h, 10, "bob removed", |a| a.chat.as_ref().unwrap().talks.iter().all(|t| !t.view.friend));
    assert!(h.query_by_label("Remove Bob from your friends?").is_none());
    rt.block_on(bob.stop());
}

/// Without a file dialog, Attach asks for a path in the window and Save puts the file into the
/// downloads folder; without a program to open files, Open says where the file is. The
/// opened copy is private and goes when the window closes.
#[test]
fn files_without_a_dialog_or_an_opener() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut bob = rt.block_on(net.peer("bob"));
    let downloads = t.dir.path().join("Downloads");
    let desktop = Desktop { downloads: Some(downloads.clone()), ..test_desktop() };
    let mut h = logged_in_with(&t, "alice", common::gui::SIZE, desktop);
    until(&mut h, 20, "connected", |a| a.chat.as_ref().unwrap().connection.0 == ConnState::Connected);
    common::gui::add_friend(&mut h, &bob.address.to_hex(), "Bob");
    until(&mut h, 10, "bob", |a| a.chat.as_ref().unwrap().talks.iter().any(|t| t.view.name == "Bob"));
    h.get_by_label("Bob").click();
    h.step();
    let alice = h.state().chat.as_ref().unwrap().me.1;
    rt.block_on(bob.client.add_friend(alice, "Alice".into())).unwrap();

    // Attach: the path is typed in the window.
    settle(&mut h);
    h.get_by_label("Attach...").click();
    until(&mut h, 10, "the path field", |a| a.chat.as_ref().unwrap().path_prompt.is_some());
    h.get_by_label_contains("No file dialog is available here");
    h.get_by_label("Path of the file").type_text("/no/such/file.txt");
    h.key_press(egui::Key::Enter);
    h.run_ok();
    h.get_by_label("/no/such/file.txt is not a file");
    let report = t.dir.path().join("report.txt");
    std::fs::write(&report, "quarterly numbers\n".repeat(100)).unwrap();
    h.state_mut().chat.as_mut().unwrap().path_prompt.as_mut().unwrap().path = report.display().to_string();
    h.get_by_label("Path of the file").click();
    h.step();
    h.key_press(egui::Key::Enter);
    until(&mut h, 10, "the prompt closed", |a| a.chat.as_ref().unwrap().path_prompt.is_none());
    let got = rt.block_on(bob.until_history(&alice, |h| h.iter().any(|m| m.attachment.is_some())));
    assert_eq!(got[0].attachment.as_ref().unwrap().name, "report.txt");

    // A file from Bob: Save puts it into Downloads, Open into a private folder.
    let from_bob = t.dir.path().join("from bob.txt");
    std::fs::write(&from_bob, "a file from bob").unwrap();
    rt.block_on(bob.client.send_file(alice, from_bob, None, None)).unwrap();
    until(&mut h, 30, "bob's file", |a| {
        a.chat.as_ref().unwrap().messages.iter().any(|m| m.view.attachment.as_ref().is_some_and(|a| a.complete))
    });
    settle(&mut h);
    // Bob's file is the newest (alice's own report has the same buttons above it).
    h.get_all_by_label("Save...").last().unwrap().click();
    until(&mut h, 10, "the notice", |a| a.chat.as_ref().unwrap().notice.is_some());
    let saved = downloads.join("from bob.txt");
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), "a file from bob");
    h.run_ok();
    h.get_by_label_contains(&format!("saved to {}", saved.display()));

    h.get_all_by_label("Open").last().unwrap().click();
    until(&mut h, 10, "the opener's notice", |a| {
        matches!(a.chat.as_ref().unwrap().notice, Some(wochat::ui::backend::Notice::NoOpener(_)))
    });
    let Some(wochat::ui::backend::Notice::NoOpener(opened)) = h.state().chat.as_ref().unwrap().notice.clone() else {
        unreachable!()
    };
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), "a file from bob");
    assert!(opened.starts_with(std::env::temp_dir()), "{opened:?} is in the temporary folder");
    assert!(!opened.starts_with(t.root()), "not in the data home");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&opened), 0o600);
        assert_eq!(mode(opened.parent().unwrap()), 0o700);
    }
    h.run_ok();
    h.get_by_label_contains("No program to open files is available here");
    drop(h);
    assert!(!opened.exists(), "the clear copy went with the window");
    assert!(!opened.parent().unwrap().exists());
    rt.block_on(bob.stop());
}

/// A stranger's first message carries their name: the request shows it as a claim, with the
/// message, until accepted.
#[test]
fn a_request_shows_the_name_the_stranger_claims() {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let carol = rt.block_on(net.peer("carol"));
    let mut h = logged_in(&t, "alice");
    until(&mut h, 20, "connected", |a| a.chat.as_ref().unwrap().connection.0 == ConnState::Connected);
    let alice = h.state().chat.as_ref().unwrap().me.1;
    rt.block_on(carol.client.send_text(alice, "hi, we met at the conference".into())).unwrap();
    until(&mut h, 20, "the request", |a| a.chat.as_ref().unwrap().talks.iter().any(|t| t.view.request));
    settle(&mut h);
    let hex = carol.address.to_hex();
    let shown = h.state().chat.as_ref().unwrap().talks[0].view.name.clone();
    assert!(shown.starts_with(&hex[..8]), "the row names the address: {shown}");
    h.get_by_label(&format!("claims to be carol · {shown}"));
    // The row shows the message itself (the stranger has written nothing else).
    let talk = h.state().chat.as_ref().unwrap().talks[0].view.clone();
    assert_eq!(talk.preview, "hi, we met at the conference");
    // Accepting names the friend as they claimed (the user can rename them).
    h.get_by_label("Accept").click();
    until(&mut h, 10, "accepted", |a| a.chat.as_ref().unwrap().talks.iter().all(|t| t.view.friend));
    settle(&mut h);
    assert!(h.query_by_label_contains("claims to be").is_none(), "a friend's name is no claim");
    assert_eq!(h.state().chat.as_ref().unwrap().talks[0].view.name, "carol");
    rt.block_on(carol.stop());
}

/// Brokers given by `--broker` / `WOCHAT_BROKER` win over the configured ones, and Settings
/// says so.
#[test]
fn brokers_from_the_command_line_are_used_and_shown() {
    let broker = Mosquitto::start();
    let t = TestHome::new();
    // The configured broker never answers.
    std::fs::write(
        t.home.config_path(),
        "[broker]\nurls = [\"mqtt://127.0.0.1:9\"]\nembedded = \"off\"\n[ui]\nlanguage = \"en\"\n",
    )
    .unwrap();
    let desktop = Desktop { broker_urls: vec![broker.url()], ..test_desktop() };
    let mut h = logged_in_with(&t, "alice", common::gui::SIZE, desktop);
    until(&mut h, 20, "connected", |a| a.chat.as_ref().unwrap().connection.0 == ConnState::Connected);
    h.get_by_label("Settings").click();
    h.run_ok();
    h.get_by_label_contains(&format!("This window uses {}", broker.url()));
}

/// Without a file dialog, "Import account..." asks for the export file's path in the window.
#[test]
fn an_account_is_imported_without_a_file_dialog() {
    let elsewhere = TestHome::new();
    elsewhere.keys().create("dora", b"pw-d").unwrap();
    let export = elsewhere.dir.path().join("dora.wochat");
    elsewhere.keys().export("dora", b"pw-d", &export).unwrap();

    let t = TestHome::new();
    t.keys().create("alice", b"pw").unwrap();
    let mut h = common::gui::harness(&t.home);
    until(&mut h, 10, "the accounts", |a| !a.login.accounts.is_empty());
    h.get_by_label("Import account...").click();
    until(&mut h, 10, "the path field", |a| a.login.import_path.is_some());
    h.get_by_label_contains("No file dialog is available here");
    h.get_by_label("Path of the export file").click();
    h.step();
    h.get_by_label("Path of the export file").type_text(export.to_str().unwrap());
    h.get_by_label("Use this file").click();
    until(&mut h, 10, "the file taken", |a| a.login.import.is_some());
    h.get_by_label("Password of the exported account").click();
    h.step();
    h.get_by_label("Password of the exported account").type_text("pw-d");
    h.key_press(egui::Key::Enter);
    until(&mut h, 20, "dora imported", |a| a.login.accounts.iter().any(|n| n == "dora"));
}

/// The viewport commands of the last frame.
fn commands(h: &Harness<'static, WoChatApp>) -> Vec<egui::ViewportCommand> {
    h.output().viewport_output.get(&egui::ViewportId::ROOT).map(|v| v.commands.clone()).unwrap_or_default()
}

#[test]
fn closing_keeps_wochat_in_the_tray_which_shows_the_unread_count_and_quits() {
    let t = TestHome::new();
    seed_talk(&t, "alice", "Anna", &["hello".to_string()]);
    let mut h = logged_in(&t, "alice");
    let (tray, tray_events) = wochat::ui::tray::Tray::fake();
    h.state_mut().set_tray(tray);
    until(&mut h, 10, "the talk", |a| !a.chat.as_ref().unwrap().talks.is_empty());
    // The tray says what is unread (muted talks left out, as in the title).
    let chat = h.state_mut().chat.as_mut().unwrap();
    chat.talks[0].view.unread = 3;
    h.run_ok();
    assert_eq!(h.state().tray.as_ref().unwrap().unread(), 3);

    // Closing the window hides it in the tray instead.
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    h.step();
    let cmds = commands(&h);
    assert!(cmds.contains(&egui::ViewportCommand::CancelClose), "{cmds:?}");
    assert!(cmds.contains(&egui::ViewportCommand::Visible(false)), "{cmds:?}");
    assert!(h.state().hidden);
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.clear();

    // The tray's "Show WoChat" brings it back; "Quit WoChat" closes it for good.
    tray_events.send(wochat::ui::tray::TrayEvent::Show).unwrap();
    h.step();
    assert!(commands(&h).contains(&egui::ViewportCommand::Visible(true)));
    assert!(!h.state().hidden);
    tray_events.send(wochat::ui::tray::TrayEvent::Quit).unwrap();
    h.step();
    assert!(commands(&h).contains(&egui::ViewportCommand::Close));
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    h.step();
    assert!(!commands(&h).contains(&egui::ViewportCommand::CancelClose), "quitting is not cancelled");

    // With the setting off, closing closes.
    drop(h);
    let mut h = logged_in(&t, "alice");
    let (tray, _events) = wochat::ui::tray::Tray::fake();
    h.state_mut().set_tray(tray);
    h.state_mut().config.ui.close_to_tray = false;
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    h.step();
    assert!(!commands(&h).contains(&egui::ViewportCommand::CancelClose));
}

#[test]
fn a_window_closed_while_the_broker_is_unreachable_lets_the_account_open_again_at_once() {
    let t = TestHome::new();
    std::fs::write(t.home.config_path(), "[broker]\nurls = [\"mqtt://127.0.0.1:9\"]\nembedded = \"off\"\n").unwrap();
    // Messages waiting to go: the closing window must not wait for a broker nobody reaches.
    let texts: Vec<String> = (0..200).map(|i| format!("waiting {i}")).collect();
    seed_talk(&t, "alice", "Anna", &texts);
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talk", |a| a.chat.as_ref().is_some_and(|c| !c.talks.is_empty()));
    settle(&mut h);
    drop(h);
    // The same process opens it again (a window closed and opened, or the next account).
    let h = logged_in(&t, "alice");
    assert_eq!(h.state().login.error, None);
}

#[test]
fn start_minimized_minimizes_the_window_where_there_is_no_tray() {
    let t = TestHome::new();
    std::fs::write(t.home.config_path(), "[ui]\nstart_minimized = true\n").unwrap();
    let h = logged_in(&t, "alice");
    assert!(h.state().minimized && !h.state().hidden, "no tray to hide it in: minimized");
}

#[test]
fn start_minimized_waits_to_learn_whether_a_tray_can_hold_the_window() {
    let t = TestHome::new();
    std::fs::write(t.home.config_path(), "[ui]\nstart_minimized = true\n").unwrap();
    for tray_shown in [true, false] {
        let mut app = common::gui::app(&t.home);
        // A desktop whose tray answers late (the window's thread never waits for it).
        let (tray, _events, start) = wochat::ui::tray::Tray::fake_starting();
        app.set_tray(tray);
        let mut h = common::gui::harness_of(app, common::gui::SIZE);
        h.step();
        h.step();
        assert!(!h.state().hidden && !h.state().minimized, "not known yet where it goes");
        assert!(!h.state().tray.as_ref().unwrap().shown());
        if tray_shown {
            start.shown();
        } else {
            start.absent();
        }
        h.step();
        assert_eq!(h.state().hidden, tray_shown, "hidden in the tray that showed up");
        assert_eq!(h.state().minimized, !tray_shown, "minimized without one");
        assert_eq!(h.state().tray.as_ref().unwrap().shown(), tray_shown);
    }
}
