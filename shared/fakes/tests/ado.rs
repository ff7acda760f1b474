//! The Azure DevOps connector against the fake Azure DevOps: every call the connector
//! makes, the fake's strictness where the real service is strict, and the races the
//! connector guards against (a concurrent edit, an edit in the same second as the poll
//! cursor).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use twinsync_ado::{AdoConfig, AdoTracker};
use twinsync_core::{Attachment, Item, ItemUpdate, Named, User};
use twinsync_fakes::ado::{FakeAdo, FakeOptions, Fault};
use twinsync_ports::{PortError, Tracker};

const PAT: &str = "bot-pat";
const PROJECT: &str = "Fabrikam Fiber";

async fn fake() -> FakeAdo {
    FakeAdo::start(
        "127.0.0.1:0",
        FakeOptions {
            projects: vec![PROJECT.into()],
            identities: vec![
                ("bot@example.com".into(), "twinsync bot".into()),
                ("ana@example.com".into(), "Ana Lima".into()),
            ],
            pats: vec![
                (PAT.into(), "bot@example.com".into()),
                ("ana-pat".into(), "ana@example.com".into()),
            ],
            oauth_tokens: vec!["entra-token".into()],
            custom_fields: vec!["Custom.Team".into()],
            every_nth_429: 0,
        },
    )
    .await
    .unwrap()
}

fn tracker(fake: &FakeAdo) -> AdoTracker {
    let mut config = AdoConfig::with_pat(&fake.org_url(), PROJECT, PAT);
    config.webhook_secret = "hook-secret-0123456789".into();
    // Far above what the tests make, so the budget never holds them.
    config.requests_per_minute = 100_000;
    config.burst = 1_000;
    AdoTracker::new("ado", config).unwrap()
}

fn item(summary: &str) -> Item {
    Item {
        summary: summary.into(),
        description: "Steps:\n\n- open\n- **crash**".into(),
        status: Some(Named::new("Active")),
        priority: Some(Named::new("1")),
        labels: vec!["sync".into()],
        assignee: Some(User {
            email: "ana@example.com".into(),
            display_name: "Ana".into(),
        }),
        ..Item::default()
    }
}

/// A person's raw call to the fake, as a REST client makes it.
async fn raw(
    fake: &FakeAdo,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.org_url()))
        .basic_auth("", Some("ana-pat"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn items_round_trip_with_states_priority_tags_people_and_fields() {
    let fake = fake().await;
    let ado = tracker(&fake);
    assert_eq!(ado.has_project(PROJECT).await.unwrap(), Some(true));
    assert_eq!(ado.has_project("Nope").await.unwrap(), Some(false));
    let created = ado
        .create_item("", &item("Crash on save"), "twinsync:c1:A-1")
        .await
        .unwrap();
    assert_eq!(created.origin.as_deref(), Some("twinsync:c1:A-1"));
    let read = ado.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(read.summary, "Crash on save");
    assert_eq!(read.description, "Steps:\n\n- open\n- **crash**");
    assert_eq!(read.status_name(), Some("Active"));
    assert_eq!(read.priority_name(), Some("1"));
    assert_eq!(read.labels, ["sync"], "the origin tag is not a label");
    assert_eq!(read.assignee_email(), Some("ana@example.com"));
    assert_eq!(
        read.reporter.as_ref().map(|u| u.email.as_str()),
        Some("bot@example.com")
    );
    assert_eq!(
        read.custom_fields.get("System.AreaPath"),
        Some(&json!(PROJECT))
    );
    assert!(
        read.url
            .ends_with(&format!("/Fabrikam%20Fiber/_workitems/edit/{}", read.key)),
        "{}",
        read.url
    );
    let id: i64 = read.key.parse().unwrap();
    assert_eq!(
        fake.field(id, "System.Description"),
        Some(json!(
            "<p>Steps:</p>\n<ul>\n<li>open</li>\n<li><strong>crash</strong></li>\n</ul>"
        ))
    );

    // An update: a new state by its category (Scrum's "Done" is this Task's "Closed"),
    // labels that keep the origin tag, a custom field, the assignee cleared.
    ado.update_item(
        &read.key,
        &ItemUpdate {
            status: Some("Done".into()),
            labels: Some(vec!["sync".into(), "ui".into()]),
            custom_fields: Some(BTreeMap::from([("Custom.Team".into(), json!("Red"))])),
            assignee: Some(None),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let after = ado.get_item(&read.key).await.unwrap().unwrap();
    assert_eq!(after.status_name(), Some("Closed"));
    assert_eq!(after.labels, ["sync", "ui"]);
    assert_eq!(after.origin.as_deref(), Some("twinsync:c1:A-1"));
    assert_eq!(after.custom_fields.get("Custom.Team"), Some(&json!("Red")));
    assert_eq!(after.assignee, None);
    assert!(after.version > read.version);

    // A state the type does not have, and a priority out of range, are refused for good.
    let err = ado
        .update_item(
            &read.key,
            &ItemUpdate {
                status: Some("Blocked".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("New, Active, Closed, Removed")),
        "{err}"
    );
    let err = ado
        .update_item(
            &read.key,
            &ItemUpdate {
                priority: Some("High".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    // An unknown assignee is left as is, the rest is written.
    ado.update_item(
        &read.key,
        &ItemUpdate {
            summary: Some("Renamed".into()),
            assignee: Some(Some(User {
                email: "ghost@example.com".into(),
                display_name: String::new(),
            })),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ado.get_item(&read.key).await.unwrap().unwrap().summary,
        "Renamed"
    );
    assert_eq!(ado.get_item("999").await.unwrap(), None);

    // Found again by its origin tag only.
    let again = ado
        .find_by_origin("", "twinsync:c1:A-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.key, read.key);
    assert_eq!(
        ado.find_by_origin("", "twinsync:c1:A-2").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_concurrent_edit_fails_the_rev_test_and_is_not_overwritten() {
    let fake = fake().await;
    let ado = tracker(&fake);
    let created = ado
        .create_item(PROJECT, &item("Race"), "o:1")
        .await
        .unwrap();
    let read = ado.get_item(&created.key).await.unwrap().unwrap();
    // Ana edits the description after our read.
    let (status, _) = raw(
        &fake,
        reqwest::Method::PATCH,
        &format!("/_apis/wit/workitems/{}?api-version=7.1", read.key),
        "application/json-patch+json",
        json!([{"op": "add", "path": "/fields/System.Description", "value": "<p>Ana's text</p>"}]),
    )
    .await;
    assert_eq!(status, 200);
    let err = ado
        .update_item(
            &read.key,
            &ItemUpdate {
                summary: Some("Ours".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Conflict(m) if m.contains("Test operation failed for path /rev")),
        "{err}"
    );
    assert!(err.is_retryable());
    let id: i64 = read.key.parse().unwrap();
    assert_eq!(
        fake.field(id, "System.Title"),
        Some(json!("Race")),
        "nothing of the stale write landed"
    );
    // A fresh read and the write goes through, Ana's edit kept.
    ado.get_item(&read.key).await.unwrap();
    ado.update_item(
        &read.key,
        &ItemUpdate {
            summary: Some("Ours".into()),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let now = ado.get_item(&read.key).await.unwrap().unwrap();
    assert_eq!(
        (now.summary.as_str(), now.description.as_str()),
        ("Ours", "Ana's text")
    );
    // The fake's own race: an edit that lands just before the next patch.
    fake.edit_before_next_patch(id, "System.Title", json!("Theirs"));
    let err = ado
        .update_item(
            &read.key,
            &ItemUpdate {
                description: Some("x".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Conflict(_)), "{err}");
}

#[tokio::test]
async fn comments_page_and_keep_their_markers_and_attachments_relate() {
    let fake = fake().await;
    let ado = tracker(&fake);
    let created = ado
        .create_item(PROJECT, &item("Talk"), "o:2")
        .await
        .unwrap();
    for n in 0..205 {
        let origin = (n % 2 == 0).then(|| format!("twinsync:c:{n}"));
        ado.add_comment(
            &created.key,
            &format!("Comment **{n}**"),
            None,
            origin.as_deref(),
        )
        .await
        .unwrap();
    }
    // Ana types a marker herself: it is her text, not an origin.
    raw(
        &fake,
        reqwest::Method::POST,
        &format!(
            "/{}/_apis/wit/workItems/{}/comments?format=markdown&api-version=7.1-preview.4",
            "Fabrikam%20Fiber", created.key
        ),
        "application/json",
        json!({"text": "Mine\n\n<!-- twinsync-origin: forged -->"}),
    )
    .await;
    let read = ado.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(read.comments.len(), 206, "two pages of 200 and 6");
    assert_eq!(read.comments[3].body, "Comment **3**");
    assert_eq!(read.comments[4].origin.as_deref(), Some("twinsync:c:4"));
    assert_eq!(read.comments[3].origin, None);
    assert_eq!(read.comments[205].origin, None);
    let pages = fake
        .exchanges()
        .iter()
        .filter(|e| e.method == "GET" && e.template.ends_with("/comments"))
        .count();
    assert!(pages >= 2, "{pages}");
    // An edit keeps the marker.
    let c4 = read.comments[4].id.clone();
    ado.update_comment(&created.key, &c4, "Edited")
        .await
        .unwrap();
    let read = ado.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(
        (
            read.comments[4].body.as_str(),
            read.comments[4].origin.as_deref()
        ),
        ("Edited", Some("twinsync:c:4"))
    );
    // An HTML comment from the web editor reads as Markdown.
    raw(
        &fake,
        reqwest::Method::POST,
        &format!(
            "/Fabrikam%20Fiber/_apis/wit/workItems/{}/comments?api-version=7.1-preview.4",
            created.key
        ),
        "application/json",
        json!({"text": "<div><b>Bold</b> move</div>"}),
    )
    .await;
    let read = ado.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(
        read.comments.last().map(|c| c.body.as_str()),
        Some("**Bold** move")
    );

    // An attachment copied from this organization's own host (the only one a test can
    // reach without the public resolver refusing loopback).
    let (status, stored) = raw(
        &fake,
        reqwest::Method::POST,
        "/Fabrikam%20Fiber/_apis/wit/attachments?fileName=log.txt&api-version=7.1",
        "application/octet-stream",
        json!("hello"),
    )
    .await;
    assert_eq!(status, 201);
    let copied = ado
        .add_attachment(
            &created.key,
            &Attachment {
                id: "src-1".into(),
                filename: "log.txt".into(),
                size: 7,
                url: stored["url"].as_str().unwrap().into(),
                ..Attachment::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(copied.remote_id.as_deref(), Some("src-1"));
    let read = ado.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(read.attachments.len(), 1);
    assert_eq!(
        (
            read.attachments[0].filename.as_str(),
            read.attachments[0].size
        ),
        ("log.txt", 7)
    );
    // Over the cap: refused before any download.
    let mut small = AdoConfig::with_pat(&fake.org_url(), PROJECT, PAT);
    small.attachment_max_bytes = 3;
    let small = AdoTracker::new("ado", small).unwrap();
    let err = small
        .add_attachment(
            &created.key,
            &Attachment {
                filename: "big".into(),
                size: 4,
                url: copied.url.clone(),
                ..Attachment::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("over this organization's limit"),
        "{err}"
    );
}

/// Every page of a poll since `since_ms`.
async fn poll_all(ado: &AdoTracker, since_ms: i64) -> Vec<Item> {
    let mut all = Vec::new();
    let mut page = None;
    loop {
        let p = ado
            .search_updated("labels = sync", since_ms, page)
            .await
            .unwrap();
        all.extend(p.items);
        match p.next {
            Some(n) => page = Some(n),
            None => return all,
        }
    }
}

#[tokio::test]
async fn polls_read_the_cursor_second_again_without_resending_and_page_in_batches() {
    let fake = fake().await;
    let ado = tracker(&fake);
    let mut keys = Vec::new();
    for n in 0..205 {
        keys.push(
            ado.create_item(
                PROJECT,
                &Item {
                    summary: format!("n{n}"),
                    labels: vec!["sync".into()],
                    ..Item::default()
                },
                &format!("o:{n}"),
            )
            .await
            .unwrap()
            .key,
        );
    }
    let all = poll_all(&ado, 0).await;
    assert_eq!(all.len(), 205);
    let batches: Vec<usize> = fake
        .exchanges()
        .iter()
        .filter(|e| e.template.ends_with("workitemsbatch"))
        .map(|e| {
            e.request
                .as_ref()
                .and_then(|r| r["ids"].as_array().map(Vec::len))
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(batches, [200, 5]);
    assert!(
        fake.exchanges()
            .iter()
            .filter(|e| e.template.ends_with("/wiql"))
            .all(|e| e.query.contains("timePrecision=true"))
    );
    // The cursor at the last item: the window reaches back to its second, but items
    // before the cursor inside that second are not returned again.
    let last = all.last().unwrap().clone();
    let again = poll_all(&ado, last.updated_ms).await;
    assert!(again.iter().all(|i| i.updated_ms >= last.updated_ms));
    assert!(again.iter().any(|i| i.key == last.key));
    // An edit later in the same second (or later) is found.
    ado.update_item(
        &keys[0],
        &ItemUpdate {
            summary: Some("edited".into()),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let again = poll_all(&ado, last.updated_ms).await;
    assert!(
        again
            .iter()
            .any(|i| i.key == keys[0] && i.summary == "edited")
    );
}

#[tokio::test]
async fn the_fake_refuses_what_azure_devops_refuses() {
    let fake = fake().await;
    let ado = tracker(&fake);
    let created = ado
        .create_item(PROJECT, &item("Strict"), "o:s")
        .await
        .unwrap();
    let path = format!("/_apis/wit/workitems/{}?api-version=7.1", created.key);
    let patch = json!([{"op": "add", "path": "/fields/System.Title", "value": "x"}]);
    let cases: Vec<(reqwest::Method, String, &str, Value, u16, &str)> = vec![
        (
            reqwest::Method::PATCH,
            path.clone(),
            "application/json",
            patch.clone(),
            415,
            "application/json-patch+json",
        ),
        (
            reqwest::Method::PATCH,
            format!("/_apis/wit/workitems/{}", created.key),
            "application/json-patch+json",
            patch.clone(),
            400,
            "api-version",
        ),
        (
            reqwest::Method::PATCH,
            path.clone(),
            "application/json-patch+json",
            json!([{"op": "add", "path": "/fields/System.Nope", "value": 1}]),
            400,
            "TF51535",
        ),
        (
            reqwest::Method::PATCH,
            path.clone(),
            "application/json-patch+json",
            json!([{"op": "test", "path": "/rev", "value": 99}]),
            412,
            "Test operation failed",
        ),
        (
            reqwest::Method::GET,
            format!(
                "/Fabrikam%20Fiber/_apis/wit/workItems/{}/comments?api-version=7.1",
                created.key
            ),
            "application/json",
            Value::Null,
            400,
            "preview",
        ),
        (
            reqwest::Method::POST,
            "/Fabrikam%20Fiber/_apis/wit/wiql?api-version=7.1".into(),
            "application/json",
            json!({"query": "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2026-01-01T10:00:00Z'"}),
            400,
            "date precision",
        ),
        (
            reqwest::Method::POST,
            "/Fabrikam%20Fiber/_apis/wit/workitemsbatch?api-version=7.1".into(),
            "application/json",
            json!({"ids": (1..=201).collect::<Vec<i64>>()}),
            400,
            "200",
        ),
        (
            reqwest::Method::GET,
            "/_apis/wit/workitems/12345?api-version=7.1".into(),
            "application/json",
            Value::Null,
            404,
            "TF401232",
        ),
    ];
    for (method, path, content_type, body, want, says) in cases {
        let (status, answer) = raw(&fake, method.clone(), &path, content_type, body).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        assert!(
            answer["message"].as_str().unwrap_or("").contains(says),
            "{path}: {answer}"
        );
    }
    // No token, or a wrong one: a bare 401.
    let r = reqwest::Client::new()
        .get(format!("{}{path}", fake.org_url()))
        .basic_auth("", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // An Entra bearer token works.
    let mut oauth = AdoConfig::with_pat(&fake.org_url(), PROJECT, "");
    oauth.pat = None;
    oauth.oauth_token = Some("entra-token".into());
    let oauth = AdoTracker::new("ado", oauth).unwrap();
    assert!(oauth.get_item(&created.key).await.unwrap().is_some());
}

#[tokio::test]
async fn rate_limits_become_waits() {
    let fake = fake().await;
    let ado = tracker(&fake);
    fake.inject([Fault::TooManyRequests(2)]);
    let err = ado.get_item("1").await.unwrap_err();
    assert_eq!(
        err,
        PortError::RateLimited {
            retry_after_ms: 2_000,
            refused: twinsync_ports::Refusal::Whole,
        }
    );
    // Held until the wait is over, without another call.
    let calls = fake.exchanges().len();
    assert!(matches!(
        ado.get_item("1").await,
        Err(PortError::RateLimited { .. })
    ));
    assert_eq!(fake.exchanges().len(), calls);
    assert!(ado.throttled_ms() >= 2_000);
}

#[tokio::test]
async fn service_hooks_are_registered_refreshed_and_verified() {
    let fake = fake().await;
    let ado = tracker(&fake);
    // A receiver that hands each delivery to the connector's check.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/ado/ado", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhooks/ado/ado",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let pairs: Vec<(String, String)> = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    let _ = tx.send((pairs, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert!(ado.register_webhook(&url).await.unwrap());
    assert!(
        ado.register_webhook(&url).await.unwrap(),
        "registering again rewrites, not duplicates"
    );
    let mut events = fake.subscribed_events();
    events.sort();
    assert_eq!(
        events,
        [
            "workitem.commented",
            "workitem.created",
            "workitem.deleted",
            "workitem.updated"
        ]
    );
    fake.disable_subscriptions();
    assert!(fake.subscribed_events().is_empty());
    assert!(ado.refresh_webhook(&url, 0).await.unwrap().is_some());
    assert_eq!(
        fake.subscribed_events().len(),
        twinsync_ado::webhook::EVENTS.len(),
        "re-enabled by the refresh"
    );

    let created = ado
        .create_item(PROJECT, &item("Hooked"), "o:h")
        .await
        .unwrap();
    ado.add_comment(&created.key, "hi", None, None)
        .await
        .unwrap();
    ado.get_item(&created.key).await.unwrap();
    ado.update_item(
        &created.key,
        &ItemUpdate {
            summary: Some("Hooked!".into()),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (headers, body) = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        let signals = ado.verify_webhook(&headers, &body, 0).unwrap();
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].item_key, created.key);
        assert_eq!(signals[0].project, PROJECT);
        seen.push(signals[0].version);
        // The same delivery with a wrong secret is refused.
        let forged: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k != "authorization")
            .map(|(k, v)| {
                if k == "x-twinsync-secret" {
                    (k.clone(), "guess".to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        assert!(ado.verify_webhook(&forged, &body, 0).is_err());
    }
    assert_eq!(
        seen,
        [1, 2, 3],
        "created, commented, updated, each at its rev"
    );
}

#[tokio::test]
async fn the_sync_status_is_one_hyperlink_kept_current() {
    use twinsync_ports::{SyncMark, SyncState};
    let fake = fake().await;
    let ado = tracker(&fake);
    let created = ado
        .create_item(PROJECT, &item("Linked"), "o:l")
        .await
        .unwrap();
    let id: i64 = created.key.parse().unwrap();
    let mark = |state, url: &str| SyncMark {
        state,
        twin_key: None,
        twin_url: Some(url.to_string()),
    };
    ado.show_sync(
        &created.key,
        &mark(SyncState::Synced, "https://jira.example/browse/D-1"),
    )
    .await
    .unwrap();
    let writes = || {
        fake.exchanges()
            .iter()
            .filter(|e| e.method == "PATCH")
            .count()
    };
    let after_first = writes();
    // The same status again writes nothing.
    ado.show_sync(
        &created.key,
        &mark(SyncState::Synced, "https://jira.example/browse/D-1"),
    )
    .await
    .unwrap();
    assert_eq!(writes(), after_first);
    ado.show_sync(
        &created.key,
        &mark(
            SyncState::Error("state Blocked is not one of the Task states".into()),
            "https://jira.example/browse/D-1",
        ),
    )
    .await
    .unwrap();
    let relations = fake.relations(id);
    assert_eq!(relations.len(), 1, "{relations:?}");
    assert_eq!(relations[0]["rel"], "Hyperlink");
    assert_eq!(relations[0]["url"], "https://jira.example/browse/D-1");
    assert_eq!(
        relations[0]["attributes"]["comment"],
        "twinsync: error: state Blocked is not one of the Task states"
    );
    ado.show_sync(
        &created.key,
        &SyncMark {
            state: SyncState::Unlinked,
            twin_key: None,
            twin_url: None,
        },
    )
    .await
    .unwrap();
    let relations = fake.relations(id);
    assert_eq!(
        (
            relations.len(),
            relations[0]["attributes"]["comment"].as_str()
        ),
        (1, Some("twinsync: unlinked"))
    );
    // Comments are never used for it.
    assert!(
        ado.get_item(&created.key)
            .await
            .unwrap()
            .unwrap()
            .comments
            .is_empty()
    );
}

/// A create the rate limit refused made nothing, and says so: its retry may create
/// without looking for the item by origin marker (`Tracker::create_refused_whole`).
#[tokio::test]
async fn a_create_refused_by_the_rate_limit_made_nothing() {
    let fake = fake().await;
    let ado = tracker(&fake);
    // The first create reads what later ones keep (the states, the identity).
    ado.create_item(PROJECT, &item("Warm"), "twinsync:c:W-1")
        .await
        .unwrap();
    fake.inject([Fault::TooManyRequests(1)]);
    let err = ado
        .create_item(PROJECT, &item("Held"), "twinsync:c:H-1")
        .await
        .unwrap_err();
    assert!(ado.create_refused_whole(&err), "{err}");
    let refused = fake.exchanges().pop().unwrap();
    assert_eq!((refused.method.as_str(), refused.status), ("POST", 429));
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let found = ado.find_by_origin(PROJECT, "twinsync:c:H-1").await.unwrap();
    assert_eq!(found, None);

    // A limit met by the identity's read after the POST (a new connector's first create,
    // of an item with no state to look up): the work item exists, so the error must not
    // say the create was refused whole, or its retry would make a second one.
    let fresh = tracker(&fake);
    let stateless = Item {
        status: None,
        ..item("Made")
    };
    fake.inject([Fault::Pass, Fault::TooManyRequests(1)]);
    let err = fresh
        .create_item(PROJECT, &stateless, "twinsync:c:M-1")
        .await
        .unwrap_err();
    assert_eq!(err.retry_after_ms(), Some(1_000), "{err}");
    assert!(!fresh.create_refused_whole(&err), "{err}");
    let refused = fake.exchanges().pop().unwrap();
    assert_eq!((refused.method.as_str(), refused.status), ("GET", 429));
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let found = fresh
        .find_by_origin(PROJECT, "twinsync:c:M-1")
        .await
        .unwrap();
    assert!(found.is_some(), "the work item was made");
}
