//! The fake GitHub's issue comment routes: list and create on an issue, get and update
//! by id.

use super::IssuePath;
use super::guard::{Input, invalid, login_of, not_found, paged};
use super::issues::{MAX_BODY, too_long};
use super::state::{CommentData, Fake};
use crate::plumbing::now_ms;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use twinsync_github::mapping::millis;

pub(super) async fn list_comments(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    let Some(r) = data
        .repos
        .get(&repo)
        .filter(|r| r.issues.contains_key(&number))
    else {
        return not_found();
    };
    let since = q.get("since").map(|s| millis(s));
    let all = r
        .comments
        .values()
        .filter(|c| c.number == number && since.is_none_or(|s| c.updated_ms >= s))
        .map(|c| fake.comment(&repo, c))
        .collect();
    let path = format!("/repos/{repo}/issues/{number}/comments");
    paged(&fake.base, &path, &q, all)
}

/// The text of a comment to create or update: a `body` that is not empty; GitHub
/// answers 422 otherwise.
pub(super) struct CommentText(String);

impl<S: Send + Sync> FromRequest<S> for CommentText {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Input(input) = Input::from_request(request, state).await?;
        let text = input["body"].as_str();
        if let Some(refused) = too_long("IssueComment", "body", text, MAX_BODY) {
            return Err(refused);
        }
        match text.filter(|b| !b.is_empty()) {
            Some(text) => Ok(CommentText(text.to_string())),
            None => Err(invalid("IssueComment", "body", "missing_field")),
        }
    }
}

pub(super) async fn create_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
    headers: HeaderMap,
    CommentText(text): CommentText,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    data.seq += 1;
    let id = 2_000_000 + data.seq;
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let Some(issue) = r.issues.get_mut(&number) else {
        return not_found();
    };
    let now = now_ms();
    issue.comments += 1;
    issue.updated_ms = now;
    let comment = CommentData {
        id,
        number,
        body: text,
        user: login.clone(),
        created_ms: now,
        updated_ms: now,
    };
    r.comments.insert(id, comment.clone());
    let r = &data.repos[&repo];
    let json = fake.comment(&repo, &comment);
    let issue_json = fake.issue(&repo, r, &r.issues[&number]);
    let created = json!({"action": "created", "issue": issue_json, "comment": json});
    fake.emit(&data, &repo, "issue_comment", created, &login);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

pub(super) async fn get_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, id)): IssuePath,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    match data.repos.get(&repo).and_then(|r| r.comments.get(&id)) {
        Some(c) => axum::Json(fake.comment(&repo, c)).into_response(),
        None => not_found(),
    }
}

pub(super) async fn update_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, id)): IssuePath,
    headers: HeaderMap,
    CommentText(text): CommentText,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let Some(c) = r.comments.get_mut(&id) else {
        return not_found();
    };
    let from = std::mem::replace(&mut c.body, text);
    c.updated_ms = now_ms();
    let comment = c.clone();
    let r = &data.repos[&repo];
    let json = fake.comment(&repo, &comment);
    if from != comment.body {
        let issue_json = fake.issue(&repo, r, &r.issues[&comment.number]);
        let edited = json!({"action": "edited", "issue": issue_json, "comment": json, "changes": {"body": {"from": from}}});
        fake.emit(&data, &repo, "issue_comment", edited, &login);
    }
    axum::Json(json).into_response()
}

/// `DELETE /repos/{owner}/{repo}/issues/comments/{id}`: 204, the issue's comment count
/// goes down, and an `issue_comment` `deleted` delivery goes out.
pub(super) async fn delete_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, id)): IssuePath,
    headers: HeaderMap,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let Some(comment) = r.comments.remove(&id) else {
        return not_found();
    };
    if let Some(issue) = r.issues.get_mut(&comment.number) {
        issue.comments = issue.comments.saturating_sub(1);
        issue.updated_ms = now_ms();
    }
    let r = &data.repos[&repo];
    let json = fake.comment(&repo, &comment);
    let issue_json = fake.issue(&repo, r, &r.issues[&comment.number]);
    let deleted = json!({"action": "deleted", "issue": issue_json, "comment": json});
    fake.emit(&data, &repo, "issue_comment", deleted, &login);
    StatusCode::NO_CONTENT.into_response()
}
