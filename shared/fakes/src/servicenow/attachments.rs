//! The Attachment API: `GET /api/now/attachment` (listing by `sysparm_query`, usually
//! `table_sys_id=...`), `POST /api/now/attachment/file?table_name=&table_sys_id=&file_name=`
//! with the file as the body and its type in `Content-Type`, and
//! `GET /api/now/attachment/{sys_id}/file` for the content.

use super::guard::{caller_name, error, not_found};
use super::query;
use super::state::{AttachmentData, Fake, now_text, sys_id};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

fn metadata(base: &str, a: &AttachmentData) -> BTreeMap<String, String> {
    [
        ("sys_id", a.sys_id.clone()),
        ("table_name", a.table.clone()),
        ("table_sys_id", a.table_sys_id.clone()),
        ("file_name", a.file_name.clone()),
        ("content_type", a.content_type.clone()),
        ("size_bytes", a.bytes.len().to_string()),
        (
            "download_link",
            format!("{base}/api/now/attachment/{}/file", a.sys_id),
        ),
        ("sys_created_by", a.created_by.clone()),
        ("sys_created_on", a.created_on.clone()),
        ("sys_mod_count", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn render(m: &BTreeMap<String, String>) -> Value {
    json!(m)
}

pub(super) async fn list(
    State(fake): State<Arc<Fake>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let q = match query::parse(
        params
            .get("sysparm_query")
            .map(String::as_str)
            .unwrap_or(""),
    ) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, None),
    };
    let limit = params
        .get("sysparm_limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let data = fake.lock();
    let result: Vec<Value> = data
        .attachments
        .iter()
        .map(|a| metadata(&fake.base, a))
        .filter(|m| q.matches(&data, m))
        .take(limit)
        .map(|m| render(&m))
        .collect();
    axum::Json(json!({ "result": result })).into_response()
}

pub(super) async fn upload(
    State(fake): State<Arc<Fake>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let (table, record, file_name) = (get("table_name"), get("table_sys_id"), get("file_name"));
    if table.is_empty() || record.is_empty() || file_name.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing parameter",
            Some("table_name, table_sys_id and file_name are required"),
        );
    }
    let mut data = fake.lock();
    if data.find(&table, &record).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid table or record",
            Some(&format!("{table} {record}")),
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let a = AttachmentData {
        sys_id: sys_id(),
        table,
        table_sys_id: record,
        file_name,
        content_type,
        bytes: body.to_vec(),
        created_by: caller_name(&headers),
        created_on: now_text(),
    };
    let result = render(&metadata(&fake.base, &a));
    data.attachments.push(a);
    (StatusCode::CREATED, axum::Json(json!({ "result": result }))).into_response()
}

pub(super) async fn content(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let data = fake.lock();
    let Some(a) = data.attachments.iter().find(|a| a.sys_id == id) else {
        return not_found();
    };
    let mut response = a.bytes.clone().into_response();
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        response.headers_mut().insert("content-type", v);
    }
    response
}
