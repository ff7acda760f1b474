//! The scheduler: polling cursors that neither miss nor repeat, and SynchronizationPlans.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use twinsync_core::{Clock, ItemUpdate, ManualClock, SyncPlan, Twin};
use twinsync_fakes::sandbox::testing;
use twinsync_node::handlers::scheduler;
use twinsync_node::{Node, operations};
use twinsync_ports::{Tracker, queues};

async fn setup(
    clock: &ManualClock,
    plans: Vec<SyncPlan>,
) -> (
    Arc<Node>,
    Arc<dyn Tracker>,
    twinsync_fakes::sandbox::RunningSandbox,
) {
    let sb = testing::start(&["DEMO"]).await.unwrap();
    let tracker: Arc<dyn Tracker> =
        Arc::new(testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap());
    let node = crate::support::node_with(tracker.clone(), Arc::new(clock.clone()), plans).await;
    (Arc::new(node), tracker, sb)
}

async fn drain(node: &Node) -> Vec<String> {
    let mut keys = Vec::new();
    loop {
        let batch = node
            .queue
            .receive(queues::OUTGOING, 100, 1_000)
            .await
            .unwrap();
        if batch.is_empty() {
            return keys;
        }
        for m in batch {
            let e: twinsync_core::ChangeEvent = serde_json::from_str(&m.body).unwrap();
            keys.push(e.item_key);
            node.queue
                .delete(queues::OUTGOING, &m.receipt)
                .await
                .unwrap();
        }
    }
}

fn body(summary: &str, label: &str) -> serde_json::Value {
    serde_json::json!({ "project": "DEMO", "summary": summary, "labels": [label] })
}

#[tokio::test]
async fn polling_queues_each_change_once() {
    let clock = ManualClock::new(twinsync_core::SystemClock.now_ms());
    let (node, tracker, sb) = setup(&clock, vec![]).await;
    let t: &twinsync_sandbox::SandboxTracker =
        &testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    for i in 0..3 {
        t.create_raw(&body(&format!("s{i}"), "sync")).await.unwrap();
    }
    t.create_raw(&body("not under a trigger", "other"))
        .await
        .unwrap();
    let connection = node.connection("c").await.unwrap();
    scheduler::poll(&node, &connection).await.unwrap();
    let mut first = drain(&node).await;
    first.sort();
    assert_eq!(first, vec!["DEMO-1", "DEMO-2", "DEMO-3"]);
    // Nothing changed: nothing is queued again, even for items at the cursor's instant.
    scheduler::poll(&node, &connection).await.unwrap();
    assert_eq!(drain(&node).await, Vec::<String>::new());
    // An edit is seen once.
    tracker
        .update_item(
            "DEMO-2",
            &ItemUpdate {
                summary: Some("edited".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    scheduler::poll(&node, &connection).await.unwrap();
    assert_eq!(drain(&node).await, vec!["DEMO-2"]);
    scheduler::poll(&node, &connection).await.unwrap();
    assert_eq!(drain(&node).await, Vec::<String>::new());
    sb.stop().await;
}

#[tokio::test]
async fn a_plan_runs_at_its_cron_occurrences() {
    let start = 1_700_000_000_000; // 2023-11-14T22:13:20Z
    let clock = ManualClock::new(start);
    let plan = SyncPlan {
        id: "every-minute".into(),
        cron: "0 * * * * *".into(),
        active: true,
    };
    let (node, _tracker, sb) = setup(&clock, vec![plan]).await;
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    t.create_raw(&body("planned", "sync")).await.unwrap();
    let connection = node.connection("c").await.unwrap();
    let table = [
        (0, 0),       // first sight records the plan, no run at start-up
        (10_000, 0),  // 22:13:30, before the next minute
        (40_000, 1),  // 22:14:00 passed
        (50_000, 0),  // same minute
        (100_000, 1), // 22:15:00 passed
    ];
    for (at, runs) in table {
        clock.set_ms(start + at);
        let n = scheduler::run_due_plans(&node, &connection, clock.now_ms())
            .await
            .unwrap();
        assert_eq!(n, runs, "at +{at} ms");
    }
    assert_eq!(drain(&node).await, vec!["DEMO-1", "DEMO-1"]);
    sb.stop().await;
}

/// A pause longer than the held queue keeps messages (SQS drops them after 14 days) ends
/// with every twin, and every item under a trigger, queued again; a short pause does not.
#[tokio::test]
async fn a_resume_after_a_pause_longer_than_retention_reads_every_twin_again() {
    const DAY: i64 = 24 * 3_600_000;
    let start = twinsync_core::SystemClock.now_ms();
    let clock = ManualClock::new(start);
    let (node, _tracker, sb) = setup(&clock, vec![]).await;
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    t.create_raw(&body("under the trigger", "sync"))
        .await
        .unwrap();
    t.create_raw(&body("synced once, no longer under the trigger", "other"))
        .await
        .unwrap();
    let mut twin = Twin::new("tw-2".into(), "c".into(), start);
    twin.local_key = Some("DEMO-2".into());
    node.twins.insert(&twin).await.unwrap();

    // A short pause: the held queue has every change, nothing is read again.
    operations::deactivate(&node, "c").await.unwrap();
    clock.set_ms(start + 3 * DAY);
    assert_eq!(operations::activate(&node, "c").await.unwrap(), 0);
    assert_eq!(drain(&node).await, Vec::<String>::new());

    // A pause of 15 days.
    operations::deactivate(&node, "c").await.unwrap();
    clock.set_ms(start + 18 * DAY);
    let queued = operations::activate(&node, "c").await.unwrap();
    let mut keys = drain(&node).await;
    keys.sort();
    keys.dedup();
    assert_eq!(keys, vec!["DEMO-1", "DEMO-2"]);
    assert!(queued >= 2, "{queued}");
    let events = node.twins.events(Some("c"), None, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("every twin is read again")),
        "{events:?}"
    );
    // Once: the scheduler's pass after the resume finds nothing more to read.
    let connection = node.connection("c").await.unwrap();
    assert_eq!(scheduler::after_pause(&node, &connection).await.unwrap(), 0);
    sb.stop().await;
}

/// A connection without live sync (plan-only, the seeds' SynchronizationPlan without
/// LiveSynchronization): neither polling nor a webhook queues a change; its plan does.
#[tokio::test]
async fn a_plan_only_connection_syncs_on_its_plan_alone() {
    let start = 1_700_000_000_000; // 2023-11-14T22:13:20Z
    let clock = ManualClock::new(start);
    let plan = SyncPlan {
        id: "every-minute".into(),
        cron: "0 * * * * *".into(),
        active: true,
    };
    let (node, _tracker, sb) = setup(&clock, vec![plan]).await;
    let mut plan_only = node
        .connection("c")
        .await
        .unwrap()
        .active_version()
        .unwrap()
        .clone();
    plan_only.live = false;
    let v = twinsync_node::versions::save_draft(&node, "c", plan_only)
        .await
        .unwrap();
    twinsync_node::versions::activate_version(&node, "c", v)
        .await
        .unwrap();
    let t = testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let created = t.create_raw(&body("planned only", "sync")).await.unwrap();
    let connection = node.connection("c").await.unwrap();
    assert_eq!(scheduler::poll(&node, &connection).await.unwrap(), 0);
    let signal = twinsync_ports::ChangeSignal {
        origin: None,
        item_key: created.key.clone(),
        project: "DEMO".into(),
        version: 1,
        delivery_id: "webhook-1".into(),
    };
    let from_webhook =
        twinsync_node::handlers::ingest::signals_to_changes(&node, "sb", &[signal], false)
            .await
            .unwrap();
    assert_eq!(from_webhook, 0);
    assert_eq!(drain(&node).await, Vec::<String>::new());
    for at in [0, 40_000] {
        clock.set_ms(start + at);
        scheduler::run_due_plans(&node, &connection, clock.now_ms())
            .await
            .unwrap();
    }
    assert_eq!(drain(&node).await, vec!["DEMO-1"]);
    sb.stop().await;
}

/// The scheduler's intervals in the polling tests: 10 s without webhooks, 5 min with.
const INTERVALS: scheduler::PollIntervals = scheduler::PollIntervals {
    polls_ms: 10_000,
    webhooks_ms: 300_000,
};

/// A connection whose webhook the node registered is polled at once on a process's first
/// tick, then only on the long interval; one whose changes only polling brings, on the
/// short one. The items here send no webhook to the node: each is a change a lost webhook
/// would hide, which only a poll brings.
#[tokio::test]
async fn webhooks_make_polling_a_safety_net() {
    use scheduler::{Arrival, Polling};
    let clock = ManualClock::new(twinsync_core::SystemClock.now_ms());
    let (node, _tracker, sb) = setup(&clock, vec![]).await;
    let t: &twinsync_sandbox::SandboxTracker =
        &testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let intervals = INTERVALS;
    let tick = async |polling: &Polling| {
        scheduler::tick(&node, polling).await.unwrap();
        let mut keys = drain(&node).await;
        keys.sort();
        keys
    };
    Arrival::Webhooks.record(&node, "sb").await.unwrap();
    let process = Polling::new(intervals);
    t.create_raw(&body("s1", "sync")).await.unwrap();
    assert_eq!(
        tick(&process).await,
        vec!["DEMO-1"],
        "at once on the first tick"
    );
    t.create_raw(&body("s2", "sync")).await.unwrap();
    clock.advance_ms(10_000);
    assert!(tick(&process).await.is_empty(), "not on the short interval");
    clock.advance_ms(289_999);
    assert!(tick(&process).await.is_empty());
    clock.advance_ms(1);
    assert_eq!(tick(&process).await, vec!["DEMO-2"], "on the long interval");

    // A restarted process polls at once: webhooks sent while none listened are lost.
    t.create_raw(&body("s3", "sync")).await.unwrap();
    clock.advance_ms(1_000);
    assert!(tick(&process).await.is_empty());
    assert_eq!(tick(&Polling::new(intervals)).await, vec!["DEMO-3"]);

    // Without the webhook (its registration failed at the last start), the short one.
    Arrival::Polls.record(&node, "sb").await.unwrap();
    t.create_raw(&body("s4", "sync")).await.unwrap();
    clock.advance_ms(9_999);
    assert!(tick(&process).await.is_empty());
    clock.advance_ms(1);
    assert_eq!(tick(&process).await, vec!["DEMO-4"]);
    sb.stop().await;
}

/// A process records how each instance's changes arrive as it registers webhooks, and
/// its first tick polls every connection fed by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_process_records_its_webhooks_and_polls_once() {
    use scheduler::Arrival;
    use twinsync_local::process::{Process, ProcessOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut config = twinsync_cli::demo::config("a-webhook-secret-0123456789");
    config.node[1].instance[0].register_webhook = false;
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let (a, b) = (p.nodes[0].clone(), p.nodes[1].clone());
    assert_eq!(
        Arrival::of(&a, &config.node[0].instance[0].id)
            .await
            .unwrap(),
        Arrival::Webhooks
    );
    assert_eq!(
        Arrival::of(&b, &config.node[1].instance[0].id)
            .await
            .unwrap(),
        Arrival::Polls
    );
    let polled =
        twinsync_local::quiet::wait_first_polls(&p.nodes, std::time::Duration::from_secs(30));
    assert!(polled.await, "each connection polled once");
    p.stop().await;

    // A webhook the config says was set up by hand counts as registered.
    config.node[1].instance[0].webhook_by_hand = true;
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let b = p.nodes[1].clone();
    assert_eq!(
        Arrival::of(&b, &config.node[1].instance[0].id)
            .await
            .unwrap(),
        Arrival::Webhooks
    );
    p.stop().await;
}

/// A delivery that fails verification (a secret that does not match, a stranger) means
/// the registered webhook may bring nothing: polling goes back to the short interval
/// until a delivery verifies again.
#[tokio::test]
async fn a_refused_delivery_sends_polling_back_to_the_short_interval() {
    use scheduler::{Arrival, Polling};
    use twinsync_node::handlers::ingest;
    use twinsync_sandbox::webhook::{self, WebhookItem, WebhookPayload};
    let clock = ManualClock::new(twinsync_core::SystemClock.now_ms());
    let (node, _tracker, sb) = setup(&clock, vec![]).await;
    let t: &twinsync_sandbox::SandboxTracker =
        &testing::tracker("sb", &sb, "sandbox-secret-0123", None).unwrap();
    let intervals = INTERVALS;
    let deliver = async |secret: &str, key: &str| {
        let ts = clock.now_ms() / 1000;
        let body = serde_json::to_vec(&WebhookPayload {
            event: "item.updated".into(),
            delivery_id: format!("d-{ts}-{key}"),
            timestamp: ts,
            item: WebhookItem {
                key: key.into(),
                project: "DEMO".into(),
                version: 1,
                updated_ms: clock.now_ms(),
                origin: None,
            },
        })
        .unwrap();
        let headers = vec![
            (webhook::SIGNATURE.into(), webhook::sign(secret, ts, &body)),
            (webhook::TIMESTAMP.into(), ts.to_string()),
            (webhook::DELIVERY.into(), format!("d-{ts}-{key}-{secret}")),
        ];
        ingest::webhook(&node, "sandbox", "sb", &headers, &body).await
    };
    Arrival::Webhooks.record(&node, "sb").await.unwrap();
    let process = Polling::new(intervals);
    scheduler::tick(&node, &process).await.unwrap();

    assert!(deliver("not-the-secret-0123", "DEMO-1").await.is_err());
    assert_eq!(Arrival::of(&node, "sb").await.unwrap(), Arrival::Polls);
    t.create_raw(&body("s1", "sync")).await.unwrap();
    clock.advance_ms(10_000);
    scheduler::tick(&node, &process).await.unwrap();
    assert_eq!(drain(&node).await, vec!["DEMO-1"], "on the short interval");

    assert_eq!(deliver("sandbox-secret-0123", "DEMO-1").await.unwrap(), 1);
    assert_eq!(Arrival::of(&node, "sb").await.unwrap(), Arrival::Webhooks);
    drain(&node).await;
    t.create_raw(&body("s2", "sync")).await.unwrap();
    clock.advance_ms(10_000);
    scheduler::tick(&node, &process).await.unwrap();
    assert!(drain(&node).await.is_empty(), "the long interval again");

    // The node records its webhooks afresh (a start elsewhere) while refused deliveries
    // keep coming: this process notes them again within a minute.
    assert!(deliver("not-the-secret-0123", "DEMO-1").await.is_err());
    Arrival::Webhooks.record(&node, "sb").await.unwrap();
    clock.advance_ms(30_000);
    assert!(deliver("not-the-secret-0123", "DEMO-1").await.is_err());
    assert_eq!(Arrival::of(&node, "sb").await.unwrap(), Arrival::Webhooks);
    clock.advance_ms(30_000);
    assert!(deliver("not-the-secret-0123", "DEMO-1").await.is_err());
    assert_eq!(Arrival::of(&node, "sb").await.unwrap(), Arrival::Polls);
    sb.stop().await;
}
