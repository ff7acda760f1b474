//! outgoing: read the item fresh, run the outgoing rules, and send the replica when it
//! differs from what the other side is known to have.

use crate::handlers::{annotate, send_to_peer};
use crate::{Node, NodeError, NodeResult};
use twinsync_core::removal::moved_out;
use twinsync_core::{
    ApplyHold, ChangeEvent, Connection, ConnectionStatus, Enrollment, Item, KeySide,
    ReplicaMessage, SyncEventKind, TransportMessage, Twin, TwinStatus,
};
use twinsync_ports::{PortError, ReplicaRecord};

pub async fn handle(node: &Node, event: ChangeEvent) -> NodeResult<()> {
    let connection = match node.connections.get(&event.connection_id).await? {
        Some(c) => c,
        None => {
            tracing::warn!(connection = %event.connection_id, "change for an unknown connection dropped");
            return Ok(());
        }
    };
    if connection.status == ConnectionStatus::Pending {
        return Ok(());
    }
    // Read once: what it says is checked again below, and every write of the twin is
    // conditional on the revision read here.
    let known = crate::pairing::twin_named_or_keyed(
        node,
        &connection.id,
        KeySide::Local,
        &event.item_key,
        event.twin_id.as_deref(),
    )
    .await?;
    if !event.force {
        match &known {
            Some(t) if applying(node, t) => {
                // Our incoming handler is writing this item; its echo must meet the new
                // baseline, so wait for it before reading anything.
                return Err(being_applied(node, t));
            }
            Some(t) if !t.is_news(event.observed_version) => {
                // The webhook of our own write, or a version already sent and acknowledged:
                // the other side has it, and the tracker need not be asked.
                tracing::debug!(item = %event.item_key, version = event.observed_version, "own write; not read");
                return Ok(());
            }
            Some(_) => {}
            None => {
                if let Some(t) = being_created(node, &connection, &event).await? {
                    return Err(being_applied(node, &t));
                }
            }
        }
    }
    let tracker = node.tracker(&connection.local_instance)?;
    let Some(item) = tracker.get_item(&event.item_key).await? else {
        return item_gone(node, &connection, &event.item_key).await;
    };
    // A tracker may answer under another key (a Jira issue moved to another project).
    let known = if item.key == event.item_key {
        known
    } else {
        node.twins.find_by_local(&connection.id, &item.key).await?
    };
    let twin = match known {
        Some(t) => Some(t),
        None => match made_by_sync(node, &connection, &item).await? {
            MadeBySync::No => None,
            MadeBySync::Twin(t) => Some(*t),
            MadeBySync::Stray(remote) => {
                tracing::warn!(item = %item.key, %remote, "item carries the origin marker of a remote item linked to another item; not sent");
                return Ok(());
            }
        },
    };
    if let Some(t) = &twin {
        if t.status == TwinStatus::Unlinked {
            return Ok(());
        }
        if applying(node, t) {
            // Our incoming handler is writing this item; its echo must meet the new baseline.
            // A first apply still under its lease is as quick, so it waits as briefly.
            return Err(being_applied(node, t));
        }
        if t.awaits_first_apply() {
            return Err(apply_unfinished(node, &item.key));
        }
        if let Some(version) = connection.active_version()
            && moved_out(&t.enrolled, &version.triggers, &item)
        {
            return crate::removals::item_moved_out(node, &connection, t.clone()).await;
        }
    } else if !event.force && !under_trigger(&connection, &item) {
        return Ok(());
    }
    let rules = node.rules_for(&connection)?;
    let replica = match rules.outgoing(&annotate(&item, twin.as_ref())) {
        Ok(r) => r,
        Err(e) => {
            // A script error stops this item only; the queue goes on with the others.
            let twin = match twin {
                Some(t) => t,
                None => reserve_local(node, &connection, &item, enrollment(&event, &item)).await?,
            };
            mark_error(node, twin, &e.to_string()).await?;
            return Ok(());
        }
    };
    let mut twin = match twin {
        Some(t) => t,
        None => {
            if let Some(refused) = over_capacity(node, &connection, &item).await? {
                return Ok(refused);
            }
            reserve_local(node, &connection, &item, enrollment(&event, &item)).await?
        }
    };
    tracing::debug!(
        item = %item.key,
        observed = event.observed_version,
        version = item.version,
        status = ?item.status_name(),
        changed = ?changed_fields(twin.baseline.as_ref(), &replica),
        replica = %crate::handlers::brief(&replica),
        baseline = %twin.baseline.as_ref().map(crate::handlers::brief).unwrap_or_default(),
        "outgoing read"
    );
    if twin
        .baseline
        .as_ref()
        .is_some_and(|b| twinsync_core::same_content(b, &replica))
    {
        // The other side has this already: an echo of our own write or a no-op change
        // (or only the comment links its ack brought, which it made itself).
        if twin.acked_version < twin.out_version {
            // The last send may have been lost in a crash before the transport queue got it;
            // sending the same version again is deduplicated and applied at most once.
            send_replica(node, &connection, &twin, &item, replica, &event.trace_id).await?;
        }
        return Ok(());
    }
    crate::shadow::observe(node, &connection, &item, &twin, &replica).await;
    twin.record_send(replica.clone(), &item, node.now_ms());
    let sends = connection.status.sends() || connection.status == ConnectionStatus::Error;
    let sent = format!("replica v{} of {}", twin.out_version, item.key);
    if sends {
        // A routine step: it goes with the twin's write (`twinsync_core::timeline`).
        twin.record_step(SyncEventKind::Outgoing, sent.clone(), node.now_ms());
    }
    // The twin is durable before the message leaves: a crash in between is repaired by
    // the resend above when the change event is delivered again.
    let twin = node.twins.update(&twin).await?;
    node.twins
        .add_replica(&ReplicaRecord {
            twin_id: twin.id.clone(),
            direction: "out".into(),
            version: twin.out_version,
            replica: replica.clone(),
            at_ms: node.now_ms(),
        })
        .await?;
    send_replica(node, &connection, &twin, &item, replica, &event.trace_id).await?;
    if !sends {
        // A held change is for the operator's feed, not only the twin's timeline.
        node.event(&connection.id, Some(&twin.id), SyncEventKind::Held, sent)
            .await;
        // Held while the connection is paused: the item says so until the ack.
        let mark = twinsync_ports::SyncMark {
            state: twinsync_ports::SyncState::Syncing,
            twin_key: twin.remote_key.clone(),
            twin_url: twin.remote_url.clone(),
        };
        crate::pairing::show_live(node, &connection, &item.key, &twin.id, mark).await;
    }
    Ok(())
}

/// The replica's top-level fields that differ from the baseline, for the log: what made
/// this read a change to send.
fn changed_fields(
    baseline: Option<&serde_json::Value>,
    replica: &serde_json::Value,
) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = baseline.and_then(|b| b.as_object()).unwrap_or(&empty);
    let Some(after) = replica.as_object() else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(k, v)| before.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(
            before
                .keys()
                .filter(|k| !after.contains_key(k.as_str()))
                .cloned(),
        )
        .collect()
}

/// An item the tracker no longer has: a twin of it was deleted here, which the other
/// side follows by its removal policy; without a twin there is nothing to do.
async fn item_gone(node: &Node, connection: &Connection, key: &str) -> NodeResult<()> {
    match node.twins.find_by_local(&connection.id, key).await? {
        Some(twin) if twin.status != TwinStatus::Unlinked => {
            crate::removals::item_deleted(node, connection, &twin).await
        }
        _ => {
            tracing::info!(item = %key, "item is gone; nothing to send");
            Ok(())
        }
    }
}

/// A forced change is an operator's Sync or a bulk job; any other one a trigger matched.
fn enrollment(event: &ChangeEvent, item: &Item) -> Enrollment {
    if event.force {
        Enrollment::Operation
    } else {
        Enrollment::Trigger {
            project: item.project.clone(),
        }
    }
}

/// The twin whose create of this very item our incoming handler is still writing, when
/// the notification names the item's origin marker: its echo then waits for the write
/// without reading the item.
async fn being_created(
    node: &Node,
    connection: &Connection,
    event: &ChangeEvent,
) -> NodeResult<Option<Twin>> {
    let prefix = Node::origin_prefix(&connection.id);
    let Some(remote) = event
        .origin
        .as_deref()
        .and_then(|o| o.strip_prefix(&prefix))
    else {
        return Ok(None);
    };
    Ok(node
        .twins
        .find_by_remote(&connection.id, remote)
        .await?
        .filter(|t| t.local_key.is_none() && applying(node, t)))
}

/// Whether our incoming handler is writing the twin's item, or a worker that was writing
/// it stopped and its replica's retry has not finished yet (`Twin::apply_hold`).
fn applying(node: &Node, twin: &Twin) -> bool {
    twin.apply_hold(node.now_ms(), node.settings.visibility_ms)
        .is_some()
}

/// The wait for a twin our incoming handler is writing: short, since the write is quick,
/// and never longer than the lease (and its retry's, after a crash). Once the retry of an
/// apply that stopped is overdue, a lease at a time: it comes when the queue hands its
/// replica back, maybe only after a pause.
fn being_applied(node: &Node, twin: &Twin) -> NodeError {
    let wait = match twin.apply_hold(node.now_ms(), node.settings.visibility_ms) {
        Some(ApplyHold::For(wait)) => wait,
        Some(ApplyHold::UntilRetried) => {
            return NodeError::Busy {
                what: format!(
                    "twin {} waits for the retry of an apply that stopped",
                    twin.id
                ),
                retry_after_ms: u64::try_from(node.settings.visibility_ms).unwrap_or(30_000),
            };
        }
        None => 1,
    };
    NodeError::Busy {
        what: format!("twin {} is being applied", twin.id),
        retry_after_ms: wait.clamp(1, 200),
    }
}

/// The wait for the first apply of a twin's item to finish: its replica comes back when
/// its visibility timeout ends.
fn apply_unfinished(node: &Node, key: &str) -> NodeError {
    NodeError::Busy {
        what: format!("the apply that created {key} has not finished"),
        retry_after_ms: u64::try_from(node.settings.visibility_ms).unwrap_or(30_000),
    }
}

fn under_trigger(connection: &Connection, item: &twinsync_core::Item) -> bool {
    connection
        .active_version()
        .and_then(|v| v.trigger_for(item))
        .is_some()
}

async fn send_replica(
    node: &Node,
    connection: &Connection,
    twin: &Twin,
    item: &twinsync_core::Item,
    replica: serde_json::Value,
    trace_id: &str,
) -> NodeResult<()> {
    let message = TransportMessage::Replica(ReplicaMessage {
        connection_id: connection.id.clone(),
        from_node: node.id.clone(),
        source_key: item.key.clone(),
        source_url: item.url.clone(),
        target_key: twin.remote_key.clone(),
        version: twin.out_version,
        source_twin: twin.id.clone(),
        hub_issue: replica,
        source_updated_ms: item.updated_ms,
        sent_ms: node.now_ms(),
        applied_in: Some(twin.in_version),
        applied_twin: twin.remote_twin.clone(),
        // The change's trace id; changes queued before trace ids existed get a stable one.
        trace_id: if trace_id.is_empty() {
            format!("{}:{}:{}", connection.id, item.key, twin.out_version)
        } else {
            trace_id.to_string()
        },
    });
    send_to_peer(node, &message).await
}

/// What the origin marker of an item without a twin says.
enum MadeBySync {
    /// No marker of this connection: a person's item.
    No,
    /// Sync created it for this twin, whose incoming handler has not stored the link yet
    /// (the tracker's webhook for the create can come first); now linked.
    Twin(Box<Twin>),
    /// Sync created it for a remote item that is linked to another local item (a copy
    /// left by a failed attempt): sending it would make one more on the other side.
    Stray(String),
}

async fn made_by_sync(node: &Node, connection: &Connection, item: &Item) -> NodeResult<MadeBySync> {
    let prefix = Node::origin_prefix(&connection.id);
    let Some(remote) = item.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) else {
        return Ok(MadeBySync::No);
    };
    let Some(twin) = node.twins.find_by_remote(&connection.id, remote).await? else {
        // The twin store lost the pair (wiped): a new twin relinks it.
        return Ok(MadeBySync::No);
    };
    match &twin.local_key {
        Some(k) if *k == item.key => Ok(MadeBySync::Twin(Box::new(twin))),
        Some(_) => Ok(MadeBySync::Stray(remote.to_string())),
        None if applying(node, &twin) => Err(being_applied(node, &twin)),
        // The apply that created the item stopped before linking it (a crash between the
        // create and the twin's write). Its replica is still queued and, delivered again,
        // finds the item by this marker and finishes: the merge base, the baseline and
        // the ack. Sending the item from here first would reach the other side as a
        // replica with no base, and its merge would undo edits made there meanwhile
        // (found by the simulation, seed 245); so the change waits for that apply.
        None => Err(apply_unfinished(node, &item.key)),
    }
}

/// Creates this side's twin record for a local item brought under sync. A concurrent
/// worker may have created it first; then that record is the one.
pub(crate) async fn reserve_local(
    node: &Node,
    connection: &Connection,
    item: &Item,
    enrolled: Enrollment,
) -> NodeResult<Twin> {
    let local_key = item.key.as_str();
    let mut twin = Twin::new(
        uuid::Uuid::now_v7().to_string(),
        connection.id.clone(),
        node.now_ms(),
    );
    twin.local_key = Some(local_key.to_string());
    twin.enrolled = enrolled;
    match node.twins.insert(&twin).await {
        Ok(()) => Ok(twin),
        Err(PortError::Conflict(_)) => node
            .twins
            .find_by_local(&connection.id, local_key)
            .await?
            .ok_or_else(|| {
                NodeError::Port(PortError::Conflict(format!(
                    "twin for {local_key} is being created"
                )))
            }),
        Err(e) => Err(e.into()),
    }
}

/// A new item the integration has no room for stays out of sync: the item shows why in
/// its tracker and the monitor records it. `Some(())` when it was refused.
async fn over_capacity(
    node: &Node,
    connection: &Connection,
    item: &Item,
) -> NodeResult<Option<()>> {
    let reason = match crate::workspaces::admit_item(node, &connection.id).await {
        Ok(()) => return Ok(None),
        Err(NodeError::CapacityReached(reason)) => reason,
        Err(e) => return Err(e),
    };
    let detail = format!("{} was not brought under sync: {reason}", item.key);
    tracing::warn!(connection = %connection.id, item = %item.key, "{detail}");
    node.event(&connection.id, None, SyncEventKind::Error, detail)
        .await;
    let mark = twinsync_ports::SyncMark {
        state: twinsync_ports::SyncState::Error(reason),
        twin_key: None,
        twin_url: None,
    };
    node.show_sync(&connection.local_instance, &item.key, mark)
        .await;
    Ok(Some(()))
}

/// Puts a twin in Error with the reason, for the monitor; retried writes are fine.
pub(crate) async fn mark_error(node: &Node, mut twin: Twin, message: &str) -> NodeResult<Twin> {
    twin.record_error(message, node.now_ms());
    let twin = node.twins.update(&twin).await?;
    node.event(
        &twin.connection_id,
        Some(&twin.id),
        SyncEventKind::Error,
        message,
    )
    .await;
    tracing::warn!(twin = %twin.id, error = %message, "twin in error");
    if let (Some(key), Ok(connection)) = (
        twin.local_key.as_deref(),
        node.connection(&twin.connection_id).await,
    ) {
        let mark = twinsync_ports::SyncMark {
            state: twinsync_ports::SyncState::Error(message.to_string()),
            twin_key: twin.remote_key.clone(),
            twin_url: twin.remote_url.clone(),
        };
        node.show_sync(&connection.local_instance, key, mark).await;
    }
    Ok(twin)
}
