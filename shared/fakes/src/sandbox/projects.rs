//! The sandbox's project routes: create (with its statuses and priorities) and list.

use super::db;
use super::error::{ApiError, ApiResult, bad};
use super::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rusqlite::params;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewProject {
    key: String,
    name: String,
    statuses: Option<Vec<String>>,
    priorities: Option<Vec<String>>,
}

pub(super) async fn create_project(
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
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO projects (key, name, statuses, priorities) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![p.key, p.name, db::json(&statuses), db::json(&priorities)])?;
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

pub(super) async fn list_projects(State(s): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
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
