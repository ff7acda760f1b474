//! The fake Jira's remote issue links (`/issue/{key}/remotelink`): a POST with a
//! `globalId` that a link of the issue has already updates that link (201 for a new one,
//! 200 for an update); `object.url` and `object.title` are required. Links are not fields
//! of the issue: they move neither `updated` nor a webhook.

use super::guard::{bad_request, issue_not_found, visible_issue};
use super::state::Fake;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) async fn list(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let data = fake.lock();
    let Some(issue) = visible_issue(&fake, &data, &headers, &key) else {
        return issue_not_found();
    };
    axum::Json(Value::Array(issue.remote_links.clone())).into_response()
}

pub(super) async fn upsert(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("object", "The request body is not JSON.");
    };
    for field in ["url", "title"] {
        if request["object"][field].as_str().is_none_or(str::is_empty) {
            return bad_request(field, &format!("'{field}' is required."));
        }
    }
    let mut data = fake.lock();
    let Some(issue_id) = visible_issue(&fake, &data, &headers, &key).map(|i| i.id) else {
        return issue_not_found();
    };
    data.seq += 1;
    let new_id = 30_000 + data.seq;
    let base = fake.base.clone();
    let Some(issue) = data.issues.get_mut(&issue_id) else {
        return issue_not_found();
    };
    let global = request["globalId"].as_str().filter(|g| !g.is_empty());
    let existing = global.and_then(|g| {
        issue
            .remote_links
            .iter()
            .position(|l| l["globalId"].as_str() == Some(g))
    });
    let (id, status) = match existing {
        Some(at) => (issue.remote_links[at]["id"].clone(), StatusCode::OK),
        None => (json!(new_id), StatusCode::CREATED),
    };
    let link_self = format!("{base}/rest/api/3/issue/{key}/remotelink/{id}");
    let mut link = request.clone();
    link["id"] = id.clone();
    link["self"] = json!(link_self);
    match existing {
        Some(at) => issue.remote_links[at] = link,
        None => issue.remote_links.push(link),
    }
    (status, axum::Json(json!({"id": id, "self": link_self}))).into_response()
}
