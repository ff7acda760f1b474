//! Fault injection for the end-to-end tests and for trying a deployment's resilience:
//! a queue that delivers every message twice, a queue whose receives panic, and a tracker
//! that is slow, down (an outage switched on and off), panics on one item, holds its
//! "synced" status writes at a gate, or where a person edits an item while sync is
//! writing it.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, Decorated, ItemPage, NewMessage, PortError, PortResult, Queue, QueueHooks,
    QueueMessage, SendOutcome, SyncMark, SyncState, Tracker, WebhookError, queues,
};

/// Sends every message of the handler queues twice, under two dedup ids, so each
/// handler sees each message twice, as SQS's at-least-once delivery allows.
pub struct DuplicatingQueue;

impl DuplicatingQueue {
    pub fn wrap(inner: Arc<dyn Queue>) -> Arc<dyn Queue> {
        Arc::new(Decorated::new(inner, DuplicatingQueue))
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
impl QueueHooks for DuplicatingQueue {
    async fn send(
        &self,
        inner: &dyn Queue,
        queue: &str,
        message: NewMessage,
    ) -> PortResult<SendOutcome> {
        if !duplicated(queue) {
            return inner.send(queue, message).await;
        }
        let again = twin_of(&message);
        let first = inner.send(queue, message).await?;
        inner.send(queue, again).await?;
        Ok(first)
    }

    async fn send_batch(
        &self,
        inner: &dyn Queue,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> PortResult<()> {
        if !duplicated(queue) {
            return inner.send_batch(queue, messages).await;
        }
        let doubled = messages
            .iter()
            .flat_map(|m| [m.clone(), twin_of(m)])
            .collect();
        inner.send_batch(queue, doubled).await
    }
}

/// A queue whose first `times` receives of `queue` panic, as a bug in an adapter would:
/// the panic ends the runner's worker outside any message's handling.
pub struct PanickingQueue {
    queue: String,
    left: AtomicU32,
}

impl PanickingQueue {
    pub fn wrap(inner: Arc<dyn Queue>, queue: &str, times: u32) -> Arc<Decorated<Self>> {
        Arc::new(Decorated::new(
            inner,
            Self {
                queue: queue.to_string(),
                left: AtomicU32::new(times),
            },
        ))
    }

    /// How many of its panics are still to come.
    pub fn left(&self) -> u32 {
        self.left.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl QueueHooks for PanickingQueue {
    async fn receive(
        &self,
        inner: &dyn Queue,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>> {
        let take = |n: u32| n.checked_sub(1);
        if queue == self.queue
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take)
                .is_ok()
        {
            panic!("injected panic receiving from {queue}");
        }
        inner.receive(queue, max, visibility_ms).await
    }
}

/// A tracker outage that a test switches on and off, shared by the trackers it wraps
/// ([`FaultyTracker::down_during`]): while it lasts every API call fails as unreachable.
#[derive(Default)]
pub struct Outage {
    down: AtomicBool,
    /// Calls refused, by item key (searches under "").
    refused: Mutex<HashMap<String, u64>>,
}

impl Outage {
    pub fn new() -> Arc<Outage> {
        Arc::new(Outage::default())
    }

    pub fn begin(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    pub fn end(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// How many calls were refused so far, about any item.
    pub fn refused_in_all(&self) -> u64 {
        self.refused.lock().map(|r| r.values().sum()).unwrap_or(0)
    }

    /// How many calls about `key` were refused so far.
    pub fn refused(&self, key: &str) -> u64 {
        self.refused
            .lock()
            .map(|r| r.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Fails the call about `key` while the outage lasts.
    fn check(&self, key: &str) -> PortResult<()> {
        if !self.down.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Ok(mut refused) = self.refused.lock() {
            *refused.entry(key.to_string()).or_default() += 1;
        }
        Err(PortError::Unavailable(
            "connection refused (an injected tracker outage)".into(),
        ))
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
    outage: Option<Arc<Outage>>,
    /// Reading this item panics, as a bug in a connector would.
    panics_on: Option<String>,
    /// Writes of a "synced" status wait here, as one waiting out a rate limit does.
    shows_held: Option<Arc<ShowGate>>,
}

/// Where a tracker holds its "synced" status writes until the test lets one through.
#[derive(Debug)]
pub struct ShowGate {
    reached: tokio::sync::Notify,
    passes: tokio::sync::Semaphore,
}

impl Default for ShowGate {
    fn default() -> Self {
        Self {
            reached: tokio::sync::Notify::new(),
            passes: tokio::sync::Semaphore::new(0),
        }
    }
}

impl ShowGate {
    /// Returns once a status write waits at the gate.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets one waiting status write through.
    pub fn let_one_through(&self) {
        self.passes.add_permits(1);
    }

    async fn wait(&self) {
        self.reached.notify_one();
        if let Ok(pass) = self.passes.acquire().await {
            pass.forget();
        }
    }
}

impl FaultyTracker {
    /// The tracker without a fault yet.
    fn over(inner: Arc<dyn Tracker>) -> Self {
        Self {
            inner,
            delay: std::time::Duration::ZERO,
            edit_status: None,
            edited: std::sync::Mutex::new(std::collections::HashSet::new()),
            answer_delay: std::time::Duration::ZERO,
            outage: None,
            panics_on: None,
            shows_held: None,
        }
    }

    /// A create lands at once but its answer comes `delay` later, so the tracker's
    /// webhook for the new item reaches the node before sync knows the item's key.
    pub fn slow_to_answer_creates(
        inner: Arc<dyn Tracker>,
        delay: std::time::Duration,
    ) -> Arc<dyn Tracker> {
        Arc::new(Self {
            answer_delay: delay,
            ..Self::over(inner)
        })
    }

    pub fn slow(inner: Arc<dyn Tracker>, delay: std::time::Duration) -> Arc<dyn Tracker> {
        Arc::new(Self {
            delay,
            ..Self::over(inner)
        })
    }

    pub fn editing(inner: Arc<dyn Tracker>, status: &str) -> Arc<dyn Tracker> {
        Arc::new(Self {
            edit_status: Some(status.to_string()),
            ..Self::over(inner)
        })
    }

    /// Unreachable while `outage` lasts.
    pub fn down_during(inner: Arc<dyn Tracker>, outage: Arc<Outage>) -> Arc<dyn Tracker> {
        Arc::new(Self {
            outage: Some(outage),
            ..Self::over(inner)
        })
    }

    /// Panics when item `key` is read.
    pub fn panicking_on(inner: Arc<dyn Tracker>, key: &str) -> Arc<dyn Tracker> {
        Arc::new(Self {
            panics_on: Some(key.to_string()),
            ..Self::over(inner)
        })
    }

    /// Holds each write of a "synced" status at `gate` until the test lets it through.
    pub fn holding_synced_marks(inner: Arc<dyn Tracker>, gate: Arc<ShowGate>) -> Arc<dyn Tracker> {
        Arc::new(Self {
            shows_held: Some(gate),
            ..Self::over(inner)
        })
    }

    /// Fails a call about `key` while an outage lasts.
    fn reachable(&self, key: &str) -> PortResult<()> {
        self.outage.as_ref().map_or(Ok(()), |o| o.check(key))
    }

    /// The server takes its time before a write lands, as a busy tracker does.
    /// What happens before an update reaches the tracker: the pause, and the person's
    /// edit that lands after sync read the item (once per item, on a summary update).
    async fn before_update(&self, key: &str, update: &ItemUpdate) -> PortResult<()> {
        self.reachable(key)?;
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
        Ok(())
    }

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
    fn write_answer(&self) -> twinsync_ports::WriteAnswer {
        self.inner.write_answer()
    }
    fn create_refused_whole(&self, error: &PortError) -> bool {
        self.inner.create_refused_whole(error)
    }
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        self.inner.has_project(project).await
    }
    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.reachable(key)?;
        if self.panics_on.as_deref() == Some(key) {
            panic!("injected panic reading {key}");
        }
        self.inner.get_item(key).await
    }
    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        self.reachable(&item.key)?;
        self.pause().await;
        let created = self.inner.create_item(project, item, origin).await?;
        if !self.answer_delay.is_zero() {
            tokio::time::sleep(self.answer_delay).await;
        }
        Ok(created)
    }
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        self.before_update(key, update).await?;
        self.inner.update_item(key, update).await
    }
    fn preconditions(&self) -> twinsync_ports::Preconditions {
        self.inner.preconditions()
    }
    async fn update_item_if(
        &self,
        key: &str,
        version: u64,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        self.before_update(key, update).await?;
        self.inner.update_item_if(key, version, update).await
    }
    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.reachable(key)?;
        self.pause().await;
        self.inner.add_comment(key, body, author, origin).await
    }
    async fn add_comment_if(
        &self,
        key: &str,
        version: u64,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<twinsync_ports::CommentAdded> {
        self.reachable(key)?;
        self.pause().await;
        self.inner
            .add_comment_if(key, version, body, author, origin)
            .await
    }
    async fn add_attachment_if(
        &self,
        key: &str,
        version: u64,
        attachment: &Attachment,
    ) -> PortResult<twinsync_ports::AttachmentAdded> {
        self.reachable(key)?;
        self.inner.add_attachment_if(key, version, attachment).await
    }
    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.reachable(key)?;
        self.inner.update_comment(key, comment_id, body).await
    }
    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.reachable(key)?;
        self.inner.add_attachment(key, attachment).await
    }
    async fn delete_item(&self, key: &str) -> PortResult<()> {
        self.reachable(key)?;
        self.inner.delete_item(key).await
    }
    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        self.reachable(key)?;
        self.inner.delete_comment(key, comment_id).await
    }
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        self.reachable(origin)?;
        self.inner.find_by_origin(project, origin).await
    }
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.reachable("")?;
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
    fn webhook_answer(&self) -> Option<(&'static str, &'static str)> {
        self.inner.webhook_answer()
    }
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        self.reachable(key)?;
        if let Some(gate) = &self.shows_held
            && mark.state == SyncState::Synced
        {
            gate.wait().await;
        }
        self.inner.show_sync(key, mark).await
    }
}
