//! The queue's SQS FIFO semantics, checked against a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use twinsync_core::Clock;
use twinsync_core::ManualClock;
use twinsync_ports::{NewMessage, PortError, Queue, QueueMessage, SendOutcome, queues};
use twinsync_store::{Db, QueueSettings, SqliteQueue};

/// Unhandled messages go to the dead-letter queue a minute after their first receive.
const DEAD_LETTER_AFTER_MS: i64 = 60_000;

fn queue(clock: &ManualClock) -> SqliteQueue {
    SqliteQueue::new(
        Db::open_in_memory().unwrap(),
        Arc::new(clock.clone()),
        QueueSettings {
            dead_letter_after_ms: DEAD_LETTER_AFTER_MS,
            ..QueueSettings::default()
        },
    )
}

fn msg(group: &str, body: &str) -> NewMessage {
    NewMessage {
        group_id: group.into(),
        dedup_id: format!("{group}:{body}"),
        body: body.into(),
    }
}

async fn bodies(q: &SqliteQueue, max: usize) -> Vec<String> {
    q.receive("q", max, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn groups_deliver_in_order_and_lock_while_in_flight() {
    let clock = ManualClock::new(1_000);
    let q = queue(&clock);
    for (g, b) in [
        ("a", "a1"),
        ("b", "b1"),
        ("a", "a2"),
        ("a", "a3"),
        ("b", "b2"),
    ] {
        q.send("q", msg(g, b)).await.unwrap();
    }
    // Groups by their head, messages of a group in order.
    assert_eq!(bodies(&q, 2).await, vec!["a1", "a2"]);
    // Group a is locked while a1 and a2 are in flight; b goes on.
    assert_eq!(bodies(&q, 10).await, vec!["b1", "b2"]);
    assert!(bodies(&q, 10).await.is_empty());
    // After the visibility timeout both come back, in order, a3 still behind them.
    clock.advance_ms(1_001);
    let again = q.receive("q", 10, 1_000).await.unwrap();
    let got: Vec<(&str, u32)> = again
        .iter()
        .map(|m| (m.body.as_str(), m.receive_count))
        .collect();
    assert_eq!(
        got,
        vec![("a1", 2), ("a2", 2), ("a3", 1), ("b1", 2), ("b2", 2)]
    );
}

#[tokio::test]
async fn delete_needs_the_latest_receipt() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    q.send("q", msg("g", "m")).await.unwrap();
    let first = q.receive("q", 1, 100).await.unwrap().remove(0);
    clock.advance_ms(101);
    let second = q.receive("q", 1, 100).await.unwrap().remove(0);
    assert_ne!(first.receipt, second.receipt);
    assert!(matches!(
        q.delete("q", &first.receipt).await,
        Err(PortError::Rejected(_))
    ));
    q.delete("q", &second.receipt).await.unwrap();
    assert_eq!(q.depth("q").await.unwrap().total(), 0);
}

/// A batch's messages leave together; a stale receipt among them fails alone, and a
/// group whose head left gives its next message.
#[tokio::test]
async fn a_batch_delete_settles_each_receipt() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    for (g, b) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1")] {
        q.send("q", msg(g, b)).await.unwrap();
    }
    let batch = q.receive("q", 10, 100).await.unwrap();
    let bodies_of = |ms: &[QueueMessage]| ms.iter().map(|m| m.body.clone()).collect::<Vec<_>>();
    assert_eq!(bodies_of(&batch), vec!["a1", "a2", "b1", "c1"]);
    let receipts: Vec<String> = [&batch[0], &batch[2]]
        .iter()
        .map(|m| m.receipt.clone())
        .chain(["stale".to_string()])
        .collect();
    let results = q.delete_batch("q", &receipts).await;
    assert!(matches!(
        results.as_slice(),
        [Ok(()), Ok(()), Err(PortError::Rejected(_))]
    ));
    assert!(q.delete_batch("q", &[]).await.is_empty());
    // a2 and c1 are still in flight; after their timeout they come back, a2 first.
    assert!(bodies(&q, 10).await.is_empty());
    clock.advance_ms(101);
    assert_eq!(bodies(&q, 10).await, vec!["a2", "c1"]);
    assert_eq!(q.depth("q").await.unwrap().total(), 2);
}

#[tokio::test]
async fn change_visibility_delays_the_group_and_zero_releases_it() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    q.send("q", msg("g", "1")).await.unwrap();
    q.send("q", msg("g", "2")).await.unwrap();
    let m = q.receive("q", 1, 30_000).await.unwrap().remove(0);
    q.change_visibility("q", &m.receipt, 5_000).await.unwrap();
    let d = q.depth("q").await.unwrap();
    assert_eq!((d.visible, d.in_flight, d.delayed), (1, 0, 1));
    // The head is delayed, so "2" must wait too: order per group holds across retries.
    assert!(bodies(&q, 10).await.is_empty());
    clock.advance_ms(5_000);
    let m = q.receive("q", 1, 30_000).await.unwrap().remove(0);
    assert_eq!(m.body, "1");
    q.change_visibility("q", &m.receipt, 0).await.unwrap();
    assert_eq!(bodies(&q, 10).await, vec!["1", "2"]);
}

#[tokio::test]
async fn dedup_window() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    let table = [
        (0, SendOutcome::Enqueued),
        (1_000, SendOutcome::Duplicate),
        (299_999, SendOutcome::Duplicate),
        (300_000, SendOutcome::Enqueued),
    ];
    for (at, want) in table {
        clock.set_ms(at);
        assert_eq!(
            q.send("q", msg("g", "same")).await.unwrap(),
            want,
            "at {at}"
        );
    }
    // A deleted message still counts for the window.
    let m = q.receive("q", 1, 10).await.unwrap().remove(0);
    q.delete("q", &m.receipt).await.unwrap();
    assert_eq!(
        q.send("q", msg("g", "same")).await.unwrap(),
        SendOutcome::Duplicate
    );
}

/// The queue's own dead-letter move counts time since the first receive, not receives:
/// however often a message comes back within the time, it stays; past it, it goes to the
/// dead-letter queue and its group goes on.
#[tokio::test]
async fn dead_letter_after_the_time_not_the_receives() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    q.send("q", msg("g", "poison")).await.unwrap();
    q.send("q", msg("g", "next")).await.unwrap();
    // A receive every 100 ms: 600 receives within the minute are fine.
    for (n, at) in (0..DEAD_LETTER_AFTER_MS).step_by(100).enumerate() {
        clock.set_ms(at);
        let got = q.receive("q", 1, 0).await.unwrap();
        assert_eq!(got[0].body, "poison", "at {at} ms");
        assert_eq!(got[0].receive_count as usize, n + 1);
        assert_eq!(got[0].first_receive_ms, 0);
    }
    clock.set_ms(DEAD_LETTER_AFTER_MS);
    assert_eq!(bodies(&q, 10).await, vec!["next"]);
    let dlq = queues::dlq("q");
    let dead = q.receive(&dlq, 10, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert!(q.queue_names().await.unwrap().contains(&dlq));
}

/// A message told to wait (rate limits, a busy twin) is not a poison message: however
/// often it is postponed, it stays in its queue, and the wait is kept.
#[tokio::test]
async fn postponed_receives_do_not_count_towards_the_dead_letter_limit() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    q.send("q", msg("g", "throttled")).await.unwrap();
    for _ in 0..20 {
        let got = q.receive("q", 1, 10).await.unwrap();
        assert_eq!(got[0].body, "throttled");
        q.postpone("q", &got[0].receipt, 5).await.unwrap();
        assert!(
            q.receive("q", 1, 10).await.unwrap().is_empty(),
            "waits 5 ms"
        );
        clock.advance_ms(5);
    }
    // Twenty waits took as long as the dead-letter time, yet a wait is no failure: the
    // message's time starts at this receive.
    let got = q.receive("q", 1, 10).await.unwrap();
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(got[0].first_receive_ms, clock.now_ms());
    assert!(
        q.receive(&queues::dlq("q"), 10, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Redrive moves the dead-lettered messages a filter picks back to the end of their
/// queue, in order and in their groups, with a fresh receive count and time, marked as
/// redriven; the others stay dead-lettered.
#[tokio::test]
async fn redrive_moves_the_picked_messages_back_in_order() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    let dlq = queues::dlq("q");
    for (g, b) in [
        ("c1:A", "c1-a1"),
        ("c2:B", "c2-b1"),
        ("c1:A", "c1-a2"),
        ("c1:C", "c1-c1"),
    ] {
        q.send(&dlq, msg(g, b)).await.unwrap();
    }
    // A message sent to the group since it was dead-lettered: the redriven ones follow it.
    q.send("q", msg("c1:A", "newer")).await.unwrap();
    let pick_c1 = |m: &QueueMessage| m.body.starts_with("c1-");
    assert_eq!(q.redrive("q", &pick_c1).await.unwrap(), 3);
    clock.advance_ms(5);
    let got = q.receive("q", 10, 1_000).await.unwrap();
    let seen: Vec<(&str, u32, bool)> = got
        .iter()
        .map(|m| (m.body.as_str(), m.receive_count, m.redriven))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("newer", 1, false),
            ("c1-a1", 1, true),
            ("c1-a2", 1, true),
            ("c1-c1", 1, true)
        ]
    );
    assert!(got.iter().all(|m| m.first_receive_ms == 5));
    // The dedup window does not drop a redriven message, and redriving again moves nothing.
    assert_eq!(q.redrive("q", &pick_c1).await.unwrap(), 0);
    let left = q.receive(&dlq, 10, 1_000).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["c2-b1"]
    );
}

/// A database made by schema version 1 (count-based dead letters) opens with this build:
/// it is migrated, and its messages (in flight, waiting, dead-lettered) are all kept.
#[tokio::test]
async fn a_version_1_database_is_migrated_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/store/schema-v1.sql");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&std::fs::read_to_string(fixture).unwrap())
            .unwrap();
    }
    let clock = ManualClock::new(4_000);
    let q = SqliteQueue::new(
        Db::open(&path).unwrap(),
        Arc::new(clock.clone()),
        QueueSettings::default(),
    );
    assert!(
        q.receive("outgoing", 10, 1_000).await.unwrap().is_empty(),
        "the first message is still in flight"
    );
    clock.set_ms(5_000);
    let got = q.receive("outgoing", 10, 1_000).await.unwrap();
    let seen: Vec<(&str, u32, i64)> = got
        .iter()
        .map(|m| (m.body.as_str(), m.receive_count, m.first_receive_ms))
        .collect();
    assert_eq!(seen, vec![("first", 4, 5_000), ("second", 1, 5_000)]);
    assert_eq!(
        q.redrive("outgoing", &|_: &QueueMessage| true)
            .await
            .unwrap(),
        1
    );
    // Opening it again finds it at the current version: nothing to migrate twice.
    drop(q);
    let again = Db::open(&path).unwrap();
    drop(again);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 7);
}

#[tokio::test]
async fn batch_send_keeps_order_and_purge_group_drops_a_group() {
    let clock = ManualClock::new(0);
    let q = queue(&clock);
    q.send_batch("q", (0..5).map(|i| msg("g", &i.to_string())).collect())
        .await
        .unwrap();
    q.send("q", msg("h", "other")).await.unwrap();
    assert_eq!(q.purge_group("q", "h").await.unwrap(), 1);
    assert_eq!(bodies(&q, 10).await, vec!["0", "1", "2", "3", "4"]);
}

#[tokio::test]
async fn messages_and_in_flight_state_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = ManualClock::new(0);
    {
        let q = SqliteQueue::new(
            Db::open(&path).unwrap(),
            Arc::new(clock.clone()),
            QueueSettings::default(),
        );
        q.send("q", msg("g", "1")).await.unwrap();
        q.send("q", msg("g", "2")).await.unwrap();
        q.receive("q", 1, 1_000).await.unwrap();
    }
    let q = SqliteQueue::new(
        Db::open(&path).unwrap(),
        Arc::new(clock.clone()),
        QueueSettings::default(),
    );
    assert!(
        q.receive("q", 10, 1_000).await.unwrap().is_empty(),
        "still in flight"
    );
    clock.advance_ms(1_000);
    let got = q.receive("q", 10, 1_000).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|m| (m.body.as_str(), m.receive_count))
            .collect::<Vec<_>>(),
        vec![("1", 2), ("2", 1)]
    );
}

/// Consumers wait on the queue instead of polling it: a send through any handle on the
/// database wakes them, a send made between reading the activity and waiting is not slept
/// through, a delayed message wakes them when it is due, and an idle queue lets them sleep
/// the whole wait. The long limits only bound a failure; a pass never waits for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_wake_on_work_not_on_a_timer() {
    use twinsync_ports::Wait;
    let db = Db::open_in_memory().unwrap();
    let clock: Arc<dyn twinsync_core::Clock> = Arc::new(twinsync_core::SystemClock);
    let consumer = SqliteQueue::new(db.clone(), clock.clone(), QueueSettings::default());
    let producer = Arc::new(SqliteQueue::new(db, clock, QueueSettings::default()));

    // Nothing to do: the whole (short) wait is slept.
    let seen = consumer.activity("q");
    assert_eq!(consumer.wait_for_work("q", seen, 20).await, Wait::TimedOut);

    // A send from another task, through another handle, ends a long wait.
    let seen = consumer.activity("q");
    let sender = producer.clone();
    let send = tokio::spawn(async move {
        tokio::task::yield_now().await;
        sender.send("q", msg("g", "woken")).await.unwrap();
    });
    assert_eq!(consumer.wait_for_work("q", seen, 60_000).await, Wait::Woken);
    send.await.unwrap();
    let got = consumer.receive("q", 10, 30_000).await.unwrap();
    assert_eq!(got[0].body, "woken");

    // A send between reading the activity and waiting returns at once.
    let seen = consumer.activity("q");
    producer.send("q", msg("h", "early")).await.unwrap();
    assert_eq!(consumer.wait_for_work("q", seen, 60_000).await, Wait::Woken);

    // Another queue's sends do not wake this one's consumers.
    let seen = consumer.activity("other");
    assert_eq!(
        consumer.wait_for_work("other", seen, 20).await,
        Wait::TimedOut
    );

    // A message given back with a delay wakes the consumer when it is due.
    consumer.delete("q", &got[0].receipt).await.unwrap();
    let early = consumer.receive("q", 10, 30_000).await.unwrap();
    consumer.postpone("q", &early[0].receipt, 30).await.unwrap();
    let seen = consumer.activity("q");
    assert_eq!(consumer.wait_for_work("q", seen, 60_000).await, Wait::Woken);
    assert_eq!(bodies(&consumer, 10).await, ["early"]);
}
