//! The fake Azure DevOps' work item routes: get, create and update with JSON Patch,
//! batch reads, and attachment upload and download.

use super::guard::{bad_request, caller_email, error, item_not_found, project_not_found};
use super::state::{Data, Fake, Stored, WorkItem, project_named, states_of};
use super::{ORG, events};
use crate::plumbing::{Refusal, now_ms};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

mod patch;
mod render;

pub(super) use render::{identity, work_item};

/// The most ids one batch read takes.
const MAX_BATCH: usize = 200;

fn wrong_org(org: &str) -> Option<Response> {
    (org != ORG).then(|| {
        error(
            StatusCode::NOT_FOUND,
            "AccountNotFoundException",
            &format!("TF400813: The organization {org} does not exist."),
        )
    })
}

/// Azure DevOps takes work item writes only as JSON Patch.
fn json_patch_body(headers: &HeaderMap, method: &str, body: &Bytes) -> Result<Vec<Value>, Refusal> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json-patch+json") {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "VssRequestContentTypeNotSupportedException",
            &format!(
                "The request indicated a Content-Type of \"{content_type}\" for method type \"{method}\" which is not supported. Valid content types for this method are: application/json-patch+json."
            ),
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(ops)) => Ok(ops),
        _ => Err(Box::new(bad_request(
            "VS402371: The request body must be a JSON Patch document (an array of operations).",
        ))),
    }
}

pub(super) async fn get_item(
    State(fake): State<Arc<Fake>>,
    Path((org, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let data = fake.lock();
    let Some(wi) = id.parse::<i64>().ok().and_then(|n| data.items.get(&n)) else {
        return item_not_found(&id);
    };
    let relations = query
        .get("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("relations") || e.eq_ignore_ascii_case("all"));
    axum::Json(work_item(&fake, &data, wi, relations)).into_response()
}

pub(super) async fn create_item(
    State(fake): State<Arc<Fake>>,
    Path((org, project, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let ops = match json_patch_body(&headers, "POST", &body) {
        Ok(ops) => ops,
        Err(r) => return *r,
    };
    let who = caller_email(&headers);
    let mut data = fake.lock();
    let Some(project) = project_named(&data, &project) else {
        return project_not_found(&project);
    };
    let Some(kind) = kind.strip_prefix('$').and_then(|k| {
        super::state::TYPES
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(k))
            .map(|(t, _)| t.to_string())
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            "WorkItemTypeNotFoundException",
            &format!(
                "VS402323: Work item type {kind} does not exist in project {project} or you do not have permission to access it."
            ),
        );
    };
    let now = now_ms();
    let initial = states_of(&kind)
        .and_then(|s| s.first())
        .map(|(n, _)| *n)
        .unwrap_or("New");
    let mut fields = Map::new();
    fields.insert("System.State".into(), json!(initial));
    fields.insert("System.AreaPath".into(), json!(project));
    fields.insert("System.IterationPath".into(), json!(project));
    fields.insert("Microsoft.VSTS.Common.Priority".into(), json!(2));
    let mut wi = WorkItem {
        id: data.seq + 1,
        rev: 1,
        project: project.clone(),
        work_item_type: kind,
        fields,
        relations: Vec::new(),
        comments: Vec::new(),
        created_ms: now,
        changed_ms: now,
        created_by: who.clone(),
        changed_by: who.clone(),
    };
    if let Err(r) = patch::apply(&fake, &mut data, &mut wi, &ops, &who) {
        return *r;
    }
    if wi
        .fields
        .get("System.Title")
        .and_then(Value::as_str)
        .is_none_or(|t| t.trim().is_empty())
    {
        return bad_request(
            "TF401320: Rule Error for field Title. Error code: Required, InvalidEmpty.",
        );
    }
    data.seq += 1;
    wi.rev = 1;
    data.items.insert(wi.id, wi.clone());
    events::emit(&fake, &data, "workitem.created", &wi, None);
    (
        StatusCode::OK,
        axum::Json(work_item(&fake, &data, &wi, true)),
    )
        .into_response()
}

pub(super) async fn update_item(
    State(fake): State<Arc<Fake>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let ops = match json_patch_body(&headers, "PATCH", &body) {
        Ok(ops) => ops,
        Err(r) => return *r,
    };
    let who = caller_email(&headers);
    let mut data = fake.lock();
    let Some(mut wi) = id
        .parse::<i64>()
        .ok()
        .and_then(|n| data.items.get(&n))
        .cloned()
    else {
        return item_not_found(&id);
    };
    if let Some((_, field, value)) = data
        .edit_before_next_patch
        .take_if(|(target, _, _)| *target == wi.id)
    {
        // Someone else's edit lands first, as in a real race.
        let before = wi.clone();
        wi.fields.insert(field, value);
        let other = fake
            .options
            .identities
            .get(1)
            .map(|(e, _)| e.clone())
            .unwrap_or_default();
        wi.revise(&other, now_ms());
        data.items.insert(wi.id, wi.clone());
        events::emit(&fake, &data, "workitem.updated", &wi, Some(&before));
    }
    let before = wi.clone();
    if let Err(r) = patch::apply(&fake, &mut data, &mut wi, &ops, &who) {
        return *r;
    }
    let changed = wi.fields != before.fields || wi.relations != before.relations;
    if changed {
        wi.revise(&who, now_ms());
        data.items.insert(wi.id, wi.clone());
        events::emit(&fake, &data, "workitem.updated", &wi, Some(&before));
    }
    axum::Json(work_item(&fake, &data, &wi, true)).into_response()
}

pub(super) async fn batch(
    State(fake): State<Arc<Fake>>,
    Path((org, project)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(ids) = request["ids"].as_array() else {
        return bad_request("VS402330: The ids parameter is required.");
    };
    if ids.len() > MAX_BATCH {
        return bad_request(&format!(
            "VS402337: The maximum number of work items that can be requested is {MAX_BATCH}."
        ));
    }
    let data = fake.lock();
    if project_named(&data, &project).is_none() {
        return project_not_found(&project);
    }
    let omit = request["errorPolicy"]
        .as_str()
        .is_some_and(|p| p.eq_ignore_ascii_case("omit"));
    let relations = request["$expand"]
        .as_str()
        .is_some_and(|e| e.eq_ignore_ascii_case("relations") || e.eq_ignore_ascii_case("all"));
    let mut value = Vec::new();
    for id in ids {
        match id.as_i64().and_then(|n| data.items.get(&n)) {
            Some(wi) => value.push(work_item(&fake, &data, wi, relations)),
            None if omit => value.push(Value::Null),
            None => return item_not_found(&id.to_string()),
        }
    }
    axum::Json(json!({ "count": value.len(), "value": value })).into_response()
}

pub(super) async fn upload(
    State(fake): State<Arc<Fake>>,
    Path((org, project)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let Some(name) = query.get("fileName").filter(|n| !n.is_empty()) else {
        return bad_request("VS402361: The fileName parameter is required.");
    };
    let mut data = fake.lock();
    if project_named(&data, &project).is_none() {
        return project_not_found(&project);
    }
    let id = format!("a1b2c3d4-0000-4000-8000-{:012}", data.attachments.len() + 1);
    data.attachments.insert(
        id.clone(),
        Stored {
            name: name.clone(),
            bytes: body.to_vec(),
        },
    );
    let url = format!("{}/{ORG}/_apis/wit/attachments/{id}", fake.base);
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": id, "url": url })),
    )
        .into_response()
}

pub(super) async fn download(
    State(fake): State<Arc<Fake>>,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let data = fake.lock();
    match data.attachments.get(&id) {
        Some(a) => (
            [
                ("content-type", "application/octet-stream".to_string()),
                (
                    "content-disposition",
                    format!("attachment; filename=\"{}\"", a.name),
                ),
            ],
            a.bytes.clone(),
        )
            .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "AttachmentNotFoundException",
            &format!("TF401001: The attachment {id} does not exist."),
        ),
    }
}

/// The stored attachment a relation's URL names, if it is one of this organization's.
pub(super) fn stored_attachment<'a>(fake: &Fake, data: &'a Data, url: &str) -> Option<&'a Stored> {
    let id = url.strip_prefix(&format!("{}/{ORG}/_apis/wit/attachments/", fake.base))?;
    data.attachments.get(id.split('?').next().unwrap_or(id))
}

/// `DELETE /wit/workitems/{id}`: to the recycle bin (the fake forgets it), answered with
/// Azure DevOps' WorkItemDelete, and a `workitem.deleted` delivery.
pub(super) async fn delete_item(
    State(fake): State<Arc<Fake>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = wrong_org(&org) {
        return r;
    }
    let who = caller_email(&headers);
    let mut data = fake.lock();
    let Some(wi) = id.parse::<i64>().ok().and_then(|n| data.items.remove(&n)) else {
        return item_not_found(&id);
    };
    events::emit(&fake, &data, "workitem.deleted", &wi, None);
    let project = wi
        .fields
        .get("System.TeamProject")
        .cloned()
        .unwrap_or(Value::Null);
    axum::Json(json!({
        "id": wi.id,
        "code": 200,
        "type": wi.fields.get("System.WorkItemType"),
        "name": wi.fields.get("System.Title"),
        "project": project,
        "deletedDate": twinsync_ado::mapping::timestamp(now_ms()),
        "deletedBy": who,
        "url": format!("{}/{ORG}/_apis/wit/recyclebin/{}", fake.base, wi.id),
    }))
    .into_response()
}
