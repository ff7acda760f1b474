//! A twinsync node: the handlers of the message flow as plain async functions over the
//! ports, the batch semantics every deployment shares, the node config, assembling a node
//! from it, and the HTTP routers (public: webhooks and `/v1/*`; admin: the API and the
//! monitor, behind a token) with the admin listener's token and binding.
//!
//! The same handler functions run in the local process (twinsync-local's runner) and in
//! the Lambda functions (driven by SQS event source mappings); only the adapters differ.
//! Nothing here links SQLite or the sandbox server: that wiring is twinsync-local's.

pub mod admin;
pub mod assemble;
pub mod batch;
pub mod bulk;
pub mod config;
pub mod connection_cache;
pub mod dead_letters;
pub mod handlers;
pub mod jobs;
pub mod link;
pub mod monitor;
pub mod operations;
pub mod pairing;
pub mod pause;
pub mod peer;
pub mod preview;
pub mod removals;
pub mod router;
pub mod send_batching;
pub mod shadow;
pub mod trackers;
pub mod versions;
pub mod workspaces;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use twinsync_core::{Clock, Connection, SyncEvent, SyncEventKind};
use twinsync_ports::{ConnectionStore, Peer, PortError, Queue, Tracker, TwinStore};
use twinsync_rules::{RuleSet, RulesCache, RulesError};

/// The longest `Node::show_sync` waits out a tracker's rate limit, in all.
pub const SHOW_SYNC_WAIT_MS: u64 = 20_000;

/// The error of a handler. `is_retryable` decides between "try again later" (the message
/// stays queued, with backoff) and "record the failure and move on".
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("malformed message: {0}")]
    BadMessage(String),
    #[error("unknown connection {0}")]
    UnknownConnection(String),
    #[error("unknown tracker instance {0}")]
    UnknownInstance(String),
    #[error("no route to node {0}")]
    NoPeer(String),
    #[error("connection {0} has no active configuration version")]
    NoActiveVersion(String),
    #[error("connection {0} is paused")]
    Paused(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Operation(String),
    /// A thing an operator named does not exist (a version, a replica of the history).
    #[error("{0}")]
    NotFound(String),
    /// The thing exists but its state does not allow the change (activating a version
    /// that is not a draft, a confirmation that does not match).
    #[error("{0}")]
    Conflict(String),
    /// The integration's subscription allows no more items under sync.
    #[error("{0}")]
    CapacityReached(String),
    /// The twin's local item no longer exists: it was deleted here.
    #[error("local item {0} no longer exists")]
    ItemGone(String),
    /// Another worker holds the twin (it is writing the item right now).
    #[error("{what}; retry in {retry_after_ms} ms")]
    Busy { what: String, retry_after_ms: u64 },
}

impl NodeError {
    /// A domain refusal as the operator sees it: a version that does not exist is not
    /// found; a state that does not allow the change is a conflict.
    pub fn from_core(e: twinsync_core::CoreError) -> NodeError {
        match e {
            twinsync_core::CoreError::Version(_, "no such version") => {
                NodeError::NotFound(e.to_string())
            }
            twinsync_core::CoreError::Version(..)
            | twinsync_core::CoreError::StatusTransition { .. } => {
                NodeError::Conflict(e.to_string())
            }
            other => NodeError::Operation(other.to_string()),
        }
    }

    /// A configuration error with the reason in words.
    pub fn config(reason: impl std::fmt::Display) -> NodeError {
        NodeError::Config(reason.to_string())
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            NodeError::Port(e) => e.is_retryable(),
            NodeError::NoPeer(_) | NodeError::Paused(_) | NodeError::Busy { .. } => true,
            _ => false,
        }
    }

    /// Told to wait rather than failed: a rate limit, or a twin another handler is
    /// writing. Such a retry says nothing about the message and is not counted against it.
    pub fn is_wait(&self) -> bool {
        self.is_rate_limit() || matches!(self, NodeError::Busy { .. })
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(self, NodeError::Port(PortError::RateLimited { .. }))
    }

    /// A wait the other end asked for, if any.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            NodeError::Port(e) => e.retry_after_ms(),
            NodeError::Busy { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

pub type NodeResult<T> = Result<T, NodeError>;

/// Tunables of a node. Defaults suit the local runner; Lambda uses the same.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// How long a received message stays invisible while a handler works on it.
    pub visibility_ms: i64,
    /// Backoff for retryable failures: base * 2^(receives-1), capped (see
    /// [`NodeSettings::backoff_cap_ms`]).
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// How long a message may keep failing before it goes to the dead-letter queue, its
    /// twin showing Error with the reason until an operator redrives it. Counted from the
    /// message's first receive, so a tracker outage shorter than this loses nothing.
    pub retry_budget_ms: i64,
    /// The receives after which the queue dead-letters a message by itself (SQS's
    /// `maxReceiveCount`), if it does: the handler dead-letters it at that receive
    /// instead, so its twin is marked. `None` where the queue counts time (SQLite).
    pub max_receives: Option<u32>,
    /// Failed deliveries to a peer before the connection goes to Error.
    pub error_after_failures: u32,
    /// Acks reaching `incoming` go on to the `ack` queue (the AWS deployment, where the
    /// ack function consumes it) instead of being handled there.
    pub ack_queue: bool,
    /// Webhook deliveries each instance may bring a minute, and at once.
    pub webhooks_per_minute: u32,
    pub webhook_burst: u32,
    /// The largest transport body (uncompressed) this node takes from another node, told
    /// to it when the connection is made.
    pub max_replica_bytes: u64,
    /// Bulk jobs wait while more changes than this are waiting in the outgoing queue: the
    /// live changes keep their place, and a job never floods the queue.
    pub job_max_waiting_changes: u64,
    /// How long a webhook's check for the echo of our own write may wait for the apply
    /// writing its item to finish, in ms (`handlers::ingest`); 0 queues such a change at
    /// once, for outgoing to wait on. The functions wait (a queue hop is money on AWS);
    /// a local node does not: its hop costs a few statements, and the wait would hold
    /// the tracker's webhook delivery (Bulk Exalate of 10,000 items: 568 and 567 items/s
    /// without, 492 and 523 with).
    pub echo_wait_ms: u64,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            visibility_ms: 30_000,
            backoff_base_ms: 200,
            backoff_max_ms: 60_000,
            retry_budget_ms: DEFAULT_RETRY_BUDGET_MS,
            max_receives: None,
            error_after_failures: 5,
            ack_queue: false,
            // Far above what a busy project sends, far below what would swamp a node.
            webhooks_per_minute: 1_200,
            webhook_burst: 300,
            max_replica_bytes: twinsync_core::DEFAULT_MAX_TRANSPORT_BODY,
            job_max_waiting_changes: 1_000,
            echo_wait_ms: 0,
        }
    }
}

/// A day: an outage of a tracker or of the other node shorter than that loses nothing.
pub const DEFAULT_RETRY_BUDGET_MS: i64 = 24 * 3_600_000;

impl NodeSettings {
    /// The longest wait between two tries. Where the queue counts receives
    /// (`max_receives`), the cap is raised so that the retry budget runs out before the
    /// receives do, with half of them to spare for the waits (rate limits) SQS counts too.
    pub fn backoff_cap_ms(&self) -> i64 {
        match self.max_receives {
            Some(max) => self
                .backoff_max_ms
                .max(self.retry_budget_ms / i64::from((max / 2).max(1))),
            None => self.backoff_max_ms,
        }
    }
}

/// One node: its identity, its ports and its compiled rules.
pub struct Node {
    pub id: String,
    pub queue: Arc<dyn Queue>,
    pub twins: Arc<dyn TwinStore>,
    pub connections: Arc<dyn ConnectionStore>,
    pub trackers: HashMap<String, Arc<dyn Tracker>>,
    peers: RwLock<HashMap<String, Arc<dyn Peer>>>,
    pub rules: RulesCache,
    pub clock: Arc<dyn Clock>,
    pub settings: NodeSettings,
    /// Client for other nodes' transport endpoints.
    pub http: reqwest::Client,
    /// Where other nodes reach this one (set when the HTTP server is up).
    public_url: RwLock<Option<String>>,
    /// How many webhook deliveries each instance may bring.
    pub ingest_gate: handlers::ingest::IngestGate,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Node {
    pub fn new(
        id: impl Into<String>,
        queue: Arc<dyn Queue>,
        twins: Arc<dyn TwinStore>,
        connections: Arc<dyn ConnectionStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            id: id.into(),
            queue,
            twins,
            connections,
            trackers: HashMap::new(),
            peers: RwLock::new(HashMap::new()),
            rules: RulesCache::default(),
            clock,
            settings: NodeSettings::default(),
            http: twinsync_connector_kit::outbound::client(
                &twinsync_connector_kit::outbound::ClientOptions::with_timeout(
                    std::time::Duration::from_secs(30),
                ),
            )
            .unwrap_or_default(),
            public_url: RwLock::new(None),
            ingest_gate: handlers::ingest::IngestGate::default(),
        }
    }

    pub fn set_public_url(&self, url: &str) {
        if let Ok(mut u) = self.public_url.write() {
            *u = Some(url.trim_end_matches('/').to_string());
        }
    }

    pub fn public_url(&self) -> Option<String> {
        self.public_url.read().ok().and_then(|u| u.clone())
    }

    pub fn with_tracker(mut self, tracker: Arc<dyn Tracker>) -> Self {
        self.trackers
            .insert(tracker.instance().to_string(), tracker);
        self
    }

    /// Registers how to reach another node.
    pub fn add_peer(&self, node_id: &str, peer: Arc<dyn Peer>) {
        if let Ok(mut peers) = self.peers.write() {
            peers.insert(node_id.to_string(), peer);
        }
    }

    pub fn peer(&self, node_id: &str) -> NodeResult<Arc<dyn Peer>> {
        self.peers
            .read()
            .ok()
            .and_then(|p| p.get(node_id).cloned())
            .ok_or_else(|| NodeError::NoPeer(node_id.to_string()))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn tracker(&self, instance: &str) -> NodeResult<Arc<dyn Tracker>> {
        self.trackers
            .get(instance)
            .cloned()
            .ok_or_else(|| NodeError::UnknownInstance(instance.to_string()))
    }

    /// Shows an item's sync in its tracker (`Tracker::show_sync`). Best effort: the sync
    /// itself has happened, and the next change shows the status again. Rate limits are
    /// waited out for up to [`SHOW_SYNC_WAIT_MS`] in all.
    pub async fn show_sync(&self, instance: &str, key: &str, mark: twinsync_ports::SyncMark) {
        let tracker = match self.tracker(instance) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(%instance, item = %key, error = %e, "cannot show the sync status in the tracker");
                return;
            }
        };
        // Rate-limit waits up to SHOW_SYNC_WAIT_MS in all are waited out here: the sync is
        // done, and a status left stale until the next change would say the wrong thing
        // meanwhile. A batch's groups run side by side, so several callers meet the same
        // limit at once: each waits a little more than asked, by its key, so that they do
        // not all come back in the same instant and meet it again.
        let spread = key
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % 250;
        let mut shown = tracker.show_sync(key, &mark).await;
        let mut waited = 0;
        while let Some(ms) = shown.as_ref().err().and_then(PortError::retry_after_ms) {
            let wait = ms.saturating_add(spread);
            if waited + wait > SHOW_SYNC_WAIT_MS {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            waited += wait;
            shown = tracker.show_sync(key, &mark).await;
        }
        if let Err(e) = shown {
            tracing::warn!(%instance, item = %key, error = %e, "cannot show the sync status in the tracker");
        }
    }

    pub async fn connection(&self, id: &str) -> NodeResult<Connection> {
        self.connections
            .get(id)
            .await?
            .ok_or_else(|| NodeError::UnknownConnection(id.to_string()))
    }

    /// The compiled rules of the connection's active version.
    pub fn rules_for(&self, connection: &Connection) -> NodeResult<Arc<RuleSet>> {
        let version = connection
            .active_version()
            .ok_or_else(|| NodeError::NoActiveVersion(connection.id.clone()))?;
        Ok(self.rules.get_or_compile(&connection.id, version)?)
    }

    /// Records an event for the monitor. Losing one is not worth failing a handler for.
    pub async fn event(
        &self,
        connection_id: &str,
        twin_id: Option<&str>,
        kind: SyncEventKind,
        detail: impl Into<String>,
    ) {
        let event = SyncEvent {
            connection_id: connection_id.to_string(),
            twin_id: twin_id.map(str::to_string),
            at_ms: self.now_ms(),
            kind,
            detail: detail.into(),
        };
        if let Err(e) = self.twins.add_event(&event).await {
            tracing::warn!(error = %e, "could not record a sync event");
        }
    }

    /// A twin's timeline, newest first: the events stored for it and the routine steps
    /// its record keeps.
    pub async fn timeline(
        &self,
        twin: &twinsync_core::Twin,
        limit: usize,
    ) -> NodeResult<Vec<SyncEvent>> {
        let stored = self.twins.events(None, Some(&twin.id), limit).await?;
        Ok(twinsync_core::timeline(stored, twin, limit))
    }

    /// The origin marker sync writes on items and comments it creates for `connection`.
    pub fn origin_prefix(connection_id: &str) -> String {
        format!("twinsync:{connection_id}:")
    }
}
