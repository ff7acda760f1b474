//! The AWS adapters against the moto emulator: the same port contracts the SQLite
//! implementations keep (FIFO groups, deduplication, visibility, conditional writes, the
//! exactly-one-twin reservation under concurrency).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::emulator;

use std::sync::Arc;
use twinsync_aws::env::ports;
use twinsync_core::{Connection, SyncEvent, SyncEventKind, Twin, TwinStatus};
use twinsync_ports::{
    ConnectionStore, NewMessage, PollCursor, PortError, Queue, ReplicaRecord, TwinQuery, TwinStore,
};

fn message(group: &str, dedup: &str, body: &str) -> NewMessage {
    NewMessage {
        group_id: group.into(),
        dedup_id: dedup.into(),
        body: body.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_keeps_fifo_semantics() {
    let (_moto, config, resources) = emulator::start("qtest").await;
    let (queue, _, _) = ports(&config, &resources);
    let q = "outgoing";

    // One group is delivered in order, one message in flight at a time.
    for (d, b) in [("a", "first"), ("b", "second")] {
        queue.send(q, message("c1:K-1", d, b)).await.unwrap();
    }
    // The same dedup id within the window is dropped.
    queue
        .send(q, message("c1:K-1", "a", "first again"))
        .await
        .unwrap();
    let got = queue.receive(q, 1, 30_000).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "first");
    assert_eq!(got[0].group_id, "c1:K-1");
    assert_eq!(got[0].receive_count, 1);
    assert!(
        queue.receive(q, 10, 30_000).await.unwrap().is_empty(),
        "the group is locked while its first message is in flight"
    );
    let depth = queue.depth(q).await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (1, 1));
    // Made visible again, it comes back first, counted as a second receive.
    queue
        .change_visibility(q, &got[0].receipt, 0)
        .await
        .unwrap();
    let again = queue.receive(q, 1, 30_000).await.unwrap();
    assert_eq!(again[0].body, "first");
    assert_eq!(again[0].receive_count, 2);
    queue.delete(q, &again[0].receipt).await.unwrap();
    let next = queue.receive(q, 10, 30_000).await.unwrap();
    assert_eq!(
        next.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["second"],
        "the duplicate was dropped"
    );
    queue.delete(q, &next[0].receipt).await.unwrap();

    // Batches keep order; ids SQS would refuse (spaces, non-ASCII) are hashed, not lost.
    let batch: Vec<NewMessage> = (0..23)
        .map(|i| message("c1:Ünïcode key", &format!("batch {i}"), &format!("m{i}")))
        .collect();
    queue.send_batch(q, batch).await.unwrap();
    let mut bodies = Vec::new();
    while bodies.len() < 23 {
        let got = queue.receive(q, 10, 30_000).await.unwrap();
        assert!(!got.is_empty(), "all 23 arrive");
        // What the runner does with a handled batch: one DeleteMessageBatch.
        let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
        bodies.extend(got.into_iter().map(|m| m.body));
        let deleted = queue.delete_batch(q, &receipts).await;
        assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    }
    assert_eq!(bodies, (0..23).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(queue.depth(q).await.unwrap().total(), 0);

    // A body over SQS's 256 KiB goes by S3 and comes back whole.
    let big = "x".repeat(600_000);
    queue.send(q, message("c1:K-2", "big", &big)).await.unwrap();
    let got = queue.receive(q, 10, 30_000).await.unwrap();
    assert_eq!(got[0].body.len(), big.len());
    assert_eq!(got[0].body, big);
    queue.delete(q, &got[0].receipt).await.unwrap();

    // A held queue is created by the first send; an outbox nobody used reads as empty.
    assert!(
        queue
            .receive("outbox-none", 10, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    queue
        .send("held-c1", message("c1:K-3", "h1", "held"))
        .await
        .unwrap();
    let names = queue.queue_names().await.unwrap();
    for n in ["outgoing", "transport", "incoming", "ack", "held-c1"] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    assert!(!names.contains(&"outbox-none".to_string()));

    // Another instance (the scheduler) drains the held queue and deletes it while this one
    // still has its URL: the depth here is 0, not an error (a test once failed on it).
    let (scheduler, _, _) = ports(&config, &resources);
    let held = scheduler.receive("held-c1", 10, 30_000).await.unwrap();
    scheduler.delete("held-c1", &held[0].receipt).await.unwrap();
    assert!(scheduler.remove_if_empty("held-c1").await.unwrap());
    assert_eq!(queue.depth("held-c1").await.unwrap().total(), 0);
    assert_eq!(scheduler.depth("held-c1").await.unwrap().total(), 0);

    // Force Unlink drops one group, however many messages it has, and leaves the others
    // (it once stopped after 200).
    for (g, d) in [("c1:K-4", "p1"), ("c1:K-5", "p2"), ("c1:K-4", "p3")] {
        queue.send("transport", message(g, d, d)).await.unwrap();
    }
    let many: Vec<_> = (0..297)
        .map(|i| message("c1:K-4", &format!("m{i}"), "more"))
        .collect();
    for chunk in many.chunks(10) {
        queue.send_batch("transport", chunk.to_vec()).await.unwrap();
    }
    assert_eq!(queue.purge_group("transport", "c1:K-4").await.unwrap(), 299);
    let left = queue.receive("transport", 10, 30_000).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["p2"]
    );
}

/// Redrive on SQS: the dead-lettered messages a filter picks (here: one connection's) go
/// back to their queue in order and in their groups, marked as redriven, with a new
/// budget; the others stay in the dead-letter queue, and a second redrive moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_redrive_moves_the_picked_dead_letters_back() {
    let (_moto, config, resources) = emulator::start("rtest").await;
    let (queue, _, _) = ports(&config, &resources);
    let (q, dlq) = ("incoming", "incoming-dlq");
    let body = |connection: &str, n: u32| format!(r#"{{"connection_id":"{connection}","n":{n}}}"#);
    for (group, connection, n) in [
        ("c1:K-1", "c1", 1),
        ("c2:K-9", "c2", 2),
        ("c1:K-1", "c1", 3),
    ] {
        let dedup = format!("d{n}");
        queue
            .send(dlq, message(group, &dedup, &body(connection, n)))
            .await
            .unwrap();
    }
    // The monitor's listing reads them all, in order, and leaves them to the redrive.
    let listed = queue.peek(dlq, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.body.clone()).collect::<Vec<_>>(),
        [body("c1", 1), body("c2", 2), body("c1", 3)]
    );
    assert_eq!(listed[1].group_id, "c2:K-9");
    let c1 = |m: &twinsync_ports::QueueMessage| m.body.contains(r#""connection_id":"c1""#);
    assert_eq!(queue.redrive(q, &c1).await.unwrap(), 2);
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = queue.receive(q, 10, 30_000).await.unwrap();
        assert!(!batch.is_empty(), "both redriven messages arrive");
        for m in batch {
            assert!(m.redriven, "{m:?}");
            assert_eq!((m.group_id.as_str(), m.receive_count), ("c1:K-1", 1));
            assert!(m.first_receive_ms >= m.sent_ms, "{m:?}");
            queue.delete(q, &m.receipt).await.unwrap();
            got.push(m.body);
        }
    }
    assert_eq!(got, [body("c1", 1), body("c1", 3)], "in order");
    // The other connection's message stays, visible again, and is not moved twice.
    assert_eq!(queue.redrive(q, &c1).await.unwrap(), 0);
    let left = queue.receive(dlq, 10, 30_000).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.body.clone()).collect::<Vec<_>>(),
        [body("c2", 2)]
    );
    assert!(!left[0].redriven);
}

fn twin(id: &str, local: Option<&str>, remote: Option<&str>) -> Twin {
    let mut t = Twin::new(id.into(), "c1".into(), 1_000);
    t.local_key = local.map(str::to_string);
    t.remote_key = remote.map(str::to_string);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_twin_store_keeps_one_twin_per_item() {
    let (_moto, config, resources) = emulator::start("ttest").await;
    let (_, twins, _) = ports(&config, &resources);
    let twins = Arc::new(twins);

    // Many workers reserve the twin of one item at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let twins = twins.clone();
        tasks.push(tokio::spawn(async move {
            twins
                .insert(&twin(&format!("t{i}"), None, Some("R-1")))
                .await
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won.push(()),
            Err(PortError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won.len(), 1, "one reservation");
    let reserved = twins.find_by_remote("c1", "R-1").await.unwrap().unwrap();
    assert_eq!(reserved.revision, 0);

    // The create links the local key; the conditional update bumps the revision.
    let mut t = reserved.clone();
    t.local_key = Some("L-1".into());
    t.status = TwinStatus::Synced;
    let stored = twins.update(&t).await.unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(
        twins.find_by_local("c1", "L-1").await.unwrap().unwrap().id,
        t.id
    );
    // A stale writer loses.
    assert!(matches!(
        twins.update(&t).await,
        Err(PortError::Conflict(_))
    ));
    // Another twin cannot take a key this one holds.
    assert!(matches!(
        twins.insert(&twin("other", Some("L-1"), None)).await,
        Err(PortError::Conflict(_))
    ));
    let mut moved = stored.clone();
    moved.remote_key = Some("R-1".into());
    moved.comment_links.clear();
    let stored = twins.update(&moved).await.unwrap();
    assert_eq!(stored.revision, 2);

    // History, events, listings.
    for v in 1..=3 {
        twins
            .add_replica(&ReplicaRecord {
                twin_id: stored.id.clone(),
                direction: "out".into(),
                version: v,
                replica: serde_json::json!({"summary": format!("v{v}")}),
                at_ms: 1_000 + v as i64,
            })
            .await
            .unwrap();
        twins
            .add_event(&SyncEvent {
                connection_id: "c1".into(),
                twin_id: Some(stored.id.clone()),
                at_ms: 1_000 + v as i64,
                // A routine step is kept under its twin only, not in the connection's feed.
                kind: if v == 2 {
                    SyncEventKind::Outgoing
                } else {
                    SyncEventKind::Conflict
                },
                detail: format!("replica v{v}"),
            })
            .await
            .unwrap();
    }
    let versions: Vec<u64> = twins
        .replicas(&stored.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    let details: Vec<String> = twins
        .events(Some("c1"), None, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(details, ["replica v3", "replica v1"], "newest first");
    assert_eq!(
        twins
            .events(None, Some(&stored.id), 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(twins.events(None, None, 10).await.unwrap().len(), 2);
    twins.insert(&twin("t-b", Some("L-2"), None)).await.unwrap();
    assert_eq!(twins.count(Some("c1")).await.unwrap(), 2);
    let synced = twins
        .list(&TwinQuery {
            connection_id: Some("c1".into()),
            status: Some("synced".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(synced.len(), 1);
    let by_prefix = twins
        .list(&TwinQuery {
            key_prefix: Some("L-2".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_prefix[0].id, "t-b");
    // The monitor's search: text in the summary or error, newest first, from a cursor.
    let mut later = twin("t-c", Some("L-3"), Some("R-3"));
    later.created_ms = 2_000;
    later.baseline = Some(serde_json::json!({"summary": "Printer on FIRE"}));
    later.status = TwinStatus::Unlinked;
    twins.insert(&later).await.unwrap();
    let search = |text: Option<&str>, after: Option<twinsync_ports::TwinCursor>| TwinQuery {
        text: text.map(str::to_string),
        order: twinsync_ports::TwinOrder::Newest,
        after,
        limit: 10,
        ..Default::default()
    };
    let found = twins.list(&search(Some("fire"), None)).await.unwrap();
    assert_eq!(
        found.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["t-c"]
    );
    let newest = twins.list(&search(None, None)).await.unwrap();
    assert_eq!(newest[0].id, "t-c");
    let rest = twins
        .list(&search(
            None,
            Some(twinsync_ports::TwinCursor::of(&newest[0])),
        ))
        .await
        .unwrap();
    assert!(rest.iter().all(|t| t.id != "t-c") && rest.len() == newest.len() - 1);
    let within = |set: Vec<&str>| TwinQuery {
        within: Some(set.into_iter().map(str::to_string).collect()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(twins.list(&within(vec!["c1"])).await.unwrap().len(), 3);
    assert!(twins.list(&within(vec!["c9"])).await.unwrap().is_empty());
    assert!(twins.list(&within(vec![])).await.unwrap().is_empty());
    // An unlinked twin is not under sync: the item capacity does not count it.
    assert_eq!(twins.count(Some("c1")).await.unwrap(), 3);
    assert_eq!(twins.count_under_sync("c1").await.unwrap(), 2);

    // Deleting frees the keys for a new twin (a relink after a wipe).
    twins.delete(&stored.id).await.unwrap();
    assert!(twins.find_by_local("c1", "L-1").await.unwrap().is_none());
    assert!(twins.replicas(&stored.id).await.unwrap().is_empty());
    twins
        .insert(&twin("t-new", Some("L-1"), Some("R-1")))
        .await
        .unwrap();
}

/// A case of `tests/fixtures/store/twin-replace-cases.json` (the SQLite store's test
/// reads it too).
#[derive(serde::Deserialize)]
struct ReplaceCase {
    what: String,
    before: Vec<(String, Option<String>, Option<String>)>,
    gone: Vec<String>,
    new: (Option<String>, Option<String>),
    replaced: bool,
    left: Vec<String>,
}

/// A case of `tests/fixtures/store/replica-history-cases.json` (the SQLite store's test
/// reads it too): the replicas written, one millisecond apart, and those kept.
#[derive(serde::Deserialize)]
struct HistoryCase {
    what: String,
    written: Vec<(String, u64)>,
    kept: Vec<(String, u64)>,
}

/// A twin's history keeps the newest REPLICA_HISTORY of each direction: each put takes
/// its version's place in the ring, replacing the record there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_replica_history_keeps_the_newest_of_each_direction() {
    let (_moto, config, resources) = emulator::start("htest").await;
    let (_, twins, _) = ports(&config, &resources);
    let path = emulator::repo_root().join("tests/fixtures/store/replica-history-cases.json");
    let cases: Vec<HistoryCase> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (case, c) in cases.iter().enumerate() {
        let id = format!("t{case}");
        for (at, (direction, version)) in c.written.iter().enumerate() {
            let record = ReplicaRecord {
                twin_id: id.clone(),
                direction: direction.clone(),
                version: *version,
                replica: serde_json::json!({ "summary": format!("{direction} v{version}") }),
                at_ms: at as i64,
            };
            twins.add_replica(&record).await.unwrap();
        }
        let kept: Vec<(String, u64)> = twins
            .replicas(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.direction, r.version))
            .collect();
        assert_eq!(kept, c.kept, "{}", c.what);
    }
}

/// A Relink replaces unlinked twins with the new pair's in one transaction: all of it,
/// or nothing when a key is held by a twin it does not replace (simulation seed 2473).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_twin_store_replaces_in_one_write() {
    let (_moto, config, resources) = emulator::start("rtest").await;
    let (_, twins, _) = ports(&config, &resources);
    // The cases the SQLite store's test runs; each on its own keys (a prefix) here, in
    // the one table.
    let path = emulator::repo_root().join("tests/fixtures/store/twin-replace-cases.json");
    let cases: Vec<ReplaceCase> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (case, c) in cases.into_iter().enumerate() {
        let named = |s: &str| format!("{case}-{s}");
        let keyed = |k: Option<&str>| k.map(&named);
        for (id, l, r) in &c.before {
            twins
                .insert(&twin(
                    &named(id),
                    keyed(l.as_deref()).as_deref(),
                    keyed(r.as_deref()).as_deref(),
                ))
                .await
                .unwrap();
            twins
                .add_replica(&ReplicaRecord {
                    twin_id: named(id),
                    direction: "out".into(),
                    version: 1,
                    replica: serde_json::json!({}),
                    at_ms: 0,
                })
                .await
                .unwrap();
        }
        let gone: Vec<String> = c.gone.iter().map(|id| named(id)).collect();
        let (local, remote) = &c.new;
        let new = twin(
            &named("new"),
            keyed(local.as_deref()).as_deref(),
            keyed(remote.as_deref()).as_deref(),
        );
        let result = twins.replace(&gone, &new).await;
        let what = &c.what;
        assert_eq!(result.is_ok(), c.replaced, "{what}: {result:?}");
        if !c.replaced {
            assert!(matches!(result, Err(PortError::Conflict(_))), "{result:?}");
        }
        for id in ["old", "l", "r", "other", "new"] {
            let kept = c.left.iter().any(|l| l == id);
            assert_eq!(
                twins.get(&named(id)).await.unwrap().is_some(),
                kept,
                "case {case}: {id}"
            );
            let history = !twins.replicas(&named(id)).await.unwrap().is_empty();
            assert_eq!(history, kept && id != "new", "case {case}: {id}'s history");
        }
        // The keys name the twin that holds them.
        let holder = twins
            .find_by_local("c1", &named("L-1"))
            .await
            .unwrap()
            .map(|t| t.id);
        let want = if c.replaced {
            Some(named("new"))
        } else {
            Some(named("old"))
        };
        assert_eq!(holder, want, "case {case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_connection_store() {
    let (_moto, config, resources) = emulator::start("ctest").await;
    let (_, _, connections) = ports(&config, &resources);
    let c: Connection = serde_json::from_str(
        &std::fs::read_to_string(emulator::repo_root().join("tests/fixtures/aws/connection.json"))
            .unwrap(),
    )
    .unwrap();
    connections.insert(&c).await.unwrap();
    assert!(matches!(
        connections.insert(&c).await,
        Err(PortError::Conflict(_))
    ));
    let stored = connections.update(&c).await.unwrap();
    assert_eq!(stored.revision, c.revision + 1);
    assert!(matches!(
        connections.update(&c).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(connections.list().await.unwrap().len(), 1);
    assert_eq!(connections.get(&c.id).await.unwrap().unwrap(), stored);

    let cursor = PollCursor {
        since_ms: 42,
        seen: vec![("K-1".into(), 3)],
    };
    assert!(connections.cursor(&c.id, "t1").await.unwrap().is_none());
    connections.set_cursor(&c.id, "t1", &cursor).await.unwrap();
    assert_eq!(connections.cursor(&c.id, "t1").await.unwrap(), Some(cursor));

    let later = 4_102_444_800_000; // 2100-01-01
    assert!(connections.remember_nonce("n1", later).await.unwrap());
    assert!(
        !connections.remember_nonce("n1", later).await.unwrap(),
        "a replay"
    );
    // An expired record no longer blocks its nonce (TTL deletes it later).
    assert!(connections.remember_nonce("n2", 1_000).await.unwrap());
    assert!(connections.remember_nonce("n2", later).await.unwrap());

    connections
        .set_meta("webhook:jira", "https://x")
        .await
        .unwrap();
    assert_eq!(
        connections
            .get_meta("webhook:jira")
            .await
            .unwrap()
            .as_deref(),
        Some("https://x")
    );
    // The conditional put: absent, then only over the value read.
    assert!(connections.replace_meta("jobs", None, "[1]").await.unwrap());
    assert!(!connections.replace_meta("jobs", None, "[2]").await.unwrap());
    assert!(
        !connections
            .replace_meta("jobs", Some("[0]"), "[2]")
            .await
            .unwrap()
    );
    assert!(
        connections
            .replace_meta("jobs", Some("[1]"), "[1,2]")
            .await
            .unwrap()
    );
    assert_eq!(
        connections.get_meta("jobs").await.unwrap().as_deref(),
        Some("[1,2]")
    );
    connections.delete(&c.id).await.unwrap();
    assert!(connections.list().await.unwrap().is_empty());
}

/// The node's configuration comes from an SSM SecureString by a signed `GetParameter`; a
/// missing parameter (or payload object) is refused with the service's own code, and
/// nothing is retried for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_parameter_is_read_by_a_signed_request() {
    use twinsync_aws::AwsError;
    use twinsync_aws::env::node_config;
    use twinsync_aws::signed::{Request, Service};
    let (_moto, aws, resources) = emulator::start("stest").await;
    let config = "[[node]]\nid = \"node-a\"\n# a secret: ü\n";
    let put = Request {
        method: reqwest::Method::POST,
        url: format!("{}/", aws.signed.base_url(Service::Ssm)),
        headers: vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amz-target", "AmazonSSM.PutParameter".to_string()),
        ],
        body:
            serde_json::json!({"Name": "/twinsync/node-a", "Value": config, "Type": "SecureString"})
                .to_string()
                .into_bytes(),
    };
    let answer = aws.signed.send("put", Service::Ssm, put).await.unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );

    assert_eq!(
        node_config(&aws.signed, "/twinsync/node-a").await.unwrap(),
        config
    );
    let missing = node_config(&aws.signed, "/twinsync/none")
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, AwsError::Rejected { code, .. } if code == "ParameterNotFound"),
        "{missing:?}"
    );
    assert!(!missing.is_retryable());

    let payloads = twinsync_aws::PayloadStore::new(
        aws.signed.clone(),
        resources.payload_bucket.clone().unwrap(),
    );
    let gone = payloads.get("payloads/outgoing/none").await.unwrap_err();
    assert!(
        matches!(&gone, AwsError::Rejected { code, .. } if code == "NoSuchKey"),
        "{gone:?}"
    );
}
