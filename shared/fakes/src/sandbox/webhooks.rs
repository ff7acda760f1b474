//! The sandbox's webhook subscription routes: create, list (secrets are write-only) and
//! delete.

use super::error::{ApiResult, bad, not_found};
use super::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rusqlite::params;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    url: String,
    secret: String,
}

pub(super) async fn create_webhook(
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
    s.db()
        .prepare_cached("INSERT INTO webhooks (id, url, secret) VALUES (?1, ?2, ?3)")?
        .execute(params![id, w.url, w.secret])?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "url": w.url }))))
}

pub(super) async fn list_webhooks(State(s): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
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

pub(super) async fn delete_webhook(
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
