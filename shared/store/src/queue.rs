//! A queue with SQS FIFO semantics on SQLite.
//!
//! Messages of a group are delivered in send order and a group delivers nothing while
//! any of its messages is invisible (in flight or delayed), which keeps per-group order
//! across retries. `message_groups` holds one row per non-empty group with its head and
//! the time it becomes available, so a receive reads only the groups it returns.

use crate::cached::ExecuteCached;
use crate::dead_letters::{redrive_rows, to_dead_letter_queue};
use crate::messages::{group_rows, insert, refresh_group};
use crate::{Db, port_err};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;
use std::time::Duration;
use twinsync_core::Clock;
use twinsync_ports::{
    NewMessage, PortError, PortResult, Queue, QueueDepth, QueueMessage, RedriveFilter, SendOutcome,
    Wait, WaitingMessage,
};

/// Dead-letter and deduplication settings.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// A message first received this long ago goes to the dead-letter queue instead of
    /// being delivered again. The node's handlers dead-letter a failing message themselves
    /// at their retry budget, marking its twin; this is the last resort behind them (for
    /// a message whose handling never ends), so it should be well past that budget.
    pub dead_letter_after_ms: i64,
    pub dedup_window_ms: i64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            // Twice the node's default retry budget of 24 hours.
            dead_letter_after_ms: 48 * 3_600_000,
            dedup_window_ms: 300_000,
        }
    }
}

impl QueueSettings {
    /// How long a message of `queue` may go unhandled before it is dead-lettered. Held
    /// queues and outboxes are drained, never failed, and a dead-letter queue keeps.
    fn dead_letter_after(&self, queue: &str) -> Option<i64> {
        let kept =
            queue.starts_with("held-") || queue.starts_with("outbox-") || queue.ends_with("-dlq");
        (!kept).then_some(self.dead_letter_after_ms)
    }
}

pub struct SqliteQueue {
    db: Db,
    clock: Arc<dyn Clock>,
    settings: QueueSettings,
}

impl SqliteQueue {
    pub fn new(db: Db, clock: Arc<dyn Clock>, settings: QueueSettings) -> Self {
        Self {
            db,
            clock,
            settings,
        }
    }
}

impl SqliteQueue {
    /// When the first group of `queue` that is not receivable now becomes receivable; a
    /// failed read counts as "none", and the caller's own limit applies.
    fn next_available(&self, queue: &str) -> Option<i64> {
        self.db.peek(|conn| {
            conn.query_row_cached(
                "SELECT MIN(available_at) FROM message_groups WHERE queue = ?1",
                params![queue],
                |r| r.get::<_, Option<i64>>(0),
            )
            .unwrap_or_else(|e| {
                tracing::warn!(queue, error = %e, "cannot read when the next message is due");
                None
            })
        })
    }
}

/// The groups of `queue` a receive may take from now, oldest head first.
fn receivable_groups(
    conn: &Connection,
    queue: &str,
    now: i64,
    max: usize,
) -> PortResult<Vec<String>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT group_id FROM message_groups WHERE queue = ?1 AND available_at <= ?2 ORDER BY head_seq LIMIT ?3",
        )
        .map_err(port_err)?;
    stmt.query_map(params![queue, now, max as i64], |r| r.get(0))
        .map_err(port_err)?
        .collect::<Result<_, _>>()
        .map_err(port_err)
}

/// The group of the message a receipt names; a stale or unknown receipt is refused.
fn group_of_receipt(tx: &Connection, queue: &str, receipt: &str) -> PortResult<String> {
    tx.query_row_cached(
        "SELECT group_id FROM messages WHERE queue = ?1 AND receipt = ?2",
        params![queue, receipt],
        |r| r.get(0),
    )
    .optional()
    .map_err(port_err)?
    .ok_or_else(|| PortError::Rejected(format!("receipt {receipt} is not valid on {queue}")))
}

/// Deletes the messages of `receipts` in one write: one commit for a batch rather
/// than one a message. A receipt that is no longer valid fails alone.
fn delete_all(
    tx: &Connection,
    queue: &str,
    receipts: &[String],
) -> rusqlite::Result<Vec<PortResult<()>>> {
    let mut results = Vec::with_capacity(receipts.len());
    for receipt in receipts {
        let group = match group_of_receipt(tx, queue, receipt) {
            Ok(group) => group,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        tx.execute_cached(
            "DELETE FROM messages WHERE queue = ?1 AND receipt = ?2",
            params![queue, receipt],
        )?;
        refresh_group(tx, queue, &group)?;
        results.push(Ok(()));
    }
    Ok(results)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, queue: &str, message: NewMessage) -> PortResult<SendOutcome> {
        let now = self.clock.now_ms();
        let window = self.settings.dedup_window_ms;
        let outcome = self
            .db
            .write(|tx| insert(tx, queue, &message, now, window).map_err(port_err))
            .await?;
        self.db.wake(queue);
        Ok(outcome)
    }

    async fn send_batch(&self, queue: &str, messages: Vec<NewMessage>) -> PortResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let window = self.settings.dedup_window_ms;
        self.db
            .write(|tx| {
                for m in &messages {
                    insert(tx, queue, m, now, window).map_err(port_err)?;
                }
                Ok(())
            })
            .await?;
        self.db.wake(queue);
        Ok(())
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>> {
        let now = self.clock.now_ms();
        let dead_letter_after = self.settings.dead_letter_after(queue);
        // An empty queue is the usual answer of a consumer's poll: told by a read, so it
        // takes no write and no commit.
        if self
            .db
            .peek(|c| receivable_groups(c, queue, now, max))?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        self.db
            .write(|tx| {
                let mut out = Vec::new();
                for group in receivable_groups(tx, queue, now, max)? {
                    if out.len() >= max {
                        break;
                    }
                    let rows = group_rows(tx, queue, &group, (max - out.len()) as i64)
                        .map_err(port_err)?;
                    for row in rows {
                        let first = row.first_receive_ms.unwrap_or(now);
                        if dead_letter_after.is_some_and(|after| now - first >= after) {
                            // Unhandled for too long: the last resort behind the handlers' budget.
                            to_dead_letter_queue(tx, queue, &group, row.seq).map_err(port_err)?;
                            tracing::warn!(queue, id = %row.id, receives = row.receive_count, "message moved to the dead-letter queue");
                            continue;
                        }
                        let receipt = uuid::Uuid::new_v4().to_string();
                        tx.execute_cached(
                            "UPDATE messages SET visible_at = ?1, receive_count = receive_count + 1, receipt = ?2, delayed = 0,
                             first_receive_ms = ?3 WHERE seq = ?4",
                            params![now + visibility_ms.max(0), receipt, first, row.seq],
                        )
                        .map_err(port_err)?;
                        out.push(QueueMessage {
                            id: row.id,
                            receipt,
                            group_id: group.clone(),
                            dedup_id: row.dedup_id,
                            body: row.body,
                            receive_count: row.receive_count + 1,
                            sent_ms: row.sent_ms,
                            first_receive_ms: first,
                            redriven: row.redriven,
                        });
                    }
                    refresh_group(tx, queue, &group).map_err(port_err)?;
                }
                Ok(out)
            })
            .await
    }

    async fn delete(&self, queue: &str, receipt: &str) -> PortResult<()> {
        // A batch of one: the same transaction, the same answer for a stale receipt.
        let deleted = self.delete_batch(queue, &[receipt.to_string()]).await;
        deleted.into_iter().next().unwrap_or(Ok(()))
    }

    async fn delete_batch(&self, queue: &str, receipts: &[String]) -> Vec<PortResult<()>> {
        if receipts.is_empty() {
            return Vec::new();
        }
        let deleted = self
            .db
            .write(|tx| delete_all(tx, queue, receipts).map_err(port_err))
            .await;
        match deleted {
            Ok(results) => {
                self.db.wake(queue);
                results
            }
            // Nothing was deleted; the messages come back after their visibility timeout.
            Err(e) => receipts.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility_ms: i64,
    ) -> PortResult<()> {
        let now = self.clock.now_ms();
        let delayed = i64::from(visibility_ms > 0);
        self.db
            .write(|tx| {
                let group = group_of_receipt(tx, queue, receipt)?;
                tx.execute_cached(
                    "UPDATE messages SET visible_at = ?1, delayed = ?2 WHERE queue = ?3 AND receipt = ?4",
                    params![now + visibility_ms.max(0), delayed, queue, receipt],
                )
                .map_err(port_err)?;
                refresh_group(tx, queue, &group).map_err(port_err)
            })
            .await?;
        self.db.wake(queue);
        Ok(())
    }

    async fn postpone(&self, queue: &str, receipt: &str, delay_ms: i64) -> PortResult<()> {
        let now = self.clock.now_ms();
        self.db
            .write(|tx| {
                let group = group_of_receipt(tx, queue, receipt)?;
                tx.execute_cached(
                    "UPDATE messages SET visible_at = ?1, delayed = 1, receive_count = MAX(receive_count - 1, 0),
                         first_receive_ms = CASE WHEN receive_count <= 1 THEN NULL ELSE first_receive_ms END
                     WHERE queue = ?2 AND receipt = ?3",
                    params![now + delay_ms.max(0), queue, receipt],
                )
                .map_err(port_err)?;
                refresh_group(tx, queue, &group).map_err(port_err)
            })
            .await?;
        self.db.wake(queue);
        Ok(())
    }

    fn activity(&self, queue: &str) -> u64 {
        *self.db.waker(queue).borrow()
    }

    async fn wait_for_work(&self, queue: &str, seen: u64, max_ms: u64) -> Wait {
        let mut activity = self.db.waker(queue).subscribe();
        if *activity.borrow_and_update() != seen {
            return Wait::Woken;
        }
        // A message that is delayed or in flight becomes receivable at its group's
        // `available_at`: wake then, or on the next activity, whichever comes first.
        let next = self.next_available(queue);
        let until_next = next.map(|at| (at - self.clock.now_ms()).max(0).unsigned_abs());
        let wait_ms = until_next.map_or(max_ms, |ms| ms.min(max_ms));
        if wait_ms == 0 {
            return Wait::Woken;
        }
        tokio::select! {
            _ = activity.changed() => Wait::Woken,
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {
                if until_next.is_some_and(|ms| ms <= max_ms) { Wait::Woken } else { Wait::TimedOut }
            }
        }
    }

    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        let now = self.clock.now_ms();
        self.db
            .read(|conn| {
                conn.query_row_cached(
                    "SELECT
                        COALESCE(SUM(visible_at <= ?2), 0),
                        COALESCE(SUM(visible_at > ?2 AND delayed = 0), 0),
                        COALESCE(SUM(visible_at > ?2 AND delayed = 1), 0)
                     FROM messages WHERE queue = ?1",
                    params![queue, now],
                    |r| {
                        Ok(QueueDepth {
                            visible: r.get::<_, i64>(0)? as u64,
                            in_flight: r.get::<_, i64>(1)? as u64,
                            delayed: r.get::<_, i64>(2)? as u64,
                        })
                    },
                )
                .map_err(port_err)
            })
            .await
    }

    async fn purge_group(&self, queue: &str, group_id: &str) -> PortResult<u64> {
        self.db
            .write(|tx| {
                let n = tx
                    .execute_cached(
                        "DELETE FROM messages WHERE queue = ?1 AND group_id = ?2",
                        params![queue, group_id],
                    )
                    .map_err(port_err)?;
                refresh_group(tx, queue, group_id).map_err(port_err)?;
                Ok(n as u64)
            })
            .await
    }

    async fn redrive(&self, queue: &str, select: &RedriveFilter) -> PortResult<u64> {
        let now = self.clock.now_ms();
        let moved = self
            .db
            .write(|tx| redrive_rows(tx, queue, select, now))
            .await?;
        if moved > 0 {
            self.db.wake(queue);
            tracing::info!(queue, moved, "dead-lettered messages redriven");
        }
        Ok(moved)
    }

    async fn peek(&self, queue: &str, limit: usize) -> PortResult<Vec<WaitingMessage>> {
        self.db
            .read(|conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, group_id, body, sent_ms FROM messages
                         WHERE queue = ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(port_err)?;
                let rows = stmt
                    .query_map(params![queue, limit as i64], |r| {
                        Ok(WaitingMessage {
                            id: r.get(0)?,
                            group_id: r.get(1)?,
                            body: r.get(2)?,
                            sent_ms: r.get(3)?,
                        })
                    })
                    .map_err(port_err)?;
                rows.collect::<Result<_, _>>().map_err(port_err)
            })
            .await
    }

    async fn queue_names(&self) -> PortResult<Vec<String>> {
        self.db
            .read(|conn| {
                let mut stmt = conn
                    .prepare("SELECT name FROM queue_names ORDER BY name")
                    .map_err(port_err)?;
                let names = stmt
                    .query_map([], |r| r.get(0))
                    .map_err(port_err)?
                    .collect::<Result<_, _>>()
                    .map_err(port_err)?;
                Ok(names)
            })
            .await
    }
}

/// Forgets dedup records past their window; called by the connection store's purge.
pub(crate) fn purge_dedup(conn: &rusqlite::Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute_cached("DELETE FROM dedup WHERE expires_ms <= ?1", params![now])
}
