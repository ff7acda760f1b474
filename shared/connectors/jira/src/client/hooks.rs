//! Jira's dynamic webhooks: registered for a node's URL with a JQL filter, and refreshed
//! before Jira drops them (30 days after registration).

use super::JiraTracker;
use crate::webhook;
use serde_json::json;
use twinsync_ports::{PortError, PortResult};

impl JiraTracker {
    /// Registers a webhook for this node's URL with a JQL filter, or refreshes the one
    /// registered before (Jira drops REST-registered webhooks after 30 days).
    pub async fn subscribe(&self, url: &str, jql: &str) -> PortResult<Vec<u64>> {
        let existing = self.send(self.http.get(self.api("/webhook"))).await?;
        let ids: Vec<u64> = existing["values"]
            .as_array()
            .map(|hooks| {
                hooks
                    .iter()
                    .filter(|h| h["url"].as_str() == Some(url))
                    .filter_map(|h| h["id"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        if !ids.is_empty() {
            self.send(
                self.http
                    .put(self.api("/webhook/refresh"))
                    .json(&json!({ "webhookIds": ids })),
            )
            .await?;
            return Ok(ids);
        }
        let made = self
            .send(self.http.post(self.api("/webhook")).json(&json!({
                "url": url,
                "webhooks": [{ "events": webhook::EVENTS, "jqlFilter": jql }]
            })))
            .await?;
        let results = made["webhookRegistrationResult"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for r in results {
            match r["createdWebhookId"].as_u64() {
                Some(id) => out.push(id),
                None => {
                    return Err(PortError::Rejected(format!(
                        "Jira refused the webhook: {}",
                        r["errors"]
                    )));
                }
            }
        }
        Ok(out)
    }
}
