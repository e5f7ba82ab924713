//! Olm sessions kept decrypted between messages. Unpickling a session (decrypting and parsing
//! a few KiB) and pickling it again cost more than the Olm step itself, so a session in use
//! stays in memory and is written back into the store transaction once, just before it
//! commits ([`LiveSessions::flush`]), not once per message it sealed or opened.
//!
//! A live session is used only while the row in the transaction still holds the pickle it
//! was read as or last written back as; anything else (a rollback, a write by another
//! process) reads the row again. Changes not yet written back are forgotten when the
//! transaction rolls back, and undone when a part of it (a savepoint) is rolled back.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::Transaction;
use vodozemac::olm::{Session, SessionPickle};

use crate::crypto::Address;
use crate::store::StoreError;
use crate::store::olm::{self, SessionRow};

/// Most sessions kept; when full, those without unwritten changes are let go.
const MAX_LIVE: usize = 512;

type Key = (Address, String);

struct Live {
    session: Session,
    /// The pickle the row holds for this session's state before its unwritten changes.
    stored: String,
    /// When it was last used, if it changed since it was written back (ms).
    unwritten: Option<i64>,
}

/// What a live session was before a part of the transaction changed it (`None`: not live).
struct Before(Option<(SessionPickle, String, Option<i64>)>);

/// The live sessions of an account.
#[derive(Default)]
pub(super) struct LiveSessions {
    live: HashMap<Key, Live>,
    /// Inside a part: the sessions it touched, as they were before it.
    undo: Option<Vec<(Key, Before)>>,
}

impl LiveSessions {
    /// The session `row` of `peer` holds, to use and change in place ([`Self::changed`] then
    /// says so); read from the row unless it is live with the row's state.
    pub(super) fn get<E>(
        &mut self,
        peer: &Address,
        row: &SessionRow,
        unpickle: impl FnOnce(&SessionRow) -> Result<Session, E>,
    ) -> Result<&mut Session, E> {
        let key = (*peer, row.sid.clone());
        self.note_for_undo(&key);
        self.make_room();
        match self.live.entry(key) {
            Entry::Occupied(o) if o.get().stored == row.pickle => Ok(&mut o.into_mut().session),
            entry => {
                let live = Live { session: unpickle(row)?, stored: row.pickle.clone(), unwritten: None };
                Ok(&mut entry.insert_entry(live).into_mut().session)
            }
        }
    }

    /// The session of `peer` with id `sid` changed (it encrypted or decrypted) at `now`.
    pub(super) fn changed(&mut self, peer: &Address, sid: &str, now: i64) {
        if let Some(l) = self.live.get_mut(&(*peer, sid.to_owned())) {
            l.unwritten = Some(now);
        }
    }

    /// A session just written to the row with `pickle` (a new one) becomes live.
    pub(super) fn insert(&mut self, peer: &Address, sid: &str, session: Session, pickle: String) {
        let key = (*peer, sid.to_owned());
        self.note_for_undo(&key);
        self.make_room();
        self.live.insert(key, Live { session, stored: pickle, unwritten: None });
    }

    /// Writes every changed session into `tx` (pickled with `pickle`).
    pub(super) fn flush(
        &mut self,
        tx: &Transaction<'_>,
        pickle: impl Fn(&Session) -> String,
    ) -> Result<(), StoreError> {
        for ((peer, sid), l) in &mut self.live {
            if let Some(used) = l.unwritten.take() {
                let p = pickle(&l.session);
                olm::update_session(tx, peer, sid, &p, used)?;
                l.stored = p;
            }
        }
        Ok(())
    }

    /// The transaction rolled back: nothing live is trusted any more.
    pub(super) fn forget(&mut self) {
        self.live.clear();
        self.undo = None;
    }

    /// A part of the transaction begins.
    pub(super) fn begin_part(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// The part ends: kept, or rolled back (its changes undone).
    pub(super) fn end_part(&mut self, kept: bool) {
        let Some(undo) = self.undo.take() else { return };
        if kept {
            return;
        }
        for (key, Before(before)) in undo.into_iter().rev() {
            match before {
                Some((p, stored, unwritten)) => {
                    self.live.insert(key, Live { session: Session::from_pickle(p), stored, unwritten });
                }
                None => {
                    self.live.remove(&key);
                }
            }
        }
    }

    fn note_for_undo(&mut self, key: &Key) {
        let Some(undo) = &mut self.undo else { return };
        if undo.iter().any(|(k, _)| k == key) {
            return;
        }
        let before = self.live.get(key).map(|l| (l.session.pickle(), l.stored.clone(), l.unwritten));
        undo.push((key.clone(), Before(before)));
    }

    fn make_room(&mut self) {
        if self.live.len() >= MAX_LIVE {
            // The row holds what these are: they are read again when needed.
            self.live.retain(|_, l| l.unwritten.is_some());
        }
    }
}
