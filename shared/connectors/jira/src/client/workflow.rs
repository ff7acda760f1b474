//! The workflow: a status changes only through a transition that reaches it.

use super::JiraTracker;
use serde_json::json;
use twinsync_ports::{PortError, PortResult};

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

    pub(super) fn no_transition(key: &str, target: &str) -> PortError {
        PortError::Rejected(format!(
            "Jira's workflow has no transition that takes {key} to {target:?}: add one, or map the status in the rules"
        ))
    }
}
