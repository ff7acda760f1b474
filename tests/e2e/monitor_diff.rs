//! The monitor's diff of two replicas of a pair's history, named by their ids: the same
//! replicas wherever the history has moved them, and a clear answer for ids that name
//! none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operations::{Pair, twin};
use crate::support::Admin;
use serde_json::json;
use twinsync_ports::{REPLICA_HISTORY, ReplicaRecord};

/// Puts sent replica `version` of `twin_id` in A's history, its summary naming it.
async fn sent(pair: &Pair, twin_id: &str, version: u64) {
    let record = ReplicaRecord {
        twin_id: twin_id.into(),
        direction: "out".into(),
        version,
        replica: json!({"summary": format!("summary {version}"), "labels": ["sync"]}),
        at_ms: 1_800_000_000_000 + version as i64,
    };
    pair.a.twins.add_replica(&record).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diff_names_its_replicas_by_id_wherever_the_history_moved_them() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "diff-ids-secret-0123456789").await;
    let admin = Admin::of(&pair.p, "node-a");
    let key = pair.item('a', 0, "sync").await;
    pair.quiet().await;
    let id = twin(&pair.a, &key).await.unwrap().id;
    // A full ring of sent replicas (version 1 was sent by the sync itself).
    let newest = REPLICA_HISTORY + 10;
    for version in 2..=newest {
        sent(&pair, &id, version).await;
    }
    let diff = |from: &str, to: &str| format!("/api/twins/{id}/diff?from={from}&to={to}");
    let pair_view = admin.get(&format!("/api/twins/{id}/pair")).await;
    let ids: Vec<&str> = pair_view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let oldest_kept = newest - REPLICA_HISTORY + 1;
    assert_eq!(ids.first(), Some(&format!("out-{oldest_kept}").as_str()));
    assert_eq!(ids.last(), Some(&format!("out-{newest}").as_str()));

    // Picked on the page, then a replica comes and every entry moves up by one.
    let (from, to) = (format!("out-{}", oldest_kept + 1), format!("out-{newest}"));
    sent(&pair, &id, newest + 1).await;
    let (status, d) = admin
        .call(reqwest::Method::GET, &diff(&from, &to), None)
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (d["from"]["id"].as_str(), d["to"]["id"].as_str()),
        (Some(from.as_str()), Some(to.as_str()))
    );
    let summary = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "summary");
    assert_eq!(
        summary.unwrap()["before"],
        format!("summary {}", oldest_kept + 1)
    );
    assert_eq!(summary.unwrap()["after"], format!("summary {newest}"));

    // (from, to, status, what the answer says)
    let gone = format!("out-{oldest_kept}");
    let cases = [
        (gone.as_str(), to.as_str(), 404, "keeps no replica out-"),
        ("in-1", to.as_str(), 404, "keeps no replica in-1"),
        ("3", to.as_str(), 400, "write `out-3` or `in-7`"),
        (
            "sideways-3",
            to.as_str(),
            400,
            "is not a replica of a history",
        ),
        ("out--3", to.as_str(), 400, "is not a replica of a history"),
        (to.as_str(), "out-", 400, "is not a replica of a history"),
    ];
    for (from, to, want, says) in cases {
        let (status, body) = admin
            .call(reqwest::Method::GET, &diff(from, to), None)
            .await;
        assert_eq!(status, want, "{from} {to}: {body}");
        assert!(body.to_string().contains(says), "{from} {to}: {body}");
    }
    let (status, body) = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/twins/{id}/diff?from=out-2"),
            None,
        )
        .await;
    assert_eq!(status, 400, "no `to`: {body}");
}
