//! The fake Jira's issue routes: create, get, edit, and the workflow's transitions.

use super::fields::{apply_fields, properties_of};
use super::guard::{
    bad_payload, bad_request, caller_account, caller_email, error, issue_not_found, visible_issue,
};
use super::render::transition_id;
use super::state::{Data, Fake, ISSUE_TYPES, IssueData, STATUSES};
use crate::plumbing::now_ms;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The project a create names by key or id, empty when none.
fn project_of(fields: &Map<String, Value>) -> String {
    fields
        .get("project")
        .and_then(|p| p["key"].as_str().or(p["id"].as_str()))
        .unwrap_or("")
        .to_string()
}

/// What a create lacks, all at once, as Jira lists it in `errors`: a project the caller
/// may browse, an issue type the project has, a summary. The issue type's index otherwise.
fn required(
    fake: &Fake,
    data: &Data,
    caller: &str,
    fields: &Map<String, Value>,
) -> Result<usize, Value> {
    let mut errors = Map::new();
    let project = project_of(fields);
    // Jira answers a project the caller may not browse as one that does not exist.
    if !data.projects.contains_key(&project) || !fake.can_browse(caller, &project) {
        errors.insert("project".into(), json!("Specify a valid project ID or key"));
    }
    let wanted = fields.get("issuetype");
    let kind = wanted.and_then(|t| {
        ISSUE_TYPES.iter().position(|(id, name, _, _)| {
            t["id"].as_str() == Some(id) || t["name"].as_str() == Some(name)
        })
    });
    match (wanted, kind) {
        (None, _) => errors.insert("issuetype".into(), json!("Specify an issue type")),
        (Some(_), None) => errors.insert("issuetype".into(), json!("Specify a valid issue type")),
        _ => None,
    };
    if !fields.contains_key("summary") {
        errors.insert(
            "summary".into(),
            json!("You must specify a summary of the issue."),
        );
    }
    match kind {
        Some(k) if errors.is_empty() => Ok(k),
        _ => Err(Value::Object(errors)),
    }
}

pub(super) async fn create_issue(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_payload();
    };
    let mut data = fake.lock();
    let fields = request["fields"].as_object().cloned().unwrap_or_default();
    let kind = match required(&fake, &data, caller_email(&headers), &fields) {
        Ok(kind) => kind,
        Err(errors) => return error(StatusCode::BAD_REQUEST, &[], errors),
    };
    let project = project_of(&fields);
    data.seq += 1;
    let id = 10_000 + data.seq;
    let number = data.projects.get(&project).copied().unwrap_or(0) + 1;
    let now = now_ms();
    let me = caller_account(&data, &headers);
    let key = format!("{project}-{number}");
    let mut issue = IssueData {
        properties: properties_of(&request["properties"]),
        issue_type: kind,
        ..IssueData::new(id, key, project.clone(), me.clone(), now)
    };
    if let Err((field, message)) = apply_fields(&fake, &data, &mut issue, &fields) {
        return bad_request(&field, &message);
    }
    data.projects.insert(project, number);
    let answer = json!({"id": id.to_string(), "key": issue.key, "self": format!("{}/rest/api/3/issue/{id}", fake.base)});
    fake.emit(&data, "jira:issue_created", &issue, None, &me);
    data.issues.insert(id, issue);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn get_issue(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(issue) = visible_issue(&fake, &data, &headers, &key) else {
        return issue_not_found();
    };
    let props: Vec<&str> = q
        .get("properties")
        .map(|p| p.split(',').collect())
        .unwrap_or_default();
    let mut v = fake.issue(&data, issue, q.get("fields").map(String::as_str), &props);
    if q.get("expand").is_some_and(|e| e.contains("names")) {
        v["names"] = fake.names();
    }
    axum::Json(v).into_response()
}

pub(super) async fn edit_issue(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_payload();
    };
    let mut data = fake.lock();
    let Some(mut issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    let fields = request["fields"].as_object().cloned().unwrap_or_default();
    if let Err((field, message)) = apply_fields(&fake, &data, &mut issue, &fields) {
        return bad_request(&field, &message);
    }
    // Labels may also come as `update` operations.
    if let Some(ops) = request["update"]["labels"].as_array() {
        for op in ops {
            if let Some(l) = op["add"].as_str()
                && !issue.labels.iter().any(|x| x == l)
            {
                issue.labels.push(l.to_string());
            }
            if let Some(l) = op["remove"].as_str() {
                issue.labels.retain(|x| x != l);
            }
        }
    }
    issue.touch(now_ms());
    let me = caller_account(&data, &headers);
    fake.emit(&data, "jira:issue_updated", &issue, None, &me);
    data.issues.insert(issue.id, issue);
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn get_transitions(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let data = fake.lock();
    let Some(issue) = visible_issue(&fake, &data, &headers, &key) else {
        return issue_not_found();
    };
    axum::Json(json!({"expand": "transitions", "transitions": fake.transitions(issue.status)}))
        .into_response()
}

pub(super) async fn do_transition(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut data = fake.lock();
    let Some(mut issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    let wanted = request["transition"]["id"].as_str().unwrap_or("");
    let target = (0..STATUSES.len()).find(|i| *i != issue.status && transition_id(*i) == wanted);
    let Some(target) = target else {
        return bad_request(
            "transition",
            &format!("Transition id '{wanted}' is not valid for this issue."),
        );
    };
    issue.status = target;
    issue.touch(now_ms());
    let me = caller_account(&data, &headers);
    fake.emit(&data, "jira:issue_updated", &issue, None, &me);
    data.issues.insert(issue.id, issue);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /issue/{key}`: 204 with its comments and attachments, or Jira's 404. The fake
/// has no subtasks, so `deleteSubtasks` changes nothing.
pub(super) async fn delete_issue(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut data = fake.lock();
    let Some(issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    let me = caller_account(&data, &headers);
    // Jira sends the issue as it was, so the webhook goes out before it is gone.
    fake.emit(&data, "jira:issue_deleted", &issue, None, &me);
    data.issues.remove(&issue.id);
    StatusCode::NO_CONTENT.into_response()
}
