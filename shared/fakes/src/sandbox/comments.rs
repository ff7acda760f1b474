//! The sandbox's routes for an item's children: add, edit and delete a comment, add an
//! attachment. Each change moves the item's version and time on and sends a webhook.

use super::db;
use super::error::{ApiResult, bad, not_found};
use super::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use twinsync_core::Clock;
use twinsync_sandbox::mapping::{WireItem, WireUser};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewComment {
    body: String,
    author: Option<WireUser>,
    origin: Option<String>,
}

/// What a comment's or an attachment's add answers with: the child added, or with
/// `?answer=item` the child and the whole item as it left it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddAnswer {
    answer: Option<String>,
}

/// What an add was asked to answer with.
#[derive(Clone, Copy)]
enum Answer {
    Child,
    ChildAndItem,
}

impl AddAnswer {
    /// Reads `?answer=`: `child` (the default) or `item`.
    fn read(wanted: Result<Query<AddAnswer>, QueryRejection>, child: &str) -> ApiResult<Answer> {
        let Query(wanted) = wanted.map_err(|e| bad(format!("invalid query: {}", e.body_text())))?;
        match wanted.answer.as_deref() {
            None => Ok(Answer::Child),
            Some(asked) if asked == child => Ok(Answer::Child),
            Some("item") => Ok(Answer::ChildAndItem),
            Some(other) => Err(bad(format!("answer={other:?} is not {child} or item"))),
        }
    }
}

/// A 201 with the child added, alone or under `child` beside the item as it left it.
fn added<T: serde::Serialize>(
    answer: Answer,
    child: &str,
    added: Option<T>,
    item: WireItem,
) -> Response {
    match answer {
        Answer::ChildAndItem => (
            StatusCode::CREATED,
            Json(json!({ child: added, "item": item })),
        )
            .into_response(),
        Answer::Child => (StatusCode::CREATED, Json(added)).into_response(),
    }
}

pub(super) async fn add_comment(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    wanted: Result<Query<AddAnswer>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Json<NewComment>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(c) = body?;
    if c.body.trim().is_empty() {
        return Err(bad("comment body is required"));
    }
    let answer = AddAnswer::read(wanted, "comment")?;
    let (item, id) = add_child(
        &s,
        &key,
        super::items::if_match(&headers)?,
        "comment.created",
        "INSERT INTO comments (item_key, author, body, origin, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
        params![
            key,
            c.author.as_ref().map(db::json),
            c.body,
            c.origin.filter(|o| !o.is_empty()),
            s.clock.now_ms()
        ],
    )?;
    let comment = item.comments.iter().find(|c| c.id == id).cloned();
    Ok(added(answer, "comment", comment, item))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CommentEdit {
    body: String,
}

pub(super) async fn update_comment(
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
    let n = conn
        .prepare_cached(
            "UPDATE comments SET body = ?1 WHERE seq = ?2 AND item_key = ?3 AND body != ?1",
        )?
        .execute(params![edit.body, seq, key])?;
    let exists: bool = conn
        .prepare_cached("SELECT COUNT(*) FROM comments WHERE seq = ?1 AND item_key = ?2")?
        .query_row(params![seq, key], |r| r.get::<_, i64>(0).map(|n| n > 0))?;
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

pub(super) async fn delete_comment(
    State(s): State<Arc<AppState>>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let seq: i64 = id
        .parse()
        .map_err(|_| not_found(format!("no comment {id} on {key}")))?;
    let conn = s.db();
    s.read(&conn, &key)?;
    let n = conn
        .prepare_cached("DELETE FROM comments WHERE seq = ?1 AND item_key = ?2")?
        .execute(params![seq, key])?;
    if n == 0 {
        return Err(not_found(format!("no comment {id} on {key}")));
    }
    let item = s.touch(&conn, &key)?;
    drop(conn);
    s.emit("comment.deleted", &item);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct NewAttachment {
    filename: String,
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    size: u64,
    url: String,
}

pub(super) async fn add_attachment(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    wanted: Result<Query<AddAnswer>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Json<NewAttachment>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(a) = body?;
    if a.filename.trim().is_empty() {
        return Err(bad("filename is required"));
    }
    let answer = AddAnswer::read(wanted, "attachment")?;
    let (item, id) = add_child(
        &s,
        &key,
        super::items::if_match(&headers)?,
        "attachment.created",
        "INSERT INTO attachments (item_key, filename, mime_type, size, url) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
        params![key, a.filename, a.mime_type, a.size as i64, a.url],
    )?;
    let attachment = item.attachments.iter().find(|x| x.id == id).cloned();
    Ok(added(answer, "attachment", attachment, item))
}

/// Adds a child row to item `key` with `insert` (which returns the row's `seq`), moves
/// the item on and sends `event`; gives the item and the new row's id.
fn add_child(
    s: &AppState,
    key: &str,
    expected: Option<u64>,
    event: &str,
    insert: &str,
    values: impl rusqlite::Params,
) -> ApiResult<(WireItem, String)> {
    let conn = s.db();
    super::items::still_at(&s.read(&conn, key)?, expected)?;
    let id: i64 = conn
        .prepare_cached(insert)?
        .query_row(values, |r| r.get(0))?;
    let item = s.touch(&conn, key)?;
    drop(conn);
    s.emit(event, &item);
    Ok((item, id.to_string()))
}
