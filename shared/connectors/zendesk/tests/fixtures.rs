//! Zendesk's documented examples (tests/fixtures/zendesk) through the mapping, and back.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use twinsync_zendesk::html;
use twinsync_zendesk::mapping::{self, Directory};
use twinsync_zendesk::webhook;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../tests/fixtures/zendesk")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The directory a show with `include=users,groups` and the ticket fields give.
fn directory(sideloads: &Value) -> Directory {
    let mut dir = Directory::default();
    for u in sideloads["users"].as_array().unwrap() {
        dir.users.insert(
            u["id"].as_u64().unwrap(),
            twinsync_core::User {
                email: u["email"].as_str().unwrap().into(),
                display_name: u["name"].as_str().unwrap().into(),
            },
        );
    }
    for g in sideloads["groups"].as_array().unwrap() {
        dir.groups.insert(
            g["id"].as_u64().unwrap(),
            g["name"].as_str().unwrap().into(),
        );
    }
    dir.fields.insert(27642, "Order number".into());
    dir
}

#[test]
fn the_documented_ticket_and_comments_map_to_an_item() {
    let shown = fixture("ticket.json");
    let comments = fixture("comments.json")["comments"]
        .as_array()
        .unwrap()
        .clone();
    let dir = directory(&shown);
    let item = mapping::to_item(
        "https://company.zendesk.com",
        &shown["ticket"],
        &comments,
        &dir,
    );
    assert_eq!(item.key, "35436");
    assert_eq!(item.url, "https://company.zendesk.com/agent/tickets/35436");
    assert_eq!(item.project, "DJs");
    assert_eq!(item.summary, "Help, my printer is on fire!");
    assert_eq!(item.description, "The fire is very **colorful**.");
    assert_eq!(item.status_name(), Some("open"));
    assert_eq!(item.priority_name(), Some("high"));
    assert_eq!(item.labels, ["enterprise", "other_tag"]);
    assert_eq!(item.assignee_email(), Some("johnny@example.com"));
    assert_eq!(
        item.reporter.as_ref().map(|u| u.email.as_str()),
        Some("roger@example.com")
    );
    assert_eq!(item.custom_fields.get("Order number"), Some(&json!("745")));
    // A field whose title is unknown keeps its id; the ticket type is a field too.
    assert_eq!(item.custom_fields.get("27648"), Some(&json!("yes")));
    assert_eq!(item.custom_fields.get("type"), Some(&json!("incident")));
    // external_id is an origin only on tickets sync made (the twinsync tag).
    assert_eq!(item.origin, None);
    assert_eq!(item.updated_ms, 1_304_591_932_000);
    // The first comment is the description; the rest keep their visibility.
    let comments: Vec<(&str, bool)> = item
        .comments
        .iter()
        .map(|c| (c.body.as_str(), c.internal))
        .collect();
    assert_eq!(
        comments,
        [
            ("Thanks for your help!", false),
            ("Escalating to the printer team.", true)
        ]
    );
    assert_eq!(item.comments[0].id, "1275");
    assert_eq!(item.attachments.len(), 1);
    assert_eq!(item.attachments[0].filename, "crash.log");
    assert_eq!(
        item.attachments[0].url,
        "https://company.zendesk.com/attachments/crash.log"
    );
}

#[test]
fn comments_round_trip_through_what_zendesk_stores() {
    let dir = Directory::default();
    for (markdown, is_public) in [
        ("Thanks for your **help**!", true),
        ("Escalating to the **printer** team.", false),
    ] {
        let text = markdown;
        let marker = html::Marker::Origin("twinsync:jira:DEMO-1#10001".into());
        // What Zendesk keeps of a comment made through a ticket update.
        let stored = json!({
            "id": 9, "public": is_public,
            "html_body": format!("<div class=\"zd-comment\" dir=\"auto\">{}</div>", html::marked_html(text, Some(&marker))),
            "body": format!("{}\n\n{}", text.replace("**", ""), marker.line()),
        });
        let back = mapping::comment(&stored, &dir).unwrap();
        assert_eq!(back.body, markdown);
        // A copy sync wrote is never a person's internal note, whatever its visibility.
        assert!(!back.internal);
        assert_eq!(back.origin.as_deref(), Some("twinsync:jira:DEMO-1#10001"));
    }
}

#[test]
fn an_export_page_maps_and_filters() {
    let page = fixture("incremental_cursor.json");
    let dir = directory(&page);
    let items: Vec<_> = page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| mapping::to_item("https://company.zendesk.com", t, &[], &dir))
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].description, "Please sync me");
    let filter = twinsync_core::Filter::parse("labels = sync AND status != solved").unwrap();
    let keys: Vec<&str> = items
        .iter()
        .filter(|i| filter.matches(i))
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(keys, ["466"]);
    // Two tickets changed in the same second still have their own versions.
    assert_eq!(items[0].updated_ms, items[1].updated_ms);
    assert_ne!(items[0].version, items[1].version);
    let project = twinsync_core::Filter::parse("project = DJs").unwrap();
    assert!(items.iter().all(|i| project.matches(i)));
}

#[test]
fn the_documented_event_webhook_is_a_signal() {
    let body = serde_json::to_vec(&fixture("webhook_ticket_event.json")).unwrap();
    let at = "2022-12-09T20:48:20Z";
    let now = mapping::millis(at);
    let headers = vec![
        (
            "X-Zendesk-Webhook-Signature".to_string(),
            webhook::sign("dGhlIHNlY3JldA", at, &body),
        ),
        (
            "X-Zendesk-Webhook-Signature-Timestamp".to_string(),
            at.to_string(),
        ),
        (
            "X-Zendesk-Webhook-Id".to_string(),
            "01GKH4XZ7JGTJP2T0M1ZFN1A3P".to_string(),
        ),
    ];
    let signals = webhook::verify("dGhlIHNlY3JldA", &headers, &body, now).unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].item_key, "35436");
    assert_eq!(
        signals[0].version,
        mapping::millis("2022-12-09T20:48:19Z") as u64
    );
}
