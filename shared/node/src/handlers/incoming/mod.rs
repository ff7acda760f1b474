//! incoming: apply a replica to the local twin item with the incoming rules and the
//! 3-way merge, then acknowledge it.

use crate::handlers::{send_or_hold, send_to_peer, to_body};
use crate::{Node, NodeError, NodeResult};
use serde_json::Value;
use twinsync_core::{
    AckMessage, ApplyAttempt, ApplyFailure, Connection, ConnectionStatus, KeySide, ReplicaMessage,
    SyncEventKind, TransportMessage, Twin, TwinStatus,
};
use twinsync_ports::{NewMessage, PortError, SyncMark, SyncState, queues};

mod plan;
mod references;
mod unlinked;
mod write;

use write::write;

pub async fn handle(node: &Node, message: ReplicaMessage) -> NodeResult<()> {
    let Some(connection) = node.connections.get(&message.connection_id).await? else {
        tracing::warn!(connection = %message.connection_id, "replica for an unknown connection dropped");
        return Ok(());
    };
    if connection.status == ConnectionStatus::Deactivated {
        let wrapped = TransportMessage::Replica(message);
        return send_or_hold(
            node,
            &connection,
            true,
            queues::INCOMING,
            NewMessage {
                group_id: wrapped.group_id(),
                dedup_id: wrapped.dedup_id(),
                body: to_body(&wrapped)?,
            },
        )
        .await;
    }
    let mut message = message;
    references::rewrite_replica(node, &connection, &mut message.hub_issue).await?;
    let found = match find_twin(node, &connection, &message).await? {
        Some(twin) if twin.status == TwinStatus::Unlinked => {
            match unlinked::at_unlinked(node, &connection, &twin, &message).await? {
                Some(linked) => Some(linked),
                None => return Ok(()),
            }
        }
        other => other,
    };
    if let Some(twin) = &found {
        // Only a record the twin does not know can be older than the Relink that made it.
        let leftovers = if twin.remote_twin.as_deref() == Some(message.source_twin.as_str()) {
            None
        } else {
            relink_leftovers(node, &connection.id, twin).await?
        };
        match replica_order(twin, &message, leftovers.as_ref()) {
            ReplicaOrder::Next => {}
            ReplicaOrder::Stale => {
                tracing::info!(twin = %twin.id, source_twin = %message.source_twin, version = message.version, "replica of a replaced twin record dropped");
                return Ok(());
            }
            ReplicaOrder::Applied => {
                // Applied before: the ack may have been lost, so answer again (deduplicated).
                tracing::debug!(twin = %twin.id, remote_twin = ?twin.remote_twin, in_version = twin.in_version, source_twin = %message.source_twin, version = message.version, "replica applied before; acked again");
                return send_ack(
                    node,
                    &connection,
                    twin,
                    &message,
                    twin.baseline.clone(),
                    None,
                )
                .await;
            }
        }
    }
    let (twin, reserved) = match found {
        Some(t) => (t, Reserved::Earlier),
        None => {
            if let Some(why) = unwelcome(node, &connection, &message).await? {
                tracing::info!(connection = %connection.id, item = %message.source_key, version = message.version, "{why}");
                node.event(&connection.id, None, SyncEventKind::Incoming, why)
                    .await;
                return Ok(());
            }
            match crate::workspaces::admit_item(node, &connection.id).await {
                Ok(()) => {}
                Err(full @ NodeError::CapacityReached(_)) => {
                    return refuse_for_capacity(node, &connection, &message, full).await;
                }
                Err(e) => return Err(e),
            }
            (
                reserve_remote(node, &connection, &message.source_key).await?,
                Reserved::Now,
            )
        }
    };
    match apply(node, &connection, twin, &message, reserved).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_retryable() => Err(e),
        Err(NodeError::ItemGone(key)) => {
            // Deleted here before its own change was read: the removal goes the other way
            // and this replica has nothing left to write to.
            match find_twin(node, &connection, &message).await? {
                Some(twin) => crate::removals::item_deleted(node, &connection, &twin).await,
                None => {
                    tracing::info!(item = %key, "replica for an item deleted here dropped");
                    Ok(())
                }
            }
        }
        Err(e) => {
            // A permanent failure (script error, refused write) stops this twin only.
            let reason = e.to_string();
            if let Some(twin) = find_twin(node, &connection, &message).await? {
                let mut twin = twin;
                twin.applying_until_ms = 0;
                twin.lease_released = false;
                let twin = crate::handlers::outgoing::mark_error(node, twin, &reason).await?;
                if let Some(key) = &twin.local_key {
                    let mark = SyncMark {
                        state: SyncState::Error(reason.clone()),
                        twin_key: Some(message.source_key.clone()),
                        twin_url: Some(message.source_url.clone()).filter(|u| !u.is_empty()),
                    };
                    node.show_sync(&connection.local_instance, key, mark).await;
                }
                send_ack(node, &connection, &twin, &message, None, Some(reason)).await?;
            }
            Ok(())
        }
    }
}

/// Where a replica stands against what this twin has applied.
#[derive(Debug, PartialEq)]
enum ReplicaOrder {
    /// Newer than anything applied: apply it.
    Next,
    /// This version (or a later one) of the same twin record is applied already.
    Applied,
    /// From a twin record the other side has since replaced.
    Stale,
}

/// The sender's twin records whose replicas a twin made (or kept) by a Relink never takes:
/// leftovers of the pair as it was before, still in a queue (a pause held them).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leftovers {
    /// Those older than the sender's Relink request (its id) that made the twin here: the
    /// sender makes the record it pairs with once we answer. Applied, its replicas held up
    /// by a pause became the new pair's merge base, and the two items swapped a summary
    /// and a status (simulation seed 969 of V5 at 300 steps).
    Before(String),
    /// The sender's record our Relink named (the one our unlinked twin knew), which the
    /// sender replaced before it answered, and older ones. Applied, that record's
    /// replicas held up by a pause overwrote our item with no merge base before our
    /// first send, and the versions applied went back (3, then the new record's 2)
    /// (simulation seed 2348 of V5 at 300 steps).
    UpTo(String),
}

impl Leftovers {
    fn hold(&self, source_twin: &str) -> bool {
        match self {
            Leftovers::Before(asked) => source_twin < asked.as_str(),
            Leftovers::UpTo(replaced) => source_twin <= replaced.as_str(),
        }
    }
}

/// The leftovers for `twin`: by the sender's Relink request that made or kept it here,
/// else by our own Relink that made or kept it, if either did.
async fn relink_leftovers(
    node: &Node,
    connection_id: &str,
    twin: &Twin,
) -> NodeResult<Option<Leftovers>> {
    if let Some(asked) = crate::pairing::relinked_by(node, connection_id, twin).await? {
        return Ok(Some(Leftovers::Before(asked)));
    }
    Ok(crate::pairing::relinked_over(node, connection_id, twin)
        .await?
        .map(Leftovers::UpTo))
}

/// Versions count per twin record of the sender. When its store was wiped or the pair
/// relinked there, its new record starts again at 1; its id is time-ordered, so a larger
/// id is the newer record and a smaller one a leftover still in a queue. For a twin a
/// Relink made, `leftovers` says which records are leftovers even while it knows no
/// record of the sender's yet.
fn replica_order(
    twin: &Twin,
    message: &ReplicaMessage,
    leftovers: Option<&Leftovers>,
) -> ReplicaOrder {
    let source = message.source_twin.as_str();
    if !source.is_empty() && leftovers.is_some_and(|l| l.hold(source)) {
        return ReplicaOrder::Stale;
    }
    match twin.remote_twin.as_deref() {
        Some(known) if !message.source_twin.is_empty() && message.source_twin != known => {
            if message.source_twin.as_str() > known {
                ReplicaOrder::Next
            } else {
                ReplicaOrder::Stale
            }
        }
        _ if message.version <= twin.in_version => ReplicaOrder::Applied,
        _ => ReplicaOrder::Next,
    }
}

async fn find_twin(
    node: &Node,
    connection: &Connection,
    message: &ReplicaMessage,
) -> NodeResult<Option<Twin>> {
    // `applied_twin` names our record as the sender knows it.
    if let Some(t) = crate::pairing::twin_named_or_keyed(
        node,
        &connection.id,
        KeySide::Remote,
        &message.source_key,
        message.applied_twin.as_deref(),
    )
    .await?
    {
        return Ok(Some(t));
    }
    // The other side knows our key (it was created here) but our ack has not reached it
    // yet, or this is the first replica back for a twin that started here.
    if let Some(key) = &message.target_key
        && let Some(mut t) = node.twins.find_by_local(&connection.id, key).await?
        && t.remote_key
            .as_ref()
            .is_none_or(|r| *r == message.source_key)
    {
        t.remote_key = Some(message.source_key.clone());
        return Ok(Some(t));
    }
    Ok(None)
}

/// Why a replica with no twin here must not make one: its pair was unexalated or
/// force-unlinked here (it was sent before the other node followed), or the item it
/// names here is linked with another one.
async fn unwelcome(
    node: &Node,
    connection: &Connection,
    message: &ReplicaMessage,
) -> NodeResult<Option<String>> {
    if crate::pairing::was_forgotten(node, &connection.id, &message.source_twin).await? {
        return Ok(Some(format!(
            "replica v{} of {} dropped: the pair is no longer under sync",
            message.version, message.source_key
        )));
    }
    if let Some(key) = &message.target_key
        && let Some(t) = node.twins.find_by_local(&connection.id, key).await?
    {
        return Ok(Some(format!(
            "replica v{} of {} dropped: {key} is linked with {} here",
            message.version,
            message.source_key,
            t.remote_key.as_deref().unwrap_or("another item")
        )));
    }
    Ok(None)
}

/// A new item the integration has no room for: nothing is made here, the other node is
/// told why (its twin shows the error) and the monitor records it.
async fn refuse_for_capacity(
    node: &Node,
    connection: &Connection,
    message: &ReplicaMessage,
    full: NodeError,
) -> NodeResult<()> {
    let reason = full.to_string();
    let detail = format!("{} was not created here: {reason}", message.source_key);
    tracing::warn!(connection = %connection.id, item = %message.source_key, "{detail}");
    node.event(&connection.id, None, SyncEventKind::Error, detail)
        .await;
    let unmade = Twin::new(String::new(), connection.id.clone(), node.now_ms());
    send_ack(node, connection, &unmade, message, None, Some(reason)).await
}

/// Reserves the twin of a remote item with a conditional insert: of two workers (or a
/// retry after a crash) only one holds the reservation.
async fn reserve_remote(
    node: &Node,
    connection: &Connection,
    remote_key: &str,
) -> NodeResult<Twin> {
    let mut twin = Twin::new(
        uuid::Uuid::now_v7().to_string(),
        connection.id.clone(),
        node.now_ms(),
    );
    twin.remote_key = Some(remote_key.to_string());
    twin.reservation = Some(uuid::Uuid::new_v4().to_string());
    match node.twins.insert(&twin).await {
        Ok(()) => Ok(twin),
        Err(PortError::Conflict(_)) => match node
            .twins
            .find_by_remote(&connection.id, remote_key)
            .await?
        {
            Some(t) => Ok(t),
            None => {
                Err(PortError::Conflict(format!("twin of {remote_key} is being created")).into())
            }
        },
        Err(e) => Err(e.into()),
    }
}

/// When the twin record a replica is applied to was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// By an earlier delivery (of this replica, or of one before it).
    Earlier,
    /// By this delivery: the twin store had none for the remote item.
    Now,
}

/// What made an item an apply finds by its origin marker, its twin not linked to it yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FoundItem {
    /// An earlier attempt (a crash or a lost answer after the create) of the first
    /// replica an apply took the lease for, this one or another (`Twin::created_from`):
    /// what it created from that replica is the merge base.
    EarlierAttempt(Value),
    /// An item from before this node's twin store was wiped, or one no recorded attempt
    /// accounts for: nothing says what both sides agreed on, and the replica wins.
    Unknown,
    /// None can carry the replica's origin marker: this delivery made the twin record,
    /// the sender knows no item of ours for its item, and no twin record of that item was
    /// deleted here. A first sync creates without looking for one.
    NoneMade,
}

/// What a twin record this delivery made may find by origin marker. An item stamped
/// with it and linked to no record is left only by a record deleted since (noted by
/// `pairing::delete_record`) or by a wiped store, whose item the sender names.
async fn found_on_reserve(
    node: &Node,
    connection: &Connection,
    message: &ReplicaMessage,
) -> NodeResult<FoundItem> {
    let named_by_sender = message.target_key.is_some() || message.applied_twin.is_some();
    if named_by_sender
        || crate::pairing::was_unpaired(node, &connection.id, &message.source_key).await?
    {
        return Ok(FoundItem::Unknown);
    }
    Ok(FoundItem::NoneMade)
}

async fn apply(
    node: &Node,
    connection: &Connection,
    mut twin: Twin,
    message: &ReplicaMessage,
    reserved: Reserved,
) -> NodeResult<()> {
    // The lease doubles as a lock: a worker that got this message again while the first one
    // is still writing (a slow tracker outlived the visibility timeout) must not write twice.
    let now = node.now_ms();
    if let Some(retry_after_ms) = twin.lease_wait(now) {
        return Err(NodeError::Busy {
            what: format!("twin {} is being applied by another worker", twin.id),
            retry_after_ms,
        });
    }
    let found = match reserved {
        Reserved::Earlier if twin.nothing_to_look_for() => FoundItem::NoneMade,
        Reserved::Earlier => twin
            .created_from(message.version, &message.hub_issue)
            .map_or(FoundItem::Unknown, |r| FoundItem::EarlierAttempt(r.clone())),
        Reserved::Now => found_on_reserve(node, connection, message).await?,
    };
    let looked_for_none = found == FoundItem::NoneMade;
    // Hold off our own outgoing handler until the write and the new baseline are stored.
    twin.take_lease(
        message.version,
        &message.hub_issue,
        now,
        node.settings.visibility_ms,
    );
    // The sender's record is known from here on, not only once the apply is recorded:
    // a crash between the ack and that write left a twin naming no record, whose Unlink
    // was never told again to the other node (simulation seed 1388).
    twin.learn_remote_twin(&message.source_twin);
    twin = node.twins.update(&twin).await?;
    let lease = twin.applying_until_ms;
    match write(node, connection, twin, message, found).await {
        Ok(()) => Ok(()),
        Err(e) => {
            if let Ok(Some(mut t)) = find_twin(node, connection, message).await
                && t.applying_until_ms == lease
            {
                let failure = if e.is_retryable() {
                    ApplyFailure::Retryable {
                        retry_after_ms: e.retry_after_ms().unwrap_or(0),
                    }
                } else {
                    ApplyFailure::Permanent
                };
                t.give_back_lease(failure, node.now_ms(), node.settings.visibility_ms);
                // A retryable failure may have come after the write (its answer lost); a
                // permanent one (the rules refused, the tracker refused) wrote nothing,
                // and so did a create the tracker refused whole.
                let refused_whole = match &e {
                    NodeError::Port(port) => node
                        .tracker(&connection.local_instance)
                        .is_ok_and(|tracker| tracker.create_refused_whole(port)),
                    _ => false,
                };
                if let ApplyFailure::Retryable { .. } = failure
                    && !t.note_created_nothing(looked_for_none, refused_whole)
                {
                    t.keep_attempt(ApplyAttempt {
                        version: message.version,
                        source_twin: message.source_twin.clone(),
                        replica: message.hub_issue.clone(),
                    });
                }
                let _ = node.twins.update(&t).await;
            }
            Err(e)
        }
    }
}

pub(super) async fn send_ack(
    node: &Node,
    connection: &Connection,
    twin: &Twin,
    message: &ReplicaMessage,
    view: Option<Value>,
    error: Option<String>,
) -> NodeResult<()> {
    let ack = TransportMessage::Ack(AckMessage {
        connection_id: connection.id.clone(),
        from_node: node.id.clone(),
        source_key: message.source_key.clone(),
        target_key: twin.local_key.clone(),
        target_url: twin.local_url.clone(),
        applied_version: message.version,
        source_twin: message.source_twin.clone(),
        comment_links: twin.comment_links.clone(),
        remote_view: view,
        remote_out_version: twin.out_version,
        error,
        acker_twin: Some(twin.id.clone()),
        trace_id: message.trace_id.clone(),
    });
    // Its group is the twin's key here: after the replicas this node sends for it.
    send_to_peer(node, &ack).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_order_counts_per_sender_twin_record() {
        let oldest = "01a2087c-7a00-7000-8000-000000000000";
        let older = "01a2087c-7e7b-769e-94f7-ed906c162ae6";
        let asked = "01a2087c-8a01-7000-8000-000000000000";
        let newer = "01a2087c-9d38-7326-bab9-abe08737f8a3";
        let before = |id: &str| Some(Leftovers::Before(id.to_string()));
        let up_to = |id: &str| Some(Leftovers::UpTo(id.to_string()));
        // (the leftovers of the Relink that made the twin, twin's remote record, twin's
        // in_version, message's record, message's version, expected)
        let cases = [
            (None, None, 0, older, 1, ReplicaOrder::Next),
            (None, Some(older), 3, older, 4, ReplicaOrder::Next),
            (None, Some(older), 3, older, 3, ReplicaOrder::Applied),
            (None, Some(older), 3, older, 2, ReplicaOrder::Applied),
            // The sender's store was wiped: its new record counts from 1.
            (None, Some(older), 3, newer, 1, ReplicaOrder::Next),
            // A leftover of the replaced record.
            (None, Some(newer), 1, older, 4, ReplicaOrder::Stale),
            // A sender from before records were named: versions alone decide.
            (None, Some(older), 3, "", 3, ReplicaOrder::Applied),
            (None, None, 3, newer, 2, ReplicaOrder::Applied),
            // Made by the sender's Relink: its record from before the request is a
            // leftover, no record known yet or not (seed 969 of V5 at 300 steps); the
            // record it made once we answered is the pair's.
            (before(asked), None, 0, older, 2, ReplicaOrder::Stale),
            (before(asked), Some(newer), 1, older, 4, ReplicaOrder::Stale),
            (before(asked), None, 0, newer, 1, ReplicaOrder::Next),
            (before(asked), None, 0, "", 1, ReplicaOrder::Next),
            // Made by the answer to our Relink, which named the sender's record `older`
            // that it replaced: that record's replicas held up by a pause, and an older
            // record's, are leftovers (seed 2348 of V5 at 300 steps); the sender's new
            // record is the pair's, whatever version reaches us first.
            (up_to(older), None, 0, older, 2, ReplicaOrder::Stale),
            (up_to(older), None, 0, oldest, 5, ReplicaOrder::Stale),
            (up_to(older), None, 0, newer, 2, ReplicaOrder::Next),
            (up_to(older), Some(newer), 2, newer, 3, ReplicaOrder::Next),
            (up_to(older), Some(newer), 2, older, 3, ReplicaOrder::Stale),
            (up_to(older), None, 0, "", 1, ReplicaOrder::Next),
        ];
        for (leftovers, remote, in_version, source, version, expected) in cases {
            let mut twin = Twin::new("t".into(), "c".into(), 0);
            twin.remote_twin = remote.map(str::to_string);
            twin.in_version = in_version;
            let message = ReplicaMessage {
                connection_id: "c".into(),
                from_node: "n".into(),
                source_key: "K-1".into(),
                source_url: String::new(),
                target_key: None,
                version,
                source_twin: source.into(),
                hub_issue: Value::Null,
                source_updated_ms: 0,
                sent_ms: 0,
                trace_id: String::new(),
                applied_in: None,
                applied_twin: None,
            };
            assert_eq!(
                replica_order(&twin, &message, leftovers.as_ref()),
                expected,
                "{leftovers:?} {remote:?} v{in_version} <- {source:?} v{version}"
            );
        }
    }
}
