//! Batch semantics shared by the local runner and the Lambda functions: a FIFO batch is
//! processed in order and stops at the first retryable failure, which is reported with
//! every message after it, exactly like an SQS event source mapping with
//! `ReportBatchItemFailures`.

use crate::handlers::dispatch;
use crate::{Node, NodeError};
use twinsync_ports::{NewMessage, PortResult, QueueMessage, queues};

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled: delete it.
    Done,
    /// Failed, may succeed later: make it visible again after `after_ms`.
    Retry { after_ms: i64, reason: String },
    /// Told to wait (a rate limit, a twin being written): visible again after `after_ms`,
    /// and the receive does not count towards the dead-letter limit.
    Postponed { after_ms: i64, reason: String },
    /// Not tried because an earlier message of the FIFO batch failed; `after_ms` is the
    /// wait that failure asked for when it holds for every message (a rate limit).
    NotProcessed { after_ms: i64 },
    /// Can never succeed: move it to the dead-letter queue with the reason.
    DeadLetter { reason: String },
}

/// The backoff for the `receive_count`-th failed delivery.
pub fn backoff_ms(node: &Node, receive_count: u32, error: &NodeError) -> i64 {
    if let Some(ms) = error.retry_after_ms() {
        return (ms as i64).min(node.settings.backoff_max_ms);
    }
    let exp = receive_count.saturating_sub(1).min(20);
    (node.settings.backoff_base_ms.saturating_mul(1_i64 << exp)).min(node.settings.backoff_max_ms)
}

/// Processes a FIFO batch of `queue` in order.
pub async fn process_batch(node: &Node, queue: &str, batch: &[QueueMessage]) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut stopped: Option<i64> = None;
    for message in batch {
        if let Some(after_ms) = stopped {
            outcomes.push(Outcome::NotProcessed { after_ms });
            continue;
        }
        let outcome = match dispatch(node, queue, &message.body, message.receive_count).await {
            Ok(()) => Outcome::Done,
            Err(e) if e.is_retryable() => {
                let after_ms = backoff_ms(node, message.receive_count, &e);
                tracing::debug!(queue, id = %message.id, error = %e, "will retry");
                if e.is_wait() {
                    // A rate limit holds for the whole tracker: the rest of the batch
                    // would meet it too.
                    stopped = Some(if e.is_rate_limit() { after_ms } else { 0 });
                    Outcome::Postponed {
                        after_ms,
                        reason: e.to_string(),
                    }
                } else {
                    stopped = Some(0);
                    Outcome::Retry {
                        after_ms,
                        reason: e.to_string(),
                    }
                }
            }
            Err(e) => {
                tracing::error!(queue, id = %message.id, error = %e, "message cannot be processed; dead-lettered");
                Outcome::DeadLetter {
                    reason: e.to_string(),
                }
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Copies a message that can never succeed to the queue's dead-letter queue, with the
/// reason in the log. The caller deletes it from `queue` (the local runner) or lets the
/// event source mapping do so (Lambda).
pub async fn dead_letter(
    node: &Node,
    queue: &str,
    message: &QueueMessage,
    reason: &str,
) -> PortResult<()> {
    node.queue
        .send(
            &queues::dlq(queue),
            NewMessage {
                group_id: message.group_id.clone(),
                dedup_id: format!("{}:dead:{}", message.dedup_id, message.id),
                body: message.body.clone(),
            },
        )
        .await?;
    tracing::error!(queue, id = %message.id, %reason, "moved to the dead-letter queue");
    Ok(())
}
