//! The Zendesk connector against the fake Zendesk: tickets, comments as public replies
//! and internal notes with markers that survive Zendesk's sanitizing, description and
//! comment edits as notes, uploads, safe updates against a concurrent agent edit,
//! closed tickets, the incremental cursor export with its own limit, webhooks made
//! through the API and verified, rate limits; and node-zendesk (the vendor's client
//! library) driving the fake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use twinsync_core::{Attachment, Item, ItemUpdate, Named, User};
use twinsync_fakes::zendesk::{FakeOptions, FakeZendesk, Fault};
use twinsync_ports::{PortError, SyncMark, SyncState, Tracker};
use twinsync_zendesk::{ZendeskConfig, ZendeskTracker};

const EMAIL: &str = "bot@example.com";
const TOKEN: &str = "zd-api-token";

fn options() -> FakeOptions {
    FakeOptions {
        groups: vec!["Support".into(), "Tier 2".into()],
        users: vec![
            (EMAIL.into(), "twinsync bot".into()),
            ("ana@example.com".into(), "Ana Lima".into()),
            ("carla@customer.example".into(), "Carla Customer".into()),
        ],
        end_users: vec!["carla@customer.example".into()],
        api_tokens: vec![(TOKEN.into(), EMAIL.into())],
        oauth_tokens: vec!["oauth-access-token".into()],
        custom_fields: vec!["Team".into()],
        ..FakeOptions::default()
    }
}

fn config(fake: &FakeZendesk) -> ZendeskConfig {
    ZendeskConfig::api_token(&fake.url, "Support", EMAIL, TOKEN)
}

fn tracker(fake: &FakeZendesk) -> ZendeskTracker {
    ZendeskTracker::new("zendesk", config(fake)).unwrap()
}

fn new_item(summary: &str) -> Item {
    Item {
        summary: summary.into(),
        description: "## Steps\n\nPay with **card**.".into(),
        status: Some(Named::new("open")),
        priority: Some(Named::new("high")),
        labels: vec!["sync".into(), "Two Words".into()],
        assignee: Some(User {
            email: "ana@example.com".into(),
            display_name: "Ana Lima".into(),
        }),
        reporter: Some(User {
            email: "carla@customer.example".into(),
            display_name: "Carla".into(),
        }),
        custom_fields: [
            ("Team".to_string(), json!("Payments")),
            ("type".to_string(), json!("incident")),
        ]
        .into(),
        ..Item::default()
    }
}

#[tokio::test]
async fn tickets_comments_notes_and_attachments_round_trip() {
    let fake = FakeZendesk::start("127.0.0.1:0", options()).await.unwrap();
    let zd = tracker(&fake);
    assert_eq!(zd.has_project("Support").await.unwrap(), Some(true));
    assert_eq!(zd.has_project("tier 2").await.unwrap(), Some(true));
    assert_eq!(zd.has_project("Nope").await.unwrap(), Some(false));

    let created = zd
        .create_item("", &new_item("Checkout fails"), "twinsync:jira:DEMO-1")
        .await
        .unwrap();
    let key = created.key.clone();
    assert_eq!(created.url, format!("{}/agent/tickets/{key}", fake.url));
    let item = zd.get_item(&key).await.unwrap().unwrap();
    assert_eq!(item.summary, "Checkout fails");
    assert_eq!(item.description, "## Steps\n\nPay with **card**.");
    assert_eq!(item.project, "Support");
    assert_eq!(item.status_name(), Some("open"));
    assert_eq!(item.priority_name(), Some("high"));
    assert_eq!(
        item.labels,
        ["sync", "two_words"],
        "Zendesk tags hold no spaces"
    );
    assert_eq!(item.assignee_email(), Some("ana@example.com"));
    assert_eq!(
        item.reporter.as_ref().map(|u| u.email.as_str()),
        Some("carla@customer.example")
    );
    assert_eq!(item.custom_fields.get("Team"), Some(&json!("Payments")));
    assert_eq!(item.custom_fields.get("type"), Some(&json!("incident")));
    assert_eq!(item.origin.as_deref(), Some("twinsync:jira:DEMO-1"));
    assert!(
        item.comments.is_empty(),
        "the first comment is the description"
    );
    // Found again by external_id, with the connector's tag.
    let again = zd
        .find_by_origin("Support", "twinsync:jira:DEMO-1")
        .await
        .unwrap();
    assert_eq!(again.map(|i| i.key), Some(key.clone()));
    assert_eq!(
        zd.find_by_origin("Support", "twinsync:jira:NOPE-1")
            .await
            .unwrap(),
        None
    );

    // Fields in one safe update; a new description is a note, read back as the description.
    zd.update_item(
        &key,
        &ItemUpdate {
            summary: Some("Checkout fails on card".into()),
            description: Some("Pay with a *saved* card.".into()),
            status: Some("pending".into()),
            assignee: Some(None),
            labels: Some(vec!["sync".into(), "mobile".into()]),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let item = zd.get_item(&key).await.unwrap().unwrap();
    assert_eq!(
        (
            item.summary.as_str(),
            item.description.as_str(),
            item.status_name(),
            item.assignee.is_none()
        ),
        (
            "Checkout fails on card",
            "Pay with a *saved* card.",
            Some("pending"),
            true
        )
    );
    assert_eq!(item.labels, ["sync", "mobile"]);
    let (_, _, tags) = fake.ticket(key.parse().unwrap()).unwrap();
    assert!(
        tags.contains(&"twinsync".to_string()),
        "the origin tag stays: {tags:?}"
    );
    let err = zd
        .update_item(
            &key,
            &ItemUpdate {
                status: Some("Blocked".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("not a Zendesk status")),
        "{err}"
    );

    // A public reply and an internal note, each with its origin marker, which survives
    // Zendesk's sanitizing (HTML comments would not).
    let reply = zd
        .add_comment(&key, "Seen on *mobile*.", None, Some("twinsync:jira:c1"))
        .await
        .unwrap();
    zd.add_comment(
        &key,
        "**Internal note:** Logs attached.",
        None,
        Some("twinsync:jira:c2"),
    )
    .await
    .unwrap();
    zd.update_comment(&key, &reply.id, "Seen on *mobile* and desktop.")
        .await
        .unwrap();
    let item = zd.get_item(&key).await.unwrap().unwrap();
    let got: Vec<(&str, Option<&str>)> = item
        .comments
        .iter()
        .map(|c| (c.body.as_str(), c.origin.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("Seen on *mobile*.", Some("twinsync:jira:c1")),
            (
                "**Internal note:** Logs attached.",
                Some("twinsync:jira:c2")
            ),
        ],
        "the edit note and the description note are Zendesk's only"
    );
    let stored = fake.comments(key.parse().unwrap());
    let visibility: Vec<bool> = stored.iter().map(|(_, public)| *public).collect();
    // Description (internal by default), description note, reply (internal: public
    // replies are off by default), internal note, edit note.
    assert_eq!(visibility, [false, false, false, false, false]);
    assert!(stored[4].0.contains("was edited on the twin") && stored[4].0.contains("and desktop"));

    // Public replies when the config asks for them.
    let public = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            public_replies: true,
            ..config(&fake)
        },
    )
    .unwrap();
    public
        .add_comment(&key, "We are on it.", None, Some("twinsync:jira:c3"))
        .await
        .unwrap();
    assert_eq!(
        fake.comments(key.parse().unwrap()).last().map(|c| c.1),
        Some(true)
    );

    // An attachment: uploaded for a token, attached with a note the domain does not see.
    let bytes = b"line 1\nline 2\n".to_vec();
    let up: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v2/uploads.json?filename=source.log",
            fake.url
        ))
        .basic_auth(format!("{EMAIL}/token"), Some(TOKEN))
        .header("content-type", "text/plain")
        .body(bytes.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = up["upload"]["attachment"]["content_url"]
        .as_str()
        .unwrap()
        .to_string();
    let copied = zd
        .add_attachment(
            &key,
            &Attachment {
                id: "a1".into(),
                filename: "crash.log".into(),
                mime_type: "text/plain".into(),
                size: bytes.len() as u64,
                url: source,
                remote_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (copied.filename.as_str(), copied.size),
        ("crash.log", bytes.len() as u64)
    );
    assert_eq!(copied.remote_id.as_deref(), Some("a1"));
    let item = zd.get_item(&key).await.unwrap().unwrap();
    assert_eq!(item.attachments.len(), 1);
    assert_eq!(
        item.comments.len(),
        3,
        "the attachment's note is not a comment"
    );
    let downloaded = reqwest::get(&item.attachments[0].url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.to_vec(), bytes);
    // Over the size cap: refused before any download.
    let small = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            attachment_max_bytes: 4,
            ..config(&fake)
        },
    )
    .unwrap();
    let err = small
        .add_attachment(
            &key,
            &Attachment {
                size: 14,
                ..copied.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("over this Zendesk's limit"),
        "{err}"
    );
}

#[tokio::test]
async fn safe_updates_refuse_a_stale_write_and_closed_tickets_say_why() {
    let fake = FakeZendesk::start("127.0.0.1:0", options()).await.unwrap();
    let zd = tracker(&fake);
    let key = zd
        .create_item("Support", &new_item("Race"), "o:1")
        .await
        .unwrap()
        .key;
    let id: u64 = key.parse().unwrap();

    // The fake refuses a stale stamp as Zendesk does.
    let stale = reqwest::Client::new()
        .put(format!("{}/api/v2/tickets/{id}.json", fake.url))
        .basic_auth(format!("{EMAIL}/token"), Some(TOKEN))
        .json(&json!({"ticket": {"subject": "x", "safe_update": true, "updated_stamp": "2001-01-01T00:00:00Z"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 409);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["error"], "UpdateConflict");

    // An agent edits the ticket between the connector's read and its write: the write
    // is a retryable conflict, and the agent's subject is not overwritten.
    let update = ItemUpdate {
        status: Some("hold".into()),
        ..ItemUpdate::default()
    };
    fake.inject([Fault::Pass, Fault::AgentEdit]);
    let err = zd.update_item(&key, &update).await.unwrap_err();
    assert!(
        matches!(&err, PortError::Conflict(_)) && err.is_retryable(),
        "{err}"
    );
    zd.update_item(&key, &update).await.unwrap();
    let item = zd.get_item(&key).await.unwrap().unwrap();
    assert_eq!(item.status_name(), Some("hold"));
    assert_eq!(item.summary, "Race (edited by an agent)");

    // A closed ticket refuses every update: an error that says so, not retried.
    fake.close(id);
    let err = zd
        .update_item(
            &key,
            &ItemUpdate {
                summary: Some("late".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("is closed"), "{err}");
    let err = zd
        .add_comment(&key, "late reply", None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is closed"), "{err}");
}

#[tokio::test]
async fn the_incremental_export_pages_filters_and_keeps_its_own_limit() {
    let fake = FakeZendesk::start(
        "127.0.0.1:0",
        FakeOptions {
            export_per_minute: 3,
            ..options()
        },
    )
    .await
    .unwrap();
    let zd = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            export_per_page: 2,
            // One a second: the pages follow each other within the budget's wait.
            export_per_minute: 60,
            ..config(&fake)
        },
    )
    .unwrap();
    let mut keys = Vec::new();
    for (n, status) in ["open", "solved", "pending", "new", "hold"]
        .iter()
        .enumerate()
    {
        let mut item = new_item(&format!("Ticket {n}"));
        item.status = Some(Named::new(*status));
        if n == 3 {
            item.labels = vec!["other".into()];
        }
        keys.push(
            zd.create_item("Support", &item, &format!("o:{n}"))
                .await
                .unwrap()
                .key,
        );
    }
    // Pages of two through the cursor until end_of_stream; the trigger's filter is
    // checked on each ticket (tags are labels).
    let query = "labels = sync AND status != solved";
    let mut found = Vec::new();
    let mut page = None;
    let mut pages = 0;
    loop {
        let result = zd.search_updated(query, 0, page).await.unwrap();
        pages += 1;
        found.extend(result.items.iter().map(|i| i.key.clone()));
        match result.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(found, [keys[0].clone(), keys[2].clone(), keys[4].clone()]);
    let exports = fake
        .exchanges()
        .into_iter()
        .filter(|e| e.template.starts_with("/api/v2/incremental"))
        .collect::<Vec<_>>();
    assert!(
        exports[0].query.contains("start_time="),
        "{}",
        exports[0].query
    );
    assert!(exports[1].query.contains("cursor="), "{}", exports[1].query);

    // Since a ticket's second: the tickets changed in that same second are still there.
    let first = zd.get_item(&keys[0]).await.unwrap().unwrap();
    let again = zd.search_updated("", first.updated_ms, None).await;
    // The fake allows three exports a minute: the fourth call within it is a 429 that
    // becomes a wait.
    match again {
        Err(PortError::RateLimited { retry_after_ms, .. }) => assert!(retry_after_ms >= 1_000),
        other => panic!("{other:?}"),
    }

    // The connector's own export budget holds requests before Zendesk has to refuse them.
    let fresh = FakeZendesk::start("127.0.0.1:0", options()).await.unwrap();
    let budgeted = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            export_per_minute: 1,
            ..config(&fresh)
        },
    )
    .unwrap();
    let made = budgeted
        .create_item("Support", &new_item("Same second"), "o:s")
        .await
        .unwrap();
    let item = budgeted.get_item(&made.key).await.unwrap().unwrap();
    let page = budgeted
        .search_updated("", item.updated_ms, None)
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        1,
        "the ticket of the cursor's own second is found"
    );
    assert!(matches!(
        budgeted.search_updated("", item.updated_ms, None).await,
        Err(PortError::RateLimited { .. })
    ));
    assert_eq!(
        fresh.exchanges().iter().filter(|e| e.status == 429).count(),
        0,
        "the budget kept the export inside Zendesk's limit"
    );
}

#[tokio::test]
async fn rate_limits_become_waits_and_auth_is_checked() {
    let fake = FakeZendesk::start("127.0.0.1:0", options()).await.unwrap();
    let zd = tracker(&fake);
    let key = zd
        .create_item("Support", &new_item("Limits"), "o:r")
        .await
        .unwrap()
        .key;
    fake.inject([Fault::TooManyRequests(3)]);
    match zd.get_item(&key).await {
        Err(PortError::RateLimited { retry_after_ms, .. }) => assert_eq!(retry_after_ms, 3_000),
        other => panic!("{other:?}"),
    }
    let seen = fake.exchanges().len();
    // Every further call waits out the same window, without reaching Zendesk.
    assert!(matches!(
        zd.get_item(&key).await,
        Err(PortError::RateLimited { .. })
    ));
    assert_eq!(fake.exchanges().len(), seen);
    assert!(zd.throttled_ms() >= 3_000);

    // An answer that says the window is used up holds the next requests until it resets.
    let limited = tracker(&fake);
    fake.inject([Fault::WindowExhausted(2)]);
    assert_eq!(limited.has_project("Support").await.unwrap(), Some(true));
    let seen = fake.exchanges().len();
    match limited.get_item(&key).await {
        Err(PortError::RateLimited { retry_after_ms, .. }) => {
            assert!(
                (1_000..=2_000).contains(&retry_after_ms),
                "{retry_after_ms}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.exchanges().len(), seen, "held back, not sent");

    // OAuth bearer tokens work; a wrong API token is refused for good.
    let oauth = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig::oauth(&fake.url, "Support", "oauth-access-token"),
    )
    .unwrap();
    assert!(oauth.get_item(&key).await.unwrap().is_some());
    let wrong = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig::api_token(&fake.url, "Support", EMAIL, "nope"),
    )
    .unwrap();
    let err = wrong.get_item(&key).await.unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("401")),
        "{err}"
    );
    assert_eq!(
        oauth.get_item("99999").await.unwrap(),
        None,
        "a 404 is no ticket"
    );
}

/// A tiny receiver for the fake's webhook deliveries: headers and body of each.
async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(Vec<(String, String)>, Vec<u8>)>,
) {
    use axum::routing::post;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let h = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    let _ = tx.send((h, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn webhooks_and_their_trigger_are_made_through_the_api_and_verified() {
    let fake = FakeZendesk::start("127.0.0.1:0", options()).await.unwrap();
    let zd = tracker(&fake);
    let (url, mut deliveries) = receiver().await;
    assert!(zd.register_webhook(&url).await.unwrap());
    // A restart registers again: found by endpoint and title, nothing made twice.
    let restarted = tracker(&fake);
    assert!(restarted.register_webhook(&url).await.unwrap());
    let count = |template: &str, method: &str| {
        fake.exchanges()
            .iter()
            .filter(|e| e.template.starts_with(template) && e.method == method)
            .count()
    };
    assert_eq!(
        (
            count("/api/v2/webhooks", "POST"),
            count("/api/v2/triggers", "POST")
        ),
        (1, 1)
    );
    let key = zd
        .create_item("Support", &new_item("Hooked"), "o:h")
        .await
        .unwrap()
        .key;
    let (headers, body) =
        tokio::time::timeout(std::time::Duration::from_secs(10), deliveries.recv())
            .await
            .unwrap()
            .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let signals = restarted.verify_webhook(&headers, &body, now).unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(
        (signals[0].item_key.as_str(), signals[0].project.as_str()),
        (key.as_str(), "Support")
    );
    // Tampered, or replayed after the window: refused.
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert!(restarted.verify_webhook(&headers, &tampered, now).is_err());
    assert!(
        restarted
            .verify_webhook(&headers, &body, now + 10 * 60_000)
            .is_err()
    );
    // An instance that never registered has no secret: deliveries are refused.
    let stranger = tracker(&fake);
    assert!(stranger.verify_webhook(&headers, &body, now).is_err());
}

/// node-zendesk, the vendor's client library, drives the fake: create, read, update,
/// comment, change status, page through the incremental export and the list, and read a
/// 404 and a 429 as the library reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_zendesk_talks_to_the_fake() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts");
    assert!(
        contracts.join("node_modules/node-zendesk").exists(),
        "node-zendesk is missing: run `npm ci --prefix tests/contracts` (scripts/test does)"
    );
    let fake = FakeZendesk::start(
        "127.0.0.1:0",
        FakeOptions {
            export_per_minute: 3,
            ..options()
        },
    )
    .await
    .unwrap();
    let out = tokio::process::Command::new("node")
        .arg(contracts.join("zendesk-client.mjs"))
        .args([&fake.url, EMAIL, TOKEN])
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(seen["id"].as_u64().is_some_and(|id| id > 0), "{seen}");
    seen["id"] = json!(0);
    assert_eq!(
        seen,
        json!({
            "id": 0, "subject": "From node-zendesk (edited)", "status": "solved",
            "comments": 3, "publicComments": 2, "exported": 5, "exportPages": 3,
            "listed": 5, "notFound": 404, "rateLimited": 429
        })
    );
    // The library's requests were the API's own paths.
    let templates: std::collections::BTreeSet<String> = fake
        .exchanges()
        .into_iter()
        .map(|e| format!("{} {}", e.method, e.template))
        .collect();
    for t in [
        "POST /api/v2/tickets.json",
        "GET /api/v2/tickets/{id}",
        "PUT /api/v2/tickets/{id}",
        "GET /api/v2/tickets/{id}/comments.json",
        "GET /api/v2/incremental/tickets/cursor.json",
        "GET /api/v2/tickets.json",
    ] {
        assert!(templates.contains(t), "{t} not in {templates:?}");
    }
}

/// Reads an item, waiting out the tracker's 429s.
async fn read(tracker: &dyn Tracker, key: &str) -> Item {
    for _ in 0..20 {
        match tracker.get_item(key).await {
            Ok(item) => return item.unwrap(),
            Err(e) => match e.retry_after_ms() {
                Some(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
                None => panic!("{key}: {e}"),
            },
        }
    }
    panic!("{key}: still rate limited");
}

/// Waits until the nodes' queues are empty and no webhook is on its way.
async fn settle(p: &twinsync_local::process::Process, zd: &FakeZendesk) {
    let nodes: Vec<_> = ["node-z", "node-s"]
        .iter()
        .filter_map(|n| p.node(n).cloned())
        .collect();
    let mut hooks = p.webhooks();
    hooks.push(zd.webhooks());
    assert!(
        twinsync_local::quiet::wait_quiet(&nodes, &hooks, std::time::Duration::from_secs(90)).await,
        "the nodes did not settle"
    );
}

async fn agent(zd: &FakeZendesk, method: reqwest::Method, path: &str, body: Value) -> Value {
    let email = "ana@example.com";
    for _ in 0..10 {
        let resp = reqwest::Client::new()
            .request(method.clone(), format!("{}/api/v2{path}", zd.url))
            .basic_auth(
                format!("{email}/token"),
                Some(twinsync_cli::demo::zendesk::setup::person_token(email)),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        if resp.status().as_u16() == 429 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        return resp.json().await.unwrap();
    }
    panic!("{path}: still rate limited");
}

/// Zendesk and a sandbox through two nodes: a burst of tickets under 429s, comments both
/// ways (public reply and internal note), a status change, a concurrent agent edit that
/// makes the node's safe update conflict (retried, nothing overwritten), and a node
/// restart that misses webhooks and catches up through the incremental export.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zendesk_and_a_sandbox_sync_through_limits_conflicts_and_a_restart() {
    use twinsync_cli::demo::zendesk::setup::{GROUP, sandbox_config, start_zendesk};
    use twinsync_local::process::{Process, ProcessOptions};
    let zd = start_zendesk(twinsync_tls::Transport::Plain, 7)
        .await
        .unwrap();
    let cfg = sandbox_config(&zd.url);
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let group = zd.group_id(GROUP).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let t = agent(
            &zd,
            reqwest::Method::POST,
            "/tickets.json",
            json!({"ticket": {"subject": format!("Burst {i}"), "tags": ["sync"], "group_id": group,
                "comment": {"html_body": "<p>Printer on <strong>fire</strong></p>"}}}),
        )
        .await;
        ids.push(t["ticket"]["id"].as_u64().unwrap().to_string());
    }
    agent(
        &zd,
        reqwest::Method::PUT,
        &format!("/tickets/{}.json", ids[0]),
        json!({"ticket": {"comment": {"body": "A public reply", "public": true}}}),
    )
    .await;
    agent(
        &zd,
        reqwest::Method::PUT,
        &format!("/tickets/{}.json", ids[0]),
        json!({"ticket": {"comment": {"body": "An internal note", "public": false}}}),
    )
    .await;
    settle(&p, &zd).await;
    let node_z = p.node("node-z").unwrap().clone();
    let sandbox = p.node("node-s").unwrap().tracker("sandbox").unwrap();
    let mut twins = Vec::new();
    for id in &ids {
        let twin = node_z
            .twins
            .find_by_local("demo", id)
            .await
            .unwrap()
            .unwrap();
        let remote = twin.remote_key.clone();
        twins.push(remote.unwrap_or_else(|| panic!("{id} has no twin: {twin:?}")));
    }
    // Each ticket shows it is synced, with its twin's link, in Zendesk's own idiom: a
    // tag and the sync field (one write per change of state, not per change).
    // Under this many 429s a mark may still be waiting out a limit in the background.
    let first: u64 = ids[0].parse().unwrap();
    crate::support::until("the sync mark", 30, async || {
        let tagged = zd
            .ticket(first)
            .is_some_and(|(_, _, tags)| tags.contains(&"twinsync_synced".to_string()));
        let linked = zd.field(first, "Twin").is_some_and(|v| {
            v.as_str()
                .is_some_and(|v| v.starts_with("synced: http") && v.contains(&twins[0]))
        });
        tagged && linked
    })
    .await;
    let z0 = read(node_z.tracker("zendesk").unwrap().as_ref(), &ids[0]).await;
    assert!(
        !z0.custom_fields.contains_key("Twin"),
        "the sync field is not synced"
    );
    assert!(
        !z0.labels.iter().any(|l| l.starts_with("twinsync")),
        "{:?}",
        z0.labels
    );
    let s0 = sandbox.get_item(&twins[0]).await.unwrap().unwrap();
    assert_eq!(s0.summary, "Burst 0");
    assert_eq!(s0.description, "Printer on **fire**");
    let bodies: Vec<&str> = s0.comments.iter().map(|c| c.body.as_str()).collect();
    assert!(
        bodies.iter().any(|b| b.ends_with("A public reply")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("**Internal note:** An internal note")),
        "{bodies:?}"
    );
    assert!(
        zd.exchanges().iter().any(|e| e.status == 429),
        "the burst met 429s"
    );

    // A comment on the sandbox side reaches Zendesk as an internal note; a sandbox
    // change races an agent's edit: the node's safe update conflicts and is retried.
    sandbox
        .add_comment(&twins[1], "Seen in the sandbox", None, None)
        .await
        .unwrap();
    zd.agent_edits_before_next_update(ids[2].parse().unwrap());
    sandbox
        .update_item(
            &twins[2],
            &ItemUpdate {
                priority: Some("Highest".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
    settle(&p, &zd).await;
    let notes = zd.comments(ids[1].parse().unwrap());
    assert!(
        notes
            .iter()
            .any(|(b, public)| b.contains("Seen in the sandbox") && !public),
        "{notes:?}"
    );
    assert!(
        zd.exchanges().iter().any(|e| e.status == 409),
        "the race was a conflict"
    );
    let z2 = read(node_z.tracker("zendesk").unwrap().as_ref(), &ids[2]).await;
    assert_eq!(
        z2.priority_name(),
        Some("urgent"),
        "the sandbox's change landed after the retry"
    );
    assert_eq!(
        z2.summary, "Burst 2 (edited by an agent)",
        "the agent's edit is kept"
    );
    let s2 = sandbox.get_item(&twins[2]).await.unwrap().unwrap();
    assert_eq!(s2.summary, "Burst 2 (edited by an agent)");

    // The node stops; an agent works meanwhile; the node comes back and catches up.
    p.stop().await;
    agent(&zd, reqwest::Method::PUT, &format!("/tickets/{}.json", ids[3]),
        json!({"ticket": {"status": "pending", "comment": {"body": "Waiting on the customer", "public": true}}})).await;
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let sandbox = p.node("node-s").unwrap().tracker("sandbox").unwrap();
    let mut caught_up = false;
    for _ in 0..120 {
        let s3 = sandbox.get_item(&twins[3]).await.unwrap().unwrap();
        if s3.status_name() == Some("In Progress") && s3.comments.len() == 1 {
            caught_up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        caught_up,
        "the restarted node caught up with the change it missed"
    );
    settle(&p, &zd).await;
    // Nothing was duplicated on either side.
    let origins: Vec<String> = zd.external_ids().into_iter().flatten().collect();
    assert!(
        origins.is_empty(),
        "no ticket was created from the sandbox: {origins:?}"
    );
    assert_eq!(zd.ticket_count(None), 6);
    let mut page = sandbox.search_updated("", 0, None).await.unwrap();
    let mut items = page.items.len();
    while let Some(next) = page.next.take() {
        page = sandbox.search_updated("", 0, Some(next)).await.unwrap();
        items += page.items.len();
    }
    assert_eq!(items, 6);
    p.stop().await;
}

/// The Zendesk demos converge with no duplicates: with the fake Jira over HTTPS (both
/// fakes with certificates from a CA made at start) and with a sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_zendesk_demos_converge_over_https_and_through_rate_limits() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            "twinsync_node=debug,twinsync_zendesk=debug,twinsync_store=warn,twinsync_jira=debug",
        )
        .try_init();
    for (pair, other) in [
        (
            twinsync_cli::demo::Pair::ZendeskJira,
            twinsync_cli::demo::zendesk::Other::Jira,
        ),
        (
            twinsync_cli::demo::Pair::ZendeskSandbox,
            twinsync_cli::demo::zendesk::Other::Sandbox,
        ),
    ] {
        let args = twinsync_cli::demo::DemoArgs {
            items: 12,
            json: true,
            data_dir: None,
            pair,
        };
        let report = twinsync_cli::demo::zendesk::scenario(&args, other)
            .await
            .unwrap();
        assert!(
            report.converged,
            "{pair:?}: {:#?} {:#?}",
            report.mismatches, report.steps
        );
        assert_eq!(
            (report.items_a_to_b, report.duplicates),
            (12, 0),
            "{pair:?}"
        );
        assert!(
            report.comments_synced >= 24,
            "{pair:?}: {}",
            report.comments_synced
        );
    }
}

/// Over HTTPS with a private CA: trusted through `ca_file`, refused without it.
#[tokio::test]
async fn https_with_a_private_ca() {
    let ca = twinsync_tls::test_ca::TestCa::new("zendesk CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_ca(dir.path());
    let fake = FakeZendesk::start_on(
        "127.0.0.1:0",
        options(),
        twinsync_tls::Transport::Tls(ca.loopback_server()),
    )
    .await
    .unwrap();
    assert!(fake.url.starts_with("https://"));
    let trusting = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            ca_file: Some(ca_file),
            ..config(&fake)
        },
    )
    .unwrap();
    let key = trusting
        .create_item("Support", &new_item("Over TLS"), "o:t")
        .await
        .unwrap()
        .key;
    assert!(trusting.get_item(&key).await.unwrap().is_some());
    let err = tracker(&fake).get_item(&key).await.unwrap_err();
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("certificate") || m.contains("issuer")),
        "{err}"
    );
}

#[tokio::test]
async fn the_sync_state_shows_as_a_tag_and_in_the_sync_field() {
    let fake = FakeZendesk::start(
        "127.0.0.1:0",
        FakeOptions {
            custom_fields: vec!["Team".into(), "Twin".into()],
            ..options()
        },
    )
    .await
    .unwrap();
    let zd = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            sync_field: Some("Twin".into()),
            ..config(&fake)
        },
    )
    .unwrap();
    // The sync field is checked when the node starts: a title the instance lacks is refused.
    zd.check_setup().await.unwrap();
    let missing = ZendeskTracker::new(
        "zendesk",
        ZendeskConfig {
            sync_field: Some("Twin link".into()),
            ..config(&fake)
        },
    )
    .unwrap();
    match missing.check_setup().await {
        Err(PortError::Rejected(why)) => assert!(why.contains("\"Twin link\""), "{why}"),
        other => panic!("{other:?}"),
    }
    let key = zd
        .create_item("Support", &new_item("Marked"), "o:m")
        .await
        .unwrap()
        .key;
    let id: u64 = key.parse().unwrap();
    let cases = [
        (
            SyncMark {
                state: SyncState::Synced,
                twin_key: Some("DEMO-1".into()),
                twin_url: Some("https://x.atlassian.net/browse/DEMO-1".into()),
            },
            Some("twinsync_synced"),
            "synced: https://x.atlassian.net/browse/DEMO-1",
        ),
        (
            SyncMark {
                state: SyncState::Error("no transition to Blocked".into()),
                twin_key: None,
                twin_url: None,
            },
            Some("twinsync_error"),
            "error: no transition to Blocked",
        ),
        (
            SyncMark {
                state: SyncState::Unlinked,
                twin_key: None,
                twin_url: None,
            },
            None,
            "unlinked",
        ),
    ];
    for (mark, tag, field) in cases {
        zd.show_sync(&key, &mark).await.unwrap();
        let (_, _, tags) = fake.ticket(id).unwrap();
        let own: Vec<&str> = tags
            .iter()
            .map(String::as_str)
            .filter(|t| *t == "twinsync_synced" || *t == "twinsync_error")
            .collect();
        assert_eq!(own, tag.into_iter().collect::<Vec<_>>(), "{mark:?}");
        assert!(tags.contains(&"twinsync".to_string()) && tags.contains(&"sync".to_string()));
        assert_eq!(fake.field(id, "Twin"), Some(json!(field)));
    }
    // The state is not part of the item: no label, no custom field.
    let item = zd.get_item(&key).await.unwrap().unwrap();
    assert_eq!(item.labels, ["sync", "two_words"]);
    assert!(!item.custom_fields.contains_key("Twin"));
    // A closed ticket cannot show it: an error that says why.
    fake.close(id);
    let synced_again = SyncMark {
        state: SyncState::Synced,
        twin_key: None,
        twin_url: Some("https://x.atlassian.net/browse/DEMO-1".into()),
    };
    let err = zd.show_sync(&key, &synced_again).await.unwrap_err();
    assert!(err.to_string().contains("is closed"), "{err}");
}

/// Zendesk redacts instead of deleting: a public reply an agent redacts whole is deleted
/// on the sandbox (its node's policy is `delete`), and a sandbox comment deleted is
/// redacted whole in Zendesk; neither comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redacted_comment_is_removed_and_a_removal_redacts() {
    use twinsync_cli::demo::zendesk::setup::{GROUP, sandbox_config, start_zendesk};
    use twinsync_local::process::{Process, ProcessOptions};
    let zd = start_zendesk(twinsync_tls::Transport::Plain, 0)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &sandbox_config(&zd.url),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    for node in ["node-z", "node-s"] {
        crate::support::delete_removals(p.node(node).unwrap(), "demo").await;
    }
    let group = zd.group_id(GROUP).unwrap();
    let t = agent(
        &zd,
        reqwest::Method::POST,
        "/tickets.json",
        json!({"ticket": {"subject": "Card declined", "tags": ["sync"], "group_id": group,
            "comment": {"body": "The customer cannot pay"}}}),
    )
    .await;
    let id = t["ticket"]["id"].as_u64().unwrap().to_string();
    agent(
        &zd,
        reqwest::Method::PUT,
        &format!("/tickets/{id}.json"),
        json!({"ticket": {"comment": {"body": "Card 4111 1111 1111 1111", "public": true}}}),
    )
    .await;
    settle(&p, &zd).await;
    let node_z = p.node("node-z").unwrap().clone();
    let sandbox = p.node("node-s").unwrap().tracker("sandbox").unwrap();
    let twin = node_z
        .twins
        .find_by_local("demo", &id)
        .await
        .unwrap()
        .unwrap();
    let key = twin.remote_key.unwrap();
    let bodies = async |key: &str| -> Vec<String> {
        read(sandbox.as_ref(), key)
            .await
            .comments
            .into_iter()
            .map(|c| c.body)
            .collect()
    };
    assert!(
        bodies(&key).await.iter().any(|b| b.contains("4111")),
        "{:?}",
        bodies(&key).await
    );

    // The agent redacts the card number, the whole reply: gone on the sandbox too.
    let comments = agent(
        &zd,
        reqwest::Method::GET,
        &format!("/tickets/{id}/comments.json"),
        Value::Null,
    )
    .await;
    let reply = comments["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["body"] == "Card 4111 1111 1111 1111")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    agent(
        &zd,
        reqwest::Method::PUT,
        &format!("/tickets/{id}/comments/{reply}/redact.json"),
        json!({"text": "Card 4111 1111 1111 1111"}),
    )
    .await;
    crate::support::until(
        "the redacted reply deleted on the sandbox",
        60,
        async || !bodies(&key).await.iter().any(|b| b.contains("4111")),
    )
    .await;

    // A sandbox comment deleted is redacted whole in Zendesk.
    let added = sandbox
        .add_comment(&key, "Call them back at 555-0100", None, None)
        .await
        .unwrap();
    let in_zendesk = async || -> Vec<String> {
        let c = agent(
            &zd,
            reqwest::Method::GET,
            &format!("/tickets/{id}/comments.json"),
            Value::Null,
        )
        .await;
        c["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["body"].as_str().unwrap_or("").to_string())
            .collect()
    };
    crate::support::until("the sandbox comment in Zendesk", 60, async || {
        in_zendesk().await.iter().any(|b| b.contains("555-0100"))
    })
    .await;
    settle(&p, &zd).await;
    sandbox.delete_comment(&key, &added.id).await.unwrap();
    crate::support::until("the comment redacted in Zendesk", 60, async || {
        !in_zendesk().await.iter().any(|b| b.contains("555-0100"))
    })
    .await;
    settle(&p, &zd).await;
    assert!(
        !bodies(&key)
            .await
            .iter()
            .any(|b| b.contains("555-0100") || b.contains("4111"))
    );
    assert!(
        in_zendesk()
            .await
            .iter()
            .any(|b| twinsync_zendesk::mapping::is_redacted(b))
    );
    // The sandbox item deleted: the ticket is deleted in Zendesk.
    sandbox.delete_item(&key).await.unwrap();
    let zendesk = p.node("node-z").unwrap().tracker("zendesk").unwrap();
    crate::support::until("the ticket deleted in Zendesk", 60, async || {
        zendesk.get_item(&id).await.unwrap().is_none()
    })
    .await;
    p.stop().await;
}

/// A create the rate limit refused made nothing, and says so: its retry may create
/// without looking for the ticket by origin marker (`Tracker::create_refused_whole`).
#[tokio::test]
async fn a_create_refused_by_the_rate_limit_made_nothing() {
    let fake = FakeZendesk::start("127.0.0.1:0", options()).await.unwrap();
    let zd = tracker(&fake);
    // The first create reads what later ones keep (groups, users, fields).
    zd.create_item("Support", &new_item("Warm"), "twinsync:c:W-1")
        .await
        .unwrap();
    fake.inject([Fault::TooManyRequests(1)]);
    let err = zd
        .create_item("Support", &new_item("Held"), "twinsync:c:H-1")
        .await
        .unwrap_err();
    assert!(zd.create_refused_whole(&err), "{err}");
    let refused = fake.exchanges().pop().unwrap();
    assert_eq!((refused.method.as_str(), refused.status), ("POST", 429));
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let found = zd
        .find_by_origin("Support", "twinsync:c:H-1")
        .await
        .unwrap();
    assert_eq!(found, None);
}
