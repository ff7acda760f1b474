//! Writing a replica into the local item: plan (`plan.rs`: read the item, run the rules, merge),
//! write (create or update the item, its comments and attachments), settle (read it
//! back, or take the write's whole answer: what the other side now has) and record (the
//! twin, the ack, the events).

use crate::handlers::{annotate, brief, to_body};
use crate::{Node, NodeError, NodeResult};
use serde_json::Value;
use twinsync_core::settle::{
    overlay, without_concurrent_comments, without_concurrent_edits, without_edits_since_create,
    without_unsent_attachments, without_unsent_comments,
};
use twinsync_core::{ChangeEvent, Connection, Item, ReplicaMessage, SyncEventKind, Twin};
use twinsync_ports::{
    NewMessage, PortError, Preconditions, ReplicaRecord, SyncMark, SyncState, WriteAnswer, queues,
};

use super::plan::{Plan, Source, plan};
use super::{FoundItem, send_ack};

/// Writes the replica into the local item and stores the new baseline; the caller holds
/// the twin's lease. Four steps: plan (read the item, run the rules, merge), write (create
/// or update the item, its comments and attachments), settle (read it back, unless the
/// write's whole answer tells it: what the other side now has) and record (the twin, the
/// ack, the events).
pub(super) async fn write(
    node: &Node,
    connection: &Connection,
    mut twin: Twin,
    message: &ReplicaMessage,
    found: FoundItem,
) -> NodeResult<()> {
    let mut plan = plan(
        node,
        connection,
        &mut twin,
        message,
        &found,
        Source::LastApply,
    )
    .await?;
    // Only a first write that holds the precondition checks the last apply's item:
    // without one, nothing would tell whether it is still the item, so it is read.
    if plan.precondition.is_some() && !plan.first_write_checks(plan.tracker.preconditions()) {
        plan = self::plan(node, connection, &mut twin, message, &found, Source::Read).await?;
    }
    let synced = SyncMark {
        state: SyncState::Synced,
        twin_key: Some(message.source_key.clone()),
        twin_url: Some(plan.source_url.clone()).filter(|u| !u.is_empty()),
    };
    let (key, written) = match write_item(node, &plan, &mut twin, &synced).await? {
        Some(done) => done,
        None => {
            // The item moved on since the last apply (a person's edit, or our own write
            // whose apply was not recorded): nothing was written, so plan on it as it is.
            tracing::debug!(twin = %twin.id, version = ?plan.precondition, "the item moved on since the last apply; read and merged again");
            plan = self::plan(node, connection, &mut twin, message, &found, Source::Read).await?;
            write_item(node, &plan, &mut twin, &synced)
                .await?
                .ok_or_else(|| {
                    NodeError::Operation(
                        "an update without a precondition was refused as one".into(),
                    )
                })?
        }
    };
    let removed = crate::removals::comments(
        node,
        connection,
        &plan.tracker,
        &key,
        &plan.current.comments,
        &twin,
        &message.hub_issue,
    )
    .await?;
    let written = if removed > 0 {
        Written::ReadBack
    } else {
        written
    };
    // Shown before the read-back, so what the other side is told includes it. A create
    // that showed it already makes no call here.
    crate::pairing::show_live(node, connection, &key, &twin.id, synced).await;
    let settled = settle(&plan, &twin, &key, written).await?;
    record(node, connection, twin, message, &plan, &key, settled).await
}

/// What the item is after the writes, where the tracker's answers tell it.
enum Written {
    /// Nothing was written: the item is as the plan read it.
    Nothing,
    /// One write, answered with the whole item as it left it.
    Answer(Box<Item>),
    /// More than one write, or answers that are not the whole item: read it back.
    ReadBack,
}

impl Written {
    /// After one more write: only a tracker's whole answer to the only write is kept.
    fn then(self, answer: Option<Item>, whole: WriteAnswer) -> Self {
        match (self, answer, whole) {
            (Written::Nothing, Some(item), WriteAnswer::WholeItem) => {
                Written::Answer(Box::new(item))
            }
            _ => Written::ReadBack,
        }
    }
}

/// Creates or updates the item, its comments and attachments; returns its key and what
/// the writes' answers say of it, or `None` when the update's precondition no longer
/// held and nothing was written. A created item is linked to the twin durably before
/// anything else is written.
async fn write_item(
    node: &Node,
    plan: &Plan,
    twin: &mut Twin,
    synced: &SyncMark,
) -> NodeResult<Option<(String, Written)>> {
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
    let whole = tracker.write_answer();
    // Held by the first write only: once it passed, the item is as planned.
    let mut condition = plan.precondition;
    // A tracker that does not answer with the whole item may also change it when the
    // sync status is shown, so even an apply that writes nothing reads it back.
    let mut written = match whole {
        WriteAnswer::WholeItem => Written::Nothing,
        WriteAnswer::Partial => Written::ReadBack,
    };
    let key = if *first_sync {
        // The sync status goes with the create where the tracker takes it.
        let created = tracker
            .create_item_shown(target_project, &outcome.merged, origin, synced)
            .await?;
        twin.local_key = Some(created.key.clone());
        twin.local_url = Some(created.url.clone());
        // What we created is what both sides agree on until this apply is recorded: if it
        // stops here (a crash), its redelivery merges against it, so an edit a person
        // makes to the new item meanwhile is kept and sent back, not overwritten by the
        // same replica again (found by the simulation, seed 68).
        twin.base_item = Some(Item {
            key: created.key.clone(),
            url: created.url.clone(),
            ..outcome.merged.clone()
        });
        // The link to the new item is durable before anything else is written.
        *twin = node.twins.update(twin).await?;
        let key = created.key.clone();
        written = written.then(Some(created), whole);
        key
    } else {
        let key = current.key.clone();
        let update = plan.update();
        if !update.is_empty() {
            let updated = match condition.take() {
                None => tracker.update_item(&key, &update).await?,
                // The first write of the apply: when it is refused, nothing was written.
                Some(version) => {
                    match moved_on(tracker.update_item_if(&key, version, &update).await)? {
                        Some(item) => item,
                        None => return Ok(None),
                    }
                }
            };
            written = written.then(Some(updated), whole);
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
            let created = match (comment.internal, condition.take()) {
                (true, _) => {
                    written = written.then(None, whole);
                    tracker
                        .add_internal_comment(&key, body, author, origin)
                        .await?
                }
                (false, None) => {
                    written = written.then(None, whole);
                    tracker.add_comment(&key, body, author, origin).await?
                }
                (false, Some(version)) => {
                    let added = tracker.add_comment_if(&key, version, body, author, origin);
                    let Some(added) = moved_on(added.await)? else {
                        return Ok(None);
                    };
                    // The item as the comment left it, where the tracker answers with it.
                    written = written.then(added.item, WriteAnswer::WholeItem);
                    added.comment
                }
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
                written = written.then(None, whole);
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
        if !plan.fetches(attachment) {
            tracing::warn!(
                item = %key,
                url = %attachment.url,
                source = %plan.source_url,
                "attachment not downloaded: it is not on the source tracker's host"
            );
            continue;
        }
        match condition.take() {
            None => {
                tracker.add_attachment(&key, attachment).await?;
                written = written.then(None, whole);
            }
            Some(version) => {
                let added = tracker.add_attachment_if(&key, version, attachment);
                let Some(added) = moved_on(added.await)? else {
                    return Ok(None);
                };
                written = written.then(added.item, WriteAnswer::WholeItem);
            }
        }
    }
    Ok(Some((key, written)))
}

/// A conditional write's answer: `None` when the item moved past the version planned
/// on (or is gone), and nothing was written.
fn moved_on<T>(answer: Result<T, PortError>) -> NodeResult<Option<T>> {
    match answer {
        Ok(value) => Ok(Some(value)),
        Err(PortError::Conflict(_) | PortError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What the other side has after the write, in our vocabulary.
pub(super) struct Settled {
    after: Item,
    remote_state: Item,
    view: Value,
    /// Our replica of the item as it is: where it differs from `view`, the item holds a
    /// value of its own.
    own: Value,
    baseline_version: u64,
    /// The item holds comments or files of ours the other side was never sent.
    unsent_children: bool,
}

/// Reads the item back (unless the writes' answers tell it) and works out what the
/// other side now has: our item with the remote's values where we kept our own, without
/// edits people made meanwhile.
async fn settle(plan: &Plan, twin: &Twin, key: &str, written: Written) -> NodeResult<Settled> {
    let Plan {
        tracker,
        rules,
        first_sync,
        current,
        remote_now,
        carried,
        sends_counted,
        sent_seen,
        outcome,
        ..
    } = plan;
    let after = match written {
        Written::Nothing => current.clone(),
        Written::Answer(item) => *item,
        Written::ReadBack => tracker.get_item(key).await?.ok_or_else(|| {
            NodeError::Operation(format!("item {key} vanished while being written"))
        })?,
    };

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
    // What is ours alone and was never sent stays out too: it still has to go out. A
    // file this apply wrote, or one the replica carries (a relinked pair's new twin has
    // no record of what was sent before), the other side has. A send of ours that a new
    // record of the other side has neither applied nor acknowledged may have been
    // dropped by the record it replaced: what only it carried goes out again (a
    // comment the other side got already comes back linked, by its origin marker).
    let other_side_has: Vec<_> = outcome
        .merged
        .attachments
        .iter()
        .filter(|a| a.id.is_empty())
        .chain(carried)
        .cloned()
        .collect();
    let unsent = without_unsent_attachments(
        &without_unsent_comments(&settled, &twin.comments_sent(*sends_counted)),
        &twin.attachments_sent(*sends_counted),
        &other_side_has,
    );
    let unsent_children = unsent.comments.len() < settled.comments.len()
        || unsent.attachments.len() < settled.attachments.len();
    let settled = unsent;
    // A value kept here that a person changed during the write stays as sync wrote it
    // in what the other side is said to have, where our send on its way carried it: the
    // person's value then differs from it and goes out, even where it equals the other
    // side's own (simulation seed 157 of generator V5). A kept value the other side was
    // never sent is not there: it is said to hold its own, so our value goes out even
    // when a person set it back to ours (seed 2308 of V5).
    let edited = if *first_sync {
        Vec::new()
    } else {
        twinsync_core::settle::edited_meanwhile(&after, current, &outcome.merged)
    };
    let as_written = twinsync_core::settle::sent_as_written(
        &edited,
        &outcome.merged,
        twin.sent_item.as_ref(),
        *sent_seen,
    );
    let kept: Vec<String> = outcome
        .local_kept
        .iter()
        .filter(|f| !as_written.contains(f))
        .cloned()
        .collect();
    let remote_state = overlay(&settled, remote_now, &kept);
    // Where the other side will hold our last send's value, not its replica's.
    let remote_state = match twin.sent_item.as_ref() {
        Some(sent) => overlay(&remote_state, sent, &outcome.sent_held),
        None => remote_state,
    };
    let view = rules.outgoing(&annotate(&remote_state, Some(twin)))?;
    // The baseline stands for `after`'s version only if it is exactly what outgoing makes
    // of `after`: values we kept, or an edit that landed between our read and the write,
    // still have to go out, so the next change event must read the item.
    let own = rules.outgoing(&annotate(&after, Some(twin)))?;
    let baseline_version = if own == view { after.version } else { 0 };
    Ok(Settled {
        after,
        remote_state,
        view,
        own,
        baseline_version,
        unsent_children,
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
        own,
        baseline_version,
        unsent_children,
    } = settled;
    let (first_sync, outcome) = (plan.first_sync, &plan.outcome);
    // Kept only where the next apply can write on condition that it still holds.
    twin.local_item = match plan.tracker.preconditions() {
        Preconditions::None => None,
        Preconditions::Updates | Preconditions::UpdatesAndAdds => Some(after.clone()),
    };
    tracing::debug!(
        twin = %twin.id,
        version = message.version,
        base_item = %brief(&remote_state),
        view = %brief(&view),
        own = %brief(&own),
        "applied"
    );
    let applied_in = twin.applied_of_ours(message.applied_in, message.applied_twin.as_deref());
    let built_on = plan.built_on(&twin, applied_in);
    twin.supersede_moves(&outcome.superseded);
    twin.record_apply(
        twinsync_core::Applied {
            view: view.clone(),
            own,
            baseline_version,
            base_item: remote_state,
            previous: message.hub_issue.clone(),
            version: message.version,
            applied_in,
            built_on,
            source_twin: message.source_twin.clone(),
            source_key: message.source_key.clone(),
            source_url: message.source_url.clone(),
            local_url: after.url.clone(),
        },
        node.now_ms(),
    );
    twin.answered_by_replica(&plan.remote_now, applied_in);
    // The ack is queued while the lease still holds: once it is given back, our outgoing
    // handler may send a replica of this item, and the other node must get the ack (which
    // links the twin) first, or it takes that replica for a new item. Should the store
    // below fail, the retry applies again and its ack is deduplicated.
    send_ack(node, connection, &twin, message, Some(view), None).await?;
    // A routine step: it goes with the twin's write (`twinsync_core::timeline`).
    let how = match first_sync {
        true => "created from",
        false => "updated from",
    };
    let applied = format!(
        "{how} v{} from {} applied to {key}",
        message.version, message.source_key
    );
    twin.record_step(SyncEventKind::Incoming, applied, node.now_ms());
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
    // We kept local values the other side does not have, or the item holds comments or
    // files of ours it was never sent (one made while the pair was unlinked, whose change
    // event found no link: simulation seed 73): send them now, not at the next change.
    if !outcome.local_kept.is_empty() || unsent_children {
        let event = ChangeEvent {
            connection_id: connection.id.clone(),
            instance: connection.local_instance.clone(),
            item_key: key.to_string(),
            observed_version: after.version,
            // Per replica of one record of the other side: a retry of the same apply is
            // deduplicated, while a new record counts its versions from 1 again, and
            // its apply's send must not be taken for the old one's (simulation seed 145
            // of V5 at 300 steps).
            delivery_id: format!(
                "merge:{}:{}:{}",
                twin.id, message.source_twin, message.version
            ),
            force: false,
            trace_id: message.trace_id.clone(),
            origin: None,
            twin_id: Some(twin.id.clone()),
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
