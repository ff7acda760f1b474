//! incoming: apply a replica to the local twin item with the incoming rules and the
//! 3-way merge, then acknowledge it.

use crate::handlers::{annotate, send_or_hold, to_body};
use crate::{Node, NodeError, NodeResult};
use serde_json::Value;
use std::sync::Arc;
use twinsync_connector_kit::target::same_origin;
use twinsync_core::{
    AckMessage, ApplyFailure, ChangeEvent, Connection, ConnectionStatus, Item, MergeContext,
    MergeOutcome, ReplicaMessage, SyncEventKind, TransportMessage, Twin, TwinStatus, merge_items,
};
use twinsync_ports::{NewMessage, PortError, ReplicaRecord, Tracker, queues};
use twinsync_rules::{IncomingContext, RuleSet};

pub async fn handle(node: &Node, message: ReplicaMessage) -> NodeResult<()> {
    let Some(connection) = node.connections.get(&message.connection_id).await? else {
        tracing::warn!(connection = %message.connection_id, "replica for an unknown connection dropped");
        return Ok(());
    };
    if connection.status == ConnectionStatus::Deactivated {
        let wrapped = TransportMessage::Replica(message);
        return send_or_hold(
            node,
            &connection.id,
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
    let found = find_twin(node, &connection, &message).await?;
    if let Some(twin) = &found {
        if twin.status == TwinStatus::Unlinked {
            return Ok(());
        }
        match replica_order(twin, &message) {
            ReplicaOrder::Next => {}
            ReplicaOrder::Stale => {
                tracing::info!(twin = %twin.id, source_twin = %message.source_twin, version = message.version, "replica of a replaced twin record dropped");
                return Ok(());
            }
            ReplicaOrder::Applied => {
                // Applied before: the ack may have been lost, so answer again (deduplicated).
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
    let twin = match found {
        Some(t) => t,
        None => reserve_remote(node, &connection, &message.source_key).await?,
    };
    match apply(node, &connection, twin, &message).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => {
            // A permanent failure (script error, refused write) stops this twin only.
            let reason = e.to_string();
            if let Some(twin) = find_twin(node, &connection, &message).await? {
                let mut twin = twin;
                twin.applying_until_ms = 0;
                twin.lease_released = false;
                let twin = crate::handlers::outgoing::mark_error(node, twin, &reason).await?;
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

/// Versions count per twin record of the sender. When its store was wiped or the pair
/// relinked there, its new record starts again at 1; its id is time-ordered, so a larger
/// id is the newer record and a smaller one a leftover still in a queue.
fn replica_order(twin: &Twin, message: &ReplicaMessage) -> ReplicaOrder {
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
    if let Some(t) = node
        .twins
        .find_by_remote(&connection.id, &message.source_key)
        .await?
    {
        return Ok(Some(t));
    }
    // The other side knows our key (it was created here) but our ack has not reached it
    // yet, or this is the first replica back for a twin that started here.
    if let Some(key) = &message.target_key
        && let Some(mut t) = node.twins.find_by_local(&connection.id, key).await?
    {
        t.remote_key = Some(message.source_key.clone());
        return Ok(Some(t));
    }
    Ok(None)
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

async fn apply(
    node: &Node,
    connection: &Connection,
    mut twin: Twin,
    message: &ReplicaMessage,
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
    // Hold off our own outgoing handler until the write and the new baseline are stored.
    twin.take_lease(now, node.settings.visibility_ms);
    twin = node.twins.update(&twin).await?;
    let lease = twin.applying_until_ms;
    match write(node, connection, twin, message).await {
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
                let _ = node.twins.update(&t).await;
            }
            Err(e)
        }
    }
}

/// Writes the replica into the local item and stores the new baseline; the caller holds
/// the twin's lease. Four steps: plan (read the item, run the rules, merge), write (create
/// or update the item, its comments and attachments), settle (read it back: what the
/// other side now has) and record (the twin, the ack, the events).
async fn write(
    node: &Node,
    connection: &Connection,
    mut twin: Twin,
    message: &ReplicaMessage,
) -> NodeResult<()> {
    let plan = plan(node, connection, &mut twin, message).await?;
    let key = write_item(node, &plan, &mut twin).await?;
    let settled = settle(&plan, &twin, &key).await?;
    record(node, connection, twin, message, &plan, &key, settled).await
}

/// What an apply is about to write, and from what.
struct Plan {
    tracker: Arc<dyn Tracker>,
    rules: Arc<RuleSet>,
    /// Origin markers of this connection start with it.
    prefix: String,
    /// The origin marker of the item: the replica's source key.
    origin: String,
    /// The source item's URL: attachments are downloaded only from its host.
    source_url: String,
    target_project: String,
    first_sync: bool,
    /// The local item before the write (an empty one on a first sync).
    current: Item,
    /// The incoming rules' result for the new replica.
    remote_now: Item,
    outcome: MergeOutcome,
}

/// Reads the local item (or finds one an earlier attempt created), runs the incoming
/// rules on the new and the previous replica, and merges.
async fn plan(
    node: &Node,
    connection: &Connection,
    twin: &mut Twin,
    message: &ReplicaMessage,
) -> NodeResult<Plan> {
    let tracker = node.tracker(&connection.local_instance)?;
    let rules = node.rules_for(connection)?;
    let version = connection
        .active_version()
        .ok_or_else(|| NodeError::NoActiveVersion(connection.id.clone()))?;
    let prefix = Node::origin_prefix(&connection.id);
    let origin = format!("{prefix}{}", message.source_key);

    let local =
        match &twin.local_key {
            Some(key) => Some(tracker.get_item(key).await?.ok_or_else(|| {
                NodeError::Operation(format!("local item {key} no longer exists"))
            })?),
            // Before creating, look for an item stamped with this origin: an earlier attempt
            // may have created it before a crash, or the twin store was wiped (relink).
            None => {
                tracker
                    .find_by_origin(&connection.target_project, &origin)
                    .await?
            }
        };
    if let (Some(item), None) = (&local, &twin.local_key) {
        twin.local_key = Some(item.key.clone());
        twin.local_url = Some(item.url.clone());
    }
    let first_sync = local.is_none();
    let current = local.unwrap_or_else(|| Item {
        project: connection.target_project.clone(),
        ..Item::default()
    });
    let remote_now = rules.incoming(&IncomingContext {
        replica: &message.hub_issue,
        previous: twin.previous.as_ref(),
        issue: &current,
        first_sync,
        comment_links: &twin.comment_links,
        origin_prefix: &prefix,
    })?;
    let remote_prev = match &twin.previous {
        Some(previous) => Some(rules.incoming(&IncomingContext {
            replica: previous,
            previous: None,
            issue: &current,
            first_sync,
            comment_links: &twin.comment_links,
            origin_prefix: &prefix,
        })?),
        None => None,
    };
    let outcome = merge_items(
        &MergeContext {
            settings: &version.conflicts,
            local_node: &node.id,
            remote_node: &connection.remote_node,
            remote_updated_ms: message.source_updated_ms,
        },
        twin.base_item.as_ref(),
        &current,
        &remote_now,
        remote_prev.as_ref(),
    );

    tracing::debug!(
        twin = %twin.id,
        version = message.version,
        base_status = ?twin.base_item.as_ref().and_then(|b| b.status_name().map(str::to_string)),
        local_status = ?current.status_name(),
        remote_status = ?remote_now.status_name(),
        merged_status = ?outcome.merged.status_name(),
        local_kept = ?outcome.local_kept,
        "merged"
    );
    Ok(Plan {
        tracker,
        rules,
        prefix,
        origin,
        source_url: message.source_url.clone(),
        target_project: connection.target_project.clone(),
        first_sync,
        current,
        remote_now,
        outcome,
    })
}

/// Creates or updates the item, its comments and attachments; returns its key. A created
/// item is linked to the twin durably before anything else is written.
async fn write_item(node: &Node, plan: &Plan, twin: &mut Twin) -> NodeResult<String> {
    let Plan {
        tracker,
        prefix,
        origin,
        target_project,
        first_sync,
        current,
        outcome,
        ..
    } = plan;
    let key = if *first_sync {
        let created = tracker
            .create_item(target_project, &outcome.merged, origin)
            .await?;
        twin.local_key = Some(created.key.clone());
        twin.local_url = Some(created.url.clone());
        // The link to the new item is durable before anything else is written.
        *twin = node.twins.update(twin).await?;
        created.key
    } else {
        let key = current.key.clone();
        let update = current.update_to(&outcome.merged);
        if !update.is_empty() {
            tracker.update_item(&key, &update).await?;
        }
        key
    };
    for comment in &outcome.merged.comments {
        if comment.id.is_empty() {
            let (body, author, origin) = (
                &comment.body,
                comment.author.as_ref(),
                comment.origin.as_deref(),
            );
            let created = if comment.internal {
                tracker
                    .add_internal_comment(&key, body, author, origin)
                    .await?
            } else {
                tracker.add_comment(&key, body, author, origin).await?
            };
            if let Some(remote) = &comment.remote_id {
                twin.link_comment(&created.id, remote);
            }
        } else {
            if let Some(existing) = current.comments.iter().find(|c| c.id == comment.id)
                && existing.body != comment.body
            {
                tracker
                    .update_comment(&key, &comment.id, &comment.body)
                    .await?;
            }
            let remote = comment.remote_id.as_deref().or_else(|| {
                comment
                    .origin
                    .as_deref()
                    .and_then(|o| o.strip_prefix(prefix.as_str()))
            });
            if let Some(remote) = remote {
                twin.link_comment(&comment.id, remote);
            }
        }
    }
    for attachment in &outcome.merged.attachments {
        if !attachment.id.is_empty() {
            continue;
        }
        // The replica's content may name any URL; only the peer's own tracker is fetched.
        if !same_origin(&attachment.url, &plan.source_url) {
            tracing::warn!(
                item = %key,
                url = %attachment.url,
                source = %plan.source_url,
                "attachment not downloaded: it is not on the source tracker's host"
            );
            continue;
        }
        tracker.add_attachment(&key, attachment).await?;
    }
    Ok(key)
}

/// What the other side has after the write, in our vocabulary.
struct Settled {
    after: Item,
    remote_state: Item,
    view: Value,
    baseline_version: u64,
}

/// Reads the item back and works out what the other side now has: our item with the
/// remote's values where we kept our own, without edits people made meanwhile.
async fn settle(plan: &Plan, twin: &Twin, key: &str) -> NodeResult<Settled> {
    let Plan {
        tracker,
        rules,
        first_sync,
        current,
        remote_now,
        outcome,
        ..
    } = plan;
    let after = tracker
        .get_item(key)
        .await?
        .ok_or_else(|| NodeError::Operation(format!("item {key} vanished while being written")))?;

    // What the other side has now, in our vocabulary: our item with the remote's values
    // where we kept our own. It is the merge base and the echo baseline from here on.
    let settled = without_concurrent_comments(
        &if *first_sync {
            without_edits_since_create(&after, &outcome.merged)
        } else {
            without_concurrent_edits(&after, current, &outcome.merged)
        },
        current,
    );
    let remote_state = overlay(&settled, remote_now, &outcome.local_kept);
    let view = rules.outgoing(&annotate(&remote_state, Some(twin)))?;
    // The baseline stands for `after`'s version only if it is exactly what outgoing makes
    // of `after`: values we kept, or an edit that landed between our read and the write,
    // still have to go out, so the next change event must read the item.
    let baseline_version = if rules.outgoing(&annotate(&after, Some(twin)))? == view {
        after.version
    } else {
        0
    };
    Ok(Settled {
        after,
        remote_state,
        view,
        baseline_version,
    })
}

/// Records the apply on the twin, acks it, and logs it; values kept here that the other
/// side lacks go back out as a change.
async fn record(
    node: &Node,
    connection: &Connection,
    mut twin: Twin,
    message: &ReplicaMessage,
    plan: &Plan,
    key: &str,
    settled: Settled,
) -> NodeResult<()> {
    let Settled {
        after,
        remote_state,
        view,
        baseline_version,
    } = settled;
    let (first_sync, outcome) = (plan.first_sync, &plan.outcome);
    twin.record_apply(
        twinsync_core::Applied {
            view: view.clone(),
            baseline_version,
            base_item: remote_state,
            previous: message.hub_issue.clone(),
            version: message.version,
            source_twin: message.source_twin.clone(),
            source_key: message.source_key.clone(),
            source_url: message.source_url.clone(),
            local_url: after.url.clone(),
        },
        node.now_ms(),
    );
    // The ack is queued while the lease still holds: once it is given back, our outgoing
    // handler may send a replica of this item, and the other node must get the ack (which
    // links the twin) first, or it takes that replica for a new item. Should the store
    // below fail, the retry applies again and its ack is deduplicated.
    send_ack(node, connection, &twin, message, Some(view), None).await?;
    let twin = node.twins.update(&twin).await?;
    node.twins
        .add_replica(&ReplicaRecord {
            twin_id: twin.id.clone(),
            direction: "in".into(),
            version: message.version,
            replica: message.hub_issue.clone(),
            at_ms: node.now_ms(),
        })
        .await?;
    for conflict in &outcome.conflicts {
        node.event(
            &connection.id,
            Some(&twin.id),
            SyncEventKind::Conflict,
            format!(
                "{}: local {} vs remote {} -> {} wins ({})",
                conflict.field, conflict.local, conflict.remote, conflict.winner, conflict.policy
            ),
        )
        .await;
    }
    node.event(
        &connection.id,
        Some(&twin.id),
        SyncEventKind::Incoming,
        format!(
            "{} v{} from {} applied to {}",
            if first_sync {
                "created from"
            } else {
                "updated from"
            },
            message.version,
            message.source_key,
            key
        ),
    )
    .await;
    if !outcome.local_kept.is_empty() {
        // We kept local values the other side does not have: send them back.
        let event = ChangeEvent {
            connection_id: connection.id.clone(),
            instance: connection.local_instance.clone(),
            item_key: key.to_string(),
            observed_version: after.version,
            delivery_id: format!("merge:{}:{}", twin.id, message.version),
            force: false,
            trace_id: message.trace_id.clone(),
        };
        node.queue
            .send(
                queues::OUTGOING,
                NewMessage {
                    group_id: event.group_id(),
                    dedup_id: event.delivery_id.clone(),
                    body: to_body(&event)?,
                },
            )
            .await?;
    }
    Ok(())
}

/// `after` without the edits someone made while we wrote. Every tracker holds summary,
/// description, status, priority and labels: a read-back of one of them that differs from
/// what sync wrote (`written`) was changed by someone between sync's read and its
/// read-back (or the tracker refused or reshaped the value). The other side has what sync
/// wrote, so the baseline and the merge base hold that, and the next change event sends
/// the tracker's value. Assignee, reporter and custom fields may not take at all (a user
/// the tracker does not know, a field it does not have): a read-back equal to what the
/// item had before (`before`) is then no edit and stays, or every echo would be sent again
/// and an unknown assignee would unassign the other side.
fn without_concurrent_edits(after: &Item, before: &Item, written: &Item) -> Item {
    let mut out = after.clone();
    macro_rules! settle {
        ($($field:ident),*) => {$(
            if after.$field != written.$field {
                out.$field = written.$field.clone();
            }
        )*};
    }
    settle!(summary, description, status, priority, labels);
    macro_rules! settle_if_moved {
        ($($field:ident),*) => {$(
            if after.$field != written.$field && after.$field != before.$field {
                out.$field = written.$field.clone();
            }
        )*};
    }
    settle_if_moved!(assignee, reporter);
    let names: std::collections::BTreeSet<&String> = written
        .custom_fields
        .keys()
        .chain(before.custom_fields.keys())
        .chain(after.custom_fields.keys())
        .collect();
    for name in names {
        let now = after.custom_fields.get(name);
        if now != written.custom_fields.get(name) && now != before.custom_fields.get(name) {
            match written.custom_fields.get(name) {
                Some(v) => out.custom_fields.insert(name.clone(), v.clone()),
                None => out.custom_fields.remove(name),
            };
        }
    }
    out
}

/// `after` without the edits someone made between our create and its read-back. The
/// item did not exist before, so a field we left unset holds the tracker's default, not
/// an edit; a description may come back in the tracker's own form (Textile, ADF); an
/// assignee or custom field may not take. A summary, status, priority or labels we set
/// that read back otherwise were changed by someone (the person who closes the new issue
/// at once): the baseline holds what we wrote, so that change still goes out.
fn without_edits_since_create(after: &Item, written: &Item) -> Item {
    let mut out = after.clone();
    if after.summary != written.summary {
        out.summary = written.summary.clone();
    }
    if written.status.is_some() && after.status != written.status {
        out.status = written.status.clone();
    }
    if written.priority.is_some() && after.priority != written.priority {
        out.priority = written.priority.clone();
    }
    if !written.labels.is_empty() && after.labels != written.labels {
        out.labels = written.labels.clone();
    }
    out
}

/// `after` without the comments someone wrote on this side while we wrote: they carry no
/// origin marker (every comment we write has one) and were not there before. They still
/// have to go out, so they must not enter the baseline, even on a first sync.
fn without_concurrent_comments(after: &Item, before: &Item) -> Item {
    let mut out = after.clone();
    out.comments
        .retain(|c| c.origin.is_some() || before.comments.iter().any(|b| b.id == c.id));
    out
}

/// `after` with the fields in `kept` taken from `remote`.
fn overlay(after: &Item, remote: &Item, kept: &[String]) -> Item {
    let mut out = after.clone();
    for field in kept {
        match field.as_str() {
            "summary" => out.summary = remote.summary.clone(),
            "description" => out.description = remote.description.clone(),
            "status" => out.status = remote.status.clone(),
            "priority" => out.priority = remote.priority.clone(),
            "assignee" => out.assignee = remote.assignee.clone(),
            "reporter" => out.reporter = remote.reporter.clone(),
            "labels" => out.labels = remote.labels.clone(),
            custom => {
                if let Some(name) = custom.strip_prefix("customFields.") {
                    match remote.custom_fields.get(name) {
                        Some(v) => out.custom_fields.insert(name.to_string(), v.clone()),
                        None => out.custom_fields.remove(name),
                    };
                }
            }
        }
    }
    out
}

async fn send_ack(
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
        trace_id: message.trace_id.clone(),
    });
    send_or_hold(
        node,
        &connection.id,
        connection.status == ConnectionStatus::Deactivated,
        queues::TRANSPORT,
        NewMessage {
            group_id: format!(
                "{}:{}",
                connection.id,
                twin.local_key.as_deref().unwrap_or(&message.source_key)
            ),
            dedup_id: ack.dedup_id(),
            body: to_body(&ack)?,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_order_counts_per_sender_twin_record() {
        let older = "01a2087c-7e7b-769e-94f7-ed906c162ae6";
        let newer = "01a2087c-9d38-7326-bab9-abe08737f8a3";
        // (twin's remote record, twin's in_version, message's record, message's version, expected)
        let cases = [
            (None, 0, older, 1, ReplicaOrder::Next),
            (Some(older), 3, older, 4, ReplicaOrder::Next),
            (Some(older), 3, older, 3, ReplicaOrder::Applied),
            (Some(older), 3, older, 2, ReplicaOrder::Applied),
            // The sender's store was wiped: its new record counts from 1.
            (Some(older), 3, newer, 1, ReplicaOrder::Next),
            // A leftover of the replaced record.
            (Some(newer), 1, older, 4, ReplicaOrder::Stale),
            // A sender from before records were named: versions alone decide.
            (Some(older), 3, "", 3, ReplicaOrder::Applied),
            (None, 3, newer, 2, ReplicaOrder::Applied),
        ];
        for (remote, in_version, source, version, expected) in cases {
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
            };
            assert_eq!(
                replica_order(&twin, &message),
                expected,
                "{remote:?} v{in_version} <- {source:?} v{version}"
            );
        }
    }
    use twinsync_core::Comment;

    fn comment(id: &str, origin: Option<&str>) -> Comment {
        Comment {
            id: id.into(),
            body: format!("comment {id}"),
            origin: origin.map(str::to_string),
            ..Comment::default()
        }
    }

    #[test]
    fn edits_made_while_we_wrote_stay_out_of_the_baseline() {
        let item = |summary: &str, status: &str, team: Option<&str>| {
            let mut i = Item {
                summary: summary.into(),
                status: Some(twinsync_core::Named::new(status)),
                ..Item::default()
            };
            if let Some(t) = team {
                i.custom_fields.insert("Team".into(), serde_json::json!(t));
            }
            i
        };
        // (before, written, after, settled)
        let cases = [
            // Nothing happened meanwhile: the read-back is the baseline.
            (
                item("a", "Open", None),
                item("b", "Done", Some("red")),
                item("b", "Done", Some("red")),
                item("b", "Done", Some("red")),
            ),
            // Someone changed a field we did not write.
            (
                item("a", "Open", None),
                item("a", "Done", None),
                item("x", "Done", None),
                item("a", "Done", None),
            ),
            // Someone changed a field we did write, right after our write.
            (
                item("a", "Open", None),
                item("a", "Done", Some("red")),
                item("a", "Open", Some("blue")),
                item("a", "Done", Some("red")),
            ),
            // Someone cleared a custom field the item had and we kept.
            (
                item("a", "Open", Some("red")),
                item("a", "Open", Some("red")),
                item("a", "Open", None),
                item("a", "Open", Some("red")),
            ),
            // The tracker has no such field: what we wrote did not stick, and that is no edit.
            (
                item("a", "Open", None),
                item("a", "Open", Some("red")),
                item("a", "Open", None),
                item("a", "Open", None),
            ),
            // Someone set a custom field we did not write.
            (
                item("a", "Open", None),
                item("a", "Done", None),
                item("a", "Done", Some("blue")),
                item("a", "Done", None),
            ),
        ];
        for (i, (before, written, after, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                without_concurrent_edits(&after, &before, &written),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn edits_made_right_after_a_create_stay_out_of_the_baseline() {
        let item = |status: Option<&str>, priority: Option<&str>, team: Option<&str>| {
            let mut i = Item {
                summary: "s".into(),
                description: "d".into(),
                status: status.map(twinsync_core::Named::new),
                priority: priority.map(twinsync_core::Named::new),
                ..Item::default()
            };
            if let Some(t) = team {
                i.custom_fields.insert("Team".into(), serde_json::json!(t));
            }
            i
        };
        // (written, after, settled)
        let cases = [
            // The tracker's defaults for what we left unset are no edits.
            (
                item(None, None, None),
                item(Some("New"), Some("Normal"), None),
                item(Some("New"), Some("Normal"), None),
            ),
            // Someone closed the new item at once: the close still goes out.
            (
                item(Some("In Progress"), Some("Urgent"), None),
                item(Some("Closed"), Some("Urgent"), None),
                item(Some("In Progress"), Some("Urgent"), None),
            ),
            // A custom field that did not take is no edit.
            (
                item(Some("New"), None, Some("red")),
                item(Some("New"), Some("Normal"), None),
                item(Some("New"), Some("Normal"), None),
            ),
        ];
        for (i, (written, after, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                without_edits_since_create(&after, &written),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn a_comment_written_during_the_write_stays_out_of_the_baseline() {
        let before = Item {
            comments: vec![comment("1", None)],
            ..Item::default()
        };
        let after = Item {
            comments: vec![
                comment("1", None),
                comment("2", Some("twinsync:x:9")),
                comment("3", None),
            ],
            ..Item::default()
        };
        let ids: Vec<String> = without_concurrent_comments(&after, &before)
            .comments
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["1", "2"]);
    }
}
