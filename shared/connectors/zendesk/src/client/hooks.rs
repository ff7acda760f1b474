//! The webhook a node receives ticket changes on, made through the API: a webhook
//! (`POST /api/v2/webhooks`) whose signing secret the connector reads
//! (`GET /api/v2/webhooks/{id}/signing_secret`), and the trigger that calls it on every
//! ticket create and change (`POST /api/v2/triggers`, a `notification_webhook` action).
//! Both are found again by their endpoint and title, so a restart makes no second one.

use super::ZendeskTracker;
use serde_json::{Value, json};
use twinsync_ports::{PortError, PortResult};

/// What the trigger sends: the ticket and its group (the signature's timestamp says when).
const PAYLOAD: &str = r#"{"ticket_id": "{{ticket.id}}", "group": "{{ticket.group.name}}"}"#;

impl ZendeskTracker {
    fn trigger_title(url: &str) -> String {
        format!("twinsync: notify {url}")
    }

    /// Makes (or finds) the webhook and its trigger for `url`, and learns the signing
    /// secret.
    pub(super) async fn subscribe(&self, url: &str) -> PortResult<()> {
        let hooks = self
            .list_all(
                "/webhooks",
                &[("filter[name_contains]", "twinsync")],
                "webhooks",
            )
            .await?;
        let id =
            match hooks.iter().find(|h| h["endpoint"].as_str() == Some(url)) {
                Some(h) => text_id(&h["id"]),
                None => {
                    let made =
                        self.send(self.http.post(self.api("/webhooks")).json(
                            &json!({ "webhook": {
                                "name": format!("twinsync {}", self.instance),
                                "endpoint": url,
                                "http_method": "POST",
                                "request_format": "json",
                                "status": "active",
                                "subscriptions": ["conditional_ticket_events"],
                            }}),
                        ))
                        .await?;
                    text_id(&made["webhook"]["id"])
                }
            }
            .ok_or_else(|| PortError::Rejected("Zendesk's webhook has no id".into()))?;
        let secret = self
            .send(
                self.http
                    .get(self.api(&format!("/webhooks/{id}/signing_secret"))),
            )
            .await?;
        let secret = secret["signing_secret"]["secret"]
            .as_str()
            .ok_or_else(|| PortError::Rejected("Zendesk gave no signing secret".into()))?;
        if let Ok(mut s) = self.signing_secret.write() {
            *s = secret.to_string();
        }
        let title = Self::trigger_title(url);
        let triggers = self.list_all("/triggers.json", &[], "triggers").await?;
        if !triggers
            .iter()
            .any(|t| t["title"].as_str() == Some(title.as_str()))
        {
            self.send(
                self.http
                    .post(self.api("/triggers.json"))
                    .json(&json!({ "trigger": {
                        "title": title,
                        "active": true,
                        "conditions": { "all": [], "any": [
                            { "field": "update_type", "operator": "is", "value": "Create" },
                            { "field": "update_type", "operator": "is", "value": "Change" },
                        ]},
                        "actions": [{ "field": "notification_webhook", "value": [id, PAYLOAD] }],
                    }})),
            )
            .await?;
        }
        Ok(())
    }
}

/// Webhook ids are strings (`01GE...`); triggers name them so.
fn text_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
