//! The fake Jira's comment routes: list and add on an issue, edit and delete by id.

use super::fields::properties_of;
use super::guard::{bad_request, caller_account, issue_not_found, refused, visible_issue};
use super::state::{CommentData, Data, Fake, IssueData};
use crate::plumbing::{Refusal, now_ms};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) async fn list_comments(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(issue) = visible_issue(&fake, &data, &headers, &key) else {
        return issue_not_found();
    };
    let start: usize = q.get("startAt").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 5000);
    let props = q.get("expand").is_some_and(|e| e.contains("properties"));
    let page: Vec<Value> = issue
        .comments
        .iter()
        .skip(start)
        .take(max)
        .map(|c| fake.comment(&data, c, props))
        .collect();
    axum::Json(json!({"startAt": start, "maxResults": max, "total": issue.comments.len(), "comments": page})).into_response()
}

/// The request of an add or an edit and the comment's body in it, an Atlassian
/// Document; Jira's 400 when it is not one.
fn comment_request(body: &Bytes) -> Result<(Value, Value), Refusal> {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let b = &request["body"];
    if b["type"] == "doc" && b["version"] == 1 && b["content"].is_array() {
        let doc = b.clone();
        Ok((request, doc))
    } else {
        Err(Box::new(bad_request(
            "comment",
            "Comment body can not be empty!",
        )))
    }
}

/// Puts `issue` back with its changed `comment`, tells the webhooks (`event`), and gives
/// the comment as Jira answers with it.
fn save(
    fake: &Fake,
    data: &mut Data,
    mut issue: IssueData,
    comment: &CommentData,
    event: &str,
) -> Value {
    issue.touch(comment.updated_ms);
    data.issues.insert(issue.id, issue.clone());
    let answer = fake.comment(data, comment, false);
    fake.emit(data, event, &issue, Some(comment), &comment.author);
    answer
}

pub(super) async fn add_comment(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, doc) = match comment_request(&body) {
        Ok(parsed) => parsed,
        Err(refusal) => return *refusal,
    };
    let mut data = fake.lock();
    let Some(mut issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    data.seq += 1;
    let now = now_ms();
    let comment = CommentData {
        id: 20_000 + data.seq,
        body: doc,
        author: caller_account(&data, &headers),
        properties: properties_of(&request["properties"]),
        created_ms: now,
        updated_ms: now,
    };
    issue.comments.push(comment.clone());
    let answer = save(&fake, &mut data, issue, &comment, "comment_created");
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn edit_comment(
    State(fake): State<Arc<Fake>>,
    Path((key, comment_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = match comment_request(&body) {
        Ok((_, doc)) => doc,
        Err(refusal) => return *refusal,
    };
    let mut data = fake.lock();
    let Some(mut issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    let now = now_ms();
    let Some(c) = issue
        .comments
        .iter_mut()
        .find(|c| c.id.to_string() == comment_id)
    else {
        return refused(StatusCode::NOT_FOUND, "Can not find a comment for the id: ");
    };
    c.body = doc;
    c.updated_ms = now;
    let comment = c.clone();
    let answer = save(&fake, &mut data, issue, &comment, "comment_updated");
    axum::Json(answer).into_response()
}

/// `DELETE /issue/{key}/comment/{id}`: 204, or Jira's 404 for a comment it does not have.
pub(super) async fn delete_comment(
    State(fake): State<Arc<Fake>>,
    Path((key, comment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut data = fake.lock();
    let Some(mut issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    let Some(at) = issue
        .comments
        .iter()
        .position(|c| c.id.to_string() == comment_id)
    else {
        return refused(StatusCode::NOT_FOUND, "Can not find a comment for the id: ");
    };
    let mut comment = issue.comments.remove(at);
    comment.updated_ms = now_ms();
    let me = caller_account(&data, &headers);
    issue.touch(comment.updated_ms);
    data.issues.insert(issue.id, issue.clone());
    fake.emit(&data, "comment_deleted", &issue, Some(&comment), &me);
    StatusCode::NO_CONTENT.into_response()
}
