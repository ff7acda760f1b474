//! Waiting until a local sync has nothing left to do, on conditions rather than on a
//! quiet stretch of time: for the demo, the tests and anything that must read a settled
//! state.

use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_fakes::deliveries::{self, Deliveries};
use twinsync_node::Node;
use twinsync_node::handlers::scheduler::TWINS_SWEEP;
use twinsync_ports::queues;

/// How often the conditions are read again while something is still moving.
const RECHECK: Duration = Duration::from_millis(20);

/// Waits until no webhook delivery of `webhooks` is on its way, every handled queue and
/// outbox of `nodes` is empty (nothing visible, in flight or delayed), and no delivery was
/// queued meanwhile. A handler writes to a tracker (which queues the webhook) before it
/// deletes its message, and a delivery finishes only after ingest queued its change, so
/// when all three hold, no work is left anywhere. False when `timeout` passes first.
pub async fn wait_quiet(
    nodes: &[Arc<Node>],
    webhooks: &[Arc<Deliveries>],
    timeout: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let before = deliveries::total(webhooks);
        if before.pending() == 0
            && queues_empty(nodes).await
            && deliveries::total(webhooks) == before
        {
            return true;
        }
        tokio::time::sleep(RECHECK).await;
    }
    false
}

async fn queues_empty(nodes: &[Arc<Node>]) -> bool {
    for node in nodes {
        let outboxes = node
            .queue
            .queue_names()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|q| q.starts_with("outbox-"));
        let names = queues::HANDLED
            .iter()
            .map(|q| q.to_string())
            .chain(outboxes);
        for q in names {
            // An unreadable queue counts as busy: the caller's timeout decides.
            if node.queue.depth(&q).await.map_or(1, |d| d.total()) > 0 {
                return false;
            }
        }
    }
    true
}

/// Waits until `node` has polled `connection`'s items under sync past `updated_ms`: a
/// change made in a tracker that sends no webhooks (Redmine) is then queued.
pub async fn wait_polled(
    node: &Node,
    connection: &str,
    updated_ms: i64,
    timeout: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let cursor = node.connections.cursor(connection, TWINS_SWEEP).await;
        if cursor
            .ok()
            .flatten()
            .is_some_and(|c| c.since_ms >= updated_ms)
        {
            return true;
        }
        tokio::time::sleep(RECHECK).await;
    }
    false
}
