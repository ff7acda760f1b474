//! Service hook subscriptions (`_apis/hooks/subscriptions`): one per event, Web Hooks
//! consumer, `httpRequest` action, sending the Basic credentials and the secret header
//! the webhook check expects. Azure DevOps keeps them without expiry but disables one
//! whose deliveries keep failing, so a refresh rewrites each (enabled, with the current
//! secret) and makes any missing one again.

use super::{API_VERSION, AdoTracker};
use crate::webhook::{EVENTS, SECRET_HEADER};
use serde_json::{Value, json};
use twinsync_ports::PortResult;

/// How often subscriptions are checked.
pub const REFRESH_MS: i64 = 24 * 3_600_000;

impl AdoTracker {
    fn subscription(&self, event: &str, url: &str, project_id: &str) -> Value {
        json!({
            "publisherId": "tfs",
            "eventType": event,
            "resourceVersion": "1.0",
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "status": "enabled",
            "publisherInputs": { "projectId": project_id },
            "consumerInputs": {
                "url": url,
                "basicAuthUsername": self.config.webhook_user,
                "basicAuthPassword": self.config.webhook_secret,
                "httpHeaders": format!("{SECRET_HEADER}:{}", self.config.webhook_secret),
                "resourceDetailsToSend": "minimal",
                "messagesToSend": "none",
                "detailedMessagesToSend": "none",
            },
        })
    }

    /// Makes sure a subscription per event sends to `url`, enabled, with the current
    /// secret.
    pub(super) async fn subscribe(&self, url: &str) -> PortResult<()> {
        let project_id = self.project_id(&self.config.project).await?;
        let existing = self
            .send(
                self.http
                    .get(self.org_api("/hooks/subscriptions"))
                    .query(&[("publisherId", "tfs"), ("api-version", API_VERSION)]),
            )
            .await?;
        let list = existing["value"].as_array().cloned().unwrap_or_default();
        for event in EVENTS {
            let body = self.subscription(event, url, &project_id);
            let found = list.iter().find(|s| {
                s["eventType"] == event
                    && s["consumerInputs"]["url"] == url
                    && s["publisherInputs"]["projectId"] == project_id.as_str()
            });
            let request = match found.and_then(|s| s["id"].as_str()) {
                Some(id) => self
                    .http
                    .put(self.org_api(&format!("/hooks/subscriptions/{id}"))),
                None => self.http.post(self.org_api("/hooks/subscriptions")),
            };
            self.send(request.query(&[("api-version", API_VERSION)]).json(&body))
                .await?;
        }
        Ok(())
    }
}
