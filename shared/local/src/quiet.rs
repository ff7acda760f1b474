//! Waiting until a local sync has nothing left to do, on conditions rather than on a
//! quiet stretch of time: for the demo, the tests and anything that must read a settled
//! state.

use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_fakes::deliveries::{self, Deliveries};
use twinsync_node::Node;
use twinsync_node::handlers::scheduler::{self, TWINS_SWEEP};
use twinsync_ports::queues;

/// How often the conditions are read again while something is still moving.
const RECHECK: Duration = Duration::from_millis(20);

/// Waits until no webhook delivery of `webhooks` is on its way, every handled queue and
/// outbox of `nodes` is empty (nothing visible, in flight or delayed), and neither a
/// delivery nor any queue moved while the queues were read. A handler writes to a tracker
/// (which queues the webhook) before it deletes its message, a delivery finishes only
/// after ingest queued its change, and a message handed to another node is queued there
/// before it is deleted here, so when all of this holds no work is left anywhere. The
/// queues' activity counters make the reads of several nodes' queues one consistent
/// look: a message that moved from a queue not yet read to one already read moved both
/// counters. A webhook the node refused over its limit is brought in by its next poll, so
/// every refusal must also be covered by a poll begun after it
/// ([`scheduler::refusals_polled`]). False when `timeout` passes first.
pub async fn wait_quiet(
    nodes: &[Arc<Node>],
    webhooks: &[Arc<Deliveries>],
    timeout: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let queues = work_queues(nodes).await;
        let before = deliveries::total(webhooks);
        let moved = activity(&queues);
        // Read after the counters: a refusal before this is counted here, one after it
        // finished a delivery, and a poll that covered one since and queued its change
        // moved a queue.
        let polled = refusals_polled(nodes).await;
        if polled
            && before.pending() == 0
            && queues_empty(&queues).await
            && deliveries::total(webhooks) == before
            && activity(&queues) == moved
        {
            return true;
        }
        tokio::time::sleep(RECHECK).await;
    }
    false
}

/// Each node with the queues that hold its work: the handled ones and the outboxes of
/// private connections. A new outbox only gets messages a handled queue gave up, so a
/// look with this list still sees them move.
async fn work_queues(nodes: &[Arc<Node>]) -> Vec<(&Node, Vec<String>)> {
    let mut out = Vec::with_capacity(nodes.len());
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
            .chain(outboxes)
            .collect();
        out.push((node.as_ref(), names));
    }
    out
}

/// Whether each node's polls have covered the webhooks it refused; an unreadable
/// connection list counts as not yet: the caller's timeout decides.
async fn refusals_polled(nodes: &[Arc<Node>]) -> bool {
    for node in nodes {
        if !scheduler::refusals_polled(node).await.unwrap_or(false) {
            return false;
        }
    }
    true
}

/// Every work queue's activity counter, summed over the nodes.
fn activity(queues: &[(&Node, Vec<String>)]) -> u64 {
    queues
        .iter()
        .flat_map(|(node, names)| names.iter().map(|q| node.queue.activity(q)))
        .fold(0u64, u64::wrapping_add)
}

async fn queues_empty(queues: &[(&Node, Vec<String>)]) -> bool {
    for (node, names) in queues {
        for q in names {
            // An unreadable queue counts as busy: the caller's timeout decides.
            if node.queue.depth(q).await.map_or(1, |d| d.total()) > 0 {
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

/// Waits until every connection of `nodes` has been polled at least once (a fresh node's
/// first tick polls each at once): a measurement that starts after it counts no start-up
/// poll against the changes it makes.
pub async fn wait_first_polls(nodes: &[Arc<Node>], timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if all_polled(nodes).await {
            return true;
        }
        tokio::time::sleep(RECHECK).await;
    }
    false
}

async fn all_polled(nodes: &[Arc<Node>]) -> bool {
    for node in nodes {
        let Ok(connections) = node.connections.list().await else {
            return false;
        };
        for c in connections {
            if !matches!(scheduler::last_poll_ms(node, &c.id).await, Ok(Some(_))) {
                return false;
            }
        }
    }
    true
}
