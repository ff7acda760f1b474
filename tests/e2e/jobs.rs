//! Bulk jobs: a Bulk Exalate of many items, its process killed halfway, resumes on the
//! same files and finishes with one twin per item; a job can be cancelled; progress is
//! in the API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::time::Duration;
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_ports::{Tracker, TwinQuery};

use crate::support::{Admin, until};

fn items() -> usize {
    std::env::var("TWINSYNC_BULK_JOB_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

async fn count(tracker: &std::sync::Arc<dyn Tracker>) -> usize {
    let mut n = 0;
    let mut page = None;
    loop {
        let found = tracker.search_updated("", 0, page).await.unwrap();
        n += found.items.len();
        match found.next {
            Some(p) => page = Some(p),
            None => return n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_exalate_killed_halfway_resumes_with_no_duplicate() {
    let n = items();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo::config("jobs-secret-0123456789");
    // Polling would find the items by itself: only the job may bring them under sync.
    for node in &mut config.node {
        node.poll_interval_ms = 3_600_000;
    }
    // The job waits while a few changes wait: it is still under way when the node dies.
    let options = || ProcessOptions {
        node: twinsync_node::NodeSettings {
            job_max_waiting_changes: 10,
            ..twinsync_node::NodeSettings::default()
        },
        ..ProcessOptions::default()
    };
    let p = Process::start(&config, dir.path(), options())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = p.sandbox_urls["a"].clone();
    // Items no trigger takes yet.
    for i in 0..n {
        demo::create_item(&http, &url, demo::item_body(PROJECT_A, i, "later"))
            .await
            .unwrap();
    }
    assert!(p.wait_quiet(Duration::from_secs(120)).await);
    let admin = Admin::of(&p, "node-a");
    let (status, v) = admin
        .post(
            "/api/connections/demo/versions",
            json!({"triggers": [{"id": "t1", "query": "project = DEMO AND labels = later"}]}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    admin
        .post(
            &format!("/api/connections/demo/versions/{}/activate", v["version"]),
            json!({}),
        )
        .await;
    let tb = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    assert_eq!(count(&tb).await, 0, "nothing synced before the job");

    let (status, job) = admin
        .post("/api/connections/demo/jobs", json!({"kind": "exalate"}))
        .await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let path = format!("/api/jobs/{id}");
    until("the job halfway", 120, async || {
        admin.get(&path).await["done"].as_u64().unwrap() >= (n / 2) as u64
    })
    .await;
    let node_a = p.node("node-a").unwrap().clone();
    p.kill().await;
    let at_kill = twinsync_node::jobs::get(&node_a, &id).await.unwrap();
    assert!(
        at_kill.done < n as u64,
        "killed while the job ran: {at_kill:?}"
    );
    drop(node_a);

    let p = Process::start(&config, dir.path(), options())
        .await
        .unwrap();
    let admin = Admin::of(&p, "node-a");
    until("the job done", 180, async || {
        admin.get(&path).await["status"] == "done"
    })
    .await;
    let job = admin.get(&path).await;
    assert_eq!(job["done"].as_u64(), Some(n as u64), "{job}");
    assert_eq!(job["failed"].as_u64(), Some(0), "{job}");
    assert!(job["rate_per_s"].as_f64().unwrap() > 0.0, "{job}");
    assert!(p.wait_quiet(Duration::from_secs(180)).await);
    let tb = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    assert_eq!(count(&tb).await, n, "one item on B per item on A");
    let node_a = p.node("node-a").unwrap();
    let twins = node_a
        .twins
        .list(&TwinQuery {
            connection_id: Some(CONNECTION.into()),
            limit: n + 10,
            ..TwinQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(twins.len(), n);

    // A job can be cancelled while it runs, and only then.
    let (_, sync) = admin
        .post("/api/connections/demo/jobs", json!({"kind": "sync"}))
        .await;
    assert_eq!(sync["total"].as_u64(), Some(n as u64), "{sync}");
    let cancel = format!("/api/jobs/{}/cancel", sync["id"].as_str().unwrap());
    let (status, cancelled) = admin.post(&cancel, json!({})).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    let (status, again) = admin.post(&cancel, json!({})).await;
    assert_eq!(status, 400, "{again}");
    let list = admin.get("/api/jobs?connection=demo").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["kind"], "sync", "newest first");
    let (status, _) = admin
        .call(reqwest::Method::GET, "/api/jobs/nope", None)
        .await;
    assert_eq!(status, 404);
    p.stop().await;
}
