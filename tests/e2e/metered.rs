//! The benchmarks' metered tracker: each operation that reaches the tracker is counted by
//! name and takes the configured latency; one answered from memory is neither.

use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::{Item, ItemUpdate};
use twinsync_local::metered::{CallCounts, MeteredTracker};
use twinsync_ports::{SyncMark, SyncState, Tracker};
use twinsync_sandbox::{SandboxConfig, SandboxTracker};

#[tokio::test]
async fn the_metered_tracker_counts_and_delays_only_real_calls() {
    let server = twinsync_fakes::sandbox::spawn("127.0.0.1:0", Default::default())
        .await
        .unwrap();
    reqwest::Client::new()
        .post(format!("{}/api/projects", server.base_url))
        .json(&serde_json::json!({"key": "DEMO", "name": "Demo"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let inner: Arc<dyn Tracker> = Arc::new(
        SandboxTracker::new(
            "a",
            SandboxConfig {
                base_url: server.base_url.clone(),
                token: None,
                webhook_secret: "metered-secret-0123".into(),
                project: None,
                ca_file: None,
                budget: None,
            },
        )
        .unwrap(),
    );
    let counts = Arc::new(CallCounts::default());
    let latency = Duration::from_millis(40);
    let tracker = MeteredTracker::wrap(inner, latency, counts.clone());

    let item = Item {
        summary: "Metered".into(),
        ..Item::default()
    };
    let started = Instant::now();
    let created = tracker.create_item("DEMO", &item, "").await.unwrap();
    assert!(started.elapsed() >= latency, "a call takes the latency");
    let update = ItemUpdate {
        summary: Some("Metered again".into()),
        ..ItemUpdate::default()
    };
    tracker.update_item(&created.key, &update).await.unwrap();
    tracker.get_item(&created.key).await.unwrap();
    let before = counts.snapshot();
    let mark = SyncMark {
        state: SyncState::Synced,
        twin_key: Some("B-1".into()),
        twin_url: None,
    };
    // The second mark is the first again: the connector answers it from memory.
    tracker.show_sync(&created.key, &mark).await.unwrap();
    let started = Instant::now();
    tracker.show_sync(&created.key, &mark).await.unwrap();
    assert!(started.elapsed() < latency, "no latency without a call");

    let all: Vec<(String, u64)> = counts.snapshot().into_iter().collect();
    let named = |op: &str| (format!("{op} on a"), 1);
    assert_eq!(
        all,
        vec![
            named("create_item"),
            named("get_item"),
            named("show_sync"),
            named("update_item")
        ]
    );
    let since: Vec<(String, u64)> = counts.since(&before).into_iter().collect();
    assert_eq!(since, vec![named("show_sync")]);

    // A create that carries the mark is one call, and showing that mark after it none.
    let before = counts.snapshot();
    let shown = tracker
        .create_item_shown("DEMO", &item, "", &mark)
        .await
        .unwrap();
    tracker.show_sync(&shown.key, &mark).await.unwrap();
    let since: Vec<(String, u64)> = counts.since(&before).into_iter().collect();
    assert_eq!(since, vec![named("create_item")]);
    let read: serde_json::Value =
        reqwest::get(format!("{}/api/items/{}", server.base_url, shown.key))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(read["sync"]["status"], "synced", "{read}");
    assert_eq!(read["sync"]["twinKey"], "B-1", "{read}");
    server.stop().await;
}

/// An edit, a comment or an attachment costs the receiving sandbox one write and no
/// read: the merge plans on the item as the last apply left it, and the update or the
/// comment's or attachment's add holds only while the item is still at that version
/// (`If-Match`); the sandbox answers each with the whole item, which stands for the
/// read-back. A create shows the sync
/// status with the create, so B's status costs no call of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_a_comment_or_a_file_costs_one_read_and_one_conditional_write() {
    let report = twinsync_cli::latency::measure(5, Duration::ZERO)
        .await
        .unwrap();
    let (edit, comment) = (&report.edit.calls, &report.comment.calls);
    let create = &report.create.calls;
    assert_eq!(
        create.get("create_item on sandbox-b"),
        Some(&1.0),
        "{create:?}"
    );
    assert_eq!(create.get("show_sync on sandbox-b"), None, "{create:?}");
    // A first replica from a sender that knows no item of B's, for an item no record of
    // B's was ever deleted for, cannot find one: B creates without looking.
    assert_eq!(
        create.get("find_by_origin on sandbox-b"),
        None,
        "{create:?}"
    );
    assert_eq!(edit.get("get_item on sandbox-b"), None, "{edit:?}");
    assert_eq!(edit.get("update_item on sandbox-b"), Some(&1.0), "{edit:?}");
    assert_eq!(edit.values().sum::<f64>(), 2.0, "{edit:?}");
    assert_eq!(comment.get("get_item on sandbox-b"), None, "{comment:?}");
    assert_eq!(
        comment.get("add_comment on sandbox-b"),
        Some(&1.0),
        "{comment:?}"
    );
    assert_eq!(comment.values().sum::<f64>(), 2.0, "{comment:?}");
    let attachment = &report.attachment.calls;
    assert_eq!(
        attachment.get("add_attachment on sandbox-b"),
        Some(&1.0),
        "{attachment:?}"
    );
    assert_eq!(attachment.values().sum::<f64>(), 2.0, "{attachment:?}");
}

/// A create that the rate limit holds back is retried without a search: the tracker
/// refused it whole, so there is no item to look for by origin marker. Twelve items at
/// once into a budget of two a second, two at once: node B's own budget sends some
/// creates back to the queue (it holds a worker at most two seconds), and before, each
/// retry searched first and spent twice the budget per item. The burst of two is below
/// what the nodes' start asks of the sandbox at once: its webhook's registration,
/// refused 429, is retried, where it used to stop the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_the_rate_limit_held_back_is_retried_without_a_search() {
    let report = twinsync_cli::rate::measure(&twinsync_cli::rate::RateArgs {
        items: 12,
        requests_per_minute: 120,
        burst: 2,
        json: false,
    })
    .await
    .unwrap();
    let calls = &report.calls;
    assert_eq!((report.synced, report.failures), (12, 0), "{report:?}");
    // A create the sandbox answered 429 reached it too (its clock and node B's budget
    // are two clocks), and counts.
    let creates = calls.get("create_item on sandbox-b").copied().unwrap_or(0);
    assert!(creates >= 12, "{calls:?}");
    assert_eq!(calls.get("find_by_origin on sandbox-b"), None, "{calls:?}");
}
