//! The sandbox tracker: a REST API over SQLite with signed outgoing webhooks.
//!
//! This module holds what callers see (the configuration, the errors, starting and
//! serving) and the route table; `state` the state every handler shares, `error` the
//! API's error answers, `guard` what runs before every route, `db` the storage,
//! `deliver` the webhooks, and the other modules the routes' handlers.

mod comments;
mod db;
mod deliver;
mod error;
mod fields;
mod guard;
mod items;
mod list;
mod projects;
mod state;
pub mod testing;
mod webhooks;

use crate::deliveries::Deliveries;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router, middleware};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// How to run a sandbox tracker.
#[derive(Debug, Clone)]
pub struct SandboxServerConfig {
    /// SQLite file; in memory when `None`.
    pub db_path: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on every API call.
    pub token: Option<String>,
    /// Statuses and priorities of projects that do not name their own.
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    /// Answer 429 past this budget, as a hosted tracker does.
    pub rate_limit: Option<RateLimit>,
}

/// A request budget: so many a minute, so many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

/// How many API requests a sandbox served and how many it refused with a 429.
#[derive(Debug, Default)]
pub struct Requests {
    served: std::sync::atomic::AtomicU64,
    refused: std::sync::atomic::AtomicU64,
}

/// The counts at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RequestCounts {
    pub served: u64,
    pub refused: u64,
}

impl Requests {
    pub(super) fn served(&self) {
        self.served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn refused(&self) {
        self.refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn counts(&self) -> RequestCounts {
        use std::sync::atomic::Ordering::Relaxed;
        RequestCounts {
            served: self.served.load(Relaxed),
            refused: self.refused.load(Relaxed),
        }
    }
}

impl Default for SandboxServerConfig {
    fn default() -> Self {
        Self {
            db_path: None,
            token: None,
            statuses: ["Open", "In Progress", "Done"].map(String::from).to_vec(),
            priorities: ["Low", "Medium", "High", "Highest"]
                .map(String::from)
                .to_vec(),
            rate_limit: None,
        }
    }
}

/// Why the sandbox server could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
}

impl ServerError {
    /// A busy database or a network hiccup may pass; a bad address or config will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ServerError::Http(_))
            || matches!(
                self,
                ServerError::Db(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
            )
    }
}

/// A running sandbox; `stop` shuts it down.
pub struct RunningSandbox {
    pub base_url: String,
    /// Its webhook deliveries, queued and finished.
    pub webhooks: Arc<Deliveries>,
    /// Its API requests, served and refused.
    pub requests: Arc<Requests>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSandbox {
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

/// Starts a sandbox on `addr` (e.g. "127.0.0.1:0") in the background.
pub async fn spawn(addr: &str, config: SandboxServerConfig) -> Result<RunningSandbox, ServerError> {
    let (listener, base_url) = crate::server::bind(addr, &twinsync_tls::Transport::Plain)
        .await
        .map_err(|message| ServerError::Listen {
            addr: addr.to_string(),
            message,
        })?;
    let (app, webhooks, requests) = router_and_deliveries(&base_url, config)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox {
        base_url,
        webhooks,
        requests,
        shutdown: tx,
        task,
    })
}

/// Serves a sandbox on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SandboxServerConfig,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(|e| ServerError::Listen {
        addr: "?".into(),
        message: e.to_string(),
    })?;
    let app = router(&format!("http://{local}"), config)?;
    axum::serve(listener, app)
        .await
        .map_err(|e| ServerError::Listen {
            addr: local.to_string(),
            message: e.to_string(),
        })
}

/// The sandbox's Router; `base_url` is where it is reachable, for item URLs.
pub fn router(base_url: &str, config: SandboxServerConfig) -> Result<Router, ServerError> {
    router_and_deliveries(base_url, config).map(|(router, ..)| router)
}

/// The Router and the counts of the webhook deliveries it makes and the requests it
/// answers.
fn router_and_deliveries(
    base_url: &str,
    config: SandboxServerConfig,
) -> Result<(Router, Arc<Deliveries>, Arc<Requests>), ServerError> {
    let (state, events) = state::AppState::open(base_url, config)?;
    let webhooks = state.webhooks.clone();
    let requests = state.requests.clone();
    deliver::start(state.clone(), events);
    let router = Router::new()
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/api/projects",
            get(projects::list_projects).post(projects::create_project),
        )
        .route("/api/items", get(list::list_items).post(items::create_item))
        .route(
            "/api/items/{key}",
            get(items::get_item)
                .patch(items::update_item)
                .delete(items::delete_item),
        )
        .route("/api/items/{key}/comments", post(comments::add_comment))
        .route("/api/items/{key}/sync", put(items::put_sync))
        .route(
            "/api/items/{key}/comments/{id}",
            patch(comments::update_comment).delete(comments::delete_comment),
        )
        .route(
            "/api/items/{key}/attachments",
            post(comments::add_attachment),
        )
        .route(
            "/api/webhooks",
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route("/api/webhooks/{id}", delete(webhooks::delete_webhook))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(state);
    Ok((router, webhooks, requests))
}
