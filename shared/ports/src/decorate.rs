//! A queue with something added to its sends or receives (batching them, counting them,
//! a fault for a test): [`QueueHooks`] says what is different, [`Decorated`] passes
//! everything else to the queue underneath. One place forwards the whole [`Queue`] trait,
//! so a decorator cannot forget a method (and fall back to a default that does not
//! forward).

use crate::{
    NewMessage, PortResult, Queue, QueueDepth, QueueMessage, RedriveFilter, SendOutcome, Wait,
    WaitingMessage,
};
use async_trait::async_trait;
use std::sync::Arc;

/// What a decorator does with sends and receives; by default, what `inner` does.
#[async_trait]
pub trait QueueHooks: Send + Sync {
    async fn send(
        &self,
        inner: &dyn Queue,
        queue: &str,
        message: NewMessage,
    ) -> PortResult<SendOutcome> {
        inner.send(queue, message).await
    }

    async fn send_batch(
        &self,
        inner: &dyn Queue,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> PortResult<()> {
        inner.send_batch(queue, messages).await
    }

    async fn receive(
        &self,
        inner: &dyn Queue,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>> {
        inner.receive(queue, max, visibility_ms).await
    }
}

/// `inner` with `hooks` on its sends and receives.
pub struct Decorated<H> {
    pub inner: Arc<dyn Queue>,
    pub hooks: H,
}

impl<H> Decorated<H> {
    pub fn new(inner: Arc<dyn Queue>, hooks: H) -> Self {
        Self { inner, hooks }
    }
}

#[async_trait]
impl<H: QueueHooks> Queue for Decorated<H> {
    async fn send(&self, queue: &str, message: NewMessage) -> PortResult<SendOutcome> {
        self.hooks.send(&*self.inner, queue, message).await
    }

    async fn send_batch(&self, queue: &str, messages: Vec<NewMessage>) -> PortResult<()> {
        self.hooks.send_batch(&*self.inner, queue, messages).await
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>> {
        self.hooks
            .receive(&*self.inner, queue, max, visibility_ms)
            .await
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

    async fn postpone(&self, queue: &str, receipt: &str, delay_ms: i64) -> PortResult<()> {
        self.inner.postpone(queue, receipt, delay_ms).await
    }

    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        self.inner.depth(queue).await
    }

    async fn purge_group(&self, queue: &str, group_id: &str) -> PortResult<u64> {
        self.inner.purge_group(queue, group_id).await
    }

    async fn remove_if_empty(&self, queue: &str) -> PortResult<bool> {
        self.inner.remove_if_empty(queue).await
    }

    async fn queue_names(&self) -> PortResult<Vec<String>> {
        self.inner.queue_names().await
    }

    async fn redrive(&self, queue: &str, select: &RedriveFilter) -> PortResult<u64> {
        self.inner.redrive(queue, select).await
    }

    async fn peek(&self, queue: &str, limit: usize) -> PortResult<Vec<WaitingMessage>> {
        self.inner.peek(queue, limit).await
    }

    fn activity(&self, queue: &str) -> u64 {
        self.inner.activity(queue)
    }

    async fn wait_for_work(&self, queue: &str, seen: u64, max_ms: u64) -> Wait {
        self.inner.wait_for_work(queue, seen, max_ms).await
    }
}
