//! Twin and connection stores: uniqueness, conditional writes, cursors, nonces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use twinsync_core::{
    Connection, ConnectionStatus, ManualClock, SyncEvent, SyncEventKind, Twin, TwinStatus,
};
use twinsync_ports::{ConnectionStore, PollCursor, PortError, ReplicaRecord, TwinQuery, TwinStore};
use twinsync_store::open_in_memory;

fn twin(id: &str, local: Option<&str>, remote: Option<&str>) -> Twin {
    let mut t = Twin::new(id.into(), "c".into(), 0);
    t.local_key = local.map(String::from);
    t.remote_key = remote.map(String::from);
    t
}

#[tokio::test]
async fn one_twin_per_item() {
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    twins.insert(&twin("1", Some("A-1"), None)).await.unwrap();
    twins.insert(&twin("2", None, Some("B-1"))).await.unwrap();
    // Two reservations without keys are fine (NULLs do not collide).
    twins.insert(&twin("3", None, None)).await.unwrap();
    twins.insert(&twin("4", None, None)).await.unwrap();
    let table = [
        twin("5", Some("A-1"), None),
        twin("6", None, Some("B-1")),
        twin("1", Some("A-9"), None),
    ];
    for t in table {
        assert!(
            matches!(twins.insert(&t).await, Err(PortError::Conflict(_))),
            "{}",
            t.id
        );
    }
    // An update that would take another twin's key is a conflict too.
    let mut t3 = twins.get("3").await.unwrap().unwrap();
    t3.local_key = Some("A-1".into());
    assert!(matches!(
        twins.update(&t3).await,
        Err(PortError::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_of_the_same_remote_item_leave_one_twin() {
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    let twins = Arc::new(twins);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let twins = twins.clone();
        tasks.push(tokio::spawn(async move {
            twins
                .insert(&twin(&format!("t{i}"), None, Some("B-7")))
                .await
                .is_ok()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(twins.count(Some("c")).await.unwrap(), 1);
}

#[tokio::test]
async fn conditional_update_wins_once() {
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    twins.insert(&twin("1", Some("A-1"), None)).await.unwrap();
    let read1 = twins.get("1").await.unwrap().unwrap();
    let read2 = read1.clone();
    let mut w1 = read1;
    w1.out_version = 1;
    let stored = twins.update(&w1).await.unwrap();
    assert_eq!(stored.revision, 1);
    let mut w2 = read2;
    w2.out_version = 7;
    assert!(matches!(
        twins.update(&w2).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(twins.get("1").await.unwrap().unwrap().out_version, 1);
}

#[tokio::test]
async fn list_filters_events_and_replicas() {
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    for i in 0..5 {
        let mut t = twin(
            &format!("{i}"),
            Some(&format!("A-{i}")),
            Some(&format!("B-{i}")),
        );
        t.created_ms = i;
        if i % 2 == 0 {
            t.status = TwinStatus::Error("boom".into());
        }
        twins.insert(&t).await.unwrap();
    }
    let q = |status: Option<&str>, key: Option<&str>, limit, offset| TwinQuery {
        connection_id: Some("c".into()),
        status: status.map(String::from),
        key_prefix: key.map(String::from),
        limit,
        offset,
        ..Default::default()
    };
    let table = [
        (q(None, None, 0, 0), vec!["0", "1", "2", "3", "4"]),
        (q(Some("error"), None, 0, 0), vec!["0", "2", "4"]),
        (q(None, Some("B-3"), 0, 0), vec!["3"]),
        (q(None, None, 2, 1), vec!["1", "2"]),
    ];
    for (query, want) in table {
        let got: Vec<String> = twins
            .list(&query)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(got, want, "{query:?}");
    }
    for (i, kind) in [
        SyncEventKind::Outgoing,
        SyncEventKind::Ack,
        SyncEventKind::Suppressed,
        SyncEventKind::Incoming,
        SyncEventKind::Conflict,
    ]
    .into_iter()
    .enumerate()
    {
        twins
            .add_event(&SyncEvent {
                connection_id: "c".into(),
                twin_id: Some("1".into()),
                at_ms: i as i64,
                kind,
                detail: format!("e{i}"),
            })
            .await
            .unwrap();
    }
    let events = twins.events(Some("c"), Some("1"), 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        vec!["e4", "e3", "e2", "e1", "e0"]
    );
    // The connection's feed leaves the twin's routine steps out (as on DynamoDB).
    for connection in [Some("c"), None] {
        let feed = twins.events(connection, None, 10).await.unwrap();
        assert_eq!(
            feed.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
            vec!["e4"],
            "{connection:?}"
        );
    }
    for v in 1..=2 {
        twins
            .add_replica(&ReplicaRecord {
                twin_id: "1".into(),
                direction: "out".into(),
                version: v,
                replica: serde_json::json!({"v": v}),
                at_ms: 0,
            })
            .await
            .unwrap();
    }
    let versions: Vec<u64> = twins
        .replicas("1")
        .await
        .unwrap()
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, vec![1, 2]);
}

fn connection() -> Connection {
    Connection {
        id: "c".into(),
        name: "c".into(),
        local_node: "a".into(),
        remote_node: "b".into(),
        local_instance: "i".into(),
        target_project: "P".into(),
        status: ConnectionStatus::Active,
        status_reason: None,
        versions: vec![],
        link: None,
        revision: 0,
        updated_ms: 0,
    }
}

#[tokio::test]
async fn connections_cursors_nonces_and_meta() {
    let clock = ManualClock::new(0);
    let (_, _, store) = open_in_memory(Arc::new(clock.clone())).unwrap();
    store.insert(&connection()).await.unwrap();
    assert!(matches!(
        store.insert(&connection()).await,
        Err(PortError::Conflict(_))
    ));
    let c = store.get("c").await.unwrap().unwrap();
    let mut stale = c.clone();
    let mut fresh = c;
    fresh.status = ConnectionStatus::Deactivated;
    assert_eq!(store.update(&fresh).await.unwrap().revision, 1);
    stale.name = "lost".into();
    assert!(matches!(
        store.update(&stale).await,
        Err(PortError::Conflict(_))
    ));

    assert_eq!(store.cursor("c", "t").await.unwrap(), None);
    let cursor = PollCursor {
        since_ms: 5,
        seen: vec![("A-1".into(), 3)],
    };
    store.set_cursor("c", "t", &cursor).await.unwrap();
    assert_eq!(store.cursor("c", "t").await.unwrap(), Some(cursor));

    assert!(store.remember_nonce("n1", 100).await.unwrap());
    assert!(!store.remember_nonce("n1", 100).await.unwrap(), "replay");
    clock.set_ms(100);
    assert_eq!(store.purge_expired(100).await.unwrap(), 1);
    assert!(store.remember_nonce("n1", 200).await.unwrap());

    store.set_meta("k", "v1").await.unwrap();
    store.set_meta("k", "v2").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("v2"));
    // Conditional: only over what the writer read.
    let cases: [(&str, Option<&str>, &str, bool, &str); 4] = [
        ("k", Some("v1"), "v3", false, "v2"),
        ("k", Some("v2"), "v3", true, "v3"),
        ("k", None, "v4", false, "v3"),
        ("fresh", None, "f1", true, "f1"),
    ];
    for (key, expected, value, done, after) in cases {
        let got = store.replace_meta(key, expected, value).await.unwrap();
        assert_eq!(got, done, "{key} {expected:?} -> {value}");
        assert_eq!(store.get_meta(key).await.unwrap().as_deref(), Some(after));
    }
}

fn searchable(id: &str, created_ms: i64, summary: &str, error: Option<&str>) -> Twin {
    let mut t = twin(id, Some(&format!("DEMO-{id}")), Some(&format!("SUP-{id}")));
    t.created_ms = created_ms;
    t.baseline = Some(serde_json::json!({ "summary": summary }));
    if let Some(why) = error {
        t.status = TwinStatus::Error(why.into());
    }
    t
}

/// The monitor's search: a key's prefix, or text in the summary or error in any case;
/// newest or oldest first; a page starts after the cursor, not at an offset.
#[tokio::test]
async fn search_by_text_in_either_order_from_a_cursor() {
    use twinsync_ports::{TwinCursor, TwinOrder};
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    let rows = [
        ("1", 10, "Printer on fire", None),
        ("2", 20, "Login page", Some("remote: node B refused it")),
        ("3", 30, "printer out of paper", None),
        ("4", 30, "100% CPU_load", None),
        ("5", 40, "Slow search", None),
    ];
    for (id, at, summary, error) in rows {
        twins
            .insert(&searchable(id, at, summary, error))
            .await
            .unwrap();
    }
    let ids = |list: Vec<Twin>| list.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let q = |text: Option<&str>, order, after: Option<TwinCursor>, limit| TwinQuery {
        text: text.map(String::from),
        order,
        after,
        limit,
        ..TwinQuery::default()
    };
    let cursor = |ms, id: &str| {
        Some(TwinCursor {
            created_ms: ms,
            id: id.into(),
        })
    };
    let table = [
        (
            "summary, any case",
            q(Some("PRINTER"), TwinOrder::Oldest, None, 0),
            vec!["1", "3"],
        ),
        (
            "newest first",
            q(Some("printer"), TwinOrder::Newest, None, 0),
            vec!["3", "1"],
        ),
        (
            "error text",
            q(Some("refused"), TwinOrder::Oldest, None, 0),
            vec!["2"],
        ),
        (
            "key prefix",
            q(Some("SUP-5"), TwinOrder::Oldest, None, 0),
            vec!["5"],
        ),
        (
            "wildcards are text",
            q(Some("100%"), TwinOrder::Oldest, None, 0),
            vec!["4"],
        ),
        (
            "underscore is text",
            q(Some("c_u"), TwinOrder::Oldest, None, 0),
            Vec::<&str>::new(),
        ),
        (
            "first page",
            q(None, TwinOrder::Newest, None, 2),
            vec!["5", "4"],
        ),
        (
            "next page",
            q(None, TwinOrder::Newest, cursor(30, "4"), 2),
            vec!["3", "2"],
        ),
        (
            "last page",
            q(None, TwinOrder::Newest, cursor(20, "2"), 2),
            vec!["1"],
        ),
        (
            "oldest from a cursor",
            q(None, TwinOrder::Oldest, cursor(30, "3"), 0),
            vec!["4", "5"],
        ),
    ];
    for (name, query, want) in table {
        assert_eq!(ids(twins.list(&query).await.unwrap()), want, "{name}");
    }
    // Within a set of connections (a workspace token's): only theirs, none for no set.
    let mut elsewhere = searchable("6", 50, "printer elsewhere", None);
    elsewhere.connection_id = "d".into();
    twins.insert(&elsewhere).await.unwrap();
    for (within, want) in [
        (vec!["c", "d"], vec!["6", "3", "1"]),
        (vec!["d"], vec!["6"]),
        (vec![], vec![]),
    ] {
        let query = TwinQuery {
            text: Some("printer".into()),
            within: Some(within.iter().map(|c| c.to_string()).collect()),
            order: TwinOrder::Newest,
            ..TwinQuery::default()
        };
        assert_eq!(ids(twins.list(&query).await.unwrap()), want, "{within:?}");
    }
    twins.delete("6").await.unwrap();
    // The text index follows updates and deletes (its triggers); short text scans.
    let mut five = twins.get("5").await.unwrap().unwrap();
    five.status = TwinStatus::Error("tracker said boom".into());
    twins.update(&five).await.unwrap();
    twins.delete("1").await.unwrap();
    let after_changes = [
        (
            "an updated error",
            q(Some("BOOM"), TwinOrder::Oldest, None, 0),
            vec!["5"],
        ),
        (
            "a deleted twin",
            q(Some("printer"), TwinOrder::Oldest, None, 0),
            vec!["3"],
        ),
        (
            "two characters",
            q(Some("pr"), TwinOrder::Oldest, None, 0),
            vec!["3"],
        ),
        (
            "a quote",
            q(Some("on \"fire"), TwinOrder::Oldest, None, 0),
            Vec::<&str>::new(),
        ),
    ];
    for (name, query, want) in after_changes {
        assert_eq!(ids(twins.list(&query).await.unwrap()), want, "{name}");
    }
    let token = TwinCursor {
        created_ms: 30,
        id: "a.b".into(),
    }
    .token();
    assert_eq!(TwinCursor::parse(&token).unwrap().id, "a.b");
    assert!(TwinCursor::parse("x.y").is_none());
}

/// A page from a cursor walks the `twins_created` index from it: its cost does not grow
/// with how deep the page is (checked on SQLite's plan, not with a clock).
#[test]
fn a_page_from_a_cursor_starts_at_the_cursor_in_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    drop(twinsync_store::Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT body FROM twins WHERE (created_ms, id) < (?1, ?2)
             ORDER BY created_ms DESC, id DESC LIMIT 50",
        )
        .unwrap()
        .query_map(rusqlite::params![1, "x"], |r| r.get::<_, String>(3))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        plan.iter()
            .any(|p| p.contains("twins_created") && p.contains("<")),
        "{plan:?}"
    );
}

async fn hits(twins: &impl TwinStore, text: &str) -> usize {
    let query = TwinQuery {
        text: Some(text.into()),
        ..TwinQuery::default()
    };
    twins.list(&query).await.unwrap().len()
}

/// The text index follows a twin's keys and text through its updates, whether they
/// change them or not (an update that leaves them alone does not index them again).
#[tokio::test]
async fn the_search_follows_updates_of_a_twin() {
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    twins
        .insert(&searchable("7", 5, "Printer jam", None))
        .await
        .unwrap();
    // (the change, text that must be found, text that must not)
    type Change = fn(&mut Twin);
    let steps: [(Change, &str, &str); 4] = [
        (|t| t.out_version += 1, "printer jam", "scanner"),
        (
            |t| t.baseline = Some(serde_json::json!({ "summary": "Scanner jam" })),
            "scanner jam",
            "printer",
        ),
        (|t| t.local_key = Some("NEW-1".into()), "NEW-1", "DEMO-7"),
        (
            |t| t.status = TwinStatus::Error("refused by B".into()),
            "refused",
            "printer",
        ),
    ];
    let mut twin = twins.get("7").await.unwrap().unwrap();
    for (i, (change, present, absent)) in steps.into_iter().enumerate() {
        change(&mut twin);
        twin = twins.update(&twin).await.unwrap();
        assert_eq!(hits(&twins, present).await, 1, "step {i}: {present}");
        assert_eq!(hits(&twins, absent).await, 0, "step {i}: {absent}");
    }
}

/// Twins written wait for the trigram index until a batch of writes or a search, and a
/// search finds every write made before it (schema 6).
#[tokio::test]
async fn the_text_index_takes_twins_in_batches_and_before_a_search() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let twins = twinsync_store::SqliteTwinStore::new(twinsync_store::Db::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let count = |table: &str| -> usize {
        raw.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let batch = twinsync_store::TEXT_INDEX_BATCH;
    for i in 0..batch - 1 {
        let summary = format!("Printer {i}");
        twins
            .insert(&searchable(&i.to_string(), 5, &summary, None))
            .await
            .unwrap();
    }
    assert_eq!(
        (count("twins_text_waiting"), count("twins_text")),
        (batch - 1, 0)
    );
    let last = searchable("last", 5, "Scanner jam", None);
    twins.insert(&last).await.unwrap();
    assert_eq!(
        (count("twins_text_waiting"), count("twins_text")),
        (0, batch)
    );
    // Between batches, a search indexes what waits before it looks.
    let mut twin = twins.get("last").await.unwrap().unwrap();
    twin.baseline = Some(serde_json::json!({ "summary": "Stapler jam" }));
    twins.update(&twin).await.unwrap();
    twins.delete("0").await.unwrap();
    assert_eq!(count("twins_text_waiting"), 1);
    assert_eq!(hits(&twins, "stapler").await, 1);
    assert_eq!(hits(&twins, "scanner").await, 0);
    assert_eq!(hits(&twins, "printer 0").await, 0);
    assert_eq!(
        (count("twins_text_waiting"), count("twins_text")),
        (0, batch - 1)
    );
}

/// A database file as schema version 1 made it, open for the test to fill.
fn schema_v1_database(dir: &tempfile::TempDir) -> (std::path::PathBuf, rusqlite::Connection) {
    let path = dir.path().join("node.db");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/store/schema-v1.sql");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&std::fs::read_to_string(fixture).unwrap())
        .unwrap();
    (path, conn)
}

/// A database from before the search (schema 2) gets every twin's search text.
#[tokio::test]
async fn a_schema_2_database_gets_search_text_for_its_twins() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = schema_v1_database(&dir);
    {
        let old = searchable("9", 5, "Old Printer", Some("Remote: Refused"));
        conn.execute(
            "INSERT INTO twins (id, connection_id, local_key, remote_key, status, revision, created_ms, body)
             VALUES ('9', 'c', 'DEMO-9', 'SUP-9', 'error', 0, 5, ?1)",
            [serde_json::to_string(&old).unwrap()],
        )
        .unwrap();
    }
    drop(conn);
    let db = twinsync_store::Db::open(&path).unwrap();
    let twins = twinsync_store::SqliteTwinStore::new(db);
    for text in ["old printer", "refused"] {
        let found = twins
            .list(&TwinQuery {
                text: Some(text.into()),
                ..TwinQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{text}");
    }
}

/// Common text (found in a thousand twins or more) is read row by row in the listing's
/// order and stops at the page; the answer is the same as through the index.
#[tokio::test]
async fn common_text_pages_newest_first() {
    use twinsync_ports::TwinOrder;
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    for i in 0..2_100 {
        let id = format!("{i:04}");
        let word = if i % 2 == 0 { "printer" } else { "scanner" };
        twins
            .insert(&searchable(&id, i, &format!("{word} {i}"), None))
            .await
            .unwrap();
    }
    for (text, want) in [
        ("PRINTER", ["2098", "2096", "2094"]),
        ("scanner 10", ["1099", "1097", "1095"]),
    ] {
        let page = twins
            .list(&TwinQuery {
                text: Some(text.into()),
                order: TwinOrder::Newest,
                limit: 3,
                ..TwinQuery::default()
            })
            .await
            .unwrap();
        let ids: Vec<String> = page.into_iter().map(|t| t.id).collect();
        assert_eq!(ids, want, "{text}");
    }
}

/// A case of `tests/fixtures/store/twin-replace-cases.json`, which the DynamoDB store's
/// test reads too: (id, local key, remote key) of the twins before, the ids replaced,
/// the new twin's keys, whether the replace is written, and the twins left after.
#[derive(serde::Deserialize)]
struct ReplaceCase {
    what: String,
    before: Vec<(String, Option<String>, Option<String>)>,
    gone: Vec<String>,
    new: (Option<String>, Option<String>),
    replaced: bool,
    left: Vec<String>,
}

/// A Relink replaces unlinked twins with the new pair's in one write: all of it, or
/// nothing when a key is held by a twin it does not replace (simulation seed 2473 of V5).
#[tokio::test]
async fn a_replace_deletes_and_inserts_in_one_write() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/store/twin-replace-cases.json");
    let cases: Vec<ReplaceCase> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in cases {
        let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
        for (id, l, r) in &case.before {
            twins
                .insert(&twin(id, l.as_deref(), r.as_deref()))
                .await
                .unwrap();
            twins
                .add_replica(&ReplicaRecord {
                    twin_id: id.to_string(),
                    direction: "out".into(),
                    version: 1,
                    replica: serde_json::json!({}),
                    at_ms: 0,
                })
                .await
                .unwrap();
        }
        let (local, remote) = &case.new;
        let new = twin("new", local.as_deref(), remote.as_deref());
        let result = twins.replace(&case.gone, &new).await;
        let what = &case.what;
        assert_eq!(result.is_ok(), case.replaced, "{what}: {result:?}");
        if !case.replaced {
            assert!(matches!(result, Err(PortError::Conflict(_))), "{result:?}");
        }
        let mut ids: Vec<String> = twins
            .list(&TwinQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        ids.sort();
        assert_eq!(ids, case.left, "{what}");
        for (id, ..) in &case.before {
            let kept = case.left.contains(id);
            assert_eq!(!twins.replicas(id).await.unwrap().is_empty(), kept, "{id}");
        }
    }
}

/// A replica-history case (`tests/fixtures/store/replica-history-cases.json`, which the
/// DynamoDB store's test reads too): the (direction, version) of each replica written,
/// one millisecond apart, and those the history keeps, oldest first.
#[derive(serde::Deserialize)]
struct HistoryCase {
    what: String,
    written: Vec<(String, u64)>,
    kept: Vec<(String, u64)>,
}

fn history_cases() -> Vec<HistoryCase> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/store/replica-history-cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn replica(twin_id: &str, (direction, version): &(String, u64), at_ms: i64) -> ReplicaRecord {
    ReplicaRecord {
        twin_id: twin_id.into(),
        direction: direction.clone(),
        version: *version,
        replica: serde_json::json!({ "summary": format!("{direction} v{version}") }),
        at_ms,
    }
}

/// A twin's history keeps the newest REPLICA_HISTORY of each direction.
#[tokio::test]
async fn a_replica_history_keeps_the_newest_of_each_direction() {
    let (_, twins, _) = open_in_memory(Arc::new(ManualClock::new(0))).unwrap();
    for (case, c) in history_cases().iter().enumerate() {
        let id = format!("t{case}");
        for (at, written) in c.written.iter().enumerate() {
            twins
                .add_replica(&replica(&id, written, at as i64))
                .await
                .unwrap();
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

/// A database an older build wrote, whose histories were never trimmed, keeps the newest
/// record of each place in the ring when it is opened: the newest 50 of each direction.
#[tokio::test]
async fn an_untrimmed_replica_history_is_trimmed_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = schema_v1_database(&dir);
    {
        let written = (1..=60).map(|v| ("out", v)).chain([("in", 1), ("in", 2)]);
        for (at, (direction, version)) in written.enumerate() {
            let record = replica("t", &(direction.to_string(), version), at as i64);
            conn.execute(
                "INSERT INTO replicas (twin_id, body) VALUES ('t', ?1)",
                [serde_json::to_string(&record).unwrap()],
            )
            .unwrap();
        }
    }
    drop(conn);
    let clock = Arc::new(ManualClock::new(0));
    let (_, twins, _) = twinsync_store::open_node_store(&path, clock, Default::default()).unwrap();
    let kept: Vec<(String, u64)> = twins
        .replicas("t")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.direction, r.version))
        .collect();
    let mut want: Vec<(String, u64)> = (11..=60).map(|v| ("out".to_string(), v)).collect();
    want.extend([("in".to_string(), 1), ("in".to_string(), 2)]);
    assert_eq!(kept, want);
    assert_eq!(
        twinsync_ports::REPLICA_HISTORY,
        50,
        "the migration's own number"
    );
    // The next replica takes its place in the ring the migration left.
    twins
        .add_replica(&replica("t", &("out".into(), 61), 99))
        .await
        .unwrap();
    let history = twins.replicas("t").await.unwrap();
    assert_eq!(history.len(), 52);
    assert_eq!(history.first().map(|r| r.version), Some(12));
}
