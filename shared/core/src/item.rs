//! The normalized item every connector maps its records to.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A value known by its name, like a status or a priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Named {
    pub name: String,
}

impl Named {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// A person, identified across trackers by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub email: String,
    pub display_name: String,
}

/// A comment. `origin` is the marker a synced comment carries in its tracker;
/// `remote_id` is set on replica comments the sender knows the receiver's id of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    pub id: String,
    pub author: Option<User>,
    /// Markdown.
    pub body: String,
    pub created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Seen only by the team (a ServiceNow work note), not by the customer or reporter.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
}

/// Attachment metadata; content moves by URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
}

/// An item (issue, work item, incident, case, ticket) as the domain sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Item {
    /// The tracker's key, empty for an item not created yet.
    pub key: String,
    pub project: String,
    pub url: String,
    pub summary: String,
    /// Markdown.
    pub description: String,
    pub status: Option<Named>,
    pub priority: Option<Named>,
    pub labels: Vec<String>,
    pub assignee: Option<User>,
    pub reporter: Option<User>,
    pub comments: Vec<Comment>,
    pub attachments: Vec<Attachment>,
    pub custom_fields: BTreeMap<String, Value>,
    /// The tracker's revision of the item; grows with every write.
    pub version: u64,
    pub updated_ms: i64,
    /// The origin marker sync wrote on the item, if any.
    pub origin: Option<String>,
}

impl Item {
    pub fn status_name(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.name.as_str())
    }
    pub fn priority_name(&self) -> Option<&str> {
        self.priority.as_ref().map(|s| s.name.as_str())
    }
    pub fn assignee_email(&self) -> Option<&str> {
        self.assignee.as_ref().map(|u| u.email.as_str())
    }

    /// This item with the scalar fields a replica of it carried back then (undo): a
    /// field the replica does not name, or cannot be read as, stays as it is now.
    /// Comments and attachments are not undone.
    pub fn restored_from(&self, replica: &Value) -> Item {
        let mut out = self.clone();
        let Some(fields) = replica.as_object() else {
            return out;
        };
        let take = |key: &str| fields.get(key).cloned();
        fn parse<T: serde::de::DeserializeOwned>(
            fields: &serde_json::Map<String, Value>,
            key: &str,
        ) -> Option<T> {
            fields
                .get(key)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        }
        if let Some(v) = take("summary").and_then(|v| v.as_str().map(str::to_string)) {
            out.summary = v;
        }
        if let Some(v) = take("description").and_then(|v| v.as_str().map(str::to_string)) {
            out.description = v;
        }
        // Null clears a field; a value that does not read leaves it alone.
        fn optional<T: serde::de::DeserializeOwned>(
            fields: &serde_json::Map<String, Value>,
            key: &str,
            now: &mut Option<T>,
        ) {
            match fields.get(key) {
                Some(Value::Null) => *now = None,
                Some(_) => {
                    if let Some(v) = parse(fields, key) {
                        *now = Some(v);
                    }
                }
                None => {}
            }
        }
        optional(fields, "status", &mut out.status);
        optional(fields, "priority", &mut out.priority);
        if let Some(v) = parse(fields, "labels") {
            out.labels = v;
        }
        optional(fields, "assignee", &mut out.assignee);
        if let Some(v) = parse(fields, "customFields") {
            out.custom_fields = v;
        }
        out
    }

    /// The scalar fields a write must change to turn `self` into `target`.
    /// Comments are written one by one and are not part of the update.
    pub fn update_to(&self, target: &Item) -> ItemUpdate {
        ItemUpdate {
            summary: (self.summary != target.summary).then(|| target.summary.clone()),
            description: (self.description != target.description)
                .then(|| target.description.clone()),
            status: (self.status_name() != target.status_name())
                .then(|| target.status_name().unwrap_or_default().to_string()),
            priority: (self.priority_name() != target.priority_name())
                .then(|| target.priority_name().unwrap_or_default().to_string()),
            labels: (self.labels != target.labels).then(|| target.labels.clone()),
            assignee: (self.assignee_email() != target.assignee_email())
                .then(|| target.assignee.clone()),
            custom_fields: (self.custom_fields != target.custom_fields)
                .then(|| target.custom_fields.clone()),
        }
    }
}

/// The fields of an item one write changes; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ItemUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Option<User>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

impl ItemUpdate {
    pub fn is_empty(&self) -> bool {
        *self == ItemUpdate::default()
    }
}

/// One person a tracker knows by login (GitHub has no emails to look people up by): the
/// login, the email (the domain's identity) and a display name.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub login: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Found by fuzzing (`fuzz/fuzz_targets/transport_message.rs`): a long decimal read
    /// as 3.0000000000000004e72, written so, and read again as 3.000000000000001e72, so a
    /// replica changed on every hop. The exact parse keeps a number as it was written.
    #[test]
    fn numbers_come_back_from_json_exactly() {
        let long = format!("3{}428841000", "0".repeat(63));
        for text in [
            long.as_str(),
            "0.1",
            "1e-7",
            "123456789.12345678",
            "-2.5e300",
        ] {
            let item: Item =
                serde_json::from_str(&format!(r#"{{"customFields": {{"n": {text}}}}}"#))
                    .expect("an item");
            let again: Item = serde_json::from_str(&serde_json::to_string(&item).expect("json"))
                .expect("an item");
            assert_eq!(again, item, "{text}");
        }
    }

    #[test]
    fn an_item_restored_from_a_replica_takes_the_fields_it_names() {
        let now = Item {
            key: "DEMO-1".into(),
            summary: "Now".into(),
            description: "now".into(),
            status: Some(Named::new("Done")),
            priority: Some(Named::new("High")),
            labels: vec!["b".into()],
            comments: vec![Comment {
                id: "c1".into(),
                ..Comment::default()
            }],
            ..Item::default()
        };
        // (replica, what the update back to it changes)
        let cases = [
            (
                json!({"summary": "Then", "status": {"name": "Open"}, "labels": ["a"]}),
                vec!["labels", "status", "summary"],
            ),
            (json!({"priority": null}), vec!["priority"]),
            (
                json!({"summary": "Now", "status": {"name": "Done"}}),
                vec![],
            ),
            (json!({"labels": "not a list", "status": 5}), vec![]),
            (json!("not an object"), vec![]),
        ];
        for (replica, changed) in cases {
            let back = now.restored_from(&replica);
            let update = serde_json::to_value(now.update_to(&back)).unwrap();
            // Sorted: serde_json keeps insertion order where a crate asks it to.
            let mut got: Vec<&str> = update
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.as_str())
                .collect();
            got.sort_unstable();
            assert_eq!(got, changed, "{replica}");
            assert_eq!(back.comments, now.comments, "comments are not undone");
        }
    }
}
