//! Queue URLs: a port queue's SQS name, its URL looked up once and kept, and the held
//! queues and outboxes created on the first send.

use super::answers::QueueUrl;
use super::ids::short_hash;
use super::{RETENTION_SECONDS, SqsQueue};
use crate::error::AwsError;
use serde_json::json;

impl SqsQueue {
    /// The SQS name of a port queue. SQS allows letters, digits, `-` and `_`, 80 characters
    /// with the `.fifo` suffix.
    pub fn sqs_name(&self, queue: &str) -> String {
        let clean: String = format!("{}{queue}", self.prefix)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let clean = if clean.len() > 75 {
            // Long connection ids keep a readable start and a hash of the whole name.
            format!("{}-{}", &clean[..58], &short_hash(&clean)[..16])
        } else {
            clean
        };
        format!("{clean}.fifo")
    }

    /// Held queues and outboxes exist only while there is something in them.
    pub(super) fn created_on_demand(queue: &str) -> bool {
        queue.starts_with("held-") || queue.starts_with("outbox-")
    }

    pub(super) async fn url(&self, queue: &str, create: bool) -> Result<Option<String>, AwsError> {
        if let Ok(urls) = self.urls.lock()
            && let Some(u) = urls.get(queue)
        {
            return Ok(Some(u.clone()));
        }
        let name = self.sqs_name(queue);
        let what = format!("queue url of {name}");
        let found = self
            .client
            .call::<QueueUrl>("GetQueueUrl", &what, json!({ "QueueName": name }))
            .await;
        let url = match found {
            Ok(out) => out.url,
            Err(e) if e.is_missing_queue() => {
                if !(create && Self::created_on_demand(queue)) {
                    return Ok(None);
                }
                let input = json!({
                    "QueueName": name,
                    "Attributes": {
                        "FifoQueue": "true",
                        "MessageRetentionPeriod": RETENTION_SECONDS,
                    },
                });
                let what = format!("create queue {name}");
                let created: QueueUrl = self.client.call("CreateQueue", &what, input).await?;
                tracing::info!(queue = %name, "queue created");
                created.url
            }
            Err(e) => return Err(e),
        };
        if let (Some(u), Ok(mut urls)) = (&url, self.urls.lock()) {
            urls.insert(queue.to_string(), u.clone());
        }
        Ok(url)
    }

    /// A held queue or outbox can be deleted (drained) by another instance while this one
    /// has its URL: forget the URL, and let the caller retry, which creates it again or,
    /// now that the connection is active, sends elsewhere.
    pub(super) fn missing_queue(&self, queue: &str, e: AwsError) -> AwsError {
        if !(e.is_missing_queue() && Self::created_on_demand(queue)) {
            return e;
        }
        self.forget_url(queue);
        AwsError::Unavailable {
            what: format!("queue {}", self.sqs_name(queue)),
            detail: "deleted since its URL was looked up".into(),
        }
    }

    pub(super) fn forget_url(&self, queue: &str) {
        if let Ok(mut urls) = self.urls.lock() {
            urls.remove(queue);
        }
    }

    pub(super) async fn existing_url(&self, queue: &str) -> Result<String, AwsError> {
        self.url(queue, true)
            .await?
            .ok_or_else(|| AwsError::Rejected {
                what: format!("queue {}", self.sqs_name(queue)),
                code: "QueueDoesNotExist".into(),
                detail: "the SAM template creates it; is the stack deployed?".into(),
            })
    }
}
