//! Configuration versions through the admin API: save, activate, diff, rollback,
//! discard, and a restart that keeps the version activated through the API (the config
//! file is the initial version only; a changed file becomes a draft).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use twinsync_cli::demo::{self, CONNECTION};
use twinsync_local::process::{Process, ProcessOptions};

use crate::support::Admin;

const VERSIONS: &str = "/api/connections/demo/versions";

async fn versions(admin: &Admin) -> Vec<Value> {
    admin.get("/api/connections/demo").await["versions"]
        .as_array()
        .cloned()
        .unwrap()
}

async fn active(admin: &Admin) -> (u64, String) {
    let v = versions(admin)
        .await
        .into_iter()
        .find(|v| v["status"] == "Active")
        .unwrap();
    (
        v["number"].as_u64().unwrap(),
        v["triggers"][0]["query"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_diff_roll_back_discard_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("versions-secret-01234");
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let admin = Admin::of(&p, "node-a");
    let (v1, file_trigger) = active(&admin).await;
    assert_eq!(v1, 1);

    // A draft with another trigger, activated through the API.
    let (status, saved) = admin
        .post(
            VERSIONS,
            json!({"triggers": [{"query": "labels = urgent"}], "note": "urgent only"}),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    let v2 = saved["version"].as_u64().unwrap();
    let (status, _) = admin
        .post(&format!("{VERSIONS}/{v2}/activate"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(active(&admin).await, (v2, "labels = urgent".into()));

    // The diff shows the trigger that changed, in unified form.
    let (status, diff) = admin
        .text(&format!("{VERSIONS}/diff?from={v1}&to={v2}"))
        .await;
    assert_eq!(status, 200, "{diff}");
    assert!(diff.starts_with("--- version 1\n+++ version 2\n"), "{diff}");
    assert!(
        diff.contains(&format!("-query = \"{file_trigger}\"")),
        "{diff}"
    );
    assert!(diff.contains("+query = \"labels = urgent\""), "{diff}");
    let (status, same) = admin
        .text(&format!("{VERSIONS}/diff?from={v1}&to={v1}"))
        .await;
    assert_eq!((status, same.as_str()), (200, ""));
    // Version 99 does not exist.
    let (status, _) = admin.text(&format!("{VERSIONS}/diff?from=1&to=99")).await;
    assert_eq!(status, 404);

    // Rollback brings version 1 back as a draft; a draft can be discarded.
    let (status, rolled) = admin
        .post(&format!("{VERSIONS}/{v1}/rollback"), json!({}))
        .await;
    assert_eq!(status, 201, "{rolled}");
    let v3 = rolled["version"].as_u64().unwrap();
    let (status, gone) = admin
        .call(Method::DELETE, &format!("{VERSIONS}/{v3}"), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{gone}");
    assert!(versions(&admin).await.iter().all(|v| v["number"] != v3));
    let (status, refused) = admin
        .call(Method::DELETE, &format!("{VERSIONS}/{v2}"), Some(json!({})))
        .await;
    assert_eq!(
        status, 409,
        "the active version cannot be discarded: {refused}"
    );
    assert!(refused["error"].as_str().unwrap().contains("only a draft"));

    // A restart with the same file keeps the version activated through the API.
    p.stop().await;
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let admin = Admin::of(&p, "node-a");
    assert_eq!(active(&admin).await, (v2, "labels = urgent".into()));

    // A changed file becomes a draft; the API's version stays in force.
    let mut changed = config.clone();
    let node_a = changed.node.iter_mut().find(|n| n.id == "node-a").unwrap();
    node_a.connection[0].trigger[0].query = "project = DEMO AND labels = changed".into();
    p.stop().await;
    let p = Process::start(&changed, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let admin = Admin::of(&p, "node-a");
    assert_eq!(active(&admin).await, (v2, "labels = urgent".into()));
    let all = versions(&admin).await;
    let draft = all.last().unwrap();
    assert_eq!(draft["status"], "Draft");
    assert_eq!(draft["origin"], "file");
    assert_eq!(
        draft["triggers"][0]["query"],
        "project = DEMO AND labels = changed"
    );
    // Rolling back to the file's first version and activating it puts it in force.
    let (_, rolled) = admin
        .post(&format!("{VERSIONS}/{v1}/rollback"), json!({}))
        .await;
    let v = rolled["version"].as_u64().unwrap();
    admin
        .post(&format!("{VERSIONS}/{v}/activate"), json!({}))
        .await;
    assert_eq!(active(&admin).await, (v, file_trigger));
    let connection = p
        .node("node-a")
        .unwrap()
        .connection(CONNECTION)
        .await
        .unwrap();
    assert_eq!(connection.active_version().unwrap().number as u64, v);
    p.stop().await;
}

/// Shadow mode: a draft runs beside the active version on live changes and records, per
/// item, where its replica would differ; it sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_in_shadow_reports_what_it_would_change_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &demo::config("shadow-secret-0123456"),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let admin = Admin::of(&p, "node-a");
    let active = versions(&admin)
        .await
        .into_iter()
        .find(|v| v["status"] == "Active")
        .unwrap();
    let outgoing = format!(
        "{}\nreplica.summary = \"[draft] \" + issue.summary;\n",
        active["outgoing"].as_str().unwrap()
    );
    let (_, saved) = admin.post(VERSIONS, json!({ "outgoing": outgoing })).await;
    let draft = saved["version"].as_u64().unwrap();
    let (status, started) = admin
        .post(&format!("{VERSIONS}/{draft}/shadow"), json!({}))
        .await;
    assert_eq!(status, 200, "{started}");
    let http = reqwest::Client::new();
    let key = demo::create_item(
        &http,
        &p.sandbox_urls["a"],
        demo::item_body(demo::PROJECT_A, 0, "sync"),
    )
    .await
    .unwrap();
    assert!(p.wait_quiet(std::time::Duration::from_secs(60)).await);
    let report = admin.get("/api/connections/demo/shadow").await;
    assert_eq!(report["version"].as_u64(), Some(draft), "{report}");
    assert_eq!(report["items"][&key], "summary", "{report}");
    // The active version sent; the draft did not.
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let items = b.search_updated("", 0, None).await.unwrap().items;
    assert_eq!(items.len(), 1);
    assert!(
        !items[0].summary.starts_with("[draft]"),
        "{}",
        items[0].summary
    );
    let (status, last) = admin
        .call(
            Method::DELETE,
            "/api/connections/demo/shadow",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(last["items"][&key], "summary");
    // Stopped, there is no shadow to report on.
    let (status, _) = admin.text("/api/connections/demo/shadow").await;
    assert_eq!(status, 404);
    // Only a draft runs in shadow: version 1's state does not allow it.
    let (status, _) = admin.post(&format!("{VERSIONS}/1/shadow"), json!({})).await;
    assert_eq!(status, 409);
    p.stop().await;
}
