//! Pausing and resuming a connection: while it is Deactivated its messages wait in its
//! held queue; Activate (the operation) and the scheduler drain that queue in order, and
//! after a pause longer than the queue keeps messages every twin is read again.

use crate::handlers::HeldMessage;
use crate::{Node, NodeResult, bulk};
use twinsync_core::{Connection, SyncEventKind};
use twinsync_ports::{NewMessage, queues};

/// An empty held queue is deleted this long after the connection last changed: by then
/// no function that read it as Deactivated can still be sending to it.
pub const HELD_QUEUE_KEPT_MS: i64 = 15 * 60_000;

/// After that, the scheduler has this long to find the drained held queue empty and
/// delete it; then it stops looking (a quarter-hour of minute ticks).
pub const HELD_QUEUE_SWEEP_MS: i64 = 15 * 60_000;

const DAY_MS: i64 = 24 * 3_600_000;

/// Whether the scheduler still looks after the connection's held queue: only for a while
/// after the connection last changed. Activate drains the queue and completes the resume
/// itself; the scheduler catches what functions that read the connection as paused sent
/// there later, retries a resume that failed, then deletes the queue. A connection that
/// has not changed since costs no queue or meta read per tick.
pub fn held_queue_watched(connection: &Connection, now_ms: i64) -> bool {
    now_ms - connection.updated_ms <= HELD_QUEUE_KEPT_MS + HELD_QUEUE_SWEEP_MS
}

/// A pause longer than this may have outlived held messages (SQS keeps them 14 days; a
/// day of margin for the drain), so its resume reads every twin again.
pub const REREAD_AFTER_PAUSE_MS: i64 = queues::HELD_RETENTION_MS - DAY_MS;

/// The connection meta key that holds when the connection was paused, until its resume
/// is complete.
pub fn paused_key(connection_id: &str) -> String {
    format!("paused:{connection_id}")
}

/// Completes the resume of a connection that was paused. When the pause was longer than
/// the held queue keeps messages, some changes may be gone with it: every twin, and every
/// item under a trigger, is queued again (unchanged ones are suppressed by outgoing), so
/// nothing is lost. Returns how many changes were queued.
pub async fn after_pause(node: &Node, connection: &Connection) -> NodeResult<usize> {
    let key = paused_key(&connection.id);
    let Some(since) = node
        .connections
        .get_meta(&key)
        .await?
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return Ok(0);
    };
    let paused_ms = node.now_ms() - since;
    let mut queued = 0;
    if paused_ms > REREAD_AFTER_PAUSE_MS {
        node.event(
            &connection.id,
            None,
            SyncEventKind::ConnectionStatus,
            format!(
                "paused {} days, longer than held changes are kept: every twin is read again",
                paused_ms / DAY_MS
            ),
        )
        .await;
        queued += bulk::bulk_sync(node, &connection.id).await?;
        queued += bulk::bulk_exalate(node, &connection.id).await?;
    }
    // Cleared last: a crash before this only reads the twins again.
    node.connections.set_meta(&key, "").await?;
    Ok(queued)
}

/// Drains a reactivated connection's held queue into the queues its messages were
/// meant for, in order. Returns how many messages moved.
pub async fn resume(node: &Node, connection: &Connection) -> NodeResult<usize> {
    let held = queues::held(&connection.id);
    let mut moved = 0;
    loop {
        let batch = node
            .queue
            .receive(&held, 100, node.settings.visibility_ms)
            .await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for message in batch {
            match serde_json::from_str::<HeldMessage>(&message.body) {
                Ok(h) => {
                    // A new dedup id: the original may still sit in the target queue's window.
                    node.queue
                        .send(
                            &h.queue,
                            NewMessage {
                                group_id: h.group_id,
                                dedup_id: format!("{}:resumed:{}", h.dedup_id, message.id),
                                body: h.body,
                            },
                        )
                        .await?;
                }
                Err(e) => {
                    tracing::error!(error = %e, "unreadable held message moved to the dead-letter queue");
                    node.queue
                        .send(
                            &queues::dlq(&held),
                            NewMessage {
                                group_id: message.group_id.clone(),
                                dedup_id: message.dedup_id.clone(),
                                body: message.body.clone(),
                            },
                        )
                        .await?;
                }
            }
            node.queue.delete(&held, &message.receipt).await?;
            moved += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_held_queue_is_watched_for_a_while_after_a_change() {
        let connection = Connection {
            id: "c".into(),
            name: "c".into(),
            local_node: "a".into(),
            remote_node: "b".into(),
            local_instance: "i".into(),
            target_project: "P".into(),
            status: twinsync_core::ConnectionStatus::Active,
            status_reason: None,
            versions: vec![],
            link: None,
            revision: 0,
            updated_ms: 1_000_000,
        };
        let window = HELD_QUEUE_KEPT_MS + HELD_QUEUE_SWEEP_MS;
        // (ms after the change, watched)
        let cases = [(0, true), (1, true), (window, true), (window + 1, false)];
        for (after, watched) in cases {
            assert_eq!(
                held_queue_watched(&connection, 1_000_000 + after),
                watched,
                "{after} ms after"
            );
        }
    }
}
