//! The fake Jira's webhook deliveries: which dynamic webhooks an event reaches (its
//! events and JQL filter, not expired) and what Jira sends them.

use super::jql;
use super::state::{CommentData, Data, Fake, Hook, IssueData};
use crate::deliveries::Outgoing;
use crate::plumbing::now_ms;
use serde_json::{Value, json};

impl Fake {
    /// Sends `event` about `issue` to every webhook whose events and JQL filter match.
    pub(super) fn emit(
        &self,
        data: &Data,
        event: &str,
        issue: &IssueData,
        comment: Option<&CommentData>,
        actor: &str,
    ) {
        let now = now_ms();
        let hooks: Vec<&Hook> = data
            .hooks
            .iter()
            .filter(|h| reaches(h, event, now))
            .filter(|h| matches!(jql::matches(self, data, &h.jql, issue, now), Ok(true)))
            .collect();
        if hooks.is_empty() {
            return;
        }
        let mut payload = self.payload(data, event, issue, comment, actor, now);
        for h in hooks {
            payload["matchedWebhookIds"] = json!([h.id]);
            self.traffic.outbox.send(Outgoing {
                url: h.url.clone(),
                event: event.to_string(),
                headers: self.delivery_headers(&payload),
                payload: payload.clone(),
            });
        }
    }

    /// What Jira sends about `issue`, but for the webhook it goes to.
    fn payload(
        &self,
        data: &Data,
        event: &str,
        issue: &IssueData,
        comment: Option<&CommentData>,
        actor: &str,
        now: i64,
    ) -> Value {
        let mut payload = json!({
            "timestamp": now,
            "webhookEvent": event,
            "user": self.user(data, actor),
            "issue": self.issue(data, issue, Some("*all"), &[]),
        });
        if event.starts_with("jira:issue") {
            payload["issue_event_type_name"] = json!(if event == "jira:issue_created" {
                "issue_created"
            } else {
                "issue_generic"
            });
        }
        if let Some(c) = comment {
            payload["comment"] = self.comment(data, c, false);
        }
        payload
    }

    /// Jira's headers on a delivery (docs: "Webhooks", secure admin webhooks), signed
    /// when the fake has a secret.
    fn delivery_headers(&self, payload: &Value) -> Vec<(String, String)> {
        let mut headers = vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "Atlassian Webhook HTTP Client".into()),
            (
                "x-atlassian-webhook-identifier".into(),
                uuid::Uuid::new_v4().to_string(),
            ),
            ("x-atlassian-webhook-retry".into(), "0".into()),
        ];
        let secret = &self.options.webhook_secret;
        if !secret.is_empty() {
            let body = payload.to_string();
            headers.push((
                "x-hub-signature".into(),
                twinsync_jira::webhook::sign(secret, body.as_bytes()),
            ));
        }
        headers
    }
}

/// Whether `hook` takes `event` at `now`: subscribed to it and not expired.
fn reaches(hook: &Hook, event: &str, now: i64) -> bool {
    hook.expires_ms > now && hook.events.iter().any(|e| e == event)
}
