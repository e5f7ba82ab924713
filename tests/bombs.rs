//! Decompression bombs from a stranger and from a friend, and a GIF bomb in the viewer: the
//! process's peak memory stays under 400 MB. This test is alone in its binary because it
//! measures the whole process (`VmHWM`, Linux only).

mod common;

use std::sync::Arc;

use common::forge::Forger;
use common::images::{bomb_gif, bomb_png, bomb_progressive_jpeg};
use wochat::app::Event;
use wochat::objects::ObjectId;
use wochat::store::TransferState;
use wochat::testkit::{TestNet, TestPeer};
use wochat::wire::AttachKind;

/// The process's peak resident memory in MiB, from `/proc/self/status`.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib >> 10
}

/// Waits until every file of `ids` reached `Complete` or `Failed` at `p`.
async fn until_finished(p: &mut TestPeer, ids: &[ObjectId]) {
    let mut left: std::collections::HashSet<ObjectId> = ids.iter().copied().collect();
    while !left.is_empty() {
        if let Event::Transfer { file, state: TransferState::Complete | TransferState::Failed, .. } =
            p.wait_for(|e| matches!(e, Event::Transfer { .. })).await
        {
            left.remove(&file);
        }
    }
}

/// Six progressive JPEGs of 16384 x 8192 (~850 MB each to decode without limits) and two
/// PNGs of 8000 x 8000 (inside the budget, decoded one at a time), from a stranger (nothing
/// decoded until accepted, then the same limits) and from a friend; then a GIF whose frames
/// would fill 430 MB if kept, played in the viewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_from_strangers_and_friends_and_in_the_viewer_keep_peak_memory_under_400_mb() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let net = TestNet::new();
    let mut bob = net.peer("bob").await;
    let bombs: Vec<(AttachKind, Vec<u8>)> = (0..6)
        .map(|i| (AttachKind::Image, bomb_progressive_jpeg(16384, 8192, 800_000 + i)))
        .chain((0..2u8).map(|i| (AttachKind::Image, [bomb_png(8000, 8000, 6), vec![i]].concat())))
        .collect();

    // A stranger's bombs wait as a request: nothing is fetched or decoded.
    let stranger = Forger::new();
    let mut from_stranger = Vec::new();
    for (i, (kind, data)) in bombs.iter().enumerate() {
        from_stranger.push(stranger.send_file(&net, &bob.address, *kind, &format!("s{i}.jpg"), data));
    }
    bob.until("the stranger's requests", |b| b.history(&stranger.address()).len() == bombs.len()).await;
    assert!(from_stranger.iter().all(|id| !bob.client.objects().contains(id)), "nothing kept before acceptance");
    // Accepted, the files come (the forger answers no requests: its chunks are sent again).
    bob.client.add_friend(stranger.address(), "Stranger".into()).await.unwrap();
    for (i, (kind, data)) in bombs.iter().enumerate() {
        stranger.send_file(&net, &bob.address, *kind, &format!("s{i}.jpg"), data);
    }
    until_finished(&mut bob, &from_stranger).await;

    // A friend's bombs, all at once.
    let friend = Forger::befriended_by(&bob).await;
    let mut from_friend = Vec::new();
    for (i, (kind, data)) in bombs.iter().enumerate() {
        let data = [data.as_slice(), b"friend"].concat();
        from_friend.push(friend.send_file(&net, &bob.address, *kind, &format!("f{i}.jpg"), &data));
    }
    until_finished(&mut bob, &from_friend).await;
    eprintln!("peak RSS {} MiB after the image bombs", peak_rss_mib());
    assert!(peak_rss_mib() < 400, "peak {} MiB after the image bombs", peak_rss_mib());

    // The GIF bomb, played in the viewer: frames are decoded as they are shown.
    let gif = bomb_gif(3000, 12);
    let id = friend.send_file(&net, &bob.address, AttachKind::Gif, "bomb.gif", &gif);
    until_finished(&mut bob, &[id]).await;
    let viewed = wochat::ui::media::load_for_viewer(bob.client.objects(), id, true, id).unwrap();
    let wochat::ui::media::ViewedContent::Gif(player) = viewed.content else { panic!("not played as a GIF") };
    let player: Arc<_> = player;
    for _ in 0..30 {
        let frame = player.wait_frame().unwrap();
        assert!(frame.width <= 1600 && frame.height <= 1600, "{frame:?}");
    }
    eprintln!("peak RSS {} MiB", peak_rss_mib());
    assert!(peak_rss_mib() < 400, "peak {} MiB after the GIF bomb", peak_rss_mib());

    // Still running.
    let mut alice = net.peer("alice").await;
    alice.send_confirmed(&bob, "after the bombs").await;
}
