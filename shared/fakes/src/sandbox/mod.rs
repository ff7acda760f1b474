//! The sandbox tracker: a REST API over SQLite with signed outgoing webhooks.

mod db;
mod deliver;
pub mod testing;

use crate::deliveries::Deliveries;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rusqlite::{Connection, params};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use twinsync_core::{Clock, Filter, Item, SystemClock};
use twinsync_sandbox::mapping::{WireItem, WirePage};
use twinsync_sandbox::webhook::WebhookItem;

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
    /// Answer 429 past this many requests per second.
    pub rate_limit_per_sec: Option<u32>,
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
            rate_limit_per_sec: None,
        }
    }
}

struct AppState {
    db: Mutex<Connection>,
    base_url: String,
    config: SandboxServerConfig,
    limiter: Option<DefaultDirectRateLimiter>,
    events: mpsc::UnboundedSender<deliver::Event>,
    webhooks: Arc<Deliveries>,
    clock: SystemClock,
}

impl AppState {
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn emit(&self, event: &str, item: &WireItem) {
        // The receiver lives as long as the server; a send error only means shutdown.
        self.webhooks.queued();
        let sent = self.events.send(deliver::Event {
            event: event.to_string(),
            item: WebhookItem {
                key: item.key.clone(),
                project: item.project.clone(),
                version: item.version,
                updated_ms: item.updated_ms,
            },
        });
        if sent.is_err() {
            self.webhooks.finished();
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

/// An API error: a status and `{"error": reason}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "sandbox database error");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("database error: {e}"),
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {}", e.body_text()),
        )
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, msg.into())
}

/// A running sandbox; `stop` shuts it down.
pub struct RunningSandbox {
    pub base_url: String,
    /// Its webhook deliveries, queued and finished.
    pub webhooks: Arc<Deliveries>,
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Listen {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
    let local = listener.local_addr().map_err(|e| ServerError::Listen {
        addr: addr.to_string(),
        message: e.to_string(),
    })?;
    let base_url = format!("http://{local}");
    let (app, webhooks) = router_and_deliveries(&base_url, config)?;
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
    router_and_deliveries(base_url, config).map(|(router, _)| router)
}

/// The Router and the counts of the webhook deliveries it makes.
fn router_and_deliveries(
    base_url: &str,
    config: SandboxServerConfig,
) -> Result<(Router, Arc<Deliveries>), ServerError> {
    let conn = db::open(config.db_path.as_deref())?;
    let (events, rx) = mpsc::unbounded_channel();
    let limiter = match config.rate_limit_per_sec {
        Some(n) => Some(RateLimiter::direct(Quota::per_second(
            NonZeroU32::new(n)
                .ok_or_else(|| ServerError::Config("rate limit must be above 0".into()))?,
        ))),
        None => None,
    };
    let state = Arc::new(AppState {
        db: Mutex::new(conn),
        base_url: base_url.trim_end_matches('/').to_string(),
        config,
        limiter,
        events,
        webhooks: Arc::default(),
        clock: SystemClock,
    });
    let webhooks = state.webhooks.clone();
    deliver::start(state.clone(), rx);
    let router = Router::new()
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/api/projects", get(list_projects).post(create_project))
        .route("/api/items", get(list_items).post(create_item))
        .route("/api/items/{key}", get(get_item).patch(update_item))
        .route(
            "/api/items/{key}/comments",
            axum::routing::post(add_comment),
        )
        .route("/api/items/{key}/comments/{id}", patch(update_comment))
        .route(
            "/api/items/{key}/attachments",
            axum::routing::post(add_attachment),
        )
        .route("/api/webhooks", get(list_webhooks).post(create_webhook))
        .route("/api/webhooks/{id}", axum::routing::delete(delete_webhook))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(state);
    Ok((router, webhooks))
}

/// Token check and rate limit, before any handler.
async fn guard(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = &state.limiter
        && let Err(not_until) = limiter.check()
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let secs = wait.as_secs() + 1;
        let mut resp =
            ApiError(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded".into()).into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    if let Some(token) = &state.config.token {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token".into(),
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    key: String,
    name: String,
    statuses: Option<Vec<String>>,
    priorities: Option<Vec<String>>,
}

async fn create_project(
    State(s): State<Arc<AppState>>,
    body: Result<Json<NewProject>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(p) = body?;
    let valid_key = !p.key.is_empty()
        && p.key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !valid_key {
        return Err(bad(format!(
            "project key {:?} must be upper-case letters and digits",
            p.key
        )));
    }
    let statuses = p.statuses.unwrap_or_else(|| s.config.statuses.clone());
    let priorities = p.priorities.unwrap_or_else(|| s.config.priorities.clone());
    if statuses.is_empty() {
        return Err(bad("a project needs at least one status"));
    }
    let conn = s.db();
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO projects (key, name, statuses, priorities) VALUES (?1, ?2, ?3, ?4)",
        params![p.key, p.name, db::json(&statuses), db::json(&priorities)],
    )?;
    if inserted == 0 {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("project {} exists", p.key),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "key": p.key, "name": p.name, "statuses": statuses, "priorities": priorities }),
        ),
    ))
}

async fn list_projects(State(s): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
    let conn = s.db();
    let mut stmt =
        conn.prepare("SELECT key, name, statuses, priorities FROM projects ORDER BY key")?;
    let rows: Vec<Value> = stmt
        .query_map([], |r| {
            let st: String = r.get(2)?;
            let pr: String = r.get(3)?;
            Ok(json!({
                "key": r.get::<_, String>(0)?,
                "name": r.get::<_, String>(1)?,
                "statuses": serde_json::from_str::<Value>(&st).unwrap_or(Value::Null),
                "priorities": serde_json::from_str::<Value>(&pr).unwrap_or(Value::Null),
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(Json(rows))
}

fn check_in(what: &str, value: &str, allowed: &[String]) -> ApiResult<()> {
    if allowed.iter().any(|a| a == value) {
        Ok(())
    } else {
        Err(bad(format!(
            "unknown {what} {value:?} (allowed: {})",
            allowed.join(", ")
        )))
    }
}

fn str_field(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!("{key} must be a string, got {other}"))),
    }
}

fn labels_field(body: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    match body.get("labels") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| bad("labels must be an array of strings")),
    }
}

fn user_field(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<String>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => {
            let u: twinsync_sandbox::mapping::WireUser = serde_json::from_value(v.clone())
                .map_err(|_| bad(format!("{key} must be {{email, displayName}}")))?;
            if u.email.is_empty() {
                return Err(bad(format!("{key}.email is required")));
            }
            Ok(Some(Some(db::json(&u))))
        }
    }
}

fn custom_field(body: &Map<String, Value>) -> ApiResult<Option<String>> {
    match body.get("customFields") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(db::json(m))),
        Some(_) => Err(bad("customFields must be an object")),
    }
}

const CREATE_FIELDS: &[&str] = &[
    "project",
    "summary",
    "description",
    "status",
    "priority",
    "labels",
    "assignee",
    "reporter",
    "customFields",
    "origin",
];
const UPDATE_FIELDS: &[&str] = &[
    "summary",
    "description",
    "status",
    "priority",
    "labels",
    "assignee",
    "customFields",
];

fn only(body: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!(
            "unknown field {k:?} (allowed: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

impl AppState {
    /// A time after `previous`, so every write moves `updatedMs` forward.
    fn tick(&self, previous: i64) -> i64 {
        self.clock.now_ms().max(previous + 1)
    }

    fn read(&self, conn: &Connection, key: &str) -> ApiResult<WireItem> {
        db::get_item(conn, key, &self.base_url)?.ok_or_else(|| not_found(format!("no item {key}")))
    }

    /// Bumps an item's version and time after a change to it or its children.
    fn touch(&self, conn: &Connection, key: &str) -> ApiResult<WireItem> {
        let item = self.read(conn, key)?;
        conn.execute(
            "UPDATE items SET version = version + 1, updated_ms = ?1 WHERE key = ?2",
            params![self.tick(item.updated_ms), key],
        )?;
        self.read(conn, key)
    }
}

async fn create_item(
    State(s): State<Arc<AppState>>,
    body: Result<Json<Map<String, Value>>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(body) = body?;
    only(&body, CREATE_FIELDS)?;
    let project = str_field(&body, "project")?.ok_or_else(|| bad("project is required"))?;
    let summary = str_field(&body, "summary")?.unwrap_or_default();
    if summary.trim().is_empty() {
        return Err(bad("summary is required"));
    }
    let description = str_field(&body, "description")?.unwrap_or_default();
    let labels = labels_field(&body)?.unwrap_or_default();
    let assignee = user_field(&body, "assignee")?.flatten();
    let reporter = user_field(&body, "reporter")?.flatten();
    let custom = custom_field(&body)?.unwrap_or_else(|| "{}".into());
    let origin = str_field(&body, "origin")?.filter(|o| !o.is_empty());
    let mut conn = s.db();
    let (statuses, priorities) = db::project_lists(&conn, &project)?
        .ok_or_else(|| bad(format!("unknown project {project:?}")))?;
    let status = match str_field(&body, "status")? {
        Some(st) => {
            check_in("status", &st, &statuses)?;
            st
        }
        None => statuses.first().cloned().unwrap_or_default(),
    };
    let priority = str_field(&body, "priority")?;
    if let Some(p) = &priority {
        check_in("priority", p, &priorities)?;
    }
    let now = s.clock.now_ms();
    let tx = conn.transaction()?;
    let number: i64 = tx.query_row(
        "UPDATE projects SET next_number = next_number + 1 WHERE key = ?1 RETURNING next_number - 1",
        params![project],
        |r| r.get(0),
    )?;
    let key = format!("{project}-{number}");
    tx.execute(
        &format!("INSERT INTO items ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12)", db::ITEM_COLUMNS),
        params![key, project, summary, description, status, priority, db::json(&labels), assignee, reporter, custom, origin, now],
    )?;
    tx.commit()?;
    let item = s.read(&conn, &key)?;
    drop(conn);
    s.emit("item.created", &item);
    Ok((StatusCode::CREATED, Json(item)))
}

async fn get_item(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let conn = s.db();
    Ok(Json(s.read(&conn, &key)?))
}

async fn update_item(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Result<Json<Map<String, Value>>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(body) = body?;
    only(&body, UPDATE_FIELDS)?;
    let conn = s.db();
    let current = s.read(&conn, &key)?;
    let (statuses, priorities) = db::project_lists(&conn, &current.project)?.unwrap_or_default();
    let mut sets: Vec<(&str, Option<String>)> = Vec::new();
    if let Some(v) = str_field(&body, "summary")? {
        if v.trim().is_empty() {
            return Err(bad("summary cannot be empty"));
        }
        if v != current.summary {
            sets.push(("summary", Some(v)));
        }
    }
    if let Some(v) = str_field(&body, "description")?
        && v != current.description
    {
        sets.push(("description", Some(v)));
    }
    if let Some(v) = str_field(&body, "status")? {
        check_in("status", &v, &statuses)?;
        if Some(&v) != current.status.as_ref() {
            sets.push(("status", Some(v)));
        }
    }
    if body.contains_key("priority") {
        let v = str_field(&body, "priority")?.filter(|p| !p.is_empty());
        if let Some(p) = &v {
            check_in("priority", p, &priorities)?;
        }
        if v != current.priority {
            sets.push(("priority", v));
        }
    }
    if let Some(v) = labels_field(&body)?
        && v != current.labels
    {
        sets.push(("labels", Some(db::json(&v))));
    }
    if let Some(v) = user_field(&body, "assignee")? {
        let now = current.assignee.as_ref().map(db::json);
        if v != now {
            sets.push(("assignee", v));
        }
    }
    if let Some(v) = custom_field(&body)?
        && v != db::json(&current.custom_fields)
    {
        sets.push(("custom_fields", Some(v)));
    }
    if sets.is_empty() {
        // Nothing changes, so nothing is recorded and no webhook fires.
        return Ok(Json(current));
    }
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ?{}", i + 3))
        .collect();
    let sql = format!(
        "UPDATE items SET version = version + 1, updated_ms = ?1, {} WHERE key = ?2",
        assignments.join(", ")
    );
    let mut values: Vec<Option<String>> = vec![
        Some(s.tick(current.updated_ms).to_string()),
        Some(key.clone()),
    ];
    values.extend(sets.into_iter().map(|(_, v)| v));
    conn.execute(&sql, rusqlite::params_from_iter(values.iter()))?;
    let item = s.read(&conn, &key)?;
    drop(conn);
    s.emit("item.updated", &item);
    Ok(Json(item))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComment {
    body: String,
    author: Option<twinsync_sandbox::mapping::WireUser>,
    origin: Option<String>,
}

async fn add_comment(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Result<Json<NewComment>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(c) = body?;
    if c.body.trim().is_empty() {
        return Err(bad("comment body is required"));
    }
    let conn = s.db();
    s.read(&conn, &key)?;
    let id: i64 = conn.query_row(
        "INSERT INTO comments (item_key, author, body, origin, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
        params![key, c.author.as_ref().map(db::json), c.body, c.origin.filter(|o| !o.is_empty()), s.clock.now_ms()],
        |r| r.get(0),
    )?;
    let item = s.touch(&conn, &key)?;
    drop(conn);
    s.emit("comment.created", &item);
    let comment = item
        .comments
        .iter()
        .find(|c| c.id == id.to_string())
        .cloned();
    Ok((StatusCode::CREATED, Json(comment)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentEdit {
    body: String,
}

async fn update_comment(
    State(s): State<Arc<AppState>>,
    Path((key, id)): Path<(String, String)>,
    body: Result<Json<CommentEdit>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(edit) = body?;
    if edit.body.trim().is_empty() {
        return Err(bad("comment body is required"));
    }
    let seq: i64 = id
        .parse()
        .map_err(|_| not_found(format!("no comment {id} on {key}")))?;
    let conn = s.db();
    let n = conn.execute(
        "UPDATE comments SET body = ?1 WHERE seq = ?2 AND item_key = ?3 AND body != ?1",
        params![edit.body, seq, key],
    )?;
    let exists: bool = conn.query_row(
        "SELECT COUNT(*) FROM comments WHERE seq = ?1 AND item_key = ?2",
        params![seq, key],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !exists {
        return Err(not_found(format!("no comment {id} on {key}")));
    }
    let item = if n > 0 {
        s.touch(&conn, &key)?
    } else {
        s.read(&conn, &key)?
    };
    drop(conn);
    if n > 0 {
        s.emit("comment.updated", &item);
    }
    Ok(Json(item.comments.into_iter().find(|c| c.id == id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewAttachment {
    filename: String,
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    size: u64,
    url: String,
}

async fn add_attachment(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Result<Json<NewAttachment>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(a) = body?;
    if a.filename.trim().is_empty() {
        return Err(bad("filename is required"));
    }
    let conn = s.db();
    s.read(&conn, &key)?;
    let id: i64 = conn.query_row(
        "INSERT INTO attachments (item_key, filename, mime_type, size, url) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
        params![key, a.filename, a.mime_type, a.size as i64, a.url],
        |r| r.get(0),
    )?;
    let item = s.touch(&conn, &key)?;
    drop(conn);
    s.emit("attachment.created", &item);
    Ok((
        StatusCode::CREATED,
        Json(
            item.attachments
                .into_iter()
                .find(|x| x.id == id.to_string()),
        ),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    project: Option<String>,
    filter: Option<String>,
    updated_since: Option<i64>,
    origin: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_items(
    State(s): State<Arc<AppState>>,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    let filter = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => Some(Filter::parse(f).map_err(|e| bad(format!("bad filter: {e}")))?),
        None => None,
    };
    let limit = p.limit.unwrap_or(100).clamp(1, 500);
    let (mut after_ms, mut after_key) = match &p.cursor {
        Some(c) => {
            let (ms, key) = c.split_once(':').ok_or_else(|| bad("bad cursor"))?;
            (
                ms.parse::<i64>().map_err(|_| bad("bad cursor"))?,
                key.to_string(),
            )
        }
        None => (i64::MIN, String::new()),
    };
    let since = p.updated_since.unwrap_or(i64::MIN);
    let conn = s.db();
    let mut out: Vec<WireItem> = Vec::new();
    let mut exhausted = false;
    // Scan in pages so a selective filter does not load every item at once.
    // Only the conditions given go into the query, so SQLite can use the origin and
    // project indexes instead of scanning by time.
    let mut conditions = vec![
        "updated_ms >= ?1".to_string(),
        "(updated_ms, key) > (?2, ?3)".to_string(),
    ];
    let mut extra: Vec<String> = Vec::new();
    if let Some(project) = &p.project {
        extra.push(project.clone());
        conditions.push(format!("project = ?{}", 3 + extra.len()));
    }
    if let Some(origin) = &p.origin {
        extra.push(origin.clone());
        conditions.push(format!("origin = ?{}", 3 + extra.len()));
    }
    let where_clause = conditions.join(" AND ");
    while out.len() < limit {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM items WHERE {where_clause} ORDER BY updated_ms, key LIMIT 200",
            db::ITEM_COLUMNS
        ))?;
        let mut args: Vec<rusqlite::types::Value> =
            vec![since.into(), after_ms.into(), after_key.clone().into()];
        args.extend(
            extra
                .iter()
                .map(|e| rusqlite::types::Value::from(e.clone())),
        );
        let rows: Vec<WireItem> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                db::item_from_row(r, &s.base_url)
            })?
            .collect::<Result<_, _>>()?;
        if rows.len() < 200 {
            exhausted = true;
        }
        for mut item in rows {
            after_ms = item.updated_ms;
            after_key = item.key.clone();
            db::load_children(&conn, &mut item)?;
            let keep = match &filter {
                Some(f) => f.matches(&Item::from(item.clone())),
                None => true,
            };
            if keep {
                out.push(item);
                if out.len() == limit {
                    break;
                }
            }
        }
        if exhausted {
            break;
        }
    }
    let more = !exhausted
        || out.len() == limit && {
            // A full page may still be the last one; look one row ahead.
            let mut args: Vec<rusqlite::types::Value> =
                vec![since.into(), after_ms.into(), after_key.clone().into()];
            args.extend(
                extra
                    .iter()
                    .map(|e| rusqlite::types::Value::from(e.clone())),
            );
            conn.query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM items WHERE {where_clause})"),
                rusqlite::params_from_iter(args),
                |r| r.get::<_, bool>(0),
            )?
        };
    let next = more.then(|| format!("{after_ms}:{after_key}"));
    Ok(Json(WirePage { items: out, next }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    secret: String,
}

async fn create_webhook(
    State(s): State<Arc<AppState>>,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(w) = body?;
    if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
        return Err(bad("url must be http(s)"));
    }
    if w.secret.len() < 8 {
        return Err(bad("secret must be at least 8 characters"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    s.db().execute(
        "INSERT INTO webhooks (id, url, secret) VALUES (?1, ?2, ?3)",
        params![id, w.url, w.secret],
    )?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "url": w.url }))))
}

async fn list_webhooks(State(s): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
    let conn = s.db();
    let mut stmt = conn.prepare("SELECT id, url FROM webhooks ORDER BY id")?;
    // Secrets are write-only.
    let rows: Vec<Value> = stmt
        .query_map([], |r| {
            Ok(json!({ "id": r.get::<_, String>(0)?, "url": r.get::<_, String>(1)? }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(Json(rows))
}

async fn delete_webhook(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let n = s
        .db()
        .execute("DELETE FROM webhooks WHERE id = ?1", params![id])?;
    if n == 0 {
        return Err(not_found(format!("no webhook {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
