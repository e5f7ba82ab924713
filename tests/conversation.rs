//! What people expect of a conversation (issue 14), as far as it is built: the order of a
//! conversation follows the sender's clock within bounds.

mod common;

use common::forge::Forger;
use wochat::store::RETRY_FOR_MS;
use wochat::testkit::TestNet;
use wochat::wire::{Body, Packet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_follows_the_senders_clock_within_bounds() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mallory = Forger::befriended_by(&alice).await;
    let hub = net.hub().unwrap();
    let now = wochat::store::now_ms();
    let minute = 60_000;
    // In the order they arrive: the sender's clock says otherwise for most.
    let sent = [
        ("a minute ago", now - minute),
        ("written an hour ago, published again just now", now - 60 * minute),
        ("from a clock a day ahead", now + 24 * 60 * minute),
        ("from a clock a month behind", now - 30 * 24 * 60 * minute),
        ("a second ago", now - 1000),
    ];
    for (text, ts) in sent {
        let mut p = Packet::new(Body::Text { text: text.into() });
        p.ts = ts as u64;
        hub.inject(&alice.address.to_hex(), mallory.envelope(&alice.address, &p));
    }
    let history = alice.until_history(&mallory.address(), |h| h.len() == sent.len()).await;
    let texts: Vec<&str> = history.iter().filter_map(|m| m.text.as_deref()).collect();
    assert_eq!(
        texts,
        [
            "from a clock a month behind",
            "written an hour ago, published again just now",
            "a minute ago",
            "a second ago",
            "from a clock a day ahead",
        ]
    );
    let by_text = |t: &str| history.iter().find(|m| m.text.as_deref() == Some(t)).unwrap();
    // Never after its arrival, never more than the retransmission period before it.
    let ahead = by_text("from a clock a day ahead");
    assert_eq!(ahead.ord, ahead.dt);
    let behind = by_text("from a clock a month behind");
    assert_eq!(behind.ord, behind.dt - RETRY_FOR_MS);
    let late = by_text("written an hour ago, published again just now");
    assert_eq!(late.ord, now - 60 * minute, "where it was written");

    // Pages follow the same order: the two before "a minute ago", and the two after it.
    let read = wochat::app::read::ReadModel::new(
        wochat::store::ChatDb::open(alice.db_path(), &wochat::testkit::identity_of("alice")).unwrap(),
        alice.client.objects().clone(),
    );
    let chat = read.chat_with(&mallory.address()).unwrap().unwrap();
    let middle = by_text("a minute ago").id;
    let older: Vec<String> = read.page(chat, Some(middle), 10).unwrap().into_iter().filter_map(|m| m.text).collect();
    assert_eq!(older, ["from a clock a month behind", "written an hour ago, published again just now"]);
    let newer: Vec<String> = read.page_after(chat, middle, 10).unwrap().into_iter().filter_map(|m| m.text).collect();
    assert_eq!(newer, ["a second ago", "from a clock a day ahead"]);
    let around: Vec<String> = read.page_around(chat, middle, 2).unwrap().into_iter().filter_map(|m| m.text).collect();
    assert_eq!(around, ["written an hour ago, published again just now", "a minute ago", "a second ago"]);
    alice.stop().await;
}
