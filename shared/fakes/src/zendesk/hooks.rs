//! The fake Zendesk's webhooks and triggers: a webhook is made with an endpoint and gets
//! a signing secret (read at `/signing_secret`); a trigger with a
//! `notification_webhook` action sends its body template, placeholders filled, to that
//! webhook on every ticket create and change, signed as Zendesk signs deliveries.

use super::guard::{invalid, json_body, not_found};
use super::render::ts;
use super::state::{Data, Fake, TriggerData, WebhookData};
use crate::deliveries::Outgoing;
use crate::plumbing::now_ms;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

fn webhook_json(w: &WebhookData) -> Value {
    json!({
        "id": w.id, "name": w.name, "endpoint": w.endpoint, "http_method": "POST",
        "request_format": "json", "status": w.status, "subscriptions": ["conditional_ticket_events"],
    })
}

pub(super) async fn list_webhooks(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let name = query.get("filter[name_contains]").map(|s| s.to_lowercase());
    let all: Vec<(u64, Value)> = data
        .webhooks
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            name.as_ref()
                .is_none_or(|n| w.name.to_lowercase().contains(n))
        })
        .map(|(n, w)| (n as u64 + 1, webhook_json(w)))
        .collect();
    match super::render::page(
        &format!("{}/api/v2/webhooks", fake.base),
        "webhooks",
        all,
        &query,
    ) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => *r,
    }
}

pub(super) async fn create_webhook(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let w = &v["webhook"];
    let (Some(name), Some(endpoint)) = (w["name"].as_str(), w["endpoint"].as_str()) else {
        return invalid("webhook", "name and endpoint are required");
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return invalid("endpoint", "Endpoint must be a valid URL");
    }
    let hook = WebhookData {
        id: format!(
            "01GZ{}",
            &uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..22]
        ),
        name: name.to_string(),
        endpoint: endpoint.to_string(),
        secret: uuid::Uuid::new_v4().simple().to_string(),
        status: w["status"].as_str().unwrap_or("active").to_string(),
    };
    let answer = json!({ "webhook": webhook_json(&hook) });
    fake.lock().webhooks.push(hook);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn signing_secret(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
) -> Response {
    let data = fake.lock();
    match data.webhooks.iter().find(|w| w.id == id) {
        Some(w) => {
            axum::Json(json!({ "signing_secret": { "algorithm": "SHA256", "secret": w.secret } }))
                .into_response()
        }
        None => not_found("RecordNotFound"),
    }
}

pub(super) async fn list_triggers(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let all: Vec<(u64, Value)> = data
        .triggers
        .iter()
        .map(|t| {
            (t.id, json!({ "id": t.id, "title": t.title, "active": true,
                "actions": [{ "field": "notification_webhook", "value": [t.webhook, t.payload] }] }))
        })
        .collect();
    match super::render::page(
        &format!("{}/api/v2/triggers.json", fake.base),
        "triggers",
        all,
        &query,
    ) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => *r,
    }
}

pub(super) async fn create_trigger(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let t = &v["trigger"];
    let Some(title) = t["title"].as_str().filter(|s| !s.is_empty()) else {
        return invalid("title", "Title: cannot be blank");
    };
    if !t["conditions"].is_object() {
        return invalid("conditions", "Conditions: cannot be blank");
    }
    let action = t["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["field"] == "notification_webhook");
    let (Some(webhook), Some(payload)) = (
        action.and_then(|a| a["value"][0].as_str()),
        action.and_then(|a| a["value"][1].as_str()),
    ) else {
        return invalid(
            "actions",
            "Actions: a notification_webhook action needs a webhook id and a body",
        );
    };
    let mut data = fake.lock();
    if !data.webhooks.iter().any(|w| w.id == webhook) {
        return invalid("actions", "Actions: the webhook does not exist");
    }
    let id = data.id();
    data.triggers.push(TriggerData {
        id,
        title: title.to_string(),
        webhook: webhook.to_string(),
        payload: payload.to_string(),
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({ "trigger": { "id": id, "title": title, "active": true } })),
    )
        .into_response()
}

impl Fake {
    /// Runs the triggers on ticket `id` after a create or change: each sends its body,
    /// placeholders filled, to its webhook, signed with the webhook's secret.
    pub(super) fn notify(&self, data: &Data, id: u64) {
        let Some(t) = data.tickets.get(&id) else {
            return;
        };
        let group = t
            .group
            .and_then(|g| data.groups.iter().find(|(id, _)| *id == g))
            .map(|(_, n)| n.as_str())
            .unwrap_or("");
        for trigger in &data.triggers {
            let Some(hook) = data
                .webhooks
                .iter()
                .find(|w| w.id == trigger.webhook && w.status == "active")
            else {
                continue;
            };
            let body = trigger
                .payload
                .replace("{{ticket.id}}", &t.id.to_string())
                .replace("{{ticket.group.name}}", group)
                .replace("{{ticket.status}}", &t.status);
            let Ok(payload) = serde_json::from_str::<Value>(&body) else {
                continue;
            };
            let at = ts(now_ms() / 1000);
            let sent = payload.to_string();
            self.traffic.outbox.send(Outgoing {
                url: hook.endpoint.clone(),
                event: "ticket".into(),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("user-agent".into(), "Zendesk Webhook".into()),
                    ("x-zendesk-account-id".into(), "1".into()),
                    ("x-zendesk-webhook-id".into(), hook.id.clone()),
                    (
                        "x-zendesk-webhook-invocation-id".into(),
                        uuid::Uuid::new_v4().to_string(),
                    ),
                    (
                        "x-zendesk-webhook-signature".into(),
                        twinsync_zendesk::webhook::sign(&hook.secret, &at, sent.as_bytes()),
                    ),
                    ("x-zendesk-webhook-signature-timestamp".into(), at),
                ],
                payload,
            });
        }
    }
}
