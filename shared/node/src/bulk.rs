//! Queueing changes in bulk: Sync (one item, trigger or not), Bulk Exalate (every item a
//! trigger matches) and Bulk Sync (every twin). The operations and the scheduler (plans,
//! the re-read after a long pause) both queue through here.

use crate::handlers::ingest::queue_changes;
use crate::{Node, NodeResult};
use twinsync_core::{Twin, TwinStatus};
use twinsync_ports::{ChangeSignal, TwinQuery};

pub(crate) fn signal(item_key: &str, version: u64, tag: &str) -> ChangeSignal {
    ChangeSignal {
        origin: None,
        item_key: item_key.to_string(),
        project: String::new(),
        version,
        delivery_id: format!("{tag}:{}", uuid::Uuid::new_v4()),
    }
}

/// A signal whose delivery id is the same each time `tag` sends `item_key`: a bulk job's
/// page done again after a crash meets its first sends in the queue's deduplication.
pub(crate) fn signal_for(item_key: &str, version: u64, tag: &str) -> ChangeSignal {
    ChangeSignal {
        origin: None,
        item_key: item_key.to_string(),
        project: String::new(),
        version,
        delivery_id: format!("{tag}:{item_key}"),
    }
}

/// Sync: brings one item under sync now, trigger or not.
pub async fn sync(node: &Node, connection_id: &str, item_key: &str) -> NodeResult<usize> {
    let connection = node.connection(connection_id).await?;
    queue_changes(node, &connection, &[signal(item_key, 0, "sync")], true).await
}

/// Bulk Exalate: every item matching the connection's triggers, whatever its age.
pub async fn bulk_exalate(node: &Node, connection_id: &str) -> NodeResult<usize> {
    let connection = node.connection(connection_id).await?;
    let tracker = node.tracker(&connection.local_instance)?;
    let mut signals = Vec::new();
    for trigger in connection.triggers().iter().filter(|t| t.active) {
        let mut page = None;
        loop {
            let result = tracker.search_updated(&trigger.query, 0, page).await?;
            signals.extend(
                result
                    .items
                    .iter()
                    .map(|i| signal(&i.key, i.version, "bulk")),
            );
            match result.next {
                Some(p) => page = Some(p),
                None => break,
            }
        }
    }
    queue_changes(node, &connection, &signals, true).await
}

/// Bulk Sync: sends every twin of the connection again (unchanged ones are suppressed).
pub async fn bulk_sync(node: &Node, connection_id: &str) -> NodeResult<usize> {
    let connection = node.connection(connection_id).await?;
    let twins = all_twins(node, connection_id).await?;
    let signals: Vec<ChangeSignal> = twins
        .iter()
        .filter(|t| t.status != TwinStatus::Unlinked)
        .filter_map(|t| t.local_key.as_deref().map(|k| signal(k, 0, "bulk-sync")))
        .collect();
    queue_changes(node, &connection, &signals, true).await
}

pub(crate) async fn all_twins(node: &Node, connection_id: &str) -> NodeResult<Vec<Twin>> {
    let mut out = Vec::new();
    loop {
        let page = node
            .twins
            .list(&TwinQuery {
                connection_id: Some(connection_id.to_string()),
                limit: 500,
                offset: out.len(),
                ..TwinQuery::default()
            })
            .await?;
        let n = page.len();
        out.extend(page);
        if n < 500 {
            return Ok(out);
        }
    }
}
