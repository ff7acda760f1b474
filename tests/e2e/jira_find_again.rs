//! A Jira issue sync created is found again on a strict Jira (one that refuses JQL on
//! entity properties no app indexes), with and without the origin field: a create whose
//! answer was lost (as in a crash before the twin was recorded) is retried without a
//! duplicate, and so is every item after the Jira node's twin store is wiped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::jira_strict::{BOT, BOT_TOKEN, ORIGIN_FIELD, options};
use async_trait::async_trait;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use twinsync_core::{Attachment, Comment, ConnectorKind, Item, ItemUpdate, User};
use twinsync_fakes::github::FakeGithub;
use twinsync_fakes::jira::FakeJira;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_node::config::{
    ConnectionSection, GithubSection, InstanceSection, JiraSection, NodeSection, ProcessConfig,
    TriggerSection,
};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, Tracker, TwinQuery, WebhookError,
};

const REPO: &str = "acme/demo";
const CONNECTION: &str = "c";
const ITEMS: usize = 3;

/// A tracker whose first `lost` creates land but whose answers never arrive, as when the
/// node dies between the create and recording the twin.
struct LosesCreateAnswers {
    inner: Arc<dyn Tracker>,
    lost: AtomicUsize,
}

#[async_trait]
impl Tracker for LosesCreateAnswers {
    fn kind(&self) -> ConnectorKind {
        self.inner.kind()
    }
    fn instance(&self) -> &str {
        self.inner.instance()
    }
    fn url(&self) -> &str {
        self.inner.url()
    }
    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.inner.get_item(key).await
    }
    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let created = self.inner.create_item(project, item, origin).await?;
        let lose = self
            .lost
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lose {
            return Err(PortError::Unavailable("the connection dropped".into()));
        }
        Ok(created)
    }
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        self.inner.update_item(key, update).await
    }
    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.inner.add_comment(key, body, author, origin).await
    }
    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.inner.update_comment(key, comment_id, body).await
    }
    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.inner.add_attachment(key, attachment).await
    }
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        self.inner.find_by_origin(project, origin).await
    }
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.inner.search_updated(query, since_ms, page).await
    }
    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        self.inner.register_webhook(url).await
    }
    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        self.inner.verify_webhook(headers, body, now_ms)
    }
}

fn config(jira: &FakeJira, github: &FakeGithub, origin_field: Option<&str>) -> ProcessConfig {
    let instance = |id: &str, connector, url: &str, token: &str| InstanceSection {
        id: id.into(),
        connector,
        base_url: url.into(),
        webhook_secret: if connector == ConnectorKind::Github {
            "gh-secret".into()
        } else {
            String::new()
        },
        token: Some(token.into()),
        register_webhook: true,
        ..Default::default()
    };
    let mut j = instance("jira", ConnectorKind::Jira, &jira.url, BOT_TOKEN);
    j.jira = Some(JiraSection {
        project: "DEMO".into(),
        email: Some(BOT.into()),
        issue_type: None,
        requests_per_minute: None,
        burst: None,
        attachment_max_bytes: None,
        origin_field: origin_field.map(str::to_string),
        origin_lookback_minutes: None,
        allow_unsigned: false,
    });
    let mut g = instance("github", ConnectorKind::Github, &github.url, "ghp-bot");
    g.github = Some(GithubSection {
        repo: REPO.into(),
        app: None,
        users: vec![],
        requests_per_minute: None,
        burst: None,
    });
    let node = |id: &str, instance: InstanceSection, remote: &str, target: &str, trigger: &str| {
        NodeSection {
            id: id.into(),
            data_dir: id.into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 5_000,
            instance: vec![instance.clone()],
            connection: vec![ConnectionSection {
                id: CONNECTION.into(),
                name: "jira <-> github".into(),
                instance: instance.id.clone(),
                remote_node: remote.into(),
                target_project: target.into(),
                trigger: vec![TriggerSection {
                    id: None,
                    query: trigger.into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    };
    ProcessConfig {
        sandbox: vec![],
        node: vec![
            node(
                "node-j",
                j,
                "node-g",
                "DEMO",
                "project = DEMO AND labels = sync",
            ),
            node("node-g", g, "node-j", REPO, "labels = sync"),
        ],
    }
}

/// Edits (or creates, with `number` None) a GitHub issue as a person does.
async fn github_issue(github: &FakeGithub, number: Option<u64>, title: &str) {
    let http = reqwest::Client::new();
    let (method, path) = match number {
        Some(n) => (reqwest::Method::PATCH, format!("/repos/{REPO}/issues/{n}")),
        None => (reqwest::Method::POST, format!("/repos/{REPO}/issues")),
    };
    let status = http
        .request(method, format!("{}{path}", github.url))
        .bearer_auth("ghp-ana")
        .header("user-agent", "a person")
        .json(&json!({"title": title, "labels": ["sync"]}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

/// One Jira issue per GitHub issue, each with its own origin, and only `ITEMS` creates.
fn one_issue_each(jira: &FakeJira) {
    let origins: Vec<Option<String>> = jira.origins("DEMO");
    let distinct: HashSet<&Option<String>> = origins.iter().collect();
    assert_eq!(
        (origins.len(), distinct.len()),
        (ITEMS, ITEMS),
        "{origins:?}"
    );
    assert!(origins.iter().all(Option::is_some), "{origins:?}");
    let creates = jira
        .exchanges()
        .iter()
        .filter(|e| e.template == "/rest/api/3/issue" && e.method == "POST")
        .count();
    assert_eq!(creates, ITEMS, "each issue was created once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_create_and_a_wiped_twin_store_make_no_duplicate_jira_issue() {
    for field in [None, Some(ORIGIN_FIELD.1)] {
        let jira = FakeJira::start("127.0.0.1:0", options()).await.unwrap();
        let github = FakeGithub::start(
            "127.0.0.1:0",
            twinsync_fakes::github::FakeOptions {
                tokens: vec![
                    ("ghp-bot".into(), "twinsync-bot".into()),
                    ("ghp-ana".into(), "ana".into()),
                ],
                repos: vec![REPO.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let options = ProcessOptions {
            tracker_decorator: Some(Arc::new(|t: Arc<dyn Tracker>| -> Arc<dyn Tracker> {
                if t.instance() == "jira" {
                    Arc::new(LosesCreateAnswers {
                        inner: t,
                        lost: AtomicUsize::new(ITEMS),
                    })
                } else {
                    t
                }
            })),
            ..ProcessOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = Process::start(&config(&jira, &github, field), dir.path(), options)
            .await
            .unwrap();
        let settle = async || {
            assert!(
                wait_quiet(
                    &p.nodes,
                    &[jira.webhooks(), github.webhooks()],
                    Duration::from_secs(90)
                )
                .await
            );
        };
        for i in 0..ITEMS {
            github_issue(&github, None, &format!("Checkout fails #{i}")).await;
        }
        crate::support::until("every issue reached Jira", 90, async || {
            crate::support::synced_twins(p.node("node-g").unwrap(), CONNECTION).await == ITEMS
        })
        .await;
        settle().await;
        one_issue_each(&jira);

        // The Jira node forgets its twins; each GitHub edit finds its Jira issue again.
        let node_j = p.node("node-j").unwrap().clone();
        let query = TwinQuery {
            connection_id: Some(CONNECTION.into()),
            limit: 100,
            ..Default::default()
        };
        for t in node_j.twins.list(&query).await.unwrap() {
            node_j.twins.delete(&t.id).await.unwrap();
        }
        for i in 0..ITEMS {
            github_issue(
                &github,
                Some(i as u64 + 1),
                &format!("Checkout fails #{i}, again"),
            )
            .await;
        }
        let tracker = node_j.tracker("jira").unwrap();
        crate::support::until("the edits reached Jira", 90, async || {
            let mut done = 0;
            for n in 1..=ITEMS {
                let item = tracker.get_item(&format!("DEMO-{n}")).await.unwrap();
                done += usize::from(item.is_some_and(|i| i.summary.ends_with("again")));
            }
            done == ITEMS
        })
        .await;
        settle().await;
        one_issue_each(&jira);
        p.stop().await;
    }
}
