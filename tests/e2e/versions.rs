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
    let (status, _) = admin.text(&format!("{VERSIONS}/diff?from=1&to=99")).await;
    assert_eq!(status, 400);

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
        status, 400,
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
