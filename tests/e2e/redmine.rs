//! The sandbox and a real Redmine, synced both ways through the Redmine connector.
//! Needs REDMINE_URL, REDMINE_API_KEY and REDMINE_ORIGIN_FIELD: `scripts/test` starts
//! Redmine with `scripts/redmine-up` and sets them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use twinsync_cli::demo;
use twinsync_cli::demo::redmine::RedmineEnv;
use twinsync_core::{ConnectorKind, ItemUpdate, NodeHelperMaps, TwinStatus};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_node::config::{
    ConnectionSection, InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection,
    TriggerSection,
};
use twinsync_node::handlers::scheduler::{self, PollIntervals, Polling};
use twinsync_ports::TwinQuery;

use crate::support::{synced_twins, until};

// The sync status tests share this module's Redmine helpers and its test group.
#[path = "redmine_status.rs"]
mod status;

/// The tests share one Redmine on SQLite, which answers "database is locked" (500) under
/// concurrent bulk writes; they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The Redmine `scripts/redmine-up` started, as the demo reads it from the environment.
struct Redmine(RedmineEnv);

impl std::ops::Deref for Redmine {
    type Target = RedmineEnv;
    fn deref(&self) -> &RedmineEnv {
        &self.0
    }
}

fn redmine() -> Redmine {
    Redmine(RedmineEnv::from_env().unwrap_or_else(|e| panic!("{e}")))
}

impl Redmine {
    /// Sends one of the test's own writes, again after a 500 or 503, as the demo does
    /// (CI failed once on the test's own edit otherwise).
    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        twinsync_cli::demo::redmine::send_again_after_busy(request)
            .await
            .unwrap()
    }
    /// A project of its own (so runs against a shared Redmine do not meet), named
    /// `{prefix}{ms}`, with Ana as a member; returns it and Ana's id.
    async fn new_project(&self, prefix: &str) -> (String, u64) {
        let project = format!(
            "{prefix}{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        let request = self
            .req(reqwest::Method::POST, "/projects.json")
            .json(&json!({"project": {"name": project, "identifier": project, "is_public": true, "tracker_ids": [1, 2, 3]}}));
        let resp = self.send(request).await;
        assert_eq!(resp.status().as_u16(), 201, "creating project {project}");
        let ana = self.add_ana(&project).await;
        (project, ana)
    }

    /// Makes Ana (made by redmine-up) a member of `project`, so issues can be assigned to
    /// her (the demo items are assigned to ana@example.com); returns her id.
    async fn add_ana(&self, project: &str) -> u64 {
        let ana: Value = self
            .req(reqwest::Method::GET, "/users.json?name=ana")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = ana["users"][0]["id"]
            .as_u64()
            .expect("redmine-up makes user ana");
        let resp = self
            .req(
                reqwest::Method::POST,
                &format!("/projects/{project}/memberships.json"),
            )
            .json(&json!({"membership": {"user_id": id, "role_ids": [4]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            201,
            "{}",
            resp.text().await.unwrap()
        );
        id
    }

    /// The project's issues; a busy server (5xx) is asked again, as the connector does.
    async fn issues(&self, project: &str) -> Vec<Value> {
        for _ in 0..20 {
            let resp = self
                .req(
                    reqwest::Method::GET,
                    &format!("/issues.json?project_id={project}&status_id=*&limit=100"),
                )
                .send()
                .await
                .unwrap();
            if resp.status().is_server_error() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            assert!(
                resp.status().is_success(),
                "listing issues: {}",
                resp.status()
            );
            let v: Value = resp.json().await.unwrap();
            return v["issues"].as_array().cloned().unwrap_or_default();
        }
        panic!("Redmine kept answering 5xx");
    }
}

fn maps(pairs: &[(&str, &str)], priorities: &[(&str, &str)]) -> NodeHelperMaps {
    NodeHelperMaps {
        statuses: pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        priorities: priorities
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn config(rm: &Redmine, project: &str) -> ProcessConfig {
    let connection = |instance: &str, remote: &str, target: &str, helper, trigger: Option<&str>| {
        ConnectionSection {
            id: "rm".into(),
            name: "sandbox <-> redmine".into(),
            instance: instance.into(),
            remote_node: remote.into(),
            target_project: target.into(),
            helper_maps: Some(helper),
            trigger: trigger
                .map(|q| {
                    vec![TriggerSection {
                        id: None,
                        query: q.into(),
                    }]
                })
                .unwrap_or_default(),
            ..Default::default()
        }
    };
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
                    "node-r",
                    "DEMO",
                    maps(
                        &[("New", "Open"), ("Resolved", "Done"), ("Closed", "Done")],
                        &[
                            ("Normal", "Medium"),
                            ("Urgent", "Highest"),
                            ("Immediate", "Highest"),
                        ],
                    ),
                    Some("labels = sync"),
                )],
                ..Default::default()
            },
            NodeSection {
                id: "node-r".into(),
                data_dir: "node-r".into(),
                listen: "127.0.0.1:0".into(),
                admin_listen: "127.0.0.1:0".into(),
                poll_interval_ms: 500,
                instance: vec![InstanceSection {
                    id: "redmine".into(),
                    connector: twinsync_core::ConnectorKind::Redmine,
                    base_url: rm.url.clone(),
                    webhook_secret: String::new(),
                    token: Some(rm.key.clone()),
                    origin_field_id: Some(rm.origin_field),
                    project: Some(project.into()),
                    register_webhook: false,
                    ..Default::default()
                }],
                connection: vec![connection(
                    "redmine",
                    "node-a",
                    project,
                    maps(
                        &[("Open", "New"), ("Done", "Closed")],
                        &[("Medium", "Normal"), ("Highest", "Urgent")],
                    ),
                    Some("summary ~ \"[sync]\""),
                )],
                ..Default::default()
            },
        ],
    }
}

/// How many twins of `connection` on `node` are synced.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_and_redmine_sync_both_ways() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The handlers' log is shown when this test fails (the harness captures it).
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=debug,twinsync_redmine=debug")
        .try_init();
    let rm = redmine();
    let (project, ana_id) = rm.new_project("ts").await;

    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &config(&rm, &project),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let node_a = p.node("node-a").unwrap().clone();
    let node_r = p.node("node-r").unwrap().clone();
    let a = node_a.tracker("sandbox-a").unwrap();
    let http = reqwest::Client::new();

    // Items with comments go to Redmine as issues with notes.
    let mut keys = Vec::new();
    for i in 0..3 {
        let mut body = demo::item_body("DEMO", i, "sync");
        body["status"] = json!("Open");
        let key = demo::create_item(&http, &p.sandbox_urls["a"], body)
            .await
            .unwrap();
        a.add_comment(&key, &format!("first comment on {i}"), None, None)
            .await
            .unwrap();
        keys.push(key);
    }
    let synced = async || {
        let twins = node_a
            .twins
            .list(&TwinQuery {
                connection_id: Some("rm".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        twins.len() == keys.len() && twins.iter().all(|t| t.status == TwinStatus::Synced)
    };
    until("three synced twins", 60, synced).await;
    let issues = rm.issues(&project).await;
    assert_eq!(issues.len(), 3);
    let twin0 = node_a
        .twins
        .find_by_local("rm", &keys[0])
        .await
        .unwrap()
        .unwrap();
    let issue_id = twin0.remote_key.clone().unwrap();
    let r = node_r.tracker("redmine").unwrap();
    let issue = r.get_item(&issue_id).await.unwrap().unwrap();
    let item0 = a.get_item(&keys[0]).await.unwrap().unwrap();
    assert_eq!(issue.summary, item0.summary);
    assert_eq!(
        issue.description, item0.description,
        "Markdown goes through unchanged (CommonMark)"
    );
    assert_eq!(issue.status_name(), Some("New"));
    assert_eq!(issue.priority_name(), Some("Low"));
    assert_eq!(issue.comments.len(), 1);
    assert_eq!(
        issue.comments[0].body, "first comment on 0",
        "the origin marker is not part of the text"
    );
    assert_eq!(
        issue.origin.as_deref(),
        Some(format!("twinsync:rm:{}", keys[0]).as_str())
    );

    // An edit and a note made in Redmine come back by polling.
    let request = rm
        .req(reqwest::Method::PUT, &format!("/issues/{issue_id}.json"))
        .json(&json!({"issue": {"subject": "Edited in Redmine", "priority_id": 4, "notes": "Looked at it in Redmine."}}));
    let resp = rm.send(request).await;
    assert!(resp.status().is_success());
    until("the Redmine edit in the sandbox", 60, async || {
        let i = a.get_item(&keys[0]).await.unwrap().unwrap();
        i.summary == "Edited in Redmine"
            && i.priority_name() == Some("Highest")
            && i.comments.len() == 2
    })
    .await;

    // An issue made in Redmine under the Redmine side's trigger reaches the sandbox, with
    // its note.
    let request = rm
        .req(reqwest::Method::POST, "/issues.json")
        .json(&json!({"issue": {"project_id": project, "subject": "[sync] raised in Redmine", "description": "From **Redmine**", "priority_id": 3}}));
    let resp = rm.send(request).await;
    assert_eq!(resp.status().as_u16(), 201);
    let created: Value = resp.json().await.unwrap();
    let new_id = created["issue"]["id"].as_u64().unwrap();
    rm.send(
        rm.req(reqwest::Method::PUT, &format!("/issues/{new_id}.json"))
            .json(&json!({"issue": {"notes": "A note from Redmine."}})),
    )
    .await;
    until("the Redmine issue in the sandbox", 60, async || {
        let origin = format!("twinsync:rm:{new_id}");
        match a.find_by_origin("DEMO", &origin).await.unwrap() {
            Some(i) => {
                i.summary == "[sync] raised in Redmine"
                    && i.priority_name() == Some("High")
                    && i.comments.len() == 1
            }
            None => false,
        }
    })
    .await;

    // Both sides edit the same item within one second: different fields merge.
    let b_issue = node_a
        .twins
        .find_by_local("rm", &keys[1])
        .await
        .unwrap()
        .unwrap()
        .remote_key
        .unwrap();
    let ua = ItemUpdate {
        summary: Some("summary from the sandbox".into()),
        ..Default::default()
    };
    // Redmine refuses an update that raced another write of the same issue (optimistic
    // locking: "updated by at least one other user", 409 or 422), as sync's own write
    // may be here; a person then saves again, and so does this one.
    let person = async || {
        let mut status = 0;
        for _ in 0..5 {
            let resp = rm
                .send(
                    rm.req(reqwest::Method::PUT, &format!("/issues/{b_issue}.json"))
                        .json(&json!({"issue": {"status_id": 5}})),
                )
                .await;
            status = resp.status().as_u16();
            if !matches!(status, 409 | 422) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        status
    };
    let (ra, rr) = tokio::join!(a.update_item(&keys[1], &ua), person());
    ra.unwrap();
    assert!((200..300).contains(&rr), "Redmine answered {rr}");
    let converged = async || {
        let (i, j) = (
            a.get_item(&keys[1]).await.unwrap().unwrap(),
            r.get_item(&b_issue).await.unwrap().unwrap(),
        );
        i.summary == "summary from the sandbox"
            && j.summary == i.summary
            && i.status_name() == Some("Done")
            && j.status_name() == Some("Closed")
    };
    for _ in 0..600 {
        if converged().await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !converged().await {
        let (i, j) = (
            a.get_item(&keys[1]).await.unwrap().unwrap(),
            r.get_item(&b_issue).await.unwrap().unwrap(),
        );
        for node in [&node_a, p.node("node-r").unwrap()] {
            let twins = node
                .twins
                .list(&TwinQuery {
                    connection_id: Some("rm".into()),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap();
            for t in twins.iter().filter(|t| {
                t.local_key.as_deref() == Some(keys[1].as_str())
                    || t.local_key.as_deref() == Some(b_issue.as_str())
            }) {
                println!("{} twin: {}", node.id, serde_json::to_string(t).unwrap());
                for e in node.timeline(t, 20).await.unwrap() {
                    println!("  event: {e:?}");
                }
                for r in node.twins.replicas(&t.id).await.unwrap() {
                    println!(
                        "  replica {} v{} at {}: status {} summary {}",
                        r.direction, r.version, r.at_ms, r.replica["status"], r.replica["summary"]
                    );
                }
            }
        }
        panic!(
            "concurrent edits did not converge: sandbox {:?} {:?} v{}, redmine {:?} {:?} v{}",
            i.summary,
            i.status_name(),
            i.version,
            j.summary,
            j.status_name(),
            j.version
        );
    }

    // Wipe the Redmine side's twin store: the next change finds the issue again by its
    // origin marker instead of creating a second one.
    for t in node_r
        .twins
        .list(&TwinQuery {
            connection_id: Some("rm".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
    {
        node_r.twins.delete(&t.id).await.unwrap();
    }
    a.update_item(
        &keys[2],
        &ItemUpdate {
            summary: Some("after the wipe".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    until("the change after the wipe", 60, async || {
        rm.issues(&project)
            .await
            .iter()
            .any(|i| i["subject"] == "after the wipe")
    })
    .await;
    assert_eq!(
        rm.issues(&project).await.len(),
        4,
        "no duplicate issue after the wipe"
    );

    // The assignee goes by email to the Redmine user with that email; custom fields go
    // by name, both ways.
    let fields: Value = rm
        .req(reqwest::Method::GET, "/custom_fields.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let team = fields["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Team")
        .and_then(|f| f["id"].as_u64())
        .expect("redmine-up makes the Team field");
    a.update_item(
        &keys[2],
        &ItemUpdate {
            assignee: Some(Some(twinsync_core::User {
                email: "ana@example.com".into(),
                display_name: "Ana Lima".into(),
            })),
            custom_fields: Some([("Team".to_string(), json!("red"))].into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let issue_of = |issues: Vec<Value>| {
        issues
            .into_iter()
            .find(|i| i["subject"] == "after the wipe")
            .unwrap()
    };
    until("ana assigned and Team red in Redmine", 60, async || {
        let i = issue_of(rm.issues(&project).await);
        let team_value = i["custom_fields"]
            .as_array()
            .and_then(|f| f.iter().find(|c| c["id"] == team))
            .map(|c| c["value"].clone());
        i["assigned_to"]["id"] == ana_id && team_value == Some(json!("red"))
    })
    .await;
    let id = issue_of(rm.issues(&project).await)["id"].as_u64().unwrap();
    rm.send(
        rm.req(reqwest::Method::PUT, &format!("/issues/{id}.json"))
            .json(&json!({"issue": {"custom_fields": [{"id": team, "value": "blue"}]}})),
    )
    .await;
    until("Team blue in the sandbox", 60, async || {
        let i = a.get_item(&keys[2]).await.unwrap().unwrap();
        i.custom_fields.get("Team") == Some(&json!("blue"))
            && i.assignee.as_ref().map(|u| u.email.as_str()) == Some("ana@example.com")
    })
    .await;
    p.stop().await;
}

/// Bulk: many items to Redmine, with the whole process killed and restarted on its files
/// midway. `TWINSYNC_REDMINE_BULK` sets the count (150 by default, 1,000 with
/// `scripts/test --full`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_sync_to_redmine_survives_a_restart() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let n: usize = std::env::var("TWINSYNC_REDMINE_BULK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let rm = redmine();
    let (project, _) = rm.new_project("bulk").await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&rm, &project);
    cfg.sandbox[0].db = Some("sandbox-a.db".into());
    let started = std::time::Instant::now();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = p.sandbox_urls["a"].clone();
    for i in 0..n {
        let mut body = demo::item_body("DEMO", i, "sync");
        body["status"] = json!("Open");
        demo::create_item(&http, &url, body).await.unwrap();
    }
    // Kill everything while the sync is under way (the first issues have reached Redmine,
    // on any machine's speed), then start again on the same files.
    let first = p.node("node-a").unwrap().clone();
    until("the first items synced", 600, async || {
        synced_twins(&first, "rm").await >= n.div_ceil(10)
    })
    .await;
    let synced_at_kill = synced_twins(&first, "rm").await;
    let calls_before = p
        .node("node-r")
        .unwrap()
        .tracker("redmine")
        .unwrap()
        .calls();
    p.kill().await;
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node_a = p.node("node-a").unwrap().clone();
    until("every item synced", 1_800, async || {
        synced_twins(&node_a, "rm").await == n
    })
    .await;
    let elapsed = started.elapsed();
    let calls = calls_before
        + p.node("node-r")
            .unwrap()
            .tracker("redmine")
            .unwrap()
            .calls();
    // Every issue in the project, by origin marker: exactly one per item.
    let mut origins = std::collections::HashMap::<String, usize>::new();
    let mut offset = 0;
    loop {
        let v: Value = rm
            .req(
                reqwest::Method::GET,
                &format!("/issues.json?project_id={project}&status_id=*&limit=100&offset={offset}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = v["issues"].as_array().cloned().unwrap_or_default();
        for issue in &page {
            let origin = issue["custom_fields"]
                .as_array()
                .and_then(|f| f.iter().find(|c| c["id"] == rm.origin_field))
                .and_then(|c| c["value"].as_str())
                .unwrap_or("")
                .to_string();
            *origins.entry(origin).or_default() += 1;
        }
        offset += page.len();
        if page.is_empty() || offset >= v["total_count"].as_u64().unwrap_or(0) as usize {
            break;
        }
    }
    assert_eq!(origins.len(), n, "one issue per item");
    assert!(origins.values().all(|c| *c == 1), "no duplicates");
    println!(
        "redmine bulk: {n} items in {:.1} s ({:.1} items/s), {calls} Redmine API calls ({:.1} per item), one restart midway ({synced_at_kill} synced before it)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        calls as f64 / n as f64
    );
    p.stop().await;
}

/// A Redmine that formats text with Textile: the connector stores Textile and reads
/// Markdown back (pandoc converts), so the sandbox side sees Markdown both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn textile_redmines_store_textile() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=debug,twinsync_redmine=debug,redmine=debug")
        .try_init();
    let rm = redmine();
    let (project, _) = rm.new_project("tx").await;
    let mut cfg = config(&rm, &project);
    cfg.node[1].instance[0].text_formatting = Some("textile".into());
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node_a = p.node("node-a").unwrap().clone();
    let a = node_a.tracker("sandbox-a").unwrap();
    let http = reqwest::Client::new();
    let mut body = demo::item_body("DEMO", 0, "sync");
    body["status"] = json!("Open");
    body["description"] = json!("## Steps\n\nPay with **card**, see `/pay`.");
    let key = demo::create_item(&http, &p.sandbox_urls["a"], body)
        .await
        .unwrap();
    until("the issue in Redmine, in Textile", 60, async || {
        rm.issues(&project).await.first().is_some_and(|i| {
            i["description"]
                .as_str()
                .unwrap_or("")
                .replace("\r\n", "\n")
                == "h2. Steps\n\nPay with *card*, see @/pay@."
        })
    })
    .await;
    let id = rm.issues(&project).await[0]["id"].as_u64().unwrap();
    rm.send(
        rm.req(reqwest::Method::PUT, &format!("/issues/{id}.json"))
            .json(
                &json!({"issue": {"notes": "Fixed in *v2.1*, see \"notes\":https://x.example."}}),
            ),
    )
    .await;
    until(
        "the Textile note as Markdown in the sandbox",
        60,
        async || {
            a.get_item(&key)
                .await
                .unwrap()
                .unwrap()
                .comments
                .iter()
                .inspect(|c| eprintln!("sandbox comment: {:?}", c.body))
                .any(|c| c.body == "Fixed in **v2.1**, see [notes](https://x.example).")
        },
    )
    .await;
    let item = a.get_item(&key).await.unwrap().unwrap();
    assert_eq!(
        item.description, "## Steps\n\nPay with **card**, see `/pay`.",
        "the description did not change on its way back"
    );
    p.stop().await;
}
/// Redmine's default rules against the other trackers' default rules, with no maps in
/// the connections: a Jira issue and a GitHub issue reach Redmine with their statuses and
/// priorities judged by meaning, and Redmine's answers (closed with a note, rejected) come
/// back as Jira's Done with the comment and as GitHub's closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redmine_rules_pair_with_jira_and_github() {
    use twinsync_node::config::{GithubSection, JiraSection};
    let _turn = ONE_AT_A_TIME.lock().await;
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=debug,twinsync_redmine=warn")
        .try_init();
    let rm = redmine();
    let (project, _) = rm.new_project("jg").await;
    let people = [
        ("bot@example.com".to_string(), "twinsync bot".to_string()),
        ("ana@example.com".to_string(), "Ana Lima".to_string()),
    ];
    let jira = twinsync_fakes::jira::FakeJira::start(
        "127.0.0.1:0",
        twinsync_fakes::jira::FakeOptions {
            projects: vec!["DEMO".into()],
            accounts: people.to_vec(),
            api_tokens: vec![
                ("bot-token".into(), "bot@example.com".into()),
                ("ana-token".into(), "ana@example.com".into()),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let github = twinsync_fakes::github::FakeGithub::start(
        "127.0.0.1:0",
        twinsync_fakes::github::FakeOptions {
            tokens: vec![
                ("ghp-bot".into(), "twinsync-bot".into()),
                ("ghp-ana".into(), "ana".into()),
            ],
            repos: vec!["acme/rm".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let connection =
        |id: &str, instance: &str, remote: &str, target: &str, trigger: &str| ConnectionSection {
            id: id.into(),
            name: format!("{id}: redmine <-> {remote}"),
            instance: instance.into(),
            remote_node: remote.into(),
            target_project: target.into(),
            trigger: vec![TriggerSection {
                id: None,
                query: trigger.into(),
            }],
            ..Default::default()
        };
    let instance = |id: &str, connector: ConnectorKind, url: &str, token: &str| InstanceSection {
        id: id.into(),
        connector,
        base_url: url.into(),
        webhook_secret: "hook-secret".into(),
        token: Some(token.into()),
        register_webhook: connector != ConnectorKind::Redmine,
        ..Default::default()
    };
    let mut redmine_instance = instance("redmine", ConnectorKind::Redmine, &rm.url, &rm.key);
    redmine_instance.origin_field_id = Some(rm.origin_field);
    redmine_instance.project = Some(project.clone());
    let mut jira_instance = instance("jira", ConnectorKind::Jira, &jira.url, "bot-token");
    jira_instance.jira = Some(JiraSection {
        allow_unsigned: false,
        project: "DEMO".into(),
        email: Some("bot@example.com".into()),
        issue_type: None,
        requests_per_minute: None,
        burst: None,
        attachment_max_bytes: None,
        origin_field: None,
        origin_lookback_minutes: None,
    });
    let mut github_instance = instance("github", ConnectorKind::Github, &github.url, "ghp-bot");
    github_instance.github = Some(GithubSection {
        repo: "acme/rm".into(),
        app: None,
        users: vec![twinsync_github::UserEntry {
            login: "ana".into(),
            email: "ana@example.com".into(),
            name: "Ana Lima".into(),
        }],
        requests_per_minute: None,
        burst: None,
    });
    let node =
        |id: &str, instance: InstanceSection, connection: Vec<ConnectionSection>| NodeSection {
            id: id.into(),
            data_dir: id.into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 500,
            instance: vec![instance],
            connection,
            ..Default::default()
        };
    // Redmine brings nothing under sync by itself here: only the twins of the others.
    let nothing = "summary ~ \"[never]\"";
    let cfg = ProcessConfig {
        sandbox: vec![],
        node: vec![
            node(
                "node-r",
                redmine_instance,
                vec![
                    connection("rj", "redmine", "node-j", &project, nothing),
                    connection("rg", "redmine", "node-g", &project, nothing),
                ],
            ),
            node(
                "node-j",
                jira_instance,
                vec![connection(
                    "rj",
                    "jira",
                    "node-r",
                    "DEMO",
                    "project = DEMO AND labels = sync",
                )],
            ),
            node(
                "node-g",
                github_instance,
                vec![connection(
                    "rg",
                    "github",
                    "node-r",
                    "acme/rm",
                    "labels = sync",
                )],
            ),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();

    // A Jira issue in progress, priority Highest, assigned to Ana.
    let ana_id: Value = http
        .get(format!(
            "{}/rest/api/3/user/search?query=ana@example.com",
            jira.url
        ))
        .basic_auth("ana@example.com", Some("ana-token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: Value = http
        .post(format!("{}/rest/api/3/issue", jira.url))
        .basic_auth("ana@example.com", Some("ana-token"))
        .json(&json!({"fields": {
            "project": {"key": "DEMO"}, "issuetype": {"name": "Task"},
            "summary": "Refunds stuck [jira]",
            "description": twinsync_jira::adf::from_markdown("Refund **#7** is stuck.").unwrap(),
            "labels": ["sync"], "priority": {"name": "Highest"},
            "assignee": {"accountId": ana_id[0]["accountId"]}
        }}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jira_key = created["key"].as_str().unwrap().to_string();
    let to_progress = http
        .post(format!(
            "{}/rest/api/3/issue/{jira_key}/transitions",
            jira.url
        ))
        .basic_auth("ana@example.com", Some("ana-token"))
        .json(&json!({"transition": {"id": "21"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(to_progress.status().as_u16(), 204);
    // A GitHub issue with an urgent priority label.
    let gh: Value = http
        .post(format!("{}/repos/acme/rm/issues", github.url))
        .bearer_auth("ghp-ana")
        .header("user-agent", "test")
        .json(&json!({"title": "Export times out [github]", "body": "CSV export of 10k rows.", "labels": ["sync", "priority: urgent"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gh_number = gh["number"].as_u64().unwrap();

    let find = |issues: &[Value], tag: &str| {
        issues
            .iter()
            .find(|i| i["subject"].as_str().unwrap_or("").contains(tag))
            .cloned()
    };
    until(
        "both issues in Redmine, judged by meaning",
        90,
        async || {
            let issues = rm.issues(&project).await;
            match (find(&issues, "[jira]"), find(&issues, "[github]")) {
                (Some(j), Some(g)) => {
                    j["status"]["name"] == "In Progress"
                        && j["priority"]["name"] == "Urgent"
                        && j["assigned_to"]["name"] == "Ana Lima"
                        && g["status"]["name"] == "New"
                        && g["priority"]["name"] == "Urgent"
                }
                _ => false,
            }
        },
    )
    .await;
    let issues = rm.issues(&project).await;
    let (rj, rg) = (
        find(&issues, "[jira]").unwrap()["id"].as_u64().unwrap(),
        find(&issues, "[github]").unwrap()["id"].as_u64().unwrap(),
    );
    assert_eq!(issues.len(), 2, "one Redmine issue each");

    // Redmine answers: the Jira one closed with a note, the GitHub one rejected.
    for (id, body) in [
        (
            rj,
            json!({"issue": {"status_id": 5, "notes": "Fixed in the refund job."}}),
        ),
        (rg, json!({"issue": {"status_id": 6}})),
    ] {
        let r = rm
            .send(
                rm.req(reqwest::Method::PUT, &format!("/issues/{id}.json"))
                    .json(&body),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    let j = p.node("node-j").unwrap().tracker("jira").unwrap();
    let g = p.node("node-g").unwrap().tracker("github").unwrap();
    until(
        "Done with the note in Jira, closed in GitHub",
        90,
        async || {
            let ji = j.get_item(&jira_key).await.ok().flatten();
            let gi = g
                .get_item(&format!("acme/rm#{gh_number}"))
                .await
                .ok()
                .flatten();
            matches!((ji, gi), (Some(ji), Some(gi))
            if ji.status_name() == Some("Done")
                && ji.comments.iter().any(|c| c.body.contains("Fixed in the refund job."))
                && gi.status_name() == Some("closed"))
        },
    )
    .await;
    // Settled: no replica goes back and forth any more (a field one tracker cannot hold
    // once made the Redmine and GitHub nodes echo each other forever).
    let node_r = p.node("node-r").unwrap().clone();
    let sent = async || {
        node_r
            .twins
            .list(&TwinQuery {
                limit: 1_000,
                ..TwinQuery::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|t| t.out_version + t.in_version)
            .sum::<u64>()
    };
    // Settled: nothing left to do anywhere (the last replicas, GitHub's state_reason after
    // the close, may still be on their way), and then one more poll of every tracker,
    // made here rather than waited for, brings nothing new: a ping-pong would.
    let webhooks = [p.webhooks(), vec![jira.webhooks(), github.webhooks()]].concat();
    assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(120)).await);
    let before = sent().await;
    for node in &p.nodes {
        scheduler::tick(node, &Polling::new(PollIntervals::every(0)))
            .await
            .unwrap();
    }
    assert!(wait_quiet(&p.nodes, &webhooks, Duration::from_secs(120)).await);
    assert_eq!(
        sent().await,
        before,
        "replicas still flow after convergence"
    );
    // Nothing came back as a new item anywhere.
    assert_eq!(jira.issue_count("DEMO"), 1);
    assert_eq!(github.issue_count("acme/rm"), 1);
    assert_eq!(rm.issues(&project).await.len(), 2);
    p.stop().await;
}

/// Accept asks Redmine whether the project exists before the invitation code is spent:
/// `GET /projects/{id}.json` answers 404 for a typo.
#[tokio::test]
async fn redmine_says_which_projects_exist() {
    let rm = redmine();
    let (project, _) = rm.new_project("hp").await;
    let tracker = twinsync_redmine::RedmineTracker::new(
        "redmine",
        twinsync_redmine::RedmineConfig {
            base_url: rm.url.clone(),
            api_key: rm.key.clone(),
            origin_field_id: rm.origin_field,
            status_field_id: None,
            twin_field_id: None,
            tracker: None,
            project: Some(project.clone()),
            text_formatting: None,
            attachment_max_bytes: twinsync_redmine::RedmineConfig::DEFAULT_ATTACHMENT_MAX,
            ca_file: None,
        },
    )
    .unwrap();
    use twinsync_ports::Tracker;
    for (name, want) in [
        (project.as_str(), Some(true)),
        ("no-such-project", Some(false)),
    ] {
        assert_eq!(tracker.has_project(name).await.unwrap(), want, "{name}");
    }
}

/// A local connection between two projects of one Redmine (polled, no webhooks): an
/// issue made in the first appears once in the second, an edit there comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_redmine_projects_sync_through_a_local_connection() {
    // The handlers' log is shown when this test fails (the harness captures it).
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=debug,twinsync_store=warn,twinsync_redmine=debug")
        .try_init();
    let rm = redmine();
    let (first, _) = rm.new_project("loca").await;
    let (second, _) = rm.new_project("locb").await;
    let mut cfg = config(&rm, &first);
    cfg.node.retain(|n| n.id == "node-r");
    cfg.sandbox.clear();
    cfg.node[0].connection.clear();
    // One instance for both projects: it polls them all.
    cfg.node[0].instance[0].project = None;
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let admin = crate::support::Admin::of(&p, "node-r");
    let (status, made) = admin
        .post(
            "/api/connections/local",
            json!({"instance": "redmine", "project": first, "other_project": second,
                   "trigger": "summary ~ \"[sync]\""}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let request = rm
        .req(reqwest::Method::POST, "/issues.json")
        .json(&json!({"issue": {"project_id": first, "subject": "[sync] across projects", "priority_id": 2}}));
    let resp = rm.send(request).await;
    assert_eq!(resp.status().as_u16(), 201);
    until("the issue in the second project", 90, async || {
        rm.issues(&second).await.len() == 1
    })
    .await;
    let copy = rm.issues(&second).await[0]["id"].as_u64().unwrap();
    let edit = rm
        .send(
            rm.req(reqwest::Method::PUT, &format!("/issues/{copy}.json"))
                .json(&json!({"issue": {"subject": "[sync] edited in the second"}})),
        )
        .await;
    assert_eq!(edit.status().as_u16(), 204, "{:?}", edit.text().await);
    until("the edit in the first project", 90, async || {
        rm.issues(&first).await[0]["subject"] == "[sync] edited in the second"
    })
    .await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    assert_eq!(
        (
            rm.issues(&first).await.len(),
            rm.issues(&second).await.len()
        ),
        (1, 1),
        "no duplicate"
    );
    p.stop().await;
}

/// Removals into a real Redmine whose node's policy is `delete`: a sandbox comment
/// deleted takes its journal with it (Redmine destroys a journal whose notes are
/// emptied), and a sandbox item deleted deletes its Redmine issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redmine_deletes_what_the_sandbox_deletes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let rm = redmine();
    let (project, _) = rm.new_project("rmdel").await;
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &config(&rm, &project),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let node_a = p.node("node-a").unwrap().clone();
    let node_r = p.node("node-r").unwrap().clone();
    crate::support::delete_removals(&node_r, "rm").await;
    let a = node_a.tracker("sandbox-a").unwrap();
    let http = reqwest::Client::new();
    let mut body = demo::item_body("DEMO", 1, "sync");
    body["status"] = json!("Open");
    let key = demo::create_item(&http, &p.sandbox_urls["a"], body)
        .await
        .unwrap();
    let comment = a
        .add_comment(&key, "a note to take back", None, None)
        .await
        .unwrap();
    let notes = async |rm: &Redmine, id: u64| -> Vec<String> {
        let issue: Value = rm
            .req(
                reqwest::Method::GET,
                &format!("/issues/{id}.json?include=journals"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        issue["issue"]["journals"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|j| j["notes"].as_str().filter(|n| !n.is_empty()))
            .map(str::to_string)
            .collect()
    };
    until("the issue and its note in Redmine", 60, async || {
        match rm.issues(&project).await.first() {
            Some(i) => notes(&rm, i["id"].as_u64().unwrap()).await.len() == 1,
            None => false,
        }
    })
    .await;
    let id = rm.issues(&project).await[0]["id"].as_u64().unwrap();
    a.delete_comment(&key, &comment.id).await.unwrap();
    until("the journal gone", 60, async || {
        notes(&rm, id).await.is_empty()
    })
    .await;
    a.delete_item(&key).await.unwrap();
    until("the issue deleted in Redmine", 60, async || {
        rm.issues(&project).await.is_empty()
    })
    .await;
    assert!(
        node_r
            .twins
            .find_by_remote("rm", &key)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        node_a
            .twins
            .find_by_local("rm", &key)
            .await
            .unwrap()
            .is_none()
    );
    p.stop().await;
}
