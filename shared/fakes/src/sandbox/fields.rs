//! How the sandbox reads an item's fields from a create or an update: which fields each
//! may name, their types, and the project's allowed statuses and priorities.

use super::db;
use super::error::{ApiResult, bad};
use serde_json::{Map, Value};

pub(super) const CREATE_FIELDS: &[&str] = &[
    "project",
    "summary",
    "description",
    "status",
    "priority",
    "labels",
    "assignee",
    "reporter",
    "customFields",
    "origin",
    "sync",
];
pub(super) const UPDATE_FIELDS: &[&str] = &[
    "project",
    "summary",
    "description",
    "status",
    "priority",
    "labels",
    "assignee",
    "customFields",
];

/// Refuses a body that names a field outside `allowed`.
pub(super) fn only(body: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!(
            "unknown field {k:?} (allowed: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Refuses a `what` (a status, a priority) the project does not allow.
pub(super) fn check_in(what: &str, value: &str, allowed: &[String]) -> ApiResult<()> {
    if allowed.iter().any(|a| a == value) {
        Ok(())
    } else {
        Err(bad(format!(
            "unknown {what} {value:?} (allowed: {})",
            allowed.join(", ")
        )))
    }
}

pub(super) fn str_field(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!("{key} must be a string, got {other}"))),
    }
}

pub(super) fn labels_field(body: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    match body.get("labels") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| bad("labels must be an array of strings")),
    }
}

/// A person as stored (JSON of `{email, displayName}`): `None` when not given,
/// `Some(None)` when cleared.
pub(super) fn user_field(
    body: &Map<String, Value>,
    key: &str,
) -> ApiResult<Option<Option<String>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => {
            let u: twinsync_sandbox::mapping::WireUser = serde_json::from_value(v.clone())
                .map_err(|_| bad(format!("{key} must be {{email, displayName}}")))?;
            if u.email.is_empty() {
                return Err(bad(format!("{key}.email is required")));
            }
            Ok(Some(Some(db::json(&u))))
        }
    }
}

/// The custom fields as stored (JSON of an object).
pub(super) fn custom_field(body: &Map<String, Value>) -> ApiResult<Option<String>> {
    match body.get("customFields") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(db::json(m))),
        Some(_) => Err(bad("customFields must be an object")),
    }
}
