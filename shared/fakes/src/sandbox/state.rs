//! The state every sandbox handler shares: the database, the configuration, the rate
//! limiter and the queue of webhook events; with the item reads and writes they share.

use super::error::{ApiResult, not_found};
use super::{SandboxServerConfig, ServerError, db};
use crate::deliveries::Deliveries;
use crate::plumbing;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rusqlite::{Connection, params};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use twinsync_core::{Clock, SystemClock};
use twinsync_sandbox::mapping::WireItem;
use twinsync_sandbox::webhook::WebhookItem;

/// A change to deliver to the webhooks.
pub(super) struct Event {
    pub(super) event: String,
    pub(super) item: WebhookItem,
}

pub(super) struct AppState {
    db: Mutex<Connection>,
    pub(super) base_url: String,
    pub(super) config: SandboxServerConfig,
    pub(super) limiter: Option<DefaultDirectRateLimiter>,
    events: mpsc::UnboundedSender<Event>,
    pub(super) webhooks: Arc<Deliveries>,
    pub(super) requests: Arc<super::Requests>,
    pub(super) clock: SystemClock,
}

impl AppState {
    /// Opens the database `config` names and gives the state with the receiving end of
    /// its webhook events, for the sender.
    pub(super) fn open(
        base_url: &str,
        config: SandboxServerConfig,
    ) -> Result<(Arc<AppState>, mpsc::UnboundedReceiver<Event>), ServerError> {
        let conn = db::open(config.db_path.as_deref())?;
        let (events, rx) = mpsc::unbounded_channel();
        let limiter = match config.rate_limit {
            Some(limit) => {
                let positive = |n: u32, what: &str| {
                    NonZeroU32::new(n).ok_or_else(|| {
                        ServerError::Config(format!("rate limit {what} must be above 0"))
                    })
                };
                Some(RateLimiter::direct(
                    Quota::per_minute(positive(limit.per_minute, "per minute")?)
                        .allow_burst(positive(limit.burst, "burst")?),
                ))
            }
            None => None,
        };
        let state = Arc::new(AppState {
            db: Mutex::new(conn),
            base_url: base_url.trim_end_matches('/').to_string(),
            config,
            limiter,
            events,
            webhooks: Arc::default(),
            requests: Arc::default(),
            clock: SystemClock,
        });
        Ok((state, rx))
    }

    pub(super) fn db(&self) -> MutexGuard<'_, Connection> {
        plumbing::lock(&self.db)
    }

    pub(super) fn emit(&self, event: &str, item: &WireItem) {
        // The receiver lives as long as the server; a send error only means shutdown.
        self.webhooks.queued();
        let sent = self.events.send(Event {
            event: event.to_string(),
            item: WebhookItem {
                key: item.key.clone(),
                project: item.project.clone(),
                version: item.version,
                updated_ms: item.updated_ms,
                origin: item.origin.clone(),
            },
        });
        if sent.is_err() {
            self.webhooks.finished();
        }
    }

    /// A time after `previous`, so every write moves `updatedMs` forward.
    pub(super) fn tick(&self, previous: i64) -> i64 {
        self.clock.now_ms().max(previous + 1)
    }

    pub(super) fn read(&self, conn: &Connection, key: &str) -> ApiResult<WireItem> {
        db::get_item(conn, key, &self.base_url)?.ok_or_else(|| not_found(format!("no item {key}")))
    }

    /// Bumps an item's version and time after a change to it or its children.
    pub(super) fn touch(&self, conn: &Connection, key: &str) -> ApiResult<WireItem> {
        let item = self.read(conn, key)?;
        conn.prepare_cached(
            "UPDATE items SET version = version + 1, updated_ms = ?1 WHERE key = ?2",
        )?
        .execute(params![self.tick(item.updated_ms), key])?;
        self.read(conn, key)
    }
}
