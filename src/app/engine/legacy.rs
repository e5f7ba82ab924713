//! The broker session left under the protocol v1 client id (public: SHA-256 of the address).
//! A v2 client connects with a secret client id; once, beside it, it also connects under the
//! old id to take what the broker queued there, then has the broker forget that session.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Engine;
use crate::app::ClientResult;
use crate::store::olm;
use crate::transport::{Link, Transport, TransportConfig, TransportEvent};

/// The `meta` key that records the drain.
const DRAINED: &str = "legacy_session_drained";
/// Quiet time after the subscription before the old session counts as drained.
const QUIET: Duration = Duration::from_secs(2);
/// Longest drain.
const LONGEST: Duration = Duration::from_secs(30);

/// A connection under the old client id, while it drains.
pub(super) struct Legacy {
    pub(super) link: Transport,
    rx: mpsc::Receiver<TransportEvent>,
    config: TransportConfig,
    started: Instant,
    last: Instant,
    subscribed: bool,
}

impl Legacy {
    /// Connects under `old_id` when the account's old session was not drained yet.
    pub(super) fn start_if_needed(
        db: &crate::store::ChatDb,
        config: &TransportConfig,
        old_id: String,
    ) -> ClientResult<Option<Self>> {
        if olm::meta(db.connection(), DRAINED)?.is_some() {
            return Ok(None);
        }
        let config = TransportConfig { client_id: old_id, drain_only: true, ..config.clone() };
        let (tx, rx) = mpsc::channel(64);
        let link = Transport::start(config.clone(), tx)?;
        let now = Instant::now();
        Ok(Some(Self { link, rx, config, started: now, last: now, subscribed: false }))
    }

    /// The next event of the old connection.
    pub(super) async fn next(&mut self) -> Option<TransportEvent> {
        self.rx.recv().await
    }

    fn done(&self) -> bool {
        (self.subscribed && self.last.elapsed() >= QUIET) || self.started.elapsed() >= LONGEST
    }
}

/// Has the broker forget the session under `config`'s client id: a clean-session connect.
async fn forget_session(config: TransportConfig) {
    let (tx, mut rx) = mpsc::channel(16);
    let config = TransportConfig { clean_session: true, drain_only: true, ..config };
    let Ok(link) = Transport::start(config, tx) else { return };
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = rx.recv().await {
            if matches!(ev, TransportEvent::Connected { .. }) {
                return;
            }
        }
    })
    .await;
    link.shutdown().await;
}

impl Engine {
    /// An event of the old connection: its deliveries are handled like any other.
    pub(super) fn on_legacy_event(&mut self, ev: TransportEvent) {
        let Some(legacy) = self.legacy.as_mut() else { return };
        match ev {
            TransportEvent::Message(_) => {
                legacy.last = Instant::now();
                self.handle_deliveries(vec![ev], true);
            }
            // Connected: the broker sends what it queued at once (the topic is unsubscribed, so
            // nothing new comes); quiet after that means drained.
            TransportEvent::Connected { .. } => {
                legacy.subscribed = true;
                legacy.last = Instant::now();
            }
            _ => {}
        }
    }

    /// Ends the drain when the old session has been quiet long enough.
    pub(super) fn legacy_tick(&mut self) {
        if !self.legacy.as_ref().is_some_and(Legacy::done) {
            return;
        }
        let Some(legacy) = self.legacy.take() else { return };
        if let Err(e) = olm::set_meta(self.account.chat.connection(), DRAINED, &crate::store::now_ms().to_string()) {
            self.fail(e.into());
        }
        let Legacy { link, config, .. } = legacy;
        tokio::spawn(async move {
            link.shutdown().await;
            forget_session(config).await;
        });
    }
}
