//! The workflow: a status changes only through a transition that reaches it.

use super::JiraTracker;
use serde_json::json;
use twinsync_ports::{PortError, PortResult, Tracker};

impl JiraTracker {
    /// Moves the issue to `target` through the workflow: the transition that reaches it.
    pub(super) async fn transition(&self, key: &str, target: &str) -> PortResult<bool> {
        let available = self
            .send(
                self.http
                    .get(self.api(&format!("/issue/{key}/transitions"))),
            )
            .await?;
        let transitions = available["transitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = transitions.iter().find(|t| {
            t["to"]["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(target))
        });
        let Some(t) = found else {
            return Ok(false);
        };
        self.send(
            self.http
                .post(self.api(&format!("/issue/{key}/transitions")))
                .json(&json!({ "transition": { "id": t["id"] } })),
        )
        .await?;
        Ok(true)
    }

    /// Moves an issue just created to `target`, unless the project's new issues start
    /// there (learnt from the first create that found no transition to it).
    pub(super) async fn move_new_issue(
        &self,
        key: &str,
        project: &str,
        target: &str,
    ) -> PortResult<()> {
        let initial = self.initial_status.lock().await.get(project).cloned();
        if initial
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(target))
            || self.transition(key, target).await?
        {
            return Ok(());
        }
        // No transition to it: the issue may already be there (the initial status).
        let now = self.get_item(key).await?;
        let status = now.as_ref().and_then(|i| i.status_name()).unwrap_or("");
        if !status.is_empty() {
            self.initial_status
                .lock()
                .await
                .insert(project.to_string(), status.to_string());
        }
        if status.eq_ignore_ascii_case(target) {
            Ok(())
        } else {
            Err(Self::no_transition(key, target))
        }
    }

    pub(super) fn no_transition(key: &str, target: &str) -> PortError {
        PortError::Rejected(format!(
            "Jira's workflow has no transition that takes {key} to {target:?}: add one, or map the status in the rules"
        ))
    }
}
