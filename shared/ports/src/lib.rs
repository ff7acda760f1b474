//! Ports: the IO the handlers need, as small async traits.
//!
//! Every trait has one local implementation (SQLite, HTTP to the sandbox tracker, an
//! in-process peer) and, with the AWS work, one AWS implementation. Handlers see only these.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twinsync_core::{
    Attachment, Comment, Connection, Item, ItemUpdate, SyncEvent, TransportMessage, Twin, User,
};

/// The one error type of the ports. `is_retryable` tells a handler whether to try again
/// later (extend the message's visibility) or to record a permanent failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PortError {
    /// A conditional write lost a race; re-read and try again.
    #[error("conditional write failed: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The other end is down or timed out.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("rate limited; retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// The other end refused the request for good (bad input, permission, validation).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Local storage failed (disk, corruption, a bug in a query).
    #[error("storage error: {0}")]
    Storage(String),
}

/// What a deletion answered, as done: a thing already gone is deleted as asked (a retry
/// after a lost answer, or a person who deleted it first).
pub fn gone_is_done<T>(answer: PortResult<T>) -> PortResult<()> {
    match answer {
        Ok(_) | Err(PortError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a follow-up read of an item (its comments, after the item itself) answered: not
/// found means the item was deleted between the two reads, so it reads as gone (`None`),
/// as a first read would have said a moment later, not as a failure.
pub fn gone_is_none<T>(answer: PortResult<T>) -> PortResult<Option<T>> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(PortError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl PortError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PortError::Conflict(_)
                | PortError::Unavailable(_)
                | PortError::RateLimited { .. }
                | PortError::Storage(_)
        )
    }

    /// How long to wait before the next try, if the other end said so.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            PortError::RateLimited { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// The queues between the handlers.
pub mod decorate;
pub use decorate::{Decorated, QueueHooks};

pub mod queues {
    pub const OUTGOING: &str = "outgoing";
    pub const TRANSPORT: &str = "transport";
    /// Replicas and acks from the other node. Acks share this queue (and the FIFO group
    /// of their twin) with replicas so that an ack never overtakes a replica the other
    /// node sent before it: the merge base depends on that order.
    pub const INCOMING: &str = "incoming";
    /// Acks for the separate `ack` function on AWS: the incoming function forwards each
    /// ack here when it reaches it in its FIFO group, so an ack still never overtakes a
    /// replica sent before it. The local node handles acks in `incoming` directly.
    pub const ACK: &str = "ack";
    /// How long a held queue keeps a message: SQS's longest retention, 14 days.
    pub const HELD_RETENTION_MS: i64 = 14 * 24 * 3_600_000;

    /// The queues the runner consumes, in flow order.
    pub const HANDLED: [&str; 3] = [OUTGOING, TRANSPORT, INCOMING];

    /// The queue that keeps a paused connection's outgoing messages.
    pub fn held(connection_id: &str) -> String {
        format!("held-{connection_id}")
    }

    /// Messages waiting for the private node of a connection to pull them.
    pub fn outbox(connection_id: &str) -> String {
        format!("outbox-{connection_id}")
    }

    /// The dead-letter queue of a queue.
    pub fn dlq(queue: &str) -> String {
        format!("{queue}-dlq")
    }
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Messages of one group are delivered in order, one batch in flight at a time.
    pub group_id: String,
    /// A second message with the same id within the deduplication window is dropped.
    pub dedup_id: String,
    pub body: String,
}

/// A received message. `receipt` names this delivery for delete and change-visibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub id: String,
    pub receipt: String,
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
    /// 1 on the first delivery.
    pub receive_count: u32,
    pub sent_ms: i64,
    /// When the message was first received (this receive's time on the first), for the
    /// retry budget: a message failing for longer goes to the dead-letter queue. Locally a
    /// receive given back (`postpone`) does not count; SQS's
    /// `ApproximateFirstReceiveTimestamp` counts every receive.
    pub first_receive_ms: i64,
    /// An operator moved it back from the dead-letter queue (`Queue::redrive`):
    /// processing it clears the dead letter's mark on its twin.
    pub redriven: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendOutcome {
    Enqueued,
    /// Dropped by the deduplication window.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueDepth {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
    /// Waiting for their visibility timeout (retries with backoff).
    pub delayed: u64,
}

impl QueueDepth {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// A queue service with SQS FIFO semantics.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue: &str, message: NewMessage) -> PortResult<SendOutcome>;
    /// Sends in order; used to drain and to fan out.
    async fn send_batch(&self, queue: &str, messages: Vec<NewMessage>) -> PortResult<()>;
    /// Up to `max` messages; a group with a message in flight gives none.
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>>;
    async fn delete(&self, queue: &str, receipt: &str) -> PortResult<()>;
    /// Deletes the messages of a handled batch; one result per receipt, in order. A queue
    /// that can delete them together (SQLite: one transaction) does.
    async fn delete_batch(&self, queue: &str, receipts: &[String]) -> Vec<PortResult<()>> {
        let mut results = Vec::with_capacity(receipts.len());
        for receipt in receipts {
            results.push(self.delete(queue, receipt).await);
        }
        results
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility_ms: i64,
    ) -> PortResult<()>;
    /// Makes a received message visible again after `delay_ms` without counting the
    /// receive as a failed delivery: the handler was told to wait (a rate limit, a twin
    /// being written), which says nothing about the message. Queues that cannot give a
    /// receive back (SQS) change the visibility only; their redrive policy allows for it.
    async fn postpone(&self, queue: &str, receipt: &str, delay_ms: i64) -> PortResult<()> {
        self.change_visibility(queue, receipt, delay_ms).await
    }
    async fn depth(&self, queue: &str) -> PortResult<QueueDepth>;
    /// Drops every message of a group (Force Unlink clears pending transactions).
    async fn purge_group(&self, queue: &str, group_id: &str) -> PortResult<u64>;
    /// Deletes a queue that exists only while it holds something (a held queue, an
    /// outbox) when it is empty; true when it was deleted. Queues that are rows of one
    /// table (SQLite) have nothing to delete.
    async fn remove_if_empty(&self, _queue: &str) -> PortResult<bool> {
        Ok(false)
    }
    /// The queues that exist, for the monitor and for draining held queues.
    async fn queue_names(&self) -> PortResult<Vec<String>>;
    /// Moves the messages of `queue`'s dead-letter queue ([`queues::dlq`]) that `select`
    /// picks back to the end of `queue`, in their order and FIFO groups, marked
    /// `redriven`; returns how many. A message moved is not deduplicated against its
    /// first send, and moving it again after a crash does not duplicate it.
    async fn redrive(&self, queue: &str, select: &RedriveFilter) -> PortResult<u64>;
    /// Up to `limit` messages of `queue`, oldest first, for a listing: the dead letters
    /// the monitor shows. Nothing is received: no receive count moves, nothing is held.
    async fn peek(&self, queue: &str, limit: usize) -> PortResult<Vec<WaitingMessage>>;
    /// A counter that moves whenever a message of `queue` may have become receivable
    /// (sent, deleted, given back). A consumer reads it before `receive` and passes it to
    /// `wait_for_work`, so a send between the two is never slept through.
    fn activity(&self, _queue: &str) -> u64 {
        0
    }
    /// Waits at most `max_ms` until `queue` may have work: its activity moved past
    /// `seen`, or a delayed or in-flight message becomes visible. `Wait::Unsupported`
    /// from queues that cannot tell (SQS: Lambda polls it); the consumer then pauses on
    /// its own.
    async fn wait_for_work(&self, _queue: &str, _seen: u64, _max_ms: u64) -> Wait {
        Wait::Unsupported
    }
}

/// Which dead-lettered messages [`Queue::redrive`] moves back.
pub type RedriveFilter = dyn Fn(&QueueMessage) -> bool + Send + Sync;

/// How [`Queue::wait_for_work`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// There may be work now.
    Woken,
    /// `max_ms` passed with nothing new.
    TimedOut,
    /// This queue cannot wait for work.
    Unsupported,
}

/// One replica in a twin's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    pub twin_id: String,
    /// "out" for replicas this node sent, "in" for replicas it applied.
    pub direction: String,
    pub version: u64,
    pub replica: serde_json::Value,
    pub at_ms: i64,
}

/// A page of twins for listings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinQuery {
    pub connection_id: Option<String>,
    /// Only twins of these connections (a workspace token's); `None`: any connection.
    #[serde(default)]
    pub within: Option<Vec<String>>,
    /// "syncing", "synced", "error" or "unlinked".
    pub status: Option<String>,
    /// Matches local or remote key by prefix.
    pub key_prefix: Option<String>,
    /// Matches a key by prefix, or text in the summary or the error, in any case.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub order: TwinOrder,
    /// Keyset paging: only the twins after this one in `order`. Unlike `offset`, a page
    /// deep in 100,000 twins costs what the first one does.
    #[serde(default)]
    pub after: Option<TwinCursor>,
    pub limit: usize,
    pub offset: usize,
}

/// The order of a twin listing: by when each twin was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TwinOrder {
    #[default]
    Oldest,
    Newest,
}

/// Where a page of twins ended: the last twin's creation time and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinCursor {
    pub created_ms: i64,
    pub id: String,
}

impl TwinCursor {
    pub fn of(twin: &Twin) -> Self {
        Self {
            created_ms: twin.created_ms,
            id: twin.id.clone(),
        }
    }

    /// The cursor as one URL-safe token: `{created_ms}.{id}`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.created_ms, self.id)
    }

    /// The cursor a [`TwinCursor::token`] names, or `None` for a token it did not make.
    pub fn parse(token: &str) -> Option<Self> {
        let (ms, id) = token.split_once('.')?;
        Some(Self {
            created_ms: ms.parse().ok()?,
            id: id.to_string(),
        })
    }

    /// Whether `twin` comes after this cursor in `order`.
    pub fn precedes(&self, twin: &Twin, order: TwinOrder) -> bool {
        let here = (self.created_ms, self.id.as_str());
        let there = (twin.created_ms, twin.id.as_str());
        match order {
            TwinOrder::Oldest => there > here,
            TwinOrder::Newest => there < here,
        }
    }
}

/// A message waiting in a queue, as a listing shows it (nothing is received or held).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingMessage {
    pub id: String,
    pub group_id: String,
    pub body: String,
    pub sent_ms: i64,
}

/// Twins, their replica history and their sync events.
#[async_trait]
pub trait TwinStore: Send + Sync {
    async fn get(&self, id: &str) -> PortResult<Option<Twin>>;
    async fn find_by_local(&self, connection_id: &str, local_key: &str)
    -> PortResult<Option<Twin>>;
    async fn find_by_remote(
        &self,
        connection_id: &str,
        remote_key: &str,
    ) -> PortResult<Option<Twin>>;
    /// Fails with `Conflict` when the id, (connection, local key) or (connection, remote key)
    /// is taken: this is how exactly one twin per item is kept.
    async fn insert(&self, twin: &Twin) -> PortResult<()>;
    /// Writes `twin` if the stored revision still equals `twin.revision`; returns the twin
    /// as stored, with its revision bumped. `Conflict` otherwise.
    async fn update(&self, twin: &Twin) -> PortResult<Twin>;
    async fn delete(&self, id: &str) -> PortResult<()>;
    /// Deletes the twins `gone` (with their replica history; an id may be named twice)
    /// and inserts `twin`, as one write: all of it or none. `Conflict` as `insert`, for a
    /// key no twin of `gone` held. A Relink replaces an unlinked twin so; done as a delete
    /// and an insert, a crash between them left the item with no twin at all.
    async fn replace(&self, gone: &[String], twin: &Twin) -> PortResult<()>;
    async fn list(&self, query: &TwinQuery) -> PortResult<Vec<Twin>>;
    async fn count(&self, connection_id: Option<&str>) -> PortResult<u64>;
    /// Twins of the connection whose items are under sync (any status but unlinked): what
    /// an integration's item capacity counts.
    async fn count_under_sync(&self, connection_id: &str) -> PortResult<u64>;
    async fn add_event(&self, event: &SyncEvent) -> PortResult<()>;
    /// Newest first: a twin's timeline (`twin_id`), or a connection's (or every
    /// connection's) feed, which leaves routine twin events out
    /// (`SyncEvent::in_connection_feed`).
    async fn events(
        &self,
        connection_id: Option<&str>,
        twin_id: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SyncEvent>>;
    async fn add_replica(&self, record: &ReplicaRecord) -> PortResult<()>;
    /// Oldest first.
    async fn replicas(&self, twin_id: &str) -> PortResult<Vec<ReplicaRecord>>;
}

/// Where a polling trigger has got to. Items updated exactly at `since_ms` that were
/// already seen are listed in `seen`, so an edit in the same millisecond (or second,
/// for trackers with coarse timestamps) is neither missed nor sent forever.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCursor {
    pub since_ms: i64,
    /// (item key, item version) seen at `since_ms`.
    pub seen: Vec<(String, u64)>,
}

/// Connections, trigger cursors, transport nonces and small scheduler state.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn get(&self, id: &str) -> PortResult<Option<Connection>>;
    async fn list(&self) -> PortResult<Vec<Connection>>;
    /// `Conflict` if the id exists.
    async fn insert(&self, connection: &Connection) -> PortResult<()>;
    /// Conditional on `connection.revision`; returns the stored record, revision bumped.
    async fn update(&self, connection: &Connection) -> PortResult<Connection>;
    async fn delete(&self, id: &str) -> PortResult<()>;
    async fn cursor(&self, connection_id: &str, trigger_id: &str)
    -> PortResult<Option<PollCursor>>;
    async fn set_cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
        cursor: &PollCursor,
    ) -> PortResult<()>;
    /// Remembers a transport nonce until `expires_ms`; false if it was already seen.
    async fn remember_nonce(&self, nonce: &str, expires_ms: i64) -> PortResult<bool>;
    /// Forgets nonces (and other expiring records) older than `now_ms`; returns how many.
    async fn purge_expired(&self, now_ms: i64) -> PortResult<u64>;
    async fn get_meta(&self, key: &str) -> PortResult<Option<String>>;
    async fn set_meta(&self, key: &str, value: &str) -> PortResult<()>;
    /// Sets `key` to `value` only if it holds `expected` now (`None`: only if it is not
    /// set); false when another writer got there first. Lists kept in one record (the
    /// bulk jobs) are read, changed and put back with it, so no write is lost.
    async fn replace_meta(
        &self,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> PortResult<bool>;
}

/// A change a tracker told us about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignal {
    pub item_key: String,
    pub project: String,
    pub version: u64,
    pub delivery_id: String,
    /// The item's origin marker, where the notification carries it (the sandbox's does,
    /// and a poll reads it): the create of a twin still being written is then known as
    /// our own without reading the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Why a webhook was refused. All are the caller's fault (4xx).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("signature does not match")]
    BadSignature,
    #[error("unsigned delivery refused: {0}")]
    Unsigned(&'static str),
    #[error("timestamp {0} is outside the allowed window")]
    Stale(i64),
    #[error("malformed payload: {0}")]
    Malformed(String),
}

/// The pseudo-header a node fills with the secret segment of a webhook path
/// (`/webhooks/{connector}/{instance}/{secret}`), for trackers that sign nothing and put
/// a shared secret in the endpoint URL instead (Salesforce Outbound Messages). A client's
/// own header of this name is dropped.
pub const WEBHOOK_PATH_SECRET: &str = "x-twinsync-path-secret";

/// The value of a webhook delivery's header (names compare case-insensitively).
pub fn webhook_header<'a>(
    headers: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .ok_or(WebhookError::MissingHeader(name))
}

/// An item's sync as its tracker shows it: the status and the twin it is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMark {
    pub state: SyncState,
    /// The twin's key on the other side, where known.
    pub twin_key: Option<String>,
    /// The twin's web address, where known.
    pub twin_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Sent to the other side; its twin is not made yet.
    Syncing,
    Synced,
    /// The last change was refused, and why.
    Error(String),
    Unlinked,
}

impl SyncMark {
    /// The status in words, as a tracker shows it: `synced`, `error: why`, `unlinked`.
    pub fn describe(&self) -> String {
        match &self.state {
            SyncState::Syncing => "syncing".into(),
            SyncState::Synced => "synced".into(),
            SyncState::Error(why) => {
                format!("error: {}", why.chars().take(200).collect::<String>())
            }
            SyncState::Unlinked => "unlinked".into(),
        }
    }

    /// The status as one line of at most `max` characters, for a tracker's text field:
    /// `twinsync: synced with DEMO-4`, `twinsync: error: why`.
    pub fn line(&self, max: usize) -> String {
        let text = match (&self.state, &self.twin_key) {
            (SyncState::Synced, Some(twin)) => format!("twinsync: synced with {twin}"),
            _ => format!("twinsync: {}", self.describe()),
        };
        text.replace(['\n', '\r'], " ").chars().take(max).collect()
    }
}

/// What a tracker's `create_item` and `update_item` answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteAnswer {
    /// Enough to name the item (Jira answers a write with no body): the node reads the
    /// item back after writing it.
    #[default]
    Partial,
    /// The whole item as the write left it, comments and attachments included, and
    /// `show_sync` does not change the item: the answer stands for a read-back.
    WholeItem,
}

/// Which writes of a tracker can be made conditional on the item's version, as HTTP's
/// `If-Match` makes them (`Tracker::update_item_if`, `Tracker::add_comment_if`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preconditions {
    /// None: the node reads the item before it merges and writes.
    #[default]
    None,
    /// Updates name the version they were planned on and are refused
    /// (`PortError::Conflict`) once the item has moved past it: the node may plan on
    /// the item as its last write left it and read only when the update is refused.
    Updates,
    /// Updates and comment adds both.
    UpdatesAndComments,
}

/// What a conditional comment add answers (`Tracker::add_comment_if`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommentAdded {
    pub comment: Comment,
    /// The whole item as the comment left it, where the tracker answers with it: it
    /// stands for a read-back.
    pub item: Option<Item>,
}

/// A page of items from a search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemPage {
    pub items: Vec<Item>,
    /// Token for the next page, if any.
    pub next: Option<String>,
}

/// A tracker instance. Each connector implements it over the vendor's API.
#[async_trait]
pub trait Tracker: Send + Sync {
    /// Which connector this is.
    fn kind(&self) -> twinsync_core::ConnectorKind;
    /// The instance id from the node config.
    fn instance(&self) -> &str;
    /// The tracker's base URL, for invitation codes and the monitor.
    fn url(&self) -> &str {
        ""
    }
    /// API calls made so far, for metrics and benchmarks; 0 where not counted.
    fn calls(&self) -> u64 {
        0
    }
    /// Whether the tracker has `project`, the project twins would be created in: `None`
    /// when the connector cannot tell with one cheap call. Accepting an invitation asks
    /// first, so a typo is refused before the code is spent.
    async fn has_project(&self, _project: &str) -> PortResult<Option<bool>> {
        Ok(None)
    }
    /// Checks the one-time setup the connector needs in the tracker (fields it keeps its
    /// marks in), so a node starts with a clear error instead of failing its first sync.
    async fn check_setup(&self) -> PortResult<()> {
        Ok(())
    }
    /// What `create_item` and `update_item` answer with; a whole item spares the node
    /// the read after each write.
    fn write_answer(&self) -> WriteAnswer {
        WriteAnswer::Partial
    }
    async fn get_item(&self, key: &str) -> PortResult<Option<Item>>;
    /// Creates an item from the scalar fields of `item` and stamps it with `origin`.
    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item>;
    /// Creates an item as `create_item` does and shows `mark` on it in the same call,
    /// where the tracker lets a create set what the mark is kept in: a `show_sync` of
    /// the same mark right after then makes no call. By default the item is created
    /// and the mark is left to `show_sync`.
    async fn create_item_shown(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        _mark: &SyncMark,
    ) -> PortResult<Item> {
        self.create_item(project, item, origin).await
    }
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item>;
    /// Whether `update_item_if` holds its condition.
    fn preconditions(&self) -> Preconditions {
        Preconditions::None
    }
    /// Updates the item only while it is still at `version`; once anything has changed
    /// it (a person's edit, a comment), the update is refused with
    /// `PortError::Conflict` and nothing is written. Trackers without preconditions
    /// refuse it rather than write unconditionally.
    async fn update_item_if(
        &self,
        key: &str,
        _version: u64,
        _update: &ItemUpdate,
    ) -> PortResult<Item> {
        Err(PortError::Rejected(format!(
            "{}: {key}: this tracker's updates take no precondition",
            self.kind()
        )))
    }
    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment>;
    /// Adds a comment only while the item is still at `version`, as `update_item_if`
    /// updates (called only where `preconditions` says `Version`); the answer carries the
    /// item as the comment left it where the tracker gives it.
    async fn add_comment_if(
        &self,
        key: &str,
        _version: u64,
        _body: &str,
        _author: Option<&User>,
        _origin: Option<&str>,
    ) -> PortResult<CommentAdded> {
        Err(PortError::Rejected(format!(
            "{}: {key}: this tracker's comments take no precondition",
            self.kind()
        )))
    }
    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()>;
    /// Adds a comment only the team sees (a ServiceNow work note). Trackers without such
    /// comments refuse it rather than publish it: the rules decide where internal
    /// comments go.
    async fn add_internal_comment(
        &self,
        key: &str,
        _body: &str,
        _author: Option<&User>,
        _origin: Option<&str>,
    ) -> PortResult<Comment> {
        Err(PortError::Rejected(format!(
            "{}: {key}: this tracker has no internal comments",
            self.kind()
        )))
    }
    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment>;
    /// Deletes an item, for the `delete` removal policy. An item already gone is no error.
    /// Trackers whose API cannot delete items refuse, and the policy closes it instead.
    async fn delete_item(&self, key: &str) -> PortResult<()> {
        Err(PortError::Rejected(format!(
            "{}: {key}: this tracker's API cannot delete items",
            self.kind()
        )))
    }
    /// Deletes a comment, for the `delete` removal policy. A comment already gone is no
    /// error. Trackers whose API cannot delete comments refuse, and the policy marks it.
    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        Err(PortError::Rejected(format!(
            "{}: {key}: this tracker's API cannot delete comment {comment_id}",
            self.kind()
        )))
    }
    /// The item stamped with `origin`, if one exists: finds a twin again after a crash.
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>>;
    /// Items matching `query` (the trigger's filter) updated at or after `since_ms`,
    /// oldest first.
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage>;
    /// Subscribes `url` to the tracker's change notifications. Returns false when the
    /// tracker sends none (its triggers are polled).
    async fn register_webhook(&self, _url: &str) -> PortResult<bool> {
        Ok(false)
    }
    /// Keeps the subscription of `url` alive where the tracker lets webhooks expire (Jira
    /// drops REST-registered ones after 30 days). Returns when the next refresh is due
    /// (ms since the epoch), or `None` when the tracker's webhooks do not expire.
    async fn refresh_webhook(&self, _url: &str, _now_ms: i64) -> PortResult<Option<i64>> {
        Ok(None)
    }
    /// Shows the item's sync status and a link to its twin inside the tracker, in the
    /// tracker's own idiom, kept current rather than added to. Connectors without such a
    /// place do nothing.
    async fn show_sync(&self, _key: &str, _mark: &SyncMark) -> PortResult<()> {
        Ok(())
    }
    /// Time spent waiting for the tracker's rate limits, for metrics; 0 where not counted.
    fn throttled_ms(&self) -> u64 {
        0
    }
    /// Verifies a webhook delivery and says which items changed.
    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError>;
    /// The content type and body a taken delivery is answered with, where the tracker
    /// needs one (Salesforce resends an Outbound Message until it gets its SOAP
    /// acknowledgement); `None`: the node's JSON.
    fn webhook_answer(&self) -> Option<(&'static str, &'static str)> {
        None
    }
}

/// The other node of a connection, as the transport handler sees it.
#[async_trait]
pub trait Peer: Send + Sync {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()>;
    /// A Test Run's question (`DryRunRequest` as JSON) to the other node, answered with
    /// its `DryRunResult`s; nothing is written there.
    async fn dry_run(&self, _request: &serde_json::Value) -> PortResult<serde_json::Value> {
        Err(PortError::Unavailable(
            "this peer cannot be asked for a dry run".into(),
        ))
    }
}

/// Whether a tracker call went to the tracker or was answered from the connector's
/// memory (a `show_sync` of a state shown already), told apart per call: a connector's
/// request counter is shared by every call running beside it, so comparing it before and
/// after a call counts the requests of the others too.
pub mod requests {
    use std::cell::Cell;
    use std::future::Future;

    tokio::task_local! {
        static REACHED: Cell<bool>;
    }

    /// Notes that the running call sent a request to its tracker (connectors call this
    /// where they count their requests). Outside [`reached`] it does nothing.
    pub fn note() {
        let _ = REACHED.try_with(|r| r.set(true));
    }

    /// Runs `call` and tells whether it sent its tracker a request.
    pub async fn reached<F: Future>(call: F) -> (F::Output, bool) {
        REACHED
            .scope(Cell::new(false), async {
                let out = call.await;
                (out, REACHED.with(Cell::get))
            })
            .await
    }
}
