//! How the fake Jira applies the `fields` of a create or an edit to an issue, refusing
//! what Jira refuses with its messages, and reads entity properties from a request.

use super::state::{Data, Fake, IssueData, PRIORITIES};
use crate::plumbing::strings;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A refused field and Jira's message about it.
type FieldError = (String, String);

fn refuse(field: &str, message: impl Into<String>) -> FieldError {
    (field.to_string(), message.into())
}

/// Jira's refusal of a field it does not know or does not let be set.
fn cannot_set(field: &str) -> FieldError {
    refuse(
        field,
        format!("Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."),
    )
}

/// Applies `fields` of a create or an edit to `issue`; an error is Jira's 400. Fields
/// before the refused one stay applied.
pub(super) fn apply_fields(
    fake: &Fake,
    data: &Data,
    issue: &mut IssueData,
    fields: &Map<String, Value>,
) -> Result<(), FieldError> {
    for (name, value) in fields {
        match name.as_str() {
            "project" | "issuetype" => {}
            "summary" => issue.summary = summary(value)?,
            "description" => issue.description = description(value)?,
            "labels" => match strings(value) {
                Some(l) if l.iter().all(|x| !x.contains(' ')) => issue.labels = l,
                _ => return Err(refuse("labels", "The label must not contain spaces.")),
            },
            "priority" => issue.priority = priority(value)?,
            "assignee" => issue.assignee = person(data, name, value)?,
            "reporter" => issue.reporter = person(data, name, value)?,
            custom if custom.starts_with("customfield_") => {
                custom_field(fake, issue, custom, value)?
            }
            // The status changes only through transitions; it and unknown fields cannot be set.
            other => return Err(cannot_set(other)),
        }
    }
    Ok(())
}

fn summary(value: &Value) -> Result<String, FieldError> {
    match value.as_str() {
        Some(s) if !s.trim().is_empty() && s.len() <= 255 => Ok(s.to_string()),
        Some(s) if s.len() > 255 => Err(refuse(
            "summary",
            "Summary must be less than 255 characters.",
        )),
        _ => Err(refuse(
            "summary",
            "You must specify a summary of the issue.",
        )),
    }
}

/// A description: null, or an Atlassian Document.
fn description(value: &Value) -> Result<Option<Value>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(o)
            if o.get("type") == Some(&json!("doc")) && o.get("version") == Some(&json!(1)) =>
        {
            Ok(Some(value.clone()))
        }
        _ => Err(refuse(
            "description",
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        )),
    }
}

/// A priority by name or id, as its index in [`PRIORITIES`]; null clears it.
fn priority(value: &Value) -> Result<Option<usize>, FieldError> {
    if value.is_null() {
        return Ok(None);
    }
    let name = value["name"].as_str();
    let id = value["id"].as_str();
    match PRIORITIES
        .iter()
        .position(|(i, n)| Some(*n) == name || Some(*i) == id)
    {
        Some(p) => Ok(Some(p)),
        None => Err(refuse(
            "priority",
            format!("The priority selected is invalid: {value}"),
        )),
    }
}

/// An assignee or reporter: an existing account's id, or null.
fn person(data: &Data, field: &str, value: &Value) -> Result<Option<String>, FieldError> {
    if value.is_null() {
        return Ok(None);
    }
    match value["accountId"].as_str() {
        Some(id) if data.accounts.values().any(|(a, _)| a == id) => Ok(Some(id.to_string())),
        _ => Err(refuse(
            field,
            format!(
                "User '{}' does not exist.",
                value["accountId"].as_str().unwrap_or("")
            ),
        )),
    }
}

/// Sets or clears a custom field the fake knows: an option takes `{value}`, any other
/// kind its value as given.
fn custom_field(
    fake: &Fake,
    issue: &mut IssueData,
    custom: &str,
    value: &Value,
) -> Result<(), FieldError> {
    let Some((_, _, kind)) = fake
        .options
        .custom_fields
        .iter()
        .find(|(id, _, _)| id == custom)
    else {
        return Err(cannot_set(custom));
    };
    match (kind.as_str(), value) {
        (_, Value::Null) => {
            issue.custom.remove(custom);
        }
        ("option", Value::Object(o)) if o.get("value").is_some_and(Value::is_string) => {
            let option = json!({"self": format!("{}/rest/api/3/customFieldOption/1", fake.base), "value": o["value"], "id": "10100"});
            issue.custom.insert(custom.to_string(), option);
        }
        ("option", _) => {
            return Err(refuse(
                custom,
                "Specify a valid 'id' or 'name' for the option",
            ));
        }
        (_, v) => {
            issue.custom.insert(custom.to_string(), v.clone());
        }
    }
    Ok(())
}

/// Entity properties as a request lists them: `[{key, value}]`.
pub(super) fn properties_of(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|p| Some((p["key"].as_str()?.to_string(), p["value"].clone())))
                .collect()
        })
        .unwrap_or_default()
}
