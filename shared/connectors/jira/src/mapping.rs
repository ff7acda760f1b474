//! Jira's JSON to the domain `Item`, and the domain's fields to Jira's.
//!
//! Descriptions and comments are ADF on Jira's side and Markdown in the domain (`adf`).
//! The origin marker is an issue entity property (`twinsync-origin`) and, on comments, a
//! comment property of the same key: both are invisible to people and survive edits.

use crate::adf;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use twinsync_core::{Attachment, Comment, Item, Named, User};

/// The entity property key of the origin marker, on issues and on comments.
pub const ORIGIN_PROPERTY: &str = "twinsync-origin";

/// The fields a read asks for: what the rules need, and nothing else.
pub const FIELDS: &str = "summary,description,status,priority,labels,assignee,reporter,comment,attachment,updated,created,project,issuetype,*custom";

/// Jira's timestamps (`2026-11-23T10:14:01.123+0000`) as ms since the epoch.
pub fn millis(s: &str) -> i64 {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// ms since the epoch in Jira's format, in UTC.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default()
}

fn user(v: &Value) -> Option<User> {
    if v.is_null() {
        return None;
    }
    Some(User {
        email: v["emailAddress"].as_str().unwrap_or("").to_string(),
        display_name: v["displayName"].as_str().unwrap_or("").to_string(),
    })
}

fn named(v: &Value) -> Option<Named> {
    v["name"].as_str().map(Named::new)
}

/// The origin marker in an entity's `properties` (issue) or property list (comment).
pub fn origin_of(properties: &Value) -> Option<String> {
    let value = match properties {
        Value::Array(list) => list
            .iter()
            .find(|p| p["key"] == ORIGIN_PROPERTY)
            .map(|p| &p["value"])?,
        Value::Object(map) => map.get(ORIGIN_PROPERTY)?,
        _ => return None,
    };
    value["origin"].as_str().map(str::to_string)
}

/// The property that stamps an entity with `origin`, as create requests take it.
pub fn origin_property(origin: &str) -> Value {
    json!([{ "key": ORIGIN_PROPERTY, "value": { "origin": origin } }])
}

pub fn comment(c: &Value) -> Comment {
    Comment {
        id: c["id"].as_str().unwrap_or("").to_string(),
        author: user(&c["author"]),
        body: adf::to_markdown(&c["body"]),
        created_ms: millis(c["created"].as_str().unwrap_or("")),
        origin: origin_of(&c["properties"]),
        remote_id: None,
        internal: false,
    }
}

/// A Jira issue (as `GET /rest/api/3/issue/{key}` answers) and its comments (as
/// `GET .../comment?expand=properties` lists them) as a domain item. `names` maps custom
/// field ids to their names (`expand=names`); a field without a name keeps its id.
pub fn to_item(base_url: &str, issue: &Value, comments: &[Value]) -> Item {
    let f = &issue["fields"];
    let key = issue["key"].as_str().unwrap_or("").to_string();
    let mut custom_fields = BTreeMap::new();
    if let Some(map) = f.as_object() {
        for (id, value) in map {
            if id.starts_with("customfield_") && !value.is_null() {
                let name = issue["names"][id].as_str().unwrap_or(id).to_string();
                custom_fields.insert(name, custom_value(value));
            }
        }
    }
    let updated_ms = millis(f["updated"].as_str().unwrap_or(""));
    Item {
        url: format!("{base_url}/browse/{key}"),
        key,
        project: f["project"]["key"].as_str().unwrap_or("").to_string(),
        summary: f["summary"].as_str().unwrap_or("").to_string(),
        description: if f["description"].is_null() {
            String::new()
        } else {
            adf::to_markdown(&f["description"])
        },
        status: named(&f["status"]),
        priority: named(&f["priority"]),
        labels: f["labels"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        assignee: user(&f["assignee"]),
        reporter: user(&f["reporter"]),
        comments: comments.iter().map(comment).collect(),
        attachments: f["attachment"]
            .as_array()
            .map(|list| list.iter().map(attachment).collect())
            .unwrap_or_default(),
        custom_fields,
        // Jira has no revision number; `updated` grows with every write, comments included.
        version: updated_ms.max(0) as u64,
        updated_ms,
        origin: origin_of(&issue["properties"]),
    }
}

/// Option fields (`{"value": "Red"}`) become their value; everything else stays as is.
fn custom_value(v: &Value) -> Value {
    match v {
        Value::Object(o) if o.contains_key("value") => o["value"].clone(),
        Value::Array(list) => Value::Array(list.iter().map(custom_value).collect()),
        other => other.clone(),
    }
}

pub fn attachment(a: &Value) -> Attachment {
    Attachment {
        id: a["id"].as_str().unwrap_or("").to_string(),
        filename: a["filename"].as_str().unwrap_or("").to_string(),
        mime_type: a["mimeType"].as_str().unwrap_or("").to_string(),
        size: a["size"].as_u64().unwrap_or(0),
        url: a["content"].as_str().unwrap_or("").to_string(),
        ..Attachment::default()
    }
}

/// A custom field's value as Jira takes it: a select takes `{"value": ...}`, a text field
/// the string, per the field's schema from `GET /rest/api/3/field`.
pub fn custom_input(schema_type: &str, value: &Value) -> Value {
    match (schema_type, value) {
        ("option", Value::String(s)) => json!({ "value": s }),
        ("array", Value::Array(list)) => Value::Array(list.clone()),
        (_, v) => v.clone(),
    }
}

/// The custom fields Jira knows: name → (id, schema type).
pub type FieldIndex = HashMap<String, (String, String)>;

pub fn field_index(fields: &Value) -> FieldIndex {
    fields
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|f| f["custom"].as_bool() == Some(true))
                .filter_map(|f| {
                    Some((
                        f["name"].as_str()?.to_string(),
                        (
                            f["id"].as_str()?.to_string(),
                            f["schema"]["type"].as_str().unwrap_or("string").to_string(),
                        ),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_maps_to_an_item() {
        let issue = json!({
            "id": "10001", "key": "DEMO-1",
            "names": {"customfield_10020": "Team"},
            "properties": {"twinsync-origin": {"origin": "twinsync:gh:o/r#1"}},
            "fields": {
                "summary": "Checkout fails",
                "description": {"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Pay with card"}]}]},
                "status": {"name": "In Progress"},
                "priority": {"name": "High"},
                "labels": ["sync"],
                "assignee": {"accountId": "a1", "emailAddress": "ana@example.com", "displayName": "Ana"},
                "reporter": null,
                "project": {"key": "DEMO"},
                "updated": "2026-11-23T10:14:01.123+0000",
                "customfield_10020": {"value": "Payments"},
                "customfield_10021": null,
                "attachment": [{"id": "7", "filename": "log.txt", "mimeType": "text/plain", "size": 3, "content": "https://x/rest/api/3/attachment/content/7"}]
            }
        });
        let comments = [
            json!({"id": "5", "author": {"displayName": "Bo", "emailAddress": "bo@example.com"},
            "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]},
            "created": "2026-11-23T10:14:02.000+0000",
            "properties": [{"key": "twinsync-origin", "value": {"origin": "twinsync:gh:c9"}}]}),
        ];
        let item = to_item("https://x", &issue, &comments);
        assert_eq!(item.key, "DEMO-1");
        assert_eq!(item.url, "https://x/browse/DEMO-1");
        assert_eq!(item.description, "Pay with card");
        assert_eq!(item.status_name(), Some("In Progress"));
        assert_eq!(item.assignee_email(), Some("ana@example.com"));
        assert_eq!(item.custom_fields.get("Team"), Some(&json!("Payments")));
        assert_eq!(item.custom_fields.len(), 1);
        assert_eq!(item.origin.as_deref(), Some("twinsync:gh:o/r#1"));
        assert_eq!(item.comments[0].origin.as_deref(), Some("twinsync:gh:c9"));
        assert_eq!(item.comments[0].body, "hi");
        assert_eq!(item.attachments[0].filename, "log.txt");
        assert_eq!(item.updated_ms, 1_795_428_841_123);
        assert_eq!(timestamp(item.updated_ms), "2026-11-23T10:14:01.123+0000");
    }
}
