//! Deleting issues and comments, for the `delete` removal policy. Something already gone
//! is no error: the removal it was asked for has happened.

use super::JiraTracker;
use twinsync_ports::{PortResult, gone_is_done};

impl JiraTracker {
    /// `DELETE /issue/{key}`. Jira refuses an issue with subtasks unless
    /// `deleteSubtasks=true`; the twin's subtasks are not ours to delete, so that refusal
    /// stands and the policy closes the issue instead.
    pub(super) async fn delete_issue(&self, key: &str) -> PortResult<()> {
        let request = self
            .http
            .delete(self.api(&format!("/issue/{key}")))
            .query(&[("deleteSubtasks", "false")]);
        gone_is_done(self.send(request).await)
    }

    /// `DELETE /issue/{key}/comment/{id}`.
    pub(super) async fn delete_issue_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        let request = self
            .http
            .delete(self.api(&format!("/issue/{key}/comment/{comment_id}")));
        gone_is_done(self.send(request).await)
    }
}
