//! Deliveries carry lists: the messages of a transport batch for one connection go to the
//! other node in one signed HTTPS request (ten at most, as both nodes agreed in the
//! handshake), and the other node queues them together, refusing any it cannot read on
//! its own. A link made before the other node said it takes lists gets one message a
//! request until that node's answer to one says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use twinsync_cli::demo;
use twinsync_core::{Link, TRANSPORT_BATCH_MAX, TransportMessage};
use twinsync_local::process::{Process, ProcessOptions, RouterDecorator};
use twinsync_local::runner::{Driver, RunnerSettings, run_once};
use twinsync_node::Node;
use twinsync_node::link::{Received, TRANSPORT_PATH, receive_transport};
use twinsync_ports::queues;
use twinsync_tls::test_ca::TestCa;

use crate::https::node_config;
use crate::support::{Admin, synced_twins, until};

/// Counts the requests to each node's transport route.
fn counting(requests: Arc<AtomicUsize>) -> RouterDecorator {
    Arc::new(move |_node: &str, router: axum::Router| {
        let requests = requests.clone();
        router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                if request.uri().path() == TRANSPORT_PATH {
                    requests.fetch_add(1, Ordering::SeqCst);
                }
                next.run(request)
            },
        ))
    })
}

/// A node whose queues this test drives, batch by batch, as Lambda's mappings would.
async fn start(
    node: &str,
    sandbox: &str,
    project: &str,
    dir: &Path,
    ca: &TestCa,
) -> (Process, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let options = ProcessOptions {
        runner: RunnerSettings {
            driver: Driver::Functions,
            ..RunnerSettings::default()
        },
        public_decorator: Some(counting(requests.clone())),
        ..ProcessOptions::default()
    };
    let p = Process::start(&node_config(node, sandbox, project, dir, ca), dir, options)
        .await
        .unwrap();
    (p, requests)
}

async fn depth(node: &Node, queue: &str) -> usize {
    node.queue.depth(queue).await.unwrap().total() as usize
}

/// Handles `queue` in batches of ten until it is empty; how many batches it took.
async fn drain(node: &Node, queue: &str) -> usize {
    let mut batches = 0;
    while run_once(node, queue, 10).await > 0 {
        batches += 1;
    }
    batches
}

/// Creates `n` synced items on A and waits for A's poll to queue their changes.
async fn create(pa: &Process, from: usize, n: usize) {
    let http = reqwest::Client::new();
    for i in from..from + n {
        demo::create_item(
            &http,
            &pa.sandbox_urls["a"],
            demo::item_body("DEMO", i, "sync"),
        )
        .await
        .unwrap();
    }
    let a = pa.nodes[0].clone();
    until("the polled changes queued", 30, async || {
        depth(&a, queues::OUTGOING).await >= n
    })
    .await;
}

async fn set_batch_max(node: &Node, conn: &str, max: Option<u32>) {
    let mut connection = node.connection(conn).await.unwrap();
    connection.link.as_mut().unwrap().peer_batch_max = max;
    node.connections.update(&connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_carry_ten_messages_a_request_over_https() {
    let ca = TestCa::new("nodes CA");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, to_a) = start("node-a", "a", "DEMO", da.path(), &ca).await;
    let (pb, to_b) = start("node-b", "b", "SUPPORT", db.path(), &ca).await;
    assert!(pb.node_urls["node-b"].starts_with("https://"));
    let (admin_a, admin_b) = (Admin::of(&pa, "node-a"), Admin::of(&pb, "node-b"));
    let conn = admin_a
        .connect(
            &admin_b,
            json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync"}),
            json!({"instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;
    let (a, b) = (pa.nodes[0].clone(), pb.nodes[0].clone());
    // Each side learnt from the other (invitation, handshake) that it takes lists of ten.
    for node in [&a, &b] {
        let link: Link = node.connection(&conn).await.unwrap().link.unwrap();
        assert_eq!(
            link.peer_batch_max,
            Some(TRANSPORT_BATCH_MAX),
            "{}",
            node.id
        );
    }

    // A link made before B said it takes lists (as with an older node, or a connection
    // made before lists) gets one message a request.
    set_batch_max(&a, &conn, None).await;
    create(&pa, 0, 3).await;
    drain(&a, queues::OUTGOING).await;
    assert_eq!(depth(&a, queues::TRANSPORT).await, 3);
    drain(&a, queues::TRANSPORT).await;
    assert_eq!(to_b.load(Ordering::SeqCst), 3, "one request a message");
    assert_eq!(depth(&b, queues::INCOMING).await, 3);

    // B's answers said it takes lists: A noted it on the connection, once.
    let link = a.connection(&conn).await.unwrap().link.unwrap();
    assert_eq!(
        link.peer_batch_max,
        Some(TRANSPORT_BATCH_MAX),
        "learnt from B's answers"
    );

    // Twelve replicas at once: one request for the batch of ten, one for the other two.
    create(&pa, 3, 12).await;
    drain(&a, queues::OUTGOING).await;
    assert_eq!(depth(&a, queues::TRANSPORT).await, 12);
    assert_eq!(drain(&a, queues::TRANSPORT).await, 2);
    assert_eq!(to_b.load(Ordering::SeqCst), 3 + 2, "ten messages a request");
    assert_eq!(
        depth(&b, queues::INCOMING).await,
        15,
        "every replica queued on B"
    );

    // B applies them and its acks go back the same way: fifteen in two requests.
    drain(&b, queues::INCOMING).await;
    assert_eq!(drain(&b, queues::TRANSPORT).await, 2);
    assert_eq!(to_a.load(Ordering::SeqCst), 2);
    drain(&a, queues::INCOMING).await;
    drain(&a, queues::ACK).await;
    until("fifteen twins synced", 30, async || {
        synced_twins(&a, &conn).await == 15
    })
    .await;
    let on_b = b.tracker("sandbox-b").unwrap();
    let items = on_b.search_updated("", 0, None).await.unwrap().items;
    assert_eq!(items.len(), 15, "each replica made one item on B");

    refusals(&a, &b, &conn).await;
    pa.stop().await;
    pb.stop().await;
}

/// A list's messages that cannot be taken are refused on their own, by their place in the
/// list; a list out of bounds is refused whole.
async fn refusals(a: &Node, b: &Node, conn: &str) {
    let ack = |connection: &str, key: &str| {
        let message: TransportMessage = serde_json::from_value(json!({
            "type": "ack", "connection_id": connection, "from_node": a.id, "source_key": key,
            "target_key": null, "target_url": null, "applied_version": 1, "comment_links": [],
            "remote_view": null, "remote_out_version": 0, "error": "test", "trace_id": "t"
        }))
        .unwrap();
        serde_json::to_value(message).unwrap()
    };
    let mut bad_replica = ack(conn, "DEMO-1");
    bad_replica["type"] = json!("replica");
    let list = json!([
        ack(conn, "DEMO-998"),
        ack("conn-elsewhere", "DEMO-1"),
        bad_replica,
        {"type": "no-such-message"},
    ]);
    let incoming = depth(b, queues::INCOMING).await;
    let received = post_signed(a, b, conn, &list).await.unwrap();
    let Received::List(answer) = received else {
        panic!("a list is answered as a list: {received:?}")
    };
    assert_eq!(answer.accepted, 1, "{answer:?}");
    let refused: HashMap<usize, String> = answer
        .refused
        .into_iter()
        .map(|r| (r.index, r.reason))
        .collect();
    assert_eq!(
        refused
            .keys()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [1, 2, 3].into()
    );
    assert!(refused[&1].contains("another connection"), "{refused:?}");
    assert_eq!(
        depth(b, queues::INCOMING).await,
        incoming + 1,
        "only the good one queued"
    );

    for (list, want) in [
        (json!([]), "1 to 10 messages, this one 0"),
        (
            Value::Array(vec![ack(conn, "DEMO-997"); 11]),
            "1 to 10 messages, this one 11",
        ),
    ] {
        let e = post_signed(a, b, conn, &list).await.unwrap_err();
        assert_eq!(e.0, 400, "{}", e.1);
        assert!(e.1.contains(want), "{}", e.1);
    }
}

/// `body` signed by `a` as a delivery to `b` and taken by `b`'s transport route.
async fn post_signed(
    a: &Node,
    b: &Node,
    conn: &str,
    body: &Value,
) -> Result<Received, (u16, String)> {
    let connection = a.connection(conn).await.unwrap();
    let secret = connection.link.unwrap().secret.0;
    let key = twinsync_security::derive_key(&secret, conn, &a.id, &b.id);
    let body = serde_json::to_vec(body).unwrap();
    let signed = twinsync_security::sign_request(
        &key,
        conn,
        &a.id,
        "POST",
        TRANSPORT_PATH,
        a.now_ms(),
        &body,
    );
    let headers: Vec<(String, String)> = signed
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    receive_transport(b, &headers, &body)
        .await
        .map_err(|e| (e.status(), e.to_string()))
}
