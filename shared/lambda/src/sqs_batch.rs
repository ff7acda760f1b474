//! A queue function's SQS batch: its records read (payloads in S3 resolved), its messages
//! handled as the local runner handles them, and the answer Lambda's event source mapping
//! takes (`ReportBatchItemFailures`).

use crate::{Function, abort};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::hash::{DefaultHasher, Hash, Hasher};
use twinsync_aws::sqs::{PAYLOAD_ATTRIBUTE, REDRIVEN_ATTRIBUTE};
use twinsync_node::batch::{Outcome, backoff_ms, dead_letter, fifo_groups, process_batch, verdict};
use twinsync_ports::QueueMessage;

/// How the messages of a batch run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// The FIFO groups side by side, the sends leaving together when the batch is done:
    /// one `SendMessageBatch` for many messages, and the batch as long as its longest
    /// group.
    Together,
    /// One message at a time, its sends leaving before the next begins, the groups in an
    /// order that changes with each receive. A panic in a build that aborts ends the
    /// whole batch (see [`abort`]); run this way, the messages done before it are done
    /// for good, and within a few receives each message of another group comes before
    /// the panicking one.
    OneByOne,
}

impl BatchMode {
    /// One by one in a build that aborts, when a message was received before (its last
    /// batch may have ended in a panic); together otherwise.
    pub fn for_batch(messages: &[QueueMessage]) -> BatchMode {
        if cfg!(panic = "abort") && messages.iter().any(|m| m.receive_count > 1) {
            BatchMode::OneByOne
        } else {
            BatchMode::Together
        }
    }
}

/// A record of an SQS event as the batch handler takes it. The retry budget counts from
/// `ApproximateFirstReceiveTimestamp` (SQS counts every receive there, waits included).
fn record_to_message(record: &SqsMessage, body: String) -> QueueMessage {
    let attr = |name: &str| record.attributes.get(name).cloned().unwrap_or_default();
    let sent_ms = attr("SentTimestamp").parse().unwrap_or(0);
    QueueMessage {
        id: record.message_id.clone().unwrap_or_default(),
        receipt: record.receipt_handle.clone().unwrap_or_default(),
        group_id: attr("MessageGroupId"),
        dedup_id: attr("MessageDeduplicationId"),
        body,
        receive_count: attr("ApproximateReceiveCount").parse().unwrap_or(1),
        sent_ms,
        first_receive_ms: attr("ApproximateFirstReceiveTimestamp")
            .parse()
            .unwrap_or(sent_ms),
        redriven: record.message_attributes.contains_key(REDRIVEN_ATTRIBUTE),
    }
}

pub(crate) fn failure(id: &str) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id.to_string();
    f
}

/// Runs a FIFO batch of `queue` the way the local runner does, and answers Lambda's event
/// source mapping: what succeeded (or was dead-lettered with its reason, its twin marked:
/// failing for longer than the retry budget, by its first receive, or at the receive
/// limit) is left for it to delete; a failure is reported with every message after it,
/// each made visible again after its backoff.
pub async fn handle_sqs_batch(f: &Function, queue: &str, event: SqsEvent) -> SqsBatchResponse {
    handle_sqs_batch_as(f, queue, event, None).await
}

/// [`handle_sqs_batch`] in `mode`, or in the mode [`BatchMode::for_batch`] picks.
pub async fn handle_sqs_batch_as(
    f: &Function,
    queue: &str,
    event: SqsEvent,
    mode: Option<BatchMode>,
) -> SqsBatchResponse {
    f.connections.begin();
    let (messages, unread) = read_records(f, queue, &event).await;
    let mode = mode.unwrap_or_else(|| BatchMode::for_batch(&messages));
    let outcomes = match mode {
        BatchMode::Together => process_and_send(f, queue, &messages).await,
        BatchMode::OneByOne => one_by_one(f, queue, &messages).await,
    };
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in messages.iter().zip(outcomes) {
        let delay = match outcome {
            Outcome::Done => continue,
            Outcome::Retry { after_ms, .. }
            | Outcome::Postponed { after_ms, .. }
            | Outcome::NotProcessed { after_ms } => after_ms,
            Outcome::DeadLetter { reason } => {
                match dead_letter(&f.node, queue, message, &reason).await {
                    Ok(()) => continue,
                    Err(e) => {
                        tracing::warn!(queue, id = %message.id, error = %e, "dead-lettering failed; retried");
                        0
                    }
                }
            }
        };
        // The backoff: visible again after `delay`, not after the queue's full timeout.
        if let Err(e) = f
            .node
            .queue
            .change_visibility(queue, &message.receipt, delay)
            .await
        {
            tracing::warn!(queue, id = %message.id, error = %e, "could not set the retry delay");
        }
        response.batch_item_failures.push(failure(&message.id));
    }
    for id in unread {
        response.batch_item_failures.push(failure(&id));
    }
    response
}

/// The batch's messages, and the ids of those whose body could not be read (with every
/// record after the first of them: its group must not go on without it).
async fn read_records(
    f: &Function,
    queue: &str,
    event: &SqsEvent,
) -> (Vec<QueueMessage>, Vec<String>) {
    let mut messages = Vec::new();
    let mut unread = Vec::new();
    for record in &event.records {
        if !unread.is_empty() {
            unread.push(record.message_id.clone().unwrap_or_default());
            continue;
        }
        let key = record
            .message_attributes
            .get(PAYLOAD_ATTRIBUTE)
            .and_then(|a| a.string_value.as_deref());
        match f
            .sqs
            .resolve_body(record.body.as_deref().unwrap_or_default(), key)
            .await
        {
            Ok(body) => messages.push(record_to_message(record, body)),
            Err(e) => {
                tracing::warn!(queue, id = ?record.message_id, error = %e, "message body unreadable; retried");
                unread.push(record.message_id.clone().unwrap_or_default());
            }
        }
    }
    (messages, unread)
}

/// One message at a time, each one's sends leaving before the next begins; a message
/// that is not done stops the rest of its group.
async fn one_by_one(f: &Function, queue: &str, messages: &[QueueMessage]) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; messages.len()];
    for group in groups_in_turn(messages) {
        let mut stopped = false;
        for index in group {
            let message = &messages[index];
            let outcome = if stopped {
                let now = f.node.now_ms();
                verdict(
                    &f.node.settings,
                    message,
                    now,
                    Outcome::NotProcessed { after_ms: 0 },
                )
            } else {
                process_and_send(f, queue, std::slice::from_ref(message))
                    .await
                    .pop()
                    .unwrap_or(Outcome::NotProcessed { after_ms: 0 })
            };
            match outcome {
                // Its sends have left: a panic from here on does not take it back.
                Outcome::Done => abort::finished(&message.id),
                Outcome::DeadLetter { .. } => {}
                _ => stopped = true,
            }
            outcomes[index] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::NotProcessed { after_ms: 0 }))
        .collect()
}

/// Processes `messages` as one batch (the groups side by side), then sends what they
/// sent; a done message whose sends did not leave is retried.
async fn process_and_send(f: &Function, queue: &str, messages: &[QueueMessage]) -> Vec<Outcome> {
    f.sends.hooks.open();
    let mut outcomes = process_batch(&f.node, queue, messages).await;
    if let Err(e) = f.sends.hooks.flush(&*f.sends.inner).await {
        // What did leave is deduplicated when the messages are handled again.
        tracing::warn!(queue, error = %e, "the sends failed; their messages are retried");
        for (message, outcome) in messages.iter().zip(outcomes.iter_mut()) {
            if *outcome == Outcome::Done {
                *outcome = Outcome::Retry {
                    after_ms: backoff_ms(&f.node.settings, message.receive_count, None),
                    reason: e.to_string(),
                };
            }
        }
    }
    outcomes
}

/// The batch's FIFO groups (the indexes of each group's messages, in order), ordered by
/// a hash of each group and its first message's receive count: the same batch received
/// again runs its groups in another order.
pub fn groups_in_turn(messages: &[QueueMessage]) -> Vec<Vec<usize>> {
    let mut groups = fifo_groups(messages);
    groups.sort_by_key(|g| {
        let first = &messages[g[0]];
        let mut hasher = DefaultHasher::new();
        (&first.group_id, first.receive_count).hash(&mut hasher);
        hasher.finish()
    });
    groups
}
