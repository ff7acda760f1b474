//! Polling: each active trigger's query since its cursor, and the sweep of items already
//! under sync. Where a tracker's webhook brings the changes, polling only catches what a
//! lost webhook would hide, so it runs far less often ([`PollIntervals`]).

use crate::handlers::arrival::Arrival;
use crate::handlers::ingest::queue_changes;
use crate::{Node, NodeResult};
use std::collections::HashMap;
use std::sync::Mutex;
use twinsync_core::Connection;
use twinsync_ports::{ChangeSignal, PollCursor, TwinOrder, TwinQuery};

/// How often a connection is polled, by how its changes arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollIntervals {
    /// Polling is how changes arrive.
    pub polls_ms: i64,
    /// Webhooks bring the changes; polling catches a lost one.
    pub webhooks_ms: i64,
}

impl PollIntervals {
    /// The same interval whichever way changes arrive.
    pub fn every(ms: i64) -> Self {
        Self {
            polls_ms: ms,
            webhooks_ms: ms,
        }
    }
}

/// What this process's polls of a connection have done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinceStart {
    NotPolled,
    /// Its last poll failed: the tracker may be down, so it is not asked every tick.
    PollFailed,
    Polled,
}

/// Whether webhooks the node refused over its limit are still to be brought in by a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusals {
    Covered,
    Waiting,
}

impl Refusals {
    /// Whether a poll of `connection` has covered every refusal so far.
    pub fn of(node: &Node, connection: &Connection) -> Refusals {
        if node
            .ingest_gate
            .covered_by(std::slice::from_ref(&connection.id))
        {
            Refusals::Covered
        } else {
            Refusals::Waiting
        }
    }
}

/// Whether a connection's poll is due, `since_last_ms` after its last one began.
///
/// A connection fed by webhooks is polled on the long interval, after a first poll as
/// soon as a process starts: webhooks sent while no process listened are lost. Until
/// that poll has succeeded, and while webhooks refused over the node's limit wait for a
/// poll to bring their changes, the short interval holds.
pub fn poll_due(
    arrival: Arrival,
    since_start: SinceStart,
    refusals: Refusals,
    since_last_ms: i64,
    intervals: PollIntervals,
) -> bool {
    let interval = match (arrival, since_start, refusals) {
        (Arrival::Polls, _, _) => intervals.polls_ms,
        (Arrival::Webhooks, SinceStart::NotPolled, _) => return true,
        (Arrival::Webhooks, SinceStart::PollFailed, _)
        | (Arrival::Webhooks, SinceStart::Polled, Refusals::Waiting) => intervals.polls_ms,
        (Arrival::Webhooks, SinceStart::Polled, Refusals::Covered) => intervals.webhooks_ms,
    };
    since_last_ms >= interval
}

/// The scheduler's polling state for one process: its intervals, and how its polls of
/// each connection went.
#[derive(Debug)]
pub struct Polling {
    pub intervals: PollIntervals,
    outcomes: Mutex<HashMap<String, SinceStart>>,
}

impl Polling {
    pub fn new(intervals: PollIntervals) -> Self {
        Self {
            intervals,
            outcomes: Mutex::new(HashMap::new()),
        }
    }

    fn since_start(&self, connection_id: &str) -> SinceStart {
        self.outcomes
            .lock()
            .ok()
            .and_then(|o| o.get(connection_id).copied())
            .unwrap_or(SinceStart::NotPolled)
    }

    fn record(&self, connection_id: &str, outcome: SinceStart) {
        if let Ok(mut outcomes) = self.outcomes.lock() {
            outcomes.insert(connection_id.to_string(), outcome);
        }
    }
}

/// Each instance's [`Arrival`] as one tick read it: connections on the same instance
/// share the read.
#[derive(Default)]
pub(crate) struct Arrivals(HashMap<String, Arrival>);

impl Arrivals {
    async fn of(&mut self, node: &Node, instance: &str) -> NodeResult<Arrival> {
        if let Some(arrival) = self.0.get(instance) {
            return Ok(*arrival);
        }
        let arrival = Arrival::of(node, instance).await?;
        self.0.insert(instance.to_string(), arrival);
        Ok(arrival)
    }
}

/// Polls `connection` if its poll is due ([`poll_due`]); returns the changes it queued.
pub(crate) async fn poll_if_due(
    node: &Node,
    connection: &Connection,
    polling: &Polling,
    arrivals: &mut Arrivals,
    now: i64,
) -> NodeResult<usize> {
    let last = last_poll_ms(node, &connection.id).await?.unwrap_or(0);
    let arrival = arrivals.of(node, &connection.local_instance).await?;
    let refusals = Refusals::of(node, connection);
    let since_start = polling.since_start(&connection.id);
    if !poll_due(
        arrival,
        since_start,
        refusals,
        now - last,
        polling.intervals,
    ) {
        return Ok(0);
    }
    let mark = node.ingest_gate.refused();
    let queued = match poll(node, connection).await {
        Ok(n) => {
            node.ingest_gate.poll_covers(&connection.id, mark);
            polling.record(&connection.id, SinceStart::Polled);
            n
        }
        Err(e) => {
            tracing::warn!(connection = %connection.id, error = %e, "poll failed");
            polling.record(&connection.id, SinceStart::PollFailed);
            0
        }
    };
    record_poll(node, &connection.id, now).await?;
    Ok(queued)
}

/// When the last poll of `connection_id` began (by any process), if there was one.
pub async fn last_poll_ms(node: &Node, connection_id: &str) -> NodeResult<Option<i64>> {
    Ok(node
        .connections
        .get_meta(&last_poll_key(connection_id))
        .await?
        .and_then(|v| v.parse::<i64>().ok()))
}

async fn record_poll(node: &Node, connection_id: &str, began_ms: i64) -> NodeResult<()> {
    node.connections
        .set_meta(&last_poll_key(connection_id), &began_ms.to_string())
        .await?;
    Ok(())
}

fn last_poll_key(connection_id: &str) -> String {
    format!("poll:{connection_id}")
}

/// The cursor id of the sweep that polls items already under sync.
pub const TWINS_SWEEP: &str = "__twins";

/// How far before the oldest twin the sweep of twins starts on its first poll.
pub const TWINS_SWEEP_MARGIN_MS: i64 = 5 * 60_000;

/// Where the sweep of twins starts on its first poll: no twin changed before the oldest
/// one existed (less a margin for the tracker's clock). From the beginning of time, it
/// read every item of a shared tracker one by one (134 Redmine issues, 30 s, while the
/// trigger polls waited).
async fn first_sweep_since(node: &Node, connection_id: &str) -> NodeResult<i64> {
    let oldest = node
        .twins
        .list(&TwinQuery {
            connection_id: Some(connection_id.to_string()),
            order: TwinOrder::Oldest,
            limit: 1,
            ..TwinQuery::default()
        })
        .await?;
    let now = node.now_ms();
    let from = oldest.first().map_or(now, |t| t.created_ms.min(now));
    Ok(from - TWINS_SWEEP_MARGIN_MS)
}

/// Polls each active trigger since its cursor, and sweeps items already under sync.
pub async fn poll(node: &Node, connection: &Connection) -> NodeResult<usize> {
    // Without live sync, only plans, bulk jobs and operations bring changes.
    if !connection.active_version().is_some_and(|v| v.live) {
        return Ok(0);
    }
    let mut queued = 0;
    for trigger in connection.triggers().iter().filter(|t| t.active) {
        queued += poll_query(node, connection, &trigger.id, &trigger.query, false).await?;
    }
    queued += poll_query(node, connection, TWINS_SWEEP, "", true).await?;
    Ok(queued)
}

async fn poll_query(
    node: &Node,
    connection: &Connection,
    cursor_id: &str,
    query: &str,
    only_twins: bool,
) -> NodeResult<usize> {
    let tracker = node.tracker(&connection.local_instance)?;
    let cursor = match node.connections.cursor(&connection.id, cursor_id).await? {
        Some(c) => c,
        None if only_twins => PollCursor {
            since_ms: first_sweep_since(node, &connection.id).await?,
            seen: Vec::new(),
        },
        None => PollCursor::default(),
    };
    let mut next = cursor.clone();
    let mut page = None;
    let mut signals = Vec::new();
    loop {
        let result = tracker.search_updated(query, cursor.since_ms, page).await?;
        for item in result.items {
            let seen = (item.key.clone(), item.version);
            if item.updated_ms > next.since_ms {
                next.since_ms = item.updated_ms;
                next.seen.clear();
            }
            if item.updated_ms == next.since_ms && !next.seen.contains(&seen) {
                next.seen.push(seen.clone());
            }
            if item.updated_ms == cursor.since_ms && cursor.seen.contains(&seen) {
                continue;
            }
            if only_twins
                && node
                    .twins
                    .find_by_local(&connection.id, &item.key)
                    .await?
                    .is_none()
            {
                continue;
            }
            tracing::debug!(item = %item.key, version = item.version, updated_ms = item.updated_ms, "poll found a change");
            signals.push(ChangeSignal {
                delivery_id: format!("poll:{}:{}", item.key, item.version),
                item_key: item.key,
                project: item.project,
                version: item.version,
                origin: item.origin,
            });
        }
        match result.next {
            Some(token) => page = Some(token),
            None => break,
        }
    }
    let queued = if signals.is_empty() {
        0
    } else {
        queue_changes(node, connection, &signals, false).await?
    };
    // The cursor moves only after the changes are queued: a crash re-polls, never skips.
    if next != cursor {
        node.connections
            .set_cursor(&connection.id, cursor_id, &PollCursor { ..next })
            .await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_is_due_by_how_changes_arrive() {
        use Arrival::{Polls, Webhooks};
        use Refusals::{Covered, Waiting};
        use SinceStart::{NotPolled, PollFailed, Polled};
        let intervals = PollIntervals {
            polls_ms: 10_000,
            webhooks_ms: 300_000,
        };
        // (arrival, since start, refusals, since the last poll began, due)
        let cases = [
            // Polling is how changes arrive: the short interval, whatever else.
            (Polls, NotPolled, Covered, 0, false),
            (Polls, Polled, Covered, 9_999, false),
            (Polls, Polled, Covered, 10_000, true),
            (Polls, PollFailed, Waiting, 10_000, true),
            // Webhooks: at once on a process's first tick, then the long interval.
            (Webhooks, NotPolled, Covered, 0, true),
            (Webhooks, Polled, Covered, 10_000, false),
            (Webhooks, Polled, Covered, 299_999, false),
            (Webhooks, Polled, Covered, 300_000, true),
            // A failed first poll is tried again on the short interval, not every tick.
            (Webhooks, PollFailed, Covered, 1_000, false),
            (Webhooks, PollFailed, Covered, 10_000, true),
            // Refused webhooks wait for a poll: the short interval.
            (Webhooks, Polled, Waiting, 9_999, false),
            (Webhooks, Polled, Waiting, 10_000, true),
        ];
        for (arrival, since_start, refusals, since_last, due) in cases {
            assert_eq!(
                poll_due(arrival, since_start, refusals, since_last, intervals),
                due,
                "{arrival:?}, {since_start:?}, {refusals:?}, {since_last} ms"
            );
        }
    }

    #[test]
    fn a_process_remembers_how_its_polls_went() {
        let polling = Polling::new(PollIntervals::every(1_000));
        assert_eq!(polling.since_start("c"), SinceStart::NotPolled);
        polling.record("c", SinceStart::PollFailed);
        assert_eq!(polling.since_start("c"), SinceStart::PollFailed);
        polling.record("c", SinceStart::Polled);
        assert_eq!(polling.since_start("c"), SinceStart::Polled);
        assert_eq!(polling.since_start("d"), SinceStart::NotPolled);
    }
}
