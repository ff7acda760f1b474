//! The twin and connection stores.

use crate::PortResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twinsync_core::{Connection, ConnectionRoute, SyncEvent, Twin};

/// How many replicas a twin's history keeps in each direction: the newest. A twin that
/// syncs for years would otherwise keep every replica it ever sent or applied, each a
/// whole copy of the item, and every look at its history would read them all.
pub const REPLICA_HISTORY: u64 = 50;

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

impl ReplicaRecord {
    /// The record's place in its direction's ring of [`REPLICA_HISTORY`] places. A twin's
    /// versions go up by one a replica, so the newest of a direction each have a place of
    /// their own, and a store that keys records by it replaces the oldest with the newest.
    pub fn slot(&self) -> u64 {
        self.version % REPLICA_HISTORY
    }

    /// History order: oldest first, by time, then direction and version.
    pub fn history_order(a: &ReplicaRecord, b: &ReplicaRecord) -> std::cmp::Ordering {
        (a.at_ms, &a.direction, a.version).cmp(&(b.at_ms, &b.direction, b.version))
    }
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
    /// Adds a replica to its twin's history, which keeps the newest [`REPLICA_HISTORY`]
    /// of its direction: an older one goes as a newer comes.
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
    /// What a webhook decides on of every connection, as strongly as [`Self::list`]. A
    /// store whose reads cost by the byte keeps these apart from the connections.
    async fn routes(&self) -> PortResult<Vec<ConnectionRoute>> {
        Ok(self.list().await?.iter().map(ConnectionRoute::of).collect())
    }
    /// Puts right the routes that do not say what `connections` (a strongly consistent
    /// listing just read) say, as a connection written by an older build leaves them;
    /// how many it changed. A store that derives its routes has nothing to do.
    async fn check_routes(&self, _connections: &[Connection]) -> PortResult<usize> {
        Ok(0)
    }
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
