//! The sandbox API's wire types and their mapping to the domain `Item`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use twinsync_core::{Attachment, Comment, Item, Named, User};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WireUser {
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WireComment {
    pub id: String,
    pub author: Option<WireUser>,
    pub body: String,
    pub created_ms: i64,
    pub origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WireAttachment {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
    pub url: String,
}

/// An item as the sandbox API sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WireItem {
    pub key: String,
    pub project: String,
    pub url: String,
    pub summary: String,
    pub description: String,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub labels: Vec<String>,
    pub assignee: Option<WireUser>,
    pub reporter: Option<WireUser>,
    pub custom_fields: BTreeMap<String, Value>,
    pub origin: Option<String>,
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub comments: Vec<WireComment>,
    pub attachments: Vec<WireAttachment>,
    /// The item's sync status as a node last showed it; not a field of the item itself,
    /// so setting it is no change of the item (no version, no webhook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<WireSync>,
}

/// The sandbox's sync field: `syncing`, `synced`, `error` (with the reason) or
/// `unlinked`, and the twin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WireSync {
    pub status: String,
    pub reason: Option<String>,
    pub twin_key: Option<String>,
    pub twin_url: Option<String>,
    pub updated_ms: i64,
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WirePage {
    pub items: Vec<WireItem>,
    pub next: Option<String>,
}

impl From<WireUser> for User {
    fn from(u: WireUser) -> Self {
        User {
            email: u.email,
            display_name: u.display_name,
        }
    }
}

impl From<&User> for WireUser {
    fn from(u: &User) -> Self {
        WireUser {
            email: u.email.clone(),
            display_name: u.display_name.clone(),
        }
    }
}

impl From<WireComment> for Comment {
    fn from(c: WireComment) -> Self {
        Comment {
            id: c.id,
            author: c.author.map(User::from),
            body: c.body,
            created_ms: c.created_ms,
            origin: c.origin,
            remote_id: None,
            internal: false,
        }
    }
}

impl From<WireAttachment> for Attachment {
    fn from(a: WireAttachment) -> Self {
        Attachment {
            id: a.id,
            filename: a.filename,
            mime_type: a.mime_type,
            size: a.size,
            url: a.url,
            remote_id: None,
        }
    }
}

impl From<WireItem> for Item {
    fn from(w: WireItem) -> Self {
        Item {
            key: w.key,
            project: w.project,
            url: w.url,
            summary: w.summary,
            description: w.description,
            status: w.status.filter(|s| !s.is_empty()).map(Named::new),
            priority: w.priority.filter(|s| !s.is_empty()).map(Named::new),
            labels: w.labels,
            assignee: w.assignee.map(User::from),
            reporter: w.reporter.map(User::from),
            comments: w.comments.into_iter().map(Comment::from).collect(),
            attachments: w.attachments.into_iter().map(Attachment::from).collect(),
            custom_fields: w.custom_fields,
            version: w.version,
            updated_ms: w.updated_ms,
            origin: w.origin.filter(|o| !o.is_empty()),
        }
    }
}

/// The body of `POST /api/items` for a domain item.
pub fn create_body(project: &str, item: &Item, origin: Option<&str>) -> Value {
    serde_json::json!({
        "project": project,
        "summary": item.summary,
        "description": item.description,
        "status": item.status_name(),
        "priority": item.priority_name(),
        "labels": item.labels,
        "assignee": item.assignee.as_ref().map(WireUser::from),
        "reporter": item.reporter.as_ref().map(WireUser::from),
        "customFields": item.custom_fields,
        "origin": origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_item_maps_to_the_domain() {
        let wire: WireItem = serde_json::from_value(serde_json::json!({
            "key": "DEMO-1", "project": "DEMO", "summary": "s", "status": "Open", "priority": "",
            "labels": ["a"], "assignee": {"email": "a@x", "displayName": "A"},
            "comments": [{"id": "c1", "body": "hi", "createdMs": 3, "origin": "twinsync:c:9"}],
            "version": 2, "updatedMs": 10, "origin": ""
        }))
        .unwrap();
        let item = Item::from(wire);
        assert_eq!(item.status_name(), Some("Open"));
        assert_eq!(item.priority, None, "an empty priority is no priority");
        assert_eq!(item.origin, None);
        assert_eq!(item.comments[0].origin.as_deref(), Some("twinsync:c:9"));
        assert_eq!(item.assignee.unwrap().display_name, "A");
    }
}
