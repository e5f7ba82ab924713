//! Broker acknowledgements written a moment later. An acknowledged own message turns S (the
//! broker has it, the first retransmission is due 30 s later); when its peer is online the
//! receipt follows within milliseconds, and a message confirmed meanwhile needs no S in the
//! store at all (it goes from N to C in one write). So S is reported at once but written only
//! when no receipt came within [`SAVE_AFTER_MS`] (reported again then, for those who read the
//! store when told), and at once before anything that reads the outbox (a connect) and at the
//! end. Losing such a write (a crash) loses nothing: the message is still N, is published
//! again at the next start, and its receiver keeps one copy.

use std::collections::{HashSet, VecDeque};

use crate::wire::MessageHash;

/// How long an acknowledgement waits for the message's receipt before S is written (ms).
pub(super) const SAVE_AFTER_MS: i64 = 300;
/// Most acknowledgements kept unwritten; beyond, all are written at once.
pub(super) const MAX_UNSAVED: usize = 20_000;

/// Acknowledged own messages (and actions) whose S is not written yet.
#[derive(Debug, Default)]
pub(super) struct UnsavedAcks {
    /// In the order acknowledged, with when (ms); an entry whose hash left `waiting` is skipped.
    order: VecDeque<(MessageHash, i64)>,
    waiting: HashSet<MessageHash>,
}

impl UnsavedAcks {
    /// The broker acknowledged `hash` at `at` (ms).
    pub(super) fn add(&mut self, hash: MessageHash, at: i64) {
        if self.waiting.insert(hash) {
            self.order.push_back((hash, at));
        }
    }

    /// Whether `hash` is acknowledged and its S not written.
    pub(super) fn contains(&self, hash: &MessageHash) -> bool {
        self.waiting.contains(hash)
    }

    /// `hash` was confirmed (or is otherwise done with): its S is never written.
    pub(super) fn forget(&mut self, hash: &MessageHash) {
        self.waiting.remove(hash);
        if self.waiting.is_empty() {
            self.order.clear();
        }
    }

    /// How many wait.
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether one was acknowledged before `before` (ms) and waits.
    pub(super) fn any_before(&mut self, before: i64) -> bool {
        while let Some((hash, at)) = self.order.front() {
            if self.waiting.contains(hash) {
                return *at < before;
            }
            self.order.pop_front();
        }
        false
    }

    /// Takes those acknowledged before `before` (ms), with their times; all with `None`.
    pub(super) fn take(&mut self, before: Option<i64>) -> Vec<(MessageHash, i64)> {
        let mut out = Vec::new();
        while let Some(&(hash, at)) = self.order.front() {
            if before.is_some_and(|b| at >= b) {
                break;
            }
            self.order.pop_front();
            if self.waiting.remove(&hash) {
                out.push((hash, at));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> MessageHash {
        MessageHash([i; 32])
    }

    #[test]
    fn those_confirmed_meanwhile_are_never_written_and_the_rest_go_in_order_once_due() {
        let mut acks = UnsavedAcks::default();
        acks.add(h(1), 100);
        acks.add(h(2), 200);
        acks.add(h(1), 250); // a second acknowledgement keeps the first time
        acks.add(h(3), 300);
        acks.forget(&h(2));
        assert!(acks.contains(&h(1)) && !acks.contains(&h(2)) && acks.len() == 2);
        assert!(!acks.any_before(100) && acks.any_before(101));
        assert_eq!(acks.take(Some(100)), vec![], "nothing acknowledged before 100");
        assert_eq!(acks.take(Some(301)), vec![(h(1), 100), (h(3), 300)]);
        assert_eq!(acks.len(), 0);
        acks.add(h(4), 400);
        acks.add(h(5), 500);
        assert_eq!(acks.take(None), vec![(h(4), 400), (h(5), 500)], "all, however recent");
        acks.add(h(6), 600);
        acks.add(h(7), 700);
        acks.forget(&h(6));
        assert!(!acks.any_before(700) && acks.any_before(701), "a forgotten one does not count");
        acks.forget(&h(7));
        assert_eq!(acks.take(None), vec![]);
        assert!(acks.order.is_empty(), "nothing left behind once none wait");
    }
}
