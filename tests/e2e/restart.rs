//! Nodes killed mid-stream and restarted on the same SQLite files still converge with
//! exactly one twin per item.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A};
use twinsync_core::{ItemUpdate, TwinStatus};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::NodeSettings;
use twinsync_node::handlers::scheduler;
use twinsync_ports::queues;

use crate::support::{synced_twins, until};

fn options() -> ProcessOptions {
    ProcessOptions {
        // Short visibility so messages a killed worker held come back quickly.
        node: NodeSettings {
            visibility_ms: 1_500,
            ..NodeSettings::default()
        },
        ..ProcessOptions::default()
    }
}

async fn poll_all(p: &Process) {
    for node in &p.nodes {
        let connection = node.connection(CONNECTION).await.unwrap();
        scheduler::poll(node, &connection).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_nodes_resume_on_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("restart-secret-0123");
    let http = reqwest::Client::new();

    let p = Process::start(&config, dir.path(), options())
        .await
        .unwrap();
    let url_a = p.sandbox_urls["a"].clone();
    let mut keys = Vec::new();
    for i in 0..30 {
        keys.push(
            demo::create_item(&http, &url_a, demo::item_body(PROJECT_A, i, "sync"))
                .await
                .unwrap(),
        );
    }
    // Kill while the sync is under way: the first items have twins, most do not yet.
    let node_a = p.node("node-a").unwrap().clone();
    until("the first items synced", 60, async || {
        synced_twins(&node_a, CONNECTION).await >= 3
    })
    .await;
    p.kill().await;

    let p = Process::start(&config, dir.path(), options())
        .await
        .unwrap();
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);

    // Edit on B, kill before it settles, restart once more.
    let node_a = p.node("node-a").unwrap().clone();
    let b_key = node_a
        .twins
        .find_by_local(CONNECTION, &keys[0])
        .await
        .unwrap()
        .and_then(|t| t.remote_key)
        .expect("first item has a twin");
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let outgoing_before = p.node("node-b").unwrap().queue.activity(queues::OUTGOING);
    b.update_item(
        &b_key,
        &ItemUpdate {
            summary: Some("Edited on B just before a crash".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Kill once B has taken the change in (its webhook queued work), before it settles.
    let node_b = p.node("node-b").unwrap().clone();
    until("B took the edit in", 60, async || {
        node_b.queue.activity(queues::OUTGOING) > outgoing_before
    })
    .await;
    p.kill().await;

    let p = Process::start(&config, dir.path(), options())
        .await
        .unwrap();
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);

    let a = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let pairing = demo::pair_up(a.as_ref(), b.as_ref()).await.unwrap();
    assert_eq!(pairing.duplicates, 0);
    assert_eq!(pairing.a_to_b, 30);
    let (mismatches, _, duplicate_comments) = demo::compare(a.as_ref(), b.as_ref(), &pairing.pairs)
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(duplicate_comments, 0);
    let first = a.get_item(&keys[0]).await.unwrap().unwrap();
    assert_eq!(first.summary, "Edited on B just before a crash");

    // Exactly one twin per item on each node, all synced.
    for node in &p.nodes {
        let twins = node
            .twins
            .list(&twinsync_ports::TwinQuery {
                connection_id: Some(CONNECTION.into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(twins.len(), 30, "node {}", node.id);
        assert!(
            twins.iter().all(|t| t.status == TwinStatus::Synced),
            "node {}: {:?}",
            node.id,
            twins.iter().map(|t| &t.status).collect::<Vec<_>>()
        );
    }
    p.stop().await;
}

/// A tracker slower than the visibility timeout: the runner keeps extending the messages
/// it holds, so no second worker gets one while the first is still writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tracker_slower_than_the_visibility_timeout_writes_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("slow-secret-0123456");
    let http = reqwest::Client::new();
    let options = ProcessOptions {
        node: NodeSettings {
            visibility_ms: 300,
            ..NodeSettings::default()
        },
        tracker_decorator: Some(std::sync::Arc::new(|t| {
            twinsync_local::faults::FaultyTracker::slow(t, Duration::from_millis(1_000))
        })),
        ..ProcessOptions::default()
    };
    let p = Process::start(&config, dir.path(), options).await.unwrap();
    let url_a = p.sandbox_urls["a"].clone();
    for i in 0..6 {
        demo::create_item(&http, &url_a, demo::item_body(PROJECT_A, i, "sync"))
            .await
            .unwrap();
    }
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(120)).await);
    let a = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let pairing = demo::pair_up(a.as_ref(), b.as_ref()).await.unwrap();
    assert_eq!(pairing.a_to_b, 6);
    assert_eq!(pairing.duplicates, 0, "no item written twice");
    let (mismatches, _, duplicate_comments) = demo::compare(a.as_ref(), b.as_ref(), &pairing.pairs)
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(duplicate_comments, 0, "no comment written twice");
    p.stop().await;
}

/// A twin whose lease another worker holds is not written until the lease is given back
/// or runs out: the replica waits in its queue instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leased_twin_waits_for_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("lease-secret-012345");
    let http = reqwest::Client::new();
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let url_a = p.sandbox_urls["a"].clone();
    let key = demo::create_item(&http, &url_a, demo::item_body(PROJECT_A, 0, "sync"))
        .await
        .unwrap();
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let node_a = p.node("node-a").unwrap().clone();
    let node_b = p.node("node-b").unwrap().clone();
    let b_key = node_a
        .twins
        .find_by_local(CONNECTION, &key)
        .await
        .unwrap()
        .and_then(|t| t.remote_key)
        .unwrap();
    // Another worker (as far as node B can tell) is writing this twin for 10 s.
    let mut twin = node_b
        .twins
        .find_by_local(CONNECTION, &b_key)
        .await
        .unwrap()
        .unwrap();
    twin.applying_until_ms = node_b.now_ms() + 10_000;
    node_b.twins.update(&twin).await.unwrap();

    let a = node_a.tracker("sandbox-a").unwrap();
    let b = node_b.tracker("sandbox-b").unwrap();
    a.update_item(
        &key,
        &ItemUpdate {
            summary: Some("while leased".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A worker of B meets the lease and gives the replica back to its queue to wait.
    let mut postponed = false;
    for _ in 0..600 {
        let incoming = node_b.queue.depth(queues::INCOMING).await.unwrap();
        if incoming.delayed > 0 {
            postponed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(postponed, "the replica waits in B's incoming queue");
    assert_ne!(
        b.get_item(&b_key).await.unwrap().unwrap().summary,
        "while leased",
        "not written while another worker holds the twin"
    );
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    assert_eq!(
        b.get_item(&b_key).await.unwrap().unwrap().summary,
        "while leased",
        "written once the lease ran out"
    );
    p.stop().await;
}

/// Someone closes the item on B between sync's read of it and sync's write of a summary
/// edit from A. The close is not what A has, so it must still reach A, and the summary
/// must reach B: nothing is lost. (Before the fix the read-back, close included, became
/// "what A has", and the close was never sent; a Redmine test caught it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_made_while_sync_writes_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("interleave-secret-01");
    let http = reqwest::Client::new();
    let options = ProcessOptions {
        // Only B's tracker has the person editing.
        tracker_decorator: Some(std::sync::Arc::new(|t| {
            if t.instance() == "sandbox-b" {
                twinsync_local::faults::FaultyTracker::editing(t, "Closed")
            } else {
                t
            }
        })),
        ..ProcessOptions::default()
    };
    let p = Process::start(&config, dir.path(), options).await.unwrap();
    let url_a = p.sandbox_urls["a"].clone();
    let key = demo::create_item(&http, &url_a, demo::item_body(PROJECT_A, 0, "sync"))
        .await
        .unwrap();
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let node_a = p.node("node-a").unwrap().clone();
    let a = node_a.tracker("sandbox-a").unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let b_key = node_a
        .twins
        .find_by_local(CONNECTION, &key)
        .await
        .unwrap()
        .and_then(|t| t.remote_key)
        .unwrap();
    a.update_item(
        &key,
        &ItemUpdate {
            summary: Some("edited on A".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut converged = false;
    for _ in 0..300 {
        let (x, y) = (
            a.get_item(&key).await.unwrap().unwrap(),
            b.get_item(&b_key).await.unwrap().unwrap(),
        );
        if x.summary == "edited on A"
            && y.summary == "edited on A"
            && y.status_name() == Some("Closed")
            && x.status_name() == Some("Done")
        {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (x, y) = (
        a.get_item(&key).await.unwrap().unwrap(),
        b.get_item(&b_key).await.unwrap().unwrap(),
    );
    assert!(
        converged,
        "A: {:?} {:?}; B: {:?} {:?}",
        x.summary,
        x.status_name(),
        y.summary,
        y.status_name()
    );
    p.stop().await;
}

/// A node whose twin store is wiped (or whose pair is relinked) makes new twin records
/// whose replica versions start again at 1; the other side must still apply them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_twin_store_keeps_syncing_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("wipe-secret-0123456");
    let http = reqwest::Client::new();
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let key = demo::create_item(
        &http,
        &p.sandbox_urls["a"],
        demo::item_body(PROJECT_A, 0, "sync"),
    )
    .await
    .unwrap();
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let node_a = p.node("node-a").unwrap().clone();
    let node_b = p.node("node-b").unwrap().clone();
    let a = node_a.tracker("sandbox-a").unwrap();
    let b = node_b.tracker("sandbox-b").unwrap();
    let b_key = node_a
        .twins
        .find_by_local(CONNECTION, &key)
        .await
        .unwrap()
        .and_then(|t| t.remote_key)
        .unwrap();
    let edit = async |tracker: &std::sync::Arc<dyn twinsync_ports::Tracker>, key: &str, s: &str| {
        tracker
            .update_item(
                key,
                &ItemUpdate {
                    summary: Some(s.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    };
    let converged = async |s: &str| {
        for _ in 0..300 {
            let (x, y) = (
                a.get_item(&key).await.unwrap().unwrap(),
                b.get_item(&b_key).await.unwrap().unwrap(),
            );
            if x.summary == s && y.summary == s {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    // B sends a few replicas, so A has applied B's versions 1..3.
    for s in ["from B 1", "from B 2", "from B 3"] {
        edit(&b, &b_key, s).await;
        assert!(converged(s).await, "{s} reached A");
    }
    for t in node_b
        .twins
        .list(&twinsync_ports::TwinQuery {
            connection_id: Some(CONNECTION.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
    {
        node_b.twins.delete(&t.id).await.unwrap();
    }
    // A's change finds B's item again by its origin marker; B's new twin record counts
    // its replicas from 1, which A must not take for versions it applied before.
    edit(&a, &key, "from A after the wipe").await;
    assert!(converged("from A after the wipe").await);
    edit(&b, &b_key, "from B after the wipe").await;
    assert!(
        converged("from B after the wipe").await,
        "B's first replica after the wipe reached A"
    );
    p.stop().await;
}

/// The tracker's webhook for an item sync just created can arrive before sync has linked
/// the item to its twin; when the new item also matches this side's trigger, it must not be
/// taken for a person's new item and sent back (that made a duplicate on the first side).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_sync_created_is_not_sent_back_as_new() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config("echo-create-secret");
    let options = ProcessOptions {
        tracker_decorator: Some(std::sync::Arc::new(|t| {
            if t.instance() == "sandbox-b" {
                twinsync_local::faults::FaultyTracker::slow_to_answer_creates(
                    t,
                    Duration::from_millis(1_500),
                )
            } else {
                t
            }
        })),
        ..ProcessOptions::default()
    };
    let p = Process::start(&config, dir.path(), options).await.unwrap();
    let http = reqwest::Client::new();
    for i in 0..3 {
        let mut body = demo::item_body(PROJECT_A, i, "sync");
        // B's trigger (labels = escalate) matches the copy sync makes on B too.
        body["labels"] = serde_json::json!(["sync", "escalate"]);
        demo::create_item(&http, &p.sandbox_urls["a"], body)
            .await
            .unwrap();
    }
    poll_all(&p).await;
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let a = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let pairing = demo::pair_up(a.as_ref(), b.as_ref()).await.unwrap();
    assert_eq!(pairing.a_to_b, 3);
    assert_eq!(pairing.b_to_a, 0, "no copy came back to A as a new item");
    assert_eq!(pairing.duplicates, 0);
    p.stop().await;
}

/// A worker that panics outside a message's handling (here: its queue's receive) is
/// restarted by the runner, so the node still syncs. With one worker per queue, a worker
/// that stayed dead would leave every change in A's outgoing queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_panics_is_restarted() {
    use std::sync::{Arc, Mutex};
    use twinsync_local::faults::PanickingQueue;
    use twinsync_ports::Decorated;
    let dir = tempfile::tempdir().unwrap();
    let panicking: Arc<Mutex<Vec<Arc<Decorated<PanickingQueue>>>>> = Arc::default();
    let wrapped = panicking.clone();
    let options = ProcessOptions {
        runner: twinsync_local::runner::RunnerSettings {
            workers_per_queue: 1,
            ..Default::default()
        },
        queue_decorator: Some(Arc::new(move |q| {
            let q = PanickingQueue::wrap(q, queues::OUTGOING, 1);
            wrapped.lock().unwrap().push(q.clone());
            q
        })),
        ..options()
    };
    let p = Process::start(&demo::config("panic-secret-0123456"), dir.path(), options)
        .await
        .unwrap();
    until("each outgoing worker panicked", 30, async || {
        panicking
            .lock()
            .unwrap()
            .iter()
            .all(|q| q.hooks.left() == 0)
    })
    .await;
    let http = reqwest::Client::new();
    demo::create_item(
        &http,
        &p.sandbox_urls["a"],
        demo::item_body(PROJECT_A, 0, "sync"),
    )
    .await
    .unwrap();
    assert!(p.wait_quiet(Duration::from_secs(60)).await);
    let node_a = p.node("node-a").unwrap().clone();
    assert_eq!(synced_twins(&node_a, CONNECTION).await, 1);
    p.stop().await;
}
