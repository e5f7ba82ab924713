//! The desktop app driven headless: a harness on a data home, login, and Alice in the window
//! talking to Bob, a headless peer, through a real broker.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use wochat::home::Home;
use wochat::testkit::{Network, TestNet, TestPeer};
use wochat::ui::{Desktop, Screen, WoChatApp};

use super::TestHome;
use super::broker::Mosquitto;

/// A home whose config points at `broker` (no embedded broker).
pub fn home_for(broker: &Mosquitto) -> TestHome {
    let t = TestHome::new();
    std::fs::write(
        t.home.config_path(),
        format!("[broker]\nurls = [\"{}\"]\nembedded = \"off\"\n[ui]\nlanguage = \"en\"\n", broker.url()),
    )
    .unwrap();
    t
}

/// The window size of most tests.
pub const SIZE: egui::Vec2 = egui::vec2(1000.0, 700.0);

/// What a test window may use of the desktop: no native dialogs (they would wait for a person
/// on a desktop that has them) and no program started to open a file.
pub fn test_desktop() -> Desktop {
    Desktop { file_dialogs: false, open_files: false, tray: false, ..Desktop::default() }
}

/// The window on `home`, logged out, [`SIZE`] large.
pub fn harness(home: &Home) -> Harness<'static, WoChatApp> {
    harness_with(home, SIZE, test_desktop())
}

/// The window on `home`, logged out, of `size`, using `desktop`.
pub fn harness_with(home: &Home, size: egui::Vec2, desktop: Desktop) -> Harness<'static, WoChatApp> {
    harness_of(WoChatApp::with_desktop(home.clone(), desktop, std::sync::Arc::new(|| {})).unwrap(), size)
}

/// The window on `home`, not drawn yet (to be changed before its first frame).
pub fn app(home: &Home) -> WoChatApp {
    WoChatApp::with_desktop(home.clone(), test_desktop(), std::sync::Arc::new(|| {})).unwrap()
}

/// A harness drawing `app` in a window of `size`.
pub fn harness_of(app: WoChatApp, size: egui::Vec2) -> Harness<'static, WoChatApp> {
    let h = Harness::builder().with_size(size).build_ui_state(|ui, app: &mut WoChatApp| app.ui(ui), app);
    // Every glyph must be there (the bundled CJK font included): a box would be a bug.
    h.ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Panic);
    h
}

/// Steps the UI until `cond` holds (the core answers on its own threads).
pub fn until(h: &mut Harness<'_, WoChatApp>, secs: u64, what: &str, cond: impl Fn(&WoChatApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if cond(h.state()) {
            h.step();
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Types the password and logs in with the selected account.
pub fn login(h: &mut Harness<'_, WoChatApp>, password: &str) {
    h.get_by_label("Password").click();
    h.step();
    h.get_by_label("Password").type_text(password);
    h.step();
    h.get_by_label("Log in").click();
    h.step();
}

/// Runs frames until the window has been idle twice in a row, 100 ms apart (what the backend
/// still had to send has arrived and been drawn).
pub fn settle(h: &mut Harness<'static, WoChatApp>) {
    let mut idle = 0;
    for _ in 0..50 {
        idle = if h.try_run().is_ok() { idle + 1 } else { 0 };
        if idle == 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the window never became idle");
}

/// The window on `t`, logged in as `name` (created if missing; password "pw").
pub fn logged_in(t: &TestHome, name: &str) -> Harness<'static, WoChatApp> {
    logged_in_with(t, name, SIZE, test_desktop())
}

/// [`logged_in`] with a window of `size` using `desktop`.
pub fn logged_in_with(t: &TestHome, name: &str, size: egui::Vec2, desktop: Desktop) -> Harness<'static, WoChatApp> {
    match t.keys().create(name, b"pw") {
        Ok(_) | Err(wochat::store::KeysError::NameTaken(_)) => {}
        Err(e) => panic!("{e}"),
    }
    let mut h = harness_with(&t.home, size, desktop);
    until(&mut h, 10, "accounts", |a| !a.login.accounts.is_empty());
    if h.state().login.selected != name {
        h.get_by_label("Account").click();
        h.run_ok();
        h.get_by_label(name).click();
        h.step();
    }
    login(&mut h, "pw");
    until(&mut h, 20, "the main window", |a| a.screen == Screen::Main);
    h
}

/// Adds a friend through the dialog.
pub fn add_friend(h: &mut Harness<'_, WoChatApp>, input: &str, name: &str) {
    h.get_by_label("Add friend...").click();
    h.run_ok();
    h.get_by_label("Address or wochat: link").click();
    h.step();
    h.get_by_label("Address or wochat: link").type_text(input);
    h.step();
    h.get_by_label("Name").click();
    h.step();
    h.get_by_label("Name").type_text(name);
    h.step();
    h.get_by_label("Add").click();
    h.step();
}

/// Alice in the window, connected through `broker`, with Bob (a headless peer) added as a
/// friend and his talk open.
pub struct Pair {
    /// Kept alive for the test (the struct is destructured with every field bound).
    pub _broker: Mosquitto,
    pub _home: TestHome,
    pub rt: tokio::runtime::Runtime,
    pub bob: TestPeer,
    pub h: Harness<'static, WoChatApp>,
    /// Bob's home (kept until the end).
    pub _net: TestNet,
}

/// Alice (this window) and Bob (headless), friends both ways, his talk open.
pub fn alice_talking_to_bob() -> Pair {
    let broker = Mosquitto::start();
    let t = home_for(&broker);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let bob = rt.block_on(net.peer("bob"));
    let mut h = logged_in(&t, "alice");
    until(&mut h, 20, "connected", |a| a.chat.as_ref().unwrap().connection.0 == wochat::app::ConnState::Connected);
    add_friend(&mut h, &bob.address.to_hex(), "Bob");
    until(&mut h, 10, "bob in the list", |a| a.chat.as_ref().unwrap().talks.iter().any(|t| t.view.name == "Bob"));
    h.get_by_label("Bob").click();
    h.step();
    // They know each other: what alice sends bob is no message request.
    let alice = h.state().chat.as_ref().unwrap().me.1;
    rt.block_on(bob.client.add_friend(alice, "Alice".into())).unwrap();
    // The panels find their sizes over a frame or two: click where things end up.
    settle(&mut h);
    Pair { _broker: broker, _home: t, rt, bob, h, _net: net }
}

/// Stores `texts` in `account`'s history as sent to a friend called `friend` (a new address),
/// oldest first; returns the friend's address.
pub fn seed_talk(t: &TestHome, account: &str, friend: &str, texts: &[String]) -> wochat::crypto::Address {
    let keys = t.keys();
    match keys.create(account, b"pw") {
        Ok(_) | Err(wochat::store::KeysError::NameTaken(_)) => {}
        Err(e) => panic!("{e}"),
    }
    let peer = wochat::crypto::Identity::generate().unwrap().address();
    let mut acc = wochat::app::Account::open(&t.home, &keys, account, b"pw").unwrap();
    acc.chat.upsert_friend(&peer, friend).unwrap();
    let me = acc.address();
    let packets: Vec<Vec<u8>> = texts
        .iter()
        .map(|text| wochat::wire::Packet::new(wochat::wire::Body::Text { text: text.clone() }).encode())
        .collect();
    let rows: Vec<_> = packets
        .iter()
        .map(|cbor| wochat::store::NewMessage {
            chat: None,
            from: me,
            to: peer,
            hash: wochat::wire::MessageHash::of(cbor),
            kind: wochat::wire::MessageKind::Text,
            ts: 0,
            cbor,
            obj: None,
        })
        .collect();
    acc.chat.store_many(&rows).unwrap();
    peer
}
