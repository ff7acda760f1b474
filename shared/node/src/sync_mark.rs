//! What an item shows in its own tracker about its twin (`Tracker::show_sync`): synced
//! with a link to the twin, error with the reason, or unlinked. Shown when the twin's
//! state changes, not on every replica: the last mark shown is remembered per twin, so a
//! tracker gets one write per change of state. Showing never fails the sync: a refusal (a
//! closed ticket) is logged, and a rate limit is waited out in the background, where a
//! newer state of the same twin supersedes it.

use crate::Node;
use std::sync::Arc;
use std::time::Duration;
use twinsync_core::{Twin, TwinStatus};
use twinsync_ports::{ConnectionStore, PortError, SyncMark, Tracker};

/// How often, and how long at most each time, a rate-limited mark is tried again.
const MAX_TRIES: u32 = 12;
const MAX_WAIT_MS: u64 = 5_000;

/// A mark that outlives the twin it was read from.
#[derive(Clone)]
enum Owned {
    Synced(String),
    Error(String),
    Unlinked,
}

impl Owned {
    fn mark(&self) -> SyncMark<'_> {
        match self {
            Owned::Synced(url) => SyncMark::Synced { twin_url: url },
            Owned::Error(reason) => SyncMark::Error { reason },
            Owned::Unlinked => SyncMark::Unlinked,
        }
    }
}

struct Show {
    tracker: Arc<dyn Tracker>,
    store: Arc<dyn ConnectionStore>,
    twin: String,
    key: String,
    mark: Owned,
}

impl Show {
    fn shown_key(&self) -> String {
        format!("sync-mark:{}", self.twin)
    }

    fn wanted_key(&self) -> String {
        format!("sync-mark-wanted:{}", self.twin)
    }

    async fn once(&self) -> Result<(), PortError> {
        self.tracker.show_sync(&self.key, &self.mark.mark()).await?;
        self.store
            .set_meta(&self.shown_key(), &self.mark.mark().text())
            .await
    }

    /// Tries again after rate limits, until a newer mark is wanted instead.
    async fn retry(self, mut wait_ms: u64) {
        let text = self.mark.mark().text();
        for _ in 0..MAX_TRIES {
            tokio::time::sleep(Duration::from_millis(wait_ms.min(MAX_WAIT_MS))).await;
            let wanted = self.store.get_meta(&self.wanted_key()).await.ok().flatten();
            if wanted.as_deref() != Some(text.as_str()) {
                return;
            }
            match self.once().await {
                Ok(()) => return,
                Err(e) => match e.retry_after_ms() {
                    Some(ms) => wait_ms = ms,
                    None => {
                        tracing::warn!(twin = %self.twin, item = %self.key, error = %e, "the sync mark could not be shown");
                        return;
                    }
                },
            }
        }
        tracing::warn!(twin = %self.twin, item = %self.key, "the sync mark was given up after rate limits");
    }
}

/// Shows `twin`'s state on its local item, if it changed since it was last shown.
pub async fn show(node: &Node, twin: &Twin) {
    let Some(key) = twin.local_key.clone() else {
        return;
    };
    let mark = match &twin.status {
        TwinStatus::Synced => Owned::Synced(twin.remote_url.clone().unwrap_or_default()),
        TwinStatus::Error(reason) => Owned::Error(reason.clone()),
        TwinStatus::Unlinked => Owned::Unlinked,
        TwinStatus::Syncing => return,
    };
    let Ok(Some(connection)) = node.connections.get(&twin.connection_id).await else {
        return;
    };
    let Ok(tracker) = node.tracker(&connection.local_instance) else {
        return;
    };
    let show = Show {
        tracker,
        store: node.connections.clone(),
        twin: twin.id.clone(),
        key,
        mark,
    };
    let text = show.mark.mark().text();
    let shown = node
        .connections
        .get_meta(&show.shown_key())
        .await
        .ok()
        .flatten();
    if shown.as_deref() == Some(text.as_str()) {
        return;
    }
    if let Err(e) = node.connections.set_meta(&show.wanted_key(), &text).await {
        tracing::warn!(twin = %twin.id, error = %e, "the sync mark wanted was not remembered");
    }
    match show.once().await {
        Ok(()) => {}
        Err(e) => match e.retry_after_ms() {
            Some(ms) => {
                tokio::spawn(show.retry(ms));
            }
            None => {
                tracing::warn!(twin = %twin.id, item = %show.key, error = %e, "the sync mark could not be shown")
            }
        },
    }
}
