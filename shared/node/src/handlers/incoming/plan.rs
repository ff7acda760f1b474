//! Planning an apply: read the local item (or find one an earlier attempt created),
//! run the incoming rules on the new and the previous replica, and merge.

use super::FoundItem;
use crate::handlers::brief;
use crate::{Node, NodeError, NodeResult};
use serde_json::Value;
use std::sync::Arc;
use twinsync_connector_kit::target::same_origin;
use twinsync_core::{
    Connection, Item, ItemUpdate, MergeContext, MergeOutcome, ReplicaMessage, SendsCounted,
    SentSeen, SinceSent, Twin, merge_items, shown_as_written,
};
use twinsync_ports::{Preconditions, Tracker};
use twinsync_rules::{IncomingContext, RuleSet};

/// What an apply is about to write, and from what.
pub(super) struct Plan {
    pub(super) tracker: Arc<dyn Tracker>,
    pub(super) rules: Arc<RuleSet>,
    /// Origin markers of this connection start with it.
    pub(super) prefix: String,
    /// The origin marker of the item: the replica's source key.
    pub(super) origin: String,
    /// The source item's URL: attachments are downloaded only from its host.
    pub(super) source_url: String,
    pub(super) target_project: String,
    pub(super) first_sync: bool,
    /// The local item before the write (an empty one on a first sync).
    pub(super) current: Item,
    /// The version `current` was taken at when it is the last apply's item, not a read:
    /// the update is made on condition that the item is still at it.
    pub(super) precondition: Option<u64>,
    /// The incoming rules' result for the new replica.
    pub(super) remote_now: Item,
    /// The files the replica itself carries: the other side has them.
    pub(super) carried: Vec<twinsync_core::Attachment>,
    /// Our unacknowledged sends may never reach the replica's sender (a new record of
    /// it): what they carried counts as never sent (`Twin::sends_reaching`).
    pub(super) sends_counted: SendsCounted,
    /// Whether the replica's sender had applied our last send when it built it.
    pub(super) sent_seen: SentSeen,
    pub(super) outcome: MergeOutcome,
}

impl Plan {
    /// The send a first replica was built on, in the replica's terms: what the replica
    /// only repeats of it is no change of the other side's. Those rules ran on that item
    /// when it was sent; should they fail now, the replica is compared with nothing.
    pub(super) fn built_on(&self, twin: &Twin, applied_in: Option<u64>) -> Option<Value> {
        let sent = twin.first_replica_built_on(applied_in)?;
        self.rules
            .outgoing(&crate::handlers::annotate(sent, Some(twin)))
            .ok()
    }
}

/// The local item before a first sync creates it: nothing but its project.
fn not_created(connection: &Connection) -> Item {
    Item {
        project: connection.target_project.clone(),
        ..Item::default()
    }
}

impl Plan {
    /// The fields the write changes on an item that exists.
    pub(super) fn update(&self) -> ItemUpdate {
        self.current.update_to(&self.outcome.merged)
    }

    /// Whether `attachment` is fetched from where the replica says: the peer's own
    /// tracker only, since the replica's content may name any URL.
    pub(super) fn fetches(&self, attachment: &twinsync_core::Attachment) -> bool {
        same_origin(&attachment.url, &self.source_url)
    }

    /// Whether the apply's first write can hold the precondition, in the order
    /// `write_item` writes: the update, else a new comment, else a new attachment, where
    /// the tracker's adds take one. Without such a write nothing checks the item planned
    /// on.
    pub(super) fn first_write_checks(&self, preconditions: Preconditions) -> bool {
        if self.first_sync || preconditions == Preconditions::None {
            return false;
        }
        if !self.update().is_empty() {
            return true;
        }
        for comment in &self.outcome.merged.comments {
            if comment.id.is_empty() {
                return !comment.internal && preconditions == Preconditions::UpdatesAndAdds;
            }
            if self
                .current
                .comments
                .iter()
                .any(|c| c.id == comment.id && c.body != comment.body)
            {
                return false;
            }
        }
        preconditions == Preconditions::UpdatesAndAdds
            && self
                .outcome
                .merged
                .attachments
                .iter()
                .any(|a| a.id.is_empty() && self.fetches(a))
    }
}

/// Where an apply takes the local item from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The tracker: read it.
    Read,
    /// The item as the last apply left it (`Twin::local_item`), where the tracker's
    /// update takes its version as a precondition; otherwise read.
    LastApply,
}

/// The item the last apply left, where `source` asks for it and the tracker can check
/// that it is still so when it is written.
fn last_apply(tracker: &dyn Tracker, twin: &Twin, source: Source) -> Option<Item> {
    match (source, tracker.preconditions()) {
        (Source::LastApply, Preconditions::Updates | Preconditions::UpdatesAndAdds) => twin
            .local_item
            .clone()
            .filter(|item| twin.local_key.as_deref() == Some(item.key.as_str())),
        _ => None,
    }
}

/// Reads the local item (or finds one an earlier attempt created, or takes the last
/// apply's), runs the incoming rules on the new and the previous replica, and merges.
pub(super) async fn plan(
    node: &Node,
    connection: &Connection,
    twin: &mut Twin,
    message: &ReplicaMessage,
    found: &FoundItem,
    source: Source,
) -> NodeResult<Plan> {
    let tracker = node.tracker(&connection.local_instance)?;
    let rules = node.rules_for(connection)?;
    let version = connection
        .active_version()
        .ok_or_else(|| NodeError::NoActiveVersion(connection.id.clone()))?;
    let prefix = Node::origin_prefix(&connection.id);
    let origin = format!("{prefix}{}", message.source_key);

    let last = last_apply(tracker.as_ref(), twin, source);
    let precondition = last.as_ref().map(|item| item.version);
    let local = match &twin.local_key {
        Some(_) if last.is_some() => last,
        Some(key) => Some(
            tracker
                .get_item(key)
                .await?
                .ok_or_else(|| NodeError::ItemGone(key.clone()))?,
        ),
        None if *found == FoundItem::NoneMade => None,
        // Before creating, look for an item stamped with this origin: an earlier attempt
        // may have created it before a crash, or the twin store was wiped (relink).
        None => {
            tracker
                .find_by_origin(&connection.target_project, &origin)
                .await?
        }
    };
    // What an earlier attempt created, when the item found is its creation.
    let mut created_here = None;
    if let (Some(item), None) = (&local, &twin.local_key) {
        twin.local_key = Some(item.key.clone());
        twin.local_url = Some(item.url.clone());
        if twin.base_item.is_none()
            && let FoundItem::EarlierAttempt(replica) = found
        {
            // An earlier attempt created the item: what it created is the merge base, so
            // an edit made to the item since is kept, not overwritten by the same replica
            // again (simulation seed 68). It was the attempt of the first replica whose
            // apply took the lease, not always version 1 nor the replica in hand: a
            // pause can hand a newer one in first (seeds 1217 of V1, 1573 of V3), or an
            // older or newer one before that replica's retry (seed 1738 of V5).
            let created = rules.incoming(&IncomingContext {
                replica,
                previous: None,
                issue: &not_created(connection),
                first_sync: true,
                comment_links: &[],
                origin_prefix: &prefix,
            })?;
            let created = Item {
                key: item.key.clone(),
                url: item.url.clone(),
                ..created
            };
            twin.base_item = Some(created.clone());
            created_here = Some(created);
        }
    }
    let first_sync = local.is_none();
    let current = local.unwrap_or_else(|| not_created(connection));
    let remote_now = rules.incoming(&IncomingContext {
        replica: &message.hub_issue,
        previous: twin.previous.as_ref(),
        issue: &current,
        first_sync,
        comment_links: &twin.comment_links,
        origin_prefix: &prefix,
    })?;
    // A replica of the other side's taken alone, as its incoming rules make it.
    let alone = |replica: &Value| {
        rules.incoming(&IncomingContext {
            replica,
            previous: None,
            issue: &current,
            first_sync,
            comment_links: &twin.comment_links,
            origin_prefix: &prefix,
        })
    };
    let remote_prev = match &twin.previous {
        Some(previous) => Some(alone(previous)?),
        // The replica that created the item is the remote's previous one too, as if its
        // apply had been recorded: only what the replica in hand says otherwise is the
        // remote's change, and a person's edit of the new item stays whatever the policy.
        // So it is where that create linked the item before the apply stopped.
        None => created_here.or_else(|| twin.created_unrecorded().cloned()),
    };
    // Crossing first replicas share no base: an empty one makes every field both sides
    // set differently a conflict, which the policy decides alike on both nodes. It stands
    // for the remote's previous replica too, so that a field is a change exactly where
    // its side set it: against no previous replica, a value one side left empty was a
    // change on one node only, and the two nodes swapped it (simulation seed 1718).
    let no_common_base = Item::default();
    // The sender's count of our replicas, on this record: one on a record of ours that
    // this twin replaced is none of this one's (simulation seed 279 of V5).
    let applied_in = twin.applied_of_ours(message.applied_in, message.applied_twin.as_deref());
    let crossing = twin.crosses_first_send(applied_in);
    // The replica was built on a send of ours whose ack has not come (it was overtaken):
    // that send is the base, and the remote's previous state as far as this replica
    // goes, so only what the remote changed since counts as its change.
    let seen_unacked = twin.send_seen_unacked(applied_in).cloned();
    let sent_seen = match applied_in {
        None => SentSeen::Unknown,
        Some(_) if twin.sent_item.is_none() => SentSeen::Unknown,
        Some(n) if n < twin.out_version => SentSeen::Unseen,
        Some(_) => SentSeen::Seen,
    };
    let shown: (Option<Item>, Option<Item>);
    let (base, prev) = if crossing {
        (Some(&no_common_base), Some(&no_common_base))
    } else if let Some(sent) = seen_unacked.as_ref() {
        (Some(sent), Some(sent))
    } else {
        // Older replicas whose applies may have written the item unrecorded (their
        // answers lost) and whose retries this one overtook: what the item shows of their
        // writes is sync's, and counts as agreed, not as a person's edit here. One the
        // rules refuse wrote nothing; its error is not this replica's.
        let written: Vec<Item> = twin
            .attempts_overtaken(message.version, &message.source_twin)
            .filter_map(|replica| alone(replica).ok())
            .collect();
        if written.is_empty() {
            (twin.base_item.as_ref(), remote_prev.as_ref())
        } else {
            let as_written = |item: &Item| {
                written
                    .iter()
                    .fold(item.clone(), |i, w| shown_as_written(&i, &current, w))
            };
            shown = (
                twin.base_item.as_ref().map(as_written),
                remote_prev.as_ref().map(as_written),
            );
            (shown.0.as_ref(), shown.1.as_ref())
        }
    };
    let unseen_moved = twin.moved_by_unseen_sends(applied_in, message.version);
    let held_at_ack = twin
        .view_held_for(message.version, applied_in)
        .map(alone)
        .transpose()?;
    let outcome = merge_items(
        &MergeContext {
            settings: &version.conflicts,
            local_node: &node.id,
            remote_node: &connection.remote_node,
            remote_updated_ms: message.source_updated_ms,
            sent: twin.sent_item.as_ref(),
            sent_seen,
            sent_changed: twin.sent_changed.as_deref(),
            unseen_moved: &unseen_moved,
            held_at_ack: held_at_ack.as_ref(),
            // Versions of a replaced record of the other side's count from 1 again, so
            // any difference says an apply came between.
            since_sent: match twin.in_version == twin.sent_in_version {
                true => SinceSent::NothingApplied,
                false => SinceSent::Applied,
            },
        },
        base,
        &current,
        &remote_now,
        prev,
    );

    tracing::debug!(
        twin = %twin.id,
        version = message.version,
        precondition = ?precondition,
        applied_in = ?applied_in,
        applied_twin = ?message.applied_twin,
        out_version = twin.out_version,
        acked = twin.acked_version,
        base_from = if crossing { "none (crossing first sends)" } else if seen_unacked.is_some() { "our unacked send" } else { "base_item" },
        base = %base.map(brief).unwrap_or_default(),
        prev = %prev.map(brief).unwrap_or_default(),
        local = %brief(&current),
        remote = %brief(&remote_now),
        merged = %brief(&outcome.merged),
        local_kept = ?outcome.local_kept,
        unseen_moved = ?unseen_moved,
        held_at_ack = %held_at_ack.as_ref().map(brief).unwrap_or_default(),
        local_comments = current.comments.len(),
        merged_comments = ?outcome.merged.comments.iter().map(|c| (&c.id, &c.body, &c.remote_id)).collect::<Vec<_>>(),
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
        precondition,
        remote_now,
        // A replica whose files do not read as attachments carries none we can count on.
        carried: message
            .hub_issue
            .get("attachments")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default(),
        sends_counted: twin.sends_reaching(&message.source_twin, applied_in),
        sent_seen,
        outcome,
    })
}
