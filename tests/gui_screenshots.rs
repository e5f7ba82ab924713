//! The screenshots in `docs/screenshots/`, rendered headless (wgpu on a software adapter) from
//! fixed data: a narrow window, a search result opened, a message request with a claimed name,
//! a pasted picture before it is sent, and the main window in Chinese. Not run by default:
//! `cargo test --test gui_screenshots -- --ignored` writes them again.
#![cfg(feature = "gui")]

mod common;

use std::time::{Duration, Instant};

use common::TestHome;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use wochat::crypto::{Address, Identity};
use wochat::ui::WoChatApp;
use wochat::wire::{Body, Packet};

/// 14 March 2025, 09:30 UTC.
const T0: i64 = 1_741_944_600_000;

fn until(h: &mut Harness<'_, WoChatApp>, what: &str, cond: impl Fn(&WoChatApp) -> bool) {
    let start = Instant::now();
    while !cond(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what} (screen {:?}, login error {:?})",
            h.state().screen,
            h.state().login.error
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..8 {
        h.step();
    }
}

/// A home with 王小明 (password "pw"), a friend 李雷 with a conversation, and a stranger whose
/// message claims a name; `language` for the window.
fn home(language: &str) -> (TestHome, Address) {
    let t = TestHome::new();
    std::fs::write(
        t.home.config_path(),
        format!("[broker]\nurls = [\"mqtt://127.0.0.1:9\"]\nembedded = \"off\"\n[ui]\nlanguage = \"{language}\"\n"),
    )
    .unwrap();
    let me = Identity::from_secret_bytes(&[0x11; 32]).unwrap();
    let friend = Identity::from_secret_bytes(&[0x22; 32]).unwrap().address();
    let stranger = Identity::from_secret_bytes(&[0x33; 32]).unwrap().address();
    t.keys().create_from("王小明", &me, b"pw").unwrap();
    let keys = t.keys();
    let mut acc = wochat::app::Account::open(&t.home, &keys, "王小明", b"pw").unwrap();
    acc.chat.upsert_friend(&friend, "李雷").unwrap();
    let me = me.address();
    let mut texts: Vec<(Address, Address, String, Option<&str>)> = vec![
        (friend, me, "你好！周末一起去爬山吗？".into(), None),
        (me, friend, "好啊，几点出发？Let's meet at 8:00 🙂".into(), None),
        (friend, me, "早上八点，地铁站见。别忘了带水和相机。".into(), None),
        (me, friend, "The trail map is here: https://example.org/trail — about 12 km.".into(), None),
        (friend, me, "Perfect. I'll bring sandwiches for both of us.".into(), None),
        (me, friend, "周日的天气预报说是晴天，温度二十度左右。".into(), None),
    ];
    for i in 0..30 {
        texts.push((friend, me, format!("message {i} about the weekend"), None));
    }
    texts.push((stranger, me, "Hello! We met at the RustConf booth — this is my WoChat.".into(), Some("Wang Fang")));
    let packets: Vec<Vec<u8>> = texts
        .iter()
        .map(|(_, _, text, name)| {
            let p = Packet::new(Body::Text { text: text.clone() }).with_name(name.map(String::from));
            p.encode()
        })
        .collect();
    let rows: Vec<_> = texts
        .iter()
        .zip(&packets)
        .map(|((from, to, _, _), cbor)| wochat::store::NewMessage {
            chat: None,
            from: *from,
            to: *to,
            hash: wochat::wire::MessageHash::of(cbor),
            kind: wochat::wire::MessageKind::Text,
            ts: T0,
            cbor,
            obj: None,
        })
        .collect();
    acc.chat.store_many(&rows).unwrap();
    let db = acc.chat.connection_mut();
    // Written and received a minute apart (its place in the talk with them).
    let minutes = "?1 + (id - 1) * 60000";
    db.execute(&format!("UPDATE message SET dt = {minutes}, ts = {minutes}, ord = {minutes}, stat = 'C'"), [T0])
        .unwrap();
    db.execute("UPDATE talk SET last_dt = ?1 + id * 60000", [T0]).unwrap();
    (t, friend)
}

/// The window logged in; `password_label`: the password field's name in the window's language.
fn window(t: &TestHome, size: egui::Vec2, password_label: &str) -> Harness<'static, WoChatApp> {
    let desktop = common::gui::test_desktop();
    let app = WoChatApp::with_desktop(t.home.clone(), desktop, std::sync::Arc::new(|| {})).unwrap();
    let mut h = Harness::builder().with_size(size).wgpu().build_ui_state(|ui, app: &mut WoChatApp| app.ui(ui), app);
    h.ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Panic);
    until(&mut h, "the accounts", |a| !a.login.accounts.is_empty());
    h.get_by_label(password_label).click();
    h.step();
    h.get_by_label(password_label).type_text("pw");
    h.key_press(egui::Key::Enter);
    until(&mut h, "the talk list", |a| a.chat.as_ref().is_some_and(|c| c.talks.len() == 2));
    h
}

fn save(h: &mut Harness<'static, WoChatApp>, name: &str) {
    let image = h.render().expect("a wgpu adapter");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots").join(format!("{name}.png"));
    image.save(&path).unwrap();
    eprintln!("wrote {}", path.display());
}

/// Opens the talk called `name` and waits until its messages are shown (not those of the talk
/// open before).
fn open(h: &mut Harness<'static, WoChatApp>, name: &str) {
    h.get_by_label(name).click();
    until(h, "the messages", |a| {
        let chat = a.chat.as_ref().unwrap();
        let talk = chat.talks.iter().find(|t| t.view.name == name).map(|t| t.view.chat);
        talk.is_some() && chat.open == talk && chat.messages.first().is_some_and(|m| Some(m.view.chat) == talk)
    });
}

#[test]
#[ignore = "writes docs/screenshots; run on purpose"]
fn screenshots() {
    // SAFETY: the one test of this binary; nothing else runs yet.
    unsafe { std::env::set_var("TZ", "UTC") };

    let (t, _) = home("en");
    let mut h = window(&t, egui::vec2(560.0, 640.0), "Password");
    open(&mut h, "李雷");
    save(&mut h, "narrow");
    drop(h);

    let mut h = window(&t, egui::vec2(980.0, 640.0), "Password");
    h.get_by_label_contains("claims to be Wang Fang").click();
    until(&mut h, "the request", |a| !a.chat.as_ref().unwrap().messages.is_empty());
    save(&mut h, "request");

    open(&mut h, "李雷");
    h.get_by_label("🔍 Search").click();
    h.step();
    h.get_by_label("Search in this chat").type_text("trail");
    until(&mut h, "the result", |a| a.chat.as_ref().unwrap().search.as_ref().is_some_and(|s| s.answered == "trail"));
    let text = "The trail map is here: https://example.org/trail — about 12 km.";
    h.get_by_label(text).click();
    until(&mut h, "the result opened", |a| a.chat.as_ref().unwrap().highlight.is_some());
    save(&mut h, "search-result");

    let pixels = (0..320 * 200)
        .map(|i| {
            let (x, y) = ((i % 320) as f32 / 320.0, (i / 320) as f32 / 200.0);
            egui::Color32::from_rgb((60.0 + 180.0 * x) as u8, (120.0 + 100.0 * y) as u8, 200)
        })
        .collect();
    h.get_by_label("Message").click();
    h.step();
    h.event(egui::Event::PasteImage(std::sync::Arc::new(egui::ColorImage::new([320, 200], pixels))));
    until(&mut h, "the preview", |a| a.chat.as_ref().unwrap().paste.is_some());
    h.get_by_label("Caption").type_text("The view from the top");
    for _ in 0..4 {
        h.step();
    }
    save(&mut h, "paste-preview");
    drop(h);

    let (t, _) = home("zh-CN");
    let mut h = window(&t, egui::vec2(980.0, 640.0), "密码");
    open(&mut h, "李雷");
    save(&mut h, "main-zh");
}

/// A home with Ana Lima (password "pw") and a talk with Ben Okafor: replies, reactions, an
/// edited and a deleted message, own messages read, and the last three unread.
fn conversation_home() -> TestHome {
    let t = TestHome::new();
    std::fs::write(
        t.home.config_path(),
        "[broker]\nurls = [\"mqtt://127.0.0.1:9\"]\nembedded = \"off\"\n[ui]\nlanguage = \"en\"\n",
    )
    .unwrap();
    let me = Identity::from_secret_bytes(&[0x44; 32]).unwrap();
    let ben = Identity::from_secret_bytes(&[0x55; 32]).unwrap().address();
    let cleo = Identity::from_secret_bytes(&[0x66; 32]).unwrap().address();
    t.keys().create_from("Ana Lima", &me, b"pw").unwrap();
    let keys = t.keys();
    let mut acc = wochat::app::Account::open(&t.home, &keys, "Ana Lima", b"pw").unwrap();
    acc.chat.upsert_friend(&ben, "Ben Okafor").unwrap();
    acc.chat.upsert_friend(&cleo, "Cleo").unwrap();
    let me = me.address();
    // (from, to, text, replies to the message at this index)
    let script: Vec<(Address, Address, &str, Option<usize>)> = vec![
        (ben, me, "Are we still on for the climbing gym on Saturday?", None),
        (me, ben, "Yes! 10:00 at the north entrance.", Some(0)),
        (ben, me, "Great, I'll book the wall for two hours.", None),
        (me, ben, "Could you bring the spare harness?", None),
        (ben, me, "Sure. Old one or the new one?", Some(3)),
        (me, ben, "The new one, please", None),
        (ben, me, "I had typed the wrong address here", None),
        (ben, me, "Booked: wall 3, 10:00-12:00", None),
        (ben, me, "Parking is free before 10.", None),
        (ben, me, "See you there!", Some(1)),
    ];
    let mut hashes = Vec::new();
    let mut packets = Vec::new();
    for (i, (_, _, text, reply)) in script.iter().enumerate() {
        let mut p = Packet::new(Body::Text { text: text.to_string() }).replying_to(reply.map(|r| hashes[r]));
        p.id = [i as u8; 16];
        let cbor = p.encode();
        hashes.push(wochat::wire::MessageHash::of(&cbor).0);
        packets.push(cbor);
    }
    let rows: Vec<_> = script
        .iter()
        .zip(&packets)
        .map(|((from, to, _, _), cbor)| wochat::store::NewMessage {
            chat: None,
            from: *from,
            to: *to,
            hash: wochat::wire::MessageHash::of(cbor),
            kind: wochat::wire::MessageKind::Text,
            ts: T0,
            cbor,
            obj: None,
        })
        .collect();
    acc.chat.store_many(&rows).unwrap();
    // A talk with Cleo below it.
    let hi = Packet::new(Body::Text { text: "Thanks for the photos!".into() }).encode();
    let cleo_row = wochat::store::NewMessage {
        chat: None,
        from: cleo,
        to: me,
        hash: wochat::wire::MessageHash::of(&hi),
        kind: wochat::wire::MessageKind::Text,
        ts: T0,
        cbor: &hi,
        obj: None,
    };
    acc.chat.store_many(&[cleo_row]).unwrap();
    let db = acc.chat.connection_mut();
    let minutes = "?1 + (id - 1) * 60000";
    db.execute(&format!("UPDATE message SET dt = {minutes}, ts = {minutes}, ord = {minutes}, stat = 'C'"), [T0])
        .unwrap();
    // Ben read Ana's messages; reactions from both; Ana edited one; Ben deleted one.
    db.execute("UPDATE message SET seen = dt WHERE pk = ?1", [me.to_hex()]).unwrap();
    let react = |msg: usize, who: &Address, emoji: &str| {
        db.execute(
            "INSERT INTO reaction (msg, pk, emoji, ts, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![msg as i64 + 1, who.to_hex(), emoji, T0, hex::encode([msg as u8; 32])],
        )
        .unwrap();
    };
    react(0, &me, "👍");
    react(2, &me, "🙏");
    react(7, &me, "🎉");
    react(5, &ben, "👍");
    db.execute(
        "INSERT INTO message_edit (msg, hash, ts, text) VALUES (6, ?1, ?2, 'The new one, please — the blue one')",
        rusqlite::params![hex::encode([0xee; 32]), T0 + 6 * 60000],
    )
    .unwrap();
    db.execute("UPDATE message SET edits = 1 WHERE id = 6", []).unwrap();
    db.execute("UPDATE message SET deleted = 1, val = x'' WHERE id = 7", []).unwrap();
    db.execute("UPDATE talk SET last_dt = ?1 + id * 60000", [T0]).unwrap();
    db.execute("UPDATE talk SET unread = 3 WHERE pk = ?1", [ben.to_hex()]).unwrap();
    t
}

#[test]
#[ignore = "writes docs/screenshots; run on purpose"]
fn conversation_screenshot() {
    // SAFETY: the only test run with this filter; nothing else runs yet.
    unsafe { std::env::set_var("TZ", "UTC") };
    let t = conversation_home();
    let desktop = common::gui::test_desktop();
    let app = WoChatApp::with_desktop(t.home.clone(), desktop, std::sync::Arc::new(|| {})).unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1000.0, 760.0))
        .wgpu()
        .build_ui_state(|ui, app: &mut WoChatApp| app.ui(ui), app);
    h.ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Panic);
    until(&mut h, "the accounts", |a| !a.login.accounts.is_empty());
    h.get_by_label("Password").click();
    h.step();
    h.get_by_label("Password").type_text("pw");
    h.key_press(egui::Key::Enter);
    until(&mut h, "the talk list", |a| a.chat.as_ref().is_some_and(|c| c.talks.len() == 2));
    open(&mut h, "Ben Okafor");
    until(&mut h, "the unread line", |a| a.chat.as_ref().unwrap().first_unread.is_some());
    save(&mut h, "conversation");
}
