//! Redrive on SQS: dead-lettered messages an operator picks go back to their queue.

use super::{PAYLOAD_ATTRIBUTE, SqsQueue, ids::sqs_id, ids::string_attribute};
use crate::error::AwsError;
use serde_json::{Value, json};
use twinsync_ports::{PortResult, Queue, QueueMessage, RedriveFilter, WaitingMessage};

/// The message attribute that marks a message an operator moved back from its
/// dead-letter queue (`Queue::redrive`).
pub const REDRIVEN_ATTRIBUTE: &str = "twinsync-redriven";

/// How many batches of ten one redrive reads from a dead-letter queue; an operator runs
/// it again for more.
const REDRIVE_ROUNDS: usize = 100;

/// How long the messages left in the dead-letter queue stay out of reach while a redrive
/// reads past them; they are made visible again when it ends.
const HOLD_MS: i64 = 300_000;

impl SqsQueue {
    /// SQS cannot move chosen messages between queues: the dead-letter queue's messages
    /// are received in order; each one picked is sent to `queue` in its group, marked
    /// redriven, under a dedup id made from its own id (a redrive repeated after a crash
    /// is dropped as a duplicate), then deleted; the others are made visible again at
    /// the end. A group whose messages are in flight elsewhere waits for the next run.
    pub(super) async fn redrive_picked(
        &self,
        queue: &str,
        select: &RedriveFilter,
    ) -> PortResult<u64> {
        let dlq = twinsync_ports::queues::dlq(queue);
        let mut moved = 0;
        let mut others = Vec::new();
        for _ in 0..REDRIVE_ROUNDS {
            let batch = self.receive(&dlq, 10, HOLD_MS).await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                if select(&m) {
                    self.send_redriven(queue, &m).await?;
                    self.delete(&dlq, &m.receipt).await?;
                    moved += 1;
                } else {
                    others.push(m.receipt);
                }
            }
        }
        for receipt in others {
            // One not given back is visible again when its hold ends.
            if let Err(e) = self.change_visibility(&dlq, &receipt, 0).await {
                tracing::debug!(queue = %dlq, error = %e, "a message left dead-lettered stays held a while");
            }
        }
        if moved > 0 {
            tracing::info!(queue, moved, "dead-lettered messages redriven");
        }
        Ok(moved)
    }

    /// Up to `limit` messages of `queue` for a listing. SQS has no peek: each is received
    /// with a hold and given back when the listing ends. It serves the dead-letter queues,
    /// which no consumer reads and whose receive counts nothing acts on.
    pub(super) async fn peek_held(
        &self,
        queue: &str,
        limit: usize,
    ) -> PortResult<Vec<WaitingMessage>> {
        let mut seen = Vec::new();
        let mut receipts = Vec::new();
        for _ in 0..REDRIVE_ROUNDS {
            if seen.len() >= limit {
                break;
            }
            let batch = self
                .receive(queue, (limit - seen.len()).min(10), HOLD_MS)
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                receipts.push(m.receipt.clone());
                seen.push(WaitingMessage {
                    id: m.id,
                    group_id: m.group_id,
                    body: m.body,
                    sent_ms: m.sent_ms,
                });
            }
        }
        for receipt in receipts {
            if let Err(e) = self.change_visibility(queue, &receipt, 0).await {
                tracing::debug!(queue, error = %e, "a listed message stays held a while");
            }
        }
        seen.sort_by_key(|m| m.sent_ms);
        Ok(seen)
    }

    /// Sends a dead-lettered message back to `queue`, marked redriven.
    async fn send_redriven(&self, queue: &str, m: &QueueMessage) -> Result<(), AwsError> {
        let url = self.existing_url(queue).await?;
        let (body, key) = self.outgoing_body(queue, m.body.clone()).await?;
        let mut input = json!({
            "QueueUrl": url,
            "MessageBody": body,
            "MessageGroupId": sqs_id(&m.group_id),
            "MessageDeduplicationId": sqs_id(&format!("{}:redrive:{}", m.dedup_id, m.id)),
            "MessageAttributes": { REDRIVEN_ATTRIBUTE: string_attribute("1") },
        });
        if let Some(k) = &key {
            input["MessageAttributes"][PAYLOAD_ATTRIBUTE] = string_attribute(k);
        }
        let what = format!("redrive to {queue}");
        let _: Value = self.client.call("SendMessage", &what, input).await?;
        Ok(())
    }
}
