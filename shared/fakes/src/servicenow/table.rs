//! The Table API: `GET /api/now/table/{table}` (encoded query, fields, display values,
//! `sysparm_limit`/`sysparm_offset` paging with `X-Total-Count` and `Link`),
//! `GET|PATCH|PUT|DELETE /api/now/table/{table}/{sys_id}` and `POST` to insert. Writes
//! to task records number them, count `sys_mod_count`, compute the priority from impact
//! and urgency, turn `comments` and `work_notes` into journal entries, hold to the data
//! policies, and push the change when the push business rule is installed.

use super::guard::{caller_name, error, invalid_table, not_found};
use super::query;
use super::render::{self, View};
use super::state::{
    Fake, JOURNALS, Record, TABLES, TASK_COLUMNS, is_task, now_text, policy_violation, priority,
    sys_id,
};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Params = HashMap<String, String>;

/// ServiceNow's page size when none is asked for.
const DEFAULT_LIMIT: usize = 10_000;

/// Fields a write cannot set.
const READ_ONLY: [&str; 7] = [
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "number",
];

fn known(table: &str) -> bool {
    TABLES.contains(&table)
}

pub(super) async fn list(
    State(fake): State<Arc<Fake>>,
    Path(table): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if !known(&table) {
        return invalid_table(&table);
    }
    let q = match query::parse(
        params
            .get("sysparm_query")
            .map(String::as_str)
            .unwrap_or(""),
    ) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, None),
    };
    let number = |k: &str, d: usize| {
        params
            .get(k)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(d)
    };
    let (limit, offset) = (
        number("sysparm_limit", DEFAULT_LIMIT).max(1),
        number("sysparm_offset", 0),
    );
    let view = View::from_params(&params);
    let data = fake.lock();
    let mut found: Vec<&Record> = data
        .table(&table)
        .iter()
        .filter(|r| q.matches(&data, r))
        .collect();
    q.sort(&data, &mut found);
    let total = found.len();
    let result: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| render::record(&fake.base, &data, &table, r, &view))
        .collect();
    let mut response = axum::Json(json!({ "result": result })).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if params
        .get("sysparm_suppress_pagination_header")
        .map(String::as_str)
        != Some("true")
    {
        let link = links(&fake.base, &table, &params, limit, offset, total);
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert("link", v);
        }
    }
    response
}

/// The `Link` header of a page: first, prev, next and last, as ServiceNow sends them.
fn links(
    base: &str,
    table: &str,
    params: &Params,
    limit: usize,
    offset: usize,
    total: usize,
) -> String {
    let url = |at: usize| {
        let mut p: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k.as_str() != "sysparm_offset" && k.as_str() != "sysparm_limit")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        p.sort();
        p.push(("sysparm_limit".into(), limit.to_string()));
        p.push(("sysparm_offset".into(), at.to_string()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p)
            .finish();
        format!("<{base}/api/now/table/{table}?{query}>")
    };
    let last = total.saturating_sub(1) / limit * limit;
    let mut parts = vec![format!("{};rel=\"first\"", url(0))];
    if offset > 0 {
        parts.push(format!(
            "{};rel=\"prev\"",
            url(offset.saturating_sub(limit))
        ));
    }
    if offset + limit < total {
        parts.push(format!("{};rel=\"next\"", url(offset + limit)));
    }
    parts.push(format!("{};rel=\"last\"", url(last)));
    parts.join(",")
}

pub(super) async fn get_record(
    State(fake): State<Arc<Fake>>,
    Path((table, id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Response {
    if !known(&table) {
        return invalid_table(&table);
    }
    let view = View::from_params(&params);
    let data = fake.lock();
    match data.find(&table, &id) {
        Some(r) => {
            axum::Json(json!({ "result": render::record(&fake.base, &data, &table, r, &view) }))
                .into_response()
        }
        None => not_found(),
    }
}

/// A JSON value as the text ServiceNow stores.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(o) => o.get("value").map(text).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Applies `body` to `record` of `table` as `by`; the journal entries it adds, and
/// whether anything changed.
fn apply(table: &str, record: &mut Record, body: &Value) -> (Vec<(String, String)>, bool) {
    let mut journal = Vec::new();
    let mut changed = false;
    for (k, v) in body.as_object().into_iter().flatten() {
        let mut v = text(v);
        // ServiceNow cuts a string at its column's length.
        if k.starts_with("correlation_") {
            v = v.chars().take(100).collect();
        }
        if READ_ONLY.contains(&k.as_str()) || (is_task(table) && k == "priority") {
            continue;
        }
        if is_task(table) && JOURNALS.contains(&k.as_str()) {
            if !v.trim().is_empty() {
                journal.push((k.clone(), v));
            }
            continue;
        }
        if record.get(k) != Some(&v) {
            record.insert(k.clone(), v);
            changed = true;
        }
    }
    if is_task(table) {
        let p = priority(
            record.get("impact").map(String::as_str).unwrap_or("3"),
            record.get("urgency").map(String::as_str).unwrap_or("3"),
        );
        record.insert("priority".into(), p);
    }
    let changed = changed || !journal.is_empty();
    (journal, changed)
}

/// Inserts (`id` is `None`) or updates a record; answers it as `params` ask.
fn write(
    fake: &Fake,
    table: &str,
    id: Option<&str>,
    body: &Value,
    by: &str,
    params: &Params,
) -> Response {
    if !known(table) {
        return invalid_table(table);
    }
    if !body.is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some("The payload is not valid JSON."),
        );
    }
    let mut data = fake.lock();
    let now = now_text();
    let (mut record, index) = match id {
        Some(id) => match data
            .table(table)
            .iter()
            .position(|r| r.get("sys_id").map(String::as_str) == Some(id))
        {
            Some(i) => (data.table(table)[i].clone(), Some(i)),
            None => return not_found(),
        },
        None => {
            let mut r = Record::new();
            for (k, v) in [
                ("sys_id", sys_id()),
                ("sys_created_on", now.clone()),
                ("sys_created_by", by.to_string()),
                ("sys_mod_count", "0".into()),
            ] {
                r.insert(k.into(), v);
            }
            if is_task(table) {
                for column in TASK_COLUMNS {
                    r.insert(column.into(), String::new());
                }
                let number = data.next_number(table);
                let opened_by = data
                    .user_by_name(by)
                    .and_then(|u| u.get("sys_id").cloned())
                    .unwrap_or_default();
                for (k, v) in [
                    ("number", number),
                    ("state", "1".into()),
                    ("impact", "3".into()),
                    ("urgency", "3".into()),
                    ("active", "true".into()),
                    ("opened_by", opened_by),
                    ("opened_at", now.clone()),
                ] {
                    r.insert(k.into(), v);
                }
            }
            (r, None)
        }
    };
    let (journal, changed) = apply(table, &mut record, body);
    if is_task(table)
        && let Some(why) = policy_violation(&record)
    {
        return error(StatusCode::FORBIDDEN, "Operation Failed", Some(&why));
    }
    if changed || index.is_none() {
        if index.is_some() {
            let count = record
                .get("sys_mod_count")
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(0);
            record.insert("sys_mod_count".into(), (count + 1).to_string());
        }
        record.insert("sys_updated_on".into(), now);
        record.insert("sys_updated_by".into(), by.to_string());
        let sys_id = record.get("sys_id").cloned().unwrap_or_default();
        for (element, value) in &journal {
            data.journal(table, &sys_id, element, value, by);
        }
        let rows = data.tables.entry(table.to_string()).or_default();
        match index {
            Some(i) => rows[i] = record.clone(),
            None => rows.push(record.clone()),
        }
        if is_task(table) {
            fake.push(
                &data,
                table,
                &record,
                if index.is_some() { "update" } else { "insert" },
            );
        }
    }
    let view = View::from_params(params);
    let result = render::record(&fake.base, &data, table, &record, &view);
    let status = if index.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = (status, axum::Json(json!({ "result": result }))).into_response();
    if index.is_none() {
        let location = format!(
            "{}/api/now/table/{table}/{}",
            fake.base,
            record.get("sys_id").cloned().unwrap_or_default()
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers_mut().insert("location", v);
        }
    }
    response
}

pub(super) async fn insert(
    State(fake): State<Arc<Fake>>,
    Path(table): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    write(&fake, &table, None, &body, &caller_name(&headers), &params)
}

pub(super) async fn update(
    State(fake): State<Arc<Fake>>,
    Path((table, id)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    write(
        &fake,
        &table,
        Some(&id),
        &body,
        &caller_name(&headers),
        &params,
    )
}

pub(super) async fn delete(
    State(fake): State<Arc<Fake>>,
    Path((table, id)): Path<(String, String)>,
) -> Response {
    if !known(&table) {
        return invalid_table(&table);
    }
    let mut data = fake.lock();
    let rows = data.tables.entry(table).or_default();
    match rows.iter().position(|r| r.get("sys_id") == Some(&id)) {
        Some(i) => {
            rows.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(),
    }
}
