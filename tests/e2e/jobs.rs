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

/// Bulk Connect by field: items that exist on both sides with the same summary become
/// twins and nothing is created; an item whose summary two items share on the other side,
/// or none, is refused with the reason, and a field that cannot pair items is refused
/// before the job starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_connect_by_field_links_items_with_the_same_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &demo::config("match-secret-0123456789"),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let admin = Admin::of(&p, "node-a");
    // No live sync while the items are made: only the job may pair them.
    let (status, v) = admin
        .post(
            "/api/connections/demo/versions",
            json!({"triggers": [{"query": "project = DEMO AND labels = migrated"}], "live": false}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let path = format!("/api/connections/demo/versions/{}/activate", v["version"]);
    assert_eq!(admin.post(&path, json!({})).await.0, 200);
    let make = async |side: &str, project: &str, summary: &str| -> String {
        let mut body = demo::item_body(project, 0, "migrated");
        body["summary"] = json!(summary);
        demo::create_item(&http, &p.sandbox_urls[side], body)
            .await
            .unwrap()
    };
    let a1 = make("a", PROJECT_A, "Printer on fire").await;
    let a2 = make("a", PROJECT_A, "VPN drops at noon").await;
    let a3 = make("a", "DEMO", "Password reset").await;
    let a4 = make("a", "DEMO", "Only here").await;
    let b1 = make("b", "SUPPORT", "Printer on fire").await;
    let b2 = make("b", "SUPPORT", "VPN drops at noon").await;
    make("b", "SUPPORT", "Password reset").await;
    make("b", "SUPPORT", "Password reset").await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let (ta, tb) = (
        p.node("node-a").unwrap().tracker("sandbox-a").unwrap(),
        p.node("node-b").unwrap().tracker("sandbox-b").unwrap(),
    );
    let before = (count(&ta).await, count(&tb).await);

    let (status, refused) = admin
        .post(
            "/api/connections/demo/jobs",
            json!({"kind": "connect_by_field", "field": "labels"}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    let (status, job) = admin
        .post(
            "/api/connections/demo/jobs",
            json!({"kind": "connect_by_field", "field": "summary"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let job_path = format!("/api/jobs/{}", job["id"].as_str().unwrap());
    until("the job done", 60, async || {
        admin.get(&job_path).await["status"] == "done"
    })
    .await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let (node_a, node_b) = (p.node("node-a").unwrap(), p.node("node-b").unwrap());
    for (a, b) in [(&a1, &b1), (&a2, &b2)] {
        let twin = node_a
            .twins
            .find_by_local(CONNECTION, a)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(twin.remote_key.as_deref(), Some(b.as_str()), "{a}");
        let back = node_b
            .twins
            .find_by_local(CONNECTION, b)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.remote_key.as_deref(), Some(a.as_str()), "{b}");
    }
    for lone in [&a3, &a4] {
        assert!(
            node_a
                .twins
                .find_by_local(CONNECTION, lone)
                .await
                .unwrap()
                .is_none(),
            "{lone}"
        );
    }
    assert_eq!(
        (count(&ta).await, count(&tb).await),
        before,
        "nothing created"
    );
    let said: Vec<String> = node_a
        .twins
        .events(Some(CONNECTION), None, 200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    let refused = |why: &str| {
        said.iter()
            .any(|e| e.contains("refused") && e.contains(why))
    };
    assert!(
        refused("2 items have summary \"Password reset\""),
        "{said:?}"
    );
    assert!(
        refused("no item free to link has summary \"Only here\""),
        "{said:?}"
    );
    // The monitor shows the job's progress.
    let (status, monitor) = admin.text("/api/monitor").await;
    assert_eq!(status, 200);
    let monitor: serde_json::Value = serde_json::from_str(&monitor).unwrap();
    let shown = monitor["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["kind"] == "connect_by_field" && j["done"] == 4 && j["total"] == 4);
    assert!(shown, "{monitor}");
    p.stop().await;
}

/// Jobs started at once (as several API processes would) all stay on the list: the list
/// is written only over what each start read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_started_at_once_are_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &demo::config("list-secret-0123456789"),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let node = p.node("node-a").unwrap().clone();
    let starts: Vec<_> = (0..12)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                twinsync_node::jobs::start(&node, CONNECTION, twinsync_core::JobKind::Sync)
                    .await
                    .unwrap()
                    .id
            })
        })
        .collect();
    let mut started = Vec::new();
    for s in starts {
        started.push(s.await.unwrap());
    }
    let listed = twinsync_node::jobs::list(&node, Some(CONNECTION))
        .await
        .unwrap();
    let mut listed: Vec<String> = listed.into_iter().map(|j| j.id).collect();
    listed.sort();
    started.sort();
    assert_eq!(listed, started);
    p.stop().await;
}
