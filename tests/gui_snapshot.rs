//! One image snapshot of the app (rendered by wgpu on a software adapter): a conversation in
//! Chinese and English, so that a glyph box or a broken layout shows as a pixel difference.
//! Everything on screen is fixed: keys, names, times (UTC), and a broker that is never reached.
//!
//! To accept a deliberate change of the look: `UPDATE_SNAPSHOTS=1 cargo test --test gui_snapshot`,
//! then look at `tests/snapshots/conversation_zh.png` before committing it.
#![cfg(feature = "gui")]

mod common;

use std::time::{Duration, Instant};

use common::TestHome;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use wochat::app::ConnState;
use wochat::crypto::Identity;
use wochat::ui::WoChatApp;
use wochat::wire::{Body, Packet};

/// 14 March 2025, 09:30 UTC: a day in a past year, so the separator reads the same every day.
const T0: i64 = 1_741_944_600_000;

fn until(h: &mut Harness<'_, WoChatApp>, secs: u64, what: &str, cond: impl Fn(&WoChatApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if cond(h.state()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_chinese_conversation_looks_as_recorded() {
    // Times are drawn in the system's zone; fix it before any thread reads the environment.
    // SAFETY: this binary holds this one test, and nothing else runs yet.
    unsafe { std::env::set_var("TZ", "UTC") };

    let t = TestHome::new();
    // Port 9 (discard) on loopback: nothing listens, the state settles at "reconnecting".
    std::fs::write(
        t.home.config_path(),
        "[broker]\nurls = [\"mqtt://127.0.0.1:9\"]\nembedded = \"off\"\n[ui]\nlanguage = \"en\"\n",
    )
    .unwrap();
    let me = Identity::from_secret_bytes(&[0x11; 32]).unwrap();
    let friend = Identity::from_secret_bytes(&[0x22; 32]).unwrap().address();
    t.keys().create_from("王小明", &me, b"pw").unwrap();
    {
        let keys = t.keys();
        let mut acc = wochat::app::Account::open(&t.home, &keys, "王小明", b"pw").unwrap();
        acc.chat.upsert_friend(&friend, "李雷").unwrap();
        let texts = [
            (friend, me.address(), "你好！周末一起去爬山吗？"),
            (me.address(), friend, "好啊，几点出发？Let's meet at 8:00 🙂"),
            (friend, me.address(), "早上八点，地铁站见。别忘了带水和相机。"),
        ];
        let packets: Vec<Vec<u8>> =
            texts.iter().map(|(_, _, text)| Packet::new(Body::Text { text: (*text).into() }).encode()).collect();
        let rows: Vec<_> = texts
            .iter()
            .zip(&packets)
            .map(|((from, to, _), cbor)| wochat::store::NewMessage {
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
        // Written and received times and the talk's activity, fixed a minute apart; the talk is read.
        let db = acc.chat.connection_mut();
        db.execute(
            "UPDATE message SET dt = ?1 + (id - 1) * 60000, ts = ?1 + (id - 1) * 60000, ord = ?1 + (id - 1) * 60000, \
             stat = 'C'",
            [T0],
        )
        .unwrap();
        db.execute("UPDATE talk SET last_dt = ?1 + 120000, unread = 0", [T0]).unwrap();
    }

    let app = WoChatApp::new(t.home.clone(), std::sync::Arc::new(|| {})).unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(900.0, 560.0))
        .wgpu()
        .build_ui_state(|ui, app: &mut WoChatApp| app.ui(ui), app);
    h.ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Panic);
    until(&mut h, 10, "the accounts", |a| !a.login.accounts.is_empty());
    h.get_by_label("Password").click();
    h.step();
    h.get_by_label("Password").type_text("pw");
    h.key_press(egui::Key::Enter);
    until(&mut h, 30, "the talk list", |a| a.chat.as_ref().is_some_and(|c| !c.talks.is_empty()));
    until(&mut h, 30, "the failed connect", |a| a.chat.as_ref().unwrap().connection.0 == ConnState::Reconnecting);
    h.get_by_label("李雷").click();
    until(&mut h, 10, "the messages", |a| a.chat.as_ref().unwrap().messages.len() == 3);
    for _ in 0..5 {
        h.step();
    }
    h.snapshot("conversation_zh");
}
