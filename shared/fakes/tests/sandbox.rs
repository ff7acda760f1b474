//! The sandbox tracker through its REST API and the connector, over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use twinsync_core::{Attachment, Item, ItemUpdate, Named, User};
use twinsync_fakes::sandbox::testing;
use twinsync_fakes::sandbox::{RateLimit, SandboxServerConfig};
use twinsync_ports::{PortError, Tracker};

fn item(summary: &str, labels: &[&str]) -> Item {
    Item {
        summary: summary.into(),
        description: "**bold**".into(),
        status: Some(Named::new("Open")),
        priority: Some(Named::new("High")),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        assignee: Some(User {
            email: "ana@example.com".into(),
            display_name: "Ana".into(),
        }),
        ..Item::default()
    }
}

#[tokio::test]
async fn items_round_trip_through_the_connector() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let created = t
        .create_item("DEMO", &item("First", &["sync"]), "twinsync:c:X-1")
        .await
        .unwrap();
    assert_eq!(created.key, "DEMO-1");
    assert_eq!(created.version, 1);
    assert_eq!(created.origin.as_deref(), Some("twinsync:c:X-1"));
    let got = t.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(got.summary, "First");
    assert_eq!(got.assignee_email(), Some("ana@example.com"));
    assert_eq!(t.get_item("DEMO-99").await.unwrap(), None);

    let updated = t
        .update_item(
            "DEMO-1",
            &ItemUpdate {
                status: Some("Done".into()),
                assignee: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.status_name(), Some("Done"));
    assert_eq!(updated.assignee, None);
    assert_eq!(updated.version, 2);
    assert!(updated.updated_ms > created.updated_ms);
    // A no-op update records nothing.
    let same = t
        .update_item(
            "DEMO-1",
            &ItemUpdate {
                status: Some("Done".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(same.version, 2);

    let c = t
        .add_comment(
            "DEMO-1",
            "hello",
            Some(&User {
                email: "bo@x".into(),
                display_name: "Bo".into(),
            }),
            Some("twinsync:c:9"),
        )
        .await
        .unwrap();
    t.update_comment("DEMO-1", &c.id, "hello, edited")
        .await
        .unwrap();
    t.add_attachment(
        "DEMO-1",
        &Attachment {
            filename: "log.txt".into(),
            size: 3,
            url: "http://x/log".into(),
            ..Attachment::default()
        },
    )
    .await
    .unwrap();
    let got = t.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(got.version, 5, "comments and attachments bump the version");
    assert_eq!(got.comments[0].body, "hello, edited");
    assert_eq!(got.comments[0].origin.as_deref(), Some("twinsync:c:9"));
    assert_eq!(got.attachments[0].filename, "log.txt");

    assert_eq!(
        t.find_by_origin("DEMO", "twinsync:c:X-1")
            .await
            .unwrap()
            .map(|i| i.key),
        Some("DEMO-1".into())
    );
    assert_eq!(
        t.find_by_origin("DEMO", "twinsync:c:nope").await.unwrap(),
        None
    );
    sb.stop().await;
}

#[tokio::test]
async fn validation_errors_are_clear() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let table: Vec<(Item, &str, &str)> = vec![
        (
            Item {
                status: Some(Named::new("Nope")),
                ..item("x", &[])
            },
            "DEMO",
            "unknown status \"Nope\" (allowed: Open, In Progress, Done)",
        ),
        (
            Item {
                priority: Some(Named::new("Urgent")),
                ..item("x", &[])
            },
            "DEMO",
            "unknown priority",
        ),
        (item("", &[]), "DEMO", "summary is required"),
        (item("x", &[]), "NOPE", "unknown project"),
    ];
    for (it, project, want) in table {
        match t.create_item(project, &it, "").await {
            Err(PortError::Rejected(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{want}: {other:?}"),
        }
    }
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/items", sb.base_url))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .patch(format!("{}/api/items/DEMO-1", sb.base_url))
        .json(&json!({"summary": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    t.create_item("DEMO", &item("x", &[]), "").await.unwrap();
    let resp = http
        .patch(format!("{}/api/items/DEMO-1", sb.base_url))
        .json(&json!({"colour": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field \"colour\""),
        "{body}"
    );
    let resp = http
        .get(format!(
            "{}/api/items?filter=colour%20%3D%20red",
            sb.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field \"colour\""),
        "{body}"
    );
    sb.stop().await;
}

#[tokio::test]
async fn listing_filters_pages_and_is_inclusive_of_since() {
    let sb = testing::start(&["DEMO", "OPS"]).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    for i in 0..130 {
        let labels: &[&str] = if i % 2 == 0 { &["sync"] } else { &["other"] };
        t.create_item(
            if i % 5 == 0 { "OPS" } else { "DEMO" },
            &item(&format!("item {i}"), labels),
            "",
        )
        .await
        .unwrap();
    }
    let mut all = Vec::new();
    let mut page = None;
    loop {
        let p = t.search_updated("", 0, page).await.unwrap();
        all.extend(p.items);
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(all.len(), 130, "every item once across pages");
    let mut keys: Vec<_> = all.iter().map(|i| i.key.clone()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 130);
    assert!(
        all.windows(2)
            .all(|w| (w[0].updated_ms, &w[0].key) < (w[1].updated_ms, &w[1].key))
    );

    let filtered = t
        .search_updated("project = DEMO AND labels = sync", 0, None)
        .await
        .unwrap();
    assert!(
        filtered
            .items
            .iter()
            .all(|i| i.project == "DEMO" && i.labels.contains(&"sync".to_string()))
    );
    assert_eq!(filtered.items.len(), 52);

    let pivot = &all[64];
    let since = t.search_updated("", pivot.updated_ms, None).await.unwrap();
    assert!(
        since.items.iter().any(|i| i.key == pivot.key),
        "updatedSince is inclusive"
    );
    assert!(since.items.iter().all(|i| i.updated_ms >= pivot.updated_ms));
    sb.stop().await;
}

#[tokio::test]
async fn token_auth_and_rate_limits() {
    let sb = testing::start_with(
        &["DEMO"],
        SandboxServerConfig {
            token: Some("tok-1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let good = testing::tracker("sb", &sb, "sandbox-secret-0123", Some("tok-1")).unwrap();
    let bad = testing::tracker("sb", &sb, "sandbox-secret-0123", Some("wrong")).unwrap();
    good.create_item("DEMO", &item("x", &[]), "").await.unwrap();
    match bad.get_item("DEMO-1").await {
        Err(PortError::Rejected(m)) => {
            assert!(m.contains("401") && m.contains("bearer token"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    sb.stop().await;

    let sb = testing::start_with(
        &["DEMO"],
        SandboxServerConfig {
            rate_limit: Some(RateLimit {
                per_minute: 120,
                burst: 2,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let mut limited = None;
    for _ in 0..10 {
        if let Err(e) = t.get_item("DEMO-1").await {
            limited = Some(e);
            break;
        }
    }
    assert!(
        matches!(limited, Some(PortError::RateLimited { retry_after_ms, .. }) if retry_after_ms >= 1000),
        "{limited:?}"
    );
    // The burst of two (the project and one read) passed; the next read was refused.
    let counts = sb.requests.counts();
    assert_eq!(counts.refused, 1, "{counts:?}");
    sb.stop().await;
}

/// A sandbox instance with a budget: a 429 holds every later call for its Retry-After
/// without asking the server again (a rate-limited server counts refused calls too), and
/// a budget of zero is refused with the key that says so.
#[tokio::test]
async fn a_budget_holds_later_calls_after_a_429() {
    let sb = testing::start_with(
        &["DEMO"],
        SandboxServerConfig {
            rate_limit: Some(RateLimit {
                per_minute: 60,
                burst: 2,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let config = |burst| twinsync_sandbox::SandboxConfig {
        base_url: sb.base_url.clone(),
        token: None,
        webhook_secret: "sandbox-secret-0123".into(),
        project: None,
        ca_file: None,
        budget: Some(twinsync_sandbox::Budget {
            requests_per_minute: 600,
            burst,
        }),
    };
    let err = twinsync_sandbox::SandboxTracker::new("sb", config(0)).unwrap_err();
    assert!(err.to_string().contains("burst must be above 0"), "{err}");
    let t = twinsync_sandbox::SandboxTracker::new("sb", config(10)).unwrap();
    // The project took one of the server's two; the first read the other.
    assert!(t.get_item("DEMO-1").await.is_ok());
    let refused = t.get_item("DEMO-1").await;
    assert!(
        matches!(refused, Err(PortError::RateLimited { retry_after_ms, .. }) if retry_after_ms >= 1000),
        "{refused:?}"
    );
    let held = t.get_item("DEMO-1").await;
    assert!(
        matches!(held, Err(PortError::RateLimited { .. })),
        "{held:?}"
    );
    assert_eq!(sb.requests.counts().refused, 1, "the held call never left");
    assert!(t.throttled_ms() >= 1000, "{}", t.throttled_ms());
    sb.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxServerConfig {
        db_path: Some(dir.path().join("sb.db")),
        ..Default::default()
    };
    let sb = testing::start_with(&["DEMO"], config.clone())
        .await
        .unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    t.create_item("DEMO", &item("kept", &[]), "").await.unwrap();
    sb.stop().await;
    let sb = testing::start_with(&[], config).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    assert_eq!(t.get_item("DEMO-1").await.unwrap().unwrap().summary, "kept");
    assert_eq!(
        t.create_item("DEMO", &item("next", &[]), "")
            .await
            .unwrap()
            .key,
        "DEMO-2"
    );
    sb.stop().await;
}

#[tokio::test]
async fn webhooks_arrive_signed_and_verify() {
    type Delivery = (Vec<(String, String)>, Vec<u8>);
    let received: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let h = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                sink.lock().unwrap().push((h, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sb = testing::start(&["DEMO"]).await.unwrap();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/webhooks", sb.base_url))
        .json(&json!({"url": hook_url, "secret": "hook-secret-0123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let t = testing::tracker("sb", &sb, "hook-secret-0123456", None).unwrap();
    t.create_item("DEMO", &item("hooked", &[]), "")
        .await
        .unwrap();
    t.add_comment("DEMO-1", "c", None, None).await.unwrap();
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let versions: Vec<u64> = got
        .iter()
        .map(|(h, b)| t.verify_webhook(h, b, now).unwrap()[0].version)
        .collect();
    assert_eq!(versions, vec![1, 2], "delivered in order");
    let other = testing::tracker("sb", &sb, "not-the-secret-0123", None).unwrap();
    assert!(other.verify_webhook(&got[0].0, &got[0].1, now).is_err());
    sb.stop().await;
}

/// A create may carry the item's `sync` field, checked as `PUT /api/items/{key}/sync`
/// checks it; a bad one refuses the create, and no item is made.
#[tokio::test]
async fn a_create_may_carry_the_sync_field() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let http = reqwest::Client::new();
    let create = |sync: serde_json::Value| {
        http.post(format!("{}/api/items", sb.base_url))
            .json(&json!({"project": "DEMO", "summary": "s", "sync": sync}))
            .send()
    };
    // (the sync field, the answer's status, what the error says)
    let refused = [
        (json!({"status": "fine"}), "is not one of syncing"),
        (
            json!({"status": "error"}),
            "reason is given with status error",
        ),
        (
            json!({"status": "synced", "reason": "x"}),
            "reason is given",
        ),
        (
            json!({"status": "synced", "colour": 1}),
            "unknown field `colour`",
        ),
        (json!("synced"), "sync:"),
    ];
    for (sync, want) in refused {
        let resp = create(sync.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{sync}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{sync}: {error}");
    }
    let listed: serde_json::Value = http
        .get(format!("{}/api/items", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]), "a refused create makes nothing");

    let made = json!({"status": "synced", "twinKey": "SUPPORT-1", "twinUrl": "https://b/1"});
    let resp = create(made).await.unwrap();
    assert_eq!(resp.status(), 201);
    let item: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(item["version"], 1, "shown with the create, not after it");
    assert_eq!(item["sync"]["status"], "synced");
    assert_eq!(item["sync"]["twinKey"], "SUPPORT-1");
    let resp = create(serde_json::Value::Null).await.unwrap();
    assert_eq!(resp.status(), 201, "no sync field is none");
    sb.stop().await;
}

/// An update may name the version it was planned on (`If-Match: "N"`, as HTTP's entity
/// tags): once anything moved the item past it, the update is refused with 412 and
/// writes nothing, and the connector says so as a lost race (`PortError::Conflict`).
#[tokio::test]
async fn an_update_holds_its_if_match_version() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let http = reqwest::Client::new();
    t.create_item("DEMO", &item("First", &[]), "")
        .await
        .unwrap();
    let summary = |s: &str| ItemUpdate {
        summary: Some(s.into()),
        ..Default::default()
    };
    let second = t
        .update_item_if("DEMO-1", 1, &summary("Second"))
        .await
        .unwrap();
    assert_eq!((second.summary.as_str(), second.version), ("Second", 2));
    t.add_comment("DEMO-1", "a comment moves the version", None, None)
        .await
        .unwrap();
    // (the version named, what is refused and why)
    for stale in [2, 1, 99] {
        let refused = t.update_item_if("DEMO-1", stale, &summary("Lost")).await;
        assert!(
            matches!(&refused, Err(PortError::Conflict(why)) if why.contains("is at version 3")),
            "v{stale}: {refused:?}"
        );
    }
    assert_eq!(
        t.get_item("DEMO-1").await.unwrap().unwrap().summary,
        "Second"
    );
    let gone = t.update_item_if("DEMO-9", 1, &summary("x")).await;
    assert!(matches!(gone, Err(PortError::NotFound(_))), "{gone:?}");
    // The header as HTTP writes it: a strong tag, or `*` for any version.
    let patch = |tag: &str| {
        http.patch(format!("{}/api/items/DEMO-1", sb.base_url))
            .header("if-match", tag)
            .json(&json!({"description": tag}))
            .send()
    };
    let answers = [
        ("W/\"3\"", 400),
        ("3", 400),
        ("\"3\", \"4\"", 400),
        ("\"three\"", 400),
        ("\"3\"", 200),
        ("\"3\"", 412),
        ("*", 200),
    ];
    for (tag, status) in answers {
        assert_eq!(
            patch(tag).await.unwrap().status(),
            status,
            "If-Match: {tag}"
        );
    }
    let item = t.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!((item.description.as_str(), item.version), ("*", 5));
    sb.stop().await;
}

/// A comment's add takes the same `If-Match` as an update, and with `?answer=item`
/// answers with the comment and the whole item as it left it (version included).
#[tokio::test]
async fn a_comment_holds_its_if_match_version_and_may_answer_with_the_item() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    t.create_item("DEMO", &item("First", &[]), "")
        .await
        .unwrap();
    let added = t
        .add_comment_if("DEMO-1", 1, "held", None, Some("twinsync:c:X-1"))
        .await
        .unwrap();
    let item = added.item.expect("the whole item");
    assert_eq!(item.version, 2);
    assert_eq!(item.comments, vec![added.comment.clone()]);
    assert_eq!(
        item,
        t.get_item("DEMO-1").await.unwrap().unwrap(),
        "as a read"
    );
    let stale = t.add_comment_if("DEMO-1", 1, "lost", None, None).await;
    assert!(matches!(stale, Err(PortError::Conflict(_))), "{stale:?}");
    let gone = t.add_comment_if("DEMO-9", 1, "x", None, None).await;
    assert!(matches!(gone, Err(PortError::NotFound(_))), "{gone:?}");
    post_with_if_match(&sb, "comments", "comment", json!({"body": "b"})).await;
    let item = t.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(
        (item.comments.len(), item.version),
        (3, 4),
        "refused adds add nothing"
    );
    sb.stop().await;
}

/// Adds to DEMO-1 (at version 2, no child yet) by plain HTTP with each `If-Match` and
/// `answer` the route must take or refuse: two of them are added, at versions 3 and 4.
async fn post_with_if_match(
    sb: &twinsync_fakes::sandbox::RunningSandbox,
    route: &str,
    child: &str,
    body: Value,
) {
    let http = reqwest::Client::new();
    let plain = format!("?answer={child}");
    // (query, If-Match, status)
    let posts = [
        ("", "\"2\"", 201),
        (plain.as_str(), "*", 201),
        ("?answer=everything", "*", 400),
        ("?answer=item&extra=1", "*", 400),
        ("?answer=item", "\"2\"", 412),
        ("?answer=item", "2", 400),
    ];
    for (query, tag, status) in posts {
        let resp = http
            .post(format!("{}/api/items/DEMO-1/{route}{query}", sb.base_url))
            .header("if-match", tag)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{route}{query} If-Match: {tag}");
    }
}

/// An attachment's add takes the same `If-Match` and `?answer=item` as a comment's.
#[tokio::test]
async fn an_attachment_holds_its_if_match_version_and_may_answer_with_the_item() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    t.create_item("DEMO", &item("First", &[]), "")
        .await
        .unwrap();
    let file = Attachment {
        filename: "trace.log".into(),
        mime_type: "text/plain".into(),
        size: 12,
        url: format!("{}/files/trace.log", sb.base_url),
        ..Attachment::default()
    };
    let added = t.add_attachment_if("DEMO-1", 1, &file).await.unwrap();
    let item = added.item.expect("the whole item");
    assert_eq!(item.version, 2);
    assert_eq!(item.attachments, vec![added.attachment.clone()]);
    assert_eq!(added.attachment.filename, "trace.log");
    assert_eq!(
        item,
        t.get_item("DEMO-1").await.unwrap().unwrap(),
        "as a read"
    );
    let stale = t.add_attachment_if("DEMO-1", 1, &file).await;
    assert!(matches!(stale, Err(PortError::Conflict(_))), "{stale:?}");
    let gone = t.add_attachment_if("DEMO-9", 1, &file).await;
    assert!(matches!(gone, Err(PortError::NotFound(_))), "{gone:?}");
    let body = json!({"filename": "b.txt", "url": file.url});
    post_with_if_match(&sb, "attachments", "attachment", body).await;
    let item = t.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(
        (item.attachments.len(), item.version),
        (3, 4),
        "refused adds add nothing"
    );
    sb.stop().await;
}
