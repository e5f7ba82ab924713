//! Sealing inside a store transaction: a session's state changes commit with what it sealed,
//! and nothing is published before the commit.

use rusqlite::Transaction;

use super::ClientResult;
use crate::crypto::Address;
use crate::session::{Envelope, SealError, Sessions};
use crate::store::ChatDb;
use crate::transport::{Link, Tag};

/// Envelopes sealed inside a transaction, published once it commits; and the peers whose
/// keys a message waits for.
#[derive(Default)]
pub(super) struct Sealed {
    /// Each envelope with the tags of the packets it carries.
    out: Vec<(Vec<Tag>, Envelope)>,
    /// Peers whose keys are being fetched (their messages stay unsent meanwhile).
    pub(super) waiting: Vec<Address>,
    /// A fault point between the commit and the publishing (crash tests, see [`crate::fault`]).
    pub(super) fault_point: Option<&'static str>,
}

impl Sealed {
    /// Seals `cbor` for `to`; `tag` comes back with the packet's PUBACK. A message
    /// (`may_wait`) for a peer whose keys are being fetched is not sealed: `Ok(false)`.
    pub(super) fn seal(
        &mut self,
        sessions: &dyn Sessions,
        tx: &Transaction<'_>,
        to: &Address,
        cbor: &[u8],
        tag: Option<Tag>,
        may_wait: bool,
    ) -> Result<bool, SealError> {
        let handed = self.seal_many(sessions, tx, &[(*to, cbor, tag)], may_wait)?;
        Ok(handed.first().copied().unwrap_or(false))
    }

    /// Seals packets (`to`, CBOR, tag), several for one peer together where its scheme can
    /// (one envelope for a batch); says for each whether it was sealed (a message for a peer
    /// whose keys are being fetched is not, with `may_wait`).
    pub(super) fn seal_many(
        &mut self,
        sessions: &dyn Sessions,
        tx: &Transaction<'_>,
        items: &[(Address, &[u8], Option<Tag>)],
        may_wait: bool,
    ) -> Result<Vec<bool>, SealError> {
        let mut handed = vec![false; items.len()];
        let mut peers: Vec<Address> = Vec::new();
        for (to, _, _) in items {
            if !peers.contains(to) {
                peers.push(*to);
            }
        }
        for peer in peers {
            let mine: Vec<usize> = (0..items.len()).filter(|&i| items[i].0 == peer).collect();
            let packets: Vec<&[u8]> = mine.iter().map(|&i| items[i].1).collect();
            match sessions.seal_batch(tx, &peer, &packets, may_wait) {
                Ok(batch) => {
                    for (carried, env) in batch {
                        let tags = carried.iter().filter_map(|&k| items[mine[k]].2).collect();
                        self.out.push((tags, env));
                    }
                    for i in mine {
                        handed[i] = true;
                    }
                }
                Err(SealError::KeysPending(p)) => self.waiting.push(p),
                Err(e) => return Err(e),
            }
        }
        Ok(handed)
    }

    /// Takes what another `Sealed` holds (a delivery that succeeded).
    pub(super) fn merge(&mut self, other: Sealed) {
        self.out.extend(other.out);
        self.waiting.extend(other.waiting);
        self.fault_point = self.fault_point.or(other.fault_point);
    }

    /// Envelopes to publish after the commit; the packet's carry `tag`.
    pub(super) fn add(&mut self, envelopes: Vec<Envelope>, tag: Option<Tag>) {
        for env in envelopes {
            let tags = if env.own { Vec::new() } else { tag.into_iter().collect() };
            self.out.push((tags, env));
        }
    }
}

/// Runs `f` in one write transaction of `chat` and publishes what it sealed once it commits
/// (with the session state that `sessions` changed, written back just before the commit);
/// returns `f`'s result and the peers whose keys are awaited.
pub(super) fn transact<T>(
    chat: &mut ChatDb,
    link: &dyn Link,
    sessions: &dyn Sessions,
    f: impl FnOnce(&Transaction<'_>, &Address, &mut Sealed) -> ClientResult<T>,
) -> ClientResult<(T, Vec<Address>)> {
    let mut sealed = Sealed::default();
    let out: ClientResult<T> = chat.batch(|tx, me| {
        let out = f(tx, me, &mut sealed)?;
        sessions.flush(tx)?;
        Ok(out)
    });
    let out = out.inspect_err(|_| sessions.rolled_back())?;
    if let Some(point) = sealed.fault_point {
        crate::fault::crash_if(point);
    }
    for (tags, env) in sealed.out {
        link.publish(tags, env.to.to_hex(), env.payload);
    }
    Ok((out, sealed.waiting))
}
