//! Batch semantics shared by the local runner and the Lambda functions: each FIFO group of
//! a batch is processed in order, the groups side by side; a retryable failure is reported
//! with every message of its group after it, and with every message not begun yet when it
//! may hold for all of them, as an SQS event source mapping with `ReportBatchItemFailures`
//! expects. A handler that panics fails its own message only (and the rest of its FIFO
//! group); a message failing for longer than the retry budget is dead-lettered (see
//! [`crate::dead_letters`]).

use crate::handlers::dispatch;
use crate::handlers::transport::{self, Delivery, Together};
use crate::{Node, NodeError, NodeSettings, dead_letters};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use tracing::Instrument;
use twinsync_ports::{QueueMessage, queues};

pub use crate::dead_letters::dead_letter;

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
    /// Can never succeed, or failed for longer than the retry budget: move it to the
    /// dead-letter queue with the reason.
    DeadLetter { reason: String },
}

/// What a failed message means for the rest of its batch.
enum Stop {
    /// Nothing: the batch goes on.
    None,
    /// The rest of the batch waits `after_ms` (a failure that may hold for every message).
    Batch { after_ms: i64 },
    /// The rest of this message's FIFO group waits; other groups go on (a panic, which
    /// says something about this message only).
    Group,
}

/// The backoff for the `receive_count`-th failed delivery; `error` may ask for its own.
pub fn backoff_ms(settings: &NodeSettings, receive_count: u32, error: Option<&NodeError>) -> i64 {
    let cap = settings.backoff_cap_ms();
    if let Some(ms) = error.and_then(NodeError::retry_after_ms) {
        return i64::try_from(ms).unwrap_or(i64::MAX).min(cap);
    }
    let exp = receive_count.saturating_sub(1).min(20);
    (settings.backoff_base_ms.saturating_mul(1_i64 << exp)).min(cap)
}

/// Processes a FIFO batch of `queue`: each message group in order, the groups side by
/// side. A batch holds up to ten groups, and each handler mostly waits on a tracker or the
/// other node, so the batch takes about as long as its longest group rather than the sum
/// of them (on Lambda that wait is billed). A failure stops the rest of its group; a
/// failure that may hold for every message (a rate limit, a retry) stops every message not
/// begun yet, whichever its group.
pub async fn process_batch(node: &Node, queue: &str, batch: &[QueueMessage]) -> Vec<Outcome> {
    let groups = fifo_groups(batch);
    // Transport's deliveries go together, several to a request, before the handling.
    let together = if queue == queues::TRANSPORT {
        transport::deliver_together(node, batch).await
    } else {
        Together::default()
    };
    // The wait a batch-wide stop asks for; never held across an await.
    let stopped: Mutex<Option<i64>> = Mutex::new(None);
    let runs = groups
        .iter()
        .map(|members| process_group(node, queue, batch, members, &stopped, &together));
    let mut outcomes: Vec<(usize, Outcome)> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

/// The batch's FIFO groups in the order they first appear: the indexes of each group's
/// messages, in order.
pub fn fifo_groups(batch: &[QueueMessage]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, message) in batch.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| batch[g[0]].group_id == message.group_id)
        {
            Some(members) => members.push(index),
            None => groups.push(vec![index]),
        }
    }
    groups
}

/// One message group of a batch, in order: the outcome of each message by its index.
async fn process_group(
    node: &Node,
    queue: &str,
    batch: &[QueueMessage],
    members: &[usize],
    stopped: &Mutex<Option<i64>>,
    together: &Together,
) -> Vec<(usize, Outcome)> {
    let mut outcomes = Vec::with_capacity(members.len());
    let mut group_stopped = false;
    for &index in members {
        let message = &batch[index];
        let delivered = together.of(&message.id).cloned();
        // A message at the other node already is done whatever stopped the batch.
        let arrived = matches!(delivered, Some(Ok(())));
        let batch_stop = *stopped.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = if let Some(after_ms) = batch_stop.filter(|_| !arrived) {
            Outcome::NotProcessed { after_ms }
        } else if group_stopped {
            Outcome::NotProcessed { after_ms: 0 }
        } else {
            let (outcome, stop) = handle(node, queue, message, delivered).await;
            match stop {
                Stop::None => {}
                Stop::Batch { after_ms } => {
                    let mut s = stopped.lock().unwrap_or_else(|e| e.into_inner());
                    *s = Some(s.map_or(after_ms, |a| a.max(after_ms)));
                    group_stopped = true;
                }
                Stop::Group => group_stopped = true,
            }
            outcome
        };
        let now = node.now_ms();
        let outcome = verdict(&node.settings, message, now, outcome);
        record(
            queue,
            message,
            &outcome,
            now.saturating_sub(message.sent_ms).max(0),
        );
        outcomes.push((index, outcome));
    }
    outcomes
}

/// Runs the handler of one message in a span with its queue and trace id. A panic is
/// caught here: it fails this message, not the batch or the worker.
async fn handle(
    node: &Node,
    queue: &str,
    message: &QueueMessage,
    delivered: Option<Delivery>,
) -> (Outcome, Stop) {
    let span = tracing::info_span!("message", queue, trace_id = %trace_id_of(&message.body));
    let age_ms = node.now_ms().saturating_sub(message.sent_ms).max(0);
    metrics::histogram!("QueueAge", "queue" => queue.to_string()).record(age_ms as f64);
    let started = std::time::Instant::now();
    let result = AssertUnwindSafe(
        dispatch(node, queue, &message.body, message.receive_count, delivered)
            .instrument(span.clone()),
    )
    .catch_unwind()
    .await;
    metrics::histogram!("ProcessingLatency", "queue" => queue.to_string())
        .record(started.elapsed().as_secs_f64() * 1_000.0);
    let _entered = span.enter();
    let backoff = |error| backoff_ms(&node.settings, message.receive_count, error);
    match result {
        Err(panic) => {
            let reason = format!("the handler panicked: {}", panic_message(panic.as_ref()));
            tracing::error!(queue, id = %message.id, %reason, "message failed; the rest of the batch goes on");
            let after_ms = backoff(None);
            (Outcome::Retry { after_ms, reason }, Stop::Group)
        }
        Ok(Ok(())) => {
            if message.redriven {
                dead_letters::after_redrive(node, queue, message).await;
            }
            (Outcome::Done, Stop::None)
        }
        Ok(Err(e)) if e.is_retryable() => {
            let after_ms = backoff(Some(&e));
            tracing::debug!(queue, id = %message.id, error = %e, "will retry");
            let reason = e.to_string();
            if e.is_wait() {
                // A rate limit holds for the whole tracker: the rest of the batch would
                // meet it too.
                let after = if e.is_rate_limit() { after_ms } else { 0 };
                let stop = Stop::Batch { after_ms: after };
                (Outcome::Postponed { after_ms, reason }, stop)
            } else {
                (
                    Outcome::Retry { after_ms, reason },
                    Stop::Batch { after_ms: 0 },
                )
            }
        }
        Ok(Err(e)) => {
            tracing::error!(queue, id = %message.id, error = %e, "message cannot be processed; dead-lettered");
            let reason = e.to_string();
            (Outcome::DeadLetter { reason }, Stop::None)
        }
    }
}

/// The text a panic was raised with.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Turns a failure that has used up its budget into a dead letter, so it is marked on its
/// twin instead of retried forever or dropped by the queue without a word: a retry of a
/// message failing for longer than the retry budget, and anything not done at the
/// queue's own last receive (SQS's `maxReceiveCount`), after which SQS would move it.
pub fn verdict(
    settings: &NodeSettings,
    message: &QueueMessage,
    now_ms: i64,
    outcome: Outcome,
) -> Outcome {
    let failing_ms = if message.first_receive_ms > 0 {
        now_ms.saturating_sub(message.first_receive_ms)
    } else {
        0
    };
    let last_receive = settings
        .max_receives
        .is_some_and(|max| message.receive_count >= max);
    let at_limit = |what: &str| {
        format!(
            "received {} times, the queue's limit: {what}",
            message.receive_count
        )
    };
    match outcome {
        Outcome::Retry { reason, .. } if failing_ms >= settings.retry_budget_ms => {
            Outcome::DeadLetter {
                reason: format!(
                    "still failing after {} (retry budget {}): {reason}",
                    in_words(failing_ms),
                    in_words(settings.retry_budget_ms)
                ),
            }
        }
        Outcome::Retry { reason, .. } | Outcome::Postponed { reason, .. } if last_receive => {
            Outcome::DeadLetter {
                reason: at_limit(&reason),
            }
        }
        Outcome::NotProcessed { .. } if last_receive => Outcome::DeadLetter {
            reason: at_limit("not tried, an earlier message of its group failed"),
        },
        other => other,
    }
}

/// A duration for people: "36.0 s", "5.0 min", "24.0 h".
fn in_words(ms: i64) -> String {
    let ms = ms as f64;
    if ms >= 3_600_000.0 {
        format!("{:.1} h", ms / 3_600_000.0)
    } else if ms >= 60_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} s", ms / 1_000.0)
    }
}

/// Counts the outcome and logs it.
fn record(queue: &str, message: &QueueMessage, outcome: &Outcome, age_ms: i64) {
    let (metric, label) = match outcome {
        Outcome::Done => ("ChangesProcessed", "done"),
        Outcome::Retry { .. } => ("Failures", "retry"),
        Outcome::Postponed { .. } => ("Postponed", "postponed"),
        Outcome::NotProcessed { .. } => ("Postponed", "not_processed"),
        Outcome::DeadLetter { .. } => ("Failures", "dead_letter"),
    };
    metrics::counter!(metric, "queue" => queue.to_string(), "outcome" => label).increment(1);
    tracing::info!(queue, id = %message.id, outcome = label, age_ms, "message handled");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(receive_count: u32, first_receive_ms: i64) -> QueueMessage {
        QueueMessage {
            id: "m".into(),
            receipt: "r".into(),
            group_id: "c:K-1".into(),
            dedup_id: "d".into(),
            body: "{}".into(),
            receive_count,
            sent_ms: first_receive_ms,
            first_receive_ms,
            redriven: false,
        }
    }

    #[test]
    fn verdict_table() {
        const HOUR: i64 = 3_600_000;
        let local = NodeSettings::default();
        let sqs = NodeSettings {
            max_receives: Some(1_000),
            ..NodeSettings::default()
        };
        let retry = || Outcome::Retry {
            after_ms: 60_000,
            reason: "unavailable: tracker down".into(),
        };
        let postponed = || Outcome::Postponed {
            after_ms: 1_000,
            reason: "rate limited".into(),
        };
        let waiting = || Outcome::NotProcessed { after_ms: 0 };
        let dead = |reason: &str| Outcome::DeadLetter {
            reason: reason.into(),
        };
        let now = 100 * HOUR;
        // (settings, receives, failing for, outcome) -> outcome
        let table = [
            // A long outage within the budget: retried, however many receives.
            (&local, 5_000, 23 * HOUR, retry(), retry()),
            // Past the budget: dead-lettered, saying how long and why.
            (
                &local,
                1_500,
                24 * HOUR,
                retry(),
                dead("still failing after 24.0 h (retry budget 24.0 h): unavailable: tracker down"),
            ),
            // Waits and done messages are no failures.
            (&local, 9_000, 30 * HOUR, postponed(), postponed()),
            (&local, 2, 30 * HOUR, Outcome::Done, Outcome::Done),
            // SQS: below its receive limit, as locally.
            (&sqs, 999, HOUR, retry(), retry()),
            // At it, whatever was not done goes now, before SQS takes it silently.
            (
                &sqs,
                1_000,
                HOUR,
                retry(),
                dead("received 1000 times, the queue's limit: unavailable: tracker down"),
            ),
            (
                &sqs,
                1_000,
                HOUR,
                postponed(),
                dead("received 1000 times, the queue's limit: rate limited"),
            ),
            (
                &sqs,
                1_000,
                HOUR,
                waiting(),
                dead(
                    "received 1000 times, the queue's limit: not tried, an earlier message of its group failed",
                ),
            ),
            (&sqs, 1_000, HOUR, Outcome::Done, Outcome::Done),
        ];
        for (settings, receives, failing, outcome, want) in table {
            let m = message(receives, now - failing);
            let got = verdict(settings, &m, now, outcome.clone());
            assert_eq!(
                got, want,
                "{receives} receives, failing {failing} ms: {outcome:?}"
            );
        }
        // A message whose first receive is unknown has used none of its budget.
        assert_eq!(verdict(&local, &message(3, 0), now, retry()), retry());
    }

    #[test]
    fn backoff_table() {
        let local = NodeSettings::default();
        let sqs = NodeSettings {
            max_receives: Some(1_000),
            ..NodeSettings::default()
        };
        let limited = NodeError::Port(twinsync_ports::PortError::RateLimited {
            retry_after_ms: 10_000_000,
            refused: twinsync_ports::Refusal::Whole,
        });
        // (settings, receive count, error) -> backoff
        let table = [
            (&local, 1, None, 200),
            (&local, 4, None, 1_600),
            (&local, 50, None, 60_000),
            (&local, 1, Some(&limited), 60_000),
            // On SQS the cap spreads the day's budget over 500 receives.
            (&sqs, 50, None, 172_800),
            (&sqs, 1, Some(&limited), 172_800),
        ];
        for (settings, receives, error, want) in table {
            assert_eq!(backoff_ms(settings, receives, error), want, "{receives}");
        }
    }
}
