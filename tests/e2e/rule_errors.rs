//! A rule error stops one item, with the script's message and line, and the rest sync.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A};
use twinsync_core::TwinStatus;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_tests::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_stops_one_item_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo::config("rules-secret-012345");
    config.node[0].connection[0].outgoing = Some(fixture("rules/outgoing-refuses-boom.rhai"));
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = p.sandbox_urls["a"].clone();
    let mut keys = Vec::new();
    for (i, label) in ["ok", "boom", "ok"].iter().enumerate() {
        let mut body = demo::item_body(PROJECT_A, i, "sync");
        body["labels"] = serde_json::json!(["sync", label]);
        keys.push(demo::create_item(&http, &url, body).await.unwrap());
    }
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let node_a = p.node("node-a").unwrap();
    let boom = node_a
        .twins
        .find_by_local(CONNECTION, &keys[1])
        .await
        .unwrap()
        .unwrap();
    match &boom.status {
        TwinStatus::Error(m) => {
            assert!(m.contains("items labelled boom may not leave"), "{m}");
            assert!(m.contains("line 3"), "{m}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(boom.remote_key, None, "nothing was sent");
    for key in [&keys[0], &keys[2]] {
        let twin = node_a
            .twins
            .find_by_local(CONNECTION, key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(twin.status, TwinStatus::Synced, "{key}");
        assert!(twin.remote_key.is_some());
    }
    p.stop().await;
}
