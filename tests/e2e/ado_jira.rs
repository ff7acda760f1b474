//! Azure DevOps with Jira Cloud, both fakes, each side on its default rules only (no
//! maps): work items reach Jira with their states, priorities, tags, people and comments
//! by meaning, Jira's Done comes back as Closed, and nothing is duplicated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::time::Duration;
use twinsync_cli::demo::CONNECTION;
use twinsync_cli::demo::ado::setup;
use twinsync_core::{ConnectorKind, ItemUpdate};
use twinsync_fakes::ado::{FakeAdo, FakeOptions};
use twinsync_fakes::jira::FakeJira;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::{
    ConnectionSection, InstanceSection, JiraSection, NodeSection, ProcessConfig, TriggerSection,
};

const PEOPLE: [(&str, &str); 2] = [
    ("ana@example.com", "Ana Lima"),
    ("bo@example.com", "Bo Chen"),
];
const JIRA_TOKEN: &str = "jira-bot-token";

fn node(
    id: &str,
    instance: InstanceSection,
    remote: &str,
    target: &str,
    trigger: &str,
) -> NodeSection {
    NodeSection {
        id: id.into(),
        data_dir: id.into(),
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        poll_interval_ms: 5_000,
        instance: vec![instance.clone()],
        connection: vec![ConnectionSection {
            id: CONNECTION.into(),
            name: "Azure DevOps <-> Jira".into(),
            instance: instance.id,
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ado_and_jira_converge_on_their_default_rules() {
    let mut identities = vec![(setup::BOT_EMAIL.to_string(), "twinsync bot".to_string())];
    identities.extend(PEOPLE.iter().map(|(e, n)| (e.to_string(), n.to_string())));
    let ado = FakeAdo::start(
        "127.0.0.1:0",
        FakeOptions {
            projects: vec![setup::PROJECT.into()],
            identities: identities.clone(),
            pats: vec![
                (setup::BOT_PAT.into(), setup::BOT_EMAIL.into()),
                (setup::pat(PEOPLE[0].0), PEOPLE[0].0.into()),
            ],
            ..FakeOptions::default()
        },
    )
    .await
    .unwrap();
    let jira = FakeJira::start(
        "127.0.0.1:0",
        twinsync_fakes::jira::FakeOptions {
            projects: vec!["DEMO".into()],
            accounts: identities,
            api_tokens: vec![(JIRA_TOKEN.into(), setup::BOT_EMAIL.into())],
            webhook_secret: "jira-hook-secret".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut j = InstanceSection {
        id: "jira".into(),
        connector: ConnectorKind::Jira,
        base_url: jira.url.clone(),
        webhook_secret: "jira-hook-secret".into(),
        token: Some(JIRA_TOKEN.into()),
        ..Default::default()
    };
    j.jira = Some(JiraSection {
        project: "DEMO".into(),
        email: Some(setup::BOT_EMAIL.into()),
        issue_type: None,
        requests_per_minute: Some(100_000),
        burst: Some(1_000),
        attachment_max_bytes: None,
        origin_field: None,
        origin_lookback_minutes: None,
        allow_unsigned: false,
    });
    let cfg = ProcessConfig {
        sandbox: vec![],
        node: vec![
            node(
                "node-d",
                setup::instance("ado", &ado, None),
                "node-j",
                setup::PROJECT,
                "labels = sync",
            ),
            node(
                "node-j",
                j,
                "node-d",
                "DEMO",
                "project = DEMO AND labels = sync",
            ),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let settle = async || {
        assert!(
            twinsync_local::quiet::wait_quiet(
                &p.nodes,
                &[ado.webhooks(), jira.webhooks()],
                Duration::from_secs(60)
            )
            .await,
            "the pair did not settle"
        );
    };
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for (i, (state, priority)) in [("New", 1), ("Active", 2), ("Active", 3), ("New", 4)]
        .into_iter()
        .enumerate()
    {
        let created: serde_json::Value = http
            .post(format!("{}/Fabrikam%20Fiber/_apis/wit/workitems/$Task?api-version=7.1", ado.org_url()))
            .basic_auth("", Some(setup::pat(PEOPLE[0].0)))
            .header("content-type", "application/json-patch+json")
            .body(
                json!([
                    {"op": "add", "path": "/fields/System.Title", "value": format!("Item {i}")},
                    {"op": "add", "path": "/fields/System.Description", "value": "<p>Pay with <strong>card</strong>.</p>"},
                    {"op": "add", "path": "/fields/System.Tags", "value": "sync; payments"},
                    {"op": "add", "path": "/fields/System.State", "value": state},
                    {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": priority},
                    {"op": "add", "path": "/fields/System.AssignedTo", "value": PEOPLE[1].0},
                ])
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_i64().unwrap());
    }
    settle().await;
    let node_d = p.node("node-d").unwrap().clone();
    let jira_tracker = p.node("node-j").unwrap().tracker("jira").unwrap();
    let ado_tracker = node_d.tracker("ado").unwrap();
    let mut keys = Vec::new();
    for (id, (status, priority)) in ids.iter().zip([
        ("To Do", "Highest"),
        ("In Progress", "High"),
        ("In Progress", "Medium"),
        ("To Do", "Low"),
    ]) {
        let twin = node_d
            .twins
            .find_by_local(CONNECTION, &id.to_string())
            .await
            .unwrap()
            .unwrap();
        let key = twin.remote_key.unwrap();
        let issue = jira_tracker.get_item(&key).await.unwrap().unwrap();
        assert_eq!(
            (issue.status_name(), issue.priority_name()),
            (Some(status), Some(priority)),
            "#{id}"
        );
        assert_eq!(issue.description, "Pay with **card**.");
        assert_eq!(issue.labels, ["sync", "payments"]);
        assert_eq!(issue.assignee_email(), Some(PEOPLE[1].0));
        keys.push(key);
    }
    // Jira's Done is Azure DevOps' Closed; a comment in Jira comes back attributed.
    jira_tracker
        .update_item(
            &keys[1],
            &ItemUpdate {
                status: Some("Done".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
    jira_tracker
        .add_comment(&keys[1], "Shipped.", None, None)
        .await
        .unwrap();
    settle().await;
    let back = ado_tracker
        .get_item(&ids[1].to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.status_name(), Some("Closed"));
    assert_eq!(back.priority_name(), Some("2"), "High is 2 again");
    assert_eq!(back.comments.len(), 1);
    assert!(
        back.comments[0].body.contains("Shipped."),
        "{:?}",
        back.comments[0].body
    );
    assert_eq!(
        (ado.item_count(setup::PROJECT), jira.issue_count("DEMO")),
        (4, 4),
        "no duplicates"
    );
    p.stop().await;
}
