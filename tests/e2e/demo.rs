//! The demo scenario end to end, plainly and with every queue message delivered twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use twinsync_cli::demo::{DemoArgs, scenario};
use twinsync_local::faults::DuplicatingQueue;
use twinsync_local::process::ProcessOptions;

fn args(items: usize) -> DemoArgs {
    DemoArgs {
        items,
        json: true,
        data_dir: None,
        pair: twinsync_cli::demo::Pair::SandboxSandbox,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_converges_without_duplicates() {
    let report = scenario(&args(20), &ProcessOptions::default())
        .await
        .unwrap();
    assert!(report.converged, "{:#?}", report);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.items_a_to_b, 20);
    assert_eq!(report.items_b_to_a, 2);
    // Two comments per item from A plus the one added on B.
    assert!(report.comments_synced >= 41, "{}", report.comments_synced);
    // The same-field edit on both sides is a conflict on each node.
    assert!(report.conflicts >= 1, "{}", report.conflicts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_delivered_twice_changes_nothing() {
    let options = ProcessOptions {
        queue_decorator: Some(Arc::new(DuplicatingQueue::wrap)),
        ..ProcessOptions::default()
    };
    let report = scenario(&args(12), &options).await.unwrap();
    assert!(report.converged, "{:#?}", report);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.items_a_to_b, 12);
    assert_eq!(report.items_b_to_a, 2);
}

/// Webhooks over the node's limit are refused (429) and polling brings their changes in:
/// the demo still converges, and only once the polls have passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_over_the_nodes_limit_are_brought_in_by_polling() {
    let options = ProcessOptions {
        node: twinsync_node::NodeSettings {
            webhooks_per_minute: 60,
            webhook_burst: 10,
            ..twinsync_node::NodeSettings::default()
        },
        ..ProcessOptions::default()
    };
    // 30 items with two comments each: 90 deliveries to A's node, 80 over its burst.
    let report = scenario(&args(30), &options).await.unwrap();
    assert!(report.converged, "{:#?}", report);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.items_a_to_b, 30);
    assert!(report.comments_synced >= 61, "{}", report.comments_synced);
}

/// The bulk bench's Bulk Exalate brings items made outside live sync across, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_exalate_bench_brings_existing_items_under_sync() {
    let report = twinsync_cli::bulk_bench::measure(25).await.unwrap();
    assert!(report.converged, "{report:#?}");
    assert_eq!(report.items, 25);
    assert_eq!(report.queued, 25, "one change per item");
}
