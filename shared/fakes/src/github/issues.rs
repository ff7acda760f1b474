//! The fake GitHub's issue routes (list, create, get, update) and the milestone list.

use super::guard::{Input, error, invalid, invalid_because, login_of, not_found, paged};
use super::state::{Fake, IssueData};
use super::{IssuePath, RepoPath};
use crate::plumbing::{now_ms, strings};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use twinsync_github::mapping::millis;

pub(super) async fn list_issues(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    let Some(r) = data.repos.get(&repo) else {
        return not_found();
    };
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    if !["open", "closed", "all"].contains(&state) {
        return invalid("Issue", "state", "invalid");
    }
    let since = q.get("since").map(|s| millis(s));
    let labels: Vec<&str> = q
        .get("labels")
        .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut issues: Vec<&IssueData> = r
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| since.is_none_or(|s| i.updated_ms >= s))
        .filter(|i| labels.iter().all(|l| i.labels.iter().any(|x| x == l)))
        .collect();
    let by = q.get("sort").map(String::as_str).unwrap_or("created");
    issues.sort_by_key(|i| match by {
        "updated" => (i.updated_ms, i.number),
        "comments" => (i.comments as i64, i.number),
        _ => (i.created_ms, i.number),
    });
    if q.get("direction").map(String::as_str).unwrap_or("desc") == "desc" {
        issues.reverse();
    }
    let all = issues.iter().map(|i| fake.issue(&repo, r, i)).collect();
    paged(&fake.base, &format!("/repos/{repo}/issues"), &q, all)
}

/// Labels as names or as `{name}` objects; `None` when not an array.
fn labels_of(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|l| l.as_str().or(l["name"].as_str()).map(str::to_string))
            .collect()
    })
}

/// The longest title and body GitHub stores ("title is too long (maximum is 256
/// characters)", "body is too long (maximum is 65536 characters)").
const MAX_TITLE: usize = 256;
pub(super) const MAX_BODY: usize = 65_536;

/// The `state_reason` values the OpenAPI description lists (`null` clears it).
const STATE_REASONS: [&str; 4] = ["completed", "not_planned", "duplicate", "reopened"];

/// A title that is not blank; GitHub takes a number as its text.
fn title_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// GitHub's 422 for a text over `max` characters, if `text` is one.
pub(super) fn too_long(
    resource: &str,
    field: &str,
    text: Option<&str>,
    max: usize,
) -> Option<Response> {
    let over = text.is_some_and(|t| t.chars().count() > max);
    over.then(|| {
        let message = format!("{field} is too long (maximum is {max} characters)");
        invalid_because(resource, field, &message)
    })
}

/// GitHub's refusal of a create's or an edit's title, body or state reason, if any (a
/// missing title is refused by the request schema, a blank one by validation).
fn refused_texts(input: &Value, create: bool) -> Option<Response> {
    if create && input.get("title").is_none_or(Value::is_null) {
        return Some(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"title\" wasn't supplied.",
        ));
    }
    if input.get("title").is_some() && title_of(&input["title"]).is_none() {
        return Some(invalid("Issue", "title", "missing_field"));
    }
    let long = too_long("Issue", "title", input["title"].as_str(), MAX_TITLE)
        .or_else(|| too_long("Issue", "body", input["body"].as_str(), MAX_BODY));
    if long.is_some() {
        return long;
    }
    match input.get("state_reason") {
        Some(Value::Null) | None => None,
        Some(r) if r.as_str().is_some_and(|r| STATE_REASONS.contains(&r)) => None,
        Some(_) => Some(invalid("Issue", "state_reason", "invalid")),
    }
}

pub(super) async fn create_issue(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    headers: HeaderMap,
    Input(input): Input,
) -> Response {
    let repo = format!("{owner}/{name}");
    if let Some(refused) = refused_texts(&input, true) {
        return refused;
    }
    let title = title_of(&input["title"]).unwrap_or_default();
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    data.seq += 1;
    let id = 1_000_000 + data.seq;
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    if let Some(m) = input["milestone"].as_u64()
        && !r.milestones.iter().any(|(n, _)| *n == m)
    {
        return invalid("Issue", "milestone", "invalid");
    }
    let mut assignees = strings(&input["assignees"]).unwrap_or_default();
    if let Some(a) = input["assignee"].as_str() {
        assignees.push(a.to_string());
    }
    let issue = IssueData {
        body: input["body"].as_str().map(str::to_string),
        labels: labels_of(&input["labels"]).unwrap_or_default(),
        assignees,
        milestone: input["milestone"].as_u64(),
        ..IssueData::open(id, r.next_number(), title, &login, now_ms())
    };
    r.issues.insert(issue.number, issue.clone());
    let json = fake.issue(&repo, &data.repos[&repo], &issue);
    let opened = json!({"action": "opened", "issue": json});
    fake.emit(&data, &repo, "issues", opened, &login);
    let mut resp = (StatusCode::CREATED, axum::Json(json.clone())).into_response();
    if let Some(Ok(loc)) = json["url"].as_str().map(HeaderValue::from_str) {
        resp.headers_mut().insert("location", loc);
    }
    resp
}

pub(super) async fn get_issue(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    match data
        .repos
        .get(&repo)
        .and_then(|r| Some((r, r.issues.get(&number)?)))
    {
        Some((r, i)) => axum::Json(fake.issue(&repo, r, i)).into_response(),
        None => not_found(),
    }
}

pub(super) async fn update_issue(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
    headers: HeaderMap,
    Input(input): Input,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let milestones = r.milestones.clone();
    let Some(issue) = r.issues.get_mut(&number) else {
        return not_found();
    };
    if let Some(refused) = refused_texts(&input, false) {
        return refused;
    }
    let before = issue.clone();
    // What was applied before a refused field stays applied.
    if let Err(field) = apply_edit(issue, &input, &milestones) {
        return invalid("Issue", field, "invalid");
    }
    if changed(&before, issue) {
        issue.updated_ms = now_ms().max(before.updated_ms);
    }
    let after = issue.clone();
    let json = fake.issue(&repo, &data.repos[&repo], &after);
    for mut e in edit_events(&fake, &repo, &before, &after) {
        e["issue"] = json.clone();
        fake.emit(&data, &repo, "issues", e, &login);
    }
    axum::Json(json).into_response()
}

/// Applies an edit's fields to `issue`, in this order; the error names the first invalid
/// field.
fn apply_edit(
    issue: &mut IssueData,
    input: &Value,
    milestones: &[(u64, String)],
) -> Result<(), &'static str> {
    if input.get("title").is_some() {
        match title_of(&input["title"]) {
            Some(t) => issue.title = t,
            None => return Err("title"),
        }
    }
    if let Some(b) = input.get("body") {
        issue.body = b.as_str().map(str::to_string);
    }
    apply_state(issue, input)?;
    if let Some(labels) = labels_of(&input["labels"]) {
        issue.labels = labels;
    }
    if let Some(assignees) = strings(&input["assignees"]) {
        issue.assignees = assignees;
    }
    match input.get("milestone") {
        Some(Value::Null) => issue.milestone = None,
        Some(m) => match m
            .as_u64()
            .filter(|n| milestones.iter().any(|(x, _)| x == n))
        {
            Some(n) => issue.milestone = Some(n),
            None => return Err("milestone"),
        },
        None => {}
    }
    Ok(())
}

/// Opens or closes `issue` as `state` and `state_reason` say; the error names the
/// invalid field.
fn apply_state(issue: &mut IssueData, input: &Value) -> Result<(), &'static str> {
    // GitHub ignores `state_reason` unless `state` changes (the OpenAPI description).
    let Some(s) = input.get("state") else {
        return Ok(());
    };
    let was_closed = issue.state == "closed";
    match s.as_str() {
        Some("open") => {
            issue.state = "open".into();
            issue.closed_ms = None;
            issue.state_reason = was_closed.then(|| "reopened".into());
        }
        Some("closed") => {
            issue.state = "closed".into();
            if !was_closed {
                issue.closed_ms = Some(now_ms());
            }
            let reason = input["state_reason"].as_str().unwrap_or("completed");
            issue.state_reason = Some(reason.to_string());
        }
        _ => return Err("state"),
    }
    Ok(())
}

/// Whether an edit changed what moves `updated_at`.
fn changed(before: &IssueData, after: &IssueData) -> bool {
    after.title != before.title
        || after.body != before.body
        || after.state != before.state
        || after.labels != before.labels
        || after.assignees != before.assignees
        || after.milestone != before.milestone
}

/// The `issues` deliveries an edit sends, without the issue: GitHub sends one per kind
/// of change, in this order.
fn edit_events(fake: &Fake, repo: &str, before: &IssueData, after: &IssueData) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    if after.title != before.title || after.body != before.body {
        let mut changes = json!({});
        if after.title != before.title {
            changes["title"] = json!({"from": before.title});
        }
        if after.body != before.body {
            changes["body"] = json!({"from": before.body});
        }
        events.push(json!({"action": "edited", "changes": changes}));
    }
    if after.state != before.state {
        events.push(json!({"action": if after.state == "closed" { "closed" } else { "reopened" }}));
    }
    let added = |new: &[String], old: &[String]| -> Vec<String> {
        new.iter().filter(|x| !old.contains(x)).cloned().collect()
    };
    for l in added(&after.labels, &before.labels) {
        events.push(json!({"action": "labeled", "label": fake.label(repo, &l)}));
    }
    for l in added(&before.labels, &after.labels) {
        events.push(json!({"action": "unlabeled", "label": fake.label(repo, &l)}));
    }
    for a in added(&after.assignees, &before.assignees) {
        events.push(json!({"action": "assigned", "assignee": fake.user(&a)}));
    }
    for a in added(&before.assignees, &after.assignees) {
        events.push(json!({"action": "unassigned", "assignee": fake.user(&a)}));
    }
    events
}

pub(super) async fn list_milestones(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    let Some(r) = data.repos.get(&repo) else {
        return not_found();
    };
    let all = r
        .milestones
        .iter()
        .map(|(n, t)| fake.milestone(&repo, *n, t))
        .collect();
    paged(&fake.base, &format!("/repos/{repo}/milestones"), &q, all)
}
