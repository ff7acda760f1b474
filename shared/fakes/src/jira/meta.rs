//! The fake Jira's routes about people and fields: user search, the caller
//! (`/myself`), and the field list with the custom fields.

use super::guard::{bad_request, caller_account};
use super::state::Fake;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) async fn user_search(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let query = q.get("query").map(|s| s.to_lowercase()).unwrap_or_default();
    if query.is_empty() {
        return bad_request(
            "query",
            "One of 'query' or 'accountId' query parameters must be provided.",
        );
    }
    let found: Vec<Value> = data
        .accounts
        .iter()
        .filter(|(email, (_, name))| {
            email.to_lowercase().starts_with(&query) || name.to_lowercase().contains(&query)
        })
        .map(|(_, (id, _))| fake.user(&data, id))
        .collect();
    axum::Json(Value::Array(found)).into_response()
}

pub(super) async fn myself(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let data = fake.lock();
    let me = caller_account(&data, &headers);
    axum::Json(fake.user(&data, &me)).into_response()
}

pub(super) async fn list_fields(State(fake): State<Arc<Fake>>) -> Response {
    let mut out = vec![
        json!({"id": "summary", "key": "summary", "name": "Summary", "custom": false, "orderable": true, "navigable": true, "searchable": true, "clauseNames": ["summary"], "schema": {"type": "string", "system": "summary"}}),
        json!({"id": "labels", "key": "labels", "name": "Labels", "custom": false, "orderable": true, "navigable": true, "searchable": true, "clauseNames": ["labels"], "schema": {"type": "array", "items": "string", "system": "labels"}}),
    ];
    for (id, name, kind) in &fake.options.custom_fields {
        let n = id.trim_start_matches("customfield_");
        out.push(json!({"id": id, "key": id, "name": name, "custom": true, "orderable": true, "navigable": true, "searchable": true,
            "clauseNames": [format!("cf[{n}]"), name],
            "schema": {"type": kind, "custom": if kind == "option" { "com.atlassian.jira.plugin.system.customfieldtypes:select" } else { "com.atlassian.jira.plugin.system.customfieldtypes:textfield" }, "customId": n.parse::<u64>().unwrap_or(0)}}));
    }
    axum::Json(Value::Array(out)).into_response()
}
