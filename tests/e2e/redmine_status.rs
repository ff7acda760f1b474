//! The sync status inside a real Redmine: an issue synced with the sandbox shows `synced`
//! and the sandbox twin's URL in its "twinsync status" and "twinsync twin" custom fields,
//! then the error with its reason, then `unlinked` (the link kept). Each state is written
//! once, and a status write is no edit: nothing is sent because of it, and its journal is
//! no comment. Needs REDMINE_STATUS_FIELD and REDMINE_TWIN_FIELD besides the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{ONE_AT_A_TIME, Redmine, config, redmine};
use crate::support::until;
use serde_json::{Value, json};
use std::time::Duration;
use twinsync_cli::demo;
use twinsync_core::{Twin, TwinStatus};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::handlers::scheduler::{self, PollIntervals, Polling};
use twinsync_node::{Node, operations, versions};

/// The ids of the two status fields `scripts/redmine-up` makes.
fn status_fields() -> (u32, u32) {
    let get = |name: &str| -> u32 {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: start Redmine with scripts/redmine-up and export what it prints"))
            .parse()
            .unwrap()
    };
    (get("REDMINE_STATUS_FIELD"), get("REDMINE_TWIN_FIELD"))
}

/// The issue as Redmine's REST API shows it, with its journals; a busy server (5xx) is
/// asked again.
async fn issue(rm: &Redmine, id: &str) -> Value {
    for _ in 0..20 {
        let resp = rm
            .req(
                reqwest::Method::GET,
                &format!("/issues/{id}.json?include=journals"),
            )
            .send()
            .await
            .unwrap();
        if resp.status().is_server_error() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        assert!(resp.status().is_success(), "issue {id}: {}", resp.status());
        return resp.json::<Value>().await.unwrap()["issue"].clone();
    }
    panic!("Redmine kept answering 5xx");
}

/// The value of custom field `field` on `issue`.
fn custom(issue: &Value, field: u32) -> String {
    issue["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == field)
        .and_then(|c| c["value"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The values custom field `field` of `issue` was given, oldest first, from its journals.
fn history(issue: &Value, field: u32) -> Vec<String> {
    let field = field.to_string();
    issue["journals"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| j["details"].as_array().unwrap().iter())
        .filter(|d| d["property"] == "cf" && d["name"] == field.as_str())
        .map(|d| d["new_value"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// How many journals of `issue` changed custom field `field`.
fn writes(issue: &Value, field: u32) -> usize {
    history(issue, field).len()
}

async fn twin(node: &Node, key: &str) -> Twin {
    node.twins.find_by_local("rm", key).await.unwrap().unwrap()
}

/// Replicas sent, from every twin's replica history.
async fn replicas_sent(node: &Node) -> usize {
    let twins = node
        .twins
        .list(&twinsync_ports::TwinQuery {
            connection_id: Some("rm".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut sent = 0;
    for t in twins {
        sent += node
            .twins
            .replicas(&t.id)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.direction == "out")
            .count();
    }
    sent
}

/// Every tracker polled once more, here rather than waited for, then quiet again: an echo
/// of a status write would be sent now.
async fn poll_and_settle(p: &Process) {
    assert!(p.wait_quiet(Duration::from_secs(60)).await, "no settle");
    for node in &p.nodes {
        scheduler::tick(node, &Polling::new(PollIntervals::every(0)))
            .await
            .unwrap();
    }
    assert!(p.wait_quiet(Duration::from_secs(60)).await, "no settle");
}

async fn set_subject(rm: &Redmine, id: &str, subject: &str) {
    let resp = rm
        .send(
            rm.req(reqwest::Method::PUT, &format!("/issues/{id}.json"))
                .json(&json!({"issue": {"subject": subject}})),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redmine_issues_show_their_sync_status_and_twin_without_echo() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=debug,twinsync_redmine=debug")
        .try_init();
    let rm = redmine();
    let (status_field, twin_field) = status_fields();
    let (project, _) = rm.new_project("st").await;
    let mut cfg = config(&rm, &project);
    let redmine_instance = &mut cfg.node[1].instance[0];
    redmine_instance.status_field_id = Some(status_field);
    redmine_instance.twin_field_id = Some(twin_field);
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node_a = p.node("node-a").unwrap().clone();
    let node_r = p.node("node-r").unwrap().clone();
    let a = node_a.tracker("sandbox-a").unwrap();
    let r = node_r.tracker("redmine").unwrap();

    // One item each way: the sandbox's is written into Redmine by node-r's incoming
    // handler; Redmine's is sent by node-r and shows its status when the ack comes back.
    let mut body = demo::item_body("DEMO", 0, "sync");
    body["status"] = json!("Open");
    let a_key = demo::create_item(&reqwest::Client::new(), &p.sandbox_urls["a"], body)
        .await
        .unwrap();
    let request = rm
        .req(reqwest::Method::POST, "/issues.json")
        .json(&json!({"issue": {"project_id": project, "subject": "[sync] raised in Redmine", "priority_id": 2}}));
    let resp = rm.send(request).await;
    assert_eq!(resp.status().as_u16(), 201);
    let made: Value = resp.json().await.unwrap();
    let made = made["issue"]["id"].as_u64().unwrap().to_string();
    until("both twins synced", 90, async || {
        let a_twin = node_a.twins.find_by_local("rm", &a_key).await.unwrap();
        let r_twin = node_r.twins.find_by_local("rm", &made).await.unwrap();
        matches!((a_twin, r_twin), (Some(x), Some(y))
            if x.status == TwinStatus::Synced && y.status == TwinStatus::Synced)
    })
    .await;
    poll_and_settle(&p).await;
    let copied = twin(&node_a, &a_key).await.remote_key.unwrap();
    let made_twin = twin(&node_r, &made).await;
    let made_copy = made_twin.remote_key.clone().unwrap();

    // Both issues show "synced" and the sandbox twin's address, each written once.
    for (id, sandbox_key) in [(&copied, &a_key), (&made, &made_copy)] {
        let url = a.get_item(sandbox_key).await.unwrap().unwrap().url;
        let shown = issue(&rm, id).await;
        assert_eq!(custom(&shown, status_field), "synced", "{shown}");
        assert_eq!(custom(&shown, twin_field), url, "{shown}");
        assert_eq!(
            (writes(&shown, status_field), writes(&shown, twin_field)),
            (1, 1),
            "{shown}"
        );
        let item = r.get_item(id).await.unwrap().unwrap();
        assert!(item.comments.is_empty(), "a status journal is no comment");
        assert!(
            !item.custom_fields.contains_key("twinsync status")
                && !item.custom_fields.contains_key("twinsync twin"),
            "the status fields are not the item's: {:?}",
            item.custom_fields
        );
    }

    // No echo: the status writes sent nothing either way, however often Redmine is polled.
    let sent = async || {
        (
            twin(&node_r, &copied).await.out_version,
            twin(&node_r, &made).await.out_version,
            twin(&node_a, &a_key).await.in_version,
            twin(&node_a, &made_copy).await.in_version,
            replicas_sent(&node_r).await,
        )
    };
    assert_eq!(
        sent().await,
        (0, 1, 0, 1, 1),
        "one replica: the Redmine issue's first"
    );
    poll_and_settle(&p).await;
    assert_eq!(sent().await, (0, 1, 0, 1, 1), "status writes echoed");
    for id in [&copied, &made] {
        let shown = issue(&rm, id).await;
        assert_eq!(writes(&shown, status_field), 1, "written again: {shown}");
    }

    // The sandbox side refuses a summary: the Redmine issue shows the error and why, and
    // its link stays.
    let connection = node_a.connection("rm").await.unwrap();
    let mut version = connection.active_version().unwrap().clone();
    version.incoming = format!(
        "if replica.summary == \"[sync] boom\" {{ throw \"A refuses boom\"; }}\n{}",
        version.incoming
    );
    let n = versions::save_draft(&node_a, "rm", version).await.unwrap();
    versions::activate_version(&node_a, "rm", n).await.unwrap();
    set_subject(&rm, &made, "[sync] boom").await;
    until("the error shown in Redmine", 90, async || {
        custom(&issue(&rm, &made).await, status_field).starts_with("error: ")
    })
    .await;
    let url = a.get_item(&made_copy).await.unwrap().unwrap().url;
    let shown = issue(&rm, &made).await;
    assert!(
        custom(&shown, status_field).contains("A refuses boom"),
        "{shown}"
    );
    assert_eq!(custom(&shown, twin_field), url, "{shown}");

    // Fixed, it shows "synced" again; unlinked, it says so and keeps the link.
    set_subject(&rm, &made, "[sync] fine again").await;
    until("synced again", 90, async || {
        custom(&issue(&rm, &made).await, status_field) == "synced"
    })
    .await;
    operations::unlink(&node_r, "rm", &made).await.unwrap();
    until("unlinked shown", 60, async || {
        custom(&issue(&rm, &made).await, status_field) == "unlinked"
    })
    .await;
    poll_and_settle(&p).await;
    let shown = issue(&rm, &made).await;
    assert_eq!(custom(&shown, twin_field), url, "{shown}");
    // Never the same state twice in a row: each change of state is one write.
    let states = history(&shown, status_field);
    assert!(states.windows(2).all(|w| w[0] != w[1]), "{states:?}");
    let errors = states.iter().filter(|s| s.starts_with("error: ")).count();
    assert_eq!(
        (
            states.first().map(String::as_str),
            states.last().map(String::as_str),
            errors,
            states.len()
        ),
        (Some("synced"), Some("unlinked"), 1, 4),
        "synced, error, synced, unlinked: {states:?}"
    );
    assert_eq!(writes(&shown, twin_field), 1, "one link: {shown}");
    assert!(
        r.get_item(&made)
            .await
            .unwrap()
            .unwrap()
            .comments
            .is_empty(),
        "no status write became a comment"
    );
    p.stop().await;
}
