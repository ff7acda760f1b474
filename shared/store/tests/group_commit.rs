//! Group commit: writes made side by side share a commit, each is durable when it
//! returns, and one that fails leaves nothing of itself and takes no other down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::FutureExt;
use futures::future::join_all;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use twinsync_core::{ManualClock, Twin};
use twinsync_ports::{NewMessage, PortError, Queue, SendOutcome, TwinStore};
use twinsync_store::{Db, QueueSettings, SqliteQueue, SqliteTwinStore};

fn message(n: usize) -> NewMessage {
    NewMessage {
        group_id: format!("twin-{n}"),
        dedup_id: format!("change-{n}"),
        body: format!("{{\"n\":{n}}}"),
    }
}

fn queue(db: &Db) -> SqliteQueue {
    SqliteQueue::new(
        db.clone(),
        Arc::new(ManualClock::new(0)),
        QueueSettings::default(),
    )
}

/// A node database in a folder of its own, which lives as long as the first value.
fn fresh() -> (tempfile::TempDir, PathBuf, Db) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let db = Db::open(&path).unwrap();
    (dir, path, db)
}

/// What another connection to the file sees: only what is committed.
fn committed_rows(path: &Path, table: &str) -> i64 {
    let other = rusqlite::Connection::open(path).unwrap();
    other
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn writes_side_by_side_share_a_commit_and_are_durable_when_they_return() {
    let (_dir, path, db) = fresh();
    let queue = queue(&db);
    let before = db.commits();
    let sends = (0..40).map(|n| queue.send("outgoing", message(n)));
    let outcomes = join_all(sends).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(SendOutcome::Enqueued)))
    );
    let commits = db.commits() - before;
    assert!(
        (1..40).contains(&commits),
        "40 sends side by side made {commits} commits"
    );
    assert_eq!(committed_rows(&path, "messages"), 40);
    // One at a time, each write is its own group.
    for n in 40..43 {
        queue.send("outgoing", message(n)).await.unwrap();
    }
    assert_eq!(db.commits() - before - commits, 3);
    assert_eq!(committed_rows(&path, "messages"), 43);
}

#[tokio::test]
async fn a_write_that_fails_leaves_nothing_and_its_group_stands() {
    let (_dir, path, db) = fresh();
    let twins = SqliteTwinStore::new(db.clone());
    let twin = |id: &str, key: &str| {
        let mut t = Twin::new(id.into(), "c".into(), 0);
        t.local_key = Some(key.into());
        t
    };
    let (first, taken, third) = (twin("1", "A-1"), twin("2", "A-1"), twin("3", "A-3"));
    let before = db.commits();
    let written = join_all([
        twins.insert(&first),
        twins.insert(&taken),
        twins.insert(&third),
    ])
    .await;
    assert!(written[0].is_ok() && written[2].is_ok(), "{written:?}");
    assert!(
        matches!(written[1], Err(PortError::Conflict(_))),
        "{written:?}"
    );
    assert_eq!(db.commits() - before, 1);
    let other = rusqlite::Connection::open(&path).unwrap();
    let ids: Vec<String> = other
        .prepare("SELECT id FROM twins ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, ["1", "3"]);
}

#[tokio::test]
async fn a_writer_dropped_before_its_commit_still_commits_its_group() {
    let (_dir, path, db) = fresh();
    let queue = queue(&db);
    // Polled once, the send begins its group and gives the others their turn; dropped
    // there, it must not leave the group open.
    assert!(queue.send("outgoing", message(1)).now_or_never().is_none());
    assert_eq!(committed_rows(&path, "messages"), 1);
    queue.send("outgoing", message(2)).await.unwrap();
    assert_eq!(committed_rows(&path, "messages"), 2);
}

#[tokio::test]
async fn a_writer_held_but_not_polled_does_not_hold_the_others() {
    let (_dir, path, db) = fresh();
    let queue = queue(&db);
    let mut held = Box::pin(queue.send("outgoing", message(1)));
    assert!((&mut held).now_or_never().is_none());
    // The next write joins the held writer's group and, after its wait, commits it.
    queue.send("outgoing", message(2)).await.unwrap();
    assert_eq!(committed_rows(&path, "messages"), 2);
    assert!(matches!(held.await, Ok(SendOutcome::Enqueued)));
}

#[tokio::test]
async fn a_read_of_writes_not_yet_committed_answers_once_they_are() {
    let (_dir, path, db) = fresh();
    let sends = queue(&db);
    let mut held = Box::pin(sends.send("outgoing", message(1)));
    assert!((&mut held).now_or_never().is_none());
    assert_eq!(committed_rows(&path, "messages"), 0);
    let waiting = sends.peek("outgoing", 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(committed_rows(&path, "messages"), 1);
    drop(held);
}
