//! A local connection, the seeds' third type: two projects of one sandbox on one node,
//! synced with no network hop. Items cross once, edits flow both ways, an operation
//! reaches the other side's record, and nothing is duplicated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::time::Duration;
use twinsync_cli::demo;
use twinsync_core::{ItemUpdate, TwinStatus};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::ProjectSection;
use twinsync_node::operations;

use crate::support::{Admin, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_projects_of_one_sandbox_sync_through_a_local_connection() {
    let mut config = demo::config("local-secret-0123456789");
    config.node.retain(|n| n.id == "node-a");
    config.node[0].connection.clear();
    config.sandbox.retain(|s| s.id == "a");
    config.sandbox[0].projects = ["DEMO", "SUPPORT"]
        .into_iter()
        .map(|key| ProjectSection {
            key: key.into(),
            name: key.into(),
            statuses: None,
            priorities: None,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let admin = Admin::of(&p, "node-a");
    // An invitation is not the way to a local connection.
    let (status, refused) = admin
        .post(
            "/api/connections/invite",
            json!({"instance": "sandbox-a", "target_project": "DEMO", "kind": "local"}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    let (status, made) = admin
        .post(
            "/api/connections/local",
            json!({"instance": "sandbox-a", "project": "DEMO", "other_project": "SUPPORT",
                   "trigger": "labels = sync"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (first, second) = (
        made["connections"][0].as_str().unwrap().to_string(),
        made["connections"][1].as_str().unwrap().to_string(),
    );
    let node = p.node("node-a").unwrap().clone();
    let sandbox = node.tracker("sandbox-a").unwrap();
    let http = reqwest::Client::new();
    let key = demo::create_item(
        &http,
        &p.sandbox_urls["a"],
        demo::item_body("DEMO", 0, "sync"),
    )
    .await
    .unwrap();
    let mut copy = String::new();
    until("the item crossed to SUPPORT", 60, async || {
        match node.twins.find_by_local(&first, &key).await.unwrap() {
            Some(t) if t.remote_key.is_some() => {
                copy = t.remote_key.unwrap();
                true
            }
            _ => false,
        }
    })
    .await;
    assert!(copy.starts_with("SUPPORT-"), "{copy}");
    let twin_b = node
        .twins
        .find_by_local(&second, &copy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(twin_b.remote_key.as_deref(), Some(key.as_str()));
    // An edit of the copy comes back to the first project.
    let edit = ItemUpdate {
        summary: Some("Edited in SUPPORT".into()),
        ..ItemUpdate::default()
    };
    sandbox.update_item(&copy, &edit).await.unwrap();
    let s = sandbox.clone();
    let k = key.clone();
    until("the edit reached DEMO", 60, async || {
        s.get_item(&k).await.unwrap().unwrap().summary == "Edited in SUPPORT"
    })
    .await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let all = sandbox.search_updated("", 0, None).await.unwrap().items;
    let per = |project: &str| all.iter().filter(|i| i.project == project).count();
    assert_eq!((per("DEMO"), per("SUPPORT")), (1, 1), "no duplicate");
    // Unlink on one side reaches the other side's record.
    operations::unlink(&node, &first, &key).await.unwrap();
    let n = node.clone();
    let (c, k) = (second.clone(), copy.clone());
    until("the second side unlinked", 60, async || {
        n.twins
            .find_by_local(&c, &k)
            .await
            .unwrap()
            .is_some_and(|t| t.status == TwinStatus::Unlinked)
    })
    .await;
    p.stop().await;
}
