//! The GitHub connector against the fake GitHub, and both against GitHub's published
//! contract: every request the connector makes and every answer the fake gives is checked
//! against `@octokit/openapi`, and the webhook parser reads `@octokit/webhooks-examples`.
//! The test command installs both (`npm ci --prefix tests/contracts`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use twinsync_core::{Attachment, Item, ItemUpdate, Named, User};
use twinsync_fakes::github::{Exchange, FakeGithub, FakeOptions, Fault};
use twinsync_github::{GithubApp, GithubConfig, GithubTracker, UserEntry, webhook};
use twinsync_ports::{PortError, Tracker, WebhookError};

const REPO: &str = "octo/demo";
const TOKEN: &str = "github_pat_test";

fn contracts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/node_modules/@octokit");
    assert!(
        dir.join("openapi").is_dir() && dir.join("webhooks-examples").is_dir(),
        "GitHub's published descriptions are missing: run `npm ci --prefix tests/contracts` \
         (scripts/test does)"
    );
    dir
}

async fn fake(options: FakeOptions) -> FakeGithub {
    let options = FakeOptions {
        tokens: vec![(TOKEN.into(), "twinsync-bot".into())],
        repos: vec![REPO.into()],
        ..options
    };
    FakeGithub::start("127.0.0.1:0", options).await.unwrap()
}

fn tracker(fake: &FakeGithub) -> GithubTracker {
    let mut config = GithubConfig::with_token(&fake.url, REPO, TOKEN);
    config.webhook_secret = "hook-secret".into();
    config.requests_per_minute = 100_000;
    config.burst = 1_000;
    config.users = vec![UserEntry {
        login: "mona".into(),
        email: "mona@example.com".into(),
        name: "Mona Lisa".into(),
    }];
    GithubTracker::new("gh", config).unwrap()
}

fn mona() -> User {
    User {
        email: "mona@example.com".into(),
        display_name: "Mona Lisa".into(),
    }
}

#[tokio::test]
async fn issues_comments_and_attachments_round_trip() {
    let gh = fake(FakeOptions::default()).await;
    let t = tracker(&gh);
    let item = Item {
        summary: "Login fails".into(),
        description: "Steps:\n\n1. open\n2. fail".into(),
        status: Some(Named::new("closed")),
        labels: vec!["bug".into(), "priority: high".into()],
        assignee: Some(mona()),
        ..Item::default()
    };
    let created = t
        .create_item(REPO, &item, "twinsync:c:PROJ-1")
        .await
        .unwrap();
    assert_eq!(created.key, "octo/demo#1");
    let got = t.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(got.summary, "Login fails");
    assert_eq!(got.description, item.description, "the marker is hidden");
    assert_eq!(got.origin.as_deref(), Some("twinsync:c:PROJ-1"));
    assert_eq!(got.status_name(), Some("closed"));
    assert_eq!(got.labels, item.labels);
    assert_eq!(got.assignee, Some(mona()));

    // An edit of the text keeps the origin marker.
    t.update_item(
        &created.key,
        &ItemUpdate {
            description: Some("New text".into()),
            status: Some("open".into()),
            assignee: Some(None),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    let c = t
        .add_comment(&created.key, "First!", None, Some("twinsync:c:comment-9"))
        .await
        .unwrap();
    t.update_comment(&created.key, &c.id, "First, edited")
        .await
        .unwrap();
    let a = t
        .add_attachment(
            &created.key,
            &Attachment {
                id: "10001".into(),
                filename: "trace.log".into(),
                mime_type: "text/plain".into(),
                size: 2048,
                url: "https://jira.example/secure/attachment/10001/trace.log".into(),
                remote_id: None,
            },
        )
        .await
        .unwrap();
    let got = t.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(got.description, "New text");
    assert_eq!(got.origin.as_deref(), Some("twinsync:c:PROJ-1"));
    assert_eq!(got.status_name(), Some("open"));
    assert_eq!(got.assignee, None);
    assert_eq!(
        got.comments.len(),
        1,
        "the attachment link is not a comment"
    );
    assert_eq!(got.comments[0].body, "First, edited");
    assert_eq!(
        got.comments[0].origin.as_deref(),
        Some("twinsync:c:comment-9")
    );
    assert_eq!(got.attachments.len(), 1);
    assert_eq!(got.attachments[0].id, a.id);
    assert_eq!(got.attachments[0].remote_id.as_deref(), Some("10001"));
    assert_eq!(got.attachments[0].filename, "trace.log");

    // Found again by its origin marker; a status GitHub does not have is a clear error.
    let found = t.find_by_origin(REPO, "twinsync:c:PROJ-1").await.unwrap();
    assert_eq!(found.map(|i| i.key), Some(created.key.clone()));
    assert_eq!(
        t.find_by_origin(REPO, "twinsync:c:none").await.unwrap(),
        None
    );
    let err = t
        .update_item(
            &created.key,
            &ItemUpdate {
                status: Some("In Progress".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("open or closed")),
        "{err}"
    );
    assert_eq!(t.get_item("octo/demo#99").await.unwrap(), None);
    assert!(matches!(
        t.get_item("not-a-key").await,
        Err(PortError::Rejected(_))
    ));
}

#[tokio::test]
async fn polling_pages_skips_pull_requests_and_finds_old_items_by_search() {
    let gh = fake(FakeOptions {
        search_lag_ms: 0,
        ..FakeOptions::default()
    })
    .await;
    let t = tracker(&gh);
    for i in 0..230 {
        let item = Item {
            summary: format!("Item {i}"),
            labels: if i % 2 == 0 {
                vec!["sync".into()]
            } else {
                vec![]
            },
            ..Item::default()
        };
        t.create_item(REPO, &item, &format!("twinsync:c:K-{i}"))
            .await
            .unwrap();
    }
    gh.add_pull_request(REPO, "A pull request", "mona").unwrap();
    let mut all = Vec::new();
    let mut page = None;
    let mut pages = 0;
    loop {
        let p = t.search_updated("", 0, page).await.unwrap();
        pages += 1;
        all.extend(p.items);
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3, "100 per page, Link rel=next");
    assert_eq!(all.len(), 230, "the pull request is skipped");
    let synced = t.search_updated("labels = sync", 0, None).await.unwrap();
    assert!(
        synced
            .items
            .iter()
            .all(|i| i.labels.contains(&"sync".into()))
    );
    // Item 3 is no longer among the 100 newest: the search API finds it.
    let old = t
        .find_by_origin(REPO, "twinsync:c:K-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.summary, "Item 3");
}

#[tokio::test]
async fn rate_limits_become_waits_not_failures() {
    let gh = fake(FakeOptions {
        rate_limit: 8,
        ..FakeOptions::default()
    })
    .await;
    let t = tracker(&gh);
    let key = t
        .create_item(
            REPO,
            &Item {
                summary: "x".into(),
                ..Item::default()
            },
            "o",
        )
        .await
        .unwrap()
        .key;
    let table = [
        (Fault::TooManyRequests(3), 3_000),
        (Fault::SecondaryLimit(7), 7_000),
    ];
    for (fault, wait) in table {
        gh.inject([fault.clone()]);
        let err = t.get_item(&key).await.unwrap_err();
        assert_eq!(
            err,
            PortError::RateLimited {
                retry_after_ms: wait,
                refused: twinsync_ports::Refusal::Whole,
            },
            "{fault:?}"
        );
        assert!(err.is_retryable());
    }
    gh.inject([Fault::BadGateway]);
    assert!(matches!(
        t.get_item(&key).await,
        Err(PortError::Unavailable(_))
    ));
    // The hourly budget runs out: GitHub says remaining 0, and the connector stops
    // asking until the reset instead of collecting 403s.
    let mut limited = 0;
    for _ in 0..10 {
        if let Err(PortError::RateLimited { retry_after_ms, .. }) = t.get_item(&key).await {
            assert!(retry_after_ms > 60_000, "waits for the hourly reset");
            limited += 1;
        }
    }
    assert!(limited > 0);
    let refused_by_github = gh
        .exchanges()
        .iter()
        .filter(|e| {
            e.status == 403
                && !e
                    .response
                    .as_ref()
                    .is_some_and(|r| r["message"].as_str().unwrap_or("").contains("secondary"))
        })
        .count();
    assert_eq!(
        refused_by_github, 0,
        "no request was sent once the budget was spent"
    );
    assert!(t.throttled_ms() >= 10_000);
}

#[tokio::test]
async fn a_github_app_trades_its_jwt_for_installation_tokens() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/github");
    let private = std::fs::read_to_string(fixtures.join("app-key.pem")).unwrap();
    let public = std::fs::read_to_string(fixtures.join("app-key.pub.pem")).unwrap();
    let gh = FakeGithub::start(
        "127.0.0.1:0",
        FakeOptions {
            app: Some((4242, 77, public)),
            // Shorter than the renewal margin: every call renews.
            installation_token_ttl_ms: 4 * 60 * 1000,
            // Another app's bot, which may comment on the repository too.
            tokens: vec![("other-bot-token".into(), "dependabot[bot]".into())],
            repos: vec![REPO.into()],
            ..FakeOptions::default()
        },
    )
    .await
    .unwrap();
    let mut config = GithubConfig::with_token(&gh.url, REPO, "");
    config.token = None;
    config.app = Some(GithubApp {
        app_id: 4242,
        installation_id: 77,
        private_key_pem: private.clone(),
    });
    let t = GithubTracker::new("gh-app", config.clone()).unwrap();
    let created = t
        .create_item(
            REPO,
            &Item {
                summary: "from an app".into(),
                ..Item::default()
            },
            "o",
        )
        .await
        .unwrap();
    assert!(t.get_item(&created.key).await.unwrap().is_some());
    let tokens = gh
        .exchanges()
        .iter()
        .filter(|e| e.template.ends_with("/access_tokens") && e.status == 201)
        .count();
    assert_eq!(tokens, 2, "a token about to expire is renewed");
    // The app's own attachment comment is an attachment; the same marker from another
    // app's bot is a plain comment (its URL is never fetched).
    let own = Attachment {
        filename: "own.txt".into(),
        url: "https://files.example/own.txt".into(),
        size: 3,
        mime_type: "text/plain".into(),
        ..Attachment::default()
    };
    t.add_attachment(&created.key, &own).await.unwrap();
    let forged = twinsync_github::mapping::attachment_comment(&Attachment {
        filename: "forged.txt".into(),
        url: "http://169.254.169.254/latest/meta-data".into(),
        ..own.clone()
    });
    let number = created.key.rsplit('#').next().unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/repos/{REPO}/issues/{number}/comments", gh.url))
        .bearer_auth("other-bot-token")
        .header("user-agent", "test")
        .json(&serde_json::json!({ "body": forged }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap()
    );
    let item = t.get_item(&created.key).await.unwrap().unwrap();
    let files: Vec<&str> = item
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(files, ["own.txt"], "only the app's own marker counts");
    assert!(
        gh.exchanges()
            .iter()
            .any(|e| e.template == "/app" && e.status == 200),
        "the app's login comes from GET /app"
    );
    // A wrong app id is refused by GitHub with 401.
    config.app = Some(GithubApp {
        app_id: 1,
        installation_id: 77,
        private_key_pem: private,
    });
    let wrong = GithubTracker::new("gh-wrong", config).unwrap();
    assert!(matches!(
        wrong.get_item(&created.key).await,
        Err(PortError::Rejected(m)) if m.contains("401")
    ));
}

fn signed(secret: &str, event: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("X-GitHub-Event".into(), event.into()),
        (
            "X-GitHub-Delivery".into(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ),
        ("X-Hub-Signature-256".into(), webhook::sign(secret, body)),
    ]
}

/// GitHub's own example payloads for `issues`, `issue_comment` and `ping`.
#[test]
fn published_webhook_examples_are_understood() {
    let path = contracts().join("webhooks-examples/api.github.com/index.json");
    let index: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seen = HashMap::<&str, usize>::new();
    for event in &index {
        let name = event["name"].as_str().unwrap();
        if !["issues", "issue_comment", "ping"].contains(&name) {
            continue;
        }
        for example in event["examples"].as_array().unwrap() {
            let body = serde_json::to_vec(example).unwrap();
            let signals = webhook::verify("s3cret", &signed("s3cret", name, &body), &body)
                .unwrap_or_else(|e| panic!("{name} {}: {e}", example["action"]));
            *seen.entry(name).or_default() += 1;
            if name == "ping" {
                assert!(signals.is_empty());
                continue;
            }
            if example["issue"].get("pull_request").is_some() {
                assert!(signals.is_empty(), "comments on pull requests are skipped");
                continue;
            }
            assert_eq!(signals.len(), 1, "{name} {}", example["action"]);
            let s = &signals[0];
            let repo = example["repository"]["full_name"].as_str().unwrap();
            assert_eq!(s.project, repo);
            assert_eq!(s.item_key, format!("{repo}#{}", example["issue"]["number"]));
            assert_eq!(s.delivery_id, "github:72d3162e-cc78-11e3-81ab-4c9367dc0958");
            // An edit or deletion of a comment, or an issue's deletion, carries no
            // version to trust: the item is always read.
            let unversioned = matches!(
                (name, example["action"].as_str().unwrap_or("")),
                ("issue_comment", "edited" | "deleted") | ("issues", "deleted")
            );
            assert_eq!(s.version == 0, unversioned, "{name} {}", example["action"]);
        }
    }
    assert!(
        seen["issues"] >= 20 && seen["issue_comment"] >= 5 && seen["ping"] >= 1,
        "{seen:?}"
    );
}

/// What is wrong, the secret, the headers, the body, and the error expected.
type Case<'a> = (
    &'a str,
    String,
    Vec<(String, String)>,
    &'a [u8],
    fn(&WebhookError) -> bool,
);

#[test]
fn bad_webhooks_are_refused() {
    let body = br#"{"action":"opened","issue":{"number":1}}"#;
    let good = signed("s3cret", "issues", body);
    let without = |name: &str| -> Vec<(String, String)> {
        good.iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    };
    let table: Vec<Case> = vec![
        ("wrong secret", "other".into(), good.clone(), body, |e| {
            *e == WebhookError::BadSignature
        }),
        (
            "tampered body",
            "s3cret".into(),
            good.clone(),
            br#"{"action":"closed","issue":{"number":1}}"#,
            |e| *e == WebhookError::BadSignature,
        ),
        (
            "no signature",
            "s3cret".into(),
            without("x-hub-signature-256"),
            body,
            |e| matches!(e, WebhookError::MissingHeader(_)),
        ),
        (
            "no event",
            "s3cret".into(),
            without("x-github-event"),
            body,
            |e| matches!(e, WebhookError::MissingHeader(_)),
        ),
        (
            "no delivery id",
            "s3cret".into(),
            without("x-github-delivery"),
            body,
            |e| matches!(e, WebhookError::MissingHeader(_)),
        ),
        (
            "no secret configured",
            String::new(),
            good.clone(),
            body,
            |e| matches!(e, WebhookError::Malformed(_)),
        ),
    ];
    for (what, secret, headers, body, expected) in table {
        let err = webhook::verify(&secret, &headers, body).unwrap_err();
        assert!(expected(&err), "{what}: {err}");
    }
    let not_json = b"not json";
    let err =
        webhook::verify("s3cret", &signed("s3cret", "issues", not_json), not_json).unwrap_err();
    assert!(matches!(err, WebhookError::Malformed(_)), "{err}");
}

/// OpenAPI 3.0 says `nullable: true`; JSON Schema says `type: [T, "null"]`.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                to_json_schema(child);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                match map.get("type").cloned() {
                    Some(Value::String(t)) => {
                        map.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = map.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

pub(crate) struct Contract {
    doc: Value,
    components: Value,
    validators: HashMap<String, jsonschema::Validator>,
}

impl Contract {
    pub(crate) fn load() -> Self {
        let path = contracts().join("openapi/generated/api.github.com.json");
        let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        to_json_schema(&mut doc);
        let components = doc["components"].clone();
        Self {
            doc,
            components,
            validators: HashMap::new(),
        }
    }

    fn check(&mut self, id: String, schema: &Value, instance: &Value) -> Vec<String> {
        if !self.validators.contains_key(&id) {
            let mut s = schema.clone();
            s["components"] = self.components.clone();
            let v = jsonschema::draft4::options()
                .should_validate_formats(false)
                .build(&s)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            self.validators.insert(id.clone(), v);
        }
        self.validators[&id]
            .iter_errors(instance)
            .take(5)
            .map(|e| format!("{id}: {e} at {}", e.instance_path()))
            .collect()
    }

    /// Problems with one exchange; documented faults (injected 429/502, 401) are skipped.
    pub(crate) fn problems(&mut self, e: &Exchange) -> Vec<String> {
        let Some(op) = self.doc["paths"][&e.template]
            .get(e.method.to_lowercase())
            .cloned()
        else {
            return vec![format!(
                "{} {} is not in GitHub's API",
                e.method, e.template
            )];
        };
        let name = op["operationId"].as_str().unwrap_or("?").to_string();
        let mut out = Vec::new();
        if let Some(body) = &e.request {
            match op["requestBody"]["content"]["application/json"].get("schema") {
                Some(schema) => out.extend(self.check(format!("{name} request"), schema, body)),
                None => out.push(format!("{name} takes no body")),
            }
        }
        if [401, 429, 502].contains(&e.status) {
            return out;
        }
        let Some(response) = op["responses"].get(e.status.to_string()).cloned() else {
            out.push(format!("{name} does not answer {}", e.status));
            return out;
        };
        if let (Some(schema), Some(body)) = (
            response["content"]["application/json"].get("schema"),
            &e.response,
        ) {
            out.extend(self.check(format!("{name} {}", e.status), schema, body));
        }
        out
    }
}

/// Drives every connector operation through the fake, then checks each recorded request
/// and answer against GitHub's OpenAPI description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exchange_follows_githubs_openapi_description() {
    let mut contract = Contract::load();
    let gh = fake(FakeOptions::default()).await;
    gh.add_milestone(REPO, "v1").unwrap();
    let t = tracker(&gh);
    let mut item = Item {
        summary: "Contract".into(),
        description: "Body".into(),
        status: Some(Named::new("closed")),
        labels: vec!["bug".into()],
        assignee: Some(mona()),
        ..Item::default()
    };
    item.custom_fields.insert("milestone".into(), json!("v1"));
    item.custom_fields
        .insert("state_reason".into(), json!("not_planned"));
    let key = t
        .create_item(REPO, &item, "twinsync:c:X-1")
        .await
        .unwrap()
        .key;
    let c = t
        .add_comment(&key, "hello", None, Some("o:1"))
        .await
        .unwrap();
    t.update_comment(&key, &c.id, "hello again").await.unwrap();
    let mut custom = std::collections::BTreeMap::new();
    custom.insert("milestone".to_string(), Value::Null);
    t.update_item(
        &key,
        &ItemUpdate {
            summary: Some("Contract 2".into()),
            description: Some("Body 2".into()),
            status: Some("open".into()),
            labels: Some(vec![]),
            assignee: Some(None),
            custom_fields: Some(custom),
            ..ItemUpdate::default()
        },
    )
    .await
    .unwrap();
    t.add_attachment(
        &key,
        &Attachment {
            id: "1".into(),
            filename: "a.png".into(),
            mime_type: "image/png".into(),
            size: 1,
            url: "https://x.example/a.png".into(),
            remote_id: None,
        },
    )
    .await
    .unwrap();
    t.get_item(&key).await.unwrap();
    t.search_updated("", 0, None).await.unwrap();
    t.find_by_origin(REPO, "twinsync:c:X-1").await.unwrap();
    for i in 0..101 {
        t.create_item(
            REPO,
            &Item {
                summary: format!("n{i}"),
                ..Item::default()
            },
            &format!("n{i}"),
        )
        .await
        .unwrap();
    }
    t.find_by_origin(REPO, "twinsync:c:X-1").await.unwrap();
    t.register_webhook("http://127.0.0.1:9/webhooks/github/gh")
        .await
        .unwrap();
    // Errors GitHub documents: 404 and 422.
    let _ = t.get_item("octo/demo#9999").await;
    let _ = t
        .update_item(
            &key,
            &ItemUpdate {
                summary: Some(" ".into()),
                ..ItemUpdate::default()
            },
        )
        .await;
    gh.inject([Fault::SecondaryLimit(1)]);
    let _ = t
        .create_item(
            REPO,
            &Item {
                summary: "limited".into(),
                ..Item::default()
            },
            "l",
        )
        .await;

    let exchanges = gh.exchanges();
    let mut operations = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for e in &exchanges {
        operations.insert(format!("{} {} {}", e.method, e.template, e.status));
        problems.extend(contract.problems(e));
    }
    assert!(
        problems.is_empty(),
        "{} contract problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    for expected in [
        "POST /repos/{owner}/{repo}/issues 201",
        "PATCH /repos/{owner}/{repo}/issues/{issue_number} 200",
        "GET /repos/{owner}/{repo}/issues/{issue_number} 200",
        "GET /repos/{owner}/{repo}/issues/{issue_number} 404",
        "PATCH /repos/{owner}/{repo}/issues/{issue_number} 422",
        "GET /repos/{owner}/{repo}/issues 200",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments 201",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments 200",
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} 200",
        "GET /repos/{owner}/{repo}/milestones 200",
        "GET /search/issues 200",
        "POST /repos/{owner}/{repo}/hooks 201",
        "POST /repos/{owner}/{repo}/issues 403",
    ] {
        assert!(
            operations.contains(expected),
            "not exercised: {expected}\n{operations:#?}"
        );
    }
}

mod sync {
    use super::*;
    use crate::support::until;
    use twinsync_cli::demo;
    use twinsync_core::NodeHelperMaps;
    use twinsync_local::process::{Process, ProcessOptions};
    use twinsync_local::quiet::wait_quiet;
    use twinsync_node::config::{
        ConnectionSection, GithubSection, InstanceSection, NodeSection, ProcessConfig,
        ProjectSection, SandboxSection, TriggerSection,
    };

    fn connection(
        instance: &str,
        remote: &str,
        target: &str,
        maps: NodeHelperMaps,
    ) -> ConnectionSection {
        ConnectionSection {
            id: "gh".into(),
            name: "sandbox <-> github".into(),
            instance: instance.into(),
            remote_node: remote.into(),
            target_project: target.into(),
            helper_maps: Some(maps),
            trigger: vec![TriggerSection {
                id: None,
                query: "labels = sync".into(),
            }],
            ..Default::default()
        }
    }

    fn config(api_url: &str) -> ProcessConfig {
        let people = [
            ("ana", "ana@example.com", "Ana Lima"),
            ("bo", "bo@example.com", "Bo Chen"),
            ("cy", "cy@example.com", "Cy Okafor"),
        ];
        ProcessConfig {
            sandbox: vec![SandboxSection {
                id: "a".into(),
                listen: "127.0.0.1:0".into(),
                db: None,
                token: None,
                projects: vec![ProjectSection {
                    key: "DEMO".into(),
                    name: "Demo".into(),
                    statuses: None,
                    priorities: None,
                }],
                budget: None,
            }],
            node: vec![
                NodeSection {
                    id: "node-a".into(),
                    data_dir: "node-a".into(),
                    listen: "127.0.0.1:0".into(),
                    admin_listen: "127.0.0.1:0".into(),
                    poll_interval_ms: 1_000,
                    instance: vec![InstanceSection {
                        id: "sandbox-a".into(),
                        connector: twinsync_core::ConnectorKind::Sandbox,
                        base_url: "sandbox:a".into(),
                        webhook_secret: "sandbox-secret-a-0123".into(),
                        register_webhook: true,
                        ..Default::default()
                    }],
                    connection: vec![connection(
                        "sandbox-a",
                        "node-g",
                        "DEMO",
                        NodeHelperMaps {
                            statuses: [("open", "Open"), ("closed", "Done")]
                                .map(|(a, b)| (a.to_string(), b.to_string()))
                                .into(),
                            ..NodeHelperMaps::default()
                        },
                    )],
                    ..Default::default()
                },
                NodeSection {
                    id: "node-g".into(),
                    data_dir: "node-g".into(),
                    listen: "127.0.0.1:0".into(),
                    admin_listen: "127.0.0.1:0".into(),
                    // Webhooks bring GitHub's changes; polling is the safety net.
                    poll_interval_ms: 5_000,
                    instance: vec![InstanceSection {
                        id: "github".into(),
                        connector: twinsync_core::ConnectorKind::Github,
                        base_url: api_url.into(),
                        webhook_secret: "hook-secret".into(),
                        token: Some(TOKEN.into()),
                        register_webhook: true,
                        github: Some(GithubSection {
                            repo: REPO.into(),
                            app: None,
                            users: people
                                .iter()
                                .map(|(login, email, name)| UserEntry {
                                    login: login.to_string(),
                                    email: email.to_string(),
                                    name: name.to_string(),
                                })
                                .collect(),
                            requests_per_minute: Some(100_000),
                            burst: Some(1_000),
                        }),
                        ..Default::default()
                    }],
                    connection: vec![connection(
                        "github",
                        "node-a",
                        REPO,
                        NodeHelperMaps::default(),
                    )],
                    ..Default::default()
                },
            ],
        }
    }

    /// Exchanges with the fake since `from`, leaving out webhook-free reads of the test.
    /// The node's requests to the fake since `from`, without polling (which costs the
    /// same whatever changes) and without the test's own reads (another token).
    fn calls_since(gh: &FakeGithub, from: usize) -> Vec<String> {
        gh.exchanges()[from..]
            .iter()
            .filter(|e| e.caller == "twinsync-bot")
            .filter(|e| {
                !(e.template == "/repos/{owner}/{repo}/issues" && e.query.contains("sort=updated"))
            })
            .map(|e| format!("{} {}", e.method, e.template))
            .collect()
    }

    /// The sandbox and the fake GitHub, synced both ways by two nodes, with webhooks from
    /// the fake, and with 429s and secondary limits injected along the way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sandbox_and_github_sync_both_ways_through_rate_limits() {
        // The handlers' log is shown when this test fails (the harness captures it).
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("twinsync_node=debug,twinsync_store=warn,twinsync_github=debug")
            .try_init();
        let gh = FakeGithub::start(
            "127.0.0.1:0",
            FakeOptions {
                tokens: vec![
                    (TOKEN.into(), "twinsync-bot".into()),
                    ("mona-token".into(), "bo".into()),
                ],
                repos: vec![REPO.into()],
                ..FakeOptions::default()
            },
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = Process::start(&config(&gh.url), dir.path(), ProcessOptions::default())
            .await
            .unwrap();
        let node_a = p.node("node-a").unwrap().clone();
        let a = node_a.tracker("sandbox-a").unwrap();
        let http = reqwest::Client::new();
        let url = p.sandbox_urls["a"].clone();
        let webhooks = [p.webhooks(), vec![gh.webhooks()]].concat();

        // One item first, to count what a created item costs at GitHub.
        let before = gh.exchanges().len();
        let first = demo::create_item(&http, &url, demo::item_body("DEMO", 0, "sync"))
            .await
            .unwrap();
        until("the first issue on GitHub", 30, async || {
            gh.issue_count(REPO) == 1
        })
        .await;
        // GitHub's webhook for the created issue races the apply that created it; its
        // change waits out the apply's lease, not the 30 s visibility timeout (CI run 31).
        assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(20)).await);
        let create_calls = calls_since(&gh, before);

        // A field edit, then a comment.
        let before = gh.exchanges().len();
        a.update_item(
            &first,
            &ItemUpdate {
                summary: Some("Checkout fails for order #0 (edited)".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
        // The test reads GitHub with its own token, so its reads are not counted.
        let mut reader = GithubConfig::with_token(&gh.url, REPO, "mona-token");
        reader.requests_per_minute = 100_000;
        reader.burst = 1_000;
        reader.users = config(&gh.url).node[1].instance[0]
            .github
            .as_ref()
            .unwrap()
            .users
            .clone();
        let g = GithubTracker::new("reader", reader).unwrap();
        until("the edit on GitHub", 30, async || {
            g.get_item("octo/demo#1")
                .await
                .unwrap()
                .unwrap()
                .summary
                .ends_with("(edited)")
        })
        .await;
        assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(30)).await);
        let edit_calls = calls_since(&gh, before);
        let before = gh.exchanges().len();
        let ana = User {
            email: "ana@example.com".into(),
            display_name: "Ana Lima".into(),
        };
        a.add_comment(&first, "Seen on **staging** too.", Some(&ana), None)
            .await
            .unwrap();
        until("the comment on GitHub", 30, async || {
            g.get_item("octo/demo#1")
                .await
                .unwrap()
                .unwrap()
                .comments
                .len()
                == 1
        })
        .await;
        assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(30)).await);
        let comment_calls = calls_since(&gh, before);

        // More items while GitHub answers with 429s and a secondary limit.
        gh.inject([
            Fault::TooManyRequests(1),
            Fault::SecondaryLimit(1),
            Fault::TooManyRequests(1),
            Fault::BadGateway,
        ]);
        for i in 1..12 {
            demo::create_item(&http, &url, demo::item_body("DEMO", i, "sync"))
                .await
                .unwrap();
        }
        until("12 issues on GitHub", 90, async || {
            gh.issue_count(REPO) == 12
        })
        .await;
        assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(60)).await);

        let issue = g.get_item("octo/demo#1").await.unwrap().unwrap();
        assert_eq!(issue.summary, "Checkout fails for order #0 (edited)");
        assert!(
            issue.description.starts_with("## Steps"),
            "{}",
            issue.description
        );
        assert_eq!(issue.status_name(), Some("open"));
        assert!(issue.labels.contains(&"sync".to_string()));
        assert!(
            issue.labels.contains(&"priority: low".to_string()),
            "{:?}",
            issue.labels
        );
        assert_eq!(
            issue.assignee.as_ref().map(|u| u.email.as_str()),
            Some("ana@example.com")
        );
        // The test reads with another account: the sync account's marker is text to it
        // (an HTML comment GitHub does not render), which only the sync account's own
        // reads take as a marker.
        assert!(
            issue.comments[0].body.starts_with(
                "**Ana Lima** wrote:\n\nSeen on **staging** too.\n\n<!-- twinsync-origin:"
            ),
            "{}",
            issue.comments[0].body
        );
        assert_eq!(issue.comments[0].origin, None);

        // Someone on GitHub closes the issue and comments: webhooks bring both back.
        let mona = &g;
        mona.update_item(
            "octo/demo#1",
            &ItemUpdate {
                status: Some("closed".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
        mona.add_comment("octo/demo#1", "Fixed in **v2.1**.", None, None)
            .await
            .unwrap();
        until("the close and the comment in the sandbox", 30, async || {
            let i = a.get_item(&first).await.unwrap().unwrap();
            i.status_name() == Some("Done") && i.comments.len() == 2
        })
        .await;
        assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(30)).await);
        let back = a.get_item(&first).await.unwrap().unwrap();
        assert_eq!(
            back.comments[0].body, "Seen on **staging** too.",
            "no attribution echo"
        );
        assert_eq!(back.comments[1].body, "Fixed in **v2.1**.");
        assert_eq!(
            back.priority_name(),
            Some("Low"),
            "priority came back from the label"
        );
        assert!(!back.labels.iter().any(|l| l.starts_with("priority: ")));
        assert!(
            gh.deliveries()
                .iter()
                .any(|d| d.event == "ping" && (200..300).contains(&d.status)),
            "the node answered GitHub's ping"
        );
        assert!(
            gh.deliveries()
                .iter()
                .filter(|d| d.event != "ping")
                .all(|d| d.status == 202),
            "every delivery was accepted"
        );
        // Exactly one issue per item, and one comment each.
        assert_eq!(gh.issue_count(REPO), 12, "no duplicate issue");
        let again = g.get_item("octo/demo#1").await.unwrap().unwrap();
        assert_eq!(again.comments.len(), 2, "no duplicate comment");
        let limited = gh
            .exchanges()
            .iter()
            .filter(|e| e.status == 429 || e.status == 403)
            .count();
        assert!(limited >= 3, "the faults were met");
        println!(
            "github calls per change: created item {} {create_calls:?}, field edit {} {edit_calls:?}, comment {} {comment_calls:?}",
            create_calls.len(),
            edit_calls.len(),
            comment_calls.len()
        );
        p.stop().await;
    }
}
