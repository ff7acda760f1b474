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
    pub name: String,
    pub value: serde_json::Value,
}

/// A Redmine user as `/users.json` lists it (admin only; emails are not public).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RmUser {
    pub id: u64,
    pub login: String,
    pub firstname: String,
    pub lastname: String,
    pub mail: String,
}

impl RmUser {
    pub fn name(&self) -> String {
        format!("{} {}", self.firstname, self.lastname)
            .trim()
            .to_string()
    }
}

/// A domain user for a Redmine `{id, name}`: with the email when the directory has it.
pub fn user_of(who: &IdName, users: &[RmUser]) -> User {
    match users.iter().find(|u| u.id == who.id) {
        Some(u) => User {
            email: u.mail.clone(),
            display_name: who.name.clone(),
        },
        None => User {
            email: String::new(),
            display_name: who.name.clone(),
        },
    }
}

/// The Redmine user a domain user is: by email, else by login (the email's local part or
/// the whole address).
pub fn find_user<'a>(user: &User, users: &'a [RmUser]) -> Option<&'a RmUser> {
    let email = user.email.trim();
    if email.is_empty() {
        return None;
    }
    let local = email.split('@').next().unwrap_or(email);
    users
        .iter()
        .find(|u| u.mail.eq_ignore_ascii_case(email))
        .or_else(|| {
            users.iter().find(|u| {
                u.login.eq_ignore_ascii_case(email) || u.login.eq_ignore_ascii_case(local)
            })
        })
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

/// The names `scripts/redmine-up` gives the fields that show the sync status and the twin.
pub const STATUS_FIELD_NAME: &str = "twinsync status";
pub const TWIN_FIELD_NAME: &str = "twinsync twin";

/// The custom fields the connector keeps its own marks in. They are never the item's
/// fields: what is written there is no user's edit, and must not be synced or echo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnFields {
    pub origin: u32,
    pub status: Option<u32>,
    pub twin: Option<u32>,
}

impl OwnFields {
    /// Only the origin field, as a Redmine without the status fields has.
    pub fn origin(origin: u32) -> Self {
        Self {
            origin,
            ..Self::default()
        }
    }

    /// Whether the custom field `id` named `name` is one of the connector's own; the status
    /// fields are known by their setup names too, in case a config leaves their ids out.
    pub fn contains(&self, id: u64, name: &str) -> bool {
        id == u64::from(self.origin)
            || self.status.is_some_and(|s| id == u64::from(s))
            || self.twin.is_some_and(|t| id == u64::from(t))
            || name == STATUS_FIELD_NAME
            || name == TWIN_FIELD_NAME
    }
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
    pub fn to_item(&self, base_url: &str, own: OwnFields, users: &[RmUser]) -> Item {
        let journals = self.journals.clone().unwrap_or_default();
        let comments = journals
            .iter()
            .filter_map(|j| {
                let notes = j.notes.as_deref().filter(|n| !n.is_empty())?;
                let (body, origin) = split_marker(&lf(notes));
                Some(Comment {
                    id: j.id.to_string(),
                    author: j.user.as_ref().map(|u| user_of(u, users)),
                    body,
                    created_ms: millis(&j.created_on),
                    origin,
                    remote_id: None,
                    internal: false,
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
            assignee: self.assigned_to.as_ref().map(|u| user_of(u, users)),
            reporter: self.author.as_ref().map(|u| user_of(u, users)),
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
            // Custom fields by name; the connector's own fields (origin marker, sync status,
            // twin link) are not among them.
            custom_fields: self
                .custom_fields
                .iter()
                .filter(|c| !own.contains(u64::from(c.id), &c.name) && !c.name.is_empty())
                .map(|c| (c.name.clone(), c.value.clone()))
                .collect(),
            // Every change with an effect adds a journal; this counts them.
            version: 1 + journals.len() as u64,
            updated_ms: millis(&self.updated_on),
            origin: self.origin(own.origin),
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
        let item = issue.to_item("http://r", OwnFields::origin(3), &[]);
        assert_eq!(item.version, 3);
        assert_eq!(
            item.comments.len(),
            1,
            "journals without notes are not comments"
        );
        assert_eq!(item.origin.as_deref(), Some("twinsync:c:A-1"));
        assert_eq!(item.updated_ms % 1000, 0);
    }

    #[test]
    fn the_sync_status_fields_are_not_the_items() {
        let issue: Issue = serde_json::from_value(serde_json::json!({
            "id": 1, "subject": "s", "updated_on": "2026-11-23T04:59:09Z",
            "custom_fields": [
                {"id": 3, "name": "twinsync origin", "value": "twinsync:c:A-1"},
                {"id": 4, "name": "Team", "value": "red"},
                {"id": 5, "name": "Sync (renamed)", "value": "synced"},
                {"id": 6, "name": "twinsync twin", "value": "http://a/DEMO-1"}
            ]
        }))
        .unwrap();
        let own = OwnFields {
            origin: 3,
            status: Some(5),
            twin: None,
        };
        let item = issue.to_item("http://r", own, &[]);
        let names: Vec<&str> = item.custom_fields.keys().map(String::as_str).collect();
        assert_eq!(names, ["Team"], "by id (5) and by setup name (6)");
    }

    #[test]
    fn users_by_email_or_login_and_custom_fields_by_name() {
        let users = vec![
            RmUser {
                id: 5,
                login: "ana".into(),
                firstname: "Ana".into(),
                lastname: "Lima".into(),
                mail: "ana@example.com".into(),
            },
            RmUser {
                id: 6,
                login: "bo".into(),
                mail: "bo.chen@corp.example".into(),
                ..RmUser::default()
            },
        ];
        let table = [
            ("ana@example.com", Some(5)),
            ("ANA@example.com", Some(5)),
            ("bo@example.com", Some(6)),
            ("cy@example.com", None),
            ("", None),
        ];
        for (email, want) in table {
            let u = User {
                email: email.into(),
                display_name: String::new(),
            };
            assert_eq!(find_user(&u, &users).map(|u| u.id), want, "{email}");
        }
        let issue: Issue = serde_json::from_value(serde_json::json!({
            "id": 1, "subject": "s", "updated_on": "2026-11-23T04:59:09Z",
            "assigned_to": {"id": 5, "name": "Ana Lima"},
            "custom_fields": [
                {"id": 3, "name": "twinsync origin", "value": "twinsync:c:A-1"},
                {"id": 4, "name": "Team", "value": "red"}
            ]
        }))
        .unwrap();
        let item = issue.to_item("http://r", OwnFields::origin(3), &users);
        assert_eq!(item.assignee_email(), Some("ana@example.com"));
        assert_eq!(
            item.custom_fields.len(),
            1,
            "the origin field is not a custom field"
        );
        assert_eq!(item.custom_fields["Team"], "red");
    }
}
