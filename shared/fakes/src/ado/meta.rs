//! The fake Azure DevOps' other routes: who the caller is (`connectionData`), projects,
//! a work item type's states, and service hook subscriptions.

use super::ORG;
use super::guard::{bad_request, caller_email, error, project_not_found};
use super::items::identity;
use super::state::{Fake, Subscription, project_named, states_of};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) async fn connection_data(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let data = fake.lock();
    let who = identity(&fake, &data, &caller_email(&headers));
    axum::Json(json!({
        "authenticatedUser": { "id": who["id"], "descriptor": who["descriptor"], "providerDisplayName": who["displayName"], "isActive": true },
        "authorizedUser": { "id": who["id"], "descriptor": who["descriptor"], "providerDisplayName": who["displayName"], "isActive": true },
        "instanceId": "c0ffee00-0000-4000-8000-000000000001",
        "locationServiceData": { "defaultAccessMappingMoniker": "PublicAccessMapping" },
    }))
    .into_response()
}

pub(super) async fn project(
    State(fake): State<Arc<Fake>>,
    Path((_, name)): Path<(String, String)>,
) -> Response {
    let data = fake.lock();
    let Some(found) = project_named(&data, &name) else {
        return project_not_found(&name);
    };
    let id = data.projects.get(&found).cloned().unwrap_or_default();
    axum::Json(json!({
        "id": id,
        "name": found,
        "url": format!("{}/{ORG}/_apis/projects/{id}", fake.base),
        "state": "wellFormed",
        "revision": 1,
        "visibility": "private",
    }))
    .into_response()
}

pub(super) async fn states(
    State(fake): State<Arc<Fake>>,
    Path((_, project, kind)): Path<(String, String, String)>,
) -> Response {
    if project_named(&fake.lock(), &project).is_none() {
        return project_not_found(&project);
    }
    let Some(states) = states_of(&kind) else {
        return error(
            StatusCode::NOT_FOUND,
            "WorkItemTypeNotFoundException",
            &format!(
                "VS402323: Work item type {kind} does not exist in project {project} or you do not have permission to access it."
            ),
        );
    };
    let value: Vec<Value> = states
        .iter()
        .map(|(name, category)| json!({ "name": name, "color": "b2b2b2", "category": category }))
        .collect();
    axum::Json(json!({ "count": value.len(), "value": value })).into_response()
}

/// A subscription as Azure DevOps shows it: the password masked.
fn shown(s: &Subscription) -> Value {
    let mut v = s.body.clone();
    v["id"] = json!(s.id);
    if v["consumerInputs"].get("basicAuthPassword").is_some() {
        v["consumerInputs"]["basicAuthPassword"] = json!("********");
    }
    v
}

/// What a subscription body lacks, if anything.
fn invalid(body: &Value) -> Option<&'static str> {
    if body["publisherId"] != "tfs" {
        return Some("VS1050011: The publisher must be tfs.");
    }
    if ![
        "workitem.created",
        "workitem.updated",
        "workitem.commented",
        "workitem.deleted",
        "workitem.restored",
    ]
    .contains(&body["eventType"].as_str().unwrap_or(""))
    {
        return Some("VS1050012: The event type is not supported by the publisher.");
    }
    if body["consumerId"] != "webHooks" || body["consumerActionId"] != "httpRequest" {
        return Some("VS1050013: The consumer must be webHooks with the httpRequest action.");
    }
    let url = body["consumerInputs"]["url"].as_str().unwrap_or("");
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Some("VS1050014: The url input must be an absolute http(s) URL.");
    }
    None
}

pub(super) async fn list_subscriptions(State(fake): State<Arc<Fake>>) -> Response {
    let data = fake.lock();
    let value: Vec<Value> = data.subscriptions.iter().map(shown).collect();
    axum::Json(json!({ "count": value.len(), "value": value })).into_response()
}

pub(super) async fn get_subscription(
    State(fake): State<Arc<Fake>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    let data = fake.lock();
    match data.subscriptions.iter().find(|s| s.id == id) {
        Some(s) => axum::Json(shown(s)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFoundException",
            &format!("VS1050003: Subscription {id} does not exist."),
        ),
    }
}

pub(super) async fn create_subscription(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let mut body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(problem) = invalid(&body) {
        return bad_request(problem);
    }
    let mut data = fake.lock();
    let id = format!(
        "5c0ab1e0-0000-4000-8000-{:012}",
        data.subscriptions.len() + 1
    );
    if body["status"].is_null() {
        body["status"] = json!("enabled");
    }
    let sub = Subscription { id, body };
    let answer = shown(&sub);
    data.subscriptions.push(sub);
    axum::Json(answer).into_response()
}

pub(super) async fn replace_subscription(
    State(fake): State<Arc<Fake>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(problem) = invalid(&body) {
        return bad_request(problem);
    }
    let mut data = fake.lock();
    match data.subscriptions.iter_mut().find(|s| s.id == id) {
        Some(s) => {
            s.body = body;
            axum::Json(shown(s)).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFoundException",
            &format!("VS1050003: Subscription {id} does not exist."),
        ),
    }
}
