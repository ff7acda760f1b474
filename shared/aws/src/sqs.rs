//! The `Queue` port on SQS FIFO queues.
//!
//! A port queue `name` is the SQS queue `{prefix}{name}.fifo`. The handled queues and their
//! dead-letter queues come from the SAM template; a paused connection's held queue and a
//! private connection's outbox are created on the first send. Bodies over SQS's 256 KiB
//! limit are stored in S3 and the message carries the object's key (see `PayloadStore`).

use crate::error::AwsError;
use crate::json::JsonClient;
use crate::payload::PayloadStore;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

mod answers;
mod bodies;
mod ids;
mod redrive;
mod urls;

use answers::{Attributes, BatchSent, Listed, Received};

pub use ids::sqs_id;
use ids::{string_attribute, visibility_seconds};
pub use redrive::REDRIVEN_ATTRIBUTE;
use twinsync_ports::{
    NewMessage, PortError, PortResult, Queue, QueueDepth, QueueMessage, RedriveFilter, SendOutcome,
    WaitingMessage,
};

/// The message attribute that marks a body stored in S3; its value is the object key.
pub const PAYLOAD_ATTRIBUTE: &str = "twinsync-payload";

/// SQS's limit for a message (body and attributes) is 262,144 bytes; what is larger goes
/// to S3. The margin leaves room for the attributes.
pub const MAX_INLINE_BODY: usize = 250_000;

/// Held queues keep a paused connection's changes for SQS's longest retention.
const RETENTION_SECONDS: &str = "1209600";

pub struct SqsQueue {
    client: JsonClient,
    prefix: String,
    payloads: Option<PayloadStore>,
    urls: Mutex<HashMap<String, String>>,
    receive_wait_seconds: i32,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SqsQueue {
    pub fn new(
        client: JsonClient,
        prefix: impl Into<String>,
        payloads: Option<PayloadStore>,
    ) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            payloads,
            urls: Mutex::new(HashMap::new()),
            // A short long-poll asks every SQS server, so an empty answer means empty.
            receive_wait_seconds: 1,
        }
    }

    /// How long an empty receive waits for a message (0 to 20 s). The emulator answers
    /// from one place, so its tests need not wait.
    pub fn with_receive_wait(mut self, seconds: i32) -> Self {
        self.receive_wait_seconds = seconds.clamp(0, 20);
        self
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: &str, message: NewMessage) -> PortResult<SendOutcome> {
        let url = self.existing_url(queue).await?;
        let (body, key) = self.outgoing_body(queue, message.body).await?;
        let mut input = json!({
            "QueueUrl": url,
            "MessageBody": body,
            "MessageGroupId": sqs_id(&message.group_id),
            "MessageDeduplicationId": sqs_id(&message.dedup_id),
        });
        if let Some(k) = &key {
            input["MessageAttributes"] = json!({ PAYLOAD_ATTRIBUTE: string_attribute(k) });
        }
        let what = format!("send to {queue}");
        self.client
            .call::<Value>("SendMessage", &what, input)
            .await
            .map_err(|e| self.missing_queue(queue, e))?;
        // SQS answers a duplicate like a new message; the dedup id keeps it from being
        // delivered twice all the same.
        Ok(SendOutcome::Enqueued)
    }

    async fn send_batch(&self, queue: &str, messages: Vec<NewMessage>) -> PortResult<()> {
        let url = self.existing_url(queue).await?;
        let mut entries: Vec<Value> = Vec::new();
        let mut size = 0;
        for (i, m) in messages.into_iter().enumerate() {
            let (body, key) = self.outgoing_body(queue, m.body).await?;
            // A batch carries at most 10 messages and 256 KiB in all.
            if entries.len() == 10 || (size + body.len() > MAX_INLINE_BODY && !entries.is_empty()) {
                self.flush(queue, &url, std::mem::take(&mut entries))
                    .await?;
                size = 0;
            }
            size += body.len();
            let mut entry = json!({
                "Id": format!("m{i}"),
                "MessageBody": body,
                "MessageGroupId": sqs_id(&m.group_id),
                "MessageDeduplicationId": sqs_id(&m.dedup_id),
            });
            if let Some(k) = &key {
                entry["MessageAttributes"] = json!({ PAYLOAD_ATTRIBUTE: string_attribute(k) });
            }
            entries.push(entry);
        }
        if !entries.is_empty() {
            self.flush(queue, &url, entries).await?;
        }
        Ok(())
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>> {
        let Some(url) = self.url(queue, false).await? else {
            // A held queue or outbox nobody sent to yet is empty.
            return Ok(Vec::new());
        };
        let input = json!({
            "QueueUrl": url,
            "MaxNumberOfMessages": max.clamp(1, 10),
            "VisibilityTimeout": visibility_seconds(visibility_ms),
            "WaitTimeSeconds": self.receive_wait_seconds,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        });
        let what = format!("receive from {queue}");
        let out: Received = self.client.call("ReceiveMessage", &what, input).await?;
        let mut messages = Vec::new();
        for m in out.messages {
            let attr = |name: &str| m.attributes.get(name).cloned().unwrap_or_default();
            let key = m
                .message_attributes
                .get(PAYLOAD_ATTRIBUTE)
                .and_then(|v| v.string_value.as_deref());
            let sent_ms = attr("SentTimestamp").parse().unwrap_or(0);
            messages.push(QueueMessage {
                id: m.message_id.clone(),
                receipt: m.receipt_handle.clone(),
                group_id: attr("MessageGroupId"),
                dedup_id: attr("MessageDeduplicationId"),
                body: self.resolve_body(&m.body, key).await?,
                receive_count: attr("ApproximateReceiveCount").parse().unwrap_or(1),
                sent_ms,
                first_receive_ms: attr("ApproximateFirstReceiveTimestamp")
                    .parse()
                    .unwrap_or(sent_ms),
                redriven: m.message_attributes.contains_key(REDRIVEN_ATTRIBUTE),
            });
        }
        Ok(messages)
    }

    async fn delete(&self, queue: &str, receipt: &str) -> PortResult<()> {
        let url = self.existing_url(queue).await?;
        let input = json!({ "QueueUrl": url, "ReceiptHandle": receipt });
        let what = format!("delete from {queue}");
        let _: Value = self.client.call("DeleteMessage", &what, input).await?;
        Ok(())
    }

    async fn delete_batch(&self, queue: &str, receipts: &[String]) -> Vec<PortResult<()>> {
        let mut results = Vec::with_capacity(receipts.len());
        for chunk in receipts.chunks(10) {
            results.extend(self.delete_ten(queue, chunk).await);
        }
        results
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility_ms: i64,
    ) -> PortResult<()> {
        let url = self.existing_url(queue).await?;
        let input = json!({
            "QueueUrl": url,
            "ReceiptHandle": receipt,
            "VisibilityTimeout": visibility_seconds(visibility_ms),
        });
        let what = format!("change visibility in {queue}");
        let _: Value = self
            .client
            .call("ChangeMessageVisibility", &what, input)
            .await?;
        Ok(())
    }

    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        let Some(url) = self.url(queue, false).await? else {
            return Ok(QueueDepth::default());
        };
        let input = json!({
            "QueueUrl": url,
            "AttributeNames": [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        });
        let what = format!("depth of {queue}");
        let out = self
            .client
            .call::<Attributes>("GetQueueAttributes", &what, input)
            .await;
        // A held queue or outbox that was drained and deleted since its URL was cached
        // holds nothing: its depth is 0 for every caller, not an error.
        let out = match out {
            Ok(out) => out,
            Err(e) if e.is_missing_queue() && Self::created_on_demand(queue) => {
                self.forget_url(queue);
                return Ok(QueueDepth::default());
            }
            Err(e) => return Err(e.into()),
        };
        let get = |name: &str| {
            out.attributes
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: get("ApproximateNumberOfMessages"),
            in_flight: get("ApproximateNumberOfMessagesNotVisible"),
            delayed: get("ApproximateNumberOfMessagesDelayed"),
        })
    }

    /// SQS cannot drop one group's messages: they are received, deleted when they belong to
    /// the group and made visible again at once when not. A group whose messages are in
    /// flight elsewhere is out of reach until they come back.
    async fn remove_if_empty(&self, queue: &str) -> PortResult<bool> {
        if !Self::created_on_demand(queue) {
            return Ok(false);
        }
        let Some(url) = self.url(queue, false).await? else {
            return Ok(false);
        };
        if self.depth(queue).await?.total() > 0 {
            return Ok(false);
        }
        let what = format!("delete queue {queue}");
        let _: Value = self
            .client
            .call("DeleteQueue", &what, json!({ "QueueUrl": url }))
            .await?;
        self.forget_url(queue);
        tracing::info!(queue = %self.sqs_name(queue), "drained queue deleted");
        Ok(true)
    }

    async fn purge_group(&self, queue: &str, group_id: &str) -> PortResult<u64> {
        let group = sqs_id(group_id);
        let mut dropped = 0;
        let mut others = Vec::new();
        // Every message waiting now is looked at once (a message looked at stays
        // invisible until the end); the bound keeps a busy queue from being scanned
        // forever while new messages keep coming.
        let budget = self.depth(queue).await?.total() + 100;
        let mut seen = 0;
        while seen < budget {
            let batch = self.receive(queue, 10, 60_000).await?;
            if batch.is_empty() {
                break;
            }
            seen += batch.len() as u64;
            for m in batch {
                if m.group_id == group {
                    self.delete(queue, &m.receipt).await?;
                    dropped += 1;
                } else {
                    others.push(m.receipt);
                }
            }
        }
        for receipt in others {
            self.change_visibility(queue, &receipt, 0).await?;
        }
        Ok(dropped)
    }

    async fn redrive(&self, queue: &str, select: &RedriveFilter) -> PortResult<u64> {
        self.redrive_picked(queue, select).await
    }

    async fn peek(&self, queue: &str, limit: usize) -> PortResult<Vec<WaitingMessage>> {
        self.peek_held(queue, limit).await
    }

    async fn queue_names(&self) -> PortResult<Vec<String>> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut input = json!({ "QueueNamePrefix": self.prefix, "MaxResults": 1_000 });
            if let Some(token) = next.take() {
                input["NextToken"] = json!(token);
            }
            let out: Listed = self.client.call("ListQueues", "list queues", input).await?;
            for url in &out.queue_urls {
                let name = url.rsplit('/').next().unwrap_or_default();
                if let Some(n) = name
                    .strip_prefix(&self.prefix)
                    .and_then(|n| n.strip_suffix(".fifo"))
                {
                    names.push(n.to_string());
                }
            }
            match out.next_token {
                Some(t) => next = Some(t),
                None => break,
            }
        }
        names.sort();
        Ok(names)
    }
}

impl SqsQueue {
    /// Deletes up to ten messages in one `DeleteMessageBatch`; one result per receipt, an
    /// entry that failed (a stale receipt) failing alone.
    async fn delete_ten(&self, queue: &str, receipts: &[String]) -> Vec<PortResult<()>> {
        let what = format!("delete from {queue}");
        let answer = async {
            let url = self.existing_url(queue).await?;
            let entries: Vec<Value> = receipts
                .iter()
                .enumerate()
                .map(|(i, r)| json!({ "Id": format!("m{i}"), "ReceiptHandle": r }))
                .collect();
            let input = json!({ "QueueUrl": url, "Entries": entries });
            self.client
                .call::<BatchSent>("DeleteMessageBatch", &what, input)
                .await
        };
        match answer.await {
            Err(e) => {
                let e = PortError::from(e);
                receipts.iter().map(|_| Err(e.clone())).collect()
            }
            Ok(out) => (0..receipts.len())
                .map(
                    |i| match out.failed.iter().find(|f| f.id == format!("m{i}")) {
                        None => Ok(()),
                        Some(f) => Err(PortError::from(AwsError::from_code(
                            what.as_str(),
                            &f.code,
                            f.message.clone().unwrap_or_default(),
                        ))),
                    },
                )
                .collect(),
        }
    }

    /// Sends one batch. A batch that partly failed is an error for the whole: the caller
    /// sends it again, and the dedup ids drop what went through the first time.
    async fn flush(&self, queue: &str, url: &str, entries: Vec<Value>) -> Result<(), AwsError> {
        let what = format!("send batch to {queue}");
        let input = json!({ "QueueUrl": url, "Entries": entries });
        let out: BatchSent = self
            .client
            .call("SendMessageBatch", &what, input)
            .await
            .map_err(|e| self.missing_queue(queue, e))?;
        if let Some(f) = out.failed.first() {
            let what = format!(
                "send batch to {queue}: {} of {} failed",
                out.failed.len(),
                out.failed.len() + out.successful.len()
            );
            let detail = f.message.clone().unwrap_or_default();
            return Err(if f.sender_fault {
                AwsError::Rejected {
                    what,
                    code: f.code.clone(),
                    detail,
                }
            } else {
                AwsError::Unavailable { what, detail }
            });
        }
        Ok(())
    }
}
