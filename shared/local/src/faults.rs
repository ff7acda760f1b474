//! Fault injection for the end-to-end tests and for trying a deployment's resilience:
//! a queue that delivers every message twice, and a tracker that is slow or where a
//! person edits an item while sync is writing it.

use async_trait::async_trait;
use std::sync::Arc;
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, NewMessage, PortResult, Queue, QueueDepth, QueueMessage, SendOutcome,
    Tracker, Wait, WebhookError, queues,
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
    fn activity(&self, queue: &str) -> u64 {
        self.inner.activity(queue)
    }
    async fn wait_for_work(&self, queue: &str, seen: u64, max_ms: u64) -> Wait {
        self.inner.wait_for_work(queue, seen, max_ms).await
    }
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
    async fn remove_if_empty(&self, queue: &str) -> PortResult<bool> {
        self.inner.remove_if_empty(queue).await
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

/// A tracker with a fault: writes that take `delay` (longer than a visibility timeout, it
/// shows whether a message can reach a second worker while the first one is still
/// writing), or a person who changes the status of an item between sync's read and sync's
/// first write of its summary (the race that loses an update when sync takes the read-back
/// for what the other side has).
pub struct FaultyTracker {
    inner: Arc<dyn Tracker>,
    delay: std::time::Duration,
    edit_status: Option<String>,
    edited: std::sync::Mutex<std::collections::HashSet<String>>,
    answer_delay: std::time::Duration,
}

impl FaultyTracker {
    fn wrap(
        inner: Arc<dyn Tracker>,
        delay: std::time::Duration,
        edit_status: Option<String>,
    ) -> Arc<dyn Tracker> {
        Arc::new(Self {
            inner,
            delay,
            edit_status,
            edited: std::sync::Mutex::new(std::collections::HashSet::new()),
            answer_delay: std::time::Duration::ZERO,
        })
    }

    /// A create lands at once but its answer comes `delay` later, so the tracker's
    /// webhook for the new item reaches the node before sync knows the item's key.
    pub fn slow_to_answer_creates(
        inner: Arc<dyn Tracker>,
        delay: std::time::Duration,
    ) -> Arc<dyn Tracker> {
        Arc::new(Self {
            inner,
            delay: std::time::Duration::ZERO,
            edit_status: None,
            edited: std::sync::Mutex::new(std::collections::HashSet::new()),
            answer_delay: delay,
        })
    }

    pub fn slow(inner: Arc<dyn Tracker>, delay: std::time::Duration) -> Arc<dyn Tracker> {
        Self::wrap(inner, delay, None)
    }

    pub fn editing(inner: Arc<dyn Tracker>, status: &str) -> Arc<dyn Tracker> {
        Self::wrap(inner, std::time::Duration::ZERO, Some(status.to_string()))
    }

    /// The server takes its time before a write lands, as a busy tracker does.
    async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[async_trait]
impl Tracker for FaultyTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        self.inner.kind()
    }
    fn instance(&self) -> &str {
        self.inner.instance()
    }
    fn url(&self) -> &str {
        self.inner.url()
    }
    fn calls(&self) -> u64 {
        self.inner.calls()
    }
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        self.inner.has_project(project).await
    }
    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.inner.get_item(key).await
    }
    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        self.pause().await;
        let created = self.inner.create_item(project, item, origin).await?;
        if !self.answer_delay.is_zero() {
            tokio::time::sleep(self.answer_delay).await;
        }
        Ok(created)
    }
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        self.pause().await;
        if let Some(status) = &self.edit_status
            && update.summary.is_some()
            && self
                .edited
                .lock()
                .map(|mut e| e.insert(key.to_string()))
                .unwrap_or(false)
        {
            let edit = ItemUpdate {
                status: Some(status.clone()),
                ..ItemUpdate::default()
            };
            self.inner.update_item(key, &edit).await?;
        }
        self.inner.update_item(key, update).await
    }
    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.pause().await;
        self.inner.add_comment(key, body, author, origin).await
    }
    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.inner.update_comment(key, comment_id, body).await
    }
    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.inner.add_attachment(key, attachment).await
    }
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        self.inner.find_by_origin(project, origin).await
    }
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.inner.search_updated(query, since_ms, page).await
    }
    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        self.inner.verify_webhook(headers, body, now_ms)
    }
}
