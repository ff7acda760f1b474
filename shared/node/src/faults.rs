//! Fault injection for the end-to-end tests and for trying a deployment's resilience:
//! a queue that delivers every message twice.

use async_trait::async_trait;
use std::sync::Arc;
use twinsync_ports::{
    NewMessage, PortResult, Queue, QueueDepth, QueueMessage, SendOutcome, queues,
};

/// Sends every message of the handler queues twice, under two dedup ids, so each
/// handler sees each message twice, as SQS's at-least-once delivery allows.
pub struct DuplicatingQueue {
    inner: Arc<dyn Queue>,
}

impl DuplicatingQueue {
    pub fn wrap(inner: Arc<dyn Queue>) -> Arc<dyn Queue> {
        Arc::new(Self { inner })
    }
}

fn duplicated(queue: &str) -> bool {
    queues::HANDLED.contains(&queue)
}

fn twin_of(m: &NewMessage) -> NewMessage {
    NewMessage {
        dedup_id: format!("{}:again", m.dedup_id),
        ..m.clone()
    }
}

#[async_trait]
impl Queue for DuplicatingQueue {
    async fn send(&self, queue: &str, message: NewMessage) -> PortResult<SendOutcome> {
        if !duplicated(queue) {
            return self.inner.send(queue, message).await;
        }
        let again = twin_of(&message);
        let first = self.inner.send(queue, message).await?;
        self.inner.send(queue, again).await?;
        Ok(first)
    }
    async fn send_batch(&self, queue: &str, messages: Vec<NewMessage>) -> PortResult<()> {
        if !duplicated(queue) {
            return self.inner.send_batch(queue, messages).await;
        }
        let doubled = messages
            .iter()
            .flat_map(|m| [m.clone(), twin_of(m)])
            .collect();
        self.inner.send_batch(queue, doubled).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>> {
        self.inner.receive(queue, max, visibility_ms).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.inner.delete(queue, receipt).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility_ms: i64,
    ) -> PortResult<()> {
        self.inner
            .change_visibility(queue, receipt, visibility_ms)
            .await
    }
    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        self.inner.depth(queue).await
    }
    async fn purge_group(&self, queue: &str, group_id: &str) -> PortResult<u64> {
        self.inner.purge_group(queue, group_id).await
    }
    async fn queue_names(&self) -> PortResult<Vec<String>> {
        self.inner.queue_names().await
    }
}
