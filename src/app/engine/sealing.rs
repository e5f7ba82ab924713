//! Sealing inside a store transaction: a session's state changes commit with what it sealed,
//! and nothing is published before the commit.

use rusqlite::Transaction;

use super::ClientResult;
use crate::crypto::Address;
use crate::session::{Audience, Envelope, SealError, Sessions};
use crate::store::ChatDb;
use crate::transport::{Link, Tag};

/// Envelopes sealed inside a transaction, published once it commits.
#[derive(Default)]
pub(super) struct Sealed(Vec<(Option<Tag>, Envelope)>);

impl Sealed {
    pub(super) fn seal(
        &mut self,
        sessions: &dyn Sessions,
        tx: &Transaction<'_>,
        to: &Address,
        cbor: &[u8],
        tag: Option<Tag>,
    ) -> Result<(), SealError> {
        for env in sessions.seal(tx, Audience::Peer(to), cbor)? {
            self.0.push((tag, env));
        }
        Ok(())
    }
}

/// Runs `f` in one write transaction of `chat` and publishes what it sealed once it commits.
pub(super) fn transact<T>(
    chat: &mut ChatDb,
    link: &dyn Link,
    f: impl FnOnce(&Transaction<'_>, &Address, &mut Sealed) -> ClientResult<T>,
) -> ClientResult<T> {
    let mut sealed = Sealed::default();
    let out = chat.batch(|tx, me| f(tx, me, &mut sealed))?;
    for (tag, env) in sealed.0 {
        link.publish(tag, env.to.to_hex(), env.payload);
    }
    Ok(out)
}
