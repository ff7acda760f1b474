//! Redmine's JSON and the domain `Item`.

use serde::Deserialize;
use twinsync_core::{Attachment, Comment, Item, Named, User};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct IdName {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct CustomValue {
    pub id: u32,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Journal {
    pub id: u64,
    pub user: Option<IdName>,
    pub notes: Option<String>,
    pub created_on: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RedmineAttachment {
    pub id: u64,
    pub filename: String,
    pub filesize: u64,
    pub content_type: String,
    pub content_url: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Issue {
    pub id: u64,
    pub project: IdName,
    pub tracker: IdName,
    pub status: IdName,
    pub priority: IdName,
    pub subject: String,
    pub description: Option<String>,
    pub assigned_to: Option<IdName>,
    pub author: Option<IdName>,
    pub custom_fields: Vec<CustomValue>,
    pub updated_on: String,
    pub journals: Option<Vec<Journal>>,
    pub attachments: Option<Vec<RedmineAttachment>>,
}

/// Redmine stores text with CRLF line ends; the domain's Markdown uses LF.
fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// Seconds-resolution RFC 3339 to milliseconds.
pub fn millis(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// A note's text with the comment's origin marker appended.
pub fn note_with_marker(body: &str, origin: Option<&str>) -> String {
    twinsync_core::marker::with_origin(body, origin)
}

/// Splits a note into its text and its origin marker.
pub fn split_marker(notes: &str) -> (String, Option<String>) {
    twinsync_core::marker::split_origin(notes)
}

impl Issue {
    pub fn key(&self) -> String {
        self.id.to_string()
    }

    pub fn origin(&self, field: u32) -> Option<String> {
        self.custom_fields
            .iter()
            .find(|c| c.id == field)
            .and_then(|c| c.value.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// The domain item; `base_url` makes the item's URL.
    pub fn to_item(&self, base_url: &str, origin_field: u32) -> Item {
        let journals = self.journals.clone().unwrap_or_default();
        let comments = journals
            .iter()
            .filter_map(|j| {
                let notes = j.notes.as_deref().filter(|n| !n.is_empty())?;
                let (body, origin) = split_marker(&lf(notes));
                Some(Comment {
                    id: j.id.to_string(),
                    author: j.user.as_ref().map(|u| User {
                        email: String::new(),
                        display_name: u.name.clone(),
                    }),
                    body,
                    created_ms: millis(&j.created_on),
                    origin,
                    remote_id: None,
                })
            })
            .collect();
        Item {
            key: self.key(),
            project: self.project.name.clone(),
            url: format!("{base_url}/issues/{}", self.id),
            summary: self.subject.clone(),
            description: lf(self.description.as_deref().unwrap_or_default()),
            status: Some(Named::new(self.status.name.clone())),
            priority: Some(Named::new(self.priority.name.clone())),
            labels: vec![],
            assignee: self.assigned_to.as_ref().map(|u| User {
                email: String::new(),
                display_name: u.name.clone(),
            }),
            reporter: self.author.as_ref().map(|u| User {
                email: String::new(),
                display_name: u.name.clone(),
            }),
            comments,
            attachments: self
                .attachments
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|a| Attachment {
                    id: a.id.to_string(),
                    filename: a.filename,
                    mime_type: a.content_type,
                    size: a.filesize,
                    url: a.content_url,
                    remote_id: None,
                })
                .collect(),
            custom_fields: Default::default(),
            // Every change with an effect adds a journal; this counts them.
            version: 1 + journals.len() as u64,
            updated_ms: millis(&self.updated_on),
            origin: self.origin(origin_field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_plain_notes_have_none() {
        let table = [
            ("hello", Some("twinsync:c:7"), "hello", Some("twinsync:c:7")),
            ("hello", None, "hello", None),
            (
                "text with <!-- an html comment -->",
                None,
                "text with <!-- an html comment -->",
                None,
            ),
        ];
        for (body, origin, want_body, want_origin) in table {
            let note = note_with_marker(body, origin);
            let (b, o) = split_marker(&note);
            assert_eq!(
                (b.as_str(), o.as_deref()),
                (want_body, want_origin),
                "{note}"
            );
        }
    }

    #[test]
    fn version_counts_journals() {
        let issue: Issue = serde_json::from_value(serde_json::json!({
            "id": 7, "subject": "s", "status": {"id": 1, "name": "New"}, "priority": {"id": 2, "name": "Normal"},
            "updated_on": "2026-11-23T04:59:09Z",
            "custom_fields": [{"id": 3, "name": "twinsync origin", "value": "twinsync:c:A-1"}],
            "journals": [{"id": 1, "notes": "", "created_on": "2026-11-23T04:59:09Z"}, {"id": 2, "notes": "hi", "created_on": "2026-11-23T04:59:10Z"}]
        }))
        .unwrap();
        let item = issue.to_item("http://r", 3);
        assert_eq!(item.version, 3);
        assert_eq!(
            item.comments.len(),
            1,
            "journals without notes are not comments"
        );
        assert_eq!(item.origin.as_deref(), Some("twinsync:c:A-1"));
        assert_eq!(item.updated_ms % 1000, 0);
    }
}
