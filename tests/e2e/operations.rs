//! The seeds' operations as a protocol between two nodes: each one checked on both
//! nodes' twins and in both trackers afterwards (two sandbox nodes in one process).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A, PROJECT_B};
use twinsync_core::{ItemUpdate, Twin, TwinStatus};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::{Node, NodeSettings, operations};
use twinsync_ports::{Tracker, TwinQuery};

use crate::support::until;

pub(crate) struct Pair {
    pub p: Process,
    pub a: Arc<Node>,
    pub b: Arc<Node>,
    pub ta: Arc<dyn Tracker>,
    pub tb: Arc<dyn Tracker>,
    pub http: reqwest::Client,
}

impl Pair {
    pub async fn start(dir: &std::path::Path, secret: &str) -> Pair {
        // Room for a burst of webhooks: one test holds a thousand changes of one item.
        let options = ProcessOptions {
            node: NodeSettings {
                webhooks_per_minute: 60_000,
                webhook_burst: 5_000,
                ..NodeSettings::default()
            },
            ..ProcessOptions::default()
        };
        let p = Process::start(&demo::config(secret), dir, options)
            .await
            .unwrap();
        let a = p.node("node-a").unwrap().clone();
        let b = p.node("node-b").unwrap().clone();
        Pair {
            ta: a.tracker("sandbox-a").unwrap(),
            tb: b.tracker("sandbox-b").unwrap(),
            a,
            b,
            p,
            http: reqwest::Client::new(),
        }
    }

    /// An item on side A (`label` sync brings it under sync) or B.
    pub async fn item(&self, side: char, i: usize, label: &str) -> String {
        let (sandbox, project) = match side {
            'a' => ("a", PROJECT_A),
            _ => ("b", PROJECT_B),
        };
        let body = demo::item_body(project, i, label);
        demo::create_item(&self.http, &self.p.sandbox_urls[sandbox], body)
            .await
            .unwrap()
    }

    pub async fn quiet(&self) {
        assert!(
            self.p.wait_quiet(Duration::from_secs(60)).await,
            "no settle"
        );
    }

    pub async fn count(&self, tracker: &Arc<dyn Tracker>) -> usize {
        tracker
            .search_updated("", 0, None)
            .await
            .unwrap()
            .items
            .len()
    }

    pub async fn summary(tracker: &Arc<dyn Tracker>, key: &str) -> String {
        tracker.get_item(key).await.unwrap().unwrap().summary
    }

    pub async fn edit(tracker: &Arc<dyn Tracker>, key: &str, summary: &str) {
        let update = ItemUpdate {
            summary: Some(summary.into()),
            ..ItemUpdate::default()
        };
        tracker.update_item(key, &update).await.unwrap();
    }
}

async fn twins(node: &Node) -> Vec<Twin> {
    node.twins
        .list(&TwinQuery {
            connection_id: Some(CONNECTION.into()),
            limit: 1_000,
            ..TwinQuery::default()
        })
        .await
        .unwrap()
}

pub(crate) async fn twin(node: &Node, local: &str) -> Option<Twin> {
    node.twins.find_by_local(CONNECTION, local).await.unwrap()
}

pub(crate) async fn events(node: &Node) -> Vec<String> {
    node.twins
        .events(Some(CONNECTION), None, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

/// A synced pair: an item made on A, its twin on B.
pub(crate) async fn synced(pair: &Pair, i: usize) -> (String, String) {
    let a_key = pair.item('a', i, "sync").await;
    let node = pair.a.clone();
    let key = a_key.clone();
    until("the item synced", 60, async || {
        twin(&node, &key)
            .await
            .is_some_and(|t| t.status == TwinStatus::Synced && t.remote_key.is_some())
    })
    .await;
    let b_key = twin(&pair.a, &a_key).await.unwrap().remote_key.unwrap();
    (a_key, b_key)
}

/// Relink links two items that exist on both sides and syncs them: nothing is created on
/// either side, both nodes hold the pair. A relink to an item the other side does not
/// have is refused there, and leaves no twin here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relink_links_two_existing_items_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "relink-secret-0123456").await;
    // Neither item matches a trigger: each stays on its side.
    let a_key = pair.item('a', 1, "later").await;
    let b_key = pair.item('b', 2, "later").await;
    pair.quiet().await;
    let (items_a, items_b) = (pair.count(&pair.ta).await, pair.count(&pair.tb).await);

    let outcome = operations::relink(&pair.a, CONNECTION, &a_key, &b_key)
        .await
        .unwrap();
    assert!(
        outcome.peer_told && outcome.done.contains("node-b"),
        "{outcome:?}"
    );
    pair.quiet().await;
    let (ta, tb) = (
        twin(&pair.a, &a_key).await.unwrap(),
        twin(&pair.b, &b_key).await.unwrap(),
    );
    assert_eq!(ta.remote_key.as_deref(), Some(b_key.as_str()));
    assert_eq!(tb.remote_key.as_deref(), Some(a_key.as_str()));
    assert_eq!(
        (ta.status, tb.status),
        (TwinStatus::Synced, TwinStatus::Synced)
    );
    assert_eq!(
        Pair::summary(&pair.tb, &b_key).await,
        Pair::summary(&pair.ta, &a_key).await,
        "A's item synced onto B's existing one"
    );
    assert_eq!(
        (pair.count(&pair.ta).await, pair.count(&pair.tb).await),
        (items_a, items_b),
        "nothing created"
    );
    // Changes flow both ways on the relinked pair.
    Pair::edit(&pair.tb, &b_key, "Edited on B after the relink").await;
    let ta_ = pair.ta.clone();
    let a = a_key.clone();
    until("B's edit reached A", 60, async || {
        Pair::summary(&ta_, &a).await == "Edited on B after the relink"
    })
    .await;

    // A second relink of a linked item is refused before anything is sent.
    let again = operations::relink(&pair.a, CONNECTION, &a_key, &b_key).await;
    assert!(again.unwrap_err().to_string().contains("linked already"));
    // The other side refuses an item it does not have; nothing stays behind here.
    let lone = pair.item('a', 3, "later").await;
    operations::relink(&pair.a, CONNECTION, &lone, "SUPPORT-999")
        .await
        .unwrap();
    pair.quiet().await;
    assert!(twin(&pair.a, &lone).await.is_none());
    assert!(
        pair.b
            .twins
            .find_by_remote(CONNECTION, &lone)
            .await
            .unwrap()
            .is_none()
    );
    let said = events(&pair.a).await;
    assert!(
        said.iter()
            .any(|e| e.contains("refused") && e.contains("SUPPORT-999 does not exist")),
        "{said:?}"
    );
    assert_eq!(pair.count(&pair.tb).await, items_b);
    pair.p.stop().await;
}

/// Unlink on A leaves both items where they are, unlinks the twin on both nodes, and
/// stops sync in both directions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unlink_stops_sync_both_ways_on_both_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "unlink-secret-0123456").await;
    let (a_key, b_key) = synced(&pair, 4).await;
    pair.quiet().await;
    let outcome = operations::unlink(&pair.a, CONNECTION, &a_key)
        .await
        .unwrap();
    assert!(outcome.peer_told, "{outcome:?}");
    pair.quiet().await;
    assert_eq!(
        twin(&pair.a, &a_key).await.unwrap().status,
        TwinStatus::Unlinked
    );
    assert_eq!(
        twin(&pair.b, &b_key).await.unwrap().status,
        TwinStatus::Unlinked
    );
    let before_a = Pair::summary(&pair.ta, &a_key).await;
    let before_b = Pair::summary(&pair.tb, &b_key).await;
    Pair::edit(&pair.ta, &a_key, "A after unlink").await;
    Pair::edit(&pair.tb, &b_key, "B after unlink").await;
    pair.quiet().await;
    assert_eq!(Pair::summary(&pair.ta, &a_key).await, "A after unlink");
    assert_eq!(Pair::summary(&pair.tb, &b_key).await, "B after unlink");
    assert_ne!(before_a, "A after unlink");
    assert_ne!(before_b, "B after unlink");
    let said = events(&pair.a).await;
    assert!(
        said.iter()
            .any(|e| e.contains("unlink of") && e.contains("node-b followed")),
        "{said:?}"
    );
    pair.p.stop().await;
}

/// An Unlink whose message to the other node was lost (a crash between A's part and the
/// send): B's next replica tells A, and A tells B the Unlink again, naming B's record. A
/// Relink of a pair B still holds linked replaces B's record rather than resuming the
/// one A unlinked (simulation seeds 727, 1801). A twin that knows no record of B's tells
/// B all the same (seed 693).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unlink_the_other_node_missed_is_told_again_and_a_relink_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "lost-unlink-secret-0123").await;
    let connection = pair.a.connection(CONNECTION).await.unwrap();
    let (a_key, b_key) = synced(&pair, 6).await;
    pair.quiet().await;
    // A's part only: the message to B is never sent.
    let ta = twin(&pair.a, &a_key).await.unwrap();
    twinsync_node::pairing::unlink(&pair.a, &connection, ta)
        .await
        .unwrap();
    let a_before = Pair::summary(&pair.ta, &a_key).await;
    Pair::edit(&pair.tb, &b_key, "B, not knowing of the unlink").await;
    pair.quiet().await;
    assert_eq!(Pair::summary(&pair.ta, &a_key).await, a_before);
    assert_eq!(
        twin(&pair.b, &b_key).await.unwrap().status,
        TwinStatus::Unlinked,
        "B heard of the unlink from A's answer to its replica"
    );

    // A second pair, unlinked on A alone, then relinked from A with no change on B.
    let (a2, b2) = synced(&pair, 7).await;
    pair.quiet().await;
    let old_b = twin(&pair.b, &b2).await.unwrap();
    let ta2 = twin(&pair.a, &a2).await.unwrap();
    twinsync_node::pairing::unlink(&pair.a, &connection, ta2)
        .await
        .unwrap();
    Pair::edit(&pair.ta, &a2, "A's side wins the relink").await;
    operations::relink(&pair.a, CONNECTION, &a2, &b2)
        .await
        .unwrap();
    pair.quiet().await;
    let (ta2, tb2) = (
        twin(&pair.a, &a2).await.unwrap(),
        twin(&pair.b, &b2).await.unwrap(),
    );
    assert_ne!(tb2.id, old_b.id, "B's record of the old pair was replaced");
    assert_eq!(
        (ta2.status, tb2.status),
        (TwinStatus::Synced, TwinStatus::Synced)
    );
    assert_eq!(
        Pair::summary(&pair.tb, &b2).await,
        "A's side wins the relink"
    );
    Pair::edit(&pair.tb, &b2, "B after the relink").await;
    let (ta_, a) = (pair.ta.clone(), a2.clone());
    until("B's edit reached A", 60, async || {
        Pair::summary(&ta_, &a).await == "B after the relink"
    })
    .await;

    // A third pair, unlinked on A alone by a twin that knows no record of B's: B's next
    // replica is answered all the same (simulation seed 693 of V5 at 300 steps).
    let (a3, b3) = synced(&pair, 8).await;
    pair.quiet().await;
    let mut ta3 = twin(&pair.a, &a3).await.unwrap();
    ta3.remote_twin = None;
    twinsync_node::pairing::unlink(&pair.a, &connection, ta3)
        .await
        .unwrap();
    Pair::edit(&pair.tb, &b3, "B, not knowing of this unlink either").await;
    pair.quiet().await;
    assert_eq!(
        twin(&pair.b, &b3).await.unwrap().status,
        TwinStatus::Unlinked,
        "B heard of the unlink from A's answer to its replica"
    );
    pair.p.stop().await;
}

/// Unexalate on B forgets the pair on both nodes; the items stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unexalate_forgets_the_pair_on_both_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "unexalate-secret-01234").await;
    let (a_key, b_key) = synced(&pair, 5).await;
    pair.quiet().await;
    let outcome = operations::unexalate(&pair.b, CONNECTION, &b_key)
        .await
        .unwrap();
    assert!(outcome.peer_told);
    pair.quiet().await;
    assert!(twin(&pair.a, &a_key).await.is_none());
    assert!(twin(&pair.b, &b_key).await.is_none());
    assert!(pair.ta.get_item(&a_key).await.unwrap().is_some());
    assert!(pair.tb.get_item(&b_key).await.unwrap().is_some());
    // An edit on B is no longer sent (B's item matches no trigger of B's).
    Pair::edit(&pair.tb, &b_key, "B after unexalate").await;
    pair.quiet().await;
    assert_ne!(Pair::summary(&pair.ta, &a_key).await, "B after unexalate");
    pair.p.stop().await;
}

/// After an Unexalate, A's next edit brings its item under sync again (A's trigger still
/// matches it): B's item keeps A's origin marker with no twin record, and B links it
/// again instead of making a second one. A brand-new item is created without that look.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_brought_back_after_unexalate_finds_its_old_twin_item() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "unexalate-again-01234").await;
    let (a_key, b_key) = synced(&pair, 7).await;
    pair.quiet().await;
    let before = pair.count(&pair.tb).await;
    operations::unexalate(&pair.a, CONNECTION, &a_key)
        .await
        .unwrap();
    pair.quiet().await;
    assert!(twin(&pair.b, &b_key).await.is_none());
    Pair::edit(&pair.ta, &a_key, "A after unexalate").await;
    let node = pair.b.clone();
    let linked = b_key.clone();
    until("B linked its old item again", 60, async || {
        twin(&node, &linked)
            .await
            .is_some_and(|t| t.status == TwinStatus::Synced)
    })
    .await;
    pair.quiet().await;
    assert_eq!(Pair::summary(&pair.tb, &b_key).await, "A after unexalate");
    assert_eq!(
        pair.count(&pair.tb).await,
        before,
        "no second twin item on B"
    );
    pair.p.stop().await;
}

/// Force Unlink drops every pending message of the pair, however many: a paused
/// connection holds hundreds of changes of one item, and none is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn force_unlink_drops_every_pending_message() {
    let changes: usize = std::env::var("TWINSYNC_FORCE_UNLINK_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "force-secret-0123456").await;
    let (a_key, b_key) = synced(&pair, 6).await;
    pair.quiet().await;
    operations::deactivate(&pair.a, CONNECTION).await.unwrap();
    // One change at a time, each read and held as its own replica before the next.
    let held = twinsync_ports::queues::held(CONNECTION);
    for i in 0..changes {
        Pair::edit(&pair.ta, &a_key, &format!("held change {i}")).await;
        let node = pair.a.clone();
        let q = held.clone();
        until("the change held", 30, async || {
            node.queue.depth(&q).await.unwrap().total() > i as u64
        })
        .await;
    }
    let outcome = operations::force_unlink(&pair.a, CONNECTION, &a_key)
        .await
        .unwrap();
    // Every held change is dropped; a poll's duplicate of a change still in the outgoing
    // queue (its dedup would have dropped it later) may be dropped with them.
    let dropped: usize = outcome
        .done
        .split("; ")
        .find_map(|part| part.strip_suffix(" pending messages dropped"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{outcome:?}"));
    assert!((changes..=changes + 2).contains(&dropped), "{outcome:?}");
    // The control message goes through transport, which parks it in the held queue with
    // the rest of the connection's, behind what of its group was waiting there.
    let node = pair.a.clone();
    let q = held.clone();
    until("the control message held", 30, async || {
        node.queue.depth(&q).await.unwrap().total() == 1
    })
    .await;
    operations::activate(&pair.a, CONNECTION).await.unwrap();
    pair.quiet().await;
    assert!(twin(&pair.a, &a_key).await.is_none());
    // B follows when the control message reaches it; on a failure, say what B holds.
    for _ in 0..600 {
        if twin(&pair.b, &b_key).await.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if let Some(t) = twin(&pair.b, &b_key).await {
        let events = pair.b.timeline(&t, 100).await.unwrap();
        panic!("B kept its twin: {t:?}\n{events:#?}");
    }
    assert!(
        !Pair::summary(&pair.tb, &b_key)
            .await
            .starts_with("held change"),
        "no held change reached B"
    );
    assert!(twins(&pair.a).await.is_empty() && twins(&pair.b).await.is_empty());
    pair.p.stop().await;
}

/// Undo puts an item back to a replica version of its history, as a normal change that
/// syncs to the other side.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undo_restores_an_earlier_replica_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "undo-secret-01234567").await;
    let (a_key, b_key) = synced(&pair, 7).await;
    pair.quiet().await;
    let original = Pair::summary(&pair.ta, &a_key).await;
    for s in ["Second title", "Third title"] {
        Pair::edit(&pair.ta, &a_key, s).await;
        let tb = pair.tb.clone();
        let b = b_key.clone();
        until("the edit reached B", 60, async || {
            Pair::summary(&tb, &b).await == s
        })
        .await;
    }
    let t = twin(&pair.a, &a_key).await.unwrap();
    let first = pair
        .a
        .twins
        .replicas(&t.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.direction == "out" && r.replica["summary"] == original.as_str())
        .expect("the first replica is in the history");
    let outcome = operations::undo(&pair.a, CONNECTION, &a_key, first.version)
        .await
        .unwrap();
    assert!(outcome.done.contains("summary"), "{outcome:?}");
    let tb = pair.tb.clone();
    let b = b_key.clone();
    let want = original.clone();
    until("the undo reached B", 60, async || {
        Pair::summary(&tb, &b).await == want
    })
    .await;
    assert_eq!(Pair::summary(&pair.ta, &a_key).await, original);
    let missing = operations::undo(&pair.a, CONNECTION, &a_key, 999).await;
    assert!(missing.unwrap_err().to_string().contains("no replica v999"));
    pair.p.stop().await;
}

/// Cross-references: a key or link of a synced item in a description or a comment
/// becomes its twin's on the other side, and back; a reference without a twin stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn references_to_synced_items_become_their_twins() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "refs-secret-012345678").await;
    let (a1, b1) = synced(&pair, 8).await;
    let (a2, b2) = synced(&pair, 9).await;
    pair.quiet().await;
    let a1_url = twin(&pair.a, &a1).await.unwrap().local_url.unwrap();
    let b1_url = twin(&pair.b, &b1).await.unwrap().local_url.unwrap();
    let text = format!("Same cause as {a1} ({a1_url}); not DEMO-999.");
    let update = ItemUpdate {
        description: Some(text),
        ..ItemUpdate::default()
    };
    pair.ta.update_item(&a2, &update).await.unwrap();
    let want = format!("Same cause as {b1} ({b1_url}); not DEMO-999.");
    let tb = pair.tb.clone();
    let b = b2.clone();
    let w = want.clone();
    until("the reference rewritten on B", 60, async || {
        tb.get_item(&b).await.unwrap().unwrap().description == w
    })
    .await;
    // And back: B's text names B's items; A reads its own.
    let back = ItemUpdate {
        description: Some(format!("{want} Also {b2}.")),
        ..ItemUpdate::default()
    };
    pair.tb.update_item(&b2, &back).await.unwrap();
    let ta = pair.ta.clone();
    let a = a2.clone();
    let expected = format!("Same cause as {a1} ({a1_url}); not DEMO-999. Also {a2}.");
    until("the references back on A", 60, async || {
        ta.get_item(&a).await.unwrap().unwrap().description == expected
    })
    .await;
    pair.quiet().await;
    assert_eq!(
        pair.ta.get_item(&a2).await.unwrap().unwrap().description,
        expected
    );
    pair.p.stop().await;
}
