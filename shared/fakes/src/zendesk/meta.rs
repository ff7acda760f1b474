//! The fake Zendesk's lookups and files: user search by email, groups, ticket fields,
//! uploads (`POST /api/v2/uploads.json?filename=`, a token to attach with a comment) and
//! attachment content.

use super::guard::{bad_payload, not_found};
use super::render::{page, user_json};
use super::state::{AttachmentData, Fake};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `GET /api/v2/users/search.json?query=email:...` (or a bare email).
pub(super) async fn user_search(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(q) = query.get("query").or(query.get("external_id")) else {
        return bad_payload("query or external_id is required");
    };
    let wanted = q
        .strip_prefix("email:")
        .unwrap_or(q)
        .trim()
        .trim_matches('"');
    let data = fake.lock();
    let users: Vec<Value> = data
        .users
        .iter()
        .filter(|u| u.email.eq_ignore_ascii_case(wanted))
        .map(user_json)
        .collect();
    axum::Json(
        json!({ "users": users, "count": users.len(), "next_page": null, "previous_page": null }),
    )
    .into_response()
}

pub(super) async fn groups(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let all = data
        .groups
        .iter()
        .map(|(id, name)| {
            (
                *id,
                json!({ "id": id, "name": name, "deleted": false, "default": false }),
            )
        })
        .collect();
    match page(
        &format!("{}/api/v2/groups.json", fake.base),
        "groups",
        all,
        &query,
    ) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => *r,
    }
}

/// The system fields every instance has, then the custom ones.
pub(super) async fn ticket_fields(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let system = [
        "subject",
        "description",
        "status",
        "tickettype",
        "priority",
        "group",
        "assignee",
    ];
    let mut all: Vec<(u64, Value)> = system
        .iter()
        .enumerate()
        .map(|(n, kind)| {
            let id = n as u64 + 1;
            (id, json!({ "id": id, "type": kind, "title": kind, "active": true, "removable": false }))
        })
        .collect();
    all.extend(data.fields.iter().map(|(id, title)| {
        (
            *id,
            json!({ "id": id, "type": "text", "title": title, "active": true, "removable": true }),
        )
    }));
    match page(
        &format!("{}/api/v2/ticket_fields.json", fake.base),
        "ticket_fields",
        all,
        &query,
    ) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => *r,
    }
}

pub(super) async fn upload(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(file_name) = query.get("filename").filter(|f| !f.is_empty()) else {
        return bad_payload("filename is required");
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/binary")
        .to_string();
    let mut data = fake.lock();
    let id = data.id();
    let token = uuid::Uuid::new_v4().simple().to_string();
    data.attachments.push(AttachmentData {
        id,
        token: token.clone(),
        file_name: file_name.clone(),
        content_type,
        bytes: body.to_vec(),
    });
    data.uploads.insert(token.clone(), vec![id]);
    let Some(a) = data.attachments.last() else {
        return not_found("RecordNotFound");
    };
    let attachment = fake.attachment_json(a);
    let answer = json!({ "upload": {
        "token": token,
        "expires_at": super::render::ts(crate::plumbing::now_ms() / 1000 + 3 * 24 * 3600),
        "attachment": attachment,
        "attachments": [attachment],
    }});
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn attachment_content(
    State(fake): State<Arc<Fake>>,
    Path(token): Path<String>,
) -> Response {
    let data = fake.lock();
    let Some(a) = data.attachments.iter().find(|a| a.token == token) else {
        return not_found("RecordNotFound");
    };
    let mut r = a.bytes.clone().into_response();
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        r.headers_mut().insert("content-type", v);
    }
    r
}
