//! Zendesk's ticket JSON to the domain `Item`, and back.
//!
//! The description is the ticket's first comment, which Zendesk never lets anyone edit:
//! a new description travels as an internal note marked `[twinsync-description]`, and
//! the newest such note is the description read back. A person's private comment (an
//! internal note) is `Comment::internal`, as ServiceNow's work notes and Salesforce's
//! unpublished CaseComments are; the rules decide where it goes. People are known by id on Zendesk and by email in the domain;
//! custom fields by id and by title; the ticket's group is its project.

use crate::html::{self, Marker};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use twinsync_core::{Attachment, Comment, Item, Named, User};

/// The tag every ticket sync created carries; with it, `external_id` is its origin.
pub const ORIGIN_TAG: &str = "twinsync";

/// Tags the connector keeps for itself; they are not labels.
pub const OWN_TAG_PREFIX: &str = "twinsync";

/// The custom field of the ticket type, which Zendesk keeps as a system field.
pub const TYPE_FIELD: &str = "type";

/// Zendesk's statuses, in workflow order.
pub const STATUSES: [&str; 6] = ["new", "open", "pending", "hold", "solved", "closed"];

/// Zendesk's priorities.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// What ids mean on this instance: people, groups and ticket field titles.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: HashMap<u64, User>,
    pub groups: HashMap<u64, String>,
    pub fields: HashMap<u64, String>,
}

/// Zendesk's timestamps (`2026-11-23T10:14:01Z`) as ms since the epoch.
pub fn millis(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// ms since the epoch as Zendesk writes timestamps (whole seconds, UTC).
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn id(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// A version that changes with every visible write: `updated_at` has one-second
/// resolution, so a hash of the ticket's fields and its comments' ids tells two writes in
/// one second apart (a node must not take an agent's comment in the second of its own
/// write for its own write). A listing has no comments: its versions differ from a
/// read's, which costs a read, never a missed change.
pub fn version(ticket: &Value, comments: &[Value]) -> u64 {
    let secs = (millis(ticket["updated_at"].as_str().unwrap_or("")) / 1000).max(0) as u64;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in [
        "subject",
        "description",
        "status",
        "priority",
        "type",
        "tags",
        "assignee_id",
        "requester_id",
        "group_id",
        "custom_fields",
        "external_id",
    ] {
        ticket[f].to_string().hash(&mut h);
    }
    for c in comments {
        c["id"].to_string().hash(&mut h);
    }
    secs * 1_000_000 + h.finish() % 1_000_000
}

/// The labels of a ticket: its tags but the connector's own.
pub fn labels(tags: &Value) -> Vec<String> {
    tags.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| !t.starts_with(OWN_TAG_PREFIX))
        .map(str::to_string)
        .collect()
}

/// A comment as the domain sees it, or `None` for the connector's own notes (a
/// description, a quoted edit), which are for people on Zendesk only.
pub fn comment(c: &Value, dir: &Directory) -> Option<Comment> {
    let (body, marker) = text_of(c);
    // Redacted whole, a comment is removed as far as sync goes: its twin follows the
    // removal policy, as for a deletion elsewhere.
    if is_redacted(c["body"].as_str().unwrap_or("")) {
        return None;
    }
    let origin = match marker {
        Some(Marker::Origin(o)) => Some(o),
        Some(_) => return None,
        None => None,
    };
    // A person's private note is internal; a copy sync wrote is not (its visibility
    // followed the config, not a person).
    let internal = origin.is_none() && c["public"].as_bool() == Some(false);
    Some(Comment {
        id: c["id"].as_u64().map(|i| i.to_string()).unwrap_or_default(),
        author: id(&c["author_id"]).and_then(|a| dir.users.get(&a).cloned()),
        body,
        created_ms: millis(c["created_at"].as_str().unwrap_or("")),
        origin,
        remote_id: None,
        internal,
    })
}

/// Whether a comment's text is all redaction blocks (`▇`), nothing else but spaces.
pub fn is_redacted(text: &str) -> bool {
    let mut visible = text.chars().filter(|c| !c.is_whitespace()).peekable();
    visible.peek().is_some() && visible.all(|c| c == '▇')
}

/// A comment's Markdown and marker: from `html_body`, the marker checked in the plain
/// `body` too (it is what survives any rendering).
fn text_of(c: &Value) -> (String, Option<Marker>) {
    let markdown = match c["html_body"].as_str() {
        Some(h) if !h.is_empty() => html::to_markdown(h),
        _ => c["body"].as_str().unwrap_or("").to_string(),
    };
    let (text, marker) = html::split_marker(&markdown);
    match marker {
        Some(m) => (text, Some(m)),
        // The plain body keeps the marker however Zendesk rendered the HTML.
        None => (
            markdown,
            html::split_marker(c["body"].as_str().unwrap_or("")).1,
        ),
    }
}

/// The description: the newest description note, else the first comment, else the
/// ticket's `description` (a listing has no comments).
pub fn description(ticket: &Value, comments: &[Value]) -> String {
    let newest_note = comments
        .iter()
        .rev()
        .map(text_of)
        .find(|(_, m)| *m == Some(Marker::Description));
    if let Some((text, _)) = newest_note {
        return text;
    }
    match comments.first() {
        Some(first) => text_of(first).0,
        None => ticket["description"].as_str().unwrap_or("").to_string(),
    }
}

pub fn attachment(a: &Value) -> Attachment {
    Attachment {
        id: a["id"].as_u64().map(|i| i.to_string()).unwrap_or_default(),
        filename: a["file_name"].as_str().unwrap_or("").to_string(),
        mime_type: a["content_type"].as_str().unwrap_or("").to_string(),
        size: a["size"].as_u64().unwrap_or(0),
        url: a["content_url"].as_str().unwrap_or("").to_string(),
        remote_id: None,
    }
}

/// A ticket (as `GET /api/v2/tickets/{id}` answers) and its comments (as
/// `GET /api/v2/tickets/{id}/comments` lists them, oldest first) as a domain item.
pub fn to_item(base_url: &str, ticket: &Value, comments: &[Value], dir: &Directory) -> Item {
    let key = ticket["id"]
        .as_u64()
        .map(|i| i.to_string())
        .unwrap_or_default();
    let mut custom_fields = BTreeMap::new();
    for f in ticket["custom_fields"].as_array().into_iter().flatten() {
        if let (Some(fid), false) = (id(&f["id"]), f["value"].is_null()) {
            let name = dir
                .fields
                .get(&fid)
                .cloned()
                .unwrap_or_else(|| fid.to_string());
            custom_fields.insert(name, f["value"].clone());
        }
    }
    if let Some(t) = ticket["type"].as_str() {
        custom_fields.insert(TYPE_FIELD.to_string(), Value::String(t.to_string()));
    }
    let tags = &ticket["tags"];
    let ours = tags
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x.as_str() == Some(ORIGIN_TAG)));
    let updated_ms = millis(ticket["updated_at"].as_str().unwrap_or(""));
    Item {
        url: format!("{base_url}/agent/tickets/{key}"),
        key,
        project: id(&ticket["group_id"])
            .and_then(|g| dir.groups.get(&g).cloned())
            .unwrap_or_default(),
        summary: ticket["subject"].as_str().unwrap_or("").to_string(),
        description: description(ticket, comments),
        status: ticket["status"].as_str().map(Named::new),
        priority: ticket["priority"].as_str().map(Named::new),
        labels: labels(tags),
        assignee: id(&ticket["assignee_id"]).and_then(|u| dir.users.get(&u).cloned()),
        reporter: id(&ticket["requester_id"]).and_then(|u| dir.users.get(&u).cloned()),
        // The first comment is the description.
        comments: comments
            .iter()
            .skip(1)
            .filter_map(|c| comment(c, dir))
            .collect(),
        attachments: comments
            .iter()
            .flat_map(|c| c["attachments"].as_array().cloned().unwrap_or_default())
            .map(|a| attachment(&a))
            .collect(),
        custom_fields,
        version: version(ticket, comments),
        updated_ms,
        origin: ticket["external_id"]
            .as_str()
            .filter(|_| ours)
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn own_notes_are_hidden_and_visibility_travels() {
        let dir = Directory::default();
        let gone = json!({"id": 4, "public": true, "html_body": "<p>▇▇▇ ▇▇</p>", "body": "▇▇▇ ▇▇"});
        assert!(
            comment(&gone, &dir).is_none(),
            "a comment redacted whole is removed"
        );
        let partly =
            json!({"id": 5, "public": true, "html_body": "<p>card ▇▇▇▇</p>", "body": "card ▇▇▇▇"});
        assert!(comment(&partly, &dir).is_some());
        let note = json!({"id": 1, "public": false, "html_body": "<p>Check logs</p>", "body": "Check logs"});
        let c = comment(&note, &dir).map(|c| (c.body, c.internal));
        assert_eq!(c, Some(("Check logs".to_string(), true)));
        // A copy sync wrote as a private note is not a person's internal note.
        let copy = json!({"id": 3, "public": false, "html_body": "<p>Seen</p>\n<p>[twinsync-origin: twinsync:jira:c1]</p>", "body": "Seen\\n\\n[twinsync-origin: twinsync:jira:c1]"});
        assert_eq!(comment(&copy, &dir).map(|c| c.internal), Some(false));
        let desc = json!({"id": 2, "public": false, "html_body": "<p>New text</p>\n<p>[twinsync-description]</p>", "body": "New text\n\n[twinsync-description]"});
        assert_eq!(comment(&desc, &dir), None);
        assert_eq!(description(&json!({}), &[note.clone(), desc]), "New text");
    }

    #[test]
    fn versions_tell_same_second_writes_apart() {
        let a = json!({"updated_at": "2026-11-23T10:14:01Z", "status": "open"});
        let b = json!({"updated_at": "2026-11-23T10:14:01Z", "status": "pending"});
        assert_ne!(version(&a, &[]), version(&b, &[]));
        assert_eq!(version(&a, &[]) / 1_000_000, 1_795_428_841);
        // A comment in the same second is a new version too.
        assert_ne!(version(&a, &[]), version(&a, &[json!({"id": 7})]));
        assert_eq!(timestamp(1_795_428_841_000), "2026-11-23T10:14:01Z");
    }
}
