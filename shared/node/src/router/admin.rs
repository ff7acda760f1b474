//! The operator API (connections, versions, Test Run, operations, twins, events, queues,
//! metrics) and the Item Sync Monitor, served on the admin listener behind [`super::guard`].
//! Every call that changes state is a POST or DELETE with a JSON body.

use super::guard::{self, AdminGuard};
use super::{ApiError, ApiResult};
use crate::{Node, NodeError, jobs, monitor, operations};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use twinsync_core::JobKind;
use twinsync_ports::TwinQuery;

/// The admin routes of `node`, checked by `guard`: the monitor's static page and script
/// need no token (they hold no data; the script sends the token), everything under
/// `/api` does.
pub fn admin_router(node: Arc<Node>, guard: AdminGuard) -> Router {
    let api = Router::new()
        .route(
            "/api/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/api/metrics", get(metrics))
        .route("/api/connections", get(list_connections))
        .route("/api/connections/invite", post(invite))
        .route("/api/connections/accept", post(accept))
        .route("/api/connections/local", post(local))
        .route("/api/connections/{id}/rotate-secret", post(rotate_secret))
        .route(
            "/api/connections/{id}",
            get(get_connection).delete(delete_connection),
        )
        .route("/api/connections/{id}/activate", post(activate))
        .route("/api/connections/{id}/deactivate", post(deactivate))
        .route("/api/connections/{id}/operations/{op}", post(operation))
        .route("/api/twins", get(list_twins))
        .route("/api/twins/{id}", get(get_twin))
        .route("/api/events", get(list_events))
        .route("/api/queues", get(queue_depths))
        .route("/api/monitor", get(monitor_view))
        .merge(super::versions::routes())
        .merge(super::jobs::routes())
        .route_layer(from_fn_with_state(guard.clone(), guard::token_and_json));
    api.merge(monitor::page_routes())
        .layer(from_fn_with_state(guard, guard::same_site))
        .with_state(node)
}

/// The body of a call that needs no arguments: `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoArguments {}

/// Per tracker: API calls made and time spent waiting for rate limits; per handled
/// queue: its depth. For dashboards and alarms.
async fn metrics(State(node): State<Arc<Node>>) -> ApiResult<Json<serde_json::Value>> {
    let mut trackers = serde_json::Map::new();
    for (instance, t) in &node.trackers {
        trackers.insert(
            instance.clone(),
            json!({"kind": t.kind(), "calls": t.calls(), "throttled_ms": t.throttled_ms()}),
        );
    }
    let mut queues = serde_json::Map::new();
    for q in twinsync_ports::queues::HANDLED {
        let d = node.queue.depth(q).await.map_err(NodeError::from)?;
        queues.insert(q.to_string(), json!(d));
    }
    Ok(Json(
        json!({"node": node.id, "trackers": trackers, "queues": queues}),
    ))
}

async fn invite(
    State(node): State<Arc<Node>>,
    Json(req): Json<crate::link::LinkRequest>,
) -> ApiResult<impl IntoResponse> {
    let (connection, code) = crate::link::invite(&node, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "connection": connection.id, "status": "Pending", "code": code })),
    ))
}

/// A local connection: both sides on this node, active at once.
async fn local(
    State(node): State<Arc<Node>>,
    Json(req): Json<crate::link::LocalRequest>,
) -> ApiResult<impl IntoResponse> {
    let (a, b) = crate::link::create_local(&node, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "connections": [a.id, b.id], "status": "Active" })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptRequest {
    code: String,
    #[serde(flatten)]
    link: crate::link::LinkRequest,
}

async fn accept(
    State(node): State<Arc<Node>>,
    Json(req): Json<AcceptRequest>,
) -> ApiResult<impl IntoResponse> {
    let connection = crate::link::accept(&node, &req.code, &req.link).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "connection": connection.id, "status": "Active", "remote_node": connection.remote_node }),
        ),
    ))
}

async fn rotate_secret(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    crate::link::rotate_secret(&node, &id).await?;
    Ok(Json(json!({ "rotated": id })))
}

/// A connection as the admin API shows it. The link is an allow-list: a field added to it
/// later (a secret, a key) stays out of every answer until someone adds it here.
fn public_view(c: &twinsync_core::Connection) -> serde_json::Value {
    let mut v = json!(c);
    if let Some(object) = v.as_object_mut() {
        let link = c.link.as_ref().map(|l| {
            json!({
                "kind": l.kind,
                "peer_url": l.peer_url,
                "invitation_expires_ms": l.invitation_expires_ms,
                "invitation_used": l.invitation_used,
                "pulls": l.pulls,
                "old_secret_accepted_until_ms": l.previous_secret.as_ref().map(|_| l.previous_until_ms),
            })
        });
        object.insert("link".into(), json!(link));
    }
    v
}

async fn list_connections(State(node): State<Arc<Node>>) -> ApiResult<impl IntoResponse> {
    let list = node.connections.list().await.map_err(NodeError::from)?;
    Ok(Json(list.iter().map(public_view).collect::<Vec<_>>()))
}

async fn get_connection(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(public_view(&node.connection(&id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteRequest {
    confirm: Option<String>,
}

async fn delete_connection(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<DeleteRequest>,
) -> ApiResult<impl IntoResponse> {
    if req.confirm.as_deref() != Some(id.as_str()) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "deleting {id} removes its twins' sync info; confirm with {{\"confirm\": \"{id}\"}}"
            ),
        ));
    }
    let removed = operations::delete_connection(&node, &id).await?;
    Ok(Json(json!({ "deleted": id, "twins_removed": removed })))
}

async fn activate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    let resumed = operations::activate(&node, &id).await?;
    Ok(Json(json!({ "status": "Active", "resumed": resumed })))
}

async fn deactivate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    operations::deactivate(&node, &id).await?;
    Ok(Json(json!({ "status": "Deactivated" })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OperationRequest {
    item: Option<String>,
    remote: Option<String>,
    /// Undo: the replica version to go back to.
    version: Option<u64>,
    #[serde(default)]
    pairs: Vec<(String, String)>,
}

async fn operation(
    State(node): State<Arc<Node>>,
    Path((id, op)): Path<(String, String)>,
    Json(req): Json<OperationRequest>,
) -> ApiResult<impl IntoResponse> {
    let item = || {
        req.item
            .clone()
            .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("{op} needs \"item\"")))
    };
    let result = match op.as_str() {
        "sync" => json!({ "queued": operations::sync(&node, &id, &item()?).await? }),
        // Bulk operations are jobs the scheduler runs; follow them at /api/jobs/{id}.
        "bulk-exalate" => json!(jobs::start(&node, &id, JobKind::Exalate).await?),
        "bulk-sync" => json!(jobs::start(&node, &id, JobKind::Sync).await?),
        "relink" => {
            let remote = req.remote.clone().ok_or_else(|| {
                ApiError(StatusCode::BAD_REQUEST, "relink needs \"remote\"".into())
            })?;
            json!(operations::relink(&node, &id, &item()?, &remote).await?)
        }
        "bulk-connect" => {
            let kind = JobKind::Connect {
                pairs: req.pairs.clone(),
            };
            json!(jobs::start(&node, &id, kind).await?)
        }
        "unlink" => json!(operations::unlink(&node, &id, &item()?).await?),
        "undo" => {
            let version = req.version.ok_or_else(|| {
                ApiError(StatusCode::BAD_REQUEST, "undo needs \"version\"".into())
            })?;
            json!(operations::undo(&node, &id, &item()?, version).await?)
        }
        "unexalate" => json!(operations::unexalate(&node, &id, &item()?).await?),
        "force-unlink" => json!(operations::force_unlink(&node, &id, &item()?).await?),
        "clean-up" => json!({ "removed": operations::clean_up(&node, &id).await? }),
        "redrive" => json!({ "redriven": operations::redrive(&node, &id).await? }),
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("unknown operation {other}"),
            ));
        }
    };
    Ok(Json(result))
}

#[derive(Deserialize, Default)]
struct TwinParams {
    connection: Option<String>,
    status: Option<String>,
    key: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn list_twins(
    State(node): State<Arc<Node>>,
    Query(p): Query<TwinParams>,
) -> ApiResult<impl IntoResponse> {
    let twins = node
        .twins
        .list(&TwinQuery {
            connection_id: p.connection,
            status: p.status,
            key_prefix: p.key,
            limit: p.limit.unwrap_or(100).min(1000),
            offset: p.offset.unwrap_or(0),
        })
        .await
        .map_err(NodeError::from)?;
    Ok(Json(twins))
}

async fn get_twin(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let twin = node
        .twins
        .get(&id)
        .await
        .map_err(NodeError::from)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no twin {id}")))?;
    let events = node
        .twins
        .events(None, Some(&id), 200)
        .await
        .map_err(NodeError::from)?;
    let replicas = node.twins.replicas(&id).await.map_err(NodeError::from)?;
    Ok(Json(
        json!({ "twin": twin, "events": events, "replicas": replicas }),
    ))
}

#[derive(Deserialize, Default)]
struct EventParams {
    connection: Option<String>,
    limit: Option<usize>,
}

async fn list_events(
    State(node): State<Arc<Node>>,
    Query(p): Query<EventParams>,
) -> ApiResult<impl IntoResponse> {
    let events = node
        .twins
        .events(
            p.connection.as_deref(),
            None,
            p.limit.unwrap_or(100).min(1000),
        )
        .await
        .map_err(NodeError::from)?;
    Ok(Json(events))
}

async fn queue_depths(State(node): State<Arc<Node>>) -> ApiResult<impl IntoResponse> {
    let mut out = serde_json::Map::new();
    for name in node.queue.queue_names().await.map_err(NodeError::from)? {
        let depth = node.queue.depth(&name).await.map_err(NodeError::from)?;
        out.insert(name, json!(depth));
    }
    Ok(Json(out))
}

/// The monitor's content for the page's script: an HTML fragment, rendered here.
async fn monitor_view(
    State(node): State<Arc<Node>>,
    Query(view): Query<monitor::View>,
) -> ApiResult<Html<String>> {
    Ok(Html(monitor::render(&node, &view).await?))
}
