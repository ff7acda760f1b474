//! The fake Jira refuses what Jira Cloud refuses (JQL on entity properties no app indexes,
//! unknown fields, operators a field does not take, values that do not exist; creates
//! without their required fields or with fields off the create screen; projects the caller
//! may not browse; pages larger than Jira gives), and the connector finds an issue again
//! without searching an entity property: through the origin field when one is set up,
//! among the recent creates otherwise, each candidate checked by its property.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use twinsync_core::Item;
use twinsync_fakes::jira::{FakeJira, FakeOptions};
use twinsync_jira::mapping::ORIGIN_PROPERTY;
use twinsync_jira::origin::origin_token;
use twinsync_jira::{JiraConfig, JiraTracker};
use twinsync_ports::{PortError, Tracker};

pub const BOT: &str = "bot@example.com";
pub const BOT_TOKEN: &str = "bot-token";
pub const ANA: &str = "ana@example.com";
pub const ANA_TOKEN: &str = "ana-token";
/// The origin field of the tests that set one up.
pub const ORIGIN_FIELD: (&str, &str) = ("customfield_10050", "Twinsync Origin");

/// Projects DEMO and SECRET (the bot may browse DEMO only), the bot and Ana, the Team
/// select and a "Twinsync Origin" text field.
pub fn options() -> FakeOptions {
    FakeOptions {
        projects: vec!["DEMO".into(), "SECRET".into()],
        accounts: vec![
            (BOT.into(), "twinsync bot".into()),
            (ANA.into(), "Ana Lima".into()),
        ],
        api_tokens: vec![
            (BOT_TOKEN.into(), BOT.into()),
            (ANA_TOKEN.into(), ANA.into()),
        ],
        custom_fields: vec![
            ("customfield_10020".into(), "Team".into(), "option".into()),
            (
                ORIGIN_FIELD.0.into(),
                ORIGIN_FIELD.1.into(),
                "string".into(),
            ),
        ],
        project_access: vec![(BOT.into(), "DEMO".into())],
        ..FakeOptions::default()
    }
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/jira/strict")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A call to the fake's REST API v3 as `who` (email, token); the status and the body.
async fn call(
    fake: &FakeJira,
    who: (&str, &str),
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    static HTTP: std::sync::LazyLock<reqwest::Client> =
        std::sync::LazyLock::new(reqwest::Client::new);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = HTTP
        .request(method, format!("{}/rest/api/3{path}", fake.url))
        .basic_auth(who.0, Some(who.1));
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn task(project: &str, summary: &str, more: Value) -> Value {
    let mut fields =
        json!({"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary});
    for (k, v) in more.as_object().cloned().unwrap_or_default() {
        fields[k] = v;
    }
    json!({ "fields": fields })
}

fn doc(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

async fn search(fake: &FakeJira, jql: &str, max: u64, fields: &[&str]) -> (u16, Value) {
    let body = json!({"jql": jql, "maxResults": max, "fields": fields});
    call(fake, (BOT, BOT_TOKEN), "POST", "/search/jql", Some(body)).await
}

#[tokio::test]
async fn jql_is_read_and_refused_as_jira_cloud_does() {
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let bot = (BOT, BOT_TOKEN);
    let made = [
        (
            bot,
            task(
                "DEMO",
                "Checkout fails",
                json!({"labels": ["sync"], "customfield_10020": {"value": "Payments"}, "description": doc("Pay with card")}),
            ),
        ),
        (
            bot,
            task(
                "DEMO",
                "Checkout page is slow",
                json!({"labels": ["sync", "ui"]}),
            ),
        ),
        ((ANA, ANA_TOKEN), task("DEMO", "Refund missing", json!({}))),
        ((ANA, ANA_TOKEN), task("SECRET", "Hidden", json!({}))),
    ];
    for (who, body) in made {
        let (status, answer) = call(&fake, who, "POST", "/issue", Some(body)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let mut problems = Vec::new();
    for case in fixture("jql.json")["cases"].as_array().unwrap() {
        let jql = case["jql"].as_str().unwrap();
        let (status, answer) = search(&fake, jql, 50, &["id"]).await;
        let got = match status {
            200 => json!({"found": answer["issues"].as_array().map_or(0, Vec::len)}),
            _ => {
                json!({"status": status, "error": answer["errorMessages"][0], "errors": answer["errors"]})
            }
        };
        let want = match case.get("error") {
            Some(e) => json!({"status": 400, "error": e, "errors": {}}),
            None => json!({"found": case["found"]}),
        };
        if got != want {
            problems.push(format!("{jql}\n  got  {got}\n  want {want}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // With an app that indexes the origin property, JQL on it works, as on a site with one.
    let indexed = FakeJira::start(
        "127.0.0.1:0",
        FakeOptions {
            indexed_properties: vec![format!("{ORIGIN_PROPERTY}.origin")],
            ..options()
        },
    )
    .await
    .unwrap();
    let mut body = task("DEMO", "Marked", json!({}));
    body["properties"] = json!([{"key": ORIGIN_PROPERTY, "value": {"origin": "o-1"}}]);
    call(&indexed, bot, "POST", "/issue", Some(body)).await;
    let (status, answer) = search(
        &indexed,
        "issue.property[twinsync-origin].origin = \"o-1\"",
        50,
        &["id"],
    )
    .await;
    assert_eq!(
        (status, answer["issues"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{answer}"
    );
}

#[tokio::test]
async fn creates_reads_and_pages_are_refused_or_clamped_as_jira_cloud_does() {
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    let bot = (BOT, BOT_TOKEN);
    let mut problems = Vec::new();
    for case in fixture("create.json")["cases"].as_array().unwrap() {
        let (status, answer) = call(
            &fake,
            bot,
            "POST",
            "/issue",
            Some(json!({"fields": case["fields"]})),
        )
        .await;
        let want_errors = case.get("errors").cloned().unwrap_or(Value::Null);
        let got_errors = if status == 201 {
            Value::Null
        } else {
            answer["errors"].clone()
        };
        if status != case["status"].as_u64().unwrap() as u16 || got_errors != want_errors {
            problems.push(format!("{}: {status} {answer}", case["name"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // An issue in a project the caller may not browse is answered as one that does not exist.
    let (status, secret) = call(
        &fake,
        (ANA, ANA_TOKEN),
        "POST",
        "/issue",
        Some(task("SECRET", "Hidden", json!({}))),
    )
    .await;
    assert_eq!(status, 201, "{secret}");
    let key = secret["key"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", format!("/issue/{key}"), None),
        (
            "PUT",
            format!("/issue/{key}"),
            Some(json!({"fields": {"summary": "x"}})),
        ),
        ("GET", format!("/issue/{key}/transitions"), None),
        ("GET", format!("/issue/{key}/comment"), None),
        (
            "POST",
            format!("/issue/{key}/comment"),
            Some(json!({"body": doc("x")})),
        ),
    ] {
        let (status, answer) = call(&fake, bot, method, &path, body).await;
        assert_eq!(
            (status, answer["errorMessages"][0].as_str()),
            (
                404,
                Some("Issue does not exist or you do not have permission to see it.")
            ),
            "{method} {path}"
        );
    }
    assert_eq!(
        call(
            &fake,
            (ANA, ANA_TOKEN),
            "GET",
            &format!("/issue/{key}"),
            None
        )
        .await
        .0,
        200
    );

    // Pages: at most 100 issues with fields, 5,000 with ids only; a larger maxResults is
    // clamped, not refused.
    for i in 0..101 {
        call(
            &fake,
            bot,
            "POST",
            "/issue",
            Some(task("DEMO", &format!("filler {i}"), json!({}))),
        )
        .await;
    }
    let jql = "project = DEMO ORDER BY created ASC";
    let cases: [(u64, &[&str], usize, bool); 3] = [
        (500, &["summary"], 100, false),
        (500, &["id"], 102, true),
        (1_000_000, &["key"], 102, true),
    ];
    for (max, fields, want, last) in cases {
        let (status, page) = search(&fake, jql, max, fields).await;
        assert_eq!(status, 200, "{page}");
        let got = (
            page["issues"].as_array().map_or(0, Vec::len),
            page["isLast"].as_bool(),
        );
        assert_eq!(got, (want, Some(last)), "maxResults {max} with {fields:?}");
        assert_eq!(page["nextPageToken"].is_string(), !last);
    }
}

/// The bot's tracker; with `field`, find-again uses the origin field.
fn tracker(fake: &FakeJira, field: Option<&str>) -> JiraTracker {
    let config = JiraConfig {
        origin_field: field.map(str::to_string),
        ..JiraConfig::basic(&fake.url, "DEMO", BOT, BOT_TOKEN)
    };
    JiraTracker::new("jira", config).unwrap()
}

fn item(summary: &str) -> Item {
    Item {
        summary: summary.into(),
        ..Item::default()
    }
}

/// An issue made behind the connector's back, with `field` in the origin field and the
/// origin property `property`: what a person's copy or edit leaves.
async fn planted(fake: &FakeJira, field: &str, property: Option<&str>) -> String {
    let mut body = task("DEMO", "planted", json!({ ORIGIN_FIELD.0: field }));
    if let Some(p) = property {
        body["properties"] = json!([{"key": ORIGIN_PROPERTY, "value": {"origin": p}}]);
    }
    let (status, answer) = call(fake, (BOT, BOT_TOKEN), "POST", "/issue", Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["key"].as_str().unwrap().to_string()
}

/// Find-again on a Jira without an app: with the origin field (by id or by name) and
/// without one. Near-matches the search returns first (a copied token, a token Jira's
/// stemming takes for the same word, an origin one character longer) are never taken for
/// the twin: its entity property decides.
#[tokio::test]
async fn the_connector_finds_an_issue_again_without_searching_its_entity_property() {
    for field in [None, Some(ORIGIN_FIELD.0), Some("twinsync origin")] {
        let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
        let jira = tracker(&fake, field);
        let origin = "twinsync:c:acme/demo#1";
        let token = origin_token(origin);
        let near = [
            planted(&fake, &format!("{token} copied"), None).await,
            planted(
                &fake,
                &format!("{token}ing"),
                Some("twinsync:c:acme/demo#7"),
            )
            .await,
            planted(&fake, "", Some("twinsync:c:acme/demo#10")).await,
        ];
        let created = jira
            .create_item("DEMO", &item("the twin"), origin)
            .await
            .unwrap();
        jira.create_item("DEMO", &item("another"), "twinsync:c:acme/demo#2")
            .await
            .unwrap();
        let found = jira.find_by_origin("DEMO", origin).await.unwrap().unwrap();
        assert_eq!(
            (found.key.as_str(), found.origin.as_deref()),
            (created.key.as_str(), Some(origin)),
            "{field:?}"
        );
        assert!(
            found.custom_fields.is_empty(),
            "the origin field stays out of items: {:?}",
            found.custom_fields
        );
        assert!(
            jira.find_by_origin("DEMO", "twinsync:c:acme/demo#3")
                .await
                .unwrap()
                .is_none()
        );
        let searches: Vec<_> = fake
            .exchanges()
            .into_iter()
            .filter(|e| e.template == "/rest/api/3/search/jql")
            .collect();
        let jql = |e: &twinsync_fakes::jira::Exchange| {
            e.request
                .as_ref()
                .map_or(Value::Null, |r| r["jql"].clone())
                .to_string()
        };
        assert!(
            searches
                .iter()
                .all(|e| e.status == 200 && !jql(e).contains("issue.property"))
        );
        assert_eq!(
            searches.iter().any(|e| jql(e).contains("cf[10050] ~")),
            field.is_some()
        );
        // The near-matches were candidates, so the property check is what kept them out.
        let candidates: Vec<String> = searches[0].response.as_ref().unwrap()["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect();
        let expected_near = if field.is_some() {
            &near[..2]
        } else {
            &near[..]
        };
        assert!(
            expected_near.iter().all(|k| candidates.contains(k)),
            "{field:?}: {candidates:?}"
        );
    }
}

/// Without the origin field, an issue created before the look-back window is not found
/// (the documented limit); with it, age does not matter.
#[tokio::test]
async fn only_the_origin_field_finds_old_issues() {
    for (field, found) in [(None, false), (Some(ORIGIN_FIELD.1), true)] {
        let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
        let jira = tracker(&fake, field);
        let made = jira
            .create_item("DEMO", &item("old"), "o-old")
            .await
            .unwrap();
        fake.backdate_created(&made.key, "2020-01-01T00:00:00.000+0000");
        let again = jira.find_by_origin("DEMO", "o-old").await.unwrap();
        assert_eq!(
            again.map(|i| i.key),
            found.then(|| made.key.clone()),
            "{field:?}"
        );
    }
}

/// The origin field is checked at start (the node's webhook registration): one that does
/// not exist, or is not a short text field, stops it with what to fix.
#[tokio::test]
async fn a_bad_origin_field_is_refused_at_start_with_the_fix() {
    let fake = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
    for (field, want) in [
        ("Origin", "no such custom field"),
        ("Team", "must be a \"Short text"),
    ] {
        let err = tracker(&fake, Some(field))
            .register_webhook("http://127.0.0.1:9/hook")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PortError::Rejected(m) if m.contains(want)),
            "{field}: {err}"
        );
    }
}
