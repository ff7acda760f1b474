//! Odd item answers from Azure DevOps, Zendesk and Redmine, against their connectors' clients
//! (GitHub's and Jira's are in `bad_input_trackers.rs`, ServiceNow's and Salesforce's in
//! `bad_input_answers_itsm.rs`, which uses the helpers here): each documented answer with a
//! field missing, null, of another type or about another item, and answers that are not
//! the item at all. Each is read as the item with what could be read, or refused with a
//! clear `Rejected` (not retryable: the same answer comes again); never a panic, and
//! never an item under another key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input::deep_member;
use axum::Router;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use twinsync_ports::{PortError, Tracker};
use twinsync_tests::fixture;

/// What a read must come to: the item with this summary, or `Rejected` saying this.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Want {
    Item(&'static str),
    Rejected(&'static str),
}

/// A stand-in answering the item's path with the answer of the moment, and other
/// paths (a listing, the caller's identity) with the first body whose path part matches.
pub(crate) async fn stand_in(
    item_path: &'static str,
    answer: Arc<Mutex<Vec<u8>>>,
    others: Vec<(&'static str, Value)>,
) -> String {
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let (answer, others) = (answer.clone(), others.clone());
        async move {
            let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
            let path = uri.path().to_string();
            if path.ends_with(item_path) {
                return (
                    axum::http::StatusCode::OK,
                    json,
                    answer.lock().unwrap().clone(),
                );
            }
            match others.iter().find(|(part, _)| path.contains(part)) {
                Some((_, body)) => (
                    axum::http::StatusCode::OK,
                    json,
                    body.to_string().into_bytes(),
                ),
                None => (axum::http::StatusCode::NOT_FOUND, json, b"{}".to_vec()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The documented answer changed by `edit`.
pub(crate) fn edited(good: &Value, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = good.clone();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// Reads `key` through `tracker` once per case; what does not come out as wanted.
pub(crate) async fn check(
    tracker: &dyn Tracker,
    key: &str,
    answer: &Mutex<Vec<u8>>,
    cases: Vec<(&str, Vec<u8>, Want)>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, body, want) in cases {
        *answer.lock().unwrap() = body;
        let got = tracker.get_item(key).await;
        match (&got, want) {
            (Ok(Some(item)), Want::Item(summary)) if item.key == key && item.summary == summary => {
            }
            (Err(e @ PortError::Rejected(m)), Want::Rejected(says)) if m.contains(says) => {
                assert!(!e.is_retryable(), "{name}");
            }
            _ => wrong.push(format!("{name}: {got:?}, wanted {want:?}")),
        }
    }
    wrong
}

/// The cases every vendor's answer meets, besides its own; `summary` is the documented
/// answer's.
pub(crate) fn common(good: &Value, summary: &'static str) -> Vec<(&'static str, Vec<u8>, Want)> {
    vec![
        ("an array", b"[]".to_vec(), Want::Rejected("")),
        (
            "not JSON",
            b"<html>gateway</html>".to_vec(),
            Want::Rejected(""),
        ),
        ("empty", Vec::new(), Want::Rejected("")),
        ("empty object", b"{}".to_vec(), Want::Rejected("")),
        (
            "10,000 nested arrays",
            deep_member(r#""id":12"#, 10_000),
            Want::Rejected("recursion limit"),
        ),
        (
            "extra members",
            edited(good, |v| v["x-future"] = json!({"a": [1, 2]})),
            Want::Item(summary),
        ),
    ]
}

#[tokio::test]
async fn odd_azure_devops_answers_are_rejected_or_read_never_misread() {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixture("ado/get-work-item.json")).unwrap()).unwrap();
    let good = doc["responses"]["200"]["body"].clone();
    let answer = Arc::new(Mutex::new(Vec::new()));
    let url = stand_in(
        "/_apis/wit/workitems/12",
        answer.clone(),
        vec![("connectionData", json!({"authenticatedUser": {"id": "me"}}))],
    )
    .await;
    let config = twinsync_ado::AdoConfig::with_pat(&format!("{url}/fabrikam"), "MyAgilePrj2", "p");
    let tracker = twinsync_ado::AdoTracker::new("ado", config).unwrap();
    let mut cases = vec![
        (
            "documented",
            serde_json::to_vec(&good).unwrap(),
            Want::Item("Epic 2"),
        ),
        (
            "another work item",
            edited(&good, |v| v["id"] = json!(13)),
            Want::Rejected("13"),
        ),
        (
            "id is a string",
            edited(&good, |v| v["id"] = json!("12")),
            Want::Rejected(""),
        ),
        (
            "no fields",
            edited(&good, |v| {
                v.as_object_mut().unwrap().remove("fields");
            }),
            Want::Item(""),
        ),
        (
            "title null",
            edited(&good, |v| v["fields"]["System.Title"] = Value::Null),
            Want::Item(""),
        ),
        (
            "title a number",
            edited(&good, |v| v["fields"]["System.Title"] = json!(7)),
            Want::Item(""),
        ),
        (
            "state an object",
            edited(&good, |v| {
                v["fields"]["System.State"] = json!({"name": "Active"})
            }),
            Want::Item("Epic 2"),
        ),
        (
            "rev negative",
            edited(&good, |v| v["rev"] = json!(-3)),
            Want::Item("Epic 2"),
        ),
        (
            "assignee a string",
            edited(&good, |v| {
                v["fields"]["System.AssignedTo"] = json!("someone")
            }),
            Want::Item("Epic 2"),
        ),
        (
            "comment count a string",
            edited(&good, |v| v["fields"]["System.CommentCount"] = json!("2")),
            Want::Item("Epic 2"),
        ),
    ];
    cases.extend(common(&good, "Epic 2"));
    let wrong = check(&tracker, "12", &answer, cases).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_zendesk_answers_are_rejected_or_read_never_misread() {
    let good: Value =
        serde_json::from_slice(&std::fs::read(fixture("zendesk/ticket.json")).unwrap()).unwrap();
    let answer = Arc::new(Mutex::new(Vec::new()));
    let empty = |key: &str| json!({key: [], "meta": {"has_more": false}, "links": {}});
    let url = stand_in(
        "/api/v2/tickets/35436.json",
        answer.clone(),
        vec![
            ("/comments.json", empty("comments")),
            ("/groups.json", empty("groups")),
            ("/ticket_fields.json", empty("ticket_fields")),
            ("/users", empty("users")),
        ],
    )
    .await;
    let config =
        twinsync_zendesk::ZendeskConfig::api_token(&url, "Support", "bot@example.com", "t");
    let tracker = twinsync_zendesk::ZendeskTracker::new("zendesk", config).unwrap();
    let title = "Help, my printer is on fire!";
    let mut cases = vec![
        (
            "documented",
            serde_json::to_vec(&good).unwrap(),
            Want::Item(title),
        ),
        (
            "another ticket",
            edited(&good, |v| v["ticket"]["id"] = json!(35437)),
            Want::Rejected("35437"),
        ),
        (
            "id is a string",
            edited(&good, |v| v["ticket"]["id"] = json!("35436")),
            Want::Rejected(""),
        ),
        (
            "no ticket member",
            edited(&good, |v| {
                v.as_object_mut().unwrap().remove("ticket");
            }),
            Want::Rejected(""),
        ),
        (
            "subject null",
            edited(&good, |v| v["ticket"]["subject"] = Value::Null),
            Want::Item(""),
        ),
        (
            "subject a number",
            edited(&good, |v| v["ticket"]["subject"] = json!(7)),
            Want::Item(""),
        ),
        (
            "status unknown",
            edited(&good, |v| v["ticket"]["status"] = json!("exploded")),
            Want::Item(title),
        ),
        (
            "tags not a list",
            edited(&good, |v| v["ticket"]["tags"] = json!("urgent")),
            Want::Item(title),
        ),
        (
            "custom fields odd",
            edited(&good, |v| {
                v["ticket"]["custom_fields"] = json!([{"id": "x"}, 5, null])
            }),
            Want::Item(title),
        ),
        (
            "updated_at not a time",
            edited(&good, |v| v["ticket"]["updated_at"] = json!("yesterday")),
            Want::Item(title),
        ),
    ];
    cases.extend(common(&good, title));
    let wrong = check(&tracker, "35436", &answer, cases).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_redmine_answers_are_rejected_or_read_never_misread() {
    let good: Value =
        serde_json::from_slice(&std::fs::read(fixture("redmine/issue.json")).unwrap()).unwrap();
    let answer = Arc::new(Mutex::new(Vec::new()));
    let url = stand_in(
        "/issues/5.json",
        answer.clone(),
        vec![
            ("/issue_statuses.json", json!({"issue_statuses": []})),
            ("/issue_priorities.json", json!({"issue_priorities": []})),
            ("/trackers.json", json!({"trackers": []})),
            (
                "/users.json",
                json!({"users": [], "total_count": 0, "offset": 0, "limit": 100}),
            ),
        ],
    )
    .await;
    let config: twinsync_redmine::RedmineConfig = serde_json::from_value(json!({
        "base_url": url, "api_key": "k", "origin_field_id": 1
    }))
    .unwrap();
    let tracker = twinsync_redmine::RedmineTracker::new("redmine", config).unwrap();
    let title = "Login fails on Safari";
    let mut cases = vec![
        (
            "documented",
            serde_json::to_vec(&good).unwrap(),
            Want::Item(title),
        ),
        (
            "another issue",
            edited(&good, |v| v["issue"]["id"] = json!(6)),
            Want::Rejected("item 6 for 5"),
        ),
        (
            "id is a string",
            edited(&good, |v| v["issue"]["id"] = json!("5")),
            Want::Rejected("invalid type"),
        ),
        (
            "no issue member",
            edited(&good, |v| {
                v.as_object_mut().unwrap().remove("issue");
            }),
            Want::Rejected(""),
        ),
        (
            "subject null",
            edited(&good, |v| v["issue"]["subject"] = Value::Null),
            Want::Rejected("invalid type"),
        ),
        (
            "journals not a list",
            edited(&good, |v| v["issue"]["journals"] = json!("none")),
            Want::Rejected("invalid type"),
        ),
        (
            "custom field without a value",
            edited(&good, |v| {
                v["issue"]["custom_fields"] = json!([{"id": 3, "name": "Team"}])
            }),
            Want::Item(title),
        ),
    ];
    cases.extend(common(&good, title));
    let wrong = check(&tracker, "5", &answer, cases).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
