//! Operator actions of the seeds: Sync, Bulk Exalate / Bulk Sync, Bulk Connect / Relink,
//! Unlink, Unexalate, Force Unlink, Clean-up, versions, Test Run, activate / deactivate;
//! and Redrive, which sends a connection's dead-lettered messages back to their queues.

use crate::bulk::{all_twins, signal};
pub use crate::bulk::{bulk_exalate, bulk_sync, sync};
pub use crate::dead_letters::redrive;
use crate::handlers::scheduler::parse_cron;
use crate::handlers::{annotate, ingest::queue_changes, transport};
use crate::{Node, NodeError, NodeResult, pause};
use serde::Serialize;
use twinsync_core::{ConfigVersion, ConnectionStatus, Item, SyncEventKind, Twin, TwinStatus};
use twinsync_ports::{PortError, queues};
use twinsync_rules::{IncomingContext, Limits, RuleSet};

/// Relink: pairs an existing local item with an existing remote item, then syncs them.
/// Bulk Connect is Relink over a list of pairs.
pub async fn relink(
    node: &Node,
    connection_id: &str,
    local_key: &str,
    remote_key: &str,
) -> NodeResult<Twin> {
    let connection = node.connection(connection_id).await?;
    let tracker = node.tracker(&connection.local_instance)?;
    if tracker.get_item(local_key).await?.is_none() {
        return Err(NodeError::Operation(format!(
            "local item {local_key} does not exist"
        )));
    }
    let mut twin = Twin::new(
        uuid::Uuid::now_v7().to_string(),
        connection.id.clone(),
        node.now_ms(),
    );
    twin.local_key = Some(local_key.to_string());
    twin.remote_key = Some(remote_key.to_string());
    match node.twins.insert(&twin).await {
        Ok(()) => {}
        Err(PortError::Conflict(_)) => {
            return Err(NodeError::Operation(format!(
                "{local_key} or {remote_key} is already linked on connection {connection_id}"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    node.event(
        &connection.id,
        Some(&twin.id),
        SyncEventKind::Operation,
        format!("relinked {local_key} <-> {remote_key}"),
    )
    .await;
    queue_changes(node, &connection, &[signal(local_key, 0, "relink")], true).await?;
    Ok(twin)
}

pub async fn bulk_connect(
    node: &Node,
    connection_id: &str,
    pairs: &[(String, String)],
) -> NodeResult<Vec<Result<Twin, String>>> {
    let mut out = Vec::with_capacity(pairs.len());
    for (local, remote) in pairs {
        out.push(
            relink(node, connection_id, local, remote)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    Ok(out)
}

async fn twin_of(node: &Node, connection_id: &str, local_key: &str) -> NodeResult<Twin> {
    node.twins
        .find_by_local(connection_id, local_key)
        .await?
        .ok_or_else(|| {
            NodeError::Operation(format!("{local_key} is not under sync on {connection_id}"))
        })
}

/// Unlink: the twin stays on record as unlinked; no further updates flow either way.
pub async fn unlink(node: &Node, connection_id: &str, local_key: &str) -> NodeResult<Twin> {
    let mut twin = twin_of(node, connection_id, local_key).await?;
    twin.status = TwinStatus::Unlinked;
    twin.updated_ms = node.now_ms();
    let twin = node.twins.update(&twin).await?;
    node.event(
        connection_id,
        Some(&twin.id),
        SyncEventKind::Operation,
        format!("unlinked {local_key}"),
    )
    .await;
    crate::sync_mark::show(node, &twin).await;
    Ok(twin)
}

/// Unexalate: stops syncing the item and forgets the twin, so a trigger may pick it up again.
pub async fn unexalate(node: &Node, connection_id: &str, local_key: &str) -> NodeResult<()> {
    let twin = twin_of(node, connection_id, local_key).await?;
    node.twins.delete(&twin.id).await?;
    node.event(
        connection_id,
        None,
        SyncEventKind::Operation,
        format!("unexalated {local_key}"),
    )
    .await;
    Ok(())
}

/// Force Unlink: forgets the twin and drops its pending messages from every queue.
pub async fn force_unlink(node: &Node, connection_id: &str, local_key: &str) -> NodeResult<u64> {
    let twin = twin_of(node, connection_id, local_key).await?;
    let group = format!("{connection_id}:{local_key}");
    let mut dropped = 0;
    for queue in [
        queues::OUTGOING.to_string(),
        queues::TRANSPORT.to_string(),
        queues::held(connection_id),
    ] {
        dropped += node.queue.purge_group(&queue, &group).await?;
    }
    if let Some(remote) = &twin.remote_key {
        let group = format!("{connection_id}:{remote}");
        dropped += node.queue.purge_group(queues::INCOMING, &group).await?;
    }
    node.twins.delete(&twin.id).await?;
    node.event(
        connection_id,
        None,
        SyncEventKind::Operation,
        format!("force-unlinked {local_key}; {dropped} pending messages dropped"),
    )
    .await;
    Ok(dropped)
}

/// Clean-up: removes unlinked twins and twins whose local item no longer exists.
pub async fn clean_up(node: &Node, connection_id: &str) -> NodeResult<usize> {
    let connection = node.connection(connection_id).await?;
    let tracker = node.tracker(&connection.local_instance)?;
    let mut removed = 0;
    for twin in all_twins(node, connection_id).await? {
        let gone = match &twin.local_key {
            Some(k) => tracker.get_item(k).await?.is_none(),
            None => false,
        };
        if twin.status == TwinStatus::Unlinked || gone {
            node.twins.delete(&twin.id).await?;
            removed += 1;
        }
    }
    node.event(
        connection_id,
        None,
        SyncEventKind::Operation,
        format!("clean-up removed {removed} twins"),
    )
    .await;
    Ok(removed)
}

/// Deletes a connection, its twins (with their history) and its held messages.
pub async fn delete_connection(node: &Node, connection_id: &str) -> NodeResult<usize> {
    node.connection(connection_id).await?;
    let twins = all_twins(node, connection_id).await?;
    for twin in &twins {
        node.twins.delete(&twin.id).await?;
    }
    let held = queues::held(connection_id);
    loop {
        let batch = node.queue.receive(&held, 100, 60_000).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            node.queue.delete(&held, &m.receipt).await?;
        }
    }
    node.connections.delete(connection_id).await?;
    tracing::info!(
        connection = connection_id,
        twins = twins.len(),
        "connection deleted"
    );
    Ok(twins.len())
}

/// Deactivate pauses the connection; changes are kept in its held queue.
pub async fn deactivate(node: &Node, connection_id: &str) -> NodeResult<()> {
    transport::set_status(node, connection_id, ConnectionStatus::Deactivated, None).await
}

/// Activate resumes it: drains the held queue in order (the scheduler drains what
/// arrives there later) and, after a pause longer than the held queue keeps messages,
/// queues every twin again.
pub async fn activate(node: &Node, connection_id: &str) -> NodeResult<usize> {
    transport::set_status(node, connection_id, ConnectionStatus::Active, None).await?;
    let connection = node.connection(connection_id).await?;
    let moved = pause::resume(node, &connection).await?;
    Ok(moved + pause::after_pause(node, &connection).await?)
}

/// Saves a draft version of the connection's configuration; returns its number. The
/// scripts must compile, the triggers parse and the plans' cron patterns read.
pub async fn save_draft(
    node: &Node,
    connection_id: &str,
    template: ConfigVersion,
) -> NodeResult<u32> {
    check_version(&template)?;
    for _ in 0..8 {
        let mut connection = node.connection(connection_id).await?;
        let number = connection.add_draft(template.clone(), node.now_ms());
        match node.connections.update(&connection).await {
            Ok(_) => return Ok(number),
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("connection {connection_id} is changing too often")).into())
}

/// Everything a version must pass before it is saved.
fn check_version(version: &ConfigVersion) -> NodeResult<()> {
    version
        .check()
        .map_err(|e| NodeError::Operation(e.to_string()))?;
    for plan in &version.plans {
        parse_cron(&plan.cron)
            .map_err(|e| NodeError::Operation(format!("plan {}: {e}", plan.id)))?;
    }
    RuleSet::compile(version, Limits::default())?;
    Ok(())
}

/// Makes a draft the active version; the old one is archived.
pub async fn activate_version(node: &Node, connection_id: &str, number: u32) -> NodeResult<()> {
    for _ in 0..8 {
        let mut connection = node.connection(connection_id).await?;
        connection
            .activate(number)
            .map_err(|e| NodeError::Operation(e.to_string()))?;
        match node.connections.update(&connection).await {
            Ok(_) => {
                node.event(
                    connection_id,
                    None,
                    SyncEventKind::Operation,
                    format!("version {number} activated"),
                )
                .await;
                return Ok(());
            }
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("connection {connection_id} is changing too often")).into())
}

/// What a Test Run shows: the trigger of the version that brings the item under sync
/// (none: only an item already under sync, or a forced Sync, would be sent), the replica
/// the version would send, and what its incoming rules would make of that replica on an
/// item, with the fields that would change.
#[derive(Debug, Clone, Serialize)]
pub struct TestRunReport {
    pub version: u32,
    pub item: String,
    pub trigger: Option<String>,
    pub under_sync: bool,
    pub replica: serde_json::Value,
    pub incoming_result: Item,
    pub would_change: twinsync_core::ItemUpdate,
}

/// Test Run: runs a version (usually a draft) on a live item without writing anything:
/// its triggers, its outgoing rules, then its incoming rules.
pub async fn test_run(
    node: &Node,
    connection_id: &str,
    number: u32,
    item_key: &str,
) -> NodeResult<TestRunReport> {
    let connection = node.connection(connection_id).await?;
    let version = connection.version(number).ok_or_else(|| {
        NodeError::Operation(format!(
            "connection {connection_id} has no version {number}"
        ))
    })?;
    let rules = RuleSet::compile(version, Limits::default())?;
    let tracker = node.tracker(&connection.local_instance)?;
    let item = tracker
        .get_item(item_key)
        .await?
        .ok_or_else(|| NodeError::Operation(format!("item {item_key} does not exist")))?;
    let twin = node.twins.find_by_local(connection_id, item_key).await?;
    let replica = rules.outgoing(&annotate(&item, twin.as_ref()))?;
    let prefix = Node::origin_prefix(connection_id);
    let links = twin
        .as_ref()
        .map(|t| t.comment_links.clone())
        .unwrap_or_default();
    let incoming_result = rules.incoming(&IncomingContext {
        replica: &replica,
        previous: twin.as_ref().and_then(|t| t.previous.as_ref()),
        issue: &item,
        first_sync: false,
        comment_links: &links,
        origin_prefix: &prefix,
    })?;
    Ok(TestRunReport {
        version: number,
        item: item_key.to_string(),
        trigger: version.trigger_for(&item).map(|t| t.id.clone()),
        under_sync: twin.is_some(),
        would_change: item.update_to(&incoming_result),
        replica,
        incoming_result,
    })
}
