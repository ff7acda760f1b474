//! `/query` (SOQL, paged by `nextRecordsUrl`) and `/query/{locator}`, the next page.

use super::FakeOptions;
use super::guard::error;
use super::soql;
use super::state::{self, Data, Fake, Record};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Params = HashMap<String, String>;

fn version(v: &str) -> String {
    v.trim_start_matches('v').to_string()
}

fn bad(code: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, message)
}

pub(super) async fn query(
    State(fake): State<Arc<Fake>>,
    Path(v): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let q = match soql::parse(params.get("q").map(String::as_str).unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return bad("MALFORMED_QUERY", &e),
    };
    let options = &fake.options;
    let Some(object) = [
        "Case",
        "CaseComment",
        "ContentVersion",
        "User",
        "RecordType",
        "Group",
    ]
    .into_iter()
    .find(|o| o.eq_ignore_ascii_case(&q.object)) else {
        return bad(
            "INVALID_TYPE",
            &format!("sObject type '{}' is not supported.", q.object),
        );
    };
    let mut data = fake.lock();
    let probe = state::record(json!({}));
    let named = q
        .fields
        .iter()
        .chain(q.conds.iter().map(|c| &c.field))
        .chain(q.order.iter().map(|(f, _)| f));
    for f in named {
        if data.value(options, object, &probe, f).is_none() {
            return bad(
                "INVALID_FIELD",
                &format!(
                    "No such column '{f}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name."
                ),
            );
        }
    }
    for (rel, wanted) in &q.children {
        let Some(child) = child_object(object, rel) else {
            return bad(
                "INVALID_TYPE",
                &format!("Didn't understand relationship '{rel}' in FROM part of query call."),
            );
        };
        if let Some(f) = wanted
            .iter()
            .find(|f| data.value(options, child, &probe, f).is_none())
        {
            return bad(
                "INVALID_FIELD",
                &format!("No such column '{f}' on entity '{child}'."),
            );
        }
    }
    let value =
        |data: &Data, r: &Record, f: &str| data.value(options, object, r, f).unwrap_or(Value::Null);
    let mut rows: Vec<&Record> = data
        .all(object)
        .iter()
        .filter(|r| {
            q.conds
                .iter()
                .all(|c| soql::holds(c, &value(&data, r, &c.field)))
        })
        .collect();
    rows.sort_by(|a, b| {
        q.order
            .iter()
            .map(|(f, desc)| {
                let o = soql::order(&value(&data, a, f), &value(&data, b, f));
                if *desc { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows.truncate(q.limit.unwrap_or(usize::MAX));
    let version = version(&v);
    let mut records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut out = data.render(options, &version, object, r, &q.fields);
            for (rel, wanted) in &q.children {
                out[rel.as_str()] = children(&data, options, &version, (object, r), rel, wanted);
            }
            out
        })
        .collect();
    let total = records.len();
    let batch = headers
        .get("sforce-query-options")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.trim().strip_prefix("batchSize="))
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| n.clamp(200, 2_000).min(options.batch_size))
        .unwrap_or(options.batch_size);
    let rest = if records.len() > batch {
        records.split_off(batch)
    } else {
        Vec::new()
    };
    let mut body = json!({ "totalSize": total, "done": rest.is_empty(), "records": records });
    if !rest.is_empty() {
        let locator = format!("01gFK{:013}", data.next_id + data.cursors.len() as u64);
        body["nextRecordsUrl"] =
            json!(format!("/services/data/v{version}/query/{locator}-{batch}"));
        data.cursors
            .insert(format!("{locator}-{batch}"), (total, rest));
    }
    axum::Json(body).into_response()
}

/// The child object behind a parent-to-child relationship name.
fn child_object(object: &str, rel: &str) -> Option<&'static str> {
    match (object, rel.to_ascii_lowercase().as_str()) {
        ("Case", "casecomments") => Some("CaseComment"),
        _ => None,
    }
}

/// A child relationship's records (the fields asked for), as Salesforce nests them:
/// null when none.
fn children(
    data: &Data,
    options: &FakeOptions,
    version: &str,
    (object, parent): (&str, &Record),
    rel: &str,
    wanted: &[String],
) -> Value {
    let id = parent.get("Id").cloned().unwrap_or(Value::Null);
    let Some(child) = child_object(object, rel) else {
        return Value::Null;
    };
    let rows: Vec<Value> = data
        .all(child)
        .iter()
        .filter(|c| c.get("ParentId") == Some(&id))
        .map(|c| data.render(options, version, child, c, wanted))
        .collect();
    if rows.is_empty() {
        return Value::Null;
    }
    json!({ "totalSize": rows.len(), "done": true, "records": rows })
}

pub(super) async fn query_more(
    State(fake): State<Arc<Fake>>,
    Path((v, locator)): Path<(String, String)>,
) -> Response {
    let mut data = fake.lock();
    // Every page says the whole query's size, as Salesforce's do.
    let Some((total, mut records)) = data.cursors.remove(&locator) else {
        return bad("INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    let batch = fake.options.batch_size;
    let rest = if records.len() > batch {
        records.split_off(batch)
    } else {
        Vec::new()
    };
    let mut body = json!({ "totalSize": total, "done": rest.is_empty(), "records": records });
    if !rest.is_empty() {
        let (base, offset) = locator.rsplit_once('-').unwrap_or((&locator, "0"));
        let next = format!("{base}-{}", offset.parse::<usize>().unwrap_or(0) + batch);
        body["nextRecordsUrl"] = json!(format!("/services/data/v{}/query/{next}", version(&v)));
        data.cursors.insert(next, (total, rest));
    }
    axum::Json(body).into_response()
}
