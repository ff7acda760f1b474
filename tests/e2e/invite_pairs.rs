//! Connections made by invitation between nodes of different trackers: the default rules
//! of the pair on both sides, versions of the whole configuration (rules, maps,
//! policies, triggers, plans) from the admin API and the CLI, and requests checked
//! before the handshake spends the code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::nodes::config as sandbox_config;
use crate::support::{Admin, until};
use serde_json::{Value, json};
use std::time::Duration;
use twinsync_cli::admin::Target;
use twinsync_cli::admin::versions::{self, VersionCommand};
use twinsync_core::{ConflictPolicy, ConnectionStatus, ConnectorKind, ItemUpdate};
use twinsync_fakes::github::FakeGithub;
use twinsync_fakes::jira::FakeJira;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_node::config::{
    GithubSection, InstanceSection, JiraSection, NodeSection, ProcessConfig,
};
use twinsync_rules::defaults;

const ANA: &str = "ana@example.com";

async fn fakes() -> (FakeJira, FakeGithub) {
    let jira = FakeJira::start(
        "127.0.0.1:0",
        twinsync_fakes::jira::FakeOptions {
            projects: vec!["DEMO".into()],
            accounts: vec![
                ("bot@example.com".into(), "twinsync bot".into()),
                (ANA.into(), "Ana Lima".into()),
            ],
            api_tokens: vec![
                ("bot-token".into(), "bot@example.com".into()),
                ("ana-token".into(), ANA.into()),
            ],
            // An admin webhook with the nodes' secret: deliveries are signed.
            webhook_secret: "hook-secret".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let github = FakeGithub::start(
        "127.0.0.1:0",
        twinsync_fakes::github::FakeOptions {
            tokens: vec![
                ("ghp-bot".into(), "twinsync-bot".into()),
                ("ghp-ana".into(), "ana".into()),
            ],
            repos: vec!["acme/demo".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (jira, github)
}

/// A process with one node that syncs one tracker and has no connection yet.
fn one_node(id: &str, instance: InstanceSection) -> ProcessConfig {
    ProcessConfig {
        sandbox: vec![],
        node: vec![NodeSection {
            id: id.into(),
            data_dir: id.into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 5_000,
            instance: vec![instance],
            ..Default::default()
        }],
    }
}

fn instance(id: &str, connector: ConnectorKind, url: &str, token: &str) -> InstanceSection {
    InstanceSection {
        id: id.into(),
        connector,
        base_url: url.into(),
        webhook_secret: "hook-secret".into(),
        token: Some(token.into()),
        ..Default::default()
    }
}

fn jira_node(url: &str) -> ProcessConfig {
    let mut jira = instance("jira", ConnectorKind::Jira, url, "bot-token");
    jira.jira = Some(JiraSection {
        project: "DEMO".into(),
        email: Some("bot@example.com".into()),
        issue_type: None,
        requests_per_minute: None,
        burst: None,
        attachment_max_bytes: None,
        allow_unsigned: false,
        origin_field: None,
        origin_lookback_minutes: None,
    });
    one_node("node-j", jira)
}

fn github_node(url: &str) -> ProcessConfig {
    let mut github = instance("github", ConnectorKind::Github, url, "ghp-bot");
    github.github = Some(GithubSection {
        repo: "acme/demo".into(),
        app: None,
        users: vec![twinsync_github::UserEntry {
            login: "ana".into(),
            email: ANA.into(),
            name: "Ana Lima".into(),
        }],
        requests_per_minute: None,
        burst: None,
    });
    one_node("node-g", github)
}

/// Ana, working in Jira and GitHub through their REST APIs with her own tokens.
struct Ana {
    http: reqwest::Client,
    jira: String,
    github: String,
}

impl Ana {
    async fn jira(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method, format!("{}/rest/api/3{path}", self.jira))
            .basic_auth(ANA, Some("ana-token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "Jira {path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn github_request(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.github))
            .bearer_auth("ghp-ana")
            .header("user-agent", "ana");
        if !body.is_null() {
            request = request.json(&body);
        }
        let resp = request.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "GitHub {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn github_issue(&self, number: &str, body: Value) {
        let resp = self
            .http
            .patch(format!("{}/repos/acme/demo/issues/{number}", self.github))
            .bearer_auth("ghp-ana")
            .header("user-agent", "ana")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GitHub: {}", resp.status());
    }
}

/// Jira on one node, GitHub on another, connected by invitation over HTTP with no rules
/// given by anyone: each side gets the default rules for its tracker and the other's. A
/// Jira issue appears in GitHub with its priority as a label; closing it in GitHub moves
/// it to Done in Jira; a priority changed in Jira becomes the label and back. A typo in
/// the repository is refused by asking GitHub, before the code is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jira_and_github_by_invitation_sync_statuses_and_priorities_with_default_rules() {
    let (jira, github) = fakes().await;
    let (dj, dg) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = ProcessOptions::default;
    let pj = Process::start(&jira_node(&jira.url), dj.path(), opts())
        .await
        .unwrap();
    let pg = Process::start(&github_node(&github.url), dg.path(), opts())
        .await
        .unwrap();
    let (admin_j, admin_g) = (Admin::of(&pj, "node-j"), Admin::of(&pg, "node-g"));
    let (node_j, node_g) = (pj.nodes[0].clone(), pg.nodes[0].clone());

    let (status, invited) = admin_j
        .post(
            "/api/connections/invite",
            json!({"instance": "jira", "target_project": "DEMO", "trigger": "project = DEMO AND labels = sync"}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let code = invited["code"].as_str().unwrap();
    let conn = invited["connection"].as_str().unwrap().to_string();
    let (status, refused) = admin_g
        .post(
            "/api/connections/accept",
            json!({"code": code, "instance": "github", "target_project": "acme/demoo", "trigger": "labels = sync"}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("has no project \"acme/demoo\""),
        "{refused}"
    );
    let (status, accepted) = admin_g
        .post(
            "/api/connections/accept",
            json!({"code": code, "instance": "github", "target_project": "acme/demo", "trigger": "labels = sync"}),
        )
        .await;
    assert_eq!(status, 201, "{accepted}");

    // Each side has the pair's defaults: its own tracker's rules, knowing the other's.
    for (node, local, remote) in [
        (&node_j, ConnectorKind::Jira, ConnectorKind::Github),
        (&node_g, ConnectorKind::Github, ConnectorKind::Jira),
    ] {
        let c = node.connection(&conn).await.unwrap();
        assert_eq!(c.status, ConnectionStatus::Active);
        let v = c.active_version().unwrap();
        let want = defaults::for_pair(local, remote);
        assert_eq!(v.number, 1);
        assert_eq!(v.note, want.note);
        assert!(v.incoming == want.incoming && v.outgoing == want.outgoing);
        assert_eq!(v.triggers.len(), 1);
    }

    let ana = Ana {
        http: reqwest::Client::new(),
        jira: jira.url.clone(),
        github: github.url.clone(),
    };
    let created = ana
        .jira(
            reqwest::Method::POST,
            "/issue",
            json!({"fields": {
                "project": {"key": "DEMO"}, "issuetype": {"name": "Task"},
                "summary": "Checkout fails", "labels": ["sync"], "priority": {"name": "High"}
            }}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_string();
    let j = node_j.tracker("jira").unwrap();
    let g = node_g.tracker("github").unwrap();
    let mut gh_key = String::new();
    until("the Jira issue in GitHub", 60, async || {
        match node_j.twins.find_by_local(&conn, &key).await.unwrap() {
            Some(t) if t.remote_key.is_some() => {
                gh_key = t.remote_key.unwrap();
                true
            }
            _ => false,
        }
    })
    .await;
    let issue = g.get_item(&gh_key).await.unwrap().unwrap();
    assert_eq!(issue.summary, "Checkout fails");
    assert_eq!(issue.status_name(), Some("open"));
    assert_eq!(issue.labels, vec!["sync", "priority: high"]);

    // Closed in GitHub: Done in Jira.
    let number = gh_key.rsplit('#').next().unwrap().to_string();
    ana.github_issue(&number, json!({"state": "closed"})).await;
    until("Done in Jira", 60, async || {
        j.get_item(&key).await.unwrap().unwrap().status_name() == Some("Done")
    })
    .await;

    // A priority changed in Jira becomes GitHub's label ...
    ana.jira(
        reqwest::Method::PUT,
        &format!("/issue/{key}"),
        json!({"fields": {"priority": {"name": "Highest"}}}),
    )
    .await;
    until("priority: highest in GitHub", 60, async || {
        g.get_item(&gh_key).await.unwrap().unwrap().labels == ["sync", "priority: highest"]
    })
    .await;
    // ... and a label changed in GitHub becomes Jira's priority.
    ana.github_issue(&number, json!({"labels": ["sync", "priority: low"]}))
        .await;
    until("priority Low in Jira", 60, async || {
        j.get_item(&key).await.unwrap().unwrap().priority_name() == Some("Low")
    })
    .await;

    let nodes = [node_j.clone(), node_g.clone()];
    assert!(
        wait_quiet(
            &nodes,
            &[jira.webhooks(), github.webhooks()],
            Duration::from_secs(60)
        )
        .await
    );
    let (ji, gi) = (
        j.get_item(&key).await.unwrap().unwrap(),
        g.get_item(&gh_key).await.unwrap().unwrap(),
    );
    assert_eq!(
        (ji.status_name(), ji.priority_name()),
        (Some("Done"), Some("Low"))
    );
    assert_eq!(gi.status_name(), Some("closed"));
    assert_eq!(gi.labels, vec!["sync", "priority: low"]);
    assert_eq!(
        (jira.issue_count("DEMO"), github.issue_count("acme/demo")),
        (1, 1)
    );

    // Relink over HTTP: a Jira issue and a GitHub issue that exist already, neither under
    // a trigger, become twins; nothing is created on either side.
    let lone_j = ana
        .jira(
            reqwest::Method::POST,
            "/issue",
            json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"},
                   "summary": "Refund stuck", "labels": ["billing"]}}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let lone_g = g
        .create_item(
            "acme/demo",
            &twinsync_core::Item {
                summary: "Refunds do not arrive".into(),
                ..Default::default()
            },
            "",
        )
        .await
        .unwrap()
        .key;
    assert!(
        wait_quiet(
            &nodes,
            &[jira.webhooks(), github.webhooks()],
            Duration::from_secs(60)
        )
        .await
    );
    let (status, relinked) = admin_j
        .post(
            &format!("/api/connections/{conn}/operations/relink"),
            json!({"item": lone_j, "remote": lone_g}),
        )
        .await;
    assert_eq!(status, 200, "{relinked}");
    until("the relinked pair synced", 60, async || {
        g.get_item(&lone_g).await.unwrap().unwrap().summary == "Refund stuck"
    })
    .await;
    let twin_g = node_g
        .twins
        .find_by_local(&conn, &lone_g)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(twin_g.remote_key.as_deref(), Some(lone_j.as_str()));
    assert_eq!(
        (jira.issue_count("DEMO"), github.issue_count("acme/demo")),
        (2, 2),
        "relink created nothing"
    );
    // Unlink from the GitHub side: both twins unlinked, a Jira edit stays in Jira.
    let (status, unlinked) = admin_g
        .post(
            &format!("/api/connections/{conn}/operations/unlink"),
            json!({"item": lone_g}),
        )
        .await;
    assert_eq!(status, 200, "{unlinked}");
    until("unlinked on the Jira node", 60, async || {
        node_j
            .twins
            .find_by_local(&conn, &lone_j)
            .await
            .unwrap()
            .is_some_and(|t| t.status == twinsync_core::TwinStatus::Unlinked)
    })
    .await;
    ana.jira(
        reqwest::Method::PUT,
        &format!("/issue/{lone_j}"),
        json!({"fields": {"summary": "Only in Jira now"}}),
    )
    .await;
    assert!(
        wait_quiet(
            &nodes,
            &[jira.webhooks(), github.webhooks()],
            Duration::from_secs(60)
        )
        .await
    );
    assert_eq!(
        g.get_item(&lone_g).await.unwrap().unwrap().summary,
        "Refund stuck"
    );

    // The GitHub issue shows its sync in one status comment, edited in place, which is
    // no comment to sync.
    let status_comments = async |ana: &Ana, number: &str| -> Vec<String> {
        let all = ana
            .github_request(
                reqwest::Method::GET,
                &format!("/repos/acme/demo/issues/{number}/comments"),
                Value::Null,
            )
            .await;
        all.as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["body"].as_str())
            .filter(|b| b.contains("<!-- twinsync-status -->"))
            .map(str::to_string)
            .collect()
    };
    let gh_number = gh_key.rsplit_once('#').unwrap().1.to_string();
    let shown = status_comments(&ana, &gh_number).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].contains(&format!("synced with [{key}](")),
        "{shown:?}"
    );
    assert!(
        j.get_item(&key).await.unwrap().unwrap().comments.is_empty(),
        "the status comment did not sync to Jira"
    );
    // The Jira issue links its twin with a remote link that shows the status.
    let links = ana
        .jira(
            reqwest::Method::GET,
            &format!("/issue/{key}/remotelink"),
            Value::Null,
        )
        .await;
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["object"]["title"], gh_key.as_str());
    assert_eq!(
        links[0]["object"]["summary"],
        format!("twinsync: synced with {gh_key}")
    );

    // Removals, with `delete` as both sides' policy: a comment Ana deletes in GitHub is
    // deleted in Jira; the Jira issue she deletes is closed in GitHub, whose REST API
    // cannot delete issues, and the event says so.
    for admin in [&admin_j, &admin_g] {
        let (status, draft) = admin
            .post(
                &format!("/api/connections/{conn}/versions"),
                json!({"removals": {"policy": "delete"}, "note": "delete what the other side deletes"}),
            )
            .await;
        assert_eq!(status, 201, "{draft}");
        let number = draft["version"].as_u64().unwrap();
        let (status, activated) = admin
            .post(
                &format!("/api/connections/{conn}/versions/{number}/activate"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{activated}");
    }
    let number = gh_key.rsplit_once('#').unwrap().1;
    let comment = ana
        .github_request(
            reqwest::Method::POST,
            &format!("/repos/acme/demo/issues/{number}/comments"),
            json!({"body": "Seen it twice today"}),
        )
        .await;
    until("the GitHub comment reached Jira", 60, async || {
        j.get_item(&key).await.unwrap().unwrap().comments.len() == 1
    })
    .await;
    assert!(
        wait_quiet(
            &nodes,
            &[jira.webhooks(), github.webhooks()],
            Duration::from_secs(60)
        )
        .await
    );
    ana.github_request(
        reqwest::Method::DELETE,
        &format!("/repos/acme/demo/issues/comments/{}", comment["id"]),
        Value::Null,
    )
    .await;
    until("the comment deleted in Jira", 60, async || {
        j.get_item(&key).await.unwrap().unwrap().comments.is_empty()
    })
    .await;
    ana.jira(
        reqwest::Method::DELETE,
        &format!("/issue/{key}"),
        Value::Null,
    )
    .await;
    until("GitHub followed the deletion", 60, async || {
        node_g
            .twins
            .find_by_local(&conn, &gh_key)
            .await
            .unwrap()
            .is_some_and(|t| t.status == twinsync_core::TwinStatus::Unlinked)
    })
    .await;
    // The twin turns Unlinked before the removal's event is written, so wait for the event.
    until(
        "GitHub said why it closed instead of deleting",
        60,
        async || {
            node_g
                .twins
                .events(Some(&conn), None, 200)
                .await
                .unwrap()
                .iter()
                .any(|e| {
                    e.detail.contains("cannot delete items")
                        && e.detail.contains("closed as closed")
                })
        },
    )
    .await;
    assert_eq!(
        g.get_item(&gh_key).await.unwrap().unwrap().status_name(),
        Some("closed")
    );
    let shown = status_comments(&ana, &gh_number).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].contains("unlinked from"), "{shown:?}");
    assert!(
        node_j
            .twins
            .find_by_local(&conn, &key)
            .await
            .unwrap()
            .is_none()
    );
    pj.stop().await;
    pg.stop().await;
}

/// The inviting side learns the other tracker in the handshake: a sandbox node invites,
/// a Jira node accepts, and the sandbox side's version 1 becomes the pair's defaults with
/// the maps for Jira's names (without them the sandbox refuses Jira's "To Do" and
/// "Lowest"). A Jira issue arrives as Open and Low; Done in the sandbox is Done in Jira.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sandbox_inviter_takes_the_defaults_for_the_acceptors_tracker() {
    let (jira, github) = fakes().await;
    drop(github);
    let (da, dj) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pa = Process::start(
        &sandbox_config("node-a", "a", "DEMO"),
        da.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let pj = Process::start(&jira_node(&jira.url), dj.path(), ProcessOptions::default())
        .await
        .unwrap();
    let (status, invited) = Admin::of(&pa, "node-a")
        .post(
            "/api/connections/invite",
            json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync"}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let conn = invited["connection"].as_str().unwrap().to_string();
    let node_a = pa.nodes[0].clone();
    let before = node_a.connection(&conn).await.unwrap();
    assert!(before.versions[0].helper_maps.statuses.is_empty());
    let (status, body) = Admin::of(&pj, "node-j")
        .post(
            "/api/connections/accept",
            json!({"code": invited["code"], "instance": "jira", "target_project": "DEMO",
                   "trigger": "project = DEMO AND labels = sync"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let after = node_a.connection(&conn).await.unwrap();
    let v1 = after.active_version().unwrap();
    let want = defaults::for_pair(ConnectorKind::Sandbox, ConnectorKind::Jira);
    assert_eq!(
        (v1.number, &v1.helper_maps, &v1.note),
        (1, &want.helper_maps, &want.note)
    );
    assert_eq!(v1.triggers, before.versions[0].triggers);

    let ana = Ana {
        http: reqwest::Client::new(),
        jira: jira.url.clone(),
        github: String::new(),
    };
    let created = ana
        .jira(
            reqwest::Method::POST,
            "/issue",
            json!({"fields": {
                "project": {"key": "DEMO"}, "issuetype": {"name": "Task"},
                "summary": "Invoices twice", "labels": ["sync"], "priority": {"name": "Lowest"}
            }}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_string();
    let node_j = pj.nodes[0].clone();
    let mut local = String::new();
    until("the Jira issue in the sandbox", 60, async || {
        match node_j.twins.find_by_local(&conn, &key).await.unwrap() {
            Some(t) if t.remote_key.is_some() => {
                local = t.remote_key.unwrap();
                true
            }
            _ => false,
        }
    })
    .await;
    let a = node_a.tracker("sandbox-a").unwrap();
    let item = a.get_item(&local).await.unwrap().unwrap();
    assert_eq!(
        (item.status_name(), item.priority_name()),
        (Some("Open"), Some("Low"))
    );
    let done = ItemUpdate {
        status: Some("Done".into()),
        ..Default::default()
    };
    a.update_item(&local, &done).await.unwrap();
    let j = node_j.tracker("jira").unwrap();
    until("Done in Jira", 60, async || {
        j.get_item(&key).await.unwrap().unwrap().status_name() == Some("Done")
    })
    .await;
    pa.stop().await;
    pj.stop().await;
}

fn cli_target(p: &Process, node: &str) -> Target {
    let endpoint = &p.admin[node];
    Target {
        node: Some(endpoint.url.clone()),
        data_dir: None,
        token: Some(endpoint.token.expose().to_string()),
    }
}

/// Two sandbox nodes connected by invitation, for the version and accept tests.
struct SandboxPair {
    pa: Process,
    pb: Process,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl SandboxPair {
    async fn start() -> SandboxPair {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pa = Process::start(
            &sandbox_config("node-a", "a", "DEMO"),
            dirs.0.path(),
            ProcessOptions::default(),
        )
        .await
        .unwrap();
        let pb = Process::start(
            &sandbox_config("node-b", "b", "SUPPORT"),
            dirs.1.path(),
            ProcessOptions::default(),
        )
        .await
        .unwrap();
        SandboxPair {
            pa,
            pb,
            _dirs: dirs,
        }
    }

    async fn invite(&self, trigger: &str) -> (String, String) {
        let (status, invited) = Admin::of(&self.pa, "node-a")
            .post(
                "/api/connections/invite",
                json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": trigger}),
            )
            .await;
        assert_eq!(status, 201, "{invited}");
        (
            invited["code"].as_str().unwrap().to_string(),
            invited["connection"].as_str().unwrap().to_string(),
        )
    }

    async fn settle(&self) {
        let nodes = [self.pa.nodes[0].clone(), self.pb.nodes[0].clone()];
        let webhooks = [self.pa.webhooks(), self.pb.webhooks()].concat();
        assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(60)).await);
    }

    async fn create_on_a(&self, label: &str, i: usize) -> String {
        twinsync_cli::demo::create_item(
            &reqwest::Client::new(),
            &self.pa.sandbox_urls["a"],
            twinsync_cli::demo::item_body("DEMO", i, label),
        )
        .await
        .unwrap()
    }

    async fn stop(self) {
        self.pa.stop().await;
        self.pb.stop().await;
    }
}

async fn twin_of(
    node: &twinsync_node::Node,
    connection: &str,
    key: &str,
) -> Option<twinsync_core::Twin> {
    node.twins.find_by_local(connection, key).await.unwrap()
}

/// A new version changes the triggers and maps in force only when it is activated; the
/// archived version keeps the old ones; a Test Run uses the version's own triggers. Node
/// A saves and activates from a TOML file through the CLI, node B through the admin API,
/// with conflict policies and plans too; versions that would not run are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_version_brings_its_triggers_and_maps_into_force_on_activation() {
    let pair = SandboxPair::start().await;
    let (code, conn) = pair.invite("labels = sync").await;
    let admin_b = Admin::of(&pair.pb, "node-b");
    let (status, body) = admin_b
        .post(
            "/api/connections/accept",
            json!({"code": code, "instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let node_a = pair.pa.nodes[0].clone();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("escalations.toml");
    std::fs::write(
        &file,
        "note = \"escalations only\"\n[[triggers]]\nquery = \"labels = escalate\"\n\
         [helper_maps.statuses]\nDone = \"In Progress\"\n",
    )
    .unwrap();
    versions::run(VersionCommand::Save {
        node: cli_target(&pair.pa, "node-a"),
        id: conn.clone(),
        file,
        note: None,
        activate: false,
    })
    .await
    .unwrap();

    // A draft changes nothing: an escalated item stays, one labelled sync goes.
    let escalated = pair.create_on_a("escalate", 0).await;
    let synced = pair.create_on_a("sync", 1).await;
    pair.settle().await;
    assert!(twin_of(&node_a, &conn, &escalated).await.is_none());
    assert!(twin_of(&node_a, &conn, &synced).await.is_some());
    let admin_a = Admin::of(&pair.pa, "node-a");
    for (version, want) in [(1, Value::Null), (2, json!("t1"))] {
        let (status, run) = admin_a
            .post(
                &format!("/api/connections/{conn}/versions/{version}/test-run"),
                json!({"item": escalated}),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["items"][0]["trigger"], want, "version {version}: {run}");
        assert_eq!(run["items"][0]["under_sync"], false);
    }

    // Test Run shows both sides: the draft's replica here, and what node B's active
    // incoming rules would make of it there (a signed dry run), writing nothing.
    let b_tracker = pair.pb.nodes[0].tracker("sandbox-b").unwrap();
    let b_twin = twin_of(&node_a, &conn, &synced)
        .await
        .unwrap()
        .remote_key
        .unwrap();
    let b_before = b_tracker.get_item(&b_twin).await.unwrap().unwrap();
    let b_items = b_tracker
        .search_updated("", 0, None)
        .await
        .unwrap()
        .items
        .len();
    let edit = ItemUpdate {
        summary: Some("Renamed on A, not yet sent".into()),
        ..Default::default()
    };
    let a_tracker = node_a.tracker("sandbox-a").unwrap();
    let (status, run) = admin_a
        .post(
            &format!("/api/connections/{conn}/versions/2/test-run"),
            json!({"items": [escalated, synced, "DEMO-999"]}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["other_node"], "node-b");
    assert_eq!(run["other_side_error"], Value::Null, "{run}");
    let rows = run["items"].as_array().unwrap();
    assert_eq!(rows[0]["other_side"]["would_create"], true, "{run}");
    assert_eq!(
        rows[0]["other_side"]["result"]["project"], "SUPPORT",
        "{run}"
    );
    assert_eq!(rows[1]["under_sync"], true);
    assert_eq!(rows[1]["other_side"]["target_key"], json!(b_twin), "{run}");
    assert_eq!(rows[1]["other_side"]["would_create"], false);
    assert!(
        rows[2]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{run}"
    );
    // A query finds the items the trigger takes; real sync goes on meanwhile.
    a_tracker.update_item(&synced, &edit).await.unwrap();
    let (status, run) = admin_a
        .post(
            &format!("/api/connections/{conn}/versions/1/test-run"),
            json!({"query": "labels = sync"}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    let found: Vec<&str> = run["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["item"].as_str())
        .collect();
    assert!(found.contains(&synced.as_str()), "{run}");
    assert!(!found.contains(&escalated.as_str()), "{run}");
    pair.settle().await;
    assert_eq!(
        b_tracker
            .search_updated("", 0, None)
            .await
            .unwrap()
            .items
            .len(),
        b_items,
        "the dry runs created nothing on B"
    );
    let b_after = b_tracker.get_item(&b_twin).await.unwrap().unwrap();
    assert_eq!(
        b_after.summary, "Renamed on A, not yet sent",
        "the real sync of the edit still happens"
    );
    assert_ne!(b_before.summary, b_after.summary);

    versions::run(VersionCommand::Activate {
        node: cli_target(&pair.pa, "node-a"),
        id: conn.clone(),
        number: 2,
    })
    .await
    .unwrap();
    let escalated_now = pair.create_on_a("escalate", 2).await;
    let sync_now = pair.create_on_a("sync", 3).await;
    pair.settle().await;
    let twin = twin_of(&node_a, &conn, &escalated_now)
        .await
        .expect("the new trigger is in force");
    assert!(
        twin_of(&node_a, &conn, &sync_now).await.is_none(),
        "the old trigger is not"
    );
    // The map is in force: Done on B arrives as In Progress on A.
    let b = pair.pb.nodes[0].tracker("sandbox-b").unwrap();
    let done = ItemUpdate {
        status: Some("Done".into()),
        ..Default::default()
    };
    b.update_item(twin.remote_key.as_deref().unwrap(), &done)
        .await
        .unwrap();
    pair.settle().await;
    let a = node_a.tracker("sandbox-a").unwrap();
    let item = a.get_item(&escalated_now).await.unwrap().unwrap();
    assert_eq!(item.status_name(), Some("In Progress"));

    // The archived version keeps the old trigger and no map.
    let c = node_a.connection(&conn).await.unwrap();
    let (v1, v2) = (c.version(1).unwrap(), c.version(2).unwrap());
    assert_eq!(v1.status, twinsync_core::VersionStatus::Archived);
    assert_eq!(v1.triggers[0].query, "labels = sync");
    assert!(v1.helper_maps.statuses.is_empty());
    assert_eq!(v2.triggers[0].query, "labels = escalate");
    assert_eq!(v2.note, "escalations only");
    assert_eq!(v2.incoming, v1.incoming, "what the file left out is kept");

    // Node B through the admin API: policies, plans and triggers in one version.
    let versions_path = format!("/api/connections/{conn}/versions");
    let (status, saved) = admin_b
        .post(
            &versions_path,
            json!({
                "conflicts": {"default": {"policy": "remote_wins"}},
                "plans": [{"cron": "0 0 * * * *"}],
                "triggers": [{"id": "mine", "query": "labels = b"}],
                "note": "from the API"
            }),
        )
        .await;
    assert_eq!((status, &saved["version"]), (201, &json!(2)), "{saved}");
    let (status, body) = admin_b
        .post(&format!("{versions_path}/2/activate"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let c = pair.pb.nodes[0].connection(&conn).await.unwrap();
    assert_eq!(c.plans()[0].cron, "0 0 * * * *");
    assert_eq!(c.triggers()[0].id, "mine");
    let active = c.active_version().unwrap();
    assert_eq!(active.conflicts.default, ConflictPolicy::RemoteWins);
    assert!(c.version(1).unwrap().plans.is_empty());

    // Versions that would not run are refused and not saved.
    for (bad, want) in [
        (json!({"triggers": [{"query": "labels = ("}]}), "trigger"),
        (json!({"plans": [{"cron": "61 * * * *"}]}), "cron"),
        (json!({"incoming": "issue.summary = "}), "incoming"),
    ] {
        let (status, body) = admin_b.post(&versions_path, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.to_string().contains(want), "{bad}: {body}");
    }
    assert_eq!(
        pair.pb.nodes[0]
            .connection(&conn)
            .await
            .unwrap()
            .versions
            .len(),
        2
    );
    pair.stop().await;
}

/// Accept checks the instance, the project (its syntax, then the tracker) and the
/// trigger before the handshake: each typo is a 400 saying what is wrong, the inviting
/// side stays Pending, and the same code works afterwards. Invite checks the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_typo_in_accept_is_refused_and_the_code_still_works() {
    let pair = SandboxPair::start().await;
    let admin_a = Admin::of(&pair.pa, "node-a");
    let (status, body) = admin_a
        .post(
            "/api/connections/invite",
            json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = "}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        admin_a
            .get("/api/connections")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (code, conn) = pair.invite("labels = sync").await;
    let admin_b = Admin::of(&pair.pb, "node-b");
    let accept = |instance: &str, project: &str, trigger: Option<&str>| json!({"code": code, "instance": instance, "target_project": project, "trigger": trigger});
    for (body, want) in [
        (
            accept("sandbox-x", "SUPPORT", None),
            "unknown tracker instance \"sandbox-x\"; this node has sandbox-b",
        ),
        (
            accept("sandbox-b", "support", None),
            "expected upper-case letters",
        ),
        (
            accept("sandbox-b", "SUPORT", None),
            "has no project \"SUPORT\"",
        ),
        (
            accept("sandbox-b", "SUPPORT", Some("labels = (")),
            "trigger",
        ),
    ] {
        let (status, answer) = admin_b.post("/api/connections/accept", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(want), "{body}: {error}");
        let on_a = pair.pa.nodes[0].connection(&conn).await.unwrap();
        assert_eq!(on_a.status, ConnectionStatus::Pending);
        assert!(!on_a.link.unwrap().invitation_used);
    }
    assert!(
        admin_b
            .get("/api/connections")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, body) = admin_b
        .post(
            "/api/connections/accept",
            accept("sandbox-b", "SUPPORT", None),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let on_a = pair.pa.nodes[0].connection(&conn).await.unwrap();
    assert_eq!(on_a.status, ConnectionStatus::Active);
    let key = pair.create_on_a("sync", 0).await;
    pair.settle().await;
    let twin = pair.pa.nodes[0]
        .twins
        .find_by_local(&conn, &key)
        .await
        .unwrap();
    assert_eq!(twin.unwrap().status, twinsync_core::TwinStatus::Synced);
    pair.stop().await;
}
