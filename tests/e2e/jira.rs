//! The Jira connector against the fake Jira: issues, workflow transitions, comments with
//! origin properties, attachments, JQL polling with `nextPageToken`, webhooks, rate
//! limits; and the contract fixtures: the documented request and response examples of
//! Jira's REST reference, which the connector must read and the fake must match.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use twinsync_core::{Attachment, Item, ItemUpdate, Named, User};
use twinsync_fakes::jira::{FakeJira, FakeOptions, Fault};
use twinsync_jira::mapping::{ORIGIN_PROPERTY, to_item};
use twinsync_jira::{JiraConfig, JiraTracker, webhook};
use twinsync_node::handlers::scheduler::{self, PollIntervals, Polling};
use twinsync_ports::{PortError, Tracker};

const EMAIL: &str = "bot@example.com";
const TOKEN: &str = "ATATT3xFfGF0-fake";

fn options() -> FakeOptions {
    FakeOptions {
        projects: vec!["DEMO".into()],
        accounts: vec![
            (EMAIL.into(), "twinsync bot".into()),
            ("ana@example.com".into(), "Ana Lima".into()),
        ],
        api_tokens: vec![(TOKEN.into(), EMAIL.into())],
        oauth_tokens: vec!["oauth-access-token".into()],
        custom_fields: vec![("customfield_10020".into(), "Team".into(), "option".into())],
        webhook_secret: String::new(),
        every_nth_429: 0,
        ..FakeOptions::default()
    }
}

fn tracker(fake: &FakeJira) -> JiraTracker {
    JiraTracker::new("jira", JiraConfig::basic(&fake.url, "DEMO", EMAIL, TOKEN)).unwrap()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/jira/contract")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn new_item(summary: &str) -> Item {
    Item {
        summary: summary.into(),
        description: "## Steps\n\nPay with **card**.".into(),
        status: Some(Named::new("In Progress")),
        priority: Some(Named::new("High")),
        labels: vec!["sync".into(), "two words".into()],
        assignee: Some(User {
            email: "ana@example.com".into(),
            display_name: "Ana Lima".into(),
        }),
        custom_fields: [("Team".to_string(), json!("Payments"))].into(),
        ..Item::default()
    }
}

#[tokio::test]
async fn issues_transitions_comments_and_attachments_round_trip() {
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let jira = tracker(&fake);
    let created = jira
        .create_item("DEMO", &new_item("Checkout fails"), "twinsync:gh:o/r#1")
        .await
        .unwrap();
    assert_eq!(created.key, "DEMO-1");
    let item = jira.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(item.summary, "Checkout fails");
    assert_eq!(item.description, "## Steps\n\nPay with **card**.");
    assert_eq!(
        item.status_name(),
        Some("In Progress"),
        "moved by a transition"
    );
    assert_eq!(item.priority_name(), Some("High"));
    assert_eq!(
        item.labels,
        ["sync", "two_words"],
        "Jira labels hold no spaces"
    );
    assert_eq!(item.assignee_email(), Some("ana@example.com"));
    assert_eq!(item.custom_fields.get("Team"), Some(&json!("Payments")));
    assert_eq!(item.origin.as_deref(), Some("twinsync:gh:o/r#1"));
    assert!(item.version > 0);

    // Edits: fields in one PUT, the status by its transition; a status the workflow
    // cannot reach is a clear error.
    jira.update_item(
        "DEMO-1",
        &ItemUpdate {
            summary: Some("Checkout fails on card".into()),
            status: Some("Done".into()),
            assignee: Some(None),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let item = jira.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(
        (
            item.summary.as_str(),
            item.status_name(),
            item.assignee.is_none()
        ),
        ("Checkout fails on card", Some("Done"), true)
    );
    let err = jira
        .update_item(
            "DEMO-1",
            &ItemUpdate {
                status: Some("Blocked".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("no transition") && m.contains("Blocked")),
        "{err}"
    );

    // Comments keep their origin marker as a comment property, through an edit.
    let c = jira
        .add_comment("DEMO-1", "Seen on *mobile*.", None, Some("twinsync:gh:c7"))
        .await
        .unwrap();
    jira.update_comment("DEMO-1", &c.id, "Seen on *mobile* and desktop.")
        .await
        .unwrap();
    let item = jira.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(item.comments.len(), 1);
    assert_eq!(item.comments[0].body, "Seen on *mobile* and desktop.");
    assert_eq!(item.comments[0].origin.as_deref(), Some("twinsync:gh:c7"));

    // Attachments: downloaded from the source, uploaded as multipart; an oversized one is
    // refused with the reason.
    let source = axum::Router::new().route(
        "/files/log.txt",
        axum::routing::get(|| async { "line 1\nline 2\n" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, source).await });
    let attachment = Attachment {
        id: "a1".into(),
        filename: "log.txt".into(),
        mime_type: "text/plain".into(),
        size: 14,
        url: format!("http://{at}/files/log.txt"),
        ..Attachment::default()
    };
    let stored = jira.add_attachment("DEMO-1", &attachment).await.unwrap();
    assert_eq!(stored.filename, "log.txt");
    assert_eq!(stored.remote_id.as_deref(), Some("a1"));
    let bytes = reqwest::Client::new()
        .get(&stored.url)
        .basic_auth(EMAIL, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(bytes, "line 1\nline 2\n");
    let big = Attachment {
        size: 50 * 1024 * 1024,
        ..attachment.clone()
    };
    let err = jira.add_attachment("DEMO-1", &big).await.unwrap_err();
    assert!(err.to_string().contains("over this Jira's limit"), "{err}");
    let item = jira.get_item("DEMO-1").await.unwrap().unwrap();
    assert_eq!(item.attachments.len(), 1, "the big one was not uploaded");

    // The multipart upload without the XSRF header is refused, as Jira does.
    let refused = reqwest::Client::new()
        .post(format!("{}/rest/api/3/issue/DEMO-1/attachments", fake.url))
        .basic_auth(EMAIL, Some(TOKEN))
        .multipart(reqwest::multipart::Form::new().text("file", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);

    // Found again by its origin property.
    let found = jira
        .find_by_origin("DEMO", "twinsync:gh:o/r#1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.key, "DEMO-1");
    assert!(
        jira.find_by_origin("DEMO", "twinsync:gh:o/r#404")
            .await
            .unwrap()
            .is_none()
    );
    assert!(jira.get_item("DEMO-99").await.unwrap().is_none());
}

#[tokio::test]
async fn polling_pages_with_next_page_token_and_a_minute_window() {
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let jira = tracker(&fake);
    for i in 0..105 {
        let mut item = new_item(&format!("item {i}"));
        item.status = None;
        if i % 2 == 1 {
            item.labels = vec!["other".into()];
        }
        jira.create_item("DEMO", &item, &format!("o{i}"))
            .await
            .unwrap();
    }
    // An old item is outside any recent window.
    fake.backdate("DEMO-1", "2020-01-01T00:00:00.000+0000");
    let mut keys = Vec::new();
    let mut page = None;
    let mut pages = 0;
    loop {
        let found = jira
            .search_updated("project = DEMO", 0, page.clone())
            .await
            .unwrap();
        pages += 1;
        keys.extend(found.items.into_iter().map(|i| i.key));
        page = found.next;
        if page.is_none() {
            break;
        }
    }
    assert_eq!((keys.len(), pages), (105, 2));
    assert_eq!(keys[0], "DEMO-1", "oldest first");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let recent = jira
        .search_updated("project = DEMO AND labels = sync", since, None)
        .await
        .unwrap();
    assert_eq!(
        recent.items.len(),
        52,
        "items updated in this minute, the old one left out"
    );
    assert!(
        recent
            .items
            .iter()
            .all(|i| i.labels.contains(&"sync".to_string()))
    );
    let jql: Vec<String> = fake
        .exchanges()
        .iter()
        .filter(|e| e.template == "/rest/api/3/search/jql")
        .filter_map(|e| e.request.as_ref()?["jql"].as_str().map(str::to_string))
        .collect();
    assert!(
        jql.last()
            .unwrap()
            .contains("AND updated >= \"-2m\" ORDER BY updated ASC"),
        "{jql:?}"
    );
    // Bad JQL is Jira's 400, a permanent error.
    let err = jira
        .search_updated("project = DEMO AND (", 0, None)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Rejected(_)), "{err}");
}

#[tokio::test]
async fn rate_limits_become_waits_and_auth_is_checked() {
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let jira = tracker(&fake);
    jira.create_item("DEMO", &new_item("x"), "o1")
        .await
        .unwrap();
    fake.inject([Fault::TooManyRequests(3)]);
    let err = jira.get_item("DEMO-1").await.unwrap_err();
    assert_eq!(
        err,
        PortError::RateLimited {
            retry_after_ms: 3_000,
            refused: twinsync_ports::Refusal::Whole,
        }
    );
    // Until the wait is over, no request goes out at all.
    let before = fake.exchanges().len();
    let again = jira.get_item("DEMO-1").await.unwrap_err();
    assert!(matches!(again, PortError::RateLimited { .. }), "{again}");
    assert_eq!(fake.exchanges().len(), before);
    assert!(jira.throttled_ms() >= 3_000);

    fake.inject([Fault::Unavailable]);
    let oauth = JiraTracker::new(
        "jira-oauth",
        JiraConfig {
            email: None,
            api_token: None,
            oauth_token: Some("oauth-access-token".into()),
            ..JiraConfig::basic(&fake.url, "DEMO", EMAIL, TOKEN)
        },
    )
    .unwrap();
    let err = oauth.get_item("DEMO-1").await.unwrap_err();
    assert!(err.is_retryable(), "a 503 is retried: {err}");
    assert!(oauth.get_item("DEMO-1").await.unwrap().is_some());

    let wrong = JiraTracker::new(
        "jira-wrong",
        JiraConfig::basic(&fake.url, "DEMO", EMAIL, "not-the-token"),
    )
    .unwrap();
    let err = wrong.get_item("DEMO-1").await.unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("401") && m.contains("not authenticated")),
        "{err}"
    );
}

#[tokio::test]
async fn webhooks_are_registered_with_jql_refreshed_and_delivered() {
    let secret = "whsec-jira";
    let fake = FakeJira::start(
        "127.0.0.1:0",
        FakeOptions {
            webhook_secret: secret.into(),
            ..options()
        },
    )
    .await
    .unwrap();
    let jira = JiraTracker::new(
        "jira",
        JiraConfig {
            webhook_secret: secret.into(),
            ..JiraConfig::basic(&fake.url, "DEMO", EMAIL, TOKEN)
        },
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Vec<(String, String)>, Vec<u8>)>();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(
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
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let first = jira
        .subscribe(&url, "project = DEMO AND labels = sync")
        .await
        .unwrap();
    let again = jira
        .subscribe(&url, "project = DEMO AND labels = sync")
        .await
        .unwrap();
    assert_eq!(first, again, "a second registration refreshes the first");
    assert!(
        fake.exchanges()
            .iter()
            .any(|e| e.template == "/rest/api/3/webhook/refresh" && e.status == 200)
    );

    let mut outside = new_item("not synced");
    outside.labels = vec!["other".into()];
    jira.create_item("DEMO", &outside, "o0").await.unwrap();
    jira.create_item("DEMO", &new_item("synced"), "o1")
        .await
        .unwrap();
    jira.add_comment("DEMO-2", "hello", None, None)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let (headers, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        let signals = jira.verify_webhook(&headers, &body, 0).unwrap();
        let payload: Value = serde_json::from_slice(&body).unwrap();
        seen.push((
            payload["webhookEvent"].as_str().unwrap().to_string(),
            signals[0].item_key.clone(),
        ));
        // A forged body does not pass.
        assert!(
            jira.verify_webhook(&headers, b"{\"webhookEvent\":\"x\"}", 0)
                .is_err()
        );
    }
    assert_eq!(
        seen,
        [
            ("jira:issue_created".to_string(), "DEMO-2".to_string()),
            ("jira:issue_updated".to_string(), "DEMO-2".to_string()),
            ("comment_created".to_string(), "DEMO-2".to_string()),
        ],
        "the JQL filter kept DEMO-1 out; the transition to In Progress is an update"
    );
}

/// Every operation the connector uses, from the documented examples of Jira's REST API
/// v3 reference (fixtures): the connector reads the documented answers, and the fake
/// answers with every property the documented example has, of the same JSON type.
#[tokio::test]
async fn the_connector_and_the_fake_follow_the_documented_examples() {
    // The connector reads Jira's own examples.
    let issue = fixture("get-issue.response.json");
    let comments = fixture("get-comments.response.json");
    let item = to_item(
        "https://your-domain.atlassian.net",
        &issue,
        comments["comments"].as_array().unwrap(),
    );
    assert_eq!(item.key, "ED-1");
    assert_eq!(item.summary, "Main order flow broken");
    assert_eq!(item.status_name(), Some("In Progress"));
    assert_eq!(item.priority_name(), Some("Major"));
    assert_eq!(item.labels, ["bugfix", "blitz_test"]);
    assert_eq!(item.assignee_email(), Some("mia@example.com"));
    assert_eq!(
        item.description,
        "Order entry fails when selecting supplier."
    );
    assert_eq!(item.comments.len(), 1);
    assert_eq!(
        item.comments[0].body,
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Sed pretium ex eu tortor pulvinar, id pharetra dui ullamcorper."
    );
    assert_eq!(item.attachments[0].filename, "picture.jpg");
    assert_eq!(item.custom_fields.get("Team"), Some(&json!("Payments")));
    assert_eq!(item.origin.as_deref(), Some("twinsync:gh:o/r#7"));
    for (name, want_key) in [
        ("webhook-issue-updated.json", "TEST-150"),
        ("webhook-comment-created.json", "TEST-150"),
    ] {
        let body = serde_json::to_vec(&fixture(name)).unwrap();
        let signals = webhook::verify("", webhook::Unsigned::Allowed, &[], &body).unwrap();
        assert_eq!(signals[0].item_key, want_key, "{name}");
        // Without a secret and without allow_unsigned, the same delivery is refused.
        let refused = webhook::verify("", webhook::Unsigned::Refused, &[], &body).unwrap_err();
        assert!(refused.to_string().contains("allow_unsigned"), "{refused}");
    }
    let search = fixture("search-jql.response.json");
    assert_eq!(search["isLast"], false);

    // The fake answers in the documented shapes.
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let jira = tracker(&fake);
    jira.create_item(
        "DEMO",
        &new_item("Main order flow broken"),
        "twinsync:gh:o/r#7",
    )
    .await
    .unwrap();
    jira.add_comment("DEMO-1", "Lorem ipsum", None, Some("c1"))
        .await
        .unwrap();
    for i in 0..3 {
        jira.create_item("DEMO", &new_item(&format!("more {i}")), &format!("m{i}"))
            .await
            .unwrap();
    }
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", fake.url))
            .basic_auth(EMAIL, Some(TOKEN))
    };
    let answers = [
        (
            "get-issue.response.json",
            call(
                reqwest::Method::GET,
                "/rest/api/3/issue/DEMO-1?expand=names&properties=twinsync-origin&fields=*all",
            ),
        ),
        (
            "create-issue.response.json",
            call(reqwest::Method::POST, "/rest/api/3/issue")
                .json(&fixture("create-issue.request.json")),
        ),
        (
            "get-comments.response.json",
            call(reqwest::Method::GET, "/rest/api/3/issue/DEMO-1/comment"),
        ),
        (
            "add-comment.response.json",
            call(reqwest::Method::POST, "/rest/api/3/issue/DEMO-1/comment")
                .json(&fixture("add-comment.request.json")),
        ),
        (
            "get-transitions.response.json",
            call(reqwest::Method::GET, "/rest/api/3/issue/DEMO-1/transitions"),
        ),
        (
            "search-jql.response.json",
            call(reqwest::Method::POST, "/rest/api/3/search/jql").json(&json!({
                "jql": "project = DEMO ORDER BY updated ASC", "maxResults": 2,
                "fields": ["*all"], "properties": [ORIGIN_PROPERTY], "expand": "names"
            })),
        ),
        (
            "user-search.response.json",
            call(
                reqwest::Method::GET,
                "/rest/api/3/user/search?query=ana@example.com",
            ),
        ),
        (
            "register-webhook.response.json",
            call(reqwest::Method::POST, "/rest/api/3/webhook")
                .json(&fixture("register-webhook.request.json")),
        ),
        (
            "error.response.json",
            call(reqwest::Method::GET, "/rest/api/3/issue/NOPE-1"),
        ),
        (
            "fields.response.json",
            call(reqwest::Method::GET, "/rest/api/3/field"),
        ),
    ];
    let mut problems = Vec::new();
    for (name, request) in answers {
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        shape(&fixture(name), &answer, name, &mut problems);
    }
    // The documented create request is what the fake takes, and it refuses what Jira
    // refuses, with Jira's error body.
    let refused = call(reqwest::Method::POST, "/rest/api/3/issue")
        .json(&json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let body: Value = refused.json().await.unwrap();
    shape(&fixture("error.response.json"), &body, "400", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");

    // The check bites: an answer without a documented property is a problem.
    let mut broken = fixture("get-transitions.response.json");
    broken["transitions"][0]
        .as_object_mut()
        .unwrap()
        .remove("to");
    let mut found = Vec::new();
    shape(
        &fixture("get-transitions.response.json"),
        &broken,
        "broken",
        &mut found,
    );
    assert_eq!(found.len(), 1, "{found:?}");
}

/// Every property of `documented` is in `actual` with the same JSON type; arrays are
/// checked element by element against the documented first element.
fn shape(documented: &Value, actual: &Value, at: &str, problems: &mut Vec<String>) {
    match (documented, actual) {
        (Value::Object(d), Value::Object(a)) => {
            for (k, dv) in d {
                match a.get(k) {
                    None => problems.push(format!("{at}.{k}: missing")),
                    Some(av) => shape(dv, av, &format!("{at}.{k}"), problems),
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            // An element must have the shape of one of the documented elements (a system
            // field and a custom field differ, for one).
            for (i, av) in a.iter().enumerate() {
                let at = format!("{at}[{i}]");
                let mut best: Option<Vec<String>> = None;
                for dv in d {
                    let mut found = Vec::new();
                    shape(dv, av, &at, &mut found);
                    if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                        best = Some(found);
                    }
                }
                problems.extend(best.unwrap_or_default());
            }
        }
        // Null is documented where a value may be absent.
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (d, a) => problems.push(format!("{at}: documented {d}, got {a}")),
    }
}

/// `twinsync demo --pair jira-github`, as a test: issues made in Jira reach GitHub, a close
/// and a comment in GitHub come back, a concurrent edit merges, with every 40th request to
/// either fake answered 429 (and a few more), and nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_jira_github_demo_converges_through_rate_limits() {
    // The handlers' log is shown when this test fails (the harness captures it).
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            "twinsync_node=debug,twinsync_store=warn,twinsync_jira=warn,twinsync_github=warn",
        )
        .try_init();
    let report = twinsync_cli::demo::jira_github::scenario(&twinsync_cli::demo::DemoArgs {
        items: 30,
        json: true,
        data_dir: None,
        pair: twinsync_cli::demo::Pair::JiraGithub,
    })
    .await
    .unwrap();
    assert!(report.converged, "{:#?}", report.mismatches);
    assert_eq!((report.items_a_to_b, report.duplicates), (30, 0));
    // One comment per issue, one more from Jira and one back from GitHub.
    assert_eq!(report.comments_synced, 32);
    let compare = report
        .steps
        .last()
        .map(|s| s.detail.clone())
        .unwrap_or_default();
    assert!(!compare.contains(" 0 429s from Jira"), "{compare}");
}

/// A node registers its Jira webhook at start; the scheduler refreshes it (Jira drops
/// REST-registered webhooks after 30 days) and then not again for a day; the metrics
/// endpoint shows the connector's calls and throttled time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_keeps_the_webhook_alive_and_metrics_show_the_connector() {
    use twinsync_local::process::{Process, ProcessOptions};
    use twinsync_node::config::{
        ConnectionSection, InstanceSection, JiraSection, NodeSection, ProcessConfig, TriggerSection,
    };
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let cfg = ProcessConfig {
        sandbox: vec![],
        node: vec![NodeSection {
            id: "node-j".into(),
            data_dir: "node-j".into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 60_000,
            instance: vec![InstanceSection {
                id: "jira".into(),
                connector: twinsync_core::ConnectorKind::Jira,
                base_url: fake.url.clone(),
                webhook_secret: String::new(),
                token: Some(TOKEN.into()),
                register_webhook: true,
                jira: Some(JiraSection {
                    allow_unsigned: false,
                    project: "DEMO".into(),
                    email: Some(EMAIL.into()),
                    issue_type: None,
                    requests_per_minute: None,
                    burst: None,
                    attachment_max_bytes: None,
                    origin_field: None,
                    origin_lookback_minutes: None,
                }),
                ..Default::default()
            }],
            connection: vec![ConnectionSection {
                id: "c".into(),
                name: "jira alone".into(),
                instance: "jira".into(),
                remote_node: "node-x".into(),
                target_project: "DEMO".into(),
                trigger: vec![TriggerSection {
                    id: None,
                    query: "project = DEMO".into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let count = |template: &str, method: &str| {
        fake.exchanges()
            .iter()
            .filter(|e| e.template == template && e.method == method)
            .count()
    };
    assert_eq!(
        count("/rest/api/3/webhook", "POST"),
        1,
        "registered at start"
    );
    for _ in 0..600 {
        if count("/rest/api/3/webhook/refresh", "PUT") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        count("/rest/api/3/webhook/refresh", "PUT"),
        1,
        "refreshed by the scheduler"
    );
    // The next refresh is a day away: a few more ticks (run here, not waited for) do
    // nothing.
    let node = p.node("node-j").unwrap().clone();
    for _ in 0..3 {
        scheduler::tick(&node, &Polling::new(PollIntervals::every(10_000)))
            .await
            .unwrap();
    }
    assert_eq!(count("/rest/api/3/webhook/refresh", "PUT"), 1);
    assert_eq!(
        count("/rest/api/3/webhook", "POST"),
        1,
        "never registered twice"
    );

    let metrics = crate::support::Admin::of(&p, "node-j")
        .get("/api/metrics")
        .await;
    assert_eq!(metrics["trackers"]["jira"]["kind"], "jira");
    assert!(
        metrics["trackers"]["jira"]["calls"].as_u64().unwrap() >= 3,
        "{metrics}"
    );
    assert_eq!(metrics["trackers"]["jira"]["throttled_ms"], 0);
    assert!(metrics["queues"]["outgoing"].is_object(), "{metrics}");
    p.stop().await;
}

/// The vendors' own client libraries (GitHub's Octokit; jira.js, generated from
/// Atlassian's OpenAPI description) work against the fakes: create, comment, change state
/// through the real calls, page through listings and searches, and read a 404 as one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendors_client_libraries_talk_to_the_fakes() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts");
    assert!(
        contracts.join("node_modules/@octokit/rest").exists()
            && contracts.join("node_modules/jira.js").exists(),
        "the client libraries are missing: run `npm ci --prefix tests/contracts` (scripts/test does)"
    );
    let run = |args: Vec<String>| {
        let contracts = contracts.clone();
        async move {
            let out = tokio::process::Command::new("node")
                .arg(contracts.join("official-clients.mjs"))
                .args(&args)
                .output()
                .await
                .expect("node runs");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        }
    };

    let jira = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let seen = run(vec![
        "jira".into(),
        jira.url.clone(),
        EMAIL.into(),
        TOKEN.into(),
        "DEMO".into(),
    ])
    .await;
    assert_eq!(
        seen,
        json!({"key": "DEMO-1", "status": "Done", "listed": 5, "comments": 1, "notFound": 404})
    );

    let github = twinsync_fakes::github::FakeGithub::start(
        "127.0.0.1:0",
        twinsync_fakes::github::FakeOptions {
            tokens: vec![("ghp-octokit".into(), "mona".into())],
            repos: vec!["acme/demo".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let seen = run(vec![
        "github".into(),
        github.url.clone(),
        "ghp-octokit".into(),
        "acme/demo".into(),
    ])
    .await;
    assert_eq!(
        seen,
        json!({"number": 1, "state": "closed", "listed": 5, "comments": 1, "notFound": 404})
    );
}
