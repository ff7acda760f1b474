//! The tracker port: what a connector does for the handlers, and what it answers.

use crate::{PortError, PortResult};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};

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
/// `If-Match` makes them (`Tracker::update_item_if`, `Tracker::add_comment_if`,
/// `Tracker::add_attachment_if`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preconditions {
    /// None: the node reads the item before it merges and writes.
    #[default]
    None,
    /// Updates name the version they were planned on and are refused
    /// (`PortError::Conflict`) once the item has moved past it: the node may plan on
    /// the item as its last write left it and read only when the update is refused.
    Updates,
    /// Updates, comment adds and attachment adds.
    UpdatesAndAdds,
}

/// What a conditional attachment add answers (`Tracker::add_attachment_if`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentAdded {
    pub attachment: Attachment,
    /// The whole item as the attachment left it, where the tracker answers with it: it
    /// stands for a read-back.
    pub item: Option<Item>,
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
    /// Whether a create that failed with `error` surely created nothing: its create is
    /// one request, and the tracker (a 429) or our own rate budget refused it whole. A
    /// failed apply's retry then creates without looking for the item by its origin
    /// marker first. Where a create takes several requests, or where the failure may
    /// follow the tracker's write (a timeout, a 500), an item may exist: false.
    fn create_refused_whole(&self, _error: &PortError) -> bool {
        false
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
    /// updates (called only where `preconditions` says `UpdatesAndAdds`); the answer carries the
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
    /// Adds an attachment only while the item is still at `version`, as `add_comment_if`
    /// adds a comment (called only where `preconditions` says `UpdatesAndAdds`).
    async fn add_attachment_if(
        &self,
        key: &str,
        _version: u64,
        _attachment: &Attachment,
    ) -> PortResult<AttachmentAdded> {
        Err(PortError::Rejected(format!(
            "{}: {key}: this tracker's attachment adds take no precondition",
            self.kind()
        )))
    }
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
