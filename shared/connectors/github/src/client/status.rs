//! The sync status inside GitHub: one comment per issue, written by the connector and
//! edited in place as the state changes. It carries a hidden marker, so reading the
//! issue leaves it out of the comments that sync (and its own edits cannot echo).

use super::GithubTracker;
use crate::mapping::GhComment;
use serde_json::json;
use twinsync_ports::{PortResult, SyncMark, SyncState};

/// The hidden marker of the status comment.
pub const STATUS_MARKER: &str = "<!-- twinsync-status -->";

/// Whether a comment is the connector's status comment.
pub fn is_status(c: &GhComment) -> bool {
    c.body.as_deref().is_some_and(|b| b.contains(STATUS_MARKER))
}

/// The status comment's Markdown for `mark`: the state, the twin as a link, the reason.
pub fn status_body(mark: &SyncMark) -> String {
    let twin = match (&mark.twin_key, &mark.twin_url) {
        (Some(key), Some(url)) => format!(" with [{key}]({url})"),
        (Some(key), None) => format!(" with {key}"),
        _ => String::new(),
    };
    let state = match &mark.state {
        SyncState::Syncing => format!("⏳ syncing{twin}"),
        SyncState::Synced => format!("✅ synced{twin}"),
        SyncState::Error(why) => format!("⚠️ error{twin}: {}", why.replace(['\n', '\r'], " ")),
        SyncState::Unlinked => format!("⛓️‍💥 unlinked{}", twin.replacen(" with ", " from ", 1)),
    };
    format!("**twinsync**: {state}\n\n{STATUS_MARKER}")
}

impl GithubTracker {
    /// Edits the status comment, or posts it the first time; nothing when the
    /// state shown is the same.
    pub(super) async fn show_status(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let body = status_body(mark);
        if self.shown.already(key, &body) {
            return Ok(());
        }
        let (repo, number) = Self::key_parts(key)?;
        let existing = match self.remembered(&format!("status:{key}")).flatten() {
            Some(id) => Some(id),
            None => self
                .comments(repo, number)
                .await?
                .iter()
                .find(|c| is_status(c))
                .map(|c| c.id.to_string()),
        };
        let payload = json!({ "body": body });
        let id = match existing {
            Some(id) => {
                let url = self.url(&format!("/repos/{repo}/issues/comments/{id}"));
                self.send(reqwest::Method::PATCH, &url, Some(&payload))
                    .await?;
                id
            }
            None => {
                let url = self.url(&format!("/repos/{repo}/issues/{number}/comments"));
                let (created, _) = self
                    .send(reqwest::Method::POST, &url, Some(&payload))
                    .await?;
                Self::parse::<GhComment>(created)?.id.to_string()
            }
        };
        self.remember(format!("status:{key}"), Some(id));
        self.shown.record(key, body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies_table() {
        let mark = |state, key: Option<&str>| SyncMark {
            state,
            twin_key: key.map(str::to_string),
            twin_url: key.map(|k| format!("https://jira.example.com/browse/{k}")),
        };
        let cases = [
            (
                mark(SyncState::Synced, Some("DEMO-4")),
                "✅ synced with [DEMO-4](https://jira.example.com/browse/DEMO-4)",
            ),
            (mark(SyncState::Syncing, None), "⏳ syncing"),
            (
                mark(SyncState::Error("no\nway".into()), Some("DEMO-4")),
                "⚠️ error with [DEMO-4](https://jira.example.com/browse/DEMO-4): no way",
            ),
            (
                mark(SyncState::Unlinked, Some("DEMO-4")),
                "⛓️‍💥 unlinked from [DEMO-4](https://jira.example.com/browse/DEMO-4)",
            ),
        ];
        for (mark, want) in cases {
            let body = status_body(&mark);
            assert!(
                body.starts_with(&format!("**twinsync**: {want}\n")),
                "{body}"
            );
            assert!(is_status(&GhComment {
                id: 1,
                body: Some(body),
                user: None,
                created_at: String::new(),
                updated_at: String::new(),
            }));
        }
    }
}
