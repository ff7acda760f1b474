//! JSON Patch on a work item as Azure DevOps applies it: `test` (a mismatch is a 412
//! and nothing is written), `add`/`replace`/`remove` on `/fields/{referenceName}` and
//! `/relations/-` or `/relations/{index}`; each field checked as the process rules do.

use super::super::guard::{bad_request, error};
use super::super::state::{CommentData, Data, Fake, WRITABLE, WorkItem, states_of};
use super::stored_attachment;
use crate::plumbing::{Refusal, now_ms};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use twinsync_ado::mapping::timestamp;

fn rule_error(field: &str, code: &str) -> Response {
    bad_request(&format!(
        "TF401320: Rule Error for field {field}. Error code: {code}."
    ))
}

fn test_failed(path: &str, expected: &Value, actual: &Value) -> Response {
    error(
        StatusCode::PRECONDITION_FAILED,
        "TestPatchOperationFailedException",
        &format!(
            "Test operation failed for path {path}. Expected value {expected} but actual value is {actual}."
        ),
    )
}

/// Whether `expected` (a number or its text) is `actual`.
fn same_number(expected: &Value, actual: u64) -> bool {
    expected.as_u64() == Some(actual)
        || expected.as_str().and_then(|s| s.parse().ok()) == Some(actual)
}

/// Applies `ops` to `wi` as `who`; the first refused operation refuses them all.
pub(in super::super) fn apply(
    fake: &Fake,
    data: &mut Data,
    wi: &mut WorkItem,
    ops: &[Value],
    who: &str,
) -> Result<(), Refusal> {
    for op in ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().unwrap_or("");
        let value = &op["value"];
        if !["add", "replace", "remove", "test"].contains(&kind) {
            return Err(Box::new(bad_request(&format!(
                "VS402372: The operation {kind:?} is not supported."
            ))));
        }
        if path == "/rev" {
            if kind != "test" {
                return Err(Box::new(bad_request("VS402373: /rev can only be tested.")));
            }
            if !same_number(value, wi.rev) {
                return Err(Box::new(test_failed(path, value, &json!(wi.rev))));
            }
            continue;
        }
        if let Some(name) = path.strip_prefix("/fields/") {
            if kind == "test" {
                let actual = wi.fields.get(name).cloned().unwrap_or(Value::Null);
                if &actual != value {
                    return Err(Box::new(test_failed(path, value, &actual)));
                }
                continue;
            }
            set_field(fake, data, wi, name, kind, value, who)?;
            continue;
        }
        if path == "/relations/-" && kind == "add" {
            let relation = relation(fake, data, wi, value)?;
            wi.relations.push(relation);
            continue;
        }
        if let Some(rest) = path.strip_prefix("/relations/")
            && let Some((index, part)) = rest
                .split_once('/')
                .map(|(i, p)| (i, Some(p)))
                .or(Some((rest, None)))
                .and_then(|(i, p)| i.parse::<usize>().ok().map(|i| (i, p)))
        {
            if index >= wi.relations.len() {
                return Err(Box::new(bad_request(&format!(
                    "VS402374: There is no relation at index {index}."
                ))));
            }
            if let Some(part) = part {
                // A relation's attributes change in place (its comment, say).
                match part.strip_prefix("attributes/") {
                    Some(name) if kind != "test" => {
                        wi.relations[index]["attributes"][name] = value.clone();
                    }
                    _ => {
                        return Err(Box::new(bad_request(&format!(
                            "VS402375: The path {path} is not valid for a work item."
                        ))));
                    }
                }
                continue;
            }
            match kind {
                "remove" => {
                    wi.relations.remove(index);
                }
                "replace" | "add" => {
                    // Only a relation's attributes (its comment) can change in place.
                    if let Some(attributes) = value.get("attributes") {
                        wi.relations[index]["attributes"] = attributes.clone();
                    }
                }
                _ => {}
            }
            continue;
        }
        return Err(Box::new(bad_request(&format!(
            "VS402375: The path {path} is not valid for a work item."
        ))));
    }
    Ok(())
}

fn set_field(
    fake: &Fake,
    data: &mut Data,
    wi: &mut WorkItem,
    name: &str,
    kind: &str,
    value: &Value,
    who: &str,
) -> Result<(), Refusal> {
    let known = WRITABLE.contains(&name) || fake.options.custom_fields.iter().any(|f| f == name);
    if !known {
        return Err(Box::new(bad_request(&format!(
            "TF51535: Cannot find field {name}."
        ))));
    }
    if kind == "remove" {
        wi.fields.remove(name);
        return Ok(());
    }
    let stored = match name {
        "System.State" => {
            let wanted = value.as_str().unwrap_or("");
            let states = states_of(&wi.work_item_type).unwrap_or(&[]);
            match states.iter().find(|(s, _)| *s == wanted) {
                Some((s, _)) => json!(s),
                None => return Err(Box::new(rule_error("State", "LimitedToValues"))),
            }
        }
        "Microsoft.VSTS.Common.Priority" => {
            let p = value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
            match p.filter(|p| (1..=4).contains(p)) {
                Some(p) => json!(p),
                None => return Err(Box::new(rule_error("Priority", "LimitedToValues"))),
            }
        }
        "System.AssignedTo" => {
            let raw = value
                .as_str()
                .or(value["uniqueName"].as_str())
                .unwrap_or("");
            // "Name <email>" or the email alone.
            let email = raw
                .rsplit_once('<')
                .map(|(_, e)| e.trim_end_matches('>'))
                .unwrap_or(raw)
                .trim();
            if !email.is_empty() && !data.identities.contains_key(&email.to_lowercase()) {
                return Err(Box::new(bad_request(&format!(
                    "The identity value '{raw}' for field 'Assigned To' is an unknown identity."
                ))));
            }
            json!(email)
        }
        "System.Tags" => {
            let mut tags: Vec<String> = Vec::new();
            for t in value
                .as_str()
                .unwrap_or("")
                .split([';', ','])
                .map(str::trim)
            {
                if !t.is_empty() && !tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                    tags.push(t.to_string());
                }
            }
            json!(tags.join("; "))
        }
        "System.History" => {
            // A history entry is a comment of the discussion, in HTML.
            let now = now_ms();
            data.comment_seq += 1;
            wi.comments.push(CommentData {
                id: data.comment_seq,
                version: 1,
                text: value.as_str().unwrap_or("").to_string(),
                format: "html".into(),
                author: who.to_string(),
                created_ms: now,
                modified_ms: now,
            });
            value.clone()
        }
        _ => value.clone(),
    };
    wi.fields.insert(name.to_string(), stored);
    Ok(())
}

/// A relation to add, checked and completed as Azure DevOps stores it.
fn relation(fake: &Fake, data: &Data, wi: &WorkItem, value: &Value) -> Result<Value, Refusal> {
    let rel = value["rel"].as_str().unwrap_or("");
    let url = value["url"].as_str().unwrap_or("");
    let comment = value["attributes"]["comment"].as_str().unwrap_or("");
    if wi
        .relations
        .iter()
        .any(|r| r["rel"] == rel && r["url"] == url)
    {
        return Err(Box::new(bad_request(&format!(
            "TF201035: The relation of type {rel} to {url} already exists."
        ))));
    }
    match rel {
        "AttachedFile" => {
            let Some(stored) = stored_attachment(fake, data, url) else {
                return Err(Box::new(bad_request(&format!(
                    "TF401001: The attachment {url} does not exist."
                ))));
            };
            let id = url.rsplit('/').next().unwrap_or("");
            Ok(json!({
                "rel": rel,
                "url": url,
                "attributes": {
                    "authorizedDate": timestamp(now_ms()),
                    "id": id,
                    "resourceCreatedDate": timestamp(now_ms()),
                    "resourceModifiedDate": timestamp(now_ms()),
                    "revisedDate": "9999-01-01T00:00:00Z",
                    "resourceSize": stored.bytes.len(),
                    "name": stored.name,
                    "comment": comment,
                }
            }))
        }
        "Hyperlink" => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Box::new(bad_request(&format!(
                    "TF201063: The hyperlink {url} is not valid."
                ))));
            }
            Ok(json!({ "rel": rel, "url": url, "attributes": { "comment": comment } }))
        }
        other => Err(Box::new(bad_request(&format!(
            "TF201036: The link type {other} does not exist."
        )))),
    }
}
