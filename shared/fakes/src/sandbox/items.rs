//! The sandbox's item routes: create, get, and update (which records nothing and sends
//! no webhook when nothing changes).

use super::db;
use super::error::{ApiError, ApiResult, bad};
use super::fields::{
    CREATE_FIELDS, UPDATE_FIELDS, check_in, custom_field, labels_field, only, str_field, user_field,
};
use super::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use rusqlite::params;
use serde_json::{Map, Value};
use std::sync::Arc;
use twinsync_core::Clock;
use twinsync_sandbox::mapping::WireItem;

/// Writes an item's sync status and twin.
const STORE_SYNC: &str = "INSERT INTO item_sync (item_key, status, reason, twin_key, twin_url, updated_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(item_key) DO UPDATE SET status = ?2, \
     reason = ?3, twin_key = ?4, twin_url = ?5, updated_ms = ?6";

/// Takes the project's next item number.
const NEXT_NUMBER: &str =
    "UPDATE projects SET next_number = next_number + 1 WHERE key = ?1 RETURNING next_number - 1";

pub(super) async fn create_item(
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
    let sync = match body.get("sync") {
        None | Some(Value::Null) => None,
        Some(v) => Some(SyncField::checked(v.clone())?),
    };
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
    let number: i64 = tx
        .prepare_cached(NEXT_NUMBER)?
        .query_row(params![project], |r| r.get(0))?;
    let key = format!("{project}-{number}");
    tx.prepare_cached(&format!(
        "INSERT INTO items ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12)",
        db::ITEM_COLUMNS
    ))?
    .execute(params![
        key,
        project,
        summary,
        description,
        status,
        priority,
        db::json(&labels),
        assignee,
        reporter,
        custom,
        origin,
        now
    ])?;
    if let Some(f) = &sync {
        f.store(&tx, &key, now)?;
    }
    tx.commit()?;
    let item = s.read(&conn, &key)?;
    drop(conn);
    s.emit("item.created", &item);
    Ok((StatusCode::CREATED, Json(item)))
}

pub(super) async fn get_item(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let conn = s.db();
    Ok(Json(s.read(&conn, &key)?))
}

pub(super) async fn update_item(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Map<String, Value>>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(body) = body?;
    only(&body, UPDATE_FIELDS)?;
    let expected = if_match(&headers)?;
    let conn = s.db();
    let current = s.read(&conn, &key)?;
    // Checked under the same connection lock as the write, so nothing lands between.
    still_at(&current, expected)?;
    // A move to another project keeps the key (as Redmine's and Azure DevOps' do); the
    // item's fields are then checked against the new project's lists.
    let project = str_field(&body, "project")?.unwrap_or_else(|| current.project.clone());
    let (statuses, priorities) = db::project_lists(&conn, &project)?
        .ok_or_else(|| bad(format!("unknown project {project:?}")))?;
    let mut sets = changes(&body, &current, &statuses, &priorities)?;
    if project != current.project {
        sets.push(("project", Some(project)));
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
    conn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values.iter()))?;
    let item = s.read(&conn, &key)?;
    drop(conn);
    s.emit("item.updated", &item);
    Ok(Json(item))
}

/// The version an update's `If-Match` names (`"7"`, the item's version as an entity
/// tag; `*` matches any version). A weak tag or a list is refused: an item's version
/// is its only tag.
pub(super) fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get("if-match") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| bad("If-Match is not readable text"))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| bad(format!("If-Match {text:?} is not an item version (\"7\")")))
}

/// 412 unless `item` is at the version an `If-Match` named.
pub(super) fn still_at(item: &WireItem, expected: Option<u64>) -> ApiResult<()> {
    match expected {
        Some(version) if version != item.version => Err(ApiError(
            StatusCode::PRECONDITION_FAILED,
            format!("{} is at version {}, not {version}", item.key, item.version),
        )),
        _ => Ok(()),
    }
}

/// The columns an update changes and their new stored values: only those that differ
/// from `current`.
fn changes(
    body: &Map<String, Value>,
    current: &WireItem,
    statuses: &[String],
    priorities: &[String],
) -> ApiResult<Vec<(&'static str, Option<String>)>> {
    let mut sets: Vec<(&str, Option<String>)> = Vec::new();
    if let Some(v) = str_field(body, "summary")? {
        if v.trim().is_empty() {
            return Err(bad("summary cannot be empty"));
        }
        if v != current.summary {
            sets.push(("summary", Some(v)));
        }
    }
    if let Some(v) = str_field(body, "description")?
        && v != current.description
    {
        sets.push(("description", Some(v)));
    }
    if let Some(v) = str_field(body, "status")? {
        check_in("status", &v, statuses)?;
        if Some(&v) != current.status.as_ref() {
            sets.push(("status", Some(v)));
        }
    }
    if body.contains_key("priority") {
        let v = str_field(body, "priority")?.filter(|p| !p.is_empty());
        if let Some(p) = &v {
            check_in("priority", p, priorities)?;
        }
        if v != current.priority {
            sets.push(("priority", v));
        }
    }
    if let Some(v) = labels_field(body)?
        && v != current.labels
    {
        sets.push(("labels", Some(db::json(&v))));
    }
    if let Some(v) = user_field(body, "assignee")? {
        let now = current.assignee.as_ref().map(db::json);
        if v != now {
            sets.push(("assignee", v));
        }
    }
    if let Some(v) = custom_field(body)?
        && v != db::json(&current.custom_fields)
    {
        sets.push(("custom_fields", Some(v)));
    }
    Ok(sets)
}

/// Deletes an item with its comments and attachments; its webhook names the version the
/// deletion would have had, so a reader knows it is news.
pub(super) async fn delete_item(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let mut conn = s.db();
    let mut item = s.read(&conn, &key)?;
    let tx = conn.transaction()?;
    for sql in [
        "DELETE FROM item_sync WHERE item_key = ?1",
        "DELETE FROM comments WHERE item_key = ?1",
        "DELETE FROM attachments WHERE item_key = ?1",
        "DELETE FROM items WHERE key = ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![key])?;
    }
    tx.commit()?;
    drop(conn);
    item.version += 1;
    item.updated_ms = s.tick(item.updated_ms);
    s.emit("item.deleted", &item);
    Ok(StatusCode::NO_CONTENT)
}

/// The sync field as a node sets it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SyncField {
    status: String,
    reason: Option<String>,
    twin_key: Option<String>,
    twin_url: Option<String>,
}

/// `PUT /api/items/{key}/sync`: the item's sync status. Metadata, not a change of the
/// item: its version, time and webhooks stay as they are.
pub(super) async fn put_sync(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Result<Json<SyncField>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(f) = body?;
    f.check()?;
    let conn = s.db();
    s.read(&conn, &key)?;
    f.store(&conn, &key, s.clock.now_ms())?;
    Ok(Json(s.read(&conn, &key)?.sync))
}

impl SyncField {
    /// The field as a create names it, checked as `PUT /api/items/{key}/sync` checks it.
    fn checked(value: Value) -> ApiResult<SyncField> {
        let f: SyncField = serde_json::from_value(value).map_err(|e| bad(format!("sync: {e}")))?;
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> ApiResult<()> {
        if !["syncing", "synced", "error", "unlinked"].contains(&self.status.as_str()) {
            return Err(bad(format!(
                "status {:?} is not one of syncing, synced, error, unlinked",
                self.status
            )));
        }
        if (self.status == "error") != self.reason.is_some() {
            return Err(bad("reason is given with status error, and only then"));
        }
        Ok(())
    }

    fn store(&self, conn: &rusqlite::Connection, key: &str, now_ms: i64) -> ApiResult<()> {
        conn.prepare_cached(STORE_SYNC)?.execute(params![
            key,
            self.status,
            self.reason,
            self.twin_key,
            self.twin_url,
            now_ms
        ])?;
        Ok(())
    }
}
