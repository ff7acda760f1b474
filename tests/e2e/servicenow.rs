//! The ServiceNow connector against the fake ServiceNow: incidents with their states,
//! priorities, people and custom fields; comments and work notes read from
//! `sys_journal_field`; a resolve with its close code and notes; attachments; twins found
//! again by `correlation_id`; the sync status in `correlation_display`; polling with
//! `Link` paging and edits in the same second; rate limits; Basic and OAuth 2.0 with a
//! token refreshed after a 401; the signed push of the business rule. Then the demo
//! pairs (HTTPS, 429s, pushes), a node restart, the documented examples, and pysnc,
//! ServiceNow's own Python client, against the fake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use twinsync_core::{Attachment, ConnectorKind, Item, ItemUpdate, Named, User};
use twinsync_fakes::servicenow::{FakeOptions, FakeServiceNow, FakeUser, Fault};
use twinsync_ports::{PortError, SyncMark, SyncState, Tracker};
use twinsync_servicenow::mapping::{Choices, Context, to_item};
use twinsync_servicenow::{OAuthConfig, OAuthGrant, ServiceNowConfig, ServiceNowTracker};

const BOT: &str = "twinsync.bot";
const BOT_PASSWORD: &str = "bot-password";

fn options() -> FakeOptions {
    FakeOptions {
        users: vec![
            FakeUser::new(BOT, BOT_PASSWORD, "bot@example.com", "twinsync bot"),
            FakeUser::new("ana.lima", "ana-pw", "ana@example.com", "Ana Lima"),
            FakeUser::new("bo.chen", "bo-pw", "bo@example.com", "Bo Chen"),
        ],
        groups: vec!["Service Desk".into()],
        oauth_clients: vec![("cid".into(), "csecret".into())],
        oauth_user: Some(BOT.into()),
        ..FakeOptions::default()
    }
}

fn config(fake: &FakeServiceNow) -> ServiceNowConfig {
    let mut c = ServiceNowConfig::basic(&fake.url, BOT, BOT_PASSWORD);
    c.custom_fields = vec!["u_customer".into()];
    c
}

fn tracker(fake: &FakeServiceNow) -> ServiceNowTracker {
    ServiceNowTracker::new("snow", config(fake)).unwrap()
}

fn new_item(summary: &str) -> Item {
    Item {
        summary: summary.into(),
        description: "## Steps\n\nPay with **card**.".into(),
        status: Some(Named::new("In Progress")),
        priority: Some(Named::new("High")),
        assignee: Some(User {
            email: "ana@example.com".into(),
            display_name: "Ana Lima".into(),
        }),
        reporter: Some(User {
            email: "bo@example.com".into(),
            display_name: "Bo Chen".into(),
        }),
        custom_fields: [
            ("u_customer".to_string(), json!("Acme")),
            ("assignment_group".to_string(), json!("Service Desk")),
            ("Team".to_string(), json!("not a ServiceNow field")),
        ]
        .into(),
        ..Item::default()
    }
}

/// A person's raw Table API call with Basic auth; a 429 is waited out, as a person's
/// client does.
async fn person(
    fake: &FakeServiceNow,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    loop {
        let mut req = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", fake.url))
            .basic_auth("ana.lima", Some("ana-pw"));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status == 429 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        return (status, resp.json().await.unwrap_or(Value::Null));
    }
}

#[tokio::test]
async fn incidents_journals_resolves_and_attachments_round_trip() {
    let fake = FakeServiceNow::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let t = tracker(&fake);
    assert_eq!(t.has_project("incident").await.unwrap(), Some(true));
    assert_eq!(t.has_project("problem").await.unwrap(), Some(false));

    let created = t
        .create_item("incident", &new_item("Checkout fails"), "twinsync:c:DEMO-1")
        .await
        .unwrap();
    assert_eq!(created.key, "INC0010001");
    let read = t.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(read.summary, "Checkout fails");
    assert_eq!(read.description, "## Steps\n\nPay with **card**.");
    assert_eq!(read.status_name(), Some("In Progress"));
    // High is impact 1 and urgency 2, from which ServiceNow computes priority 2.
    assert_eq!(read.priority_name(), Some("High"));
    let stored = &fake.records("incident")[0];
    assert_eq!(
        (
            stored["impact"].as_str(),
            stored["urgency"].as_str(),
            stored["priority"].as_str()
        ),
        ("1", "2", "2")
    );
    assert_eq!(
        read.assignee.as_ref().map(|a| a.email.as_str()),
        Some("ana@example.com")
    );
    assert_eq!(
        read.reporter.as_ref().map(|a| a.display_name.as_str()),
        Some("Bo Chen")
    );
    assert_eq!(read.custom_fields.get("u_customer"), Some(&json!("Acme")));
    assert_eq!(
        read.custom_fields.get("assignment_group"),
        Some(&json!("Service Desk"))
    );
    assert!(!read.custom_fields.contains_key("Team"));
    assert_eq!(read.origin.as_deref(), Some("twinsync:c:DEMO-1"));
    assert_eq!(stored["correlation_display"], "twinsync");
    assert!(
        read.url
            .ends_with(&format!("/incident.do?sys_id={}", stored["sys_id"])),
        "{}",
        read.url
    );

    // Comments and work notes: each entry its own id, author and time; the marker hidden.
    let public = t
        .add_comment(
            &created.key,
            "Customer **Acme** is affected.",
            None,
            Some("twinsync:c:c1"),
        )
        .await
        .unwrap();
    let internal = t
        .add_internal_comment(
            &created.key,
            "Gateway timeouts in the logs.",
            None,
            Some("twinsync:c:c2"),
        )
        .await
        .unwrap();
    assert!(!public.id.is_empty() && public.id != internal.id && internal.internal);
    let sys_id = stored["sys_id"].clone();
    person(
        &fake,
        reqwest::Method::PATCH,
        &format!("/api/now/table/incident/{sys_id}"),
        Some(json!({"comments": "Any news?"})),
    )
    .await;
    let read = t.get_item(&created.key).await.unwrap().unwrap();
    let seen: Vec<(&str, bool, Option<&str>)> = read
        .comments
        .iter()
        .map(|c| (c.body.as_str(), c.internal, c.origin.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "Customer **Acme** is affected.",
                false,
                Some("twinsync:c:c1")
            ),
            ("Gateway timeouts in the logs.", true, Some("twinsync:c:c2")),
            ("Any news?", false, None),
        ]
    );
    assert_eq!(
        read.comments[2].author.as_ref().map(|a| a.email.as_str()),
        Some("ana@example.com")
    );
    assert_eq!(fake.journal("incident", &created.key).len(), 3);
    t.update_comment(
        &created.key,
        &public.id,
        "Customer **Acme** and Bolt are affected.",
    )
    .await
    .unwrap();
    let read = t.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(
        read.comments[0].body,
        "Customer **Acme** and Bolt are affected."
    );
    assert_eq!(
        read.comments[0].origin.as_deref(),
        Some("twinsync:c:c1"),
        "an edit keeps the marker"
    );

    // A person cannot resolve without a close code and notes; the connector fills them in.
    let (status, body) = person(
        &fake,
        reqwest::Method::PATCH,
        &format!("/api/now/table/incident/{sys_id}"),
        Some(json!({"state": "6"})),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("Resolution code"),
        "{body}"
    );
    let version = read.version;
    t.update_item(
        &created.key,
        &ItemUpdate {
            status: Some("Resolved".into()),
            priority: Some("Critical".into()),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let read = t.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(read.status_name(), Some("Resolved"));
    assert_eq!(read.priority_name(), Some("Critical"));
    assert_eq!(
        read.custom_fields.get("close_code"),
        Some(&json!("Solved (Permanently)"))
    );
    assert!(read.version > version, "sys_mod_count grows");
    let err = t
        .update_item(
            &created.key,
            &ItemUpdate {
                status: Some("Done".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("New, In Progress, On Hold, Resolved, Closed, Canceled"),
        "{err}"
    );

    // A marker ServiceNow would cut is refused rather than written cut.
    let long = format!("twinsync:c:{}", "x".repeat(100));
    let err = t
        .create_item("incident", &new_item("Too long"), &long)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("correlation_id"), "{err}");

    // Found again by correlation_id; the sync status shown in correlation_display once.
    let found = t
        .find_by_origin("incident", "twinsync:c:DEMO-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.key, created.key);
    assert!(
        t.find_by_origin("incident", "twinsync:c:DEMO-9")
            .await
            .unwrap()
            .is_none()
    );
    let synced = SyncMark {
        state: SyncState::Synced,
        twin_key: Some("DEMO-1".into()),
        twin_url: Some("https://x/DEMO-1".into()),
    };
    let before = fake.exchanges().len();
    t.show_sync(&created.key, &synced).await.unwrap();
    t.show_sync(&created.key, &synced).await.unwrap();
    assert_eq!(
        fake.exchanges().len(),
        before + 1,
        "an unchanged status is not written again"
    );
    t.show_sync(
        &created.key,
        &SyncMark {
            state: SyncState::Error("Jira refused: no such priority".into()),
            ..synced.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        fake.records("incident")[0]["correlation_display"],
        "twinsync: error: Jira refused: no such priority"
    );
    assert_eq!(
        fake.journal("incident", &created.key).len(),
        3,
        "no journal entry per status"
    );
    // A create that carries the status shows it in the same call; shown again, no call.
    let shown = t
        .create_item_shown("incident", &new_item("Shown"), "twinsync:c:DEMO-7", &synced)
        .await
        .unwrap();
    let created_with = fake.exchanges().len();
    t.show_sync(&shown.key, &synced).await.unwrap();
    assert_eq!(
        fake.exchanges().len(),
        created_with,
        "shown with the create"
    );
    let record = fake
        .records("incident")
        .into_iter()
        .find(|r| r["number"] == shown.key.as_str())
        .unwrap();
    assert_eq!(
        record["correlation_display"],
        "twinsync: synced with DEMO-1"
    );

    // Attachments: uploaded through the Attachment API, downloaded with a cap, own host only.
    let (_, upload) = {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/now/attachment/file?table_name=incident&table_sys_id={sys_id}&file_name=log.txt", fake.url))
            .basic_auth("ana.lima", Some("ana-pw"))
            .header("content-type", "text/plain")
            .body("line one\nline two\n")
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    let source = twinsync_servicenow::mapping::attachment(&upload["result"]);
    let second = t
        .create_item("incident", &new_item("Second"), "twinsync:c:DEMO-2")
        .await
        .unwrap();
    let copied = t.add_attachment(&second.key, &source).await.unwrap();
    assert_eq!((copied.filename.as_str(), copied.size), ("log.txt", 18));
    let read = t.get_item(&second.key).await.unwrap().unwrap();
    assert_eq!(read.attachments.len(), 1);
    assert_eq!(
        t.download(&read.attachments[0]).await.unwrap(),
        b"line one\nline two\n"
    );
    let elsewhere = Attachment {
        url: "https://evil.example/api/now/attachment/x/file".into(),
        ..read.attachments[0].clone()
    };
    assert!(matches!(
        t.download(&elsewhere).await,
        Err(PortError::Rejected(_))
    ));
    let mut small = config(&fake);
    small.attachment_max_bytes = 5;
    let capped = ServiceNowTracker::new("snow", small).unwrap();
    let err = capped.download(&read.attachments[0]).await.unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");

    // The delete removal policy: a journal entry and a record deleted, twice is fine.
    let note = t
        .add_comment(&second.key, "Card ending 4242", None, None)
        .await
        .unwrap();
    t.delete_comment(&second.key, &note.id).await.unwrap();
    let read = t.get_item(&second.key).await.unwrap().unwrap();
    assert!(
        read.comments.iter().all(|c| c.id != note.id),
        "{:?}",
        read.comments
    );
    t.delete_item(&second.key).await.unwrap();
    assert!(t.get_item(&second.key).await.unwrap().is_none());
    t.delete_item(&second.key).await.unwrap();
}

#[tokio::test]
async fn polling_pages_with_link_and_rereads_the_cursor_second() {
    let fake = FakeServiceNow::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let mut c = config(&fake);
    c.custom_fields.push("category".into());
    let t = ServiceNowTracker::new("snow", c).unwrap();
    for i in 0..205 {
        let (status, _) = person(
            &fake,
            reqwest::Method::POST,
            "/api/now/table/incident",
            Some(json!({"short_description": format!("n{i}"), "category": "software"})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (mut pages, mut seen, mut page) = (0, Vec::new(), None);
    loop {
        let p = t
            .search_updated("cf.category = software", 0, page)
            .await
            .unwrap();
        pages += 1;
        seen.extend(
            p.items
                .into_iter()
                .map(|i| (i.key, i.version, i.updated_ms)),
        );
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (3, 205));
    let polls: Vec<_> = fake
        .exchanges()
        .into_iter()
        .filter(|e| {
            e.template == "/api/now/table/{table}" && e.query.contains("category%3Dsoftware")
        })
        .collect();
    assert!(
        polls
            .iter()
            .all(|e| e.query.contains("sysparm_display_value=false")
                && e.query.contains("ORDERBYsys_updated_on")
                && e.query.contains("sysparm_fields=")),
        "{:?}",
        polls[0].query
    );

    // An edit in the cursor's second shows again with a higher sys_mod_count.
    let (key, version, updated) = seen.last().cloned().unwrap();
    let sys_id = fake
        .records("incident")
        .iter()
        .find(|r| r["number"] == key)
        .unwrap()["sys_id"]
        .clone();
    person(
        &fake,
        reqwest::Method::PATCH,
        &format!("/api/now/table/incident/{sys_id}"),
        Some(json!({"short_description": "edited"})),
    )
    .await;
    let again = t
        .search_updated("cf.category = software", updated, None)
        .await
        .unwrap();
    let edited = again.items.iter().find(|i| i.key == key).unwrap();
    assert!(edited.version > version && edited.updated_ms >= updated);
    assert!(
        again
            .items
            .iter()
            .all(|i| i.updated_ms >= updated / 1000 * 1000)
    );
}

#[tokio::test]
async fn rate_limits_wait_and_oauth_tokens_are_renewed() {
    let fake = FakeServiceNow::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let t = tracker(&fake);
    fake.inject([Fault::TooManyRequests(3)]);
    match t.get_item("INC0010001").await {
        Err(PortError::RateLimited { retry_after_ms, .. }) => assert_eq!(retry_after_ms, 3_000),
        other => panic!("{other:?}"),
    }
    // Every further call waits too, without reaching the instance.
    let before = fake.exchanges().len();
    assert!(matches!(
        t.get_item("INC0010001").await,
        Err(PortError::RateLimited { .. })
    ));
    assert_eq!(fake.exchanges().len(), before);
    assert!(t.throttled_ms() >= 3_000);

    // A rule's window that only says when it resets is waited out until then.
    let windowed = tracker(&fake);
    fake.inject([Fault::WindowExhausted(2)]);
    match windowed.get_item("INC0010001").await {
        Err(PortError::RateLimited { retry_after_ms, .. }) => {
            assert!(
                (1_000..=2_000).contains(&retry_after_ms),
                "{retry_after_ms}"
            )
        }
        other => panic!("{other:?}"),
    }

    let bad =
        ServiceNowTracker::new("snow", ServiceNowConfig::basic(&fake.url, BOT, "wrong")).unwrap();
    assert!(
        matches!(bad.get_item("INC0010001").await, Err(PortError::Rejected(m)) if m.contains("401"))
    );

    for grant in [OAuthGrant::ClientCredentials, OAuthGrant::Password] {
        let mut c = config(&fake);
        c.oauth = Some(OAuthConfig {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            grant,
        });
        let t = ServiceNowTracker::new("snow", c).unwrap();
        let created = t
            .create_item(
                "incident",
                &new_item("via OAuth"),
                &format!("twinsync:c:{grant:?}"),
            )
            .await
            .unwrap();
        let tokens = |f: &FakeServiceNow| {
            f.exchanges()
                .iter()
                .filter(|e| e.template == "/oauth_token.do")
                .count()
        };
        let issued = tokens(&fake);
        fake.expire_tokens();
        assert!(
            t.get_item(&created.key).await.unwrap().is_some(),
            "a 401 gets a new token and one more try"
        );
        assert_eq!(tokens(&fake), issued + 1);
        assert!(fake.exchanges().iter().any(|e| e.status == 401));
    }
    // A token that lives less than the renewal margin is renewed before each request,
    // with its refresh token.
    let mut short = options();
    short.token_seconds = 30;
    let short = FakeServiceNow::start("127.0.0.1:0", short).await.unwrap();
    let mut c = config(&short);
    c.oauth = Some(OAuthConfig {
        client_id: "cid".into(),
        client_secret: "csecret".into(),
        grant: OAuthGrant::ClientCredentials,
    });
    let t = ServiceNowTracker::new("snow", c).unwrap();
    for _ in 0..2 {
        assert!(t.get_item("INC0010001").await.unwrap().is_none());
    }
    let tokens = short
        .exchanges()
        .iter()
        .filter(|e| e.template == "/oauth_token.do")
        .count();
    assert_eq!(tokens, 2);
    assert!(short.exchanges().iter().all(|e| e.status != 401));
    let mut wrong = config(&fake);
    wrong.oauth = Some(OAuthConfig {
        client_id: "cid".into(),
        client_secret: "nope".into(),
        grant: OAuthGrant::ClientCredentials,
    });
    let err = ServiceNowTracker::new("snow", wrong)
        .unwrap()
        .get_item("INC0010001")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("access_denied"), "{err}");
}

#[tokio::test]
async fn the_business_rule_push_is_signed_and_verified() {
    let mut opts = options();
    opts.push_secret = "push-key-0123456789".into();
    opts.properties = vec![(
        twinsync_servicenow::client::PUSH_URL_PROPERTY.into(),
        String::new(),
    )];
    let fake = FakeServiceNow::start("127.0.0.1:0", opts).await.unwrap();
    // A receiver for the pushes.
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(
        Vec<(String, String)>,
        Vec<u8>,
    )>::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/webhooks/servicenow/snow",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let h = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    sink.lock().unwrap().push((h, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!(
        "http://{}/webhooks/servicenow/snow",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut c = config(&fake);
    c.webhook_secret = "push-key-0123456789".into();
    let t = ServiceNowTracker::new("snow", c).unwrap();
    assert!(
        t.register_webhook(&hook).await.unwrap(),
        "the rule's property now names the node"
    );
    let created = t
        .create_item("incident", &new_item("pushed"), "twinsync:c:P-1")
        .await
        .unwrap();
    for _ in 0..50 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (headers, body) = received.lock().unwrap()[0].clone();
    let signals = t
        .verify_webhook(&headers, &body, twinsync_connector_kit::now_ms())
        .unwrap();
    assert_eq!(
        (signals[0].item_key.as_str(), signals[0].project.as_str()),
        (created.key.as_str(), "incident")
    );
    let mut forged = body.clone();
    forged[2] ^= 1;
    assert!(
        t.verify_webhook(&headers, &forged, twinsync_connector_kit::now_ms())
            .is_err()
    );
    // Without the rule's property, or without a key, the triggers are polled only.
    let polled = tracker(&fake);
    assert!(!polled.register_webhook(&hook).await.unwrap());
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/servicenow")
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

/// The documented examples map to items and back: a Table API incident (values, UTC
/// times), its journal rows, its attachment metadata; the fake answers in the same
/// field names and shapes.
#[tokio::test]
async fn the_connector_and_the_fake_follow_the_documented_examples() {
    let record = fixture("incident.json");
    let choices = fixture("sys_choice.json");
    let states = Choices::from_rows(
        choices["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["element"] == "state")
            .cloned()
            .collect::<Vec<_>>()
            .as_slice(),
    );
    let priorities = Choices::from_rows(
        choices["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["element"] == "priority")
            .cloned()
            .collect::<Vec<_>>()
            .as_slice(),
    );
    let cx = Context {
        base_url: "https://dev12345.service-now.com",
        table: "incident",
        states: &states,
        priorities: &priorities,
        custom_fields: &[],
    };
    let journal = fixture("sys_journal_field.json");
    let comments = journal["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| twinsync_servicenow::mapping::comment(e, &Default::default()))
        .collect();
    let attachments = fixture("attachment.json")["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(twinsync_servicenow::mapping::attachment)
        .collect();
    let item = to_item(&cx, &record["result"][0], comments, attachments);
    assert_eq!(item.key, "INC0000060");
    assert_eq!(item.summary, "Unable to connect to email");
    assert_eq!(item.status_name(), Some("Closed"));
    assert_eq!(item.priority_name(), Some("Moderate"));
    assert_eq!(
        item.updated_ms,
        twinsync_servicenow::query::millis("2016-12-14 02:46:44")
    );
    assert_eq!(item.version, 14);
    assert_eq!(item.comments.len(), 2);
    assert!(item.comments[1].internal);
    assert_eq!(item.attachments[0].filename, "screenshot.png");
    assert_eq!(item.attachments[0].size, 462);

    // The fake's records carry every field of the documented record the connector reads.
    let fake = FakeServiceNow::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let t = tracker(&fake);
    let created = t
        .create_item("incident", &item, "twinsync:c:fixture")
        .await
        .unwrap();
    let back = t.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(
        (
            back.summary.as_str(),
            back.status_name(),
            back.priority_name()
        ),
        (item.summary.as_str(), Some("Closed"), Some("Moderate"))
    );
    let (_, listed) = person(
        &fake,
        reqwest::Method::GET,
        "/api/now/table/incident?sysparm_limit=1",
        None,
    )
    .await;
    let documented = record["result"][0].as_object().unwrap();
    let answered = listed["result"][0].as_object().unwrap();
    for field in [
        "sys_id",
        "number",
        "short_description",
        "state",
        "impact",
        "urgency",
        "priority",
        "sys_updated_on",
        "sys_created_on",
        "sys_mod_count",
        "opened_by",
        "correlation_id",
    ] {
        assert!(
            documented.contains_key(field) && answered.contains_key(field),
            "{field}"
        );
        assert_eq!(
            (documented[field].is_string(), documented[field].is_object()),
            (answered[field].is_string(), answered[field].is_object()),
            "{field}"
        );
    }
}

/// Runs a ServiceNow demo pair with `items` incidents and checks that it converged with
/// every incident twinned once.
async fn converged_demo(
    pair: twinsync_cli::demo::Pair,
    items: usize,
) -> twinsync_cli::demo::DemoReport {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=info,twinsync_servicenow=warn,twinsync_jira=warn")
        .try_init();
    let report = twinsync_cli::demo::servicenow::scenario(&twinsync_cli::demo::DemoArgs {
        items,
        json: true,
        data_dir: None,
        pair,
    })
    .await
    .unwrap();
    assert!(
        report.converged,
        "{:#?} {:#?}",
        report.mismatches, report.steps
    );
    assert_eq!((report.items_a_to_b, report.duplicates), (items, 0));
    report
}

/// `twinsync demo --pair servicenow-sandbox` as a test: incidents with comments and work
/// notes reach the sandbox; a resolve there comes back with a close code and notes; a
/// concurrent edit merges; through 429s, over HTTPS, with pushes; nothing duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_servicenow_sandbox_demo_converges_through_rate_limits() {
    let report = converged_demo(twinsync_cli::demo::Pair::ServicenowSandbox, 12).await;
    // One comment per incident (work notes stay), one more on #2, one from the sandbox.
    assert_eq!(report.comments_synced, 14);
    let detail = |step: &str| {
        report
            .steps
            .iter()
            .find(|s| s.step == step)
            .map(|s| s.detail.clone())
            .unwrap_or_default()
    };
    let resolve = detail("resolve on the other side");
    assert!(
        resolve.contains("state 6") && resolve.contains("close code \"Solved (Permanently)\""),
        "{resolve}"
    );
    let compare = detail("compare");
    assert!(
        !compare.contains(" 0 429s") && !compare.contains(" 0 pushes"),
        "{compare}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_jira_servicenow_demo_converges() {
    let report = converged_demo(twinsync_cli::demo::Pair::JiraServicenow, 8).await;
    assert_eq!(report.comments_synced, 10);
}

/// Engineering and IT operations: the fake Azure DevOps and the fake ServiceNow on their
/// default rules only. States and priorities cross by meaning, work notes stay inside
/// ServiceNow, and a Task closed in Azure DevOps resolves its incident with a close code.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ado_servicenow_demo_converges() {
    let report = converged_demo(twinsync_cli::demo::Pair::AdoServicenow, 8).await;
    assert!(
        report.steps[2].detail.contains("close code \"Solved"),
        "{:#?}",
        report.steps
    );
}

#[test]
fn the_connector_kind_is_servicenow() {
    assert_eq!(
        ConnectorKind::parse("servicenow"),
        Some(ConnectorKind::ServiceNow)
    );
}

/// A ServiceNow node and a sandbox node: an incident with a comment and a work note
/// reaches the sandbox; the process is killed; while it is down, a person comments, adds
/// a work note and moves the incident on; after the restart (on new ports: the node
/// points the push rule at its new address) all of it arrives once, through 429s, with
/// the sync status kept in `correlation_display`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_resumes_and_nothing_is_lost_or_duplicated() {
    use crate::support::until;
    use twinsync_local::process::{Process, ProcessOptions};
    use twinsync_node::config::{InstanceSection, ServiceNowSection};
    let mut opts = options();
    opts.push_secret = "push-key-0123456789".into();
    opts.properties = vec![(
        twinsync_servicenow::client::PUSH_URL_PROPERTY.into(),
        String::new(),
    )];
    opts.every_nth_429 = 9;
    let fake = FakeServiceNow::start("127.0.0.1:0", opts).await.unwrap();
    let servicenow = InstanceSection {
        id: "servicenow".into(),
        connector: ConnectorKind::ServiceNow,
        base_url: fake.url.clone(),
        webhook_secret: "push-key-0123456789".into(),
        token: Some(BOT_PASSWORD.into()),
        register_webhook: true,
        servicenow: Some(ServiceNowSection {
            username: Some(BOT.into()),
            custom_fields: vec!["category".into()],
            ..ServiceNowSection::default()
        }),
        ..Default::default()
    };
    let sandbox = InstanceSection {
        id: "sandbox-b".into(),
        connector: ConnectorKind::Sandbox,
        base_url: "sandbox:b".into(),
        webhook_secret: "servicenow-restart-sandbox-secret".into(),
        register_webhook: true,
        ..Default::default()
    };
    let config = twinsync_cli::demo::servicenow::config(servicenow, sandbox);
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let (status, created) = person(
        &fake,
        reqwest::Method::POST,
        "/api/now/table/incident",
        Some(
            json!({"short_description": "VPN drops", "category": "software",
                    "comments": "It drops every hour.", "work_notes": "Tunnel logs attached."}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let number = created["result"]["number"].as_str().unwrap().to_string();
    let sys_id = created["result"]["sys_id"].as_str().unwrap().to_string();
    let twin = async |p: &Process| {
        let node = p.node("node-x").unwrap();
        let sandbox = node.tracker("sandbox-b").unwrap();
        let page = sandbox.search_updated("", 0, None).await.unwrap();
        let mut items = Vec::new();
        for i in page.items {
            items.push(sandbox.get_item(&i.key).await.unwrap().unwrap());
        }
        items
    };
    until("the incident reaches the sandbox", 60, async || {
        twin(&p)
            .await
            .first()
            .is_some_and(|i| i.comments.len() == 1)
    })
    .await;
    until("the sync status shows in ServiceNow", 60, async || {
        fake.records("incident")[0]["correlation_display"] == "twinsync: synced with SUPPORT-1"
    })
    .await;
    p.kill().await;

    // While the node is down.
    for body in [
        json!({"comments": "Now it drops every minute."}),
        json!({"work_notes": "Firewall rule 7 suspected."}),
        json!({"state": "2"}),
    ] {
        let (status, answer) = person(
            &fake,
            reqwest::Method::PATCH,
            &format!("/api/now/table/incident/{sys_id}"),
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    until("the edits made while down arrive", 90, async || {
        twin(&p)
            .await
            .first()
            .is_some_and(|i| i.comments.len() == 2 && i.status_name() == Some("In Progress"))
    })
    .await;
    let items = twin(&p).await;
    assert_eq!(items.len(), 1, "one twin, no duplicate");
    let bodies: Vec<&str> = items[0].comments.iter().map(|c| c.body.as_str()).collect();
    assert!(
        bodies
            .iter()
            .all(|b| !b.contains("Tunnel") && !b.contains("Firewall")),
        "work notes stay in ServiceNow: {bodies:?}"
    );
    assert_eq!(fake.records("incident").len(), 1);
    assert_eq!(
        fake.journal("incident", &number).len(),
        4,
        "no journal entry added by sync"
    );
    assert!(fake.exchanges().iter().any(|e| e.status == 429));
    let url = fake
        .records("sys_properties")
        .into_iter()
        .find(|r| r["name"] == twinsync_servicenow::client::PUSH_URL_PROPERTY)
        .unwrap()["value"]
        .clone();
    assert!(url.ends_with("/webhooks/servicenow/servicenow"), "{url}");
    // Unlinked, the incident says so.
    twinsync_node::operations::unlink(p.node("node-s").unwrap(), "demo", &number)
        .await
        .unwrap();
    // Shown best effort: under the fake's 429s it may wait out a limit first.
    crate::support::until("the incident says unlinked", 30, async || {
        fake.records("incident")[0]["correlation_display"] == "twinsync: unlinked"
    })
    .await;
    p.stop().await;
}

/// pysnc, ServiceNow's own Python client (`tests/contracts/servicenow_client.py`),
/// works against the fake: create, read, query, update, a comment, a transition and a
/// resolve the data policy first refuses, a search in batches of two (`sysparm_limit`,
/// `sysparm_offset`, `X-Total-Count`), a 404, and a 429 that it raises without retries
/// and waits out with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysnc_talks_to_the_fake() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/servicenow_client.py");
    // pysnc speaks only HTTPS: the fake serves it with a test CA pysnc trusts.
    let ca = twinsync_tls::test_ca::TestCa::new("pysnc contract CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_ca(dir.path());
    let fake = FakeServiceNow::start_on(
        "127.0.0.1:0",
        options(),
        twinsync_tls::Transport::Tls(ca.loopback_server()),
    )
    .await
    .unwrap();
    assert!(fake.url.starts_with("https://"));
    let ca_path = ca_file.to_string_lossy().to_string();
    let run = async |mode: &str| {
        let out = tokio::process::Command::new("python3")
            .arg(&script)
            .args([mode, &fake.url, "ana.lima", "ana-pw", &ca_path])
            // requests lets these override the `verify` pysnc passes; they name the CA too.
            .env("REQUESTS_CA_BUNDLE", &ca_path)
            .env("CURL_CA_BUNDLE", &ca_path)
            .output()
            .await
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{mode}: {} (pysnc missing? run `python3 -m pip install -r tests/contracts/requirements.txt`; scripts/test does)",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let seen = run("main").await;
    assert_eq!(
        seen,
        json!({
            "number": "INC0010001",
            "priority": "1 - Critical",
            "resolve_without_close": "RoleException",
            "state": "Resolved",
            "summary": "Updated by pysnc",
            "comments": ["A comment from pysnc"],
            "listed": ["Batch 0", "Batch 1", "Batch 2", "Batch 3", "Batch 4"],
            "row_count": 5,
            "found_missing": false,
        })
    );
    // pysnc pages with sysparm_limit and sysparm_offset.
    let pages = fake
        .exchanges()
        .iter()
        .filter(|e| e.query.contains("category%3Dhardware"))
        .count();
    assert_eq!(pages, 3);
    fake.inject([Fault::TooManyRequests(1)]);
    assert_eq!(run("limited").await, json!({"without_retry": "429"}));
    fake.inject([Fault::TooManyRequests(1)]);
    assert_eq!(run("retried").await, json!({"with_retry": true}));
    assert_eq!(
        fake.exchanges().iter().filter(|e| e.status == 429).count(),
        2
    );
}
