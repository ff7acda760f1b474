//! GitHub's JSON and the domain `Item`.
//!
//! An issue is `owner/repo#number`. Its state (`open`/`closed`) is the item's status and
//! `state_reason` a custom field; GitHub has no priority (rules map it to a label). The
//! origin marker rides in the body as a hidden HTML comment; comments carry theirs the same
//! way. GitHub has no attachment API: an attachment from the other side becomes a comment
//! with a link, marked `attachment:<id>`, which reads back as an attachment.

use serde::Deserialize;
use std::hash::{Hash, Hasher};
use twinsync_core::marker::{split_origin, with_origin};
use twinsync_core::{Attachment, Comment, Item, Named, User};

pub use twinsync_core::UserEntry;

#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct GhUser {
    pub login: String,
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum GhLabel {
    Object { name: String },
    Name(String),
}

impl GhLabel {
    pub fn name(&self) -> &str {
        match self {
            GhLabel::Object { name } | GhLabel::Name(name) => name,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct GhMilestone {
    pub number: u64,
    pub title: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct GhIssue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<GhLabel>,
    pub assignee: Option<GhUser>,
    pub assignees: Vec<GhUser>,
    pub user: Option<GhUser>,
    pub milestone: Option<GhMilestone>,
    pub html_url: String,
    pub repository_url: String,
    pub comments: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Present on pull requests, which the issues API also lists: we skip those.
    pub pull_request: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct GhComment {
    pub id: u64,
    pub body: Option<String>,
    pub user: Option<GhUser>,
    pub created_at: String,
    pub updated_at: String,
}

/// `owner/repo` split in two, if it has that shape.
pub fn split_repo(repo: &str) -> Option<(&str, &str)> {
    let (owner, name) = repo.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (ok(owner) && ok(name)).then_some((owner, name))
}

/// `owner/repo#12` → (`owner/repo`, 12).
pub fn split_key(key: &str) -> Option<(&str, u64)> {
    let (repo, number) = key.rsplit_once('#')?;
    split_repo(repo)?;
    Some((repo, number.parse().ok()?))
}

pub fn key_of(repo: &str, number: u64) -> String {
    format!("{repo}#{number}")
}

/// Seconds-resolution RFC 3339 to milliseconds.
pub fn millis(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// Milliseconds to GitHub's timestamp form.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The people a node knows, both ways.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<UserEntry>,
}

/// GitHub's address for users who keep theirs private.
const NOREPLY: &str = "@users.noreply.github.com";

impl Directory {
    pub fn new(users: Vec<UserEntry>) -> Self {
        Self { users }
    }

    pub fn user(&self, login: &str) -> User {
        match self
            .users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
        {
            Some(u) => User {
                email: u.email.clone(),
                display_name: if u.name.is_empty() {
                    u.login.clone()
                } else {
                    u.name.clone()
                },
            },
            None => User {
                email: format!("{login}{NOREPLY}"),
                display_name: login.to_string(),
            },
        }
    }

    /// The login of a person, by email; `None` when the directory does not know them.
    pub fn login(&self, email: &str) -> Option<String> {
        if let Some(u) = self
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
        {
            return Some(u.login.clone());
        }
        // `12345+octocat@users.noreply.github.com` or `octocat@users.noreply.github.com`.
        let local = email.strip_suffix(NOREPLY)?;
        Some(local.rsplit('+').next().unwrap_or(local).to_string())
    }
}

/// The item's version: GitHub has no revision counter and `updated_at` has one-second
/// resolution, so the version is the second times 1,000,000 plus a digest of the fields
/// sync reads. Two edits in one second still get two versions (but for a one-in-a-million
/// digest collision).
pub fn version(issue: &GhIssue) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    issue.title.hash(&mut h);
    issue.body.hash(&mut h);
    issue.state.hash(&mut h);
    issue.state_reason.hash(&mut h);
    for l in &issue.labels {
        l.name().hash(&mut h);
    }
    for a in &issue.assignees {
        a.login.hash(&mut h);
    }
    issue.comments.hash(&mut h);
    let seconds = (millis(&issue.updated_at) / 1000).max(0) as u64;
    seconds * 1_000_000 + h.finish() % 1_000_000
}

const ATTACHMENT: &str = "attachment:";

/// Whose comments may carry sync markers. Anyone can end a comment with a marker's text:
/// only the sync account's comments are taken as attachments or as synced comments, so a
/// person cannot make the node fetch a URL or hide a comment from sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAuthor {
    /// The token's own account (`GET /user`), or the app's `{slug}[bot]` (`GET /app`).
    Login(String),
    /// No comments were read, so nobody's are taken.
    Nobody,
}

impl SyncAuthor {
    fn wrote(&self, comment: &GhComment) -> bool {
        let login = comment.user.as_ref().map(|u| u.login.as_str());
        match (self, login) {
            (SyncAuthor::Login(me), Some(login)) => login == me,
            (SyncAuthor::Nobody, _) | (_, None) => false,
        }
    }
}

/// The comment that stands for an attachment GitHub cannot store.
pub fn attachment_comment(attachment: &Attachment) -> String {
    let name = attachment.filename.replace(['[', ']'], "");
    let body = format!(
        "📎 [{name}]({}) ({} bytes, {})",
        attachment.url, attachment.size, attachment.mime_type
    );
    let id = attachment
        .remote_id
        .clone()
        .unwrap_or_else(|| attachment.id.clone());
    with_origin(&body, Some(&format!("{ATTACHMENT}{id}")))
}

fn attachment_from(comment: &GhComment, text: &str, marker: &str) -> Attachment {
    let name = text
        .split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(n, _)| n.to_string())
        .unwrap_or_default();
    let url = text
        .split_once("](")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(u, _)| u.to_string())
        .unwrap_or_default();
    let (size, mime) = text
        .rsplit_once(" (")
        .and_then(|(_, r)| r.strip_suffix(')'))
        .and_then(|r| r.split_once(" bytes, "))
        .map(|(s, m)| (s.parse().unwrap_or(0), m.to_string()))
        .unwrap_or_default();
    Attachment {
        id: comment.id.to_string(),
        filename: name,
        mime_type: mime,
        size,
        url,
        remote_id: Some(marker.to_string()),
    }
}

impl GhIssue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// `owner/repo` from `repository_url` (`.../repos/owner/repo`).
    pub fn repo(&self) -> String {
        let mut parts = self.repository_url.rsplit('/');
        let name = parts.next().unwrap_or_default();
        let owner = parts.next().unwrap_or_default();
        format!("{owner}/{name}")
    }

    /// The domain item, with the comments given (the issue JSON has only their count).
    pub fn to_item(&self, comments: &[GhComment], users: &Directory, sync: &SyncAuthor) -> Item {
        let repo = self.repo();
        let (description, origin) = split_origin(self.body.as_deref().unwrap_or(""));
        let mut item = Item {
            key: key_of(&repo, self.number),
            project: repo,
            url: self.html_url.clone(),
            summary: self.title.clone(),
            description: description.replace("\r\n", "\n"),
            status: Some(Named::new(self.state.clone())),
            priority: None,
            labels: self.labels.iter().map(|l| l.name().to_string()).collect(),
            assignee: self
                .assignees
                .first()
                .or(self.assignee.as_ref())
                .map(|u| users.user(&u.login)),
            reporter: self.user.as_ref().map(|u| users.user(&u.login)),
            version: version(self),
            updated_ms: millis(&self.updated_at),
            origin,
            ..Item::default()
        };
        if let Some(reason) = &self.state_reason {
            item.custom_fields
                .insert("state_reason".into(), serde_json::json!(reason));
        }
        if let Some(m) = &self.milestone {
            item.custom_fields
                .insert("milestone".into(), serde_json::json!(m.title));
        }
        for c in comments {
            let (text, marker) = match split_origin(c.body.as_deref().unwrap_or("")) {
                (text, Some(marker)) if sync.wrote(c) => (text, Some(marker)),
                // A marker someone else wrote is just text of theirs.
                _ => (c.body.clone().unwrap_or_default(), None),
            };
            match marker.as_deref().and_then(|m| m.strip_prefix(ATTACHMENT)) {
                Some(id) => item.attachments.push(attachment_from(c, &text, id)),
                None => item.comments.push(Comment {
                    id: c.id.to_string(),
                    author: c.user.as_ref().map(|u| users.user(&u.login)),
                    body: text.replace("\r\n", "\n"),
                    created_ms: millis(&c.created_at),
                    origin: marker,
                    remote_id: None,
                    internal: false,
                }),
            }
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(body: &str) -> GhIssue {
        serde_json::from_value(serde_json::json!({
            "number": 7, "title": "T", "body": body, "state": "closed",
            "state_reason": "completed", "labels": [{"name": "bug"}, "p1"],
            "assignees": [{"login": "mona", "id": 2}], "user": {"login": "octocat", "id": 1},
            "html_url": "https://github.com/octo/demo/issues/7",
            "repository_url": "https://api.github.com/repos/octo/demo",
            "comments": 2, "updated_at": "2026-11-23T10:00:00Z", "created_at": "2026-11-23T09:00:00Z"
        }))
        .expect("fixture")
    }

    #[test]
    fn issues_map_to_items() {
        let users = Directory::new(vec![UserEntry {
            login: "mona".into(),
            email: "mona@example.com".into(),
            name: "Mona Lisa".into(),
        }]);
        let attachment = Attachment {
            id: "a1".into(),
            filename: "log [1].txt".into(),
            mime_type: "text/plain".into(),
            size: 12,
            url: "https://files.example/log.txt".into(),
            remote_id: None,
        };
        let comments = vec![
            GhComment {
                id: 11,
                body: Some(with_origin("Hi", Some("twinsync:c:3"))),
                user: Some(GhUser {
                    login: "octocat".into(),
                    id: 1,
                }),
                created_at: "2026-11-23T09:30:00Z".into(),
                updated_at: String::new(),
            },
            GhComment {
                id: 12,
                body: Some(attachment_comment(&attachment)),
                user: Some(GhUser {
                    login: "octocat".into(),
                    id: 1,
                }),
                ..GhComment::default()
            },
            // Someone else ends a comment with an attachment marker: it stays their text.
            GhComment {
                id: 13,
                body: Some(attachment_comment(&Attachment {
                    url: "http://169.254.169.254/latest/meta-data".into(),
                    ..attachment.clone()
                })),
                user: Some(GhUser {
                    login: "mallory".into(),
                    id: 66,
                }),
                ..GhComment::default()
            },
        ];
        let item = issue(&with_origin("Body\r\nline", Some("twinsync:c:PROJ-1"))).to_item(
            &comments,
            &users,
            &SyncAuthor::Login("octocat".into()),
        );
        assert_eq!(item.key, "octo/demo#7");
        assert_eq!(item.project, "octo/demo");
        assert_eq!(item.description, "Body\nline");
        assert_eq!(item.origin.as_deref(), Some("twinsync:c:PROJ-1"));
        assert_eq!(item.status_name(), Some("closed"));
        assert_eq!(item.labels, vec!["bug", "p1"]);
        assert_eq!(item.assignee_email(), Some("mona@example.com"));
        assert_eq!(
            item.reporter.as_ref().map(|u| u.email.as_str()),
            Some("octocat@users.noreply.github.com")
        );
        assert_eq!(item.custom_fields["state_reason"], "completed");
        assert_eq!(item.comments.len(), 2);
        assert_eq!(item.comments[0].origin.as_deref(), Some("twinsync:c:3"));
        assert_eq!(
            item.comments[1].origin, None,
            "a forged marker is not an origin"
        );
        assert!(item.comments[1].body.contains("169.254.169.254"));
        assert_eq!(
            item.attachments.len(),
            1,
            "the forged attachment is not one"
        );
        let a = &item.attachments[0];
        assert_eq!(
            (
                a.filename.as_str(),
                a.url.as_str(),
                a.size,
                a.mime_type.as_str()
            ),
            (
                "log 1.txt",
                "https://files.example/log.txt",
                12,
                "text/plain"
            )
        );
        assert_eq!(a.remote_id.as_deref(), Some("a1"));
    }

    #[test]
    fn versions_differ_within_a_second() {
        let a = issue("one");
        let mut b = issue("one");
        b.title = "changed".into();
        assert_ne!(version(&a), version(&b));
        assert_eq!(version(&a) / 1_000_000, version(&b) / 1_000_000);
        let mut later = issue("one");
        later.updated_at = "2026-11-23T10:00:01Z".into();
        assert!(version(&later) > version(&a));
    }

    #[test]
    fn keys_repos_and_logins() {
        let table: &[(&str, Option<(&str, u64)>)] = &[
            ("octo/demo#12", Some(("octo/demo", 12))),
            ("octo/demo.js#1", Some(("octo/demo.js", 1))),
            ("demo#12", None),
            ("octo/demo#x", None),
            ("octo/de mo#1", None),
        ];
        for (key, want) in table {
            assert_eq!(split_key(key), *want, "{key}");
        }
        let d = Directory::default();
        assert_eq!(
            d.login("123+octocat@users.noreply.github.com").as_deref(),
            Some("octocat")
        );
        assert_eq!(d.login("someone@example.com"), None);
    }
}
