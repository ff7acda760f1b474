//! Nothing is lost quietly: a tracker outage shorter than the retry budget loses nothing;
//! past the budget a message goes to its dead-letter queue and its twin shows Error with
//! the reason, until a redrive sends it again; a handler that panics fails its own
//! message only.
//!
//! Backoffs are scaled down (5 ms doubling to 50 ms instead of 200 ms to 60 s) so that a
//! test waits seconds for as many tries as an outage of many minutes would take.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use twinsync_cli::admin::{self, AdminCommand};
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A};
use twinsync_core::{ChangeEvent, TwinStatus};
use twinsync_fakes::sandbox::testing;
use twinsync_local::faults::{FaultyTracker, Outage};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::batch::{Outcome, process_batch};
use twinsync_node::{Node, NodeSettings};
use twinsync_ports::{NewMessage, Tracker, queues};

use crate::support::until;

/// Tries per message that outlast what the old limit allowed (10 receives, about three
/// minutes with the default backoff): 25 tries at the default backoff span 17 minutes.
const TRIES: u64 = 25;

/// Fast backoffs and a retry budget; each node's tracker is unreachable while its outage
/// lasts.
fn options(retry_budget_ms: i64, a: &Arc<Outage>, b: &Arc<Outage>) -> ProcessOptions {
    let (a, b) = (a.clone(), b.clone());
    ProcessOptions {
        node: NodeSettings {
            backoff_base_ms: 5,
            backoff_max_ms: 50,
            retry_budget_ms,
            ..NodeSettings::default()
        },
        tracker_decorator: Some(Arc::new(move |t: Arc<dyn Tracker>| {
            let outage = if t.instance() == "sandbox-a" { &a } else { &b };
            FaultyTracker::down_during(t, outage.clone())
        })),
        ..ProcessOptions::default()
    }
}

/// How many messages the dead-letter queues of `node` hold.
async fn dead_lettered(node: &Node) -> u64 {
    let mut total = 0;
    for name in node.queue.queue_names().await.unwrap() {
        if name.ends_with("-dlq") {
            total += node.queue.depth(&name).await.unwrap().total();
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tracker_outage_of_many_minutes_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (outage_a, outage_b) = (Outage::new(), Outage::new());
    let p = Process::start(
        &demo::config("outage-secret-012345"),
        dir.path(),
        options(twinsync_node::DEFAULT_RETRY_BUDGET_MS, &outage_a, &outage_b),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();

    // Tracker A is down while people create items in it: its webhooks reach node A,
    // whose reads fail and are retried.
    outage_a.begin();
    let mut keys = Vec::new();
    for i in 0..5 {
        let body = demo::item_body(PROJECT_A, i, "sync");
        keys.push(
            demo::create_item(&http, &p.sandbox_urls["a"], body)
                .await
                .unwrap(),
        );
    }
    until("every change tried many times on A", 60, async || {
        keys.iter().all(|k| outage_a.refused(k) >= TRIES)
    })
    .await;
    // A comes back as B goes down: the replicas reach B, whose writes fail and are retried.
    outage_b.begin();
    outage_a.end();
    until("every replica tried many times on B", 60, async || {
        outage_b.refused_in_all() >= TRIES * keys.len() as u64
    })
    .await;
    outage_b.end();
    assert!(p.wait_quiet(Duration::from_secs(60)).await);

    let a = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let pairing = demo::pair_up(a.as_ref(), b.as_ref()).await.unwrap();
    assert_eq!(
        (pairing.a_to_b, pairing.duplicates),
        (5, 0),
        "every change arrived once"
    );
    for node in &p.nodes {
        assert_eq!(dead_lettered(node).await, 0, "node {}", node.id);
        assert_eq!(
            crate::support::synced_twins(node, CONNECTION).await,
            5,
            "node {}",
            node.id
        );
    }
    p.stop().await;
}

/// A process whose nodes give up after one second, with one item synced from A.
struct OneItem {
    _dir: tempfile::TempDir,
    p: Process,
    outage_a: Arc<Outage>,
    http: reqwest::Client,
    url_a: String,
    key: String,
    node_a: Arc<Node>,
}

async fn one_synced_item(secret: &str) -> OneItem {
    let dir = tempfile::tempdir().unwrap();
    let (outage_a, outage_b) = (Outage::new(), Outage::new());
    let p = Process::start(
        &demo::config(secret),
        dir.path(),
        options(1_000, &outage_a, &outage_b),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url_a = p.sandbox_urls["a"].clone();
    let key = demo::create_item(&http, &url_a, demo::item_body(PROJECT_A, 0, "sync"))
        .await
        .unwrap();
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let node_a = p.node("node-a").unwrap().clone();
    OneItem {
        _dir: dir,
        p,
        outage_a,
        http,
        url_a,
        key,
        node_a,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_budget_a_message_is_dead_lettered_and_a_redrive_syncs_it() {
    let OneItem {
        _dir,
        p,
        outage_a,
        http,
        url_a,
        key,
        node_a,
    } = one_synced_item("budget-secret-012345").await;
    let twin = async || {
        node_a
            .twins
            .find_by_local(CONNECTION, &key)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(twin().await.status, TwinStatus::Synced);

    // An edit while tracker A is down for longer than the one-second budget.
    outage_a.begin();
    http.patch(format!("{url_a}/api/items/{key}"))
        .json(&serde_json::json!({ "summary": "Edited during the outage" }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    until("the twin in error", 60, async || {
        matches!(twin().await.status, TwinStatus::Error(_))
    })
    .await;
    let TwinStatus::Error(reason) = twin().await.status else {
        unreachable!("waited for the error");
    };
    for words in [
        "dead-lettered from outgoing",
        "retry budget 1.0 s",
        "injected tracker outage",
    ] {
        assert!(reason.contains(words), "{words}: {reason}");
    }
    assert_eq!(dead_lettered(&node_a).await, 1);
    // The monitor's data shows it: the twin under status=error, the event in the list.
    let admin = crate::support::Admin::of(&p, "node-a");
    let get = async |path: &str| -> serde_json::Value { admin.get(path).await };
    let errors = get("/api/twins?status=error").await;
    assert_eq!(errors[0]["local_key"], key.as_str(), "{errors}");
    let events = get("/api/events?connection=demo").await;
    let dead = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "dead_lettered");
    assert!(
        dead.is_some_and(|e| e["detail"].as_str().unwrap().contains("injected")),
        "{events}"
    );
    // The monitor's dead letters: the message, its pair and why (and it stays there).
    for _ in 0..2 {
        let letters = get("/api/dead-letters").await;
        assert_eq!(letters.as_array().unwrap().len(), 1, "{letters}");
        let letter = &letters[0];
        assert_eq!(letter["queue"], "outgoing", "{letter}");
        assert_eq!(letter["item_key"], key.as_str(), "{letter}");
        assert_eq!(letter["twin_id"], errors[0]["id"], "{letter}");
        assert!(
            letter["reason"].as_str().unwrap().contains("injected"),
            "{letter}"
        );
    }

    // The tracker is back; the operator redrives, as `twinsync op redrive` does.
    outage_a.end();
    let endpoint = &p.admin["node-a"];
    let op = AdminCommand::Op {
        node: twinsync_cli::admin::Target {
            node: Some(endpoint.url.clone()),
            data_dir: None,
            token: Some(endpoint.token.expose().to_string()),
        },
        connection: CONNECTION.into(),
        operation: "redrive".into(),
        item: None,
        remote: None,
        version: None,
    };
    admin::run(op).await.unwrap();
    until("the twin synced again", 60, async || {
        twin().await.status == TwinStatus::Synced
    })
    .await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    assert_eq!(dead_lettered(&node_a).await, 0);
    let b_key = twin().await.remote_key.unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let on_b = b.get_item(&b_key).await.unwrap().unwrap();
    assert_eq!(on_b.summary, "Edited during the outage");
    let events = get("/api/events?connection=demo").await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "redriven"),
        "{events}"
    );
    p.stop().await;
}

/// A redriven change that finds nothing left to send (the edit made during the outage
/// was undone) still takes its twin out of Error once it is processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redriven_change_with_nothing_to_send_clears_the_error() {
    let OneItem {
        _dir,
        p,
        outage_a,
        http,
        url_a,
        key,
        node_a,
    } = one_synced_item("undone-secret-012345").await;
    let twin = async || {
        let twin = node_a.twins.find_by_local(CONNECTION, &key).await.unwrap();
        twin.unwrap()
    };
    let sent = twin().await.out_version;

    outage_a.begin();
    for summary in ["Edited during the outage", "Checkout fails for order #0"] {
        http.patch(format!("{url_a}/api/items/{key}"))
            .json(&serde_json::json!({ "summary": summary }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
    until("both changes dead-lettered", 60, async || {
        dead_lettered(&node_a).await == 2
    })
    .await;
    assert!(matches!(twin().await.status, TwinStatus::Error(_)));

    outage_a.end();
    let moved = twinsync_node::operations::redrive(&node_a, CONNECTION)
        .await
        .unwrap();
    assert_eq!(moved, 2);
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let after = twin().await;
    assert_eq!(after.status, TwinStatus::Synced);
    assert_eq!(
        after.out_version, sent,
        "the item is as the other side has it"
    );
    assert_eq!(dead_lettered(&node_a).await, 0);
    p.stop().await;
}

/// One node on an in-memory store whose tracker panics when it reads DEMO-2.
async fn node_with_a_panicking_tracker() -> (Node, twinsync_fakes::sandbox::RunningSandbox) {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let sandbox = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    for i in 1..=3 {
        let body =
            serde_json::json!({"project": "DEMO", "summary": format!("s{i}"), "labels": ["sync"]});
        sandbox.create_raw(&body).await.unwrap();
    }
    let tracker = FaultyTracker::panicking_on(Arc::new(sandbox), "DEMO-2");
    (crate::support::node_on(tracker).await, sb)
}

#[tokio::test]
async fn a_panicking_tracker_fails_one_message_of_the_batch_only() {
    let (node, sb) = node_with_a_panicking_tracker().await;
    for key in ["DEMO-1", "DEMO-2", "DEMO-3"] {
        let event = ChangeEvent {
            connection_id: "c".into(),
            instance: "sb".into(),
            item_key: key.into(),
            observed_version: 0,
            delivery_id: key.into(),
            force: false,
            trace_id: String::new(),
            origin: None,
            twin_id: None,
        };
        let message = NewMessage {
            group_id: event.group_id(),
            dedup_id: key.into(),
            body: serde_json::to_string(&event).unwrap(),
        };
        node.queue.send(queues::OUTGOING, message).await.unwrap();
    }
    let batch = node
        .queue
        .receive(queues::OUTGOING, 10, 30_000)
        .await
        .unwrap();
    assert_eq!(batch.len(), 3);
    let outcomes = process_batch(&node, queues::OUTGOING, &batch).await;
    assert_eq!(outcomes[0], Outcome::Done);
    match &outcomes[1] {
        Outcome::Retry { reason, .. } => {
            assert!(
                reason.contains("panicked: injected panic reading DEMO-2"),
                "{reason}"
            )
        }
        other => panic!("DEMO-2: {other:?}"),
    }
    assert_eq!(
        outcomes[2],
        Outcome::Done,
        "the batch went on after the panic"
    );
    // DEMO-1 and DEMO-3 became replicas on their way to the other node.
    let depth = node.queue.depth(queues::TRANSPORT).await.unwrap();
    assert_eq!(depth.total(), 2);
    sb.stop().await;
}
