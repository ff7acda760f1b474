//! Work item JSON (REST 7.1) to the domain `Item`, and the domain's fields to the
//! JSON Patch operations Azure DevOps takes.
//!
//! Fields go by reference name: `System.Title`, `System.Description` (HTML, Markdown in
//! the domain), `System.State`, `Microsoft.VSTS.Common.Priority` (1-4, named "1".."4"),
//! `System.Tags` (a `; ` list), `System.AssignedTo` and `System.CreatedBy` (identities,
//! by their `uniqueName`, the email). Area and iteration paths and `Custom.*` fields are
//! custom fields under their reference names. The origin marker is a tag (`origin`).

use crate::{html, origin};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use twinsync_core::marker::{split_origin, with_origin};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, Named, User};

pub const TITLE: &str = "System.Title";
pub const DESCRIPTION: &str = "System.Description";
pub const STATE: &str = "System.State";
pub const PRIORITY: &str = "Microsoft.VSTS.Common.Priority";
pub const TAGS: &str = "System.Tags";
pub const ASSIGNED_TO: &str = "System.AssignedTo";
pub const CREATED_BY: &str = "System.CreatedBy";
pub const CHANGED_DATE: &str = "System.ChangedDate";
pub const TEAM_PROJECT: &str = "System.TeamProject";
pub const WORK_ITEM_TYPE: &str = "System.WorkItemType";
pub const AREA_PATH: &str = "System.AreaPath";
pub const ITERATION_PATH: &str = "System.IterationPath";
/// The relation types: an attachment, and a link to a URL (the twin).
pub const ATTACHED_FILE: &str = "AttachedFile";
pub const HYPERLINK: &str = "Hyperlink";

/// Azure DevOps' timestamps (`2026-11-23T10:14:01.123Z`) as ms since the epoch.
pub fn millis(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// ms since the epoch as Azure DevOps writes it, in UTC.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// An identity (`IdentityRef`): its `uniqueName` is the sign-in email.
pub fn user(v: &Value) -> Option<User> {
    let email = v["uniqueName"].as_str()?;
    Some(User {
        email: email.to_string(),
        display_name: v["displayName"].as_str().unwrap_or("").to_string(),
    })
}

/// A tag list as Azure DevOps writes it (`a; b`) split into tags.
pub fn tags(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A comment of the comments API. Its origin marker is trusted only on comments this
/// account wrote (`own_id`): anyone can type a marker.
pub fn comment(c: &Value, own_id: &str) -> Comment {
    let raw = c["text"].as_str().unwrap_or("");
    let text = if c["format"].as_str() == Some("markdown") {
        raw.to_string()
    } else {
        html::to_markdown(raw)
    };
    let (body, origin) = match split_origin(&text) {
        (body, Some(o)) if !own_id.is_empty() && c["createdBy"]["id"] == own_id => (body, Some(o)),
        _ => (text, None),
    };
    Comment {
        // The 7.1 definition names it `id`; Microsoft's examples also show `commentId`.
        id: c["id"]
            .as_i64()
            .or(c["commentId"].as_i64())
            .map(|i| i.to_string())
            .unwrap_or_default(),
        author: user(&c["createdBy"]),
        body,
        created_ms: millis(c["createdDate"].as_str().unwrap_or("")),
        origin,
        remote_id: None,
        // Azure DevOps has no internal comments: every one is for whoever sees the item.
        internal: false,
    }
}

/// A comment's text as posted (`format=markdown`), with its origin marker.
pub fn comment_text(body: &str, origin: Option<&str>) -> String {
    with_origin(body, origin)
}

/// An `AttachedFile` relation as a domain attachment: its id is the attachment's GUID.
pub fn attachment(relation: &Value) -> Attachment {
    let url = relation["url"].as_str().unwrap_or("").to_string();
    Attachment {
        id: url.rsplit('/').next().unwrap_or("").to_string(),
        filename: relation["attributes"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        mime_type: String::new(),
        size: relation["attributes"]["resourceSize"].as_u64().unwrap_or(0),
        url,
        remote_id: None,
    }
}

/// Whether a field is one the domain keeps as a custom field.
fn is_custom(name: &str) -> bool {
    name.starts_with("Custom.") || name == AREA_PATH || name == ITERATION_PATH
}

/// The web address of a work item.
pub fn web_url(org_url: &str, project: &str, id: &str) -> String {
    format!(
        "{org_url}/{}/_workitems/edit/{id}",
        project.replace(' ', "%20")
    )
}

/// A work item (`GET _apis/wit/workitems/{id}?$expand=relations`, or one of a
/// `workitemsbatch`) and its comments as a domain item.
pub fn to_item(org_url: &str, wi: &Value, comments: &[Value], own_id: &str) -> Item {
    let f = &wi["fields"];
    let key = wi["id"].as_i64().map(|i| i.to_string()).unwrap_or_default();
    let project = f[TEAM_PROJECT].as_str().unwrap_or("").to_string();
    let all_tags = tags(f[TAGS].as_str().unwrap_or(""));
    let origin = all_tags.iter().find_map(|t| origin::from_tag(t));
    let custom_fields: BTreeMap<String, Value> = f
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| is_custom(k) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let relations = wi["relations"].as_array().cloned().unwrap_or_default();
    let updated_ms = millis(f[CHANGED_DATE].as_str().unwrap_or(""));
    Item {
        url: web_url(org_url, &project, &key),
        key,
        project,
        summary: f[TITLE].as_str().unwrap_or("").to_string(),
        description: html::to_markdown(f[DESCRIPTION].as_str().unwrap_or("")),
        status: f[STATE].as_str().map(Named::new),
        priority: f[PRIORITY].as_i64().map(|p| Named::new(p.to_string())),
        labels: all_tags
            .into_iter()
            .filter(|t| !origin::is_own_tag(t))
            .collect(),
        assignee: user(&f[ASSIGNED_TO]),
        reporter: user(&f[CREATED_BY]),
        comments: comments.iter().map(|c| comment(c, own_id)).collect(),
        attachments: relations
            .iter()
            .filter(|r| r["rel"] == ATTACHED_FILE)
            .map(attachment)
            .collect(),
        custom_fields,
        // `rev` grows with every write, comments included.
        version: wi["rev"].as_u64().unwrap_or(0),
        updated_ms,
        origin,
    }
}

/// One JSON Patch operation on a field.
pub fn set_field(name: &str, value: Value) -> Value {
    json!({ "op": "add", "path": format!("/fields/{name}"), "value": value })
}

/// The `test` that makes a write fail (412) when someone else wrote first.
pub fn test_rev(rev: u64) -> Value {
    json!({ "op": "test", "path": "/rev", "value": rev })
}

/// The priority a name means: "1".."4" as Azure DevOps has them.
pub fn priority_value(name: &str) -> Option<i64> {
    name.trim()
        .parse::<i64>()
        .ok()
        .filter(|p| (1..=4).contains(p))
}

/// The state category (as `workitemtypes/{type}/states` names them) a state name means,
/// for a type that does not have the name itself.
pub fn state_category(name: &str) -> Option<&'static str> {
    let n = name.trim().to_lowercase();
    let is = |names: &[&str]| names.contains(&n.as_str());
    if is(&["new", "to do", "proposed", "open", "approved"]) {
        Some("Proposed")
    } else if is(&["active", "in progress", "doing", "committed"]) {
        Some("InProgress")
    } else if is(&["resolved"]) {
        Some("Resolved")
    } else if is(&["closed", "done", "completed"]) {
        Some("Completed")
    } else if is(&["removed", "rejected"]) {
        Some("Removed")
    } else {
        None
    }
}

/// The field operations of `update`, but for the state (checked against the type's
/// states first) and the assignee (an identity the caller resolves). `own_tags` are the
/// connector's tags the item has, kept when labels are rewritten.
pub fn field_ops(update: &ItemUpdate, own_tags: &[String]) -> Result<Vec<Value>, String> {
    let mut ops = Vec::new();
    if let Some(s) = &update.summary {
        ops.push(set_field(TITLE, json!(s)));
    }
    if let Some(d) = &update.description {
        ops.push(set_field(DESCRIPTION, json!(html::from_markdown(d))));
    }
    if let Some(p) = update.priority.as_deref().filter(|p| !p.is_empty()) {
        let value = priority_value(p).ok_or_else(|| {
            format!("priority {p:?} is not one of Azure DevOps' priorities 1, 2, 3 and 4")
        })?;
        ops.push(set_field(PRIORITY, json!(value)));
    }
    if let Some(labels) = &update.labels {
        let mut all: Vec<String> = labels
            .iter()
            .map(|l| l.replace([';', ','], " ").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        all.extend(own_tags.iter().cloned());
        ops.push(set_field(TAGS, json!(all.join("; "))));
    }
    if let Some(fields) = &update.custom_fields {
        for (name, value) in fields {
            // Only reference names can be written; a name of another tracker's field
            // has no place here.
            if name.contains('.') {
                ops.push(set_field(name, value.clone()));
            }
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_ops_write_reference_names_and_keep_own_tags() {
        let update = ItemUpdate {
            summary: Some("T".into()),
            description: Some("**b**".into()),
            priority: Some("2".into()),
            labels: Some(vec!["a;b".into(), "sync".into()]),
            custom_fields: Some(BTreeMap::from([
                ("Custom.Team".into(), json!("Red")),
                ("milestone".into(), json!("v1")),
            ])),
            ..ItemUpdate::default()
        };
        let ops = field_ops(&update, &["twinsync-origin:x".into()]).unwrap_or_default();
        let paths: Vec<&str> = ops.iter().filter_map(|o| o["path"].as_str()).collect();
        assert_eq!(
            paths,
            [
                "/fields/System.Title",
                "/fields/System.Description",
                "/fields/Microsoft.VSTS.Common.Priority",
                "/fields/System.Tags",
                "/fields/Custom.Team"
            ]
        );
        assert_eq!(ops[1]["value"], "<p><strong>b</strong></p>");
        assert_eq!(ops[3]["value"], "a b; sync; twinsync-origin:x");
        let bad = ItemUpdate {
            priority: Some("High".into()),
            ..ItemUpdate::default()
        };
        assert!(field_ops(&bad, &[]).is_err_and(|e| e.contains("1, 2, 3 and 4")));
    }

    #[test]
    fn forged_comment_markers_are_text() {
        let c = json!({"id": 7, "text": with_origin("Hi", Some("twinsync:c:1")), "format": "markdown",
            "createdBy": {"id": "someone", "uniqueName": "x@y.z"}, "createdDate": "2026-01-01T00:00:00Z"});
        assert_eq!(comment(&c, "me").origin, None);
        let mine = comment(&c, "someone");
        assert_eq!(
            (mine.body.as_str(), mine.origin.as_deref()),
            ("Hi", Some("twinsync:c:1"))
        );
        assert_eq!(mine.id, "7");
    }
}
