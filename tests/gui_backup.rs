//! Backups in the window: Settings → Backup (back up now with progress, the passphrase shown
//! once with a copy button, the schedule) and "Restore from backup..." in the login window.
#![cfg(feature = "gui")]

mod common;

use common::TestHome;
use common::gui::{harness, logged_in, settle, until};
use egui_kittest::kittest::{NodeT, Queryable};
use wochat::backup::schedule::{Schedule, backups_in};
use wochat::crypto::password::KdfParams;

#[test]
fn back_up_now_shows_the_passphrase_once_and_the_schedule_is_saved() {
    let t = TestHome::new();
    let mut h = logged_in(&t, "alice");
    settle(&mut h);
    h.get_by_label("Settings").click();
    h.run_ok();
    h.get_by_label("Backup...").click();
    until(&mut h, 10, "the backup settings", |a| a.backup.as_ref().is_some_and(|w| w.stored.is_some()));
    h.get_by_label("none yet");
    assert!(h.get_by_label("Back up now").accesskit_node().is_disabled(), "no folder yet");

    let folder = t.root().join("backups");
    h.get_by_label("Folder").click();
    h.step();
    h.get_by_label("Folder").type_text(folder.to_str().unwrap());
    h.step();
    h.get_by_label("Back up now").click();
    until(&mut h, 60, "the backup written", |a| {
        a.backup.as_ref().is_some_and(|w| w.passphrase.is_some() && matches!(w.outcome, Some(Ok(_))))
    });
    settle(&mut h);
    // The passphrase, once, with a copy button; the file, its size and the time are shown.
    h.get_by_label("Your backup passphrase");
    let passphrase = h.state().backup.as_ref().unwrap().passphrase.as_ref().unwrap().to_string();
    h.get_by_label(&passphrase);
    h.get_by_label("Copy").click();
    h.run_ok();
    h.get_by_label("Copied.");
    h.get_by_label_contains("Written: ");
    assert!(h.query_by_label("none yet").is_none(), "the last backup is shown");
    let address = h.state().chat.as_ref().unwrap().me.1;
    let written = backups_in(&folder, &address).unwrap();
    assert_eq!(written.len(), 1);
    let summary = wochat::backup::verify(&written[0], passphrase.as_bytes()).unwrap();
    assert_eq!(summary.manifest.name, "alice");

    // Esc does not close the window while the passphrase waits to be written down.
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    h.get_by_label("Your backup passphrase");
    h.get_by_label("I have written it down").click();
    settle(&mut h);
    assert!(h.query_by_label("Your backup passphrase").is_none(), "shown only once");
    assert!(h.query_by_label(&passphrase).is_none());

    // Weekly, keeping 3: saved in the account.
    h.get_by_label("weekly").click();
    h.step();
    h.get_by_label("Save").click();
    until(&mut h, 10, "the schedule saved", |a| {
        a.backup.as_ref().and_then(|w| w.stored.as_ref()).is_some_and(|s| s.schedule == Schedule::Weekly)
    });
    // A passphrase exists already: none is made, and a new one only when asked for.
    assert!(h.state().backup.as_ref().unwrap().passphrase.is_none());
    h.get_by_label("New passphrase").click();
    until(&mut h, 10, "a new passphrase", |a| a.backup.as_ref().is_some_and(|w| w.passphrase.is_some()));
    let renewed = h.state().backup.as_ref().unwrap().passphrase.as_ref().unwrap().to_string();
    assert_ne!(renewed, passphrase);
}

#[test]
fn an_account_is_restored_from_the_login_window() {
    // A backup of alice made on another machine.
    let elsewhere = TestHome::new();
    let keys = elsewhere.keys();
    keys.create("alice", b"pw-a").unwrap();
    drop(wochat::app::Account::open(&elsewhere.home, &keys, "alice", b"pw-a").unwrap());
    let identity = keys.login("alice", b"pw-a").unwrap();
    let backup = elsewhere.root().join("alice.wochat-backup");
    let pass = "11111 22222 33333 44444 55555 66666";
    wochat::backup::create(
        &elsewhere.home,
        &keys,
        "alice",
        &identity,
        &backup,
        pass.as_bytes(),
        KdfParams::INSECURE_FAST,
        &mut |_, _| {},
    )
    .unwrap();

    let t = TestHome::new();
    t.keys().create("bob", b"pw").unwrap();
    let mut h = harness(&t.home);
    until(&mut h, 10, "the accounts", |a| !a.login.accounts.is_empty());
    h.get_by_label("Restore from backup...").click();
    until(&mut h, 10, "the restore form", |a| a.login.restore.is_some());
    h.get_by_label("Backup file").click();
    h.step();
    h.get_by_label("Backup file").type_text(backup.to_str().unwrap());
    h.step();
    let type_passphrase = |h: &mut egui_kittest::Harness<'static, wochat::ui::WoChatApp>, p: &str| {
        h.get_by_label("Backup passphrase").click();
        h.step();
        h.get_by_label("Backup passphrase").type_text(p);
        h.step();
        h.get_by_label("Restore").click();
        h.step();
    };
    type_passphrase(&mut h, "not it");
    until(&mut h, 20, "the refusal", |a| a.login.restore.as_ref().is_some_and(|r| r.error.is_some()));
    h.get_by_label_contains("wrong backup passphrase");
    assert_eq!(h.state().login.accounts, ["bob"]);
    // Typed without the spaces the passphrase was shown with.
    type_passphrase(&mut h, &pass.replace(' ', ""));
    until(&mut h, 20, "alice restored", |a| a.login.accounts.iter().any(|n| n == "alice"));
    until(&mut h, 5, "the form closed", |a| a.login.restore.is_none());
    assert_eq!(h.state().login.selected, "alice");
    assert_eq!(t.keys().address_of("alice").unwrap(), identity.address());
}
