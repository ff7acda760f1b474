//! A tracker measured for the benchmarks: each operation that reaches the tracker takes a
//! configurable latency more, as a tracker across the internet does, and is counted by
//! name, so a bench can name each API call a change costs and set it against the
//! vendor's minimum.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{ChangeSignal, ItemPage, PortResult, SyncMark, Tracker, WebhookError};

/// API calls by operation (the `Tracker` method's name) and tracker instance, as
/// "get_item on sandbox-a", shared by every tracker a bench wraps so one count covers
/// both nodes.
#[derive(Debug, Default)]
pub struct CallCounts {
    calls: Mutex<BTreeMap<String, u64>>,
    waits: Mutex<Waits>,
}

/// The time at least one call was in flight: calls made side by side are waited for once.
#[derive(Debug, Default)]
struct Waits {
    in_flight: usize,
    since: Option<std::time::Instant>,
    total: Duration,
}

impl CallCounts {
    fn begin(&self) {
        if let Ok(mut w) = self.waits.lock() {
            if w.in_flight == 0 {
                w.since = Some(std::time::Instant::now());
            }
            w.in_flight += 1;
        }
    }

    fn end(&self) {
        if let Ok(mut w) = self.waits.lock() {
            w.in_flight = w.in_flight.saturating_sub(1);
            if w.in_flight == 0
                && let Some(since) = w.since.take()
            {
                w.total += since.elapsed();
            }
        }
    }

    /// How long callers waited for the trackers so far, calls in flight together counted
    /// once.
    pub fn waited(&self) -> Duration {
        self.waits.lock().map(|w| w.total).unwrap_or_default()
    }

    fn add(&self, operation: &str, instance: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls
                .entry(format!("{operation} on {instance}"))
                .or_default() += 1;
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The calls made since `before` (an earlier snapshot), by operation.
    pub fn since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        self.snapshot()
            .into_iter()
            .map(|(op, n)| {
                let was = before.get(&op).copied().unwrap_or(0);
                (op, n - was)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// `inner` with `latency` before each API call, every call counted in `counts`.
pub struct MeteredTracker {
    inner: Arc<dyn Tracker>,
    latency: Duration,
    counts: Arc<CallCounts>,
}

impl MeteredTracker {
    pub fn wrap(
        inner: Arc<dyn Tracker>,
        latency: Duration,
        counts: Arc<CallCounts>,
    ) -> Arc<dyn Tracker> {
        Arc::new(Self {
            inner,
            latency,
            counts,
        })
    }

    /// Runs `operation` and, when it reached the tracker (a `show_sync` with nothing new
    /// is answered from memory), counts it as one API call that took the tracker's
    /// latency. Every sandbox operation is one request. Whether this call reached it is
    /// noted per call (`requests::reached`): the connector's request count also moves
    /// with the calls running beside it (an edit's read while the ack of the change
    /// before shows its status from memory).
    async fn metered<T>(&self, operation: &'static str, call: impl Future<Output = T>) -> T {
        self.counts.begin();
        let (answer, reached) = twinsync_ports::requests::reached(call).await;
        if reached {
            self.counts.add(operation, self.inner.instance());
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
        }
        self.counts.end();
        answer
    }
}

#[async_trait]
impl Tracker for MeteredTracker {
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
    fn create_refused_whole(&self, error: &twinsync_ports::PortError) -> bool {
        self.inner.create_refused_whole(error)
    }
    fn throttled_ms(&self) -> u64 {
        self.inner.throttled_ms()
    }
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        self.metered("has_project", self.inner.has_project(project))
            .await
    }
    async fn check_setup(&self) -> PortResult<()> {
        self.metered("check_setup", self.inner.check_setup()).await
    }
    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.metered("get_item", self.inner.get_item(key)).await
    }
    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        self.metered("create_item", self.inner.create_item(project, item, origin))
            .await
    }
    async fn create_item_shown(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        mark: &SyncMark,
    ) -> PortResult<Item> {
        // One call to the tracker: it counts as the create it is.
        let create = self.inner.create_item_shown(project, item, origin, mark);
        self.metered("create_item", create).await
    }
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        self.metered("update_item", self.inner.update_item(key, update))
            .await
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
        // The same request as an update, with a precondition: it counts as one.
        let update = self.inner.update_item_if(key, version, update);
        self.metered("update_item", update).await
    }
    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.metered(
            "add_comment",
            self.inner.add_comment(key, body, author, origin),
        )
        .await
    }
    async fn add_comment_if(
        &self,
        key: &str,
        version: u64,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<twinsync_ports::CommentAdded> {
        // The same request as an add, with a precondition: it counts as one.
        let add = self
            .inner
            .add_comment_if(key, version, body, author, origin);
        self.metered("add_comment", add).await
    }
    async fn add_attachment_if(
        &self,
        key: &str,
        version: u64,
        attachment: &Attachment,
    ) -> PortResult<twinsync_ports::AttachmentAdded> {
        // The same request as an add, with a precondition: it counts as one.
        let add = self.inner.add_attachment_if(key, version, attachment);
        self.metered("add_attachment", add).await
    }
    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.metered(
            "update_comment",
            self.inner.update_comment(key, comment_id, body),
        )
        .await
    }
    async fn add_internal_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.metered(
            "add_internal_comment",
            self.inner.add_internal_comment(key, body, author, origin),
        )
        .await
    }
    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.metered("add_attachment", self.inner.add_attachment(key, attachment))
            .await
    }
    async fn delete_item(&self, key: &str) -> PortResult<()> {
        self.metered("delete_item", self.inner.delete_item(key))
            .await
    }
    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        self.metered("delete_comment", self.inner.delete_comment(key, comment_id))
            .await
    }
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        self.metered("find_by_origin", self.inner.find_by_origin(project, origin))
            .await
    }
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.metered(
            "search_updated",
            self.inner.search_updated(query, since_ms, page),
        )
        .await
    }
    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        self.metered("register_webhook", self.inner.register_webhook(url))
            .await
    }
    async fn refresh_webhook(&self, url: &str, now_ms: i64) -> PortResult<Option<i64>> {
        self.metered("refresh_webhook", self.inner.refresh_webhook(url, now_ms))
            .await
    }
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        self.metered("show_sync", self.inner.show_sync(key, mark))
            .await
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
}
