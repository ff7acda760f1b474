//! The fake Jira's enhanced JQL search (`/rest/api/3/search/jql`, GET and POST), paged
//! with `nextPageToken`.

use super::guard::{bad_request, caller_email, refused};
use super::jql;
use super::state::{Data, Fake, IssueData};
use crate::plumbing::now_ms;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SearchRequest {
    jql: String,
    next_page_token: Option<String>,
    max_results: Option<usize>,
    fields: Vec<String>,
    properties: Vec<String>,
    expand: Option<String>,
}

pub(super) async fn search_post(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match serde_json::from_slice::<SearchRequest>(&body) {
        Ok(r) => search_answer(&fake, caller_email(&headers), r),
        Err(e) => refused(
            StatusCode::BAD_REQUEST,
            &format!("Invalid request payload: {e}"),
        ),
    }
}

pub(super) async fn search_get(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list = |k: &str| {
        q.get(k)
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    search_answer(
        &fake,
        caller_email(&headers),
        SearchRequest {
            jql: q.get("jql").cloned().unwrap_or_default(),
            next_page_token: q.get("nextPageToken").cloned(),
            max_results: q.get("maxResults").and_then(|v| v.parse().ok()),
            fields: list("fields"),
            properties: list("properties"),
            expand: q.get("expand").cloned(),
        },
    )
}

/// A query's where-part and its `ORDER BY` clause (empty when none).
fn split_order(jql: &str) -> (&str, &str) {
    match jql.to_ascii_lowercase().find(" order by ") {
        Some(at) => (&jql[..at], jql[at + 10..].trim()),
        None => (jql, ""),
    }
}

/// The most issues a page holds: 5,000 when only ids or keys are asked for, fewer with
/// fields ("API may return fewer items per page where a large number of fields are
/// requested", Atlassian's enhanced search reference); a larger `maxResults` is clamped,
/// not refused.
fn page_size(request: &SearchRequest) -> usize {
    let lean = request.fields.iter().all(|f| f == "id" || f == "key");
    let cap = if lean { 5000 } else { 100 };
    request.max_results.unwrap_or(50).clamp(1, cap)
}

fn search_answer(fake: &Fake, caller: &str, request: SearchRequest) -> Response {
    let data = fake.lock();
    let (filter, order) = split_order(&request.jql);
    if filter.trim().is_empty() {
        // The enhanced search refuses unbounded queries.
        return bad_request(
            "jql",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        );
    }
    let found = match found(fake, &data, caller, filter, order) {
        Ok(found) => found,
        Err(message) => return refused(StatusCode::BAD_REQUEST, &message),
    };
    let offset = request
        .next_page_token
        .as_deref()
        .and_then(offset_of)
        .unwrap_or(0);
    let max = page_size(&request);
    let fields = if request.fields.is_empty() {
        "id".to_string()
    } else {
        request.fields.join(",")
    };
    let props: Vec<&str> = request.properties.iter().map(String::as_str).collect();
    let page: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(max)
        .map(|i| fake.issue(&data, i, Some(&fields), &props))
        .collect();
    let last = offset + page.len() >= found.len();
    let mut body = json!({ "issues": page, "isLast": last });
    if !last {
        body["nextPageToken"] = json!(URL_SAFE_NO_PAD.encode(format!("offset:{}", offset + max)));
    }
    if request
        .expand
        .as_deref()
        .is_some_and(|e| e.contains("names"))
    {
        body["names"] = fake.names();
    }
    axum::Json(body).into_response()
}

/// The issues `filter` finds for `caller` (only in projects it may browse), in the
/// `order` asked for (`updated`, or creation, ascending unless `desc`); the error is
/// Jira's 400 message.
fn found<'a>(
    fake: &Fake,
    data: &'a Data,
    caller: &str,
    filter: &str,
    order: &str,
) -> Result<Vec<&'a IssueData>, String> {
    let query = jql::Query::new(fake, data, filter, caller, now_ms())?;
    let mut found: Vec<&IssueData> = data
        .issues
        .values()
        .filter(|i| fake.can_browse(caller, &i.project) && query.matches(data, i))
        .collect();
    let order = order.to_ascii_lowercase();
    if order.starts_with("updated") {
        found.sort_by_key(|i| (i.updated_ms, i.id));
        if order.starts_with("updated desc") {
            found.reverse();
        }
    } else if order.contains("desc") {
        found.reverse();
    }
    Ok(found)
}

/// The offset a `nextPageToken` stands for.
fn offset_of(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}
