//! The keys table: create, list, login, damaged rows, password change, deactivate, export/import.

mod common;

use common::TestHome;
use rusqlite::Connection;
use wochat::crypto::password::KdfParams;
use wochat::store::{KeyStore, KeysError};

#[test]
fn create_list_and_login() {
    let t = TestHome::new();
    let keys = t.keys();
    let a = keys.create("  alice  ", b"pw-a").unwrap();
    let b = keys.create("鲍勃", b"pw-b").unwrap();
    assert_eq!(a.to_hex().len(), 66);
    let names: Vec<_> = keys.list().unwrap().into_iter().map(|e| (e.name, e.address)).collect();
    assert_eq!(names, vec![("alice".to_string(), a), ("鲍勃".to_string(), b)]);
    assert_eq!(keys.login("alice", b"pw-a").unwrap().address(), a);
    assert_eq!(keys.login(" 鲍勃", b"pw-b").unwrap().address(), b);
}

#[test]
fn names_are_unique_trimmed_and_bounded() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    let e = keys.create(" alice ", b"other").unwrap_err();
    assert!(matches!(e, KeysError::NameTaken(ref n) if n == "alice"), "{e}");
    assert_eq!(e.to_string(), "an account named \"alice\" already exists");
    assert!(matches!(keys.create("   ", b"pw"), Err(KeysError::BadName(_))));
    assert!(matches!(keys.create("", b"pw"), Err(KeysError::BadName(_))));
    assert!(matches!(keys.create(&"x".repeat(129), b"pw"), Err(KeysError::BadName(_))));
    assert!(matches!(keys.create("a\tb", b"pw"), Err(KeysError::BadName(_))));
    // 128 bytes of UTF-8 (42 three-byte characters + 2) is fine.
    keys.create(&format!("{}ab", "中".repeat(42)), b"pw").unwrap();
    assert_eq!(keys.list().unwrap().len(), 2);
}

#[test]
fn wrong_password_is_a_plain_error() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"right").unwrap();
    let e = keys.login("alice", b"wrong").unwrap_err();
    assert!(matches!(e, KeysError::WrongPassword));
    assert_eq!(e.to_string(), "wrong password");
    assert!(matches!(keys.login("nobody", b"right"), Err(KeysError::UnknownAccount(_))));
}

#[test]
fn default_kdf_parameters_are_stored_in_the_row() {
    let t = TestHome::new();
    let keys = KeyStore::open(&t.home.keys_db_path()).unwrap();
    keys.create("alice", b"pw").unwrap();
    let conn = Connection::open(t.home.keys_db_path()).unwrap();
    let (m, tt, p, salt, sk): (u32, u32, u32, Vec<u8>, Vec<u8>) = conn
        .query_row("SELECT kdf_m, kdf_t, kdf_p, salt, sk FROM keys", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    assert_eq!((m, tt, p), (65536, 3, 1));
    assert_eq!(KdfParams::DEFAULT, KdfParams { m_kib: m, t: tt, p });
    assert_eq!(salt.len(), 16);
    assert_eq!(sk.len(), 60, "nonce, ciphertext and tag");
    keys.login("alice", b"pw").unwrap();
}

/// Each kind of damage to a row gives a clear error, never a panic, and the other accounts
/// still work.
#[test]
fn damaged_rows_give_clear_errors() {
    let damage: &[(&str, &str)] = &[
        ("sk", "UPDATE keys SET sk = x'0102' WHERE name = 'victim'"),
        ("sk", "UPDATE keys SET sk = 'text' WHERE name = 'victim'"),
        ("public key", "UPDATE keys SET pk = 'zz' WHERE name = 'victim'"),
        (
            "public key",
            "UPDATE keys SET pk = (CASE substr(pk, 1, 2) WHEN '02' THEN '03' ELSE '02' END) || substr(pk, 3)
             WHERE name = 'victim'",
        ),
        ("salt", "UPDATE keys SET salt = x'00' WHERE name = 'victim'"),
        ("salt", "UPDATE keys SET salt = 5 WHERE name = 'victim'"),
        ("kdf", "UPDATE keys SET kdf_m = 4294967295 WHERE name = 'victim'"),
        ("kdf", "UPDATE keys SET kdf_t = 0 WHERE name = 'victim'"),
        ("kdf", "UPDATE keys SET kdf_p = -1 WHERE name = 'victim'"),
        ("kdf", "UPDATE keys SET kdf_t = 'x' WHERE name = 'victim'"),
    ];
    for (what, sql) in damage {
        let t = TestHome::new();
        let keys = t.keys();
        keys.create("victim", b"pw").unwrap();
        keys.create("other", b"pw").unwrap();
        Connection::open(t.home.keys_db_path()).unwrap().execute_batch(sql).unwrap();
        let e = keys.login("victim", b"pw").unwrap_err();
        // A flipped public key is indistinguishable from a wrong password (it is the AEAD's
        // associated data); everything else is reported as damage.
        assert!(
            matches!(e, KeysError::Damaged { .. }) || (sql.contains("CASE") && matches!(e, KeysError::WrongPassword)),
            "{what}: {e}"
        );
        keys.login("other", b"pw").unwrap();
        assert!(keys.list().unwrap().iter().any(|e| e.name == "other"));
    }
}

#[test]
fn change_password_requires_the_old_one() {
    let t = TestHome::new();
    let keys = t.keys();
    let a = keys.create("alice", b"old").unwrap();
    assert!(matches!(keys.change_password("alice", b"nope", b"new"), Err(KeysError::WrongPassword)));
    keys.change_password("alice", b"old", b"new").unwrap();
    assert!(matches!(keys.login("alice", b"old"), Err(KeysError::WrongPassword)));
    assert_eq!(keys.login("alice", b"new").unwrap().address(), a);
}

#[test]
fn deactivate_hides_but_keeps_data() {
    let t = TestHome::new();
    let keys = t.keys();
    keys.create("alice", b"pw").unwrap();
    keys.create("bob", b"pw").unwrap();
    keys.deactivate("alice").unwrap();
    let names: Vec<_> = keys.list().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec!["bob"]);
    assert!(matches!(keys.login("alice", b"pw"), Err(KeysError::UnknownAccount(_))));
    let conn = Connection::open(t.home.keys_db_path()).unwrap();
    let active: String = conn.query_row("SELECT active FROM keys WHERE name = 'alice'", [], |r| r.get(0)).unwrap();
    assert_eq!(active, "N");
    assert!(matches!(keys.create("alice", b"x"), Err(KeysError::NameTaken(_))));
}

#[test]
fn export_and_import_move_an_account() {
    let src = TestHome::new();
    let keys = src.keys();
    let a = keys.create("alice", b"pw").unwrap();
    let secret = *keys.login("alice", b"pw").unwrap().secret_bytes();
    let file = src.dir.path().join("alice.wochat-account");
    assert!(matches!(keys.export("alice", b"bad", &file), Err(KeysError::WrongPassword)));
    assert!(!file.exists());
    keys.export("alice", b"pw", &file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert!(!common::contains(&bytes, &secret));
    assert!(!common::contains(&bytes, hex::encode(secret).as_bytes()));

    let dst = TestHome::new();
    let keys2 = dst.keys();
    assert!(matches!(keys2.import(&file, b"bad", None), Err(KeysError::WrongPassword)));
    assert!(keys2.list().unwrap().is_empty());
    let entry = keys2.import(&file, b"pw", None).unwrap();
    assert_eq!((entry.name.as_str(), entry.address), ("alice", a));
    assert_eq!(keys2.login("alice", b"pw").unwrap().secret_bytes(), &secret);
    assert!(matches!(keys2.import(&file, b"pw", Some("again")), Err(KeysError::AlreadyPresent(_))));

    let junk = dst.dir.path().join("junk");
    std::fs::write(&junk, b"{not json").unwrap();
    assert!(matches!(keys2.import(&junk, b"pw", None), Err(KeysError::ExportFile(_))));
}

#[test]
fn concurrent_writers_on_one_key_database_do_not_fail() {
    let t = TestHome::new();
    let path = t.home.keys_db_path();
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let path = path.clone();
            std::thread::spawn(move || {
                let keys = KeyStore::open(&path).unwrap().with_kdf(KdfParams::INSECURE_FAST);
                for i in 0..25 {
                    keys.create(&format!("u{n}-{i}"), b"pw").unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert_eq!(t.keys().list().unwrap().len(), 100);
}

/// Stored Argon2 parameters of an account.
fn kdf_of(home: &wochat::home::Home, name: &str) -> KdfParams {
    let conn = Connection::open(home.keys_db_path()).unwrap();
    conn.query_row("SELECT kdf_m, kdf_t, kdf_p FROM keys WHERE name = ?1", [name], |r| {
        Ok(KdfParams { m_kib: r.get(0)?, t: r.get(1)?, p: r.get(2)? })
    })
    .unwrap()
}

/// A key sealed under weaker Argon2 parameters than the store's (an older default, an
/// imported file) is sealed again under the store's at the next login or at import.
#[test]
fn keys_under_weak_parameters_are_sealed_again_under_the_stores() {
    let stronger = KdfParams { m_kib: 1024, t: 2, p: 1 };
    let t = TestHome::new();
    let weak = t.keys();
    let a = weak.create("alice", b"pw").unwrap();
    assert_eq!(kdf_of(&t.home, "alice"), KdfParams::INSECURE_FAST);
    let file = t.dir.path().join("alice.wochat-account");
    weak.export("alice", b"pw", &file).unwrap();

    let strong = KeyStore::open(&t.home.keys_db_path()).unwrap().with_kdf(stronger);
    assert!(matches!(strong.login("alice", b"bad"), Err(KeysError::WrongPassword)));
    assert_eq!(kdf_of(&t.home, "alice"), KdfParams::INSECURE_FAST, "a wrong password changes nothing");
    assert_eq!(strong.login("alice", b"pw").unwrap().address(), a);
    assert_eq!(kdf_of(&t.home, "alice"), stronger);
    assert_eq!(strong.login("alice", b"pw").unwrap().address(), a, "the new seal opens");
    // A store whose own parameters are weaker never lowers a stronger seal.
    weak.login("alice", b"pw").unwrap();
    assert_eq!(kdf_of(&t.home, "alice"), stronger);

    let dst = TestHome::new();
    let strong2 = KeyStore::open(&dst.home.keys_db_path()).unwrap().with_kdf(stronger);
    strong2.import(&file, b"pw", None).unwrap();
    assert_eq!(kdf_of(&dst.home, "alice"), stronger, "an imported weak file is sealed again");
    assert_eq!(strong2.login("alice", b"pw").unwrap().address(), a);
}
