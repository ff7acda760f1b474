//! The fake Jira's dynamic webhook routes: list, register (each with events and a JQL
//! filter) and refresh before they expire.

use super::guard::refused;
use super::state::{Fake, Hook};
use crate::plumbing::{now_ms, strings};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use twinsync_jira::mapping::timestamp;

/// Webhooks registered through the REST API expire after 30 days.
const WEBHOOK_TTL_MS: i64 = 30 * 24 * 3_600_000;

pub(super) async fn list_webhooks(State(fake): State<Arc<Fake>>) -> Response {
    let data = fake.lock();
    let values: Vec<Value> = data
        .hooks
        .iter()
        .map(|h| json!({"id": h.id, "jqlFilter": h.jql, "events": h.events, "expirationDate": timestamp(h.expires_ms), "url": h.url}))
        .collect();
    axum::Json(json!({"maxResults": 100, "startAt": 0, "total": values.len(), "isLast": true, "values": values})).into_response()
}

pub(super) async fn register_webhooks(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(url) = request["url"].as_str() else {
        return refused(StatusCode::BAD_REQUEST, "url is required");
    };
    let mut data = fake.lock();
    let mut results = Vec::new();
    for w in request["webhooks"].as_array().cloned().unwrap_or_default() {
        let events = strings(&w["events"]).unwrap_or_default();
        let jql = w["jqlFilter"].as_str().unwrap_or("").to_string();
        if events.is_empty() || jql.is_empty() {
            results.push(json!({"errors": ["Webhook must have events and a jqlFilter."]}));
            continue;
        }
        data.seq += 1;
        let id = data.seq;
        data.hooks.push(Hook {
            id,
            url: url.to_string(),
            events,
            jql,
            expires_ms: now_ms() + WEBHOOK_TTL_MS,
        });
        results.push(json!({"createdWebhookId": id}));
    }
    axum::Json(json!({"webhookRegistrationResult": results})).into_response()
}

pub(super) async fn refresh_webhooks(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let ids: Vec<u64> = request["webhookIds"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut data = fake.lock();
    let expires = now_ms() + WEBHOOK_TTL_MS;
    for h in data.hooks.iter_mut().filter(|h| ids.contains(&h.id)) {
        h.expires_ms = expires;
    }
    axum::Json(json!({"expirationDate": timestamp(expires)})).into_response()
}
