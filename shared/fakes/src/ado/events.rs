//! The fake Azure DevOps' service hook deliveries: each enabled subscription for the
//! event and the work item's project gets the payload, with the Basic credentials and
//! the headers its consumer inputs name. Nothing is signed, as in Azure DevOps.

use super::ORG;
use super::items::work_item;
use super::state::{Data, Fake, WorkItem};
use crate::deliveries::Outgoing;
use crate::plumbing::now_ms;
use base64::Engine;
use serde_json::{Map, Value, json};
use twinsync_ado::mapping::timestamp;

/// The headers a subscription's consumer inputs make.
fn headers(inputs: &Value) -> Vec<(String, String)> {
    let mut out = vec![(
        "content-type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    let user = inputs["basicAuthUsername"].as_str().unwrap_or("");
    let password = inputs["basicAuthPassword"].as_str().unwrap_or("");
    if !user.is_empty() || !password.is_empty() {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        out.push(("authorization".into(), format!("Basic {token}")));
    }
    // `httpHeaders` is one `Name:Value` a line.
    for line in inputs["httpHeaders"].as_str().unwrap_or("").lines() {
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// The `resource` of an update: the changed fields as old and new values, and the
/// revision it made.
fn update_resource(fake: &Fake, data: &Data, wi: &WorkItem, before: &WorkItem) -> Value {
    let after = work_item(fake, data, wi, false);
    let old = work_item(fake, data, before, false);
    let mut changes = Map::new();
    if let Some(fields) = after["fields"].as_object() {
        for (name, value) in fields {
            if old["fields"][name] != *value {
                changes.insert(
                    name.clone(),
                    json!({ "oldValue": old["fields"][name], "newValue": value }),
                );
            }
        }
    }
    json!({
        "id": wi.rev,
        "workItemId": wi.id,
        "rev": wi.rev,
        "revisedBy": after["fields"]["System.ChangedBy"],
        "revisedDate": timestamp(wi.changed_ms),
        "fields": changes,
        "url": format!("{}/updates/{}", after["url"].as_str().unwrap_or(""), wi.rev),
        "revision": after,
    })
}

/// Sends `event` about `wi` to the subscriptions that want it.
pub(super) fn emit(
    fake: &Fake,
    data: &Data,
    event: &str,
    wi: &WorkItem,
    before: Option<&WorkItem>,
) {
    let project_id = data.projects.get(&wi.project).cloned().unwrap_or_default();
    let subscribers: Vec<&Value> = data
        .subscriptions
        .iter()
        .map(|s| &s.body)
        .filter(|s| s["status"] == "enabled" && s["eventType"] == event)
        .filter(|s| {
            s["publisherInputs"]["projectId"]
                .as_str()
                .is_none_or(|p| p.is_empty() || p == project_id)
        })
        .collect();
    if subscribers.is_empty() {
        return;
    }
    let resource = match before {
        Some(b) => update_resource(fake, data, wi, b),
        None => work_item(fake, data, wi, false),
    };
    let now = now_ms();
    for (n, s) in subscribers.into_iter().enumerate() {
        let payload = json!({
            "subscriptionId": s["id"],
            "notificationId": n + 1,
            "id": format!("e{:011x}-{}-{}-{n}", now, wi.id, wi.rev),
            "eventType": event,
            "publisherId": "tfs",
            "message": { "text": format!("{} #{} was changed", wi.work_item_type, wi.id) },
            "resource": resource,
            "resourceVersion": "1.0",
            "resourceContainers": {
                "collection": { "id": "c0ffee00-0000-4000-8000-000000000001", "baseUrl": format!("{}/{ORG}/", fake.base) },
                "account": { "id": "acc00000-0000-4000-8000-000000000001", "baseUrl": format!("{}/{ORG}/", fake.base) },
                "project": { "id": project_id, "baseUrl": format!("{}/{ORG}/", fake.base) },
            },
            "createdDate": timestamp(now),
        });
        fake.traffic.outbox.send(Outgoing {
            url: s["consumerInputs"]["url"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            event: event.to_string(),
            headers: headers(&s["consumerInputs"]),
            payload,
        });
    }
}
