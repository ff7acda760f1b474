//! Misbehaving outgoing rules through a node, one item per misbehaviour: each stops its
//! own item with an error on the twin that says what happened, sends nothing, and the
//! item beside them syncs. (`rule_errors.rs` has the thrown error's line number.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A};
use twinsync_core::TwinStatus;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_tests::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_rules_stop_their_item_with_an_error_on_the_twin() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo::config("bad-rules-secret-0123");
    config.node[0].connection[0].outgoing =
        Some(fixture("bad-input/rules/outgoing-misbehaves.rhai"));
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    // The item's label, then what the error on its twin must say (None: it syncs).
    let cases = [
        ("loop", Some("too many operations")),
        ("grow", Some("length of string")),
        ("recurse", Some("stack overflow")),
        ("throw", Some("items labelled throw may not leave")),
        ("unknown", Some("no_such_helper")),
        ("number", Some("expected a map")),
        ("ok", None),
    ];
    let http = reqwest::Client::new();
    let url = p.sandbox_urls["a"].clone();
    let mut keys = Vec::new();
    for (i, (label, _)) in cases.iter().enumerate() {
        let mut body = demo::item_body(PROJECT_A, i, "sync");
        body["labels"] = serde_json::json!(["sync", label]);
        keys.push(demo::create_item(&http, &url, body).await.unwrap());
    }
    assert!(p.wait_quiet(Duration::from_secs(90)).await);
    let node_a = p.node("node-a").unwrap();
    let node_b = p.node("node-b").unwrap();
    let mut wrong = Vec::new();
    for ((label, says), key) in cases.iter().zip(&keys) {
        let twin = node_a
            .twins
            .find_by_local(CONNECTION, key)
            .await
            .unwrap()
            .unwrap();
        match (&twin.status, says) {
            (TwinStatus::Error(m), Some(want)) if m.to_lowercase().contains(want) => {
                if twin.remote_key.is_some() {
                    wrong.push(format!("{label}: sent although the rules failed"));
                }
            }
            (TwinStatus::Synced, None) => {}
            (status, _) => wrong.push(format!("{label}: {status:?}, expected {says:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Only the good item reached the other side.
    assert_eq!(node_b.twins.count(Some(CONNECTION)).await.unwrap(), 1);
    p.stop().await;
}
