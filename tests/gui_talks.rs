//! The talk list as people keep it (issue 14, item 6): pin, mute, archive and mark unread from
//! a talk's menu, kept across restarts; the "unread messages" line with a jump to it and back
//! to the newest; a draft that survives a restart.
#![cfg(feature = "gui")]

mod common;

use common::TestHome;
use common::gui::{logged_in, seed_talk, settle, until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use wochat::crypto::Address;
use wochat::ui::WoChatApp;

/// The state of the talk called `name` as the window has it.
fn talk<'a>(app: &'a WoChatApp, name: &str) -> Option<&'a wochat::ui::backend::TalkItem> {
    app.chat.as_ref().unwrap().talks.iter().find(|t| t.view.name == name)
}

/// Opens the menu of the talk `name` and clicks `item`.
fn menu(h: &mut Harness<'static, WoChatApp>, name: &str, item: &str) {
    // The first is the talk's row (an open talk's header says the name too).
    h.get_all_by_label(name).next().unwrap().click_secondary();
    h.run_ok();
    h.get_by_label(item).click();
    h.run_ok();
}

#[test]
fn pin_mute_archive_and_mark_unread_are_kept() {
    let t = TestHome::new();
    for name in ["Anna", "Bert", "Cora"] {
        seed_talk(&t, "alice", name, &[format!("hello from {name}")]);
    }
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talks", |a| a.chat.as_ref().unwrap().talks.len() == 3);
    settle(&mut h);
    let first = |a: &WoChatApp| a.chat.as_ref().unwrap().talks[0].view.name.clone();
    let oldest = {
        let talks = &h.state().chat.as_ref().unwrap().talks;
        talks.last().unwrap().view.name.clone()
    };
    menu(&mut h, &oldest, "Pin to top");
    until(&mut h, 10, "pinned on top", |a| first(a) == oldest && talk(a, &oldest).unwrap().view.state.is_pinned());
    menu(&mut h, "Bert", "Mute");
    until(&mut h, 10, "muted", |a| talk(a, "Bert").unwrap().view.state.muted);
    menu(&mut h, "Cora", "Archive");
    until(&mut h, 10, "archived", |a| talk(a, "Cora").unwrap().view.state.archived);
    settle(&mut h);
    assert!(h.query_by_label("Cora").is_none(), "out of the list");
    h.get_by_label("Archived chats (1)").click();
    h.run_ok();
    h.get_by_label("Cora");
    menu(&mut h, "Anna", "Mark as unread");
    until(&mut h, 10, "marked unread", |a| talk(a, "Anna").unwrap().view.state.marked_unread);
    drop(h);

    // Kept in the account: a restart shows the same.
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talks", |a| a.chat.as_ref().unwrap().talks.len() == 3);
    let app = h.state();
    assert_eq!(first(app), oldest);
    assert!(talk(app, "Bert").unwrap().view.state.muted);
    assert!(talk(app, "Cora").unwrap().view.state.archived);
    assert!(talk(app, "Anna").unwrap().view.state.marked_unread);
    settle(&mut h);
    // Opening a talk marked unread reads it; unpinned, the list is by activity again.
    h.get_by_label("Anna").click();
    until(&mut h, 10, "read", |a| !talk(a, "Anna").unwrap().view.state.marked_unread);
    menu(&mut h, &oldest, "Unpin");
    until(&mut h, 10, "unpinned", |a| !talk(a, &oldest).unwrap().view.state.is_pinned());
}

/// Stores `count` texts from `friend` (a new address, a friend of `account`) in `account`'s
/// history, as received; returns the friend's address.
fn receive(t: &TestHome, account: &str, friend: &str, first: usize, count: usize, peer: Option<Address>) -> Address {
    let keys = t.keys();
    let mut acc = wochat::app::Account::open(&t.home, &keys, account, b"pw").unwrap();
    let peer = peer.unwrap_or_else(|| wochat::crypto::Identity::generate().unwrap().address());
    acc.chat.upsert_friend(&peer, friend).unwrap();
    let me = acc.address();
    let packets: Vec<Vec<u8>> = (first..first + count)
        .map(|i| {
            let mut p = wochat::wire::Packet::new(wochat::wire::Body::Text { text: format!("{friend} says {i}") });
            p.ts = wochat::store::now_ms() as u64 - 1000 + i as u64;
            p.encode()
        })
        .collect();
    let rows: Vec<_> = packets
        .iter()
        .map(|cbor| wochat::store::NewMessage {
            chat: None,
            from: peer,
            to: me,
            hash: wochat::wire::MessageHash::of(cbor),
            kind: wochat::wire::MessageKind::Text,
            ts: wochat::wire::Packet::decode(cbor).unwrap().ts as i64,
            cbor,
            obj: None,
        })
        .collect();
    acc.chat.store_many(&rows).unwrap();
    peer
}

#[test]
fn the_unread_line_stands_above_the_first_unread_and_the_buttons_jump() {
    let t = TestHome::new();
    t.keys().create("alice", b"pw").unwrap();
    let peer = receive(&t, "alice", "Dora", 0, 40, None);
    {
        let keys = t.keys();
        let mut acc = wochat::app::Account::open(&t.home, &keys, "alice", b"pw").unwrap();
        let chat = acc.chat.chat_with(&peer).unwrap().unwrap();
        acc.chat.mark_read(chat).unwrap();
    }
    // 30 arrived since Dora's talk was last read.
    receive(&t, "alice", "Dora", 40, 30, Some(peer));
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talk", |a| talk(a, "Dora").is_some_and(|t| t.view.unread == 30));
    settle(&mut h);
    h.get_by_label("Dora").click();
    until(&mut h, 10, "the line's place", |a| a.chat.as_ref().unwrap().first_unread.is_some());
    until(&mut h, 10, "the messages", |a| !a.chat.as_ref().unwrap().messages.is_empty());
    settle(&mut h);
    let first_unread = h.state().chat.as_ref().unwrap().first_unread.unwrap();
    let row = h.state().chat.as_ref().unwrap().messages.iter().find(|m| m.view.id == first_unread).cloned();
    assert_eq!(row.unwrap().view.text.as_deref(), Some("Dora says 40"), "the first of the 30");
    // The view starts at the newest: the line is far above.
    h.get_by_label("Dora says 69");
    assert!(h.query_by_label("Unread messages").is_none());
    h.get_by_label("↑ First unread").click();
    for _ in 0..30 {
        h.step();
    }
    settle(&mut h);
    h.get_by_label("Unread messages");
    h.get_by_label("Dora says 40");
    assert!(h.query_by_label("↑ First unread").is_none(), "no button to reach a line in view");
    // Back to the newest.
    h.get_by_label("↓ Newest").click();
    for _ in 0..10 {
        h.step();
    }
    settle(&mut h);
    h.get_by_label("Dora says 69");
    assert!(h.query_by_label("↓ Newest").is_none(), "at the newest");
}

#[test]
fn a_draft_is_kept_across_talks_and_restarts() {
    let t = TestHome::new();
    seed_talk(&t, "alice", "Anna", &["hi Anna".to_string()]);
    seed_talk(&t, "alice", "Bert", &["hi Bert".to_string()]);
    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talks", |a| a.chat.as_ref().unwrap().talks.len() == 2);
    settle(&mut h);
    h.get_by_label("Anna").click();
    until(&mut h, 10, "the talk", |a| !a.chat.as_ref().unwrap().messages.is_empty());
    settle(&mut h);
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text("half-written 草稿");
    // Kept once typing pauses (a second of the window's clock).
    until(&mut h, 20, "the draft kept", |a| {
        talk(a, "Anna").unwrap().view.state.draft.as_deref() == Some("half-written 草稿")
    });
    // Another talk: its composer is empty; back, the draft is there.
    h.get_by_label("Bert").click();
    until(&mut h, 10, "Bert open", |a| {
        a.chat.as_ref().unwrap().messages.iter().any(|m| m.view.text.as_deref() == Some("hi Bert"))
    });
    assert_eq!(h.state().chat.as_ref().unwrap().composer, "");
    h.get_by_label("Message").click();
    h.step();
    h.get_by_label("Message").type_text("for Bert");
    h.step();
    // Switching keeps it at once, without the pause.
    h.get_by_label("Anna").click();
    until(&mut h, 10, "Bert's draft", |a| talk(a, "Bert").unwrap().view.state.draft.as_deref() == Some("for Bert"));
    assert_eq!(h.state().chat.as_ref().unwrap().composer, "half-written 草稿");
    drop(h);

    let mut h = logged_in(&t, "alice");
    until(&mut h, 10, "the talks", |a| a.chat.as_ref().unwrap().talks.len() == 2);
    settle(&mut h);
    h.get_by_label("Anna").click();
    until(&mut h, 10, "the draft in the composer", |a| a.chat.as_ref().unwrap().composer == "half-written 草稿");
    // Sent, it is a draft no more.
    settle(&mut h);
    h.get_by_label("Send").click();
    h.run_ok();
    until(&mut h, 10, "no draft", |a| talk(a, "Anna").unwrap().view.state.draft.is_none());
}
