//! The fake GitHub refuses what GitHub refuses (tests/fixtures/github/strict.json): a
//! create without its title, texts over GitHub's lengths, a `state_reason` GitHub does
//! not have, repositories a token may not reach or write, searches past GitHub's limits;
//! and clamps what GitHub clamps (`per_page`). Every answer still follows GitHub's OpenAPI
//! description, and the connector turns the refusals into clear errors or waits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::github::Contract;
use serde_json::{Value, json};
use std::path::PathBuf;
use twinsync_core::Item;
use twinsync_fakes::github::{Exchange, FakeGithub, FakeOptions};
use twinsync_github::{GithubConfig, GithubTracker};
use twinsync_ports::{PortError, Tracker};

const REPO: &str = "acme/demo";

fn options() -> FakeOptions {
    let token = |t: &str, login: &str| (t.to_string(), login.to_string());
    let grant = |t: &str, repo: &str, write: bool| (t.to_string(), repo.to_string(), write);
    FakeOptions {
        tokens: vec![
            token("ghp-write", "mona"),
            token("ghp-read", "reader"),
            token("ghp-other", "other"),
        ],
        repos: vec![REPO.into(), "acme/other".into()],
        grants: vec![
            grant("ghp-read", REPO, false),
            grant("ghp-other", "acme/other", true),
        ],
        ..FakeOptions::default()
    }
}

/// `{"$repeat": [s, n]}` anywhere in `v` becomes `s` repeated `n` times.
fn expand(v: &Value) -> Value {
    match v {
        Value::Object(o) if o.contains_key("$repeat") => {
            let (s, n) = (
                o["$repeat"][0].as_str().unwrap(),
                o["$repeat"][1].as_u64().unwrap(),
            );
            json!(s.repeat(n as usize))
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), expand(v))).collect()),
        other => other.clone(),
    }
}

async fn call(
    fake: &FakeGithub,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    static HTTP: std::sync::LazyLock<reqwest::Client> =
        std::sync::LazyLock::new(reqwest::Client::new);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = HTTP
        .request(method, format!("{}{path}", fake.url))
        .bearer_auth(token)
        .header("user-agent", "strict-test");
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Whether `answer` has every property of `want` with the same value.
fn has(answer: &Value, want: &Value) -> bool {
    want.as_object()
        .is_some_and(|w| w.iter().all(|(k, v)| answer.get(k) == Some(v)))
}

#[tokio::test]
async fn github_refuses_and_clamps_as_documented() {
    let fake = FakeGithub::start("127.0.0.1:0", options()).await.unwrap();
    for i in 0..101 {
        let (status, _, _) = call(
            &fake,
            "ghp-write",
            "POST",
            &format!("/repos/{REPO}/issues"),
            Some(json!({"title": format!("n{i}"), "body": "filler"})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/strict.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let mut problems = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        let path = case["path"].as_str().unwrap();
        let body = case.get("body").map(expand);
        let (status, _, answer) = call(
            &fake,
            case["token"].as_str().unwrap(),
            case["method"].as_str().unwrap(),
            path,
            body,
        )
        .await;
        let mut ok = u64::from(status) == case["status"].as_u64().unwrap();
        if let Some(m) = case.get("message") {
            ok &= answer["message"] == *m;
        }
        if let Some(e) = case.get("error") {
            ok &= answer["message"] == "Validation Failed" && has(&answer["errors"][0], e);
        }
        if let Some(a) = case.get("answer") {
            ok &= has(&answer, a);
        }
        if let Some(n) = case.get("count") {
            ok &= answer.as_array().map(Vec::len) == n.as_u64().map(|n| n as usize);
        }
        if let Some(n) = case.get("items") {
            ok &= answer["items"].as_array().map(Vec::len) == n.as_u64().map(|n| n as usize);
        }
        if !ok {
            let shown: String = answer.to_string().chars().take(300).collect();
            problems.push(format!("{}: {status} {shown}", case["name"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Searches have a limit of their own: 30 a minute, then a 403 naming the search
    // resource, with no requests left until the reset.
    let q = format!(
        "/search/issues?q=repo%3A{}+is%3Aissue+n1",
        REPO.replace('/', "%2F")
    );
    let mut last = (0, reqwest::header::HeaderMap::new());
    for _ in 0..31 {
        let (status, headers, _) = call(&fake, "ghp-read", "GET", &q, None).await;
        last = (status, headers);
    }
    let header = |name: &str| {
        last.1
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(
        (
            last.0,
            header("x-ratelimit-resource"),
            header("x-ratelimit-remaining")
        ),
        (403, Some("search".into()), Some("0".into()))
    );
    let (status, _, _) = call(
        &fake,
        "ghp-read",
        "GET",
        &format!("/repos/{REPO}/issues/1"),
        None,
    )
    .await;
    assert_eq!(status, 200, "the core limit is another");

    // Every answer, refusals included, is one GitHub's OpenAPI description documents.
    let mut contract = Contract::load();
    let problems: Vec<String> = fake
        .exchanges()
        .iter()
        .flat_map(|e| {
            contract.problems(&Exchange {
                request: None,
                ..e.clone()
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn tracker(fake: &FakeGithub, token: &str) -> GithubTracker {
    let mut config = GithubConfig::with_token(&fake.url, REPO, token);
    (config.requests_per_minute, config.burst) = (100_000, 1_000);
    GithubTracker::new("gh", config).unwrap()
}

/// The connector says what is wrong when GitHub refuses: a repository its token cannot
/// reach or write, a text GitHub will not store; a spent search limit is a wait.
#[tokio::test]
async fn the_connector_reports_githubs_refusals_clearly() {
    let fake = FakeGithub::start("127.0.0.1:0", options()).await.unwrap();
    let item = |summary: &str, description: String| Item {
        summary: summary.into(),
        description,
        ..Item::default()
    };
    let cases = [
        (
            "ghp-other",
            item("x", String::new()),
            "acme/demo not found, or this token cannot reach it",
        ),
        (
            "ghp-read",
            item("x", String::new()),
            "Resource not accessible by personal access token",
        ),
        (
            "ghp-write",
            item("x", "b".repeat(65_536)),
            "body is too long (maximum is 65536 characters)",
        ),
    ];
    for (token, item, want) in cases {
        let err = tracker(&fake, token)
            .create_item(REPO, &item, "o-1")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PortError::Rejected(m) if m.contains(want)),
            "{token}: {err}"
        );
    }

    // More than a page of issues: find-again searches, and the 31st search in a minute
    // waits for the search limit's reset.
    let writer = tracker(&fake, "ghp-write");
    for i in 0..100 {
        writer
            .create_item(
                REPO,
                &item(&format!("n{i}"), String::new()),
                &format!("o{i}"),
            )
            .await
            .unwrap();
    }
    let mut last = Ok(None);
    for _ in 0..31 {
        last = writer.find_by_origin(REPO, "o-missing").await;
    }
    assert!(
        matches!(last, Err(PortError::RateLimited { retry_after_ms, .. }) if retry_after_ms <= 61_000),
        "{last:?}"
    );
    // The search limit holds searches only: other calls go on at once.
    assert!(
        writer
            .get_item(&format!("{REPO}#1"))
            .await
            .unwrap()
            .is_some()
    );
}
