//! The node's HTTP surface: tracker webhooks, the admin API and the Item Sync Monitor.
//! The same Router serves locally and, on AWS, behind a Lambda function URL.

use crate::handlers::ingest::{self, IngestError};
use crate::{Node, NodeError, monitor, operations};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use twinsync_core::ConfigVersion;
use twinsync_ports::TwinQuery;

/// An error answer: status plus `{"error": reason}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::UnknownConnection(_) | NodeError::UnknownInstance(_) => {
                StatusCode::NOT_FOUND
            }
            NodeError::Operation(_)
            | NodeError::Rules(_)
            | NodeError::BadMessage(_)
            | NodeError::Config(_) => StatusCode::BAD_REQUEST,
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

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
        let d = node.queue.depth(q).await.map_err(crate::NodeError::from)?;
        queues.insert(q.to_string(), json!(d));
    }
    Ok(Json(
        json!({"node": node.id, "trackers": trackers, "queues": queues}),
    ))
}

/// What may face the internet: tracker webhooks (checked by the vendors' signatures) and
/// the node-to-node endpoints (checked by the connection's HMAC). The AWS function URLs
/// serve only this; the operator API stays off them.
pub fn public_router(node: Arc<Node>) -> Router {
    public_routes().with_state(node)
}

fn public_routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/webhooks/{connector}/{instance}", post(webhook))
        .route("/v1/handshake", post(handshake))
        .route("/v1/transport", post(transport_in))
        .route("/v1/pull", post(pull))
        .route("/v1/rotate", post(rotate_in))
        .route("/v1/pull/ack", post(pull_ack))
}

/// The local node's whole API: the public routes and the operator API (connections,
/// versions, operations, twins, events, the monitor), which listens on loopback.
pub fn router(node: Arc<Node>) -> Router {
    public_routes()
        .route(
            "/api/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/api/metrics", get(metrics))
        .route("/api/connections", get(list_connections))
        .route("/api/connections/invite", post(invite))
        .route("/api/connections/accept", post(accept))
        .route("/api/connections/{id}/rotate-secret", post(rotate_secret))
        .route(
            "/api/connections/{id}",
            get(get_connection).delete(delete_connection),
        )
        .route("/api/connections/{id}/activate", post(activate))
        .route("/api/connections/{id}/deactivate", post(deactivate))
        .route("/api/connections/{id}/versions", post(save_draft))
        .route(
            "/api/connections/{id}/versions/{number}/activate",
            post(activate_version),
        )
        .route(
            "/api/connections/{id}/versions/{number}/test-run",
            post(test_run),
        )
        .route("/api/connections/{id}/operations/{op}", post(operation))
        .route("/api/twins", get(list_twins))
        .route("/api/twins/{id}", get(get_twin))
        .route("/api/events", get(list_events))
        .route("/api/queues", get(queue_depths))
        .route("/monitor", get(monitor_page))
        .with_state(node)
}

async fn webhook(
    State(node): State<Arc<Node>>,
    Path((connector, instance)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    match ingest::webhook(&node, &connector, &instance, &headers, &body).await {
        Ok(queued) => Ok((StatusCode::ACCEPTED, Json(json!({ "queued": queued })))),
        Err(e) => {
            let status = match &e {
                IngestError::UnknownInstance(_) => StatusCode::NOT_FOUND,
                IngestError::WrongConnector { .. } => StatusCode::BAD_REQUEST,
                IngestError::Webhook(twinsync_ports::WebhookError::Malformed(_)) => {
                    StatusCode::BAD_REQUEST
                }
                IngestError::Webhook(_) => StatusCode::UNAUTHORIZED,
                IngestError::Node(n) if n.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
                IngestError::Node(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(%connector, %instance, error = %e, "webhook refused");
            Err(ApiError(status, e.to_string()))
        }
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
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

fn link_error(e: crate::link::LinkError) -> ApiError {
    tracing::warn!(error = %e, "node-to-node request refused");
    ApiError(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        e.to_string(),
    )
}

async fn handshake(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let connection = crate::link::receive_handshake(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(Json(
        json!({ "connection": connection.id, "initiator_node": node.id, "product_version": crate::link::PRODUCT_VERSION }),
    ))
}

async fn rotate_in(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    crate::link::receive_rotation(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(Json(json!({ "rotated": true })))
}

async fn rotate_secret(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    crate::link::rotate_secret(&node, &id).await?;
    Ok(Json(json!({ "rotated": id })))
}

async fn pull(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let messages = crate::link::serve_pull(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(Json(messages))
}

async fn pull_ack(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let deleted = crate::link::serve_pull_ack(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(Json(json!({ "deleted": deleted })))
}

async fn transport_in(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    crate::link::receive_transport(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": true }))))
}

/// A connection as the admin API shows it: the shared secret is never returned.
fn public_view(c: &twinsync_core::Connection) -> serde_json::Value {
    let mut v = json!(c);
    if let Some(link) = v.get_mut("link").and_then(|l| l.as_object_mut()) {
        link.remove("secret");
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
struct DeleteParams {
    confirm: Option<String>,
}

async fn delete_connection(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Query(p): Query<DeleteParams>,
) -> ApiResult<impl IntoResponse> {
    if p.confirm.as_deref() != Some(id.as_str()) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("deleting {id} removes its twins' sync info; confirm with ?confirm={id}"),
        ));
    }
    let removed = operations::delete_connection(&node, &id).await?;
    Ok(Json(json!({ "deleted": id, "twins_removed": removed })))
}

async fn activate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let resumed = operations::activate(&node, &id).await?;
    Ok(Json(json!({ "status": "Active", "resumed": resumed })))
}

async fn deactivate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    operations::deactivate(&node, &id).await?;
    Ok(Json(json!({ "status": "Deactivated" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftRequest {
    outgoing: String,
    incoming: String,
    #[serde(default)]
    note: String,
}

async fn save_draft(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<DraftRequest>,
) -> ApiResult<impl IntoResponse> {
    let connection = node.connection(&id).await?;
    let base = connection.active_version().cloned().unwrap_or_default();
    let number = operations::save_draft(
        &node,
        &id,
        ConfigVersion {
            outgoing: req.outgoing,
            incoming: req.incoming,
            note: req.note,
            ..base
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "version": number, "status": "Draft" })),
    ))
}

async fn activate_version(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
) -> ApiResult<impl IntoResponse> {
    operations::activate_version(&node, &id, number).await?;
    Ok(Json(json!({ "version": number, "status": "Active" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRunRequest {
    item: String,
}

async fn test_run(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
    Json(req): Json<TestRunRequest>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        operations::test_run(&node, &id, number, &req.item).await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OperationRequest {
    item: Option<String>,
    remote: Option<String>,
    #[serde(default)]
    pairs: Vec<(String, String)>,
}

async fn operation(
    State(node): State<Arc<Node>>,
    Path((id, op)): Path<(String, String)>,
    body: Option<Json<OperationRequest>>,
) -> ApiResult<impl IntoResponse> {
    let req = body.map(|b| b.0).unwrap_or_default();
    let item = || {
        req.item
            .clone()
            .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("{op} needs \"item\"")))
    };
    let result = match op.as_str() {
        "sync" => json!({ "queued": operations::sync(&node, &id, &item()?).await? }),
        "bulk-exalate" => json!({ "queued": operations::bulk_exalate(&node, &id).await? }),
        "bulk-sync" => json!({ "queued": operations::bulk_sync(&node, &id).await? }),
        "relink" => {
            let remote = req.remote.clone().ok_or_else(|| {
                ApiError(StatusCode::BAD_REQUEST, "relink needs \"remote\"".into())
            })?;
            json!({ "twin": operations::relink(&node, &id, &item()?, &remote).await? })
        }
        "bulk-connect" => {
            json!({ "results": operations::bulk_connect(&node, &id, &req.pairs).await? })
        }
        "unlink" => json!({ "twin": operations::unlink(&node, &id, &item()?).await? }),
        "unexalate" => {
            operations::unexalate(&node, &id, &item()?).await?;
            json!({ "unexalated": true })
        }
        "force-unlink" => {
            json!({ "dropped": operations::force_unlink(&node, &id, &item()?).await? })
        }
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

async fn monitor_page(
    State(node): State<Arc<Node>>,
    Query(p): Query<TwinParams>,
) -> ApiResult<Html<String>> {
    Ok(Html(
        monitor::render(&node, &p.connection, &p.status, &p.key).await?,
    ))
}
