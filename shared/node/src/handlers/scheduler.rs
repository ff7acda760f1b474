//! scheduler: polling triggers, SynchronizationPlans, resume of reactivated connections
//! and clean-up. On AWS an EventBridge schedule calls [`tick`] every minute; the local
//! runner calls it every second.

use super::polling::{Arrivals, poll_if_due};
use crate::{Node, NodeResult, bulk};
use twinsync_core::{Connection, ConnectionStatus};
use twinsync_ports::queues;

pub use super::arrival::Arrival;
pub use super::polling::{
    PollIntervals, Polling, Refusals, SinceStart, TWINS_SWEEP, TWINS_SWEEP_MARGIN_MS, last_poll_ms,
    poll, poll_due,
};
pub use crate::pause::{
    HELD_QUEUE_KEPT_MS, HELD_QUEUE_SWEEP_MS, REREAD_AFTER_PAUSE_MS, after_pause,
    held_queue_watched, paused_key, resume,
};

/// What one tick did, for logs and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub polled_changes: usize,
    pub plan_runs: usize,
    pub resumed_messages: usize,
    pub purged: u64,
    /// Drained held queues deleted (SQS; held queues exist only while needed).
    pub removed_queues: usize,
}

/// After a rotation's grace period the old secret is dropped from the store, not only
/// ignored: a later leak of the store does not reveal it.
async fn forget_expired_secret(
    node: &Node,
    connection: &twinsync_core::Connection,
    now: i64,
) -> NodeResult<Forgot> {
    let mut updated = connection.clone();
    if let Some(link) = updated.link.as_mut()
        && link.forget_expired_secret(now)
    {
        node.connections.update(&updated).await?;
        return Ok(Forgot::Yes);
    }
    Ok(Forgot::Nothing)
}

enum Forgot {
    Yes,
    Nothing,
}

/// Runs everything that is due. Errors of one connection do not stop the others.
pub async fn tick(node: &Node, polling: &Polling) -> NodeResult<TickReport> {
    let mut report = TickReport::default();
    let now = node.now_ms();
    let mut arrivals = Arrivals::default();
    let connections = node.connections.list().await?;
    for connection in &connections {
        if !ticked(connection) {
            continue;
        }
        // The rest waits for the next tick: the connection's revision has moved.
        match forget_expired_secret(node, connection, now).await {
            Ok(Forgot::Yes) => continue,
            Ok(Forgot::Nothing) => {}
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "forgetting the old secret failed")
            }
        }
        match run_due_plans(node, connection, now).await {
            Ok(n) => report.plan_runs += n,
            Err(e) => tracing::warn!(connection = %connection.id, error = %e, "plan run failed"),
        }
        if connection.status == ConnectionStatus::Active && held_queue_watched(connection, now) {
            match resume(node, connection).await {
                Ok(n) => report.resumed_messages += n,
                Err(e) => tracing::warn!(connection = %connection.id, error = %e, "resume failed"),
            }
            match after_pause(node, connection).await {
                Ok(n) => report.resumed_messages += n,
                Err(e) => {
                    tracing::warn!(connection = %connection.id, error = %e, "re-reading after a pause failed")
                }
            }
            // Long after the resume no instance can still be sending to the held queue.
            if now - connection.updated_ms > HELD_QUEUE_KEPT_MS {
                match node
                    .queue
                    .remove_if_empty(&queues::held(&connection.id))
                    .await
                {
                    Ok(true) => report.removed_queues += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(connection = %connection.id, error = %e, "removing the drained held queue failed")
                    }
                }
            }
        }
        report.polled_changes += poll_if_due(node, connection, polling, &mut arrivals, now).await?;
    }
    // A route an older build left behind (a deploy's minutes) heals within a tick.
    match node.connections.check_routes(&connections).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(routes = n, "connection routes put right"),
        Err(e) => tracing::warn!(error = %e, "checking the connection routes failed"),
    }
    refresh_webhooks(node, now).await;
    report.purged = node.connections.purge_expired(now).await?;
    Ok(report)
}

/// Refreshes the webhooks registered at start-up where they expire, when due.
async fn refresh_webhooks(node: &Node, now: i64) {
    for (instance, tracker) in &node.trackers {
        let Ok(Some(hook)) = node
            .connections
            .get_meta(&format!("webhook:{instance}"))
            .await
        else {
            continue;
        };
        let due_key = format!("webhook-refresh:{instance}");
        let due = node
            .connections
            .get_meta(&due_key)
            .await
            .ok()
            .flatten()
            .and_then(|v| v.parse::<i64>().ok());
        if due.is_some_and(|d| d > now) {
            continue;
        }
        match tracker.refresh_webhook(&hook, now).await {
            Ok(Some(next)) => {
                if due.is_some() {
                    tracing::info!(%instance, %hook, "webhook refreshed");
                }
                let _ = node.connections.set_meta(&due_key, &next.to_string()).await;
            }
            // Webhooks that do not expire: look again in a day, in case that changes.
            Ok(None) => {
                let _ = node
                    .connections
                    .set_meta(&due_key, &(now + 86_400_000).to_string())
                    .await;
            }
            Err(e) => {
                tracing::warn!(%instance, error = %e, "webhook refresh failed; retried in a minute");
                let _ = node
                    .connections
                    .set_meta(&due_key, &(now + 60_000).to_string())
                    .await;
            }
        }
    }
}

/// Parses a plan's cron pattern (seconds optional).
pub fn parse_cron(pattern: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(pattern)
        .map_err(|e| format!("invalid cron pattern {pattern:?}: {e}"))
}

/// The plan's next occurrence after `after_ms`.
fn next_run(cron: &croner::Cron, after_ms: i64) -> Option<i64> {
    let after = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(after_ms)?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Runs the SynchronizationPlans that are due: each queues a Synchronization of every
/// item the triggers match; unchanged items are suppressed by the outgoing handler.
pub async fn run_due_plans(node: &Node, connection: &Connection, now: i64) -> NodeResult<usize> {
    let mut runs = 0;
    for plan in connection.plans().iter().filter(|p| p.active) {
        let key = format!("plan:{}:{}", connection.id, plan.id);
        let last = node
            .connections
            .get_meta(&key)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        let Some(last) = last else {
            // First sight: the plan runs at its next occurrence, not at start-up.
            node.connections.set_meta(&key, &now.to_string()).await?;
            continue;
        };
        let cron = match parse_cron(&plan.cron) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(plan = %plan.id, error = %e, "plan skipped");
                continue;
            }
        };
        if next_run(&cron, last).is_some_and(|next| next <= now) {
            let queued = bulk::bulk_exalate(node, &connection.id).await?;
            node.connections.set_meta(&key, &now.to_string()).await?;
            node.event(
                &connection.id,
                None,
                twinsync_core::SyncEventKind::Operation,
                format!("plan {} ({}) queued {queued} items", plan.id, plan.cron),
            )
            .await;
            runs += 1;
        }
    }
    Ok(runs)
}

/// Whether [`tick`] runs for `connection` (its plans, resume and poll): every connection
/// but one still waiting for its invitation to be accepted.
fn ticked(connection: &Connection) -> bool {
    connection.status != ConnectionStatus::Pending
}

/// Whether every webhook the node refused over its limit has been brought in by a poll
/// since: each live connection the tick polls has completed a poll begun after the last
/// refusal.
pub async fn refusals_polled(node: &Node) -> NodeResult<bool> {
    if node.ingest_gate.refused() == 0 {
        return Ok(true);
    }
    let polling: Vec<String> = node
        .connections
        .list()
        .await?
        .into_iter()
        .filter(ticked)
        .filter(|c| c.active_version().is_some_and(|v| v.live))
        .map(|c| c.id)
        .collect();
    Ok(node.ingest_gate.covered_by(&polling))
}
