//! What people expect of a conversation (issue 14): replies, reactions, edits, deletes, read
//! receipts and typing through a real broker, actions that arrive before their message or
//! from someone else, and the order of a conversation by the sender's clock within bounds.

mod common;

use common::broker::Mosquitto;
use common::forge::Forger;
use wochat::app::read::MessageView;
use wochat::app::{Action, ClientError, Event, NotAllowed};
use wochat::crypto::Address;
use wochat::store::RETRY_FOR_MS;
use wochat::testkit::{Network, TestNet, TestPeer};
use wochat::wire::{AttachKind, Body, MessageHash, Packet};

/// The message with this hash in a history.
fn find<'a>(history: &'a [MessageView], hash: &MessageHash) -> Option<&'a MessageView> {
    history.iter().find(|m| m.hash == *hash)
}

/// Who reacted with what, as `(emoji, names)`.
fn reactions(m: &MessageView, people: &[(Address, &str)]) -> Vec<(String, Vec<String>)> {
    let name = |a: &Address| people.iter().find(|p| p.0 == *a).map_or("?".into(), |p| p.1.to_string());
    m.reactions.iter().map(|(e, who)| (e.clone(), who.iter().map(name).collect())).collect()
}

async fn act(p: &TestPeer, action: Action) -> MessageHash {
    p.client.act(action).await.unwrap_or_else(|e| panic!("{}: {e}", p.name)).expect("sent to a v2 peer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reactions_edits_deletes_and_read_receipts_travel_both_ways() {
    let broker = Mosquitto::start();
    let net = TestNet::on(Network::Brokers(vec![broker.url()]));
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let carol = net.peer("carol").await;
    let (a, b) = (alice.address, bob.address);

    // A reply quotes its message.
    let lunch = alice.send_confirmed(b, "lunch?").await;
    bob.until_history(&a, |h| find(h, &lunch).is_some()).await;
    let yes = bob.client.send_reply(a, "yes".into(), Some(lunch)).await.unwrap();
    bob.wait_confirmed(yes).await;
    let h = alice.until_history(&b, |h| find(h, &yes).is_some()).await;
    let quote = find(&h, &yes).unwrap().reply_to.clone().expect("a reply");
    assert_eq!((quote.hash, quote.snippet.as_str(), quote.from), (lunch, "lunch?", Some(a)));
    assert_eq!(quote.id, Some(find(&h, &lunch).unwrap().id), "a click finds the original");
    // Only a message of the conversation can be replied to.
    let elsewhere = carol.client.send_reply(a, "me too".into(), Some(lunch)).await;
    assert!(matches!(elsewhere, Err(ClientError::NoSuchMessage(_))), "{elsewhere:?}");

    // Reactions: one per person, changed, removed; both ways.
    act(&bob, Action::React { target: lunch, emoji: "👍".into() }).await;
    act(&alice, Action::React { target: lunch, emoji: "👍".into() }).await;
    act(&alice, Action::React { target: yes, emoji: "❤️".into() }).await;
    let people = [(a, "alice"), (b, "bob")];
    let h =
        alice.until_history(&b, |h| find(h, &lunch).unwrap().reactions.first().is_some_and(|r| r.1.len() == 2)).await;
    // Who, in the order they reacted.
    assert_eq!(reactions(find(&h, &lunch).unwrap(), &people), [("👍".into(), vec!["bob".into(), "alice".into()])]);
    let h = bob.until_history(&a, |h| find(h, &lunch).unwrap().reactions.first().is_some_and(|r| r.1.len() == 2)).await;
    assert_eq!(reactions(find(&h, &yes).unwrap(), &people), [("❤️".into(), vec!["alice".into()])]);
    act(&bob, Action::React { target: lunch, emoji: "😂".into() }).await;
    let h = alice.until_history(&b, |h| find(h, &lunch).unwrap().reactions.len() == 2).await;
    let mut got = reactions(find(&h, &lunch).unwrap(), &people);
    got.sort();
    assert_eq!(got, [("👍".into(), vec!["alice".into()]), ("😂".into(), vec!["bob".into()])]);
    act(&bob, Action::React { target: lunch, emoji: String::new() }).await;
    alice.until_history(&b, |h| find(h, &lunch).unwrap().reactions.len() == 1).await;
    // Not one emoji: refused before anything is stored.
    let bad = bob.client.act(Action::React { target: lunch, emoji: "a b".into() }).await;
    assert!(matches!(bad, Err(ClientError::NotAllowed(NotAllowed::BadReaction))), "{bad:?}");

    // Edits: the sender's only; the newest text shows, the history is kept.
    act(&alice, Action::Edit { target: lunch, text: "lunch at 12?".into() }).await;
    let h = bob.until_history(&a, |h| find(h, &lunch).unwrap().edited == 1).await;
    assert_eq!(find(&h, &lunch).unwrap().text.as_deref(), Some("lunch at 12?"));
    let not_hers = bob.client.act(Action::Edit { target: lunch, text: "no lunch".into() }).await;
    assert!(matches!(not_hers, Err(ClientError::NotAllowed(NotAllowed::NotYours))), "{not_hers:?}");
    act(&alice, Action::Edit { target: lunch, text: "lunch at 1?".into() }).await;
    let h = bob.until_history(&a, |h| find(h, &lunch).unwrap().edited == 2).await;
    let m = find(&h, &lunch).unwrap();
    assert_eq!(m.text.as_deref(), Some("lunch at 1?"));
    let edits: Vec<String> = bob.read.edits(m.id).unwrap().into_iter().map(|e| e.1).collect();
    assert_eq!(edits, ["lunch at 12?", "lunch at 1?"]);
    // Search finds what is shown.
    let found = bob.read.search(None, "lunch at 1", 10).unwrap();
    assert_eq!(found.iter().map(|m| m.hash).collect::<Vec<_>>(), [lunch]);

    // Read receipts: Bob displays the talk, Alice's messages show it.
    assert!(!find(&alice.history(&b), &lunch).unwrap().read);
    let chat = bob.read.chat_with(&a).unwrap().unwrap();
    bob.client.mark_read(chat).await.unwrap();
    alice.until_history(&b, |h| find(h, &lunch).unwrap().read).await;

    // Typing: shown, never stored.
    let alice_chat = alice.read.chat_with(&b).unwrap().unwrap();
    alice.client.typing(alice_chat, true);
    let typing = bob.wait_for(|e| matches!(e, Event::Typing { .. })).await;
    assert!(matches!(typing, Event::Typing { from, on: true, chat: c } if from == a && c == chat), "{typing:?}");

    // The other way: Bob edits his reply, Alice reads it, Bob types, Bob deletes one of his.
    act(&bob, Action::Edit { target: yes, text: "yes, at noon".into() }).await;
    let h = alice.until_history(&b, |h| find(h, &yes).unwrap().edited == 1).await;
    assert_eq!(find(&h, &yes).unwrap().text.as_deref(), Some("yes, at noon"));
    alice.client.mark_read(alice_chat).await.unwrap();
    bob.until_history(&a, |h| find(h, &yes).unwrap().read).await;
    bob.client.typing(chat, true);
    bob.client.typing(chat, false);
    let typing = alice.wait_for(|e| matches!(e, Event::Typing { on: false, .. })).await;
    assert!(matches!(typing, Event::Typing { from, chat: c, .. } if from == b && c == alice_chat), "{typing:?}");
    let oops = bob.send_confirmed(a, "wrong chat, sorry").await;
    alice.until_history(&b, |h| find(h, &oops).is_some()).await;
    act(&bob, Action::Delete { target: oops, for_everyone: true }).await;
    alice.until_history(&b, |h| find(h, &oops).unwrap().deleted).await;

    // Deletes: for everyone (the sender only), or here only.
    let not_his = bob.client.act(Action::Delete { target: lunch, for_everyone: true }).await;
    assert!(matches!(not_his, Err(ClientError::NotAllowed(NotAllowed::NotYours))), "{not_his:?}");
    act(&alice, Action::Delete { target: lunch, for_everyone: true }).await;
    let h = bob.until_history(&a, |h| find(h, &lunch).unwrap().deleted).await;
    let gone = find(&h, &lunch).unwrap();
    assert_eq!((gone.text.as_ref(), gone.reactions.len(), gone.edited), (None, 0, 0));
    assert!(bob.read.search(None, "lunch", 10).unwrap().is_empty(), "its text is gone from search too");
    assert!(find(&alice.history(&b), &lunch).unwrap().deleted);
    // The reply still stands, its quote without the text.
    assert_eq!(find(&h, &yes).unwrap().reply_to.as_ref().unwrap().snippet, wochat::app::read::DELETED_PREVIEW);
    let edit_deleted = alice.client.act(Action::Edit { target: lunch, text: "x".into() }).await;
    assert!(matches!(edit_deleted, Err(ClientError::NotAllowed(NotAllowed::Deleted))), "{edit_deleted:?}");
    assert_eq!(bob.client.act(Action::Delete { target: yes, for_everyone: false }).await.unwrap(), None);
    assert!(find(&bob.history(&a), &yes).is_none(), "deleted here: not shown");
    assert!(find(&alice.history(&b), &yes).is_some(), "only here");

    // Carol is not in the conversation: a reaction of hers to its message is refused.
    let carol_keys = wochat::crypto::envelope::Keyring::new(wochat::testkit::identity_of("carol"));
    drop(carol);
    let forged = Packet::new(Body::React { target: yes.0, emoji: "💩".into() });
    let env = wochat::wire::seal_packet(&carol_keys, &a, &forged).unwrap().envelope;
    common::forge::publish_all(&broker.url(), &a.to_hex(), vec![env]).await;
    let marker = bob.send_confirmed(a, "after carol").await;
    alice.until_history(&b, |h| find(h, &marker).is_some()).await;
    let after = find(&alice.history(&b), &yes).unwrap().reactions.clone();
    assert_eq!(after, [("❤️".to_string(), vec![a])], "Alice's own reaction only");
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_before_their_message_wait_and_forged_ones_are_ignored() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mallory = Forger::befriended_by(&alice).await;
    let eve = Forger::befriended_by(&alice).await;
    let hub = net.hub().unwrap();
    let (a, m) = (alice.address, mallory.address());
    let message = Packet::new(Body::Text { text: "first draft".into() });
    let target = MessageHash::of(&message.encode());
    // The edit and a reaction come first; an edit by someone else too.
    let mut edit = Packet::new(Body::Edit { target: target.0, text: "final".into() });
    edit.ts = message.ts + 1000;
    hub.inject(&a.to_hex(), mallory.envelope(&a, &edit));
    hub.inject(&a.to_hex(), mallory.envelope(&a, &Packet::new(Body::React { target: target.0, emoji: "🎉".into() })));
    let mut forged = Packet::new(Body::Edit { target: target.0, text: "forged".into() });
    forged.ts = message.ts + 2000;
    hub.inject(&a.to_hex(), eve.envelope(&a, &forged));
    hub.inject(&a.to_hex(), mallory.envelope(&a, &message));
    let h = alice.until_history(&m, |h| find(h, &target).is_some_and(|x| x.edited == 1)).await;
    let got = find(&h, &target).unwrap();
    assert_eq!(got.text.as_deref(), Some("final"), "the sender's edit, not Eve's");
    assert_eq!(got.reactions, [("🎉".to_string(), vec![m])]);

    // An edit after 24 hours is refused; a delete by someone else too.
    let mut late = Packet::new(Body::Edit { target: target.0, text: "too late".into() });
    late.ts = message.ts + wochat::store::EDIT_WINDOW_MS as u64 + 1;
    hub.inject(&a.to_hex(), mallory.envelope(&a, &late));
    hub.inject(&a.to_hex(), eve.envelope(&a, &Packet::new(Body::Delete { target: target.0 })));
    // Eve is not in the conversation: her reaction to its message is refused.
    hub.inject(&a.to_hex(), eve.envelope(&a, &Packet::new(Body::React { target: target.0, emoji: "👎".into() })));
    // Mallory cannot edit or delete Alice's message either.
    let own = alice.client.send_text(m, "mine".into()).await.unwrap();
    hub.inject(&a.to_hex(), mallory.envelope(&a, &Packet::new(Body::Edit { target: own.0, text: "hers".into() })));
    hub.inject(&a.to_hex(), mallory.envelope(&a, &Packet::new(Body::Delete { target: own.0 })));
    let marker = Packet::new(Body::Text { text: "marker".into() });
    hub.inject(&a.to_hex(), mallory.envelope(&a, &marker));
    let h = alice.until_history(&m, |h| h.iter().any(|x| x.text.as_deref() == Some("marker"))).await;
    assert_eq!(find(&h, &target).unwrap().text.as_deref(), Some("final"));
    assert!(!find(&h, &target).unwrap().deleted);
    assert_eq!((find(&h, &own).unwrap().text.as_deref(), find(&h, &own).unwrap().deleted), (Some("mine"), false));

    // A file deleted for everyone leaves the receiver's object store.
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let file = mallory.send_file(&net, &a, AttachKind::File, "plan.pdf", &data);
    alice.until("the file", |p| p.client.objects().contains(&file)).await;
    let announce = alice.history(&m).into_iter().find(|x| x.attachment.is_some()).unwrap();
    hub.inject(&a.to_hex(), mallory.envelope(&a, &Packet::new(Body::Delete { target: announce.hash.0 })));
    let h = alice.until_history(&m, |h| find(h, &announce.hash).unwrap().deleted).await;
    assert!(find(&h, &announce.hash).unwrap().attachment.is_none());
    // Removed just after the commit that left it without a message (never before it).
    alice.until("the file removed", |p| !p.client.objects().contains(&file)).await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_off_means_none_sent_and_none_shown() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let (a, b) = (alice.address, bob.address);
    bob.client.set_privacy(Some(false), None).await.unwrap();
    let first = alice.send_confirmed(b, "one").await;
    let chat = bob.read.chat_with(&a).unwrap().unwrap();
    bob.client.mark_read(chat).await.unwrap();
    // Anything Bob sends after the receipt he did not send would come after it.
    let marker = bob.send_confirmed(a, "two").await;
    alice.until_history(&b, |h| find(h, &marker).is_some()).await;
    assert!(!find(&alice.history(&b), &first).unwrap().read, "Bob sent no read receipt");
    // Turned on again later, it is not sent for what was displayed meanwhile.
    bob.client.set_privacy(Some(true), None).await.unwrap();
    bob.client.mark_read(chat).await.unwrap();
    let second = alice.send_confirmed(b, "three").await;
    bob.until_history(&a, |h| find(h, &second).is_some()).await;
    bob.client.mark_read(chat).await.unwrap();
    alice.until_history(&b, |h| find(h, &second).unwrap().read).await;
    assert!(!find(&alice.history(&b), &first).unwrap().read);
    // Alice turns them off: she shows none (and sends none).
    alice.client.set_privacy(Some(false), None).await.unwrap();
    assert!(!find(&alice.history(&b), &second).unwrap().read);
    alice.stop().await;
    bob.stop().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_and_a_file_are_forwarded_from_the_store_to_several_talks() {
    let net = TestNet::new();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let mut carol = net.peer("carol").await;
    let (a, b, c) = (alice.address, bob.address, carol.address);
    // Bob sends Alice a text and a file (its source is gone once sent).
    let note = bob.send_confirmed(a, "the plan").await;
    let path = net.scratch().join("plan.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let sent = bob.client.send_file(a, path.clone(), Some("read this".into()), None).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    alice.until("the file", |p| p.client.objects().contains(&sent.file)).await;
    let file_msg =
        alice.until_history(&b, |h| h.iter().any(|m| m.attachment.as_ref().is_some_and(|x| x.complete))).await;
    let file_msg = file_msg.iter().find(|m| m.attachment.is_some()).unwrap().hash;

    // Alice forwards both to Carol, and the text back to Bob too.
    let forwarded = alice.client.forward(note, vec![c.into(), b.into()]).await.unwrap();
    assert_eq!(forwarded.len(), 2);
    alice.client.forward(file_msg, vec![c.into()]).await.unwrap();
    let h = carol
        .until_history(&a, |h| h.iter().any(|m| m.attachment.as_ref().is_some_and(|x| x.complete)) && h.len() == 2)
        .await;
    assert_eq!(h[0].text.as_deref(), Some("the plan"));
    let got = h[1].attachment.as_ref().unwrap();
    assert_eq!((got.file, got.name.as_str(), h[1].text.as_deref()), (sent.file, "plan.bin", Some("read this")));
    assert!(carol.client.objects().contains(&sent.file));
    bob.until_history(&a, |h| h.iter().any(|m| m.hash == forwarded[1])).await;
    // A deleted message cannot be forwarded.
    assert_eq!(alice.client.act(Action::Delete { target: note, for_everyone: false }).await.unwrap(), None);
    let gone = alice.client.forward(note, vec![c.into()]).await;
    assert!(matches!(gone, Err(ClientError::NoSuchMessage(_))), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_neither_reads_nor_typing_until_accepted() {
    let net = TestNet::new().strangers();
    let mut alice = net.peer("alice").await;
    let mut bob = net.peer("bob").await;
    let (a, b) = (alice.address, bob.address);
    // Bob has Alice's keys (she wrote first) and a request from her.
    let hello = alice.send_confirmed(b, "hello, we met at the fair").await;
    let chat = bob.read.chat_with(&a).unwrap().unwrap();
    bob.client.mark_read(chat).await.unwrap();
    bob.client.typing(chat, true);
    // Anything Bob sends after them arrives after them.
    let marker = bob.send_confirmed(a, "who is this?").await;
    // Alice's own message, receipted after all that: any typing event came before its status.
    let probe = alice.client.send_text(b, "Alice, from the fair".into()).await.unwrap();
    let mut seen_marker = false;
    alice
        .wait_for(|e| {
            assert!(!matches!(e, Event::Typing { .. }), "no typing for a request: {e:?}");
            seen_marker |= matches!(e, Event::Message { hash, .. } if *hash == marker);
            seen_marker
                && matches!(e, Event::Status { hash, stat: wochat::store::MessageStatus::Confirmed } if *hash == probe)
        })
        .await;
    assert!(!find(&alice.history(&b), &hello).unwrap().read, "no read receipt for a request");
    // Accepted: what Bob reads from now on is reported.
    bob.client.add_friend(a, "Alice".into()).await.unwrap();
    let again = alice.send_confirmed(b, "Alice again").await;
    bob.until_history(&a, |h| find(h, &again).is_some()).await;
    bob.client.mark_read(chat).await.unwrap();
    alice.until_history(&b, |h| find(h, &again).unwrap().read).await;
    bob.client.typing(chat, true);
    alice.wait_for(|e| matches!(e, Event::Typing { from, on: true, .. } if *from == b)).await;
}
