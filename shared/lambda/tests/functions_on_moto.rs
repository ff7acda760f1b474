//! The functions' batch handler on the AWS ports, in this process, against moto: two
//! nodes, each on its own stack (queues, tables, bucket made from `infra/template.yaml`),
//! driven the way Lambda's event source mappings drive the functions — receive a batch
//! from the queue, hand it to the function as an `SqsEvent`, delete what it did not report
//! as failed. In one process every AWS call can be counted: this test measures what one
//! change costs (docs/aws-cost.md). The real binaries run in `functions_under_watch.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::emulator;
use twinsync_fakes::deliveries::{self, Deliveries};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_aws::OperationCounter;
use twinsync_aws::SqsQueue;
use twinsync_aws::cost;
use twinsync_aws::count::{READ_UNITS, WRITE_UNITS};
use twinsync_aws::env::counted_ports;
use twinsync_aws::sqs::REDRIVEN_ATTRIBUTE;
use twinsync_cli::demo::{self, CONNECTION, PROJECT_A, PROJECT_B};
use twinsync_core::ItemUpdate;
use twinsync_core::{ConnectionKind, Link, Secret, SyncEventKind};
use twinsync_lambda::{
    BatchMode, Function, PerInvocation, each_request_an_invocation, handle_sqs_batch_as, queues,
};
use twinsync_local::metered::{CallCounts, MeteredTracker};
use twinsync_local::process::{Process, ProcessOptions, RouterDecorator};
use twinsync_local::runner::{Driver, RunnerSettings};
use twinsync_node::assemble::NodePorts;
use twinsync_node::link::HttpPeer;
use twinsync_node::send_batching::{BatchedSends, SendBuffer};
use twinsync_ports::{Queue, Tracker, TwinQuery};

/// An execution environment of one of a node's functions: its invocations (a batch of a
/// queue function, a request to a function URL) run one at a time, each beginning with
/// an empty connection cache, so each reads its connection once. On Lambda, invocations
/// side by side go to environments of their own and each reads for itself; one at a time
/// here, they read as often. (The functions of a node share one cache here, so one
/// function's invocation can still begin another's anew: a read more, never one less.)
fn environment(node: &str, function: &str) -> Arc<tokio::sync::Mutex<()>> {
    static ENVIRONMENTS: std::sync::LazyLock<
        std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::LazyLock::new(Default::default);
    ENVIRONMENTS
        .lock()
        .unwrap()
        .entry(format!("{node} {function}"))
        .or_default()
        .clone()
}

/// A node's public routes served as its function URLs serve them: each request an
/// invocation in the node's environment (tracker webhooks to ingest, the other node's
/// deliveries to transport).
fn as_function_urls(cached: Arc<HashMap<String, Arc<PerInvocation>>>) -> RouterDecorator {
    Arc::new(move |node: &str, router: axum::Router| {
        let node = node.to_string();
        each_request_an_invocation(router, cached[&node].clone()).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                // The other node's deliveries (`/v1/…`) reach the transport function's
                // URL, the trackers' webhooks the ingest function's.
                let function = if request.uri().path().starts_with("/v1/") {
                    URL_DELIVERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    "transport URL"
                } else {
                    "ingest URL"
                };
                let env = environment(&node, function);
                async move {
                    let _one_at_a_time = env.lock().await;
                    next.run(request).await
                }
            },
        ))
    })
}

/// Requests to the nodes' transport function URLs (deliveries from the other node),
/// each an invocation: one per delivered list of messages, not per message.
static URL_DELIVERIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Lambda invocations the driver made (one per batch handed to a function).
static INVOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// By "{node} {queue}": (invocations, messages handled).
static HANDLED: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

const FUNCTION_QUEUES: [&str; 4] = [
    queues::OUTGOING,
    queues::TRANSPORT,
    queues::INCOMING,
    queues::ACK,
];

/// The mode every batch runs in, when a test sets one (each test is a process of its own).
static MODE: std::sync::OnceLock<BatchMode> = std::sync::OnceLock::new();

/// One round of every node's event source mappings; returns how many messages the
/// functions were given.
async fn drive(functions: &[(Function, Arc<SqsQueue>)]) -> usize {
    let mut given = 0;
    let tally = |queue: &str, node: &str, messages: usize| {
        let mut t = HANDLED.lock().unwrap();
        let e = t.entry(format!("{node} {queue}")).or_default();
        e.0 += 1;
        e.1 += messages as u64;
    };
    for (f, mapping) in functions {
        for queue in FUNCTION_QUEUES {
            let batch = mapping.receive(queue, 10, 360_000).await.unwrap();
            if batch.is_empty() {
                continue;
            }
            given += batch.len();
            let mut event = SqsEvent::default();
            for m in &batch {
                let mut record = SqsMessage::default();
                record.message_id = Some(m.id.clone());
                record.receipt_handle = Some(m.receipt.clone());
                record.body = Some(m.body.clone());
                record.attributes = HashMap::from([
                    ("MessageGroupId".to_string(), m.group_id.clone()),
                    ("MessageDeduplicationId".to_string(), m.dedup_id.clone()),
                    (
                        "ApproximateReceiveCount".to_string(),
                        m.receive_count.to_string(),
                    ),
                    ("SentTimestamp".to_string(), m.sent_ms.to_string()),
                    (
                        "ApproximateFirstReceiveTimestamp".to_string(),
                        m.first_receive_ms.to_string(),
                    ),
                ]);
                if m.redriven {
                    let mut marked = SqsMessageAttribute::default();
                    marked.string_value = Some("1".into());
                    marked.data_type = Some("String".into());
                    record
                        .message_attributes
                        .insert(REDRIVEN_ATTRIBUTE.to_string(), marked);
                }
                event.records.push(record);
            }
            INVOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tally(queue, &f.node.id, batch.len());
            let response = {
                let env = environment(&f.node.id, queue);
                let _one_at_a_time = env.lock().await;
                handle_sqs_batch_as(f, queue, event, MODE.get().copied()).await
            };
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|b| b.item_identifier.as_str())
                .collect();
            for m in batch.iter().filter(|m| !failed.contains(&m.id.as_str())) {
                mapping.delete(queue, &m.receipt).await.unwrap();
            }
        }
    }
    given
}

/// Drives until nothing is left to do: a round gives the functions nothing, no webhook
/// delivery is on its way, every function queue is empty (retried messages wait out their
/// visibility), and no delivery was queued meanwhile. Conditions, not a quiet stretch.
async fn drive_until_quiet(
    functions: &[(Function, Arc<SqsQueue>)],
    webhooks: &[Arc<Deliveries>],
    timeout: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let before = deliveries::total(webhooks);
        if drive(functions).await > 0 {
            continue;
        }
        if before.pending() == 0
            && queues_empty(functions).await
            && deliveries::total(webhooks) == before
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn queues_empty(functions: &[(Function, Arc<SqsQueue>)]) -> bool {
    for (_, mapping) in functions {
        for queue in FUNCTION_QUEUES {
            if mapping.depth(queue).await.unwrap().total() > 0 {
                return false;
            }
        }
    }
    true
}

/// Two nodes, each on its own stack in one moto, with the functions and their event
/// source mappings' clients.
/// What each tracker call takes here (the cost model prices a wait at 150 ms).
const TRACKER_LATENCY: Duration = Duration::from_millis(50);
/// Changes made at once in the cost's last round: more than an event source mapping's
/// batch of ten, so that the functions are handed full batches, as under load.
const UNDER_LOAD: usize = 20;

/// What a round of the cost's measurement needs before it counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Before {
    Nothing,
    /// Items enough for its changes, each on an item of its own.
    MoreItems,
    /// A description of a page on each item it edits.
    LongDescriptions,
}

struct Harness {
    _moto: emulator::Moto,
    p: Process,
    functions: Vec<(Function, Arc<SqsQueue>)>,
    counter: OperationCounter,
    /// The trackers' calls and how long the functions waited for them.
    tracker_calls: Arc<CallCounts>,
    mapping: HashMap<String, Arc<SqsQueue>>,
    _dir: tempfile::TempDir,
}

type Stack = (
    Arc<SqsQueue>,
    twinsync_aws::DynamoTwinStore,
    twinsync_aws::DynamoConnectionStore,
    Arc<SqsQueue>,
);

async fn two_stacks() -> Harness {
    two_stacks_with(|_| {}).await
}

/// The two stacks with the functions' options adjusted (settings, faults).
async fn two_stacks_with(adjust: impl FnOnce(&mut ProcessOptions)) -> Harness {
    let (moto, config, res_a) = emulator::start("node-a").await;
    let res_b = emulator::create_stack(&moto.url, "node-b");
    let counter = OperationCounter::default();
    let mut stacks = HashMap::new();
    for (node, res) in [("node-a", &res_a), ("node-b", &res_b)] {
        let (queue, twins, connections) = counted_ports(&config, res, Some(&counter));
        // The event source mapping's own client: its polling is not the functions' work.
        let (mapping, _, _) = counted_ports(&config, res, None);
        stacks.insert(
            node.to_string(),
            (
                Arc::new(queue.with_receive_wait(0)),
                twins,
                connections,
                Arc::new(mapping.with_receive_wait(0)),
            ),
        );
    }
    let stacks: Arc<HashMap<String, Stack>> = Arc::new(stacks);
    // Each node's connections as a function holds them: read once per invocation.
    let cached: Arc<HashMap<String, Arc<PerInvocation>>> = Arc::new(
        stacks
            .iter()
            .map(|(id, (_, _, connections, _))| {
                (
                    id.clone(),
                    Arc::new(PerInvocation::new(Arc::new(connections.clone()))),
                )
            })
            .collect(),
    );
    // Each node's queue as a function holds it: a batch's sends leave together.
    let batched: Arc<HashMap<String, Arc<BatchedSends>>> = Arc::new(
        stacks
            .iter()
            .map(|(id, (queue, _, _, _))| {
                let queue: Arc<dyn Queue> = queue.clone();
                (
                    id.clone(),
                    Arc::new(BatchedSends::new(queue, SendBuffer::default())),
                )
            })
            .collect(),
    );
    let factory = {
        let (stacks, cached, batched) = (stacks.clone(), cached.clone(), batched.clone());
        Arc::new(move |section: &twinsync_node::config::NodeSection| {
            let (_, twins, _, _) = &stacks[&section.id];
            NodePorts {
                queue: batched[&section.id].clone(),
                twins: Arc::new(twins.clone()),
                connections: cached[&section.id].clone(),
            }
        })
    };
    let tracker_calls = Arc::new(CallCounts::default());
    let mut options = ProcessOptions {
        node: twinsync_lambda::function_settings(twinsync_lambda::DEFAULT_MAX_RECEIVE_COUNT),
        runner: RunnerSettings {
            // The driver below is Lambda's event source mapping. The scheduler ticks once
            // at start and then as rarely as the real one (every minute): webhooks carry
            // the changes, and its calls are not a change's cost.
            driver: Driver::Functions,
            scheduler_every_ms: 60_000,
            ..RunnerSettings::default()
        },
        ports: Some(factory),
        public_decorator: Some(as_function_urls(cached.clone())),
        // Each tracker call takes TRACKER_LATENCY, so the time the functions wait for the
        // trackers can be measured: calls a batch makes side by side are waited for once.
        tracker_decorator: Some({
            let counts = tracker_calls.clone();
            Arc::new(move |inner| MeteredTracker::wrap(inner, TRACKER_LATENCY, counts.clone()))
        }),
        ..ProcessOptions::default()
    };
    adjust(&mut options);
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&demo::config("moto-secret-0123456"), dir.path(), options)
        .await
        .unwrap();
    // Deliveries go over HTTP to the other node's listener, signed and verified as
    // between two deployments (the receiving side reads its connection and writes the
    // nonce), each one a new invocation of the other node's transport function URL.
    // The demo's in-process connections get the link an invitation makes, with the
    // batch of messages a delivery may carry that the handshake agrees.
    for (from, to) in [("node-a", "node-b"), ("node-b", "node-a")] {
        let (node, other) = (p.node(from).unwrap(), p.node(to).unwrap());
        let mut connection = node.connections.get(CONNECTION).await.unwrap().unwrap();
        connection.link = Some(Link {
            peer_batch_max: Some(twinsync_core::TRANSPORT_BATCH_MAX),
            ..Link::established(
                ConnectionKind::Public,
                Secret("moto-link-secret-0123456789abcdef".into()),
            )
        });
        let connection = node.connections.update(&connection).await.unwrap();
        let url = other.public_url().expect("the other node listens");
        node.add_peer(to, Arc::new(HttpPeer::new(node, &connection, &url)));
    }
    let functions: Vec<(Function, Arc<SqsQueue>)> = ["node-a", "node-b"]
        .into_iter()
        .map(|id| {
            (
                Function {
                    node: p.node(id).unwrap().clone(),
                    sqs: stacks[id].0.clone(),
                    connections: cached[id].clone(),
                    sends: batched[id].clone(),
                },
                stacks[id].3.clone(),
            )
        })
        .collect();
    Harness {
        _moto: moto,
        p,
        functions,
        counter,
        tracker_calls,
        mapping: stacks
            .iter()
            .map(|(k, v)| (k.clone(), v.3.clone()))
            .collect(),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_converges_through_the_functions_on_moto() {
    // Bound by name, not `..`: moto and the directory must live to the end.
    let Harness {
        _moto,
        p,
        functions,
        counter,
        tracker_calls,
        mapping,
        _dir,
    } = two_stacks().await;
    let sqs_of = |id: &str| -> Arc<SqsQueue> { mapping[id].clone() };

    // Items both ways.
    let http = reqwest::Client::new();
    let mut a_keys = Vec::new();
    for i in 0..8 {
        a_keys.push(
            demo::create_item(
                &http,
                &p.sandbox_urls["a"],
                demo::item_body(PROJECT_A, i, "sync"),
            )
            .await
            .unwrap(),
        );
    }
    for i in 0..3 {
        demo::create_item(
            &http,
            &p.sandbox_urls["b"],
            demo::item_body(PROJECT_B, 100 + i, "escalate"),
        )
        .await
        .unwrap();
    }
    assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
    let node_a = p.node("node-a").unwrap().clone();
    let node_b = p.node("node-b").unwrap().clone();
    let a = node_a.tracker("sandbox-a").unwrap();
    let b = node_b.tracker("sandbox-b").unwrap();
    let twins_of = async |node: &twinsync_node::Node| {
        node.twins
            .list(&TwinQuery {
                connection_id: Some(CONNECTION.into()),
                limit: 1_000,
                ..Default::default()
            })
            .await
            .unwrap()
    };
    assert_eq!(twins_of(&node_a).await.len(), 11, "a twin per item on A");
    assert_eq!(twins_of(&node_b).await.len(), 11, "a twin per item on B");

    // Concurrent edits of one item on both sides.
    let b_key = twin_key(&node_a, &a_keys[0]).await;
    a.update_item(
        &a_keys[0],
        &ItemUpdate {
            summary: Some("edited on A".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    b.update_item(
        &b_key,
        &ItemUpdate {
            description: Some("edited on B".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
    let (x, y) = (
        a.get_item(&a_keys[0]).await.unwrap().unwrap(),
        b.get_item(&b_key).await.unwrap().unwrap(),
    );
    assert_eq!(
        (x.summary.as_str(), x.description.as_str()),
        ("edited on A", "edited on B")
    );
    assert_eq!(
        (y.summary.as_str(), y.description.as_str()),
        ("edited on A", "edited on B")
    );

    // No duplicates: each side holds its own items and one twin item per other item.
    let count =
        async |t: &Arc<dyn Tracker>| t.search_updated("", 0, None).await.unwrap().items.len();
    assert_eq!(count(&a).await, 11);
    assert_eq!(count(&b).await, 11);

    // The replica history is in the twins table.
    let twin = node_a
        .twins
        .find_by_local(CONNECTION, &a_keys[0])
        .await
        .unwrap()
        .unwrap();
    let history = node_a.twins.replicas(&twin.id).await.unwrap();
    assert!(history.iter().any(|r| r.direction == "out"));
    assert!(history.iter().any(|r| r.direction == "in"));
    // The routine steps travel in the twin record: sent and acknowledged on A.
    let steps: Vec<SyncEventKind> = node_a
        .timeline(&twin, 50)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        steps.contains(&SyncEventKind::Outgoing) && steps.contains(&SyncEventKind::Ack),
        "{steps:?}"
    );

    // What one change costs on AWS, both nodes together (docs/aws-cost.md): a summary
    // edit on A, read, sent, applied on B and acknowledged. Webhooks carry the changes.
    // Measured in six rounds: one change at a time, as changes usually come; seven at
    // once; twenty at once, more than a mapping's batch of ten, as under load; and one
    // at a time twice more, on twins synced four and five times before, whose records
    // have grown (their recent steps); and once more after the items were given a
    // description of 1.7 KB (a bug report of a page), as real items have: the twin
    // record holds five near-copies of its item, each replica record one.
    let edits = 7.min(a_keys.len() - 1);
    let mut measured = Vec::new();
    // (changes, made at once, what comes first, the round's name)
    #[rustfmt::skip]
    let rounds = [
        (edits, 1, Before::Nothing, "one at a time"),
        (edits, edits, Before::Nothing, "seven at once"),
        (UNDER_LOAD, UNDER_LOAD, Before::MoreItems, "twenty at once (full batches)"),
        (edits, 1, Before::Nothing, "one at a time, twins synced 4 times before"),
        (edits, 1, Before::Nothing, "one at a time, twins synced 5 times before"),
        (edits, 1, Before::LongDescriptions, "one at a time, items with a 1.7 KB description"),
    ];
    for (round, (changes, at_once, before_round, what)) in (1..).zip(rounds) {
        // What the round needs first, synced before the measurement.
        match before_round {
            Before::Nothing => {}
            Before::MoreItems => {
                for i in a_keys.len()..=changes {
                    let body = demo::item_body(PROJECT_A, i, "sync");
                    a_keys.push(
                        demo::create_item(&http, &p.sandbox_urls["a"], body)
                            .await
                            .unwrap(),
                    );
                }
            }
            Before::LongDescriptions => {
                let description = include_str!("../../../tests/fixtures/aws/long-description.md");
                for key in &a_keys[1..=changes] {
                    let update = ItemUpdate {
                        description: Some(format!("{description}\nFiled as {key}.")),
                        ..Default::default()
                    };
                    a.update_item(key, &update).await.unwrap();
                }
            }
        }
        if before_round != Before::Nothing {
            assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
        }
        let before = Snapshot::take(&counter, &p, &tracker_calls);
        for chunk in a_keys[1..=changes].chunks(at_once) {
            for key in chunk {
                let summary = format!("measured edit {round} of {key}");
                a.update_item(
                    key,
                    &ItemUpdate {
                        summary: Some(summary),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            }
            assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(60)).await);
        }
        let after = Snapshot::take(&counter, &p, &tracker_calls);
        measured.push(after.per_change(&before, changes as f64, at_once, what));
    }
    for m in &measured {
        println!("aws per change: {}", serde_json::to_string(m).unwrap());
    }
    // For scripts/bench, which reports the last measured cost with the other figures.
    let bench = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("bench");
    std::fs::create_dir_all(&bench).unwrap();
    std::fs::write(
        bench.join("aws-cost.json"),
        serde_json::to_string(&serde_json::json!({ "runs": measured })).unwrap(),
    )
    .unwrap();
    let twin_bytes = serde_json::to_string(&twin).unwrap().len();
    println!("twin record JSON: {twin_bytes} bytes");
    let one = &measured[0];
    // Bounds that catch a regression in calls per change (counts, not time).
    assert!(one.counts.sqs_requests >= 3.0, "{one:?}");
    assert!(one.counts.sqs_requests <= 15.0, "{one:?}");
    assert!(
        one.counts.read_units + one.counts.write_units <= 80.0,
        "{one:?}"
    );
    assert!(
        measured[1].counts.queue_invocations < one.counts.queue_invocations,
        "{measured:?}"
    );

    // Nothing is left in any queue, dead-letter queues included.
    for id in ["node-a", "node-b"] {
        for q in sqs_of(id).queue_names().await.unwrap() {
            assert_eq!(sqs_of(id).depth(&q).await.unwrap().total(), 0, "{id} {q}");
        }
    }
    p.stop().await;
}

/// On SQS the function itself dead-letters a message that keeps failing past the retry
/// budget, by its `ApproximateFirstReceiveTimestamp` (SQS's own redrive counts receives
/// and would move it without a word): the twin shows Error with the reason. A redrive
/// through the SQS adapter sends it again, the functions sync it, the twin is Synced.
/// The key of the twin item of `key` (an item of `node`'s tracker), from its twin.
async fn twin_key(node: &twinsync_node::Node, key: &str) -> String {
    node.twins
        .find_by_local(CONNECTION, key)
        .await
        .unwrap()
        .and_then(|t| t.remote_key)
        .expect("the item has a twin")
}

/// Every batch one message at a time, each one's sends leaving before the next begins
/// (as a build that aborts runs a batch received again): items both ways and edits on
/// both sides of one converge as they do together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_functions_converge_with_every_batch_one_by_one() {
    MODE.set(BatchMode::OneByOne).unwrap();
    let Harness {
        _moto,
        p,
        functions,
        _dir,
        ..
    } = two_stacks().await;
    let http = reqwest::Client::new();
    let mut a_keys = Vec::new();
    for i in 0..4 {
        let body = demo::item_body(PROJECT_A, i, "sync");
        a_keys.push(
            demo::create_item(&http, &p.sandbox_urls["a"], body)
                .await
                .unwrap(),
        );
    }
    for i in 0..2 {
        let body = demo::item_body(PROJECT_B, 100 + i, "escalate");
        demo::create_item(&http, &p.sandbox_urls["b"], body)
            .await
            .unwrap();
    }
    assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
    let node_a = p.node("node-a").unwrap().clone();
    let node_b = p.node("node-b").unwrap().clone();
    let (a, b) = (
        node_a.tracker("sandbox-a").unwrap(),
        node_b.tracker("sandbox-b").unwrap(),
    );
    let b_key = twin_key(&node_a, &a_keys[0]).await;
    let summary = ItemUpdate {
        summary: Some("edited on A".into()),
        ..Default::default()
    };
    a.update_item(&a_keys[0], &summary).await.unwrap();
    let description = ItemUpdate {
        description: Some("edited on B".into()),
        ..Default::default()
    };
    b.update_item(&b_key, &description).await.unwrap();
    assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
    for (tracker, key) in [(&a, &a_keys[0]), (&b, &b_key)] {
        let item = tracker.get_item(key).await.unwrap().unwrap();
        assert_eq!(
            (item.summary.as_str(), item.description.as_str()),
            ("edited on A", "edited on B")
        );
    }
    let count =
        async |t: &Arc<dyn Tracker>| t.search_updated("", 0, None).await.unwrap().items.len();
    assert_eq!((count(&a).await, count(&b).await), (6, 6), "no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_past_its_budget_is_dead_lettered_by_the_function_and_redriven() {
    use twinsync_core::TwinStatus;
    use twinsync_local::faults::{FaultyTracker, Outage};
    let outage = Outage::new();
    let down = outage.clone();
    let Harness {
        _moto,
        p,
        functions,
        mapping,
        _dir,
        ..
    } = two_stacks_with(move |options| {
        options.node.retry_budget_ms = 2_000;
        options.node.backoff_base_ms = 5;
        options.node.backoff_max_ms = 50;
        options.tracker_decorator = Some(Arc::new(move |t: Arc<dyn Tracker>| {
            if t.instance() == "sandbox-a" {
                FaultyTracker::down_during(t, down.clone())
            } else {
                t
            }
        }));
    })
    .await;
    let http = reqwest::Client::new();
    let url_a = p.sandbox_urls["a"].clone();
    let key = demo::create_item(&http, &url_a, demo::item_body(PROJECT_A, 0, "sync"))
        .await
        .unwrap();
    assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
    let node_a = p.node("node-a").unwrap().clone();
    let twin = async || {
        node_a
            .twins
            .find_by_local(CONNECTION, &key)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(twin().await.status, TwinStatus::Synced);

    outage.begin();
    http.patch(format!("{url_a}/api/items/{key}"))
        .json(&serde_json::json!({ "summary": "Edited while A's API was down" }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // The mappings keep handing the failing change to the function until it gives up.
    let started = Instant::now();
    while !matches!(twin().await.status, TwinStatus::Error(_)) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no dead letter"
        );
        drive(&functions).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let TwinStatus::Error(reason) = twin().await.status else {
        unreachable!("waited for the error");
    };
    assert!(reason.contains("dead-lettered from outgoing"), "{reason}");
    assert!(reason.contains("retry budget 2.0 s"), "{reason}");
    let sqs = mapping["node-a"].clone();
    assert_eq!(sqs.depth("outgoing-dlq").await.unwrap().total(), 1);

    outage.end();
    let moved = twinsync_node::operations::redrive(&node_a, CONNECTION)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert!(drive_until_quiet(&functions, &p.webhooks(), Duration::from_secs(120)).await);
    assert_eq!(twin().await.status, TwinStatus::Synced);
    assert_eq!(sqs.depth("outgoing-dlq").await.unwrap().total(), 0);
    let b_key = twin().await.remote_key.unwrap();
    let b = p.node("node-b").unwrap().tracker("sandbox-b").unwrap();
    let on_b = b.get_item(&b_key).await.unwrap().unwrap();
    assert_eq!(on_b.summary, "Edited while A's API was down");
    p.stop().await;
}

/// Counters at one moment: AWS operations and units, the driver's invocations by
/// function, webhook deliveries and tracker calls.
struct Snapshot {
    operations: std::collections::BTreeMap<String, u64>,
    records: std::collections::BTreeMap<String, u64>,
    record_reads: std::collections::BTreeMap<String, f64>,
    units: std::collections::BTreeMap<&'static str, f64>,
    handled: std::collections::BTreeMap<String, (u64, u64)>,
    webhooks: u64,
    url_deliveries: u64,
    tracker_calls: u64,
    tracker_waited: Duration,
    /// Time webhooks waited in ingest for the applies of their items.
    apply_waited: Duration,
}

/// What one change cost, as counted, and its price per million changes.
#[derive(Debug, serde::Serialize)]
struct Measured {
    /// Which round: how the changes came, and to which twins.
    round: &'static str,
    changes_at_once: usize,
    operations: std::collections::BTreeMap<String, f64>,
    /// By "{operation} {record kind}": where the DynamoDB requests go.
    dynamodb_records: std::collections::BTreeMap<String, f64>,
    /// The read units of those requests, by the same key: where the read bill goes.
    dynamodb_read_units: std::collections::BTreeMap<String, f64>,
    /// By "{node} {queue}": invocations and messages per change.
    functions: std::collections::BTreeMap<String, (f64, f64)>,
    counts: cost::PerChange,
    bill: cost::Bill,
}

impl Snapshot {
    fn take(counter: &OperationCounter, p: &Process, trackers_metered: &CallCounts) -> Self {
        let trackers = ["node-a", "node-b"].map(|id| {
            let node = p.node(id).unwrap();
            node.trackers.values().map(|t| t.calls()).sum::<u64>()
        });
        Snapshot {
            operations: counter.snapshot(),
            records: counter.records(),
            record_reads: counter.record_reads(),
            units: counter.units(),
            handled: HANDLED.lock().unwrap().clone(),
            webhooks: deliveries::total(&p.webhooks()).finished,
            url_deliveries: URL_DELIVERIES.load(std::sync::atomic::Ordering::Relaxed),
            tracker_calls: trackers.iter().sum(),
            tracker_waited: trackers_metered.waited(),
            apply_waited: ["node-a", "node-b"]
                .map(|id| p.node(id).unwrap().ingest_gate.apply_waited())
                .iter()
                .sum(),
        }
    }

    fn per_change(
        &self,
        before: &Snapshot,
        changes: f64,
        at_once: usize,
        round: &'static str,
    ) -> Measured {
        let per_change = |now: &std::collections::BTreeMap<String, u64>,
                          then: &std::collections::BTreeMap<String, u64>| {
            now.iter()
                .map(|(k, n)| (k, n - then.get(k).copied().unwrap_or(0)))
                .filter(|(_, d)| *d > 0)
                .map(|(k, d)| (k.clone(), d as f64 / changes))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let operations = per_change(&self.operations, &before.operations);
        let dynamodb_records = per_change(&self.records, &before.records);
        let dynamodb_read_units = self
            .record_reads
            .iter()
            .map(|(k, n)| (k, n - before.record_reads.get(k).copied().unwrap_or(0.0)))
            .filter(|(_, d)| *d > 0.0)
            .map(|(k, d)| (k.clone(), d / changes))
            .collect();
        let unit = |k| {
            (self.units.get(k).copied().unwrap_or(0.0)
                - before.units.get(k).copied().unwrap_or(0.0))
                / changes
        };
        let mut functions = std::collections::BTreeMap::new();
        for (f, (inv, msgs)) in &self.handled {
            let (i0, m0) = before.handled.get(f).copied().unwrap_or((0, 0));
            if inv > &i0 {
                functions.insert(
                    f.clone(),
                    ((inv - i0) as f64 / changes, (msgs - m0) as f64 / changes),
                );
            }
        }
        let sum = |pick: fn(&(f64, f64)) -> f64, filter: &dyn Fn(&str) -> bool| -> f64 {
            functions
                .iter()
                .filter(|(k, _)| filter(k))
                .map(|(_, v)| pick(v))
                .sum()
        };
        // Every delivery (a list of up to ten messages) is a request to the other node's
        // transport function URL; every webhook delivery one to the ingest function URL.
        let deliveries = (self.url_deliveries - before.url_deliveries) as f64 / changes;
        let webhooks = (self.webhooks - before.webhooks) as f64 / changes;
        let counts = cost::PerChange {
            queue_invocations: sum(|v| v.0, &|_: &str| true),
            url_invocations: webhooks + deliveries,
            messages_handled: sum(|v| v.1, &|_: &str| true),
            sqs_requests: cost::sqs_requests(&operations),
            read_units: unit(READ_UNITS),
            write_units: unit(WRITE_UNITS),
            tracker_calls: (self.tracker_calls - before.tracker_calls) as f64 / changes,
            // Each call is the connector's request (on loopback) and TRACKER_LATENCY.
            tracker_waits: (self.tracker_waited - before.tracker_waited).as_secs_f64()
                / TRACKER_LATENCY.as_secs_f64()
                / changes,
            apply_waits: (self.apply_waited - before.apply_waited).as_secs_f64()
                / TRACKER_LATENCY.as_secs_f64()
                / changes,
        };
        let bill = cost::per_million(&counts, &cost::LIST_PRICES, &cost::DURATION);
        Measured {
            round,
            changes_at_once: at_once,
            operations,
            dynamodb_records,
            dynamodb_read_units,
            functions,
            counts,
            bill,
        }
    }
}
