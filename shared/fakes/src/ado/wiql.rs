//! WIQL as the fake Azure DevOps runs it: `SELECT ... FROM WorkItems WHERE ... ORDER BY
//! ...` with `AND`, `OR`, `NOT`, parentheses, `= <> > < >= <=`, `CONTAINS` (whole tags
//! on `System.Tags`, text elsewhere), `IN (...)`, and the `@project`, `@me` and `@today`
//! macros. Dates compare by day; a date with a time is refused unless the request says
//! `timePrecision=true`, and then compares to the second. Anything else is Azure
//! DevOps' 400.

use super::guard::{bad_request, caller_email, project_not_found};
use super::state::{Fake, WorkItem, project_named};
use crate::plumbing::now_ms;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use twinsync_ado::mapping::{millis, timestamp};

mod parse;

use parse::{Cond, Literal, Query as Wiql};

/// Everything a condition is evaluated against.
struct Env<'a> {
    project: &'a str,
    me: &'a str,
    time_precision: bool,
}

/// A field's value on a work item, as WIQL compares it.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Text(String),
    Date(i64),
    Tags(Vec<String>),
    Null,
}

fn value_of(wi: &WorkItem, field: &str) -> Val {
    match field {
        "System.Id" => Val::Num(wi.id as f64),
        "System.Rev" => Val::Num(wi.rev as f64),
        "System.TeamProject" => Val::Text(wi.project.clone()),
        "System.WorkItemType" => Val::Text(wi.work_item_type.clone()),
        "System.ChangedDate" => Val::Date(wi.changed_ms),
        "System.CreatedDate" => Val::Date(wi.created_ms),
        "System.CreatedBy" => Val::Text(wi.created_by.clone()),
        "System.ChangedBy" => Val::Text(wi.changed_by.clone()),
        "System.Tags" => Val::Tags(
            wi.fields
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .split(';')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        ),
        // Reference names compare case-insensitively.
        _ => match wi
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map(|(_, v)| v)
        {
            Some(Value::Number(n)) => Val::Num(n.as_f64().unwrap_or(0.0)),
            Some(Value::String(s)) => Val::Text(s.clone()),
            Some(Value::Bool(b)) => Val::Text(b.to_string()),
            _ => Val::Null,
        },
    }
}

const DAY_MS: i64 = 86_400_000;

/// A literal as the field's kind of value; a date with a time needs time precision.
fn literal(field_value: &Val, lit: &Literal, env: &Env) -> Result<Val, String> {
    let text = match lit {
        Literal::Num(n) => return Ok(Val::Num(*n)),
        Literal::Macro(m) => match m.as_str() {
            "@project" => env.project.to_string(),
            "@me" => env.me.to_string(),
            other if other.starts_with("@today") => {
                let days: i64 = other
                    .trim_start_matches("@today")
                    .replace(' ', "")
                    .parse()
                    .unwrap_or(0);
                let today = now_ms() - now_ms().rem_euclid(DAY_MS);
                return Ok(Val::Date(today + days * DAY_MS));
            }
            other => {
                return Err(format!(
                    "TF51011: The specified macro «{other}» does not exist."
                ));
            }
        },
        Literal::Text(s) => s.clone(),
    };
    if matches!(field_value, Val::Date(_)) {
        let has_time = text.contains('T') || text.contains(':');
        if has_time && !env.time_precision {
            return Err(format!(
                "TF51006: The query statement contains an invalid date format at «'{text}'». You cannot supply a time with the date when running a query using date precision."
            ));
        }
        let ms = if has_time {
            millis(&text)
        } else {
            millis(&format!("{text}T00:00:00Z"))
        };
        if ms == 0 && !text.starts_with("1970") {
            return Err(format!(
                "TF51006: The query statement contains an invalid date format at «'{text}'»."
            ));
        }
        return Ok(Val::Date(ms));
    }
    Ok(Val::Text(text))
}

/// The order of two values of a field, dates at the query's precision.
fn compare(a: &Val, b: &Val, env: &Env) -> Option<Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Text(x), Val::Text(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Val::Date(x), Val::Date(y)) => {
            let unit = if env.time_precision { 1_000 } else { DAY_MS };
            Some((x - x.rem_euclid(unit)).cmp(&(y - y.rem_euclid(unit))))
        }
        _ => None,
    }
}

fn holds(cond: &Cond, wi: &WorkItem, env: &Env) -> Result<bool, String> {
    Ok(match cond {
        Cond::And(a, b) => holds(a, wi, env)? && holds(b, wi, env)?,
        Cond::Or(a, b) => holds(a, wi, env)? || holds(b, wi, env)?,
        Cond::Not(c) => !holds(c, wi, env)?,
        Cond::Compare { field, op, values } => {
            let actual = value_of(wi, field);
            let wanted: Vec<Val> = values
                .iter()
                .map(|l| literal(&actual, l, env))
                .collect::<Result<_, _>>()?;
            let first = wanted.first().cloned().unwrap_or(Val::Null);
            match op.as_str() {
                "CONTAINS" => match (&actual, &first) {
                    (Val::Tags(tags), Val::Text(t)) => tags.contains(&t.to_lowercase()),
                    (Val::Text(s), Val::Text(t)) => s.to_lowercase().contains(&t.to_lowercase()),
                    _ => false,
                },
                "IN" => wanted
                    .iter()
                    .any(|w| compare(&actual, w, env) == Some(Ordering::Equal)),
                op => {
                    let ord = compare(&actual, &first, env);
                    match op {
                        "=" => ord == Some(Ordering::Equal),
                        "<>" => ord != Some(Ordering::Equal),
                        ">" => ord == Some(Ordering::Greater),
                        "<" => ord == Some(Ordering::Less),
                        ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                        "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                        _ => false,
                    }
                }
            }
        }
    })
}

/// `POST {org}/{project}/_apis/wit/wiql`.
pub(super) async fn query(
    State(fake): State<Arc<Fake>>,
    Path((_, project)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(text) = request["query"].as_str() else {
        return bad_request("VS402336: The query is required.");
    };
    let parsed: Wiql = match parse::parse(text) {
        Ok(q) => q,
        Err(e) => return bad_request(&e),
    };
    let data = fake.lock();
    let Some(project) = project_named(&data, &project) else {
        return project_not_found(&project);
    };
    let me = caller_email(&headers);
    let env = Env {
        project: &project,
        me: &me,
        time_precision: params
            .get("timePrecision")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    let mut found = Vec::new();
    for wi in data.items.values() {
        match parsed
            .filter
            .as_ref()
            .map(|c| holds(c, wi, &env))
            .unwrap_or(Ok(true))
        {
            Ok(true) => found.push(wi),
            Ok(false) => {}
            Err(e) => return bad_request(&e),
        }
    }
    found.sort_by(|a, b| {
        for (field, descending) in &parsed.order {
            let ord =
                compare(&value_of(a, field), &value_of(b, field), &env).unwrap_or(Ordering::Equal);
            let ord = if *descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id.cmp(&b.id)
    });
    let top = params
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(20_000);
    let project_id = data.projects.get(&project).cloned().unwrap_or_default();
    let items: Vec<Value> = found
        .iter()
        .take(top)
        .map(|wi| json!({ "id": wi.id, "url": format!("{}/{}/{project_id}/_apis/wit/workItems/{}", fake.base, super::ORG, wi.id) }))
        .collect();
    axum::Json(json!({
        "queryType": "flat",
        "queryResultType": "workItem",
        "asOf": timestamp(now_ms()),
        "columns": parsed.columns.iter().map(|c| json!({ "referenceName": c, "name": c })).collect::<Vec<_>>(),
        "sortColumns": parsed.order.iter().map(|(c, d)| json!({ "field": { "referenceName": c }, "descending": d })).collect::<Vec<_>>(),
        "workItems": items,
    }))
    .into_response()
}
