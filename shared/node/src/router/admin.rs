//! The operator API (connections, versions, Test Run, operations, twins, events, queues,
//! metrics) and the Item Sync Monitor, served on the admin listener behind [`super::guard`].
//! Every call that changes state is a POST or DELETE with a JSON body.

use super::guard::{self, AdminGuard};
use super::scope::Scope;
use super::{ApiError, ApiResult};
use crate::{Node, NodeError, jobs, monitor, operations};
use axum::Json;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
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
        .route(
            "/api/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    super::openapi::document(),
                )
            }),
        )
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
        .merge(super::versions::routes())
        .merge(super::jobs::routes())
        .merge(super::monitor::routes())
        .merge(super::workspaces::routes())
        .route_layer(from_fn_with_state(
            (guard.clone(), node.clone()),
            super::scope::check,
        ));
    api.merge(monitor::page_routes())
        .layer(from_fn_with_state(guard, guard::same_site))
        .layer(axum::middleware::map_response(super::openapi::json_errors))
        .with_state(node)
}

/// The body of a call that needs no arguments: `{}`. Read as a JSON object with no
/// members; a derived struct would also take `[]`.
#[derive(utoipa::ToSchema)]
#[schema(max_properties = 0)]
pub(super) struct NoArguments {}

impl<'de> Deserialize<'de> for NoArguments {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let members = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        match members.keys().next() {
            None => Ok(NoArguments {}),
            Some(name) => Err(serde::de::Error::custom(format!(
                "this call takes no arguments (`{{}}`), not {name:?}"
            ))),
        }
    }
}

/// Per tracker: API calls made and time spent waiting for rate limits; per handled
/// queue: its depth. For dashboards and alarms.
#[utoipa::path(get, path = "/api/metrics", tag = "node", responses((status = 200, description = "API calls and waits per tracker, queue depths", body = Object)))]
pub(super) async fn metrics(State(node): State<Arc<Node>>) -> ApiResult<Json<serde_json::Value>> {
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

#[utoipa::path(post, path = "/api/connections/invite", tag = "connections", request_body = crate::link::LinkRequest, responses((status = 201, description = "the connection, Pending, and its invitation code", body = Object)))]
pub(super) async fn invite(
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
#[utoipa::path(post, path = "/api/connections/local", tag = "connections", request_body = crate::link::LocalRequest, responses((status = 201, description = "both connection records, Active", body = Object)))]
pub(super) async fn local(
    State(node): State<Arc<Node>>,
    Json(req): Json<crate::link::LocalRequest>,
) -> ApiResult<impl IntoResponse> {
    let (a, b) = crate::link::create_local(&node, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "connections": [a.id, b.id], "status": "Active" })),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AcceptRequest {
    /// The invitation code the other node's operator gave.
    code: String,
    /// The tracker instance this side syncs.
    instance: String,
    /// Where twins are created on this side.
    target_project: String,
    /// An optional trigger query for this side.
    trigger: Option<String>,
}

#[utoipa::path(post, path = "/api/connections/accept", tag = "connections", request_body = AcceptRequest, responses((status = 201, description = "the connection, Active", body = Object)))]
pub(super) async fn accept(
    State(node): State<Arc<Node>>,
    Json(req): Json<AcceptRequest>,
) -> ApiResult<impl IntoResponse> {
    let link = crate::link::LinkRequest {
        instance: req.instance,
        target_project: req.target_project,
        trigger: req.trigger,
        name: None,
        kind: twinsync_core::ConnectionKind::Public,
    };
    let connection = crate::link::accept(&node, &req.code, &link).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "connection": connection.id, "status": "Active", "remote_node": connection.remote_node }),
        ),
    ))
}

#[utoipa::path(post, path = "/api/connections/{id}/rotate-secret", tag = "connections", params(("id" = String, Path, description = "the connection")), request_body = NoArguments, responses((status = 200, description = "the secret was replaced on both nodes", body = Object)))]
pub(super) async fn rotate_secret(
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

#[utoipa::path(get, path = "/api/connections", tag = "connections", responses((status = 200, description = "every connection", body = Vec<Object>)))]
pub(super) async fn list_connections(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
) -> ApiResult<impl IntoResponse> {
    let list = node.connections.list().await.map_err(NodeError::from)?;
    let seen = list.iter().filter(|c| scope.sees(&c.id));
    Ok(Json(seen.map(public_view).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path, description = "the connection")), responses((status = 200, description = "the connection, its versions and status", body = Object)))]
pub(super) async fn get_connection(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(public_view(&node.connection(&id).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteRequest {
    confirm: Option<String>,
}

#[utoipa::path(delete, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path, description = "the connection")), request_body = DeleteRequest, responses((status = 200, description = "deleted, with the number of twins removed", body = Object)))]
pub(super) async fn delete_connection(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<DeleteRequest>,
) -> ApiResult<impl IntoResponse> {
    if req.confirm.as_deref() != Some(id.as_str()) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "deleting {id} removes its twins' sync info; confirm with {{\"confirm\": \"{id}\"}}"
            ),
        ));
    }
    let removed = operations::delete_connection(&node, &id).await?;
    Ok(Json(json!({ "deleted": id, "twins_removed": removed })))
}

#[utoipa::path(post, path = "/api/connections/{id}/activate", tag = "connections", params(("id" = String, Path, description = "the connection")), request_body = NoArguments, responses((status = 200, description = "Active; the changes held while paused are sent", body = Object)))]
pub(super) async fn activate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    let resumed = operations::activate(&node, &id).await?;
    Ok(Json(json!({ "status": "Active", "resumed": resumed })))
}

#[utoipa::path(post, path = "/api/connections/{id}/deactivate", tag = "connections", params(("id" = String, Path, description = "the connection")), request_body = NoArguments, responses((status = 200, description = "Deactivated: changes are kept until it is active again", body = Object)))]
pub(super) async fn deactivate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    operations::deactivate(&node, &id).await?;
    Ok(Json(json!({ "status": "Deactivated" })))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OperationRequest {
    item: Option<String>,
    remote: Option<String>,
    /// Undo: the replica version to go back to.
    #[serde(default, deserialize_with = "super::maybe_whole_number")]
    version: Option<u64>,
    #[serde(default)]
    #[schema(value_type = Vec<super::schemas::KeyPair>)]
    pairs: Vec<(String, String)>,
}

#[utoipa::path(post, path = "/api/connections/{id}/operations/{op}", tag = "operations", params(("id" = String, Path, description = "the connection"), ("op" = String, Path, description = "sync, bulk-exalate, bulk-sync, relink, bulk-connect, unlink, undo, unexalate, force-unlink, clean-up or redrive")), request_body = OperationRequest, responses((status = 200, description = "what the operation did", body = Object)))]
pub(super) async fn operation(
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

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TwinParams {
    connection: Option<String>,
    #[param(inline)]
    status: Option<crate::monitor::views::StatusFilter>,
    /// A prefix of this side's or the other side's key.
    key: Option<String>,
    /// At most this many (100 when not given).
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<usize>,
    #[param(minimum = 0, maximum = 1000000000)]
    offset: Option<usize>,
}

#[utoipa::path(get, path = "/api/twins", tag = "twins", params(TwinParams), responses((status = 200, description = "twin records", body = Vec<Object>)))]
pub(super) async fn list_twins(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
    Query(p): Query<TwinParams>,
) -> ApiResult<impl IntoResponse> {
    super::seen_connection(&scope, p.connection.as_deref())?;
    let twins = node
        .twins
        .list(&TwinQuery {
            connection_id: p.connection,
            within: scope.within(),
            status: p.status.map(|s| s.label().to_string()),
            key_prefix: p.key,
            limit: super::bounded("limit", p.limit, 0..=1000, 100)?,
            offset: super::bounded("offset", p.offset, 0..=1_000_000_000, 0)?,
            ..TwinQuery::default()
        })
        .await
        .map_err(NodeError::from)?;
    Ok(Json(twins))
}

#[utoipa::path(get, path = "/api/twins/{id}", tag = "twins", params(("id" = String, Path, description = "the twin")), responses((status = 200, description = "the twin record, its events and replicas", body = Object)))]
pub(super) async fn get_twin(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let twin = node
        .twins
        .get(&id)
        .await
        .map_err(NodeError::from)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no twin {id}")))?;
    let events = node.timeline(&twin, 200).await?;
    let replicas = node.twins.replicas(&id).await.map_err(NodeError::from)?;
    Ok(Json(
        json!({ "twin": twin, "events": events, "replicas": replicas }),
    ))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventParams {
    connection: Option<String>,
    /// At most this many (100 when not given).
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/events", tag = "twins", params(EventParams), responses((status = 200, description = "sync events, newest first", body = Vec<Object>)))]
pub(super) async fn list_events(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
    Query(p): Query<EventParams>,
) -> ApiResult<impl IntoResponse> {
    super::seen_connection(&scope, p.connection.as_deref())?;
    let mut events = node
        .twins
        .events(
            p.connection.as_deref(),
            None,
            super::bounded("limit", p.limit, 0..=1000, 100)?,
        )
        .await
        .map_err(NodeError::from)?;
    events.retain(|e| scope.sees(&e.connection_id));
    Ok(Json(events))
}

#[utoipa::path(get, path = "/api/queues", tag = "node", responses((status = 200, description = "every queue's depth", body = Object)))]
pub(super) async fn queue_depths(State(node): State<Arc<Node>>) -> ApiResult<impl IntoResponse> {
    let mut out = serde_json::Map::new();
    for name in node.queue.queue_names().await.map_err(NodeError::from)? {
        let depth = node.queue.depth(&name).await.map_err(NodeError::from)?;
        out.insert(name, json!(depth));
    }
    Ok(Json(out))
}
