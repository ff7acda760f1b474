//! A webhook that comes while our incoming handler is writing its item waits for the
//! write (`NodeSettings::echo_wait_ms`), so the echo of our own write is dropped at
//! ingest instead of costing a queue hop and an outgoing run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use twinsync_core::{Clock, SystemClock, Twin};
use twinsync_fakes::sandbox::testing;
use twinsync_node::Node;
use twinsync_node::handlers::ingest;
use twinsync_ports::{ChangeSignal, queues};

/// The version of the item our last apply recorded before the case begins.
const RECORDED: u64 = 3;

/// What happens to the twin while the webhook is being looked at.
#[derive(Debug, Clone, Copy)]
enum Meanwhile {
    /// No apply holds the twin.
    NoApply,
    /// An apply holds it and records the item's version 4 after 30 ms.
    Records,
    /// An apply holds it and fails after 30 ms: the lease is given back for its retry.
    Fails,
    /// An apply holds it and does not finish within the wait.
    Stays,
}

/// How long the webhook waited for the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    No,
    Yes,
}

fn twin(meanwhile: Meanwhile, now_ms: i64) -> Twin {
    let mut t = Twin::new("twin-1".into(), "c".into(), now_ms);
    t.local_key = Some("DEMO-1".into());
    t.remote_key = Some("OTHER-1".into());
    t.baseline = Some(serde_json::json!({ "summary": "as recorded" }));
    t.baseline_version = RECORDED;
    t.in_version = 1;
    if !matches!(meanwhile, Meanwhile::NoApply) {
        t.take_lease(2, &serde_json::json!({ "summary": "v2" }), now_ms, 30_000);
    }
    t
}

/// The apply's end, made by another task while ingest waits.
async fn finish(node: Arc<Node>, meanwhile: Meanwhile) {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut t = node.twins.get("twin-1").await.unwrap().unwrap();
    match meanwhile {
        Meanwhile::Records => {
            // What `Twin::record_apply` leaves for the echo check.
            t.baseline = Some(serde_json::json!({ "summary": "v2" }));
            t.baseline_version = RECORDED + 1;
            t.in_version = 2;
            t.applying_until_ms = 0;
        }
        Meanwhile::Fails => t.give_back_lease(
            twinsync_core::ApplyFailure::Retryable {
                retry_after_ms: 200,
            },
            node.now_ms(),
            30_000,
        ),
        Meanwhile::NoApply | Meanwhile::Stays => return,
    }
    node.twins.update(&t).await.unwrap();
}

async fn queued(node: &Node) -> usize {
    node.queue
        .depth(queues::OUTGOING)
        .await
        .map(|d| d.total() as usize)
        .unwrap()
}

#[tokio::test]
async fn a_webhook_waits_for_the_apply_of_its_item_and_drops_only_our_echo() {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    // (case, meanwhile, the webhook's version, echo_wait_ms, queued, waited)
    let cases = [
        (
            "our echo, no apply",
            Meanwhile::NoApply,
            RECORDED,
            5_000,
            0,
            Waited::No,
        ),
        (
            "a person's edit, no apply",
            Meanwhile::NoApply,
            RECORDED + 1,
            5_000,
            1,
            Waited::No,
        ),
        (
            "our echo during the write",
            Meanwhile::Records,
            RECORDED + 1,
            5_000,
            0,
            Waited::Yes,
        ),
        (
            "an edit made during the write",
            Meanwhile::Records,
            RECORDED + 2,
            5_000,
            1,
            Waited::Yes,
        ),
        (
            "the write failed",
            Meanwhile::Fails,
            RECORDED + 1,
            5_000,
            1,
            Waited::Yes,
        ),
        (
            "the write outlasts the wait",
            Meanwhile::Stays,
            RECORDED + 1,
            100,
            1,
            Waited::Yes,
        ),
        (
            "no wait asked",
            Meanwhile::Records,
            RECORDED + 1,
            0,
            1,
            Waited::No,
        ),
    ];
    for (case, meanwhile, version, wait_ms, want_queued, want_waited) in cases {
        let tracker = Arc::new(testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap());
        let mut node = crate::support::node_with(tracker, Arc::new(SystemClock), Vec::new()).await;
        node.settings.echo_wait_ms = wait_ms;
        let node = Arc::new(node);
        node.twins
            .insert(&twin(meanwhile, SystemClock.now_ms()))
            .await
            .unwrap();
        let apply = tokio::spawn(finish(node.clone(), meanwhile));
        let signal = ChangeSignal {
            origin: None,
            item_key: "DEMO-1".into(),
            project: "DEMO".into(),
            version,
            delivery_id: format!("delivery-{version}"),
        };
        // Bounded by the wait asked for, not by the apply's 30 s lease.
        let n = tokio::time::timeout(
            Duration::from_secs(10),
            ingest::signals_to_changes(&node, "sb", &[signal], false),
        )
        .await
        .unwrap_or_else(|_| panic!("{case}: the webhook waited past its bound"))
        .unwrap();
        apply.await.unwrap();
        assert_eq!(n, want_queued, "{case}: changes queued");
        assert_eq!(queued(&node).await, want_queued, "{case}: outgoing queue");
        let waited = node.ingest_gate.apply_waited() > Duration::ZERO;
        assert_eq!(waited, want_waited == Waited::Yes, "{case}: waited");
    }
    sb.stop().await;
}
