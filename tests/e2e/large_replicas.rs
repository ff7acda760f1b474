//! Replicas over the default 1 MiB: each node tells the other the largest body it takes
//! (`max_replica_bytes`) when the connection is made; within it, large replicas travel
//! gzip-compressed and sync; over it, the twin shows Error with the setting to raise and
//! the other side writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::nodes::config;
use crate::support::{Admin, until};
use serde_json::{Value, json};
use twinsync_cli::demo;
use twinsync_core::TwinStatus;
use twinsync_local::process::{Process, ProcessOptions};

const MIB: u64 = 1 << 20;

/// Two nodes, each with its own sandbox, connected by invitation (A invites, B accepts);
/// `max` is each node's `max_replica_bytes`, `None` for the default.
async fn connected(
    max: Option<u64>,
    dirs: &(tempfile::TempDir, tempfile::TempDir),
) -> (Process, Process, String) {
    let start = |node: &'static str, sandbox: &'static str, project: &'static str, dir| async move {
        let mut c = config(node, sandbox, project);
        c.node[0].max_replica_bytes = max;
        Process::start(&c, dir, ProcessOptions::default())
            .await
            .unwrap()
    };
    let pa = start("node-a", "a", "DEMO", dirs.0.path()).await;
    let pb = start("node-b", "b", "SUPPORT", dirs.1.path()).await;
    let (status, invited) = Admin::of(&pa, "node-a")
        .post(
            "/api/connections/invite",
            json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync"}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let (status, accepted) = Admin::of(&pb, "node-b")
        .post(
            "/api/connections/accept",
            json!({"code": invited["code"], "instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;
    assert_eq!(status, 201, "{accepted}");
    let conn = invited["connection"].as_str().unwrap().to_string();
    (pa, pb, conn)
}

/// Prose that compresses as text does, `bytes` long: every line differs a little.
fn prose(bytes: usize, seed: usize) -> String {
    let mut s = String::with_capacity(bytes + 100);
    let mut i = seed;
    while s.len() < bytes {
        s.push_str(&format!(
            "Line {i}: the payment service answered 502 for order {} after {} ms.\n",
            i * 7919 % 100_003,
            i * 31 % 997
        ));
        i += 1;
    }
    s.truncate(bytes);
    s
}

/// An item of about 1.6 MB in sandbox A (a 600 KB description and two 500 KB comments),
/// brought under sync only once it is whole, so its first replica is the large one.
async fn large_item(pa: &Process) -> (String, String) {
    let http = reqwest::Client::new();
    let base = &pa.sandbox_urls["a"];
    let mut body = demo::item_body("DEMO", 1, "later");
    let description = prose(600_000, 0);
    body["description"] = json!(description);
    let key = demo::create_item(&http, base, body).await.unwrap();
    for n in 1..=2 {
        let resp = http
            .post(format!("{base}/api/items/{key}/comments"))
            .json(&json!({"body": prose(500_000, n * 100_000)}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
    let resp = http
        .patch(format!("{base}/api/items/{key}"))
        .json(&json!({"labels": ["sync"]}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    (key, description)
}

async fn twin_status(p: &Process, conn: &str, key: &str) -> Option<TwinStatus> {
    p.nodes[0]
        .twins
        .find_by_local(conn, key)
        .await
        .unwrap()
        .map(|t| t.status)
}

async fn items_in(p: &Process, sandbox: &str, project: &str) -> Vec<Value> {
    let url = format!("{}/api/items?project={project}", p.sandbox_urls[sandbox]);
    let listed: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    listed["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_replica_syncs_within_the_limit_both_nodes_agreed() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb, conn) = connected(Some(8 * MIB), &dirs).await;
    for p in [&pa, &pb] {
        let link = p.nodes[0].connection(&conn).await.unwrap().link.unwrap();
        assert_eq!(
            link.peer_max_body,
            Some(8 * MIB),
            "each learnt the other's limit"
        );
    }
    let (key, description) = large_item(&pa).await;
    until("the large item is synced", 60, async || {
        twin_status(&pa, &conn, &key).await == Some(TwinStatus::Synced)
    })
    .await;
    let twin = pa.nodes[0]
        .twins
        .find_by_local(&conn, &key)
        .await
        .unwrap()
        .unwrap();
    let remote = twin.remote_key.unwrap();
    let b = pb.nodes[0].tracker("sandbox-b").unwrap();
    let copy = b.get_item(&remote).await.unwrap().unwrap();
    assert_eq!(copy.description.trim_end(), description.trim_end());
    assert_eq!(copy.comments.len(), 2, "both large comments arrived");
    assert!(copy.comments.iter().all(|c| c.body.len() >= 490_000));
    pa.stop().await;
    pb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_over_the_limit_marks_its_twin_and_writes_nothing() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb, conn) = connected(None, &dirs).await;
    let (key, _) = large_item(&pa).await;
    let mut reason = String::new();
    until("the twin shows why", 60, async || {
        if let Some(TwinStatus::Error(r)) = twin_status(&pa, &conn, &key).await {
            reason = r;
            return true;
        }
        false
    })
    .await;
    assert!(
        reason.contains("max_replica_bytes") && reason.contains(&MIB.to_string()),
        "{reason}"
    );
    assert!(
        items_in(&pb, "b", "SUPPORT").await.is_empty(),
        "the other side wrote nothing"
    );
    pa.stop().await;
    pb.stop().await;
}
