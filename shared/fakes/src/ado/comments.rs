//! The fake Azure DevOps' comments API (7.1-preview.4): list with `$top` and an opaque
//! `continuationToken`, add and edit in Markdown or HTML (`format`), each write a new
//! revision of the work item and a `workitem.commented` delivery.

use super::ORG;
use super::events;
use super::guard::{bad_request, caller_email, error, item_not_found};
use super::items::identity;
use super::state::{CommentData, Data, Fake, WorkItem};
use crate::plumbing::{Refusal, now_ms};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use twinsync_ado::mapping::timestamp;

/// The largest page, and the one given when `$top` is not.
const MAX_PAGE: usize = 200;

fn render(fake: &Fake, data: &Data, wi: &WorkItem, c: &CommentData) -> Value {
    let project_id = data.projects.get(&wi.project).cloned().unwrap_or_default();
    json!({
        "workItemId": wi.id,
        "id": c.id,
        "version": c.version,
        "text": c.text,
        "renderedText": c.text,
        "format": c.format,
        "createdBy": identity(fake, data, &c.author),
        "createdDate": timestamp(c.created_ms),
        "modifiedBy": identity(fake, data, &c.author),
        "modifiedDate": timestamp(c.modified_ms),
        "isDeleted": false,
        "url": format!("{}/{ORG}/{project_id}/_apis/wit/workItems/{}/comments/{}", fake.base, wi.id, c.id),
    })
}

/// The comment format a request names: html unless it says markdown.
fn format_of(query: &HashMap<String, String>) -> Result<String, Refusal> {
    match query.get("format").map(|f| f.to_lowercase()) {
        None => Ok("html".into()),
        Some(f) if f == "html" || f == "markdown" => Ok(f),
        Some(f) => Err(Box::new(bad_request(&format!(
            "VS403425: The comment format {f} is not valid."
        )))),
    }
}

fn item_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

pub(super) async fn list(
    State(fake): State<Arc<Fake>>,
    Path((_, _, id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(wi) = item_id(&id).and_then(|n| data.items.get(&n)) else {
        return item_not_found(&id);
    };
    let top = match query.get("$top").map(|t| t.parse::<usize>()) {
        None => MAX_PAGE,
        Some(Ok(t)) if (1..=MAX_PAGE).contains(&t) => t,
        Some(_) => {
            return bad_request(&format!("VS403426: $top must be between 1 and {MAX_PAGE}."));
        }
    };
    let start = match query.get("continuationToken") {
        None => 0,
        Some(t) => match t.strip_prefix("c").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return bad_request("VS403427: The continuation token is not valid."),
        },
    };
    let mut all: Vec<&CommentData> = wi.comments.iter().collect();
    if query
        .get("order")
        .is_some_and(|o| o.eq_ignore_ascii_case("desc"))
    {
        all.reverse();
    }
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(top)
        .map(|c| render(&fake, &data, wi, c))
        .collect();
    let end = start + page.len();
    let mut answer = json!({
        "totalCount": wi.comments.len(),
        "count": page.len(),
        "comments": page,
    });
    if end < all.len() {
        let token = format!("c{end}");
        answer["continuationToken"] = json!(token);
        answer["nextPage"] = json!(format!(
            "{}/{ORG}/{}/_apis/wit/workItems/{}/comments?continuationToken={token}",
            fake.base, wi.project, wi.id
        ));
    }
    axum::Json(answer).into_response()
}

pub(super) async fn get_one(
    State(fake): State<Arc<Fake>>,
    Path((_, _, id, comment)): Path<(String, String, String, String)>,
) -> Response {
    let data = fake.lock();
    let Some(wi) = item_id(&id).and_then(|n| data.items.get(&n)) else {
        return item_not_found(&id);
    };
    match wi.comments.iter().find(|c| c.id.to_string() == comment) {
        Some(c) => axum::Json(render(&fake, &data, wi, c)).into_response(),
        None => comment_not_found(&comment),
    }
}

fn comment_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "CommentNotFoundException",
        &format!("VS403428: Comment {id} does not exist."),
    )
}

fn text_of(body: &Bytes) -> Result<String, Refusal> {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    match request["text"].as_str() {
        Some(t) if !t.trim().is_empty() => Ok(t.to_string()),
        _ => Err(Box::new(bad_request(
            "VS403429: The comment text cannot be empty.",
        ))),
    }
}

pub(super) async fn add(
    State(fake): State<Arc<Fake>>,
    Path((_, _, id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (format, text) = match (format_of(&query), text_of(&body)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    let who = caller_email(&headers);
    let mut data = fake.lock();
    let Some(mut wi) = item_id(&id).and_then(|n| data.items.get(&n)).cloned() else {
        return item_not_found(&id);
    };
    let now = now_ms();
    data.comment_seq += 1;
    let comment = CommentData {
        id: data.comment_seq,
        version: 1,
        text,
        format,
        author: who.clone(),
        created_ms: now,
        modified_ms: now,
    };
    wi.comments.push(comment.clone());
    wi.revise(&who, now);
    data.items.insert(wi.id, wi.clone());
    events::emit(&fake, &data, "workitem.commented", &wi, None);
    (
        StatusCode::OK,
        axum::Json(render(&fake, &data, &wi, &comment)),
    )
        .into_response()
}

pub(super) async fn edit(
    State(fake): State<Arc<Fake>>,
    Path((_, _, id, comment_id)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (format, text) = match (format_of(&query), text_of(&body)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    let who = caller_email(&headers);
    let mut data = fake.lock();
    let Some(mut wi) = item_id(&id).and_then(|n| data.items.get(&n)).cloned() else {
        return item_not_found(&id);
    };
    let now = now_ms();
    let Some(c) = wi
        .comments
        .iter_mut()
        .find(|c| c.id.to_string() == comment_id)
    else {
        return comment_not_found(&comment_id);
    };
    c.text = text;
    c.format = format;
    c.version += 1;
    c.modified_ms = now;
    let edited = c.clone();
    wi.revise(&who, now);
    data.items.insert(wi.id, wi.clone());
    events::emit(&fake, &data, "workitem.commented", &wi, None);
    axum::Json(render(&fake, &data, &wi, &edited)).into_response()
}

/// `DELETE .../workItems/{id}/comments/{comment}`: 200 with no body, a new revision of
/// the work item and a `workitem.commented` delivery; the list no longer shows it.
pub(super) async fn delete(
    State(fake): State<Arc<Fake>>,
    Path((_, _, id, comment_id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let who = caller_email(&headers);
    let mut data = fake.lock();
    let Some(mut wi) = item_id(&id).and_then(|n| data.items.get(&n)).cloned() else {
        return item_not_found(&id);
    };
    let before = wi.comments.len();
    wi.comments.retain(|c| c.id.to_string() != comment_id);
    if wi.comments.len() == before {
        return comment_not_found(&comment_id);
    }
    wi.revise(&who, now_ms());
    data.items.insert(wi.id, wi.clone());
    events::emit(&fake, &data, "workitem.commented", &wi, None);
    StatusCode::OK.into_response()
}
