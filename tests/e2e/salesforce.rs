//! The Salesforce connector against the fake Salesforce: Cases with their picklists,
//! owner and custom fields; public and private CaseComments; files as ContentVersion;
//! twins found again by the External ID origin field; the sync status in the setup's
//! fields; SOQL polling with `nextRecordsUrl` paging and edits in the same second;
//! `If-Unmodified-Since` answered 412 for a concurrent edit; limits (REQUEST_LIMIT_EXCEEDED,
//! 503 with Retry-After, `Sforce-Limit-Info` near the allocation); the JWT bearer and
//! refresh-token flows with a session renewed after INVALID_SESSION_ID; Outbound
//! Messages; and jsforce, Salesforce's own JavaScript client, against the fake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use twinsync_core::{Attachment, Item, ItemUpdate, Named, User};
use twinsync_fakes::salesforce::{FakeOptions, FakeSalesforce, FakeUser, Fault};
use twinsync_ports::{PortError, SyncMark, SyncState, Tracker};
use twinsync_salesforce::{SalesforceConfig, SalesforceTracker, outbound};

pub const CLIENT_ID: &str = "3MVG9fake.connected.app";
pub const BOT: &str = "twinsync@acme.example";

fn key(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/salesforce")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

pub fn options() -> FakeOptions {
    FakeOptions {
        users: vec![
            FakeUser::new(BOT, "bot@acme.example", "twinsync bot"),
            FakeUser::new("ana@acme.example", "ana@acme.example", "Ana Agent"),
        ],
        apps: vec![(CLIENT_ID.into(), key("connected-app-key.pub.pem"))],
        refresh_tokens: vec![("5Aep861fake".into(), BOT.into())],
        record_types: vec!["Support".into()],
        labels: vec!["sync".into(), "hardware".into()],
        custom_fields: vec!["Product__c".into()],
        ..FakeOptions::default()
    }
}

pub fn config(fake: &FakeSalesforce) -> SalesforceConfig {
    let mut c = SalesforceConfig::jwt(&fake.url, CLIENT_ID, BOT, &key("connected-app-key.pem"));
    c.labels_field = Some("Twinsync_Labels__c".into());
    c.custom_fields = vec!["Product__c".into()];
    c.organization_id = fake.organization_id();
    c.outbound_secret = "path-secret-1".into();
    c
}

fn tracker(fake: &FakeSalesforce) -> SalesforceTracker {
    SalesforceTracker::new("sf", config(fake)).unwrap()
}

fn new_item(summary: &str) -> Item {
    Item {
        summary: summary.into(),
        description: "## Steps\n\nPrint **duplex**.".into(),
        status: Some(Named::new("Working")),
        priority: Some(Named::new("High")),
        labels: vec!["sync".into()],
        assignee: Some(User {
            email: "ana@acme.example".into(),
            display_name: "Ana Agent".into(),
        }),
        reporter: Some(User {
            email: "carl@client.example".into(),
            display_name: "Carl".into(),
        }),
        custom_fields: [
            ("Type".to_string(), json!("Problem")),
            ("Product__c".to_string(), json!("GC1040")),
            ("Team".to_string(), json!("not a Salesforce field")),
        ]
        .into(),
        ..Item::default()
    }
}

/// A session for a person's raw calls, through the fake's refresh-token flow.
async fn session(fake: &FakeSalesforce) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", fake.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token=5Aep861fake&client_id={CLIENT_ID}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn cases_comments_files_and_concurrent_edits_round_trip() {
    let fake = FakeSalesforce::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let sf = tracker(&fake);
    assert_eq!(sf.has_project("Case").await.unwrap(), Some(true));
    assert_eq!(sf.has_project("Support").await.unwrap(), Some(true));
    assert_eq!(sf.has_project("Billing").await.unwrap(), Some(false));

    let created = sf
        .create_item("Support", &new_item("Printer jams"), "twinsync:c1:DEMO-1")
        .await
        .unwrap();
    let key = created.key.clone();
    assert_eq!(key.len(), 18);
    let got = sf.get_item(&key).await.unwrap().unwrap();
    assert_eq!(got.summary, "Printer jams");
    assert_eq!(got.description, "## Steps\n\nPrint **duplex**.");
    assert_eq!(got.project, "Support");
    assert_eq!(got.status_name(), Some("Working"));
    assert_eq!(got.priority_name(), Some("High"));
    assert_eq!(got.labels, ["sync"]);
    assert_eq!(got.assignee_email(), Some("ana@acme.example"));
    assert_eq!(
        got.reporter.as_ref().map(|r| r.email.as_str()),
        Some("carl@client.example")
    );
    assert_eq!(got.custom_fields["Type"], "Problem");
    assert_eq!(got.custom_fields["Product__c"], "GC1040");
    assert!(!got.custom_fields.contains_key("Team"));
    assert_eq!(got.origin.as_deref(), Some("twinsync:c1:DEMO-1"));

    // Found again by its origin marker, after a crash.
    let found = sf
        .find_by_origin("Support", "twinsync:c1:DEMO-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.key, key);
    assert!(
        sf.find_by_origin("Support", "twinsync:c1:DEMO-404")
            .await
            .unwrap()
            .is_none()
    );
    // A second create with the same marker is refused by the unique External ID.
    let dup = sf
        .create_item("Case", &new_item("Again"), "twinsync:c1:DEMO-1")
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("DUPLICATE_VALUE"), "{dup}");

    // A status change; a name outside the picklist is refused, not written.
    let update = ItemUpdate {
        status: Some("escalated".into()),
        priority: Some("Low".into()),
        ..ItemUpdate::default()
    };
    sf.update_item(&key, &update).await.unwrap();
    let after = sf.get_item(&key).await.unwrap().unwrap();
    assert_eq!(
        (after.status_name(), after.priority_name()),
        (Some("Escalated"), Some("Low"))
    );
    let refused = sf
        .update_item(
            &key,
            &ItemUpdate {
                status: Some("Resolved".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("its values are New, Working, Escalated, Closed"),
        "{refused}"
    );

    // Public and private comments, with their markers; an edit keeps the marker.
    let public = sf
        .add_comment(
            &key,
            "Replaced the roller.",
            None,
            Some("twinsync:c1:DEMO-1:c:1"),
        )
        .await
        .unwrap();
    sf.add_internal_comment(
        &key,
        "Old firmware, keep quiet.",
        None,
        Some("twinsync:c1:DEMO-1:c:2"),
    )
    .await
    .unwrap();
    sf.update_comment(&key, &public.id, "Replaced the roller and the belt.")
        .await
        .unwrap();
    let stored = fake.comments(&key);
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0],
        (
            "Replaced the roller and the belt.\n\n[twinsync-origin: twinsync:c1:DEMO-1:c:1]"
                .to_string(),
            true
        )
    );
    assert!(!stored[1].1, "the internal comment is not published");
    let read = sf.get_item(&key).await.unwrap().unwrap();
    let comments: Vec<(&str, Option<&str>, bool)> = read
        .comments
        .iter()
        .map(|c| (c.body.as_str(), c.origin.as_deref(), c.internal))
        .collect();
    assert_eq!(
        comments,
        [
            (
                "Replaced the roller and the belt.",
                Some("twinsync:c1:DEMO-1:c:1"),
                false
            ),
            (
                "Old firmware, keep quiet.",
                Some("twinsync:c1:DEMO-1:c:2"),
                true
            )
        ]
    );

    // Files: uploaded as a ContentVersion on the Case, read back, downloaded with a cap,
    // never from another host.
    let token = session(&fake).await;
    let raw: Value = reqwest::Client::new()
        .post(format!("{}/services/data/v62.0/sobjects/ContentVersion", fake.url))
        .bearer_auth(&token)
        .json(&json!({"Title": "log", "PathOnClient": "log.txt", "VersionData": "aGVsbG8gbG9n", "FirstPublishLocationId": key}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = Attachment {
        id: "a1".into(),
        filename: "copy.txt".into(),
        size: 9,
        url: format!(
            "{}/services/data/v62.0/sobjects/ContentVersion/{}/VersionData",
            fake.url,
            raw["id"].as_str().unwrap()
        ),
        ..Attachment::default()
    };
    let copied = sf.add_attachment(&key, &source).await.unwrap();
    assert_eq!(copied.filename, "copy.txt");
    assert_eq!(copied.remote_id.as_deref(), Some("a1"));
    assert_eq!(sf.download(&copied).await.unwrap(), b"hello log");
    let listed = sf.get_item(&key).await.unwrap().unwrap().attachments;
    assert_eq!(
        listed
            .iter()
            .map(|a| a.filename.as_str())
            .collect::<Vec<_>>(),
        ["log.txt", "copy.txt"]
    );
    let elsewhere = Attachment {
        url: "https://evil.example/x".into(),
        ..copied.clone()
    };
    assert!(
        sf.download(&elsewhere)
            .await
            .unwrap_err()
            .to_string()
            .contains("not on this Salesforce")
    );
    let mut small = config(&fake);
    small.attachment_max_bytes = 4;
    let capped = SalesforceTracker::new("sf-small", small).unwrap();
    assert!(
        capped
            .download(&copied)
            .await
            .unwrap_err()
            .to_string()
            .contains("over the limit")
    );

    // The sync status and twin link: two fields, written once per change, never a comment.
    let mark = SyncMark {
        state: SyncState::Synced,
        twin_key: Some("DEMO-1".into()),
        twin_url: Some("https://jira.example/browse/DEMO-1".into()),
    };
    sf.show_sync(&key, &mark).await.unwrap();
    let patches = || {
        fake.exchanges()
            .iter()
            .filter(|e| e.method == "PATCH")
            .count()
    };
    let before = patches();
    sf.show_sync(&key, &mark).await.unwrap();
    assert_eq!(
        patches(),
        before,
        "an unchanged status is not written again"
    );
    let case = fake
        .cases()
        .into_iter()
        .find(|c| c["Id"] == json!(key))
        .unwrap();
    assert_eq!(case["Twinsync_Status__c"], "twinsync: synced with DEMO-1");
    assert_eq!(
        case["Twinsync_Link__c"],
        "https://jira.example/browse/DEMO-1"
    );
    assert_eq!(fake.comments(&key).len(), 2);
    // A create that carries the status writes both fields with the Case; shown again,
    // nothing is written.
    let shown = sf
        .create_item_shown("Support", &new_item("Shown"), "twinsync:c1:DEMO-7", &mark)
        .await
        .unwrap();
    let created_with = fake.exchanges().len();
    sf.show_sync(&shown.key, &mark).await.unwrap();
    assert_eq!(
        fake.exchanges().len(),
        created_with,
        "shown with the create"
    );
    let case = fake
        .cases()
        .into_iter()
        .find(|c| c["Id"] == json!(shown.key))
        .unwrap();
    assert_eq!(case["Twinsync_Status__c"], "twinsync: synced with DEMO-1");
    assert_eq!(
        case["Twinsync_Link__c"],
        "https://jira.example/browse/DEMO-1"
    );

    // A concurrent edit: an agent saves the Case after the node read it; the node's update
    // carries If-Unmodified-Since, gets 412 and reports a conflict instead of overwriting.
    sf.get_item(&key).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(fake.agent_edit(&key, &[("Subject", "Agent's subject")]));
    let conflict = sf
        .update_item(
            &key,
            &ItemUpdate {
                summary: Some("Node's subject".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(conflict, PortError::Conflict(_)), "{conflict:?}");
    assert!(fake.exchanges().iter().any(|e| e.status == 412));
    assert_eq!(
        sf.get_item(&key).await.unwrap().unwrap().summary,
        "Agent's subject"
    );
    // Read again, the update goes through.
    sf.update_item(
        &key,
        &ItemUpdate {
            summary: Some("Node's subject".into()),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        sf.get_item(&key).await.unwrap().unwrap().summary,
        "Node's subject"
    );
    assert!(sf.get_item("500FK9999999999AAA").await.unwrap().is_none());
    assert!(sf.get_item("not-an-id").await.unwrap().is_none());

    // The delete removal policy: a CaseComment, then the Case; twice is fine.
    let note = sf
        .add_comment(&key, "Card ending 4242", None, None)
        .await
        .unwrap();
    sf.delete_comment(&key, &note.id).await.unwrap();
    let read = sf.get_item(&key).await.unwrap().unwrap();
    assert!(read.comments.iter().all(|c| c.id != note.id));
    sf.delete_item(&key).await.unwrap();
    assert!(sf.get_item(&key).await.unwrap().is_none());
    sf.delete_item(&key).await.unwrap();
}

#[tokio::test]
async fn polling_pages_with_next_records_url_and_rereads_the_cursor_second() {
    let fake = FakeSalesforce::start(
        "127.0.0.1:0",
        FakeOptions {
            batch_size: 2,
            ..options()
        },
    )
    .await
    .unwrap();
    let sf = tracker(&fake);
    let mut keys = Vec::new();
    for i in 0..5 {
        let mut item = new_item(&format!("Case {i}"));
        if i == 4 {
            item.labels = vec![];
        }
        if i == 3 {
            item.status = Some(Named::new("Closed"));
        }
        keys.push(
            sf.create_item("Case", &item, &format!("twinsync:c1:P-{i}"))
                .await
                .unwrap()
                .key,
        );
    }
    let trigger = "labels = sync AND status != Closed";
    let mut seen = Vec::new();
    let mut page = None;
    let mut pages = 0;
    loop {
        let got = sf.search_updated(trigger, 0, page).await.unwrap();
        pages += 1;
        seen.extend(got.items.into_iter().map(|i| i.summary));
        match got.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["Case 0", "Case 1", "Case 2"]);
    // The WHERE clause did the narrowing: the fake paged only matching Cases.
    assert_eq!(pages, 2);
    let query = fake
        .exchanges()
        .into_iter()
        .find(|e| e.template.ends_with("/query") && e.query.contains("SystemModstamp"))
        .unwrap();
    assert!(query.query.contains("INCLUDES"), "{}", query.query);

    // Since a cursor: the cursor's own second is read again, so an edit made later in that
    // second is not missed; the scheduler drops the versions it has already sent.
    // Every page: the edit sorts after the others once the clock has passed their second.
    let every = async |since_ms: i64| {
        let mut items = Vec::new();
        let mut page = None;
        loop {
            let found = sf.search_updated("", since_ms, page).await.unwrap();
            items.extend(found.items);
            match found.next {
                Some(next) => page = Some(next),
                None => return items,
            }
        }
    };
    let last = every(0).await.iter().map(|i| i.updated_ms).max().unwrap();
    assert!(fake.agent_edit(&keys[0], &[("Subject", "Same second or later")]));
    let since = every(last).await;
    assert!(
        since.iter().any(|i| i.summary == "Same second or later"),
        "{since:?}"
    );
    // Two states of one Case in the same second get different, growing versions.
    let first = sf.get_item(&keys[1]).await.unwrap().unwrap();
    fake.agent_edit(&keys[1], &[("Subject", "Edit A")]);
    let a = sf.get_item(&keys[1]).await.unwrap().unwrap();
    fake.agent_edit(&keys[1], &[("Subject", "Edit B")]);
    let b = sf.get_item(&keys[1]).await.unwrap().unwrap();
    assert!(a.version > first.version || a.updated_ms > first.updated_ms);
    assert!(b.version > a.version, "{} then {}", a.version, b.version);
}

/// A CaseComment leaves its Case's stamps as they are (the fake holds to the stricter
/// reading of Salesforce), so polling asks CaseComment too: a Case only a comment
/// changed is found, with a newer version, and only if it matches the trigger.
#[tokio::test]
async fn polling_finds_cases_only_a_comment_changed() {
    let fake = FakeSalesforce::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let sf = tracker(&fake);
    let mut keys = Vec::new();
    for (i, labels) in [vec!["sync".to_string()], vec![]].into_iter().enumerate() {
        let item = Item {
            labels,
            ..new_item(&format!("Case {i}"))
        };
        let created = sf
            .create_item("Case", &item, &format!("twinsync:c1:Q-{i}"))
            .await
            .unwrap();
        keys.push(created.key);
    }
    let before = sf.get_item(&keys[0]).await.unwrap().unwrap();
    let cursor = sf
        .search_updated("", 0, None)
        .await
        .unwrap()
        .items
        .iter()
        .map(|i| i.updated_ms)
        .max()
        .unwrap();
    // The comments land in a later second than every Case's stamp.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for key in &keys {
        sf.add_comment(key, "Seen again today.", None, None)
            .await
            .unwrap();
    }
    let got = sf
        .search_updated("labels = sync", cursor + 1_000, None)
        .await
        .unwrap();
    let found: Vec<&str> = got.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(found, [keys[0].as_str()], "only the Case the trigger takes");
    let after = &got.items[0];
    assert!(after.updated_ms > before.updated_ms);
    assert!(after.version > before.version);
    assert_eq!(
        after.comments.len(),
        0,
        "a poll reads fields; comments come with get_item"
    );
    let polled = fake
        .exchanges()
        .into_iter()
        .filter(|e| e.template.ends_with("/query"))
        .map(|e| e.query)
        .collect::<Vec<_>>();
    assert!(
        polled
            .iter()
            .any(|q| q.contains("FROM+CaseComment+WHERE") || q.contains("FROM CaseComment WHERE")),
        "{polled:?}"
    );
}

#[tokio::test]
async fn limits_wait_and_sessions_are_renewed() {
    let fake = FakeSalesforce::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let sf = tracker(&fake);
    let key = sf
        .create_item("Case", &new_item("Limits"), "twinsync:c1:L-1")
        .await
        .unwrap()
        .key;

    fake.inject([Fault::RequestLimit(Some(2))]);
    match sf.get_item(&key).await {
        Err(PortError::RateLimited { retry_after_ms, .. }) => assert_eq!(retry_after_ms, 2_000),
        other => panic!("{other:?}"),
    }
    // Every call waits out the limit, not just the refused one.
    assert!(matches!(
        sf.get_item(&key).await,
        Err(PortError::RateLimited { .. })
    ));
    assert!(sf.throttled_ms() >= 2_000);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(sf.get_item(&key).await.unwrap().is_some());

    // A 503 with Retry-After is a wait too, but no proof that nothing was written.
    fake.inject([Fault::Unavailable(1)]);
    assert!(matches!(
        sf.get_item(&key).await,
        Err(PortError::RateLimited {
            retry_after_ms: 1_000,
            refused: twinsync_ports::Refusal::Unknown,
        })
    ));
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // Near the daily allocation, the connector slows down: an answer saying 14,001 of
    // 15,000 calls are spent holds the next calls a while.
    fake.set_api_usage(14_000);
    let mut slowed = false;
    for _ in 0..3 {
        if let Err(PortError::RateLimited { retry_after_ms, .. }) = sf.get_item(&key).await {
            assert!(retry_after_ms <= 2_000);
            slowed = true;
            break;
        }
    }
    assert!(slowed, "the connector slows down near the allocation");
    fake.set_api_usage(0);
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    // A session that ends is renewed once, transparently.
    let tokens_before = fake
        .exchanges()
        .iter()
        .filter(|e| e.template == "/services/oauth2/token")
        .count();
    fake.expire_sessions();
    assert!(sf.get_item(&key).await.unwrap().is_some());
    let tokens_after = fake
        .exchanges()
        .iter()
        .filter(|e| e.template == "/services/oauth2/token")
        .count();
    assert_eq!(tokens_after, tokens_before + 1);
    assert!(fake.exchanges().iter().any(|e| e.status == 401));

    // The refresh-token flow works the same; a JWT from an unknown key is refused.
    let mut refresh = config(&fake);
    refresh.private_key = None;
    refresh.refresh_token = Some("5Aep861fake".into());
    let by_refresh = SalesforceTracker::new("sf-r", refresh).unwrap();
    assert!(by_refresh.get_item(&key).await.unwrap().is_some());
    let mut stranger = config(&fake);
    stranger.client_id = "3MVG9someone.else".into();
    let refused = SalesforceTracker::new("sf-x", stranger)
        .unwrap()
        .get_item(&key)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("invalid_grant"), "{refused}");
    // The org's setup is checked: a missing field is a clear error.
    let mut unset = config(&fake);
    unset.origin_field = "Sync_Key__c".into();
    let err = SalesforceTracker::new("sf-u", unset)
        .unwrap()
        .has_project("Case")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Object Manager > Case > Fields"),
        "{err}"
    );
}

#[tokio::test]
async fn outbound_messages_are_verified_and_acknowledged_cases_are_signalled() {
    let fake = FakeSalesforce::start("127.0.0.1:0", options())
        .await
        .unwrap();
    // Nobody listens there: the fake records what it sent all the same.
    fake.set_outbound_url(Some(
        "http://127.0.0.1:9/webhooks/salesforce/sf/path-secret-1".into(),
    ));
    let sf = tracker(&fake);
    let key = sf
        .create_item("Case", &new_item("Pushed"), "twinsync:c1:O-1")
        .await
        .unwrap()
        .key;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deliveries = fake.deliveries();
    assert!(!deliveries.is_empty());
    let body = deliveries[0].payload.as_str().unwrap().to_string();
    assert!(
        body.contains("<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">"),
        "{body}"
    );
    let with = |secret: &str| vec![(outbound::PATH_SECRET.to_string(), secret.to_string())];
    let signals = sf
        .verify_webhook(&with("path-secret-1"), body.as_bytes(), 0)
        .unwrap();
    assert_eq!(signals[0].item_key, key);
    assert!(signals[0].version > 0);
    assert!(
        sf.verify_webhook(&with("guess"), body.as_bytes(), 0)
            .is_err()
    );
    let other_org = body.replace(&fake.organization_id(), "00DFK0000000999EAA");
    assert!(
        sf.verify_webhook(&with("path-secret-1"), other_org.as_bytes(), 0)
            .is_err()
    );
    assert!(
        sf.register_webhook("https://node.example/webhooks/salesforce/sf")
            .await
            .unwrap()
    );
}

/// jsforce, Salesforce's JavaScript client, against the fake: logged in with an access
/// token and the instance URL, it creates, updates, comments (public and private),
/// changes the status (and gets a restricted picklist refused), pages a SOQL query with
/// autoFetch and queryMore, reads a 404 as NOT_FOUND and a spent allocation as
/// REQUEST_LIMIT_EXCEEDED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsforce_talks_to_the_fake() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts");
    assert!(
        contracts.join("node_modules/jsforce").exists(),
        "the client library is missing: run `npm ci --prefix tests/contracts` (scripts/test does)"
    );
    let fake = FakeSalesforce::start(
        "127.0.0.1:0",
        FakeOptions {
            batch_size: 2,
            ..options()
        },
    )
    .await
    .unwrap();
    let token = session(&fake).await;
    let mut child = tokio::process::Command::new("node")
        .arg(contracts.join("official-clients.mjs"))
        .args(["salesforce", &fake.url, &token])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    if !matches!(&ready, Ok(Ok(Some(l))) if l == "ready") {
        let out = child.wait_with_output().await.unwrap();
        panic!("{ready:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    fake.inject([Fault::RequestLimit(None)]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    drop(stdin);
    let last = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{last:?}");
    let seen: Value = serde_json::from_str(&last.unwrap()).unwrap();
    assert_eq!(
        seen,
        json!({"subject": "Renamed by jsforce", "status": "Working", "priority": "High",
               "refused": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "listed": 5, "totalSize": 5,
               "firstPage": 2, "firstDone": false, "secondPage": 2, "comments": 2, "published": 1,
               "notFound": "NOT_FOUND", "throttled": "REQUEST_LIMIT_EXCEEDED"})
    );
    let exchanges = fake.exchanges();
    assert!(
        exchanges
            .iter()
            .any(|e| e.template == "/services/data/{version}/query/{locator}")
    );
    assert!(
        exchanges
            .iter()
            .filter(|e| e.template.starts_with("/services/data/"))
            .all(|e| e.path.starts_with("/services/data/v62.0/"))
    );
}

async fn demo(pair: twinsync_cli::demo::Pair, items: usize) {
    let report = twinsync_cli::demo::salesforce::scenario(&twinsync_cli::demo::DemoArgs {
        items,
        json: true,
        data_dir: None,
        pair,
    })
    .await
    .unwrap();
    let compare = report
        .steps
        .last()
        .map(|s| s.detail.clone())
        .unwrap_or_default();
    assert!(report.converged, "{:#?}\n{compare}", report.mismatches);
    assert_eq!(
        (report.items_a_to_b, report.duplicates),
        (items, 0),
        "{compare}"
    );
    assert!(
        compare.contains(&format!("{items} Cases show their sync status")),
        "{compare}"
    );
    assert!(!compare.contains(" 0 Outbound Messages"), "{compare}");
}

/// `twinsync demo --pair salesforce-sandbox`: the fake org on HTTPS with the demo's CA,
/// Outbound Messages to the node, 503s and a limit; converges with no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_salesforce_sandbox_demo_converges() {
    demo(twinsync_cli::demo::Pair::SalesforceSandbox, 6).await;
}

/// `twinsync demo --pair salesforce-github`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_salesforce_github_demo_converges() {
    demo(twinsync_cli::demo::Pair::SalesforceGithub, 6).await;
}

/// The org's one-time setup is checked when the node starts: a node whose origin field
/// the org does not have refuses to start and says what to create, instead of failing
/// every sync later. The same node starts once the field's name is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_checks_the_orgs_setup_at_start() {
    use twinsync_cli::demo::salesforce::{config, sandbox_instance, setup};
    use twinsync_local::process::{Process, ProcessOptions};

    let fake = FakeSalesforce::start("127.0.0.1:0", setup::options())
        .await
        .unwrap();
    let mut instance = setup::instance("salesforce", &fake, None);
    if let Some(sf) = instance.salesforce.as_mut() {
        sf.origin_field = Some("Missing_Origin__c".into());
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(instance, sandbox_instance());
    let err = match Process::start(&cfg, dir.path(), ProcessOptions::default()).await {
        Ok(_) => panic!("a node without its origin field started"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("salesforce") && err.contains("no field Missing_Origin__c"),
        "{err}"
    );
    assert!(
        err.contains("Setup > Object Manager > Case > Fields"),
        "{err}"
    );
    let cfg = config(
        setup::instance("salesforce", &fake, None),
        sandbox_instance(),
    );
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    p.stop().await;
}

/// A Salesforce org and a sandbox synced by two nodes: a Case with a public and a private
/// comment, a status change each way, a comment back, a concurrent edit (412, read again,
/// merged), then a node restart while Cases are edited and created in a burst, found by
/// polling through limit answers; one twin per Case.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn salesforce_and_sandbox_sync_through_comments_a_race_a_restart_and_a_burst() {
    use twinsync_cli::demo::CONNECTION;
    use twinsync_cli::demo::salesforce::{config, sandbox_instance, setup};
    use twinsync_local::process::{Process, ProcessOptions};
    use twinsync_node::NodeSettings;
    use twinsync_node::handlers::scheduler;

    let fake = FakeSalesforce::start("127.0.0.1:0", setup::options())
        .await
        .unwrap();
    let cfg = config(
        setup::instance("salesforce", &fake, None),
        sandbox_instance(),
    );
    let dir = tempfile::tempdir().unwrap();
    let options = || ProcessOptions {
        node: NodeSettings {
            visibility_ms: 1_500,
            ..NodeSettings::default()
        },
        ..ProcessOptions::default()
    };
    let p = Process::start(&cfg, dir.path(), options()).await.unwrap();
    setup::point_outbound(&fake, &p.node_urls["node-s"], "salesforce");
    let settle = async |p: &Process| {
        // A comment alone sends no Outbound Message: a poll brings it.
        let node = p.node("node-s").unwrap();
        let connection = node.connection(CONNECTION).await.unwrap();
        scheduler::poll(node, &connection).await.ok();
        let mut hooks = p.webhooks();
        hooks.push(fake.webhooks());
        assert!(
            twinsync_local::quiet::wait_quiet(&p.nodes, &hooks, Duration::from_secs(60)).await,
            "no settle"
        );
    };
    let twin = async |p: &Process, id: &str| {
        let node = p.node("node-s").unwrap();
        node.twins
            .find_by_local(CONNECTION, id)
            .await
            .unwrap()
            .and_then(|t| t.remote_key)
            .unwrap()
    };
    let http = reqwest::Client::new();
    let ana = setup::Person::login(&http, &fake.url, "ana@example.com")
        .await
        .unwrap();
    let id = ana
        .open_case(
            json!({"Subject": "VPN drops", "Description": "Every **hour**.", "Priority": "High"}),
        )
        .await
        .unwrap();
    ana.comment(&id, "Customer can see this.", true)
        .await
        .unwrap();
    ana.comment(&id, "Only agents see this.", false)
        .await
        .unwrap();
    settle(&p).await;
    let sandbox = p.node("node-x").unwrap().tracker("sandbox-b").unwrap();
    let sf = p.node("node-s").unwrap().tracker("salesforce").unwrap();
    let key = twin(&p, &id).await;
    let s = sandbox.get_item(&key).await.unwrap().unwrap();
    assert_eq!(
        (s.summary.as_str(), s.description.as_str()),
        ("VPN drops", "Every **hour**.")
    );
    assert_eq!(
        (s.status_name(), s.priority_name()),
        (Some("Open"), Some("High"))
    );
    let bodies: Vec<&str> = s.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["Customer can see this."],
        "the private comment stays in Salesforce"
    );
    // Each Outbound Message was answered 200 with the SOAP Ack (the JSON answer is 202).
    let statuses: Vec<u16> = fake.deliveries().iter().map(|d| d.status).collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == 200),
        "{statuses:?}"
    );
    let case = fake
        .cases()
        .into_iter()
        .find(|c| c["Id"] == json!(id))
        .unwrap();
    assert_eq!(
        case["Twinsync_Status__c"],
        "twinsync: synced with SUPPORT-1"
    );
    assert_eq!(case["Twinsync_Link__c"].as_str(), Some(s.url.as_str()));

    // A status change each way and a comment back.
    ana.update(&id, json!({"Status": "Escalated"}))
        .await
        .unwrap();
    settle(&p).await;
    assert_eq!(
        sandbox.get_item(&key).await.unwrap().unwrap().status_name(),
        Some("In Progress")
    );
    let bo = User {
        email: "bo@example.com".into(),
        display_name: "Bo Chen".into(),
    };
    sandbox
        .add_comment(&key, "Rebooted the *gateway*.", Some(&bo), None)
        .await
        .unwrap();
    settle(&p).await;
    let comments = fake.comments(&id);
    assert_eq!(comments.len(), 3);
    assert!(
        comments[2].0.contains("Rebooted the *gateway*.")
            && comments[2].0.contains("[twinsync-origin: "),
        "{comments:?}"
    );
    assert!(comments[2].1, "a comment from the other side is public");
    assert_eq!(
        sf.get_item(&id).await.unwrap().unwrap().status_name(),
        Some("Escalated"),
        "escalated stays escalated"
    );

    // A concurrent edit: an agent saves the description just as the node writes the
    // sandbox's new summary; the write meets 412, is read again and merged.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    fake.edit_before_next_patch(&id, "Description", "Every hour, on Wi-Fi only.");
    sandbox
        .update_item(
            &key,
            &ItemUpdate {
                summary: Some("VPN drops hourly".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
    settle(&p).await;
    assert!(
        fake.exchanges().iter().any(|e| e.status == 412),
        "the race happened"
    );
    let c = sf.get_item(&id).await.unwrap().unwrap();
    assert_eq!(
        (c.summary.as_str(), c.description.as_str()),
        ("VPN drops hourly", "Every hour, on Wi-Fi only.")
    );
    crate::support::until(
        "the agent's description reached the sandbox",
        30,
        async || {
            sandbox.get_item(&key).await.unwrap().unwrap().description
                == "Every hour, on Wi-Fi only."
        },
    )
    .await;

    // The node stops; meanwhile the Case is edited and a burst of Cases is opened. The
    // restarted node (its Outbound Message endpoint gone) finds them by polling from its
    // cursor, through limit answers.
    p.stop().await;
    fake.set_outbound_url(None);
    ana.update(&id, json!({"Subject": "Edited while the node was down"}))
        .await
        .unwrap();
    let mut burst = Vec::new();
    for i in 0..8 {
        burst.push(
            ana.open_case(json!({"Subject": format!("Burst {i}")}))
                .await
                .unwrap(),
        );
    }
    let p = Process::start(&cfg, dir.path(), options()).await.unwrap();
    fake.inject([
        Fault::RequestLimit(Some(1)),
        Fault::Unavailable(1),
        Fault::RequestLimit(Some(1)),
    ]);
    let node_s = p.node("node-s").unwrap().clone();
    let connection = node_s.connection(CONNECTION).await.unwrap();
    crate::support::until("a poll through the limits", 30, async || {
        scheduler::poll(&node_s, &connection).await.is_ok()
    })
    .await;
    settle(&p).await;
    let sandbox = p.node("node-x").unwrap().tracker("sandbox-b").unwrap();
    crate::support::until("the edit made while the node was down", 30, async || {
        sandbox.get_item(&key).await.unwrap().unwrap().summary == "Edited while the node was down"
    })
    .await;
    for b in &burst {
        let k = twin(&p, b).await;
        assert!(sandbox.get_item(&k).await.unwrap().is_some());
    }
    assert!(node_s.tracker("salesforce").unwrap().throttled_ms() > 0);
    let found = sandbox
        .search_updated("project = SUPPORT", 0, None)
        .await
        .unwrap();
    let mut origins = std::collections::HashMap::<String, usize>::new();
    for i in found.items {
        *origins.entry(i.origin.unwrap_or_default()).or_default() += 1;
    }
    assert_eq!(origins.values().sum::<usize>(), 9, "{origins:?}");
    assert!(origins.values().all(|n| *n == 1), "{origins:?}");
    assert_eq!(fake.cases().len(), 9);
    p.stop().await;
}

/// A create the org's limit refused made nothing, and says so, so its retry may create
/// without looking for the Case by origin marker (`Tracker::create_refused_whole`); a
/// 503 asks for the same wait but proves nothing, so its retry looks first.
#[tokio::test]
async fn a_create_refused_by_the_limit_made_nothing_a_503_may_have() {
    let fake = FakeSalesforce::start("127.0.0.1:0", options())
        .await
        .unwrap();
    let sf = tracker(&fake);
    // The first create reads what later ones keep (the session, fields, record types).
    sf.create_item("Case", &new_item("Warm"), "twinsync:c:W-1")
        .await
        .unwrap();
    // (fault, answered, refused whole)
    let table = [
        (Fault::RequestLimit(Some(1)), 403, true),
        (Fault::Unavailable(1), 503, false),
    ];
    for (i, (fault, status, whole)) in table.into_iter().enumerate() {
        let origin = format!("twinsync:c:H-{i}");
        fake.inject([fault]);
        let err = sf
            .create_item("Case", &new_item("Held"), &origin)
            .await
            .unwrap_err();
        assert_eq!(err.retry_after_ms(), Some(1_000), "{err}");
        assert_eq!(sf.create_refused_whole(&err), whole, "{status}: {err}");
        let refused = fake.exchanges().pop().unwrap();
        assert_eq!((refused.method.as_str(), refused.status), ("POST", status));
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let found = sf.find_by_origin("Case", &origin).await.unwrap();
        assert_eq!(found, None, "{status}");
    }
    // A limit met by the read after the create's POST: the Case exists, so the error
    // must not say the create was refused whole, or its retry would make a second one.
    fake.inject([Fault::Pass, Fault::RequestLimit(Some(1))]);
    let err = sf
        .create_item("Case", &new_item("Made"), "twinsync:c:M-1")
        .await
        .unwrap_err();
    assert_eq!(err.retry_after_ms(), Some(1_000), "{err}");
    assert!(!sf.create_refused_whole(&err), "{err}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let found = sf.find_by_origin("Case", "twinsync:c:M-1").await.unwrap();
    assert!(found.is_some(), "the Case was made");
}
