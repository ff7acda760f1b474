//! What may face the internet: tracker webhooks (checked by the vendors' signatures), the
//! node-to-node endpoints (checked by the connection's HMAC) and a health check. The AWS
//! function URLs and the local public listener serve only this; `/api/*` and the monitor
//! are 404 here.

use super::{ApiError, ApiResult};
use crate::Node;
use crate::handlers::ingest::{self, IngestError};
use crate::link::header_pairs;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

/// The public routes of `node`.
pub fn public_router(node: Arc<Node>) -> Router {
    // Node-to-node bodies may be as large as this node takes (compressed or not); the
    // signature check holds them to it exactly.
    let limit = usize::try_from(crate::link::wire_limit(node.settings.max_replica_bytes))
        .unwrap_or(usize::MAX);
    let node_to_node = Router::new()
        .route("/v1/handshake", post(handshake))
        .route("/v1/transport", post(transport_in))
        .route("/v1/pull", post(pull))
        .route("/v1/rotate", post(rotate_in))
        .route("/v1/pull/ack", post(pull_ack))
        .route("/v1/dry-run", post(dry_run))
        .layer(DefaultBodyLimit::max(limit));
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/webhooks/{connector}/{instance}", post(webhook))
        .route(
            "/webhooks/{connector}/{instance}/{secret}",
            post(webhook_with_secret),
        )
        .merge(node_to_node)
        // Refusals axum makes itself (a body over the limit, a bad path) carry their reason
        // as `{"error": ...}` too, as every other refusal here does.
        .layer(axum::middleware::map_response(super::openapi::json_errors))
        .with_state(node)
}

async fn webhook(
    State(node): State<Arc<Node>>,
    Path((connector, instance)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    deliver(node, connector, instance, None, headers, body).await
}

/// A delivery to an endpoint whose last path segment is a shared secret (Salesforce
/// Outbound Messages sign nothing): the secret goes to the connector as a pseudo-header.
async fn webhook_with_secret(
    State(node): State<Arc<Node>>,
    Path((connector, instance, secret)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    deliver(node, connector, instance, Some(secret), headers, body).await
}

async fn deliver(
    node: Arc<Node>,
    connector: String,
    instance: String,
    secret: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let mut headers = header_pairs(&headers);
    // Only the path says the secret, never a header the sender chose.
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(twinsync_ports::WEBHOOK_PATH_SECRET));
    if let Some(secret) = secret {
        headers.push((twinsync_ports::WEBHOOK_PATH_SECRET.to_string(), secret));
    }
    match ingest::webhook(&node, &connector, &instance, &headers, &body).await {
        Ok(queued) => {
            let answer = node
                .trackers
                .get(&instance)
                .and_then(|t| t.webhook_answer());
            Ok(match answer {
                Some((content_type, body)) => (
                    StatusCode::OK,
                    [(axum::http::header::CONTENT_TYPE, content_type)],
                    body,
                )
                    .into_response(),
                None => (StatusCode::ACCEPTED, Json(json!({ "queued": queued }))).into_response(),
            })
        }
        Err(IngestError::TooMany { retry_after_ms, .. }) => {
            let seconds = retry_after_ms.div_ceil(1000).max(1).to_string();
            // A flood is thousands of these: warn at the first and at each doubling.
            let refused = node.ingest_gate.refused();
            if refused.is_power_of_two() {
                tracing::warn!(%connector, %instance, refused, "webhook deliveries over the instance's limit; polling brings their changes in");
            } else {
                tracing::debug!(%connector, %instance, refused, "webhook delivery over the instance's limit");
            }
            Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, seconds)],
                Json(json!({ "error": "too many deliveries; polling brings the change in" })),
            )
                .into_response())
        }
        Err(e) => {
            let status = match &e {
                IngestError::UnknownInstance(_) => StatusCode::NOT_FOUND,
                IngestError::WrongConnector { .. } => StatusCode::BAD_REQUEST,
                IngestError::Webhook(twinsync_ports::WebhookError::Malformed(_)) => {
                    StatusCode::BAD_REQUEST
                }
                IngestError::Webhook(_) => StatusCode::UNAUTHORIZED,
                IngestError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
                IngestError::Node(n) if n.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
                IngestError::Node(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(%connector, %instance, error = %e, "webhook refused");
            Err(ApiError(status, e.to_string()))
        }
    }
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
) -> ApiResult<Response> {
    let answer = crate::link::receive_rotation(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(signed_answer(answer))
}

async fn pull(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let answer = crate::link::serve_pull(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(signed_answer(answer))
}

async fn dry_run(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let answer = crate::link::serve_dry_run(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(signed_answer(answer))
}

async fn pull_ack(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let answer = crate::link::serve_pull_ack(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    Ok(signed_answer(answer))
}

/// A JSON answer with the headers that prove it comes from this node for that request.
fn signed_answer(answer: crate::link::SignedAnswer) -> Response {
    let mut response = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response();
    for (name, value) in answer.headers.pairs() {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn transport_in(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let received = crate::link::receive_transport(&node, &header_pairs(&headers), &body)
        .await
        .map_err(link_error)?;
    let answer = match received {
        // How many one request may carry, so that a node whose link predates lists
        // learns it from any delivery (link::HttpPeer::batch_max_said).
        crate::link::Received::One => json!({
            "accepted": true,
            "batch_max": twinsync_core::TRANSPORT_BATCH_MAX,
        }),
        crate::link::Received::List(answer) => json!(answer),
    };
    Ok((StatusCode::ACCEPTED, Json(answer)))
}
