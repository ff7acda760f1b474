//! Batch semantics shared by the local runner and the Lambda functions: a FIFO batch is
//! processed in order and stops at the first retryable failure, which is reported with
//! every message after it, exactly like an SQS event source mapping with
//! `ReportBatchItemFailures`.

use crate::handlers::dispatch;
use crate::{Node, NodeError};
use tracing::Instrument;
use twinsync_ports::{NewMessage, PortResult, QueueMessage, queues};

/// The trace id a message body carries (change events, replicas, acks), if any.
pub fn trace_id_of(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Traced {
        #[serde(default)]
        trace_id: String,
    }
    serde_json::from_str::<Traced>(body)
        .map(|t| t.trace_id)
        .unwrap_or_default()
}

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
        // Every log line of this message's handling carries the change's trace id.
        let span = tracing::info_span!("message", queue, trace_id = %trace_id_of(&message.body));
        let age_ms = node.now_ms().saturating_sub(message.sent_ms).max(0);
        metrics::histogram!("QueueAge", "queue" => queue.to_string()).record(age_ms as f64);
        let started = std::time::Instant::now();
        let result = dispatch(node, queue, &message.body, message.receive_count)
            .instrument(span.clone())
            .await;
        metrics::histogram!("ProcessingLatency", "queue" => queue.to_string())
            .record(started.elapsed().as_secs_f64() * 1_000.0);
        let _entered = span.enter();
        let outcome = match result {
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
        let (metric, label) = match &outcome {
            Outcome::Done => ("ChangesProcessed", "done"),
            Outcome::Retry { .. } => ("Failures", "retry"),
            Outcome::Postponed { .. } => ("Postponed", "postponed"),
            Outcome::NotProcessed { .. } => ("Postponed", "not_processed"),
            Outcome::DeadLetter { .. } => ("Failures", "dead_letter"),
        };
        metrics::counter!(metric, "queue" => queue.to_string(), "outcome" => label).increment(1);
        tracing::info!(id = %message.id, outcome = label, age_ms, "message handled");
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
