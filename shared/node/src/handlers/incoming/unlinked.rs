//! A replica that reaches a twin unlinked here: told again, linked on, or dropped.

use crate::handlers::control;
use crate::pairing::{self, SamePair};
use crate::{Node, NodeResult};
use twinsync_core::{Connection, ReplicaMessage, Twin};

/// What becomes of a replica that reaches a twin unlinked here.
#[derive(Debug, PartialEq)]
pub(super) enum UnlinkedReplica {
    /// Still sent from the pair we unlinked: the other node never heard. A twin that
    /// knows no record of the other node's hears from the pair's record here: the other
    /// node makes a record for a new pair only once this node has answered its Relink,
    /// which replaces this twin first. Dropped without a word, its sends were counted as
    /// delivered there (seeds 145 and 693 of V5). The other node is told the Unlink again.
    TellAgain,
    /// From a record of the other node newer than the one this twin knew, naming our
    /// item, while our own Relink of the item waits for its answer: that node made the
    /// record when it agreed, and its answer went behind the record's replicas there (a
    /// pause: the held messages go back behind those still queued). Dropped, the replica
    /// was lost for good and its re-sends deduplicated (a comment never arrived: seeds
    /// 28772 and 27414 of V6 at 300 steps). It cannot wait for the answer, which is in
    /// its message group behind it: the replica is the other node's yes, so the pair is
    /// linked on it, as the answer links it, and the answer then finds it linked.
    LinkOnIt,
    /// Anything else: a leftover of an older record, or a record the other node made
    /// without a Relink of ours (its store wiped, the pair forgotten there).
    Dropped,
}

/// Decides a replica at an unlinked twin; `relink_awaited`: our latest request on the
/// item is a Relink whose answer has not come.
pub(super) fn unlinked_replica(
    twin: &Twin,
    message: &ReplicaMessage,
    relink_awaited: bool,
) -> UnlinkedReplica {
    if message.source_twin.is_empty() {
        return UnlinkedReplica::Dropped;
    }
    let known = twin.remote_twin.as_deref();
    if known.is_none_or(|known| known == message.source_twin) {
        return UnlinkedReplica::TellAgain;
    }
    // One node's records are time-ordered ids: a larger one is newer.
    let newer = known.is_some_and(|known| message.source_twin.as_str() > known);
    let names_us = message.target_key.is_some() && message.target_key == twin.local_key;
    match relink_awaited && newer && names_us {
        true => UnlinkedReplica::LinkOnIt,
        false => UnlinkedReplica::Dropped,
    }
}

/// Handles a replica that found `twin` unlinked: the linked twin it is then applied to,
/// or `None` when it goes no further.
pub(super) async fn at_unlinked(
    node: &Node,
    connection: &Connection,
    twin: &Twin,
    message: &ReplicaMessage,
) -> NodeResult<Option<Twin>> {
    // Our Relink is read only for a replica it could be the answer of.
    let awaited = match twin.local_key.as_deref() {
        Some(local) if unlinked_replica(twin, message, true) == UnlinkedReplica::LinkOnIt => {
            pairing::relink_awaited(node, &connection.id, local).await?
        }
        _ => false,
    };
    match unlinked_replica(twin, message, awaited) {
        UnlinkedReplica::TellAgain => {
            tracing::info!(twin = %twin.id, item = %message.source_key, version = message.version, "replica for an unlinked twin dropped; the other node is told again");
            control::tell_unlinked_again(node, connection, twin, &message.source_twin).await?;
            Ok(None)
        }
        UnlinkedReplica::LinkOnIt => {
            let local = twin.local_key.clone().unwrap_or_default();
            match pairing::link(
                node,
                connection,
                &local,
                &message.source_key,
                SamePair::Keep,
            )
            .await?
            {
                Ok(linked) => {
                    tracing::info!(twin = %linked.id, item = %message.source_key, version = message.version, source_twin = %message.source_twin, "linked on a replica of the pair our Relink asked for, which came before the answer");
                    Ok(Some(linked))
                }
                Err(why) => {
                    tracing::info!(twin = %twin.id, item = %message.source_key, version = message.version, "replica of the pair our Relink asked for dropped: {why}");
                    Ok(None)
                }
            }
        }
        UnlinkedReplica::Dropped => {
            tracing::info!(twin = %twin.id, item = %message.source_key, version = message.version, source_twin = %message.source_twin, "replica of another record of the other node's at an unlinked twin dropped");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use twinsync_core::TwinStatus;

    #[test]
    fn a_replica_at_an_unlinked_twin_is_told_awaited_or_dropped() {
        let older = "01a243f0-4a0e-77d0-a923-50a96d7e6376";
        let newer = "01a243f0-4a22-7370-bd73-b984ad9d9997";
        use UnlinkedReplica::{Dropped, LinkOnIt, TellAgain};
        // (the record the unlinked twin knew, the replica's record, the item of ours it
        // names, our Relink of the item awaiting its answer) -> what becomes of it
        type Row = (
            Option<&'static str>,
            &'static str,
            Option<&'static str>,
            bool,
            UnlinkedReplica,
        );
        let rows: [Row; 10] = [
            // From the pair we unlinked: the other node never heard.
            (Some(older), older, Some("SUPPORT-6"), false, TellAgain),
            (Some(older), older, Some("SUPPORT-6"), true, TellAgain),
            // A twin that learned no record hears from the pair's (seed 693 of V5).
            (None, newer, Some("SUPPORT-6"), false, TellAgain),
            (None, newer, Some("SUPPORT-6"), true, TellAgain),
            // A sender from before records were named.
            (Some(older), "", Some("SUPPORT-6"), true, Dropped),
            // The record the other node made agreeing to our Relink, ahead of its
            // answer (seed 28772 of V6 at 300 steps).
            (Some(older), newer, Some("SUPPORT-6"), true, LinkOnIt),
            // No Relink of ours awaited: a record made there otherwise.
            (Some(older), newer, Some("SUPPORT-6"), false, Dropped),
            // It names no item of ours, or another one.
            (Some(older), newer, None, true, Dropped),
            (Some(older), newer, Some("SUPPORT-7"), true, Dropped),
            // An older record than the one the twin knew: a leftover.
            (Some(newer), older, Some("SUPPORT-6"), true, Dropped),
        ];
        for (known, source, target, awaited, want) in rows {
            let mut twin = Twin::new("t".into(), "c".into(), 0);
            twin.status = TwinStatus::Unlinked;
            twin.local_key = Some("SUPPORT-6".into());
            twin.remote_key = Some("DEMO-3".into());
            twin.remote_twin = known.map(str::to_string);
            let message = ReplicaMessage {
                connection_id: "c".into(),
                from_node: "n".into(),
                source_key: "DEMO-3".into(),
                source_url: String::new(),
                target_key: target.map(str::to_string),
                version: 2,
                source_twin: source.into(),
                hub_issue: Value::Null,
                source_updated_ms: 0,
                sent_ms: 0,
                trace_id: String::new(),
                applied_in: Some(0),
                applied_twin: None,
            };
            assert_eq!(
                unlinked_replica(&twin, &message, awaited),
                want,
                "{known:?} <- {source:?} naming {target:?}, awaited {awaited}"
            );
        }
    }
}
